// IPv4 receive in a namespace (net/ipv4/ip_input.c, ip_forward.c, icmp.c echo):
//   checks: version 4, IHL >= 5, total length within the frame, header checksum;
//   local destination → ICMP echo answered in place (type 0, addresses swapped, TTL 64, DF
//     clear, id from the hashed generator), UDP to a bound port → its handler, UDP to a closed
//     port → ICMP port unreachable, anything else local → delivered;
//   otherwise, with ip_forward: route (no route → net unreachable; blackhole → silent drop;
//     unreachable → host unreachable; prohibit → admin prohibited), then TTL (<= 1 → time
//     exceeded quoting the packet as received), then MTU (DF → fragmentation needed with the
//     next-hop MTU; else fragments), then TTL - 1 with an incremental checksum and output.
// Routing comes before the TTL check, as in Linux (ip_route_input, then ip_forward).
// With netfilter (ns.netfilter, netfilter/hooks.ts): PREROUTING after the header checks, INPUT
// before local delivery, FORWARD and POSTROUTING after the TTL decrement (before fragmentation
// and the neighbour), OUTPUT and POSTROUTING for the echo reply; one test each without.

import { getU16, getU32, setU16, setU32 } from "../../core/bytes.js";
import { checksumFold, checksumAdd, checksumAdd20, checksumUpdate16 } from "../../core/checksum.js";
import { ETH_HEADER_LEN } from "../../core/wire/ethernet.js";
import { ipv4DecTtl } from "../../core/wire/ipv4.js";
import { PKT_TRACE } from "../../core/packet.js";
import { formatIpv4 } from "../../core/addr.js";
import { ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED, ICMP_UNREACH_FILTER_PROHIB, ICMP_UNREACH_FRAG_NEEDED, ICMP_UNREACH_HOST, ICMP_UNREACH_NET, ICMP_UNREACH_PORT } from "../../core/wire/icmp.js";
import { Netns, PKT_FORWARDED, PKT_NFCT } from "./netns.js";
import { RTN_BLACKHOLE, RTN_PROHIBIT, RTN_UNICAST, RTN_UNREACHABLE, routeLookup, routeOif, routeType } from "./route.js";
import { icmpError } from "./icmp-error.js";
import { outputVia } from "./ip-output.js";
import { fragmentAndSend } from "./fragment.js";

export function ipInput(ns: Netns, s: number, port: number, off: number, len: number): void {
  const e = ns.engine;
  const a = e.arena;
  const b = a.bytes;
  const r = ns.r;
  const ip = off + ETH_HEADER_LEN;
  const avail = len - ETH_HEADER_LEN;
  if (avail < 20 || b[ip]! >> 4 !== 4) return ns.dropIn(s, r["ip-header"]);
  const ihl = (b[ip]! & 15) * 4;
  const total = getU16(b, ip + 2);
  if (ihl < 20 || total < ihl || total > avail) return ns.dropIn(s, r["ip-header"]);
  if (checksumFold(ihl === 20 ? checksumAdd20(b, ip) : checksumAdd(0, b, ip, ihl)) !== 0xffff) return ns.dropIn(s, r["ip-checksum"]);
  if (total < avail) a.setLen(s, ETH_HEADER_LEN + total); // strip Ethernet padding
  if (ns.netfilter !== null) return ns.netfilter.ipRcv(s, port, ip, ihl, total);
  ipRcvFinish(ns, s, port, ip, ihl, total);
}

/** ip_rcv_finish: after PREROUTING, the route of the (possibly translated) destination decides
 *  local delivery or forwarding. */
export function ipRcvFinish(ns: Netns, s: number, port: number, ip: number, ihl: number, total: number): void {
  const e = ns.engine;
  const b = e.arena.bytes;
  const r = ns.r;
  // addresses in int32 form: a uint32 above 2^31 passed to a call V8 did not inline is boxed
  // (16 bytes per packet, seen as GCs once ipRcvFinish ran from the netfilter path)
  const dst = getU32(b, ip + 16) | 0;
  const src = getU32(b, ip + 12);
  if (src >>> 24 === 127 || (src >>> 28) === 0xe) return e.drop(ns, r.martian, s);
  if (ns.localIfOf(dst) >= 0 || dst === -1) return localDeliver(ns, s, port, ip, ihl, total, dst);
  if (!ns.ipForward) return e.drop(ns, r["not-forwarding"], s);
  ipForwardPacket(ns, s, port, ip, ihl, total, dst);
}

/** ip_forward for a packet that is not local: route, TTL, MTU, then out. `dst` in int32 form. */
export function ipForwardPacket(ns: Netns, s: number, inPort: number, ip: number, _ihl: number, total: number, dst: number): void {
  const e = ns.engine;
  const a = e.arena;
  const b = a.bytes;
  const r = ns.r;
  const rt = routeLookup(ns, dst);
  if (rt < 0) return icmpError(ns, s, ip, ICMP_DEST_UNREACH, ICMP_UNREACH_NET, 0, r["no-route"], true);
  const type = routeType(ns, rt);
  if (type !== RTN_UNICAST) {
    if (type === RTN_BLACKHOLE) return e.drop(ns, r.blackhole, s);
    if (type === RTN_UNREACHABLE) return icmpError(ns, s, ip, ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, 0, r["unreachable-route"], true);
    if (type === RTN_PROHIBIT) return icmpError(ns, s, ip, ICMP_DEST_UNREACH, ICMP_UNREACH_FILTER_PROHIB, 0, r["prohibit-route"], true);
    return e.drop(ns, r["no-route"], s);
  }
  if (b[ip + 8]! <= 1) return icmpError(ns, s, ip, ICMP_TIME_EXCEEDED, 0, 0, r["ttl-expired"]);
  const oif = routeOif(ns, rt);
  const mtu = ns.mtu[oif]!;
  a.flags[s]! |= PKT_FORWARDED;
  if (total > mtu) {
    if (getU16(b, ip + 6) & 0x4000) return icmpError(ns, s, ip, ICMP_DEST_UNREACH, ICMP_UNREACH_FRAG_NEEDED, mtu, r["frag-needed"]);
    ipv4DecTtl(b, ip);
    if (ns.netfilter !== null) return ns.netfilter.forward(s, inPort, ip, rt, oif, dst, total, mtu);
    return fragmentAndSend(ns, s, rt, dst >>> 0, mtu);
  }
  if (a.flags[s]! & PKT_TRACE) e.trace.note(s, ns, `forward ${formatIpv4(getU32(b, ip + 12))} > ${formatIpv4(dst >>> 0)} in ${ns.portNames[inPort]}, ttl ${b[ip + 8]} -> ${b[ip + 8]! - 1}`);
  ipv4DecTtl(b, ip);
  if (ns.netfilter !== null) return ns.netfilter.forward(s, inPort, ip, rt, oif, dst, total, mtu);
  outputVia(ns, s, rt, dst);
}

/** `dst` in int32 form. */
function localDeliver(ns: Netns, s: number, port: number, ip: number, ihl: number, total: number, dst: number): void {
  const e = ns.engine;
  const b = e.arena.bytes;
  if (ns.netfilter !== null && !ns.netfilter.input(s, ip, port)) return;
  const proto = b[ip + 9]!;
  const l4 = ip + ihl;
  const frag = getU16(b, ip + 6) & 0x3fff;
  if (frag !== 0) return e.deliver(ns, s); // reassembly is not emulated: counted as delivered to the stack
  if (proto === 1 && total - ihl >= 8 && b[l4] === 8) return echoReply(ns, s, ip, ihl, dst);
  if (proto === 1 && total - ihl >= 8 && ns.icmp !== null) return ns.icmp(ns, s, ip, l4);
  if (proto === 17 && total - ihl >= 8) {
    const h = ns.udp.get(getU16(b, l4 + 2));
    if (h !== null) return h(ns, s, ip, l4);
    if (dst === -1) return e.deliver(ns, s);
    return icmpError(ns, s, ip, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, 0, ns.r["port-unreachable"]);
  }
  if (proto === 6 && total - ihl >= 20) {
    if (ns.tcp === null && Netns.tcpLayer !== null) Netns.tcpLayer(ns); // made on first use
    if (ns.tcp !== null) return ns.tcp(ns, s, ip, l4);
  }
  if (e.arena.flags[s]! & PKT_TRACE) e.trace.note(s, ns, `local delivery, protocol ${proto}`);
  e.deliver(ns, s);
}

/** icmp_echo: the request becomes the reply in place (payload untouched). */
function echoReply(ns: Netns, s: number, ip: number, ihl: number, dst: number): void {
  const e = ns.engine;
  const b = e.arena.bytes;
  const src = getU32(b, ip + 12);
  const c = ip + ihl;
  // ICMP: type 8 -> 0, checksum updated incrementally (RFC 1624)
  setU16(b, c + 2, checksumUpdate16(getU16(b, c + 2), 0x0800 | b[c + 1]!, b[c + 1]!));
  b[c] = 0;
  // IP: addresses swapped, new id, DF clear, TTL 64, fresh header checksum
  setU32(b, ip + 12, dst);
  setU32(b, ip + 16, src);
  setU16(b, ip + 4, ns.ipIdent(dst | 0, src | 0, 1));
  setU16(b, ip + 6, 0);
  b[ip + 8] = 64;
  setU16(b, ip + 10, 0);
  setU16(b, ip + 10, ~checksumFold(checksumAdd(0, b, ip, ihl)) & 0xffff);
  // a new packet (Linux builds the reply in its own skb): no conntrack reference of the request
  e.arena.flags[s]! &= ~(PKT_FORWARDED | PKT_NFCT);
  const rt = routeLookup(ns, src);
  if (rt < 0 || routeType(ns, rt) !== RTN_UNICAST) return e.drop(ns, ns.r["no-route"], s);
  if (e.arena.flags[s]! & PKT_TRACE) e.trace.note(s, ns, `echo request from ${formatIpv4(src)}: reply`);
  if (ns.netfilter !== null) return ns.netfilter.localOut(s, rt, src | 0);
  outputVia(ns, s, rt, src | 0);
}

