// Link: a two-port device that impairs what crosses it, as a veth does with
// `tc qdisc add dev X root handle 1: netem ...` and a child `tc qdisc add dev X parent 1:1 tbf ...`
// on its egress. Each direction has its own configuration, state, timers and random stream.
//
// Ports: 0 "a", 1 "b". In on a -> out on b (direction ab); in on b -> out on a (direction ba).
// Per packet, in netem's order (net/sched/sch_netem.c netem_enqueue), then tbf (sch_tbf.c):
//   1. duplicate? The copy is a new arena slot (counted as created; -1 from the arena = the
//      engine's `no-buffer`). Like netem's re-enqueue at the root with duplication off, the copy
//      draws its own loss and delay and goes in ahead of the original. Never duplicated again.
//   2. lost? -> `loss`. Duplicated and lost at once: it goes on once (netem's count 1+1-1).
//   3. netem limit (default 1000 packets, tc's default): held in the delay line + tbf queue >=
//      limit -> `delay-line-full`. (netem's qlen counts its child's queue too.)
//   4. delay = delayNs, plus jitter uniform in [-jitter, +jitter): netem's default with no
//      `distribution` table is `(rnd % 2σ) + μ - σ`, same formula here. Release <= now: sent at
//      once. The delay line is sorted by release time, ties in arrival order (netem's tfifo), so
//      with jitter packets REORDER, as netem does. With netem `rateBps` a packet is released
//      `len*8/rate` after the last held one (or after its own delay if later): never reordered.
//   5. tbf: a bucket of `burstBytes` (default: the largest frame the arena holds), full at
//      start, filled at `rateBps`; the head of a FIFO leaves when its length is in the bucket.
//      Longer than the burst -> `over-burst` (tbf's max_size drop); queue over `limitBytes` or
//      `limitPackets` (default 1000 packets) -> `rate-limit` (tail drop; named so because
//      `queue-full` is the engine's input-ring reason). At one instant, departures go before
//      arrivals. Checked against a kernel: see link.test.ts "tbf as measured". Waits are exact
//      (nanobit arithmetic, rounded up to the ns); Linux's psched_l2t_ns truncates, so its
//      spacing can be up to 1 ns per packet shorter.
// Nothing configured in a direction: forwarded at once (one device hop).
// Correlation (netem's get_crandom, `next = rnd*(1-ρ) + last*ρ`) for loss, duplicate and delay;
// as in netem it also lowers the effective rate (loss 30% with 60% correlation loses ~9%).
// Not emulated: distribution tables (normal, pareto), reorder/gap, corrupt, ecn, slot, the
// 4-state and Gilbert-Elliott loss models, tbf peakrate/mtu, netem rate packet/cell overhead.
//
// Counters per direction (stats()): received, sent, delayed, shaped, lost, duplicated; drops per
// reason on the device. Time: virtual ns; two Timers per direction, created once and re-armed.
// Randomness: one stream per direction, engine.rng.fork(name).fork("ab"|"ba"): same seed, same run.
// Held packets (delay line, tbf queue) are reported by held() for engine.conservation().
// The per-direction pipeline and its storage are in link-direction.ts.

import { Device } from "../engine/device.js";
import { LinkDirection, NETEM_DEFAULT_LIMIT, TBF_DEFAULT_LIMIT_PACKETS } from "./link-direction.js";

export interface TbfConfig {
  rateBps: number;
  burstBytes?: number;
  limitBytes?: number;
  limitPackets?: number;
}

/** One direction's impairment; probabilities and correlations are fractions in [0, 1]. */
export interface Impairment {
  delayNs?: number;
  jitterNs?: number;
  delayCorrelation?: number;
  loss?: number;
  lossCorrelation?: number;
  duplicate?: number;
  duplicateCorrelation?: number;
  /** netem `rate` (serialization in the delay line, no reordering). */
  rateBps?: number;
  /** netem `limit`, packets. */
  limit?: number;
  tbf?: TbfConfig;
}

/** `ab`: what crosses from port a to port b (a qdisc on a's interface); `ba` the reverse. */
export interface LinkConfig {
  ab?: Impairment;
  ba?: Impairment;
}

export interface LinkDirStats {
  received: number;
  sent: number;
  delayed: number;
  shaped: number;
  lost: number;
  duplicated: number;
  held: number;
}

export const LINK_REASONS = ["loss", "delay-line-full", "rate-limit", "over-burst"] as const;
export { LinkDirection, NETEM_DEFAULT_LIMIT, TBF_DEFAULT_LIMIT_PACKETS };

export function isImpaired(imp: Impairment | undefined): boolean {
  return !!imp && Object.values(imp).some((v) => v !== undefined);
}

export class Link extends Device {
  readonly dirs: readonly [LinkDirection, LinkDirection];
  readonly rLoss: number;
  readonly rLineFull: number;
  readonly rRateLimit: number;
  readonly rOverBurst: number;
  private readonly config: [Impairment | undefined, Impairment | undefined];

  constructor(name: string, config: LinkConfig = {}) {
    super(name, LINK_REASONS);
    this.addPort("a");
    this.addPort("b");
    this.rLoss = this.reason("loss");
    this.rLineFull = this.reason("delay-line-full");
    this.rRateLimit = this.reason("rate-limit");
    this.rOverBurst = this.reason("over-burst");
    this.dirs = [new LinkDirection(this, 1, "ab"), new LinkDirection(this, 0, "ba")];
    this.config = [config.ab, config.ba];
    validate(name, "ab", config.ab);
    validate(name, "ba", config.ba);
  }

  override attached(): void {
    const rng = this.engine.rng.fork(this.name);
    for (let d = 0; d < 2; d++) {
      this.dirs[d]!.rng = rng.fork(this.dirs[d]!.label);
      this.dirs[d]!.apply(this.config[d]);
    }
  }

  /** Change one direction (0 = ab, 1 = ba); applies to packets arriving from now on. Cold. */
  configure(dir: 0 | 1, imp: Impairment | undefined): void {
    validate(this.name, this.dirs[dir].label, imp);
    this.config[dir] = imp;
    if (this.id >= 0) this.dirs[dir].apply(imp);
  }

  process(slots: Int32Array, n: number): void {
    const e = this.engine;
    const port = e.arena.port;
    const d0 = this.dirs[0];
    const d1 = this.dirs[1];
    for (let i = 0; i < n; i++) {
      const s = slots[i]!;
      const d = port[s] === 0 ? d0 : d1;
      if (d.plain) e.transmit(this, d.out, s);
      else d.arrive(s);
    }
  }

  override held(): number {
    const a = this.dirs[0];
    const b = this.dirs[1];
    return a.lineCount + a.qCount + b.lineCount + b.qCount;
  }

  stats(dir: 0 | 1): LinkDirStats {
    const d = this.dirs[dir];
    const { delayed, shaped, lost, duplicated } = d;
    return { received: this.rxPackets[1 - d.out]!, sent: this.txPackets[d.out]!, delayed, shaped, lost, duplicated, held: d.lineCount + d.qCount };
  }
}

function validate(link: string, dir: string, imp: Impairment | undefined): void {
  if (!imp) return;
  const bad = (what: string, v: unknown, allowed: string) => new RangeError(`link ${link} ${dir}: ${what} ${String(v)} must be ${allowed}`);
  const nonNeg = (k: keyof Impairment) => {
    const v = imp[k];
    if (v !== undefined && !(typeof v === "number" && Number.isFinite(v) && v >= 0)) throw bad(k, v, "a finite number >= 0");
  };
  const frac = (k: keyof Impairment) => {
    const v = imp[k];
    if (v !== undefined && !(typeof v === "number" && v >= 0 && v <= 1)) throw bad(k, v, "a fraction in [0, 1]");
  };
  nonNeg("delayNs");
  nonNeg("limit");
  for (const k of ["loss", "lossCorrelation", "duplicate", "duplicateCorrelation", "delayCorrelation"] as const) frac(k);
  // netem's tabledist takes sigma as s32 ns (2^31 ns ~ 2.1 s).
  if (imp.jitterNs !== undefined && !(imp.jitterNs >= 0 && imp.jitterNs < 2 ** 31)) throw bad("jitterNs", imp.jitterNs, "0 .. 2^31-1 ns (netem's limit)");
  if (imp.rateBps !== undefined && !(imp.rateBps > 0 && Number.isFinite(imp.rateBps))) throw bad("rateBps", imp.rateBps, "> 0");
  const t = imp.tbf;
  if (t) {
    if (!(t.rateBps > 0 && Number.isFinite(t.rateBps))) throw bad("tbf.rateBps", t.rateBps, "> 0");
    if (t.burstBytes !== undefined && !(t.burstBytes >= 1)) throw bad("tbf.burstBytes", t.burstBytes, ">= 1");
    if (t.limitBytes !== undefined && !(t.limitBytes >= 0)) throw bad("tbf.limitBytes", t.limitBytes, ">= 0");
    if (t.limitPackets !== undefined && !(t.limitPackets >= 0)) throw bad("tbf.limitPackets", t.limitPackets, ">= 0");
  }
}

