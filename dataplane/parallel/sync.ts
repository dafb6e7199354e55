// The control block a parallel run shares between its main thread and its workers: one small
// SharedArrayBuffer, no message per packet or per slice.
//
//   int32 [0]  workers arrived at the end-of-traffic barrier
//   int32 [1]  abort: set by the main thread when a worker failed; a worker waiting at a
//              barrier sees it within WAIT_MS and stops
//   int32 [2]  workers ready to start their traffic (the start barrier: built and warmed up)
//   f64   [2 + i]            worker i's traffic end (virtual ns; -Infinity: none ran there)
//   f64   [2 + count + i]    worker i's progress (0..1), polled by the main thread when asked
//
// The barrier: without plan.durationNs a run lasts until its traffic is done + 1 s, which only
// the union of all shards knows; each worker publishes its own end and waits for the others,
// then continues to the latest one, so every shard probes its expectations at the same virtual
// times as a run on one thread. The start barrier only lines up the workers' wall clocks, so
// that the traffic phases overlap (and their wall time measures the forwarding alone); virtual
// time does not depend on it.

const WAIT_MS = 50;

export class SyncBlock {
  readonly i32: Int32Array;
  readonly f64: Float64Array;

  constructor(readonly buffer: SharedArrayBuffer, readonly count: number) {
    this.i32 = new Int32Array(buffer, 0, 4);
    this.f64 = new Float64Array(buffer, 16, 2 * count);
  }

  static create(count: number): SyncBlock {
    return new SyncBlock(new SharedArrayBuffer(16 + 16 * count), count);
  }

  /** Worker `i`: publish `localEnd`, wait for every worker, return the latest end. Throws when
   *  the run is aborted meanwhile. */
  arrive(i: number, localEnd: number): number {
    this.f64[i] = localEnd;
    this.barrier(0);
    let end = -Infinity;
    for (let w = 0; w < this.count; w++) end = Math.max(end, this.f64[w]!);
    return end;
  }

  /** Worker: wait until every worker is ready to start its traffic. */
  ready(): void {
    this.barrier(2);
  }

  private barrier(slot: number): void {
    Atomics.add(this.i32, slot, 1);
    Atomics.notify(this.i32, slot);
    for (;;) {
      const n = Atomics.load(this.i32, slot);
      if (n >= this.count) return;
      if (this.aborted) throw new Error("aborted: another worker failed");
      Atomics.wait(this.i32, slot, n, WAIT_MS);
    }
  }

  get aborted(): boolean {
    return Atomics.load(this.i32, 1) !== 0;
  }

  abort(): void {
    Atomics.store(this.i32, 1, 1);
    Atomics.notify(this.i32, 0);
    Atomics.notify(this.i32, 2);
  }

  setProgress(i: number, fraction: number): void {
    this.f64[this.count + i] = fraction;
  }

  /** Mean progress of the workers. */
  progress(): number {
    let s = 0;
    for (let w = 0; w < this.count; w++) s += this.f64[this.count + w]!;
    return s / this.count;
  }
}
