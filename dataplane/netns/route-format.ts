// Routes as iproute2 takes and shows them, and the routes the kernel derives from an interface
// address. The edge between strings and the Fib's numbers (fib.ts): scenario files and tests say
// `ip route add` arguments, `wireyard inspect` prints `ip route show` lines.
//
// - parseRoute("blackhole 10.0.0.0/8", devIndex) -> { table, spec } (the arguments of `ip route add`;
//   the table is "local" for local/broadcast/anycast routes unless `table` says, as iproute2 does)
// - formatRoute(fib, r, devName) -> "10.65.0.2 dev cali1234 scope link"; showRoutes(fib, devName)
//   -> every line of `ip route show [table local]`. iproute2 6.1 ends each line with a space; these
//   lines do not (compare trimmed).
// - addressRoutes(oif, addr, len, loopback) -> the routes fib_add_ifaddr adds for a primary address
//   on an interface that is up.
// - fibErrorText(code) -> what `ip` prints for a Fib error code.
// Formats and defaults checked against iproute2 6.1 on Linux 6.18 in a scratch namespace (the
// fixture in fib.test.ts).

import { formatIpv4, parseIpv4 } from "../../core/addr.js";
import {
  FIB_EEXIST, FIB_EINVAL, FIB_ESRCH, RTN_ANYCAST, RTN_BROADCAST, RTN_LOCAL, RTN_UNICAST, RTNH_F_ONLINK,
  RTPROT_BOOT, RTPROT_KERNEL, RT_SCOPE_HOST, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE, prefixMask,
  type Fib, type RouteSpec,
} from "./fib.js";

/** rtnl_rtntype_n2a, by RTN_* number. */
export const ROUTE_TYPE_NAMES = ["none", "unicast", "local", "broadcast", "anycast", "multicast", "blackhole", "unreachable", "prohibit", "throw", "nat"];

/** /etc/iproute2/rt_protos of iproute2 6.1. */
export const PROTO_NAMES: Record<number, string> = {
  0: "unspec", 1: "redirect", 2: "kernel", 3: "boot", 4: "static", 8: "gated", 9: "ra", 10: "mrt", 11: "zebra", 12: "bird",
  13: "dnrouted", 14: "xorp", 15: "ntk", 16: "dhcp", 18: "keepalived", 42: "babel", 99: "openr", 186: "bgp", 187: "isis",
  188: "ospf", 189: "rip", 192: "eigrp",
};

/** rtnl_rtscope_n2a. */
export const SCOPE_NAMES: Record<number, string> = { 0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere" };

export type TableName = "main" | "local";

export class RouteSyntaxError extends Error {
  override name = "RouteSyntaxError";
}

function byName(table: Record<number, string>, word: string, what: string): number {
  for (const [n, name] of Object.entries(table)) if (name === word) return Number(n);
  if (/^\d{1,3}$/.test(word) && Number(word) < 256) return Number(word);
  throw new RouteSyntaxError(`"${word}" is not a valid ${what}`);
}

/** Parse the arguments of `ip route add|replace|del` into a spec for Fib.add/replace/delete. */
export function parseRoute(args: string, devIndex: (name: string) => number): { table: TableName; spec: RouteSpec } {
  const w = args.trim().split(/\s+/);
  let i = 0;
  const t = ROUTE_TYPE_NAMES.indexOf(w[0]!);
  if (t > 0) i++;
  const dst = w[i++];
  if (dst === undefined) throw new RouteSyntaxError("a prefix or \"default\" is expected");
  let network = 0, len = 0;
  if (dst !== "default") {
    const slash = dst.indexOf("/");
    network = parseIpv4(slash < 0 ? dst : dst.slice(0, slash));
    len = slash < 0 ? 32 : Number(dst.slice(slash + 1));
    if (!/^\d{1,2}$/.test(slash < 0 ? "32" : dst.slice(slash + 1)) || len > 32) throw new RouteSyntaxError(`"${dst}": prefix length must be 0..32`);
  }
  const spec: RouteSpec = { network, len };
  if (t > 0) spec.type = t; // absent: unicast for add, any type for delete
  let table: TableName | undefined;
  while (i < w.length) {
    const key = w[i++]!, val = w[i];
    const need = (): string => {
      if (val === undefined) throw new RouteSyntaxError(`"${key}" needs an argument`);
      i++;
      return val;
    };
    if (key === "via") spec.gateway = parseIpv4(need());
    else if (key === "dev" || key === "oif") {
      const name = need(), idx = devIndex(name);
      if (idx <= 0) throw new RouteSyntaxError(`Cannot find device "${name}"`);
      spec.oif = idx;
    } else if (key === "src") spec.src = parseIpv4(need());
    else if (key === "metric" || key === "priority" || key === "preference") {
      const v = need();
      if (!/^\d+$/.test(v) || Number(v) > 0xffff_ffff) throw new RouteSyntaxError(`"${v}" is not a valid metric`);
      spec.metric = Number(v);
    } else if (key === "proto" || key === "protocol") spec.proto = byName(PROTO_NAMES, need(), "protocol");
    else if (key === "scope") spec.scope = byName(SCOPE_NAMES, need(), "scope");
    else if (key === "onlink") spec.flags = (spec.flags ?? 0) | RTNH_F_ONLINK;
    else if (key === "table") {
      const v = need();
      if (v !== "main" && v !== "local") throw new RouteSyntaxError(`table "${v}": only main and local exist`);
      table = v;
    } else throw new RouteSyntaxError(`"${key}" is not understood (supported: via dev src metric proto scope onlink table)`);
  }
  const type = spec.type ?? RTN_UNICAST;
  if (!table) table = type === RTN_LOCAL || type === RTN_BROADCAST || type === RTN_ANYCAST ? "local" : "main";
  return { table, spec };
}

/** One line of `ip route show` (iproute2 print_route; main/local table, no `table` word). */
export function formatRoute(fib: Fib, r: number, devName: (oif: number) => string): string {
  const len = fib.len(r), type = fib.type(r);
  let s = type === RTN_UNICAST ? "" : `${ROUTE_TYPE_NAMES[type] ?? type} `;
  s += len === 0 ? "default" : len === 32 ? formatIpv4(fib.network(r)) : `${formatIpv4(fib.network(r))}/${len}`;
  if (fib.gateway(r)) s += ` via ${formatIpv4(fib.gateway(r))}`;
  if (fib.oif(r)) s += ` dev ${devName(fib.oif(r))}`;
  if (fib.proto(r) !== RTPROT_BOOT) s += ` proto ${PROTO_NAMES[fib.proto(r)] ?? fib.proto(r)}`;
  if (fib.scope(r) !== RT_SCOPE_UNIVERSE) s += ` scope ${SCOPE_NAMES[fib.scope(r)] ?? fib.scope(r)}`;
  if (fib.src(r)) s += ` src ${formatIpv4(fib.src(r))}`;
  if (fib.metric(r)) s += ` metric ${fib.metric(r)}`;
  if (fib.flags(r) & RTNH_F_ONLINK) s += " onlink";
  return s;
}

/** Every line of `ip route show` for this table, in the kernel's order. */
export function showRoutes(fib: Fib, devName: (oif: number) => string): string[] {
  return fib.routes().map((r) => formatRoute(fib, r, devName));
}

/**
 * Routes the kernel adds for a primary address `addr/len` on interface `oif` once it is up
 * (net/ipv4/fib_frontend.c fib_add_ifaddr): `local addr` (table local, scope host); unless the
 * address is a /32 or the prefix is 0.0.0.0/x, the prefix route `dev oif proto kernel scope link
 * src addr` (table main; on a loopback it is a `local` route in table local) and, below /31, the
 * `broadcast` route of the prefix's last address (table local). All proto kernel, src addr.
 */
export function addressRoutes(oif: number, addr: number, len: number, loopback = false): { local: RouteSpec[]; main: RouteSpec[] } {
  const a = addr >>> 0, mask = prefixMask(len), prefix = (a & mask) >>> 0;
  const k = { oif, proto: RTPROT_KERNEL, src: a };
  const local: RouteSpec[] = [{ ...k, network: a, len: 32, type: RTN_LOCAL, scope: RT_SCOPE_HOST }];
  const main: RouteSpec[] = [];
  if (prefix >>> 24 === 0 || (prefix === a && len === 32)) return { local, main };
  if (loopback) local.push({ ...k, network: prefix, len, type: RTN_LOCAL, scope: RT_SCOPE_HOST });
  else main.push({ ...k, network: prefix, len, type: RTN_UNICAST, scope: RT_SCOPE_LINK });
  if (len < 31) local.push({ ...k, network: (prefix | ~mask) >>> 0, len: 32, type: RTN_BROADCAST, scope: RT_SCOPE_LINK });
  return { local, main };
}

/** What `ip route` prints for a Fib error code. */
export function fibErrorText(code: number): string {
  if (code === FIB_EEXIST) return "RTNETLINK answers: File exists";
  if (code === FIB_ESRCH) return "RTNETLINK answers: No such process";
  if (code === FIB_EINVAL) return "Error: Invalid prefix for given prefix length.";
  return `RTNETLINK answers: error ${-code}`;
}

