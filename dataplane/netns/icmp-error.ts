// ICMP errors as Linux sends them (net/ipv4/icmp.c __icmp_send; BEHAVIOR.md 3.5, 5.3, 5.10):
// - never about an ICMP error, a non-first fragment, or a packet to/from a broadcast or
//   multicast address;
// - source: the original's destination when that is one of our addresses (RTCF_LOCAL: e.g. port
//   unreachable, REJECT in INPUT), else the address of our interface towards the original sender
//   (the route back);
// - TOS (original & 0x1e) | 0xc0, TTL 64, DF clear, a random IP id;
// - the quote: as much of the original datagram (from its IP header) as fits in 576 bytes
//   (min(576, route MTU) - 20 - 8), as it was when the error was decided;
// - rate-limited per destination (icmp-limit.ts); routing errors spend a token twice.
// The error is built in a new slot; the original is then dropped with the caller's reason. With
// netfilter the error is attached to the original's connection (RELATED, so NAT translates it
// back) and leaves through OUTPUT and POSTROUTING (netfilter/hooks.ts).

import { getU16, getU32, setU16, setU32 } from "../../core/bytes.js";
import { internetChecksum } from "../../core/checksum.js";
import { ipv4WriteHeader } from "../../core/wire/ipv4.js";
import { ETH_HEADER_LEN } from "../../core/wire/ethernet.js";
import { PKT_TRACE } from "../../core/packet.js";
import { formatIpv4 } from "../../core/addr.js";
import { ICMP_DEST_UNREACH, ICMP_UNREACH_HOST } from "../../core/wire/icmp.js";
import type { Netns } from "./netns.js";
import { RTN_UNICAST, routeLookup, routeOif, routePrefSrc, routeType } from "./route.js";
import { outputVia } from "./ip-output.js";

const IP = ETH_HEADER_LEN;

/**
 * Answer the IPv4 packet at `ipOff` in `slot` with ICMP `type`/`code` (`info`: next-hop MTU for
 * fragmentation needed), then drop the original with `reason`. `routingError` spends the rate
 * limit twice (ip_error + icmp_send).
 */
export function icmpError(ns: Netns, slot: number, ipOff: number, type: number, code: number, info: number, reason: number, routingError = false): void {
  icmpSend(ns, slot, ipOff, type, code, info, routingError);
  ns.engine.drop(ns, reason, slot);
}

/** icmp_send: the error about the packet at `ipOff` in `slot`, if one is due; the original stays
 *  the caller's. */
export function icmpSend(ns: Netns, slot: number, ipOff: number, type: number, code: number, info: number, routingError: boolean): void {
  const e = ns.engine;
  const a = e.arena;
  const b = a.bytes;
  const src = getU32(b, ipOff + 12);
  const proto = b[ipOff + 9]!;
  const frag = getU16(b, ipOff + 6) & 0x1fff;
  const ihl = (b[ipOff]! & 15) * 4;
  const isError = proto === 1 && ihl + 1 <= a.len[slot]! && isIcmpError(b[ipOff + ihl]!);
  const now = e.clock.now;
  let send = !isError && frag === 0 && src !== 0 && src >>> 28 !== 0xe && src !== 0xffffffff;
  // ip_error spends its own token first for routing errors, then icmp_send spends one
  if (send && ((routingError && !ns.icmpLimit.allow(type, src, now)) || !ns.icmpLimit.allow(type, src, now))) {
    send = false;
    if (a.flags[slot]! & PKT_TRACE) e.trace.note(slot, ns, `ICMP ${type}/${code} to ${formatIpv4(src)} rate-limited`);
  }
  const back = send ? routeLookup(ns, src) : -1;
  if (send && back >= 0 && routeType(ns, back) === RTN_UNICAST) {
    const oif = routeOif(ns, back);
    const origDst = getU32(b, ipOff + 16);
    const from = ns.localIfOf(origDst) >= 0 ? origDst : routePrefSrc(ns, back) || ns.selectSource(oif, src);
    const t = e.alloc(ns);
    if (t >= 0) {
      const origLen = getU16(b, ipOff + 2);
      const room = Math.min(576, ns.mtu[oif]!) - 20 - 8;
      const quote = Math.min(origLen, room, a.len[slot]! - (ipOff - a.start(slot)));
      const o = a.start(t);
      const ip = o + IP;
      a.setLen(t, IP + 20 + 8 + quote);
      b.copyWithin(ip + 28, ipOff, ipOff + quote);
      ipv4WriteHeader(b, ip, (b[ipOff + 1]! & 0x1e) | 0xc0, 28 + quote, ns.ipIdent(from | 0, src | 0, 1), 0, 64, 1, from | 0, src | 0);
      const c = ip + 20;
      b[c] = type;
      b[c + 1] = code;
      setU16(b, c + 2, 0);
      setU32(b, c + 4, info & 0xffff);
      setU16(b, c + 2, internetChecksum(b, c, 8 + quote));
      if (a.flags[slot]! & PKT_TRACE) {
        e.trace.mark(t);
        e.trace.note(slot, ns, `ICMP ${type}/${code} sent to ${formatIpv4(src)} (trace ${e.trace.idOfSlot(t)})`);
      }
      if (ns.netfilter !== null) {
        ns.netfilter.attachRelated(t, slot);
        ns.netfilter.localOut(t, back, src | 0);
      } else outputVia(ns, t, back, src);
    }
  }
}

function isIcmpError(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

/** Host unreachable for a forwarded packet whose next hop did not answer ARP. */
export function hostUnreachable(ns: Netns, slot: number): void {
  icmpError(ns, slot, ns.engine.arena.start(slot) + IP, ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, 0, ns.r["neigh-failed"]);
}
