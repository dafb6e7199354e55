// The parallel run's determinism contract (dataplane/parallel/index.ts), on random docker0 plans
// (2 to 5 containers; UDP items of 1-8 flows, pings, TCP connections between random containers;
// expectations; random seeds), each run on 1, 2 and 4 worker threads:
//  - per flow (UDP and TCP flows by their 5-tuple, pings by address pair and ICMP id, probes
//    alike), the frames at every capture point are the same bytes at the same virtual times;
//    the frames of no flow (ARP) are the same too: the runs are shorter than a neighbour's
//    reachable time, so only the warm-up resolves, and worker 0 alone reports it;
//  - the merged counters equal the one-worker run's: per traffic item sent, received, lost,
//    bytes; per namespace rx/tx packets and bytes and lost; drops by device and reason;
//    expectations; conservation; the end time;
//  - one worker gives the in-thread executor's capture byte for byte;
//  - the same through Docker's NAT (dataplane/plans/docker-host-plan.ts: published ports, masquerade).
// Workers run the compiled tree, built once before the properties run.
import { fc, test } from "@fast-check/vitest";
import { beforeAll, expect } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runParallel } from "../dataplane/parallel/index.js";
import { ensureWorkerBuilt } from "../dataplane/parallel/build.js";
import { executePlan } from "../dataplane/run.js";
import { containerIp, docker0Plan } from "../dataplane/plans/docker0-plan.js";
import { dockerHostPlan } from "../dataplane/plans/docker-host-plan.js";
import type { PlanExpect, PlanTraffic, RunPlan } from "../dataplane/plan.js";
import { newCaptureRecord, openCaptureFile } from "../core/pcap/index.js";
import { FLOW_DNS_MIN_FRAME } from "../dataplane/endpoint/udp-flows.js";

beforeAll(() => ensureWorkerBuilt(), 120_000);

const pair = (n: number) => fc.tuple(fc.integer({ min: 2, max: n + 1 }), fc.integer({ min: 2, max: n + 1 })).filter(([a, b]) => a !== b);

const item = (n: number) =>
  fc.oneof(
    fc.record({ kind: fc.constant("udp" as const), p: pair(n), flows: fc.integer({ min: 1, max: 8 }), packets: fc.integer({ min: 1, max: 20 }), rate: fc.constantFrom(100, 1000, 20_000), size: fc.integer({ min: 62, max: 300 }), port: fc.constantFrom(53, 5001), start: fc.constantFrom(0, 1e6, 3e8) }),
    fc.record({ kind: fc.constant("ping" as const), p: pair(n), count: fc.integer({ min: 1, max: 3 }), interval: fc.constantFrom(2e8, 1e9), start: fc.constantFrom(0, 5e8) }),
    fc.record({ kind: fc.constant("tcp" as const), p: pair(n), connections: fc.integer({ min: 1, max: 3 }), bytes: fc.constantFrom(0, 100, 4000), start: fc.constantFrom(0, 2e8) }),
  );

const probe = (n: number) => fc.record({ p: pair(n), proto: fc.constantFrom("udp" as const, "tcp" as const, "icmp" as const), port: fc.constantFrom(53, 80, 5001), reachable: fc.boolean() });

const scenario = fc.integer({ min: 2, max: 5 }).chain((n) =>
  fc.record({ n: fc.constant(n), seed: fc.integer({ min: 1, max: 1 << 30 }), items: fc.array(item(n), { minLength: 1, maxLength: 4 }), probes: fc.array(probe(n), { maxLength: 2 }) }),
);

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

function planOf(sc: Scenario): RunPlan {
  const plan = docker0Plan({ containers: sc.n, seed: sc.seed, capture: "all" });
  plan.traffic = sc.items.map((it, i): PlanTraffic => {
    const [a, b] = it.p;
    const base = { id: `t${i}`, from: `c${a}`, dst: containerIp(b), startNs: it.start };
    if (it.kind === "udp") return { ...base, kind: "udp", dport: it.port, sink: { ns: `c${b}`, port: it.port }, flows: it.flows, packets: it.packets, ratePps: it.rate, size: it.port === 53 ? Math.max(it.size, FLOW_DNS_MIN_FRAME) : it.size };
    if (it.kind === "ping") return { ...base, kind: "ping", count: it.count, intervalNs: it.interval, size: 56 };
    return { ...base, kind: "tcp", dport: 80, sink: { ns: `c${b}`, port: 80 }, bytes: it.bytes, connections: it.connections };
  });
  plan.expect = sc.probes.map((pr): PlanExpect => {
    const [a, b] = pr.p;
    return { label: `c${a} -> c${b} ${pr.proto}/${pr.port}`, from: `c${a}`, dst: containerIp(b), proto: pr.proto, port: pr.proto === "icmp" ? 0 : pr.port, sink: null, reachable: pr.reachable };
  });
  return plan;
}

/** Frames grouped by what they belong to: an IPv4 flow (protocol and both endpoints in order;
 *  ICMP echo by address pair and id, an ICMP error by the flow it quotes), or "neighbour" (ARP).
 *  Each group: its frames as "point direction time bytes", sorted. */
function framesByFlow(file: string): Map<string, string[]> {
  const rd = openCaptureFile(file);
  const r = newCaptureRecord();
  const groups = new Map<string, string[]>();
  while (rd.next(r)) {
    const b = r.data;
    const hex = Buffer.from(b).toString("hex");
    const line = `${r.interfaceName} ${r.flags & 3} ${r.sec}.${String(r.nsec).padStart(9, "0")} ${hex}`;
    const key = b[12] === 0x08 && b[13] === 0x00 ? flowKey(b, 14) : "neighbour";
    const list = groups.get(key) ?? [];
    list.push(line);
    groups.set(key, list);
  }
  for (const l of groups.values()) l.sort();
  return groups;
}

function flowKey(b: Uint8Array, ip: number): string {
  const proto = b[ip + 9]!;
  const l4 = ip + (b[ip]! & 15) * 4;
  const addr = (o: number) => b.subarray(o, o + 4).join(".");
  let a = addr(ip + 12), z = addr(ip + 16);
  let pa = 0, pz = 0;
  if (proto === 6 || proto === 17) {
    pa = (b[l4]! << 8) | b[l4 + 1]!;
    pz = (b[l4 + 2]! << 8) | b[l4 + 3]!;
  } else if (proto === 1 && (b[l4] === 0 || b[l4] === 8)) {
    pa = pz = (b[l4 + 4]! << 8) | b[l4 + 5]!; // echo id
  } else if (proto === 1) {
    return `error-about ${flowKey(b, l4 + 8)}`;
  }
  if (`${a}:${pa}` > `${z}:${pz}`) [a, z, pa, pz] = [z, a, pz, pa];
  return `${proto} ${a}:${pa} ${z}:${pz}`;
}

/** Runs `plan` in-thread and on 1, 2 and 4 workers, and checks the contract. */
async function sameOnAnyWorkers(plan: RunPlan): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "wireyard-prop-par-"));
  const local = executePlan(plan, { pcapDir: dir, captureName: "local" }).result;
  const runs = [];
  for (const workers of [1, 2, 4]) runs.push(await runParallel(plan, { workers, pcapDir: dir, captureName: `w${workers}`, engine: { slots: 4096 } }));
  const [one, two, four] = runs;
  expect(readFileSync(join(dir, "w1.pcapng"))).toEqual(readFileSync(join(dir, "local.pcapng")));
  const strip = (r: typeof local) => ({ ...r, workers: 0, captures: [] });
  expect(strip(one!)).toEqual(strip(local));
  expect(strip(two!)).toEqual(strip(local));
  expect(strip(four!)).toEqual(strip(local));
  const ref = framesByFlow(join(dir, "w1.pcapng"));
  for (const w of [2, 4]) {
    const got = framesByFlow(join(dir, `w${w}.pcapng`));
    expect([...got.keys()].sort()).toEqual([...ref.keys()].sort());
    for (const [flow, list] of ref) expect({ flow, frames: got.get(flow) }).toEqual({ flow, frames: list });
  }
}

test.prop([scenario], { numRuns: 8, endOnFailure: true })("per flow the same frames, and the same merged counters, on 1, 2 and 4 workers", (sc) => sameOnAnyWorkers(planOf(sc)), 60_000);

// Through Docker's NAT (published ports DNATed, outbound MASQUERADEd): conntrack and NAT stay in
// the worker of each flow and give it the same translation as on one thread.
test.prop(
  [fc.record({ seed: fc.integer({ min: 1, max: 1 << 30 }), udpFlows: fc.integer({ min: 1, max: 8 }), udpPackets: fc.integer({ min: 1, max: 10 }), tcpConnections: fc.integer({ min: 1, max: 4 }), tcpBytes: fc.constantFrom(0, 3000) })],
  { numRuns: 3, endOnFailure: true },
)("the same through NAT", (o) => sameOnAnyWorkers(dockerHostPlan({ ...o, capture: "all" })), 60_000);
