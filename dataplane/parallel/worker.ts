// One worker of a parallel run (piscina task; compiled to dist/ first, see index.ts): builds its
// replica of the topology from the plan, runs its shard (dataplane/run.ts `runShard`), and
// returns its counters, which expectations it probed, and its capture as pcapng bytes (the main
// thread merges them). Its arena lives in the SharedArrayBuffer the main thread gave it.
//
// `fault` is for tests only (parallel.test.ts): after the slice in which this worker's arena
// has handed out `afterPackets` packets, it throws, exits or allocates until it runs out of
// memory. It is checked between slices of the run, never in the forwarding path.

import { pathToFileURL } from "node:url";
import { estimateEnd, runShard, type ExecOptions } from "../run.js";
import type { RunPlan } from "../plan.js";
import type { Topology } from "../topology.js";
import { MemorySink } from "../../core/pcap/index.js";
import type { ShardResult } from "./counters.js";
import { SyncBlock } from "./sync.js";

export interface TestFault {
  worker: number;
  afterPackets: number;
  kind: "throw" | "exit" | "oom";
}

export interface WorkerTask {
  plan: RunPlan;
  index: number;
  count: number;
  seed?: number;
  engine?: ExecOptions["engine"];
  capture: boolean;
  startAppsModule?: string;
  startAppsExport?: string;
  ctl: SharedArrayBuffer;
  arena: SharedArrayBuffer;
  fault?: TestFault;
}

export interface WorkerOutput extends ShardResult {
  capture: Uint8Array | null;
  wall: { start: number; runStart: number; runEnd: number; end: number };
}

type StartApps = NonNullable<ExecOptions["startApps"]>;

export default async function runWorker(task: WorkerTask): Promise<WorkerOutput> {
  const sync = new SyncBlock(task.ctl, task.count);
  const startApps = task.startAppsModule ? await loadStartApps(task.startAppsModule, task.startAppsExport) : undefined;
  const sink = task.capture ? new MemorySink() : undefined;
  const fault = task.fault?.worker === task.index ? task.fault : undefined;
  const opts: ExecOptions = { shard: { index: task.index, count: task.count } };
  if (task.seed !== undefined) opts.seed = task.seed;
  if (task.engine) opts.engine = task.engine;
  if (startApps) opts.startApps = startApps;
  let slices = 0;
  const estimate = estimateEnd(task.plan);
  const out = runShard(task.plan, opts, {
    arenaBuffer: task.arena,
    ...(sink ? { captureSink: sink } : {}),
    beforeTraffic: () => sync.ready(),
    agreeEnd: (local) => sync.arrive(task.index, local),
    onSlice: (t: Topology) => {
      if ((++slices & 7) === 0 && sync.aborted) throw new Error("aborted: another worker failed");
      if (fault && t.engine.arena.allocs >= fault.afterPackets) injectFault(fault);
      sync.setProgress(task.index, Math.min(0.99, t.engine.clock.now / estimate));
    },
  });
  sync.setProgress(task.index, 1);
  return { result: out.result, probed: out.probed, capture: sink ? sink.bytes().slice() : null, wall: out.wall };
}

async function loadStartApps(path: string, name?: string): Promise<StartApps> {
  const mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  const f = name !== undefined ? mod[name] : typeof mod.startApps === "function" ? mod.startApps : mod.default;
  if (typeof f !== "function") throw new Error(`startAppsModule ${path}: exports no function ${name ? `"${name}"` : `"startApps" and no default`}`);
  return f as StartApps;
}

function injectFault(f: TestFault): void {
  if (f.kind === "throw") throw new Error(`test fault: thrown after ${f.afterPackets} packets`);
  if (f.kind === "exit") process.exit(1);
  // many small arrays: Node ends a worker that exhausts its heap this way with
  // ERR_WORKER_OUT_OF_MEMORY; 8 MB arrays (large-object space) now and then aborted the whole
  // process instead (nodejs/node#47224; seen as vitest's fork exiting in 2 of 3 full test runs)
  const hog: number[][] = [];
  for (;;) hog.push(new Array<number>(10_000).fill(hog.length + 0.5));
}
