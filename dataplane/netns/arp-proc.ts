// ARP in a namespace (net/ipv4/arp.c arp_process, arp_solicit), Ethernet/IPv4 only:
// - a request for one of our addresses (arp_ignore 0: any local address, on any interface) is
//   answered from the receiving interface's MAC, unicast, and its sender is learned (STALE);
// - proxy ARP: with proxy_arp and ip_forward on the receiving interface, a request for an
//   address routed out of a *different* interface is answered with our MAC, after proxy_delay
//   when the request was broadcast (0 in Calico's setup);
// - a reply updates/completes the entry (REACHABLE); unsolicited ARP (arp_accept 0) never
//   creates entries, but updates existing ones.
// The request frame is reused for the reply (no allocation).

import { getU16, getU32, getU48, setU16, setU32, setU48 } from "../../core/bytes.js";
import { ARP_LEN, ARP_OP_REPLY, ARP_OP_REQUEST, ARP_SPA, ARP_SHA, ARP_THA, ARP_TPA, ARP_OPER } from "../../core/wire/arp.js";
import { ETHERTYPE_ARP, ETH_HEADER_LEN } from "../../core/wire/ethernet.js";
import { MAC_BROADCAST, formatIpv4, formatMac } from "../../core/addr.js";
import { PKT_TRACE } from "../../core/packet.js";
import type { Netns } from "./netns.js";
import { RTN_UNICAST, routeLookup, routeOif, routeType } from "./route.js";

const ARP_FIXED = 0x0001_0800; // htype 1, ptype 0x0800
const ARP_LENS = 0x0604; //       hlen 6, plen 4

export function arpInput(ns: Netns, s: number, port: number, off: number, len: number): void {
  const e = ns.engine;
  const b = e.arena.bytes;
  const p = off + ETH_HEADER_LEN;
  if (len < ETH_HEADER_LEN + ARP_LEN || getU32(b, p) !== ARP_FIXED || getU16(b, p + 4) !== ARP_LENS) return e.drop(ns, ns.r["arp-invalid"], s);
  const op = getU16(b, p + ARP_OPER);
  const sha = getU48(b, p + ARP_SHA);
  const spa = getU32(b, p + ARP_SPA);
  const tpa = getU32(b, p + ARP_TPA);
  const traced = (e.arena.flags[s]! & PKT_TRACE) !== 0;
  const forUs = ns.localIfOf(tpa) >= 0;
  if (op === ARP_OP_REQUEST) {
    if (spa !== 0 && spa !== tpa) ns.neigh.learn(port, spa, sha, false, forUs); // neigh_event_ns
    else if (spa === tpa) ns.neigh.learn(port, spa, sha, false, false); // gratuitous: update only
    let proxied = false;
    if (!forUs && ns.proxyArp[port] && ns.ipForward) {
      const r = routeLookup(ns, tpa);
      proxied = r >= 0 && routeType(ns, r) === RTN_UNICAST && routeOif(ns, r) !== port;
    }
    if (!forUs && !proxied) return e.drop(ns, ns.r["arp-not-for-us"], s);
    if (traced) e.trace.note(s, ns, `ARP request for ${formatIpv4(tpa)}: ${proxied ? "proxy " : ""}reply from ${formatMac(ns.mac[port]!)}`);
    // turn the request into the reply, in place
    const wasBroadcast = getU48(b, off) === MAC_BROADCAST;
    setU48(b, off, sha);
    setU48(b, off + 6, ns.mac[port]!);
    setU16(b, p + ARP_OPER, ARP_OP_REPLY);
    setU48(b, p + ARP_THA, sha);
    setU32(b, p + ARP_TPA, spa);
    setU48(b, p + ARP_SHA, ns.mac[port]!);
    setU32(b, p + ARP_SPA, tpa);
    e.arena.setLen(s, ETH_HEADER_LEN + ARP_LEN); // a reply is 42 bytes whatever padding came in
    const delay = proxied && wasBroadcast ? ns.proxyDelay[port]! : 0;
    if (delay > 0) ns.sendLater(s, port, Math.floor(ns.engine.rng.float() * delay));
    else e.transmit(ns, port, s);
    return;
  }
  // a reply (or another opcode carrying a sender): update an existing entry, never create one
  ns.neigh.learn(port, spa, sha, op === ARP_OP_REPLY, false);
  if (traced) e.trace.note(s, ns, `ARP ${op === ARP_OP_REPLY ? "reply" : `op ${op}`}: ${formatIpv4(spa)} is-at ${formatMac(sha)}`);
  e.deliver(ns, s);
}

/** Send an ARP request for `ip` on `ifindex`: broadcast when `mac` < 0, else unicast to `mac`. */
export function sendArpRequest(ns: Netns, ifindex: number, ip: number, mac: number): void {
  const e = ns.engine;
  const s = e.alloc(ns);
  if (s < 0) return;
  const a = e.arena;
  const b = a.bytes;
  const off = a.start(s);
  a.setLen(s, ETH_HEADER_LEN + ARP_LEN);
  const src = ns.selectSource(ifindex, ip);
  setU48(b, off, mac < 0 ? MAC_BROADCAST : mac);
  setU48(b, off + 6, ns.mac[ifindex]!);
  setU16(b, off + 12, ETHERTYPE_ARP);
  const p = off + ETH_HEADER_LEN;
  setU32(b, p, ARP_FIXED);
  setU16(b, p + 4, ARP_LENS);
  setU16(b, p + ARP_OPER, ARP_OP_REQUEST);
  setU48(b, p + ARP_SHA, ns.mac[ifindex]!);
  setU32(b, p + ARP_SPA, src);
  setU48(b, p + ARP_THA, 0); // Linux sends zeros as the target hardware address
  setU32(b, p + ARP_TPA, ip);
  e.transmit(ns, ifindex, s);
}
