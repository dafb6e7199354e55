// The TCP connect-and-send generator and its sink: N connections deliver exactly the bytes sent,
// intact; the capture is clean in tshark (checksums, no malformed frames, no retransmissions or
// out-of-order segments); refused and lossy runs end with every connection accounted for.
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { docker0 } from "../topologies/docker0.js";
import { Engine } from "../engine/engine.js";
import { Netns } from "../netns/netns.js";
import { connectVeth } from "../devices/veth.js";
import { FileSink } from "../../core/pcap/index.js";
import { parseIpv4 as ip, parseMac as mac } from "../../core/addr.js";
import { ECONNREFUSED, tcpStack } from "./tcp.js";
import { TcpSink, tcpFlows } from "./tcp-flows.js";

const C3 = ip("172.17.0.3");

function hasTshark(): boolean {
  try {
    execFileSync("tshark", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

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

  it.skipIf(!hasTshark())("the capture is clean in tshark: checksums good, nothing malformed, no retransmission or reordering", () => {
    const dir = mkdtempSync(join(tmpdir(), "wy-tcp-"));
    try {
      const file = join(dir, "tcp.pcapng");
      const t = docker0(2);
      const [c2, c3] = t.containers as [Netns, Netns];
      t.engine.openCapture(new FileSink(file));
      t.engine.tap(c3, c3.ifindex("eth0"), "c3/eth0"); // one point: the same packet twice would look like a retransmission
      new TcpSink(c3, 5001);
      tcpFlows(c2, { dst: C3, dport: 5001, connections: 3, bytes: 50_000, intervalNs: 1e6 });
      t.engine.run(5e9);
      t.engine.capture!.close();
      const tshark = (filter: string, ...fields: string[]) =>
        execFileSync("tshark", ["-r", file, "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-Y", filter, "-T", "fields", ...fields.flatMap((f) => ["-e", f])], { encoding: "utf8" }).trim();
      const tcpFrames = tshark("tcp", "frame.number").split("\n").length;
      // per connection: SYN, SYN-ACK, ACK; 35 data segments (the last with FIN) and 34 ACKs; the
      // server's FIN carrying the ACK of the last segment and of the client's FIN; the last ACK
      expect(tcpFrames).toBe(3 * (3 + 35 + 34 + 1 + 1));
      expect(tshark("_ws.malformed || _ws.expert.severity >= 6291456", "frame.number")).toBe(""); // warnings and errors
      expect(tshark("ip.checksum.status != 1 || tcp.checksum.status != 1", "frame.number")).toBe(""); // 1 = good (0 bad, 2 unverified)
      expect(tshark("tcp.checksum.status == 1", "frame.number").split("\n").length).toBe(tcpFrames);
      expect(tshark("tcp.analysis.retransmission || tcp.analysis.out_of_order || tcp.analysis.lost_segment || tcp.analysis.duplicate_ack || tcp.analysis.ack_lost_segment", "frame.number")).toBe("");
      // what tshark reassembles: 3 conversations of 50000 bytes from the client side
      const conv = execFileSync("tshark", ["-r", file, "-q", "-z", "conv,tcp"], { encoding: "utf8" });
      expect(conv.match(/172\.17\.0\.2:\d+\s+<->\s+172\.17\.0\.3:5001/g)?.length).toBe(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
