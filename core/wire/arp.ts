// ARP (RFC 826), Ethernet hardware and IPv4 protocol addresses only.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |   Hardware type (1)           |   Protocol type (0x0800)      |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  HLEN (6)     |  PLEN (4)     |   Operation (1 req, 2 reply)  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                 Sender hardware address (48)                  |
//  +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                               |  Sender protocol address (32) |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//  |                               |                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//  |                 Target hardware address (48)                  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                 Target protocol address (32)                  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// 28 bytes. Linux sends 42-byte frames on a veth (no padding); on a real wire they are padded to
// 60, so trailing bytes are accepted and ignored. A request from Linux carries a zero target MAC.
// Gratuitous ARP (Linux arp_notify, Docker's unsolicited ARP) is a request whose sender and target
// IPs are equal (`arpIsGratuitous`); tcpdump prints it as an ordinary request.

import { getU16, getU32, getU48, setU16, setU32, setU48 } from "../bytes.js";
import { formatIpv4, formatMac } from "../addr.js";
import { WireError } from "./error.js";

export const ARP_HTYPE = 0;
export const ARP_PTYPE = 2;
export const ARP_HLEN = 4;
export const ARP_PLEN = 5;
export const ARP_OPER = 6;
export const ARP_SHA = 8;
export const ARP_SPA = 14;
export const ARP_THA = 18;
export const ARP_TPA = 24;
export const ARP_LEN = 28;

export const ARP_HTYPE_ETHERNET = 1;
export const ARP_PTYPE_IPV4 = 0x0800;
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;

// ---- in-place accessors (after arpCheckLen) -------------------------------------------------
export const arpHtype = (b: Uint8Array, o: number): number => getU16(b, o + ARP_HTYPE);
export const arpPtype = (b: Uint8Array, o: number): number => getU16(b, o + ARP_PTYPE);
export const arpHlen = (b: Uint8Array, o: number): number => b[o + ARP_HLEN]!;
export const arpPlen = (b: Uint8Array, o: number): number => b[o + ARP_PLEN]!;
export const arpOper = (b: Uint8Array, o: number): number => getU16(b, o + ARP_OPER);
export const arpSha = (b: Uint8Array, o: number): number => getU48(b, o + ARP_SHA);
export const arpSpa = (b: Uint8Array, o: number): number => getU32(b, o + ARP_SPA);
export const arpTha = (b: Uint8Array, o: number): number => getU48(b, o + ARP_THA);
export const arpTpa = (b: Uint8Array, o: number): number => getU32(b, o + ARP_TPA);
export const arpSetOper = (b: Uint8Array, o: number, v: number): void => setU16(b, o + ARP_OPER, v);
export const arpSetSha = (b: Uint8Array, o: number, m: number): void => setU48(b, o + ARP_SHA, m);
export const arpSetSpa = (b: Uint8Array, o: number, a: number): void => setU32(b, o + ARP_SPA, a);
export const arpSetTha = (b: Uint8Array, o: number, m: number): void => setU48(b, o + ARP_THA, m);
export const arpSetTpa = (b: Uint8Array, o: number, a: number): void => setU32(b, o + ARP_TPA, a);

/** The one check: 28 bytes fit, and the packet is Ethernet/IPv4 (else UNSUPPORTED). */
export function arpCheckLen(b: Uint8Array, off: number, len: number): WireError {
  if (len < ARP_LEN || off < 0 || off + len > b.length) return WireError.TRUNCATED;
  if (getU16(b, off + ARP_HTYPE) !== ARP_HTYPE_ETHERNET || getU16(b, off + ARP_PTYPE) !== ARP_PTYPE_IPV4) return WireError.UNSUPPORTED;
  if (b[off + ARP_HLEN] !== 6 || b[off + ARP_PLEN] !== 4) return WireError.UNSUPPORTED;
  return WireError.OK;
}

export interface ArpRepr {
  /** ARP_OP_REQUEST, ARP_OP_REPLY, or any other value (passed through). */
  operation: number;
  senderMac: number;
  senderIp: number;
  targetMac: number;
  targetIp: number;
}

export function newArpRepr(): ArpRepr {
  return { operation: 0, senderMac: 0, senderIp: 0, targetMac: 0, targetIp: 0 };
}

/** Parse into `out` (reused; nothing allocated). Bytes after the 28 are ignored. */
export function parseArp(b: Uint8Array, off: number, len: number, out: ArpRepr): WireError {
  const e = arpCheckLen(b, off, len);
  if (e !== WireError.OK) return e;
  out.operation = getU16(b, off + ARP_OPER);
  out.senderMac = getU48(b, off + ARP_SHA);
  out.senderIp = getU32(b, off + ARP_SPA);
  out.targetMac = getU48(b, off + ARP_THA);
  out.targetIp = getU32(b, off + ARP_TPA);
  return WireError.OK;
}

/** Write the 28-byte packet at `off`; returns 28. */
export function emitArp(r: ArpRepr, b: Uint8Array, off: number): number {
  setU16(b, off + ARP_HTYPE, ARP_HTYPE_ETHERNET);
  setU16(b, off + ARP_PTYPE, ARP_PTYPE_IPV4);
  b[off + ARP_HLEN] = 6;
  b[off + ARP_PLEN] = 4;
  setU16(b, off + ARP_OPER, r.operation);
  setU48(b, off + ARP_SHA, r.senderMac);
  setU32(b, off + ARP_SPA, r.senderIp);
  setU48(b, off + ARP_THA, r.targetMac);
  setU32(b, off + ARP_TPA, r.targetIp);
  return ARP_LEN;
}

/** A gratuitous ARP announces the sender's own address: sender IP == target IP. */
export function arpIsGratuitous(r: ArpRepr): boolean {
  return r.senderIp === r.targetIp;
}

const OP_NAMES: Record<number, string> = {
  1: "Request", 2: "Reply", 3: "Reverse Request", 4: "Reverse Reply", 8: "Inverse Request", 9: "Inverse Reply", 10: "NACK Reply",
};

/**
 * tcpdump -n style (no -e), e.g. `ARP, Request who-has 10.99.0.2 tell 10.99.0.1, length 28`,
 * `ARP, Reply 10.99.0.2 is-at 02:42:0a:63:00:02, length 28`. `length` is what follows the
 * Ethernet header (46 for a frame padded to 60). A request with a non-zero target MAC shows it:
 * `who-has 10.99.0.2 (02:42:0a:63:00:02) tell ...`. For an operation it has no layout for,
 * tcpdump prints its name (or `Unknown (N)`) and a space, then a hex dump instead of the length:
 * this returns that text without the dump.
 */
export function formatArp(r: ArpRepr, length = ARP_LEN): string {
  const spa = formatIpv4(r.senderIp);
  const tpa = formatIpv4(r.targetIp);
  let body: string;
  switch (r.operation) {
    case 1:
      body = `who-has ${tpa}${r.targetMac !== 0 ? ` (${formatMac(r.targetMac)})` : ""} tell ${spa}`;
      break;
    case 2:
      body = `${spa} is-at ${formatMac(r.senderMac)}`;
      break;
    case 3:
    case 8:
      body = `who-is ${formatMac(r.targetMac)} tell ${formatMac(r.senderMac)}`;
      break;
    case 4:
      body = `${formatMac(r.targetMac)} at ${tpa}`;
      break;
    case 9:
      body = `${formatMac(r.senderMac)} at ${spa}`;
      break;
    default:
      return `ARP, ${OP_NAMES[r.operation] ?? `Unknown (${r.operation})`} `;
  }
  return `ARP, ${OP_NAMES[r.operation]} ${body}, length ${length}`;
}
