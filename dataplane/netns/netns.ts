// A network namespace: the emulated Linux IPv4 stack of a host or container.
//
// Ports: one per interface (ifindex = port index), wired to a veth peer or a bridge port.
// In: Ethernet frames. Out: frames on its interfaces; packets for local sockets are delivered.
// Per packet (in):  L2 filter (our MAC, broadcast, multicast) → ARP (reply for local addresses
//   and proxy ARP, learn the sender) | IPv4 (header and checksum checks → local delivery:
//   ICMP echo answered, UDP to a bound socket or ICMP port unreachable | forwarding when
//   ip_forward: route lookup, TTL, MTU/DF, TTL decrement with incremental checksum, neighbour
//   resolution, new Ethernet header).
// Errors as Linux: net/host/prohibit unreachable from routes, time exceeded, fragmentation
//   needed, port unreachable, host unreachable after ARP failure; quoted and rate-limited as
//   net/ipv4/icmp.c does (icmp-error.ts, icmp-limit.ts).
// Netfilter: `netfilter` (null: no rules, one test per hook point) runs the iptables hooks and
//   conntrack/NAT on this stack's packets and on the bridges whose own interface is here
//   (netfilter/hooks.ts); `brNfCallIptables` is net.bridge.bridge-nf-call-iptables.
// Drop reasons: see REASONS. Configuration: interfaces, addresses, routes (fib), neighbours,
//   ip_forward, proxy_arp per interface.

import { Device } from "../engine/device.js";
import { Timer } from "../engine/clock.js";
import { PKT_TRACE } from "../../core/packet.js";
import { MAC_BROADCAST, formatIpv4, formatMac, cidr, macHi, macLo, parseCidr as parseCidrStrict, type Cidr } from "../../core/addr.js";
import { getU16, getU32, setU16, setU32, setU48 } from "../../core/bytes.js";
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_HEADER_LEN } from "../../core/wire/ethernet.js";
import { NeighTable, type NeighOwner, LINUX_NEIGH, NUD_NAMES, NUD_FAILED, NUD_INCOMPLETE } from "./neigh.js";
import { IcmpRateLimit } from "./icmp-limit.js";
import { Fib } from "./fib.js";
import { addAddressRoutes, ipRoute, showRoute, routeLookup, routeOif, routeType, RTN_UNICAST } from "./route.js";
import { fragmentAndSend } from "./fragment.js";
import { outputVia } from "./ip-output.js";
import { arpInput, sendArpRequest } from "./arp-proc.js";
import { ipInput } from "./ip-input.js";
import { hostUnreachable } from "./icmp-error.js";
import { PortTable } from "./port-table.js";
import { NF_REASONS } from "../netfilter/conntrack-bits.js";
import { IpIdGenerator, jiffies } from "../endpoint/ip-id.js";
import type { NsNetfilter } from "../netfilter/hooks.js";

export const REASONS = [
  "iface-down", "truncated", "other-host", "unknown-ethertype", "arp-invalid", "arp-not-for-us",
  "ip-header", "ip-checksum", "not-forwarding", "no-route", "blackhole", "unreachable-route", "prohibit-route",
  "ttl-expired", "frag-needed", "neigh-failed", "port-unreachable", "icmp-limited", "unknown-protocol", "martian",
  ...NF_REASONS,
] as const;

/** The packet was forwarded by this namespace (an ARP failure then yields host unreachable). */
export const PKT_FORWARDED = 1 << 1;
/** Netfilter (netfilter/hooks.ts): the namespace that last ran hooks on the packet keeps its
 *  conntrack reference in `netfilter.ref[slot]` (Linux's skb->_nfct). */
export const PKT_NFCT = 1 << 3;
/** A packet this stack built about another one (ICMP error, TCP reset) carries that packet's
 *  connection as RELATED into OUTPUT (nf_ct_attach). */
export const PKT_NF_ATTACHED = 1 << 4;
/** This namespace's bridge ran PREROUTING on the frame it hands up (br_netfilter): the stack
 *  does not run it again (ip_sabotage_in). */
export const PKT_BRNF = 1 << 5;
/** A bridged frame DNATed to a neighbour being resolved by this stack: once resolved it goes
 *  back to its bridge (br_nf_pre_routing_finish_bridge_slow). */
export const PKT_BRNF_DNAT = 1 << 6;

/** A bridge as this stack sees it: where a bridged DNAT frame resumes (bridge.ts). */
export interface BridgeResume {
  resumeBridgedDnat(slot: number, mac: number): void;
}

export interface Address {
  addr: number;
  len: number;
}

/** What a socket bound in the namespace receives: it must deliver or drop the slot. */
export type UdpHandler = (ns: Netns, slot: number, ipOff: number, udpOff: number) => void;

export class Netns extends Device implements NeighOwner {
  readonly r: { [K in (typeof REASONS)[number]]: number };
  readonly fib = new Fib();
  neigh!: NeighTable;
  readonly icmpLimit = new IcmpRateLimit();
  ipForward = false;
  // per interface (index = port)
  mac = new Float64Array(8);
  /** Each interface's MAC as top 16 / low 32 bits (int32), for writing frames: set with setMac. */
  macHi = new Int32Array(8);
  macLo = new Int32Array(8);
  mtu = new Int32Array(8);
  up = new Uint8Array(8);
  proxyArp = new Uint8Array(8);
  /** Proxy ARP reply delay (ns): Linux's proxy_delay default 0.8 s (randomised), Calico sets 0. */
  proxyDelay = new Float64Array(8);
  readonly addrs: Address[][] = [];
  /** Local addresses (hot copy): address and interface. */
  localAddr = new Uint32Array(8);
  localIf = new Int32Array(8);
  nLocal = 0;
  /** UDP handlers by local port (a bound socket). */
  readonly udp = new PortTable<UdpHandler>();
  /** Local ICMP other than echo requests (echo replies, errors), for sockets (dataplane/endpoint):
   *  like a UdpHandler it must deliver or drop the slot. Null: delivered to the stack. */
  icmp: UdpHandler | null = null;
  /** Local TCP segments, for the TCP layer (dataplane/endpoint/tcp.ts): like a UdpHandler it must
   *  deliver or drop the slot. Null: delivered to the stack. */
  tcp: UdpHandler | null = null;
  /** Makes a namespace's TCP layer on the first segment for it (set by endpoint/tcp.ts when it is
   *  loaded): every Linux namespace has one, and a SYN to a closed port is answered with a RST. */
  static tcpLayer: ((ns: Netns) => void) | null = null;
  /** IPv4 id of a packet the stack builds itself (echo reply, ICMP error; DF clear): the hashed
   *  per-destination generator (endpoint/ip-id.ts), as Linux's ICMP socket takes it. Addresses
   *  in int32 form. */
  ipIdent: (src: number, dst: number, proto: number) => number = () => 0;
  /** iptables rules and conntrack (null: none). */
  netfilter: NsNetfilter | null = null;
  /** net.bridge.bridge-nf-call-iptables (1 in a new namespace once br_netfilter is loaded). */
  brNfCallIptables = true;
  // delayed transmissions (proxy ARP replies): a small ring sorted by time
  private readonly lateSlot = new Int32Array(64);
  private readonly latePort = new Int32Array(64);
  private readonly lateAt = new Float64Array(64);
  private nLate = 0;
  private readonly lateTimer = new Timer("proxy-delay", () => this.sendLate());

  constructor(name: string) {
    super(name, REASONS);
    const r = {} as Record<string, number>;
    for (const x of REASONS) r[x] = this.reason(x);
    this.r = r as Netns["r"];
  }

  override attached(): void {
    const rng = this.engine.rng.fork(this.name);
    this.neigh = new NeighTable(this.engine, this, rng.fork("neigh"), LINUX_NEIGH);
    const clock = this.engine.clock;
    let ids: IpIdGenerator | null = null; // made on first use (20 KB of tables)
    this.ipIdent = (src, dst, proto) => (ids ??= new IpIdGenerator(rng.fork("ip-id"))).next(dst, src, proto, jiffies(clock.now));
  }

  // ---- configuration (cold) ---------------------------------------------------------------

  addInterface(name: string, mac: number, mtu = 1500): number {
    const i = this.addPort(name);
    if (i >= this.mac.length) this.growIf(this.mac.length * 2);
    this.setMac(i, mac);
    this.mtu[i] = mtu;
    this.up[i] = 1;
    this.addrs[i] = [];
    if (this.netfilter !== null) this.netfilter.interfacesChanged();
    return i;
  }

  /** Set interface `i`'s MAC (both representations). */
  setMac(i: number, mac: number): void {
    this.mac[i] = mac;
    this.macHi[i] = macHi(mac);
    this.macLo[i] = macLo(mac);
  }

  private growIf(n: number): void {
    const f = <T extends Float64Array | Int32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.mac = f(this.mac, (k) => new Float64Array(k));
    this.macHi = f(this.macHi, (k) => new Int32Array(k));
    this.macLo = f(this.macLo, (k) => new Int32Array(k));
    this.mtu = f(this.mtu, (k) => new Int32Array(k));
    this.up = f(this.up, (k) => new Uint8Array(k));
    this.proxyArp = f(this.proxyArp, (k) => new Uint8Array(k));
    this.proxyDelay = f(this.proxyDelay, (k) => new Float64Array(k));
  }

  ifindex(name: string): number {
    const i = this.portIndex(name);
    if (i < 0) throw new Error(`${this.name}: no interface "${name}"`);
    return i;
  }

  /** `ip addr add ADDR/LEN dev IF`: also adds the connected route (proto kernel scope link src ADDR). */
  addAddress(ifname: string, c: Cidr | string): void {
    const i = this.ifindex(ifname);
    const a = typeof c === "string" ? parseCidrStrict(c) : c;
    this.addrs[i]!.push({ addr: a.addr, len: a.len });
    if (this.nLocal === this.localAddr.length) {
      const la = new Uint32Array(this.nLocal * 2);
      la.set(this.localAddr);
      this.localAddr = la;
      const li = new Int32Array(this.nLocal * 2);
      li.set(this.localIf);
      this.localIf = li;
    }
    this.localAddr[this.nLocal] = a.addr;
    this.localIf[this.nLocal++] = i;
    addAddressRoutes(this, i, a.addr, a.len);
  }

  /** `ip route add ARGS`, e.g. "default via 172.17.0.1 dev eth0" or "unreachable 10.1.0.0/16". */
  route(args: string, verb: "add" | "replace" | "del" = "add"): void {
    ipRoute(this, verb, args);
  }

  dumpRoute(): string {
    return showRoute(this);
  }

  setUp(ifname: string, up: boolean): void {
    this.up[this.ifindex(ifname)] = up ? 1 : 0;
  }

  /**
   * Send an IPv4 packet built elsewhere (traffic generators, tests) as this namespace would send
   * a locally generated one: route by destination, resolve the next hop, add the Ethernet header.
   * Returns the slot, or -1 (no buffer, no route: counted).
   */
  originate(ipPacket: Uint8Array, trace = false): number {
    const e = this.engine;
    const s = e.alloc(this);
    if (s < 0) return -1;
    const a = e.arena;
    if (!a.setLen(s, ETH_HEADER_LEN + ipPacket.length)) {
      e.drop(this, this.r.truncated, s);
      return -1;
    }
    a.bytes.set(ipPacket, a.start(s) + ETH_HEADER_LEN);
    if (trace) e.trace.mark(s);
    const dst = getU32(a.bytes, a.start(s) + ETH_HEADER_LEN + 16);
    const r = routeLookup(this, dst);
    if (r < 0 || routeType(this, r) !== RTN_UNICAST) {
      e.drop(this, this.r["no-route"], s);
      return -1;
    }
    const mtu = this.mtu[routeOif(this, r)]!;
    if (ipPacket.length > mtu) {
      // a local sender: DF (IP_PMTUDISC_DO/WANT) gets EMSGSIZE, otherwise the stack fragments
      if (ipPacket[6]! & 0x40) {
        e.drop(this, this.r["frag-needed"], s);
        return -1;
      }
      if (this.netfilter !== null) this.netfilter.localOut(s, r, dst | 0);
      else fragmentAndSend(this, s, r, dst, mtu);
      return s;
    }
    if (this.netfilter !== null) this.netfilter.localOut(s, r, dst | 0);
    else outputVia(this, s, r, dst);
    return s;
  }

  // ---- lookups used per packet -------------------------------------------------------------

  /** Interface of a local address (int32 or uint32 form), or -1. */
  localIfOf(a: number): number {
    const la = this.localAddr;
    a |= 0;
    for (let k = 0; k < this.nLocal; k++) if ((la[k]! | 0) === a) return this.localIf[k]!;
    return -1;
  }

  /** Source address for talking to `dst` out of `ifindex` (inet_select_addr): an address of the
   *  interface in dst's subnet, else the interface's first, else any local address, else 0. */
  selectSource(ifindex: number, dst: number): number {
    const list = this.addrs[ifindex];
    if (list && list.length) {
      for (const a of list) if (a.len > 0 && ((a.addr ^ dst) >>> (32 - a.len)) === 0) return a.addr;
      return list[0]!.addr;
    }
    return this.nLocal ? this.localAddr[0]! : 0;
  }

  // ---- the device ---------------------------------------------------------------------------

  process(slots: Int32Array, n: number): void {
    // with netfilter, the batch goes through its established-flow path (fast-path.ts), which
    // hands every other frame to receiveFrame
    if (this.netfilter !== null) return this.netfilter.receiveBatch(slots, n);
    for (let k = 0; k < n; k++) this.receiveFrame(slots[k]!);
  }

  /** A received frame through the stack: the interface, the Ethernet header, then IPv4 or ARP. */
  receiveFrame(s: number): void {
    const e = this.engine;
    const a = e.arena;
    const b = a.bytes;
    const r = this.r;
    const port = a.port[s]!;
    if (this.up[port] === 0) return this.dropIn(s, r["iface-down"]);
    const off = a.start(s);
    const len = a.len[s]!;
    if (len < ETH_HEADER_LEN) return this.dropIn(s, r.truncated);
    // PACKET_OTHERHOST: not our MAC, not broadcast/multicast (group bit); compared as int32
    // halves (no 48-bit double per frame)
    const ours = ((b[off]! << 8) | b[off + 1]!) === this.macHi[port] && ((b[off + 2]! << 24) | (b[off + 3]! << 16) | (b[off + 4]! << 8) | b[off + 5]!) === this.macLo[port];
    if (!ours && (b[off]! & 1) === 0) return e.drop(this, r["other-host"], s);
    const type = getU16(b, off + 12);
    if (type === ETHERTYPE_IPV4) ipInput(this, s, port, off, len);
    else if (type === ETHERTYPE_ARP) arpInput(this, s, port, off, len);
    else e.drop(this, r["unknown-ethertype"], s);
  }

  /** Drop a received packet before the stack took it (a frame of this namespace's bridge keeps
   *  an unconfirmed conntrack entry, which goes with it). */
  dropIn(s: number, reason: number): void {
    if (this.netfilter !== null && (this.engine.arena.flags[s]! & PKT_BRNF) !== 0) this.netfilter.release(s);
    this.engine.drop(this, reason, s);
  }

  /** Write the Ethernet header (IPv4) in front of the packet's IP header and transmit on `ifindex`. */
  sendEth(slot: number, ifindex: number, dstMac: number): void {
    const a = this.engine.arena;
    const off = a.start(slot);
    setU48(a.bytes, off, dstMac);
    setU48(a.bytes, off + 6, this.mac[ifindex]!);
    setU16(a.bytes, off + 12, ETHERTYPE_IPV4);
    if (a.flags[slot]! & PKT_TRACE) this.engine.trace.note(slot, this, `out ${this.portNames[ifindex]} to ${formatMac(dstMac)}`);
    this.engine.transmit(this, ifindex, slot);
  }

  /** sendEth to the MAC of neighbour entry `entry` (the per-packet output path: no 48-bit MAC
   *  crosses a call, see NeighTable.resolveEntry). */
  sendEthNeigh(slot: number, ifindex: number, entry: number): void {
    const a = this.engine.arena;
    const off = a.start(slot);
    const b = a.bytes;
    const nt = this.neigh;
    const dhi = nt.macHi[entry]!, shi = this.macHi[ifindex]!;
    b[off] = dhi >>> 8;
    b[off + 1] = dhi;
    setU32(b, off + 2, nt.macLo[entry]!);
    b[off + 6] = shi >>> 8;
    b[off + 7] = shi;
    setU32(b, off + 8, this.macLo[ifindex]!);
    b[off + 12] = 0x08; // ETHERTYPE_IPV4
    b[off + 13] = 0x00;
    if (a.flags[slot]! & PKT_TRACE) this.engine.trace.note(slot, this, `out ${this.portNames[ifindex]} to ${formatMac(this.neigh.mac[entry]!)}`);
    this.engine.transmit(this, ifindex, slot);
  }

  /** Queue a frame for transmission after `delay` ns (proxy ARP's proxy_delay). */
  sendLater(slot: number, ifindex: number, delay: number): void {
    if (this.nLate === this.lateSlot.length) return this.engine.drop(this, this.r["arp-invalid"], slot);
    const at = this.engine.clock.now + delay;
    let i = this.nLate++;
    while (i > 0 && this.lateAt[i - 1]! > at) {
      this.lateSlot[i] = this.lateSlot[i - 1]!;
      this.latePort[i] = this.latePort[i - 1]!;
      this.lateAt[i] = this.lateAt[i - 1]!;
      i--;
    }
    this.lateSlot[i] = slot;
    this.latePort[i] = ifindex;
    this.lateAt[i] = at;
    this.engine.clock.arm(this.lateTimer, this.lateAt[0]!);
  }

  private sendLate(): void {
    const now = this.engine.clock.now;
    let k = 0;
    while (k < this.nLate && this.lateAt[k]! <= now) {
      this.engine.transmit(this, this.latePort[k]!, this.lateSlot[k]!);
      k++;
    }
    this.lateSlot.copyWithin(0, k, this.nLate);
    this.latePort.copyWithin(0, k, this.nLate);
    this.lateAt.copyWithin(0, k, this.nLate);
    this.nLate -= k;
    if (this.nLate) this.engine.clock.arm(this.lateTimer, this.lateAt[0]!);
  }

  override held(): number {
    return this.neigh.held() + this.nLate;
  }

  // ---- NeighOwner -----------------------------------------------------------------------------

  solicit(ifindex: number, ip: number, mac: number): void {
    sendArpRequest(this, ifindex, ip, mac);
  }

  resolved(ifindex: number, mac: number, slot: number): void {
    if (this.engine.arena.flags[slot]! & PKT_BRNF_DNAT) {
      (this.engine.devices[this.peerDev[ifindex]!] as unknown as BridgeResume).resumeBridgedDnat(slot, mac);
      return;
    }
    this.sendEth(slot, ifindex, mac);
  }

  unresolved(ifindex: number, ip: number, slot: number): void {
    const a = this.engine.arena;
    if (a.flags[slot]! & PKT_TRACE) this.engine.trace.note(slot, this, `neighbour ${formatIpv4(ip)} on ${this.portNames[ifindex]} failed`);
    if (a.flags[slot]! & PKT_BRNF_DNAT) {
      // a bridged DNAT frame: dropped without an error, as the neighbour layer drops it
      a.flags[slot] = (a.flags[slot]! & ~PKT_BRNF_DNAT) | PKT_BRNF;
      this.dropIn(slot, this.r["neigh-failed"]);
      return;
    }
    if (a.flags[slot]! & PKT_FORWARDED) hostUnreachable(this, slot);
    else this.engine.drop(this, this.r["neigh-failed"], slot);
  }

  // ---- dumps (cold) ---------------------------------------------------------------------------

  /** `ip neigh show`: `10.0.1.254 dev eth0 lladdr 02:00:00:00:01:fe REACHABLE` (FAILED/INCOMPLETE without lladdr). */
  dumpNeigh(): string {
    return this.neigh
      .entries()
      .map((n) => {
        const st = NUD_NAMES[n.state]!;
        const ll = n.state === NUD_FAILED || n.state === NUD_INCOMPLETE ? "" : ` lladdr ${formatMac(n.mac)}`;
        return `${formatIpv4(n.ip)} dev ${this.portNames[n.ifindex]}${ll} ${st}`;
      })
      .join("\n");
  }

  /** `ip -4 addr` style. */
  dumpAddr(): string {
    const out: string[] = [];
    this.portNames.forEach((name, i) => {
      out.push(`${i + 1}: ${name}: <BROADCAST,MULTICAST${this.up[i] ? ",UP,LOWER_UP" : ""}> mtu ${this.mtu[i]} state ${this.up[i] ? "UP" : "DOWN"}`);
      out.push(`    link/ether ${formatMac(this.mac[i]!)} brd ${formatMac(MAC_BROADCAST)}`);
      for (const a of this.addrs[i] ?? []) {
        const c = cidr(a.addr, a.len);
        const brd = a.len < 31 ? ` brd ${formatIpv4((c.network | ~c.mask) >>> 0)}` : "";
        out.push(`    inet ${formatIpv4(a.addr)}/${a.len}${brd} scope global ${name}`);
      }
    });
    return out.join("\n");
  }
}
