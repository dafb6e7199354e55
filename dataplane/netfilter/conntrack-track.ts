// nf_conntrack_in for one IPv4 packet: its tuple read from the headers, its entry found or
// created (conntrack.ts), the protocol's tracker run, the timeout refreshed. UDP, ICMP and generic
// trackers are here (nf_conntrack_proto_{udp,icmp,generic}.c), TCP's state machine in
// conntrack-tcp.ts; ICMP errors are matched to the entry of the datagram they quote
// (nf_conntrack_inet_error).
//
//   UDP      30 s; once a reply was seen, a packet more than 2 s after the first makes it a stream:
//            120 s and ASSURED. A length field beyond the datagram or below 8: INVALID.
//   ICMP     echo, timestamp, information and address mask requests create an entry (30 s), their
//            replies find it by id; a reply alone, an unknown type (> 18) or a type with no inverse
//            is INVALID; never ASSURED.
//   errors   destination unreachable, source quench, redirect, time exceeded, parameter problem:
//            RELATED to the entry whose tuple is the inverse of the quoted datagram's, provided the
//            error goes to that tuple's destination; nothing is created or refreshed. A quoted
//            fragment (offset > 0) or an unknown quote is INVALID.
//   generic  any other protocol, ports 0, 600 s.
//
// Returns a reference (conntrack-bits.ts), CTREF_INVALID or CTREF_DROP.

import { getU16, getU32 } from "../../core/bytes.js";
import {
  CTREF_INVALID, IP_CT_ESTABLISHED_REPLY, IP_CT_RELATED, IP_CT_RELATED_REPLY, IPS_ASSURED, IPS_CONFIRMED, IPS_SEEN_REPLY, T_GENERIC, T_ICMP,
  T_UDP, T_UDP_STREAM, icmpInvertTypeCode, makeRef, refCtinfo, refDir, refEntry, ENT_WORDS, W_STATUS,
} from "./conntrack-bits.js";
import { TCP_R_IGNORED, TCP_R_INVALID, TCP_R_KILL, TCP_R_REOPEN } from "./conntrack-tcp.js";
import type { ConntrackTable } from "./conntrack.js";

const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const S = 1e9;

/** Types that may start an ICMP entry (icmp's valid_new): requests. */
const ICMP_VALID_NEW = new Uint8Array(256);
ICMP_VALID_NEW[8] = ICMP_VALID_NEW[13] = ICMP_VALID_NEW[15] = ICMP_VALID_NEW[17] = 1;

function refuse(ct: ConntrackTable): number {
  ct.invalid++;
  return CTREF_INVALID;
}

/** After a packet was accepted by its tracker: a reply sets SEEN_REPLY. */
function seen(ct: ConntrackTable, ref: number): number {
  if (refCtinfo(ref) === IP_CT_ESTABLISHED_REPLY) {
    const e = refEntry(ref);
    ct.setStatus(e, ct.statusOf(e) | IPS_SEEN_REPLY);
  }
  return ref;
}

/** nf_conntrack_in for the IPv4 packet at `off` (header checked by the caller, whole datagram
 *  present, not a fragment). */
export function trackPacket(ct: ConntrackTable, b: Uint8Array, off: number): number {
  if ((getU16(b, off + 6) & 0x3fff) !== 0) return refuse(ct);
  const ihl = (b[off]! & 0xf) << 2;
  const l4 = off + ihl;
  const l4len = getU16(b, off + 2) - ihl;
  const proto = b[off + 9]!;
  const src = getU32(b, off + 12) | 0;
  const dst = getU32(b, off + 16) | 0;
  if (proto === PROTO_TCP) {
    if (l4len < 20) return refuse(ct);
    const doff = (b[l4 + 12]! >>> 4) << 2;
    if (doff < 20 || l4len < doff) return refuse(ct);
    const ref = ct.lookupOrCreate(proto, src, dst, getU16(b, l4), getU16(b, l4 + 2));
    if (ref < 0) return ref;
    return trackTcp(ct, ref, b[l4 + 13]!, getU32(b, l4 + 4) | 0, getU32(b, l4 + 8) | 0, getU16(b, l4 + 14), l4len - doff);
  }
  if (proto === PROTO_UDP) {
    if (l4len < 8) return refuse(ct);
    const ulen = getU16(b, l4 + 4);
    if (ulen > l4len || ulen < 8) return refuse(ct);
    const ref = ct.lookupOrCreate(proto, src, dst, getU16(b, l4), getU16(b, l4 + 2));
    if (ref < 0) return ref;
    udpPacket(ct, refEntry(ref));
    return seen(ct, ref);
  }
  if (proto === PROTO_ICMP) {
    if (l4len < 8) return refuse(ct);
    const type = b[l4]!;
    if (type > 18) return refuse(ct);
    if (type === 3 || type === 4 || type === 5 || type === 11 || type === 12) return relatedIcmp(ct, b, l4, l4len, dst);
    const tc = (type << 8) | b[l4 + 1]!;
    if (icmpInvertTypeCode(tc) < 0) return refuse(ct);
    const ref = ct.lookupOrCreate(proto, src, dst, getU16(b, l4 + 4), tc);
    if (ref < 0) return ref;
    return icmpPacket(ct, ref);
  }
  const ref = ct.lookupOrCreate(proto, src, dst, 0, 0);
  if (ref < 0) return ref;
  ct.refresh(refEntry(ref), T_GENERIC);
  return seen(ct, ref);
}

/** nf_conntrack_udp_packet (fast-path.ts has its own copy for established datagrams). */
function udpPacket(ct: ConntrackTable, e: number): void {
  const st = ct.statusOf(e);
  // still active 2 s after the first packet, with a reply seen: a stream
  if (st & IPS_SEEN_REPLY && ct.clock.now > ct.bornOf(e) + 2 * S) {
    ct.refresh(e, T_UDP_STREAM);
    if ((st & IPS_ASSURED) === 0) ct.setStatus(e, st | IPS_ASSURED);
  } else ct.refresh(e, T_UDP);
}

/** nf_conntrack_icmp_packet: only a request may create an entry; every packet refreshes it. */
function icmpPacket(ct: ConntrackTable, ref: number): number {
  const e = refEntry(ref);
  if (ICMP_VALID_NEW[ct.tDport(e * 2) >>> 8] !== 1) {
    ct.discard(ref);
    return refuse(ct);
  }
  ct.refresh(e, T_ICMP);
  return seen(ct, ref);
}

/**
 * nf_conntrack_tcp_packet for a segment of `ref`'s entry (flags: the TCP flag byte; seq, ack as
 * int32; win the raw window field; payload the data length). Returns the reference (of a new
 * entry when a SYN reopens a closed connection) or CTREF_INVALID (a new entry is then freed).
 */
export function trackTcp(ct: ConntrackTable, ref: number, flags: number, seq: number, ack: number, win: number, payload: number): number {
  for (let tries = 0; tries < 2; tries++) {
    const e = refEntry(ref);
    const dir = refDir(ref);
    const r = ct.tcp.packet(ct.entU, e * ENT_WORDS + W_STATUS, e, dir, (ct.statusOf(e) & IPS_CONFIRMED) === 0, flags, seq, ack, win, payload);
    if (r >= 0) {
      ct.refresh(e, r);
      return seen(ct, ref);
    }
    if (r === TCP_R_IGNORED) return seen(ct, ref);
    if (r === TCP_R_KILL) {
      ct.killDeferred(e);
      return ref;
    }
    if (r === TCP_R_INVALID || r !== TCP_R_REOPEN) {
      ct.discard(ref);
      return refuse(ct);
    }
    // a SYN reopening a closed connection: delete the old entry, track the SYN again (new entry)
    const n = e * 2 + dir;
    const src = ct.tSrc(n), dst = ct.tDst(n), sport = ct.tSport(n), dport = ct.tDport(n);
    ct.kill(e);
    ref = ct.lookupOrCreate(PROTO_TCP, src, dst, sport, dport);
    if (ref < 0) return ref;
  }
  return refuse(ct);
}

/**
 * nf_conntrack_inet_error: the entry an ICMP error relates to, from the tuple of the datagram it
 * quotes as quoted (the datagram went out, so the table holds its inverse), and the error's
 * destination, which must be the destination of that entry's tuple in that direction. For a
 * quoted ICMP message, qSport is its id and qDport `type << 8 | code`. Returns a reference with
 * RELATED or RELATED_REPLY, or CTREF_INVALID.
 */
export function findRelated(ct: ConntrackTable, proto: number, qSrc: number, qDst: number, qSport: number, qDport: number, outerDst: number): number {
  let n: number;
  if (proto === PROTO_ICMP) {
    const inv = icmpInvertTypeCode(qDport);
    if (inv < 0) return refuse(ct);
    n = ct.find(proto, qDst, qSrc, qSport, inv);
  } else n = ct.find(proto, qDst, qSrc, qDport, qSport);
  if (n < 0 || ct.tDst(n) !== (outerDst | 0)) return refuse(ct);
  return makeRef(n >> 1, n & 1 ? IP_CT_RELATED_REPLY : IP_CT_RELATED);
}

/** The related lookup for the ICMP error message at `l4` (`len` bytes) sent to `outerDst`. */
function relatedIcmp(ct: ConntrackTable, b: Uint8Array, l4: number, len: number, outerDst: number): number {
  const q = l4 + 8;
  const qlen = len - 8;
  if (qlen < 20 || b[q]! >>> 4 !== 4) return refuse(ct);
  const qihl = (b[q]! & 0xf) << 2;
  if (qihl < 20 || (getU16(b, q + 6) & 0x1fff) !== 0) return refuse(ct);
  const proto = b[q + 9]!;
  const ql4 = q + qihl;
  const qSrc = getU32(b, q + 12) | 0;
  const qDst = getU32(b, q + 16) | 0;
  if (proto === PROTO_TCP || proto === PROTO_UDP) {
    if (qlen < qihl + 4) return refuse(ct);
    return findRelated(ct, proto, qSrc, qDst, getU16(b, ql4), getU16(b, ql4 + 2), outerDst);
  }
  if (proto === PROTO_ICMP) {
    if (qlen < qihl + 8) return refuse(ct);
    return findRelated(ct, proto, qSrc, qDst, getU16(b, ql4 + 4), (b[ql4]! << 8) | b[ql4 + 1]!, outerDst);
  }
  return findRelated(ct, proto, qSrc, qDst, 0, 0, outerDst);
}
