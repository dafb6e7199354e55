// The containers section: names, hosts, network modes and attachments with their fixed
// addresses, checked against the networks and against each other as Docker would.

import { cidrBroadcast, cidrContains, formatCidr, formatIpv4 } from "../../core/addr.js";
import type { AttachInfo, CtrInfo, Ctx } from "./context.js";
import { ALLOWED_KEYS } from "./keys.js";
import { hostRef } from "./read-hosts.js";
import { checkPublishedPorts, readPorts } from "./read-ports.js";
import { closest, fail, failRef, listOf, readObj, type Obj } from "./reader.js";
import type { AttachSpec, ContainerSpec } from "./types.js";
import { CONTAINER_NAME_RE, fixedRange, ipv4, macValue, mapping, seq, str } from "./values.js";
import { childPath, itemPath, type Mark, type YamlEntry, type YamlNode } from "./yaml.js";

export function readContainers(ctx: Ctx, node: YamlNode | undefined): void {
  const entries = node === undefined ? [] : mapping(node, "containers", "containers");
  const names = entries.map((e) => ctx.r.guard(() => declareContainer(ctx, e)));
  entries.forEach((e, i) => {
    const name = names[i];
    if (name === undefined) return;
    const info = ctx.r.guard(() => readContainer(ctx, e, name));
    if (info !== undefined) ctx.containers.set(name, info);
  });
  for (const c of ctx.containers.values()) ctx.r.guard(() => checkJoinedContainer(ctx, c));
  checkFixedAddresses(ctx);
  checkPublishedPorts(ctx);
}

/** The container's name (`name`, or its key), checked and registered. */
function declareContainer(ctx: Ctx, e: YamlEntry): string {
  const path = childPath("containers", e.key);
  const nameNode = e.value.kind === "map" ? e.value.entries.find((x) => x.key === "name")?.value : undefined;
  const name = nameNode === undefined ? e.key : str(nameNode, childPath(path, "name"), "a container name");
  const at = nameNode ?? e;
  const field = nameNode === undefined ? path : childPath(path, "name");
  const other = ctx.containerNames.get(name);
  if (other !== undefined) fail(at, field, `duplicate container name "${name}" (also the container at line ${other.line})`);
  // Registered before the checks below, so that references to it do not fail as well.
  ctx.containerNames.set(name, at);
  if (!CONTAINER_NAME_RE.test(name)) fail(at, field, `invalid container name "${name}" (Docker: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least 2 characters)`);
  if (ctx.hostNames.has(name)) fail(at, field, `container name "${name}" is also a host's name (network namespaces are named after hosts and containers)`);
  return name;
}

function readContainer(ctx: Ctx, e: YamlEntry, name: string): CtrInfo {
  const path = childPath("containers", e.key);
  const o = readObj(ctx.r, e.value, path, ALLOWED_KEYS.container, "container settings");
  const host = readContainerHost(ctx, o, e);
  const { mode, modeAt } = readMode(ctx, o, name);
  const attaches = mode === "bridge" ? readAttachments(ctx, o, host) : [];
  if (mode !== "bridge") refuseInMode(o, mode, ["ports", "mac_address", "ip"]);
  const ports = mode === "bridge" ? o.opt("ports", (n, p) => readPorts(ctx.r, n, p), []) : [];
  const spec: ContainerSpec = { name, host, mode, networks: attaches.map(attachSpec), ports: ports.map((p) => p.spec) };
  const mac = o.opt("mac_address", macValue, undefined);
  if (mac !== undefined) spec.mac = mac;
  const info: CtrInfo = { spec, at: e, path, attaches, ports };
  if (modeAt !== undefined) info.modeAt = modeAt;
  return info;
}

function attachSpec(a: AttachInfo): AttachSpec {
  return a.ip === undefined ? { network: a.network } : { network: a.network, ip: formatIpv4(a.ip) };
}

function readContainerHost(ctx: Ctx, o: Obj, e: YamlEntry): string {
  const node = o.get("host");
  if (node !== undefined) return hostRef(ctx, node, o.field("host"), "containers");
  if (ctx.dockerHosts.length === 1) return ctx.dockerHosts[0]!;
  if (ctx.dockerHosts.length === 0) fail(e, o.path, "there is no Docker host to run on (every host has docker: false)");
  return fail(e, o.field("host"), `missing required key "host" (there are several Docker hosts: ${listOf(ctx.dockerHosts)})`);
}

const MODES = "bridge, host, none, container:<name>";

function readMode(ctx: Ctx, o: Obj, self: string): { mode: ContainerSpec["mode"]; modeAt?: Mark } {
  const entry = o.entry("network_mode");
  if (entry === undefined) return { mode: "bridge" };
  const path = o.field("network_mode");
  const text = str(entry.value, path, `a network mode (${MODES})`);
  const networks = o.entry("networks");
  if (networks !== undefined) {
    fail(entry, path, `network_mode and networks are mutually exclusive (as in compose); with network_mode "${text}" drop networks (line ${networks.line})`);
  }
  if (text === "bridge" || text === "host" || text === "none") return { mode: text, modeAt: entry.value };
  if (!text.startsWith("container:")) {
    const hint = text.startsWith("service:") ? "compose's service:<name> is written container:<name> here; " : "";
    fail(entry.value, path, `unknown network_mode "${text}" (${hint}allowed: ${MODES})`);
  }
  const target = text.slice("container:".length);
  if (target === self) fail(entry.value, path, `network_mode "${text}": a container cannot join its own network namespace`);
  if (!ctx.containerNames.has(target)) failRef(entry.value, path, `container "${target}" is not defined (${definedContainers(ctx, target)})`);
  return { mode: `container:${target}`, modeAt: entry.value };
}

export function definedContainers(ctx: Ctx, name: string): string {
  const near = closest(name, ctx.containerNames.keys());
  return `${near === undefined ? "" : `did you mean "${near}"? `}defined: ${listOf(ctx.containerNames.keys())}`;
}

function refuseInMode(o: Obj, mode: string, keys: string[]): void {
  for (const key of keys) {
    const e = o.entry(key);
    if (e === undefined || (e.value.kind === "seq" && e.value.items.length === 0)) continue;
    const why = mode === "host" ? "the container uses the host's network stack" : mode === "none" ? "the container has no network" : `the container uses the network stack of ${mode.slice("container:".length)}`;
    fail(e, o.field(key), `${key} cannot be used with network_mode "${mode}" (${why}; Docker: conflicting options)`);
  }
}

/** `networks` (a list of names, or a mapping name → {ipv4_address}) and `ip`; default [bridge]. */
function readAttachments(ctx: Ctx, o: Obj, host: string): AttachInfo[] {
  const node = o.get("networks");
  const path = o.field("networks");
  let attaches: AttachInfo[];
  if (node === undefined) attaches = [{ network: "bridge", at: o.at }];
  else if (node.kind === "map") attaches = node.entries.map((e) => readAttachment(ctx, e, childPath(path, e.key)));
  else attaches = seq(node, path, "network names").map((n, i) => ({ network: str(n, itemPath(path, i), "a network name"), at: n }));
  if (attaches.length === 0) fail(node ?? o.at, path, 'at least one network is needed (or network_mode: none for a container without one)');
  attaches.forEach((a, i) => checkAttachment(ctx, a, attaches.slice(0, i), node?.kind === "map" ? childPath(path, a.network) : itemPath(path, i), host));
  const ipNode = o.get("ip");
  if (ipNode !== undefined) applyIp(o, ipNode, attaches[0]!);
  for (const a of attaches) if (a.ip !== undefined) checkFixedIp(ctx, a);
  return attaches;
}

function readAttachment(ctx: Ctx, e: YamlEntry, path: string): AttachInfo {
  const o = readObj(ctx.r, e.value, path, ALLOWED_KEYS.attachment, "attachment settings");
  const a: AttachInfo = { network: e.key, at: e };
  const ipNode = o.get("ipv4_address");
  if (ipNode !== undefined) {
    a.ip = ipv4(ipNode, o.field("ipv4_address"));
    a.ipAt = ipNode;
    a.ipField = o.field("ipv4_address");
  }
  return a;
}

function checkAttachment(ctx: Ctx, a: AttachInfo, earlier: AttachInfo[], path: string, host: string): void {
  if (a.network === "host" || a.network === "none") fail(a.at, path, `network "${a.network}" cannot be listed in networks; use network_mode: ${a.network}`);
  if (!ctx.networkNames.has(a.network)) {
    const attachable = [...ctx.networkNames].filter((n) => n !== "host" && n !== "none");
    const near = closest(a.network, attachable);
    failRef(a.at, path, `network "${a.network}" is not defined (${near === undefined ? "" : `did you mean "${near}"? `}defined: ${listOf(attachable)})`);
  }
  if (earlier.some((b) => b.network === a.network)) fail(a.at, path, `network "${a.network}" is listed twice`);
  const net = ctx.networks.get(a.network);
  if (net !== undefined && !net.spec.hosts.includes(host)) {
    fail(a.at, path, `network "${a.network}" does not exist on host "${host}" (it is on: ${listOf(net.spec.hosts)})`);
  }
}

/** `ip:` is `docker run --ip`: the address on the first network. */
function applyIp(o: Obj, node: YamlNode, first: AttachInfo): void {
  if (first.ip !== undefined) {
    fail(node, o.field("ip"), `the first network "${first.network}" already has ipv4_address ${formatIpv4(first.ip)} (line ${first.ipAt!.line}); give the address once`);
  }
  first.ip = ipv4(node, o.field("ip"));
  first.ipAt = node;
  first.ipField = o.field("ip");
}

function checkFixedIp(ctx: Ctx, a: AttachInfo): void {
  const net = ctx.networks.get(a.network);
  if (net === undefined) return;
  const ip = formatIpv4(a.ip!);
  const at = a.ipAt!;
  const field = a.ipField!;
  if (a.network === "bridge") fail(at, field, `user specified IP address is supported on user defined networks only (Docker); address ${ip} on the default bridge`);
  if (net.subnet === undefined) {
    fail(at, field, `user specified IP address is supported only when connecting to networks with user configured subnets (Docker); give network "${a.network}" a subnet`);
  }
  const subnet = formatCidr(net.subnet);
  const allowed = `allowed: ${fixedRange(net.subnet, net.gateway!)}`;
  if (!cidrContains(net.subnet, a.ip!)) fail(at, field, `address ${ip} is outside the subnet ${subnet} of network "${a.network}" (${allowed})`);
  if (a.ip === net.subnet.network) fail(at, field, `address ${ip} is the network address of ${subnet} (${allowed})`);
  if (a.ip === cidrBroadcast(net.subnet)) fail(at, field, `address ${ip} is the broadcast address of ${subnet} (${allowed})`);
  if (a.ip === net.gateway) fail(at, field, `address ${ip} is the gateway of network "${a.network}" (${allowed})`);
}

/** network_mode container:<name>: the other container must be on the same host, and joining
 *  must not go round in a circle. */
function checkJoinedContainer(ctx: Ctx, c: CtrInfo): void {
  const field = childPath(c.path, "network_mode");
  const seen = [c.spec.name];
  let cur: CtrInfo | undefined = c;
  while (cur !== undefined && cur.spec.mode.startsWith("container:")) {
    const next = cur.spec.mode.slice("container:".length);
    if (seen.includes(next)) fail(c.modeAt!, field, `network_mode joins go round in a circle: ${[...seen, next].join(" → ")}`);
    seen.push(next);
    const target = ctx.containers.get(next);
    if (cur === c && target !== undefined && target.spec.host !== c.spec.host) {
      fail(c.modeAt!, field, `container "${next}" runs on host "${target.spec.host}", not on "${c.spec.host}" (a network namespace can only be shared on one host)`);
    }
    cur = target;
  }
}

/** A fixed address is used once per network and host (a bridge network is local to its host). */
function checkFixedAddresses(ctx: Ctx): void {
  const used = new Map<string, { c: CtrInfo; a: AttachInfo }>();
  for (const c of ctx.containers.values()) {
    for (const a of c.attaches) {
      if (a.ip === undefined) continue;
      const key = `${a.network}/${c.spec.host}/${a.ip}`;
      const other = used.get(key);
      if (other === undefined) used.set(key, { c, a });
      else ctx.r.guard(() => fail(a.ipAt!, a.ipField!, `address ${formatIpv4(a.ip!)} on network "${a.network}" is already used by container "${other.c.spec.name}" (line ${other.a.ipAt!.line}) (Docker: Address already in use)`));
    }
  }
}
