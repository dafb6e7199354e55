// Virtual time and timers. Time is an integer number of nanoseconds held in a double (exact up to
// 2^53 ns, 104 days of virtual time). Timers fire in (time, arming order) order, so a run is
// deterministic. A Timer is created once by its owner (a link's delay line, an ARP entry table, an
// ageing sweep) and re-armed as often as needed: nothing is allocated per packet.

export class Timer {
  /** When it fires (ns); Infinity while not armed. */
  at = Infinity;
  /** Tie-break: arming order. */
  seq = 0;
  /** Position in the heap, -1 when not armed. */
  idx = -1;
  /** `fire` takes no argument: the owner reads `clock.now` (passing a time above 2^31 ns as an
   *  argument boxes it, an allocation per timer measured in the link benchmark). */
  constructor(readonly name: string, readonly fire: () => void) {}
  get armed(): boolean {
    return this.idx >= 0;
  }
}

export class Clock {
  /** Current virtual time, ns. */
  now = 0;
  private heap: Timer[] = [];
  private seqNext = 0;
  fired = 0;

  /** Arm (or re-arm) `t` to fire at absolute time `at` (not before now). */
  arm(t: Timer, at: number): void {
    if (at < this.now) at = this.now;
    if (t.idx >= 0) this.remove(t);
    t.at = at;
    t.seq = this.seqNext++;
    t.idx = this.heap.length;
    this.heap.push(t);
    this.up(t.idx);
  }

  /** Arm `t` to fire `delay` ns from now. */
  after(t: Timer, delay: number): void {
    this.arm(t, this.now + delay);
  }

  cancel(t: Timer): void {
    if (t.idx >= 0) this.remove(t);
    t.at = Infinity;
  }

  /** Time of the earliest armed timer, or Infinity. */
  next(): number {
    return this.heap.length ? this.heap[0]!.at : Infinity;
  }

  get pending(): number {
    return this.heap.length;
  }

  /** Advance to `at`, firing every timer due by then in order, each at its own time. */
  advanceTo(at: number): void {
    if (at < this.now) throw new RangeError(`virtual time cannot go back (${at} < ${this.now})`);
    while (this.heap.length && this.heap[0]!.at <= at) {
      const t = this.heap[0]!;
      this.now = t.at;
      this.remove(t);
      t.at = Infinity;
      this.fired++;
      t.fire();
    }
    this.now = at;
  }

  private less(i: number, j: number): boolean {
    const a = this.heap[i]!;
    const b = this.heap[j]!;
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private swap(i: number, j: number): void {
    const h = this.heap;
    const a = h[i]!;
    const b = h[j]!;
    h[i] = b;
    h[j] = a;
    b.idx = i;
    a.idx = j;
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private remove(t: Timer): void {
    const i = t.idx;
    const last = this.heap.length - 1;
    if (i !== last) this.swap(i, last);
    this.heap.pop();
    t.idx = -1;
    if (i < this.heap.length) {
      this.down(i);
      this.up(i);
    }
  }
}
