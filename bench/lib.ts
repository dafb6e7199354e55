// Benchmark harness over benny: each case processes a whole batch per operation (as the
// forwarding path does), so per-call overhead is amortised and the figure is packets (or bytes)
// per second. Every suite prints a table, saves benny's JSON and HTML chart under bench/results/,
// and adds its cases to bench/results/summary.json as {"<case>": {"mpps": n}} or {"mb_per_s": n}.

import b from "benny";
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { PerformanceObserver } from "node:perf_hooks";

export const RESULTS_DIR = "bench/results";

export interface BenchCase {
  name: string;
  /** Packets handled per call of `fn` (reported as Mpps), or ... */
  packets?: number;
  /** ... bytes handled per call (reported as MB/s, 1 MB = 10^6 bytes). */
  bytes?: number;
  /** Setup runs once; returns the function timed. */
  setup: () => () => void;
}

export interface CaseFigure {
  mpps?: number;
  mb_per_s?: number;
  /** Relative margin of error, percent. */
  rme: number;
}

const quick = process.env.BENCH_QUICK === "1";

export async function runSuite(suite: string, cases: BenchCase[]): Promise<Record<string, CaseFigure>> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const figures: Record<string, CaseFigure> = {};
  const file = suite.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
  await b.suite(
    suite,
    ...cases.map((c) => b.add(c.name, once(c.setup))),
    b.configure({ cases: quick ? { minSamples: 3, maxTime: 0.3 } : { minSamples: 10, maxTime: 2 } }),
    b.cycle(() => undefined),
    b.complete((summary) => {
      for (const r of summary.results) {
        const c = cases.find((x) => x.name === r.name)!;
        const f: CaseFigure = { rme: round(r.details.relativeMarginOfError, 1) };
        if (c.packets) f.mpps = round((r.ops * c.packets) / 1e6, 2);
        if (c.bytes) f.mb_per_s = round((r.ops * c.bytes) / 1e6, 1);
        figures[r.name] = f;
      }
    }),
    b.save({ file, folder: RESULTS_DIR, format: "json", details: false }),
    b.save({ file, folder: RESULTS_DIR, format: "chart.html" }),
  );
  printTable(suite, figures);
  mergeSummary(figures);
  return figures;
}

/**
 * benny calls a case's setup up to three times (to sniff whether it returns a function or a
 * promise), which makes three closures of the timed function. V8 specialises an optimised
 * function to its context only while a function literal has a single closure; with three, every
 * captured variable (batch, Reprs) is reloaded from the context and hole-checked per use. Calling
 * setup once: "parse eth+ipv4+udp 64B no verify" 25.0-25.7 -> 32.3-34.4 Mpps (two runs each,
 * Node 20.20, AMD EPYC; bench/RESULTS.md).
 */
function once(setup: () => () => void): () => () => void {
  let fn: (() => void) | null = null;
  return () => (fn ??= setup());
}

function round(x: number, d: number): number {
  const k = 10 ** d;
  return Math.round(x * k) / k;
}

function printTable(suite: string, figures: Record<string, CaseFigure>): void {
  console.log(`\n${suite}`);
  const w = Math.max(...Object.keys(figures).map((k) => k.length), 10);
  for (const [name, f] of Object.entries(figures)) {
    const val = f.mpps !== undefined ? `${f.mpps.toFixed(2).padStart(9)} Mpps` : `${f.mb_per_s!.toFixed(1).padStart(9)} MB/s`;
    console.log(`  ${name.padEnd(w)}  ${val}  ±${f.rme}%`);
  }
}

function mergeSummary(figures: Record<string, CaseFigure>): void {
  const entries: Record<string, Record<string, number>> = {};
  for (const [name, f] of Object.entries(figures)) entries[name] = f.mpps !== undefined ? { mpps: f.mpps } : { mb_per_s: f.mb_per_s! };
  updateSummary(entries);
}

/** Set these cases' figures in bench/results/summary.json, keeping every other case's. */
export function updateSummary(entries: Record<string, Record<string, number>>): void {
  const path = `${RESULTS_DIR}/summary.json`;
  mkdirSync(RESULTS_DIR, { recursive: true });
  const all: Record<string, Record<string, number>> = existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) : {};
  Object.assign(all, entries);
  writeFileSync(path, JSON.stringify(all, null, 2) + "\n");
}

export interface AllocationReport {
  iterations: number;
  /** Garbage collections (scavenges and mark-sweeps) seen while the loop ran. */
  gcs: number;
  /** heapUsed after minus before, bytes (noise of a few KiB is the observer itself). */
  heapDeltaBytes: number;
  bytesPerIteration: number;
}

/**
 * Shows that `fn` allocates nothing: runs it `iterations` times (after warm-up) and reports the
 * GCs that happened and the heap growth. Any per-call allocation of even 16 bytes over 10^7 calls
 * fills the 16 MiB young generation ~10 times, so `gcs` = 0 is the evidence.
 */
export async function measureAllocation(fn: () => void, iterations = 10_000_000): Promise<AllocationReport> {
  for (let i = 0; i < 100_000; i++) fn(); // warm up: optimise before measuring
  let gcs = 0;
  const obs = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  obs.observe({ entryTypes: ["gc"] });
  await new Promise((r) => setTimeout(r, 10));
  gcs = 0;
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < iterations; i++) fn();
  const after = process.memoryUsage().heapUsed;
  await new Promise((r) => setTimeout(r, 10)); // let the observer deliver
  obs.disconnect();
  const heapDeltaBytes = after - before;
  return { iterations, gcs, heapDeltaBytes, bytesPerIteration: Math.max(0, heapDeltaBytes) / iterations };
}

export function reportAllocation(name: string, r: AllocationReport): void {
  console.log(`  allocation: ${name}: ${r.iterations.toLocaleString("en-US")} iterations, ${r.gcs} GCs, heap delta ${r.heapDeltaBytes} bytes (${r.bytesPerIteration.toFixed(4)} B/iteration)`);
  const path = `${RESULTS_DIR}/allocation.json`;
  const all = existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) : {};
  all[name] = r;
  writeFileSync(path, JSON.stringify(all, null, 2) + "\n");
}
