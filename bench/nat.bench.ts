// NAT on the packet path (dataplane/netfilter/hooks.ts): a router namespace with one rule,
// `-t nat -A POSTROUTING -o eth1 -j MASQUERADE`, forwarding 64-byte UDP frames from inside hosts
// on eth0 (10.0.1.2 - 10.0.1.17, permanent neighbours) to servers beyond eth1 (198.51.100.1 -
// .16, via 192.168.1.1, a permanent neighbour): per frame the namespace's checks, PREROUTING
// (conntrack lookup and refresh, nat: the entry's binding), routing, TTL, FORWARD (no filter
// table: one test), POSTROUTING (the source rewritten to 192.168.1.10 with incremental
// checksums), the neighbour, a new Ethernet header, transmit into a sink's ring. Flows are
// established (each saw its reply through the router) before timing, so every timed frame takes
// the namespace's fused established-flow path (dataplane/netfilter/fast-path.ts): 1, 10,000 and 1,000,000
// of them, each host's flows to its own server so that MASQUERADE keeps every source port (a
// port search would change nothing per established packet). The batch is 256 frames of flows
// spread over the table; the harness restores what forwarding rewrote (Ethernet addresses,
// TTL, the IPv4 checksum and source address, the UDP checksum) and is measured on its own.
//
// New connections: conntrack's insert with NAT's port search, at the table level, in batches of
// 256: a UDP packet of a new flow is tracked (entry created), MASQUERADE's binding chosen
// (nat-tuple.ts; every flow has source port 40000 towards one of 16 servers, so the original
// tuple is taken and a port is searched), the packet rewritten and the entry confirmed; the
// table is held at 10,000 live entries by deleting the oldest (a ring of entry numbers). A
// dataplane variant sends the same new flows through the router above (all hooks, rules run).
//
// Memory: the table's bytes per entry with 1,000,000 NATed entries (typed arrays at capacity)
// and the arrayBuffers growth of the process while they were made, per entry.
import { runSuite, measureAllocation, reportAllocation } from "./lib.js";
import { Device } from "../dataplane/engine/device.js";
import { Topology } from "../dataplane/topology.js";
import type { Netns } from "../dataplane/netns/netns.js";
import { ConntrackTable } from "../dataplane/netfilter/conntrack.js";
import { NAT_MANIP_SRC } from "../dataplane/netfilter/conntrack-bits.js";
import { NAT_MAP_IPS, natSetup } from "../dataplane/netfilter/nat-tuple.js";
import { natPacket } from "../dataplane/netfilter/nat-packet.js";
import { Clock } from "../dataplane/engine/clock.js";
import { Rng } from "../dataplane/engine/rng.js";
import { buildFrame } from "../core/wire/frame.js";
import { eth, ipv4, raw, udp } from "../core/wire/layers.js";

const N = 256;
const HOSTS = 16;
const ROUTER_IN = 0x020000000001, ROUTER_OUT = 0x020000000002, GW = 0x020000000003;
const hostIp = (h: number) => 0x0a000102 + h; // 10.0.1.2 + h
const hostMac = (h: number) => 0x02000000a000 + h;
const server = (h: number) => 0xc6336401 + h; // 198.51.100.1 + h
const NAT_IP = 0xc0a8010a; // 192.168.1.10

class Sink extends Device {
  constructor(name: string) {
    super(name);
    this.addPort("in");
  }
  process(): void {}
}

interface Router {
  t: Topology;
  r: Netns;
  inSink: Sink;
  out: Sink;
  e0: number;
  e1: number;
}

function router(maxEntries: number): Router {
  const t = new Topology({ slots: 8192, seed: 3 });
  const r = t.netns("router");
  // the router's interfaces are wired to sinks: frames are handed to Netns.process directly
  const e0 = r.addInterface("eth0", ROUTER_IN);
  const e1 = r.addInterface("eth1", ROUTER_OUT);
  const e = t.engine;
  const inSink = e.add(new Sink("in"));
  const out = e.add(new Sink("out"));
  e.connect(r, e0, inSink, 0);
  e.connect(r, e1, out, 0);
  r.addAddress("eth0", "10.0.1.1/24");
  r.addAddress("eth1", "192.168.1.10/24");
  r.route("default via 192.168.1.1 dev eth1");
  r.ipForward = true;
  r.neigh.addPermanent(e1, 0xc0a80101, GW);
  for (let h = 0; h < HOSTS; h++) r.neigh.addPermanent(e0, hostIp(h), hostMac(h));
  t.iptables("router", "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o eth1 -j MASQUERADE\nCOMMIT\n", {
    conntrack: { max: Math.max(262144, maxEntries), initialCapacity: Math.max(1024, maxEntries) },
  });
  return { t, r, inSink, out, e0, e1 };
}

/** Flow i: host i % HOSTS, source port 1024 + (i / HOSTS), to that host's server port 53. */
const flowHost = (i: number) => i % HOSTS;
const flowPort = (i: number) => 1024 + Math.floor(i / HOSTS);

/** The router with `flows` established UDP flows and a batch of N frames of them. */
export function setupForward(flows: number) {
  const R = router(flows);
  const { r, e0, e1, out } = R;
  const a = R.t.engine.arena;
  const slots = new Int32Array(N);
  const pass = (frame: Uint8Array, port: number): void => {
    // one frame through the namespace, as a batch of one; whatever it sent is dropped again
    const s = a.allocFrom(frame);
    a.port[s] = port;
    slots[0] = s;
    r.process(slots, 1);
    for (let k = 0; k < out.ringCount; k++) a.free(out.ring[k]!);
    for (let k = 0; k < R.inSink.ringCount; k++) a.free(R.inSink.ring[k]!);
    out.ringCount = out.ringHead = R.inSink.ringCount = R.inSink.ringHead = 0;
  };
  const fwd = (i: number) => buildFrame([eth({ src: hostMac(flowHost(i)), dst: ROUTER_IN }), ipv4({ src: hostIp(flowHost(i)), dst: server(flowHost(i)), protocol: 17, ident: i & 0xffff }), udp(flowPort(i), 53), raw(22)]);
  const rev = (i: number) => buildFrame([eth({ src: GW, dst: ROUTER_OUT }), ipv4({ src: server(flowHost(i)), dst: NAT_IP, protocol: 17 }), udp(53, flowPort(i)), raw(22)]);
  for (let i = 0; i < flows; i++) {
    pass(fwd(i), e0);
    pass(rev(i), e1);
  }
  const ct = r.netfilter!.ct!;
  if (ct.count !== flows) throw new Error(`nat bench: ${ct.count} entries for ${flows} flows`);
  // the batch
  const pristine: Uint8Array[] = [];
  let x = 12345;
  for (let j = 0; j < N; j++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const f = fwd(x % flows);
    const s = a.allocFrom(f);
    slots[j] = s;
    pristine.push(f);
  }
  const b = a.bytes;
  const starts = Int32Array.from(slots, (s) => a.start(s));
  const w = (f: Uint8Array, o: number) => ((f[o]! << 24) | (f[o + 1]! << 16) | (f[o + 2]! << 8) | f[o + 3]!) | 0;
  const dHi = Int32Array.from(pristine, (f) => (f[0]! << 8) | f[1]!), dLo = Int32Array.from(pristine, (f) => w(f, 2));
  const sHi = Int32Array.from(pristine, (f) => (f[6]! << 8) | f[7]!), sLo = Int32Array.from(pristine, (f) => w(f, 8));
  const ttl = Int32Array.from(pristine, (f) => f[22]!), csum = Int32Array.from(pristine, (f) => (f[24]! << 8) | f[25]!);
  const src = Int32Array.from(pristine, (f) => w(f, 26)), ucs = Int32Array.from(pristine, (f) => (f[40]! << 8) | f[41]!);
  const harness = () => {
    for (let j = 0; j < N; j++) {
      const o = starts[j]!;
      const dh = dHi[j]!, dl = dLo[j]!, sh = sHi[j]!, sl = sLo[j]!, c = csum[j]!, sa = src[j]!, u = ucs[j]!;
      b[o] = dh >>> 8; b[o + 1] = dh;
      b[o + 2] = dl >>> 24; b[o + 3] = dl >>> 16; b[o + 4] = dl >>> 8; b[o + 5] = dl;
      b[o + 6] = sh >>> 8; b[o + 7] = sh;
      b[o + 8] = sl >>> 24; b[o + 9] = sl >>> 16; b[o + 10] = sl >>> 8; b[o + 11] = sl;
      b[o + 22] = ttl[j]!;
      b[o + 24] = c >>> 8; b[o + 25] = c;
      b[o + 26] = sa >>> 24; b[o + 27] = sa >>> 16; b[o + 28] = sa >>> 8; b[o + 29] = sa;
      b[o + 40] = u >>> 8; b[o + 41] = u;
      a.port[slots[j]!] = e0;
    }
    out.ringCount = 0;
    out.ringHead = 0;
  };
  // one pass: every frame forwarded, masqueraded (source 192.168.1.10, port kept); then the
  // harness must give back the pristine bytes
  harness();
  const fused = r.netfilter!.fastPackets;
  r.process(slots, N);
  if (r.netfilter!.fastPackets !== fused + N) throw new Error(`nat bench: ${r.netfilter!.fastPackets - fused} of ${N} frames took the established-flow path`);
  if (out.ringCount !== N) throw new Error(`nat bench: ${out.ringCount} of ${N} frames forwarded (${JSON.stringify(R.t.engine.errors())})`);
  for (let j = 0; j < N; j++) {
    const o = a.start(out.ring[j]!);
    if (w(b, o + 26) !== (NAT_IP | 0) || b[o + 22] !== 63) throw new Error(`nat bench: frame ${j} not masqueraded`);
  }
  harness();
  pristine.forEach((f, j) => {
    for (let k = 0; k < f.length; k++) if (b[starts[j]! + k] !== f[k]) throw new Error(`nat bench: frame ${j} byte ${k} not restored`);
  });
  const run = () => {
    harness();
    r.process(slots, N);
  };
  return { R, ct, run, harness, flows };
}

/** New connections at the table level: track, MASQUERADE binding with a port search, rewrite,
 *  confirm; the table held at `live` entries by deleting the oldest. */
function setupNew(live: number) {
  const clock = new Clock();
  const ct = new ConntrackTable(clock, new Rng(7), { max: 262144, initialCapacity: 2 * live });
  // 65,536 distinct packets (source address varies, port 40000 everywhere), replayed in a ring
  const P = 65536;
  const SLOT = 64;
  const buf = new Uint8Array(P * SLOT);
  for (let i = 0; i < P; i++) buf.set(buildFrame([ipv4({ src: 0x0a000000 + i, dst: server(i % HOSTS), protocol: 17 }), udp(40000, 53), raw(4)]), i * SLOT);
  const pristine = buf.slice();
  const ring = new Int32Array(live).fill(-1);
  let next = 0;
  let head = 0;
  const batch = () => {
    for (let j = 0; j < N; j++) {
      const o = next * SLOT;
      // the packet as it was (NAT rewrote its source, port and checksums last time)
      for (let k = 10; k < 28; k++) buf[o + k] = pristine[o + k]!;
      const ref = ct.track(buf, o);
      natSetup(ct, ref, NAT_MANIP_SRC, NAT_MAP_IPS, NAT_IP, NAT_IP, 0, 0);
      natPacket(ct, ref, NAT_MANIP_SRC, buf, o);
      const c = ct.confirm(ref);
      const old = ring[head]!;
      if (old >= 0) ct.kill(old);
      ring[head] = c >= 0 ? c >> 3 : -1;
      head = head + 1 === live ? 0 : head + 1;
      next = next + 1 === P ? 0 : next + 1;
    }
  };
  // fill to steady state and check that ports were searched (the original tuple is taken)
  for (let k = 0; k < Math.ceil((2 * live) / N); k++) batch();
  if (ct.count !== live) throw new Error(`nat bench: ${ct.count} live entries, wanted ${live}`);
  let moved = 0;
  for (const e of ct.listed()) if (ct.tDport(2 * e + 1) !== 40000) moved++;
  if (moved < live - HOSTS) throw new Error(`nat bench: only ${moved} of ${live} entries had their port moved`);
  return { ct, batch };
}

/** The same new flows through the router: every hook, MASQUERADE's rule evaluated per flow. */
function setupNewDataplane(live: number) {
  const R = router(live);
  const { r, e0, out } = R;
  const a = R.t.engine.arena;
  const ct = r.netfilter!.ct!;
  const P = 65536;
  const slots = new Int32Array(N);
  const frames: Uint8Array[] = [];
  for (let j = 0; j < N; j++) slots[j] = a.alloc();
  // frames from hosts 10.0.1.2-17 (neighbours), varying source ports from 40000 upward mod a range
  for (let i = 0; i < P; i++) frames.push(buildFrame([eth({ src: hostMac(i % HOSTS), dst: ROUTER_IN }), ipv4({ src: hostIp(i % HOSTS), dst: server((i >> 4) % HOSTS), protocol: 17 }), udp(40000 + (i >> 8), 53), raw(22)]));
  const nf = r.netfilter!;
  const ring = new Int32Array(live).fill(-1);
  let next = 0;
  let head = 0;
  const batch = () => {
    for (let j = 0; j < N; j++) {
      const s = slots[j]!;
      a.bytes.set(frames[next]!, a.start(s));
      a.len[s] = frames[next]!.length;
      a.port[s] = e0;
      a.flags[s] = 0;
      next = next + 1 === P ? 0 : next + 1;
    }
    out.ringCount = 0;
    out.ringHead = 0;
    r.process(slots, N);
    // the batch's entries join the ring; the oldest go
    for (let j = 0; j < N; j++) {
      const old = ring[head]!;
      if (old >= 0) ct.kill(old);
      ring[head] = nf.ref[slots[j]!]! >> 3;
      head = head + 1 === live ? 0 : head + 1;
    }
  };
  return { R, ct, batch };
}

export async function natBench(): Promise<void> {
  const f1 = setupForward(1);
  const f10k = setupForward(10_000);
  const t0 = performance.now();
  const f1m = setupForward(1_000_000);
  console.log(`  nat: 1,000,000 established flows set up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const n10k = setupNew(10_000);
  let sink = 0;
  await runSuite("nat (MASQUERADE forwarding, batches of 256)", [
    { name: "nat forward harness only (baseline)", packets: N, setup: () => () => { f10k.harness(); sink ^= f10k.R.out.ringCount; } },
    { name: "nat forward MASQUERADE, 1 established flow", packets: N, setup: () => () => { f1.run(); sink ^= f1.R.out.ringCount; } },
    { name: "nat forward MASQUERADE, 10k established flows", packets: N, setup: () => () => { f10k.run(); sink ^= f10k.R.out.ringCount; } },
    { name: "nat forward MASQUERADE, 1M established flows", packets: N, setup: () => () => { f1m.run(); sink ^= f1m.R.out.ringCount; } },
    { name: "nat new connections (track + MASQUERADE port search + confirm), 10k live", packets: N, setup: () => n10k.batch },
  ]);
  // let the old-space marking that the setup's garbage (2,000,000 frames built) started finish
  // first, as conntrack.bench.ts does: its finalisation otherwise lands in the measurement as one
  // Mark-Compact with nothing allocated per packet
  await new Promise((r) => setTimeout(r, 200));
  reportAllocation("nat forward MASQUERADE, 10k flows, batch of 256", await measureAllocation(f10k.run, 100_000));
  reportAllocation("nat new connections, 10k live, batch of 256", await measureAllocation(n10k.batch, 20_000));
  for (const f of [f1, f10k, f1m]) {
    const msg = f.ct.audit();
    if (msg) throw new Error(`nat bench: ${msg}`);
    if (f.ct.count !== f.flows) throw new Error(`nat bench: ${f.ct.count} entries after the runs, ${f.flows} flows`);
    if (f.R.t.engine.errors().length) throw new Error(`nat bench: drops ${JSON.stringify(f.R.t.engine.errors())}`);
  }
  if (n10k.ct.audit()) throw new Error(`nat bench: ${n10k.ct.audit()}`);
  // the same new connections through the whole router, informational
  const dp = setupNewDataplane(10_000);
  for (let k = 0; k < 100; k++) dp.batch();
  await runSuite("nat new connections through the router (all hooks), 10k live", [{ name: "nat new connections through the router, 10k live", packets: N, setup: () => dp.batch }]);
  if (dp.R.t.engine.errors().length) throw new Error(`nat bench: drops ${JSON.stringify(dp.R.t.engine.errors())}`);
  // memory: 1,000,000 NATed entries
  const before = process.memoryUsage().arrayBuffers;
  const big = setupNewMemory(1_000_000);
  const after = process.memoryUsage().arrayBuffers;
  console.log(`  conntrack with 1,000,000 NATed entries: ${big.bytesPerEntry.toFixed(1)} bytes per entry at capacity ${big.cap} (typed arrays); arrayBuffers grew ${((after - before) / 1e6).toFixed(1)} MB = ${((after - before) / 1_000_000).toFixed(1)} B per entry`);
  console.log(`  conntrack with 1,000,000 established MASQUERADEd flows (forwarding case): ${f1m.ct.bytesPerEntry.toFixed(1)} bytes per entry at capacity ${f1m.ct.cap}`);
  if (sink === 0.5) console.log(sink);
}

/** A table of `n` masqueraded UDP entries (each a port search), for its size. */
function setupNewMemory(n: number): ConntrackTable {
  const ct = new ConntrackTable(new Clock(), new Rng(9), { max: n, initialCapacity: n });
  // 1,024 destinations: ~980 flows each, so that the port searches find room
  const b = new Uint8Array(64);
  for (let i = 0; i < n; i++) {
    b.set(buildFrameCached(i));
    const ref = ct.track(b, 0);
    natSetup(ct, ref, NAT_MANIP_SRC, NAT_MAP_IPS, NAT_IP, NAT_IP, 0, 0);
    natPacket(ct, ref, NAT_MANIP_SRC, b, 0);
    ct.confirm(ref);
  }
  if (ct.count !== n) throw new Error(`nat bench: ${ct.count} entries of ${n}`);
  return ct;
}

const template = buildFrame([ipv4({ src: 0x0a000000, dst: server(0), protocol: 17 }), udp(40000, 53), raw(4)]);
/** Flow i's packet: the template with source address 10.0.0.0 + i and destination 198.51.0.0 +
 *  i % 1024 (the header checksum is left: conntrack does not verify it). */
function buildFrameCached(i: number): Uint8Array {
  const f = template;
  const src = 0x0a000000 + i;
  f[12] = src >>> 24;
  f[13] = src >>> 16;
  f[14] = src >>> 8;
  f[15] = src;
  const dst = 0xc6330000 + (i % 1024); // 198.51.x.y
  f[18] = dst >>> 8;
  f[19] = dst;
  return f;
}
