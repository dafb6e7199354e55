// Constructors for frame layers with the defaults a Linux host uses (TTL 64, DF on sockets'
// packets, VXLAN port 4789, ...), so that a frame reads like the packet it describes:
//
//   buildFrame([eth({ src, dst }), ipv4({ src: a, dst: b, protocol: IPPROTO_ICMP }),
//               icmpEcho(8, 1, 1), raw(56)])
//
// Cold path (traffic setup, examples, tests).

import type { Layer } from "./frame.js";
import { ETHERTYPE_ARP, ETHERTYPE_IPV4 } from "./ethernet.js";
import { ARP_OP_REQUEST } from "./arp.js";
import { VXLAN_PORT } from "./vxlan.js";
import { emitTcpOptions, newTcpOptions, type TcpOptions } from "./tcp-options.js";

export type EthLayer = Extract<Layer, { kind: "eth" }>;
export type ArpLayer = Extract<Layer, { kind: "arp" }>;
export type Ipv4Layer = Extract<Layer, { kind: "ipv4" }>;
export type IcmpLayer = Extract<Layer, { kind: "icmp" }>;
export type UdpLayer = Extract<Layer, { kind: "udp" }>;
export type TcpLayer = Extract<Layer, { kind: "tcp" }>;
export type VxlanLayer = Extract<Layer, { kind: "vxlan" }>;
export type RawLayer = Extract<Layer, { kind: "raw" }>;

type Fields<T> = Partial<Omit<T, "kind">>;

export function eth(f: Fields<EthLayer> & { src: number; dst: number }): EthLayer {
  return { kind: "eth", ethertype: ETHERTYPE_IPV4, vlan: false, pcp: 0, dei: 0, vid: 0, ...f };
}

export function arp(f: Fields<ArpLayer> & { senderMac: number; senderIp: number; targetIp: number }): ArpLayer {
  return { kind: "arp", operation: ARP_OP_REQUEST, targetMac: 0, ...f };
}

/** An Ethernet header for an ARP payload. */
export function ethArp(src: number, dst: number): EthLayer {
  return eth({ src, dst, ethertype: ETHERTYPE_ARP });
}

export function ipv4(f: Fields<Ipv4Layer> & { src: number; dst: number; protocol: number }): Ipv4Layer {
  const options = new Uint8Array(40);
  if (f.options) options.set(f.options.subarray(0, f.optionsLen ?? f.options.length));
  return { kind: "ipv4", tos: 0, ident: 0, df: true, mf: false, fragOffset: 0, ttl: 64, payloadLen: 0, ...f, options, optionsLen: f.optionsLen ?? 0 };
}

export function icmpEcho(type: 0 | 8, ident: number, seq: number): IcmpLayer {
  return { kind: "icmp", type, code: 0, ident, seq, mtu: 0, rest: 0, payloadLen: 0 };
}

/** An ICMP error (destination unreachable 3, time exceeded 11); `mtu` for fragmentation needed. */
export function icmpError(type: number, code: number, mtu = 0): IcmpLayer {
  return { kind: "icmp", type, code, ident: 0, seq: 0, mtu, rest: 0, payloadLen: 0 };
}

export function udp(srcPort: number, dstPort: number): UdpLayer {
  return { kind: "udp", srcPort, dstPort, payloadLen: 0, noChecksum: false };
}

export function tcp(f: Fields<TcpLayer> & { srcPort: number; dstPort: number }, opts?: Partial<TcpOptions>): TcpLayer {
  const options = new Uint8Array(40);
  let optionsLen = 0;
  if (opts) {
    const o = { ...newTcpOptions(), ...opts };
    optionsLen = emitTcpOptions(o, options, 0);
  }
  return { kind: "tcp", seq: 0, ack: 0, flags: 0, window: 64240, urgent: 0, payloadLen: 0, ...f, options, optionsLen };
}

export function vxlan(vni: number): VxlanLayer {
  return { kind: "vxlan", vni };
}

/** Payload bytes: given, or `n` bytes counting up as ping fills them (0x10, 0x11, ...). */
export function raw(bytes: Uint8Array | number): RawLayer {
  if (typeof bytes !== "number") return { kind: "raw", bytes };
  const b = new Uint8Array(bytes);
  for (let i = 0; i < b.length; i++) b[i] = (0x10 + i) & 0xff;
  return { kind: "raw", bytes: b };
}

/** The outer headers Linux's vxlan driver puts in front of an inner frame (BEHAVIOR.md 3.8:
 *  DF clear, TTL 64, UDP checksum computed, destination port 4789). */
export function vxlanOuter(o: { srcMac: number; dstMac: number; src: number; dst: number; srcPort: number; vni: number; ident?: number }): Layer[] {
  return [eth({ src: o.srcMac, dst: o.dstMac }), ipv4({ src: o.src, dst: o.dst, protocol: 17, df: false, ident: o.ident ?? 0 }), udp(o.srcPort, VXLAN_PORT), vxlan(o.vni)];
}

