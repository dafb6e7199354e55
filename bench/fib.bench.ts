// Route lookup (dataplane/netns/fib.ts) per packet: the destination address read from a 64-byte
// frame (60 + FCS) in a PacketArena, then Fib.lookup, in batches of 256 frames; 64 batches of
// distinct frames are walked in turn (16,384 destinations) so the table is not cache-hot for one
// batch. Tables: 100,000 random prefixes (mostly /24, some /8-/23 and /25-/32, a default) with
// destinations inside routed prefixes or uniformly random; a container (5 routes); a Calico host
// (10,000 pod /32s and its block/node routes); 16 vs 17 prefixes (the linear-scan/trie switch).
// The baseline reads the same addresses without a lookup; "no frame" looks up the same addresses
// from a plain Int32Array (the lookup alone). Also printed: build time, bytes per route (heap +
// typed arrays after a forced GC) and GCs per lookup.
import { Rng } from "../dataplane/engine/rng.js";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { runSuite, measureAllocation, reportAllocation } from "./lib.js";
import { PacketArena } from "../core/packet.js";
import { buildFrame } from "../core/wire/frame.js";
import { eth, ipv4, raw, udp } from "../core/wire/layers.js";
import { IPPROTO_UDP } from "../core/wire/ipv4.js";
import { Fib, RTN_BLACKHOLE, RTPROT_KERNEL, RT_SCOPE_LINK, SMALL, prefixMask, type RouteSpec } from "../dataplane/netns/fib.js";

const BATCH = 256;
const BATCHES = 64;
let sink = 0;

/** A seeded uint32 stream (the engine's Rng): tables of thousands of prefixes come from a seed. */
function stream(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.u32();
}

/** Absolute offsets of the IPv4 destination field of BATCHES * BATCH frames, and their bytes. */
interface Frames { b: Uint8Array; at: Int32Array }

function frames(dst: (i: number) => number): Frames {
  const n = BATCH * BATCHES, arena = new PacketArena({ slotCount: n }), at = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const f = buildFrame([eth({ src: 0x0242ac110002, dst: 0x0242ac110001 }), ipv4({ src: 0xac110002, dst: dst(i), protocol: IPPROTO_UDP }), udp(40000 + (i & 1023), 53), raw(18)]);
    at[i] = arena.start(arena.allocFrom(f)) + 14 + 16;
  }
  return { b: arena.bytes, at };
}

function dstsOf(fr: Frames): Int32Array {
  return fr.at.map((o) => (fr.b[o]! << 24) | (fr.b[o + 1]! << 16) | (fr.b[o + 2]! << 8) | fr.b[o + 3]!);
}

function lookups(fib: Fib, fr: Frames): () => void {
  const b = fr.b, at = fr.at;
  let base = 0;
  return () => {
    let s = 0;
    const end = base + BATCH;
    for (let i = base; i < end; i++) {
      const o = at[i]!;
      s += fib.lookup((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
    }
    base = end === at.length ? 0 : end;
    sink = (sink + s) | 0; // stays a small integer: a double here would allocate per batch
  };
}

/** The same walk over a plain array of addresses: the lookup alone, no frame bytes read. */
function lookupsOnly(fib: Fib, dsts: Int32Array): () => void {
  let base = 0;
  return () => {
    let s = 0;
    const end = base + BATCH;
    for (let i = base; i < end; i++) s += fib.lookup(dsts[i]!);
    base = end === dsts.length ? 0 : end;
    sink = (sink + s) | 0;
  };
}

function readOnly(fr: Frames): () => void {
  const b = fr.b, at = fr.at;
  let base = 0;
  return () => {
    let s = 0;
    const end = base + BATCH;
    for (let i = base; i < end; i++) {
      const o = at[i]!;
      s += (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
    }
    base = end === at.length ? 0 : end;
    sink = (sink + s) | 0; // stays a small integer: a double here would allocate per batch
  };
}

/** 100,000 distinct prefixes: 1 default, 75% /24, 13% /8-/23, 12% /25-/32, random places. */
function internetLike(n: number): RouteSpec[] {
  const rnd = stream(1), seen = new Set<number>(), out: RouteSpec[] = [{ network: 0, len: 0, oif: 1, gateway: 0x0a000001 }];
  while (out.length < n) {
    const x = rnd() % 100, len = x < 75 ? 24 : x < 88 ? 8 + (rnd() % 16) : 25 + (rnd() % 8);
    const network = (rnd() & prefixMask(len)) >>> 0, key = network * 33 + len;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ network, len, oif: 1 + (rnd() % 8), gateway: 0x0a000000 + (rnd() % 250) + 2 });
  }
  return out;
}

const container: RouteSpec[] = [
  { network: 0, len: 0, oif: 2, gateway: 0xac110001 },
  { network: 0xac110000, len: 16, oif: 2, proto: RTPROT_KERNEL, scope: RT_SCOPE_LINK, src: 0xac110002 },
  { network: 0xa9fea9fe, len: 32, oif: 2, scope: RT_SCOPE_LINK },
  { network: 0x0a000000, len: 8, type: RTN_BLACKHOLE },
  { network: 0xc0a80000, len: 16, oif: 2, gateway: 0xac110005 },
];

/** A Calico node: 10,000 pods in /26 blocks of 192.168.0.0/16 (dev caliN scope link), a blackhole
 *  per own block, 64 remote blocks via other nodes, the host subnet and a default. */
function calicoHost(): RouteSpec[] {
  const out: RouteSpec[] = [{ network: 0, len: 0, oif: 1, gateway: 0x0a800001 }, { network: 0x0a800000, len: 16, oif: 1, proto: RTPROT_KERNEL, src: 0x0a800002 }];
  for (let i = 0; i < 10_000; i++) out.push({ network: 0xc0a80000 + i, len: 32, oif: 10 + i, scope: RT_SCOPE_LINK });
  for (let b = 0; b < 157; b++) out.push({ network: 0xc0a80000 + b * 64, len: 26, type: RTN_BLACKHOLE, proto: 12 });
  for (let b = 0; b < 64; b++) out.push({ network: 0xc0a90000 + b * 64, len: 26, oif: 1, gateway: 0x0a800003 + b, proto: 12 });
  return out;
}

let gcFn: (() => void) | undefined;
/** A forced full GC (for heap figures), without needing node --expose-gc. */
function gc(): void {
  if (!gcFn) {
    setFlagsFromString("--expose-gc");
    gcFn = runInNewContext("gc") as () => void;
  }
  gcFn();
}

/** Build `copies` tables from `specs` (many, for small tables, so the heap figure is above noise). */
function build(specs: RouteSpec[], copies = 1): { fib: Fib; ms: number; bytesPerRoute: number } {
  gc();
  const m0 = process.memoryUsage();
  const t0 = performance.now();
  const fibs: Fib[] = [];
  for (let c = 0; c < copies; c++) {
    const fib = new Fib();
    for (const s of specs) if (fib.add(s) < 0) throw new Error("fib bench: route refused");
    fibs.push(fib);
  }
  const ms = (performance.now() - t0) / copies;
  gc();
  const m1 = process.memoryUsage();
  const bytes = m1.heapUsed - m0.heapUsed + m1.arrayBuffers - m0.arrayBuffers;
  return { fib: fibs[0]!, ms, bytesPerRoute: bytes / (copies * fibs[0]!.size) };
}

export async function fibBench(): Promise<void> {
  const inet = internetLike(100_000), calico = calicoHost();
  const big = build(inet), host = build(calico), small = build(container, 1000);
  const rnd = stream(7);
  const inside = (specs: RouteSpec[]) => () => {
    const s = specs[rnd() % specs.length]!;
    return (s.network | (rnd() & ~prefixMask(s.len))) >>> 0;
  };
  const frInside = frames(inside(inet)), frRandom = frames(() => rnd());
  const podOrOut = inside(calico);
  const frCalico = frames((i) => (i % 5 === 4 ? rnd() : podOrOut()));
  const frContainer = frames((i) => (i & 1 ? 0xac110000 + (rnd() & 0xffff) : rnd()));
  // No default route: every prefix is compared for most destinations (the linear scan's worst case).
  const edge = (n: number) => build(Array.from({ length: n }, (_, i) => ({ network: (0x0b000000 + (i << 16)) >>> 0, len: 16 + (i % 9), oif: 1 })));
  const sixteen = edge(SMALL), seventeen = edge(SMALL + 1);
  const cases: Record<string, () => void> = {
    "fib baseline: read dst only": readOnly(frInside),
    "fib lookup 100k prefixes, dst in routed prefixes": lookups(big.fib, frInside),
    "fib lookup 100k prefixes, uniform random dst": lookups(big.fib, frRandom),
    "fib lookup 100k prefixes, dst in routed prefixes, no frame": lookupsOnly(big.fib, dstsOf(frInside)),
    "fib lookup container (5 routes)": lookups(small.fib, frContainer),
    "fib lookup calico host (10k /32s)": lookups(host.fib, frCalico),
    [`fib lookup ${SMALL} prefixes (linear scan)`]: lookups(sixteen.fib, frRandom),
    [`fib lookup ${SMALL + 1} prefixes (trie)`]: lookups(seventeen.fib, frRandom),
  };
  await runSuite("route lookup (fib)", Object.entries(cases).map(([name, fn]) => ({ name, packets: BATCH, setup: () => fn })));
  const mem = (name: string, b: { fib: Fib; ms: number; bytesPerRoute: number }) =>
    console.log(`  ${name}: ${b.fib.size} routes, built in ${b.ms.toFixed(1)} ms, ${b.bytesPerRoute.toFixed(1)} B/route (typed arrays ${(b.fib.memoryBytes() / b.fib.size).toFixed(1)} B/route, ${b.fib.nodes} nodes)`);
  mem("100k prefixes", big);
  mem("calico host", host);
  mem("container (1000 tables)", small);
  for (const name of ["fib lookup 100k prefixes, dst in routed prefixes", "fib lookup container (5 routes)", "fib lookup calico host (10k /32s)"]) {
    const r = await measureAllocation(cases[name]!, 400_000);
    reportAllocation(`${name}, batch of ${BATCH}`, r);
    console.log(`  ${name}: ${(r.gcs / (r.iterations * BATCH)).toExponential(1)} GCs per lookup`);
  }
  if (sink === 0.5) console.log(sink);
}
