// `npm run bench`: runs every suite on one core, prints a table per suite and writes
// bench/results/summary.json ({"<case>": {"mpps": n}} or {"mb_per_s": n}), allocation.json, and
// benny's JSON and HTML per suite. BENCH_QUICK=1 shortens each case (for a smoke run).
import { rmSync } from "node:fs";
import { cpus } from "node:os";
import { RESULTS_DIR } from "./lib.js";
import { checksumBench } from "./checksum.bench.js";
import { arenaBench } from "./arena.bench.js";

const suites: Record<string, () => Promise<void>> = {
  checksum: checksumBench,
  arena: arenaBench,
};

const only = process.argv.slice(2);
rmSync(`${RESULTS_DIR}/summary.json`, { force: true });
rmSync(`${RESULTS_DIR}/allocation.json`, { force: true });
console.log(`wireyard benchmarks — Node ${process.version}, ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores (one used)`);
for (const [name, run] of Object.entries(suites)) {
  if (only.length && !only.includes(name)) continue;
  await run();
}
