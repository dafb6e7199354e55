// A whole frame as a list of layer Reprs, outermost first — the cold-path view used to build
// traffic, by tests and by the CLI (the forwarding path uses the in-place accessors instead).
//
//   [eth, ipv4, udp, vxlan, eth, ipv4, icmp, raw]      a VXLAN-encapsulated ping
//   [eth, ipv4, icmp, ipv4, udp, raw]                  a port unreachable quoting its datagram
//
// `buildFrame` writes the bytes inside-out (payload first, then each header in front, as the
// headroom design does), deriving every length and checksum and storing the derived payload
// lengths back into the layers. `dissectFrame` is its inverse: for every frame that
// `buildFrame` can produce, dissectFrame(buildFrame(L)) deep-equals L.
//
// Nesting followed when dissecting: Ethernet → ARP | IPv4 | raw; IPv4 (first fragment only) →
// ICMP | UDP | TCP | IPv4 (IP-in-IP) | raw; UDP to port 4789 → VXLAN → Ethernet; ICMP error →
// the quoted IPv4 datagram when it is complete, else raw; anything else → raw.

import { WireError, wireErrorName } from "./error.js";
import { type EthernetRepr, ETHERTYPE_ARP, ETHERTYPE_IPV4, emitEthernet, ethReprHeaderLen, newEthernetRepr, parseEthernet } from "./ethernet.js";
import { type ArpRepr, ARP_LEN, emitArp, newArpRepr, parseArp } from "./arp.js";
import { type Ipv4Repr, IPPROTO_ICMP, IPPROTO_IPIP, IPPROTO_TCP, emitIpv4, ipv4ReprHeaderLen, newIpv4Repr, parseIpv4 } from "./ipv4.js";
import { type IcmpRepr, ICMP_HEADER_LEN, emitIcmp, icmpIsError, newIcmpRepr, parseIcmp } from "./icmp.js";
import { type UdpRepr, IPPROTO_UDP, UDP_HEADER_LEN, emitUdp, newUdpRepr, parseUdp } from "./udp.js";
import { type TcpRepr, emitTcp, newTcpRepr, parseTcp, tcpReprHeaderLen } from "./tcp.js";
import { type VxlanRepr, VXLAN_HEADER_LEN, VXLAN_PORT, emitVxlan, newVxlanRepr, parseVxlan } from "./vxlan.js";

export type Layer =
  | ({ kind: "eth" } & EthernetRepr)
  | ({ kind: "arp" } & ArpRepr)
  | ({ kind: "ipv4" } & Ipv4Repr)
  | ({ kind: "icmp" } & IcmpRepr)
  | ({ kind: "udp" } & UdpRepr)
  | ({ kind: "tcp" } & TcpRepr)
  | ({ kind: "vxlan" } & VxlanRepr)
  | { kind: "raw"; bytes: Uint8Array };

export type Frame = Layer[];

function headerLen(l: Layer): number {
  switch (l.kind) {
    case "eth": return ethReprHeaderLen(l);
    case "arp": return ARP_LEN;
    case "ipv4": return ipv4ReprHeaderLen(l);
    case "icmp": return ICMP_HEADER_LEN;
    case "udp": return UDP_HEADER_LEN;
    case "tcp": return tcpReprHeaderLen(l);
    case "vxlan": return VXLAN_HEADER_LEN;
    case "raw": return l.bytes.length;
  }
}

/** Total length of the frame the layers describe. */
export function frameLength(layers: readonly Layer[]): number {
  let n = 0;
  for (const l of layers) n += headerLen(l);
  return n;
}

/**
 * Write the frame into `out` at `off` (or a new buffer) and return the buffer. Derived fields
 * (payload lengths) are written back into the layers.
 */
export function buildFrame(layers: Layer[], out?: Uint8Array, off = 0): Uint8Array {
  const total = frameLength(layers);
  const b = out ?? new Uint8Array(off + total);
  if (off + total > b.length) throw new RangeError(`frame of ${total} bytes does not fit at offset ${off} of a ${b.length}-byte buffer`);
  const starts: number[] = [];
  let p = off;
  for (const l of layers) {
    starts.push(p);
    p += headerLen(l);
  }
  // Inside-out: each header is written once its payload is in place.
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layers[i]!;
    const at = starts[i]!;
    const payloadLen = off + total - at - headerLen(l);
    switch (l.kind) {
      case "raw": b.set(l.bytes, at); break;
      case "eth": emitEthernet(l, b, at); break;
      case "arp": emitArp(l, b, at); break;
      case "ipv4": l.payloadLen = payloadLen; emitIpv4(l, b, at); break;
      case "icmp": l.payloadLen = payloadLen; emitIcmp(l, b, at); break;
      case "vxlan": emitVxlan(l, b, at); break;
      case "udp": {
        l.payloadLen = payloadLen;
        const ip = enclosingIpv4(layers, i);
        emitUdp(l, b, at, ip.src, ip.dst);
        break;
      }
      case "tcp": {
        l.payloadLen = payloadLen;
        const ip = enclosingIpv4(layers, i);
        emitTcp(l, b, at, ip.src, ip.dst);
        break;
      }
    }
  }
  return b;
}

function enclosingIpv4(layers: Layer[], i: number): Ipv4Repr {
  for (let j = i - 1; j >= 0; j--) {
    const l = layers[j]!;
    if (l.kind === "ipv4") return l;
  }
  throw new Error(`layer ${i} (${layers[i]!.kind}) has no enclosing IPv4 layer for its pseudo-header`);
}

export class DissectError extends Error {
  override name = "DissectError";
  constructor(readonly layer: string, readonly offset: number, readonly code: number) {
    super(`${layer} at byte ${offset}: ${wireErrorName(code)}`);
  }
}

export interface DissectResult {
  layers: Frame;
  /** OK, or the first error met (the layers parsed so far are kept; the rest is one raw layer). */
  error: number;
  errorLayer?: string;
  errorOffset?: number;
}

/**
 * Parse a frame into layers, verifying every checksum. Never throws on bad bytes: an error stops
 * the walk, keeps what was parsed and reports where. Trailing bytes after the outermost IPv4
 * packet (Ethernet padding) become a final raw layer.
 */
export function dissectFrame(b: Uint8Array, off = 0, len = b.length - off): DissectResult {
  const res: DissectResult = { layers: [], error: WireError.OK };
  dissectEth(b, off, len, res);
  return res;
}

/** dissectFrame for an IPv4 packet without a link header (what a namespace's IP layer or
 *  conntrack sees): the first layer is the IPv4 header; trailing bytes become a raw layer. */
export function dissectIpv4Packet(b: Uint8Array, off = 0, len = b.length - off): DissectResult {
  const res: DissectResult = { layers: [], error: WireError.OK };
  const used = dissectIpv4(b, off, len, res, false);
  if (used >= 0) raw(res, b, off + used, off + len);
  return res;
}

function fail(res: DissectResult, layer: string, at: number, code: number, b: Uint8Array, end: number): void {
  res.error = code;
  res.errorLayer = layer;
  res.errorOffset = at;
  raw(res, b, at, end);
}

function raw(res: DissectResult, b: Uint8Array, at: number, end: number): void {
  if (end > at) res.layers.push({ kind: "raw", bytes: b.slice(at, end) });
}

function dissectEth(b: Uint8Array, at: number, len: number, res: DissectResult): void {
  const end = at + len;
  const e = newEthernetRepr();
  const err = parseEthernet(b, at, len, e);
  if (err !== WireError.OK) return fail(res, "eth", at, err, b, end);
  res.layers.push({ kind: "eth", ...e });
  const p = at + ethReprHeaderLen(e);
  if (e.ethertype === ETHERTYPE_ARP) {
    const a = newArpRepr();
    const ae = parseArp(b, p, end - p, a);
    if (ae !== WireError.OK) return fail(res, "arp", p, ae, b, end);
    res.layers.push({ kind: "arp", ...a });
    return raw(res, b, p + ARP_LEN, end);
  }
  if (e.ethertype === ETHERTYPE_IPV4) {
    const used = dissectIpv4(b, p, end - p, res, false);
    if (used >= 0) raw(res, b, p + used, end);
    return;
  }
  raw(res, b, p, end);
}

/** Returns the bytes consumed (the IPv4 total length), or -1 after an error. */
function dissectIpv4(b: Uint8Array, at: number, len: number, res: DissectResult, quoted: boolean): number {
  const end = at + len;
  const ip = newIpv4Repr();
  const err = parseIpv4(b, at, len, ip);
  if (err !== WireError.OK) {
    fail(res, quoted ? "quoted ipv4" : "ipv4", at, err, b, end);
    return -1;
  }
  res.layers.push({ kind: "ipv4", ...ip });
  const p = at + ipv4ReprHeaderLen(ip);
  const pend = p + ip.payloadLen;
  if (ip.mf || ip.fragOffset !== 0) {
    raw(res, b, p, pend); // a fragment: its L4 header (if any) is not checked here
    return pend - at;
  }
  let e: number = WireError.OK;
  let name = "";
  switch (ip.protocol) {
    case IPPROTO_UDP: {
      const u = newUdpRepr();
      e = parseUdp(b, p, pend - p, ip.src, ip.dst, u);
      name = "udp";
      if (e !== WireError.OK) break;
      res.layers.push({ kind: "udp", ...u });
      const q = p + UDP_HEADER_LEN;
      const qend = q + u.payloadLen;
      if (u.dstPort === VXLAN_PORT && dissectVxlan(b, q, qend - q, res)) return pend - at;
      raw(res, b, q, qend);
      return pend - at;
    }
    case IPPROTO_TCP: {
      const t = newTcpRepr();
      e = parseTcp(b, p, pend - p, ip.src, ip.dst, t);
      name = "tcp";
      if (e !== WireError.OK) break;
      res.layers.push({ kind: "tcp", ...t });
      raw(res, b, p + tcpReprHeaderLen(t), pend);
      return pend - at;
    }
    case IPPROTO_ICMP: {
      const c = newIcmpRepr();
      e = parseIcmp(b, p, pend - p, c);
      name = "icmp";
      if (e !== WireError.OK) break;
      res.layers.push({ kind: "icmp", ...c });
      const q = p + ICMP_HEADER_LEN;
      if (icmpIsError(c.type) && quoteIsComplete(b, q, pend - q)) {
        if (dissectIpv4(b, q, pend - q, res, true) < 0) return -1;
      } else raw(res, b, q, pend);
      return pend - at;
    }
    case IPPROTO_IPIP: {
      if (dissectIpv4(b, p, pend - p, res, false) < 0) return -1;
      return pend - at;
    }
    default:
      raw(res, b, p, pend);
      return pend - at;
  }
  fail(res, name, p, e, b, pend);
  return -1;
}

/** A quoted datagram is dissected as layers only when all of it is present. */
function quoteIsComplete(b: Uint8Array, at: number, len: number): boolean {
  if (len < 20 || b[at]! >> 4 !== 4) return false;
  const total = (b[at + 2]! << 8) | b[at + 3]!;
  return total === len;
}

function dissectVxlan(b: Uint8Array, at: number, len: number, res: DissectResult): boolean {
  const v = newVxlanRepr();
  if (parseVxlan(b, at, len, v) !== WireError.OK) return false;
  res.layers.push({ kind: "vxlan", ...v });
  dissectEth(b, at + VXLAN_HEADER_LEN, len - VXLAN_HEADER_LEN, res);
  return true;
}

// ---- JSON form (for files, scapy, the CLI) -------------------------------------------------

/** A layer with byte arrays as hex strings (options, raw payloads); numbers stay numbers. */
export function layerToJson(l: Layer): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(l)) {
    if (v instanceof Uint8Array) o[k] = Buffer.from(k === "options" ? v.subarray(0, (l as { optionsLen: number }).optionsLen) : v).toString("hex");
    else o[k] = v;
  }
  if ("optionsLen" in o) delete o.optionsLen;
  return o;
}
