// Published ports: docker -p and compose's long syntax, and the bindings on one host that Docker
// would refuse as already allocated or not the host's address.

import { formatIpv4, parseIpv4, type AddrError } from "../../core/addr.js";
import type { CtrInfo, Ctx, PortInfo } from "./context.js";
import { ALLOWED_KEYS } from "./keys.js";
import { fail, readObj, type Reader } from "./reader.js";
import type { PortSpec } from "./types.js";
import { int, intOrDigits, oneOf, seq, str } from "./values.js";
import { itemPath, type Mark, type YamlNode } from "./yaml.js";

const PORT_SYNTAX = 'expected [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO], e.g. "8080:80", "127.0.0.1:5353:53/udp" or "9000-9002:9000-9002"';

export function readPorts(r: Reader, node: YamlNode, path: string): PortInfo[] {
  return seq(node, path, "port mappings").flatMap((item, i) => {
    const field = itemPath(path, i);
    const specs = item.kind === "map" ? portLong(r, item, field) : portShort(item, field);
    return specs.map((spec) => ({ spec, at: item, field }));
  });
}

/** docker -p syntax; ranges expand to one PortSpec per port. */
function portShort(node: YamlNode, path: string): PortSpec[] {
  if (node.kind === "scalar" && typeof node.value === "number") {
    fail(node, path, `${node.text} has no host port: ephemeral host ports are not supported (write "HOST:CONTAINER", e.g. "8080:${node.text}")`);
  }
  const text = str(node, path, `a port mapping (${PORT_SYNTAX}) or a mapping {target, published, protocol, host_ip}`);
  const slash = text.lastIndexOf("/");
  const proto = slash < 0 ? "tcp" : portProto(node, path, text.slice(slash + 1), text);
  const rest = slash < 0 ? text : text.slice(0, slash);
  if (rest.startsWith("[")) fail(node, path, `bad port mapping "${text}" (IPv6 host addresses are not supported; ${PORT_SYNTAX})`);
  const parts = rest.split(":");
  if (parts.length > 3) fail(node, path, `bad port mapping "${text}" (${PORT_SYNTAX})`);
  const [hostIp, hostPart, ctrPart] = parts.length === 3 ? parts : parts.length === 2 ? [undefined, ...parts] : [undefined, undefined, parts[0]];
  if (hostPart === undefined || hostPart === "") {
    fail(node, path, `"${text}" has no host port: ephemeral host ports are not supported (write "HOST:CONTAINER", e.g. "8080:${ctrPart}")`);
  }
  const ip = hostIp === undefined ? undefined : portHostIp(node, path, hostIp);
  const host = portRange(node, path, hostPart, text);
  const ctr = portRange(node, path, ctrPart!, text);
  if (host[1] - host[0] !== ctr[1] - ctr[0]) {
    fail(node, path, `"${text}": the host range has ${host[1] - host[0] + 1} port(s) but the container range ${ctr[1] - ctr[0] + 1}; they must be the same length`);
  }
  return Array.from({ length: host[1] - host[0] + 1 }, (_, i) => portSpec(ip, host[0] + i, ctr[0] + i, proto));
}

function portSpec(hostIp: string | undefined, hostPort: number, containerPort: number, proto: PortSpec["proto"]): PortSpec {
  return hostIp === undefined ? { hostPort, containerPort, proto } : { hostIp, hostPort, containerPort, proto };
}

function portProto(node: YamlNode, path: string, proto: string, text: string): PortSpec["proto"] {
  if (proto === "tcp" || proto === "udp") return proto;
  const sctp = proto === "sctp" ? "sctp is not supported; " : "";
  return fail(node, path, `unknown protocol "${proto}" in "${text}" (${sctp}allowed: tcp, udp)`);
}

/** 0.0.0.0 (every address) is the default, kept as an absent hostIp. */
function portHostIp(node: YamlNode, path: string, text: string): string | undefined {
  try {
    const ip = parseIpv4(text);
    return ip === 0 ? undefined : formatIpv4(ip);
  } catch (e) {
    return fail(node, path, `bad host address in port mapping: ${(e as AddrError).message}`);
  }
}

function portRange(node: YamlNode, path: string, s: string, text: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (m === null) fail(node, path, `bad port mapping "${text}" (${PORT_SYNTAX})`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  for (const p of [lo, hi]) if (p < 1 || p > 65535) fail(node, path, `port ${p} in "${text}" is out of range (allowed: 1..65535)`);
  if (hi < lo) fail(node, path, `range ${s} in "${text}" runs backwards (write LOW-HIGH)`);
  return [lo, hi];
}

/** Compose's long syntax: {target, published, protocol, host_ip}. */
function portLong(r: Reader, node: YamlNode, path: string): PortSpec[] {
  const o = readObj(r, node, path, ALLOWED_KEYS.port, "port settings");
  const target = int(o.need("target", "the container port 1..65535"), o.field("target"), 1, 65535);
  const pubNode = o.need("published", "the host port 1..65535; ephemeral host ports are not supported");
  const published = intOrDigits(pubNode, o.field("published"), 1, 65535);
  const proto = o.opt("protocol", (n, p) => oneOf(n, p, ["tcp", "udp"] as const, "protocol"), "tcp");
  const hostIp = o.opt("host_ip", (n, p) => portHostIp(n, p, str(n, p, "an IPv4 address")), undefined);
  return [portSpec(hostIp, published, target, proto)];
}

/** Published ports on one host: a (host IP, port, protocol) once, and 0.0.0.0 covers every IP;
 *  a host IP must be one the host has. */
export function checkPublishedPorts(ctx: Ctx): void {
  const bound = new Map<string, { ip?: string; c: CtrInfo; at: Mark }[]>();
  for (const c of ctx.containers.values()) {
    c.ports.forEach((p) => {
      ctx.r.guard(() => {
        const field = p.field;
        checkHostIp(ctx, c.spec.host, p, field);
        const key = `${c.spec.host}/${p.spec.proto}/${p.spec.hostPort}`;
        const list = bound.get(key) ?? [];
        const clash = list.find((b) => b.ip === undefined || p.spec.hostIp === undefined || b.ip === p.spec.hostIp);
        if (clash !== undefined) {
          const covers = clash.ip !== p.spec.hostIp ? "; 0.0.0.0 covers every address" : "";
          fail(p.at, field, `host port ${p.spec.hostPort}/${p.spec.proto} is already published on ${clash.ip ?? "0.0.0.0"} of host "${c.spec.host}" by container "${clash.c.spec.name}" (line ${clash.at.line})${covers} (Docker: Bind for ${p.spec.hostIp ?? "0.0.0.0"}:${p.spec.hostPort} failed: port is already allocated)`);
        }
        bound.set(key, [...list, { ...(p.spec.hostIp === undefined ? {} : { ip: p.spec.hostIp }), c, at: p.at }]);
      });
    });
  }
}

function checkHostIp(ctx: Ctx, host: string, p: PortInfo, field: string): void {
  const ipText = p.spec.hostIp;
  const h = ctx.hosts.get(host);
  if (ipText === undefined || h === undefined) return;
  const ip = parseIpv4(ipText);
  if (ip >>> 24 === 127 || ip === h.cidr.addr) return;
  const gateways = [...ctx.networks.values()].filter((n) => n.gateway !== undefined && n.spec.hosts.includes(host)).map((n) => n.gateway!);
  if (gateways.includes(ip)) return;
  const allowed = ["0.0.0.0", "127.0.0.0/8", formatIpv4(h.cidr.addr), ...gateways.map(formatIpv4)];
  fail(p.at, field, `host address ${ipText} is not an address of host "${host}" (allowed: ${allowed.join(", ")})`);
}
