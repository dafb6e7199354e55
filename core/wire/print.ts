// A tcpdump-style one-line description of a whole frame, as `tcpdump -n -S -t` prints it
// (or `-n -e -S -t` with `link`), e.g.
//   IP 10.99.0.1 > 10.99.0.2: ICMP echo request, id 1, seq 1, length 64
//   IP 10.99.0.1.40000 > 10.99.0.2.7777: UDP, length 14
//   ARP, Request who-has 10.99.0.2 tell 10.99.0.1, length 28
// Works on bytes, not on a dissection, so that it describes what it can of damaged frames
// (checksums are not verified; a short header prints tcpdump's `[|proto]`). VXLAN prints the
// inner frame on a second line, as tcpdump does. Cold path: allocates strings.

import { formatIpv4 } from "../addr.js";
import { WireError } from "./error.js";
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ethReprHeaderLen, formatEthernet, newEthernetRepr, parseEthernet } from "./ethernet.js";
import { formatArp, newArpRepr, parseArp } from "./arp.js";
import { IPPROTO_ICMP, IPPROTO_IPIP, formatIpv4Addrs, ipv4ReprHeaderLen, newIpv4Repr, parseIpv4 } from "./ipv4.js";
import { formatIcmp, newIcmpRepr, parseIcmp } from "./icmp.js";
import { IPPROTO_UDP, UDP_HEADER_LEN, formatUdp, newUdpRepr, parseUdp } from "./udp.js";
import { IPPROTO_TCP, newTcpRepr, parseTcp } from "./tcp.js";
import { formatTcp } from "./tcp-options.js";
import { VXLAN_HEADER_LEN, VXLAN_PORT, formatVxlan, newVxlanRepr, parseVxlan, vxlanFlags } from "./vxlan.js";

export interface PrintOptions {
  /** Print the link-level header first, as `tcpdump -e` does. */
  link?: boolean;
}

/** Describe the frame at `off` (`len` bytes) in one tcpdump-style line. */
export function printFrame(b: Uint8Array, off = 0, len = b.length - off, opts: PrintOptions = {}): string {
  const e = newEthernetRepr();
  if (parseEthernet(b, off, len, e) !== WireError.OK) return "[|ether]";
  const link = opts.link === true;
  // tcpdump ends the link part with ": ", or with ", " after an 802.1Q tag's own text.
  const head = link ? `${formatEthernet(e, len)}${e.vlan ? ", " : ": "}` : "";
  const p = off + ethReprHeaderLen(e);
  const n = off + len - p;
  if (e.ethertype === ETHERTYPE_ARP) {
    const a = newArpRepr();
    if (parseArp(b, p, n, a) !== WireError.OK) return `${head}[|ARP]`;
    const text = formatArp(a, n);
    return head + (link ? text.replace(/^ARP, /, "") : text);
  }
  if (e.ethertype === ETHERTYPE_IPV4) return head + (link ? "" : "IP ") + printIpv4(b, p, n, link);
  if (link) return head;
  return `${formatEthernet(e, len).replace(/^.* > [0-9a-f:]+, /, "")}`;
}

/** The part after `IP ` for the IPv4 packet at `off`. */
function printIpv4(b: Uint8Array, off: number, len: number, link: boolean): string {
  const ip = newIpv4Repr();
  if (parseIpv4(b, off, len, ip, false) !== WireError.OK) return "[|ip]";
  const p = off + ipv4ReprHeaderLen(ip);
  const n = ip.payloadLen;
  const addrs = formatIpv4Addrs(ip);
  if (ip.fragOffset !== 0) return `${addrs}: ip-proto-${ip.protocol}`;
  switch (ip.protocol) {
    case IPPROTO_UDP: {
      const u = newUdpRepr();
      if (parseUdp(b, p, n, ip.src, ip.dst, u, false) !== WireError.OK) return `${addrs}: [|udp]`;
      const ports = `${formatIpv4(ip.src)}.${u.srcPort} > ${formatIpv4(ip.dst)}.${u.dstPort}: `;
      if (u.dstPort === VXLAN_PORT) {
        const v = newVxlanRepr();
        const q = p + UDP_HEADER_LEN;
        if (parseVxlan(b, q, u.payloadLen, v) === WireError.OK) {
          const inner = printFrame(b, q + VXLAN_HEADER_LEN, u.payloadLen - VXLAN_HEADER_LEN, { link });
          return ports + formatVxlan(v, inner, vxlanFlags(b, q));
        }
      }
      return ports + formatUdp(u);
    }
    case IPPROTO_TCP: {
      const t = newTcpRepr();
      if (parseTcp(b, p, n, ip.src, ip.dst, t, false) !== WireError.OK) return `${addrs}: [|tcp]`;
      return `${formatIpv4(ip.src)}.${t.srcPort} > ${formatIpv4(ip.dst)}.${t.dstPort}: ${formatTcp(t)}`;
    }
    case IPPROTO_ICMP: {
      const c = newIcmpRepr();
      if (parseIcmp(b, p, n, c, false) !== WireError.OK) return `${addrs}: [|icmp]`;
      return `${addrs}: ${formatIcmp(c, b, p)}`;
    }
    case IPPROTO_IPIP:
      return `${addrs}: ${link ? "" : "IP "}${printIpv4(b, p, n, link)}`;
    default:
      return `${addrs}:  ip-proto-${ip.protocol} ${n}`;
  }
}
