// Interop: a TCP connect-and-send run (dataplane/endpoint/tcp-flows.ts) captured at one point is
// clean in tshark: checksums good, nothing malformed, no retransmission, reordering or lost
// segment flagged, and tshark's conversation table shows every connection.
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { docker0 } from "../dataplane/topologies/docker0.js";
import type { Netns } from "../dataplane/netns/netns.js";
import { FileSink } from "../core/pcap/index.js";
import { parseIpv4 as ip } from "../core/addr.js";
import { TcpSink, tcpFlows } from "../dataplane/endpoint/tcp-flows.js";

const C3 = ip("172.17.0.3");

function hasTshark(): boolean {
  try {
    execFileSync("tshark", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!hasTshark())("TCP flows in tshark", () => {
  it("the capture is clean in tshark: checksums good, nothing malformed, no retransmission or reordering", () => {
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

});
