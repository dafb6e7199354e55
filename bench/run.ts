// `npm run bench`: runs every suite on one core, prints a table per suite and writes
// bench/results/summary.json ({"<case>": {"mpps": n}} or {"mb_per_s": n}; a run of named suites
// updates their keys only), allocation.json, and
// benny's JSON and HTML per suite. BENCH_QUICK=1 shortens each case (for a smoke run).
import { rmSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { cpus } from "node:os";
import { RESULTS_DIR } from "./lib.js";
import { checksumBench } from "./checksum.bench.js";
import { arenaBench } from "./arena.bench.js";
import { wireBench } from "./wire.bench.js";
import { pcapBench } from "./pcap.bench.js";
import { fibBench } from "./fib.bench.js";
import { bridgeBench } from "./bridge.bench.js";
import { linkBench } from "./link.bench.js";
import { endpointBench } from "./endpoint.bench.js";
import { routeBench } from "./route.bench.js";
import { netfilterBench } from "./netfilter.bench.js";
import { conntrackBench } from "./conntrack.bench.js";
import { natBench } from "./nat.bench.js";
import { parallelBench } from "./parallel.js";
import { scenarioBench } from "./scenario.bench.js";

// The wire suite runs first: what a process compiled before changes V8's inlining decisions,
// and the acceptance cases of the wire parsers are measured on a fresh process (RESULTS.md).
const suites: Record<string, () => Promise<void>> = {
  wire: wireBench,
  pcap: pcapBench,
  checksum: checksumBench,
  arena: arenaBench,
  fib: fibBench,
  bridge: bridgeBench,
  route: routeBench,
  link: linkBench,
  endpoint: endpointBench,
  netfilter: netfilterBench,
  conntrack: conntrackBench,
  nat: natBench,
  parallel: parallelBench,
  scenario: scenarioBench,
};

// V8 inlines at most 920 bytes of bytecode into one function, counting what its callees inlined
// already; a dataplane path of three parsers exceeds it and becomes three real calls (RESULTS.md:
// 24 -> 49 Mpps for the Ethernet+IPv4+UDP parse in isolation with 3000). Set before any hot code
// is compiled; the wireyard command sets the same for its runs.
setFlagsFromString("--max-inlined-bytecode-size-cumulative=3000");

const only = process.argv.slice(2);
// a full run starts the figures afresh; a run of some suites updates their keys only
if (only.length === 0) {
  rmSync(`${RESULTS_DIR}/summary.json`, { force: true });
  rmSync(`${RESULTS_DIR}/allocation.json`, { force: true });
}
console.log(`wireyard benchmarks — Node ${process.version}, ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores (one used)`);
for (const [name, run] of Object.entries(suites)) {
  if (only.length && !only.includes(name)) continue;
  await run();
}
