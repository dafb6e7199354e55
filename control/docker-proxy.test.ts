// docker-proxy and the announcements (docker-proxy.ts), end to end with real frames: the proxy
// alone between a client and a container it has no route to; then in plans from scenarios,
// published ports reached from outside (TCP and UDP, userland proxy on and off) and from
// containers on the same host, and the modern profile's unsolicited ARPs on the wire.
import { describe, expect, test } from "vitest";
import { startControlApps, startDockerProxy, UdpProxy, TcpProxy } from "./docker-proxy.js";
import { planFromScenario } from "./plan-from-scenario.js";
import { applyConfig } from "../dataplane/config.js";
import { Topology } from "../dataplane/topology.js";
import { UdpSocket } from "../dataplane/endpoint/udp-socket.js";
import { tcpConnect, tcpListen, tcpStack } from "../dataplane/endpoint/tcp.js";
import { formatIpv4, parseIpv4 } from "../core/addr.js";
import { MemorySink, newCaptureRecord, openCaptureBytes } from "../core/pcap/index.js";
import { dissectFrame, type Layer } from "../core/wire/frame.js";
import { WireError } from "../core/wire/error.js";
import type { ContainerSpec, HostSpec, NetworkSpec, Scenario } from "./scenario/types.js";

const S = 1e9;

// ---- endpoints -------------------------------------------------------------------------------------

/** A TCP echo server: every byte back, FIN after the client's. Records each peer. */
function echoServer(t: Topology, ns: string, port: number): { peers: string[]; eofs: number } {
  const st = { peers: [] as string[], eofs: 0 };
  const b = t.engine.arena.bytes;
  tcpListen(t.ns(ns), port, {
    connected: (sk) => void st.peers.push(formatIpv4(sk.raddr >>> 0)),
    received: (sk, off, len) => void sk.send(b.slice(off, off + len)),
    eof: (sk) => {
      st.eofs++;
      sk.close();
    },
    closed() {},
  });
  return st;
}

/** Connect, send `data`, close once as many bytes came back (an application closing earlier
 *  would reset the echo: data after close()); what came back, whether the peer's FIN came. */
function exchange(t: Topology, from: string, dst: string, dport: number, data: Uint8Array) {
  const r = { got: [] as number[], eof: false };
  const b = t.engine.arena.bytes;
  tcpConnect(t.ns(from), parseIpv4(dst), dport, {
    connected: (sk) => void (data.length > 0 && sk.send(data)),
    received: (sk, off, len) => {
      r.got.push(...b.subarray(off, off + len));
      if (data.length > 0 && r.got.length === data.length) sk.close();
    },
    eof: (sk) => {
      r.eof = true;
      sk.close();
    },
    closed() {},
  });
  t.run(t.engine.clock.now + 3 * S);
  return r;
}

const payload = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + (i >> 8)) & 0xff);

/** A UDP echo server recording where each datagram came from. */
function udpEchoAt(t: Topology, ns: string, port: number): string[] {
  const peers: string[] = [];
  const sk = new UdpSocket(t.ns(ns), {
    onReceive: (s, _slot, src, sport, pl, len) => {
      peers.push(`${formatIpv4(src >>> 0)}:${sport}`);
      s.sendArena(src, sport, pl, len);
    },
  });
  sk.bind(port);
  return peers;
}

/** A datagram from `from` (port `sport`, 0 = any): the replies as "A:P <bytes>". */
function udpAsk(t: Topology, from: string, sport: number, dst: string, dport: number, data: Uint8Array): string[] {
  const got: string[] = [];
  const b = t.engine.arena.bytes;
  const sk = new UdpSocket(t.ns(from), { onReceive: (_s, _slot, src, sp, pl, len) => void got.push(`${formatIpv4(src >>> 0)}:${sp} ${[...b.subarray(pl, pl + len)].join(",")}`) });
  sk.bind(sport);
  sk.sendTo(parseIpv4(dst), dport, data);
  t.run(t.engine.clock.now + S);
  sk.close();
  return got;
}

// ---- the proxy alone ---------------------------------------------------------------------------------

/** client (192.168.1.20) -- host (192.168.1.10, docker0 172.17.0.1) -- c2 (172.17.0.2); no
 *  iptables, and the client has no route to 172.17.0.0/16: only the proxy can connect them. */
function proxyHost(): Topology {
  const t = new Topology({ seed: 5 });
  for (const n of ["host", "client", "c2"]) t.netns(n);
  t.veth({ a: "host/eth0", b: "client/eth0" });
  t.addr("host/eth0", "192.168.1.10/24");
  t.addr("client/eth0", "192.168.1.20/24");
  t.bridge("host/docker0");
  t.addr("host/docker0", "172.17.0.1/16");
  t.veth({ a: "host/veth1", b: "c2/eth0" });
  t.master("host/veth1", "docker0");
  t.addr("c2/eth0", "172.17.0.2/16");
  t.route("c2", "default via 172.17.0.1 dev eth0");
  return t;
}

describe("docker-proxy on its own", () => {
  test("tcp: client -> host:8080 -> proxy -> container:80, bytes intact both ways, FINs passed on", () => {
    const t = proxyHost();
    const p = startDockerProxy(t, { ns: "host", proto: "tcp", hostIp: "0.0.0.0", hostPort: 8080, dst: "172.17.0.2", dport: 80 }) as TcpProxy;
    const srv = echoServer(t, "c2", 80);
    const data = payload(20000);
    const r = exchange(t, "client", "192.168.1.10", 8080, data);
    expect(Uint8Array.from(r.got)).toEqual(data);
    expect(r.eof).toBe(true); // the container's FIN, passed on by the proxy
    expect(srv.eofs).toBe(1); // the client's FIN, passed on
    expect(srv.peers).toEqual(["172.17.0.1"]); // the proxy's own connection, from docker0's address
    expect(p.counters).toEqual({ flows: 1, failed: 0, bytesToContainer: 20000, bytesToClient: 20000 });
    expect(t.conservation().ok).toBe(true);
  });

  test("tcp: the container closes first; its bytes and FIN reach the client, which has not closed", () => {
    const t = proxyHost();
    startDockerProxy(t, { ns: "host", proto: "tcp", hostIp: "0.0.0.0", hostPort: 8080, dst: "172.17.0.2", dport: 80 });
    tcpListen(t.ns("c2"), 80, { connected: (sk) => (sk.send(payload(300)), sk.close()), received() {}, eof() {}, closed() {} });
    const r = exchange(t, "client", "192.168.1.10", 8080, new Uint8Array(0));
    expect(Uint8Array.from(r.got)).toEqual(payload(300));
    expect(r.eof).toBe(true);
  });

  test("tcp: a client that half-closes (nc -N, HTTP/1.0) still gets the answer the container sends after its FIN", () => {
    const t = proxyHost();
    startDockerProxy(t, { ns: "host", proto: "tcp", hostIp: "0.0.0.0", hostPort: 8080, dst: "172.17.0.2", dport: 80 });
    const b = t.engine.arena.bytes;
    let asked = 0;
    // the container reads the request to its end, then answers and closes
    tcpListen(t.ns("c2"), 80, { connected() {}, received: (_sk, _o, len) => void (asked += len), eof: (sk) => (sk.send(payload(5000)), sk.close()), closed() {} });
    const got: number[] = [];
    let eof = false;
    const sk = tcpConnect(t.ns("client"), parseIpv4("192.168.1.10"), 8080, {
      connected: (s) => (s.send(payload(120)), s.shutdown()),
      received: (_s, off, len) => void got.push(...b.subarray(off, off + len)),
      eof: (s) => ((eof = true), s.close()),
      closed() {},
    });
    t.run(3 * S);
    expect(asked).toBe(120);
    expect(Uint8Array.from(got)).toEqual(payload(5000));
    expect(eof).toBe(true);
    expect(sk.error).toBe(0);
    expect(t.engine.errors().filter((d) => d.reason === "not-acceptable")).toEqual([]);
  });

  test("tcp: nothing listening in the container: the client's connection is closed, the failure counted", () => {
    const t = proxyHost();
    const p = startDockerProxy(t, { ns: "host", proto: "tcp", hostIp: "0.0.0.0", hostPort: 8080, dst: "172.17.0.2", dport: 80 }) as TcpProxy;
    tcpStack(t.ns("c2")); // the container's TCP layer, which answers a SYN to a closed port with a RST
    const r = exchange(t, "client", "192.168.1.10", 8080, payload(10));
    expect(r.got).toEqual([]);
    expect(r.eof).toBe(true);
    expect(p.counters.failed).toBe(1);
  });

  test("udp: one upstream socket per client, replies from the published port, flows forgotten after 90 s idle", () => {
    const t = proxyHost();
    const p = startDockerProxy(t, { ns: "host", proto: "udp", hostIp: "0.0.0.0", hostPort: 5353, dst: "172.17.0.2", dport: 53 }) as UdpProxy;
    const peers = udpEchoAt(t, "c2", 53);
    expect(udpAsk(t, "client", 40001, "192.168.1.10", 5353, Uint8Array.of(1, 2, 3))).toEqual(["192.168.1.10:5353 1,2,3"]);
    expect(udpAsk(t, "client", 40002, "192.168.1.10", 5353, Uint8Array.of(4, 5))).toEqual(["192.168.1.10:5353 4,5"]);
    expect(udpAsk(t, "client", 40001, "192.168.1.10", 5353, Uint8Array.of(6))).toEqual(["192.168.1.10:5353 6"]);
    expect(peers.map((x) => x.split(":")[0])).toEqual(["172.17.0.1", "172.17.0.1", "172.17.0.1"]);
    expect(peers[2]).toBe(peers[0]); // the first client's flow again
    expect(peers[1]).not.toBe(peers[0]);
    expect(p.activeFlows).toBe(2);
    expect(p.counters).toMatchObject({ flows: 2, bytesToContainer: 6, bytesToClient: 6 });
    t.run(t.engine.clock.now + 91 * S);
    expect(p.activeFlows).toBe(0);
  });

  test("one proxy per protocol and port: a second is refused with the port named", () => {
    const t = proxyHost();
    startDockerProxy(t, { ns: "host", proto: "tcp", hostIp: "0.0.0.0", hostPort: 8080, dst: "172.17.0.2", dport: 80 });
    expect(() => startDockerProxy(t, { ns: "host", proto: "tcp", hostIp: "0.0.0.0", hostPort: 8080, dst: "172.17.0.2", dport: 81 })).toThrow(/^docker-proxy tcp 0\.0\.0\.0:8080 -> 172\.17\.0\.2:81 in host: .*EADDRINUSE/);
  });
});

// ---- published ports in plans ------------------------------------------------------------------------

const host = (name: string, address: string, o: Partial<HostSpec> = {}): HostSpec => ({ name, address, userlandProxy: true, icc: true, ipMasq: true, docker: true, ...o });
const net = (name: string, hosts: string[], o: Partial<NetworkSpec> = {}): NetworkSpec => ({ name, driver: "bridge", hosts, icc: true, ipMasq: true, internal: false, ...o });
const ctr = (name: string, o: Partial<ContainerSpec> = {}): ContainerSpec => ({ name, host: "host1", mode: "bridge", networks: [{ network: "bridge" }], ports: [], ...o });

/** host1 with web (c2: -p 8080:80/tcp -p 5353:53/udp) and c3 on docker0, and a client. */
function published(userlandProxy: boolean, profile: Scenario["profile"] = "classic"): Scenario {
  const hosts = [host("host1", "192.168.1.10/24", { userlandProxy }), host("client", "192.168.1.20/24", { docker: false })];
  const ports: ContainerSpec["ports"] = [{ hostPort: 8080, containerPort: 80, proto: "tcp" }, { hostPort: 5353, containerPort: 53, proto: "udp" }];
  return {
    file: "test.yaml",
    seed: 1,
    profile,
    hosts,
    networks: [net("bridge", ["host1"]), net("host", ["host1"], { driver: "host" }), net("none", ["host1"], { driver: "none" })],
    containers: [ctr("c2", { ports }), ctr("c3")],
    links: [],
    traffic: [],
    capture: [],
    expect: [],
  };
}

function build(s: Scenario) {
  const plan = planFromScenario(s);
  const t = applyConfig(plan.config);
  const apps = startControlApps(t, plan);
  return { plan, t, apps };
}

describe("published ports from outside", () => {
  for (const proxy of [true, false]) {
    test(`userland-proxy ${proxy ? "on" : "off"}: the client reaches c2 by TCP and UDP through DNAT, its own address kept`, () => {
      const { t, plan, apps } = build(published(proxy));
      expect(plan.proxies.length).toBe(proxy ? 2 : 0);
      const srv = echoServer(t, "c2", 80);
      const peers = udpEchoAt(t, "c2", 53);
      const data = payload(5000);
      const r = exchange(t, "client", "192.168.1.10", 8080, data);
      expect(Uint8Array.from(r.got)).toEqual(data);
      expect(r.eof).toBe(true);
      expect(udpAsk(t, "client", 40001, "192.168.1.10", 5353, Uint8Array.of(9, 8, 7))).toEqual(["192.168.1.10:5353 9,8,7"]);
      // Docker's DNAT rule takes outside traffic before any proxy could: the container sees the client
      expect(srv.peers).toEqual(["192.168.1.20"]);
      expect(peers).toEqual(["192.168.1.20:40001"]);
      for (const p of apps.proxies) expect(p.counters.flows).toBe(0);
      expect(t.conservation().ok).toBe(true);
    });
  }

  test("userland-proxy on: a container reaches the host's published ports through the proxy, without hairpin NAT", () => {
    const { t, apps } = build(published(true));
    const srv = echoServer(t, "c2", 80);
    const peers = udpEchoAt(t, "c2", 53);
    const data = payload(3000);
    expect(Uint8Array.from(exchange(t, "c3", "192.168.1.10", 8080, data).got)).toEqual(data);
    // c2 to its own published port: the proxy's connection comes from docker0, no hairpin needed
    expect(Uint8Array.from(exchange(t, "c2", "192.168.1.10", 8080, data).got)).toEqual(data);
    expect(srv.peers).toEqual(["172.17.0.1", "172.17.0.1"]);
    // the reply's source is docker0's address, chosen by route (docker-proxy <= v27)
    expect(udpAsk(t, "c3", 40009, "192.168.1.10", 5353, Uint8Array.of(5))).toEqual(["172.17.0.1:5353 5"]);
    expect(peers.map((x) => x.split(":")[0])).toEqual(["172.17.0.1"]);
    const [tcp, udp] = apps.proxies;
    expect(tcp!.counters).toMatchObject({ flows: 2, failed: 0, bytesToContainer: 6000, bytesToClient: 6000 });
    expect(udp!.counters).toMatchObject({ flows: 1, bytesToContainer: 1, bytesToClient: 1 });
    // the nat table skipped them: the DNAT rule never matched a packet from docker0
    const dnat = t.iptablesSave("host1", { counters: true }).split("\n").find((l) => l.includes("--dport 8080 -j DNAT"))!;
    expect(dnat).toMatch(/^\[0:0\] -A DOCKER ! -i docker0 /);
  });
});

describe("UDP replies' source address", () => {
  test("route (<= v27): a container asking the host's eth0 address hears from docker0's; destination (v28+): from the address it asked", () => {
    for (const [from, want] of [["route", "172.17.0.1:5353 1"], ["destination", "192.168.1.10:5353 1"]] as const) {
      const plan = planFromScenario(published(true));
      const t = applyConfig(plan.config);
      startControlApps(t, plan, { udpReplyFrom: from });
      udpEchoAt(t, "c2", 53);
      expect(udpAsk(t, "c3", 40009, "192.168.1.10", 5353, Uint8Array.of(1))).toEqual([want]);
      // a client on the LAN is DNATed either way: the reply is un-NATed to the address it asked
      expect(udpAsk(t, "client", 40010, "192.168.1.10", 5353, Uint8Array.of(1))).toEqual(["192.168.1.10:5353 1"]);
    }
  });
});

// ---- announcements -------------------------------------------------------------------------------------

describe("unsolicited ARP (modern profile)", () => {
  test("three ARP requests 1 s apart from each container: broadcast, sender = target = its address, target MAC zero", () => {
    const plan = planFromScenario(published(true, "modern"));
    const t = applyConfig(plan.config);
    const sink = new MemorySink();
    t.capture(sink, ["c3/eth0"]);
    const apps = startControlApps(t, plan);
    t.run(5 * S);
    t.engine.capture!.close();
    const rd = openCaptureBytes(sink.bytes());
    const r = newCaptureRecord();
    const seen: string[] = [];
    while (rd.next(r)) {
      const f = dissectFrame(r.data);
      expect(f.error).toBe(WireError.OK);
      const eth = f.layers[0] as Extract<Layer, { kind: "eth" }>;
      const arp = f.layers[1] as Extract<Layer, { kind: "arp" }>;
      if (arp?.kind !== "arp") continue;
      seen.push(`${r.sec}.${r.nsec} ${(r.flags & 3) === 1 ? "in" : "out"} ${eth.dst === 0xffffffffffff ? "bcast" : eth.dst} op${arp.operation} ${formatIpv4(arp.senderIp)} ${formatIpv4(arp.targetIp)} ${arp.targetMac} ${arp.senderMac === eth.src}`);
    }
    const c2 = plan.announce[0]!;
    expect(c2).toEqual({ ref: "c2/eth0", ip: "172.17.0.2", count: 3, intervalNs: S, startNs: 0 });
    expect(seen).toEqual([
      "0.0 out bcast op1 172.17.0.3 172.17.0.3 0 true",
      "0.0 in bcast op1 172.17.0.2 172.17.0.2 0 true",
      "1.0 out bcast op1 172.17.0.3 172.17.0.3 0 true",
      "1.0 in bcast op1 172.17.0.2 172.17.0.2 0 true",
      "2.0 out bcast op1 172.17.0.3 172.17.0.3 0 true",
      "2.0 in bcast op1 172.17.0.2 172.17.0.2 0 true",
    ]);
    expect(apps.announcers.map((a) => a.sent)).toEqual([3, 3]);
    expect(t.conservation().ok).toBe(true);
  });
});
