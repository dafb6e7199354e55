// Bridge: an emulated Linux bridge (what docker0 is), net/bridge/br_input.c + br_forward.c + br_fdb.c.
//
// Ports: 0 is the bridge's own interface (named after the bridge, e.g. "docker0"; wire it to the
// namespace stack's interface: frames going "up" leave here, frames the stack sends arrive here).
// 1.. are bridge ports (`addPort(name, opts)`, `removePort(port)` at run time), each wired with
// `engine.connect` to e.g. a veth peer. A removed port's index is reused by the next added port.
//
// Batch: each frame is handled on its own, in order; a frame's copies are transmitted before the
// next frame is looked at.
//
// Per frame arriving on a bridge port (br_handle_frame, br_handle_frame_finish):
//   port down -> drop `port-down`; shorter than 14 bytes -> `runt`; source multicast, broadcast or
//   zero -> `invalid-source` (is_valid_ether_addr: not learned, not forwarded);
//   01:80:c2:00:00:0X -> :00 (STP off) is bridged as multicast; :01 (pause) drop `link-local`;
//   :02-:0f the source is learned and the frame goes to the port's own stack, where nothing
//   listens here: drop `link-local` (group_fwd_mask is not supported);
//   learning: if the port learns and ageing_time != 0, the source is learned before forwarding.
//   Destination: broadcast -> every other up port with bcast_flood + up to the bridge;
//   multicast -> every other up port with mcast_flood + up (no IGMP snooping: Linux floods too
//   while no querier exists, which is the Docker case); known unicast -> that port only (`hairpin-off`
//   if it is the ingress port without hairpin, `port-down` if down); the entry is local (the
//   bridge's, a port's or a `permanent` MAC) -> up only; unknown unicast -> every other up port with
//   flood, not up (the bridge is non-promiscuous; `promisc: true` sends it up too);
//   nowhere to go -> `no-ports`. With hairpin on a port, floods go back out of it too.
// Frames from the bridge's own interface (br_dev_xmit): not learned; broadcast and multicast go to
// every up port whatever its flood flags ("except for traffic we originate"); known unicast to its
// port (to the bridge's own MAC: drop `dst-is-self`); unknown unicast to ports with flood.
// Every rule above was checked against Linux 6.18 (scripts/kernel-bridge.sh ->
// fixtures/bridge-kernel.txt, replayed by bridge.test.ts).
//
// A frame leaving k ports is copied k-1 times (`engine.alloc`, `no-buffer` counted by the engine
// when the arena is empty: that port misses the frame); the original leaves by the last one.
// Flood order: newest port first (br_add_if puts a port at the head of port_list), then up.
//
// Ports, port flags, the FDB's administration and ageing, counters and `bridge fdb show` live in
// bridge-control.ts (this class adds the forwarding path); the table itself in fdb.ts.
// Bridge netfilter (br_netfilter, net/bridge/br_netfilter_hooks.c), when the namespace that owns
// the bridge's interface (`nfNs`) has rules and bridge-nf-call-iptables on: an IPv4 frame from a
// port is checked as br_validate_ipv4 does (bad header: `nf-ip-header`; Ethernet padding cut),
// passes that namespace's PREROUTING (raw, conntrack, mangle, nat) with `-i` the bridge's
// interface, then is learned from. If DNAT changed its destination, the namespace's route to the
// new one decides (br_nf_pre_routing_finish): out of this bridge, the frame stays bridged with the
// neighbour's MAC as destination (the source MAC is kept; an unresolved neighbour holds the frame
// in the namespace's neighbour queue until resolved, then it resumes here); anywhere else, it goes
// up to the namespace with the bridge's MAC as destination, which routes it. A frame going up
// skips PREROUTING in the stack; a frame to a port passes FORWARD (`-i` and `-o` the bridge's
// interface) and POSTROUTING (nat: MASQUERADE takes the bridge interface's address), and its
// connection is confirmed. Replies are un-NATed by the same hooks. A flooded IPv4 frame passes
// FORWARD/POSTROUTING once for all its port copies (Linux once per copy: the same verdict, as
// `-i`/`-o` are the bridge for every port; rule counters count it once); the copy going up is
// made first and passes INPUT in the stack. Frames the stack sends through the bridge passed its
// own OUTPUT/POSTROUTING and are not hooked again. Not emulated: physdev matches, arptables.
// Drop reasons: runt, port-down, invalid-source, link-local, hairpin-off, no-ports, dst-is-self,
// nf-ip-header and the netfilter reasons (netfilter/hooks.ts) (plus the engine's no-carrier when a
// port is unwired, no-buffer when a copy finds no slot).
// Trace (PKT_TRACE): one line per decision (learned/moved/refreshed, forwarded to, flooded to N
// ports, up, why dropped); each flood copy gets a trace id naming its parent.
// Configuration: `new Bridge(name, { mac, ageingTime?, maxLearned?, promisc?, ipv6? })`.

import { PKT_TRACE } from "../../core/packet.js";
import { formatIpv4, formatMac } from "../../core/addr.js";
import { getU16, getU32, setU48 } from "../../core/bytes.js";
import { checksumAdd, checksumFold } from "../../core/checksum.js";
import { FDB_LOCAL, LEARN_REFRESHED, macOf } from "./fdb.js";
import { PKT_BRNF, PKT_BRNF_DNAT, PKT_NFCT } from "../netns/netns.js";
import { RTN_UNICAST, routeLookup, routeNextHop, routeOif, routeType } from "../netns/route.js";
import { NF_GONE, type NsNetfilter } from "../netfilter/hooks.js";
import { BridgeControl, PORT_BCAST_FLOOD, PORT_FLOOD, PORT_HAIRPIN, PORT_LEARNING, PORT_MCAST_FLOOD, PORT_UP } from "./bridge-control.js";

export { BridgeControl, BRIDGE_EVENTS, BRIDGE_REASONS, type BridgeOptions, type BridgePortFlags, type BridgePortOptions } from "./bridge-control.js";

// Private copies of imported constants: an imported const is reloaded and TDZ-checked on every use
// in Node 20 (core/wire/ethernet.ts measured 10.2 vs 7.6 ns per parse for this).
const LOCAL = FDB_LOCAL, REFRESHED = LEARN_REFRESHED, TRACE = PKT_TRACE;
const NFCT = PKT_NFCT, BRNF = PKT_BRNF, BRNF_DNAT = PKT_BRNF_DNAT;
const P_LEARNING = PORT_LEARNING, P_FLOOD = PORT_FLOOD, P_MCAST = PORT_MCAST_FLOOD, P_BCAST = PORT_BCAST_FLOOD, P_HAIRPIN = PORT_HAIRPIN, P_UP = PORT_UP;
// Flood kinds.
const K_UNICAST = 0, K_MULTICAST = 1, K_BROADCAST = 2;

export class Bridge extends BridgeControl {
  process(slots: Int32Array, n: number): void {
    const e = this.engine;
    const a = e.arena;
    const b = a.bytes, offs = a.off, lens = a.len, inPorts = a.port, pkt = a.flags;
    const size = a.slotSize;
    const pf = this.pflags;
    const fdb = this.fdb;
    const now = e.clock.now;
    const learning = this.ageingTime > 0;
    const nfNs = this.nfNs;
    const nf = nfNs !== null && nfNs.brNfCallIptables ? nfNs.netfilter : null;
    for (let i = 0; i < n; i++) {
      const s = slots[i]!;
      const inp = inPorts[s]!;
      if (inp === 0) {
        this.fromSelf(s);
        continue;
      }
      const f = pf[inp]!;
      if ((f & P_UP) === 0) {
        e.drop(this, this.rDown, s);
        continue;
      }
      if (lens[s]! < 14) {
        e.drop(this, this.rRunt, s);
        continue;
      }
      const o = s * size + offs[s]!;
      const dhi = (b[o]! << 8) | b[o + 1]!;
      const dlo = (b[o + 2]! << 24) | (b[o + 3]! << 16) | (b[o + 4]! << 8) | b[o + 5]!;
      const shi = (b[o + 6]! << 8) | b[o + 7]!;
      const slo = (b[o + 8]! << 24) | (b[o + 9]! << 16) | (b[o + 10]! << 8) | b[o + 11]!;
      if ((shi & 0x100) !== 0 || (shi | slo) === 0) {
        e.drop(this, this.rSource, s);
        continue;
      }
      const traced = (pkt[s]! & TRACE) !== 0;
      // 01:80:c2:00:00:0X except :00 stays off the bridge.
      if (dhi === 0x0180 && (dlo & ~15) === (0xc2000000 | 0) && (dlo & 15) !== 0) {
        this.linkLocal(s, inp, f, shi, slo, dlo & 15, now);
        continue;
      }
      if (nf !== null && b[o + 12] === 0x08 && b[o + 13] === 0x00) {
        this.nfInput(nf, s, inp, f, now);
        continue;
      }
      if ((f & P_LEARNING) !== 0 && learning) {
        const r = fdb.learn(shi, slo, inp, now);
        if (r !== REFRESHED || traced) this.learnedEvent(r, s, shi, slo, inp, now);
      }
      if ((dhi & 0x100) !== 0) {
        this.flood(s, inp, dhi === 0xffff && dlo === -1 ? K_BROADCAST : K_MULTICAST, false);
        continue;
      }
      const d = fdb.find(dhi, dlo);
      if (d < 0) {
        this.flood(s, inp, K_UNICAST, false);
        continue;
      }
      // fdb.flags/port are read after learn(), which may have grown the table.
      const out = (fdb.flags[d]! & LOCAL) !== 0 ? 0 : fdb.port[d]!;
      if (out === inp && (f & P_HAIRPIN) === 0) {
        if (traced) e.trace.note(s, this, `${formatMac(macOf(dhi, dlo))} is on the ingress port ${this.portNames[inp]} (hairpin off)`);
        e.drop(this, this.rHairpin, s);
        continue;
      }
      if ((pf[out]! & P_UP) === 0) {
        e.drop(this, this.rDown, s);
        continue;
      }
      if (traced) e.trace.note(s, this, out === 0 ? `up to ${this.name} (${formatMac(macOf(dhi, dlo))} is local)` : `forwarded to ${this.portNames[out]}`);
      e.transmit(this, out, s);
    }
  }

  /** 01:80:c2:00:00:01 is dropped at once; :02-:0f are learned from, then go to the port's own stack. */
  private linkLocal(s: number, inp: number, f: number, hi: number, lo: number, last: number, now: number): void {
    if (last !== 1 && (f & P_LEARNING) !== 0 && this.ageingTime > 0) {
      const r = this.fdb.learn(hi, lo, inp, now);
      this.learnedEvent(r, s, hi, lo, inp, now);
    }
    if (this.engine.arena.flags[s]! & TRACE) this.engine.trace.note(s, this, `link-local 01:80:c2:00:00:0${last.toString(16)} is not bridged`);
    this.engine.drop(this, this.rLinkLocal, s);
  }

  /** A frame the bridge's own interface sent (br_dev_xmit). */
  private fromSelf(s: number): void {
    const e = this.engine;
    const a = e.arena;
    if (a.len[s]! < 14) return e.drop(this, this.rRunt, s);
    const o = a.start(s);
    const b = a.bytes;
    const dhi = (b[o]! << 8) | b[o + 1]!;
    const dlo = (b[o + 2]! << 24) | (b[o + 3]! << 16) | (b[o + 4]! << 8) | b[o + 5]!;
    if ((dhi & 0x100) !== 0) return this.flood(s, 0, dhi === 0xffff && dlo === -1 ? K_BROADCAST : K_MULTICAST, true);
    const d = this.fdb.find(dhi, dlo);
    if (d < 0) return this.flood(s, 0, K_UNICAST, true);
    const out = this.fdb.portAt(d);
    if (out === 0) return e.drop(this, this.rSelf, s);
    if ((this.pflags[out]! & P_UP) === 0) return e.drop(this, this.rDown, s);
    if (a.flags[s]! & TRACE) e.trace.note(s, this, `forwarded to ${this.portNames[out]}`);
    e.transmit(this, out, s);
  }

  /** br_flood: every eligible port in order, then up to the bridge for group frames from ports
   *  (unless `noUp`: bridge netfilter sent the up copy already). */
  private flood(s: number, inp: number, kind: number, fromSelf: boolean, noUp = false): void {
    const e = this.engine;
    const pf = this.pflags;
    const order = this.order;
    const t = this.targets;
    const need = kind === K_UNICAST ? P_FLOOD : fromSelf ? 0 : kind === K_MULTICAST ? P_MCAST : P_BCAST;
    let k = 0;
    for (let j = 0; j < this.orderLen; j++) {
      const p = order[j]!;
      const f = pf[p]!;
      if ((f & P_UP) === 0 || (f & need) !== need) continue;
      if (p === inp && (f & P_HAIRPIN) === 0) continue;
      t[k++] = p;
    }
    if (!fromSelf && !noUp && (kind !== K_UNICAST || this.promisc)) t[k++] = 0;
    const traced = (e.arena.flags[s]! & TRACE) !== 0;
    if (k === 0) return e.drop(this, this.rNoPorts, s);
    if (traced) e.trace.note(s, this, `flooded (${["unknown unicast", "multicast", "broadcast"][kind]}) to ${k} port${k > 1 ? "s" : ""}: ${Array.from(t.subarray(0, k), (p) => this.portNames[p]).join(", ")}`);
    for (let j = 0; j < k - 1; j++) {
      const c = this.copy(s, traced);
      if (c >= 0) e.transmit(this, t[j]!, c);
    }
    e.transmit(this, t[k - 1]!, s);
  }

  // ---- bridge netfilter ------------------------------------------------------------------------

  /** An IPv4 frame from port `inp` (flags `f`) with bridge netfilter: br_validate_ipv4,
   *  PREROUTING, learning, and the DNAT decision of br_nf_pre_routing_finish. */
  private nfInput(nf: NsNetfilter, s: number, inp: number, f: number, now: number): void {
    const e = this.engine;
    const a = e.arena;
    const b = a.bytes;
    const o = a.start(s);
    const ip = o + 14;
    const avail = a.len[s]! - 14;
    if (avail < 20 || b[ip]! >> 4 !== 4) return e.drop(this, this.rNfHeader, s);
    const ihl = (b[ip]! & 15) << 2;
    const total = getU16(b, ip + 2);
    if (ihl < 20 || total < ihl || total > avail || checksumFold(checksumAdd(0, b, ip, ihl)) !== 0xffff) return e.drop(this, this.rNfHeader, s);
    if (total < avail) a.setLen(s, 14 + total); // pskb_trim_rcsum: the padding goes
    const dst0 = getU32(b, ip + 16) | 0;
    const ref = nf.prerouting(this, this.rNf, s, ip, this.nfIf);
    if (ref === NF_GONE) return;
    if ((f & P_LEARNING) !== 0 && this.ageingTime > 0) {
      const shi = (b[o + 6]! << 8) | b[o + 7]!;
      const slo = (b[o + 8]! << 24) | (b[o + 9]! << 16) | (b[o + 10]! << 8) | b[o + 11]!;
      const r = this.fdb.learn(shi, slo, inp, now);
      if (r !== REFRESHED || (a.flags[s]! & TRACE) !== 0) this.learnedEvent(r, s, shi, slo, inp, now);
    }
    const d = getU32(b, ip + 16);
    if ((d | 0) !== dst0) {
      // DNAT (or the un-NAT of a reply) changed the destination: the namespace's route decides
      const ns = this.nfNs!;
      const rt = ns.localIfOf(d) >= 0 ? -1 : routeLookup(ns, d);
      if (rt >= 0 && routeType(ns, rt) === RTN_UNICAST && routeOif(ns, rt) === this.nfIf) {
        // bridged DNAT: to the neighbour's MAC, still bridged (no TTL decrement, source MAC kept)
        nf.ref[s] = ref;
        a.flags[s] = a.flags[s]! | BRNF_DNAT | NFCT;
        const i = ns.neigh.resolveEntry(this.nfIf, routeNextHop(ns, rt, d) | 0, s);
        if (i < 0) return; // held until the neighbour answers (resumeBridgedDnat), or dropped
        a.flags[s] = a.flags[s]! & ~BRNF_DNAT;
        const hi = ns.neigh.macHi[i]!, lo = ns.neigh.macLo[i]!;
        b[o] = hi >>> 8;
        b[o + 1] = hi;
        b[o + 2] = lo >>> 24;
        b[o + 3] = lo >>> 16;
        b[o + 4] = lo >>> 8;
        b[o + 5] = lo;
        if (a.flags[s]! & TRACE) e.trace.note(s, this, `bridged DNAT to ${formatIpv4(d)} at ${formatMac(ns.neigh.mac[i]!)}`);
      } else if (rt < 0 && ns.localIfOf(d) < 0) {
        return this.nfDrop(nf, this.rNf + 2, s, ref); // nf-nat: no route to the new destination
      } else {
        // routed or local: up to the stack, addressed to this bridge
        setU48(b, o, this.mac);
        if (a.flags[s]! & TRACE) e.trace.note(s, this, `DNAT to ${formatIpv4(d)}: up to ${this.name}`);
        return this.nfUp(nf, s, ref);
      }
    }
    this.nfForward(nf, s, inp, ref);
  }

  /** A bridged DNAT frame whose neighbour was resolved by the namespace (its stack calls this):
   *  on with the neighbour's MAC from where it stopped. */
  resumeBridgedDnat(slot: number, mac: number): void {
    const a = this.engine.arena;
    a.flags[slot] = a.flags[slot]! & ~BRNF_DNAT;
    const nf = this.nfNs !== null ? this.nfNs.netfilter : null;
    if (nf === null) return this.engine.drop(this, this.rNf, slot);
    setU48(a.bytes, a.start(slot), mac);
    this.nfForward(nf, slot, a.port[slot]!, nf.ref[slot]!);
  }

  /** br_handle_frame_finish for a frame past PREROUTING: the FDB decides; a frame to a port
   *  passes FORWARD and POSTROUTING. */
  private nfForward(nf: NsNetfilter, s: number, inp: number, ref: number): void {
    const e = this.engine;
    const a = e.arena;
    const b = a.bytes;
    const o = a.start(s);
    const dhi = (b[o]! << 8) | b[o + 1]!;
    const dlo = (b[o + 2]! << 24) | (b[o + 3]! << 16) | (b[o + 4]! << 8) | b[o + 5]!;
    if ((dhi & 0x100) !== 0) return this.nfFlood(nf, s, inp, dhi === 0xffff && dlo === -1 ? K_BROADCAST : K_MULTICAST, ref);
    const d = this.fdb.find(dhi, dlo);
    if (d < 0) return this.nfFlood(nf, s, inp, K_UNICAST, ref);
    const out = (this.fdb.flags[d]! & LOCAL) !== 0 ? 0 : this.fdb.port[d]!;
    if (out === 0) return this.nfUp(nf, s, ref);
    if (out === inp && (this.pflags[out]! & P_HAIRPIN) === 0) {
      if (a.flags[s]! & TRACE) e.trace.note(s, this, `${formatMac(macOf(dhi, dlo))} is on the ingress port ${this.portNames[inp]} (hairpin off)`);
      return this.nfDrop(nf, this.rHairpin, s, ref);
    }
    if ((this.pflags[out]! & P_UP) === 0) return this.nfDrop(nf, this.rDown, s, ref);
    const ip = o + 14;
    if (!nf.bridgeForward(this, this.rNf, s, ip, ref, this.nfIf)) return;
    if (!nf.postrouting(this, this.rNf, s, ip, ref, this.nfIf, -1)) return;
    if (a.flags[s]! & TRACE) e.trace.note(s, this, `forwarded to ${this.portNames[out]}`);
    e.transmit(this, out, s);
  }

  /** A flood with bridge netfilter: the copy going up first (INPUT in the stack), then FORWARD
   *  and POSTROUTING once for the copies to ports. */
  private nfFlood(nf: NsNetfilter, s: number, inp: number, kind: number, ref: number): void {
    const e = this.engine;
    const a = e.arena;
    const traced = (a.flags[s]! & TRACE) !== 0;
    let ports = 0;
    const need = kind === K_UNICAST ? P_FLOOD : kind === K_MULTICAST ? P_MCAST : P_BCAST;
    for (let j = 0; j < this.orderLen; j++) {
      const p = this.order[j]!;
      const f = this.pflags[p]!;
      if ((f & P_UP) !== 0 && (f & need) === need && (p !== inp || (f & P_HAIRPIN) !== 0)) ports++;
    }
    const up = kind !== K_UNICAST || this.promisc;
    if (ports === 0) {
      if (up) return this.nfUp(nf, s, ref);
      return this.nfDrop(nf, this.rNoPorts, s, ref);
    }
    if (up) {
      const c = this.copy(s, traced);
      if (c >= 0) this.nfUp(nf, c, ref);
    }
    const ip = a.start(s) + 14;
    // the up copy shares the entry: a drop here must not free it
    nf.keepEntry = up;
    const ok = nf.bridgeForward(this, this.rNf, s, ip, ref, this.nfIf) && nf.postrouting(this, this.rNf, s, ip, ref, this.nfIf, -1);
    nf.keepEntry = false;
    if (ok) this.flood(s, inp, kind, false, true);
  }

  /** Up to the namespace, past PREROUTING: its stack takes the reference and skips the hook. */
  private nfUp(nf: NsNetfilter, s: number, ref: number): void {
    const e = this.engine;
    const a = e.arena;
    nf.ref[s] = ref;
    a.flags[s] = a.flags[s]! | BRNF | NFCT;
    const host = e.devices[this.peerDev[0]!];
    // the engine drops what finds the stack's queue full (or no stack): its entry goes with it
    if (host === undefined || host.ringCount === host.ring.length) nf.release(s);
    if (a.flags[s]! & TRACE) e.trace.note(s, this, `up to ${this.name} (past PREROUTING)`);
    e.transmit(this, 0, s);
  }

  private nfDrop(nf: NsNetfilter, reason: number, s: number, ref: number): void {
    nf.discard(ref);
    const a = this.engine.arena;
    a.flags[s] = a.flags[s]! & ~NFCT;
    this.engine.drop(this, reason, s);
  }

  /** A copy of `s` in a new slot (same offset, length, hash, flags); -1 when the arena is empty. */
  private copy(s: number, traced: boolean): number {
    const e = this.engine;
    const a = e.arena;
    const c = e.alloc(this);
    if (c < 0) return -1;
    const from = a.start(s);
    const len = a.len[s]!;
    a.off[c] = a.off[s]!;
    a.len[c] = len;
    a.hash[c] = a.hash[s]!;
    a.flags[c] = a.flags[s]! & ~TRACE;
    // copyWithin: 35-48 ns per 64-byte copy between arena slots, a byte loop over the shared
    // buffer 75-100 ns, an int32 loop 22-52 ns but only for 4-byte-aligned frames (Node 20.20,
    // AMD EPYC, 2M copies each, noisy machine): not worth the alignment rule.
    a.bytes.copyWithin(a.start(c), from, from + len);
    if (traced) e.trace.mark(c, e.trace.idOfSlot(s));
    return c;
  }
}
