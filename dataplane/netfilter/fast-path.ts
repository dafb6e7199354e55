// The established-flow path of a namespace with netfilter. Netns.process hands it the whole
// batch; one loop, with the arena's and the namespace's arrays loaded once per batch, carries
// the frames that are most of any benchmark's traffic, an IPv4 UDP datagram or TCP segment
// (20-byte header, no fragment, to this interface's MAC) whose connection is established, through
// ip_rcv, PREROUTING (conntrack's lookup, the UDP tracker or TCP's state machine, NAT of the
// destination), ip_rcv_finish, ip_forward (the TTL), FORWARD (NsNetfilter.forwardRules when it
// has rules), POSTROUTING (NAT of the source) and the neighbour to the Ethernet header and the
// transmit. A frame this namespace's bridge handed up after its own PREROUTING (br_netfilter, a
// container's egress and the replies to published ports) starts at ip_rcv_finish with the
// bridge's reference. Every other frame goes to Netns.receiveFrame, the reference path, in its
// turn.
//
// It is the same computation as the reference path (netns.ts receiveFrame -> ip-input.ts ipInput
// -> hooks.ts ipRcv -> prerouting -> conntrack-track.ts trackPacket -> ipRcvFinish ->
// ipForwardPacket -> NsNetfilter.forward -> postrouting -> ip-output.ts outputVia), in the same
// order, with the same counters and the same bytes; it only avoids what the layered path repeats
// per packet: the header parsed again by every layer, a call per layer with its arguments, the
// same arrays loaded again in each. Every branch the reference path takes for anything else
// leaves here for the reference path's next step, so nothing is done twice:
//
//   before anything is changed   (not such a packet, raw or mangle rules at PREROUTING, a traced
//                                 frame, an interface down, the path switched off): receiveFrame;
//   after the bridge's PREROUTING (a bridged frame whose connection is not established):
//                                 ipRcvFinished;
//   after conntrack              (anything but ESTABLISHED: a NEW packet, a new entry, INVALID,
//                                 a SYN reopening a closed connection, a full table): the rest
//                                 of PREROUTING (preroutingTracked), then ipRcvFinished;
//   after PREROUTING             (a local, martian or not-forwarded destination): ipRcvFinish;
//   after routing                (no unicast route, TTL expiring, larger than the MTU):
//                                 ipForwardPacket, which answers or drops as Linux does;
//   FORWARD rules, mangle at POSTROUTING, no nat table: forwardEstablished, which runs
//                                 NsNetfilter.forwardRules, and NsNetfilter's own postrouting
//                                 and out where mangle has a chain;
//   at the neighbour             (interface down, no usable entry): outputVia, which resolves,
//                                 queues or drops.
//
// Not carried here yet: ICMP, IPv4 options, frames bridged across (not routed by) the
// namespace. Tests (fast-path.test.ts, proptests/fast-path.test.ts) run the same frames with the
// path on and off
// (NsNetfilter.fastPathDefault) and compare every frame, counter, conntrack entry, rule counter
// and the neighbour table. Cost: bench/nat.bench.ts, bench/RESULTS.md ("established-flow path").

import { checksumAdd20, checksumFold } from "../../core/checksum.js";
import { ipv4DecTtl } from "../../core/wire/ipv4.js";
import { PKT_TRACE } from "../../core/packet.js";
import { type Netns, PKT_BRNF, PKT_FORWARDED, PKT_NFCT } from "../netns/netns.js";
import { ipForwardPacket, ipRcvFinish } from "../netns/ip-input.js";
import { outputVia } from "../netns/ip-output.js";
import { RTN_UNICAST, routeLookup, routeNextHop, routeOif, routeType } from "../netns/route.js";
import {
  F_BORN as F_BORN_, F_DEADLINE as F_DEADLINE_, IPS_ASSURED, IPS_CONFIRMED, IPS_DST_NAT, IPS_SEEN_REPLY, IPS_SRC_NAT,
  IP_CT_ESTABLISHED, IP_CT_ESTABLISHED_REPLY, IP_CT_NEW, T_UDP,
  T_UDP_STREAM,
} from "./conntrack-bits.js";
import { trackTcp } from "./conntrack-track.js";
import { HOOK_FORWARD, HOOK_POSTROUTING, HOOK_PREROUTING, TABLE_MANGLE, TABLE_RAW } from "./rules.js";
import { NF_GONE, type NsNetfilter } from "./hooks.js";

// Private copies of imported constants (an imported const is reloaded and TDZ-checked on every
// use in Node 20, bridge.ts).
const BRNF = PKT_BRNF, TRACE = PKT_TRACE, NFCT = PKT_NFCT, FORWARDED = PKT_FORWARDED;
const SEEN_REPLY = IPS_SEEN_REPLY, CONFIRMED = IPS_CONFIRMED, SRC_NAT = IPS_SRC_NAT, DST_NAT = IPS_DST_NAT, UNICAST = RTN_UNICAST;
const CI_EST = IP_CT_ESTABLISHED, CI_EST_REPLY = IP_CT_ESTABLISHED_REPLY, CI_NEW = IP_CT_NEW, ASSURED = IPS_ASSURED;
const F_BORN = F_BORN_, F_DEADLINE = F_DEADLINE_, T_DGRAM = T_UDP, T_STREAM = T_UDP_STREAM;
const H_PRE = HOOK_PREROUTING, H_FWD = HOOK_FORWARD, H_POST = HOOK_POSTROUTING;
/** Bits of NsNetfilter.at: the tables with a chain at a hook. */
const B_RAW = 1 << TABLE_RAW, B_MANGLE = 1 << TABLE_MANGLE;

/** A batch of frames received by `ns`, whose netfilter is `nf` (Netns.process). */
export function nfProcess(ns: Netns, nf: NsNetfilter, slots: Int32Array, n: number): void {
  const ct = nf.ct;
  if (ct === null || !nf.fastPath || (nf.at[H_PRE]! & (B_RAW | B_MANGLE)) !== 0) {
    for (let k = 0; k < n; k++) ns.receiveFrame(slots[k]!);
    return;
  }
  // what every frame of the batch needs, loaded once (the conntrack arrays are not: a frame the
  // reference path takes may grow the table)
  const a = ns.engine.arena;
  const b = a.bytes, flags = a.flags, lens = a.len, ports = a.port;
  const up = ns.up, macHi = ns.macHi, macLo = ns.macLo, refs = nf.ref, clock = ct.clock, timeouts = ct.timeouts;
  for (let k = 0; k < n; k++) {
    const s = slots[k]!;
    const port = ports[s]!;
    const off = a.start(s);
    const len = lens[s]!;
    const fl = flags[s]!;
    const ip = off + 14;
    // read only until the entry is known: a UDP datagram or TCP segment in a frame to this
    // interface's MAC, a 20-byte IPv4 header, no fragment, not bridged or traced, its header
    // and lengths as conntrack accepts them; anything else takes the reference path
    const proto = b[ip + 9]!;
    if (
      up[port] === 0 || len < 42 || (fl & TRACE) !== 0 || b[off + 12] !== 8 || b[off + 13] !== 0 || b[ip] !== 0x45 || (proto !== 17 && proto !== 6) ||
      ((b[off]! << 8) | b[off + 1]!) !== macHi[port] || i32(b, off + 2) !== macLo[port]
    ) {
      ns.receiveFrame(s);
      continue;
    }
    const total = (b[ip + 2]! << 8) | b[ip + 3]!;
    const avail = len - 14;
    const l4 = ip + 20;
    // UDP: its length field within the datagram; TCP: a whole header, data offset within
    const l4len = total - 20;
    const hl = proto === 17 ? (b[l4 + 4]! << 8) | b[l4 + 5]! : (b[l4 + 12]! >>> 4) << 2;
    if (
      total < 28 || total > avail || ((b[ip + 6]! & 0x3f) | b[ip + 7]!) !== 0 || (proto === 17 ? hl > l4len || hl < 8 : l4len < 20 || hl < 20 || hl > l4len) ||
      checksumFold(checksumAdd20(b, ip)) !== 0xffff
    ) {
      ns.receiveFrame(s);
      continue;
    }
    let ref: number, reply: number;
    let ent = ct.ent;
    if ((fl & BRNF) !== 0) {
      // a frame the bridge handed up after its own PREROUTING (br_netfilter: conntrack and NAT of
      // the destination done there, its reference in ref[slot]); ip_rcv skips PREROUTING
      // (ip_sabotage_in). Only an established connection's goes on here.
      ref = refs[s]!;
      const ci = ref & 7;
      if (total < avail) a.setLen(s, 14 + total);
      flags[s] = fl & ~BRNF;
      if (ref < 0 || (ci !== CI_EST && ci !== CI_EST_REPLY)) {
        nf.ipRcvFinished(s, port, ip, 20, total, ref);
        continue;
      }
      reply = ci === CI_EST_REPLY ? 1 : 0;
      nf.fastPackets++;
    } else {
      // ip_rcv: the padding goes; PREROUTING: conntrack (trackPacket: the entry found or made,
      // the protocol's tracker), then NAT of the destination; a packet that is not ESTABLISHED
      // (NEW, INVALID, a full table) goes on through the reference path from PREROUTING's rest
      if (total < avail) a.setLen(s, 14 + total);
      flags[s] = fl & ~NFCT;
      // ConntrackTable.lookupOrCreate, its lookup written out (the call is not inlined)
      const src = i32(b, ip + 12), dst = i32(b, ip + 16), sport = (b[l4]! << 8) | b[l4 + 1]!, dport = (b[l4 + 2]! << 8) | b[l4 + 3]!;
      const node = ct.find(proto, src, dst, sport, dport);
      if (node >= 0) {
        ct.found++;
        ref = ((node >> 1) << 3) | (node & 1 ? CI_EST_REPLY : (ent[(node >> 1) * 16 + 4]! & SEEN_REPLY) !== 0 ? CI_EST : CI_NEW);
      } else {
        ref = ct.lookupOrCreate(proto, src, dst, sport, dport);
        ent = ct.ent; // a new entry may have grown the table
      }
      let r = ref;
      if (ref >= 0) {
        const e = ref >> 3;
        if (proto === 17) {
          // nf_conntrack_udp_packet (conntrack-track.ts udpPacket): still active 2 s after the
          // first packet with a reply seen, a stream (its timeout, ASSURED); a reply sets SEEN_REPLY
          const entF = ct.entF;
          const st = ent[e * 16 + 4]!;
          const now = clock.now;
          const stream = (st & SEEN_REPLY) !== 0 && now > entF[e * 8 + F_BORN]! + 2e9;
          const t = stream ? T_STREAM : T_DGRAM;
          const d = now + timeouts[t]!;
          // a later deadline is only stored (ConntrackTable.refresh); an earlier one moves the heap
          if (d >= entF[e * 8 + F_DEADLINE]!) entF[e * 8 + F_DEADLINE] = d;
          else ct.refresh(e, t);
          if (stream && (st & ASSURED) === 0) ent[e * 16 + 4] = st | ASSURED;
          if ((ref & 7) === CI_EST_REPLY) ent[e * 16 + 4] = ent[e * 16 + 4]! | SEEN_REPLY;
        } else {
          // TCP's state machine for the segment (conntrack-track.ts trackTcp): INVALID, or a SYN
          // reopening a closed connection (a new entry), answer with another reference
          r = trackTcp(ct, ref, b[l4 + 13]!, i32(b, l4 + 4), i32(b, l4 + 8), (b[l4 + 14]! << 8) | b[l4 + 15]!, l4len - hl);
        }
      }
      const ci = ref & 7;
      if (r !== ref || ref < 0 || (ci !== CI_EST && ci !== CI_EST_REPLY)) {
        if (nf.preroutingTracked(ns, nf.rBase, s, ip, port, r) !== NF_GONE) nf.ipRcvFinished(s, port, ip, 20, total, r);
        continue;
      }
      nf.fastPackets++;
      reply = ci === CI_EST_REPLY ? 1 : 0;
      const base = (ref >> 3) * 16;
      refs[s] = ref;
      flags[s] = fl | NFCT;
      // the other direction's tuple, inverted, is what a translated side becomes (nat-packet.ts)
      const other = base + (reply ^ 1) * 8;
      if (nf.nat && (ent[base + 4]! & (reply ? SRC_NAT : DST_NAT)) !== 0) l4Nat(b, ip, ip + 16, ip + 22, proto, ent[other]!, ent[other + 2]! >>> 16);
    }
    const base = (ref >> 3) * 16; // the entry's block (conntrack-bits.ts ENT_WORDS)
    const other = base + (reply ^ 1) * 8;
    // ip_rcv_finish: local, martian or not forwarded: the reference path from here
    const dst = i32(b, ip + 16);
    const src = i32(b, ip + 12);
    let rt = -1;
    if (src >>> 24 === 127 || src >>> 28 === 0xe || dst === -1 || !ns.ipForward || ns.localIfOf(dst) >= 0) ipRcvFinish(ns, s, port, ip, 20, total);
    else if ((rt = routeLookup(ns, dst)) < 0 || routeType(ns, rt) !== UNICAST || b[ip + 8]! <= 1 || total > ns.mtu[routeOif(ns, rt)]!) ipForwardPacket(ns, s, port, ip, 20, total, dst);
    else if (nf.at[H_FWD]! !== 0 || (nf.at[H_POST]! & B_MANGLE) !== 0 || (ent[base + 4]! & CONFIRMED) === 0 || !nf.nat) forwardEstablished(ns, nf, s, port, ip, proto, rt, dst, total, ref, reply, base, other);
    else {
      // ip_forward with no FORWARD rules and only NAT at POSTROUTING, written out
      const oif = routeOif(ns, rt);
      flags[s] = flags[s]! | FORWARDED;
      ipv4DecTtl(b, ip);
      if ((ent[base + 4]! & (reply ? DST_NAT : SRC_NAT)) !== 0) {
        // l4Nat of the source, written out (the call is not inlined here)
        const addr = ent[other + 1]!, nport = ent[other + 2]! & 0xffff;
        const old = (b[ip + 12]! << 24) | (b[ip + 13]! << 16) | (b[ip + 14]! << 8) | b[ip + 15]!;
        const co = proto === 17 ? ip + 26 : ip + 36;
        const cs = (b[co]! << 8) | b[co + 1]!;
        if (cs !== 0 || proto !== 17) {
          let sum = (~cs & 0xffff) + (~(old >>> 16) & 0xffff) + (~old & 0xffff) + (addr >>> 16) + (addr & 0xffff) + (~((b[ip + 20]! << 8) | b[ip + 21]!) & 0xffff) + nport;
          sum = (sum & 0xffff) + (sum >>> 16);
          sum = (sum & 0xffff) + (sum >>> 16);
          const nc = ~sum & 0xffff || (proto === 17 ? 0xffff : 0);
          b[co] = nc >>> 8;
          b[co + 1] = nc;
        }
        b[ip + 20] = nport >>> 8;
        b[ip + 21] = nport;
        let h = (~((b[ip + 10]! << 8) | b[ip + 11]!) & 0xffff) + (~(old >>> 16) & 0xffff) + (~old & 0xffff) + (addr >>> 16) + (addr & 0xffff);
        h = (h & 0xffff) + (h >>> 16);
        h = ~((h & 0xffff) + (h >>> 16));
        b[ip + 10] = h >>> 8;
        b[ip + 11] = h;
        b[ip + 12] = addr >>> 24;
        b[ip + 13] = addr >>> 16;
        b[ip + 14] = addr >>> 8;
        b[ip + 15] = addr;
      }
      // outputVia's common case: interface up, neighbour usable
      const nt = ns.neigh;
      const i = up[oif] === 0 ? -1 : nt.usableEntry(oif, routeNextHop(ns, rt, dst));
      if (i < 0) outputVia(ns, s, rt, dst);
      else {
        // sendEthNeigh without its trace test (a traced frame never comes here)
        const dhi = nt.macHi[i]!, dlo = nt.macLo[i]!, shi = macHi[oif]!, slo = macLo[oif]!;
        b[off] = dhi >>> 8;
        b[off + 1] = dhi;
        b[off + 2] = dlo >>> 24;
        b[off + 3] = dlo >>> 16;
        b[off + 4] = dlo >>> 8;
        b[off + 5] = dlo;
        b[off + 6] = shi >>> 8;
        b[off + 7] = shi;
        b[off + 8] = slo >>> 24;
        b[off + 9] = slo >>> 16;
        b[off + 10] = slo >>> 8;
        b[off + 11] = slo;
        ns.engine.transmit(ns, oif, s);
      }
    }
    // as ipRcv: an entry its packet did not get confirmed goes (an established one is confirmed)
    if ((ct.ent[base + 4]! & CONFIRMED) === 0) ct.discard(ref);
  }
}

/** ip_forward on from the TTL: FORWARD's rules, POSTROUTING's NAT of the source, the neighbour,
 *  out; the reference path for POSTROUTING when mangle has a chain there, and for a neighbour
 *  that is not ready (resolution, probes and their queue are its business). */
function forwardEstablished(ns: Netns, nf: NsNetfilter, s: number, port: number, ip: number, proto: number, rt: number, dst: number, total: number, ref: number, reply: number, base: number, other: number): void {
  const a = ns.engine.arena;
  const b = a.bytes;
  const oif = routeOif(ns, rt);
  a.flags[s] = a.flags[s]! | FORWARDED;
  ipv4DecTtl(b, ip);
  if (nf.at[H_FWD]! !== 0 && !nf.forwardRules(s, port, ip, ref, oif)) return;
  const ent = nf.ct!.ent;
  if ((nf.at[H_POST]! & B_MANGLE) !== 0 || (ent[base + 4]! & CONFIRMED) === 0) {
    if (nf.postrouting(ns, nf.rBase, s, ip, ref, oif, rt)) nf.out(s, rt, dst, total, ns.mtu[oif]!);
    return;
  }
  if (nf.nat && (ent[base + 4]! & (reply ? DST_NAT : SRC_NAT)) !== 0) l4Nat(b, ip, ip + 12, ip + 20, proto, ent[other + 1]!, ent[other + 2]! & 0xffff);
  // outputVia's common case: interface up, neighbour usable
  const i = ns.up[oif] === 0 ? -1 : ns.neigh.usableEntry(oif, routeNextHop(ns, rt, dst));
  if (i < 0) return outputVia(ns, s, rt, dst);
  ns.sendEthNeigh(s, oif, i);
}

/**
 * nat-packet.ts manip3 for a whole UDP datagram or TCP segment (`proto` 17 or 6) behind a 20-byte
 * header, written out: the address at `ao` (source ip + 12 or destination ip + 16) becomes
 * `addr` (int32) and the port at `po` (ip + 20 or ip + 22) `port`, the L4 checksum updated for
 * both at once (UDP: 0, no checksum, stays 0, a result of 0 is sent as 0xffff), then the IPv4
 * header's checksum for the address.
 */
function l4Nat(b: Uint8Array, ip: number, ao: number, po: number, proto: number, addr: number, port: number): void {
  const old = (b[ao]! << 24) | (b[ao + 1]! << 16) | (b[ao + 2]! << 8) | b[ao + 3]!;
  const co = proto === 17 ? ip + 26 : ip + 36;
  const c = (b[co]! << 8) | b[co + 1]!;
  if (c !== 0 || proto !== 17) {
    let sum = (~c & 0xffff) + (~(old >>> 16) & 0xffff) + (~old & 0xffff) + (addr >>> 16) + (addr & 0xffff) + (~((b[po]! << 8) | b[po + 1]!) & 0xffff) + port;
    sum = (sum & 0xffff) + (sum >>> 16);
    sum = (sum & 0xffff) + (sum >>> 16);
    const n = ~sum & 0xffff || (proto === 17 ? 0xffff : 0);
    b[co] = n >>> 8;
    b[co + 1] = n;
  }
  b[po] = port >>> 8;
  b[po + 1] = port;
  let h = (~((b[ip + 10]! << 8) | b[ip + 11]!) & 0xffff) + (~(old >>> 16) & 0xffff) + (~old & 0xffff) + (addr >>> 16) + (addr & 0xffff);
  h = (h & 0xffff) + (h >>> 16);
  h = ~((h & 0xffff) + (h >>> 16));
  b[ip + 10] = h >>> 8;
  b[ip + 11] = h;
  b[ao] = addr >>> 24;
  b[ao + 1] = addr >>> 16;
  b[ao + 2] = addr >>> 8;
  b[ao + 3] = addr;
}

/** The 32-bit word at `o`, as int32 (a uint32 above 2^31 returned from a call V8 did not inline
 *  is boxed, see neigh.ts resolveEntry). */
function i32(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}
