// NAT decided once per connection, on its first packet, as Linux's nf_nat_core.c
// (nf_nat_setup_info, get_unique_tuple, find_appropriate_src, find_best_ips_proto,
// nf_nat_l4proto_unique_tuple, nf_nat_used_tuple_harder). The decision is stored in the entry: its
// reply tuple is rewritten so that replies find it, and IPS_SRC_NAT / IPS_DST_NAT say which side
// changed; nat-packet.ts applies it to each packet.
//
// Source NAT (SNAT, MASQUERADE, and the null binding every new connection gets when no rule
// chose): unless --random/--random-fully, (1) the original tuple is kept if its source is in range
// and the tuple is unused (no entry has its inverse as a tuple: nf_nat_used_tuple); otherwise a
// mapping this source (proto, address, port) already has is reused when it is in range and unused
// (find_appropriate_src, a by-source chain). (2) The address: the only one of a single-address
// range, else jhash of the source (and destination unless --persistent) as Linux, so a client
// keeps its address. (3) If the port is still unused it stays; else (4) ports are tried from a
// random 16-bit offset within the original port's band (1-511 below 512, 600-1023 below 1024,
// 1024-65535 above: Linux starts the middle band at 600, and a real kernel mapped colliding ports
// 700-704 to 619..926, fixtures/conntrack-collide.txt), or within --to-ports; an ICMP id anywhere
// in 0-65535. 128 tries, then again from a new offset with half as many while the count stays at
// least 16; the last 32 tries of a TCP SYN may evict a colliding entry in TIME_WAIT/CLOSE that was
// source-NATed, if the new SYN's sequence number is past the old connection's. If nothing is free
// the last tried port is kept and the packet is dropped when its entry clashes at confirm.
// --random and --random-fully skip (1) and (3): on Linux 6.x both take a random offset
// (get_random_u16); older kernels hashed the offset for --random. Destination NAT without ports
// never changes the port (an ICMP id may change if the tuple is used).
//
// Ranges are plain numbers (rules.ts's NatParams row): addresses int32, ports, NAT_* flags.

import { IPS_CONFIRMED, IPS_DST_NAT, IPS_DST_NAT_DONE, IPS_DYING, IPS_FIXED_TIMEOUT, IPS_SRC_NAT, IPS_SRC_NAT_DONE, NAT_MANIP_SRC, icmpInvertTypeCode, refEntry } from "./conntrack-bits.js";
import type { ConntrackTable } from "./conntrack.js";
import { TCP_CT_SYN_SENT, TCP_CT_TIME_WAIT } from "./conntrack-tcp.js";

// Range flags: the first three as rules.ts's NAT_* (a port range was given, --random,
// --random-fully); then an address range given (NF_NAT_RANGE_MAP_IPS; MASQUERADE, SNAT, DNAT
// with an address, the null binding) and --persistent.
export const NAT_PROTO_SPECIFIED = 1;
export const NAT_RANDOM = 2;
export const NAT_RANDOM_FULLY = 4;
export const NAT_MAP_IPS = 8;
export const NAT_PERSISTENT = 16;
const RANDOM_ALL = NAT_RANDOM | NAT_RANDOM_FULLY;

const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const MAX_ATTEMPTS = 128;
/** NF_NAT_HARDER_THRESH: the last tries may evict a closing TCP entry. */
const HARDER_THRESH = MAX_ATTEMPTS / 4;

// The tuple being chosen (the original direction as it will look after the manipulation). Module
// state, not an object: selection allocates nothing.
let tSrc = 0, tDst = 0, tSport = 0, tDport = 0;

/** Whether the manipulation `manip` has been set up for entry e (nf_nat_initialized). */
export function natInitialized(ct: ConntrackTable, e: number, manip: number): boolean {
  return (ct.statusOf(e) & (manip === NAT_MANIP_SRC ? IPS_SRC_NAT_DONE : IPS_DST_NAT_DONE)) !== 0;
}

/**
 * nf_nat_setup_info: choose the translation of the unconfirmed entry of `ref` for `manip`
 * (NAT_MANIP_SRC at POSTROUTING/INPUT, NAT_MANIP_DST at PREROUTING/OUTPUT) within the range
 * [minIp, maxIp] x [minPort, maxPort] (`flags`: NAT_*), and store it in the entry. Returns false
 * when the entry is confirmed or this manipulation was already set up (nothing changes).
 */
export function natSetup(ct: ConntrackTable, ref: number, manip: number, flags: number, minIp: number, maxIp: number, minPort: number, maxPort: number): boolean {
  const e = refEntry(ref);
  if (ct.statusOf(e) & IPS_CONFIRMED || natInitialized(ct, e, manip)) return false;
  const proto = ct.protoOf(e);
  const r = e * 2 + 1;
  // the current tuple is the inverse of the reply (the original, with earlier manipulations)
  const cSrc = ct.tDst(r), cDst = ct.tSrc(r);
  let cSport: number, cDport: number;
  if (proto === PROTO_ICMP) {
    cSport = ct.tSport(r);
    cDport = icmpInvertTypeCode(ct.tDport(r));
  } else {
    cSport = ct.tDport(r);
    cDport = ct.tSport(r);
  }
  uniqueTuple(ct, e, proto, cSrc, cDst, cSport, cDport, manip, flags, minIp | 0, maxIp | 0, minPort, maxPort);
  if (tSrc !== cSrc || tDst !== cDst || tSport !== cSport || tDport !== cDport) {
    // the reply tuple becomes the inverse of the chosen one (nf_conntrack_alter_reply)
    // (the entry is not hashed yet: unconfirmed)
    if (proto === PROTO_ICMP) ct.setTuple(r, tDst, tSrc, tSport, icmpInvertTypeCode(tDport));
    else ct.setTuple(r, tDst, tSrc, tDport, tSport);
    ct.setStatus(e, ct.statusOf(e) | (manip === NAT_MANIP_SRC ? IPS_SRC_NAT : IPS_DST_NAT));
  }
  if (manip === NAT_MANIP_SRC) ct.bsLink(e);
  ct.setStatus(e, ct.statusOf(e) | (manip === NAT_MANIP_SRC ? IPS_SRC_NAT_DONE : IPS_DST_NAT_DONE));
  return true;
}

/** nf_nat_alloc_null_binding: no rule chose a translation; the address stays, the port changes
 *  only if the tuple is used (e.g. it is another connection's translated reply). */
export function natNullBinding(ct: ConntrackTable, ref: number, manip: number): boolean {
  const r = refEntry(ref) * 2 + 1;
  const ip = manip === NAT_MANIP_SRC ? ct.tDst(r) : ct.tSrc(r);
  return natSetup(ct, ref, manip, NAT_MAP_IPS, ip, ip, 0, 0);
}

/** nf_nat_used_tuple: the tuple's inverse is some other entry's tuple. */
function used(ct: ConntrackTable, e: number, proto: number): boolean {
  if (proto === PROTO_ICMP) return ct.tupleTaken(proto, tDst, tSrc, tSport, icmpInvertTypeCode(tDport), e);
  return ct.tupleTaken(proto, tDst, tSrc, tDport, tSport, e);
}

/** The source address/port of the chosen tuple within the range (in_range, SRC side). */
function inRange(proto: number, flags: number, minIp: number, maxIp: number, minPort: number, maxPort: number): boolean {
  if (flags & NAT_MAP_IPS && ((tSrc >>> 0) < (minIp >>> 0) || (tSrc >>> 0) > (maxIp >>> 0))) return false;
  if ((flags & NAT_PROTO_SPECIFIED) === 0) return true;
  return l4InRange(proto, NAT_MANIP_SRC, minPort, maxPort);
}

function l4InRange(proto: number, manip: number, minPort: number, maxPort: number): boolean {
  let p: number;
  if (proto === PROTO_ICMP) p = tSport;
  else if (proto === PROTO_TCP || proto === PROTO_UDP) p = manip === NAT_MANIP_SRC ? tSport : tDport;
  else return true;
  return p >= minPort && p <= maxPort;
}

function uniqueTuple(ct: ConntrackTable, e: number, proto: number, cSrc: number, cDst: number, cSport: number, cDport: number, manip: number, flags: number, minIp: number, maxIp: number, minPort: number, maxPort: number): void {
  tSrc = cSrc;
  tDst = cDst;
  tSport = cSport;
  tDport = cDport;
  if (manip === NAT_MANIP_SRC && (flags & RANDOM_ALL) === 0) {
    // 1) the original tuple if it fits and is free; else this source's existing mapping
    if (inRange(proto, flags, minIp, maxIp, minPort, maxPort)) {
      if (!used(ct, e, proto)) return;
    } else if (findAppropriateSrc(ct, proto, cSrc, cSport, flags, minIp, maxIp, minPort, maxPort)) {
      if (!used(ct, e, proto)) return;
    }
  }
  // 2) the address
  tSrc = cSrc;
  tDst = cDst;
  tSport = cSport;
  tDport = cDport;
  bestIp(manip, flags, minIp, maxIp);
  // 3) keep the port if it is in range and free
  if ((flags & RANDOM_ALL) === 0) {
    if (flags & NAT_PROTO_SPECIFIED) {
      if (l4InRange(proto, manip, minPort, maxPort) && (minPort === maxPort || !used(ct, e, proto))) return;
    } else if (!used(ct, e, proto)) return;
  }
  // 4) search the port (or id)
  l4UniqueTuple(ct, e, proto, manip, flags, minPort, maxPort);
}

/** find_appropriate_src: a mapping an entry with the same original source already has. */
function findAppropriateSrc(ct: ConntrackTable, proto: number, src: number, sport: number, flags: number, minIp: number, maxIp: number, minPort: number, maxPort: number): boolean {
  for (let x = ct.bySourceHead(proto, src, sport); x >= 0; x = ct.bySourceNext(x)) {
    const o = x * 2;
    if (ct.protoOf(x) !== proto || ct.tSrc(o) !== src || ct.tSport(o) !== sport) continue;
    // the source part of the inverse of its reply tuple, with our destination
    tSrc = ct.tDst(o + 1);
    tSport = proto === PROTO_ICMP ? ct.tSport(o + 1) : ct.tDport(o + 1);
    if (inRange(proto, flags, minIp, maxIp, minPort, maxPort)) return true;
  }
  return false;
}

/** find_best_ips_proto: the address within [minIp, maxIp]. */
function bestIp(manip: number, flags: number, minIp: number, maxIp: number): void {
  if ((flags & NAT_MAP_IPS) === 0) return;
  if (minIp === maxIp) {
    if (manip === NAT_MANIP_SRC) tSrc = minIp;
    else tDst = minIp;
    return;
  }
  // jhash2 of the source address as the kernel's u32 (network order read on a little-endian
  // host), seeded with the destination unless --persistent; then reciprocal_scale into the range
  const j = jhash1(bswap32(tSrc), flags & NAT_PERSISTENT ? 0 : bswap32(tDst));
  const lo = minIp >>> 0;
  const dist = ((maxIp >>> 0) - lo + 1) % 0x1_0000_0000;
  const pick = (lo + reciprocalScale(j, dist)) | 0;
  if (manip === NAT_MANIP_SRC) tSrc = pick;
  else tDst = pick;
}

/** nf_nat_l4proto_unique_tuple. */
function l4UniqueTuple(ct: ConntrackTable, e: number, proto: number, manip: number, flags: number, minPort: number, maxPort: number): void {
  let min: number, size: number;
  let key: number;
  if (proto === PROTO_ICMP) {
    key = tSport;
    if (flags & NAT_PROTO_SPECIFIED) {
      min = minPort;
      size = maxPort - minPort + 1;
    } else {
      min = 0;
      size = 65536;
    }
  } else if (proto === PROTO_TCP || proto === PROTO_UDP) {
    key = manip === NAT_MANIP_SRC ? tSport : tDport;
    if (flags & NAT_PROTO_SPECIFIED) {
      min = Math.min(minPort, maxPort);
      size = Math.abs(maxPort - minPort) + 1;
    } else {
      if (manip !== NAT_MANIP_SRC) return; // a destination's port never changes without a range
      if (key < 512) {
        min = 1;
        size = 511;
      } else if (key < 1024) {
        min = 600;
        size = 1023 - 600 + 1;
      } else {
        min = 1024;
        size = 65535 - 1024 + 1;
      }
    }
  } else return;
  const rng = ct.rng;
  let off = rng.u32() & 0xffff;
  let attempts = size < MAX_ATTEMPTS ? size : MAX_ATTEMPTS;
  for (;;) {
    for (let i = 0; i < attempts; i++, off = (off + 1) & 0xffff) {
      key = min + (off % size);
      if (proto === PROTO_ICMP || manip === NAT_MANIP_SRC) tSport = key;
      else tDport = key;
      if (!usedHarder(ct, e, proto, attempts - i)) return;
    }
    if (attempts >= size || attempts < 16) return;
    attempts = attempts >> 1;
    off = rng.u32() & 0xffff;
  }
}

/** nf_nat_used_tuple_harder: in a TCP SYN's last tries, a colliding entry that is closing
 *  (TIME_WAIT/CLOSE), was source-NATed, and whose first direction's sequence end is before the
 *  new SYN's is deleted and the tuple taken. */
function usedHarder(ct: ConntrackTable, e: number, proto: number, left: number): boolean {
  if (left > HARDER_THRESH || proto !== PROTO_TCP || ct.tcp.state[e] !== TCP_CT_SYN_SENT) return used(ct, e, proto);
  const n = ct.find(proto, tDst, tSrc, tDport, tSport);
  if (n < 0) return false;
  if ((n & 1) === 0) return true;
  const x = n >> 1;
  if (x === e) return true;
  const st = ct.statusOf(x);
  if (ct.tcp.state[x]! < TCP_CT_TIME_WAIT || st & (IPS_FIXED_TIMEOUT | IPS_DYING) || (st & IPS_SRC_NAT) === 0) return true;
  if (((ct.tcp.tdEnd[e * 2]! - ct.tcp.tdEnd[x * 2]!) | 0) <= 0) return true;
  ct.kill(x);
  return false;
}

// ---- jhash (include/linux/jhash.h) for one 32-bit word ---------------------------------------

const rol = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/** jhash2(&k, 1, initval). */
export function jhash1(k: number, initval: number): number {
  let a = (0xdeadbeef + 4 + initval) | 0;
  let b = a;
  let c = a;
  a = (a + k) | 0;
  c ^= b; c = (c - rol(b, 14)) | 0;
  a ^= c; a = (a - rol(c, 11)) | 0;
  b ^= a; b = (b - rol(a, 25)) | 0;
  c ^= b; c = (c - rol(b, 16)) | 0;
  a ^= c; a = (a - rol(c, 4)) | 0;
  b ^= a; b = (b - rol(a, 14)) | 0;
  c ^= b; c = (c - rol(b, 24)) | 0;
  return c >>> 0;
}

export function bswap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

/** reciprocal_scale: (u64)val * n >> 32, exact for uint32 val and n. */
export function reciprocalScale(val: number, n: number): number {
  const hi = Math.floor(val / 65536) * n;
  const lo = (val & 0xffff) * n;
  return Math.floor((hi + Math.floor(lo / 65536)) / 65536);
}
