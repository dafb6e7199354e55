// Parallel run, docker0 end to end: 1,000 UDP flows of 64-byte frames from c2 across docker0 to a
// FlowSink in c3 (dataplane/plans/docker0-plan.ts), run by dataplane/parallel/ on 1 and on 2
// worker threads. Each flow sends PACKETS datagrams, one per generator tick, so 1 worker forwards
// 1000 x PACKETS packets and 2 workers about half of that each (the flows are split by their
// 5-tuple hash). Not a benny case: one run is seconds long and a pool is started per run.
// Figures, per worker count (best of RUNS runs, alternating 1 and 2 workers; every run printed
// with the cores its process kept busy):
//   run phase  packets delivered / wall time from the first worker starting its flows to the
//              last one seeing them done (pool start, module load, topology build and warm-up
//              excluded);
//   total      packets delivered / wall time of the whole runParallel call (pool start, builds,
//              warm-up, traffic, settle time, merge included);
//   speedup    best 2-worker figure / best 1-worker figure; also the median over the runs of each
//              2-worker run against the 1-worker run just before it.
// Every run must deliver every datagram (no loss): the figure counts delivered packets.
// An empty loop timed before each run shows how busy the (shared) machine is.
// `npm run bench -- parallel` runs it with the other suites (run.ts recreates summary.json);
// `node dist/bench/parallel.js` runs it alone and only updates its own keys in summary.json.
import { availableParallelism, cpus } from "node:os";
import { setFlagsFromString } from "node:v8";
import { pathToFileURL } from "node:url";
import { updateSummary } from "./lib.js";
import { docker0Plan } from "../dataplane/plans/docker0-plan.js";
import { runParallelTimed } from "../dataplane/parallel/index.js";

const quick = process.env.BENCH_QUICK === "1";
const FLOWS = 1000;
const PACKETS = quick ? 400 : Number(process.env.PARALLEL_PACKETS ?? 20000);
const RUNS = quick ? 1 : Number(process.env.PARALLEL_RUNS ?? 6);

interface Figure {
  runMpps: number;
  totalMpps: number;
  runMs: number;
  totalMs: number;
}

/** ms for a fixed empty loop (the machine's noise floor). */
function emptyLoopMs(): number {
  const t0 = performance.now();
  let x = 0;
  for (let i = 0; i < 200_000_000; i++) x = (x + i) | 0;
  if (x === 42) console.log("");
  return performance.now() - t0;
}

async function runOnce(workers: number): Promise<Figure> {
  const plan = docker0Plan({ containers: 2, udp: { flows: FLOWS, packets: PACKETS, ratePps: 1e6, size: 64 } });
  const loop = emptyLoopMs();
  const cpu0 = process.cpuUsage();
  const { result, timings } = await runParallelTimed(plan, { workers });
  const cpu = process.cpuUsage(cpu0);
  const t = result.traffic[0]!;
  if (t.sent !== FLOWS * PACKETS || t.received !== t.sent || t.lost !== 0) throw new Error(`parallel bench: ${workers} workers sent ${t.sent}, delivered ${t.received} of ${FLOWS * PACKETS}`);
  const f = { runMpps: t.received / timings.runMs / 1e3, totalMpps: t.received / timings.totalMs / 1e3, runMs: timings.runMs, totalMs: timings.totalMs };
  // cores busy: CPU time of every thread of the process over the call's wall time
  const cores = (cpu.user + cpu.system) / 1e3 / timings.totalMs;
  console.log(`  ${workers} worker${workers > 1 ? "s" : " "}: ${t.received.toLocaleString("en-US")} packets, run phase ${f.runMs.toFixed(0).padStart(5)} ms = ${f.runMpps.toFixed(2)} Mpps, total ${f.totalMs.toFixed(0).padStart(5)} ms = ${f.totalMpps.toFixed(2)} Mpps (per worker: setup ${timings.setupMs.map((x) => x.toFixed(0)).join("/")} ms, run ${timings.workerRunMs.map((x) => x.toFixed(0)).join("/")} ms; ${cores.toFixed(2)} cores busy; empty loop ${loop.toFixed(0)} ms)`);
  return f;
}

/** RUNS runs at each worker count, alternating (so that a busy spell of the shared machine
 *  falls on both). */
async function measure(): Promise<[Figure[], Figure[]]> {
  const one: Figure[] = [], two: Figure[] = [];
  for (let r = 0; r < RUNS; r++) {
    one.push(await runOnce(1));
    two.push(await runOnce(2));
  }
  return [one, two];
}

const best = (fs: Figure[], k: "runMpps" | "totalMpps") => Math.max(...fs.map((f) => f[k]));
const round = (x: number) => Math.round(x * 100) / 100;

export async function parallelBench(): Promise<void> {
  console.log(`\nparallel (docker0 UDP, ${FLOWS} flows x ${PACKETS} packets; ${availableParallelism()} cores available, ${cpus()[0]?.model ?? "unknown CPU"})`);
  const [one, two] = await measure();
  const fig = {
    run1: best(one, "runMpps"), run2: best(two, "runMpps"),
    tot1: best(one, "totalMpps"), tot2: best(two, "totalMpps"),
  };
  // each 2-worker run against the 1-worker run just before it (same spell of machine load)
  const pairs = two.map((f, i) => f.runMpps / one[i]!.runMpps).sort((a, b) => a - b);
  const medianPair = pairs[Math.floor(pairs.length / 2)]!;
  console.log(`  best: run phase ${fig.run1.toFixed(2)} -> ${fig.run2.toFixed(2)} Mpps (speedup ${(fig.run2 / fig.run1).toFixed(2)}x); total ${fig.tot1.toFixed(2)} -> ${fig.tot2.toFixed(2)} Mpps (speedup ${(fig.tot2 / fig.tot1).toFixed(2)}x)`);
  console.log(`  run-phase speedup of each 2-worker run over the 1-worker run before it: ${pairs.map((x) => x.toFixed(2)).join(", ")} (median ${medianPair.toFixed(2)}x)`);
  const name = `parallel docker0 udp ${FLOWS} flows`;
  updateSummary({
    [`${name}, 1 worker (run phase)`]: { mpps: round(fig.run1) },
    [`${name}, 2 workers (run phase)`]: { mpps: round(fig.run2) },
    [`${name}, 2 workers speedup (run phase)`]: { speedup: round(fig.run2 / fig.run1), median_of_pairs: round(medianPair) },
    [`${name}, 1 worker (incl. pool start and build)`]: { mpps: round(fig.tot1) },
    [`${name}, 2 workers (incl. pool start and build)`]: { mpps: round(fig.tot2) },
    [`${name}, 2 workers speedup (incl. pool start and build)`]: { speedup: round(fig.tot2 / fig.tot1) },
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  setFlagsFromString("--max-inlined-bytecode-size-cumulative=3000"); // as run.ts (and so every worker)
  await parallelBench();
}
