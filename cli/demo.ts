// `wireyard demo [--out DIR]`: the frames of a small Docker host, built by wireyard's codecs and
// written as a pcapng capture with one interface per capture point, then printed tcpdump-style.
//
// The exchange is scripted here frame by frame — it shows what the wire layer produces (ARP,
// ping, a published UDP port with its DNAT, a TCP handshake, ICMP errors as Linux quotes them,
// a VXLAN overlay between two hosts). The emulator that derives these frames from a topology is
// the dataplane, which comes next.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseIpv4 as ip, parseMac as mac } from "../core/addr.js";
import { buildFrame, type Layer } from "../core/wire/frame.js";
import { arp, eth, ethArp, icmpEcho, icmpError, ipv4, raw, tcp, udp, vxlanOuter } from "../core/wire/layers.js";
import { ARP_OP_REPLY } from "../core/wire/arp.js";
import { IPPROTO_ICMP, IPPROTO_UDP, IPPROTO_TCP } from "../core/wire/ipv4.js";
import { TCP_ACK, TCP_SYN } from "../core/wire/tcp.js";
import { MAC_BROADCAST } from "../core/addr.js";
import { EPB_INBOUND, EPB_OUTBOUND, FileSink, PcapngWriter } from "../core/pcap/index.js";
import { printFrame } from "../core/wire/print.js";
import { formatTimestamp } from "./decode.js";

// Addresses as Docker assigns them on docker0 (classic profile: MAC 02:42 + IPv4 bytes).
const GW = ip("172.17.0.1"), GW_MAC = mac("02:42:5e:1a:2b:3c");
const C0 = ip("172.17.0.2"), C0_MAC = mac("02:42:ac:11:00:02");
const C1 = ip("172.17.0.3"), C1_MAC = mac("02:42:ac:11:00:03");
const HOST = ip("192.168.50.2"), HOST_MAC = mac("52:54:00:12:34:02");
const CLIENT = ip("192.168.50.10"), CLIENT_MAC = mac("52:54:00:12:34:10");
const HOST2 = ip("192.168.50.3"), HOST2_MAC = mac("52:54:00:12:34:03");
const O0 = ip("10.0.9.2"), O0_MAC = mac("02:42:0a:00:09:02");
const O1 = ip("10.0.9.3"), O1_MAC = mac("02:42:0a:00:09:03");

/** A DNS query for `web.local` type A (RFC 1035), so that analyzers decode port 53 cleanly. */
const DNS_QUERY = Uint8Array.from([0x1a, 0x2b, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x77, 0x65, 0x62, 5, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0, 0, 1, 0, 1]);

interface Step {
  at: string;
  dir: "in" | "out";
  layers: Layer[];
  note?: string;
}

function steps(): Step[] {
  const echo = (src: number, dst: number, type: 0 | 8, id: number) => [ipv4({ src, dst, protocol: IPPROTO_ICMP, df: type === 8, ident: type === 8 ? 0x1c46 : 0x8a21 }), icmpEcho(type, id, 1), raw(56)];
  const synOpts = { mss: 1460, sackPermitted: true, timestamps: true, tsVal: 1000, tsEcr: 0, wscale: 7 };
  return [
    { at: "c0/eth0", dir: "out", layers: [ethArp(C0_MAC, MAC_BROADCAST), arp({ senderMac: C0_MAC, senderIp: C0, targetIp: GW })], note: "c0 resolves its gateway" },
    { at: "c0/eth0", dir: "in", layers: [ethArp(GW_MAC, C0_MAC), arp({ operation: ARP_OP_REPLY, senderMac: GW_MAC, senderIp: GW, targetMac: C0_MAC, targetIp: C0 })] },
    { at: "c0/eth0", dir: "out", layers: [ethArp(C0_MAC, MAC_BROADCAST), arp({ senderMac: C0_MAC, senderIp: C0, targetIp: C1 })], note: "c0 resolves c1" },
    { at: "c0/eth0", dir: "in", layers: [ethArp(C1_MAC, C0_MAC), arp({ operation: ARP_OP_REPLY, senderMac: C1_MAC, senderIp: C1, targetMac: C0_MAC, targetIp: C0 })] },
    { at: "c0/eth0", dir: "out", layers: [eth({ src: C0_MAC, dst: C1_MAC }), ...echo(C0, C1, 8, 7)], note: "ping c1 across docker0" },
    { at: "c0/eth0", dir: "in", layers: [eth({ src: C1_MAC, dst: C0_MAC }), ...echo(C1, C0, 0, 7)] },
    // -p 5353:53/udp: the client's query to the host, then DNATed to c0 on docker0
    { at: "host1/eth0", dir: "in", layers: [eth({ src: CLIENT_MAC, dst: HOST_MAC }), ipv4({ src: CLIENT, dst: HOST, protocol: IPPROTO_UDP, ident: 0x4d2 }), udp(41000, 5353), raw(DNS_QUERY)], note: "published port 5353/udp" },
    { at: "host1/docker0", dir: "out", layers: [eth({ src: GW_MAC, dst: C0_MAC }), ipv4({ src: CLIENT, dst: C0, protocol: IPPROTO_UDP, ident: 0x4d2, ttl: 63 }), udp(41000, 53), raw(DNS_QUERY)], note: "after DNAT" },
    // -p 8080:80/tcp handshake as seen on the host's uplink
    { at: "host1/eth0", dir: "in", layers: [eth({ src: CLIENT_MAC, dst: HOST_MAC }), ipv4({ src: CLIENT, dst: HOST, protocol: IPPROTO_TCP, ident: 0x3e1 }), tcp({ srcPort: 45678, dstPort: 8080, seq: 2_000_000_000, flags: TCP_SYN }, synOpts)] },
    { at: "host1/eth0", dir: "out", layers: [eth({ src: HOST_MAC, dst: CLIENT_MAC }), ipv4({ src: HOST, dst: CLIENT, protocol: IPPROTO_TCP, ttl: 63 }), tcp({ srcPort: 8080, dstPort: 45678, seq: 3_000_000_000, ack: 2_000_000_001, flags: TCP_SYN | TCP_ACK, window: 65160 }, { ...synOpts, tsVal: 5000, tsEcr: 1000 })] },
    // c0 sends to a closed UDP port on c1: port unreachable quoting the datagram (TOS 0xc0, DF clear)
    { at: "c0/eth0", dir: "out", layers: [eth({ src: C0_MAC, dst: C1_MAC }), ipv4({ src: C0, dst: C1, protocol: IPPROTO_UDP, ident: 0x2f00 }), udp(50000, 9), raw(4)] },
    { at: "c0/eth0", dir: "in", layers: [eth({ src: C1_MAC, dst: C0_MAC }), ipv4({ src: C1, dst: C0, protocol: IPPROTO_ICMP, tos: 0xc0, df: false, ident: 0x77aa }), icmpError(3, 3), ipv4({ src: C0, dst: C1, protocol: IPPROTO_UDP, ident: 0x2f00 }), udp(50000, 9), raw(4)] },
    // overlay: o0 on host1 pings o1 on host2 over VXLAN (VNI 4096)
    { at: "host1/eth0", dir: "out", layers: [...vxlanOuter({ srcMac: HOST_MAC, dstMac: HOST2_MAC, src: HOST, dst: HOST2, srcPort: 48390, vni: 4096, ident: 0x1111 }), eth({ src: O0_MAC, dst: O1_MAC }), ...echo(O0, O1, 8, 9)], note: "overlay ping" },
    { at: "host1/eth0", dir: "in", layers: [...vxlanOuter({ srcMac: HOST2_MAC, dstMac: HOST_MAC, src: HOST2, dst: HOST, srcPort: 48390, vni: 4096, ident: 0x2222 }), eth({ src: O1_MAC, dst: O0_MAC }), ...echo(O1, O0, 0, 9)] },
    // a routed error: TTL expired at the host, quoting the datagram with its TTL as received
    { at: "host1/eth0", dir: "in", layers: [eth({ src: CLIENT_MAC, dst: HOST_MAC }), ipv4({ src: CLIENT, dst: C0, protocol: IPPROTO_ICMP, ttl: 1, ident: 0x999 }), icmpEcho(8, 3, 1), raw(56)] },
    { at: "host1/eth0", dir: "out", layers: [eth({ src: HOST_MAC, dst: CLIENT_MAC }), ipv4({ src: HOST, dst: CLIENT, protocol: IPPROTO_ICMP, tos: 0xc0, df: false, ident: 0x4242 }), icmpError(11, 0), ipv4({ src: CLIENT, dst: C0, protocol: IPPROTO_ICMP, ttl: 1, ident: 0x999 }), icmpEcho(8, 3, 1), raw(56)] },
  ];
}

export const DEMO_INTERFACES = ["host1/eth0", "host1/docker0", "c0/eth0"];

/** Write the demo capture into `dir`; print each frame with `out`. Returns the capture path. */
export function runDemo(dir: string, out: (line: string) => void): { path: string; frames: number } {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "demo.pcapng");
  const w = new PcapngWriter(new FileSink(path));
  const ifIndex = new Map(DEMO_INTERFACES.map((name) => [name, w.addInterface({ name, description: `capture point ${name}` })]));
  const list = steps();
  list.forEach((s, i) => {
    const bytes = buildFrame(s.layers);
    const ns = (i + 1) * 250_000; // virtual time: a frame every 250 µs
    const sec = Math.floor(ns / 1e9), nsec = ns % 1e9;
    w.writePacket(ifIndex.get(s.at)!, sec, nsec, bytes, 0, bytes.length, bytes.length, s.dir === "in" ? EPB_INBOUND : EPB_OUTBOUND, s.note ?? "");
    out(`${formatTimestamp(sec, nsec)} ${s.at} ${s.dir === "in" ? "In " : "Out"} ${printFrame(bytes)}`);
  });
  w.close();
  return { path, frames: list.length };
}
