// Properties of the Link device (dataplane/devices/link.ts) under random impairments and traffic:
//   - conservation holds at every sampled instant, and at the end nothing is held;
//   - nothing is delivered twice except counted duplicates, and copies are byte-identical;
//   - the same seed gives the same deliveries with the same timestamps;
//   - differential: the delay line (sorted ring, wrap, growth) against a stable sort of release
//     times drawn from the same random stream, and the tbf against a plain token-bucket
//     recurrence over arrays.
import { fc, test } from "@fast-check/vitest";
import { expect } from "vitest";
import { Engine } from "../dataplane/engine/engine.js";
import { Device } from "../dataplane/engine/device.js";
import { Timer } from "../dataplane/engine/clock.js";
import { Rng } from "../dataplane/engine/rng.js";
import { Link, type Impairment } from "../dataplane/devices/link.js";

interface Pkt { gap: number; len: number }

/** Emits `pkts` (gap after the previous one, length) with seq in bytes 0..3 and a seq-derived fill; records arrivals. */
class End extends Device {
  got: [seq: number, t: number][] = [];
  intact = true;
  private k = 0;
  private readonly timer: Timer;
  constructor(name: string, private readonly pkts: Pkt[]) {
    super(name);
    this.addPort("eth0");
    this.timer = new Timer(name, () => this.tick());
  }
  override attached(): void {
    if (this.pkts.length) this.engine.clock.arm(this.timer, this.pkts[0]!.gap);
  }
  private tick(): void {
    const e = this.engine;
    const a = e.arena;
    do {
      const k = this.k++;
      const s = e.alloc(this);
      if (s < 0) continue;
      const len = this.pkts[k]!.len;
      a.setLen(s, len);
      const o = a.start(s);
      for (let i = 0; i < len; i++) a.bytes[o + i] = i < 4 ? (k >>> (24 - 8 * i)) & 255 : (k * 7 + i) & 255;
      e.transmit(this, 0, s);
    } while (this.k < this.pkts.length && this.pkts[this.k]!.gap === 0);
    if (this.k < this.pkts.length) e.clock.after(this.timer, this.pkts[this.k]!.gap);
  }
  process(slots: Int32Array, n: number): void {
    const e = this.engine;
    const a = e.arena;
    for (let i = 0; i < n; i++) {
      const s = slots[i]!;
      const o = a.start(s);
      const seq = ((a.bytes[o]! << 24) | (a.bytes[o + 1]! << 16) | (a.bytes[o + 2]! << 8) | a.bytes[o + 3]!) >>> 0;
      for (let j = 4; j < a.len[s]!; j++) if (a.bytes[o + j] !== ((seq * 7 + j) & 255)) this.intact = false;
      this.got.push([seq, e.clock.now]);
      e.deliver(this, s);
    }
  }
}

/** Arrival times of `pkts` (cumulative gaps). */
const times = (pkts: Pkt[]) => pkts.reduce<number[]>((t, p, i) => (t.push((i ? t[i - 1]! : 0) + p.gap), t), []);

const frac = fc.double({ min: 0, max: 1, noNaN: true });
const impairment: fc.Arbitrary<Impairment> = fc.record(
  {
    delayNs: fc.integer({ min: 0, max: 5_000_000 }),
    jitterNs: fc.integer({ min: 0, max: 3_000_000 }),
    delayCorrelation: frac,
    loss: frac,
    lossCorrelation: frac,
    duplicate: frac,
    duplicateCorrelation: frac,
    rateBps: fc.integer({ min: 100_000, max: 1_000_000_000 }),
    limit: fc.integer({ min: 0, max: 60 }),
    tbf: fc.record(
      {
        rateBps: fc.integer({ min: 100_000, max: 1_000_000_000 }),
        burstBytes: fc.integer({ min: 60, max: 6000 }),
        limitBytes: fc.integer({ min: 0, max: 20_000 }),
        limitPackets: fc.integer({ min: 0, max: 30 }),
      },
      { requiredKeys: ["rateBps"] },
    ),
  },
  { requiredKeys: [] },
);
const pkt = fc.record({ gap: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2_000_000 })), len: fc.integer({ min: 14, max: 1514 }) });
const traffic = fc.array(pkt, { maxLength: 120 });

function scenario(seed: number, ab: Impairment, ba: Impairment, ta: Pkt[], tb: Pkt[]) {
  const e = new Engine({ seed, slots: 2048 });
  const x = e.add(new End("x", ta));
  const link = e.add(new Link("l", { ab, ba }));
  const y = e.add(new End("y", tb));
  e.connect(x, 0, link, 0);
  e.connect(link, 1, y, 0);
  return { e, x, y, link };
}

test.prop([fc.nat(), impairment, impairment, traffic, traffic, fc.array(fc.integer({ min: 0, max: 300_000_000 }), { minLength: 1, maxLength: 6 })], { numRuns: 300 })(
  "conservation at all times; at most one delivery per original plus counted duplicates",
  (seed, ab, ba, ta, tb, at) => {
    const { e, x, y, link } = scenario(seed, ab, ba, ta, tb);
    for (const t of [...at].sort((p, q) => p - q)) {
      e.run(t);
      expect(e.conservation().ok).toBe(true);
    }
    e.run();
    expect(e.conservation()).toMatchObject({ queued: 0, inUse: 0, ok: true });
    expect(link.held()).toBe(0);
    for (const [end, dir, sent] of [[y, 0, ta.length], [x, 1, tb.length]] as const) {
      const count = new Map<number, number>();
      for (const [seq] of end.got) count.set(seq, (count.get(seq) ?? 0) + 1);
      const twice = [...count.values()].filter((c) => c === 2).length;
      expect(Math.max(0, ...count.values())).toBeLessThanOrEqual(2);
      expect(twice).toBeLessThanOrEqual(link.stats(dir).duplicated);
      expect([...count.keys()].every((s) => s < sent)).toBe(true);
      expect(end.intact).toBe(true);
    }
  },
);

test.prop([fc.nat(), impairment, impairment, traffic, traffic], { numRuns: 150 })("the same seed gives the same deliveries and times", (seed, ab, ba, ta, tb) => {
  const once = () => {
    const { e, x, y, link } = scenario(seed, ab, ba, ta, tb);
    e.run();
    return { x: x.got, y: y.got, ab: link.stats(0), ba: link.stats(1), errors: e.errors() };
  };
  expect(once()).toEqual(once());
});

// ---- differential: delay line -----------------------------------------------------------------

test.prop(
  [fc.nat(), fc.integer({ min: 0, max: 3_000_000 }), fc.integer({ min: 0, max: 3_000_000 }), fc.option(frac, { nil: undefined }), fc.option(fc.integer({ min: 1_000_000, max: 1_000_000_000 }), { nil: undefined }), fc.array(pkt, { maxLength: 400 })],
  { numRuns: 200 },
)("the delay line delivers in the order of a stable sort of release times drawn from the same stream", (seed, delayNs, jitterNs, loss, rateBps, pkts) => {
  const e = new Engine({ seed, slots: 2048 });
  const x = e.add(new End("x", pkts));
  const link = e.add(new Link("l", { ab: { delayNs, jitterNs, loss, rateBps, limit: 100_000 } }));
  const y = e.add(new End("y", []));
  e.connect(x, 0, link, 0);
  e.connect(link, 1, y, 0);
  e.run();

  // reference: netem's draws in netem's order, release times, then a stable sort
  const rng = new Rng(seed).fork("l").fork("ab");
  const lossT = Math.round((loss ?? 0) * 0xffffffff);
  const arrive = times(pkts);
  const out: { seq: number; t: number }[] = [];
  const held: number[] = []; // release times of packets in the line
  pkts.forEach((p, seq) => {
    const a = arrive[seq]!;
    if (lossT !== 0 && lossT >= rng.u32()) return;
    let d = delayNs;
    let base = a;
    if (jitterNs) d = (rng.u32() % (2 * jitterNs)) + d - jitterNs;
    const still = held.filter((r) => r > a);
    if (rateBps) {
      if (still.length) {
        const last = Math.max(...still);
        d = Math.max(0, d - (last - a));
        base = last;
      }
      d += Math.floor((p.len * 8e9) / rateBps);
    }
    const t = base + d;
    if (t > a) held.push(t);
    out.push({ seq, t: Math.max(t, a) });
  });
  const expected = out.map((o, i) => ({ ...o, i })).sort((p, q) => p.t - q.t || p.i - q.i).map((o) => [o.seq, o.t]);
  expect(y.got).toEqual(expected);
});

// ---- differential: tbf --------------------------------------------------------------------------

/** Token bucket over arrays (arrivals in order, times non-decreasing): departures at an instant go before arrivals at it. */
function tbfReference(arrive: number[], lens: number[], rate: number, burst: number, limitBytes: number, limitPackets: number): (number | "rate-limit" | "over-burst")[] {
  const bucket = burst * 8e9;
  let tokens = bucket;
  let tc = 0;
  const queue: number[] = [];
  const res: (number | "rate-limit" | "over-burst")[] = [];
  const cost = (k: number) => lens[k]! * 8e9;
  const departUntil = (T: number) => {
    while (queue.length) {
      const c = cost(queue[0]!);
      const t = tokens >= c ? tc : tc + Math.ceil((c - tokens) / rate);
      if (t > T) return;
      tokens = Math.min(bucket, tokens + (t - tc) * rate) - c;
      tc = t;
      res[queue.shift()!] = t;
    }
  };
  arrive.forEach((a, k) => {
    departUntil(a);
    if (cost(k) > bucket) return void (res[k] = "over-burst");
    const bytes = queue.reduce((s, q) => s + lens[q]!, 0);
    if (bytes + lens[k]! > limitBytes || queue.length >= limitPackets) return void (res[k] = "rate-limit");
    if (queue.length === 0) {
      tokens = Math.min(bucket, tokens + (a - tc) * rate);
      tc = a;
      if (tokens >= cost(k)) {
        tokens -= cost(k);
        return void (res[k] = a);
      }
    }
    queue.push(k);
  });
  departUntil(Infinity);
  return res;
}

const tbfArgs = [fc.integer({ min: 100_000, max: 1_000_000_000 }), fc.integer({ min: 60, max: 6000 }), fc.integer({ min: 0, max: 30_000 }), fc.integer({ min: 0, max: 40 })] as const;

/** Run `pkts` through a Link with `ab`; the tbf drops and each seq's arrival time (or "?" when dropped). */
function runTbf(ab: Impairment, pkts: Pkt[], seed = 1) {
  const e = new Engine({ seed, slots: 2048 });
  const x = e.add(new End("x", pkts));
  const link = e.add(new Link("l", { ab }));
  const y = e.add(new End("y", []));
  e.connect(x, 0, link, 0);
  e.connect(link, 1, y, 0);
  e.run();
  const at: (number | string)[] = new Array(pkts.length).fill("?");
  for (const [seq, t] of y.got) at[seq] = t;
  return { at, got: y.got, drops: { "rate-limit": link.drops[link.reason("rate-limit")], "over-burst": link.drops[link.reason("over-burst")] } };
}

const countOf = (ref: unknown[], what: string) => ref.filter((r) => r === what).length;

test.prop([...tbfArgs, fc.array(pkt, { maxLength: 300 })], { numRuns: 300 })(
  "tbf departures and drops equal a plain token-bucket recurrence",
  (rateBps, burstBytes, limitBytes, limitPackets, pkts) => {
    const r = runTbf({ tbf: { rateBps, burstBytes, limitBytes, limitPackets } }, pkts);
    const ref = tbfReference(times(pkts), pkts.map((p) => p.len), rateBps, burstBytes, limitBytes, limitPackets);
    expect(r.at.map((g, k) => (g === "?" ? ref[k] : g))).toEqual(ref);
    expect(r.drops).toEqual({ "rate-limit": countOf(ref, "rate-limit"), "over-burst": countOf(ref, "over-burst") });
    // departures conform to the bucket: any run of them fits burst + rate * span
    const dep = r.got;
    for (let i = 0; i < dep.length; i++) {
      let bits = 0;
      for (let j = i; j < dep.length; j++) {
        bits += pkts[dep[j]![0]]!.len * 8e9;
        expect(bits).toBeLessThanOrEqual(burstBytes * 8e9 + rateBps * (dep[j]![1] - dep[i]![1]));
      }
    }
  },
);

test.prop([...tbfArgs, fc.integer({ min: 1, max: 2_000_000 }), fc.array(pkt, { maxLength: 300 })], { numRuns: 200 })(
  "delay then tbf equals the tbf recurrence over the delayed arrivals",
  (rateBps, burstBytes, limitBytes, limitPackets, delayNs, pkts) => {
    const r = runTbf({ delayNs, limit: 100_000, tbf: { rateBps, burstBytes, limitBytes, limitPackets } }, pkts);
    const ref = tbfReference(times(pkts).map((t) => t + delayNs), pkts.map((p) => p.len), rateBps, burstBytes, limitBytes, limitPackets);
    expect(r.at.map((g, k) => (g === "?" ? ref[k] : g))).toEqual(ref);
    expect(r.drops).toEqual({ "rate-limit": countOf(ref, "rate-limit"), "over-burst": countOf(ref, "over-burst") });
  },
);

// The same on a coarse grid (us steps, 1000-byte frames taking 1, 2 or 4 us, a few packets of
// queue), where releases from the delay line and departures from the bucket fall on the same
// instant and the queue is often full then: the case where "departures first" decides.
test.prop(
  [fc.constantFrom(8e9, 4e9, 2e9), fc.integer({ min: 1, max: 3 }).map((b) => b * 1000), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 8 }).map((d) => d * 1000), fc.array(fc.integer({ min: 0, max: 2 }).map((g) => ({ gap: g * 1000, len: 1000 })), { maxLength: 40 })],
  { numRuns: 1000 },
)("delay then tbf on a grid of simultaneous events", (rateBps, burstBytes, limitPackets, delayNs, pkts) => {
  const r = runTbf({ delayNs, tbf: { rateBps, burstBytes, limitPackets } }, pkts);
  const ref = tbfReference(times(pkts).map((t) => t + delayNs), pkts.map((p) => p.len), rateBps, burstBytes, Infinity, limitPackets);
  expect(r.at.map((g, k) => (g === "?" ? ref[k] : g))).toEqual(ref);
});
