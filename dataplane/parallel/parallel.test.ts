// The parallel run on worker threads: one worker gives the executor's result and capture bytes,
// two give the same counters and frames; startApps reaches every worker as a module; a worker
// that throws, exits or runs out of memory mid-run makes the run reject at once with an error
// naming the worker and the cause. Workers run the compiled tree: built first (build.ts).
import { beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { runParallel, runParallelTimed } from "./index.js";
import { ensureWorkerBuilt } from "./build.js";
import { flowHash } from "./flows.js";
import { executePlan } from "../run.js";
import { docker0Plan } from "../plans/docker0-plan.js";
import type { RunPlan } from "../plan.js";

beforeAll(() => ensureWorkerBuilt(), 120_000);

const tmp = () => mkdtempSync(join(tmpdir(), "wireyard-par-"));

function plan(): RunPlan {
  const p = docker0Plan({ containers: 4, udp: { flows: 12, packets: 20, pairs: 2 }, capture: "all" });
  p.traffic.push({ kind: "ping", id: "ping", from: "c2", dst: "172.17.0.5", count: 2, intervalNs: 5e8, size: 56, startNs: 0 });
  p.traffic.push({ kind: "tcp", id: "tcp", from: "c4", dst: "172.17.0.3", dport: 80, sink: { ns: "c3", port: 80 }, bytes: 3000, connections: 4, startNs: 1e6 });
  p.expect.push(
    { label: "c2 -> c3 udp/5001", from: "c2", dst: "172.17.0.3", proto: "udp", port: 5001, sink: { ns: "c3", port: 5001 }, reachable: true },
    { label: "c5 -> c2 tcp/22", from: "c5", dst: "172.17.0.2", proto: "tcp", port: 22, sink: null, reachable: false },
    { label: "c3 -> c4 icmp", from: "c3", dst: "172.17.0.4", proto: "icmp", port: 0, sink: null, reachable: true },
  );
  return p;
}

describe("runParallel", () => {
  it("flow hash is symmetric: both directions of a flow go to the same worker", () => {
    expect(flowHash(0xac110002, 0xac110003, 17, 40000, 53)).toBe(flowHash(0xac110003, 0xac110002, 17, 53, 40000));
    expect(flowHash(0xac110002, 0xac110003, 17, 40000, 53)).not.toBe(flowHash(0xac110002, 0xac110003, 17, 40001, 53));
  });

  it("with one worker gives what executePlan gives, capture bytes included", async () => {
    const dir = tmp();
    const p = plan();
    const local = executePlan(p, { pcapDir: dir, captureName: "local" }).result;
    const par = await runParallel(p, { workers: 1, pcapDir: dir, captureName: "par" });
    expect({ ...par, captures: [] }).toEqual({ ...local, captures: [] });
    expect(par.captures).toEqual([{ ...local.captures[0]!, file: join(dir, "par.pcapng") }]);
    expect(readFileSync(join(dir, "par.pcapng"))).toEqual(readFileSync(join(dir, "local.pcapng")));
  }, 30_000);

  it("with two workers gives the same counters, expectations and frames", async () => {
    const dir = tmp();
    const p = plan();
    const one = await runParallel(p, { workers: 1, pcapDir: dir, captureName: "one" });
    const progress: number[] = [];
    const { result: two, timings } = await runParallelTimed(p, { workers: 2, pcapDir: dir, captureName: "two", onProgress: (f) => progress.push(f) });
    expect(two.workers).toBe(2);
    expect(progress.at(-1)).toBe(1);
    expect({ ...two, workers: 1, captures: [] }).toEqual({ ...one, captures: [] });
    expect(two.captures[0]!.frames).toBe(one.captures[0]!.frames);
    expect(timings.setupMs).toHaveLength(2);
    expect(timings.totalMs).toBeGreaterThanOrEqual(timings.runMs);
    // the same frames (a merged file is ordered by time, ties by worker: compare as sets)
    const blocks = (f: string) => splitBlocks(readFileSync(join(dir, f))).sort();
    expect(blocks("two.pcapng")).toEqual(blocks("one.pcapng"));
  }, 30_000);

  it("loads startApps from a module in every worker", async () => {
    const dir = tmp();
    const mod = join(dir, "apps.mjs");
    writeFileSync(mod, `export function dropPort5001(t) { t.iptables("host", "*filter\\n:INPUT ACCEPT [0:0]\\n:FORWARD ACCEPT [0:0]\\n:OUTPUT ACCEPT [0:0]\\n-A FORWARD -p udp -m udp --dport 5001 -j DROP\\nCOMMIT\\n"); }\n`);
    const r = await runParallel(plan(), { workers: 2, startAppsModule: mod, startAppsExport: "dropPort5001" });
    expect(r.traffic[0]).toMatchObject({ sent: 6 * 20, received: 0, lost: 6 * 20 });
    expect(r.expect[0]).toMatchObject({ passed: false, observed: "no reply (dropped at host/docker0: nf-drop)" });
    await expect(runParallel(plan(), { workers: 2, startAppsModule: mod })).rejects.toThrow(/worker \d failed: startAppsModule .*apps\.mjs: exports no function "startApps" and no default/);
  }, 30_000);

  it("uses as many workers as the machine has cores unless told", async () => {
    expect((await runParallel(docker0Plan({ containers: 2, udp: { flows: 2, packets: 2 } }))).workers).toBe(availableParallelism());
  }, 30_000);

  it("refuses what cannot cross to a worker, and bad worker counts", async () => {
    await expect(runParallel(plan(), { workers: 2, startApps: () => {} })).rejects.toThrow("startApps cannot be sent to worker threads: give startAppsModule");
    await expect(runParallel(plan(), { workers: 0 })).rejects.toThrow("workers 0: must be an integer >= 1");
  });
});

describe("runParallel: a worker failing mid-run", () => {
  // 64 flows x 4 x 10^6 datagrams: half a minute on two workers; the fault comes at 20,000
  const long = () => docker0Plan({ containers: 2, udp: { flows: 64, packets: 4e6, ratePps: 1e6 } });

  for (const [kind, message] of [
    ["throw", /^worker 1 failed: test fault: thrown after 20000 packets$/],
    ["exit", /^worker 1 exited with code 1$/],
    ["oom", /^worker 1 ran out of memory/],
  ] as const) {
    it(`${kind}: rejects promptly with the worker and the cause`, async () => {
      const t0 = Date.now();
      const run = runParallel(long(), { workers: 2, maxOldGenerationSizeMb: 64, testOnlyFault: { worker: 1, afterPackets: 20000, kind } });
      await expect(run).rejects.toThrow(message);
      // reported within the slice it happened in (the other worker is stopped, not waited for)
      expect(Date.now() - t0).toBeLessThan(8_000);
    }, 30_000);
  }
});

/** The pcapng blocks after the interface blocks, as hex strings. */
function splitBlocks(b: Uint8Array): string[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: string[] = [];
  for (let p = 0; p < b.length; ) {
    const type = v.getUint32(p, true), len = v.getUint32(p + 4, true);
    if (type === 6) out.push(Buffer.from(b.subarray(p, p + len)).toString("hex"));
    p += len;
  }
  return out;
}
