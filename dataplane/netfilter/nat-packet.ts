// Applying a connection's NAT to its packets, in place, with incremental checksums (RFC 1624), as
// Linux's nf_nat_packet / nf_nat_ipv4_manip_pkt (nf_nat_proto.c) and
// nf_nat_icmp_reply_translation.
//
// A hook manipulates one side: the source at POSTROUTING and INPUT (NAT_MANIP_SRC), the
// destination at PREROUTING and OUTPUT (NAT_MANIP_DST). A packet in direction `dir` is rewritten
// to the inverse of its entry's other tuple, when the entry has the matching NAT bit: SRC_NAT
// rewrites the source of original packets (at SRC hooks) and the destination of replies (at DST
// hooks); DST_NAT the other way round. So a reply of a translated packet comes back to the
// original tuple (the property tests check this for random translations).
//
// Per protocol (l4proto_manip_pkt): TCP and UDP ports with their checksum (pseudo-header address
// and port; a UDP checksum of 0 stays 0, a result of 0 is sent as 0xffff); TCP's checksum only when
// the whole 20-byte header is present (an ICMP error may quote 8 bytes only); the id of ICMP
// echo-like messages (echo, timestamp, information, address mask) with the ICMP checksum; other
// protocols only the address. The IPv4 header checksum follows the address.
//
// An ICMP error RELATED to a translated connection (natIcmpReplyTranslation) gets its quoted
// datagram translated back (the opposite side, to the entry's own tuple: the quoted packet is one
// the other end received), its ICMP checksum recomputed over the whole message, then its outer
// header like any packet. Checked byte for byte against a real kernel's translation
// (fixtures/conntrack-nat-icmp-error-*.hex).

import { getU16, getU32, setU16 } from "../../core/bytes.js";
import { checksumUpdate16 } from "../../core/checksum.js";
import { ipv4RewriteDst, ipv4RewriteSrc } from "../../core/wire/ipv4.js";
import { icmpComputeChecksum } from "../../core/wire/icmp.js";
import { ENT_WORDS as ENT_WORDS_, IPS_DST_NAT, IPS_NAT_DONE_MASK, IPS_NAT_MASK, IPS_SRC_NAT, NAT_MANIP_SRC, W_PROTO as W_PROTO_, W_STATUS as W_STATUS_, refDir, refEntry } from "./conntrack-bits.js";

// Private copies of the entry layout (an imported const is reloaded and TDZ-checked per use).
const ENT_WORDS = ENT_WORDS_, W_STATUS = W_STATUS_, W_PROTO = W_PROTO_;
import type { ConntrackTable } from "./conntrack.js";

const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;

/** ICMP types whose id is the tuple's id (icmp_manip_pkt). */
const ICMP_HAS_ID = new Uint8Array(256);
for (const t of [0, 8, 13, 14, 15, 16, 17, 18]) ICMP_HAS_ID[t] = 1;

/** The NAT bit that makes a packet of direction `dir` manipulated at a `manip` hook. */
function statusBit(manip: number, dir: number): number {
  const bit = manip === NAT_MANIP_SRC ? IPS_SRC_NAT : IPS_DST_NAT;
  return dir ? bit ^ IPS_NAT_MASK : bit;
}

/**
 * nf_nat_packet: apply the translation of `ref`'s entry for a `manip` hook to the IPv4 packet at
 * `off` (its whole datagram in the buffer). Returns whether anything was rewritten.
 */
export function natPacket(ct: ConntrackTable, ref: number, manip: number, b: Uint8Array, off: number): boolean {
  const e = refEntry(ref);
  const dir = refDir(ref);
  // the entry's block read directly (every packet of a NATed flow comes here: the accessors are
  // calls V8 does not always inline this deep)
  const a = ct.ent;
  const base = e * ENT_WORDS;
  if ((a[base + W_STATUS]! & statusBit(manip, dir)) === 0) return false;
  const k = base + (dir ^ 1) * 8;
  const end = off + getU16(b, off + 2);
  const ports = a[k + 2]!;
  // the target is the inverse of the other direction's tuple
  if (manip === NAT_MANIP_SRC) manip3(b, off, end, NAT_MANIP_SRC, a[k + 1]!, a[base + W_PROTO] === PROTO_ICMP ? ports >>> 16 : ports & 0xffff);
  else manip3(b, off, end, 1, a[k]!, ports >>> 16);
  return true;
}

/**
 * nf_nat_icmp_reply_translation for an ICMP error at `off` whose reference is RELATED(_REPLY):
 * translate the quoted datagram and the outer header for a `manip` hook. Returns false when the
 * packet must be dropped (a redirect for a translated connection, as Linux).
 */
export function natIcmpReplyTranslation(ct: ConntrackTable, ref: number, manip: number, b: Uint8Array, off: number): boolean {
  const e = refEntry(ref);
  const dir = refDir(ref);
  const st = ct.statusOf(e);
  const l4 = off + ((b[off]! & 0xf) << 2);
  const end = off + getU16(b, off + 2);
  if (b[l4] === 5 && ((st & IPS_NAT_DONE_MASK) !== IPS_NAT_DONE_MASK || (st & IPS_NAT_MASK) !== 0)) return false;
  if ((st & statusBit(manip, dir)) === 0) return true;
  const o = e * 2 + (dir ^ 1);
  const q = l4 + 8;
  // the quoted datagram: the other direction's tuple itself, the opposite side
  if (manip === NAT_MANIP_SRC) manip3(b, q, end, 1, ct.tDst(o), ct.protoOf(e) === PROTO_ICMP ? ct.tSport(o) : ct.tDport(o));
  else manip3(b, q, end, NAT_MANIP_SRC, ct.tSrc(o), ct.tSport(o));
  setU16(b, l4 + 2, 0);
  setU16(b, l4 + 2, icmpComputeChecksum(b, l4, end - l4));
  // the outer header: the inverse of that tuple, this side (an error has no id to change)
  if (manip === NAT_MANIP_SRC) ipv4RewriteSrc(b, off, ct.tDst(o));
  else ipv4RewriteDst(b, off, ct.tSrc(o));
  return true;
}

/**
 * Rewrite one side (`manip`) of the IPv4 datagram at `ip` to address `addr` and port (or ICMP id)
 * `port`; bytes up to `end` are present. The L4 header first (its checksum covers the old address
 * in the pseudo-header), then the IPv4 header. Addresses stay int32 (`| 0`) across calls: a uint32
 * above 2^31 passed to a call V8 does not inline is boxed (see neigh.ts resolveEntry).
 */
function manip3(b: Uint8Array, ip: number, end: number, manip: number, addr: number, port: number): void {
  const l4 = ip + ((b[ip]! & 0xf) << 2);
  const proto = b[ip + 9]!;
  const src = manip === NAT_MANIP_SRC;
  if ((getU16(b, ip + 6) & 0x1fff) === 0) {
    const oldAddr = getU32(b, src ? ip + 12 : ip + 16) | 0;
    if ((proto === PROTO_TCP && end >= l4 + 20) || (proto === PROTO_UDP && end >= l4 + 8)) {
      // address (pseudo-header) and port in one incremental update (RFC 1624), as Linux's
      // l4proto_manip_pkt applies its two csum replacements with the UDP 0 -> 0xffff rule once,
      // at the end (__udp_manip_pkt: CSUM_MANGLED_0); a UDP checksum of 0 ("none") stays 0
      const po = src ? l4 : l4 + 2;
      const co = proto === PROTO_TCP ? l4 + 16 : l4 + 6;
      const c = getU16(b, co);
      if (proto === PROTO_TCP || c !== 0) {
        const old = getU16(b, po);
        let sum = (~c & 0xffff) + (~(oldAddr >>> 16) & 0xffff) + (~oldAddr & 0xffff) + (addr >>> 16) + (addr & 0xffff) + (~old & 0xffff) + port;
        sum = (sum & 0xffff) + (sum >>> 16);
        sum = (sum & 0xffff) + (sum >>> 16);
        const n = ~sum & 0xffff;
        setU16(b, co, n === 0 && proto === PROTO_UDP ? 0xffff : n);
      }
      setU16(b, po, port);
    } else if (proto === PROTO_TCP) {
      if (end >= l4 + 4) setU16(b, src ? l4 : l4 + 2, port);
    } else if (proto === PROTO_ICMP) {
      if (end >= l4 + 8 && ICMP_HAS_ID[b[l4]!] === 1) {
        setU16(b, l4 + 2, checksumUpdate16(getU16(b, l4 + 2), getU16(b, l4 + 4), port));
        setU16(b, l4 + 4, port);
      }
    }
  }
  if (src) ipv4RewriteSrc(b, ip, addr);
  else ipv4RewriteDst(b, ip, addr);
}
