// DataplaneConfig: a dataplane as plain, serializable tables — the list of Topology calls that
// builds it, in order. The Docker model (control/) produces one; `applyConfig` builds it into a
// Topology, on the main thread or in each worker of a parallel run (dataplane/parallel/), so
// every replica is built from the same data and not from live objects.

import { Topology, type BridgeSpec, type VethSpec, type NeighSpec, type LinkSettings } from "./topology.js";
import type { EngineOptions } from "./engine/engine.js";
import type { BridgePortFlags } from "./devices/bridge-control.js";

export type TopologyOp =
  | { op: "netns"; name: string }
  | { op: "bridge"; ref: string; spec?: BridgeSpec }
  | { op: "veth"; spec: VethSpec }
  | { op: "master"; ref: string; bridge: string }
  /** `bridge link set dev PORT hairpin on` and the other port flags. */
  | { op: "brport"; ref: string; flags: Partial<BridgePortFlags> }
  | { op: "addr"; ref: string; cidr: string }
  | { op: "route"; ns: string; args: string }
  | { op: "neigh"; ns: string; spec: NeighSpec }
  | { op: "link"; ref: string; settings: LinkSettings }
  | { op: "sysctl"; ns: string; key: string; value: number }
  /** iptables-restore of `iptables-save` text (the tables given replace those of the same name). */
  | { op: "iptables"; ns: string; rules: string };

export interface DataplaneConfig {
  seed: number;
  ops: TopologyOp[];
}

/** Build the dataplane a config describes. Errors are the Topology's (TopologyError), prefixed
 *  with the op's index so a bad config names the step. */
export function applyConfig(cfg: DataplaneConfig, opts: EngineOptions = {}): Topology {
  const t = new Topology({ ...opts, seed: cfg.seed });
  cfg.ops.forEach((o, i) => {
    try {
      applyOp(t, o);
    } catch (e) {
      (e as Error).message = `config op ${i} (${o.op}): ${(e as Error).message}`;
      throw e;
    }
  });
  return t;
}

export function applyOp(t: Topology, o: TopologyOp): void {
  switch (o.op) {
    case "netns": t.netns(o.name); return;
    case "bridge": t.bridge(o.ref, o.spec); return;
    case "veth": t.veth(o.spec); return;
    case "master": t.master(o.ref, o.bridge); return;
    case "brport": t.brport(o.ref, o.flags); return;
    case "addr": t.addr(o.ref, o.cidr); return;
    case "route": t.route(o.ns, o.args); return;
    case "neigh": t.neigh(o.ns, o.spec); return;
    case "link": t.linkSet(o.ref, o.settings); return;
    case "sysctl": t.sysctl(o.ns, o.key, o.value); return;
    case "iptables": t.iptables(o.ns, o.rules); return;
  }
}
