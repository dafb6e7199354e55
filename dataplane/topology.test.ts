// The Topology API: docker0 and a two-router path built with it alone forward as the same graph
// built device by device does (byte-identical captures); dumps read like iproute2's; every misuse
// is refused with a message naming it; veth impairments act and are counted; conservation holds.
import { describe, expect, it } from "vitest";
import { Topology, TopologyError } from "./topology.js";
import { Engine } from "./engine/engine.js";
import { Netns } from "./netns/netns.js";
import { Bridge } from "./devices/bridge.js";
import { ping } from "./endpoint/ping.js";
import { MemorySink, openCaptureBytes, newCaptureRecord } from "../core/pcap/index.js";
import { dissectFrame, type Layer } from "../core/wire/frame.js";
import { macIsLocal, macIsMulticast, parseIpv4 as ip, parseMac as mac } from "../core/addr.js";

function records(sink: MemorySink): { at: string; dir: "in" | "out"; bytes: Uint8Array }[] {
  const rd = openCaptureBytes(sink.bytes());
  const r = newCaptureRecord();
  const out: { at: string; dir: "in" | "out"; bytes: Uint8Array }[] = [];
  while (rd.next(r)) out.push({ at: r.interfaceName, dir: r.flags & 1 ? "in" : "out", bytes: r.data.slice() });
  return out;
}

/** The message of what `f` throws, checking it is a TopologyError. */
function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TopologyError);
    return (e as Error).message;
  }
  throw new Error("did not throw");
}

const HEX = (n: number) => n.toString(16).padStart(2, "0");

/** docker0 with containers c2..c(count+1), through the API only. */
function dockerTopology(count: number, seed = 1): Topology {
  const t = new Topology({ seed });
  t.netns("host");
  t.bridge("host/docker0", { mac: "02:42:5e:1a:2b:3c" });
  t.addr("host/docker0", "172.17.0.1/16");
  t.sysctl("host", "net.ipv4.ip_forward", 1);
  for (let n = 2; n < count + 2; n++) {
    t.netns(`c${n}`);
    t.veth({ a: `host/veth${n}`, b: `c${n}/eth0`, mac: `3e:00:00:00:00:${HEX(n)}`, peerMac: `02:42:ac:11:00:${HEX(n)}` });
    t.master(`host/veth${n}`, "docker0");
    t.addr(`c${n}/eth0`, `172.17.0.${n}/16`);
    t.route(`c${n}`, "default via 172.17.0.1 dev eth0");
  }
  return t;
}

/** The same docker0, device by device (the reference the API must reproduce). */
function dockerByHand(count: number, sink: MemorySink): Engine {
  const e = new Engine({ seed: 1 });
  e.openCapture(sink);
  const host = e.add(new Netns("host"));
  const br = e.add(new Bridge("host/docker0", { mac: mac("02:42:5e:1a:2b:3c"), ifname: "docker0" }));
  e.connect(host, host.addInterface("docker0", mac("02:42:5e:1a:2b:3c")), br, 0);
  host.addAddress("docker0", "172.17.0.1/16");
  host.ipForward = true;
  e.tap(host, 0, "host/docker0");
  for (let n = 2; n < count + 2; n++) {
    const c = e.add(new Netns(`c${n}`));
    const p = br.addPort(`veth${n}`, { mac: mac(`3e:00:00:00:00:${HEX(n)}`) });
    const eth0 = c.addInterface("eth0", mac(`02:42:ac:11:00:${HEX(n)}`));
    e.connect(br, p, c, eth0);
    c.addAddress("eth0", `172.17.0.${n}/16`);
    c.route("default via 172.17.0.1 dev eth0");
    e.tap(br, p, `host/veth${n}`);
    e.tap(c, eth0, `c${n}/eth0`);
  }
  return e;
}

describe("docker0 built with the API", () => {
  it("ping -c 3 172.17.0.3 from c2: 3 replies, the same bytes as the hand-built graph at every point", () => {
    const sink = new MemorySink();
    const t = dockerTopology(2);
    t.capture(sink, "all");
    const p = ping(t.ns("c2"), ip("172.17.0.3"), { count: 3 });
    t.run(2.5e9);
    t.engine.capture!.close();
    expect([p.transmitted, p.received, p.errors]).toEqual([3, 3, 0]);
    expect(t.conservation().ok).toBe(true);

    const refSink = new MemorySink();
    const ref = dockerByHand(2, refSink);
    const rp = ping(ref.device("c2") as Netns, ip("172.17.0.3"), { count: 3 });
    ref.run(2.5e9);
    ref.capture!.close();
    expect(rp.received).toBe(3);
    const got = records(sink);
    expect(new Set(got.map((r) => r.at))).toEqual(new Set(["host/docker0", "host/veth2", "c2/eth0", "host/veth3", "c3/eth0"]));
    // 2 ARP + 6 ICMP at each container-side point; docker0 saw only the ARP broadcast
    expect(got.filter((r) => r.at === "c3/eth0").length).toBe(8);
    expect(got.filter((r) => r.at === "host/docker0").length).toBe(1);
    expect(Buffer.from(sink.bytes()).equals(Buffer.from(refSink.bytes()))).toBe(true);
  });

  it("dumps read as iproute2 and bridge print them", () => {
    const t = dockerTopology(2);
    ping(t.ns("c2"), ip("172.17.0.3"), { count: 1 });
    t.run(1e9);
    expect(t.ip("host", "addr")).toBe(
      ["1: docker0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP", "    link/ether 02:42:5e:1a:2b:3c brd ff:ff:ff:ff:ff:ff", "    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0"].join("\n"),
    );
    expect(t.ip("c2", "route")).toBe("default via 172.17.0.1 dev eth0\n172.17.0.0/16 dev eth0 proto kernel scope link src 172.17.0.2");
    expect(t.ip("c2", "neigh")).toBe("172.17.0.3 dev eth0 lladdr 02:42:ac:11:00:03 REACHABLE");
    // c3 learned c2 from its request (STALE) and used the entry for its reply: DELAY
    expect(t.ip("c3", "neigh")).toBe("172.17.0.2 dev eth0 lladdr 02:42:ac:11:00:02 DELAY");
    const fdb = t.fdb("docker0").split("\n");
    expect(fdb).toContain("02:42:5e:1a:2b:3c dev docker0 master docker0 permanent");
    expect(fdb).toContain("02:42:ac:11:00:02 dev veth2 master docker0 ");
    expect(fdb).toContain("3e:00:00:00:00:03 dev veth3 master docker0 permanent");
  });

  it("looks devices up by name: namespaces, the bridge, its ports and interfaces", () => {
    const t = dockerTopology(2);
    expect(t.ns("c2").name).toBe("c2");
    expect(t.br("docker0").portNames).toEqual(["docker0", "veth2", "veth3"]);
    expect(t.dev("host/veth3")).toMatchObject({ kind: "bridge-port", ref: "host/veth3", port: 2, link: null });
    const self = t.dev("host/docker0");
    expect(self.kind === "interface" && self.bridge === t.br("docker0") && self.ns === t.ns("host")).toBe(true);
    expect(t.dev("c3/eth0")).toMatchObject({ kind: "interface", ref: "c3/eth0", port: 0, bridge: null });
  });
});

describe("a routed path built with the API", () => {
  // client 10.0.1.1 — r1 (10.0.1.254 | 10.0.2.1) — r2 (10.0.2.2 | 10.0.3.254, MTU 1400) — server 10.0.3.1
  const M = { c: "02:00:00:00:01:01", r1a: "02:00:00:00:01:fe", r1b: "02:00:00:00:02:01", r2a: "02:00:00:00:02:02", r2b: "02:00:00:00:03:fe", s: "02:00:00:00:03:01" };
  function routed(): Topology {
    const t = new Topology({ seed: 42, slots: 4096 });
    for (const n of ["client", "r1", "r2", "server"]) t.netns(n);
    t.veth({ a: "client/eth0", b: "r1/eth0", mac: M.c, peerMac: M.r1a });
    t.veth({ a: "r1/eth1", b: "r2/eth0", mac: M.r1b, peerMac: M.r2a });
    t.veth({ a: "r2/eth1", b: "server/eth0", mac: M.r2b, peerMac: M.s, mtu: 1400 });
    t.addr("client/eth0", "10.0.1.1/24");
    t.addr("r1/eth0", "10.0.1.254/24");
    t.addr("r1/eth1", "10.0.2.1/24");
    t.addr("r2/eth0", "10.0.2.2/24");
    t.addr("r2/eth1", "10.0.3.254/24");
    t.addr("server/eth0", "10.0.3.1/24");
    t.route("client", "default via 10.0.1.254 dev eth0");
    t.route("server", "default via 10.0.3.254 dev eth0");
    t.route("r1", "10.0.3.0/24 via 10.0.2.2 dev eth1");
    t.route("r2", "10.0.1.0/24 via 10.0.2.1 dev eth0");
    t.sysctl("r1", "net.ipv4.ip_forward", 1);
    t.sysctl("r2", "net.ipv4.conf.all.forwarding", 1);
    return t;
  }
  function routedByHand(sink: MemorySink): Engine {
    const e = new Engine({ seed: 42, slots: 4096 });
    e.openCapture(sink);
    const [client, r1, r2, server] = ["client", "r1", "r2", "server"].map((n) => e.add(new Netns(n))) as [Netns, Netns, Netns, Netns];
    e.connect(client, client.addInterface("eth0", mac(M.c)), r1, r1.addInterface("eth0", mac(M.r1a)));
    e.connect(r1, r1.addInterface("eth1", mac(M.r1b)), r2, r2.addInterface("eth0", mac(M.r2a)));
    e.connect(r2, r2.addInterface("eth1", mac(M.r2b), 1400), server, server.addInterface("eth0", mac(M.s), 1400));
    client.addAddress("eth0", "10.0.1.1/24");
    r1.addAddress("eth0", "10.0.1.254/24");
    r1.addAddress("eth1", "10.0.2.1/24");
    r2.addAddress("eth0", "10.0.2.2/24");
    r2.addAddress("eth1", "10.0.3.254/24");
    server.addAddress("eth0", "10.0.3.1/24");
    client.route("default via 10.0.1.254 dev eth0");
    server.route("default via 10.0.3.254 dev eth0");
    r1.route("10.0.3.0/24 via 10.0.2.2 dev eth1");
    r2.route("10.0.1.0/24 via 10.0.2.1 dev eth0");
    r1.ipForward = r2.ipForward = true;
    e.tap(client, 0, "client/eth0");
    e.tap(server, 0, "server/eth0");
    return e;
  }

  it("ping -c 3 client -> server: 3 replies, TTL 62 on arrival, the hand-built graph's bytes", () => {
    const t = routed();
    const sink = new MemorySink();
    t.capture(sink, ["client/eth0", "server/eth0"]);
    const p = ping(t.ns("client"), ip("10.0.3.1"), { count: 3 });
    t.run(20e9);
    t.engine.capture!.close();
    expect([p.transmitted, p.received, p.errors]).toEqual([3, 3, 0]);
    const atServer = records(sink).filter((r) => r.at === "server/eth0" && r.dir === "in" && r.bytes.length > 60);
    expect(atServer.map((r) => (dissectFrame(r.bytes).layers[1] as Extract<Layer, { kind: "ipv4" }>).ttl)).toEqual([62, 62, 62]);
    expect(t.conservation().ok).toBe(true);

    const refSink = new MemorySink();
    const ref = routedByHand(refSink);
    ping(ref.device("client") as Netns, ip("10.0.3.1"), { count: 3 });
    ref.run(20e9);
    ref.capture!.close();
    expect(Buffer.from(sink.bytes()).equals(Buffer.from(refSink.bytes()))).toBe(true);
  });

  it("dumps: addresses with their MTUs, routes in the kernel's order, neighbours by state", () => {
    const t = routed();
    ping(t.ns("client"), ip("10.0.3.1"), { count: 1 });
    t.run(1e9);
    expect(t.ip("r2", "addr")).toBe(
      [
        "1: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP",
        "    link/ether 02:00:00:00:02:02 brd ff:ff:ff:ff:ff:ff",
        "    inet 10.0.2.2/24 brd 10.0.2.255 scope global eth0",
        "2: eth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 state UP",
        "    link/ether 02:00:00:00:03:fe brd ff:ff:ff:ff:ff:ff",
        "    inet 10.0.3.254/24 brd 10.0.3.255 scope global eth1",
      ].join("\n"),
    );
    expect(t.ip("r1", "route")).toBe(
      ["10.0.1.0/24 dev eth0 proto kernel scope link src 10.0.1.254", "10.0.2.0/24 dev eth1 proto kernel scope link src 10.0.2.1", "10.0.3.0/24 via 10.0.2.2 dev eth1"].join("\n"),
    );
    expect(t.ip("r1", "neigh")).toBe(["10.0.1.1 dev eth0 lladdr 02:00:00:00:01:01 DELAY", "10.0.2.2 dev eth1 lladdr 02:00:00:00:02:02 REACHABLE"].join("\n"));
  });
});

describe("errors name what was wrong", () => {
  const cases: [string, (t: Topology) => unknown, string][] = [
    ["unknown namespace", (t) => t.ns("c9"), `"c9": no such namespace`],
    ["namespace twice", (t) => t.netns("c2"), `"c2": namespace exists already`],
    ["namespace name with a slash", (t) => t.netns("a/b"), `"a/b" is not a valid namespace name (1-255 characters, no '/' or spaces)`],
    ["veth into an unknown namespace", (t) => t.veth({ a: "c9/eth1", b: "c2/eth1" }), `"c9": no such namespace`],
    ["veth end that exists", (t) => t.veth({ a: "host/vethx", b: "c2/eth0" }), `"c2/eth0" exists already`],
    ["veth ends with one name", (t) => t.veth({ a: "c2/eth1", b: "c2/eth1" }), `"c2/eth1": both ends of a veth have the same name`],
    ["interface name of 16 characters", (t) => t.veth({ a: "c2/abcdefghijklmnop", b: "c3/eth1" }), `"c2/abcdefghijklmnop": interface name "abcdefghijklmnop" is 16 characters, Linux allows at most 15`],
    ["interface name with ':'", (t) => t.veth({ a: "c2/et:h1", b: "c3/eth1" }), `"c2/et:h1": "et:h1" is not a valid interface name (refs are "<namespace>/<ifname>"; no '/', ':' or spaces in a name)`],
    ["ref with two slashes", (t) => t.veth({ a: "c2/eth1/x", b: "c3/eth1" }), `"c2/eth1/x": "eth1/x" is not a valid interface name (refs are "<namespace>/<ifname>"; no '/', ':' or spaces in a name)`],
    ["bad MAC", (t) => t.veth({ a: "c2/eth1", b: "c3/eth1", mac: "02:42:zz:00:00:01" }), `c2/eth1: "02:42:zz:00:00:01": byte 3 ("zz") must be 1-2 hex digits`],
    ["multicast MAC", (t) => t.veth({ a: "c2/eth1", b: "c3/eth1", peerMac: "01:00:5e:00:00:01" }), `c3/eth1: MAC 01:00:5e:00:00:01 is a multicast address; an interface needs a unicast one`],
    ["MTU below 68", (t) => t.veth({ a: "c2/eth1", b: "c3/eth1", mtu: 40 }), `c2/eth1: MTU 40 must be an integer 68..65535`],
    ["bad impairment", (t) => t.veth({ a: "c2/eth1", b: "c3/eth1", impair: { ab: { loss: 2 } } }), `veth c2/eth1 c3/eth1: link veth:c2/eth1-c3/eth1 ab: loss 2 must be a fraction in [0, 1]`],
    ["prefix length 33", (t) => t.addr("c2/eth0", "172.17.0.9/33"), `c2/eth0: "172.17.0.9/33": prefix length must be 0..32`],
    ["address byte 256", (t) => t.addr("c2/eth0", "172.17.0.256/16"), `c2/eth0: "172.17.0.256/16": "172.17.0.256": part 4 (256) must be 0..255`],
    ["address twice", (t) => t.addr("c2/eth0", "172.17.0.2/16"), `"c2/eth0": address 172.17.0.2/16 exists already`],
    ["address on a bridge port", (t) => t.addr("host/veth2", "10.0.0.1/24"), `"host/veth2" is a port of bridge docker0, not an interface of namespace host (use host/docker0 for an address)`],
    ["address on a missing interface", (t) => t.addr("c2/eth7", "10.0.0.1/24"), `"c2/eth7": no such interface`],
    ["master: unknown bridge", (t) => t.master("host/veth2", "docker1"), `"docker1": no such bridge`],
    ["master: an interface in use", (t) => t.master("c2/eth0", "docker0"), `"c2/eth0" is in use as an interface of namespace c2 (addresses, routes, capture or run made it one): enslave a veth end before using it`],
    ["master: the bridge's own interface", (t) => t.master("host/docker0", "docker0"), `"host/docker0" is bridge docker0's own interface: it cannot be a bridge port`],
    ["master: across namespaces", (t) => (t.veth({ a: "c2/eth1", b: "c3/eth1" }), t.master("c2/eth1", "docker0")), `"c2/eth1" is in namespace c2 but bridge docker0 in host: a port and its bridge share a namespace`],
    ["master: moving a port", (t) => (t.bridge("host/br1"), t.master("host/veth2", "br1")), `"host/veth2" is a port of bridge docker0 already (moving a port is not supported)`],
    ["master: a loose end whose name is taken", (t) => (t.veth({ a: "veth2", b: "c2/eth1" }), t.master("veth2", "docker0")), `"host/veth2" exists already`],
    ["route via a missing device", (t) => t.route("c2", "10.1.0.0/16 via 172.17.0.1 dev eth9"), `c2: ip route add 10.1.0.0/16 via 172.17.0.1 dev eth9: Cannot find device "eth9"`],
    ["route twice", (t) => t.route("c2", "default via 172.17.0.1 dev eth0"), `c2: ip route add default via 172.17.0.1 dev eth0: RTNETLINK answers: File exists`],
    ["route with prefix length 40", (t) => t.route("c2", "10.0.0.0/40 dev eth0"), `c2: ip route add 10.0.0.0/40 dev eth0: "10.0.0.0/40": prefix length must be 0..32`],
    ["route via a bridge port", (t) => t.route("host", "10.9.0.0/16 dev veth2"), `"host/veth2" is a port of bridge docker0, not an interface of namespace host (use host/docker0 for a route)`],
    ["neighbour with a bad address", (t) => t.neigh("c2", { dev: "eth0", ip: "172.17.0.300", mac: "02:42:ac:11:00:09" }), `c2/eth0: neighbour: "172.17.0.300": part 4 (300) must be 0..255`],
    ["neighbour on a missing interface", (t) => t.neigh("c2", { dev: "eth5", ip: "172.17.0.9", mac: "02:42:ac:11:00:09" }), `"c2/eth5": no such interface`],
    ["unknown sysctl", (t) => t.sysctl("c2", "net.ipv4.tcp_syncookies", 1), `c2: sysctl net.ipv4.tcp_syncookies: not supported (supported: net.ipv4.ip_forward, net.ipv4.conf.all.forwarding, net.ipv4.conf.IF.proxy_arp, net.ipv4.neigh.IF.proxy_delay, net.bridge.bridge-nf-call-iptables)`],
    ["sysctl value 2", (t) => t.sysctl("c2", "net.ipv4.ip_forward", 2), `c2: sysctl net.ipv4.ip_forward=2: the value must be 0 or 1`],
    ["sysctl on a missing interface", (t) => t.sysctl("c2", "net.ipv4.conf.eth5.proxy_arp", 1), `c2: sysctl net.ipv4.conf.eth5.proxy_arp: "c2/eth5": no such interface`],
    ["negative proxy_delay", (t) => t.sysctl("c2", "net.ipv4.neigh.eth0.proxy_delay", -1), `c2: sysctl net.ipv4.neigh.eth0.proxy_delay=-1: the value must be an integer >= 0 (1/100 s)`],
    ["bridge outside a namespace", (t) => t.bridge("docker1"), `"docker1": a bridge is named "<namespace>/<ifname>" (its own interface lives in a namespace)`],
    ["bridge name twice in a namespace", (t) => t.bridge("host/docker0"), `"host/docker0" exists already`],
    ["enslaving to a bridge of another namespace", (t) => (t.bridge("c2/docker0"), t.veth({ a: "vethz", b: "c3/eth9" }), t.master("vethz", "docker0")), `"docker0": 2 bridges have this name (in host, c2): name one as <namespace>/docker0`],
    ["negative ageing time", (t) => t.bridge("host/br1", { ageingTime: -1 }), `bridge br1: ageingTime -1 must be >= 0 ns`],
    ["the bridge's MAC", (t) => t.linkSet("host/docker0", { mac: "02:00:00:00:00:09" }), `"host/docker0": changing bridge docker0's MAC is not supported`],
    ["capture of a missing point", (t) => t.capture(new MemorySink(), ["c2/eth0", "c2/eth7"]), `"c2/eth7": no such interface`],
    ["capture twice", (t) => (t.capture(new MemorySink(), ["c2/eth0"]), t.capture(new MemorySink(), ["c3/eth0"])), `capture: a capture is open already`],
    ["tap with no capture", (t) => t.tap(["c2/eth0"]), `tap: open a capture first (capture(sink, points))`],
    ["capture of an end on nothing", (t) => (t.veth({ a: "vethq", b: "c2/eth1" }), t.capture(new MemorySink(), ["vethq"])), `capture "vethq": a veth end in no namespace and on no bridge has nothing to capture`],
    ["unknown bridge", (t) => t.br("docker9"), `"docker9": no such bridge`],
    ["unknown loose end", (t) => t.dev("vethq"), `"vethq": no such interface`],
  ];
  it.each(cases)("%s", (_name, f, message) => {
    expect(errorOf(() => f(dockerTopology(2)))).toBe(message);
  });

  it("a refused call leaves nothing behind", () => {
    const t = dockerTopology(2);
    errorOf(() => t.veth({ a: "host/vethx", b: "c2/eth0" }));
    errorOf(() => t.veth({ a: "c2/eth1", b: "c3/eth1", impair: { ba: { delayNs: -1 } } }));
    errorOf(() => t.capture(new MemorySink(), ["c2/eth7"]));
    expect(t.engine.capture).toBeNull();
    t.veth({ a: "host/vethp", b: "c3/eth2" });
    errorOf(() => t.addr("host/vethp", "10.0.0.1/40"));
    errorOf(() => t.route("host", "10.0.0.0/40 dev vethp"));
    errorOf(() => t.sysctl("host", "net.ipv4.conf.vethp.proxy_arp", 3));
    expect(t.master("host/vethp", "docker0")).toBe(3); // still a pending end, so it can be enslaved
    t.veth({ a: "host/vethx", b: "c2/eth1" });
    t.veth({ a: "c2/eth2", b: "c3/eth1" });
    t.veth({ a: "c2/abcdefghijklmno", b: "c3/abcdefghijklmno" }); // 15 characters: allowed
    expect(t.dev("c2/eth2").kind).toBe("interface");
  });
});

describe("veth ends: pending, enslaved, routed, detached", () => {
  it("an end given without a namespace becomes a port in its bridge's namespace", () => {
    const t = dockerTopology(2);
    t.netns("c4");
    t.veth({ a: "vethc4", b: "c4/eth0", peerMac: "02:42:ac:11:00:04" });
    expect(t.dev("vethc4").kind).toBe("detached");
    expect(t.master("vethc4", "docker0")).toBe(3);
    expect(t.dev("host/vethc4")).toMatchObject({ kind: "bridge-port", ref: "host/vethc4", port: 3 });
    expect(errorOf(() => t.dev("vethc4"))).toBe(`"vethc4": no such interface`);
    t.addr("c4/eth0", "172.17.0.4/16");
    const sink = new MemorySink();
    t.capture(sink, "all");
    expect(t.engine.capture!.names).toEqual(["host/docker0", "host/veth2", "c2/eth0", "host/veth3", "c3/eth0", "host/vethc4", "c4/eth0"]);
    const p = ping(t.ns("c2"), ip("172.17.0.4"), { count: 2 });
    t.run(1.5e9);
    expect(p.received).toBe(2);
    t.engine.capture!.close();
    expect(records(sink).filter((r) => r.at === "host/vethc4").length).toBe(6);
  });

  it("an end on no bridge is a veth without carrier: its peer's frames are dropped, counted", () => {
    const t = dockerTopology(2);
    t.netns("c5");
    t.veth({ a: "vethz", b: "c5/eth0" });
    t.addr("c5/eth0", "172.17.0.5/16");
    const p = ping(t.ns("c5"), ip("172.17.0.2"), { count: 1 });
    t.run(20e9);
    expect([p.received, p.errors]).toEqual([0, 0]);
    // three ARP requests, then the echo request is given up (neighbour failed)
    expect(t.engine.errors()).toEqual([
      { device: "c5", reason: "no-carrier", count: 3 },
      { device: "c5", reason: "neigh-failed", count: 1 },
    ]);
    expect(t.conservation().ok).toBe(true);
  });

  it("host ends kept at L3: Calico's routed veths with proxy ARP", () => {
    // workloads with a /32 and a default route via 169.254.1.1, answered by the node's proxy ARP
    // on each cali interface (ee:ee:ee:ee:ee:ee); the node routes each /32 to its cali interface
    const t = new Topology({ seed: 3 });
    for (const n of ["node", "upstream", "w1", "w2"]) t.netns(n);
    t.veth({ a: "node/eth0", b: "upstream/eth0" });
    t.addr("node/eth0", "192.168.0.10/24");
    t.addr("upstream/eth0", "192.168.0.1/24");
    t.route("node", "default via 192.168.0.1 dev eth0");
    t.sysctl("node", "net.ipv4.ip_forward", 1);
    for (const [w, n] of [["w1", 2], ["w2", 3]] as const) {
      t.veth({ a: `node/cali${w}`, b: `${w}/eth0`, mac: "ee:ee:ee:ee:ee:ee" });
      t.addr(`${w}/eth0`, `10.65.0.${n}/32`);
      t.route(w, "169.254.1.1 dev eth0 scope link");
      t.route(w, "default via 169.254.1.1 dev eth0");
      t.route("node", `10.65.0.${n} dev cali${w} scope link`);
      t.sysctl("node", `net.ipv4.conf.cali${w}.proxy_arp`, 1);
      t.sysctl("node", `net.ipv4.neigh.cali${w}.proxy_delay`, 0);
    }
    const p = ping(t.ns("w1"), ip("10.65.0.3"), { count: 3 });
    t.run(2.5e9);
    expect(p.received).toBe(3);
    // the node's ARP requests on caliw1 came from its only address, 192.168.0.10 (inet_select_addr)
    expect(t.ip("w1", "neigh")).toBe(["169.254.1.1 dev eth0 lladdr ee:ee:ee:ee:ee:ee REACHABLE", "192.168.0.10 dev eth0 lladdr ee:ee:ee:ee:ee:ee STALE"].join("\n"));
    expect(t.ip("node", "route")).toBe(
      ["default via 192.168.0.1 dev eth0", "10.65.0.2 dev caliw1 scope link", "10.65.0.3 dev caliw2 scope link", "192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.10"].join("\n"),
    );
    expect(t.conservation().ok).toBe(true);
  });

  it("interfaces get random MACs fixed by the seed and their names", () => {
    const macOf = (seed: number) => {
      const t = new Topology({ seed });
      t.netns("a");
      t.netns("b");
      t.veth({ a: "a/eth0", b: "b/eth0" });
      const ns = t.ns("a");
      t.dev("a/eth0");
      return ns.mac[0]!;
    };
    expect(macOf(1)).toBe(macOf(1));
    expect(macOf(1)).not.toBe(macOf(2));
    expect(macIsMulticast(macOf(7))).toBe(false);
    expect(macIsLocal(macOf(7))).toBe(true);
  });
});

describe("veth impairments", () => {
  /** a/eth0 10.0.0.1 — b/eth0 10.0.0.2, with permanent neighbours so that only echoes cross. */
  function pair(impair: Parameters<Topology["veth"]>[0]["impair"]): Topology {
    const t = new Topology({ seed: 5 });
    t.netns("a");
    t.netns("b");
    t.veth({ a: "a/eth0", b: "b/eth0", mac: "02:00:00:00:00:01", peerMac: "02:00:00:00:00:02", impair });
    t.addr("a/eth0", "10.0.0.1/24");
    t.addr("b/eth0", "10.0.0.2/24");
    t.neigh("a", { dev: "eth0", ip: "10.0.0.2", mac: "02:00:00:00:00:02" });
    t.neigh("b", { dev: "eth0", ip: "10.0.0.1", mac: "02:00:00:00:00:01" });
    return t;
  }

  it("delay each way: RTT = 5 ms (a to b) + 1 ms (b to a)", () => {
    const t = pair({ ab: { delayNs: 5e6 }, ba: { delayNs: 1e6 } });
    const p = ping(t.ns("a"), ip("10.0.0.2"), { count: 3 });
    t.run(3e9);
    expect(Array.from(p.rtt)).toEqual([6e6, 6e6, 6e6]);
    expect(t.ip("a", "neigh")).toBe("10.0.0.2 dev eth0 lladdr 02:00:00:00:00:02 PERMANENT");
    expect(t.conservation().ok).toBe(true);
  });

  it("loss 100% a to b: every request dropped as `loss` on the veth's link, counted, conserved", () => {
    const t = pair({ ab: { loss: 1 } });
    const p = ping(t.ns("a"), ip("10.0.0.2"), { count: 3 });
    t.run(20e9);
    expect([p.transmitted, p.received]).toEqual([3, 0]);
    expect(t.engine.errors()).toEqual([{ device: "veth:a/eth0-b/eth0", reason: "loss", count: 3 }]);
    const d = t.dev("a/eth0");
    expect(d.link?.stats(0).lost).toBe(3);
    expect(t.conservation()).toMatchObject({ created: 3, dropped: 3, ok: true });
  });

  it("an impaired veth on a bridge port: the container's egress is delayed", () => {
    const t = dockerTopology(2);
    t.netns("c4");
    t.veth({ a: "host/veth4", b: "c4/eth0", peerMac: "02:42:ac:11:00:04", impair: { ba: { delayNs: 2e6 } } });
    t.master("host/veth4", "docker0");
    t.addr("c4/eth0", "172.17.0.4/16");
    const p = ping(t.ns("c2"), ip("172.17.0.4"), { count: 2 });
    t.run(2e9);
    // the first RTT also waits for c4's delayed ARP reply
    expect(Array.from(p.rtt)).toEqual([4e6, 2e6]);
    expect(t.engine.device("veth:host/veth4-c4/eth0")).toBe(t.dev("c4/eth0").link);
    expect(t.conservation().ok).toBe(true);
  });
});

describe("one bridge name on several hosts", () => {
  it("h1 and h2 each have a docker0 with 172.17.0.0/16; a ping on each stays on its own host", () => {
    const t = new Topology({ seed: 3 });
    for (const h of ["h1", "h2"]) {
      t.netns(h);
      t.bridge(`${h}/docker0`, { mac: h === "h1" ? "02:42:00:00:01:01" : "02:42:00:00:02:01" });
      t.addr(`${h}/docker0`, "172.17.0.1/16");
      for (const n of [2, 3]) {
        const c = `${h}c${n}`;
        t.netns(c);
        t.veth({ a: `${h}/veth${n}`, b: `${c}/eth0`, peerMac: `02:42:ac:11:00:0${n}` });
        t.master(`${h}/veth${n}`, "docker0");
        t.addr(`${c}/eth0`, `172.17.0.${n}/16`);
      }
    }
    const p1 = ping(t.ns("h1c2"), ip("172.17.0.3"), { count: 2 });
    const p2 = ping(t.ns("h2c3"), ip("172.17.0.2"), { count: 2 });
    t.run(2e9);
    expect([p1.received, p2.received]).toEqual([2, 2]);
    expect(t.br("h1/docker0")).not.toBe(t.br("h2/docker0"));
    expect(t.br("h1/docker0").name).toBe("h1/docker0");
    expect(t.fdb("h2/docker0")).toContain("02:42:ac:11:00:02 dev veth2 master docker0");
    expect(t.fdb("h2/docker0")).not.toContain("02:42:00:00:01:01");
    expect(() => t.br("docker0")).toThrow(`"docker0": 2 bridges have this name (in h1, h2): name one as <namespace>/docker0`);
    expect(t.conservation().ok).toBe(true);
  });
});

describe("ip link set", () => {
  it("an interface down drops what reaches it; up again, ping works", () => {
    const t = dockerTopology(2);
    t.linkSet("c3/eth0", { up: false });
    const p = ping(t.ns("c2"), ip("172.17.0.3"), { count: 1 });
    t.run(5e9);
    expect(p.received).toBe(0);
    expect(t.engine.errors()).toContainEqual({ device: "c3", reason: "iface-down", count: 3 });
    t.linkSet("c3/eth0", { up: true });
    const q = ping(t.ns("c2"), ip("172.17.0.3"), { count: 1 });
    t.run(10e9);
    expect(q.received).toBe(1);
    expect(t.conservation().ok).toBe(true);
  });

  it("a bridge going down disables its ports; up again each port follows its own state", () => {
    const t = dockerTopology(2);
    const br = t.br("docker0");
    t.linkSet("host/veth3", { up: false });
    t.linkSet("host/docker0", { up: false });
    expect([br.portFlags(1).up, br.portFlags(2).up]).toEqual([false, false]);
    expect(t.ip("host", "addr").split("\n")[0]).toBe("1: docker0: <BROADCAST,MULTICAST> mtu 1500 state DOWN");
    t.linkSet("host/docker0", { up: true });
    expect([br.portFlags(1).up, br.portFlags(2).up]).toEqual([true, false]);
  });

  it("a port's new MAC replaces its permanent FDB entry; MTU and state of a pending end apply when it is made", () => {
    const t = dockerTopology(2);
    t.linkSet("host/veth2", { mac: "3e:00:00:00:00:99" });
    const fdb = t.fdb("docker0");
    expect(fdb).toContain("3e:00:00:00:00:99 dev veth2 master docker0 permanent");
    expect(fdb).not.toContain("3e:00:00:00:00:02");
    t.netns("c7");
    t.veth({ a: "c7/eth0", b: "c7/eth1", mac: "02:00:00:00:07:00", peerMac: "02:00:00:00:07:01" });
    t.linkSet("c7/eth1", { mtu: 9000, up: false });
    expect(t.ip("c7", "addr")).toBe(
      [
        "1: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP",
        "    link/ether 02:00:00:00:07:00 brd ff:ff:ff:ff:ff:ff",
        "2: eth1: <BROADCAST,MULTICAST> mtu 9000 state DOWN",
        "    link/ether 02:00:00:00:07:01 brd ff:ff:ff:ff:ff:ff",
      ].join("\n"),
    );
  });
});
