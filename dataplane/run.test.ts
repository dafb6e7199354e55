// The executor on hand-written plans (docker0 as TopologyOps): traffic counted per item and per
// namespace, expectations probed in the live state with what was seen, the capture written with
// one interface per point (read back with our pcapng reader), determinism per seed, and shards
// that add up to the whole run with the same frames per flow.
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { executePlan, SETTLE_NS } from "./run.js";
import { PROBE_SLOT_NS } from "./parallel/probes.js";
import { docker0Plan } from "./plans/docker0-plan.js";
import type { PlanExpect, RunPlan } from "./plan.js";
import { newCaptureRecord, openCaptureFile } from "../core/pcap/index.js";
import { dissectFrame } from "../core/wire/frame.js";
import { formatIpv4 } from "../core/addr.js";

const tmp = () => mkdtempSync(join(tmpdir(), "wireyard-run-"));

const C3 = "172.17.0.3", C4 = "172.17.0.4";

function expectation(from: string, dst: string, proto: PlanExpect["proto"], port: number, reachable: boolean, sink: PlanExpect["sink"] = null): PlanExpect {
  return { label: `${from} -> ${dst} ${proto}/${port}`, from, dst, proto, port, sink, reachable };
}

/** docker0 with c2, c3, c4: 4 UDP flows of 10 datagrams c2 -> c3:5001, ping c2 -> c4, TCP c4 -> c3:80. */
function mixedPlan(seed = 1): RunPlan {
  const plan = docker0Plan({ containers: 3, seed, udp: { flows: 4, packets: 10, ratePps: 1000 }, capture: "all" });
  plan.traffic.push({ kind: "ping", id: "ping", from: "c2", dst: C4, count: 3, intervalNs: 1e9, size: 56, startNs: 0 });
  plan.traffic.push({ kind: "tcp", id: "tcp", from: "c4", dst: C3, dport: 80, sink: { ns: "c3", port: 80 }, bytes: 5000, connections: 3, startNs: 0 });
  return plan;
}

/** Frames of a capture as "point dir time hex", one string each. */
function frames(file: string): string[] {
  const rd = openCaptureFile(file);
  const r = newCaptureRecord();
  const out: string[] = [];
  while (rd.next(r)) out.push(`${r.interfaceName} ${r.flags & 3} ${r.sec}.${String(r.nsec).padStart(9, "0")} ${Buffer.from(r.data).toString("hex")}`);
  return out;
}

describe("executePlan: traffic", () => {
  it("counts each item: UDP flows, ping, TCP connections; every datagram, echo and byte arrives", () => {
    const { result } = executePlan(mixedPlan());
    const [udp, ping, tcp] = result.traffic;
    expect(udp).toEqual({ id: "udp0", kind: "udp", label: "c2 -> 172.17.0.3 udp/5001 x4 flows", sent: 40, received: 40, lost: 0, bytesSent: 40 * 64, bytesReceived: 40 * 64 });
    expect(ping).toEqual({ id: "ping", kind: "ping", label: "c2 -> 172.17.0.4 icmp x3", sent: 3, received: 3, lost: 0, bytesSent: 3 * 98, bytesReceived: 3 * 98 });
    expect(tcp).toMatchObject({ kind: "tcp", sent: 3, received: 3, lost: 0, bytesSent: 15000, bytesReceived: 15000 });
    expect(result.workers).toBe(1);
    expect(result.conservation.ok).toBe(true);
    expect(result.conservation.created).toBeGreaterThan(40 + 6);
  });

  it("reports each namespace's interface counters: c2 sent at least its datagrams and echoes", () => {
    const { result, topology } = executePlan(mixedPlan());
    const c2 = result.namespaces.find((n) => n.ns === "c2")!;
    const eth0 = topology.dev("c2/eth0");
    if (eth0.kind !== "interface") throw new Error("c2/eth0 is no interface");
    expect(c2.txPackets).toBe(eth0.ns.txPackets[eth0.port]);
    expect(c2.rxBytes).toBe(eth0.ns.rxBytes[eth0.port]);
    expect(c2.txPackets).toBeGreaterThanOrEqual(40 + 3);
    expect(c2.lost).toBe(0);
    expect(result.namespaces.map((n) => n.ns)).toEqual(["host", "c2", "c3", "c4"]);
  });

  it("ends when the traffic is done plus 1 s, then probes each expectation in a 1 s slot", () => {
    const plan = mixedPlan();
    // the last echo request goes at 2 s and is answered at once
    expect(executePlan(plan).result.virtualNs).toBe(2e9 + SETTLE_NS);
    plan.expect.push(expectation("c2", C3, "icmp", 0, true), expectation("c2", C4, "icmp", 0, true));
    expect(executePlan(plan).result.virtualNs).toBe(2e9 + SETTLE_NS + 2 * PROBE_SLOT_NS);
    plan.durationNs = 5e9;
    expect(executePlan(plan).result.virtualNs).toBe(5e9 + 2 * PROBE_SLOT_NS);
  });

  it("counts what a lossy item lost, also against its namespace", () => {
    const plan = docker0Plan({ containers: 2, udp: null });
    plan.traffic.push({ kind: "ping", id: "nowhere", from: "c2", dst: "172.17.0.99", count: 2, intervalNs: 1e9, size: 56, startNs: 0 });
    plan.traffic.push({ kind: "udp", id: "blind", from: "c2", dst: C3, dport: 9, sink: null, flows: 2, packets: 5, ratePps: 100, size: 80, startNs: 0 });
    const { result } = executePlan(plan);
    expect(result.traffic[0]).toMatchObject({ sent: 2, received: 0, lost: 2 });
    // no sink: nothing is known to have arrived
    expect(result.traffic[1]).toMatchObject({ sent: 10, received: 0, lost: 10, bytesSent: 800 });
    expect(result.namespaces.find((n) => n.ns === "c2")!.lost).toBe(12);
    // c3 answered the datagrams to its closed port, and the warm-up's
    expect(result.drops).toContainEqual({ device: "c3", reason: "port-unreachable", count: 11 });
  });

  it("reports progress, ending at 1", () => {
    const seen: number[] = [];
    executePlan(mixedPlan(), { onProgress: (f) => seen.push(f) });
    expect(seen.length).toBeGreaterThan(3);
    expect(seen.at(-1)).toBe(1);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!);
  });

  it("names the item of a plan it cannot run", () => {
    const plan = mixedPlan();
    plan.traffic.push({ kind: "udp", id: "bad", from: "c9", dst: C3, dport: 1, sink: null, flows: 1, packets: 1, ratePps: 1, size: 64, startNs: 0 });
    expect(() => executePlan(plan)).toThrow('traffic 3 (bad): "c9": no such namespace');
    const big = docker0Plan({ containers: 2, udp: { flows: 30000, packets: 1 } });
    expect(() => executePlan(big)).toThrow("the plan needs 30001 UDP source ports");
  });
});

describe("executePlan: expectations", () => {
  const FILTER = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -p udp -m udp --dport 7 -j DROP\nCOMMIT\n";

  it("passes and fails each probe by what happened, and says what that was", () => {
    const plan = mixedPlan();
    plan.config.ops.push({ op: "iptables", ns: "host", rules: FILTER });
    plan.expect.push(
      expectation("c2", C3, "udp", 5001, true, { ns: "c3", port: 5001 }), // to the FlowSink
      expectation("c2", C3, "udp", 53, true), // no socket: the owner of the address is watched
      expectation("c2", C3, "udp", 7, true), // dropped on the bridge by FORWARD: fails
      expectation("c2", C3, "udp", 7, false), // the same, expected unreachable: passes
      expectation("c2", C3, "tcp", 80, true), // the TcpSink
      expectation("c2", C3, "tcp", 81, false), // closed: RST
      expectation("c2", C3, "tcp", 81, true), // closed, expected open: fails
      expectation("c3", C4, "icmp", 0, true),
      expectation("c2", "172.17.0.99", "icmp", 0, false), // no such host
    );
    const { result } = executePlan(plan);
    expect(result.expect.map((e) => [e.passed, e.observed])).toEqual([
      [true, "delivered to c3:5001"],
      [true, "delivered to c3:53"],
      [false, "no reply (dropped at host/docker0: nf-drop)"],
      [true, "no reply (dropped at host/docker0: nf-drop)"],
      [true, "handshake completed"],
      [true, "refused (TCP reset) (dropped at c3/tcp: no-socket)"],
      [false, "refused (TCP reset) (dropped at c3/tcp: no-socket)"],
      [true, "echo reply"],
      [true, "no reply"], // its ARP requests go unanswered (what other hosts ignore is not listed)
    ]);
    expect(result.expect.map((e) => e.label)).toEqual(plan.expect.map((e) => e.label));
  });

  it("sees an ICMP error come back", () => {
    const plan = docker0Plan({ containers: 2 });
    plan.config.ops.push({ op: "iptables", ns: "c3", rules: "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p udp -m udp --dport 9 -j REJECT\nCOMMIT\n" });
    plan.expect.push(expectation("c2", C3, "udp", 9, false, { ns: "c3", port: 9 }));
    const { result } = executePlan(plan);
    expect(result.expect[0]).toEqual({ label: "c2 -> 172.17.0.3 udp/9", reachable: false, passed: true, observed: expect.stringMatching(/^ICMP port unreachable from 172\.17\.0\.3/) });
  });
});

describe("executePlan: capture", () => {
  it("writes one pcapng with an interface per capture point, every frame valid", () => {
    const dir = tmp();
    const { result } = executePlan(mixedPlan(), { pcapDir: dir, captureName: "mixed" });
    const file = join(dir, "mixed.pcapng");
    expect(result.captures).toEqual([{ file, frames: expect.any(Number), points: ["host/docker0", "c2/eth0", "host/veth1a2b32", "c3/eth0", "host/veth1a2b33", "c4/eth0", "host/veth1a2b34"] }]);
    const rd = openCaptureFile(file);
    const r = newCaptureRecord();
    let n = 0, toSink = 0;
    while (rd.next(r)) {
      n++;
      const d = dissectFrame(r.data);
      expect(d.error).toBe(0);
      const udp = d.layers.find((l) => l.kind === "udp");
      if (r.interfaceName === "c3/eth0" && (r.flags & 3) === 1 && udp && udp.kind === "udp" && udp.dstPort === 5001 && r.data.length === 64) toSink++;
    }
    expect(n).toBe(result.captures[0]!.frames);
    expect(rd.format).toBe("pcapng");
    expect(toSink).toBe(40);
  });

  it("captures only the points asked for, in their order", () => {
    const dir = tmp();
    const plan = mixedPlan();
    plan.capture = ["c3/eth0", "c2/eth0"];
    const { result } = executePlan(plan, { pcapDir: dir });
    expect(result.captures[0]!.points).toEqual(["c3/eth0", "c2/eth0"]);
    expect(new Set(frames(join(dir, "capture.pcapng")).map((f) => f.split(" ")[0]))).toEqual(new Set(["c3/eth0", "c2/eth0"]));
  });

  it("is deterministic per seed: same bytes and results; the seed option overrides the plan's", () => {
    const dir = tmp();
    const a = executePlan(mixedPlan(), { pcapDir: dir, captureName: "a" }).result;
    const b = executePlan(mixedPlan(), { pcapDir: dir, captureName: "b" }).result;
    expect(readFileSync(join(dir, "b.pcapng"))).toEqual(readFileSync(join(dir, "a.pcapng")));
    expect({ ...b, captures: [] }).toEqual({ ...a, captures: [] });
    executePlan(mixedPlan(), { pcapDir: dir, captureName: "c", seed: 2 });
    executePlan(mixedPlan(2), { pcapDir: dir, captureName: "d" });
    expect(readFileSync(join(dir, "c.pcapng"))).toEqual(readFileSync(join(dir, "d.pcapng")));
    expect(readFileSync(join(dir, "c.pcapng"))).not.toEqual(readFileSync(join(dir, "a.pcapng")));
  });
});

describe("executePlan: replay", () => {
  it("replays a capture into an interface, whole, in one shard", () => {
    const dir = tmp();
    const src = docker0Plan({ containers: 2, udp: { flows: 2, packets: 5 }, capture: ["c2/eth0"] });
    const recorded = executePlan(src, { pcapDir: dir, captureName: "recorded" }).result.captures[0]!;
    const plan = docker0Plan({ containers: 2 });
    plan.traffic.push({ kind: "replay", id: "again", into: "c2/eth0", file: recorded.file, mode: "sent", timing: "asap", startNs: 0 });
    const { result } = executePlan(plan);
    expect(result.traffic[0]).toMatchObject({ kind: "replay", sent: recorded.frames, received: 0, lost: 0 });
    expect(result.conservation.ok).toBe(true);
    const parts = [0, 1].map((index) => executePlan(plan, { shard: { index, count: 2 } }).result.traffic[0]!.sent);
    expect(parts.sort()).toEqual([0, recorded.frames]);
  });
});

describe("executePlan: shards", () => {
  /** Frames of flows (UDP/TCP by ports, ICMP by address pair) as a sorted multiset. */
  function flowFrames(file: string): string[] {
    return frames(file).filter((f) => {
      const hex = f.split(" ")[3]!;
      return hex.slice(24, 28) === "0800"; // IPv4 only: neighbour frames are not a flow's
    }).sort();
  }

  it("two shards add up to the whole run: traffic and namespace counters, drops, expectations, frames", () => {
    const dir = tmp();
    const plan = mixedPlan();
    plan.traffic[0] = { ...plan.traffic[0]!, flows: 16 } as RunPlan["traffic"][number];
    plan.expect.push(expectation("c2", C3, "udp", 5001, true, { ns: "c3", port: 5001 }), expectation("c2", C3, "tcp", 81, false), expectation("c3", C4, "icmp", 0, true));
    plan.durationNs = 4e9; // a shard alone ends with its own traffic: a fixed end lines them up
    const whole = executePlan(plan, { pcapDir: dir, captureName: "whole" }).result;
    const parts = [0, 1].map((index) => executePlan(plan, { pcapDir: dir, captureName: `s${index}`, shard: { index, count: 2 } }).result);
    // both shards ran flows
    expect(parts.every((p) => p.traffic[0]!.sent > 0)).toBe(true);
    const sum = (k: "sent" | "received" | "lost" | "bytesSent" | "bytesReceived", i: number) => parts[0]!.traffic[i]![k] + parts[1]!.traffic[i]![k];
    whole.traffic.forEach((t, i) => {
      expect([sum("sent", i), sum("received", i), sum("lost", i), sum("bytesSent", i), sum("bytesReceived", i)]).toEqual([t.sent, t.received, t.lost, t.bytesSent, t.bytesReceived]);
    });
    whole.namespaces.forEach((n, i) => {
      expect(parts[0]!.namespaces[i]!.txPackets + parts[1]!.namespaces[i]!.txPackets).toBe(n.txPackets);
      expect(parts[0]!.namespaces[i]!.rxBytes + parts[1]!.namespaces[i]!.rxBytes).toBe(n.rxBytes);
    });
    expect([...parts[0]!.expect, ...parts[1]!.expect].sort((x, y) => x.label.localeCompare(y.label))).toEqual([...whole.expect].sort((x, y) => x.label.localeCompare(y.label)));
    expect(parts[0]!.conservation.created + parts[1]!.conservation.created).toBe(whole.conservation.created);
    // every frame of the whole run, and nothing else, is in one of the shards' captures
    const both = [...frames(join(dir, "s0.pcapng")), ...frames(join(dir, "s1.pcapng"))].sort();
    expect(both).toEqual(frames(join(dir, "whole.pcapng")).sort());
    expect(flowFrames(join(dir, "s1.pcapng")).length).toBeGreaterThan(0);
  });

  it("gives every flow its own source port, the same whatever the shard", () => {
    const plan = docker0Plan({ containers: 2, udp: { flows: 8, packets: 2 } });
    const ports = (shard?: { index: number; count: number }) => {
      const dir = tmp();
      executePlan({ ...plan, capture: ["c2/eth0"] }, { pcapDir: dir, ...(shard ? { shard } : {}) });
      const out = new Set<string>();
      for (const f of frames(join(dir, "capture.pcapng"))) {
        const hex = f.split(" ")[3]!;
        if (hex.slice(24, 28) === "0800" && hex.slice(46, 48) === "11" && hex.length === 128) out.add(`${formatIpv4(parseInt(hex.slice(52, 60), 16))}:${parseInt(hex.slice(68, 72), 16)}`);
      }
      return out;
    };
    const all = ports();
    expect(all.size).toBe(8);
    const s0 = ports({ index: 0, count: 2 }), s1 = ports({ index: 1, count: 2 });
    expect(new Set([...s0, ...s1])).toEqual(all);
    expect([...s0].some((p) => s1.has(p))).toBe(false);
  });
});
