// VXLAN header (RFC 7348), carried in UDP to port 4789; an Ethernet frame follows it.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |R|R|R|R|I|R|R|R|            Reserved                           |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                VXLAN Network Identifier (VNI) |   Reserved    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The I flag (0x08) must be set: a header without it fails with BAD_VERSION (the code for "a flag
// that must be set"). Reserved bits are ignored on receipt, as RFC 7348 says; Linux's vxlan_rcv is
// stricter and drops a frame with any unknown flag or reserved bit set (no GBP/GPE extensions
// configured): a device emulating it tests `vxlanReservedBitsSet`. Emit writes the reserved
// fields as zero.
//
// Outer headers as Linux builds them (BEHAVIOR.md 3.8, and seen in the real captures): UDP source
// port from the inner flow hash (`vxlanSrcPort`), destination port 4789, UDP checksum computed
// (iproute2 default `udpcsum` on current kernels), outer IPv4 DF clear, TTL 64.

import { getU32, setU32 } from "../bytes.js";
import { WireError } from "./error.js";

export const VXLAN_FLAGS = 0;
export const VXLAN_VNI = 4;
export const VXLAN_HEADER_LEN = 8;
export const VXLAN_FLAG_I = 0x08;
/** IANA port (RFC 7348); Linux `IANA_VXLAN_UDP_PORT`, Docker's default data-path port. */
export const VXLAN_PORT = 4789;
/** Largest VNI (24 bits). */
export const VXLAN_VNI_MAX = 0xff_ffff;

// ---- in-place accessors (after vxlanCheckLen) -----------------------------------------------
export const vxlanFlags = (b: Uint8Array, o: number): number => b[o + VXLAN_FLAGS]!;
export const vxlanVni = (b: Uint8Array, o: number): number => getU32(b, o + VXLAN_VNI) >>> 8;
/** Set the 24-bit VNI, keeping the reserved byte after it. */
export const vxlanSetVni = (b: Uint8Array, o: number, vni: number): void => {
  b[o + VXLAN_VNI] = vni >>> 16;
  b[o + VXLAN_VNI + 1] = vni >>> 8;
  b[o + VXLAN_VNI + 2] = vni;
};
/** Any bit other than I set (flags, the 24 reserved bits, or the last byte): Linux drops these. */
export const vxlanReservedBitsSet = (b: Uint8Array, o: number): boolean =>
  (getU32(b, o) & ~(VXLAN_FLAG_I << 24)) !== 0 || b[o + 7] !== 0;

/** The one check: 8 bytes fit and the I flag is set (else BAD_VERSION). */
export function vxlanCheckLen(b: Uint8Array, off: number, len: number): WireError {
  if (len < VXLAN_HEADER_LEN || off < 0 || off + len > b.length) return WireError.TRUNCATED;
  if ((b[off + VXLAN_FLAGS]! & VXLAN_FLAG_I) === 0) return WireError.BAD_VERSION;
  return WireError.OK;
}

export interface VxlanRepr {
  vni: number;
}

export function newVxlanRepr(): VxlanRepr {
  return { vni: 0 };
}

/** Parse into `out` (reused). The inner Ethernet frame starts at `off + 8`. */
export function parseVxlan(b: Uint8Array, off: number, len: number, out: VxlanRepr): WireError {
  const e = vxlanCheckLen(b, off, len);
  if (e !== WireError.OK) return e;
  out.vni = getU32(b, off + VXLAN_VNI) >>> 8;
  return WireError.OK;
}

/** Write the header at `off` (flags 0x08, reserved fields zero) before the inner frame; returns 8. */
export function emitVxlan(r: VxlanRepr, b: Uint8Array, off: number): number {
  setU32(b, off + VXLAN_FLAGS, VXLAN_FLAG_I << 24);
  setU32(b, off + VXLAN_VNI, ((r.vni & VXLAN_VNI_MAX) << 8) >>> 0);
  return VXLAN_HEADER_LEN;
}

/**
 * Outer UDP source port as Linux picks it (include/net/udp.h `udp_flow_src_port`) from the
 * 32-bit flow hash of the inner packet: `hash ^= hash << 16; port = ((u64)hash * (max - min) >> 32)
 * + min`, so ports run over [min, max - 1]. With no configured range (min >= max) the kernel uses
 * ip_local_port_range, whose default is the default here. The product is below 2^48, so the
 * double arithmetic is exact.
 */
export function vxlanSrcPort(hash: number, min = 32768, max = 60999): number {
  if (min >= max) {
    min = 32768;
    max = 60999;
  }
  const h = (hash ^ (hash << 16)) >>> 0;
  return Math.floor((h * (max - min)) / 0x1_0000_0000) + min;
}

/**
 * tcpdump style, after the outer addresses and ports: `VXLAN, flags [I] (0x08), vni 42`, then
 * (if given) a newline and the inner frame's own line, as tcpdump prints it. `flags` is the
 * header's flags byte (`vxlanFlags`), 0x08 for anything `emitVxlan` wrote; without the I flag
 * tcpdump 4.99 shows `flags [invalid] (0x00)`.
 */
export function formatVxlan(r: VxlanRepr, inner = "", flags = VXLAN_FLAG_I): string {
  const hex = (flags < 16 ? "0" : "") + flags.toString(16);
  const head = `VXLAN, flags [${flags & VXLAN_FLAG_I ? "I" : "invalid"}] (0x${hex}), vni ${r.vni}`;
  return inner ? `${head}\n${inner}` : head;
}
