// Scenarios to plans (plan-from-scenario.ts), and the plans built with applyConfig and run with
// real frames: docker0 as BEHAVIOR.md 1.3-1.5 and 1.9 describe it, pools, isolation between user
// bridges, icc=false, container:<name>, traffic resolution, several hosts, determinism.
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { planFromScenario, describeState, namespaceOf } from "./plan-from-scenario.js";
import { startControlApps } from "./docker-proxy.js";
import { DockerError } from "./cnm.js";
import { applyConfig, type TopologyOp } from "../dataplane/config.js";
import type { Topology } from "../dataplane/topology.js";
import { ping } from "../dataplane/endpoint/ping.js";
import { UdpSocket } from "../dataplane/endpoint/udp-socket.js";
import { tcpConnect, tcpListen } from "../dataplane/endpoint/tcp.js";
import { formatIpv4, parseIpv4 } from "../core/addr.js";
import type { ContainerSpec, HostSpec, NetworkSpec, Scenario } from "./scenario/types.js";

// ---- scenarios as the parser leaves them ---------------------------------------------------------

const host = (name: string, address: string, o: Partial<HostSpec> = {}): HostSpec => ({ name, address, userlandProxy: true, icc: true, ipMasq: true, docker: true, ...o });
const net = (name: string, hosts: string[], o: Partial<NetworkSpec> = {}): NetworkSpec => ({ name, driver: "bridge", hosts, icc: true, ipMasq: true, internal: false, ...o });
const ctr = (name: string, o: Partial<ContainerSpec> = {}): ContainerSpec => ({ name, host: "host1", mode: "bridge", networks: [{ network: "bridge" }], ports: [], ...o });

/** host1 (Docker, 192.168.1.10) and client (a plain machine, 192.168.1.20) unless `hosts`. */
function scenario(p: Partial<Scenario> = {}): Scenario {
  const hosts = p.hosts ?? [host("host1", "192.168.1.10/24"), host("client", "192.168.1.20/24", { docker: false })];
  const docker = hosts.filter((h) => h.docker).map((h) => h.name);
  const networks = [net("bridge", docker), net("host", docker, { driver: "host" }), net("none", docker, { driver: "none" }), ...(p.networks ?? [])];
  return { file: "test.yaml", seed: 1, profile: "classic", containers: [], links: [], traffic: [], capture: [], expect: [], ...p, hosts, networks };
}

function build(s: Scenario) {
  const plan = planFromScenario(s);
  const t = applyConfig(plan.config);
  const apps = startControlApps(t, plan);
  return { plan, t, apps };
}

const ops = (s: Scenario, kind: TopologyOp["op"]) => planFromScenario(s).config.ops.filter((o) => o.op === kind);
const S = 1e9;

function pingCount(t: Topology, from: string, dst: string, count = 3): number {
  const p = ping(t.ns(from), parseIpv4(dst), { count, intervalNs: S });
  t.run(t.engine.clock.now + (count + 1) * S);
  return p.received;
}

/** One datagram from `from`, 1 s for the answer: "reply from A:P" or "no reply". */
function udpOnce(t: Topology, from: string, dst: string, dport: number): string {
  let reply = "no reply";
  const sk = new UdpSocket(t.ns(from), { onReceive: (_s, _slot, src, sp) => (reply = `reply from ${formatIpv4(src >>> 0)}:${sp}`) });
  sk.sendTo(parseIpv4(dst), dport, Uint8Array.of(1, 2, 3, 4));
  t.run(t.engine.clock.now + S);
  sk.close();
  return reply;
}

/** A TCP server in `ns` answering each connection's bytes with as many, then closing. */
function tcpServer(t: Topology, ns: string, port: number): string[] {
  const peers: string[] = [];
  tcpListen(t.ns(ns), port, {
    connected: (sk) => void peers.push(formatIpv4(sk.raddr >>> 0)),
    received: (sk, _off, len) => void sk.send(len),
    eof: (sk) => sk.close(),
    closed() {},
  });
  return peers;
}

function tcpOnce(t: Topology, from: string, dst: string, dport: number): number {
  let got = 0;
  tcpConnect(t.ns(from), parseIpv4(dst), dport, { connected: (sk) => void sk.send(100), received: (_sk, _o, len) => void (got += len), eof: (sk) => sk.close(), closed() {} });
  t.run(t.engine.clock.now + 2 * S);
  return got;
}

// ---- docker0 -------------------------------------------------------------------------------------

describe("docker0 (BEHAVIOR.md 1.3-1.5)", () => {
  const s = scenario({ containers: [ctr("c2", { ports: [{ hostPort: 8080, containerPort: 80, proto: "tcp" }] }), ctr("c3")] });

  test("the ops: the host on the underlay, docker0 172.17.0.1/16, c2 = 172.17.0.2 with 02:42:ac:11:00:02 behind veth<7 hex>", () => {
    const all = planFromScenario(s).config.ops;
    expect(all.slice(0, 10)).toEqual([
      { op: "netns", name: "underlay" },
      { op: "bridge", ref: "underlay/lan" },
      { op: "netns", name: "host1" },
      { op: "veth", spec: { a: "underlay/host1", b: "host1/eth0" } },
      { op: "master", ref: "underlay/host1", bridge: "lan" },
      { op: "addr", ref: "host1/eth0", cidr: "192.168.1.10/24" },
      { op: "netns", name: "client" },
      { op: "veth", spec: { a: "underlay/client", b: "client/eth0" } },
      { op: "master", ref: "underlay/client", bridge: "lan" },
      { op: "addr", ref: "client/eth0", cidr: "192.168.1.20/24" },
    ]);
    const rest = all.slice(10);
    expect(rest[0]).toEqual({ op: "sysctl", ns: "host1", key: "net.ipv4.ip_forward", value: 1 });
    expect(rest[1]).toMatchObject({ op: "bridge", ref: "host1/docker0", spec: { mac: expect.stringMatching(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/) } });
    expect(rest[2]).toEqual({ op: "addr", ref: "host1/docker0", cidr: "172.17.0.1/16" });
    expect(rest[3]).toEqual({ op: "netns", name: "c2" });
    const veth = rest[4] as Extract<TopologyOp, { op: "veth" }>;
    expect(veth.spec).toEqual({ a: expect.stringMatching(/^host1\/veth[0-9a-f]{7}$/), b: "c2/eth0", peerMac: "02:42:ac:11:00:02" });
    expect(rest.slice(5, 8)).toEqual([
      { op: "master", ref: veth.spec.a, bridge: "docker0" },
      { op: "addr", ref: "c2/eth0", cidr: "172.17.0.2/16" },
      { op: "route", ns: "c2", args: "default via 172.17.0.1 dev eth0" },
    ]);
    expect(rest.filter((o) => o.op === "addr").map((o) => (o as { cidr: string }).cidr)).toEqual(["172.17.0.1/16", "172.17.0.2/16", "172.17.0.3/16"]);
    expect(rest.at(-1)!.op).toBe("iptables");
  });

  test("built with applyConfig: ping between containers, to the gateway and out to the client (masqueraded), real frames", () => {
    const { t } = build(s);
    expect(t.ip("c2", "addr")).toContain("link/ether 02:42:ac:11:00:02");
    expect(t.ip("c2", "route")).toContain("default via 172.17.0.1 dev eth0");
    expect(pingCount(t, "c2", "172.17.0.3")).toBe(3);
    expect(pingCount(t, "c2", "172.17.0.1")).toBe(3);
    expect(pingCount(t, "c2", "192.168.1.20")).toBe(3);
    expect(t.conntrack("host1").some((l) => l.includes("src=192.168.1.20 dst=192.168.1.10"))).toBe(true);
    // the client has no route to the containers' subnet
    expect(pingCount(t, "client", "172.17.0.2")).toBe(0);
    expect(t.conservation().ok).toBe(true);
  });

  test("iptables-save for -p 8080:80 equals BEHAVIOR.md 1.9's listing, rule for rule; FORWARD policy DROP", () => {
    const text = (ops(s, "iptables")[0] as Extract<TopologyOp, { op: "iptables" }>).rules;
    const listing = readFileSync(new URL("../dataplane/netfilter/fixtures/docker-behavior.txt", import.meta.url), "utf8");
    const section = listing.split(/^## /m).find((b) => b.startsWith("1.9"))!;
    const want = rulesByTable(section);
    // c3 has no port: the listing's one container is c2
    expect(rulesByTable(text)).toEqual(want);
    expect(want.get("nat")!.length + want.get("filter")!.length).toBe(18);
    expect(text).toContain(":FORWARD DROP [0:0]");
  });

  test("determinism: the same scenario gives the same plan; another seed other IDs, names and MACs", () => {
    expect(planFromScenario(s)).toEqual(planFromScenario(s));
    const other = planFromScenario({ ...s, seed: 2 });
    expect(JSON.stringify(other.config.ops)).not.toBe(JSON.stringify(planFromScenario(s).config.ops));
    const macs = (p: typeof other) => p.config.ops.filter((o) => o.op === "veth").map((o) => (o as Extract<TopologyOp, { op: "veth" }>).spec.peerMac);
    expect(macs(other)).toEqual(macs(planFromScenario(s))); // classic MACs depend on the address only
  });
});

/** "-A ..." lines of an iptables-save text or listing, per table, comments cut. */
function rulesByTable(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let cur: string[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) out.set(line.slice(1), (cur = []));
    else if (line.startsWith("-A ")) cur.push(line.replace(/\s+#.*$/, ""));
  }
  return out;
}

// ---- pools, networks, modes ----------------------------------------------------------------------

describe("networks and pools", () => {
  test("docker0 172.17, the first user network 172.18, the next 172.19; a pool overlapping the underlay is skipped", () => {
    const s = scenario({ networks: [net("front", ["host1"]), net("back", ["host1"])] });
    const nets = (x: Scenario) => describeState(x).hosts[0]!.networks.filter((n) => n.subnet).map((n) => `${n.name} ${n.bridge} ${n.subnet} ${n.gateway}`);
    const st = nets(s);
    expect(st[0]).toBe("bridge docker0 172.17.0.0/16 172.17.0.1");
    expect(st[1]).toMatch(/^front br-[0-9a-f]{12} 172\.18\.0\.0\/16 172\.18\.0\.1$/);
    expect(st[2]).toMatch(/^back br-[0-9a-f]{12} 172\.19\.0\.0\/16 172\.19\.0\.1$/);
    const onLan = scenario({ hosts: [host("host1", "172.18.0.10/16")], networks: [net("front", ["host1"])] });
    expect(nets(onLan).map((l) => l.split(" ")[2])).toEqual(["172.17.0.0/16", "172.19.0.0/16"]);
  });

  test("fixed addresses: in file order, --ip takes its address and the others the lowest free", () => {
    const s = scenario({
      networks: [net("lab", ["host1"], { subnet: "10.9.0.0/24" })],
      containers: [ctr("a", { networks: [{ network: "lab" }] }), ctr("b", { networks: [{ network: "lab", ip: "10.9.0.3" }] }), ctr("c", { networks: [{ network: "lab" }] })],
    });
    expect(describeState(s).containers.map((c) => c.interfaces[0]!.ip)).toEqual(["10.9.0.2", "10.9.0.3", "10.9.0.4"]);
    const taken = scenario({ ...s, containers: [...s.containers, ctr("d", { networks: [{ network: "lab", ip: "10.9.0.4" }] })] });
    expect(() => planFromScenario(taken)).toThrow("container d on network lab: 10.9.0.4: Address already in use");
  });

  test("two user bridges cannot reach each other (DOCKER-ISOLATION, counted), each reaches the outside", () => {
    const s = scenario({
      networks: [net("n1", ["host1"]), net("n2", ["host1"])],
      containers: [ctr("a", { networks: [{ network: "n1" }] }), ctr("b", { networks: [{ network: "n2" }] })],
    });
    const { t } = build(s);
    expect(pingCount(t, "a", "172.19.0.2")).toBe(0);
    expect(pingCount(t, "b", "172.18.0.2")).toBe(0);
    const save = t.iptablesSave("host1", { counters: true });
    const drops = save.split("\n").filter((l) => /-A DOCKER-ISOLATION-STAGE-2 -o br-[0-9a-f]{12} -j DROP$/.test(l)).map((l) => Number(/^\[(\d+):/.exec(l)![1]));
    expect(drops.reduce((x, y) => x + y, 0)).toBe(6);
    expect(pingCount(t, "a", "192.168.1.20")).toBe(3);
    expect(pingCount(t, "a", "172.18.0.1")).toBe(3);
  });

  test("icc=false: container to container on the network is dropped (counted), the gateway and the outside still answer", () => {
    const s = scenario({ networks: [net("quiet", ["host1"], { icc: false })], containers: [ctr("a", { networks: [{ network: "quiet" }] }), ctr("b", { networks: [{ network: "quiet" }] })] });
    const { t, plan } = build(s);
    expect(plan.config.ops).toContainEqual({ op: "sysctl", ns: "host1", key: "net.bridge.bridge-nf-call-iptables", value: 1 });
    expect(pingCount(t, "a", "172.18.0.3")).toBe(0);
    const drop = t.iptablesSave("host1", { counters: true }).split("\n").find((l) => /-A FORWARD -i (br-\w+) -o \1 -j DROP$/.test(l))!;
    expect(drop).toMatch(/^\[3:252\] /);
    expect(t.engine.errors().filter((e) => e.reason === "nf-drop").reduce((n, e) => n + e.count, 0)).toBe(3);
    expect(pingCount(t, "a", "172.18.0.1")).toBe(3);
    expect(pingCount(t, "a", "192.168.1.20")).toBe(3);
  });

  test("container:<name> shares the namespace (no interface of its own); none has loopback only; host lives in the host", () => {
    const s = scenario({
      containers: [ctr("web"), ctr("side", { mode: "container:web", networks: [] }), ctr("iso", { mode: "none", networks: [] }), ctr("hn", { mode: "host", networks: [] }), ctr("peer")],
    });
    const plan = planFromScenario(s);
    expect(plan.config.ops.filter((o) => o.op === "netns").map((o) => (o as { name: string }).name)).toEqual(["underlay", "host1", "client", "web", "iso", "peer"]);
    expect(plan.config.ops.filter((o) => o.op === "veth")).toHaveLength(4); // 2 hosts + web + peer
    const st = describeState(s);
    expect(st.containers.map((c) => [c.name, c.ns, c.interfaces.map((i) => `${i.ifname} ${i.ip}`)])).toEqual([
      ["web", "web", ["eth0 172.17.0.2"]],
      ["side", "web", ["eth0 172.17.0.2"]],
      ["iso", "iso", []],
      ["hn", "host1", []],
      ["peer", "peer", ["eth0 172.17.0.3"]],
    ]);
    expect(namespaceOf(st, "side")).toBe("web");
    expect(plan.report).toEqual([
      { ns: "host1", label: "host1" },
      { ns: "client", label: "client" },
      { ns: "web", label: "web" },
      { ns: "web", label: "side" },
      { ns: "iso", label: "iso" },
      { ns: "host1", label: "hn" },
      { ns: "peer", label: "peer" },
    ]);
    // a server "in side" is web's: peer reaches it at web's address
    const { t } = build(s);
    const peers = tcpServer(t, namespaceOf(st, "side"), 80);
    expect(tcpOnce(t, "peer", "172.17.0.2", 80)).toBe(100);
    expect(peers).toEqual(["172.17.0.3"]);
    expect(t.ip("iso", "addr")).toBe("");
  });

  test("errors name the container and say why", () => {
    const bad = (c: ContainerSpec, extra: Partial<Scenario> = {}) => () => planFromScenario(scenario({ containers: [c], ...extra }));
    expect(bad(ctr("x", { networks: [{ network: "nope" }] }))).toThrow("container x: network nope not found");
    expect(bad(ctr("x", { mode: "container:later", networks: [] }))).toThrow("container x: network mode container:later: No such container: later");
    expect(bad(ctr("x", { host: "client" }))).toThrow("container x: host client runs no Docker daemon");
    expect(bad(ctr("x", { networks: [{ network: "bridge", ip: "172.17.0.9" }] }))).toThrow("container x on network bridge: user specified IP address is supported on user defined networks only");
    expect(bad(ctr("underlay"))).toThrow(DockerError);
    expect(() => planFromScenario(scenario({ containers: [ctr("x"), ctr("x")] }))).toThrow('container "x": the name is taken');
    expect(bad(ctr("host1"))).toThrow('container "host1": the name is taken');
    expect(bad(ctr("x"), { links: [{ at: "ghost", direction: "both", delayNs: 1 }] })).toThrow("link impairment at ghost/eth0: no such interface");
  });
});

// ---- traffic, expectations, impairments -----------------------------------------------------------

describe("resolution of names", () => {
  const s = scenario({
    networks: [net("app", ["host1"])],
    containers: [ctr("web", { networks: [{ network: "app" }], ports: [{ hostPort: 8080, containerPort: 80, proto: "tcp" }, { hostPort: 5353, containerPort: 53, proto: "udp" }] }), ctr("db", { networks: [{ network: "app" }] }), ctr("other")],
    traffic: [
      { type: "tcp", from: "db", to: "web", port: 80, bytes: 1000, connections: 1, startNs: 0 },
      { type: "tcp", from: "client", to: "web", port: 80, bytes: 1000, connections: 1, startNs: 0 },
      { type: "udp", from: "client", to: "host1", port: 5353, flows: 1, packets: 4, ratePps: 10, size: 20, startNs: 0 },
      { type: "ping", from: "other", to: "web", count: 2, intervalNs: S, size: 56, startNs: 0 },
      { type: "udp", from: "host1", to: "172.18.0.3", port: 9, flows: 1, packets: 1, ratePps: 1, size: 8, startNs: 0 },
      { type: "replay", file: "x.pcap", into: "web", mode: "sent", timing: "asap", startNs: 0 },
    ],
    expect: [
      { from: "client", to: "host1", proto: "tcp", port: 8080, reachable: true },
      { from: "other", to: "db", proto: "icmp", reachable: false },
    ],
    capture: ["web/eth0", "host1/eth0"],
    links: [{ at: "db", direction: "egress", delayNs: 5e6 }],
    durationNs: 3e9,
  });
  const plan = planFromScenario(s);

  test("a shared network: the container's address there; elsewhere: its published port on the host's address", () => {
    expect(plan.traffic[0]).toMatchObject({ kind: "tcp", id: "t0", from: "db", dst: "172.18.0.2", dport: 80, sink: { ns: "web", port: 80 } });
    expect(plan.traffic[1]).toMatchObject({ kind: "tcp", from: "client", dst: "192.168.1.10", dport: 8080, sink: { ns: "web", port: 80 } });
    expect(plan.traffic[2]).toMatchObject({ kind: "udp", from: "client", dst: "192.168.1.10", dport: 5353, sink: { ns: "web", port: 53 } });
    // not on a shared network, no port: its address, which it cannot reach
    expect(plan.traffic[3]).toMatchObject({ kind: "ping", from: "other", dst: "172.18.0.2", count: 2 });
    expect(plan.traffic[4]).toMatchObject({ kind: "udp", from: "host1", dst: "172.18.0.3", sink: { ns: "db", port: 9 } });
    expect(plan.traffic[5]).toMatchObject({ kind: "replay", into: "web/eth0" });
  });

  test("expectations, captures, impairments, duration", () => {
    expect(plan.expect).toEqual([
      { label: "client -> host1 tcp/8080", from: "client", dst: "192.168.1.10", proto: "tcp", port: 8080, sink: { ns: "web", port: 80 }, reachable: true },
      { label: "other -> db icmp", from: "other", dst: "172.18.0.3", proto: "icmp", port: 0, sink: null, reachable: false },
    ]);
    expect(plan.capture).toEqual(["web/eth0", "host1/eth0"]);
    expect(plan.durationNs).toBe(3e9);
    const dbVeth = plan.config.ops.find((o) => o.op === "veth" && o.spec.b === "db/eth0") as Extract<TopologyOp, { op: "veth" }>;
    expect(dbVeth.spec.impair).toEqual({ ba: { delayNs: 5e6 } });
    expect(plan.proxies.map((p) => `${p.ns} ${p.proto} ${p.hostIp}:${p.hostPort} -> ${p.dst}:${p.dport}`)).toEqual(["host1 tcp 0.0.0.0:8080 -> 172.18.0.2:80", "host1 udp 0.0.0.0:5353 -> 172.18.0.2:53"]);
    expect(plan.announce).toEqual([]);
  });
});

// ---- several hosts ---------------------------------------------------------------------------------

describe("several Docker hosts", () => {
  const s = scenario({
    hosts: [host("host1", "192.168.1.10/24"), host("host2", "192.168.1.11/24"), host("client", "192.168.1.20/24", { docker: false })],
    containers: [ctr("web", { ports: [{ hostPort: 8080, containerPort: 80, proto: "tcp" }] }), ctr("app", { host: "host2" })],
    traffic: [{ type: "tcp", from: "app", to: "web", port: 80, bytes: 100, connections: 1, startNs: 0 }],
  });

  test("each host its own daemon: its own docker0 172.17.0.0/16, its containers from .2", () => {
    const st = describeState(s);
    expect(st.hosts.map((h) => [h.name, h.networks.find((n) => n.name === "bridge")?.subnet ?? null])).toEqual([["host1", "172.17.0.0/16"], ["host2", "172.17.0.0/16"], ["client", null]]);
    expect(st.containers.map((c) => `${c.name} ${c.host} ${c.interfaces[0]!.ip} ${c.interfaces[0]!.hostVeth.split("/")[0]}`)).toEqual(["web host1 172.17.0.2 host1", "app host2 172.17.0.2 host2"]);
    expect(st.hosts[0]!.networks.map((n) => n.id)).not.toEqual(st.hosts[1]!.networks.map((n) => n.id));
    const plan = planFromScenario(s);
    expect(plan.config.ops.filter((o) => o.op === "bridge").map((o) => (o as { ref: string }).ref)).toEqual(["underlay/lan", "host1/docker0", "host2/docker0"]);
    expect(plan.config.ops).toContainEqual({ op: "master", ref: expect.stringMatching(/^host2\/veth/), bridge: "docker0" });
    // across hosts a container is reached through its published port on its host
    expect(plan.traffic[0]).toMatchObject({ from: "app", dst: "192.168.1.10", dport: 8080, sink: { ns: "web", port: 80 } });
  });

  test("built: a container on host2 reaches host1's published port over the underlay", () => {
    const { t } = build(s);
    const peers = tcpServer(t, "web", 80);
    expect(tcpOnce(t, "app", "192.168.1.10", 8080)).toBe(100);
    expect(peers).toEqual(["192.168.1.11"]); // masqueraded by host2, DNATed by host1
    expect(pingCount(t, "app", "192.168.1.10")).toBe(3);
    expect(pingCount(t, "web", "192.168.1.11")).toBe(3);
    // both have 172.17.0.2: each host's docker0 is its own
    expect(udpOnce(t, "client", "192.168.1.11", 9)).toBe("no reply");
  });
});

describe("the modern profile", () => {
  test("random MACs, the current rule layout, three announcements per container interface", () => {
    const s = scenario({ profile: "modern", containers: [ctr("c2"), ctr("c3")] });
    const plan = planFromScenario(s);
    const veths = plan.config.ops.filter((o) => o.op === "veth" && o.spec.b.endsWith("/eth0") && !o.spec.a.startsWith("underlay")) as Extract<TopologyOp, { op: "veth" }>[];
    expect(veths.map((v) => String(v.spec.peerMac).startsWith("02:42:ac:11"))).toEqual([false, false]);
    expect(plan.announce).toEqual([
      { ref: "c2/eth0", ip: "172.17.0.2", count: 3, intervalNs: S, startNs: 0 },
      { ref: "c3/eth0", ip: "172.17.0.3", count: 3, intervalNs: S, startNs: 0 },
    ]);
    const rules = (plan.config.ops.find((o) => o.op === "iptables") as Extract<TopologyOp, { op: "iptables" }>).rules;
    expect(rules).toContain("-A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP");
    const { t } = build(s);
    expect(pingCount(t, "c2", "172.17.0.3")).toBe(3);
  });
});

describe("userland-proxy=false: hairpin NAT (BEHAVIOR.md 1.11, 5.5-5.7)", () => {
  const s = scenario({
    hosts: [host("host1", "192.168.1.10/24", { userlandProxy: false }), host("client", "192.168.1.20/24", { docker: false })],
    containers: [ctr("c2", { ports: [{ hostPort: 8080, containerPort: 80, proto: "tcp" }, { hostPort: 5353, containerPort: 53, proto: "udp" }] }), ctr("c3")],
  });

  test("every endpoint's bridge port gets hairpin on, and no docker-proxy runs", () => {
    const plan = planFromScenario(s);
    const ports = plan.config.ops.filter((o) => o.op === "master" && (o as { bridge: string }).bridge === "docker0").map((o) => (o as { ref: string }).ref);
    expect(ports.length).toBe(2);
    expect(plan.config.ops.filter((o) => o.op === "brport")).toEqual(ports.map((ref) => ({ op: "brport", ref, flags: { hairpin: true } })));
    expect(plan.proxies).toEqual([]);
    // and with the proxy on, no hairpin
    expect(planFromScenario(scenario({ containers: s.containers })).config.ops.filter((o) => o.op === "brport")).toEqual([]);
  });

  test("a container reaches its own published port through the host's address, and another container's", () => {
    const { t } = build(s);
    const peers = tcpServer(t, "c2", 80);
    expect(tcpOnce(t, "c2", "192.168.1.10", 8080)).toBe(100);
    expect(tcpOnce(t, "c3", "192.168.1.10", 8080)).toBe(100);
    // to itself: masqueraded to the gateway by the per-port rule (-s 172.17.0.2 -d 172.17.0.2
    // --dport 80 -j MASQUERADE), or its own replies would never come back through the DNAT; from
    // c3: bridged to c2 unchanged (no rule masquerades it), the reply un-DNATed on the bridge
    expect(peers).toEqual(["172.17.0.1", "172.17.0.3"]);
    const sk = new UdpSocket(t.ns("c2"), { onReceive: (k, _slot, src, sport, off, len) => void k.sendArena(src, sport, off, len) });
    sk.bind(53);
    expect(udpOnce(t, "c3", "192.168.1.10", 5353)).toBe("reply from 192.168.1.10:5353");
    expect(t.engine.errors().filter((d) => d.reason === "hairpin-off")).toEqual([]);
  });
});
