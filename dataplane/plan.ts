// RunPlan: everything one run needs, as plain data — the dataplane to build (DataplaneConfig),
// the traffic to send, the expectations to check and the capture points — with every name
// resolved to namespaces, interface refs and addresses. The Docker model (control/) makes one
// from a scenario; the executor (dataplane/run.ts) carries it out on one thread, and
// dataplane/parallel/ on N worker threads with identical per-flow results.

import type { DataplaneConfig } from "./config.js";

/** Where a receiving application listens: namespace and port (for a published port, the
 *  container's namespace and container port, after DNAT). */
export interface PlanSink {
  ns: string;
  port: number;
}

export type PlanTraffic =
  | { kind: "ping"; id: string; from: string; dst: string; count: number; intervalNs: number; size: number; startNs: number }
  | { kind: "udp"; id: string; from: string; dst: string; dport: number; sink: PlanSink | null; flows: number; packets: number; ratePps: number; size: number; startNs: number }
  | { kind: "tcp"; id: string; from: string; dst: string; dport: number; sink: PlanSink | null; bytes: number; connections: number; startNs: number }
  | { kind: "replay"; id: string; into: string; file: string; mode: "received" | "sent"; timing: "file" | "asap"; startNs: number };

export interface PlanExpect {
  /** As written in the scenario, for the report: "c0 -> c1 udp/53". */
  label: string;
  from: string;
  dst: string;
  proto: "udp" | "tcp" | "icmp";
  port: number;
  sink: PlanSink | null;
  reachable: boolean;
}

export interface RunPlan {
  config: DataplaneConfig;
  traffic: PlanTraffic[];
  expect: PlanExpect[];
  /** `<namespace>/<ifname>` refs, or "all". */
  capture: string[] | "all";
  /** Namespaces to report per container/host in the summary, with the label to show. */
  report: { ns: string; label: string }[];
  proxies: PlanProxy[];
  announce: PlanAnnounce[];
  /** Virtual ns to run; absent: until the traffic is done plus 1 s. */
  durationNs?: number;
}

/** docker-proxy (userland-proxy on): in `ns` (the host), listens on hostIp:hostPort and relays
 *  each connection (TCP) or each client's datagrams (UDP) over its own socket to dst:dport. */
export interface PlanProxy {
  ns: string;
  proto: "tcp" | "udp";
  /** "0.0.0.0" = every address. */
  hostIp: string;
  hostPort: number;
  dst: string;
  dport: number;
  /** The source of UDP replies to a client: picked by route (Docker <= v27, moby/libnetwork#1729)
   *  or the address the client sent to (v28+, moby/moby#48571); default "route". */
  udpReplyFrom?: "route" | "destination";
}

/** Unsolicited ARP on container start (modern profile, BEHAVIOR.md 1.6): `count` requests
 *  `intervalNs` apart from the interface `ref` for its address `ip`, the first at `startNs`. */
export interface PlanAnnounce {
  ref: string;
  ip: string;
  count: number;
  intervalNs: number;
  startNs: number;
}

export interface TrafficResult {
  id: string;
  kind: PlanTraffic["kind"];
  /** What it describes: "c0 -> 172.17.0.3 udp/53 x4 flows". */
  label: string;
  sent: number;
  received: number;
  lost: number;
  bytesSent: number;
  bytesReceived: number;
}

/** Per reported namespace: what its interfaces sent and received (all protocols). */
export interface NsCounters {
  ns: string;
  label: string;
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
  /** Packets its traffic sent that were never received. */
  lost: number;
}

export interface DropCount {
  device: string;
  reason: string;
  count: number;
}

export interface ExpectResult {
  label: string;
  reachable: boolean;
  passed: boolean;
  /** What was seen: "delivered", "no reply (dropped at host: FORWARD policy)", ... */
  observed: string;
}

export interface RunResult {
  /** Virtual time at the end, ns. */
  virtualNs: number;
  workers: number;
  traffic: TrafficResult[];
  namespaces: NsCounters[];
  drops: DropCount[];
  expect: ExpectResult[];
  /** Engine packet conservation, summed over workers. */
  conservation: { created: number; delivered: number; dropped: number; queued: number; inUse: number; ok: boolean };
  /** Capture files written (when asked), with their frame counts. */
  captures: { file: string; frames: number; points: string[] }[];
}
