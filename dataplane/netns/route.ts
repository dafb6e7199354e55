// The namespace's view of its routing tables (fib.ts): the few questions the forwarding path
// asks, in one place. FIB interface indexes are 1-based (0 = none, as Linux's ifindex 0); the
// namespace's interface number is its port index, so oif = port + 1 here and only here.

import type { Netns } from "./netns.js";
import { addressRoutes, parseRoute, fibErrorText, showRoutes } from "./route-format.js";

export { RTN_UNICAST, RTN_LOCAL, RTN_BLACKHOLE, RTN_UNREACHABLE, RTN_PROHIBIT } from "./fib.js";

/** Route index in the main table for `dst`, or -1 (no route). */
export function routeLookup(ns: Netns, dst: number): number {
  return ns.fib.lookup(dst);
}
export function routeType(ns: Netns, r: number): number {
  return ns.fib.type(r);
}
/** Output interface (port index) of route `r`, -1 for none. */
export function routeOif(ns: Netns, r: number): number {
  return ns.fib.oif(r) - 1;
}
/** Next hop: the gateway, or `dst` itself for an on-link route; in int32 form (`| 0`: a uint32
 *  above 2^31 returned from a call V8 did not inline is boxed, see NeighTable.resolveEntry). */
export function routeNextHop(ns: Netns, r: number, dst: number): number {
  const g = ns.fib.gatewayInt(r);
  return g !== 0 ? g : dst | 0;
}
/** Preferred source address of the route (0 if none). */
export function routePrefSrc(ns: Netns, r: number): number {
  return ns.fib.src(r);
}

/** The main-table routes the kernel adds for an address (the connected prefix route). */
export function addAddressRoutes(ns: Netns, ifindex: number, addr: number, len: number): void {
  for (const spec of addressRoutes(ifindex + 1, addr, len).main) ns.fib.add(spec);
}

/** `ip route add|replace|del ARGS` on the main table; throws with iproute2's message on failure. */
export function ipRoute(ns: Netns, verb: "add" | "replace" | "del", args: string): void {
  const { table, spec } = parseRoute(args, (name) => ns.ifindex(name) + 1);
  if (table !== "main") throw new Error(`${ns.name}: only the main table can be changed ("${args}")`);
  const code = verb === "add" ? ns.fib.add(spec) : verb === "replace" ? ns.fib.replace(spec) : ns.fib.delete(spec.network, spec.len, spec);
  if (code < 0) throw new Error(`${ns.name}: ip route ${verb} ${args}: ${fibErrorText(code)}`);
}

/** `ip route show`. */
export function showRoute(ns: Netns): string {
  return showRoutes(ns.fib, (oif) => ns.portNames[oif - 1] ?? `if${oif}`).join("\n");
}
