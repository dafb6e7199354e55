// REJECT --reject-with tcp-reset (net/ipv4/netfilter/nf_reject_ipv4.c nf_send_reset): the stack
// of the rejecting namespace answers a TCP segment with a reset, built as Linux builds it:
//
//   IPv4   version 4, IHL 5, TOS 0, id 0, DF, TTL 64 (the route's hop limit), protocol 6,
//          source = the segment's destination, destination = its source (nf_reject_iphdr_put)
//   TCP    ports swapped, data offset 5, no options, window 0 (nf_reject_ip_tcphdr_put):
//          the segment had ACK -> RST, seq = its ack; else RST|ACK, seq 0,
//          ack = its seq + SYN + FIN + data length
//
// Nothing is sent for a non-first fragment, a segment without a whole TCP header, a RST, a
// segment whose checksum does not verify (unless the local stack wrote it: PKT_L4_CSUM_OK), or one
// to a broadcast or multicast address. The reset is attached to the segment's connection
// (RELATED) and leaves through OUTPUT and POSTROUTING like any packet of the namespace.

import { getU16, getU32, setU16 } from "../../core/bytes.js";
import { ipv4WriteHeader } from "../../core/wire/ipv4.js";
import { PKT_L4_CSUM_OK } from "../../core/packet.js";
import { tcpComputeChecksum, tcpVerifyChecksum, tcpWriteReset } from "../../core/wire/tcp.js";
import { RTN_UNICAST, routeLookup, routeType } from "../netns/route.js";
import type { NsNetfilter } from "./hooks.js";

const RST = 0x04;

/** Answer the TCP segment whose IPv4 header is at `ip` in `slot` with a reset (the segment
 *  itself is left to the caller, which drops it). */
export function sendTcpReset(nf: NsNetfilter, slot: number, ip: number): void {
  const ns = nf.ns;
  const e = ns.engine;
  const a = e.arena;
  const b = a.bytes;
  if (b[ip + 9] !== 6 || (getU16(b, ip + 6) & 0x1fff) !== 0) return;
  const ihl = (b[ip]! & 15) << 2;
  const total = getU16(b, ip + 2);
  const l4 = ip + ihl;
  if (total < ihl + 20) return;
  const doff = (b[l4 + 12]! >>> 4) << 2;
  const flags = b[l4 + 13]!;
  if (doff < 20 || ihl + doff > total || (flags & RST) !== 0) return;
  const src = getU32(b, ip + 12), dst = getU32(b, ip + 16);
  if ((a.flags[slot]! & PKT_L4_CSUM_OK) === 0 && !tcpVerifyChecksum(b, l4, total - ihl, src, dst)) return;
  if (src === 0xffffffff || src >>> 28 === 0xe || dst === 0xffffffff || dst >>> 28 === 0xe) return;
  const rt = routeLookup(ns, src);
  if (rt < 0 || routeType(ns, rt) !== RTN_UNICAST) return;
  const t = e.alloc(ns);
  if (t < 0) return;
  a.setLen(t, 14 + 40);
  const o = a.start(t) + 14;
  ipv4WriteHeader(b, o, 0, 40, 0, 0x4000, 64, 6, dst, src);
  const t4 = o + 20;
  tcpWriteReset(b, t4, l4, total - ihl - doff);
  setU16(b, t4 + 16, tcpComputeChecksum(b, t4, 20, dst, src));
  a.flags[t] = a.flags[t]! | PKT_L4_CSUM_OK;
  nf.attachRelated(t, slot);
  nf.localOut(t, rt, src | 0);
}

