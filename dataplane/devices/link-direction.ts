// One direction of a Link: netem (duplicate, loss, limit, delay line) then tbf, in the order of
// net/sched/sch_netem.c netem_enqueue and sch_tbf.c (see link.ts for the whole picture).
//
//   arrive -> duplicate? -> lost? -> netem limit -> delay line (sorted ring) -> tbf queue -> out
//
// Storage: two rings of slot indices in typed arrays (capacity a power of two, doubled when full,
// bounded by the limits): the delay line, sorted by release time with insertion from the tail
// (O(1) for a constant delay, a short walk back under jitter), and the tbf FIFO. Two Timers,
// created once: the delay line's armed at its head's release time, the bucket's at the time the
// head's tokens are there. Nothing per packet is allocated; strings only for traced packets.
// Token bucket arithmetic is in nanobits (bits x 1e9): `rateBps` of them accrue per ns, a byte
// costs 8e9, so with integer rates every time is an exact integer ns and nothing drifts.

import { Timer } from "../engine/clock.js";
import type { Rng } from "../engine/rng.js";
import { PKT_TRACE } from "../../core/packet.js";
import type { Impairment, Link } from "./link.js";

/** netem `limit` when not given (tc's default). */
export const NETEM_DEFAULT_LIMIT = 1000;
/** tbf queue when neither limit is given (a device's default txqueuelen). */
export const TBF_DEFAULT_LIMIT_PACKETS = 1000;
const U32 = 0x1_0000_0000;
const U32_MAX = 0xffffffff;
const K_DUP = 0;
const K_LOSS = 1;
const K_DELAY = 2;
/** Token bucket unit: nanobits per byte. */
const NANOBITS_PER_BYTE = 8e9;

/** One direction's pipeline: netem (duplicate, loss, delay line) then tbf. */
export class LinkDirection {
  /** Nothing configured and nothing held: the Link transmits at once. */
  plain = true;
  rng!: Rng;
  // netem, compiled: thresholds as tc sets them (rint(p * UINT32_MAX)), ns, bits/s
  private hasNetem = false;
  private usesLine = false;
  private delayNs = 0;
  private jitterNs = 0;
  private netemRate = 0;
  private limit = NETEM_DEFAULT_LIMIT;
  private lossT = 0;
  private dupT = 0;
  private readonly rho = new Float64Array(3);
  private readonly last = new Float64Array(3);
  private readonly draw = new Float64Array(1);
  // tbf, in nanobits
  private tbfRate = 0;
  private bucket = 0;
  private tokens = 0;
  private tc = 0;
  private qLimitBytes = 0;
  private qLimitPackets = 0;
  // delay line: a ring sorted by release time (capacity a power of two, grows by doubling)
  private lineSlot = new Int32Array(64);
  private lineTime = new Float64Array(64);
  private lineHead = 0;
  lineCount = 0;
  /** Release time of the packet being inserted (a field, not an argument: see the constructor). */
  private insertAt = 0;
  // tbf queue: a FIFO ring
  private qSlot = new Int32Array(64);
  private qHead = 0;
  qCount = 0;
  private qBytes = 0;
  delayed = 0;
  shaped = 0;
  lost = 0;
  duplicated = 0;
  private readonly lineTimer: Timer;
  private readonly tbfTimer: Timer;

  constructor(private readonly link: Link, readonly out: number, readonly label: string) {
    // No method here takes a time as an argument (the callbacks read clock.now): past 2^31 ns of
    // virtual time a time is not a small integer, and a double passed to or returned from a call
    // V8 does not inline is boxed. Measured for random draws (see crand); for times the clock's
    // own calls still box past 2^31 ns (bench/link.bench.ts says how much).
    this.lineTimer = new Timer(`${link.name}:${label}:delay`, () => this.lineFire());
    this.tbfTimer = new Timer(`${link.name}:${label}:tbf`, () => this.tbfService());
  }

  /** Compile a configuration (cold). Held packets stay where they are. */
  apply(imp: Impairment | undefined): void {
    const i = imp ?? {};
    const e = this.link.engine;
    this.delayNs = Math.round(i.delayNs ?? 0);
    this.jitterNs = Math.round(i.jitterNs ?? 0);
    this.netemRate = i.rateBps ?? 0;
    this.limit = i.limit ?? NETEM_DEFAULT_LIMIT;
    this.lossT = Math.round((i.loss ?? 0) * U32_MAX);
    this.dupT = Math.round((i.duplicate ?? 0) * U32_MAX);
    const corr = [i.duplicateCorrelation ?? 0, i.lossCorrelation ?? 0, i.delayCorrelation ?? 0];
    for (let k = 0; k < 3; k++) {
      this.rho[k] = Math.round(corr[k]! * U32_MAX);
      if (this.rho[k]) this.last[k] = this.rng.u32(); // netem's init_crandom: last = a random u32
    }
    this.usesLine = this.delayNs > 0 || this.jitterNs > 0 || this.netemRate > 0;
    this.hasNetem = this.usesLine || this.lossT > 0 || this.dupT > 0 || i.limit !== undefined;
    if (i.tbf) {
      const a = e.arena;
      this.tbfRate = i.tbf.rateBps;
      this.bucket = (i.tbf.burstBytes ?? a.slotSize - a.headroom) * NANOBITS_PER_BYTE;
      this.tokens = this.bucket; // tbf_change: tokens = buffer
      this.tc = e.clock.now;
      this.qLimitBytes = i.tbf.limitBytes ?? Infinity;
      this.qLimitPackets = i.tbf.limitPackets ?? (i.tbf.limitBytes === undefined ? TBF_DEFAULT_LIMIT_PACKETS : Infinity);
    } else {
      this.tbfRate = 0;
      while (this.qCount) this.send(this.qPop()); // shaping removed: the queue goes out now
    }
    this.updatePlain();
  }

  private updatePlain(): void {
    this.plain = !this.hasNetem && this.tbfRate === 0 && this.lineCount === 0 && this.qCount === 0;
  }

  /** netem's `threshold && threshold >= get_crandom()` (no draw when the threshold is 0). */
  private hit(k: number, threshold: number): boolean {
    if (threshold === 0) return false;
    this.crand(k);
    return threshold >= this.draw[0]!;
  }

  /**
   * netem's correlated random u32 (get_crandom), in doubles (may differ from its 64-bit integer
   * math by 1), left in `draw[0]`: a u32 returned from a call that is not inlined is boxed (the
   * heap profiler put 40 MB per 20,000 batches here under jitter when it was returned).
   */
  private crand(k: number): void {
    const r = this.rng.u32();
    const rho = this.rho[k]!;
    if (rho === 0) {
      this.draw[0] = r;
      return;
    }
    const w = rho + 1;
    const v = Math.floor((r * (U32 - w) + this.last[k]! * w) / U32);
    this.last[k] = v;
    this.draw[0] = v;
  }

  arrive(s: number): void {
    let dup = this.hit(K_DUP, this.dupT);
    if (this.hit(K_LOSS, this.lossT)) {
      if (!dup) {
        this.lost++;
        return this.link.engine.drop(this.link, this.link.rLoss, s);
      }
      dup = false;
    }
    if (dup) this.duplicate(s);
    this.netemEnqueue(s);
  }

  private duplicate(s: number): void {
    const e = this.link.engine;
    const c = e.alloc(this.link);
    if (c < 0) return;
    const a = e.arena;
    const len = a.len[s]!;
    a.off[c] = a.off[s]!;
    a.len[c] = len;
    a.hash[c] = a.hash[s]!;
    a.port[c] = a.port[s]!;
    const from = a.start(s);
    a.bytes.copyWithin(a.start(c), from, from + len);
    this.duplicated++;
    if (a.flags[s]! & PKT_TRACE) {
      e.trace.mark(c, e.trace.idOfSlot(s));
      e.trace.note(s, this.link, `duplicated (${this.label})`);
    }
    if (this.hit(K_LOSS, this.lossT)) {
      this.lost++;
      return e.drop(this.link, this.link.rLoss, c);
    }
    this.netemEnqueue(c);
  }

  private netemEnqueue(s: number): void {
    const e = this.link.engine;
    if (this.hasNetem && this.lineCount + this.qCount >= this.limit) return e.drop(this.link, this.link.rLineFull, s);
    if (!this.usesLine) return this.tbfEnqueue(s);
    const now = e.clock.now;
    let d = this.delayNs;
    let base = now;
    if (this.jitterNs !== 0) {
      this.crand(K_DELAY);
      d = (this.draw[0]! % (2 * this.jitterNs)) + d - this.jitterNs;
    }
    if (this.netemRate !== 0) {
      if (this.lineCount !== 0) {
        // netem: the last held packet is the reference point; its lead is taken off the delay
        const last = this.lineTime[(this.lineHead + this.lineCount - 1) & (this.lineTime.length - 1)]!;
        d -= last - now;
        if (d < 0) d = 0;
        base = last;
      }
      d += Math.floor((e.arena.len[s]! * NANOBITS_PER_BYTE) / this.netemRate);
    }
    const t = base + d;
    if (t <= now) return this.tbfEnqueue(s);
    if (e.arena.flags[s]! & PKT_TRACE) e.trace.note(s, this.link, `delayed ${t - now} ns (${this.label})`);
    this.insertAt = t;
    this.lineInsert(s);
  }

  /** Sorted insertion from the tail; equal times keep arrival order (tfifo: `tnext >= t` goes right). */
  private lineInsert(s: number): void {
    const t = this.insertAt;
    if (this.lineCount === this.lineSlot.length) this.growLine();
    const ts = this.lineTime;
    const ss = this.lineSlot;
    const mask = ts.length - 1;
    const h = this.lineHead;
    let i = this.lineCount;
    while (i > 0) {
      const p = (h + i - 1) & mask;
      if (ts[p]! <= t) break;
      const q = (h + i) & mask;
      ts[q] = ts[p]!;
      ss[q] = ss[p]!;
      i--;
    }
    const q = (h + i) & mask;
    ts[q] = t;
    ss[q] = s;
    this.lineCount++;
    this.delayed++;
    if (i === 0) this.link.engine.clock.after(this.lineTimer, t - this.link.engine.clock.now);
  }

  private growLine(): void {
    const n = this.lineSlot.length;
    const ss = new Int32Array(n * 2);
    const ts = new Float64Array(n * 2);
    for (let k = 0; k < this.lineCount; k++) {
      const p = (this.lineHead + k) & (n - 1);
      ss[k] = this.lineSlot[p]!;
      ts[k] = this.lineTime[p]!;
    }
    this.lineSlot = ss;
    this.lineTime = ts;
    this.lineHead = 0;
  }

  private lineFire(): void {
    const now = this.link.engine.clock.now;
    const ts = this.lineTime;
    const ss = this.lineSlot;
    const mask = ts.length - 1;
    while (this.lineCount !== 0 && ts[this.lineHead]! <= now) {
      const s = ss[this.lineHead]!;
      this.lineHead = (this.lineHead + 1) & mask;
      this.lineCount--;
      this.tbfEnqueue(s);
    }
    if (this.lineCount !== 0) this.link.engine.clock.after(this.lineTimer, ts[this.lineHead]! - now);
    else if (!this.plain) this.updatePlain();
  }

  private tbfEnqueue(s: number): void {
    if (this.tbfRate === 0) return this.send(s);
    const e = this.link.engine;
    const len = e.arena.len[s]!;
    const cost = len * NANOBITS_PER_BYTE;
    if (cost > this.bucket) return e.drop(this.link, this.link.rOverBurst, s);
    const now = e.clock.now;
    if (this.qCount !== 0 && this.tbfTimer.at <= now) this.tbfService(); // departures first
    if (this.qBytes + len > this.qLimitBytes || this.qCount >= this.qLimitPackets) return e.drop(this.link, this.link.rRateLimit, s);
    if (this.qCount === 0) {
      this.refill();
      if (this.tokens >= cost) {
        this.tokens -= cost;
        return this.send(s);
      }
    }
    if (this.qCount === this.qSlot.length) this.growQueue();
    this.qSlot[(this.qHead + this.qCount) & (this.qSlot.length - 1)] = s;
    this.qCount++;
    this.qBytes += len;
    this.shaped++;
    if (e.arena.flags[s]! & PKT_TRACE) e.trace.note(s, this.link, `rate: queued behind ${this.qCount - 1} (${this.label})`);
    if (this.qCount === 1) e.clock.after(this.tbfTimer, Math.ceil((cost - this.tokens) / this.tbfRate));
  }

  private refill(): void {
    const now = this.link.engine.clock.now;
    const t = this.tokens + (now - this.tc) * this.tbfRate;
    this.tokens = t > this.bucket ? this.bucket : t;
    this.tc = now;
  }

  /** Send what the bucket allows from the head of the queue; re-arm for the next one. */
  private tbfService(): void {
    const e = this.link.engine;
    const len = e.arena.len;
    this.refill();
    while (this.qCount !== 0) {
      const cost = len[this.qSlot[this.qHead]!]! * NANOBITS_PER_BYTE;
      if (this.tokens < cost) return e.clock.after(this.tbfTimer, Math.ceil((cost - this.tokens) / this.tbfRate));
      this.tokens -= cost;
      this.send(this.qPop());
    }
    e.clock.cancel(this.tbfTimer);
    if (!this.plain && this.lineCount === 0) this.updatePlain();
  }

  private qPop(): number {
    const s = this.qSlot[this.qHead]!;
    this.qHead = (this.qHead + 1) & (this.qSlot.length - 1);
    this.qCount--;
    this.qBytes -= this.link.engine.arena.len[s]!;
    return s;
  }

  private growQueue(): void {
    const n = this.qSlot.length;
    const ss = new Int32Array(n * 2);
    for (let k = 0; k < this.qCount; k++) ss[k] = this.qSlot[(this.qHead + k) & (n - 1)]!;
    this.qSlot = ss;
    this.qHead = 0;
  }

  private send(s: number): void {
    this.link.engine.transmit(this.link, this.out, s);
  }
}
