// Docker's NAT and filtering end to end on the emulated host (dataplane/topologies/docker-host.ts):
// the stack's hooks, conntrack and NAT, and bridge netfilter, against what a real kernel did with
// the same topology, rules and steps (scripts/kernel-docker-host.sh ->
// fixtures/kernel/nat-docker-host.txt): every step's outcome, `conntrack -L` line for line (modulo
// timeouts and the random NAT port the kernel picked on a collision; the kernel's IGMP entries
// are not emulated), and `iptables-save -c` counters (chains the kernel's own IGMP reports pass,
// OUTPUT and POSTROUTING's policy and `--src-type LOCAL`, left out). Then the frames themselves.
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { dockerHost, dockerHostServers as servers, runSteps, tcpStep, udpStep, C2_IP, C3_IP, C4_IP, CLIENT_IP, HOST_IP, type DockerHostOptions } from "../topologies/docker-host.js";
import { udpEcho } from "../endpoint/udp-socket.js";
import { tcpConnect, type TcpSocket } from "../endpoint/tcp.js";
import { formatIpv4, parseIpv4 } from "../../core/addr.js";
import { MemorySink, newCaptureRecord, openCaptureBytes } from "../../core/pcap/index.js";
import { dissectFrame, type Layer } from "../../core/wire/frame.js";
import { WireError } from "../../core/wire/error.js";
import { formatIptablesSave, parseIptablesSave } from "./iptables-save.js";

// ---- the kernel's run ----------------------------------------------------------------------------

interface KernelRun {
  steps: string[];
  conntrack: string[];
  save: string;
}

function kernelRuns(): Map<string, KernelRun> {
  const text = readFileSync(new URL("./fixtures/kernel/nat-docker-host.txt", import.meta.url), "utf8");
  const out = new Map<string, KernelRun>();
  for (const part of text.split(/^## /m).slice(1)) {
    const lines = part.split("\n");
    const name = lines[0]!;
    const ct = lines.indexOf("# conntrack -L");
    const sv = lines.indexOf("# iptables-save -c");
    out.set(name, { steps: lines.slice(1, ct), conntrack: lines.slice(ct + 1, sv).filter((l) => l && !l.includes("224.0.0.22")), save: lines.slice(sv + 1).join("\n") });
  }
  return out;
}
const KERNEL = kernelRuns();

// ---- the same steps on the emulator (docker-host.ts runs them) ----------------------------------

const S = 1e9;

const SCENARIOS: Record<string, DockerHostOptions> = {
  proxy: {},
  hairpin: { userlandProxy: false },
  noicc: { icc: false },
  net2: { secondNetwork: true },
};

/** A conntrack -L line without its timeout; a NAT port the table picked at random (the kernel's
 *  differs) becomes RANDOM once checked to be in 1024-65535 and not the original. */
function normalizeCt(line: string): string {
  const f = line.split(/ +/);
  f[2] = "T";
  let s = f.join(" ");
  const m = /^udp .* src=(\S+) dst=192\.168\.1\.20 sport=(\d+) dport=7 src=192\.168\.1\.20 dst=192\.168\.1\.10 sport=7 dport=(\d+) /.exec(s);
  if (m && m[2] !== m[3]) {
    const p = Number(m[3]);
    expect(p).toBeGreaterThanOrEqual(1024);
    expect(p).toBeLessThanOrEqual(65535);
    s = s.replace(` dport=${p} `, " dport=RANDOM ");
  }
  return s;
}

/**
 * Counters of iptables-save -c that the kernel's IGMP reports (sent by the host on docker0, not
 * emulated) cannot have touched: every rule but `--src-type LOCAL`, and the policies of
 * PREROUTING, INPUT and FORWARD. With `firstOnly`, only what counts the first packet of each
 * connection (the nat table; filter's DOCKER chain and the jump to it; the icc rule): how many
 * segments a TCP exchange takes on the kernel depends on when the script's server closes (its
 * FIN before or after the client's), so rules counting every packet are compared only where the
 * steps are all UDP. "table chain-or-rule" -> "[p:b]".
 */
function counters(save: string, firstOnly = false): Map<string, string> {
  const m = new Map<string, string>();
  let table = "";
  for (const line of save.split("\n")) {
    if (line.startsWith("*")) table = line;
    const pol = /^:(PREROUTING|INPUT|FORWARD) \S+ (\[\d+:\d+\])$/.exec(line);
    if (pol && (!firstOnly || table === "*nat")) m.set(`${table} :${pol[1]}`, pol[2]!);
    const rule = /^(\[\d+:\d+\]) (-A .*)$/.exec(line);
    if (!rule || rule[2]!.includes("--src-type LOCAL")) continue;
    if (firstOnly && table !== "*nat" && !/^-A DOCKER |-j DOCKER$|-i docker0 -o docker0 -j/.test(rule[2]!)) continue;
    m.set(`${table} ${rule[2]}`, rule[1]!);
  }
  return m;
}

describe("the kernel's Docker host, step by step (fixtures/kernel/nat-docker-host.txt)", () => {
  for (const [name, opts] of Object.entries(SCENARIOS)) {
    test(`${name}: same outcomes, same conntrack entries, same rule counters`, () => {
      const k = KERNEL.get(name)!;
      expect(k.steps.length).toBeGreaterThan(0);
      const d = dockerHost(opts);
      servers(d);
      expect(runSteps(d, k.steps)).toEqual(k.steps);
      expect(d.topology.conntrack("host").map(normalizeCt).sort()).toEqual(k.conntrack.map(normalizeCt).sort());
      const tcp = k.steps.some((l) => l.startsWith("tcp"));
      const want = counters(k.save, tcp);
      const got = counters(d.topology.iptablesSave("host", { counters: true }), tcp);
      expect(want.size).toBeGreaterThan(tcp ? 8 : 20);
      expect(Object.fromEntries(got)).toEqual(Object.fromEntries(want));
      expect(d.engine.conservation().ok).toBe(true);
    });
  }
});

// ---- frames at every hop ----------------------------------------------------------------------------

type Ip = Extract<Layer, { kind: "ipv4" }>;
interface Seen {
  point: string;
  out: boolean;
  srcMac: number;
  dstMac: number;
  ip: Ip;
  sport: number;
  dport: number;
}

/** Every IPv4 frame of a capture, dissected (each must verify: checksums, lengths). */
function ipFrames(sink: MemorySink): Seen[] {
  const rd = openCaptureBytes(sink.bytes());
  const r = newCaptureRecord();
  const out: Seen[] = [];
  while (rd.next(r)) {
    const f = dissectFrame(r.data);
    expect(f.error).toBe(WireError.OK);
    const eth = f.layers[0] as Extract<Layer, { kind: "eth" }>;
    if (f.layers[1]?.kind !== "ipv4") continue;
    const l4 = f.layers[2] as { srcPort?: number; dstPort?: number };
    out.push({ point: r.interfaceName, out: (r.flags & 1) === 0, srcMac: eth.src, dstMac: eth.dst, ip: f.layers[1] as Ip, sport: l4.srcPort ?? -1, dport: l4.dstPort ?? -1 });
  }
  return out;
}

const tuple = (x: Seen) => `${formatIpv4(x.ip.src)}:${x.sport} > ${formatIpv4(x.ip.dst)}:${x.dport} ttl ${x.ip.ttl}`;
const MAC_C2 = 0x0242ac110002, MAC_C3 = 0x0242ac110003;

describe("frames", () => {
  test("a published UDP port: DNAT on the way in (routed: TTL - 1), the reply's source restored on the way out", () => {
    const sink = new MemorySink();
    const d = dockerHost({ capture: sink });
    servers(d);
    expect(udpStep(d, "cl", 40001, "192.168.1.10", 5353)).toBe("udp cl 40001 192.168.1.10 5353: reply from 192.168.1.10:5353");
    d.engine.capture!.close();
    const at = (p: string) => ipFrames(sink).filter((x) => x.point === p).map(tuple);
    expect(at("client/eth0")).toEqual(["192.168.1.20:40001 > 192.168.1.10:5353 ttl 64", "192.168.1.10:5353 > 192.168.1.20:40001 ttl 63"]);
    expect(at("c2/eth0")).toEqual(["192.168.1.20:40001 > 172.17.0.2:53 ttl 63", "172.17.0.2:53 > 192.168.1.20:40001 ttl 64"]);
    // the reply crossed docker0 up to the stack: past PREROUTING on the bridge, routed out of eth0
    expect(at("host/veth1a2b32")).toEqual(["192.168.1.20:40001 > 172.17.0.2:53 ttl 63", "172.17.0.2:53 > 192.168.1.20:40001 ttl 64"]);
    expect(d.engine.errors().filter((e) => e.reason.startsWith("nf") || e.reason.startsWith("conntrack"))).toEqual([]);
  });

  test("container egress is masqueraded to the host's eth0 address; two containers with one source port get two NAT ports", () => {
    const d = dockerHost();
    const seen: string[] = [];
    const echo = udpEcho(d.client, 7);
    echo.onReceive = (sk, _s, src, sport, payload, len) => {
      seen.push(`${formatIpv4(src >>> 0)}:${sport}`);
      sk.sendArena(src, sport, payload, len);
    };
    expect(udpStep(d, "c2", 40000, "192.168.1.20", 7)).toBe("udp c2 40000 192.168.1.20 7: reply from 192.168.1.20:7");
    expect(udpStep(d, "c3", 40000, "192.168.1.20", 7)).toBe("udp c3 40000 192.168.1.20 7: reply from 192.168.1.20:7");
    expect(seen[0]).toBe("192.168.1.10:40000");
    expect(seen[1]).toMatch(/^192\.168\.1\.10:\d+$/);
    expect(seen[1]).not.toBe(seen[0]);
    const lines = d.topology.conntrack("host");
    expect(lines.map(normalizeCt)).toEqual([
      "udp 17 T src=172.17.0.2 dst=192.168.1.20 sport=40000 dport=7 src=192.168.1.20 dst=192.168.1.10 sport=7 dport=40000 mark=0 use=1",
      "udp 17 T src=172.17.0.3 dst=192.168.1.20 sport=40000 dport=7 src=192.168.1.20 dst=192.168.1.10 sport=7 dport=RANDOM mark=0 use=1",
    ]);
    // the random port is the one the client saw
    expect(lines[1]).toContain(`dport=${seen[1]!.split(":")[1]} mark`);
  });

  test("hairpin (userland-proxy=false): a container reaching the published port lands on c2 bridged (TTL 64, its own source MAC), and on itself through MASQUERADE", () => {
    const sink = new MemorySink();
    const d = dockerHost({ capture: sink, userlandProxy: false });
    servers(d);
    expect(tcpStep(d, "c3", 40003, "192.168.1.10", 8080)).toBe("tcp c3 40003 192.168.1.10 8080: 100 bytes from 192.168.1.10:8080");
    expect(tcpStep(d, "c2", 40004, "192.168.1.10", 8080)).toBe("tcp c2 40004 192.168.1.10 8080: 100 bytes from 192.168.1.10:8080");
    d.engine.capture!.close();
    const frames = ipFrames(sink);
    // c3's SYN as c2 receives it: DNATed on the bridge, not routed
    const syn3 = frames.find((x) => x.point === "c2/eth0" && x.sport === 40003)!;
    expect(tuple(syn3)).toBe("172.17.0.3:40003 > 172.17.0.2:80 ttl 64");
    expect([syn3.srcMac, syn3.dstMac]).toEqual([MAC_C3, MAC_C2]);
    // c2's answer as c3 receives it: the source un-DNATed on the bridge
    const ack3 = frames.find((x) => x.point === "c3/eth0" && x.dport === 40003)!;
    expect(tuple(ack3)).toBe("192.168.1.10:8080 > 172.17.0.3:40003 ttl 64");
    expect([ack3.srcMac, ack3.dstMac]).toEqual([MAC_C2, MAC_C3]);
    // c2 to itself: back out of its own port, source MAC = destination MAC, source masqueraded
    // to docker0's address
    const syn2 = frames.find((x) => x.point === "c2/eth0" && !x.out && x.dport === 80 && x.sport === 40004)!;
    expect(tuple(syn2)).toBe("172.17.0.1:40004 > 172.17.0.2:80 ttl 64");
    expect([syn2.srcMac, syn2.dstMac]).toEqual([MAC_C2, MAC_C2]);
    const ack2 = frames.find((x) => x.point === "c2/eth0" && !x.out && x.dport === 40004)!;
    expect(tuple(ack2)).toBe("192.168.1.10:8080 > 172.17.0.2:40004 ttl 64");
    // nothing of it went up to the host's stack
    expect(frames.filter((x) => x.point === "host/docker0" && (x.sport === 40003 || x.sport === 40004 || x.dport === 40003 || x.dport === 40004))).toEqual([]);
    expect(d.engine.conservation().ok).toBe(true);
  });

  test("hairpin off on the port: the bridged DNAT frame back to its own port is dropped as hairpin-off, and its entry freed", () => {
    const d = dockerHost({ userlandProxy: false });
    servers(d);
    d.bridge.setPortFlags(1, { hairpin: false });
    expect(tcpStep(d, "c2", 40004, "192.168.1.10", 8080)).toBe("tcp c2 40004 192.168.1.10 8080: failed");
    // the SYN and its retransmission 1 s later
    expect(d.engine.errors()).toContainEqual({ device: "host/docker0", reason: "hairpin-off", count: 2 });
    expect(d.topology.conntrack("host")).toEqual([]);
    expect(d.host.netfilter!.ct!.audit()).toBeNull();
    expect(d.host.netfilter!.ct!.count).toBe(0);
  });

  test("icc=false: container to container on docker0 is dropped by FORWARD on the bridge, counted nf-drop, no entry left", () => {
    const d = dockerHost({ icc: false });
    servers(d);
    expect(udpStep(d, "c3", 40006, "172.17.0.2", 53)).toBe("udp c3 40006 172.17.0.2 53: no reply");
    expect(d.engine.errors()).toContainEqual({ device: "host/docker0", reason: "nf-drop", count: 1 });
    expect(d.topology.conntrack("host")).toEqual([]);
    // with icc the same datagram gets its answer
    const ok = dockerHost();
    servers(ok);
    expect(udpStep(ok, "c3", 40006, "172.17.0.2", 53)).toBe("udp c3 40006 172.17.0.2 53: reply from 172.17.0.2:53");
  });

  test("a second bridge network is isolated from docker0 both ways (DOCKER-ISOLATION in the host's FORWARD), reaches the outside", () => {
    const d = dockerHost({ secondNetwork: true });
    servers(d);
    expect(udpStep(d, "c4", 40008, "172.17.0.2", 53)).toBe("udp c4 40008 172.17.0.2 53: no reply");
    expect(udpStep(d, "c2", 40007, "172.18.0.2", 9)).toBe("udp c2 40007 172.18.0.2 9: no reply");
    expect(d.engine.errors()).toContainEqual({ device: "host", reason: "nf-drop", count: 2 });
    expect(udpStep(d, "c4", 40000, "192.168.1.20", 7)).toBe("udp c4 40000 192.168.1.20 7: reply from 192.168.1.20:7");
    // without the rules the two networks reach each other (the host routes between them)
    const open = dockerHost({ secondNetwork: true });
    servers(open);
    open.topology.iptables("host", "*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n");
    expect(udpStep(open, "c4", 40008, "172.17.0.2", 53)).toBe("udp c4 40008 172.17.0.2 53: reply from 172.17.0.2:53");
    expect(C4_IP).toBe(parseIpv4("172.18.0.2"));
  });

  test("bridge-nf-call-iptables=0: bridged frames skip the hooks (icc=false no longer applies)", () => {
    const d = dockerHost({ icc: false });
    servers(d);
    d.topology.sysctl("host", "net.bridge.bridge-nf-call-iptables", 0);
    expect(udpStep(d, "c3", 40006, "172.17.0.2", 53)).toBe("udp c3 40006 172.17.0.2 53: reply from 172.17.0.2:53");
    expect(d.engine.errors().filter((e) => e.reason === "nf-drop")).toEqual([]);
  });
});

describe("the current (v28+) rule layout", () => {
  test("published ports and masquerade work; reaching a container's address directly from outside is dropped in raw PREROUTING", () => {
    const d = dockerHost({ ruleProfile: "current" });
    servers(d);
    expect(udpStep(d, "cl", 40001, "192.168.1.10", 5353)).toBe("udp cl 40001 192.168.1.10 5353: reply from 192.168.1.10:5353");
    expect(tcpStep(d, "cl", 40002, "192.168.1.10", 8080)).toBe("tcp cl 40002 192.168.1.10 8080: 100 bytes from 192.168.1.10:8080");
    expect(udpStep(d, "c2", 40000, "192.168.1.20", 7)).toBe("udp c2 40000 192.168.1.20 7: reply from 192.168.1.20:7");
    expect(d.engine.errors().filter((e) => e.reason.startsWith("nf"))).toEqual([]);
    d.topology.route("client", "172.17.0.0/16 via 192.168.1.10 dev eth0");
    expect(udpStep(d, "cl", 40003, "172.17.0.2", 53)).toBe("udp cl 40003 172.17.0.2 53: no reply");
    expect(d.engine.errors()).toContainEqual({ device: "host", reason: "nf-drop", count: 1 });
    expect(d.topology.iptablesSave("host", { counters: true })).toContain("[1:52] -A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP");
    // the classic layout lets it through (its DOCKER chain accepts only the published port)
    const classic = dockerHost();
    servers(classic);
    classic.topology.route("client", "172.17.0.0/16 via 192.168.1.10 dev eth0");
    expect(udpStep(classic, "cl", 40003, "172.17.0.2", 53)).toBe("udp cl 40003 172.17.0.2 53: reply from 172.17.0.2:53");
  });
});

describe("dumps", () => {
  test("conntrack -L: a TCP connection through the published port, ESTABLISHED then TIME_WAIT", () => {
    const d = dockerHost();
    servers(d);
    let sock: TcpSocket | null = null;
    tcpConnect(d.client, HOST_IP, 8080, { connected: (sk) => (sock = sk), received() {}, eof() {}, closed() {} }, 40010);
    d.engine.run(0.5 * S);
    expect(sock).not.toBeNull();
    expect(d.topology.conntrack("host")).toEqual([
      "tcp      6 431999 ESTABLISHED src=192.168.1.20 dst=192.168.1.10 sport=40010 dport=8080 src=172.17.0.2 dst=192.168.1.20 sport=80 dport=40010 [ASSURED] mark=0 use=1",
    ]);
    expect([C2_IP, C3_IP, CLIENT_IP].map((a) => formatIpv4(a))).toEqual(["172.17.0.2", "172.17.0.3", "192.168.1.20"]);
  });

  test("iptables-save -c exports what parses back to the same rules and counters", () => {
    const d = dockerHost({ userlandProxy: false });
    servers(d);
    udpStep(d, "cl", 40001, "192.168.1.10", 5353);
    const text = d.topology.iptablesSave("host", { counters: true });
    expect(text).toContain("[1:52] -A DOCKER -p udp -m udp --dport 5353 -j DNAT --to-destination 172.17.0.2:53");
    expect(formatIptablesSave(parseIptablesSave(text), { counters: true })).toBe(text);
  });
});
