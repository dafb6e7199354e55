// IP-in-IP (RFC 2003): an IPv4 packet carried as the payload of an outer IPv4 header with
// protocol 4. No header of its own: the inner packet starts right after the outer header.
//
//  +--------------------------+--------------------------+---------------------------+
//  | outer IPv4 (proto 4)     | inner IPv4 header        | inner payload ...         |
//  +--------------------------+--------------------------+---------------------------+
//
// This is Calico's IPIP mode (device `tunl0`, MTU = host MTU - 20; BEHAVIOR.md 4.4).
//
// Outer header fields as the Linux ipip driver writes them (`ip_tunnel_xmit` + `iptunnel_xmit`,
// net/ipv4/ip_tunnel.c and ip_tunnel_core.c, read from source; NOT captured — the capture
// kernel has no ipip driver, see scripts/capture-fixtures-l3.sh; BEHAVIOR.md 6 lists these as
// unverified):
//   - TTL: the tunnel's `ttl` parameter; 0 ("inherit", the default of both `ip link add type
//     ipip` and the fallback `tunl0`) copies the inner TTL (as it is when it enters the tunnel).
//   - DF: the tunnel's pmtudisc flag OR the inner DF. `ip link add ... type ipip` (netlink without
//     IFLA_IPTUN_PMTUDISC) turns pmtudisc on, so every outer header has DF; the fallback `tunl0`
//     that Calico uses has it off, so the outer DF copies the inner DF.
//   - TOS: the tunnel's `tos` (0 default; 1 = inherit the inner TOS), then the ECN bits of the
//     inner header are copied, except that CE becomes ECT(0) (`INET_ECN_encapsulate`).
//   - id: `__ip_select_ident` (the hashed per-destination generator), whatever DF is.
// What the fixture ipip-echo.hex shows (outer built by a raw socket, inner a real echo request
// with TTL 64 and DF): outer TTL 64, DF set, TOS 0 — consistent with the rules above.

import { type Ipv4Repr, IPPROTO_IPIP, IPV4_HEADER_LEN, emitIpv4, formatIpv4Addrs, formatIpv4Header, ipv4CheckLen, ipv4HeaderLen, ipv4Protocol, ipv4ReprHeaderLen, ipv4TotalLen, readIpv4Fields } from "./ipv4.js";
import { WireError } from "./error.js";

export { IPPROTO_IPIP };
/** Bytes IPIP adds in front of the inner packet (an outer header without options). */
export const IPIP_OVERHEAD = IPV4_HEADER_LEN;

/** After ipv4CheckLen on the outer header: whether it carries IP-in-IP. */
export const ipipIs = (b: Uint8Array, off: number): boolean => ipv4Protocol(b, off) === IPPROTO_IPIP;
/** Offset of the inner IPv4 header (after the outer ipv4CheckLen). */
export const ipipInnerOffset = (b: Uint8Array, off: number): number => off + ipv4HeaderLen(b, off);

/**
 * Check an outer packet at `off` and the inner one it carries: the outer passes ipv4CheckLen and
 * has protocol 4 (else UNSUPPORTED), and the inner passes ipv4CheckLen within the outer payload.
 */
export function ipipCheckLen(b: Uint8Array, off: number, len: number): WireError {
  const e = ipv4CheckLen(b, off, len);
  if (e !== WireError.OK) return e;
  if (ipv4Protocol(b, off) !== IPPROTO_IPIP) return WireError.UNSUPPORTED;
  const hl = ipv4HeaderLen(b, off);
  return ipv4CheckLen(b, off + hl, ipv4TotalLen(b, off) - hl);
}

/** The tunnel's own outer-header parameters (`ip -d link show` prints them). */
export interface IpipTunnelParams {
  src: number;
  dst: number;
  /** 0 = inherit the inner TTL. */
  ttl: number;
  /** 1 = inherit the inner TOS; ECN is always taken from the inner header. */
  tos: number;
  /** Outer DF always set (`pmtudisc`); otherwise copied from the inner header. */
  pmtudisc: boolean;
}

/**
 * Fill `out` with the outer header Linux would write for the inner packet at `innerOff` (after
 * its ipv4CheckLen), following the rules in the header comment. `ident` is the caller's
 * (Linux takes it from a hashed generator). Options none, protocol 4, payloadLen = inner total length.
 */
export function ipipOuterFor(t: IpipTunnelParams, b: Uint8Array, innerOff: number, ident: number, out: Ipv4Repr): void {
  const innerTos = b[innerOff + 1]!;
  const innerEcn = innerTos & 3;
  const base = t.tos & 1 ? innerTos & ~3 : t.tos & ~3;
  out.tos = base | (innerEcn === 3 ? 2 : innerEcn);
  out.ident = ident & 0xffff;
  out.df = t.pmtudisc || (b[innerOff + 6]! & 0x40) !== 0;
  out.mf = false;
  out.fragOffset = 0;
  out.ttl = t.ttl === 0 ? b[innerOff + 8]! : t.ttl;
  out.protocol = IPPROTO_IPIP;
  out.src = t.src;
  out.dst = t.dst;
  out.options.fill(0);
  out.optionsLen = 0;
  out.payloadLen = ipv4TotalLen(b, innerOff);
}

/**
 * Write the outer header of `outer` in front of the inner packet already at `innerOff` (its
 * total length field gives the outer payload length; protocol is forced to 4). Returns the
 * offset of the outer header (`innerOff - header length`), or -1 (nothing written) when the
 * headroom in front of the inner packet is too small.
 */
export function emitIpipOuter(outer: Ipv4Repr, b: Uint8Array, innerOff: number): number {
  const at = innerOff - ipv4ReprHeaderLen(outer);
  if (at < 0) return -1;
  outer.protocol = IPPROTO_IPIP;
  outer.payloadLen = ipv4TotalLen(b, innerOff);
  emitIpv4(outer, b, at);
  return at;
}

/**
 * tcpdump's non-verbose text for an IPIP packet: `IP 10.0.0.1 > 10.0.0.2: IP 10.1.0.1 > 10.1.0.2: `
 * followed by `inner` (the inner payload's own text, e.g. from formatIcmp). With `verbose`, each
 * IPv4 header is the `-v` form: `IP (tos ...)\n    a > b: (tos ...)\n    c > d: ...`.
 */
export function formatIpip(outer: Ipv4Repr, innerIp: Ipv4Repr, inner: string, verbose = false): string {
  if (verbose) return `IP ${formatIpv4Header(outer)}\n    ${formatIpv4Addrs(outer)}: IP ${formatIpv4Header(innerIp)}\n    ${formatIpv4Addrs(innerIp)}: ${inner}`;
  return `IP ${formatIpv4Addrs(outer)}: IP ${formatIpv4Addrs(innerIp)}: ${inner}`;
}

/** Parse-free view of the inner header for printers: fill `out` from the inner packet (after ipipCheckLen). */
export function readIpipInner(b: Uint8Array, off: number, out: Ipv4Repr): number {
  const inner = ipipInnerOffset(b, off);
  readIpv4Fields(b, inner, out);
  return inner;
}
