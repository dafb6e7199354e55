// A run plan on N worker threads (piscina), as a NIC's receive-side scaling spreads flows over
// cores: every worker builds a replica of the topology from the plan (plain data) and runs the
// flows whose symmetric 5-tuple hash falls on it (flows.ts), so both directions of a flow, its
// conntrack entry and its NAT stay in one worker. Workers share nothing per packet: each has its
// own arena, in a SharedArrayBuffer this thread allocates, and a small control block (sync.ts)
// for the end-of-traffic barrier and progress. At the end each returns its counters and its
// capture; this thread sums the counters (counters.ts) and merges the captures by virtual time
// (merge.ts) into one pcapng.
//
//   const result = await runParallel(plan, { workers: 4, pcapDir: "out",
//     startAppsModule: "dist/control/docker-proxy.js", startAppsExport: "startControlApps" });
//
// Workers run compiled JavaScript: dist/dataplane/parallel/worker.js (`npm run build`; from the
// TypeScript sources, e.g. under vitest, the dist/ tree is used, see build.ts). startApps cannot
// cross to a worker as a function: give the path of a module exporting it instead (named
// `startApps`, the default export, or the name given as startAppsExport).
//
// Failure: a worker that throws, exits or runs out of memory (maxOldGenerationSizeMb) makes the
// promise reject at once with "worker I failed: MESSAGE" / "worker I exited with code C" /
// "worker I ran out of memory"; the other workers are stopped (a worker waiting at the barrier
// sees the abort flag, the pool is destroyed) and no partial result is returned. Node's own
// limit: a worker whose heap runs out inside one very large allocation may abort the whole
// process instead of ending alone (nodejs/node#47224).
//
// Determinism contract (proptests/parallel.test.ts checks it on random docker0 plans and through
// Docker's NAT, with 1, 2 and 4 workers): per flow — each UDP flow, TCP connection, ping, probe —
// the frames at every capture point are the same bytes at the same virtual times whatever the
// worker count, and per-traffic counters (sent, received, lost, bytes) and expectation results
// are equal. workers = 1 gives executePlan's result and capture bytes. Namespace counters, drops,
// conservation and the frames of no flow (ARP) are equal too as long as nothing below happens;
// they always add up (conservation holds on the merged figures). Not equal: the order of frames
// of different flows at the same virtual instant (the merge puts worker 0's first), wall times.
// What still couples flows, so that a flow's frames may differ with the worker count:
//   - queues shared by flows: a ring that overflows (queue-full), a netem/tbf Link's rate, queue
//     limit and random loss/jitter/duplication (one stream per link direction), the ICMP error
//     rate limits (per namespace and per destination), conntrack full (early drop);
//   - IP id buckets: ids of unconnected sockets, echo replies and ICMP errors come from a bucket
//     per (destination, source, protocol) (endpoint/ip-id.ts); pings between two addresses run
//     together, but an ICMP error about a UDP/TCP flow shares its bucket with the pings (and
//     other errors) between the same two addresses, and two address pairs may share a bucket
//     (1 in 2048);
//   - neighbour and FDB timers: after the warm-up, entries go stale (15-45 s), are probed again
//     (ARP) and age out (300 s) when the flows that use them say so; such ARP frames and floods
//     appear in every worker whose flows use the entry (so more than once in a merged capture);
//     the flows' own frames do not change unless resolution fails;
//   - the warm-up completes before traffic only if nothing is in flight when the first item
//     starts (delays on the path: give startNs after the warm-up's round trip);
//   - what startApps starts chooses from shared streams: docker-proxy's upstream sockets take
//     ephemeral ports in order of arrival, so flows through a userland proxy are coupled; a TCP
//     stack it creates after the build numbers its connections from its stream (the executor
//     turns keyed numbers on for the stacks that exist then); announces are sent by worker 0 only;
//   - NAT port clashes: the plan's flows all have source ports of their own, so a MASQUERADE
//     keeps them, but a clash with a connection of startApps' making is remapped from the
//     conntrack table's stream (a plan needing more than 28232 ports of one protocol is refused);
//   - a replay item runs whole on one worker (its frames are not split by flow).

import { availableParallelism } from "node:os";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { Piscina } from "piscina";
import type { RunPlan, RunResult } from "../plan.js";
import type { ExecOptions } from "../run.js";
import { PacketArena } from "../../core/packet.js";
import { planFlows } from "./flows.js";
import { mergeResults } from "./counters.js";
import { mergeCaptures } from "./merge.js";
import { SyncBlock } from "./sync.js";
import { workerScript } from "./build.js";
import type { TestFault, WorkerOutput, WorkerTask } from "./worker.js";

export interface ParallelOptions extends ExecOptions {
  /** Worker threads (default os.availableParallelism()). */
  workers?: number;
  /** Module exporting `startApps(t, plan)` (or a default export), loaded in every worker. */
  startAppsModule?: string;
  /** The export of startAppsModule to call, when not `startApps` or the default one. */
  startAppsExport?: string;
  /** Heap limit of each worker (V8 old generation, MB): above it the worker fails. */
  maxOldGenerationSizeMb?: number;
  /** Tests only: make one worker fail (worker.ts). */
  testOnlyFault?: TestFault;
}

/** Wall-clock milliseconds of a parallel run. */
export interface ParallelTimings {
  /** From the call to the merged result: pool start, builds, warm-up, traffic, probes, merge. */
  totalMs: number;
  /** Traffic phase: from the first worker starting its flows to the last one seeing them done
   *  (excludes pool start, topology builds, warm-up, the settle time and the probes). */
  runMs: number;
  /** Per worker: from its task starting to its traffic starting (build and warm-up). */
  setupMs: number[];
  /** Per worker: its own traffic phase. */
  workerRunMs: number[];
}

export async function runParallel(plan: RunPlan, opts: ParallelOptions = {}): Promise<RunResult> {
  return (await runParallelTimed(plan, opts)).result;
}

export async function runParallelTimed(plan: RunPlan, opts: ParallelOptions = {}): Promise<{ result: RunResult; timings: ParallelTimings }> {
  const t0 = performance.timeOrigin + performance.now();
  const workers = opts.workers ?? availableParallelism();
  if (!(Number.isInteger(workers) && workers >= 1)) throw new RangeError(`workers ${workers}: must be an integer >= 1`);
  if (opts.startApps && !opts.startAppsModule) throw new TypeError("startApps cannot be sent to worker threads: give startAppsModule, the path of a module exporting it");
  if (opts.shard) throw new TypeError("runParallel makes its own shards: do not give `shard`");
  planFlows(plan, opts.seed ?? plan.config.seed); // refuses a plan with too many flows before any thread starts
  const filename = workerScript();
  const capture = opts.pcapDir !== undefined && (plan.capture === "all" || plan.capture.length > 0);
  const sync = SyncBlock.create(workers);
  const arenaShape = { slotCount: opts.engine?.slots ?? 65536, slotSize: opts.engine?.slotSize ?? 2048, headroom: opts.engine?.headroom ?? 128 };
  const pool = new Piscina({
    filename,
    minThreads: workers,
    maxThreads: workers,
    concurrentTasksPerWorker: 1,
    idleTimeout: 1000,
    ...(opts.maxOldGenerationSizeMb ? { resourceLimits: { maxOldGenerationSizeMb: opts.maxOldGenerationSizeMb } } : {}),
  });
  const aborts = Array.from({ length: workers }, () => new AbortController());
  const tasks = aborts.map((ac, index) => {
    const task: WorkerTask = {
      plan,
      index,
      count: workers,
      capture,
      ctl: sync.buffer,
      arena: new PacketArena(arenaShape).buffer,
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      ...(opts.engine ? { engine: opts.engine } : {}),
      ...(opts.startAppsModule ? { startAppsModule: resolve(opts.startAppsModule) } : {}),
      ...(opts.startAppsExport ? { startAppsExport: opts.startAppsExport } : {}),
      ...(opts.testOnlyFault ? { fault: opts.testOnlyFault } : {}),
    };
    return pool.run(task, { signal: ac.signal }) as Promise<WorkerOutput>;
  });
  const poll = opts.onProgress ? setInterval(() => opts.onProgress!(sync.progress()), 200) : null;
  try {
    const outs = await firstFailure(tasks, (i, err) => {
      sync.abort();
      aborts.forEach((ac, j) => j !== i && ac.abort(err));
      return failure(i, err);
    });
    const result = mergeResults(outs);
    if (capture) {
      mkdirSync(opts.pcapDir!, { recursive: true });
      result.captures = [mergeCaptures(outs.map((o) => o.capture!), join(opts.pcapDir!, `${opts.captureName ?? "capture"}.pcapng`))];
    }
    opts.onProgress?.(1);
    const runStart = Math.min(...outs.map((o) => o.wall.runStart));
    const runEnd = Math.max(...outs.map((o) => o.wall.runEnd));
    const timings: ParallelTimings = {
      totalMs: performance.timeOrigin + performance.now() - t0,
      runMs: runEnd - runStart,
      setupMs: outs.map((o) => o.wall.runStart - o.wall.start),
      workerRunMs: outs.map((o) => o.wall.runEnd - o.wall.runStart),
    };
    return { result, timings };
  } finally {
    if (poll) clearInterval(poll);
    await pool.destroy().catch(() => undefined);
  }
}

/** All results in order, or a rejection with `onFail(i, err)` of the first task that fails (the
 *  others' later rejections, e.g. their aborts, are ignored). */
function firstFailure<T>(tasks: Promise<T>[], onFail: (i: number, err: unknown) => Error): Promise<T[]> {
  return new Promise<T[]>((resolveAll, reject) => {
    let failed = false;
    let left = tasks.length;
    const out: T[] = new Array<T>(tasks.length);
    tasks.forEach((p, i) =>
      p.then(
        (v) => {
          out[i] = v;
          if (--left === 0 && !failed) resolveAll(out);
        },
        (err: unknown) => {
          if (failed) return;
          failed = true;
          reject(onFail(i, err));
        },
      ),
    );
  });
}

/** The error runParallel rejects with when worker `i` failed with `err`. */
function failure(i: number, err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as { code?: string }).code;
  if (code === "ERR_WORKER_OUT_OF_MEMORY") return new Error(`worker ${i} ran out of memory (${e.message})`, { cause: e });
  const exit = /^worker exited with code: (-?\d+)/.exec(e.message);
  if (exit) return new Error(`worker ${i} exited with code ${exit[1]}`, { cause: e });
  return new Error(`worker ${i} failed: ${e.message}`, { cause: e });
}
