// The networks section: Docker's implicit networks and the user-defined bridges, with the
// addressing and driver options Docker accepts and the overlaps it refuses.

import { cidr, cidrBroadcast, cidrContains, cidrOverlaps, formatCidr, formatIpv4, type Cidr } from "../../core/addr.js";
import type { Ctx, NetInfo } from "./context.js";
import { ALLOWED_KEYS, BRIDGE_NAME_OPT, ICC_OPT, MASQ_OPT, MTU_OPT } from "./keys.js";
import { hostRef } from "./read-hosts.js";
import { Obj, describe, fail, readObj, type Hints } from "./reader.js";
import type { NetworkSpec } from "./types.js";
import { bool, checkIfname, checkName, cidrValue, hostRange, intOrDigits, ipv4, mapping, seq, str } from "./values.js";
import { childPath, itemPath, type Mark, type YamlEntry, type YamlNode } from "./yaml.js";

/** Docker's local address pools, in the order it tries them (BEHAVIOR.md 1.1). */
const DEFAULT_POOLS: Cidr[] = [
  ...Array.from({ length: 15 }, (_, i) => cidr(((172 << 24) | ((17 + i) << 16)) >>> 0, 16)),
  ...Array.from({ length: 16 }, (_, i) => cidr(((192 << 24) | (168 << 16) | ((16 * i) << 8)) >>> 0, 20)),
];

const UNAVAILABLE_DRIVERS = ["overlay", "calico", "macvlan", "ipvlan"];

/** Implicit networks first ("bridge", "host", "none" when there is a Docker host), then the
 *  user-defined ones in file order. */
export function readNetworks(ctx: Ctx, node: YamlNode | undefined): NetworkSpec[] {
  const entries = node === undefined ? [] : mapping(node, "networks", "networks");
  for (const name of ["bridge", "host", "none"]) ctx.networkNames.add(name);
  for (const e of entries) ctx.networkNames.add(e.key);
  const bridgeEntry = entries.find((e) => e.key === "bridge");
  const bridge = bridgeEntry === undefined ? undefined : ctx.r.guard(() => readDefaultBridge(ctx, bridgeEntry));
  if (ctx.dockerHosts.length > 0 && (bridgeEntry === undefined || bridge !== undefined)) {
    ctx.networks.set("bridge", bridge ?? defaultBridge(ctx, undefined));
  }
  if (ctx.dockerHosts.length > 0) {
    for (const name of ["host", "none"] as const) ctx.networks.set(name, { spec: implicitNetwork(name, name, ctx.dockerHosts) });
  }
  for (const e of entries) {
    if (e.key !== "bridge") ctx.r.guard(() => ctx.networks.set(e.key, readNetwork(ctx, e)));
  }
  checkSubnets(ctx);
  return [...ctx.networks.values()].map((n) => n.spec);
}

function implicitNetwork(name: string, driver: NetworkSpec["driver"], hosts: string[]): NetworkSpec {
  return { name, driver, hosts: [...hosts], icc: true, ipMasq: true, internal: false };
}

/** The default bridge (docker0) on every Docker host: its daemon flags come from the hosts, its
 *  subnet is Docker's first pool that does not overlap the hosts' LAN (BEHAVIOR.md 1.2) unless
 *  `networks.bridge` gives one. */
function defaultBridge(ctx: Ctx, given: Partial<NetInfo> & { mtu?: number } | undefined): NetInfo {
  const hosts = ctx.dockerHosts.map((h) => ctx.hosts.get(h)?.spec);
  const subnet = given?.subnet ?? DEFAULT_POOLS.find((p) => ctx.underlay === undefined || !cidrOverlaps(p, ctx.underlay))!;
  const gateway = given?.gateway ?? subnet.network + 1;
  const spec: NetworkSpec = {
    ...implicitNetwork("bridge", "bridge", ctx.dockerHosts),
    subnet: formatCidr(cidr(subnet.network, subnet.len)),
    gateway: formatIpv4(gateway),
    icc: hosts.every((h) => h?.icc !== false),
    ipMasq: hosts.every((h) => h?.ipMasq !== false),
    bridgeName: "docker0",
  };
  if (given?.mtu !== undefined) spec.mtu = given.mtu;
  const info: NetInfo = { spec, subnet, gateway };
  if (given?.at !== undefined) info.at = given.at;
  if (given?.subnetAt !== undefined) info.subnetAt = given.subnetAt;
  return info;
}

const BRIDGE_HINTS: Hints = {
  hosts: "the default bridge exists on every Docker host",
  internal: "the default bridge cannot be internal",
};
const BRIDGE_OPTION_HINTS: Hints = {
  icc: "set icc on the hosts (hosts.<name>.icc, dockerd --icc)",
  [ICC_OPT]: "set icc on the hosts (hosts.<name>.icc, dockerd --icc)",
  ip_masq: "set ip_masq on the hosts (hosts.<name>.ip_masq, dockerd --ip-masq)",
  [MASQ_OPT]: "set ip_masq on the hosts (hosts.<name>.ip_masq, dockerd --ip-masq)",
  [BRIDGE_NAME_OPT]: "the default bridge is always docker0",
};

/** `networks.bridge`: the default bridge's subnet, gateway and MTU (dockerd --bip, --mtu). */
function readDefaultBridge(ctx: Ctx, e: YamlEntry): NetInfo {
  const path = childPath("networks", "bridge");
  if (ctx.dockerHosts.length === 0) fail(e, path, "there is no Docker host (every host has docker: false)");
  const o = readObj(ctx.r, e.value, path, ALLOWED_KEYS.defaultBridge, "default bridge settings", BRIDGE_HINTS);
  const driver = o.get("driver");
  if (driver !== undefined && str(driver, o.field("driver")) !== "bridge") {
    fail(driver, o.field("driver"), `the default network "bridge" has driver bridge; found "${str(driver, o.field("driver"))}"`);
  }
  const addressing = readAddressing(o);
  const options = o.get("options");
  const opts = options === undefined ? undefined : readObj(ctx.r, options, o.field("options"), ALLOWED_KEYS.defaultBridgeOptions, "driver options", BRIDGE_OPTION_HINTS);
  const mtu = opts === undefined ? undefined : readMtu(opts);
  return defaultBridge(ctx, { ...addressing, at: e, ...(mtu === undefined ? {} : { mtu }) });
}

function readNetwork(ctx: Ctx, e: YamlEntry): NetInfo {
  const path = childPath("networks", e.key);
  if (e.key === "host" || e.key === "none") {
    fail(e, path, `network "${e.key}" is predefined and cannot be configured (only "bridge" can be: subnet, gateway, mtu)`);
  }
  checkName(e, path, e.key, "network");
  const o = readObj(ctx.r, e.value, path, ALLOWED_KEYS.network, "network settings");
  o.opt("driver", (n, p) => readDriver(n, p), "bridge");
  const hosts = o.opt("hosts", (n, p) => readNetworkHosts(ctx, n, p), ctx.dockerHosts);
  if (hosts.length === 0) fail(e, path, "there is no Docker host to create it on (every host has docker: false)");
  const addressing = readAddressing(o);
  const options = o.get("options");
  const opts = options === undefined ? new Obj(e, o.field("options"), []) : readObj(ctx.r, options, o.field("options"), ALLOWED_KEYS.networkOptions, "driver options");
  const spec: NetworkSpec = {
    name: e.key,
    driver: "bridge",
    hosts,
    icc: readBoolOption(opts, "icc", ICC_OPT) ?? true,
    ipMasq: readBoolOption(opts, "ip_masq", MASQ_OPT) ?? true,
    internal: o.opt("internal", bool, false),
  };
  if (addressing.subnet !== undefined) spec.subnet = formatCidr(addressing.subnet);
  if (addressing.gateway !== undefined) spec.gateway = formatIpv4(addressing.gateway);
  const mtu = readMtu(opts);
  if (mtu !== undefined) spec.mtu = mtu;
  const bridgeName = readBridgeName(opts);
  if (bridgeName !== undefined) spec.bridgeName = bridgeName;
  return { spec, at: e, ...addressing };
}

function readDriver(node: YamlNode, path: string): "bridge" {
  const d = str(node, path, "a driver name (bridge)");
  if (d === "bridge") return d;
  if (UNAVAILABLE_DRIVERS.includes(d)) fail(node, path, `driver "${d}" is not available yet (available: bridge)`);
  if (d === "host" || d === "none") fail(node, path, `only one instance of "${d}" network is allowed (Docker); use network_mode: ${d} on the container`);
  return fail(node, path, `unknown driver "${d}" (available: bridge)`);
}

function readNetworkHosts(ctx: Ctx, node: YamlNode, path: string): string[] {
  const items = seq(node, path, "host names");
  if (items.length === 0) fail(node, path, "at least one host is needed (leave the key out for every Docker host)");
  const hosts: string[] = [];
  items.forEach((item, i) => {
    const h = hostRef(ctx, item, itemPath(path, i), "a network");
    if (hosts.includes(h)) fail(item, itemPath(path, i), `host "${h}" is listed twice`);
    hosts.push(h);
  });
  return hosts;
}

/** subnet and gateway; the gateway defaults to the subnet's first address, as Docker's IPAM. */
function readAddressing(o: Obj): Pick<NetInfo, "subnet" | "subnetAt" | "gateway"> {
  const subnetNode = o.get("subnet");
  const gatewayNode = o.get("gateway");
  if (subnetNode === undefined) {
    if (gatewayNode !== undefined) fail(gatewayNode, o.field("gateway"), "a gateway needs a subnet (Docker: every ip-range or gateway must have a corresponding subnet)");
    return {};
  }
  const subnet = readSubnet(subnetNode, o.field("subnet"));
  const gateway = gatewayNode === undefined ? subnet.network + 1 : readGateway(gatewayNode, o.field("gateway"), subnet);
  return { subnet, subnetAt: subnetNode, gateway };
}

function readSubnet(node: YamlNode, path: string): Cidr {
  const c = cidrValue(node, path, "172.20.0.0/16");
  const text = formatCidr(c);
  if (c.addr !== c.network) fail(node, path, `invalid subnet ${text}: it should be ${formatIpv4(c.network)}/${c.len} (no host bits, as Docker requires)`);
  if (c.len > 30) fail(node, path, `subnet ${text} is too small: a bridge network needs room for a gateway and containers (allowed: /0 to /30)`);
  return c;
}

function readGateway(node: YamlNode, path: string, subnet: Cidr): number {
  const gw = ipv4(node, path);
  const net = formatCidr(subnet);
  if (!cidrContains(subnet, gw)) fail(node, path, `gateway ${formatIpv4(gw)} is outside the subnet ${net} (allowed: ${hostRange(subnet)})`);
  if (gw === subnet.network || gw === cidrBroadcast(subnet)) {
    fail(node, path, `gateway ${formatIpv4(gw)} is the ${gw === subnet.network ? "network" : "broadcast"} address of ${net} (allowed: ${hostRange(subnet)})`);
  }
  return gw;
}

/** One option by its short key or Docker's name, not both. */
function optionNode(opts: Obj, short: string, long: string): [YamlNode, string] | undefined {
  const a = opts.entry(short);
  const b = opts.entry(long);
  if (a !== undefined && b !== undefined) {
    const later = a.line > b.line || (a.line === b.line && a.col > b.col) ? a : b;
    fail(later, opts.field(later.key), `given twice: as "${short}" and as "${long}" (they are the same option)`);
  }
  const e = a ?? b;
  return e === undefined ? undefined : [e.value, opts.field(e.key)];
}

/** Docker reads bool options with Go's strconv.ParseBool; YAML's true/false are accepted too. */
function readBoolOption(opts: Obj, short: string, long: string): boolean | undefined {
  const found = optionNode(opts, short, long);
  if (found === undefined) return undefined;
  const [node, path] = found;
  if (node.kind === "scalar" && typeof node.value === "boolean") return node.value;
  const s = node.kind === "scalar" && typeof node.value === "string" ? node.value : "";
  if (["1", "t", "T", "true", "TRUE", "True"].includes(s)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(s)) return false;
  return fail(node, path, `expected true or false (or "true"/"false" as Docker writes it), found ${describe(node)}`);
}

function readMtu(opts: Obj): number | undefined {
  const found = optionNode(opts, "mtu", MTU_OPT);
  if (found === undefined) return undefined;
  // Docker's options are strings ("1450"); a YAML number means the same.
  return intOrDigits(found[0], found[1], 68, 65535);
}

function readBridgeName(opts: Obj): string | undefined {
  const node = opts.get(BRIDGE_NAME_OPT);
  if (node === undefined) return undefined;
  const path = opts.field(BRIDGE_NAME_OPT);
  const name = str(node, path, "an interface name");
  checkIfname(node, path, name, "bridge name");
  return name;
}

/** Subnets of networks on one host must not overlap each other or the hosts' LAN. */
function checkSubnets(ctx: Ctx): void {
  const nets = [...ctx.networks.values()];
  nets.forEach((n, i) => {
    // The implicit docker0 subnet was chosen clear of the LAN, and comes first.
    if (n.subnetAt === undefined) return;
    ctx.r.guard(() => checkSubnet(ctx, n, n.subnetAt!, nets.slice(0, i)));
  });
  checkBridgeNames(ctx, nets);
}

function checkSubnet(ctx: Ctx, n: NetInfo, at: Mark, earlier: NetInfo[]): void {
  const field = childPath(childPath("networks", n.spec.name), "subnet");
  const text = formatCidr(n.subnet!);
  if (ctx.underlay !== undefined && cidrOverlaps(n.subnet!, ctx.underlay)) {
    fail(at, field, `subnet ${text} overlaps the hosts' LAN ${formatIpv4(ctx.underlay.network)}/${ctx.underlay.len}`);
  }
  for (const m of earlier) {
    const shared = n.spec.hosts.find((h) => m.spec.hosts.includes(h));
    if (m.subnet === undefined || shared === undefined || !cidrOverlaps(n.subnet!, m.subnet)) continue;
    const which = m.spec.name === "bridge" ? 'the default network "bridge" (docker0)' : `network "${m.spec.name}"`;
    fail(at, field, `subnet ${text} overlaps ${formatCidr(m.subnet)} of ${which} on host "${shared}" (Docker: Pool overlaps with other one on this address space)`);
  }
}

function checkBridgeNames(ctx: Ctx, nets: NetInfo[]): void {
  nets.forEach((n, i) => {
    if (n.spec.bridgeName === undefined || n.at === undefined) return;
    const clash = nets.slice(0, i).find((m) => m.spec.bridgeName === n.spec.bridgeName && m.spec.hosts.some((h) => n.spec.hosts.includes(h)));
    if (clash === undefined) return;
    ctx.r.guard(() => fail(n.at!, childPath(childPath(childPath("networks", n.spec.name), "options"), BRIDGE_NAME_OPT),
      `bridge name "${n.spec.bridgeName}" is already used by network "${clash.spec.name}" on the same host`));
  });
}
