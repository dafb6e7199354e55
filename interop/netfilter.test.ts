// Interop: captures of the Docker host with NAT (dataplane/topologies/docker-host.ts) decode in
// tshark with 0 malformed frames and 0 bad checksums at every hop: published ports (DNAT, routed),
// container egress (MASQUERADE, a NAT port moved on a collision), hairpin (bridged DNAT and the
// masqueraded self-hairpin), icc=false drops, REJECT answers (ICMP and TCP reset) and ICMP errors
// of translated connections (outer and quoted headers rewritten, checksums recomputed).
// Skipped when tshark is not installed.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileSink } from "../core/pcap/index.js";
import { dockerHost, dockerHostServers, tcpStep, udpStep, CLIENT_IP } from "../dataplane/topologies/docker-host.js";
import { UdpSocket } from "../dataplane/endpoint/udp-socket.js";
import { BAD_CHECKSUM, CHECKED, MALFORMED, tshark } from "./tshark.js";

const haveTshark = spawnSync("tshark", ["-v"], { stdio: "ignore" }).status === 0;

/** Frame numbers matching a display filter (all dissectors on: the UDP steps carry DNS queries,
 *  so the frames to the published DNS/mDNS ports decode as DNS). */
function countMatching(file: string, filter: string): number[] {
  const out = tshark(["-r", file, "-Y", filter, "-T", "fields", "-e", "frame.number"]);
  return out.split("\n").filter(Boolean).map(Number);
}
const dir = mkdtempSync(join(tmpdir(), "wireyard-nf-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!haveTshark)("netfilter captures in tshark", () => {
  it("every hop of published ports, masquerade, hairpin, REJECT and RELATED errors decodes cleanly", () => {
    const file = join(dir, "nat.pcapng");
    const d = dockerHost({ capture: new FileSink(file), userlandProxy: false });
    dockerHostServers(d);
    const steps = [
      udpStep(d, "cl", 40001, "192.168.1.10", 5353),
      tcpStep(d, "cl", 40002, "192.168.1.10", 8080),
      udpStep(d, "c2", 40000, "192.168.1.20", 7),
      udpStep(d, "c3", 40000, "192.168.1.20", 7),
      tcpStep(d, "c3", 40003, "192.168.1.10", 8080),
      tcpStep(d, "c2", 40004, "192.168.1.10", 8080),
      udpStep(d, "c3", 40005, "172.17.0.1", 5353),
    ];
    expect(steps.every((s) => / reply from | 100 bytes from /.test(s))).toBe(true);
    // an ICMP error of a masqueraded connection (nothing listens on the client's port 9)
    const sk = new UdpSocket(d.containers[0]!);
    sk.bind(40009);
    sk.sendTo(CLIENT_IP, 9, 10);
    d.engine.run(d.engine.clock.now + 1e9);
    expect(sk.icmpErrors).toBe(1);
    // REJECT: an ICMP error and a TCP reset from the host
    d.topology.iptables("host", d.topology.iptablesSave("host").replace("-A DOCKER-USER -j RETURN", "-A DOCKER-USER -p udp -j REJECT\n-A DOCKER-USER -p tcp -j REJECT --reject-with tcp-reset\n-A DOCKER-USER -j RETURN"));
    expect(udpStep(d, "cl", 40011, "192.168.1.10", 5353)).toContain("no reply");
    expect(tcpStep(d, "cl", 40012, "192.168.1.10", 8080)).toContain("failed");
    d.engine.capture!.close();
    expect(d.engine.conservation().ok).toBe(true);
    expect(countMatching(file, MALFORMED)).toEqual([]);
    expect(countMatching(file, BAD_CHECKSUM)).toEqual([]);
    // the checks ran: checksums were verified on every IPv4 frame
    const ipFrames = countMatching(file, "ip").length;
    expect(ipFrames).toBeGreaterThan(150);
    expect(countMatching(file, CHECKED).length).toBe(ipFrames);
    // what the NAT produced is there: translated ICMP errors (the quote inside too) and resets
    // (#1: the outer header; #2 the quoted one)
    const toC2 = "icmp.type == 3 && icmp.code == 3 && ip.src#1 == 192.168.1.20 && ip.dst#1 == 172.17.0.2 && ip.src#2 == 172.17.0.2 && udp.srcport == 40009";
    expect(countMatching(file, toC2).length).toBe(3); // out of docker0, out of c2's port, into c2
    expect(countMatching(file, "icmp.type == 3 && ip.src#1 == 192.168.1.10 && ip.dst#1 == 192.168.1.20 && ip.dst#2 == 192.168.1.10").length).toBe(2); // REJECT at host/eth0 and client/eth0
    expect(countMatching(file, "tcp.flags.reset == 1 && ip.src == 192.168.1.10 && tcp.srcport == 8080").length).toBe(2);
    // self-hairpin frames: source MAC = destination MAC, masqueraded to docker0's address
    expect(countMatching(file, "eth.src == eth.dst && ip.src == 172.17.0.1 && tcp.dstport == 80").length).toBeGreaterThan(0);
    const names = new Set(tshark(["-r", file, "-T", "fields", "-e", "frame.interface_name"]).split("\n").filter(Boolean));
    expect(names).toEqual(new Set(["client/eth0", "host/eth0", "host/docker0", "c2/eth0", "host/veth1a2b32", "c3/eth0", "host/veth1a2b33"]));
  });
});
