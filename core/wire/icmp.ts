// ICMPv4 (RFC 792; next-hop MTU of "fragmentation needed": RFC 1191).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     Type      |     Code      |          Checksum             |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  echo (8, 0):      Identifier |        Sequence Number        |
//  |  frag needed (3/4):    unused |         Next-Hop MTU          |
//  |  other types:       rest of header (unused, gateway, pointer) |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  echo: data ...   errors: the quoted datagram (IPv4 header + at least 8 bytes) ...
//
// The checksum covers the whole message (no pseudo-header). Errors (3, 4, 5, 11, 12) quote the
// offending datagram as Linux `__icmp_send` does: as much as fits in a 576-byte error
// (icmpErrorQuoteLen). A quote is usually cut short, so its total-length field exceeds the bytes
// present: parse it with parseIcmpQuote, not parseIpv4. Printing an error needs the quoted
// bytes, so formatIcmp takes the buffer as well as the Repr.

import { getU16, getU32, setU16, setU32 } from "../bytes.js";
import { checksumAdd, checksumFinish, checksumVerifies } from "../checksum.js";
import { formatIpv4 } from "../addr.js";
import { WireError } from "./error.js";
import { type Ipv4Repr, IPPROTO_TCP, IPPROTO_UDP, IPV4_HEADER_LEN, readIpv4Fields } from "./ipv4.js";

export const ICMP_TYPE = 0;
export const ICMP_CODE = 1;
export const ICMP_CHECKSUM = 2;
export const ICMP_REST = 4;
export const ICMP_IDENT = 4;
export const ICMP_SEQ = 6;
export const ICMP_MTU = 6;
export const ICMP_HEADER_LEN = 8;

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAM_PROBLEM = 12;
export const ICMP_TIMESTAMP = 13;
export const ICMP_TIMESTAMP_REPLY = 14;

// Destination unreachable codes (Linux names in comments).
export const ICMP_UNREACH_NET = 0; //          ICMP_NET_UNREACH: no route (forwarding)
export const ICMP_UNREACH_HOST = 1; //         ICMP_HOST_UNREACH: ARP failed, `unreachable` route
export const ICMP_UNREACH_PROTOCOL = 2; //     ICMP_PROT_UNREACH: no handler for the protocol
export const ICMP_UNREACH_PORT = 3; //         ICMP_PORT_UNREACH: closed UDP port
export const ICMP_UNREACH_FRAG_NEEDED = 4; //  ICMP_FRAG_NEEDED: DF and larger than the next-hop MTU
export const ICMP_UNREACH_NET_PROHIB = 9; //   ICMP_NET_ANO
export const ICMP_UNREACH_HOST_PROHIB = 10; // ICMP_HOST_ANO (iptables REJECT icmp-host-prohibited)
export const ICMP_UNREACH_FILTER_PROHIB = 13; // ICMP_PKT_FILTERED (`prohibit` route, REJECT icmp-admin-prohibited)
// Time exceeded codes.
export const ICMP_TIME_EXCEEDED_TTL = 0; //        ICMP_EXC_TTL
export const ICMP_TIME_EXCEEDED_REASSEMBLY = 1; // ICMP_EXC_FRAGTIME

/** An ICMP error is at most 576 bytes of IPv4 (RFC 1812 4.3.2.3; Linux `__icmp_send`). */
export const ICMP_ERROR_MAX_LEN = 576;

// ---- in-place accessors (after icmpCheckLen) ------------------------------------------------
export const icmpType = (b: Uint8Array, o: number): number => b[o + ICMP_TYPE]!;
export const icmpCode = (b: Uint8Array, o: number): number => b[o + ICMP_CODE]!;
export const icmpChecksum = (b: Uint8Array, o: number): number => getU16(b, o + ICMP_CHECKSUM);
export const icmpIdent = (b: Uint8Array, o: number): number => getU16(b, o + ICMP_IDENT);
export const icmpSeq = (b: Uint8Array, o: number): number => getU16(b, o + ICMP_SEQ);
export const icmpMtu = (b: Uint8Array, o: number): number => getU16(b, o + ICMP_MTU);
export const icmpRest = (b: Uint8Array, o: number): number => getU32(b, o + ICMP_REST);
export const icmpSetType = (b: Uint8Array, o: number, v: number): void => void (b[o + ICMP_TYPE] = v);
export const icmpSetCode = (b: Uint8Array, o: number, v: number): void => void (b[o + ICMP_CODE] = v);
export const icmpSetChecksum = (b: Uint8Array, o: number, v: number): void => setU16(b, o + ICMP_CHECKSUM, v);
export const icmpSetIdent = (b: Uint8Array, o: number, v: number): void => setU16(b, o + ICMP_IDENT, v);
export const icmpSetSeq = (b: Uint8Array, o: number, v: number): void => setU16(b, o + ICMP_SEQ, v);

export const icmpIsEcho = (type: number): boolean => type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY;
/** Error types, which quote a datagram: unreachable, source quench, redirect, time exceeded, parameter problem. */
export const icmpIsError = (type: number): boolean =>
  type === 3 || type === 4 || type === 5 || type === 11 || type === 12;

/** The one length check: the 8-byte header fits. The message is `len` bytes (the IPv4 payload). */
export function icmpCheckLen(b: Uint8Array, off: number, len: number): WireError {
  if (len < ICMP_HEADER_LEN || off < 0 || off + len > b.length) return WireError.TRUNCATED;
  return WireError.OK;
}

/** Checksum of the `len`-byte message at `off`, as it should be whatever the field holds. */
export function icmpComputeChecksum(b: Uint8Array, off: number, len: number): number {
  return checksumFinish(checksumAdd(checksumAdd(0, b, off, ICMP_CHECKSUM), b, off + ICMP_REST, len - ICMP_REST));
}
export function icmpVerifyChecksum(b: Uint8Array, off: number, len: number): boolean {
  return checksumVerifies(b, off, len);
}

// ---- Repr -----------------------------------------------------------------------------------
export interface IcmpRepr {
  type: number;
  code: number;
  /** Echo request/reply only (0 otherwise). */
  ident: number;
  seq: number;
  /** Next-hop MTU of destination unreachable / fragmentation needed only (0 otherwise). */
  mtu: number;
  /** Bytes 4-7 with the fields above masked out: the whole word for other types (so unknown types round-trip), the unused half for frag-needed, 0 for echo. */
  rest: number;
  payloadLen: number;
}

export function newIcmpRepr(): IcmpRepr {
  return { type: 0, code: 0, ident: 0, seq: 0, mtu: 0, rest: 0, payloadLen: 0 };
}

const isFragNeeded = (type: number, code: number): boolean => type === ICMP_DEST_UNREACH && code === ICMP_UNREACH_FRAG_NEEDED;

/** Parse the `len`-byte message at `off` into `out`; `verify = false` skips the checksum. The payload is at `off + 8`. */
export function parseIcmp(b: Uint8Array, off: number, len: number, out: IcmpRepr, verify = true): WireError {
  const e = icmpCheckLen(b, off, len);
  if (e !== WireError.OK) return e;
  if (verify && !checksumVerifies(b, off, len)) return WireError.BAD_CHECKSUM;
  const type = b[off + ICMP_TYPE]!;
  const code = b[off + ICMP_CODE]!;
  const word = getU32(b, off + ICMP_REST);
  out.type = type;
  out.code = code;
  out.ident = 0;
  out.seq = 0;
  out.mtu = 0;
  out.rest = 0;
  if (icmpIsEcho(type)) {
    out.ident = word >>> 16;
    out.seq = word & 0xffff;
  } else if (isFragNeeded(type, code)) {
    out.mtu = word & 0xffff;
    out.rest = (word & 0xffff0000) >>> 0;
  } else out.rest = word;
  out.payloadLen = len - ICMP_HEADER_LEN;
  return WireError.OK;
}

/** Write the header at `off` for a payload (echo data or quote) already in place after it, checksum included. Returns 8. */
export function emitIcmp(r: IcmpRepr, b: Uint8Array, off: number): number {
  b[off + ICMP_TYPE] = r.type;
  b[off + ICMP_CODE] = r.code;
  let word = r.rest;
  if (icmpIsEcho(r.type)) word = ((r.ident & 0xffff) << 16) | (r.seq & 0xffff);
  else if (isFragNeeded(r.type, r.code)) word = (r.rest & 0xffff0000) | (r.mtu & 0xffff);
  setU32(b, off + ICMP_REST, word >>> 0);
  setU16(b, off + ICMP_CHECKSUM, icmpComputeChecksum(b, off, ICMP_HEADER_LEN + r.payloadLen));
  return ICMP_HEADER_LEN;
}

// ---- errors and their quoted datagram --------------------------------------------------------
/**
 * Bytes of an original datagram (`origLen` = its total length) that an error quotes, the way
 * Linux `__icmp_send` sizes it: room = min(path MTU, 576) - outer IPv4 header (with any echoed
 * options) - 8, and no more than the datagram. Negative room means no error is sent (returns 0).
 */
export function icmpErrorQuoteLen(origLen: number, mtu: number, outerHeaderLen = IPV4_HEADER_LEN): number {
  const room = Math.min(mtu, ICMP_ERROR_MAX_LEN) - outerHeaderLen - ICMP_HEADER_LEN;
  return room < 0 ? 0 : Math.min(origLen, room);
}

/** Offset of the quoted IPv4 header in the error message at `off`. */
export const icmpQuoteOffset = (off: number): number => off + ICMP_HEADER_LEN;

/**
 * Length check for a quoted IPv4 datagram at `off` with `len` bytes present: version 4, IHL >= 5,
 * total length >= header, and present at least the header plus 8 bytes of its payload (or all
 * of a shorter datagram). The total length may exceed `len`.
 */
export function icmpQuoteCheckLen(b: Uint8Array, off: number, len: number): WireError {
  if (len < IPV4_HEADER_LEN || off < 0 || off + len > b.length) return WireError.TRUNCATED;
  if (b[off]! >>> 4 !== 4) return WireError.BAD_VERSION;
  const hl = (b[off]! & 0xf) << 2;
  if (hl < IPV4_HEADER_LEN) return WireError.BAD_LENGTH;
  const total = getU16(b, off + 2);
  if (total < hl) return WireError.BAD_LENGTH;
  if (len < hl + 8 && len < total) return WireError.TRUNCATED;
  return WireError.OK;
}

/**
 * Parse a quoted header into `out` (payloadLen = what the original's total length announces, not
 * what is present). No checksum check: a quote may come from a router that rewrote it.
 */
export function parseIcmpQuote(b: Uint8Array, off: number, len: number, out: Ipv4Repr): WireError {
  const e = icmpQuoteCheckLen(b, off, len);
  if (e !== WireError.OK) return e;
  readIpv4Fields(b, off, out);
  return WireError.OK;
}

/** Offset of the quoted L4 header (after icmpQuoteCheckLen). */
export const icmpQuoteL4Offset = (b: Uint8Array, qoff: number): number => qoff + ((b[qoff]! & 0xf) << 2);
/** Quoted TCP/UDP ports, and quoted ICMP type/ident (echo): the first 8 L4 bytes, always quoted. */
export const icmpQuoteSrcPort = (b: Uint8Array, qoff: number): number => getU16(b, icmpQuoteL4Offset(b, qoff));
export const icmpQuoteDstPort = (b: Uint8Array, qoff: number): number => getU16(b, icmpQuoteL4Offset(b, qoff) + 2);
export const icmpQuoteIcmpType = (b: Uint8Array, qoff: number): number => b[icmpQuoteL4Offset(b, qoff)]!;
export const icmpQuoteIcmpIdent = (b: Uint8Array, qoff: number): number => getU16(b, icmpQuoteL4Offset(b, qoff) + ICMP_IDENT);

// ---- printer (cold path) --------------------------------------------------------------------
const UNREACH: Record<number, string> = {
  0: "net %s unreachable", 1: "host %s unreachable", 5: "%s unreachable - source route failed",
  6: "net %s unreachable - unknown", 7: "host %s unreachable - unknown", 8: "%s unreachable - source host isolated",
  9: "net %s unreachable - admin prohibited", 10: "host %s unreachable - admin prohibited",
  11: "net %s unreachable - tos prohibited", 12: "host %s unreachable - tos prohibited",
  13: "host %s unreachable - admin prohibited filter", 14: "host %s unreachable - host precedence violation",
  15: "host %s unreachable - precedence cutoff",
};
const OTHER: Record<number, string> = {
  0: "echo reply", 4: "source quench", 8: "echo request", 10: "router solicitation", 13: "time stamp request",
  14: "time stamp reply", 15: "information request", 16: "information reply", 17: "address mask request",
};
const REDIRECT = ["redirect %s to net", "redirect %s to host", "redirect-tos %s to net", "redirect-tos %s to host"];

/**
 * tcpdump's (-n) text for the message at `off` in `b` (the bytes `r` was parsed from; errors read
 * their quote there), e.g. `ICMP echo request, id 1, seq 1, length 64`,
 * `ICMP 10.0.0.2 udp port 9 unreachable, length 36`, `ICMP time exceeded in-transit, length 92`.
 */
export function formatIcmp(r: IcmpRepr, b: Uint8Array, off: number): string {
  return `ICMP ${icmpText(r, b, off)}, length ${ICMP_HEADER_LEN + r.payloadLen}`;
}

function icmpText(r: IcmpRepr, b: Uint8Array, off: number): string {
  const q = off + ICMP_HEADER_LEN;
  const qlen = Math.min(r.payloadLen, b.length - q);
  const qdst = qlen >= IPV4_HEADER_LEN ? formatIpv4(getU32(b, q + 16)) : "?";
  switch (r.type) {
    case ICMP_ECHO_REQUEST:
    case ICMP_ECHO_REPLY:
      return `echo ${r.type === ICMP_ECHO_REQUEST ? "request" : "reply"}, id ${r.ident}, seq ${r.seq}`;
    case ICMP_DEST_UNREACH: {
      if (r.code === ICMP_UNREACH_PROTOCOL) return `${qdst} protocol ${qlen > 9 ? b[q + 9] : "?"} unreachable`;
      if (r.code === ICMP_UNREACH_FRAG_NEEDED) return `${qdst} unreachable - need to frag${r.mtu ? ` (mtu ${r.mtu})` : ""}`;
      if (r.code === ICMP_UNREACH_PORT) {
        const hl = qlen > 0 ? (b[q]! & 0xf) << 2 : 0;
        if (qlen < hl + 4 || hl < IPV4_HEADER_LEN) return `${qdst} port ? unreachable`;
        const proto = b[q + 9]!;
        const dport = getU16(b, q + hl + 2);
        if (proto === IPPROTO_TCP) return `${qdst} tcp port ${dport} unreachable`;
        if (proto === IPPROTO_UDP) return `${qdst} udp port ${dport} unreachable`;
        return `${qdst} protocol ${proto} port ${dport} unreachable`;
      }
      const fmt = UNREACH[r.code];
      return fmt ? fmt.replace("%s", qdst) : `${qdst} unreachable - #${r.code}`;
    }
    case ICMP_REDIRECT: {
      const gw = formatIpv4(r.rest);
      const fmt = REDIRECT[r.code];
      return fmt ? `${fmt.replace("%s", qdst)} ${gw}` : `redirect-#${r.code} ${qdst} to ${gw}`;
    }
    case ICMP_TIME_EXCEEDED:
      if (r.code === ICMP_TIME_EXCEEDED_TTL) return "time exceeded in-transit";
      if (r.code === ICMP_TIME_EXCEEDED_REASSEMBLY) return "ip reassembly time exceeded";
      return `time exceeded-#${r.code}`;
    case ICMP_PARAM_PROBLEM:
      return r.code ? `parameter problem - code ${r.code}` : `parameter problem - octet ${r.rest >>> 24}`;
    case ICMP_TIMESTAMP:
      return `time stamp query id ${r.rest >>> 16} seq ${r.rest & 0xffff}`;
    case ICMP_TIMESTAMP_REPLY: {
      if (qlen < 12) return `time stamp reply id ${r.rest >>> 16} seq ${r.rest & 0xffff}`;
      const t = (k: number) => msOfDay(getU32(b, q + 4 * k));
      return `time stamp reply id ${r.rest >>> 16} seq ${r.rest & 0xffff}: org ${t(0)}, recv ${t(1)}, xmit ${t(2)}`;
    }
    case 9: {
      const lt = r.rest & 0xffff;
      const p2 = (v: number) => String(v).padStart(2, "0");
      let s = `router advertisement lifetime ${lt < 60 ? lt : lt < 3600 ? `${Math.floor(lt / 60)}:${p2(lt % 60)}` : `${Math.floor(lt / 3600)}:${p2(Math.floor(lt / 60) % 60)}:${p2(lt % 60)}`} ${r.rest >>> 24}:`;
      if (((r.rest >>> 16) & 0xff) !== 2) return `${s} [size ${(r.rest >>> 16) & 0xff}]`;
      for (let k = 0; k < r.rest >>> 24 && 8 * k + 8 <= qlen; k++) s += ` {${formatIpv4(getU32(b, q + 8 * k))} ${getU32(b, q + 8 * k + 4)}}`;
      return s;
    }
    case 18:
      return qlen >= 4 ? `address mask is 0x${getU32(b, q).toString(16).padStart(8, "0")}` : "address mask reply";
    default:
      return OTHER[r.type] ?? `type-#${r.type}`;
  }
}

/** Milliseconds since midnight UTC as tcpdump prints a timestamp: `hh:mm:ss.mmm`. */
function msOfDay(t: number): string {
  const p = (v: number, n = 2) => String(v).padStart(n, "0");
  const sec = Math.floor(t / 1000);
  return `${p(Math.floor(sec / 3600))}:${p(Math.floor(sec / 60) % 60)}:${p(sec % 60)}.${p(t % 1000, 3)}`;
}
