// Topology: the typed API that builds a dataplane by name, in iproute2's vocabulary, for the
// Docker model (and tests, benchmarks) to drive. It owns an Engine and its devices; everything is
// named as on a Linux host: namespaces by name, interfaces by `<namespace>/<ifname>` refs.
//
//   t.netns("host"); t.netns("c2");
//   t.bridge("host/docker0", { mac: "02:42:5e:1a:2b:3c" });   ip link add docker0 type bridge
//   t.addr("host/docker0", "172.17.0.1/16");                  ip addr add ... dev docker0
//   t.veth({ a: "host/vethc2", b: "c2/eth0" });                ip link add vethc2 type veth peer eth0 netns c2
//   t.master("host/vethc2", "docker0");                        ip link set vethc2 master docker0
//   t.addr("c2/eth0", "172.17.0.2/16"); t.route("c2", "default via 172.17.0.1 dev eth0");
//   t.sysctl("host", "net.ipv4.ip_forward", 1); t.capture(sink, "all"); t.run(10e9);
//   t.iptables("host", dockerRules({...}) or iptables-save text);  t.iptablesSave("host", { counters: true });
//   t.conntrack("host");                                        conntrack -L
//
// How the pieces map onto devices:
// - A namespace is a Netns device named after it; an interface of it is one of its ports.
// - A bridge is a Bridge device named after it; its own L3 interface (`host/docker0`) is a port
//   of its namespace wired to bridge port 0, as on Linux where the bridge device is the host's
//   interface.
// - A veth pair has no device of its own: its two ends are wired port to port, with a Link
//   device (netem/tbf) between them when impaired (`impair.ab` shapes what a sends to b).
// - A veth end is created *pending*: it becomes a namespace interface when first used as one
//   (addr, a route or neighbour on it, proxy_arp, dev(), a dump of its namespace, capture, run),
//   or a bridge port with `master`. An enslaved end carries no L3 on Linux (the bridge's
//   rx_handler takes every frame it receives), so here the host-side end *is* the bridge port:
//   port `vethc2` of docker0, captured as `host/vethc2`. Enslave an end before using it at L3.
//   An end may also be given without a namespace (`a: "vethc2"`): it can only become a port,
//   and then lives in its bridge's namespace.
// - The pair is wired once both ends exist; until then the end that exists has no carrier.
//   `run` makes every pending end in a namespace its interface first (calling `engine.run`
//   directly leaves pending ends out of the graph).
//   An impaired pair's Link is named `veth:<a>-<b>` after the refs as given.
// - Netfilter: `iptables` loads rules into a namespace (iptables-restore: the tables given replace
//   those of the same name); conntrack starts when they need it (a nat table or a conntrack
//   match). A bridge's netfilter is its namespace's (br_netfilter, bridge.ts), on while
//   net.bridge.bridge-nf-call-iptables is 1 (the default).
// - Capture points are `<namespace>/<ifname>`, a bridge port's namespace being its bridge's.
//   A point taps the interface's device side, so frames a qdisc of that end drops (netem loss)
//   are seen as sent; Linux's tcpdump would not see them.
// Interfaces start up (as after `ip link set ... up`), MTU 1500; MACs not given are random from
// the engine's seed (fixed per interface name), as Linux gives veths and bridges random ones.
// Errors are TopologyError with a message naming what was wrong, and a call that throws has
// changed nothing, except a route the FIB refuses (File exists): its devices stay interfaces.
// Cold path only: nothing here runs per packet.
// Not supported: deleting links, `nomaster` or moving a port to another bridge, moving an
// interface to another namespace, changing a bridge's MAC;
// different namespaces (bridges and namespaces are engine devices, named uniquely). A port's
// MTU is kept but not enforced; a down veth end drops what arrives (`iface-down`) rather than
// taking its peer's carrier away. `ip(ns, "addr")` lists the namespace's L3 interfaces only,
// not the bridge ports that live in it (see `fdb`).

import { Engine, type Conservation, type EngineOptions } from "./engine/engine.js";
import type { Capture } from "./engine/capture.js";
import type { Device } from "./engine/device.js";
import { Netns } from "./netns/netns.js";
import { parseRoute } from "./netns/route-format.js";
import { Bridge } from "./devices/bridge.js";
import type { BridgePortFlags } from "./devices/bridge-control.js";
import { Link, isImpaired, type LinkConfig } from "./devices/link.js";
import { formatCidr, formatMac, macIsMulticast, parseCidr, parseIpv4, parseMac } from "../core/addr.js";
import { NsNetfilter, type NetfilterOptions } from "./netfilter/hooks.js";
import { parseIptablesSave, formatIptablesSave } from "./netfilter/iptables-save.js";
import { syncCounters, type Ruleset } from "./netfilter/rules.js";
import { formatConntrackList } from "./netfilter/conntrack-dump.js";
import type { CaptureSink } from "../core/pcap/index.js";

export class TopologyError extends Error {
  override name = "TopologyError";
}

/** A MAC as text ("02:42:ac:11:00:02") or as its 48-bit number. */
export type Mac = string | number;

export interface BridgeSpec {
  mac?: Mac;
  /** FDB ageing, ns (Linux's default 300 s); 0 learns nothing. */
  ageingTime?: number;
  /** Learned FDB entries at most (fdb_max_learned; 0 = unlimited). */
  fdbMax?: number;
  promisc?: boolean;
  /** IPv6 on in its namespace (affects only `bridge fdb show`'s multicast lines). */
  ipv6?: boolean;
  mtu?: number;
}

export interface VethSpec {
  /** `<namespace>/<ifname>`, or a bare `<ifname>` for an end that will only be a bridge port. */
  a: string;
  b: string;
  /** a's MAC; `peerMac` b's. */
  mac?: Mac;
  peerMac?: Mac;
  /** Both ends' MTU (default 1500). */
  mtu?: number;
  /** Both ends up (default true). */
  up?: boolean;
  /** `ab`: netem/tbf on a's egress (what a sends to b); `ba`: on b's. */
  impair?: LinkConfig;
}

export interface NeighSpec {
  dev: string;
  ip: string;
  mac: Mac;
  /** `nud permanent` (iproute2's default for `ip neigh add`); false: `nud stale`. */
  permanent?: boolean;
}

export interface LinkSettings {
  up?: boolean;
  mtu?: number;
  mac?: Mac;
}

/** What a ref names in the engine. `bridge` of an interface: the bridge whose own interface it
 *  is (null for a veth end); `link`: the Link of an impaired veth (null when plain). */
export type DevInfo =
  | { kind: "interface"; ref: string; ns: Netns; port: number; bridge: Bridge | null; link: Link | null }
  | { kind: "bridge-port"; ref: string; bridge: Bridge; port: number; link: Link | null }
  | { kind: "detached"; ref: string; link: Link | null };

interface NsRec {
  dev: Netns;
  ifs: Map<string, End>;
}

interface BridgeRec {
  dev: Bridge;
  ns: string;
  self: End;
  ports: End[];
}

interface Veth {
  a: End;
  b: End;
  link: Link | null;
  wired: boolean;
}

interface End {
  ns: string | null;
  name: string;
  mac: number;
  mtu: number;
  up: boolean;
  state: "pending" | "interface" | "port";
  device: Device | null;
  port: number;
  /** The bridge this end is a port of, or whose own interface it is. */
  bridge: BridgeRec | null;
  veth: Veth | null;
}

const IFNAMSIZ = 16;
const refOf = (e: End): string => (e.ns === null ? e.name : `${e.ns}/${e.name}`);

export class Topology {
  readonly engine: Engine;
  private readonly spaces = new Map<string, NsRec>();
  private readonly bridges = new Map<string, BridgeRec>();
  /** Veth ends given without a namespace, not yet enslaved. */
  private readonly loose = new Map<string, End>();
  /** Veth ends not yet in the engine, and ends in it (interfaces, ports) in creation order. */
  private readonly pending: End[] = [];
  private readonly attached: End[] = [];

  constructor(opts: EngineOptions = {}) {
    this.engine = new Engine(opts);
  }

  // ---- building -----------------------------------------------------------------------------

  /** `ip netns add NAME`. */
  netns(name: string): Netns {
    checkNsName(name);
    if (this.spaces.has(name)) throw new TopologyError(`"${name}": namespace exists already`);
    this.checkDeviceName(name, "namespace");
    const dev = this.engine.add(new Netns(name));
    this.spaces.set(name, { dev, ifs: new Map() });
    return dev;
  }

  /** `ip link add NAME type bridge` in a namespace: `bridge("host/docker0", {...})`. */
  bridge(ref: string, spec: BridgeSpec = {}): Bridge {
    const { ns, name } = this.newRef(ref);
    if (ns === null) throw new TopologyError(`"${ref}": a bridge is named "<namespace>/<ifname>" (its own interface lives in a namespace)`);
    const key = `${ns}/${name}`;
    if (this.bridges.has(key)) throw new TopologyError(`bridge "${key}" exists already`);
    this.checkDeviceName(key, "bridge");
    const mac = spec.mac === undefined ? this.randomMac(ref) : macOf(ref, spec.mac);
    const mtu = mtuOf(ref, spec.mtu);
    const { ageingTime, fdbMax, promisc, ipv6 } = spec;
    if (ageingTime !== undefined && !(ageingTime >= 0)) throw new TopologyError(`bridge ${name}: ageingTime ${ageingTime} must be >= 0 ns`);
    if (fdbMax !== undefined && !(Number.isInteger(fdbMax) && fdbMax >= 0)) throw new TopologyError(`bridge ${name}: fdbMax ${fdbMax} must be an integer >= 0`);
    const rec = this.spaces.get(ns)!;
    const dev = this.engine.add(new Bridge(key, { mac, ageingTime, maxLearned: fdbMax, promisc, ipv6, ifname: name }));
    const self = newEnd(ns, name, mac, mtu, true);
    const br: BridgeRec = { dev, ns, self, ports: [] };
    self.bridge = br;
    rec.ifs.set(name, self);
    this.bridges.set(key, br);
    this.toInterface(self);
    this.engine.connect(rec.dev, self.port, dev, 0);
    dev.nfNs = rec.dev;
    dev.nfIf = self.port;
    return dev;
  }

  /** `ip link add A type veth peer B`: both ends, each pending until used (see the header). */
  veth(spec: VethSpec): void {
    const a = this.newRef(spec.a);
    const b = this.newRef(spec.b);
    if (spec.a === spec.b) throw new TopologyError(`"${spec.a}": both ends of a veth have the same name`);
    const mtu = mtuOf(spec.a, spec.mtu);
    const up = spec.up ?? true;
    const ea = newEnd(a.ns, a.name, spec.mac === undefined ? this.randomMac(spec.a) : macOf(spec.a, spec.mac), mtu, up);
    const eb = newEnd(b.ns, b.name, spec.peerMac === undefined ? this.randomMac(spec.b) : macOf(spec.b, spec.peerMac), mtu, up);
    // The Link is made now so that a bad impairment is refused here (its constructor checks it);
    // it joins the engine when the pair is wired.
    let link: Link | null = null;
    if (isImpaired(spec.impair?.ab) || isImpaired(spec.impair?.ba)) link = attempt(`veth ${spec.a} ${spec.b}`, () => new Link(`veth:${spec.a}-${spec.b}`, spec.impair));
    const v: Veth = { a: ea, b: eb, link, wired: false };
    for (const e of [ea, eb]) {
      e.veth = v;
      if (e.ns === null) this.loose.set(e.name, e);
      else this.spaces.get(e.ns)!.ifs.set(e.name, e);
      this.pending.push(e);
    }
  }

  /** `ip link set END master BRIDGE`: the end becomes a port of the bridge (see the header).
   *  Returns the bridge port's index. */
  master(ref: string, bridgeName: string): number {
    const e = this.end(ref);
    const br = this.findBridge(bridgeName, e.ns);
    if (e.state === "port") {
      if (e.bridge === br) return e.port;
      throw new TopologyError(`"${ref}" is a port of bridge ${e.bridge!.self.name} already (moving a port is not supported)`);
    }
    if (e.veth === null) throw new TopologyError(`"${ref}" is bridge ${e.bridge!.self.name}'s own interface: it cannot be a bridge port`);
    if (e.state === "interface") throw new TopologyError(`"${ref}" is in use as an interface of namespace ${e.ns} (addresses, routes, capture or run made it one): enslave a veth end before using it`);
    if (e.ns !== null && e.ns !== br.ns) throw new TopologyError(`"${ref}" is in namespace ${e.ns} but bridge ${bridgeName} in ${br.ns}: a port and its bridge share a namespace`);
    if (e.ns === null) {
      const ifs = this.spaces.get(br.ns)!.ifs;
      if (ifs.has(e.name)) throw new TopologyError(`"${br.ns}/${e.name}" exists already`);
      this.loose.delete(e.name);
      e.ns = br.ns;
      ifs.set(e.name, e);
    }
    this.pending.splice(this.pending.indexOf(e), 1);
    e.port = br.dev.addPort(e.name, { mac: e.mac, up: e.up && br.self.up });
    e.device = br.dev;
    e.bridge = br;
    e.state = "port";
    br.ports.push(e);
    this.attach(e);
    return e.port;
  }

  /** `bridge link set dev PORT hairpin on|off learning on|off flood ...`: a bridge port's flags. */
  brport(ref: string, flags: Partial<BridgePortFlags>): void {
    const d = this.dev(ref);
    if (d.kind !== "bridge-port") throw new TopologyError(`"${ref}" is not a bridge port (${d.kind === "interface" ? "an interface of its namespace" : "not enslaved"})`);
    d.bridge.setPortFlags(d.port, flags);
  }

  /** `ip addr add CIDR dev IF`. */
  addr(ref: string, cidrText: string): void {
    const c = attempt(ref, () => parseCidr(cidrText));
    const e = this.l3(ref, "an address");
    const ns = this.spaces.get(e.ns!)!.dev;
    if (ns.addrs[e.port]!.some((a) => a.addr === c.addr && a.len === c.len)) throw new TopologyError(`"${ref}": address ${formatCidr(c)} exists already`);
    ns.addAddress(e.name, c);
  }

  /** `ip route add|replace|del ARGS` in namespace `ns`, e.g. "default via 172.17.0.1 dev eth0". */
  route(nsName: string, args: string, verb: "add" | "replace" | "del" = "add"): void {
    const rec = this.space(nsName);
    const context = `${nsName}: ip route ${verb} ${args}`;
    // A dry parse finds syntax errors and the devices named before any end is made an interface.
    const devs: End[] = [];
    const devIndex = (name: string): number => {
      const e = rec.ifs.get(name);
      if (!e) return 0; // parseRoute's "Cannot find device"
      devs.push(e);
      return 1;
    };
    attempt(context, () => parseRoute(args, devIndex));
    for (const e of devs) this.checkL3(e, "a route");
    for (const e of devs) this.l3(refOf(e), "a route");
    attempt(context, () => rec.dev.route(args, verb));
  }

  /** `ip neigh replace IP lladdr MAC dev DEV nud permanent|stale` in namespace `ns`. */
  neigh(nsName: string, spec: NeighSpec): void {
    const rec = this.space(nsName);
    const ref = `${nsName}/${spec.dev}`;
    if (!rec.ifs.has(spec.dev)) throw new TopologyError(`"${ref}": no such interface`);
    const ip = attempt(`${ref}: neighbour`, () => parseIpv4(spec.ip));
    const mac = macOf(ref, spec.mac);
    const e = this.l3(ref, "a neighbour");
    if (spec.permanent === false) rec.dev.neigh.learn(e.port, ip, mac, false, true);
    else if (!rec.dev.neigh.addPermanent(e.port, ip, mac)) throw new TopologyError(`"${ref}": neighbour table full, ${spec.ip} not added`);
  }

  /** `ip link set IF up|down mtu N address MAC`. */
  linkSet(ref: string, s: LinkSettings): void {
    const e = this.end(ref);
    const mtu = s.mtu === undefined ? e.mtu : mtuOf(ref, s.mtu);
    const mac = s.mac === undefined ? e.mac : macOf(ref, s.mac);
    const br = e.bridge;
    if (br && e.veth === null && mac !== e.mac) throw new TopologyError(`"${ref}": changing bridge ${br.self.name}'s MAC is not supported`);
    if (e.state === "interface") {
      const ns = e.device as Netns;
      ns.mtu[e.port] = mtu;
      ns.setMac(e.port, mac);
      if (s.up !== undefined) ns.setUp(e.name, s.up);
    } else if (e.state === "port" && br) {
      if (mac !== e.mac) {
        br.dev.fdbDel(e.mac);
        br.dev.portMac[e.port] = mac;
        br.dev.fdbAdd(mac, e.port, "permanent");
      }
      if (s.up !== undefined) br.dev.setPortUp(e.port, s.up && br.self.up);
    }
    e.mtu = mtu;
    e.mac = mac;
    if (s.up !== undefined) e.up = s.up;
    // A bridge that goes down stops forwarding: its ports are disabled (br_stp_disable_bridge),
    // which forgets their learned entries; up again, each port follows its own state.
    if (br && e.veth === null && s.up !== undefined) for (const p of br.ports) br.dev.setPortUp(p.port, p.up && s.up);
  }

  /**
   * `iptables-restore` in namespace `ns`: `rules` as iptables-save text or a Ruleset (e.g.
   * dockerRules). The tables given replace those of the same name; the others stay. The first call
   * starts the namespace's netfilter (`opts`: conntrack sysctls, used when conntrack starts).
   */
  iptables(nsName: string, rules: string | Ruleset, opts: NetfilterOptions = {}): void {
    const ns = this.space(nsName).dev;
    const context = `${nsName}: iptables-restore`;
    const rs = typeof rules === "string" ? attempt(context, () => parseIptablesSave(rules, context)) : rules;
    attempt(context, () => {
      if (ns.netfilter === null) ns.netfilter = new NsNetfilter(ns, rs, opts);
      else ns.netfilter.restore(rs);
    });
  }

  /** `iptables-save` (with `counters`: `iptables-save -c`) of namespace `ns`; "" without rules. */
  iptablesSave(nsName: string, opts: { counters?: boolean } = {}): string {
    const nf = this.space(nsName).dev.netfilter;
    if (nf === null) return "";
    return formatIptablesSave(syncCounters(nf.c), { counters: opts.counters ?? false });
  }

  /** `conntrack -L` in namespace `ns`: one line per confirmed entry, oldest first. */
  conntrack(nsName: string): string[] {
    const nf = this.space(nsName).dev.netfilter;
    return nf === null || nf.ct === null ? [] : formatConntrackList(nf.ct);
  }

  /**
   * `sysctl -w KEY=VALUE` in namespace `ns`. Supported: net.ipv4.ip_forward and
   * net.ipv4.conf.all.forwarding (0|1), net.ipv4.conf.IF.proxy_arp (0|1),
   * net.ipv4.neigh.IF.proxy_delay (in 1/100 s, as Linux's USER_HZ),
   * net.bridge.bridge-nf-call-iptables (0|1).
   */
  sysctl(nsName: string, key: string, value: number): void {
    const rec = this.space(nsName);
    const bool = (): boolean => {
      if (value !== 0 && value !== 1) throw new TopologyError(`${nsName}: sysctl ${key}=${value}: the value must be 0 or 1`);
      return value === 1;
    };
    if (key === "net.ipv4.ip_forward" || key === "net.ipv4.conf.all.forwarding") {
      rec.dev.ipForward = bool();
      return;
    }
    if (key === "net.bridge.bridge-nf-call-iptables") {
      rec.dev.brNfCallIptables = bool();
      return;
    }
    const perIf = /^net\.ipv4\.(conf|neigh)\.(.+)\.(proxy_arp|proxy_delay)$/.exec(key);
    if (!perIf || (perIf[1] === "conf") !== (perIf[3] === "proxy_arp")) {
      throw new TopologyError(`${nsName}: sysctl ${key}: not supported (supported: net.ipv4.ip_forward, net.ipv4.conf.all.forwarding, net.ipv4.conf.IF.proxy_arp, net.ipv4.neigh.IF.proxy_delay, net.bridge.bridge-nf-call-iptables)`);
    }
    const ref = `${nsName}/${perIf[2]!}`;
    if (!rec.ifs.has(perIf[2]!)) throw new TopologyError(`${nsName}: sysctl ${key}: "${ref}": no such interface`);
    if (perIf[3] === "proxy_arp") {
      const on = bool();
      rec.dev.proxyArp[this.l3(ref, key).port] = on ? 1 : 0;
    } else if (Number.isInteger(value) && value >= 0) rec.dev.proxyDelay[this.l3(ref, key).port] = value * 10e6;
    else throw new TopologyError(`${nsName}: sysctl ${key}=${value}: the value must be an integer >= 0 (1/100 s)`);
  }

  // ---- running and looking ------------------------------------------------------------------

  /** Open a pcapng capture on `sink` with the named points (`<namespace>/<ifname>`), or every
   *  interface and bridge port in the order they were created. */
  capture(sink: CaptureSink, points: readonly string[] | "all"): Capture {
    if (this.engine.capture) throw new TopologyError("capture: a capture is open already");
    const names = points === "all" ? this.allPoints() : points;
    for (const p of names) this.tapTarget(p);
    const cap = this.engine.openCapture(sink);
    this.tap(names);
    return cap;
  }

  /** Add capture points to the open capture. */
  tap(points: readonly string[]): void {
    if (!this.engine.capture) throw new TopologyError("tap: open a capture first (capture(sink, points))");
    for (const p of points) {
      const { device, port } = this.tapTarget(p);
      this.engine.tap(device, port, p);
    }
  }

  /** `ip netns exec NAME`: the namespace's device. */
  ns(name: string): Netns {
    return this.space(name).dev;
  }

  /** The bridge named `name`. */
  br(name: string): Bridge {
    return this.findBridge(name, null).dev;
  }

  /** A bridge by `<namespace>/<name>`, by name in namespace `ns`, or by a name only one
   *  namespace has (each host of a multi-host topology has its own docker0). */
  private findBridge(name: string, ns: string | null): BridgeRec {
    const exact = this.bridges.get(name.includes("/") ? name : `${ns}/${name}`);
    if (exact) return exact;
    if (name.includes("/")) throw new TopologyError(`"${name}": no such bridge`);
    const named = [...this.bridges.values()].filter((b) => b.self.name === name);
    if (named.length === 1) return named[0]!;
    if (named.length === 0) throw new TopologyError(`"${name}": no such bridge`);
    throw new TopologyError(`"${name}": ${named.length} bridges have this name (in ${named.map((b) => b.ns).join(", ")}): name one as <namespace>/${name}`);
  }

  /** What `ref` is in the engine (a pending end in a namespace becomes its interface). */
  dev(ref: string): DevInfo {
    const e = this.end(ref);
    if (e.state === "pending" && e.ns !== null) this.toInterface(e);
    const link = e.veth?.link ?? null;
    const r = refOf(e);
    if (e.state === "interface") return { kind: "interface", ref: r, ns: e.device as Netns, port: e.port, bridge: e.veth === null ? e.bridge!.dev : null, link };
    if (e.state === "port") return { kind: "bridge-port", ref: r, bridge: e.bridge!.dev, port: e.port, link };
    return { kind: "detached", ref: r, link };
  }

  /** Run the engine until `until` ns of virtual time (default: until nothing is left to do). */
  run(until = Infinity): void {
    this.settleAll(null);
    this.engine.run(until);
  }

  conservation(): Conservation {
    return this.engine.conservation();
  }

  /** `ip -4 addr`, `ip route`, `ip neigh` in namespace `ns`. Bridge ports are not listed. */
  ip(nsName: string, what: "addr" | "route" | "neigh"): string {
    const rec = this.space(nsName);
    this.settleAll(nsName);
    return what === "addr" ? rec.dev.dumpAddr() : what === "route" ? rec.dev.dumpRoute() : rec.dev.dumpNeigh();
  }

  /** The bridges whose own interface lives in namespace `ns`, by name, in creation order. */
  bridgesIn(nsName: string): string[] {
    this.space(nsName);
    return [...this.bridges.values()].filter((b) => b.ns === nsName).map((b) => b.self.name);
  }

  /** The namespaces, in creation order. */
  namespaces(): string[] {
    return [...this.spaces.keys()];
  }

  /** `bridge fdb show br BRIDGE`. */
  fdb(bridgeName: string): string {
    return this.findBridge(bridgeName, null).dev.fdbShow();
  }

  // ---- internals ----------------------------------------------------------------------------

  private space(name: string): NsRec {
    const rec = this.spaces.get(name);
    if (!rec) throw new TopologyError(`"${name}": no such namespace`);
    return rec;
  }

  private end(ref: string): End {
    const { ns, name } = splitRef(ref);
    const e = ns === null ? this.loose.get(name) : this.space(ns).ifs.get(name);
    if (!e) throw new TopologyError(`"${ref}": no such interface`);
    return e;
  }

  /** A ref for something about to be created: well formed, namespace known, name free. */
  private newRef(ref: string): { ns: string | null; name: string } {
    const r = splitRef(ref);
    if (r.ns !== null && this.space(r.ns).ifs.has(r.name)) throw new TopologyError(`"${ref}" exists already`);
    if (r.ns === null && this.loose.has(r.name)) throw new TopologyError(`"${ref}" exists already`);
    return r;
  }

  /** Namespaces and bridges are engine devices named after them: one name space for both. */
  private checkDeviceName(name: string, what: string): void {
    const d = this.engine.device(name);
    if (d) throw new TopologyError(`${what} "${name}": the name is taken by ${d instanceof Netns ? "namespace" : d instanceof Bridge ? "bridge" : "device"} ${name} (namespaces and bridges share one name space)`);
  }

  /** The end `ref` as an L3 interface of its namespace (made one if pending). */
  private l3(ref: string, what: string): End {
    const e = this.end(ref);
    this.checkL3(e, what);
    if (e.state === "pending") this.toInterface(e);
    return e;
  }

  private checkL3(e: End, what: string): void {
    const ref = refOf(e);
    if (e.state === "port") throw new TopologyError(`"${ref}" is a port of bridge ${e.bridge!.self.name}, not an interface of namespace ${e.ns} (use ${e.bridge!.ns}/${e.bridge!.self.name} for ${what})`);
    if (e.ns === null) throw new TopologyError(`"${ref}" is in no namespace: it can only be a bridge port`);
  }

  private toInterface(e: End): void {
    const ns = this.spaces.get(e.ns!)!.dev;
    e.port = ns.addInterface(e.name, e.mac, e.mtu);
    if (!e.up) ns.setUp(e.name, false);
    e.device = ns;
    e.state = "interface";
    const i = this.pending.indexOf(e);
    if (i >= 0) this.pending.splice(i, 1);
    this.attach(e);
  }

  /** Record that `e` exists in the engine, and wire its veth once both ends do. */
  private attach(e: End): void {
    this.attached.push(e);
    const v = e.veth;
    if (!v || v.wired || v.a.state === "pending" || v.b.state === "pending") return;
    const { a, b } = v;
    if (v.link) {
      this.engine.add(v.link);
      this.engine.connect(a.device!, a.port, v.link, 0);
      this.engine.connect(v.link, 1, b.device!, b.port);
    } else this.engine.connect(a.device!, a.port, b.device!, b.port);
    v.wired = true;
  }

  /** Make every pending end in a namespace (or in `only`) its interface, in creation order. */
  private settleAll(only: string | null): void {
    for (const e of this.pending.filter((p) => p.ns !== null && (only === null || p.ns === only))) this.toInterface(e);
  }

  private allPoints(): string[] {
    this.settleAll(null);
    return this.attached.map(refOf);
  }

  private tapTarget(point: string): { device: Device; port: number } {
    const e = this.end(point);
    if (e.state === "pending" && e.ns !== null) this.toInterface(e);
    if (e.state === "pending") throw new TopologyError(`capture "${point}": a veth end in no namespace and on no bridge has nothing to capture`);
    return { device: e.device!, port: e.port };
  }

  /** A random unicast, locally administered MAC, fixed by the seed and the interface's name. */
  private randomMac(ref: string): number {
    const r = this.engine.rng.fork(`mac ${ref}`);
    return ((r.u32() & 0xfeff) | 0x0200) * 2 ** 32 + r.u32();
  }
}

function newEnd(ns: string | null, name: string, mac: number, mtu: number, up: boolean): End {
  return { ns, name, mac, mtu, up, state: "pending", device: null, port: -1, bridge: null, veth: null };
}

/** `<namespace>/<ifname>` or `<ifname>`; names checked as Linux checks them. */
function splitRef(ref: string): { ns: string | null; name: string } {
  const slash = ref.indexOf("/");
  const ns = slash < 0 ? null : ref.slice(0, slash);
  const name = slash < 0 ? ref : ref.slice(slash + 1);
  if (ns !== null) checkNsName(ns, ref);
  // dev_valid_name: non-empty, shorter than IFNAMSIZ, not . or .., no '/', ':' or whitespace.
  if (name === "" || name === "." || name === ".." || /[\s/:]/.test(name)) throw new TopologyError(`"${ref}": "${name}" is not a valid interface name (refs are "<namespace>/<ifname>"; no '/', ':' or spaces in a name)`);
  if (name.length >= IFNAMSIZ) throw new TopologyError(`"${ref}": interface name "${name}" is ${name.length} characters, Linux allows at most ${IFNAMSIZ - 1}`);
  return { ns, name };
}

/** Namespace names are file names under /run/netns. */
function checkNsName(name: string, ref = name): void {
  if (name === "" || name === "." || name === ".." || /[\s/]/.test(name) || name.length > 255) throw new TopologyError(`${ref === name ? "" : `"${ref}": `}"${name}" is not a valid namespace name (1-255 characters, no '/' or spaces)`);
}

function macOf(ref: string, m: Mac): number {
  const v = typeof m === "number" ? m : attempt(ref, () => parseMac(m));
  if (!(Number.isInteger(v) && v >= 0 && v < 2 ** 48)) throw new TopologyError(`${ref}: MAC ${String(m)} must be a 48-bit number`);
  if (macIsMulticast(v)) throw new TopologyError(`${ref}: MAC ${formatMac(v)} is a multicast address; an interface needs a unicast one`);
  return v;
}

/** Linux's bounds for a veth (ETH_MIN_MTU 68, ETH_MAX_MTU 65535); default 1500. */
function mtuOf(ref: string, mtu: number | undefined): number {
  if (mtu === undefined) return 1500;
  if (!(Number.isInteger(mtu) && mtu >= 68 && mtu <= 65535)) throw new TopologyError(`${ref}: MTU ${mtu} must be an integer 68..65535`);
  return mtu;
}

/** Run `f`; an error from below becomes a TopologyError prefixed with `context`. */
function attempt<T>(context: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof TopologyError) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    throw new TopologyError(msg.startsWith(context) ? msg : `${context}: ${msg}`, { cause: err });
  }
}
