// What happens on the wire and what is checked: link impairments, traffic generators, the
// interfaces to capture and the expected reachability, each naming containers, hosts or
// interfaces that must exist.

import { statSync } from "node:fs";
import { resolve } from "node:path";
import { formatIpv4 } from "../../core/addr.js";
import type { Ctx } from "./context.js";
import { ALLOWED_KEYS } from "./keys.js";
import { definedContainers } from "./read-containers.js";
import { closest, describe, fail, failRef, gluedHint, listOf, readObj, type Hints, type Obj } from "./reader.js";
import type { ExpectSpec, LinkImpairSpec, TrafficSpec } from "./types.js";
import { bool, checkIfname, duration, int, ipv4, oneOf, percent, rate, seq, str } from "./values.js";
import { childPath, itemPath, type Mark, type YamlNode } from "./yaml.js";

// ---- links (impairments) -------------------------------------------------------------------

export function readLinks(ctx: Ctx, node: YamlNode | undefined): LinkImpairSpec[] {
  const items = node === undefined ? [] : seq(node, "links", "impairments");
  const links: { spec: LinkImpairSpec; at: Mark }[] = [];
  items.forEach((item, i) => {
    const path = itemPath("links", i);
    const spec = ctx.r.guard(() => readLink(ctx, item, path));
    if (spec === undefined) return;
    ctx.r.guard(() => checkLinkOverlap(spec, item, path, links));
    links.push({ spec, at: item });
  });
  return links.map((l) => l.spec);
}

const EFFECTS = ["delay", "loss", "duplicate", "rate"];

function readLink(ctx: Ctx, node: YamlNode, path: string): LinkImpairSpec {
  const o = readObj(ctx.r, node, path, ALLOWED_KEYS.link, "impairment settings");
  const atNode = o.need("at", "the container (its eth0) or <container>/<ifname> to impair");
  const spec: LinkImpairSpec = {
    at: linkTarget(ctx, atNode, o.field("at")),
    direction: o.opt("direction", (n, p) => oneOf(n, p, ["egress", "ingress", "both"] as const, "direction"), "egress"),
  };
  if (!EFFECTS.some((k) => o.get(k) !== undefined)) fail(node, path, `an impairment needs at least one of ${EFFECTS.join(", ")}`);
  const delay = o.opt("delay", duration, undefined);
  const jitter = o.opt("jitter", duration, undefined);
  if (jitter !== undefined && delay === undefined) fail(o.entry("jitter")!, o.field("jitter"), "jitter needs a delay (as in tc netem: delay TIME JITTER)");
  if (delay !== undefined) spec.delayNs = delay;
  if (jitter !== undefined) spec.jitterNs = jitter;
  const loss = o.opt("loss", percent, undefined);
  if (loss !== undefined) spec.loss = loss;
  const dup = o.opt("duplicate", percent, undefined);
  if (dup !== undefined) spec.duplicate = dup;
  const bps = o.opt("rate", rate, undefined);
  if (bps !== undefined) spec.rateBps = bps;
  const limit = o.opt("limit", (n, p) => int(n, p, 1), undefined);
  if (limit !== undefined) spec.limit = limit;
  return spec;
}

/** `<container>` (its eth0) or `<container>/<ifname>`, normalized to the latter. */
function linkTarget(ctx: Ctx, node: YamlNode, path: string): string {
  const text = str(node, path, "a container or <container>/<ifname>");
  const slash = text.indexOf("/");
  const name = slash < 0 ? text : text.slice(0, slash);
  const ifname = slash < 0 ? "eth0" : text.slice(slash + 1);
  if (!ctx.containerNames.has(name)) {
    if (ctx.hostNames.has(name)) fail(node, path, `"${name}" is a host; impairments apply to a container's interface (containers: ${listOf(ctx.containerNames.keys())})`);
    failRef(node, path, `container "${name}" is not defined (${definedContainers(ctx, name)})`);
  }
  checkContainerIfname(ctx, node, path, name, ifname, false);
  return `${name}/${ifname}`;
}

/** An interface of a container: eth<i> for each network it is attached to, and lo if allowed. */
function checkContainerIfname(ctx: Ctx, at: Mark, path: string, name: string, ifname: string, loOk: boolean): void {
  const c = ctx.containers.get(name);
  if (c === undefined) return;
  const mode = c.spec.mode;
  if (mode === "host" || mode.startsWith("container:")) {
    const owner = mode === "host" ? `host "${c.spec.host}"` : `container "${mode.slice("container:".length)}"`;
    fail(at, path, `container "${name}" has network_mode ${mode} and no network namespace of its own (it uses ${owner}'s)`);
  }
  const names = c.spec.networks.map((_, i) => `eth${i}`);
  if (loOk) names.push("lo");
  if (!names.includes(ifname)) fail(at, path, `container "${name}" has no interface "${ifname}" (it has: ${listOf(names)})`);
}

function checkLinkOverlap(spec: LinkImpairSpec, at: Mark, path: string, earlier: { spec: LinkImpairSpec; at: Mark }[]): void {
  const clash = earlier.find((l) => l.spec.at === spec.at && (l.spec.direction === spec.direction || l.spec.direction === "both" || spec.direction === "both"));
  if (clash !== undefined) {
    fail(at, path, `${spec.at} (${spec.direction}) is already impaired by the entry at line ${clash.at.line} (${clash.spec.direction}); one entry per interface and direction`);
  }
}

// ---- traffic -------------------------------------------------------------------------------

const TRAFFIC_TYPES = ["ping", "udp", "tcp", "replay"] as const;
/** The flow generator's smallest frame (dataplane/endpoint/udp-flows.ts FLOW_MIN_FRAME:
 *  Ethernet, IPv4 and UDP headers and its 20-byte flow header). */
const UDP_MIN_FRAME = 62;
const UDP_DNS_MIN_FRAME = 82;
/** Flows and connections each take an ephemeral port (32768-60999). */
const MAX_FLOWS = 28232;

export function readTraffic(ctx: Ctx, node: YamlNode | undefined): TrafficSpec[] {
  return readItems(ctx, node, "traffic", "traffic generators", readTrafficItem);
}

/** The items of the sequence at `field`, each read by `read`; an item with an error is reported
 *  and left out, the others still read. */
function readItems<T>(ctx: Ctx, node: YamlNode | undefined, field: string, what: string, read: (ctx: Ctx, item: YamlNode, path: string) => T): T[] {
  const items = node === undefined ? [] : seq(node, field, what);
  const out: T[] = [];
  items.forEach((item, i) => {
    const spec = ctx.r.guard(() => read(ctx, item, itemPath(field, i)));
    if (spec !== undefined) out.push(spec);
  });
  return out;
}

function readTrafficItem(ctx: Ctx, node: YamlNode, path: string): TrafficSpec {
  const type = trafficType(node, path);
  const hints: Hints = type === "ping" ? { port: "ping has no port: ICMP echo" } : {};
  const o = readObj(ctx.r, node, path, ALLOWED_KEYS[type], `${type} traffic settings`, hints);
  const startNs = o.opt("start", duration, 0);
  switch (type) {
    case "ping": return { type, ...endpoints(ctx, o), count: o.opt("count", (n, p) => int(n, p, 1), 3), intervalNs: o.opt("interval", (n, p) => duration(n, p, true), 1e9), size: o.opt("size", (n, p) => int(n, p, 0, 65507), 56), startNs };
    case "udp": {
      const port = needPort(o, type);
      // to a DNS or mDNS port the flows carry a DNS query ahead of their header (udp-flows.ts)
      const min = port === 53 || port === 5353 ? UDP_DNS_MIN_FRAME : UDP_MIN_FRAME;
      return {
        type, ...endpoints(ctx, o), port, flows: o.opt("flows", (n, p) => int(n, p, 1, MAX_FLOWS), 1),
        packets: o.opt("packets", (n, p) => int(n, p, 1), 10), ratePps: o.opt("rate", packetRate, 100),
        size: o.opt("size", (n, p) => {
          if (min === UDP_DNS_MIN_FRAME && n.kind === "scalar" && typeof n.value === "number" && Number.isSafeInteger(n.value) && n.value >= UDP_MIN_FRAME && n.value < min) {
            fail(n, p, `${n.value} is too small for port ${port}: its flows carry a DNS query ahead of the flow header (allowed: ${min}..${14 + 65535})`);
          }
          return int(n, p, min, 14 + 65535);
        }, Math.max(64, min)), startNs,
      };
    }
    case "tcp": return { type, ...endpoints(ctx, o), port: needPort(o, type), bytes: o.opt("bytes", (n, p) => int(n, p, 0), 1000), connections: o.opt("connections", (n, p) => int(n, p, 1, MAX_FLOWS), 1), startNs };
    case "replay": return readReplay(ctx, o, startNs);
  }
}

function trafficType(node: YamlNode, path: string): (typeof TRAFFIC_TYPES)[number] {
  const types = TRAFFIC_TYPES.join(", ");
  if (node.kind !== "map") fail(node, path, `expected a mapping of traffic settings (type: ${types}, ...), found ${describe(node)}`);
  const e = node.entries.find((x) => x.key === "type");
  const near = node.entries.find((x) => x.key.startsWith("type:") || closest(x.key, ["type"]) === "type");
  if (e === undefined && near !== undefined) {
    const glued = near.key.startsWith("type:") ? gluedHint(near.key, 4) : `did you mean "type"? one of ${types}`;
    fail(near, childPath(path, near.key), `unknown key "${near.key}" (${glued})`);
  }
  if (e === undefined) fail(node, childPath(path, "type"), `missing required key "type" (one of ${types})`);
  return oneOf(e.value, childPath(path, "type"), TRAFFIC_TYPES, "traffic type");
}

function endpoints(ctx: Ctx, o: Obj): { from: string; to: string } {
  const from = namespaceRef(ctx, o.need("from", "the container or host that sends"), o.field("from"));
  const to = targetRef(ctx, o.need("to", "a container, a host or an IPv4 address"), o.field("to"));
  return { from, to };
}

function needPort(o: Obj, what: string): number {
  return int(o.need("port", `${what} needs the destination port 1..65535`), o.field("port"), 1, 65535);
}

function packetRate(node: YamlNode, path: string): number {
  if (node.kind === "scalar" && typeof node.value === "number" && node.value > 0 && Number.isFinite(node.value)) return node.value;
  return fail(node, path, `expected packets per second per flow, a number > 0, found ${describe(node)}`);
}

function readReplay(ctx: Ctx, o: Obj, startNs: number): TrafficSpec {
  const fileNode = o.need("file", "the pcap or pcapng file to replay");
  const file = str(fileNode, o.field("file"), "a file path");
  const resolved = resolve(ctx.r.dir, file);
  if (!isFile(resolved)) fail(fileNode, o.field("file"), `file "${file}" not found (looked for ${resolved}; paths are relative to the scenario file's directory)`);
  return {
    type: "replay",
    file: resolved,
    into: ifaceRef(ctx, o.need("into", "the interface to inject into, <namespace>/<ifname>"), o.field("into")),
    mode: o.opt("mode", (n, p) => oneOf(n, p, ["received", "sent"] as const, "replay mode"), "received"),
    timing: o.opt("timing", (n, p) => oneOf(n, p, ["file", "asap"] as const, "replay timing"), "file"),
    startNs,
  };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** A network namespace: a container's or a host's (namespaces are named after them). */
function namespaceRef(ctx: Ctx, node: YamlNode, path: string): string {
  const name = str(node, path, "a container or host name");
  if (!ctx.containerNames.has(name) && !ctx.hostNames.has(name)) failRef(node, path, unknownName(ctx, name, false));
  return name;
}

/** A container, a host, or an IPv4 literal (normalized). */
function targetRef(ctx: Ctx, node: YamlNode, path: string): string {
  const name = str(node, path, "a container, host or IPv4 address");
  if (/^[\d.]+$/.test(name)) return formatIpv4(ipv4(node, path));
  if (!ctx.containerNames.has(name) && !ctx.hostNames.has(name)) failRef(node, path, unknownName(ctx, name, true));
  return name;
}

function unknownName(ctx: Ctx, name: string, ipOk: boolean): string {
  const near = closest(name, [...ctx.containerNames.keys(), ...ctx.hostNames.keys()]);
  const mean = near === undefined ? "" : `did you mean "${near}"? `;
  return `"${name}" is not a container${ipOk ? ", host or IPv4 address" : " or host"} (${mean}containers: ${listOf(ctx.containerNames.keys())}; hosts: ${listOf(ctx.hostNames.keys())})`;
}

/** `<namespace>/<ifname>`. */
function ifaceRef(ctx: Ctx, node: YamlNode, path: string): string {
  const text = str(node, path, "an interface, <namespace>/<ifname>");
  const m = /^([^/]+)\/([^/]+)$/.exec(text);
  if (m === null) fail(node, path, `"${text}" is not <namespace>/<ifname> (e.g. "web/eth0" or "host1/docker0")`);
  const [, ns, ifname] = m as unknown as [string, string, string];
  if (!ctx.containerNames.has(ns) && !ctx.hostNames.has(ns)) failRef(node, path, `namespace ${unknownName(ctx, ns, false)}`);
  checkIfname(node, path, ifname, "interface name");
  if (ctx.containerNames.has(ns)) checkContainerIfname(ctx, node, path, ns, ifname, true);
  return text;
}

// ---- capture and expect --------------------------------------------------------------------

export function readCapture(ctx: Ctx, node: YamlNode | undefined): string[] | "all" {
  if (node === undefined) return "all";
  if (node.kind === "scalar" && node.value === "all") return "all";
  if (node.kind === "map" || (node.kind === "scalar" && (node.value !== null || node.quoted))) {
    fail(node, "capture", `expected "all" or a list of <namespace>/<ifname>, found ${describe(node)}`);
  }
  const refs: string[] = [];
  seq(node, "capture", "interfaces").forEach((item, i) => {
    ctx.r.guard(() => {
      const ref = ifaceRef(ctx, item, itemPath("capture", i));
      if (refs.includes(ref)) fail(item, itemPath("capture", i), `${ref} is listed twice`);
      refs.push(ref);
    });
  });
  return refs;
}

export function readExpect(ctx: Ctx, node: YamlNode | undefined): ExpectSpec[] {
  return readItems(ctx, node, "expect", "expectations", readExpectItem);
}

function readExpectItem(ctx: Ctx, node: YamlNode, path: string): ExpectSpec {
  const o = readObj(ctx.r, node, path, ALLOWED_KEYS.expect, "expectation settings");
  const { from, to } = endpoints(ctx, o);
  const proto = oneOf(o.need("proto", "udp, tcp or icmp"), o.field("proto"), ["udp", "tcp", "icmp"] as const, "protocol");
  const spec: ExpectSpec = { from, to, proto, reachable: o.opt("reachable", bool, true) };
  const portEntry = o.entry("port");
  if (proto === "icmp" && portEntry !== undefined) fail(portEntry, o.field("port"), "icmp has no port; remove it");
  if (proto !== "icmp") spec.port = needPort(o, proto);
  return spec;
}
