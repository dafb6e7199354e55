// fast-check arbitraries for every Repr and for whole valid frames. Shared by the property tests
// and by the interop corpus (which samples `validFrame` with a fixed seed).
//
// "Valid" means what a conforming stack puts on the wire: consistent lengths and checksums
// (derived by buildFrame), option lists that are well formed, reserved bits zero, and UDP/TCP
// ports chosen so that analyzers do not mistake random payloads for an application protocol.

import fc from "fast-check";
import type { Layer } from "../core/wire/frame.js";
import { IPPROTO_ICMP, IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP } from "../core/wire/ipv4.js";
import { ETHERTYPE_ARP, ETHERTYPE_IPV4 } from "../core/wire/ethernet.js";
import { emitTcpOptions, newTcpOptions } from "../core/wire/tcp-options.js";
import { buildFrame } from "../core/wire/frame.js";
import { VXLAN_PORT } from "../core/wire/vxlan.js";

const u8 = fc.nat({ max: 0xff });
const u16 = fc.nat({ max: 0xffff });
const u32 = fc.nat({ max: 0xffffffff });
/** Unicast MACs (group bit clear); Docker's 02:42 prefix half of the time. */
export const mac = fc.oneof(
  fc.nat({ max: 0xffffffff }).map((x) => 0x0242_0000_0000 + x),
  fc.nat({ max: 2 ** 48 - 1 }).map((x) => x - (Math.floor(x / 2 ** 40) & 1) * 2 ** 40),
);
/** Unicast IPv4 outside 0/8, 127/8 and 224/3 (analyzers treat those specially). */
export const ip = u32.filter((a) => a >>> 24 !== 0 && a >>> 24 !== 127 && a >>> 24 < 224);
/** Ports without a dissector that would read a random payload as something else. */
export const quietPort = fc.integer({ min: 40000, max: 40999 });
export const ephemeralPort = fc.integer({ min: 50000, max: 60999 });
export const payload = (max: number) => fc.uint8Array({ minLength: 1, maxLength: max });

export const ethLayer = (ethertype: number) =>
  fc.record({ dst: mac, src: mac, vlan: fc.boolean(), pcp: fc.nat({ max: 7 }), dei: fc.nat({ max: 1 }), vid: fc.integer({ min: 1, max: 4094 }) })
    .map((e): Layer => ({ kind: "eth", ...e, ethertype, pcp: e.vlan ? e.pcp : 0, dei: e.vlan ? e.dei : 0, vid: e.vlan ? e.vid : 0 }));

export const arpLayer = fc.record({ operation: fc.constantFrom(1, 2), senderMac: mac, senderIp: ip, targetMac: mac, targetIp: ip })
  .map((a): Layer => ({ kind: "arp", ...a, targetMac: a.operation === 1 ? 0 : a.targetMac }));

/** Well-formed IPv4 options: NOP, Router Alert, Record Route with some slots filled; EOL-padded. */
export const ipv4Options = fc.array(
  fc.oneof(
    fc.constant([1]),
    fc.constant([148, 4, 0, 0]),
    fc.tuple(fc.integer({ min: 1, max: 8 }), fc.nat({ max: 8 }), fc.array(ip, { minLength: 8, maxLength: 8 })).map(([slots, filled, addrs]) => {
      const f = Math.min(filled, slots);
      const o = [7, 3 + 4 * slots, 4 + 4 * f];
      for (let i = 0; i < slots; i++) {
        const a = i < f ? addrs[i]! : 0;
        o.push(a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255);
      }
      return o;
    }),
  ),
  { maxLength: 3 },
).map((opts) => {
  const bytes = opts.flat();
  if (bytes.length > 40) return new Uint8Array(0);
  const n = (bytes.length + 3) & ~3;
  const out = new Uint8Array(n);
  out.set(bytes); // remaining bytes are EOL (0)
  return out;
});

type Ipv4Layer = Extract<Layer, { kind: "ipv4" }>;

export const ipv4Layer = (protocol: number, opts: { frag?: boolean } = {}) =>
  fc.record({
    tos: fc.oneof(fc.constant(0), fc.constant(0xc0), u8), ident: u16, df: fc.boolean(), ttl: fc.integer({ min: 1, max: 255 }),
    src: ip, dst: ip, options: fc.oneof({ weight: 3, arbitrary: fc.constant(new Uint8Array(0)) }, { weight: 1, arbitrary: ipv4Options }),
    mf: opts.frag ? fc.boolean() : fc.constant(false), fragOffset: opts.frag ? fc.integer({ min: 1, max: 8000 }).map((x) => x * 8) : fc.constant(0),
  }).map((r): Ipv4Layer => {
    const options = new Uint8Array(40);
    options.set(r.options);
    const isFrag = r.mf || r.fragOffset !== 0;
    return { kind: "ipv4", tos: r.tos, ident: r.ident, df: isFrag ? false : r.df, mf: r.mf, fragOffset: r.fragOffset, ttl: r.ttl, protocol, src: r.src, dst: r.dst, options, optionsLen: r.options.length, payloadLen: 0 };
  });

export const udpLayer = (dstPort: fc.Arbitrary<number> = quietPort) =>
  fc.record({ srcPort: ephemeralPort, dstPort, noChecksum: fc.nat({ max: 4 }).map((x) => x === 0) })
    .map((u): Layer => ({ kind: "udp", srcPort: u.srcPort, dstPort: u.dstPort, payloadLen: 0, noChecksum: u.noChecksum }));

/** TCP options as Linux lays them out (emitTcpOptions), from random option values. */
export const tcpOptionBytes = fc.record({
  mss: fc.oneof(fc.constant(-1), fc.integer({ min: 536, max: 65495 })), wscale: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 14 })),
  sackPermitted: fc.boolean(), timestamps: fc.boolean(), tsVal: u32, tsEcr: u32, sack: fc.array(fc.tuple(u32, u32), { maxLength: 3 }),
}).map((o) => {
  const t = newTcpOptions();
  t.mss = o.mss; t.wscale = o.wscale; t.sackPermitted = o.sackPermitted; t.timestamps = o.timestamps; t.tsVal = o.tsVal; t.tsEcr = o.tsEcr;
  const nSack = Math.min(o.sack.length, o.timestamps ? 3 : 4, o.mss >= 0 || o.wscale >= 0 || o.sackPermitted ? 1 : 4);
  t.sackCount = nSack;
  for (let i = 0; i < nSack; i++) { t.sack[2 * i] = o.sack[i]![0]; t.sack[2 * i + 1] = o.sack[i]![1]; }
  const buf = new Uint8Array(40);
  const n = emitTcpOptions(t, buf, 0);
  return buf.slice(0, n);
});

/** Flag combinations stacks send: SYN, SYN-ACK, ACK, PSH-ACK, FIN-ACK, RST, RST-ACK, with ECN bits on some. */
const tcpFlags = fc.tuple(fc.constantFrom(0x02, 0x12, 0x10, 0x18, 0x11, 0x19, 0x04, 0x14, 0x30), fc.constantFrom(0, 0, 0, 0x40, 0x80, 0xc0))
  .map(([f, ecn]) => (f & 0x02 ? f | (ecn & (f & 0x10 ? 0x40 : 0xc0)) : f & 0x04 ? f : f | (ecn & 0x80)));

export const tcpLayer = (dstPort: fc.Arbitrary<number> = quietPort) =>
  fc.record({
    srcPort: ephemeralPort, dstPort, seq: u32, ack: u32, flags: tcpFlags, window: u16, synOptions: tcpOptionBytes,
    ts: fc.option(fc.tuple(u32, u32), { nil: undefined }),
  }).map((t): Layer => {
    const options = new Uint8Array(40);
    let optionsLen = 0;
    if (t.flags & 0x02) {
      options.set(t.synOptions);
      optionsLen = t.synOptions.length;
    } else if (t.ts && !(t.flags & 0x04)) {
      // established segments: nop,nop,TS (Linux)
      const [v, e] = t.ts;
      options.set([1, 1, 8, 10, v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255, e >>> 24, (e >>> 16) & 255, (e >>> 8) & 255, e & 255]);
      optionsLen = 12;
    }
    const hasAck = (t.flags & 0x10) !== 0;
    return { kind: "tcp", srcPort: t.srcPort, dstPort: t.dstPort, seq: t.seq, ack: hasAck ? t.ack : 0, flags: t.flags, window: t.flags & 0x04 ? 0 : t.window, urgent: 0, options, optionsLen, payloadLen: 0 };
  });

export const icmpEcho = fc.record({ type: fc.constantFrom(0, 8), ident: u16, seq: u16 })
  .map((c): Layer => ({ kind: "icmp", type: c.type, code: 0, ident: c.ident, seq: c.seq, mtu: 0, rest: 0, payloadLen: 0 }));

export const icmpError = fc.oneof(
  fc.record({ type: fc.constant(3), code: fc.constantFrom(0, 1, 2, 3, 9, 10, 13), mtu: fc.constant(0) }),
  fc.record({ type: fc.constant(3), code: fc.constant(4), mtu: fc.integer({ min: 68, max: 9000 }) }),
  fc.record({ type: fc.constant(11), code: fc.constantFrom(0, 1), mtu: fc.constant(0) }),
).map((c): Layer => ({ kind: "icmp", type: c.type, code: c.code, ident: 0, seq: 0, mtu: c.mtu, rest: 0, payloadLen: 0 }));

const raw = (max: number) => payload(max).map((bytes): Layer => ({ kind: "raw", bytes }));
/** A UDP payload whose first byte does not start with version bits 10: tshark's RTCP heuristic
 *  (on by default) would take such random bytes for RTCP and report them malformed. */
const quietUdpPayload = payload(200).map((bytes): Layer => {
  bytes[0] = bytes[0]! & 0x3f;
  return { kind: "raw", bytes };
});

/** An IPv4 datagram (layers from the IPv4 header in), of the kinds hosts send. */
export const datagram: fc.Arbitrary<Layer[]> = fc.oneof(
  fc.tuple(ipv4Layer(IPPROTO_UDP), udpLayer(), quietUdpPayload).map((l) => [...l]),
  fc.tuple(ipv4Layer(IPPROTO_TCP), tcpLayer(), fc.option(raw(200), { nil: undefined })).map(([a, b, c]) => (c && b.kind === "tcp" && !(b.flags & 0x06) ? [a, b, c] : [a, b])),
  fc.tuple(ipv4Layer(IPPROTO_ICMP), icmpEcho, raw(120)).map((l) => [...l]),
);

const innerFrame: fc.Arbitrary<Layer[]> = fc.oneof(
  fc.tuple(ethLayer(ETHERTYPE_ARP), arpLayer).map((l) => [...l]),
  fc.tuple(ethLayer(ETHERTYPE_IPV4), datagram).map(([e, d]) => [e, ...d]),
);

/** Every kind of frame the corpus covers, each with its Ethernet header. */
export const frameKinds = {
  arp: fc.tuple(ethLayer(ETHERTYPE_ARP), arpLayer).map((l) => [...l]),
  ipv4: fc.tuple(ethLayer(ETHERTYPE_IPV4), datagram).map(([e, d]) => [e, ...d]),
  vxlan: fc.tuple(ethLayer(ETHERTYPE_IPV4), ipv4Layer(IPPROTO_UDP), udpLayer(fc.constant(VXLAN_PORT)), fc.integer({ min: 0, max: 0xffffff }), innerFrame)
    .map(([e, i, u, vni, inner]): Layer[] => [e, { ...i, df: false }, u, { kind: "vxlan", vni }, ...inner]),
  icmpError: fc.tuple(ethLayer(ETHERTYPE_IPV4), ipv4Layer(IPPROTO_ICMP), icmpError, datagram).map(([e, i, c, d]): Layer[] => {
    const quoted = frameBytes(d);
    if (quoted.length <= 548) return [e, { ...i, tos: 0xc0 }, c, ...d];
    return [e, { ...i, tos: 0xc0 }, c, { kind: "raw", bytes: quoted.slice(0, 548) }]; // truncated as Linux does
  }),
  ipip: fc.tuple(ethLayer(ETHERTYPE_IPV4), ipv4Layer(IPPROTO_IPIP), datagram).map(([e, i, d]) => [e, i, ...d]),
  fragment: fc.tuple(ethLayer(ETHERTYPE_IPV4), fc.constantFrom(IPPROTO_UDP, IPPROTO_TCP, IPPROTO_ICMP).chain((p) => ipv4Layer(p, { frag: true })), fc.uint8Array({ minLength: 8, maxLength: 200 }))
    .map(([e, i, p]): Layer[] => [e, i, { kind: "raw", bytes: i.kind === "ipv4" && i.mf ? p.slice(0, p.length & ~7) : p }]),
};

function frameBytes(layers: Layer[]): Uint8Array {
  return buildFrame(layers.map((l) => ({ ...l })));
}

/** A valid frame of any kind. */
export const validFrame: fc.Arbitrary<Layer[]> = fc.oneof(
  frameKinds.arp, frameKinds.ipv4, frameKinds.ipv4, frameKinds.vxlan, frameKinds.icmpError, frameKinds.ipip, frameKinds.fragment,
);
