// Bridge benchmarks (dataplane/devices/bridge.ts), one core, 64-byte frames, 1,000 learned MACs
// (02:42:ac:11:xx:xx, 250 on each of 4 ports), batches of 256 pre-built frames (4 batches, every
// MAC a source once and a destination once) handed to `Bridge.process` directly. What one
// operation (one batch) includes:
//   harness only        restore each slot's ingress port (engine.enqueue rewrote it) and empty the
//                       5 sink rings: the baseline to subtract from the cases below;
//   bare FDB lookups    the same frames: read both MACs, look up the source and the destination
//                       in the FDB, nothing else: the floor for the bridge;
//   known unicast       harness + process(): per frame, port checks, source validation, learning
//                       (a refresh of a known source), destination lookup, and engine.transmit into
//                       the sink device's ring (tx/rx counters included): the bridge's whole cost;
//   broadcast flood     harness + process() of broadcasts from port 1: each frame copied 3 times
//                       (3 ports + up, the original the 4th), then every copy freed back to the arena.
// Sink devices are never run: the harness resets their rings. The FDB holds 1,001 entries (the
// MACs and the bridge's own) in 2,048 slots, grown there from 64; the clock stays at 0, so nothing
// ages. Mpps counts frames handed to the bridge (a flooded frame counts once).
import { runSuite, measureAllocation, reportAllocation } from "./lib.js";
import { Engine } from "../dataplane/engine/engine.js";
import { Device } from "../dataplane/engine/device.js";
import { Bridge } from "../dataplane/devices/bridge.js";
import { macHi, macLo } from "../dataplane/devices/fdb.js";

const N = 256;
const BATCHES = 4;
const MACS = 1000;
const PORTS = 4;
let sink = 0;

class Sink extends Device {
  constructor(name: string) {
    super(name);
    this.addPort("in");
  }
  process(): void {}
}

const mac = (i: number) => 0x0242_ac11_0000 + i;
const home = (i: number) => 1 + (i % PORTS);

function setup(broadcast: boolean) {
  const e = new Engine({ slots: 4096 });
  const br = e.add(new Bridge("docker0", { mac: 0x0242_e11f_3ea7 }));
  const sinks: Sink[] = [];
  for (let p = 0; p <= PORTS; p++) {
    if (p > 0) br.addPort(`veth${p}`);
    sinks.push(e.add(new Sink(`s${p}`)));
    e.connect(br, p, sinks[p]!, 0);
  }
  for (let i = 0; i < MACS; i++) br.fdb.learn(macHi(mac(i)), macLo(mac(i)), home(i), 0);
  const batches: Int32Array[] = [];
  const ingress: Int32Array[] = [];
  const original = new Uint8Array(e.arena.slotCount);
  for (let k = 0; k < BATCHES; k++) {
    const slots = new Int32Array(N);
    const inp = new Int32Array(N);
    for (let j = 0; j < N; j++) {
      const f = k * N + j;
      const src = f % MACS;
      let dst = (f * 7 + 1) % MACS;
      if (home(dst) === home(src)) dst = (dst + 1) % MACS;
      const s = e.alloc(br);
      const a = e.arena;
      a.setLen(s, 64);
      const o = a.start(s);
      const d = broadcast ? 0xffff_ffff_ffff : mac(dst);
      for (let b = 0; b < 6; b++) {
        a.bytes[o + b] = Math.floor(d / 2 ** (40 - 8 * b)) & 255;
        a.bytes[o + 6 + b] = Math.floor(mac(src) / 2 ** (40 - 8 * b)) & 255;
      }
      a.bytes[o + 12] = 0x08;
      slots[j] = s;
      inp[j] = broadcast ? 1 : home(src);
      original[s] = 1;
    }
    batches.push(slots);
    ingress.push(inp);
  }
  return { e, br, sinks, batches, ingress, original };
}

export async function bridgeBench(): Promise<void> {
  const uni = setup(false);
  const flood = setup(true);
  let k = 0;

  const harness = (env: ReturnType<typeof setup>) => {
    const port = env.e.arena.port;
    const sinks = env.sinks;
    return (slots: Int32Array, inp: Int32Array) => {
      for (let i = 0; i < N; i++) port[slots[i]!] = inp[i]!;
      for (let p = 0; p < sinks.length; p++) {
        sinks[p]!.ringCount = 0;
        sinks[p]!.ringHead = 0;
      }
    };
  };
  const reset = harness(uni);
  const harnessOnly = () => {
    k = (k + 1) & (BATCHES - 1);
    reset(uni.batches[k]!, uni.ingress[k]!);
  };
  const bare = () => {
    k = (k + 1) & (BATCHES - 1);
    const slots = uni.batches[k]!;
    const a = uni.e.arena;
    const b = a.bytes, off = a.off, size = a.slotSize;
    const fdb = uni.br.fdb;
    let acc = 0;
    for (let i = 0; i < N; i++) {
      const s = slots[i]!;
      const o = s * size + off[s]!;
      const dhi = (b[o]! << 8) | b[o + 1]!;
      const dlo = (b[o + 2]! << 24) | (b[o + 3]! << 16) | (b[o + 4]! << 8) | b[o + 5]!;
      const shi = (b[o + 6]! << 8) | b[o + 7]!;
      const slo = (b[o + 8]! << 24) | (b[o + 9]! << 16) | (b[o + 10]! << 8) | b[o + 11]!;
      acc += fdb.find(shi, slo) + fdb.find(dhi, dlo);
    }
    sink += acc;
  };
  const known = () => {
    k = (k + 1) & (BATCHES - 1);
    reset(uni.batches[k]!, uni.ingress[k]!);
    uni.br.process(uni.batches[k]!, N);
  };
  const resetFlood = harness(flood);
  const freeCopies = () => {
    const a = flood.e.arena;
    for (const d of flood.sinks) {
      for (let i = 0; i < d.ringCount; i++) {
        const s = d.ring[i]!;
        if (!flood.original[s]) a.free(s);
      }
    }
  };
  const floods = () => {
    k = (k + 1) & (BATCHES - 1);
    resetFlood(flood.batches[k]!, flood.ingress[k]!);
    flood.br.process(flood.batches[k]!, N);
    freeCopies();
  };

  await runSuite("bridge (64B, 1,000 MACs, batch 256)", [
    { name: "bridge harness only (baseline)", packets: N, setup: () => harnessOnly },
    { name: "bridge bare FDB lookups (src+dst)", packets: N, setup: () => bare },
    { name: "bridge known unicast (learn+forward+transmit)", packets: N, setup: () => known },
    { name: "bridge broadcast flood (to 3 ports + up)", packets: N, setup: () => floods },
  ]);
  const before = uni.sinks.reduce((t, d) => t + d.rxPackets[0]!, 0);
  reportAllocation("bridge known unicast, batch of 256", await measureAllocation(known, 200_000));
  reportAllocation("bridge broadcast flood, batch of 256", await measureAllocation(floods, 50_000));
  const forwarded = uni.sinks.reduce((t, d) => t + d.rxPackets[0]!, 0) - before;
  const drops = uni.e.errors().concat(flood.e.errors());
  if (drops.length || forwarded < 200_000 * N) throw new Error(`bridge bench: frames were not all forwarded: ${JSON.stringify(drops)}`);
  if (sink === 0.5) console.log(sink);
}
