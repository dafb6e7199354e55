// The hosts section: the machines of the emulated LAN, which of them run Docker, and the
// references to a Docker host that networks and containers make.

import { cidrBroadcast, formatCidr, formatIpv4, parseCidr, type Cidr } from "../../core/addr.js";
import type { Ctx, HostInfo } from "./context.js";
import { ALLOWED_KEYS } from "./keys.js";
import { closest, fail, failRef, listOf, readObj, type Reader } from "./reader.js";
import type { HostSpec } from "./types.js";
import { bool, checkName, cidrValue, hostRange, isUnicast, mapping, str } from "./values.js";
import { childPath, type YamlEntry, type YamlNode } from "./yaml.js";

const DEFAULT_HOST: HostSpec = { name: "host", address: "192.168.1.10/24", userlandProxy: true, icc: true, ipMasq: true, docker: true };

export function readHosts(ctx: Ctx, node: YamlNode | undefined): void {
  if (node === undefined) {
    const at = { line: 1, col: 1 };
    ctx.hostNames.set(DEFAULT_HOST.name, at);
    ctx.hosts.set(DEFAULT_HOST.name, { spec: { ...DEFAULT_HOST }, at, addrAt: at, cidr: parseCidr(DEFAULT_HOST.address) });
  } else {
    const entries = mapping(node, "hosts", "hosts");
    if (entries.length === 0) fail(node, "hosts", 'at least one host is needed (or leave "hosts" out for one Docker host named "host")');
    for (const e of entries) ctx.hostNames.set(e.key, e);
    entries.forEach((e, i) => ctx.r.guard(() => ctx.hosts.set(e.key, readHost(ctx.r, e, i))));
  }
  ctx.dockerHosts = [...ctx.hostNames.keys()].filter((h) => ctx.hosts.get(h)?.spec.docker !== false);
  ctx.underlay = [...ctx.hosts.values()][0]?.cidr;
  checkHostAddresses(ctx);
}

function readHost(r: Reader, e: YamlEntry, index: number): HostInfo {
  const path = childPath("hosts", e.key);
  checkName(e, path, e.key, "host");
  const o = readObj(r, e.value, path, ALLOWED_KEYS.host, "host settings");
  const docker = o.opt("docker", bool, true);
  for (const flag of ["userland_proxy", "icc", "ip_masq"]) {
    const entry = o.entry(flag);
    if (!docker && entry !== undefined) fail(entry, o.field(flag), `"${flag}" is a Docker daemon setting, and this host has docker: false`);
  }
  const addrNode = o.get("address");
  const defaultAddr = `192.168.1.${10 + index}/24`;
  if (addrNode === undefined && index > 244) fail(e, o.field("address"), `missing: the default addresses 192.168.1.10/24 .. 192.168.1.254/24 are used up; give an address`);
  const c = addrNode === undefined ? parseCidr(defaultAddr) : hostAddress(addrNode, o.field("address"));
  const spec: HostSpec = {
    name: e.key,
    address: formatCidr(c),
    userlandProxy: o.opt("userland_proxy", bool, true),
    icc: o.opt("icc", bool, true),
    ipMasq: o.opt("ip_masq", bool, true),
    docker,
  };
  return { spec, at: e, addrAt: addrNode ?? e, cidr: c };
}

function hostAddress(node: YamlNode, path: string): Cidr {
  const c = cidrValue(node, path, "192.168.1.10/24");
  const text = formatCidr(c);
  if (c.len > 30) fail(node, path, `${text}: a LAN shared by hosts needs a prefix of /30 or shorter`);
  if (!isUnicast(c.addr)) fail(node, path, `${text} is not a unicast host address (0.x, 127.x, multicast and 240.x are not allowed)`);
  if (c.addr === c.network || c.addr === cidrBroadcast(c)) {
    const which = c.addr === c.network ? "network" : "broadcast";
    fail(node, path, `${text} is the ${which} address of ${formatIpv4(c.network)}/${c.len} (allowed: ${hostRange(c)})`);
  }
  return c;
}

/** Every host sits on one LAN: the same subnet, a different address each. */
function checkHostAddresses(ctx: Ctx): void {
  const seen = new Map<number, HostInfo>();
  for (const h of ctx.hosts.values()) {
    ctx.r.guard(() => {
      const field = childPath(childPath("hosts", h.spec.name), "address");
      const first = [...ctx.hosts.values()][0]!;
      if (h.cidr.network !== first.cidr.network || h.cidr.len !== first.cidr.len) {
        fail(h.addrAt, field, `${h.spec.address} is not on the hosts' LAN ${formatIpv4(first.cidr.network)}/${first.cidr.len} (of host "${first.spec.name}"); all hosts share one subnet`);
      }
      const other = seen.get(h.cidr.addr);
      const what = h.addrAt === h.at ? `the default address ${h.spec.address}` : `address ${formatIpv4(h.cidr.addr)}`;
      if (other !== undefined) fail(h.addrAt, field, `${what} is already used by host "${other.spec.name}" (line ${other.addrAt.line})${h.addrAt === h.at ? "; give this host an address" : ""}`);
      seen.set(h.cidr.addr, h);
    });
  }
}

/** A reference to a Docker host. */
export function hostRef(ctx: Ctx, node: YamlNode, path: string, what: string): string {
  const h = str(node, path, "a host name");
  if (!ctx.hostNames.has(h)) {
    const near = closest(h, ctx.hostNames.keys());
    failRef(node, path, `host "${h}" is not defined (${near === undefined ? "" : `did you mean "${near}"? `}defined: ${listOf(ctx.hostNames.keys())})`);
  }
  if (ctx.hosts.get(h)?.spec.docker === false) {
    fail(node, path, `host "${h}" has docker: false and cannot run ${what} (Docker hosts: ${listOf(ctx.dockerHosts)})`);
  }
  return h;
}
