// A docker0 host as a RunPlan, for tests and benchmarks of the executor (dataplane/run.ts) and the
// parallel run (dataplane/parallel/): the layout of topologies/docker0.ts (host namespace,
// docker0 172.17.0.1/16 with MAC 02:42:5e:1a:2b:3c, ip_forward on; container N = "cN" at
// 172.17.x.y for N = 256x + y, from c2, with Docker's MAC 02:42:ac:11:x:y, eth0 on a veth whose
// host end "veth<hex>" is a docker0 port, default route via 172.17.0.1) as TopologyOps, and a UDP
// load: `flows` flows split over `pairs` items, item i from container 2 + 2i to 3 + 2i, port
// 5001, a FlowSink at the receiver. Every namespace is reported.

import type { TopologyOp } from "../config.js";
import type { PlanTraffic, RunPlan } from "../plan.js";

export interface UdpLoad {
  /** Flows in total, split as evenly as possible over the pairs. */
  flows: number;
  /** Datagrams per flow. */
  packets: number;
  /** Per flow (default 1000 pps). */
  ratePps?: number;
  /** Frame size, bytes (default 64). */
  size?: number;
  /** Sender/receiver pairs (default 1); needs 2 x pairs containers. */
  pairs?: number;
  port?: number;
  startNs?: number;
}

export interface Docker0PlanOptions {
  /** Containers (default 2). */
  containers?: number;
  seed?: number;
  udp?: UdpLoad | null;
  capture?: string[] | "all";
  durationNs?: number;
}

/** Container N's address (N = 2, 3, ...): 172.17.x.y with N = 256x + y. */
export const containerIp = (n: number): string => `172.17.${n >> 8}.${n & 255}`;
const hex2 = (v: number) => v.toString(16).padStart(2, "0");
/** Docker's classic MAC for container N: 02:42 + the address's bytes. */
export const containerMac = (n: number): string => `02:42:ac:11:${hex2(n >> 8)}:${hex2(n & 255)}`;
/** Host end of container N's veth. */
export const vethOf = (n: number): string => `veth${(0x1a2b30 + n).toString(16)}`;

export function docker0Ops(containers: number): TopologyOp[] {
  if (!(Number.isInteger(containers) && containers >= 1 && containers <= 65000)) throw new RangeError(`containers ${containers}: 1..65000`);
  const ops: TopologyOp[] = [
    { op: "netns", name: "host" },
    { op: "bridge", ref: "host/docker0", spec: { mac: "02:42:5e:1a:2b:3c" } },
    { op: "addr", ref: "host/docker0", cidr: "172.17.0.1/16" },
    { op: "sysctl", ns: "host", key: "net.ipv4.ip_forward", value: 1 },
  ];
  for (let k = 0; k < containers; k++) {
    const n = k + 2;
    ops.push(
      { op: "netns", name: `c${n}` },
      { op: "veth", spec: { a: `host/${vethOf(n)}`, b: `c${n}/eth0`, mac: `3e:00:00:00:${hex2(n >> 8)}:${hex2(n & 255)}`, peerMac: containerMac(n) } },
      { op: "addr", ref: `c${n}/eth0`, cidr: `${containerIp(n)}/16` },
      { op: "route", ns: `c${n}`, args: "default via 172.17.0.1 dev eth0" },
      { op: "master", ref: `host/${vethOf(n)}`, bridge: "docker0" },
    );
  }
  return ops;
}

export function docker0Plan(opts: Docker0PlanOptions = {}): RunPlan {
  const containers = opts.containers ?? 2;
  const traffic: PlanTraffic[] = [];
  const load = opts.udp;
  if (load) {
    const pairs = load.pairs ?? 1;
    if (2 * pairs > containers) throw new RangeError(`${pairs} UDP pairs need ${2 * pairs} containers, the plan has ${containers}`);
    const port = load.port ?? 5001;
    for (let i = 0; i < pairs; i++) {
      const flows = Math.floor(load.flows / pairs) + (i < load.flows % pairs ? 1 : 0);
      const from = 2 + 2 * i, to = 3 + 2 * i;
      traffic.push({
        kind: "udp", id: `udp${i}`, from: `c${from}`, dst: containerIp(to), dport: port, sink: { ns: `c${to}`, port },
        flows, packets: load.packets, ratePps: load.ratePps ?? 1000, size: load.size ?? 64, startNs: load.startNs ?? 0,
      });
    }
  }
  const names = Array.from({ length: containers }, (_, k) => `c${k + 2}`);
  const plan: RunPlan = {
    config: { seed: opts.seed ?? 1, ops: docker0Ops(containers) },
    traffic,
    expect: [],
    capture: opts.capture ?? [],
    report: [{ ns: "host", label: "host" }, ...names.map((ns) => ({ ns, label: ns }))],
    proxies: [],
    announce: [],
  };
  if (opts.durationNs !== undefined) plan.durationNs = opts.durationNs;
  return plan;
}
