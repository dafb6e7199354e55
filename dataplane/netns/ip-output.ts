// Sending an IPv4 packet out of a namespace: route lookup (already done by the caller for
// forwarded packets), neighbour resolution of the next hop, Ethernet header, transmit.
// A packet whose next hop is unresolved waits in the neighbour table; on failure the
// namespace answers forwarded packets with ICMP host unreachable (netns.ts `unresolved`).

import { PKT_TRACE } from "../../core/packet.js";
import { formatIpv4 } from "../../core/addr.js";
import type { Netns } from "./netns.js";
import { routeNextHop, routeOif } from "./route.js";

/**
 * Send the packet in `slot` (Ethernet header space at its start, IPv4 after) along route `r`.
 * `dst` in int32 or uint32 form; callers on the per-packet path pass int32 (`d | 0`) so that the
 * call never boxes it (see NeighTable.resolveEntry).
 */
export function outputVia(ns: Netns, slot: number, r: number, dst: number): void {
  const oif = routeOif(ns, r);
  const nh = routeNextHop(ns, r, dst) | 0;
  const e = ns.engine;
  if (e.arena.flags[slot]! & PKT_TRACE) e.trace.note(slot, ns, `route to ${formatIpv4(dst >>> 0)}: dev ${ns.portNames[oif]}${nh !== (dst | 0) ? ` via ${formatIpv4(nh >>> 0)}` : ""}`);
  if (ns.up[oif] === 0) return e.drop(ns, ns.r["iface-down"], slot);
  const i = ns.neigh.resolveEntry(oif, nh, slot);
  if (i >= 0) ns.sendEthNeigh(slot, oif, i);
}
