// The hooks of a namespace's stack (hooks.ts) beyond Docker's own rules: REJECT's answers and
// their translation, RELATED ICMP errors of translated connections, packets the stack builds
// passing OUTPUT, conntrack-full and INVALID, MASQUERADE's address by route, NAT decided once per
// connection, interfaces added after the rules, and a namespace without rules unchanged.
import { describe, expect, test } from "vitest";
import { dockerHost, CLIENT_IP, HOST_IP, C2_IP, type DockerHost } from "../topologies/docker-host.js";
import { UdpSocket, udpEcho, ECONNREFUSED } from "../endpoint/udp-socket.js";
import { tcpConnect, tcpListen, type TcpApp, type TcpSocket } from "../endpoint/tcp.js";
import { ping } from "../endpoint/ping.js";
import { formatIpv4 } from "../../core/addr.js";
import { MemorySink, newCaptureRecord, openCaptureBytes } from "../../core/pcap/index.js";
import { dissectFrame, type Layer } from "../../core/wire/frame.js";
import { WireError } from "../../core/wire/error.js";
import { docker0, pingC2toC3 } from "../topologies/docker0.js";
import { Topology } from "../topology.js";

const S = 1e9;
const NONE: TcpApp = { connected() {}, received() {}, eof() {}, closed() {} };

/** Docker's rules with `rule` first in DOCKER-USER (classic layout: `-j RETURN` ends it). */
function withUserRule(d: DockerHost, rule: string): void {
  const text = d.topology.iptablesSave("host").replace("-A DOCKER-USER -j RETURN", `${rule}\n-A DOCKER-USER -j RETURN`);
  d.topology.iptables("host", text);
}

/** The IPv4 frames at one capture point, dissected (every checksum verified): layer lists. */
function framesAt(sink: MemorySink, point: string): Layer[][] {
  const rd = openCaptureBytes(sink.bytes());
  const r = newCaptureRecord();
  const out: Layer[][] = [];
  while (rd.next(r)) {
    if (r.interfaceName !== point) continue;
    const f = dissectFrame(r.data);
    expect(f.error).toBe(WireError.OK);
    if (f.layers[1]?.kind === "ipv4") out.push(f.layers);
  }
  return out;
}
const ipOf = (l: Layer[], k = 1) => l[k] as Extract<Layer, { kind: "ipv4" }>;
const nfErrors = (d: { engine: DockerHost["engine"] }) => d.engine.errors().filter((e) => /^(nf-|conntrack-)/.test(e.reason));

describe("REJECT", () => {
  test("icmp-port-unreachable in FORWARD for a DNATed datagram: the error comes from the published address and quotes the datagram as the client sent it", () => {
    const sink = new MemorySink();
    const d = dockerHost({ capture: sink });
    udpEcho(d.containers[0]!, 53);
    withUserRule(d, "-A DOCKER-USER -p udp -m udp --dport 53 -j REJECT");
    const sk = new UdpSocket(d.client);
    sk.bind(40001);
    sk.connect(HOST_IP, 5353);
    sk.send(10);
    d.engine.run(1 * S);
    expect(sk.rxPackets).toBe(0);
    expect([sk.icmpErrors, sk.lastIcmpType, sk.lastIcmpCode, formatIpv4(sk.lastIcmpFrom >>> 0)]).toEqual([1, 3, 3, "192.168.1.10"]);
    expect(sk.takeError()).toBe(ECONNREFUSED);
    d.engine.capture!.close();
    const err = framesAt(sink, "client/eth0").find((l) => l[2]!.kind === "icmp")!;
    // outer: from the address the client used; quoted: the datagram before DNAT
    expect([formatIpv4(ipOf(err).src), formatIpv4(ipOf(err).dst), ipOf(err).tos, ipOf(err).ttl]).toEqual(["192.168.1.10", "192.168.1.20", 0xc0, 64]);
    const quoted = ipOf(err, 3);
    expect([formatIpv4(quoted.src), formatIpv4(quoted.dst)]).toEqual(["192.168.1.20", "192.168.1.10"]);
    expect((err[4] as { dstPort: number }).dstPort).toBe(5353);
    expect(nfErrors(d)).toEqual([{ device: "host", reason: "nf-reject", count: 1 }]);
    expect(d.topology.conntrack("host")).toEqual([]); // the rejected connection was never confirmed
    expect(d.engine.conservation().ok).toBe(true);
  });

  test("tcp-reset: the client's connect is refused by a RST from the published address (id 0, DF, TTL 64, window 0)", () => {
    const sink = new MemorySink();
    const d = dockerHost({ capture: sink });
    tcpListen(d.containers[0]!, 80, NONE);
    withUserRule(d, "-A DOCKER-USER -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset");
    let closedWith = 0;
    tcpConnect(d.client, HOST_IP, 8080, { ...NONE, closed: (sk: TcpSocket) => (closedWith = sk.error) }, 40002);
    d.engine.run(1 * S);
    expect(closedWith).toBe(-111); // ECONNREFUSED
    d.engine.capture!.close();
    const rst = framesAt(sink, "client/eth0").find((l) => (l[2] as { flags?: number }).flags === 0x14)!;
    const ip = ipOf(rst);
    const tcp = rst[2] as Extract<Layer, { kind: "tcp" }>;
    expect([formatIpv4(ip.src), tcp.srcPort, formatIpv4(ip.dst), tcp.dstPort]).toEqual(["192.168.1.10", 8080, "192.168.1.20", 40002]);
    expect([ip.ident, ip.df, ip.ttl, tcp.window, tcp.seq]).toEqual([0, true, 64, 0, 0]);
    expect(framesAt(sink, "c2/eth0")).toEqual([]); // nothing reached the container
    expect(nfErrors(d)).toEqual([{ device: "host", reason: "nf-reject", count: 1 }]);
  });

  test("REJECT of bridged traffic (icc): the host answers through docker0, from docker0's address", () => {
    const d = dockerHost();
    udpEcho(d.containers[0]!, 53);
    withUserRule(d, "-A DOCKER-USER -i docker0 -o docker0 -j REJECT --reject-with icmp-host-prohibited");
    const sk = new UdpSocket(d.containers[1]!);
    sk.sendTo(C2_IP, 53, 10);
    d.engine.run(1 * S);
    expect([sk.rxPackets, sk.icmpErrors, sk.lastIcmpCode, formatIpv4(sk.lastIcmpFrom >>> 0)]).toEqual([0, 1, 10, "172.17.0.1"]);
    expect(nfErrors(d)).toEqual([{ device: "host/docker0", reason: "nf-reject", count: 1 }]);
  });
});

describe("RELATED ICMP errors and NAT", () => {
  test("a port unreachable answering a masqueraded datagram reaches the container with outer and quoted headers translated back", () => {
    const sink = new MemorySink();
    const d = dockerHost({ capture: sink });
    const sk = new UdpSocket(d.containers[0]!);
    sk.bind(40000);
    sk.connect(CLIENT_IP, 9); // nothing listens there
    sk.send(10);
    d.engine.run(1 * S);
    expect([sk.icmpErrors, sk.lastIcmpType, sk.lastIcmpCode, formatIpv4(sk.lastIcmpFrom >>> 0)]).toEqual([1, 3, 3, "192.168.1.20"]);
    d.engine.capture!.close();
    const atClient = framesAt(sink, "client/eth0").find((l) => l[2]!.kind === "icmp")!;
    expect([formatIpv4(ipOf(atClient).dst), formatIpv4(ipOf(atClient, 3).src)]).toEqual(["192.168.1.10", "192.168.1.10"]);
    const atC2 = framesAt(sink, "c2/eth0").find((l) => l[2]!.kind === "icmp")!;
    expect([formatIpv4(ipOf(atC2).src), formatIpv4(ipOf(atC2).dst), ipOf(atC2).ttl]).toEqual(["192.168.1.20", "172.17.0.2", 63]);
    expect([formatIpv4(ipOf(atC2, 3).src), (atC2[4] as { srcPort: number }).srcPort]).toEqual(["172.17.0.2", 40000]);
    expect(d.engine.conservation().ok).toBe(true);
  });

  test("a time exceeded from the host for a DNATed packet quotes it as the client sent it (the error is RELATED to the unconfirmed entry)", () => {
    const sink = new MemorySink();
    const d = dockerHost({ capture: sink });
    const sk = new UdpSocket(d.client, { ttl: 1 });
    sk.bind(40001);
    sk.sendTo(HOST_IP, 5353, 10);
    d.engine.run(1 * S);
    expect([sk.icmpErrors, sk.lastIcmpType, formatIpv4(sk.lastIcmpFrom >>> 0)]).toEqual([1, 11, "192.168.1.10"]);
    d.engine.capture!.close();
    const err = framesAt(sink, "client/eth0").find((l) => l[2]!.kind === "icmp")!;
    expect([formatIpv4(ipOf(err, 3).dst), (err[4] as { dstPort: number }).dstPort]).toEqual(["192.168.1.10", 5353]);
    expect(d.topology.conntrack("host")).toEqual([]);
    expect(d.host.netfilter!.ct!.count).toBe(0);
  });
});

describe("packets the stack builds pass OUTPUT and POSTROUTING", () => {
  test("echo replies: dropped by an OUTPUT rule (nf-drop) after conntrack saw them", () => {
    const d = dockerHost();
    const p = ping(d.client, HOST_IP, { count: 2, ident: 7 });
    d.engine.run(3 * S);
    expect(p.received).toBe(2);
    const blocked = dockerHost();
    blocked.topology.iptables("host", "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p icmp -m icmp --icmp-type 0 -j DROP\nCOMMIT\n");
    const q = ping(blocked.client, HOST_IP, { count: 2, ident: 7 });
    blocked.engine.run(3 * S);
    expect(q.received).toBe(0);
    expect(nfErrors(blocked)).toEqual([{ device: "host", reason: "nf-drop", count: 2 }]);
    expect(blocked.topology.iptablesSave("host", { counters: true })).toContain("[2:168] -A OUTPUT -p icmp -m icmp --icmp-type 0 -j DROP");
    // conntrack saw the replies at OUTPUT before filter dropped them: not [UNREPLIED] (a kernel
    // with the same rule lists `icmp 1 28 src=10.7.0.2 dst=10.7.0.1 type=8 code=0 id=1848
    // src=10.7.0.1 dst=10.7.0.2 type=0 code=0 id=1848 mark=0 use=1` after an unanswered ping)
    expect(blocked.topology.conntrack("host").map((l) => l.replace(/ \d+ src/, " T src"))).toEqual([
      "icmp     1 T src=192.168.1.20 dst=192.168.1.10 type=8 code=0 id=7 src=192.168.1.10 dst=192.168.1.20 type=0 code=0 id=7 mark=0 use=1",
    ]);
  });

  test("the host to its own published port (hairpin rules): OUTPUT DNAT, a new route out of docker0, masqueraded as a local source (a kernel gives the same: the server sees 172.17.0.1:40020)", () => {
    const d = dockerHost({ userlandProxy: false });
    let seen = "";
    tcpListen(d.containers[0]!, 80, { ...NONE, connected: (sk: TcpSocket) => (seen = `${formatIpv4(sk.raddr >>> 0)}:${sk.rport}`) });
    let peer = "";
    tcpConnect(d.host, HOST_IP, 8080, { ...NONE, connected: (sk: TcpSocket) => (peer = `${formatIpv4(sk.raddr >>> 0)}:${sk.rport}`) }, 40020);
    d.engine.run(1 * S);
    expect([seen, peer]).toEqual(["172.17.0.1:40020", "192.168.1.10:8080"]);
    expect(d.topology.conntrack("host").map((l) => l.replace(/ \d+ ESTABLISHED/, " T ESTABLISHED"))).toEqual([
      "tcp      6 T ESTABLISHED src=192.168.1.10 dst=192.168.1.10 sport=40020 dport=8080 src=172.17.0.2 dst=172.17.0.1 sport=80 dport=40020 [ASSURED] mark=0 use=1",
    ]);
  });

  test("SNAT at INPUT: the local socket sees the new source, its answer is un-NATed at OUTPUT", () => {
    const d = dockerHost();
    d.topology.iptables("host", d.topology.iptablesSave("host").replace(":POSTROUTING ACCEPT [0:0]\n", ":POSTROUTING ACCEPT [0:0]\n-A INPUT -p udp -j SNAT --to-source 192.168.1.99\n"));
    const saw: string[] = [];
    const echo = udpEcho(d.host, 7);
    echo.onReceive = (sk, _s, src, sport, p, len) => {
      saw.push(`${formatIpv4(src >>> 0)}:${sport}`);
      sk.sendArena(src, sport, p, len);
    };
    const sk = new UdpSocket(d.client, { onReceive: (_s, _slot, src, sport) => saw.push(`reply from ${formatIpv4(src >>> 0)}:${sport}`) });
    sk.bind(40030);
    sk.sendTo(HOST_IP, 7, 10);
    d.engine.run(1 * S);
    expect(saw).toEqual(["192.168.1.99:40030", "reply from 192.168.1.10:7"]);
  });

  test("MASQUERADE takes the address the route's interface has: a second uplink", () => {
    const d = dockerHost();
    const t = d.topology;
    const far = t.netns("far");
    t.veth({ a: "host/eth1", b: "far/eth0" });
    t.addr("host/eth1", "10.9.0.1/24");
    t.addr("far/eth0", "10.9.0.2/24");
    const seen: string[] = [];
    const echo = udpEcho(far, 7);
    echo.onReceive = (sk, _s, src, sport, payload, len) => {
      seen.push(`${formatIpv4(src >>> 0)}:${sport}`);
      sk.sendArena(src, sport, payload, len);
    };
    const sk = new UdpSocket(d.containers[0]!);
    sk.bind(40000);
    sk.sendTo(0x0a090002, 7, 10);
    sk.sendTo(CLIENT_IP, 7, 10);
    udpEcho(d.client, 7);
    d.engine.run(1 * S);
    expect(seen).toEqual(["10.9.0.1:40000"]);
    expect(sk.rxPackets).toBe(2);
  });
});

describe("conntrack on the path", () => {
  test("a full table drops new connections (conntrack-full) once nothing can be evicted; established ones go on", () => {
    const d = dockerHost({ netfilter: { conntrack: { max: 2, initialCapacity: 2 } } });
    const apps: TcpSocket[] = [];
    tcpListen(d.containers[0]!, 80, NONE);
    for (const sport of [40001, 40002]) tcpConnect(d.client, HOST_IP, 8080, { ...NONE, connected: (sk: TcpSocket) => apps.push(sk) }, sport);
    d.engine.run(1 * S);
    expect(apps.length).toBe(2); // both ASSURED now
    let third = false;
    tcpConnect(d.client, HOST_IP, 8080, { ...NONE, connected: () => (third = true) }, 40003);
    d.engine.run(2 * S);
    expect(third).toBe(false);
    expect(nfErrors(d)).toEqual([{ device: "host", reason: "conntrack-full", count: 2 }]); // the SYN and its retransmission
    expect(apps[0]!.send(10)).toBeGreaterThanOrEqual(0);
    d.engine.run(3 * S);
    expect(apps[0]!.unacked).toBe(0);
  });

  test("INVALID passes unless a rule drops it (then counted conntrack-invalid)", () => {
    const d = dockerHost();
    const sk = new UdpSocket(d.client);
    sk.bind(40001);
    // an echo reply nobody asked for is INVALID to conntrack; the host's stack takes it
    const reply = () => d.client.originate(new Uint8Array([0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 192, 168, 1, 20, 192, 168, 1, 10, 0, 0, 0xff, 0xfe, 0, 1, 0, 0].map((x, i, a) => (i === 10 || i === 11 ? ipCsum(a)[i - 10]! : x))));
    reply();
    d.engine.run(1 * S);
    expect(nfErrors(d)).toEqual([]);
    expect(d.host.netfilter!.ct!.invalid).toBe(1);
    d.topology.iptables("host", d.topology.iptablesSave("host").replace(":OUTPUT ACCEPT [0:0]\n", ":OUTPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate INVALID -j DROP\n"));
    reply();
    d.engine.run(2 * S);
    expect(nfErrors(d)).toEqual([{ device: "host", reason: "conntrack-invalid", count: 1 }]);
  });

  test("NAT is decided once per connection: new rules change new flows, not a flow that has its entry", () => {
    const d = dockerHost();
    const [c2, c3] = d.containers as [DockerHost["host"], DockerHost["host"]];
    const at: string[] = [];
    for (const c of [c2, c3]) {
      const e = udpEcho(c, 53);
      e.onReceive = (sk, _s, src, sport, p, len) => {
        at.push(c.name);
        sk.sendArena(src, sport, p, len);
      };
    }
    const old = new UdpSocket(d.client);
    old.bind(40001);
    old.sendTo(HOST_IP, 5353, 10);
    d.engine.run(1 * S);
    d.topology.iptables("host", d.topology.iptablesSave("host").replace("--to-destination 172.17.0.2:53", "--to-destination 172.17.0.3:53"));
    old.sendTo(HOST_IP, 5353, 10);
    const fresh = new UdpSocket(d.client);
    fresh.bind(40002);
    fresh.sendTo(HOST_IP, 5353, 10);
    d.engine.run(2 * S);
    expect(at).toEqual(["c2", "c2", "c3"]);
    expect([old.rxPackets, fresh.rxPackets]).toEqual([2, 1]);
  });

  test("rules naming an interface added later match it (the rules are compiled again)", () => {
    const d = dockerHost();
    const t = d.topology;
    t.iptables("host", "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -i eth9 -j DROP\nCOMMIT\n");
    const far = t.netns("far");
    t.veth({ a: "host/eth9", b: "far/eth0" });
    t.addr("host/eth9", "10.9.0.1/24");
    t.addr("far/eth0", "10.9.0.2/24");
    const p = ping(far, 0x0a090001, { count: 1 });
    d.engine.run(2 * S);
    expect(p.received).toBe(0);
    expect(nfErrors(d)).toEqual([{ device: "host", reason: "nf-drop", count: 1 }]);
  });
});

describe("trace", () => {
  test("trace add shows the hooks' decisions: the rule that dropped a bridged frame", () => {
    const d = dockerHost({ icc: false });
    const e = d.engine;
    e.trace.add({ device: d.containers[1]!, count: 1, match: { protocol: "udp", dport: 53 } });
    const sk = new UdpSocket(d.containers[1]!);
    sk.sendTo(C2_IP, 53, 10);
    e.run(1 * S);
    const text = e.trace.format(1);
    expect(text).toMatch(/docker0 +filter: DROP \(-A FORWARD -i docker0 -o docker0 -j DROP\)\n/);
    expect(text).toMatch(/docker0 +dropped: nf-drop/);
  });
});

describe("without rules", () => {
  test("docker0's ping is byte for byte what it was, with or without a ruleset elsewhere in the engine", () => {
    const bytes = (withRules: boolean) => {
      const sink = new MemorySink();
      const t = docker0(2, { capture: sink });
      if (withRules) {
        // rules in another namespace of the same engine change nothing on docker0
        const other = t.topology.netns("other");
        t.topology.iptables("other", "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n");
        expect(other.netfilter).not.toBeNull();
      }
      pingC2toC3(t);
      t.engine.capture!.close();
      expect(t.host.netfilter).toBeNull();
      return sink.bytes().slice();
    };
    expect(bytes(true)).toEqual(bytes(false));
  });

  test("a namespace with only filter rules has no conntrack; -m conntrack loads it", () => {
    const t = new Topology();
    t.netns("a");
    t.iptables("a", "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -j ACCEPT\nCOMMIT\n");
    expect(t.ns("a").netfilter!.ct).toBeNull();
    t.iptables("a", "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n");
    expect(t.ns("a").netfilter!.ct).not.toBeNull();
    expect(() => t.iptables("a", "*nat\n-A POSTROUTING -j DNAT --to-destination 10.0.0.1\nCOMMIT\n")).toThrow(/^a: iptables-restore.*DNAT is not allowed in chain POSTROUTING/);
  });
});

/** The header checksum bytes for a 20-byte IPv4 header given as numbers (its 10-11 ignored). */
function ipCsum(h: number[]): [number, number] {
  let s = 0;
  for (let i = 0; i < 20; i += 2) if (i !== 10) s += (h[i]! << 8) | h[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  const c = ~s & 0xffff;
  return [c >> 8, c & 0xff];
}
