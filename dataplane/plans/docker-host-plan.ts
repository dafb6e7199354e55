// A Docker host with NAT as a RunPlan, for tests of the parallel run with conntrack and NAT on
// the path: the layout of topologies/docker-host.ts as TopologyOps (host with docker0
// 172.17.0.1/16 and eth0 192.168.1.10/24 wired to "client" 192.168.1.20/24; containers c2 =
// 172.17.0.2 publishing 8080->80/tcp and 6001->5001/udp (not DNS's ports: the flows' payloads
// are no DNS, and tshark would call them malformed), c3 = 172.17.0.3; ip_forward on; Docker's
// rules, userland proxy off, so published ports are DNATed and containers' outbound traffic
// MASQUERADEd), and traffic through both NATs:
//   client -> 192.168.1.10:6001/udp (DNAT to c2:5001, a FlowSink there), `udpFlows` flows
//   client -> 192.168.1.10:8080/tcp (DNAT to c2:80, a TcpSink), `tcpConnections` connections
//   c3 -> client:7/udp (MASQUERADE to 192.168.1.10, a FlowSink in client), `udpFlows` flows
//   ping c2 -> client (MASQUERADE)
// Not here: the hairpin flag on bridge ports (no TopologyOp sets it), so a container cannot
// reach its own host's published port.

import type { TopologyOp } from "../config.js";
import type { RunPlan } from "../plan.js";
import { dockerRulesText } from "../netfilter/docker-rules.js";

export interface DockerHostPlanOptions {
  seed?: number;
  udpFlows?: number;
  udpPackets?: number;
  tcpConnections?: number;
  tcpBytes?: number;
  capture?: string[] | "all";
}

export function dockerHostOps(): TopologyOp[] {
  const ops: TopologyOp[] = [
    { op: "netns", name: "host" },
    { op: "netns", name: "client" },
    { op: "bridge", ref: "host/docker0", spec: { mac: "02:42:5e:1a:2b:3c" } },
    { op: "addr", ref: "host/docker0", cidr: "172.17.0.1/16" },
    { op: "sysctl", ns: "host", key: "net.ipv4.ip_forward", value: 1 },
    { op: "veth", spec: { a: "host/eth0", b: "client/eth0", mac: "02:00:c0:a8:01:0a", peerMac: "02:00:c0:a8:01:14" } },
    { op: "addr", ref: "host/eth0", cidr: "192.168.1.10/24" },
    { op: "addr", ref: "client/eth0", cidr: "192.168.1.20/24" },
  ];
  for (const n of [2, 3]) {
    const hex = n.toString(16).padStart(2, "0");
    const veth = `host/veth${(0x1a2b30 + n).toString(16)}`;
    ops.push(
      { op: "netns", name: `c${n}` },
      { op: "veth", spec: { a: veth, b: `c${n}/eth0`, mac: `3e:00:00:00:00:${hex}`, peerMac: `02:42:ac:11:00:${hex}` } },
      { op: "addr", ref: `c${n}/eth0`, cidr: `172.17.0.${n}/16` },
      { op: "route", ns: `c${n}`, args: "default via 172.17.0.1 dev eth0" },
      { op: "master", ref: veth, bridge: "docker0" },
    );
  }
  const rules = dockerRulesText({
    profile: "classic",
    userlandProxy: false,
    networks: [{ bridge: "docker0", subnet: "172.17.0.0/16", containers: [{ ip: "172.17.0.2", ports: [{ hostPort: 8080, containerPort: 80, proto: "tcp" }, { hostPort: 6001, containerPort: 5001, proto: "udp" }] }, { ip: "172.17.0.3" }] }],
  });
  ops.push({ op: "iptables", ns: "host", rules });
  return ops;
}

export function dockerHostPlan(opts: DockerHostPlanOptions = {}): RunPlan {
  const flows = opts.udpFlows ?? 4, packets = opts.udpPackets ?? 10;
  return {
    config: { seed: opts.seed ?? 1, ops: dockerHostOps() },
    traffic: [
      { kind: "udp", id: "published-udp", from: "client", dst: "192.168.1.10", dport: 6001, sink: { ns: "c2", port: 5001 }, flows, packets, ratePps: 1000, size: 80, startNs: 0 },
      { kind: "tcp", id: "published-tcp", from: "client", dst: "192.168.1.10", dport: 8080, sink: { ns: "c2", port: 80 }, bytes: opts.tcpBytes ?? 2000, connections: opts.tcpConnections ?? 3, startNs: 0 },
      { kind: "udp", id: "outbound-udp", from: "c3", dst: "192.168.1.20", dport: 7, sink: { ns: "client", port: 7 }, flows, packets, ratePps: 1000, size: 64, startNs: 0 },
      { kind: "ping", id: "outbound-ping", from: "c2", dst: "192.168.1.20", count: 2, intervalNs: 5e8, size: 56, startNs: 0 },
    ],
    expect: [
      { label: "client -> host:8080/tcp", from: "client", dst: "192.168.1.10", proto: "tcp", port: 8080, sink: { ns: "c2", port: 80 }, reachable: true },
      { label: "client -> host:9999/tcp", from: "client", dst: "192.168.1.10", proto: "tcp", port: 9999, sink: null, reachable: false },
    ],
    capture: opts.capture ?? [],
    report: ["host", "client", "c2", "c3"].map((ns) => ({ ns, label: ns })),
    proxies: [],
    announce: [],
  };
}
