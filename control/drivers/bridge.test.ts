// The drivers' ops (bridge.ts, host.ts, null.ts): what one network and one endpoint become, and
// that those ops build a working dataplane.
import { describe, expect, test } from "vitest";
import { startDaemon } from "../cnm.js";
import { applyConfig, type TopologyOp } from "../../dataplane/config.js";
import { ping } from "../../dataplane/endpoint/ping.js";
import { parseIpv4 } from "../../core/addr.js";

describe("bridge driver", () => {
  test("a network with MTU and name: the bridge with its MAC and MTU, the gateway; an endpoint's veth with the MTU and --mac-address", () => {
    const c = startDaemon({ host: "h", seed: 3 });
    const nw = c.createNetwork("lab", "bridge", { subnet: "10.8.0.0/24", mtu: 1400, bridgeName: "lab0" });
    const sb = c.newSandbox("a");
    const ep = c.createEndpoint(nw, "a", { mac: "02:11:22:33:44:55" });
    c.join(ep, sb);
    const ops = c.ops((ref) => (ref === "a/eth0" ? { egress: { delayNs: 1e6 }, ingress: { loss: 0.5 } } : undefined));
    const mine = ops.filter((o) => ("ref" in o && o.ref.startsWith("h/lab0")) || (o.op === "veth" && o.spec.b === "a/eth0") || ("ref" in o && o.ref === "a/eth0"));
    expect(mine).toEqual([
      { op: "bridge", ref: "h/lab0", spec: { mac: expect.any(String), mtu: 1400 } },
      { op: "addr", ref: "h/lab0", cidr: "10.8.0.1/24" },
      { op: "veth", spec: { a: `h/${ep.hostVeth}`, b: "a/eth0", peerMac: "02:11:22:33:44:55", mtu: 1400, impair: { ab: { loss: 0.5 }, ba: { delayNs: 1e6 } } } },
      { op: "addr", ref: "a/eth0", cidr: "10.8.0.2/24" },
    ]);
    expect(ops).toContainEqual({ op: "master", ref: `h/${ep.hostVeth}`, bridge: "lab0" });
    expect(() => c.createEndpoint(nw, "b", { mac: "01:00:5e:00:00:01" })).toThrow("container b on network lab: invalid MAC address 01:00:5e:00:00:01: it is a multicast address");
    expect(() => c.createEndpoint(nw, "b", { mac: "zz" })).toThrow(/container b on network lab: invalid MAC address: "zz"/);
    expect(() => c.createNetwork("x", "bridge", { bridgeName: "a-name-far-too-long" })).toThrow('network x: bridge name "a-name-far-too-long" is not a valid interface name');
  });

  test("the ops build: two containers on a user bridge ping each other and the gateway", () => {
    const c = startDaemon({ host: "h", seed: 3 });
    const nw = c.createNetwork("n", "bridge");
    for (const name of ["a", "b"]) {
      const sb = c.newSandbox(name);
      c.join(c.createEndpoint(nw, name), sb);
    }
    const t = applyConfig({ seed: 3, ops: [{ op: "netns", name: "h" }, ...c.ops()] });
    const p = ping(t.ns("a"), parseIpv4("172.18.0.3"), { count: 2 });
    const g = ping(t.ns("b"), parseIpv4("172.18.0.1"), { count: 2 });
    t.run(3e9);
    expect([p.received, g.received]).toEqual([2, 2]);
  });
});

describe("host and null drivers", () => {
  test("nothing to build: no device, no address, no MAC", () => {
    const c = startDaemon({ host: "h", seed: 3 });
    const before: TopologyOp[] = c.ops();
    for (const [name, net, host] of [["x", "host", true], ["y", "none", false]] as const) {
      const sb = c.newSandbox(name, { useHostNs: host });
      const ep = c.createEndpoint(c.network(net), name);
      c.join(ep, sb);
      expect([ep.ip, ep.mac, ep.hostVeth, ep.ifname]).toEqual([0, -1, null, null]);
    }
    // only y's namespace is new
    const after = c.ops();
    expect(after.filter((o) => !before.some((b) => JSON.stringify(b) === JSON.stringify(o)))).toEqual([{ op: "netns", name: "y" }]);
  });
});
