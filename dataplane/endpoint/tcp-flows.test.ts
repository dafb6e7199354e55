// The TCP connect-and-send generator and its sink: N connections deliver exactly the bytes sent,
// intact; refused and lossy runs end with every connection accounted for. (The capture's check in
// tshark is in interop/tcp.test.ts.)
import { describe, expect, it } from "vitest";
import { docker0 } from "../topologies/docker0.js";
import { Engine } from "../engine/engine.js";
import { Netns } from "../netns/netns.js";
import { connectVeth } from "../devices/veth.js";
import { parseIpv4 as ip, parseMac as mac } from "../../core/addr.js";
import { ECONNREFUSED, tcpStack } from "./tcp.js";
import { TcpSink, tcpFlows } from "./tcp-flows.js";

const C3 = ip("172.17.0.3");

describe("TCP flows on docker0", () => {
  it("8 connections x 100000 bytes: every byte arrives once, in order, intact; all connections close", () => {
    const t = docker0(2);
    const [c2, c3] = t.containers as [Netns, Netns];
    const sink = new TcpSink(c3, 5001);
    let doneAt = -1;
    const g = tcpFlows(c2, { dst: C3, dport: 5001, connections: 8, bytes: 100_000, onDone: () => (doneAt = t.engine.clock.now) });
    t.engine.run(10e9);
    expect(g.done).toBe(true);
    expect(doneAt).toBe(0); // zero-delay veths: everything happens at t = 0
    expect([g.complete, g.failed]).toEqual([8, 0]);
    expect(new Set(g.socks.map((s) => s.lport)).size).toBe(8);
    expect(sink.report().map((r) => [r.bytes, r.corrupt])).toEqual(new Array(8).fill([100_000, 0]));
    expect(sink.report().map((r) => r.peerPort).sort()).toEqual(g.socks.map((s) => s.lport).sort());
    expect([sink.total, sink.eofs, sink.ended]).toEqual([800_000, 8, 8]);
    expect(g.report().every((r) => r.bytesAcked === 100_000 && r.error === 0 && r.state === "TIME_WAIT")).toBe(true);
    // 100000 bytes = 69 full segments of 1448 + 88, sent while the window grows: close() finds
    // data still queued, so the FIN rides on the last data segment (tcp_send_fin). Nothing twice.
    expect(g.socks.map((s) => s.segsOut)).toEqual(new Array(8).fill(1 + 1 + 70 + 1)); // SYN, ACK, data (last FIN), last ACK
    expect(tcpStack(c2).retransmits + tcpStack(c3).retransmits).toBe(0);
    expect(t.engine.errors().filter((x) => x.device.endsWith("/tcp"))).toEqual([]);
    expect(t.engine.conservation().ok).toBe(true);
    t.engine.run(70e9); // TIME_WAIT over: no connection left, ports free
    expect([tcpStack(c2).connections, tcpStack(c3).connections]).toEqual([0, 0]);
    expect(tcpStack(c2).used.reduce((a, b) => a + b, 0)).toBe(0);
  });

  it("intervalNs spreads the connections; to a closed port every one is refused", () => {
    const t = docker0(2);
    const [c2, c3] = t.containers as [Netns, Netns];
    tcpStack(c3);
    const g = tcpFlows(c2, { dst: C3, dport: 5002, connections: 4, bytes: 1000, intervalNs: 10e6 });
    t.engine.run(1e9);
    expect(g.socks.map((s) => s.openedAt)).toEqual([0, 10e6, 20e6, 30e6]);
    expect([g.done, g.complete, g.failed]).toEqual([true, 0, 4]);
    expect(g.report().map((r) => r.error)).toEqual(new Array(4).fill(ECONNREFUSED));
    expect(t.engine.conservation().ok).toBe(true);
  });
});

describe("TCP flows over a lossy veth", () => {
  it("3% loss both ways: retransmissions, and the sink still gets every byte intact", () => {
    const e = new Engine({ seed: 3, slots: 8192 });
    const a = e.add(new Netns("a"));
    const b = e.add(new Netns("b"));
    const ia = a.addInterface("eth0", mac("02:00:00:00:00:01"));
    const ib = b.addInterface("eth0", mac("02:00:00:00:00:02"));
    const link = connectVeth(e, a, ia, b, ib, { ab: { loss: 0.03, delayNs: 1e6 }, ba: { loss: 0.03, delayNs: 1e6 } })!;
    a.addAddress("eth0", "10.9.0.1/24");
    b.addAddress("eth0", "10.9.0.2/24");
    const sink = new TcpSink(b, 80);
    const g = tcpFlows(a, { dst: ip("10.9.0.2"), dport: 80, connections: 4, bytes: 60_000 });
    e.run(600e9);
    expect(link.stats(0).lost + link.stats(1).lost).toBeGreaterThan(0);
    expect([g.done, g.complete, g.failed]).toEqual([true, 4, 0]);
    expect(sink.report().map((r) => [r.bytes, r.corrupt])).toEqual(new Array(4).fill([60_000, 0]));
    expect(tcpStack(a).retransmits).toBeGreaterThan(0);
    expect(e.conservation().ok).toBe(true);
  });
});
