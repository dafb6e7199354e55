// The controller's lifecycle (cnm.ts) with the null, host and bridge drivers: what libnetwork and
// the daemon allow, refuse (in their words), allocate and name.
import { describe, expect, test } from "vitest";
import { Controller, DockerError, startDaemon, type Sandbox } from "./cnm.js";
import { formatCidr, formatIpv4, formatMac, macIsLocal, macIsMulticast } from "../core/addr.js";

const daemon = (extra: Partial<Parameters<typeof startDaemon>[0]> = {}) => startDaemon({ host: "host1", seed: 1, ...extra });

/** `docker run --network NET [--ip IP] NAME`. */
function runOn(c: Controller, name: string, nets: string[], opts: { ip?: string; ports?: Sandbox["ports"] } = {}): Sandbox {
  const sb = c.newSandbox(name, { ports: opts.ports ?? [] });
  nets.forEach((n, i) => c.join(c.createEndpoint(c.network(n), name, i === 0 && opts.ip ? { ip: opts.ip } : {}), sb));
  return sb;
}

describe("daemon start", () => {
  test("networks none, host, bridge; docker0 172.17.0.0/16 with gateway 172.17.0.1 and a random MAC", () => {
    const c = daemon();
    expect(c.networks().map((n) => [n.name, n.driver.type])).toEqual([["none", "null"], ["host", "host"], ["bridge", "bridge"]]);
    const br = c.network("bridge");
    expect(br.bridge).toBe("docker0");
    expect(formatCidr(br.subnet!)).toBe("172.17.0.0/16");
    expect(formatIpv4(br.gateway)).toBe("172.17.0.1");
    expect(macIsLocal(br.bridgeMac) && !macIsMulticast(br.bridgeMac)).toBe(true);
    expect(c.network("host").subnet).toBeNull();
    for (const n of c.networks()) expect(n.id).toMatch(/^[0-9a-f]{64}$/);
  });

  test("IDs, bridge MACs and veth names are fixed by the seed and the host", () => {
    const ids = (c: Controller) => c.networks().map((n) => n.id);
    expect(ids(daemon())).toEqual(ids(daemon()));
    expect(ids(daemon({ seed: 2 }))).not.toEqual(ids(daemon()));
    expect(ids(daemon({ host: "host2" }))).not.toEqual(ids(daemon()));
    expect(daemon().network("bridge").bridgeMac).toBe(daemon().network("bridge").bridgeMac);
  });

  test("the on-link subnet of the host steers the default pools", () => {
    const c = daemon({ reserved: ["172.17.0.0/16"] });
    expect(formatCidr(c.network("bridge").subnet!)).toBe("172.18.0.0/16");
  });
});

describe("networks", () => {
  test("user bridges: br-<12 hex of the ID>, 172.18.0.0/16 then 172.19.0.0/16; options kept", () => {
    const c = daemon();
    const a = c.createNetwork("front", "bridge");
    const b = c.createNetwork("back", "bridge", { icc: false, internal: true, mtu: 1400 });
    expect(a.bridge).toBe(`br-${a.id.slice(0, 12)}`);
    expect([a, b].map((n) => formatCidr(n.subnet!))).toEqual(["172.18.0.0/16", "172.19.0.0/16"]);
    expect(b.options).toMatchObject({ icc: false, internal: true, mtu: 1400, ipMasq: true });
    const own = c.createNetwork("lab", "bridge", { subnet: "10.10.0.0/24", gateway: "10.10.0.254", bridgeName: "lab0" });
    expect([own.bridge, formatIpv4(own.gateway)]).toEqual(["lab0", "10.10.0.254"]);
  });

  test("refused: same name, a second host or null network, overlapping subnet, same bridge name, bad gateway or MTU", () => {
    const c = daemon();
    c.createNetwork("net1", "bridge", { subnet: "10.1.0.0/16" });
    expect(() => c.createNetwork("net1", "bridge")).toThrow("network with name net1 already exists");
    expect(() => c.createNetwork("host2", "host")).toThrow('network host2: only one instance of "host" network is allowed');
    expect(() => c.createNetwork("none2", "null")).toThrow('only one instance of "null" network is allowed');
    expect(() => c.createNetwork("x", "overlay")).toThrow('network x: plugin "overlay" not found');
    expect(() => c.createNetwork("net2", "bridge", { subnet: "10.1.128.0/17" })).toThrow("network net2: invalid pool request 10.1.128.0/17: Pool overlaps with other one on this address space");
    expect(() => c.createNetwork("net3", "bridge", { bridgeName: "docker0" })).toThrow(/network net3: cannot create network [0-9a-f]{64} \(docker0\): conflicts with network [0-9a-f]{64} \(docker0\): networks have same bridge name/);
    expect(() => c.createNetwork("net4", "bridge", { subnet: "10.4.0.0/24", gateway: "10.5.0.1" })).toThrow("network net4: no matching subnet for gateway 10.5.0.1");
    expect(() => c.createNetwork("net5", "bridge", { mtu: 20 })).toThrow("network net5: invalid MTU 20");
    // none of the refused networks kept its pool
    expect(formatCidr(c.createNetwork("net6", "bridge").subnet!)).toBe("172.18.0.0/16");
  });

  test("delete: refused while endpoints exist (libnetwork's words) and for predefined networks; then the pool is free", () => {
    const c = daemon();
    const net = c.createNetwork("net1", "bridge");
    const sb = runOn(c, "web", ["net1"]);
    const ep = sb.endpoints[0]!;
    expect(() => c.deleteNetwork(net)).toThrow(DockerError);
    expect(() => c.deleteNetwork(net)).toThrow(`error while removing network: network net1 id ${net.id} has active endpoints`);
    expect(() => c.deleteEndpoint(ep)).toThrow(`endpoint with name web id ${ep.id} has active containers`);
    expect(() => c.deleteNetwork(c.network("bridge"))).toThrow("bridge is a pre-defined network and cannot be removed");
    c.leave(ep, sb);
    expect(() => c.deleteNetwork(net)).toThrow("has active endpoints");
    c.deleteEndpoint(ep);
    c.deleteNetwork(net);
    expect(() => c.network("net1")).toThrow("network net1 not found");
    expect(formatCidr(c.createNetwork("net2", "bridge").subnet!)).toBe("172.18.0.0/16");
  });
});

describe("endpoints and sandboxes", () => {
  test("docker0: 172.17.0.2 with MAC 02:42:ac:11:00:02 on eth0, host end veth<7 hex>; then .3", () => {
    const c = daemon();
    const [a, b] = [runOn(c, "c2", ["bridge"]), runOn(c, "c3", ["bridge"])].map((sb) => sb.endpoints[0]!);
    expect([formatIpv4(a!.ip), formatMac(a!.mac), a!.ifname]).toEqual(["172.17.0.2", "02:42:ac:11:00:02", "eth0"]);
    expect(a!.hostVeth).toMatch(/^veth[0-9a-f]{7}$/);
    expect(b!.hostVeth).not.toBe(a!.hostVeth);
    expect(formatIpv4(b!.ip)).toBe("172.17.0.3");
  });

  test("several networks: eth0, eth1 in attach order; the default route via the network whose name sorts first", () => {
    const c = daemon();
    c.createNetwork("zeta", "bridge");
    c.createNetwork("alpha", "bridge", { internal: true });
    c.createNetwork("beta", "bridge");
    const sb = runOn(c, "app", ["zeta", "alpha", "beta"]);
    expect(sb.endpoints.map((e) => [e.ifname, e.network.name])).toEqual([["eth0", "zeta"], ["eth1", "alpha"], ["eth2", "beta"]]);
    expect(sb.gatewayEndpoint()!.network.name).toBe("beta"); // alpha is internal: no gateway
    const ops = c.ops();
    expect(ops).toContainEqual({ op: "route", ns: "app", args: `default via ${formatIpv4(c.network("beta").gateway)} dev eth2` });
    // leave and join again: interface names are not reused
    const z = sb.endpoints[0]!;
    c.leave(z, sb);
    c.join(z, sb);
    expect(z.ifname).toBe("eth3");
  });

  test("a released address is given to the next container at once", () => {
    const c = daemon();
    runOn(c, "c2", ["bridge"]);
    const c3 = runOn(c, "c3", ["bridge"]);
    runOn(c, "c4", ["bridge"]);
    c.deleteSandbox(c3);
    expect(formatIpv4(runOn(c, "c5", ["bridge"]).endpoints[0]!.ip)).toBe("172.17.0.3");
    expect(formatIpv4(runOn(c, "c6", ["bridge"]).endpoints[0]!.ip)).toBe("172.17.0.5");
  });

  test("--ip: honoured on a user subnet, refused when taken, on the default bridge, and without a user subnet", () => {
    const c = daemon();
    c.createNetwork("lab", "bridge", { subnet: "10.9.0.0/24" });
    c.createNetwork("auto", "bridge");
    expect(formatIpv4(runOn(c, "a", ["lab"], { ip: "10.9.0.50" }).endpoints[0]!.ip)).toBe("10.9.0.50");
    expect(() => runOn(c, "b", ["lab"], { ip: "10.9.0.50" })).toThrow("container b on network lab: 10.9.0.50: Address already in use");
    expect(() => runOn(c, "c", ["lab"], { ip: "10.9.1.5" })).toThrow("container c on network lab: requested address 10.9.1.5 is out of range (10.9.0.0/24)");
    expect(() => runOn(c, "d", ["bridge"], { ip: "172.17.0.9" })).toThrow("container d on network bridge: user specified IP address is supported on user defined networks only");
    expect(() => runOn(c, "e", ["auto"], { ip: "172.18.0.9" })).toThrow("user specified IP address is supported only when connecting to networks with user configured subnets");
    expect(formatIpv4(runOn(c, "f", ["lab"]).endpoints[0]!.ip)).toBe("10.9.0.2");
  });

  test("a full network: Docker's message", () => {
    const c = daemon();
    const tiny = c.createNetwork("tiny", "bridge", { subnet: "10.3.0.0/30" });
    runOn(c, "a", ["tiny"]);
    expect(() => runOn(c, "b", ["tiny"])).toThrow(`container b on network tiny: no available IPv4 addresses on this network's address pools: tiny (${tiny.id})`);
  });

  test("host and none modes: the host's namespace or loopback only, and no other network", () => {
    const c = daemon();
    const h = c.newSandbox("h", { useHostNs: true });
    c.join(c.createEndpoint(c.network("host"), "h"), h);
    expect([h.ns, h.isDefault, h.endpoints[0]!.ifname]).toEqual(["host1", true, null]);
    expect(() => c.join(c.createEndpoint(c.network("bridge"), "h"), h)).toThrow("container cannot be disconnected from host network or connected to host network");
    const n = c.newSandbox("n");
    c.join(c.createEndpoint(c.network("none"), "n"), n);
    expect(() => c.join(c.createEndpoint(c.network("bridge"), "n"), n)).toThrow("container cannot be connected to multiple networks with one of the networks in private (none) mode");
    expect(() => c.createEndpoint(c.network("none"), "m", { mac: "02:00:00:00:00:01" })).toThrow("conflicting options: mac-address and the network mode");
    const ops = c.ops();
    expect(ops.filter((o) => o.op === "netns")).toEqual([{ op: "netns", name: "n" }]);
    expect(ops.filter((o) => o.op === "veth")).toEqual([]); // the bridge endpoints were never joined
  });

  test("endpoint names are unique per network; an endpoint joins one sandbox", () => {
    const c = daemon();
    const ep = c.createEndpoint(c.network("bridge"), "web");
    expect(() => c.createEndpoint(c.network("bridge"), "web")).toThrow("endpoint with name web already exists in network bridge");
    const a = c.newSandbox("a");
    const b = c.newSandbox("b");
    c.join(ep, a);
    expect(() => c.join(ep, b)).toThrow("another container is attached to the same network endpoint");
    expect(() => c.leave(ep, b)).toThrow("container b is not connected to network bridge");
  });

  test("published ports: one owner per protocol, port and address", () => {
    const c = daemon();
    runOn(c, "a", ["bridge"], { ports: [{ hostPort: 8080, containerPort: 80, proto: "tcp" }] });
    runOn(c, "b", ["bridge"], { ports: [{ hostPort: 8080, containerPort: 80, proto: "udp" }] });
    runOn(c, "c", ["bridge"], { ports: [{ hostIp: "127.0.0.1", hostPort: 9000, containerPort: 80, proto: "tcp" }] });
    runOn(c, "d", ["bridge"], { ports: [{ hostIp: "192.168.1.10", hostPort: 9000, containerPort: 80, proto: "tcp" }] });
    expect(() => runOn(c, "e", ["bridge"], { ports: [{ hostPort: 8080, containerPort: 81, proto: "tcp" }] })).toThrow(/^container e: driver failed programming external connectivity on endpoint e \([0-9a-f]{64}\): Bind for 0.0.0.0:8080 failed: port is already allocated$/);
    expect(() => runOn(c, "f", ["bridge"], { ports: [{ hostPort: 9000, containerPort: 80, proto: "tcp" }] })).toThrow("Bind for 0.0.0.0:9000 failed");
    // a refused join changed nothing: the sandbox has no endpoint, and no port of its is bound
    expect(c.sandbox("e").endpoints).toEqual([]);
    expect(c.sandbox("f").portsBound).toBe(false);
    expect(c.proxies().map((p) => `${p.proto} ${p.hostIp}:${p.hostPort} -> ${p.dst}:${p.dport}`)).toEqual([
      "tcp 0.0.0.0:8080 -> 172.17.0.2:80",
      "udp 0.0.0.0:8080 -> 172.17.0.3:80",
      "tcp 127.0.0.1:9000 -> 172.17.0.4:80",
      "tcp 192.168.1.10:9000 -> 172.17.0.5:80",
    ]);
  });
});

describe("profiles", () => {
  test("modern: random MACs, three announcements per interface, the current rule layout", () => {
    const c = daemon({ profile: "modern" });
    const ep = runOn(c, "c2", ["bridge"]).endpoints[0]!;
    expect(formatMac(ep.mac).startsWith("02:42:ac:11")).toBe(false);
    expect(macIsLocal(ep.mac) && !macIsMulticast(ep.mac)).toBe(true);
    expect(c.announces()).toEqual([{ ref: "c2/eth0", ip: "172.17.0.2", count: 3, intervalNs: 1e9, startNs: 0 }]);
    expect(c.rules().profile).toBe("current");
    expect(daemon().announces()).toEqual([]);
  });

  test("userland proxy off: no proxies, hairpin rules, bridge-nf-call-iptables set", () => {
    const c = daemon({ userlandProxy: false });
    runOn(c, "a", ["bridge"], { ports: [{ hostPort: 8080, containerPort: 80, proto: "tcp" }] });
    expect(c.proxies()).toEqual([]);
    const ops = c.ops();
    expect(ops).toContainEqual({ op: "sysctl", ns: "host1", key: "net.bridge.bridge-nf-call-iptables", value: 1 });
    const rules = ops.find((o) => o.op === "iptables")!;
    expect(rules.op === "iptables" && rules.rules).toContain("-A POSTROUTING -o docker0 -m addrtype --src-type LOCAL -j MASQUERADE");
  });
});
