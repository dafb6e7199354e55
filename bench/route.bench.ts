// Route lookup plus forward (dataplane/netns): a router namespace with 100,000 prefixes (mostly
// /24, some /16-/32, all via 10.0.2.2 on eth1, a permanent neighbour entry for it), 64-byte UDP
// frames arriving on eth0 for addresses inside the routed prefixes, handed to `Netns.process` in
// batches of 256. Per frame: L2 filter, IPv4 header and checksum check, local-address test, FIB
// lookup, TTL check and decrement (incremental checksum), MTU check, neighbour lookup, new
// Ethernet header, engine.transmit into a sink's ring (never run). The harness restores each
// frame from a pristine copy (TTL and header) and empties the sink ring: measured on its own as
// the baseline. A second case does the same with a 5-route table (a container host's).
import { runSuite, measureAllocation, reportAllocation } from "./lib.js";
import { Engine } from "../dataplane/engine/engine.js";
import { Device } from "../dataplane/engine/device.js";
import { Netns } from "../dataplane/netns/netns.js";
import { buildFrame } from "../core/wire/frame.js";
import { eth, ipv4, raw, udp } from "../core/wire/layers.js";
import { formatIpv4 } from "../core/addr.js";

const N = 256;

class Sink extends Device {
  constructor(name: string) {
    super(name);
    this.addPort("in");
  }
  process(): void {}
}

function setup(prefixes: number) {
  const e = new Engine({ slots: 1024, seed: 3 });
  const r = e.add(new Netns("router"));
  const inSink = e.add(new Sink("in"));
  const out = e.add(new Sink("out"));
  const e0 = r.addInterface("eth0", 0x020000000001);
  const e1 = r.addInterface("eth1", 0x020000000002);
  e.connect(r, e0, inSink, 0);
  e.connect(r, e1, out, 0);
  r.addAddress("eth0", "10.0.1.1/24");
  r.addAddress("eth1", "10.0.2.1/24");
  r.ipForward = true;
  r.neigh.addPermanent(e1, 0x0a000202, 0x020000000003);
  // routes: a seeded spread of prefixes outside 10/8
  let x = 12345;
  const rand = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
  const dsts: number[] = [];
  const lens = [24, 24, 24, 24, 24, 24, 16, 20, 28, 32];
  for (let i = 0; dsts.length < prefixes && i < prefixes * 4; i++) {
    const len = lens[i % lens.length]!;
    const a = (rand() | 0x40000000) & 0x7fffffff & ~0x0a000000;
    const net = len === 32 ? a : (a >>> (32 - len)) << (32 - len);
    try {
      r.route(`${formatIpv4(net >>> 0)}/${len} via 10.0.2.2 dev eth1`);
      dsts.push((len === 32 ? net : net | 7) >>> 0);
    } catch {
      /* duplicate prefix: skip */
    }
  }
  const a = e.arena;
  const slots = new Int32Array(N);
  const pristine: Uint8Array[] = [];
  for (let j = 0; j < N; j++) {
    const f = buildFrame([eth({ src: 0x020000000009, dst: 0x020000000001 }), ipv4({ src: 0x0a000105, dst: dsts[j % dsts.length]!, protocol: 17, ident: j }), udp(40000, 9999), raw(18)]);
    const s = a.allocFrom(f);
    slots[j] = s;
    pristine.push(f);
  }
  // Forwarding rewrites the Ethernet addresses, the TTL and the header checksum; the harness puts
  // back exactly those, from words taken off the pristine frames (a Uint8Array.set per frame, a
  // builtin call, cost ~30 ns of the ~150 measured per frame at first; a 14-byte copy loop ~17 ns).
  const b = a.bytes;
  const starts = Int32Array.from(slots, (s) => a.start(s));
  const w = (f: Uint8Array, o: number) => ((f[o]! << 24) | (f[o + 1]! << 16) | (f[o + 2]! << 8) | f[o + 3]!) | 0;
  const dHi = Int32Array.from(pristine, (f) => (f[0]! << 8) | f[1]!), dLo = Int32Array.from(pristine, (f) => w(f, 2));
  const sHi = Int32Array.from(pristine, (f) => (f[6]! << 8) | f[7]!), sLo = Int32Array.from(pristine, (f) => w(f, 8));
  const ttl = Int32Array.from(pristine, (f) => f[22]!), csum = Int32Array.from(pristine, (f) => (f[24]! << 8) | f[25]!);
  const harness = () => {
    for (let j = 0; j < N; j++) {
      const o = starts[j]!;
      const dh = dHi[j]!, dl = dLo[j]!, sh = sHi[j]!, sl = sLo[j]!, c = csum[j]!;
      b[o] = dh >>> 8; b[o + 1] = dh;
      b[o + 2] = dl >>> 24; b[o + 3] = dl >>> 16; b[o + 4] = dl >>> 8; b[o + 5] = dl;
      b[o + 6] = sh >>> 8; b[o + 7] = sh;
      b[o + 8] = sl >>> 24; b[o + 9] = sl >>> 16; b[o + 10] = sl >>> 8; b[o + 11] = sl;
      b[o + 22] = ttl[j]!;
      b[o + 24] = c >>> 8; b[o + 25] = c;
      a.port[slots[j]!] = e0;
    }
    out.ringCount = 0;
    out.ringHead = 0;
  };
  // after a forwarding pass, the restored frames must equal the pristine ones (a harness that
  // missed a byte would let later iterations forward different frames)
  harness();
  r.process(slots, N);
  if (out.ringCount !== N) throw new Error(`route bench: ${out.ringCount} of ${N} frames forwarded`);
  harness();
  pristine.forEach((f, j) => {
    for (let k = 0; k < f.length; k++) if (b[starts[j]! + k] !== f[k]) throw new Error(`route bench: frame ${j} byte ${k} not restored`);
  });
  return { r, slots, harness, routes: dsts.length, out };
}

export async function routeBench(): Promise<void> {
  const big = setup(100_000);
  const small = setup(3);
  let sink = 0;
  await runSuite(`route lookup + forward (${big.routes} prefixes)`, [
    { name: "route+forward harness only (baseline)", packets: N, setup: () => () => void (big.harness(), (sink ^= big.out.ringCount)) },
    { name: "route+forward 100k prefixes 64B", packets: N, setup: () => () => { big.harness(); big.r.process(big.slots, N); sink ^= big.out.ringCount; } },
    { name: "route+forward 5 routes 64B", packets: N, setup: () => () => { small.harness(); small.r.process(small.slots, N); sink ^= small.out.ringCount; } },
  ]);
  reportAllocation("route+forward 100k prefixes, batch of 256", await measureAllocation(() => { big.harness(); big.r.process(big.slots, N); }, 100_000));
  if (big.out.ringCount !== N) throw new Error(`route bench: ${big.out.ringCount} of ${N} frames forwarded`);
  if (sink === 0.5) console.log(sink);
}
