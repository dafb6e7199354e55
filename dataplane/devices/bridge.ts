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
// Drop reasons: runt, port-down, invalid-source, link-local, hairpin-off, no-ports, dst-is-self
// (plus the engine's no-carrier when a port is unwired, no-buffer when a copy finds no slot).
// Trace (PKT_TRACE): one line per decision (learned/moved/refreshed, forwarded to, flooded to N
// ports, up, why dropped); each flood copy gets a trace id naming its parent.
// Configuration: `new Bridge(name, { mac, ageingTime?, maxLearned?, promisc?, ipv6? })`.

import { PKT_TRACE } from "../../core/packet.js";
import { formatMac } from "../../core/addr.js";
import { FDB_LOCAL, LEARN_REFRESHED, macOf } from "./fdb.js";
import { BridgeControl, PORT_BCAST_FLOOD, PORT_FLOOD, PORT_HAIRPIN, PORT_LEARNING, PORT_MCAST_FLOOD, PORT_UP } from "./bridge-control.js";

export { BridgeControl, BRIDGE_EVENTS, BRIDGE_REASONS, type BridgeOptions, type BridgePortFlags, type BridgePortOptions } from "./bridge-control.js";

// Private copies of imported constants: an imported const is reloaded and TDZ-checked on every use
// in Node 20 (core/wire/ethernet.ts measured 10.2 vs 7.6 ns per parse for this).
const LOCAL = FDB_LOCAL, REFRESHED = LEARN_REFRESHED, TRACE = PKT_TRACE;
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

  /** br_flood: every eligible port in order, then up to the bridge for group frames from ports. */
  private flood(s: number, inp: number, kind: number, fromSelf: boolean): void {
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
    if (!fromSelf && (kind !== K_UNICAST || this.promisc)) t[k++] = 0;
    const traced = (e.arena.flags[s]! & TRACE) !== 0;
    if (k === 0) return e.drop(this, this.rNoPorts, s);
    if (traced) e.trace.note(s, this, `flooded (${["unknown unicast", "multicast", "broadcast"][kind]}) to ${k} port${k > 1 ? "s" : ""}: ${Array.from(t.subarray(0, k), (p) => this.portNames[p]).join(", ")}`);
    for (let j = 0; j < k - 1; j++) {
      const c = this.copy(s, traced);
      if (c >= 0) e.transmit(this, t[j]!, c);
    }
    e.transmit(this, t[k - 1]!, s);
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
