// The Container Network Model of one Docker daemon (libnetwork's controller): networks made by a
// driver, endpoints on a network (an address from IPAM, a MAC, a veth), sandboxes (a container's
// network namespace) that endpoints join and leave. Lifecycle and errors as libnetwork and the
// daemon have them:
//
//   const c = startDaemon({ host: "host1", seed: 1 });     // networks none, host, bridge (docker0)
//   const net = c.createNetwork("net1", "bridge");           // 172.18.0.0/16, br-<12 hex of its id>
//   const sb = c.newSandbox("web", { ports: [{ hostPort: 8080, containerPort: 80, proto: "tcp" }] });
//   const ep = c.createEndpoint(net, "web");                 // 172.18.0.2, 02:42:ac:12:00:02, veth<7 hex>
//   c.join(ep, sb);                                          // eth0 in namespace "web"
//   c.ops(); c.rules(); c.proxies(); c.announces();          // what the dataplane is built from
//   c.leave(ep, sb); c.deleteEndpoint(ep); c.deleteNetwork(net);
//
// The model is the state; `ops()` renders the state as it is into Topology ops (host namespace
// settings, each network's devices in creation order, each sandbox's namespace and interfaces in
// creation order, Docker's iptables rules last), so deleted objects leave nothing behind.
// A sandbox's default route goes through its gateway endpoint: among its endpoints on networks
// with a gateway (not internal), the one whose network name sorts first (libnetwork's endpoint
// ordering with equal priorities). Published ports belong to the sandbox and are programmed on
// the gateway endpoint's network (ProgramExternalConnectivity); host ports are allocated per
// daemon, refused when taken ("Bind for 0.0.0.0:8080 failed: port is already allocated").
// IDs, veth names and MACs come from streams of the seeded RNG forked by host name: a seed gives
// the same daemon every time.
// Not modelled: IPv6, network/endpoint priorities and labels, swarm scope, DNS, link-local
// addresses, exposed ports without bindings, automatic host port allocation (ports are explicit).

import type { TopologyOp } from "../dataplane/config.js";
import type { Impairment } from "../dataplane/devices/link.js";
import type { PlanAnnounce, PlanProxy } from "../dataplane/plan.js";
import { dockerRulesText, type DockerPortBinding, type DockerRulesSpec } from "../dataplane/netfilter/docker-rules.js";
import { Rng } from "../dataplane/engine/rng.js";
import { formatIpv4, parseCidr, parseIpv4, type Cidr } from "../core/addr.js";
import { DockerError, Ipam, type AddressPool } from "./ipam.js";
import { ANNOUNCE_COUNT, ANNOUNCE_INTERVAL_NS, containerIfName, randomId, type MacProfile } from "./mac.js";
import { nullDriver } from "./drivers/null.js";
import { hostDriver } from "./drivers/host.js";
import { bridgeDriver } from "./drivers/bridge.js";

export { DockerError };

export type DriverType = "null" | "host" | "bridge";

/** `docker network create` options (bridge driver's -o options by their meaning). */
export interface NetworkOptions {
  subnet?: string;
  gateway?: string;
  /** com.docker.network.bridge.enable_icc (default true). */
  icc?: boolean;
  /** com.docker.network.bridge.enable_ip_masquerade (default true). */
  ipMasq?: boolean;
  /** --internal (default false). */
  internal?: boolean;
  /** com.docker.network.driver.mtu. */
  mtu?: number;
  /** com.docker.network.bridge.name. */
  bridgeName?: string;
}

/** `--ip`, `--mac-address`. */
export interface EndpointOptions {
  ip?: string;
  mac?: string;
}

/** A sandbox's published ports: `-p [hostIp:]hostPort:containerPort/proto`. */
export type PortBinding = DockerPortBinding;

/** netem/tbf on an endpoint's container-side interface: what it sends, what it receives. */
export interface EndpointImpair {
  egress?: Impairment;
  ingress?: Impairment;
}

/** A network driver (libnetwork's driverapi.Driver, turned towards Topology ops). */
export interface Driver {
  readonly type: DriverType;
  /** Whether its networks get an address pool and a gateway (host and null get none). */
  readonly usesIpam: boolean;
  createNetwork(c: Controller, nw: Network): void;
  deleteNetwork(c: Controller, nw: Network): void;
  createEndpoint(c: Controller, nw: Network, ep: Endpoint, opts: EndpointOptions): void;
  deleteEndpoint(c: Controller, nw: Network, ep: Endpoint): void;
  join(c: Controller, nw: Network, ep: Endpoint, sb: Sandbox): void;
  leave(c: Controller, nw: Network, ep: Endpoint, sb: Sandbox): void;
  /** Ops creating the network's devices in the host namespace. */
  renderNetwork(c: Controller, nw: Network, out: TopologyOp[]): void;
  /** Ops giving a joined endpoint its interface in the sandbox. */
  renderEndpoint(c: Controller, nw: Network, ep: Endpoint, sb: Sandbox, out: TopologyOp[], impair: EndpointImpair | undefined): void;
}

export class Network {
  readonly endpoints: Endpoint[] = [];
  pool: AddressPool | null = null;
  /** Gateway address (0: none). */
  gateway = 0;
  /** Bridge driver: the bridge interface and its MAC. */
  bridge: string | null = null;
  bridgeMac = 0;

  constructor(
    readonly id: string,
    readonly name: string,
    readonly driver: Driver,
    readonly options: Readonly<NetworkOptions> & { icc: boolean; ipMasq: boolean; internal: boolean },
    /** One of the daemon's own networks (none, host, bridge): cannot be removed. */
    readonly predefined: boolean,
  ) {}

  /** The subnet (null without IPAM). */
  get subnet(): Cidr | null {
    return this.pool?.subnet ?? null;
  }
}

export class Endpoint {
  /** Address (0: none) and MAC (-1: none). */
  ip = 0;
  mac = -1;
  /** Bridge driver: the host-side veth name. */
  hostVeth: string | null = null;
  /** Container-side interface name, once joined. */
  ifname: string | null = null;
  sandbox: Sandbox | null = null;
  /** Order of joining across the daemon (containers in start order). */
  joinSeq = -1;

  constructor(readonly id: string, readonly name: string, readonly network: Network) {}
}

export class Sandbox {
  /** Joined endpoints, in join order. */
  readonly endpoints: Endpoint[] = [];
  private nextIf = 0;
  portsBound = false;

  constructor(
    readonly id: string,
    readonly container: string,
    /** Its network namespace: the container's name, or the host's for the default sandbox. */
    readonly ns: string,
    /** The host's own namespace (network mode host). */
    readonly isDefault: boolean,
    readonly ports: readonly PortBinding[],
  ) {}

  /** The next container-side interface name (indices are not reused after a leave). */
  nextIfName(): string {
    return containerIfName(this.nextIf++);
  }

  /** The endpoint giving the default route and the published ports, or null. */
  gatewayEndpoint(): Endpoint | null {
    let best: Endpoint | null = null;
    for (const ep of this.endpoints) {
      if (ep.network.gateway === 0 || ep.network.options.internal) continue;
      if (best === null || ep.network.name < best.network.name) best = ep;
    }
    return best;
  }
}

export interface ControllerOptions {
  /** The host's name, which is also its namespace's. */
  host: string;
  seed: number;
  /** Docker's generation: MACs, announcements and the iptables layout (default classic). */
  profile?: MacProfile;
  /** --userland-proxy (default true). */
  userlandProxy?: boolean;
  /** Prefixes IPAM's default pools must avoid: the host's on-link subnets (CIDR text). */
  reserved?: string[];
}

interface Bound {
  proto: string;
  hostIp: string;
  hostPort: number;
  sandbox: Sandbox;
}

export class Controller {
  readonly host: string;
  readonly profile: MacProfile;
  readonly userlandProxy: boolean;
  readonly ipam: Ipam;
  /** Independent streams, so that adding a container does not change a network's ID. */
  readonly rng: { ids: Rng; veth: Rng; mac: Rng };
  private readonly drivers = new Map<string, Driver>();
  private readonly nets: Network[] = [];
  private readonly boxes: Sandbox[] = [];
  private readonly bound: Bound[] = [];
  private readonly veths = new Set<string>();
  private joins = 0;

  constructor(opts: ControllerOptions) {
    this.host = opts.host;
    this.profile = opts.profile ?? "classic";
    this.userlandProxy = opts.userlandProxy ?? true;
    this.ipam = new Ipam((opts.reserved ?? []).map((r) => parseCidr(r)));
    const root = new Rng(opts.seed).fork(`docker ${opts.host}`);
    this.rng = { ids: root.fork("ids"), veth: root.fork("veth"), mac: root.fork("mac") };
    for (const d of [nullDriver, hostDriver, bridgeDriver]) this.registerDriver(d);
  }

  registerDriver(d: Driver): void {
    this.drivers.set(d.type, d);
  }

  // ---- networks -------------------------------------------------------------------------------

  /** `docker network create -d TYPE NAME`. */
  createNetwork(name: string, type: string, opts: NetworkOptions = {}, predefined = false): Network {
    if (this.nets.some((n) => n.name === name)) throw new DockerError(`network with name ${name} already exists`);
    const driver = this.drivers.get(type);
    if (!driver) throw new DockerError(`network ${name}: plugin "${type}" not found`);
    if (!driver.usesIpam && this.nets.some((n) => n.driver === driver)) throw new DockerError(`network ${name}: only one instance of "${type}" network is allowed`);
    const options = { ...opts, icc: opts.icc ?? true, ipMasq: opts.ipMasq ?? true, internal: opts.internal ?? false };
    const nw = new Network(randomId(this.rng.ids), name, driver, options, predefined);
    if (driver.usesIpam) {
      if (opts.gateway !== undefined && opts.subnet === undefined) throw new DockerError(`network ${name}: gateway ${opts.gateway} needs a subnet`);
      nw.pool = context(`network ${name}`, () => this.ipam.requestPool(opts.subnet));
      try {
        nw.gateway = opts.gateway === undefined ? nw.pool.requestAny() : requestGateway(nw.pool, opts.gateway);
        driver.createNetwork(this, nw);
      } catch (e) {
        this.ipam.releasePool(nw.pool);
        throw e instanceof DockerError && !e.message.startsWith("network ") ? new DockerError(`network ${name}: ${e.message}`) : e;
      }
    } else {
      if (opts.subnet !== undefined || opts.gateway !== undefined) throw new DockerError(`network ${name}: the ${type} driver takes no subnet or gateway`);
      driver.createNetwork(this, nw);
    }
    this.nets.push(nw);
    return nw;
  }

  /** The network named `name` (or with that ID). */
  network(name: string): Network {
    const nw = this.nets.find((n) => n.name === name || n.id === name);
    if (!nw) throw new DockerError(`network ${name} not found`);
    return nw;
  }

  networks(): readonly Network[] {
    return this.nets;
  }

  /** `docker network rm`: refused for the daemon's own networks and while endpoints exist. */
  deleteNetwork(nw: Network): void {
    this.live(nw);
    if (nw.predefined) throw new DockerError(`${nw.name} is a pre-defined network and cannot be removed`);
    if (nw.endpoints.length > 0) throw new DockerError(`error while removing network: network ${nw.name} id ${nw.id} has active endpoints`);
    nw.driver.deleteNetwork(this, nw);
    if (nw.pool) this.ipam.releasePool(nw.pool);
    this.nets.splice(this.nets.indexOf(nw), 1);
  }

  // ---- endpoints ------------------------------------------------------------------------------

  /** An endpoint named `name` (the container's name) on `nw`: its address and MAC. */
  createEndpoint(nw: Network, name: string, opts: EndpointOptions = {}): Endpoint {
    this.live(nw);
    if (nw.endpoints.some((e) => e.name === name)) throw new DockerError(`endpoint with name ${name} already exists in network ${nw.name}`);
    const ep = new Endpoint(randomId(this.rng.ids), name, nw);
    const where = `container ${name} on network ${nw.name}`;
    if (nw.pool) {
      if (opts.ip !== undefined) {
        if (nw.predefined) throw new DockerError(`${where}: user specified IP address is supported on user defined networks only`);
        if (nw.options.subnet === undefined) throw new DockerError(`${where}: user specified IP address is supported only when connecting to networks with user configured subnets`);
        const pool = nw.pool;
        ep.ip = context(where, () => pool.request(parseIp(opts.ip!)));
      } else {
        try {
          ep.ip = nw.pool.requestAny();
        } catch {
          throw new DockerError(`${where}: no available IPv4 addresses on this network's address pools: ${nw.name} (${nw.id})`);
        }
      }
    } else if (opts.ip !== undefined) throw new DockerError(`${where}: the ${nw.driver.type} network gives no addresses (--ip ${opts.ip})`);
    try {
      context(where, () => nw.driver.createEndpoint(this, nw, ep, opts));
    } catch (e) {
      if (nw.pool && ep.ip !== 0) nw.pool.release(ep.ip);
      throw e;
    }
    nw.endpoints.push(ep);
    return ep;
  }

  /** Remove an endpoint: refused while a sandbox has it; its address is free again. */
  deleteEndpoint(ep: Endpoint): void {
    const nw = ep.network;
    if (!nw.endpoints.includes(ep)) throw new DockerError(`endpoint ${ep.name} on network ${nw.name}: no such endpoint`);
    if (ep.sandbox) throw new DockerError(`endpoint with name ${ep.name} id ${ep.id} has active containers`);
    nw.driver.deleteEndpoint(this, nw, ep);
    if (nw.pool && ep.ip !== 0) nw.pool.release(ep.ip);
    nw.endpoints.splice(nw.endpoints.indexOf(ep), 1);
  }

  // ---- sandboxes ------------------------------------------------------------------------------

  /** A container's sandbox: its own namespace (named after it), or the host's (`useHostNs`). */
  newSandbox(container: string, opts: { useHostNs?: boolean; ports?: readonly PortBinding[] } = {}): Sandbox {
    if (this.boxes.some((b) => b.container === container)) throw new DockerError(`container ${container}: a sandbox exists already`);
    const host = opts.useHostNs ?? false;
    const sb = new Sandbox(randomId(this.rng.ids), container, host ? this.host : container, host, opts.ports ?? []);
    this.boxes.push(sb);
    return sb;
  }

  sandbox(container: string): Sandbox {
    const sb = this.boxes.find((b) => b.container === container);
    if (!sb) throw new DockerError(`No such container: ${container}`);
    return sb;
  }

  sandboxes(): readonly Sandbox[] {
    return this.boxes;
  }

  /** `docker rm`: every endpoint leaves and is deleted, then the sandbox goes. */
  deleteSandbox(sb: Sandbox): void {
    for (const ep of [...sb.endpoints]) {
      this.leave(ep, sb);
      this.deleteEndpoint(ep);
    }
    this.boxes.splice(this.boxes.indexOf(sb), 1);
  }

  /** Attach `ep` to `sb`: its interface appears in the sandbox (eth0, eth1, ...). */
  join(ep: Endpoint, sb: Sandbox): void {
    const nw = ep.network;
    if (!nw.endpoints.includes(ep)) throw new DockerError(`endpoint ${ep.name} on network ${nw.name}: no such endpoint`);
    if (!this.boxes.includes(sb)) throw new DockerError(`container ${sb.container}: no such sandbox`);
    if (ep.sandbox) throw new DockerError(`container ${sb.container}: another container is attached to the same network endpoint (${ep.name} on ${nw.name})`);
    if (sb.endpoints.some((e) => e.network === nw)) throw new DockerError(`container ${sb.container} is already attached to network ${nw.name}`);
    if (nw.driver.type === "host" || sb.endpoints.some((e) => e.network.driver.type === "host")) {
      if (sb.endpoints.length > 0) throw new DockerError(`container ${sb.container}: container cannot be disconnected from host network or connected to host network`);
    }
    if (nw.driver.type === "null" || sb.endpoints.some((e) => e.network.driver.type === "null")) {
      if (sb.endpoints.length > 0) throw new DockerError(`container ${sb.container}: container cannot be connected to multiple networks with one of the networks in private (none) mode`);
    }
    if ((nw.driver.type === "host") !== sb.isDefault) throw new DockerError(`container ${sb.container}: ${sb.isDefault ? "a container in the host's namespace can only be on the host network" : "the host network needs the host's namespace"}`);
    // ports are bound when the sandbox first gets a gateway endpoint: check before changing anything
    if (!sb.portsBound && sb.ports.length > 0 && nw.gateway !== 0 && !nw.options.internal) this.checkPorts(sb, ep);
    nw.driver.join(this, nw, ep, sb);
    ep.sandbox = sb;
    ep.joinSeq = this.joins++;
    sb.endpoints.push(ep);
    if (!sb.portsBound && sb.ports.length > 0 && sb.gatewayEndpoint() !== null) this.bindPorts(sb);
  }

  /** Detach `ep` from `sb` (`docker network disconnect`). */
  leave(ep: Endpoint, sb: Sandbox): void {
    if (ep.sandbox !== sb) throw new DockerError(`container ${sb.container} is not connected to network ${ep.network.name}`);
    ep.network.driver.leave(this, ep.network, ep, sb);
    sb.endpoints.splice(sb.endpoints.indexOf(ep), 1);
    ep.sandbox = null;
    ep.ifname = null;
    ep.joinSeq = -1;
    if (sb.portsBound && sb.gatewayEndpoint() === null) this.unbindPorts(sb);
  }

  // ---- names the drivers share ----------------------------------------------------------------

  /** Whether a host-side veth name is in use on this host; take and release one. */
  vethTaken(name: string): boolean {
    return this.veths.has(name);
  }

  takeVeth(name: string): void {
    this.veths.add(name);
  }

  releaseVeth(name: string): void {
    this.veths.delete(name);
  }

  // ---- what the dataplane is built from --------------------------------------------------------

  /** The daemon's devices as Topology ops, in the host namespace (which must exist already)
   *  and the sandboxes' namespaces. `impair` gives an endpoint's netem by its container-side ref. */
  ops(impair: (ref: string) => EndpointImpair | undefined = () => undefined): TopologyOp[] {
    const out: TopologyOp[] = [{ op: "sysctl", ns: this.host, key: "net.ipv4.ip_forward", value: 1 }];
    for (const nw of this.nets) nw.driver.renderNetwork(this, nw, out);
    for (const sb of this.boxes) {
      if (!sb.isDefault) out.push({ op: "netns", name: sb.ns });
      for (const ep of sb.endpoints) ep.network.driver.renderEndpoint(this, ep.network, ep, sb, out, ep.ifname === null ? undefined : impair(`${sb.ns}/${ep.ifname}`));
      const gw = sb.isDefault ? null : sb.gatewayEndpoint();
      if (gw) out.push({ op: "route", ns: sb.ns, args: `default via ${formatIpv4(gw.network.gateway)} dev ${gw.ifname}` });
    }
    // br_netfilter: Docker turns bridge-nf-call-iptables on when a network has icc off or the
    // userland proxy is off (hairpin NAT needs bridged frames to see nat)
    if (!this.userlandProxy || this.bridgeNets().some((n) => !n.options.icc)) out.push({ op: "sysctl", ns: this.host, key: "net.bridge.bridge-nf-call-iptables", value: 1 });
    out.push({ op: "iptables", ns: this.host, rules: dockerRulesText(this.rules()) });
    return out;
  }

  /** dockerRules' spec: bridge networks in creation order, their endpoints in start order, each
   *  sandbox's ports on its gateway endpoint. FORWARD policy DROP: the daemon turned
   *  ip_forward on itself (a fresh namespace has it off). */
  rules(): DockerRulesSpec {
    return {
      profile: this.profile === "classic" ? "classic" : "current",
      userlandProxy: this.userlandProxy,
      forwardPolicy: "DROP",
      networks: this.bridgeNets().map((nw) => ({
        bridge: nw.bridge!,
        subnet: `${formatIpv4(nw.subnet!.network)}/${nw.subnet!.len}`,
        icc: nw.options.icc,
        ipMasq: nw.options.ipMasq,
        internal: nw.options.internal,
        containers: joined(nw).map((ep) => ({ ip: formatIpv4(ep.ip), ports: ep.sandbox!.gatewayEndpoint() === ep ? [...ep.sandbox!.ports] : [] })),
      })),
    };
  }

  /** docker-proxy processes (userland-proxy on): one per published port. */
  proxies(): PlanProxy[] {
    if (!this.userlandProxy) return [];
    const out: PlanProxy[] = [];
    for (const sb of this.boxes) {
      const gw = sb.gatewayEndpoint();
      if (!gw || !sb.portsBound) continue;
      const udpReplyFrom = this.profile === "modern" ? "destination" : "route";
      for (const p of sb.ports) out.push({ ns: this.host, proto: p.proto, hostIp: p.hostIp ?? "0.0.0.0", hostPort: p.hostPort, dst: formatIpv4(gw.ip), dport: p.containerPort, ...(p.proto === "udp" ? { udpReplyFrom } : {}) });
    }
    return out;
  }

  /** Unsolicited ARPs of the modern profile: every bridge endpoint, on start. */
  announces(): PlanAnnounce[] {
    if (this.profile !== "modern") return [];
    const out: PlanAnnounce[] = [];
    for (const sb of this.boxes) {
      for (const ep of sb.endpoints) {
        if (ep.network.driver.type !== "bridge") continue;
        out.push({ ref: `${sb.ns}/${ep.ifname}`, ip: formatIpv4(ep.ip), count: ANNOUNCE_COUNT, intervalNs: ANNOUNCE_INTERVAL_NS, startNs: 0 });
      }
    }
    return out;
  }

  // ---- internals ------------------------------------------------------------------------------

  private bridgeNets(): Network[] {
    return this.nets.filter((n) => n.driver.type === "bridge");
  }

  private live(nw: Network): void {
    if (!this.nets.includes(nw)) throw new DockerError(`network ${nw.name} not found`);
  }

  /** Refuse ports another sandbox holds (same protocol and port, addresses overlapping). */
  private checkPorts(sb: Sandbox, ep: Endpoint): void {
    const seen: PortBinding[] = [];
    for (const p of sb.ports) {
      const ip = p.hostIp ?? "0.0.0.0";
      const clash = this.bound.some((b) => b.proto === p.proto && b.hostPort === p.hostPort && (b.hostIp === ip || b.hostIp === "0.0.0.0" || ip === "0.0.0.0"));
      const self = seen.some((q) => q.proto === p.proto && q.hostPort === p.hostPort && ((q.hostIp ?? "0.0.0.0") === ip || q.hostIp === undefined || ip === "0.0.0.0"));
      if (clash || self) throw new DockerError(`container ${sb.container}: driver failed programming external connectivity on endpoint ${ep.name} (${ep.id}): Bind for ${ip}:${p.hostPort} failed: port is already allocated`);
      seen.push(p);
    }
  }

  private bindPorts(sb: Sandbox): void {
    for (const p of sb.ports) this.bound.push({ proto: p.proto, hostIp: p.hostIp ?? "0.0.0.0", hostPort: p.hostPort, sandbox: sb });
    sb.portsBound = true;
  }

  private unbindPorts(sb: Sandbox): void {
    for (let i = this.bound.length - 1; i >= 0; i--) if (this.bound[i]!.sandbox === sb) this.bound.splice(i, 1);
    sb.portsBound = false;
  }
}

/** A daemon as `dockerd` starts it: the drivers and its networks none, host and bridge
 *  (docker0, with --icc and --ip-masq and any --bip-like settings in `bridge`). */
export function startDaemon(opts: ControllerOptions & { icc?: boolean; ipMasq?: boolean; bridge?: NetworkOptions }): Controller {
  const c = new Controller(opts);
  c.createNetwork("none", "null", {}, true);
  c.createNetwork("host", "host", {}, true);
  c.createNetwork("bridge", "bridge", { ...opts.bridge, icc: opts.icc ?? true, ipMasq: opts.ipMasq ?? true, internal: false }, true);
  return c;
}

/** Endpoints of `nw` joined to a sandbox, in start order. */
function joined(nw: Network): Endpoint[] {
  return nw.endpoints.filter((e) => e.sandbox !== null).sort((a, b) => a.joinSeq - b.joinSeq);
}

function parseIp(text: string): number {
  try {
    return parseIpv4(text);
  } catch (e) {
    throw new DockerError(`invalid IPv4 address: ${(e as Error).message}`);
  }
}

function requestGateway(pool: AddressPool, gw: string): number {
  const ip = parseIp(gw);
  if (!((ip & pool.subnet.mask) >>> 0 === pool.subnet.network)) throw new DockerError(`no matching subnet for gateway ${gw}`);
  return pool.request(ip);
}

/** Run `f`; a DockerError from it gets `where` in front. */
function context<T>(where: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof DockerError && !e.message.startsWith(where)) throw new DockerError(`${where}: ${e.message}`, { cause: e });
    throw e;
  }
}
