// Properties of the routing table (dataplane/netns/fib.ts): its longest-prefix match, answers and
// `ip route show` order equal the linear-scan reference (fib-reference.ts) on random tables of
// 10,000+ and 70,000+ prefixes (built, then 3/4 deleted, then emptied) and on small tables driven by random
// add/replace/delete sequences with metrics, which cross the small-table/trie switch both ways.
import { Rng } from "../dataplane/engine/rng.js";
import { fc, test } from "@fast-check/vitest";
import { expect } from "vitest";
import { BIG, Fib, RTN_BLACKHOLE, RTN_UNICAST, prefixMask, type RouteSpec } from "../dataplane/netns/fib.js";
import { RefFib, type RefRoute } from "../dataplane/netns/fib-reference.js";

const key = (f: Fib, r: number) => (r < 0 ? "none" : `${f.network(r)}/${f.len(r)}@${f.metric(r)}:${f.oif(r)}`);
const refKey = (r: RefRoute | undefined | number) => (r === undefined ? "none" : typeof r === "number" ? `err${r}` : `${r.network}/${r.len}@${r.metric}:${r.oif}`);

/** A seeded uint32 stream (the engine's Rng): tables of thousands of prefixes come from a seed. */
function stream(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.u32();
}

/** A mix like a real table: mostly /24, some /8–/23 and /25–/32, a cluster of /32s (a Calico
 *  host's pods), a /12 holding every length from /12 to /32 (deep nesting), a default; metrics 0, 1 or 100 so some prefixes carry several routes. */
function bigTable(seed: number, n: number): RouteSpec[] {
  const rnd = stream(seed), out: RouteSpec[] = [{ network: 0, len: 0, oif: 1 }];
  const cluster = rnd() & 0xffff0000, nest = rnd() & 0xfff00000;
  while (out.length < n) {
    const x = rnd() % 100;
    const len = x < 55 ? 24 : x < 70 ? 8 + (rnd() % 16) : x < 85 ? 25 + (rnd() % 8) : x < 92 ? 32 : 12 + (rnd() % 21);
    const base = x >= 92 ? (nest | (rnd() & 0xfffff)) >>> 0 : x >= 85 ? (cluster | (rnd() & 0xffff)) >>> 0 : rnd();
    out.push({ network: (base & prefixMask(len)) >>> 0, len, metric: [0, 0, 0, 1, 100][rnd() % 5], oif: 1 + (rnd() % 7), type: rnd() % 50 ? RTN_UNICAST : RTN_BLACKHOLE });
  }
  return out;
}

function probes(specs: RouteSpec[], seed: number, n: number): number[] {
  const rnd = stream(seed ^ 0x5bd1e995), out: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = specs[rnd() % specs.length]!, last = (s.network | ~prefixMask(s.len)) >>> 0;
    const pick = [rnd(), s.network, (s.network - 1) >>> 0, last, (last + 1) >>> 0, (s.network | (rnd() & ~prefixMask(s.len))) >>> 0];
    out.push(pick[i % pick.length]!);
  }
  return out;
}

function sameLookups(f: Fib, ref: RefFib, at: number[]): void {
  const got = at.map((a) => key(f, f.lookup(a)));
  const want = at.map((a) => refKey(ref.lookup(a)));
  expect(got).toEqual(want);
  expect(at.map((a) => key(f, f.lookup(a | 0)))).toEqual(want); // int32 form of the same address
}

/** Build, compare; delete three quarters in random order (sometimes naming the metric), comparing
 *  lookups after an eighth and at the end, and the dump; delete the rest: empty, no nodes left. */
function bigCase(seed: number, n: number, np: number): void {
  const specs = bigTable(seed, n);
  const f = new Fib(), ref = new RefFib();
  for (const s of specs) expect(f.add(s) >= 0 ? "ok" : "err").toBe(typeof ref.add(s) === "number" ? "err" : "ok");
  expect(f.size).toBe(ref.size);
  if (n > BIG + 10_000) expect(f.memoryBytes()).toBeGreaterThan(8 << 20); // the 2 x 2^20 top table
  sameLookups(f, ref, probes(specs, seed, np));
  const rnd = stream(seed + 1), order = specs.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rnd() % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  for (let k = 0; k < (order.length * 3) >> 2; k++) {
    const s = specs[order[k]!]!, match = rnd() % 2 ? { metric: s.metric ?? 0 } : {};
    const got = f.delete(s.network, s.len, match), want = ref.delete(s.network, s.len, match);
    if ((got < 0) !== (typeof want === "number")) expect([got, refKey(want)]).toBe("same outcome");
    if (k === order.length >> 3) sameLookups(f, ref, probes(specs, seed + 3, np)); // before any rebuild
  }
  expect(f.size).toBe(ref.size);
  sameLookups(f, ref, probes(specs, seed + 2, np));
  expect(f.routes().map((r) => key(f, r))).toEqual(ref.show().map(refKey));
  for (const r of f.routes()) f.delete(f.network(r), f.len(r), { metric: f.metric(r) });
  expect([f.size, f.nodes, f.lookup(seed)]).toEqual([0, 0, -1]);
}

test.prop([fc.integer({ min: 1, max: 0x7fffffff }), fc.integer({ min: 10_000, max: 14_000 })], { numRuns: 4 })(
  "10,000+ prefixes: lookups equal the linear scan after building, after deleting 3/4, and when empty",
  (seed, n) => bigCase(seed, n, 3000),
);

test.prop([fc.integer({ min: 1, max: 0x7fffffff })], { numRuns: 1 })(
  `more than BIG (${BIG}) prefixes (20-bit top table, then back to 16 bits as they go): equal to the linear scan`,
  (seed) => bigCase(seed, BIG + 12_000, 1500),
);

// Small tables: a pool of overlapping prefixes (nested lengths over a few networks).
const prefix = fc.tuple(fc.constantFrom(0x0a000000, 0x0a010000, 0xc0a80100, 0xffffff00, 0), fc.nat({ max: 0xffff }), fc.integer({ min: 0, max: 32 }))
  .map(([base, low, len]) => ({ network: ((base | (low * 97)) & prefixMask(len)) >>> 0, len }));
const op = fc.record({
  kind: fc.constantFrom("add", "add", "add", "replace", "delete", "delete-metric"),
  p: fc.nat({ max: 1000 }),
  metric: fc.constantFrom(0, 1, 5),
  oif: fc.integer({ min: 1, max: 4 }),
  type: fc.constantFrom(RTN_UNICAST, RTN_UNICAST, RTN_BLACKHOLE),
});

test.prop([fc.array(prefix, { minLength: 1, maxLength: 40 }), fc.array(op, { maxLength: 120 }), fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 20 })], { numRuns: 300 })(
  "small tables with metrics and deletions: every answer, lookup and dump equals the reference",
  (pool, ops, extra) => {
    const f = new Fib(), ref = new RefFib();
    for (const o of ops) {
      const p = pool[o.p % pool.length]!;
      const spec = { ...p, metric: o.metric, oif: o.oif, type: o.type };
      let got: number, want: RefRoute | number;
      if (o.kind === "add") [got, want] = [f.add(spec), ref.add(spec)];
      else if (o.kind === "replace") [got, want] = [f.replace(spec), ref.replace(spec)];
      else {
        const match = o.kind === "delete-metric" ? { metric: o.metric } : {};
        want = ref.delete(p.network, p.len, match);
        const r = f.find(p.network, p.len, o.kind === "delete-metric" && o.metric ? o.metric : undefined);
        const before = r >= 0 ? key(f, r) : "";
        got = f.delete(p.network, p.len, match);
        if (got >= 0) expect(before).toBe(refKey(want)); // the same route went
      }
      expect(got < 0 ? `err${got}` : "ok").toBe(typeof want === "number" ? `err${want}` : "ok");
      if (got >= 0 && o.kind !== "delete" && o.kind !== "delete-metric") expect(key(f, got)).toBe(refKey(want));
    }
    const at = [...extra, ...probes(pool.map((p) => ({ ...p })), pool.length, 200)];
    sameLookups(f, ref, at);
    expect(f.routes().map((r) => key(f, r))).toEqual(ref.show().map(refKey));
    expect(f.size).toBe(ref.size);
  },
);
