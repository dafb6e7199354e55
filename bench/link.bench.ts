// Link device: what a hop through a Link costs on 64-byte frames, in batches of 256 as the engine
// hands them over. Each case allocates 256 frames, puts them on the first device's input ring and
// runs the engine until they are delivered (so allocation, the engine loop and the sink are in
// every figure; the "sink only" case is that baseline without a Link). Delayed cases advance the
// virtual clock: every operation fires the delay line's timer (and the bucket's) on its own.
//
// Allocation is measured twice: through engine.run() as above, and with the Link driven directly
// (process() on a batch, timers fired by advancing the clock, the sink's ring emptied by hand).
// The second isolates the Link: engine.drain() times every device call with performance.now(),
// which allocates a 16-byte heap number per call on Node 20 (2 x 10^6 calls: 15 GCs), so the
// engine-driven cases that fire a timer per packet (jitter, tbf) show GCs that are the engine's.
// Virtual time stays below 2^31 ns here (the tbf rate is chosen for that): past it, times are
// no longer small integers and timer operations in the clock box them (the tbf case at 10 Gbit/s,
// reaching 2.6 s, saw 0 to 75 GCs per 10^5 batches from run to run, all in Clock.advanceTo and
// the timer callbacks' inlined clock.after).

import { runSuite, measureAllocation, reportAllocation, type BenchCase } from "./lib.js";
import { Engine } from "../dataplane/engine/engine.js";
import { Device } from "../dataplane/engine/device.js";
import { Link, type Impairment } from "../dataplane/devices/link.js";

const N = 256;

class Sink extends Device {
  n = 0;
  constructor() {
    super("sink");
    this.addPort("in");
  }
  process(slots: Int32Array, n: number): void {
    const e = this.engine;
    for (let i = 0; i < n; i++) e.deliver(this, slots[i]!);
    this.n += n;
  }
}

/** An engine with `first` (a Link, or the sink itself) fed by `cycle()`: 256 frames in, run to completion. */
function setup(imp: Impairment | null): () => void {
  const e = new Engine({ slots: 4096 });
  const sink = new Sink();
  let first: Device = sink;
  if (imp) {
    first = e.add(new Link("link", { ab: imp }));
    e.add(sink);
    e.connect(first, 1, sink, 0);
  } else e.add(sink);
  const a = e.arena;
  return () => {
    for (let i = 0; i < N; i++) {
      const s = e.alloc(first);
      a.setLen(s, 64);
      e.enqueue(first, 0, s);
    }
    e.run();
    if (e.arena.inUse !== 0) throw new Error("frames left behind");
  };
}

/** The Link alone: 256 frames into process(), then every timer fired, then the sink's ring emptied. */
function direct(imp: Impairment): () => void {
  const e = new Engine({ slots: 4096 });
  const link = e.add(new Link("link", { ab: imp }));
  const sink = e.add(new Sink());
  e.connect(link, 1, sink, 0);
  const a = e.arena;
  const batch = new Int32Array(N);
  return () => {
    for (let i = 0; i < N; i++) {
      const s = e.alloc(link);
      a.setLen(s, 64);
      a.port[s] = 0;
      batch[i] = s;
    }
    link.process(batch, N);
    for (let t = e.clock.next(); t !== Infinity; t = e.clock.next()) e.clock.advanceTo(t);
    const r = sink.ring;
    let h = sink.ringHead;
    for (let k = 0; k < sink.ringCount; k++) {
      e.deliver(sink, r[h]!);
      h = h + 1 === r.length ? 0 : h + 1;
    }
    sink.ringHead = h;
    sink.ringCount = 0;
    if (a.inUse !== 0) throw new Error("frames left behind");
  };
}

const cases: [string, Impairment | null][] = [
  ["sink only (baseline) 64B", null],
  ["link pass-through 64B", {}],
  ["link delay 1us 64B", { delayNs: 1000 }],
  ["link delay 1us jitter 0.5us 64B", { delayNs: 1000, jitterNs: 500 }],
  ["link tbf 100Gbit/s 64B", { tbf: { rateBps: 100e9, burstBytes: 1514, limitPackets: 1000 } }],
];

export async function linkBench(): Promise<void> {
  const suite: BenchCase[] = cases.map(([name, imp]) => ({ name, packets: N, setup: () => setup(imp) }));
  await runSuite("link", suite);
  for (const [name, imp] of cases) reportAllocation(`${name} (engine.run)`, await measureAllocation(setup(imp), 100_000));
  for (const [name, imp] of cases) if (imp) reportAllocation(`${name} (Link alone)`, await measureAllocation(direct(imp), 100_000));
}
