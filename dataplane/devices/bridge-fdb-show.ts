// `bridge fdb show` for an emulated bridge, line for line as iproute2 6.1 prints it on Linux 6.18
// (fixtures/bridge-fdb-show.txt, captured by scripts/kernel-bridge.sh):
//
//   33:33:00:00:00:01 dev docker0 self permanent          <- the bridge interface's own multicast list
//   ...
//   02:42:e1:1f:3e:a7 dev docker0 master docker0 permanent <- the bridge's MAC (FDB, port 0)
//   02:42:ac:11:00:02 dev vethc1 master docker0            <- learned (note the trailing space)
//   ae:de:3b:f2:58:12 dev vethc1 master docker0 permanent  <- the port's own MAC
//   33:33:00:00:00:01 dev vethc1 self permanent            <- the port device's multicast list
//
// Order (rtnl_fdb_dump): interfaces by ifindex (the bridge, then its ports as they were added);
// the bridge's `self` lines before its FDB entries, a port's after; FDB entries newest first (the
// kernel's fdb_list), a moved entry keeping its place. State: permanent (local), static, stale
// (expired, not yet swept), nothing (dynamic).
//
// The `self` lines are the interfaces' multicast lists, not bridge state; they are reproduced for
// a bridge with multicast snooping on (its default, which joins 224.0.0.106 / ff02::6a) and for veth
// ports: 33:33:00:00:00:01 and 01:00:5e:00:00:01, plus, with IPv6 on, the solicited-node group of
// the EUI-64 link-local address (33:33:ff + the MAC's last 3 bytes). The bridge lists were measured
// with IPv6 on and off; for ports only with IPv6 on (off = without the solicited-node group: derived).

import { formatMac } from "../../core/addr.js";
import { FDB_LOCAL, FDB_STATIC } from "./fdb.js";
import type { BridgeControl } from "./bridge-control.js";

export type FdbState = "static" | "permanent" | "dynamic";

const ALL_NODES = "33:33:00:00:00:01";
const ALL_HOSTS = "01:00:5e:00:00:01";
const MRD = ["01:00:5e:00:00:6a", "33:33:00:00:00:6a"];

function solicitedNode(mac: number): string {
  return "33:33:ff" + formatMac(mac).slice(8);
}

/** Multicast addresses of the bridge interface, in the order Linux lists them. */
export function bridgeSelfAddrs(mac: number, ipv6: boolean): string[] {
  return [ALL_NODES, MRD[0]!, MRD[1]!, ALL_HOSTS, ...(ipv6 ? [solicitedNode(mac)] : [])];
}

/** Multicast addresses of a veth bridge port. */
export function portSelfAddrs(mac: number, ipv6: boolean): string[] {
  return [ALL_NODES, ALL_HOSTS, ...(ipv6 ? [solicitedNode(mac)] : [])];
}

export function fdbShowLines(br: BridgeControl, self: boolean): string[] {
  const fdb = br.fdb;
  const now = br.engine ? br.engine.clock.now : 0;
  const entries = fdb.indices();
  const lines: string[] = [];
  const master = (port: number) => {
    for (const i of entries) {
      if (fdb.portAt(i) !== port) continue;
      const f = fdb.flagsAt(i);
      const state = f & FDB_LOCAL ? "permanent" : f & FDB_STATIC ? "static" : br.ageingTime > 0 && fdb.updatedAt(i) + br.ageingTime <= now ? "stale" : "";
      lines.push(`${formatMac(fdb.macAt(i))} dev ${br.portNames[port]} master ${br.ifname} ${state}`);
    }
  };
  const selfLines = (addrs: string[], dev: string) => {
    if (self) for (const a of addrs) lines.push(`${a} dev ${dev} self permanent`);
  };
  selfLines(bridgeSelfAddrs(br.mac, br.ipv6), br.ifname);
  master(0);
  const ports: number[] = [];
  for (let p = 1; p < br.portNames.length; p++) if (br.portNames[p]) ports.push(p);
  ports.sort((a, b) => br.portSeq[a]! - br.portSeq[b]!);
  for (const p of ports) {
    master(p);
    if (br.portMac[p]! >= 0) selfLines(portSelfAddrs(br.portMac[p]!, br.ipv6), br.portNames[p]!);
  }
  return lines;
}
