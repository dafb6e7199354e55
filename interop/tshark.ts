// Running tshark on our captures: checksum-validated counts of malformed frames and bad
// checksums (what Wireshark users would see), and per-frame field values to compare with the
// Reprs we emitted. The expected values are written in tshark's own formats.
import { execFileSync } from "node:child_process";
import { formatIpv4, formatMac } from "../core/addr.js";
import type { Layer } from "../core/wire/frame.js";
import { ipv4ReprHeaderLen } from "../core/wire/ipv4.js";
import { newTcpOptions, parseTcpOptions } from "../core/wire/tcp-options.js";
import { tcpReprHeaderLen } from "../core/wire/tcp.js";

export const CHECKSUM_PREFS = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE"];

export function tshark(args: string[]): string {
  return execFileSync("tshark", [...CHECKSUM_PREFS, ...args], { encoding: "utf8", maxBuffer: 1 << 30, stdio: ["ignore", "pipe", "pipe"] });
}

/** Frame numbers matching a display filter. */
export function countMatching(file: string, filter: string): number[] {
  const out = tshark(["-r", file, "-Y", filter, "-T", "fields", "-e", "frame.number"]);
  return out.split("\n").filter(Boolean).map(Number);
}

export const MALFORMED = "_ws.malformed";
export const BAD_CHECKSUM = 'ip.checksum.status == "Bad" || udp.checksum.status == "Bad" || tcp.checksum.status == "Bad" || icmp.checksum.status == "Bad"';
export const CHECKED = 'ip.checksum.status == "Good" || udp.checksum.status == "Good" || tcp.checksum.status == "Good" || icmp.checksum.status == "Good"';

export const FIELDS = [
  "eth.dst", "eth.src", "eth.type", "vlan.id", "vlan.priority", "vlan.dei", "vlan.etype",
  "arp.opcode", "arp.src.hw_mac", "arp.src.proto_ipv4", "arp.dst.hw_mac", "arp.dst.proto_ipv4",
  "ip.hdr_len", "ip.dsfield", "ip.len", "ip.id", "ip.flags.df", "ip.flags.mf", "ip.frag_offset", "ip.ttl", "ip.proto", "ip.src", "ip.dst",
  "icmp.type", "icmp.code", "icmp.ident", "icmp.seq", "icmp.mtu",
  "udp.srcport", "udp.dstport", "udp.length",
  "tcp.srcport", "tcp.dstport", "tcp.seq", "tcp.ack", "tcp.flags", "tcp.window_size_value", "tcp.hdr_len",
  "tcp.options.mss_val", "tcp.options.wscale.shift", "tcp.options.timestamp.tsval", "tcp.options.timestamp.tsecr",
  "vxlan.vni",
] as const;

/** Per frame: field -> occurrences (outer layers first), as tshark prints them. */
export function tsharkFields(file: string, extra: string[] = []): Map<string, string[]>[] {
  const fields = [...FIELDS, ...extra];
  const args = ["-r", file, "-o", "tcp.relative_sequence_numbers:FALSE", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|", "-E", "separator=\t"];
  for (const f of fields) args.push("-e", f);
  return tshark(args).split("\n").filter((l) => l.length > 0).map((line) => {
    const cols = line.split("\t");
    const m = new Map<string, string[]>();
    fields.forEach((f, i) => m.set(f, cols[i] ? cols[i]!.split("|") : []));
    return m;
  });
}

const hex = (v: number, digits: number) => `0x${v.toString(16).padStart(digits, "0")}`;
const b01 = (v: boolean) => (v ? "1" : "0");

/** The fields tshark should report for a frame we built from `layers`. */
export function expectedFields(layers: Layer[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  const put = (f: string, v: string | number) => {
    if (!m.has(f)) m.set(f, []);
    m.get(f)!.push(String(v));
  };
  for (const l of layers) {
    switch (l.kind) {
      case "eth":
        put("eth.dst", formatMac(l.dst));
        put("eth.src", formatMac(l.src));
        put("eth.type", hex(l.vlan ? 0x8100 : l.ethertype, 4));
        if (l.vlan) {
          put("vlan.id", l.vid);
          put("vlan.priority", l.pcp);
          put("vlan.dei", l.dei);
          put("vlan.etype", hex(l.ethertype, 4));
        }
        break;
      case "arp":
        put("arp.opcode", l.operation);
        put("arp.src.hw_mac", formatMac(l.senderMac));
        put("arp.src.proto_ipv4", formatIpv4(l.senderIp));
        put("arp.dst.hw_mac", formatMac(l.targetMac));
        put("arp.dst.proto_ipv4", formatIpv4(l.targetIp));
        break;
      case "ipv4":
        put("ip.hdr_len", ipv4ReprHeaderLen(l));
        put("ip.dsfield", hex(l.tos, 2));
        put("ip.len", ipv4ReprHeaderLen(l) + l.payloadLen);
        put("ip.id", hex(l.ident, 4));
        put("ip.flags.df", b01(l.df));
        put("ip.flags.mf", b01(l.mf));
        put("ip.frag_offset", l.fragOffset / 8); // tshark 4.0 reports 8-byte units
        put("ip.ttl", l.ttl);
        put("ip.proto", l.protocol);
        put("ip.src", formatIpv4(l.src));
        put("ip.dst", formatIpv4(l.dst));
        break;
      case "icmp":
        put("icmp.type", l.type);
        put("icmp.code", l.code);
        if (l.type === 0 || l.type === 8) {
          put("icmp.ident", l.ident);
          put("icmp.seq", l.seq);
        }
        if (l.type === 3 && l.code === 4) put("icmp.mtu", l.mtu);
        break;
      case "udp":
        put("udp.srcport", l.srcPort);
        put("udp.dstport", l.dstPort);
        put("udp.length", 8 + l.payloadLen);
        break;
      case "tcp": {
        put("tcp.srcport", l.srcPort);
        put("tcp.dstport", l.dstPort);
        put("tcp.seq", l.seq);
        put("tcp.ack", l.ack);
        put("tcp.flags", hex(l.flags, 4));
        put("tcp.window_size_value", l.window);
        put("tcp.hdr_len", tcpReprHeaderLen(l));
        const o = newTcpOptions();
        parseTcpOptions(l.options, 0, l.optionsLen, o);
        if (o.mss >= 0) put("tcp.options.mss_val", o.mss);
        if (o.wscale >= 0) put("tcp.options.wscale.shift", o.wscale);
        if (o.timestamps) {
          put("tcp.options.timestamp.tsval", o.tsVal);
          put("tcp.options.timestamp.tsecr", o.tsEcr);
        }
        break;
      }
      case "vxlan":
        put("vxlan.vni", l.vni);
        break;
      case "raw":
        break;
    }
  }
  return m;
}
