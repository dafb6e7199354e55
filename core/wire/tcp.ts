// TCP segment header (RFC 9293), with the ECN bits of RFC 3168 and the NS bit of RFC 3540.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |          Source Port          |       Destination Port        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                        Sequence Number                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Acknowledgment Number                      |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Data |     |N|C|E|U|A|P|R|S|F|                               |
//  | Offset| Rsv |S|W|C|R|C|S|S|Y|I|            Window             |
//  |       |     | |R|E|G|K|H|T|N|N|                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |           Checksum            |         Urgent Pointer        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Options (0..40 bytes)                      |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                             data ...
//
// `flags` is the whole 12-bit field after the data offset (reserved bits included, so any
// segment round-trips): NS = 0x100, CWR = 0x80, ECE = 0x40, ..., FIN = 0x01.
// There is no length field: the segment length (header + data) is the IPv4 payload length,
// which the caller passes as `len`. The checksum covers the IPv4 pseudo-header, the header and
// the data; unlike UDP there is no "0 = none" rule. The options are kept raw in the Repr (the
// single source of truth, so every valid option order round-trips); tcp-options.ts decodes
// them, encodes Linux's layouts and prints segments as tcpdump does.

import { getU16, getU32, setU16, setU32 } from "../bytes.js";
import { checksumAdd, checksumFinish, checksumFold, checksumUpdate16, checksumUpdate32, pseudoHeaderSum } from "../checksum.js";
import { WireError } from "./error.js";

export const TCP_SRC_PORT = 0;
export const TCP_DST_PORT = 2;
export const TCP_SEQ_NUM = 4;
export const TCP_ACK_NUM = 8;
/** Data offset (upper 4 bits) and the 12-bit flags field share this 16-bit word. */
export const TCP_OFF_FLAGS = 12;
export const TCP_WINDOW = 14;
export const TCP_CHECKSUM = 16;
export const TCP_URGENT = 18;
export const TCP_OPTIONS = 20;
export const TCP_HEADER_LEN = 20;
export const TCP_MAX_OPTIONS_LEN = 40;
export const TCP_MAX_HEADER_LEN = 60;
export const IPPROTO_TCP = 6;

export const TCP_FIN = 0x001;
export const TCP_SYN = 0x002;
export const TCP_RST = 0x004;
export const TCP_PSH = 0x008;
export const TCP_ACK = 0x010;
export const TCP_URG = 0x020;
export const TCP_ECE = 0x040;
export const TCP_CWR = 0x080;
export const TCP_NS = 0x100;

// ---- in-place accessors (after tcpCheckLen) -------------------------------------------------
export const tcpSrcPort = (b: Uint8Array, o: number): number => getU16(b, o + TCP_SRC_PORT);
export const tcpDstPort = (b: Uint8Array, o: number): number => getU16(b, o + TCP_DST_PORT);
export const tcpSeq = (b: Uint8Array, o: number): number => getU32(b, o + TCP_SEQ_NUM);
export const tcpAck = (b: Uint8Array, o: number): number => getU32(b, o + TCP_ACK_NUM);
/** Data offset in 32-bit words (5..15). */
export const tcpDataOffset = (b: Uint8Array, o: number): number => b[o + TCP_OFF_FLAGS]! >>> 4;
/** Header length in bytes, options included (20..60). */
export const tcpHeaderLen = (b: Uint8Array, o: number): number => (b[o + TCP_OFF_FLAGS]! >>> 4) << 2;
export const tcpFlags = (b: Uint8Array, o: number): number => getU16(b, o + TCP_OFF_FLAGS) & 0xfff;
export const tcpWindow = (b: Uint8Array, o: number): number => getU16(b, o + TCP_WINDOW);
export const tcpChecksum = (b: Uint8Array, o: number): number => getU16(b, o + TCP_CHECKSUM);
export const tcpUrgent = (b: Uint8Array, o: number): number => getU16(b, o + TCP_URGENT);
export const tcpSetSrcPort = (b: Uint8Array, o: number, v: number): void => setU16(b, o + TCP_SRC_PORT, v);
export const tcpSetDstPort = (b: Uint8Array, o: number, v: number): void => setU16(b, o + TCP_DST_PORT, v);
export const tcpSetSeq = (b: Uint8Array, o: number, v: number): void => setU32(b, o + TCP_SEQ_NUM, v);
export const tcpSetAck = (b: Uint8Array, o: number, v: number): void => setU32(b, o + TCP_ACK_NUM, v);
export const tcpSetDataOffset = (b: Uint8Array, o: number, words: number): void => {
  b[o + TCP_OFF_FLAGS] = ((words & 15) << 4) | (b[o + TCP_OFF_FLAGS]! & 15);
};
/** Set the 12-bit flags field, keeping the data offset. */
export const tcpSetFlags = (b: Uint8Array, o: number, f: number): void => {
  setU16(b, o + TCP_OFF_FLAGS, (b[o + TCP_OFF_FLAGS]! & 0xf0) << 8 | (f & 0xfff));
};
export const tcpSetWindow = (b: Uint8Array, o: number, v: number): void => setU16(b, o + TCP_WINDOW, v);
export const tcpSetChecksum = (b: Uint8Array, o: number, v: number): void => setU16(b, o + TCP_CHECKSUM, v);
export const tcpSetUrgent = (b: Uint8Array, o: number, v: number): void => setU16(b, o + TCP_URGENT, v);

/** The one length check: the fixed header fits, data offset >= 5 and the header fits in `len`. */
export function tcpCheckLen(b: Uint8Array, off: number, len: number): WireError {
  if (len < TCP_HEADER_LEN || off < 0 || off + len > b.length) return WireError.TRUNCATED;
  const h = tcpHeaderLen(b, off);
  if (h < TCP_HEADER_LEN) return WireError.BAD_LENGTH;
  if (h > len) return WireError.TRUNCATED;
  return WireError.OK;
}

/**
 * Structure of an option list (`len` bytes at `off`): EOL ends it (the rest is padding), NOP is
 * one byte, every other option has a length byte >= 2 that stays inside the list; else MALFORMED.
 */
export function tcpOptionsCheck(b: Uint8Array, off: number, len: number): WireError {
  const end = off + len;
  let i = off;
  while (i < end) {
    const kind = b[i]!;
    if (kind === 0) return WireError.OK;
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= end) return WireError.MALFORMED;
    const l = b[i + 1]!;
    if (l < 2 || i + l > end) return WireError.MALFORMED;
    i += l;
  }
  return WireError.OK;
}

// ---- resets ---------------------------------------------------------------------------------

/**
 * The 20-byte RST header at `t` answering the segment whose TCP header is at `l4` carrying
 * `dataLen` bytes of data, as both of Linux's reset builders write it (tcp_v4_send_reset,
 * nf_reject_ip_tcphdr_put): ports swapped; the segment had ACK -> RST, seq = its ack; else
 * RST|ACK, seq 0, ack = its seq + data + SYN + FIN; data offset 5, window 0, checksum field 0
 * (the caller fills it), urgent 0.
 */
export function tcpWriteReset(b: Uint8Array, t: number, l4: number, dataLen: number): void {
  const flags = b[l4 + 13]!;
  b[t] = b[l4 + 2]!;
  b[t + 1] = b[l4 + 3]!;
  b[t + 2] = b[l4]!;
  b[t + 3] = b[l4 + 1]!;
  if (flags & 0x10) {
    for (let i = 0; i < 4; i++) b[t + 4 + i] = b[l4 + 8 + i]!;
    for (let i = 8; i < 12; i++) b[t + i] = 0;
    b[t + 13] = 0x04;
  } else {
    const ack = (((b[l4 + 4]! << 24) | (b[l4 + 5]! << 16) | (b[l4 + 6]! << 8) | b[l4 + 7]!) + dataLen + (flags & 0x02 ? 1 : 0) + (flags & 0x01 ? 1 : 0)) >>> 0;
    for (let i = 4; i < 8; i++) b[t + i] = 0;
    b[t + 8] = ack >>> 24;
    b[t + 9] = ack >>> 16;
    b[t + 10] = ack >>> 8;
    b[t + 11] = ack;
    b[t + 13] = 0x14;
  }
  b[t + 12] = 5 << 4;
  for (let i = 14; i < 20; i++) b[t + i] = 0;
}

// ---- checksum -------------------------------------------------------------------------------
/** Checksum for the `len`-byte segment at `off` (its checksum field is skipped, not zeroed). */
export function tcpComputeChecksum(b: Uint8Array, off: number, len: number, src: number, dst: number): number {
  let s = pseudoHeaderSum(src, dst, IPPROTO_TCP, len);
  s = checksumAdd(s, b, off, TCP_CHECKSUM);
  s = checksumAdd(s, b, off + TCP_CHECKSUM + 2, len - TCP_CHECKSUM - 2);
  return checksumFinish(s);
}

/** Whether the `len`-byte segment's checksum verifies (no zero exemption). After tcpCheckLen. */
export function tcpVerifyChecksum(b: Uint8Array, off: number, len: number, src: number, dst: number): boolean {
  return checksumFold(checksumAdd(pseudoHeaderSum(src, dst, IPPROTO_TCP, len), b, off, len)) === 0xffff;
}

// ---- incremental rewrites (NAT), RFC 1624: the payload is never re-read ------------------------
/** Rewrite the source port and patch the checksum. */
export function tcpRewriteSrcPort(b: Uint8Array, o: number, port: number): void {
  setU16(b, o + TCP_CHECKSUM, checksumUpdate16(getU16(b, o + TCP_CHECKSUM), getU16(b, o + TCP_SRC_PORT), port));
  setU16(b, o + TCP_SRC_PORT, port);
}
/** Rewrite the destination port and patch the checksum. */
export function tcpRewriteDstPort(b: Uint8Array, o: number, port: number): void {
  setU16(b, o + TCP_CHECKSUM, checksumUpdate16(getU16(b, o + TCP_CHECKSUM), getU16(b, o + TCP_DST_PORT), port));
  setU16(b, o + TCP_DST_PORT, port);
}
/** Patch the checksum for an IPv4 address change in the pseudo-header (the IP header is the caller's). */
export function tcpRewriteAddrChecksum(b: Uint8Array, o: number, oldAddr: number, newAddr: number): void {
  setU16(b, o + TCP_CHECKSUM, checksumUpdate32(getU16(b, o + TCP_CHECKSUM), oldAddr, newAddr));
}

// ---- Repr -----------------------------------------------------------------------------------
export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** The 12-bit flags field (TCP_FIN ... TCP_NS, reserved bits kept). */
  flags: number;
  window: number;
  urgent: number;
  /** Raw option bytes, owned by the Repr; zero beyond `optionsLen`. */
  readonly options: Uint8Array;
  /** Bytes of options (multiple of 4, 0..40); the header is 20 + optionsLen. */
  optionsLen: number;
  payloadLen: number;
}

export function newTcpRepr(): TcpRepr {
  return { srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0, urgent: 0, options: new Uint8Array(TCP_MAX_OPTIONS_LEN), optionsLen: 0, payloadLen: 0 };
}

export function tcpReprHeaderLen(r: TcpRepr): number {
  return TCP_HEADER_LEN + r.optionsLen;
}

/**
 * Parse the `len`-byte segment at `off` (`len` = IPv4 payload length) into `out` (reused; nothing
 * allocated). `src`/`dst` are the IPv4 addresses for the pseudo-header; `verify = false` skips the
 * checksum. The payload is at `off + tcpReprHeaderLen(out)`, `out.payloadLen` bytes.
 */
export function parseTcp(b: Uint8Array, off: number, len: number, src: number, dst: number, out: TcpRepr, verify = true): WireError {
  const e = tcpCheckLen(b, off, len);
  if (e !== WireError.OK) return e;
  if (verify && !tcpVerifyChecksum(b, off, len, src, dst)) return WireError.BAD_CHECKSUM;
  const h = tcpHeaderLen(b, off);
  const ol = h - TCP_HEADER_LEN;
  if (tcpOptionsCheck(b, off + TCP_OPTIONS, ol) !== WireError.OK) return WireError.MALFORMED;
  out.srcPort = getU16(b, off + TCP_SRC_PORT);
  out.dstPort = getU16(b, off + TCP_DST_PORT);
  out.seq = getU32(b, off + TCP_SEQ_NUM);
  out.ack = getU32(b, off + TCP_ACK_NUM);
  out.flags = getU16(b, off + TCP_OFF_FLAGS) & 0xfff;
  out.window = getU16(b, off + TCP_WINDOW);
  out.urgent = getU16(b, off + TCP_URGENT);
  const opts = out.options;
  for (let i = 0; i < ol; i++) opts[i] = b[off + TCP_OPTIONS + i]!;
  opts.fill(0, ol);
  out.optionsLen = ol;
  out.payloadLen = len - h;
  return WireError.OK;
}

/**
 * Write the header (options included) at `off` for a payload already in place after it, and fill
 * the checksum. `optionsLen` is rounded up to a multiple of 4 (the bytes past it are the Repr's
 * zeros). Returns the header length.
 */
export function emitTcp(r: TcpRepr, b: Uint8Array, off: number, src: number, dst: number): number {
  const ol = Math.min((r.optionsLen + 3) & ~3, TCP_MAX_OPTIONS_LEN);
  const h = TCP_HEADER_LEN + ol;
  setU16(b, off + TCP_SRC_PORT, r.srcPort);
  setU16(b, off + TCP_DST_PORT, r.dstPort);
  setU32(b, off + TCP_SEQ_NUM, r.seq);
  setU32(b, off + TCP_ACK_NUM, r.ack);
  setU16(b, off + TCP_OFF_FLAGS, ((h >>> 2) << 12) | (r.flags & 0xfff));
  setU16(b, off + TCP_WINDOW, r.window);
  setU16(b, off + TCP_URGENT, r.urgent);
  const opts = r.options;
  for (let i = 0; i < ol; i++) b[off + TCP_OPTIONS + i] = opts[i]!;
  setU16(b, off + TCP_CHECKSUM, tcpComputeChecksum(b, off, h + r.payloadLen, src, dst));
  return h;
}
