// BridgeControl: the control side of the emulated Linux bridge (bridge.ts forwards): its ports
// and their flags, the FDB's administration (`bridge fdb add/del`, flush, `bridge fdb show`), the
// ageing sweep on the virtual clock, and the counters. Everything here is cold (configuration,
// timers, dumps) except `learnedEvent`, which the forwarding path calls for the rare learning
// outcomes (a new, moved, own or refused source) and for traced frames.
//
// Ports: 0 is the bridge's own interface, named after the bridge; `addPort(name, opts)` adds a
// bridge port (reusing a removed port's index), `removePort` unwires it and forgets every FDB
// entry on it (del_nbp); `setPortUp(p, false)` forgets its dynamic entries (br_stp_disable_port).
// Flags per port as Linux's new_nbp sets them: learning, flood, mcast_flood, bcast_flood on,
// hairpin off.
//
// Ageing (br_fdb_cleanup): one timer, armed at the earliest expiry of a dynamic entry and at least
// 10 ms after the previous sweep; a sweep removes every dynamic entry with updated + ageing <= now
// and re-arms; with no dynamic entry the timer is idle (so `engine.run()` can finish). A new entry
// arms it if idle (its expiry is the latest of all). Lookups do not check expiry (as in Linux since
// the sweep became the only remover), so an entry lives until the sweep that follows its expiry:
// `bridge fdb show` calls it `stale` in between. ageingTime 0: nothing is learned and every
// dynamic entry goes at once (br_fdb_update returns early on hold_time 0: "some users want to
// always flood"); measured on Linux 6.18 (fixtures/bridge-kernel.txt).
//
// Events (counters): learned, moved, aged, own-source (a frame carried one of the bridge's local
// addresses as its source: not learned; Linux warns "received packet on %s with own address as
// source address"), fdb-full (a new source not learned: maxLearned reached).

import { PKT_TRACE } from "../../core/packet.js";
import { formatMac } from "../../core/addr.js";
import { Device } from "../engine/device.js";
import { Timer } from "../engine/clock.js";
import { Fdb, FDB_DEFAULT_MAX_LEARNED, FDB_LOCAL, FDB_STATIC, LEARN_FULL, LEARN_LOCAL, LEARN_MOVED, LEARN_NEW, macHi, macLo, macOf } from "./fdb.js";
import { fdbShowLines, type FdbState } from "./bridge-fdb-show.js";
import { NF_REASONS } from "../netfilter/conntrack-bits.js";
import type { Netns } from "../netns/netns.js";

export interface BridgePortFlags {
  learning: boolean;
  flood: boolean;
  mcastFlood: boolean;
  bcastFlood: boolean;
  hairpin: boolean;
}

export interface BridgePortOptions extends Partial<BridgePortFlags> {
  /** The port device's own MAC (a veth host end's): a permanent local FDB entry on the port. */
  mac?: number;
  up?: boolean;
}

export interface BridgeOptions {
  /** The bridge's MAC: a permanent local FDB entry on port 0. */
  mac: number;
  /** FDB ageing, ns (default 300 s, BR_DEFAULT_AGEING_TIME); 0 = learn nothing, as Linux does. */
  ageingTime?: number;
  /** Learned entries at most (Linux fdb_max_learned; 0 = unlimited); default 65536. */
  maxLearned?: number;
  /** The bridge interface is promiscuous (tcpdump without -p): unknown unicast goes up too. */
  promisc?: boolean;
  /** IPv6 on in the namespace (Linux default): the dump's `self` lines include it. */
  ipv6?: boolean;
  /** The interface name (port 0, `bridge fdb show`'s "master"), when the device is named
   *  otherwise (a Topology names it `<namespace>/<ifname>`); default: the device name. */
  ifname?: string;
}

export const BRIDGE_REASONS = ["runt", "port-down", "invalid-source", "link-local", "hairpin-off", "no-ports", "dst-is-self", "nf-ip-header", ...NF_REASONS] as const;
export const BRIDGE_EVENTS = ["learned", "moved", "aged", "own-source", "fdb-full"] as const;
const EV_LEARNED = 0, EV_MOVED = 1, EV_AGED = 2, EV_OWN = 3, EV_FULL = 4;

/** Port flag bits (`pflags`, one byte per port). */
export const PORT_LEARNING = 1, PORT_FLOOD = 2, PORT_MCAST_FLOOD = 4, PORT_BCAST_FLOOD = 8, PORT_HAIRPIN = 16, PORT_UP = 32, PORT_ACTIVE = 64;
const P_LEARNING = PORT_LEARNING, P_FLOOD = PORT_FLOOD, P_MCAST = PORT_MCAST_FLOOD, P_BCAST = PORT_BCAST_FLOOD, P_HAIRPIN = PORT_HAIRPIN, P_UP = PORT_UP, P_ACTIVE = PORT_ACTIVE;
const DEFAULT_FLAGS = P_LEARNING | P_FLOOD | P_MCAST | P_BCAST | P_UP | P_ACTIVE;
const DEFAULT_AGEING = 300e9;
const MIN_SWEEP_GAP = 10e6;

export abstract class BridgeControl extends Device {
  readonly fdb: Fdb;
  readonly mac: number;
  readonly promisc: boolean;
  readonly ipv6: boolean;
  ageingTime: number;
  /** Counters by BRIDGE_EVENTS index. */
  readonly events = new Float64Array(BRIDGE_EVENTS.length);
  /** Per-port flags (PORT_*), port MAC (-1 none), and creation order (the dump's ifindex order). */
  pflags = new Uint8Array(4);
  portMac = new Float64Array(4).fill(-1);
  portSeq = new Float64Array(4);
  /** Active bridge ports, newest first (flood order), and room for one flood's targets. */
  protected order = new Int32Array(4);
  protected orderLen = 0;
  protected targets = new Int32Array(4);
  private nextPortSeq = 0;
  private readonly timer: Timer;
  protected readonly rRunt: number;
  protected readonly rDown: number;
  protected readonly rSource: number;
  protected readonly rLinkLocal: number;
  protected readonly rHairpin: number;
  protected readonly rNoPorts: number;
  protected readonly rSelf: number;
  /** br_netfilter: an IPv4 frame with a bad header (br_validate_ipv4), and the hooks' reasons
   *  (NF_REASONS, from rNf on). */
  protected readonly rNfHeader: number;
  protected readonly rNf: number;
  /** The namespace whose interface this bridge is, and that interface's index there: its
   *  netfilter runs on bridged IPv4 (br_netfilter) when it has rules and bridge-nf-call-iptables
   *  is on. Null: no bridge netfilter (a bridge outside a Topology). */
  nfNs: Netns | null = null;
  nfIf = -1;

  /** The bridge's interface name, as `ip link` shows it. */
  readonly ifname: string;

  constructor(name: string, opts: BridgeOptions) {
    super(name, BRIDGE_REASONS);
    this.ifname = opts.ifname ?? name;
    this.mac = opts.mac;
    this.ageingTime = opts.ageingTime ?? DEFAULT_AGEING;
    this.promisc = opts.promisc ?? false;
    this.ipv6 = opts.ipv6 ?? true;
    this.fdb = new Fdb(opts.maxLearned ?? FDB_DEFAULT_MAX_LEARNED);
    this.timer = new Timer(`${name} fdb ageing`, () => this.sweep(this.engine.clock.now));
    [this.rRunt, this.rDown, this.rSource, this.rLinkLocal, this.rHairpin, this.rNoPorts, this.rSelf] = BRIDGE_REASONS.map((r) => this.reason(r)) as [number, number, number, number, number, number, number];
    this.rNfHeader = this.reason("nf-ip-header");
    this.rNf = this.reason(NF_REASONS[0]);
    super.addPort(this.ifname);
    this.pflags[0] = P_UP | P_ACTIVE;
    this.portMac[0] = opts.mac;
    this.fdb.add(macHi(opts.mac), macLo(opts.mac), 0, FDB_LOCAL | FDB_STATIC, 0);
  }

  override attached(): void {
    this.rearm(this.engine.clock.now);
  }

  private now(): number {
    return this.engine ? this.engine.clock.now : 0;
  }

  // ---- ports (cold) ----------------------------------------------------------------------------

  /** Add a bridge port (`ip link set NAME master BR`); returns its index (a removed one is reused). */
  override addPort(name: string, opts: BridgePortOptions = {}): number {
    let p = 1;
    while (p < this.portNames.length && (this.pflags[p]! & P_ACTIVE) !== 0) p++;
    if (p === this.portNames.length) p = super.addPort(name);
    else this.portNames[p] = name;
    if (p >= this.pflags.length) this.growPorts(this.pflags.length * 2);
    this.pflags[p] = DEFAULT_FLAGS;
    this.portMac[p] = opts.mac ?? -1;
    this.portSeq[p] = ++this.nextPortSeq;
    this.setPortFlags(p, opts);
    if (opts.up === false) this.pflags[p]! &= ~P_UP;
    if (opts.mac !== undefined) this.fdb.add(macHi(opts.mac), macLo(opts.mac), p, FDB_LOCAL | FDB_STATIC, this.now());
    this.rebuildOrder();
    return p;
  }

  /** Remove a bridge port (`ip link set PORT nomaster`): unwired, every FDB entry on it removed. */
  removePort(port: number): void {
    this.checkPort(port);
    if (this.peerDev[port] !== -1) this.engine.disconnect(this, port);
    this.fdb.removePort(port, true);
    this.pflags[port] = 0;
    this.portMac[port] = -1;
    this.portNames[port] = "";
    this.rebuildOrder();
  }

  /** `ip link set PORT type bridge_slave learning|flood|mcast_flood|bcast_flood|hairpin on|off`. */
  setPortFlags(port: number, f: Partial<BridgePortFlags>): void {
    this.checkPort(port);
    const bit = (on: boolean | undefined, b: number) => {
      if (on !== undefined) this.pflags[port] = on ? this.pflags[port]! | b : this.pflags[port]! & ~b;
    };
    bit(f.learning, P_LEARNING);
    bit(f.flood, P_FLOOD);
    bit(f.mcastFlood, P_MCAST);
    bit(f.bcastFlood, P_BCAST);
    bit(f.hairpin, P_HAIRPIN);
  }

  portFlags(port: number): BridgePortFlags & { up: boolean } {
    const f = this.pflags[port]!;
    return { learning: !!(f & P_LEARNING), flood: !!(f & P_FLOOD), mcastFlood: !!(f & P_MCAST), bcastFlood: !!(f & P_BCAST), hairpin: !!(f & P_HAIRPIN), up: !!(f & P_UP) };
  }

  /** Port carrier up/down; going down forgets its dynamic entries (br_stp_disable_port). */
  setPortUp(port: number, up: boolean): void {
    this.checkPort(port);
    if (up) this.pflags[port]! |= P_UP;
    else {
      this.pflags[port]! &= ~P_UP;
      this.fdb.removePort(port, false);
    }
  }

  private checkPort(port: number): void {
    if (!(port >= 1 && port < this.portNames.length && (this.pflags[port]! & P_ACTIVE) !== 0)) throw new RangeError(`${this.name}: ${port} is not a bridge port`);
  }

  private rebuildOrder(): void {
    const ps: number[] = [];
    for (let p = 1; p < this.portNames.length; p++) if (this.pflags[p]! & P_ACTIVE) ps.push(p);
    ps.sort((a, b) => this.portSeq[b]! - this.portSeq[a]!);
    if (ps.length + 1 > this.targets.length) {
      this.order = new Int32Array(this.portNames.length * 2);
      this.targets = new Int32Array(this.portNames.length * 2);
    }
    this.order.set(ps);
    this.orderLen = ps.length;
  }

  private growPorts(n: number): void {
    const f = new Uint8Array(n), m = new Float64Array(n).fill(-1), s = new Float64Array(n);
    f.set(this.pflags);
    m.set(this.portMac);
    s.set(this.portSeq);
    this.pflags = f;
    this.portMac = m;
    this.portSeq = s;
  }

  // ---- FDB administration (cold) ---------------------------------------------------------------

  /** `bridge fdb replace MAC dev PORT master static|permanent|dynamic`. */
  fdbAdd(mac: number, port: number, state: FdbState = "static"): void {
    if (port !== 0) this.checkPort(port);
    const flags = state === "permanent" ? FDB_LOCAL | FDB_STATIC : state === "static" ? FDB_STATIC : 0;
    this.fdb.add(macHi(mac), macLo(mac), port, flags, this.now());
    if (state === "dynamic" && this.engine) this.rearm(this.now());
  }

  /** `bridge fdb del MAC`; false if absent. */
  fdbDel(mac: number): boolean {
    return this.fdb.remove(macHi(mac), macLo(mac));
  }

  /** `ip link set BR type bridge fdb_flush`: every dynamic entry goes. */
  fdbFlush(): number {
    return this.fdb.flushDynamic();
  }

  /** Port of the entry for `mac`, or -1. */
  fdbLookup(mac: number): number {
    const i = this.fdb.find(macHi(mac), macLo(mac));
    return i < 0 ? -1 : this.fdb.portAt(i);
  }

  /** `ip link set BR type bridge ageing_time`: takes effect at once (the kernel reruns its sweep). */
  setAgeingTime(ns: number): void {
    if (!(ns >= 0)) throw new RangeError(`ageing time ${ns} must be >= 0`);
    this.ageingTime = ns;
    this.sweep(this.now());
  }

  /** The `bridge fdb show` lines for this bridge and its ports (bridge-fdb-show.ts). */
  fdbShow(opts: { self?: boolean } = {}): string {
    return fdbShowLines(this, opts.self ?? true).join("\n");
  }

  counters(): Record<string, number> {
    const out: Record<string, number> = {};
    BRIDGE_EVENTS.forEach((e, i) => (out[e] = this.events[i]!));
    return out;
  }

  private sweep(now: number): void {
    this.events[EV_AGED]! += this.fdb.age(now, this.ageingTime);
    if (this.engine) this.rearm(now);
  }

  private rearm(now: number): void {
    const clock = this.engine.clock;
    if (this.fdb.dynamic === 0) return clock.cancel(this.timer);
    clock.arm(this.timer, Math.max(this.fdb.expiry(this.ageingTime), now + MIN_SWEEP_GAP));
  }

  /** Learning outcomes other than a plain refresh (rare), and trace lines. */
  protected learnedEvent(r: number, s: number, hi: number, lo: number, port: number, now: number): void {
    const ev = this.events;
    if (r === LEARN_NEW) {
      ev[EV_LEARNED]!++;
      if (!this.timer.armed) this.engine.clock.arm(this.timer, now + this.ageingTime);
    } else if (r === LEARN_MOVED) ev[EV_MOVED]!++;
    else if (r === LEARN_LOCAL) ev[EV_OWN]!++;
    else if (r === LEARN_FULL) ev[EV_FULL]!++;
    if ((this.engine.arena.flags[s]! & PKT_TRACE) === 0) return;
    const m = formatMac(macOf(hi, lo));
    const text = ["refreshed", "learned", "moved", "not learned (one of the bridge's own addresses)", "not learned (fdb full)"][r]!;
    this.engine.trace.note(s, this, `${m} ${text}${r <= LEARN_MOVED ? ` on ${this.portNames[port]}` : ""}`);
  }
}
