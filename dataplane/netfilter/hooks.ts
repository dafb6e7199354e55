// Netfilter in a namespace: its iptables rules (rules.ts) and connection tracking with NAT
// (conntrack.ts, nat-tuple.ts, nat-packet.ts) run at the five IPv4 hooks of its stack, and at the
// bridge hooks of the bridges whose own interface lives in it (bridge.ts, br_netfilter).
//
// `Netns.netfilter` is null until rules are loaded (Topology.iptables): a namespace without rules
// pays one test per hook point. With rules, per packet, in Linux's order of hooks and priorities:
//
//   receive    PREROUTING: raw (-300), conntrack (-200), mangle (-150), nat DNAT (-100); routing
//              (to the new destination); then local: INPUT: mangle, filter (0), nat SNAT (+100),
//              confirm; or forwarded: TTL, MTU, FORWARD: mangle, filter; POSTROUTING
//   send       OUTPUT: raw, conntrack, mangle, nat DNAT (a new destination is routed again, as
//              ip_route_me_harder), filter; POSTROUTING
//   POSTROUTING  mangle, nat SNAT/MASQUERADE (+100), confirm (INT_MAX); then fragmentation and
//              the neighbour
//
// Conntrack exists when the rules need it, as Linux loads it for a nat table or a conntrack
// match (nf_ct_netns_get); without it packets are INVALID to the rules and nothing is NATed. NAT
// is decided once per connection, on its first packet, at each of the two sides (nf_nat_inet_fn:
// the nat table's chain runs for a NEW packet whose entry has no binding yet for that side; no
// rule means a null binding, which still moves a port another connection's reply uses); later
// packets are rewritten from the entry. RELATED ICMP errors get their outer and quoted headers
// translated (nf_nat_icmp_reply_translation). MASQUERADE takes the address of the output
// interface that faces the next hop (inet_select_addr).
//
// The packet's conntrack reference (Linux's skb->_nfct) lives in `ref[slot]` while the flag
// PKT_NFCT says it belongs to this namespace; packets the stack generates about another packet
// (ICMP errors, TCP resets of REJECT) are attached to its entry as RELATED (nf_ct_attach) and
// carry PKT_NF_ATTACHED into OUTPUT. An entry created by a packet that is dropped before it is
// confirmed is freed (the kernel frees it with the skb).
//
// Verdicts: DROP counts `nf-drop` on the device (`conntrack-invalid` when the packet was INVALID
// to conntrack: Linux lets INVALID packets through unless a rule drops them); REJECT answers as
// ipt_REJECT (ICMP destination unreachable with the rule's code from this stack, quoted and
// rate-limited as any ICMP error; a TCP reset for `tcp-reset`) and counts `nf-reject`; a full
// table `conntrack-full`; a clash at confirm (e.g. no NAT port left) `conntrack-clash`; NAT
// impossible (MASQUERADE with no address on the interface, a redirect about a translated
// connection, a bridged frame DNATed to an address with no route) `nf-nat`; a local packet
// DNATed at OUTPUT to an address with no route `no-route`. REJECT at OUTPUT drops without an
// answer (Linux would deliver the error to the local sender over loopback, not emulated).
//
// Cost (bench/nat.bench.ts; Node 20, shared 2-vCPU AMD EPYC, noisy): an established UDP
// datagram or TCP segment takes the fused path of fast-path.ts (these methods are its reference
// and handle everything else). 64-byte UDP forwarded through MASQUERADE on established flows:
// 10.8 Mpps with 1 flow, 8.8-9.0 with 10,000, 8.3-8.6 with 1,000,000 (the layered path alone:
// 6.4, 5.75, 5.5), against 14 Mpps of CPU time for the same frames and harness without rules;
// 0 GCs. What is left at
// 10,000 flows over 1 flow is conntrack's lookup missing the L1 cache (~14-17 ns in the profile).
// An entry's hot fields share one 64-byte block (conntrack.ts). New connections (track, port
// search, confirm) 3.7 million per second at the table, 1.3 million through the router.
//
// Not emulated: the mangle table's own targets (MARK, TOS: its chains filter only), NOTRACK/CT
// targets, conntrack helpers and expectations, reassembly before conntrack (fragments are
// INVALID and never NATed), the SNAT-on-oif-change check (nf_nat_oif_changed).

import { getU16, getU32 } from "../../core/bytes.js";
import { PKT_TRACE } from "../../core/packet.js";
import { formatIpv4 } from "../../core/addr.js";
import type { Device } from "../engine/device.js";
import { type Netns, PKT_BRNF, PKT_NF_ATTACHED, PKT_NFCT } from "../netns/netns.js";
import { RTN_UNICAST, routeLookup, routeNextHop, routeOif, routeType } from "../netns/route.js";
import { outputVia } from "../netns/ip-output.js";
import { ipRcvFinish } from "../netns/ip-input.js";
import { fragmentAndSend } from "../netns/fragment.js";
import { icmpSend } from "../netns/icmp-error.js";
import {
  ADDRTYPE_BROADCAST, ADDRTYPE_LOCAL, ADDRTYPE_MULTICAST, ADDRTYPE_UNICAST, CT_INVALID, HOOK_FORWARD, HOOK_INPUT, HOOK_NAMES, HOOK_OUTPUT,
  HOOK_POSTROUTING, HOOK_PREROUTING, NfPacket, REJECT_TCP_RESET, TABLE_FILTER, TABLE_MANGLE, TABLE_NAT, TABLE_RAW, V_ACCEPT, V_MASQUERADE,
  V_REJECT, VERDICT_NAMES, compile, evaluate, findTable, recompile, syncCounters, TABLE_NAMES, type CompiledRuleset, type Ruleset,
} from "./rules.js";
import { formatRule } from "./iptables-save.js";
import { formatConntrackEntry } from "./conntrack-dump.js";
import { ConntrackTable, type ConntrackParams } from "./conntrack.js";
import { CTREF_CLASH, CTREF_DROP, CTREF_INVALID, IPS_CONFIRMED, IP_CT_IS_REPLY, IP_CT_NEW, IP_CT_RELATED, IP_CT_RELATED_REPLY, NAT_MANIP_DST, NAT_MANIP_SRC, NF_REASONS, relatedRef } from "./conntrack-bits.js";
import { NAT_MAP_IPS, natInitialized, natNullBinding, natSetup } from "./nat-tuple.js";
import { natIcmpReplyTranslation, natPacket } from "./nat-packet.js";
import { sendTcpReset } from "./reject.js";
import { nfProcess } from "./fast-path.js";

/** ctinfo values (conntrack-bits.ts IP_CT_*) as Linux names them. */
const CTINFO_NAMES = ["ESTABLISHED", "RELATED", "NEW", "ESTABLISHED_REPLY", "RELATED_REPLY"];

const R_DROP = 0, R_REJECT = 1, R_NAT = 2, R_FULL = 3, R_INVALID = 4, R_CLASH = 5;

/** A hook's answer for a packet it dropped (counted, freed). */
export const NF_GONE = -100;
/** The reference of a packet conntrack has not seen yet (raw's hooks run first): INVALID to the
 *  rules, as Linux's skb without _nfct, but a drop there is not conntrack's. */
const REF_UNSEEN = -5;

// Private copies of imported constants (an imported const is reloaded and TDZ-checked on every
// use in Node 20, bridge.ts).
const H_PRE = HOOK_PREROUTING, H_IN = HOOK_INPUT, H_FWD = HOOK_FORWARD, H_OUT = HOOK_OUTPUT, H_POST = HOOK_POSTROUTING;
const T_RAW = TABLE_RAW, T_MANGLE = TABLE_MANGLE, T_NAT = TABLE_NAT, T_FILTER = TABLE_FILTER;
const ACCEPT = V_ACCEPT, REJECT = V_REJECT, MASQ = V_MASQUERADE, TCP_RESET = REJECT_TCP_RESET, ST_INVALID = CT_INVALID;
const CI_NEW = IP_CT_NEW, CI_REL = IP_CT_RELATED, CI_REL_REPLY = IP_CT_RELATED_REPLY, CI_IS_REPLY = IP_CT_IS_REPLY;
const M_SRC = NAT_MANIP_SRC, M_DST = NAT_MANIP_DST;
const REF_INVALID = CTREF_INVALID, REF_DROP = CTREF_DROP, REF_CLASH = CTREF_CLASH, CONFIRMED = IPS_CONFIRMED;

// Tables present at a hook, one bit per TABLE_*.
const B_RAW = 1 << T_RAW, B_MANGLE = 1 << T_MANGLE, B_FILTER = 1 << T_FILTER;
const NFCT = PKT_NFCT, ATTACHED = PKT_NF_ATTACHED, BRNF = PKT_BRNF, TRACE = PKT_TRACE;

/** ipt_REJECT's ICMP codes (enum ipt_reject_with -> ICMP_*): net/host/proto/port unreachable,
 *  net/host prohibited (ICMP_NET_ANO, ICMP_HOST_ANO), admin prohibited (ICMP_PKT_FILTERED). */
const REJECT_ICMP_CODE = Int8Array.from([0, 1, 2, 3, -1, 9, 10, -1, 13]);

export interface NetfilterOptions {
  /** Conntrack sysctls (nf_conntrack_max, timeouts), Linux's defaults otherwise. */
  conntrack?: Partial<ConntrackParams>;
}

/** Whether a ruleset makes Linux load conntrack: a nat table, or a conntrack match. */
export function needsConntrack(rs: Ruleset): boolean {
  if (findTable(rs, "nat")) return true;
  return rs.tables.some((t) => t.chains.some((c) => c.rules.some((r) => r.matches.some((m) => m.kind === "conntrack"))));
}

export class NsNetfilter {
  /** fastPath of namespaces made from now on (tests switch it off to run the reference path). */
  static fastPathDefault = true;
  c: CompiledRuleset;
  ct: ConntrackTable | null = null;
  /** Conntrack reference per arena slot, valid while the slot has PKT_NFCT (set here). */
  readonly ref: Int32Array;
  readonly pkt = new NfPacket();
  /** Tables with a chain at each hook (B_* bits). */
  readonly at = new Uint8Array(5);
  /** The rules test address types (computed per packet only then). */
  private addrtype = false;
  /** A nat table exists: NAT hooks run (bindings are set up for every new connection). */
  nat = false;
  /** Established UDP datagrams and TCP segments take the fused path (fast-path.ts); false:
   *  every packet takes the reference path (the tests compare the two). */
  fastPath = NsNetfilter.fastPathDefault;
  /** Packets the fused path carried (the others took the reference path). */
  fastPackets = 0;

  readonly rBase: number;
  /** The engine's arena arrays (fixed for its life). */
  private readonly flags: Uint32Array;
  private readonly bytes: Uint8Array;
  /** Set while a packet's entry is shared with a copy in flight (a bridge's flood): a drop then
   *  leaves the entry to the copy. */
  keepEntry = false;

  constructor(readonly ns: Netns, rules: Ruleset, readonly opts: NetfilterOptions = {}) {
    this.ref = new Int32Array(ns.engine.arena.slotCount);
    this.flags = ns.engine.arena.flags;
    this.bytes = ns.engine.arena.bytes;
    this.rBase = ns.reason(NF_REASONS[0]);
    this.c = compile(rules, { ifNames: ns.portNames });
    this.loaded();
  }

  /** `iptables-restore -c` without --noflush: the tables given (their counters too) replace
   *  those of the same name; the others keep theirs. */
  restore(rules: Ruleset): void {
    syncCounters(this.c);
    const keep = this.c.ruleset.tables.filter((t) => !rules.tables.some((n) => n.name === t.name));
    this.c = compile({ tables: [...keep, ...rules.tables], source: rules.source }, { ifNames: this.ns.portNames });
    this.loaded();
  }

  /** Interfaces were added: `-i`/`-o` bitmaps are rebuilt, counters kept. */
  interfacesChanged(): void {
    this.c = recompile(this.c, { ifNames: this.ns.portNames });
  }

  private loaded(): void {
    const rs = this.c.ruleset;
    for (let h = 0; h < 5; h++) {
      let bits = 0;
      for (let t = 0; t < 4; t++) {
        const ct = this.c.tables[t];
        if (ct && ct.hookChain[h]! >= 0) bits |= 1 << t;
      }
      this.at[h] = bits;
    }
    this.nat = this.c.tables[T_NAT] !== null;
    this.addrtype = rs.tables.some((t) => t.chains.some((c) => c.rules.some((r) => r.matches.some((m) => m.kind === "addrtype"))));
    if (this.ct === null && needsConntrack(rs)) {
      const e = this.ns.engine;
      this.ct = new ConntrackTable(e.clock, e.rng.fork(this.ns.name).fork("conntrack"), this.opts.conntrack);
    }
  }

  // ---- the namespace's stack ---------------------------------------------------------------------

  /** A batch of received frames (Netns.process): the established-flow path, which hands every
   *  other frame to Netns.receiveFrame. */
  receiveBatch(slots: Int32Array, n: number): void {
    nfProcess(this.ns, this, slots, n);
  }

  /** ip_rcv after its header checks: PREROUTING (unless the bridge ran it), routing and the rest
   *  (ip-input.ts ipRcvFinish), then the entry of a packet dropped on the way is freed. */
  ipRcv(s: number, port: number, ip: number, ihl: number, total: number): void {
    const flags = this.flags;
    const fl = flags[s]!;
    let ref: number;
    if ((fl & BRNF) !== 0) {
      // br_netfilter ran PREROUTING already (ip_sabotage_in skips it here)
      flags[s] = fl & ~BRNF;
      ref = this.ref[s]!;
    } else {
      flags[s] = fl & ~NFCT;
      ref = this.prerouting(this.ns, this.rBase, s, ip, port);
      if (ref === NF_GONE) return;
    }
    this.ipRcvFinished(s, port, ip, ihl, total, ref);
  }

  /** ip_rcv after PREROUTING gave `ref`: routing and the rest (ip-input.ts ipRcvFinish), then
   *  the entry of a packet dropped on the way is freed. */
  ipRcvFinished(s: number, port: number, ip: number, ihl: number, total: number, ref: number): void {
    ipRcvFinish(this.ns, s, port, ip, ihl, total);
    // dropped before INPUT/POSTROUTING confirmed it: the entry goes
    if (ref >= 0 && (this.ct!.statusOf(ref >> 3) & CONFIRMED) === 0) this.ct!.discard(ref);
  }

  /** ip_local_deliver: INPUT. False when the packet was dropped. */
  input(s: number, ip: number, inIf: number): boolean {
    const ns = this.ns;
    const ref = this.refOf(s);
    const at = this.at[H_IN]!;
    if ((at & (B_MANGLE | B_FILTER)) !== 0) {
      this.fill(ip, inIf, -1, ref);
      if ((at & B_MANGLE) !== 0 && !this.verdict(ns, this.rBase, s, ip, ref, evaluate(this.c, T_MANGLE, H_IN, this.pkt), H_IN)) return false;
      if ((at & B_FILTER) !== 0 && !this.verdict(ns, this.rBase, s, ip, ref, evaluate(this.c, T_FILTER, H_IN, this.pkt), H_IN)) return false;
    }
    if (ref < 0) return true;
    if (this.nat && !this.natHook(s, ip, ref, M_SRC, H_IN, inIf, -1, -1)) {
      this.drop(ns, this.rBase + R_NAT, s, ref);
      return false;
    }
    return this.confirm(ns, this.rBase, s, ref);
  }

  /** ip_forward after the TTL decrement: FORWARD, POSTROUTING, then out (fragmented when
   *  `total` exceeds `mtu`; DF was refused before). `dst` in int32 form. */
  forward(s: number, inIf: number, ip: number, rt: number, oif: number, dst: number, total: number, mtu: number): void {
    const ns = this.ns;
    const ref = this.refOf(s);
    if (this.at[H_FWD]! !== 0 && !this.forwardRules(s, inIf, ip, ref, oif)) return;
    if (!this.postrouting(ns, this.rBase, s, ip, ref, oif, rt)) return;
    this.out(s, rt, dst, total, mtu);
  }

  /** FORWARD's tables (mangle, filter) for a routed packet. False: dropped. */
  forwardRules(s: number, inIf: number, ip: number, ref: number, oif: number): boolean {
    const ns = this.ns;
    const at = this.at[H_FWD]!;
    this.fill(ip, inIf, oif, ref);
    if ((at & B_MANGLE) !== 0 && !this.verdict(ns, this.rBase, s, ip, ref, evaluate(this.c, T_MANGLE, H_FWD, this.pkt), H_FWD)) return false;
    if ((at & B_FILTER) !== 0 && !this.verdict(ns, this.rBase, s, ip, ref, evaluate(this.c, T_FILTER, H_FWD, this.pkt), H_FWD)) return false;
    return true;
  }

  /**
   * ip_local_out for a packet this namespace built (sockets, echo replies, ICMP errors, resets),
   * routed along `rt` towards `dst` (int32): OUTPUT, a new route if DNAT changed the destination,
   * POSTROUTING, then out.
   */
  localOut(s: number, rt: number, dst: number): void {
    const ns = this.ns;
    const e = ns.engine;
    const a = e.arena;
    const b = a.bytes;
    const ip = a.start(s) + 14;
    let oif = routeOif(ns, rt);
    const at = this.at[H_OUT]!;
    const fl = a.flags[s]!;
    const attached = (fl & ATTACHED) !== 0;
    a.flags[s] = (fl & ~ATTACHED) | NFCT;
    let ref = attached ? this.ref[s]! : REF_UNSEEN;
    if ((at & B_RAW) !== 0) {
      this.fill(ip, -1, oif, ref);
      if (!this.verdict(ns, this.rBase, s, ip, ref, evaluate(this.c, T_RAW, H_OUT, this.pkt), H_OUT)) return;
    }
    if (!attached) {
      ref = this.ct !== null ? this.ct.track(b, ip) : REF_INVALID;
      if (ref === REF_DROP) return e.drop(ns, this.rBase + R_FULL, s);
    }
    this.ref[s] = ref;
    if ((a.flags[s]! & TRACE) !== 0 && this.ct !== null && !attached) this.traceCt(ns, s, ref);
    if ((at & B_MANGLE) !== 0) {
      this.fill(ip, -1, oif, ref);
      if (!this.verdict(ns, this.rBase, s, ip, ref, evaluate(this.c, T_MANGLE, H_OUT, this.pkt), H_OUT)) return;
    }
    if (ref >= 0 && this.nat) {
      if (!this.natHook(s, ip, ref, M_DST, H_OUT, -1, oif, -1)) return this.drop(ns, this.rBase + R_NAT, s, ref);
      const d = getU32(b, ip + 16) | 0;
      if (d !== dst) {
        // the destination changed: routed again (ip_route_me_harder)
        dst = d;
        rt = routeLookup(ns, d >>> 0);
        if (rt < 0 || routeType(ns, rt) !== RTN_UNICAST) return this.drop(ns, ns.r["no-route"], s, ref);
        oif = routeOif(ns, rt);
      }
    }
    if ((at & B_FILTER) !== 0) {
      this.fill(ip, -1, oif, ref);
      if (!this.verdict(ns, this.rBase, s, ip, ref, evaluate(this.c, T_FILTER, H_OUT, this.pkt), H_OUT)) return;
    }
    if (!this.postrouting(ns, this.rBase, s, ip, ref, oif, rt)) return;
    this.out(s, rt, dst, getU16(b, ip + 2), ns.mtu[oif]!);
  }

  /** Attach the packet in `t`, which this stack built about the packet in `orig`, to orig's
   *  connection as RELATED (nf_ct_attach): its OUTPUT then skips tracking. */
  attachRelated(t: number, orig: number): void {
    const flags = this.flags;
    if ((flags[orig]! & NFCT) === 0) return;
    this.ref[t] = relatedRef(this.ref[orig]!);
    flags[t] = flags[t]! | ATTACHED;
  }

  /** A packet handed over by this namespace's bridge (PKT_BRNF) is dropped before the stack took
   *  it: its unconfirmed entry goes. */
  release(s: number): void {
    const flags = this.flags;
    if ((flags[s]! & NFCT) !== 0 && this.ct !== null) this.ct.discard(this.ref[s]!);
    flags[s] = flags[s]! & ~(NFCT | BRNF);
  }

  /** Free `ref`'s entry if the packet that created it did not get it confirmed. */
  discard(ref: number): void {
    if (ref >= 0 && (ref & 7) < CI_IS_REPLY && this.ct !== null && !this.keepEntry) this.ct.discard(ref);
  }

  private refOf(s: number): number {
    return (this.flags[s]! & NFCT) !== 0 ? this.ref[s]! : REF_INVALID;
  }

  /** Out of the namespace after POSTROUTING: fragmented when `total` exceeds `mtu`. */
  out(s: number, rt: number, dst: number, total: number, mtu: number): void {
    const ns = this.ns;
    if (total > mtu) {
      // fragments are new slots: they carry no reference
      this.flags[s] = this.flags[s]! & ~NFCT;
      return fragmentAndSend(ns, s, rt, dst >>> 0, mtu);
    }
    outputVia(ns, s, rt, dst);
  }

  // ---- hooks shared with the bridge (br_netfilter) --------------------------------------------------

  /**
   * PREROUTING for the IPv4 packet at `ip` in slot `s`, arriving on interface `inIf` (a bridge's
   * own interface for bridged frames): raw, conntrack, mangle, nat (DNAT). Returns the packet's
   * reference (also in ref[s], with PKT_NFCT) or NF_GONE (dropped on `dev`, reasons from `rBase`).
   */
  prerouting(dev: Device, rBase: number, s: number, ip: number, inIf: number): number {
    const at = this.at[H_PRE]!;
    if ((at & B_RAW) !== 0) {
      this.fill(ip, inIf, -1, REF_UNSEEN);
      if (!this.verdict(dev, rBase, s, ip, REF_UNSEEN, evaluate(this.c, T_RAW, H_PRE, this.pkt), H_PRE)) return NF_GONE;
    }
    return this.preroutingTracked(dev, rBase, s, ip, inIf, this.ct !== null ? this.ct.track(this.bytes, ip) : REF_INVALID);
  }

  /** PREROUTING from conntrack's answer `ref` on (a full table's REF_DROP included): the
   *  reference, mangle, nat. Returns as prerouting. */
  preroutingTracked(dev: Device, rBase: number, s: number, ip: number, inIf: number, ref: number): number {
    const at = this.at[H_PRE]!;
    const ct = this.ct;
    if (ref === REF_DROP) {
      this.ns.engine.drop(dev, rBase + R_FULL, s);
      return NF_GONE;
    }
    this.ref[s] = ref;
    this.flags[s] = this.flags[s]! | NFCT;
    if ((this.flags[s]! & TRACE) !== 0 && ct !== null) this.traceCt(dev, s, ref);
    if ((at & B_MANGLE) !== 0) {
      this.fill(ip, inIf, -1, ref);
      if (!this.verdict(dev, rBase, s, ip, ref, evaluate(this.c, T_MANGLE, H_PRE, this.pkt), H_PRE)) return NF_GONE;
    }
    if (ref >= 0 && this.nat && !this.natHook(s, ip, ref, M_DST, H_PRE, inIf, -1, -1)) {
      this.drop(dev, rBase + R_NAT, s, ref);
      return NF_GONE;
    }
    return ref;
  }

  /** FORWARD of a bridged frame (`-i` and `-o` the bridge's interface `brIf`). False: dropped. */
  bridgeForward(dev: Device, rBase: number, s: number, ip: number, ref: number, brIf: number): boolean {
    const at = this.at[H_FWD]!;
    if (at !== 0) {
      this.fill(ip, brIf, brIf, ref);
      if ((at & B_MANGLE) !== 0 && !this.verdict(dev, rBase, s, ip, ref, evaluate(this.c, T_MANGLE, H_FWD, this.pkt), H_FWD)) return false;
      if ((at & B_FILTER) !== 0 && !this.verdict(dev, rBase, s, ip, ref, evaluate(this.c, T_FILTER, H_FWD, this.pkt), H_FWD)) return false;
    }
    return true;
  }

  /** POSTROUTING: mangle, nat (SNAT, MASQUERADE from `oif`'s address facing the next hop of
   *  route `rt`; -1: on-link, the destination), confirm. False: dropped on `dev`. */
  postrouting(dev: Device, rBase: number, s: number, ip: number, ref: number, oif: number, rt: number): boolean {
    const at = this.at[H_POST]!;
    if ((at & B_MANGLE) !== 0) {
      this.fill(ip, -1, oif, ref);
      if (!this.verdict(dev, rBase, s, ip, ref, evaluate(this.c, T_MANGLE, H_POST, this.pkt), H_POST)) return false;
    }
    if (ref < 0) return true;
    if (this.nat && !this.natHook(s, ip, ref, M_SRC, H_POST, -1, oif, rt)) {
      this.drop(dev, rBase + R_NAT, s, ref);
      return false;
    }
    return this.confirm(dev, rBase, s, ref);
  }

  // ---- pieces ---------------------------------------------------------------------------------------

  /**
   * nf_nat_ipv4_fn for one side (`manip`) at `hook`: ICMP errors RELATED to a connection are
   * translated; a NEW packet whose connection has no binding for this side runs the nat table's
   * chain (SNAT/MASQUERADE/DNAT set the binding, anything else a null binding); then the packet
   * is rewritten as its entry says. False: the packet must be dropped.
   */
  private natHook(s: number, ip: number, ref: number, manip: number, hook: number, inIf: number, oif: number, rt: number): boolean {
    const ci = ref & 7;
    if (ci === CI_NEW || ci === CI_REL || ci === CI_REL_REPLY) return this.natFirst(s, ip, ref, manip, hook, inIf, oif, rt);
    natPacket(this.ct!, ref, manip, this.bytes, ip);
    return true;
  }

  /** natHook for a NEW or RELATED packet. */
  private natFirst(s: number, ip: number, ref: number, manip: number, hook: number, inIf: number, oif: number, rt: number): boolean {
    const ct = this.ct!;
    const b = this.bytes;
    const ci = ref & 7;
    if (ci === CI_REL || ci === CI_REL_REPLY) {
      // only the RELATED packets conntrack makes (ICMP errors) are translated as errors; an
      // attached TCP reset is rewritten like a packet of the connection
      if (b[ip + 9] === 1) return natIcmpReplyTranslation(ct, ref, manip, b, ip);
    } else if (ci === CI_NEW && !natInitialized(ct, ref >> 3, manip)) {
      this.fill(ip, inIf, oif, ref);
      const v = evaluate(this.c, T_NAT, hook, this.pkt);
      const k = v & 7;
      if (k >= MASQ) {
        const n = this.c.nat;
        const i = v >> 3;
        let flags = n.flags[i]! | NAT_MAP_IPS;
        let lo = n.addrMin[i]!, hi = n.addrMax[i]!;
        if (k === MASQ) {
          // nf_nat_masquerade_ipv4: the output interface's address towards the next hop
          const dst = getU32(b, ip + 16);
          lo = hi = this.ns.selectSource(oif, rt < 0 ? dst : routeNextHop(this.ns, rt, dst) >>> 0) | 0;
          if (lo === 0) return false;
        } else if (lo === 0 && hi === 0) flags &= ~NAT_MAP_IPS; // ports only
        natSetup(ct, ref, manip, flags, lo, hi, n.portMin[i]!, n.portMax[i]!);
        if ((this.flags[s]! & TRACE) !== 0) this.traceNat(s, ref, hook, k);
      } else natNullBinding(ct, ref, manip);
    }
    natPacket(ct, ref, manip, b, ip);
    return true;
  }

  /** The rule of the last evaluation's verdict, as iptables-save prints it (or the policy). */
  private lastRuleText(hook: number): string {
    const c = this.c;
    const t = c.tables[c.lastTable];
    if (!t || c.lastRule < 0) return `${HOOK_NAMES[hook]} policy`;
    const r = c.lastRule;
    let ch = 0;
    while (!(t.chainStart[ch]! <= r && r < t.chainEnd[ch]!)) ch++;
    return formatRule(t.chainNames[ch]!, t.rules[r]!);
  }

  /** The rule that gave verdict `k` (the last evaluation's). */
  private traceVerdict(dev: Device, s: number, k: number, hook: number): void {
    this.ns.engine.trace.note(s, dev, `${TABLE_NAMES[this.c.lastTable]}: ${VERDICT_NAMES[k]} (${this.lastRuleText(hook)})`);
  }

  /** What conntrack made of a packet: its ctinfo and entry (`conntrack -L`'s line of it). */
  private traceCt(dev: Device, s: number, ref: number): void {
    const ct = this.ct!;
    const text = ref < 0 ? (ref === REF_DROP ? "table full" : "INVALID (no entry)") : `${CTINFO_NAMES[ref & 7]}, entry ${ct.statusOf(ref >> 3) & CONFIRMED ? "" : "new (unconfirmed): "}${formatConntrackEntry(ct, ref >> 3)}`;
    this.ns.engine.trace.note(s, dev, `conntrack: ${text}`);
  }

  /** The NAT binding a rule gave a new connection: the rule, and the entry's reply tuple. */
  private traceNat(s: number, ref: number, hook: number, k: number): void {
    const ct = this.ct!;
    const r = (ref >> 3) * 2 + 1;
    this.ns.engine.trace.note(s, this.ns, `nat ${HOOK_NAMES[hook]}: ${VERDICT_NAMES[k]} (${this.lastRuleText(hook)}), conntrack reply tuple ${formatIpv4(ct.tSrc(r) >>> 0)}:${ct.tSport(r)} > ${formatIpv4(ct.tDst(r) >>> 0)}:${ct.tDport(r)}`);
  }

  /** A rule's verdict: true to go on; otherwise the packet is dropped (REJECT answered first). */
  private verdict(dev: Device, rBase: number, s: number, ip: number, ref: number, v: number, hook: number): boolean {
    const k = v & 7;
    if (k === ACCEPT) return true;
    if ((this.flags[s]! & TRACE) !== 0) this.traceVerdict(dev, s, k, hook);
    if (k === REJECT) {
      if (hook !== H_OUT) this.reject(s, ip, v >> 3);
      this.drop(dev, rBase + R_REJECT, s, ref);
      return false;
    }
    // INVALID to conntrack (not merely unseen by it yet, or without conntrack): conntrack-invalid
    this.drop(dev, rBase + (ref === REF_INVALID && this.ct !== null ? R_INVALID : R_DROP), s, ref);
    return false;
  }

  /** ipt_REJECT's answer, sent by this namespace's stack. */
  private reject(s: number, ip: number, code: number): void {
    if (code === TCP_RESET) return sendTcpReset(this, s, ip);
    const icmp = REJECT_ICMP_CODE[code]!;
    if (icmp >= 0) icmpSend(this.ns, s, ip, 3, icmp, 0, false);
  }

  private confirm(dev: Device, rBase: number, s: number, ref: number): boolean {
    // only a packet of the original direction confirms (an attached reset or error does not)
    if (ref < 0 || (ref & 7) >= CI_IS_REPLY || (this.ct!.statusOf(ref >> 3) & CONFIRMED) !== 0) return true;
    const r = this.ct!.confirm(ref);
    if (r === REF_CLASH) {
      this.flags[s] = this.flags[s]! & ~NFCT;
      this.ns.engine.drop(dev, rBase + R_CLASH, s);
      return false;
    }
    this.ref[s] = r;
    return true;
  }

  private drop(dev: Device, reason: number, s: number, ref: number): void {
    this.discard(ref);
    this.flags[s] = this.flags[s]! & ~NFCT;
    this.ns.engine.drop(dev, reason, s);
  }

  /** The rules' view of the IPv4 packet at `ip` (NfPacket), for interfaces inIf/outIf. */
  private fill(ip: number, inIf: number, outIf: number, ref: number): void {
    const p = this.pkt;
    const b = this.bytes;
    p.inIf = inIf;
    p.outIf = outIf;
    const src = getU32(b, ip + 12) | 0, dst = getU32(b, ip + 16) | 0;
    p.src = src;
    p.dst = dst;
    const proto = b[ip + 9]!;
    p.proto = proto;
    const total = getU16(b, ip + 2);
    p.len = total;
    const ihl = (b[ip]! & 15) << 2;
    const l4 = ip + ihl;
    const first = (getU16(b, ip + 6) & 0x1fff) === 0 && total >= ihl + 4;
    if (first && (proto === 6 || proto === 17)) {
      p.sport = getU16(b, l4);
      p.dport = getU16(b, l4 + 2);
    } else {
      p.sport = 0;
      p.dport = 0;
    }
    if (first && proto === 1) {
      p.icmpType = b[l4]!;
      p.icmpCode = b[l4 + 1]!;
    } else {
      p.icmpType = 0;
      p.icmpCode = 0;
    }
    const ct = this.ct;
    if (ct !== null) {
      p.ctstate = ct.ctState(ref);
      p.ctstatus = ref >= 0 ? ct.statusOf(ref >> 3) : 0;
    } else {
      p.ctstate = ST_INVALID;
      p.ctstatus = 0;
    }
    if (this.addrtype) {
      p.srcType = this.addrType(src);
      p.dstType = this.addrType(dst);
    }
  }

  /** inet_addr_type: LOCAL for this namespace's addresses (and 127/8, lo's), BROADCAST for
   *  0.0.0.0, 255.255.255.255 and the broadcast address of a local subnet, MULTICAST for 224/4,
   *  UNICAST otherwise (a lookup in the local table only). */
  private addrType(a: number): number {
    if (a === -1 || a === 0) return ADDRTYPE_BROADCAST;
    const top = a >>> 24;
    if (top >= 224 && top < 240) return ADDRTYPE_MULTICAST;
    if (top === 127) return ADDRTYPE_LOCAL;
    const ns = this.ns;
    const la = ns.localAddr;
    for (let k = 0; k < ns.nLocal; k++) if ((la[k]! | 0) === a) return ADDRTYPE_LOCAL;
    const addrs = ns.addrs;
    for (let i = 0; i < addrs.length; i++) {
      const list = addrs[i];
      if (list === undefined) continue;
      for (let j = 0; j < list.length; j++) {
        const x = list[j]!;
        if (x.len < 31 && ((x.addr | (0xffffffff >>> x.len)) | 0) === a) return ADDRTYPE_BROADCAST;
      }
    }
    return ADDRTYPE_UNICAST;
  }
}
