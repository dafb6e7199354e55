// IPv4 header (RFC 791), with options kept as raw bytes.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |Version|  IHL  |Type of Service|          Total Length         |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Identification        |R|D|M|    Fragment Offset      |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Time to Live |    Protocol   |         Header Checksum       |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                       Source Address                          |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Destination Address                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |            Options (IHL > 5: up to 40 bytes)  |    Padding    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// IHL counts 32-bit words (5..15); Total Length covers header + payload; the fragment offset
// counts 8-byte units (the Repr holds it in bytes, as tcpdump prints `offset 1480`). Flags: R
// reserved (0 on valid packets; ignored by parse, written 0 by emit), D = DF, M = MF. The header
// checksum covers the header only; forwarding updates it incrementally (ipv4DecTtl, ipv4Rewrite*).
// Options: TLVs (type, length incl. both bytes, data) except EOL (0, ends the list) and NOP (1).

import { getU16, getU32, setU16, setU32 } from "../bytes.js";
import { checksumAdd, checksumFinish, checksumFold, checksumUpdate16, checksumUpdate32, checksumVerifies } from "../checksum.js";
import { formatIpv4 } from "../addr.js";
import { WireError } from "./error.js";
import { IPPROTO_UDP } from "./udp.js";
import { IPPROTO_TCP } from "./tcp.js";

// TCP (6) and UDP (17) are defined by their codecs and re-exported here.
export { IPPROTO_TCP, IPPROTO_UDP };
export const IPPROTO_ICMP = 1;
export const IPPROTO_IPIP = 4;

export const IPV4_VER_IHL = 0;
export const IPV4_TOS = 1;
export const IPV4_TOTAL_LEN = 2;
export const IPV4_IDENT = 4;
export const IPV4_FLAGS_FRAG = 6;
export const IPV4_TTL = 8;
export const IPV4_PROTOCOL = 9;
export const IPV4_CHECKSUM = 10;
export const IPV4_SRC = 12;
export const IPV4_DST = 16;
export const IPV4_OPTIONS = 20;
/** Header without options; with the maximum 40 bytes of options it is 60. */
export const IPV4_HEADER_LEN = 20;
export const IPV4_MAX_HEADER_LEN = 60;
export const IPV4_MAX_OPTIONS_LEN = 40;

export const IPV4_FLAG_RESERVED = 0x8000;
export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
export const IPV4_FRAG_OFFSET_MASK = 0x1fff;

// Private copies of the constants above, for the parse path (parseIpv4, readIpv4Fields,
// ipv4ReprHeaderLen). Node 20's V8 keeps an exported `const` in a module cell that every use
// reloads and checks for the temporal dead zone; a private `const` folds to its number.
// parseIpv4 without verification reading the exported names: 17.3 ns; these: 9.8 ns (medians of
// 5 runs, each in a fresh process; Node 20.20, AMD EPYC). The error codes likewise.
const TOS = IPV4_TOS, TOTAL_LEN = IPV4_TOTAL_LEN, IDENT = IPV4_IDENT, FLAGS_FRAG = IPV4_FLAGS_FRAG;
const TTL = IPV4_TTL, PROTOCOL = IPV4_PROTOCOL, SRC = IPV4_SRC, DST = IPV4_DST, OPTIONS = IPV4_OPTIONS;
const HLEN = IPV4_HEADER_LEN, MAX_OPTIONS = IPV4_MAX_OPTIONS_LEN;
const DF = IPV4_FLAG_DF, MF = IPV4_FLAG_MF, FRAG_MASK = IPV4_FRAG_OFFSET_MASK;
const { OK, TRUNCATED, BAD_LENGTH, BAD_VERSION, BAD_CHECKSUM } = WireError;

// ---- in-place accessors (after ipv4CheckLen) ------------------------------------------------
export const ipv4Version = (b: Uint8Array, o: number): number => b[o + IPV4_VER_IHL]! >>> 4;
/** Header length in bytes (IHL * 4). */
export const ipv4HeaderLen = (b: Uint8Array, o: number): number => (b[o + IPV4_VER_IHL]! & 0xf) << 2;
export const ipv4Tos = (b: Uint8Array, o: number): number => b[o + IPV4_TOS]!;
export const ipv4TotalLen = (b: Uint8Array, o: number): number => getU16(b, o + IPV4_TOTAL_LEN);
export const ipv4Ident = (b: Uint8Array, o: number): number => getU16(b, o + IPV4_IDENT);
/** The raw 16-bit flags + fragment offset word. */
export const ipv4FlagsFrag = (b: Uint8Array, o: number): number => getU16(b, o + IPV4_FLAGS_FRAG);
export const ipv4Df = (b: Uint8Array, o: number): boolean => (b[o + IPV4_FLAGS_FRAG]! & 0x40) !== 0;
export const ipv4Mf = (b: Uint8Array, o: number): boolean => (b[o + IPV4_FLAGS_FRAG]! & 0x20) !== 0;
/** Fragment offset in bytes. */
export const ipv4FragOffset = (b: Uint8Array, o: number): number => (getU16(b, o + IPV4_FLAGS_FRAG) & IPV4_FRAG_OFFSET_MASK) << 3;
/** A fragment of a larger datagram (MF set or a non-zero offset). */
export const ipv4IsFragment = (b: Uint8Array, o: number): boolean => (getU16(b, o + IPV4_FLAGS_FRAG) & 0x3fff) !== 0;
export const ipv4Ttl = (b: Uint8Array, o: number): number => b[o + IPV4_TTL]!;
export const ipv4Protocol = (b: Uint8Array, o: number): number => b[o + IPV4_PROTOCOL]!;
export const ipv4Checksum = (b: Uint8Array, o: number): number => getU16(b, o + IPV4_CHECKSUM);
export const ipv4Src = (b: Uint8Array, o: number): number => getU32(b, o + IPV4_SRC);
export const ipv4Dst = (b: Uint8Array, o: number): number => getU32(b, o + IPV4_DST);

// Plain setters leave the checksum stale (finish with ipv4FillChecksum); see ipv4Rewrite* below.
export const ipv4SetVerIhl = (b: Uint8Array, o: number, headerLen: number): void => void (b[o + IPV4_VER_IHL] = 0x40 | (headerLen >>> 2));
export const ipv4SetTos = (b: Uint8Array, o: number, v: number): void => void (b[o + IPV4_TOS] = v);
export const ipv4SetTotalLen = (b: Uint8Array, o: number, v: number): void => setU16(b, o + IPV4_TOTAL_LEN, v);
export const ipv4SetIdent = (b: Uint8Array, o: number, v: number): void => setU16(b, o + IPV4_IDENT, v);
export const ipv4SetFlagsFrag = (b: Uint8Array, o: number, v: number): void => setU16(b, o + IPV4_FLAGS_FRAG, v);
export const ipv4SetTtl = (b: Uint8Array, o: number, v: number): void => void (b[o + IPV4_TTL] = v);
export const ipv4SetProtocol = (b: Uint8Array, o: number, v: number): void => void (b[o + IPV4_PROTOCOL] = v);
export const ipv4SetChecksum = (b: Uint8Array, o: number, v: number): void => setU16(b, o + IPV4_CHECKSUM, v);
export const ipv4SetSrc = (b: Uint8Array, o: number, a: number): void => setU32(b, o + IPV4_SRC, a);
export const ipv4SetDst = (b: Uint8Array, o: number, a: number): void => setU32(b, o + IPV4_DST, a);

/**
 * The one length check: version 4, IHL >= 5, the header fits in `len`, and the total length is
 * within [header length, len]. Bytes after the total length (Ethernet padding) are allowed.
 */
export function ipv4CheckLen(b: Uint8Array, off: number, len: number): WireError {
  if (len < IPV4_HEADER_LEN || off < 0 || off + len > b.length) return WireError.TRUNCATED;
  if (b[off]! >>> 4 !== 4) return WireError.BAD_VERSION;
  const hl = (b[off]! & 0xf) << 2;
  if (hl < IPV4_HEADER_LEN) return WireError.BAD_LENGTH;
  if (hl > len) return WireError.TRUNCATED;
  const total = getU16(b, off + IPV4_TOTAL_LEN);
  if (total < hl) return WireError.BAD_LENGTH;
  if (total > len) return WireError.TRUNCATED;
  return WireError.OK;
}

// ---- checksum -------------------------------------------------------------------------------
/** The header checksum as it should be, whatever the field holds now. */
export function ipv4ComputeChecksum(b: Uint8Array, off: number): number {
  const hl = (b[off]! & 0xf) << 2;
  return checksumFinish(checksumAdd(checksumAdd(0, b, off, IPV4_CHECKSUM), b, off + IPV4_SRC, hl - IPV4_SRC));
}
export function ipv4VerifyChecksum(b: Uint8Array, off: number): boolean {
  return checksumVerifies(b, off, (b[off]! & 0xf) << 2);
}
export function ipv4FillChecksum(b: Uint8Array, off: number): void {
  setU16(b, off + IPV4_CHECKSUM, ipv4ComputeChecksum(b, off));
}

// ---- forwarding-path rewrites: field + incremental checksum (RFC 1624) -----------------------
/** Sum of the source and destination address words (the pseudo-header's address part, a small
 *  integer) read from the header at `off`: for parseUdpWithSum / parseTcp-style checksums without
 *  passing addresses (heap numbers above 2^30) across calls. */
export function ipv4AddrSum(b: Uint8Array, off: number): number {
  return ((b[off + 12]! << 8) | b[off + 13]!) + ((b[off + 14]! << 8) | b[off + 15]!) + ((b[off + 16]! << 8) | b[off + 17]!) + ((b[off + 18]! << 8) | b[off + 19]!);
}

/**
 * Decrement TTL by one and patch the checksum (the TTL/protocol word changes by -0x100). Returns
 * the new TTL. The caller checks TTL > 1 first (Linux `ip_forward` answers TTL <= 1 with time
 * exceeded and never decrements it).
 */
/**
 * Write a 20-byte IPv4 header (no options) at `off` with its checksum computed from the field
 * values (no read-back): what a stack does for a packet it originates (socket output, ICMP
 * errors, TCP resets). `frag` is the flags/fragment-offset word (e.g. IPV4_FLAG_DF); `src`/`dst`
 * in int32 or uint32 form (callers on per-packet paths pass int32 so nothing is boxed).
 */
export function ipv4WriteHeader(b: Uint8Array, off: number, tos: number, total: number, ident: number, frag: number, ttl: number, proto: number, src: number, dst: number): void {
  b[off] = 0x45;
  b[off + TOS] = tos;
  setU16(b, off + TOTAL_LEN, total);
  setU16(b, off + IDENT, ident);
  setU16(b, off + FLAGS_FRAG, frag);
  b[off + TTL] = ttl;
  b[off + PROTOCOL] = proto;
  setU32(b, off + SRC, src);
  setU32(b, off + DST, dst);
  const sum = (0x4500 | (tos & 0xff)) + (total & 0xffff) + (ident & 0xffff) + (frag & 0xffff) + (((ttl & 0xff) << 8) | (proto & 0xff)) +
    (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
  setU16(b, off + IPV4_CHECKSUM, checksumFinish(sum));
}

export function ipv4DecTtl(b: Uint8Array, off: number): number {
  const word = getU16(b, off + IPV4_TTL);
  const next = word - 0x100;
  setU16(b, off + IPV4_TTL, next);
  setU16(b, off + IPV4_CHECKSUM, checksumUpdate16(getU16(b, off + IPV4_CHECKSUM), word, next));
  return next >>> 8;
}
/** Set the source address and patch the header checksum (the L4 pseudo-header is the caller's). */
export function ipv4RewriteSrc(b: Uint8Array, off: number, a: number): void {
  setU16(b, off + IPV4_CHECKSUM, checksumUpdate32(getU16(b, off + IPV4_CHECKSUM), getU32(b, off + IPV4_SRC), a));
  setU32(b, off + IPV4_SRC, a);
}
/** Set the destination address and patch the header checksum. */
export function ipv4RewriteDst(b: Uint8Array, off: number, a: number): void {
  setU16(b, off + IPV4_CHECKSUM, checksumUpdate32(getU16(b, off + IPV4_CHECKSUM), getU32(b, off + IPV4_DST), a));
  setU32(b, off + IPV4_DST, a);
}

// ---- Repr -----------------------------------------------------------------------------------
export interface Ipv4Repr {
  tos: number;
  ident: number;
  df: boolean;
  mf: boolean;
  /** Fragment offset in bytes (a multiple of 8). */
  fragOffset: number;
  ttl: number;
  protocol: number;
  src: number;
  dst: number;
  /** Raw option bytes, owned by the Repr: `optionsLen` used, the rest of the 40 zero. */
  options: Uint8Array;
  /** A multiple of 4 after parse; emit pads a shorter run with EOL (0) bytes. */
  optionsLen: number;
  payloadLen: number;
}

export function newIpv4Repr(): Ipv4Repr {
  return {
    tos: 0, ident: 0, df: false, mf: false, fragOffset: 0, ttl: 64, protocol: 0, src: 0, dst: 0,
    options: new Uint8Array(IPV4_MAX_OPTIONS_LEN), optionsLen: 0, payloadLen: 0,
  };
}

export function ipv4ReprHeaderLen(r: Ipv4Repr): number {
  return HLEN + ((r.optionsLen + 3) & ~3);
}

/** Fill `out` from the header fields (no length rules); shared with the ICMP quote parser. */
export function readIpv4Fields(b: Uint8Array, off: number, out: Ipv4Repr): void {
  const hl = (b[off]! & 0xf) << 2;
  const ff = getU16(b, off + FLAGS_FRAG);
  out.tos = b[off + TOS]!;
  out.ident = getU16(b, off + IDENT);
  out.df = (ff & DF) !== 0;
  out.mf = (ff & MF) !== 0;
  out.fragOffset = (ff & FRAG_MASK) << 3;
  out.ttl = b[off + TTL]!;
  out.protocol = b[off + PROTOCOL]!;
  out.src = getU32(b, off + SRC);
  out.dst = getU32(b, off + DST);
  const n = hl - HLEN;
  // Copy the `n` option bytes and zero only what the Repr's previous options used, out of line
  // as most headers have none: the bytes past `optionsLen` are zero already (the Repr's rule).
  // readIpv4FieldsReference rewrites all 40 bytes per call: 49.6 ns; this: 13.7 ns, and 7.5 ns
  // with the private constants (medians of 5 runs, each in a fresh process; Node 20.20, AMD EPYC).
  if (n !== 0 || out.optionsLen !== 0) copyOptions(b, off + OPTIONS, n, out);
  out.optionsLen = n;
  out.payloadLen = getU16(b, off + TOTAL_LEN) - hl;
}

/** Copy `n` option bytes from `at` into `out.options` and zero the rest of what `out.optionsLen` covered. */
function copyOptions(b: Uint8Array, at: number, n: number, out: Ipv4Repr): void {
  const opts = out.options;
  const prev = out.optionsLen <= MAX_OPTIONS ? out.optionsLen : MAX_OPTIONS;
  for (let i = 0; i < n; i++) opts[i] = b[at + i]!;
  for (let i = n; i < prev; i++) opts[i] = 0;
}

/** readIpv4Fields as first written (all 40 option bytes rewritten per call): its reference. */
export function readIpv4FieldsReference(b: Uint8Array, off: number, out: Ipv4Repr): void {
  const hl = (b[off]! & 0xf) << 2;
  const ff = getU16(b, off + IPV4_FLAGS_FRAG);
  out.tos = b[off + IPV4_TOS]!;
  out.ident = getU16(b, off + IPV4_IDENT);
  out.df = (ff & IPV4_FLAG_DF) !== 0;
  out.mf = (ff & IPV4_FLAG_MF) !== 0;
  out.fragOffset = (ff & IPV4_FRAG_OFFSET_MASK) << 3;
  out.ttl = b[off + IPV4_TTL]!;
  out.protocol = b[off + IPV4_PROTOCOL]!;
  out.src = getU32(b, off + IPV4_SRC);
  out.dst = getU32(b, off + IPV4_DST);
  const n = hl - IPV4_HEADER_LEN;
  const opts = out.options;
  for (let i = 0; i < IPV4_MAX_OPTIONS_LEN; i++) opts[i] = i < n ? b[off + IPV4_OPTIONS + i]! : 0;
  out.optionsLen = n;
  out.payloadLen = getU16(b, off + IPV4_TOTAL_LEN) - hl;
}

/**
 * Parse the header at `off` (`len` = bytes available, e.g. the Ethernet payload) into `out`.
 * `verify = false` skips the header checksum. The payload is at `off + ipv4ReprHeaderLen(out)`,
 * `out.payloadLen` bytes.
 */
export function parseIpv4(b: Uint8Array, off: number, len: number, out: Ipv4Repr, verify?: boolean): WireError {
  // ipv4CheckLen's rules and the checksum test written out, the first byte read once: each call
  // through a module binding costs a load, a hole check and a target check even when inlined.
  // `verify` is tested rather than given a default: a default makes V8 copy every argument
  // (bytecode counts against TurboFan's inlining budget, see bench/RESULTS.md). With the
  // private constants and readIpv4Fields' option copy, per 20-byte header: 50.6 -> 9.1 ns
  // without verification, 72.9 -> 24.2 ns with it (medians of 5 runs, each in a fresh process;
  // Node 20.20, AMD EPYC).
  if (len < HLEN || off < 0 || off + len > b.length) return TRUNCATED;
  const vihl = b[off]!;
  if (vihl >>> 4 !== 4) return BAD_VERSION;
  const hl = (vihl & 0xf) << 2;
  if (hl < HLEN) return BAD_LENGTH;
  if (hl > len) return TRUNCATED;
  const total = getU16(b, off + TOTAL_LEN);
  if (total < hl) return BAD_LENGTH;
  if (total > len) return TRUNCATED;
  if ((verify === undefined || verify) && checksumFold(checksumAdd(0, b, off, hl)) !== 0xffff) return BAD_CHECKSUM;
  readIpv4Fields(b, off, out);
  return OK;
}

/** Write the header (options and checksum included) at `off` for a payload already in place after it. Returns the header length. */
export function emitIpv4(r: Ipv4Repr, b: Uint8Array, off: number): number {
  const hl = ipv4ReprHeaderLen(r);
  b[off + IPV4_VER_IHL] = 0x40 | (hl >>> 2);
  b[off + IPV4_TOS] = r.tos;
  setU16(b, off + IPV4_TOTAL_LEN, hl + r.payloadLen);
  setU16(b, off + IPV4_IDENT, r.ident);
  setU16(b, off + IPV4_FLAGS_FRAG, (r.df ? IPV4_FLAG_DF : 0) | (r.mf ? IPV4_FLAG_MF : 0) | ((r.fragOffset >>> 3) & IPV4_FRAG_OFFSET_MASK));
  b[off + IPV4_TTL] = r.ttl;
  b[off + IPV4_PROTOCOL] = r.protocol;
  setU16(b, off + IPV4_CHECKSUM, 0);
  setU32(b, off + IPV4_SRC, r.src);
  setU32(b, off + IPV4_DST, r.dst);
  const n = hl - IPV4_HEADER_LEN;
  for (let i = 0; i < n; i++) b[off + IPV4_OPTIONS + i] = i < r.optionsLen ? r.options[i]! : 0;
  setU16(b, off + IPV4_CHECKSUM, ipv4ComputeChecksum(b, off));
  return hl;
}

// ---- printers (cold path) -------------------------------------------------------------------
const PROTO_NAMES: Record<number, string> = {
  0: "Options", 1: "ICMP", 2: "IGMP", 4: "IPIP", 6: "TCP", 8: "EGP", 9: "IGRP", 17: "UDP", 33: "DCCP",
  41: "IPv6", 43: "Routing", 44: "Fragment", 46: "RSVP", 47: "GRE", 50: "ESP", 51: "AH", 55: "Mobile IP",
  58: "ICMPv6", 62: "Mobile IP (old)", 88: "EIGRP", 89: "OSPF", 103: "PIM", 108: "Compressed IP",
  112: "VRRP", 113: "PGM", 132: "SCTP", 135: "Mobility", 240: "pfsync",
};

/** tcpdump's protocol name (`ICMP`, `UDP`, `IPIP`, ..., `unknown`). */
export function ipProtoName(p: number): string {
  return PROTO_NAMES[p] ?? "unknown";
}

const ECN = ["", ",ECT(1)", ",ECT(0)", ",CE"];

/**
 * The tcpdump `-v` parenthesised header, e.g.
 * `(tos 0x0, ttl 64, id 19144, offset 0, flags [DF], proto UDP (17), length 42)`, with
 * `, options (...)` for IHL > 5.
 */
export function formatIpv4Header(r: Ipv4Repr): string {
  const flags = [r.mf ? "+" : "", r.df ? "DF" : ""].filter((s) => s !== "").join(", ") || "none";
  let s = `(tos 0x${r.tos.toString(16)}${ECN[r.tos & 3]}`;
  if (r.ttl >= 1) s += `, ttl ${r.ttl}`;
  s += `, id ${r.ident}, offset ${r.fragOffset}, flags [${flags}], proto ${ipProtoName(r.protocol)} (${r.protocol})`;
  s += `, length ${ipv4ReprHeaderLen(r) + r.payloadLen}`;
  if (r.optionsLen > 0) s += `, options (${formatIpv4Options(r.options, r.optionsLen)})`;
  return s + ")";
}

/** `10.0.0.1 > 10.0.0.2` (tcpdump -n). */
export function formatIpv4Addrs(r: Ipv4Repr): string {
  return `${formatIpv4(r.src)} > ${formatIpv4(r.dst)}`;
}

/** The non-verbose line prefix `IP 10.0.0.1 > 10.0.0.2:` (for ICMP and other port-less payloads). */
export function formatIpv4Prefix(r: Ipv4Repr): string {
  return `IP ${formatIpv4Addrs(r)}:`;
}

/** What tcpdump prints after the prefix for a fragment other than the first: `ip-proto-1`. */
export function formatIpv4LaterFragment(r: Ipv4Repr): string {
  return `ip-proto-${r.protocol}`;
}

// ---- options --------------------------------------------------------------------------------
export const IPOPT_EOL = 0;
export const IPOPT_NOP = 1;
export const IPOPT_RR = 7;
export const IPOPT_TS = 68;
export const IPOPT_SECURITY = 130;
export const IPOPT_LSRR = 131;
export const IPOPT_SSRR = 137;
export const IPOPT_RA = 148;

/** Walk the options of the header at `off` (after ipv4CheckLen): MALFORMED if a length is < 2 or runs past the header. */
export function ipv4CheckOptions(b: Uint8Array, off: number): WireError {
  const end = off + ((b[off]! & 0xf) << 2);
  for (let i = off + IPV4_OPTIONS; i < end; ) {
    const t = b[i]!;
    if (t === IPOPT_EOL) return WireError.OK;
    if (t === IPOPT_NOP) { i++; continue; }
    if (i + 1 >= end) return WireError.MALFORMED;
    const l = b[i + 1]!;
    if (l < 2 || i + l > end) return WireError.MALFORMED;
    i += l;
  }
  return WireError.OK;
}

/** Absolute offset of the first option of `type` in the header at `off`, or -1 (after ipv4CheckOptions). */
export function ipv4FindOption(b: Uint8Array, off: number, type: number): number {
  const end = off + ((b[off]! & 0xf) << 2);
  for (let i = off + IPV4_OPTIONS; i < end; ) {
    const t = b[i]!;
    if (t === type) return i;
    if (t === IPOPT_EOL) return -1;
    if (t === IPOPT_NOP) { i++; continue; }
    const l = b[i + 1] ?? 0;
    if (l < 2) return -1;
    i += l;
  }
  return -1;
}

const OPT_NAMES: Record<number, string> = {
  0: "EOL", 1: "NOP", 68: "timestamp", 130: "security", 7: "RR", 137: "SSRR", 131: "LSRR", 148: "RA", 82: "traceroute",
};

/** Option list as tcpdump prints it inside `options (...)`, e.g. `NOP,RR 10.0.0.1, 0.0.0.0 0.0.0.0`. */
export function formatIpv4Options(o: Uint8Array, n: number): string {
  let s = "";
  for (let i = 0; i < n; ) {
    const t = o[i]!;
    s += (i ? "," : "") + (OPT_NAMES[t] ?? `unknown ${t}`);
    const single = t === IPOPT_NOP || t === IPOPT_EOL;
    const l = single ? 1 : (o[i + 1] ?? 0);
    if ((!single && l < 2) || l > n - i) return `${s} [bad length ${l}]`;
    if (t === IPOPT_EOL) return s;
    if (t === IPOPT_RR || t === IPOPT_LSRR || t === IPOPT_SSRR) s += formatRoute(o, i, l);
    else if (t === IPOPT_TS) s += formatTimestamp(o, i, l);
    else if (t === IPOPT_RA) s += l < 4 ? ` [bad length ${l}]` : getU16(o, i + 2) ? ` value ${getU16(o, i + 2)}` : "";
    i += l;
  }
  return s;
}

function formatRoute(o: Uint8Array, at: number, l: number): string {
  if (l < 3) return ` [bad length ${l}]`;
  let s = (l + 1) & 3 ? ` [bad length ${l}]` : "";
  const ptr = o[at + 2]! - 1;
  if (ptr < 3 || (ptr + 1) & 3 || ptr > l + 1) s += ` [bad ptr ${o[at + 2]}]`;
  for (let k = 3; k + 4 <= l; k += 4) s += ` ${formatIpv4(getU32(o, at + k))}${ptr > k ? "," : ""}`;
  return s;
}

function formatTimestamp(o: Uint8Array, at: number, l: number): string {
  if (l < 4) return `[bad length ${l}]`;
  const flag = o[at + 3]! & 0xf;
  const hop = flag !== 0 ? 8 : 4;
  let s = " TS{" + ((l - 4) & (hop - 1) ? `[bad length ${l}]` : "");
  const ptr = o[at + 2]! - 1;
  if (ptr < 4 || (ptr - 4) & (hop - 1) || ptr > l + 1) s += `[bad ptr ${o[at + 2]}]`;
  let k = 0;
  const kind = ["TSONLY", "TS+ADDR", "", "PRESPEC"][flag] || "";
  if (kind === "") s += `[bad ts type ${flag}]`;
  else {
    s += kind;
    for (k = 4; k + hop <= l; k += hop) {
      s += `${ptr === k ? " ^ " : " "}${getU32(o, at + k + hop - 4)}@${hop === 8 ? formatIpv4(getU32(o, at + k)) : ""}`;
    }
  }
  s += ptr === k ? " ^ " : "";
  return s + (o[at + 3]! >>> 4 ? ` [${o[at + 3]! >>> 4} hops not recorded]} ` : "}");
}
