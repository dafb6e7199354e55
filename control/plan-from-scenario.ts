// From a validated scenario to a run plan: one Docker daemon (cnm.ts Controller) per Docker host,
// driven as the scenario's commands would be run, then everything rendered as plain data.
//
// - Hosts: each is a namespace named after it, with eth0 (its address) on a shared underlay LAN:
//   namespace "underlay" holding bridge "lan", one port per host (named after the host when
//   that is a valid interface name). A Docker host's daemon starts with networks none, host and
//   bridge (docker0); IPAM avoids the host's on-link subnet. A host with `docker: false` is a
//   plain machine.
// - Networks: the user-defined ones of each host, in file order (`docker network create`).
// - Containers: in file order (`docker run`): mode none (own namespace, loopback only), host (the
//   host's namespace), container:<name> (that container's namespace: no interfaces of its own),
//   or attached to its networks in order (eth0, eth1, ...); fixed addresses (--ip) take their
//   address, the others the lowest free one at that moment.
// - Traffic and expectations: `from` is the sender's namespace. `to` resolves to
//     a container: its address on a network the sender shares with it; from its own host, its
//       first address; otherwise, for a port it publishes (by container port, else host port),
//       its host's address (or the binding's address) and the host port; else its first address
//       (which the sender has no route to: unreachable, as on Docker);
//     a host: its address (a port published there is received by the container behind it);
//     an IPv4 literal: itself.
//   The sink is where the receiving application listens: the container's namespace and
//   container port for a published port, the target's namespace and port otherwise.
// - Captures pass through, with a container name that has no namespace of its own (modes host,
//   container:) replaced by the namespace it lives in.
// `describeState` gives the same model as names: which namespace each container and host lives
// in, and each interface's network, address, MAC and host-side veth. A seed gives the same plan.

import type { TopologyOp } from "../dataplane/config.js";
import type { Impairment } from "../dataplane/devices/link.js";
import type { PlanExpect, PlanSink, PlanTraffic, RunPlan } from "../dataplane/plan.js";
import type { ContainerSpec, HostSpec, LinkImpairSpec, NetworkSpec, Scenario } from "./scenario/types.js";
import { DockerError, startDaemon, type Controller, type EndpointImpair, type NetworkOptions, type Sandbox } from "./cnm.js";
import { formatCidr, formatIpv4, formatMac, isIpv4, parseCidr, cidr } from "../core/addr.js";

/** The namespace of the underlay LAN and its bridge. */
export const UNDERLAY_NS = "underlay";
export const UNDERLAY_BRIDGE = "lan";

export interface NetworkState {
  name: string;
  id: string;
  driver: string;
  /** Bridge interface (bridge driver), subnet and gateway (null without IPAM). */
  bridge: string | null;
  subnet: string | null;
  gateway: string | null;
  internal: boolean;
  icc: boolean;
}

export interface HostState {
  name: string;
  ns: string;
  /** eth0's address, CIDR. */
  address: string;
  docker: boolean;
  networks: NetworkState[];
}

export interface InterfaceState {
  ifname: string;
  network: string;
  ip: string;
  mac: string;
  /** The host end as `<host>/<veth>`. */
  hostVeth: string;
}

export interface ContainerState {
  name: string;
  host: string;
  mode: ContainerSpec["mode"];
  /** The namespace it lives in (its own, its host's, or the container's it shares). */
  ns: string;
  ownNs: boolean;
  interfaces: InterfaceState[];
}

export interface DockerState {
  hosts: HostState[];
  containers: ContainerState[];
}

interface HostRec {
  spec: HostSpec;
  ip: string;
  daemon: Controller | null;
}

interface ContainerRec {
  spec: ContainerSpec;
  host: HostRec;
  ns: string;
  /** Its own sandbox, the shared container's, or the default one (host mode); null for none. */
  sandbox: Sandbox | null;
}

interface Model {
  s: Scenario;
  hosts: Map<string, HostRec>;
  containers: Map<string, ContainerRec>;
}

/** The run plan of a scenario. Throws DockerError naming the object at fault. */
export function planFromScenario(s: Scenario): RunPlan {
  const m = buildModel(s);
  const impairs = impairments(m);
  const ops = render(m, impairs);
  const daemons = [...m.hosts.values()].flatMap((h) => (h.daemon ? [h.daemon] : []));
  return {
    config: { seed: s.seed, ops },
    traffic: s.traffic.map((t, i) => traffic(m, t, i)),
    expect: s.expect.map((e): PlanExpect => {
      const r = target(m, e.from, e.to, e.proto, e.port);
      return { label: `${e.from} -> ${e.to} ${e.proto}${e.port === undefined ? "" : `/${e.port}`}`, from: nsOf(m, e.from), dst: r.dst, proto: e.proto, port: r.dport, sink: r.sink, reachable: e.reachable };
    }),
    capture: s.capture === "all" ? "all" : s.capture.map((ref) => mapRef(m, ref)),
    report: [...s.hosts.map((h) => ({ ns: h.name, label: h.name })), ...s.containers.map((c) => ({ ns: m.containers.get(c.name)!.ns, label: c.name }))],
    proxies: daemons.flatMap((d) => d.proxies()),
    announce: daemons.flatMap((d) => d.announces()),
    ...(s.durationNs === undefined ? {} : { durationNs: s.durationNs }),
  };
}

/** Where every host and container lives, with its networks and interfaces. */
export function describeState(s: Scenario): DockerState {
  const m = buildModel(s);
  const hosts = s.hosts.map((h): HostState => {
    const d = m.hosts.get(h.name)!.daemon;
    const networks = (d?.networks() ?? []).map((n) => ({
      name: n.name,
      id: n.id,
      driver: n.driver.type,
      bridge: n.bridge,
      subnet: n.subnet ? formatCidr(n.subnet) : null,
      gateway: n.gateway ? formatIpv4(n.gateway) : null,
      internal: n.options.internal,
      icc: n.options.icc,
    }));
    return { name: h.name, ns: h.name, address: h.address, docker: h.docker, networks };
  });
  const containers = s.containers.map((c): ContainerState => {
    const r = m.containers.get(c.name)!;
    const interfaces = (r.sandbox?.endpoints ?? [])
      .filter((ep) => ep.ifname !== null)
      .map((ep) => ({ ifname: ep.ifname!, network: ep.network.name, ip: formatIpv4(ep.ip), mac: formatMac(ep.mac), hostVeth: `${r.host.spec.name}/${ep.hostVeth}` }));
    return { name: c.name, host: c.host, mode: c.mode, ns: r.ns, ownNs: r.ns === c.name, interfaces };
  });
  return { hosts, containers };
}

/** The namespace a host or container name lives in. */
export function namespaceOf(state: DockerState, name: string): string {
  const c = state.containers.find((x) => x.name === name);
  if (c) return c.ns;
  const h = state.hosts.find((x) => x.name === name);
  if (h) return h.ns;
  throw new DockerError(`"${name}": no such host or container`);
}

// ---- the daemons' state ------------------------------------------------------------------------

const PREDEFINED = new Set(["bridge", "host", "none"]);

function buildModel(s: Scenario): Model {
  const m: Model = { s, hosts: new Map(), containers: new Map() };
  const names = new Set<string>([UNDERLAY_NS]);
  const claim = (name: string, what: string) => {
    if (names.has(name)) throw new DockerError(`${what} "${name}": the name is taken (hosts, containers and "${UNDERLAY_NS}" share one namespace per name)`);
    names.add(name);
  };
  for (const h of s.hosts) {
    claim(h.name, "host");
    const a = parseCidr(h.address);
    const rec: HostRec = { spec: h, ip: formatIpv4(a.addr), daemon: null };
    if (h.docker) {
      const bridge = s.networks.find((n) => n.name === "bridge" && n.hosts.includes(h.name));
      rec.daemon = startDaemon({
        host: h.name,
        seed: s.seed,
        profile: s.profile,
        userlandProxy: h.userlandProxy,
        icc: h.icc,
        ipMasq: h.ipMasq,
        reserved: [formatCidr(cidr(a.network, a.len))],
        ...(bridge && { bridge: bridgeOptions(bridge) }),
      });
    }
    m.hosts.set(h.name, rec);
  }
  for (const n of s.networks) {
    if (PREDEFINED.has(n.name)) continue;
    for (const hn of n.hosts) {
      const h = m.hosts.get(hn);
      if (!h) throw new DockerError(`network ${n.name}: no host named "${hn}"`);
      if (!h.daemon) throw new DockerError(`network ${n.name}: host ${hn} runs no Docker daemon`);
      h.daemon.createNetwork(n.name, n.driver === "none" ? "null" : n.driver, { ...bridgeOptions(n), icc: n.icc, ipMasq: n.ipMasq, internal: n.internal });
    }
  }
  for (const c of s.containers) {
    claim(c.name, "container");
    m.containers.set(c.name, run(m, c));
  }
  return m;
}

function bridgeOptions(n: NetworkSpec): NetworkOptions {
  const o: NetworkOptions = {};
  if (n.subnet !== undefined) o.subnet = n.subnet;
  if (n.gateway !== undefined) o.gateway = n.gateway;
  if (n.mtu !== undefined) o.mtu = n.mtu;
  if (n.bridgeName !== undefined) o.bridgeName = n.bridgeName;
  return o;
}

/** `docker run` on the container's host. */
function run(m: Model, c: ContainerSpec): ContainerRec {
  const h = m.hosts.get(c.host);
  const where = `container ${c.name}`;
  if (!h) throw new DockerError(`${where}: no host named "${c.host}"`);
  const d = h.daemon;
  if (!d) throw new DockerError(`${where}: host ${c.host} runs no Docker daemon`);
  try {
    let mode = c.mode;
    const nets = c.networks.length > 0 ? c.networks : [{ network: "bridge" }];
    // `--network host` / `--network none` written as an attachment
    if (mode === "bridge" && nets.length === 1 && d.network(nets[0]!.network).driver.type !== "bridge") mode = d.network(nets[0]!.network).driver.type === "host" ? "host" : "none";
    if (mode.startsWith("container:")) {
      const other = m.containers.get(mode.slice("container:".length));
      if (!other || other.host !== h) throw new DockerError(`network mode ${mode}: No such container: ${mode.slice("container:".length)} (on host ${c.host}, started before it)`);
      if (c.ports.length > 0) throw new DockerError("conflicting options: port publishing and the container type network mode");
      if (c.mac !== undefined) throw new DockerError("conflicting options: mac-address and the network mode");
      return { spec: c, host: h, ns: other.ns, sandbox: other.sandbox };
    }
    const opts = c.mac === undefined ? {} : { mac: c.mac };
    if (mode === "host" || mode === "none") {
      // published ports are discarded in these modes (Docker warns)
      const sb = d.newSandbox(c.name, { useHostNs: mode === "host" });
      d.join(d.createEndpoint(d.network(mode), c.name, opts), sb);
      return { spec: c, host: h, ns: sb.ns, sandbox: sb };
    }
    const sb = d.newSandbox(c.name, { ports: c.ports.map((p) => ({ ...p })) });
    nets.forEach((a, i) => {
      const ep = d.createEndpoint(d.network(a.network), c.name, { ...(a.ip !== undefined && { ip: a.ip }), ...(i === 0 ? opts : {}) });
      d.join(ep, sb);
    });
    return { spec: c, host: h, ns: sb.ns, sandbox: sb };
  } catch (e) {
    if (e instanceof DockerError && !e.message.startsWith(where)) throw new DockerError(`${where}: ${e.message}`, { cause: e });
    throw e;
  }
}

// ---- rendering -----------------------------------------------------------------------------------

function render(m: Model, impairs: Map<string, EndpointImpair>): TopologyOp[] {
  const used = new Set<string>();
  const impair = (ref: string) => {
    used.add(ref);
    return impairs.get(ref);
  };
  const ops: TopologyOp[] = [
    { op: "netns", name: UNDERLAY_NS },
    { op: "bridge", ref: `${UNDERLAY_NS}/${UNDERLAY_BRIDGE}` },
  ];
  const ports = new Set<string>([UNDERLAY_BRIDGE]);
  m.s.hosts.forEach((h, i) => {
    const port = /^[^\s/:]{1,15}$/.test(h.name) && h.name !== "." && h.name !== ".." && !ports.has(h.name) ? h.name : `p${i}`;
    ports.add(port);
    const eth0 = `${h.name}/eth0`;
    const imp = impair(eth0);
    ops.push({ op: "netns", name: h.name });
    ops.push({ op: "veth", spec: { a: `${UNDERLAY_NS}/${port}`, b: eth0, ...(imp && { impair: { ...(imp.ingress && { ab: imp.ingress }), ...(imp.egress && { ba: imp.egress }) } }) } });
    ops.push({ op: "master", ref: `${UNDERLAY_NS}/${port}`, bridge: UNDERLAY_BRIDGE });
    ops.push({ op: "addr", ref: eth0, cidr: h.address });
  });
  for (const h of m.hosts.values()) if (h.daemon) ops.push(...h.daemon.ops(impair));
  for (const [ref] of impairs) if (!used.has(ref)) throw new DockerError(`link impairment at ${ref}: no such interface`);
  return ops;
}

/** Impairments by interface ref (`<namespace>/<ifname>`). */
function impairments(m: Model): Map<string, EndpointImpair> {
  const out = new Map<string, EndpointImpair>();
  for (const l of m.s.links) {
    const ref = mapRef(m, l.at.includes("/") ? l.at : `${l.at}/eth0`);
    const imp = impairmentOf(l);
    const cur = out.get(ref) ?? {};
    if (l.direction !== "ingress") cur.egress = imp;
    if (l.direction !== "egress") cur.ingress = imp;
    out.set(ref, cur);
  }
  return out;
}

function impairmentOf(l: LinkImpairSpec): Impairment {
  const i: Impairment = {};
  if (l.delayNs !== undefined) i.delayNs = l.delayNs;
  if (l.jitterNs !== undefined) i.jitterNs = l.jitterNs;
  if (l.loss !== undefined) i.loss = l.loss;
  if (l.duplicate !== undefined) i.duplicate = l.duplicate;
  if (l.rateBps !== undefined) i.rateBps = l.rateBps;
  if (l.limit !== undefined) i.limit = l.limit;
  return i;
}

/** `<name>/<ifname>` with a container name replaced by the namespace it lives in. */
function mapRef(m: Model, ref: string): string {
  const slash = ref.indexOf("/");
  if (slash < 0) return ref;
  const c = m.containers.get(ref.slice(0, slash));
  return c ? `${c.ns}${ref.slice(slash)}` : ref;
}

// ---- names to addresses --------------------------------------------------------------------------

function nsOf(m: Model, name: string): string {
  const c = m.containers.get(name);
  if (c) return c.ns;
  if (m.hosts.has(name)) return name;
  throw new DockerError(`"${name}": no such host or container`);
}

interface Target {
  dst: string;
  dport: number;
  sink: PlanSink | null;
}

/** Resolve `to` as seen from `from` (see the file header). */
function target(m: Model, from: string, to: string, proto: "udp" | "tcp" | "icmp", port: number | undefined): Target {
  const fromNs = nsOf(m, from);
  const p = port ?? 0;
  const sinkAt = (ns: string, at: number): PlanSink | null => (proto === "icmp" ? null : { ns, port: at });
  const c = m.containers.get(to);
  if (c) {
    const sb = c.sandbox;
    if (sb === null || (!sb.isDefault && sb.endpoints.every((e) => e.ip === 0))) throw new DockerError(`traffic ${from} -> ${to}: container ${to} has no network (mode none)`);
    if (sb.isDefault) return { dst: c.host.ip, dport: p, sink: sinkAt(c.ns, p) };
    const own = sb.endpoints.filter((e) => e.ip !== 0);
    const fromC = m.containers.get(from);
    const shared = fromC?.sandbox ? own.find((e) => fromC.sandbox!.endpoints.some((f) => f.network === e.network)) : undefined;
    const direct = shared ?? (fromNs === c.ns || fromNs === c.host.spec.name ? own[0] : undefined);
    if (direct) return { dst: formatIpv4(direct.ip), dport: p, sink: sinkAt(c.ns, p) };
    if (port !== undefined && proto !== "icmp" && sb.portsBound) {
      const b = sb.ports.find((x) => x.proto === proto && x.containerPort === port) ?? sb.ports.find((x) => x.proto === proto && x.hostPort === port);
      if (b) return { dst: b.hostIp && b.hostIp !== "0.0.0.0" ? b.hostIp : c.host.ip, dport: b.hostPort, sink: sinkAt(c.ns, b.containerPort) };
    }
    return { dst: formatIpv4(own[0]!.ip), dport: p, sink: sinkAt(c.ns, p) };
  }
  const h = m.hosts.get(to);
  if (h) return { dst: h.ip, dport: p, sink: hostSink(m, h, proto, p) };
  if (isIpv4(to)) {
    const byAddr = [...m.hosts.values()].find((x) => x.ip === to);
    if (byAddr) return { dst: to, dport: p, sink: hostSink(m, byAddr, proto, p) };
    const fromHost = m.containers.get(from)?.host ?? m.hosts.get(from);
    const owners = [...m.containers.values()].filter((x) => x.sandbox?.endpoints.some((e) => formatIpv4(e.ip) === to));
    const owner = owners.find((x) => x.host === fromHost) ?? owners[0];
    return { dst: to, dport: p, sink: owner ? sinkAt(owner.ns, p) : null };
  }
  throw new DockerError(`traffic ${from} -> ${to}: "${to}" is no host, container or IPv4 address`);
}

/** Who receives `proto`/`port` sent to a host: the container publishing it, else the host. */
function hostSink(m: Model, h: HostRec, proto: "udp" | "tcp" | "icmp", port: number): PlanSink | null {
  if (proto === "icmp") return null;
  for (const c of m.containers.values()) {
    if (c.host !== h || !c.sandbox?.portsBound || c.ns === h.spec.name) continue;
    const b = c.sandbox.ports.find((x) => x.proto === proto && x.hostPort === port);
    if (b) return { ns: c.ns, port: b.containerPort };
  }
  return { ns: h.spec.name, port };
}

function traffic(m: Model, t: Scenario["traffic"][number], i: number): PlanTraffic {
  const id = `t${i}`;
  switch (t.type) {
    case "ping": {
      const r = target(m, t.from, t.to, "icmp", undefined);
      return { kind: "ping", id, from: nsOf(m, t.from), dst: r.dst, count: t.count, intervalNs: t.intervalNs, size: t.size, startNs: t.startNs };
    }
    case "udp": {
      const r = target(m, t.from, t.to, "udp", t.port);
      return { kind: "udp", id, from: nsOf(m, t.from), dst: r.dst, dport: r.dport, sink: r.sink, flows: t.flows, packets: t.packets, ratePps: t.ratePps, size: t.size, startNs: t.startNs };
    }
    case "tcp": {
      const r = target(m, t.from, t.to, "tcp", t.port);
      return { kind: "tcp", id, from: nsOf(m, t.from), dst: r.dst, dport: r.dport, sink: r.sink, bytes: t.bytes, connections: t.connections, startNs: t.startNs };
    }
    case "replay":
      return { kind: "replay", id, into: mapRef(m, t.into.includes("/") ? t.into : `${t.into}/eth0`), file: t.file, mode: t.mode, timing: t.timing, startNs: t.startNs };
  }
}
