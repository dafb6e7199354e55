// Readers of single values (strings, flags, integers, durations, rates, percentages, IPv4
// addresses, CIDRs, MACs) and the name rules, so that every section rejects a bad value with the
// same words and says what is allowed.

import { cidrBroadcast, formatIpv4, formatMac, macIsMulticast, parseCidr, parseIpv4, parseMac, type AddrError, type Cidr } from "../../core/addr.js";
import { closest, describe, fail } from "./reader.js";
import type { Mark, YamlEntry, YamlNode } from "./yaml.js";

export function str(node: YamlNode, path: string, what = "a string"): string {
  if (node.kind === "scalar" && typeof node.value === "string") return node.value;
  // A number written where text is expected (a name such as 2024) reads as written.
  if (node.kind === "scalar" && typeof node.value === "number") return node.text;
  return fail(node, path, `expected ${what}, found ${describe(node)}`);
}

export function bool(node: YamlNode, path: string): boolean {
  if (node.kind === "scalar" && typeof node.value === "boolean") return node.value;
  const quoted = node.kind === "scalar" && node.quoted && /^(true|false)$/i.test(node.text) ? " (remove the quotes)" : "";
  return fail(node, path, `expected true or false, found ${describe(node)}${quoted}`);
}

export function int(node: YamlNode, path: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (node.kind !== "scalar" || typeof node.value !== "number" || !Number.isSafeInteger(node.value)) {
    const quoted = node.kind === "scalar" && node.quoted && /^\d+$/.test(node.text) ? " (remove the quotes)" : "";
    fail(node, path, `expected an integer ${rangeText(min, max)}, found ${describe(node)}${quoted}`);
  }
  return inRange(node.value, node, path, min, max);
}

/** An integer that may also be written as a string of digits, as Docker's options are. */
export function intOrDigits(node: YamlNode, path: string, min: number, max: number): number {
  if (node.kind === "scalar" && typeof node.value === "string" && /^\d{1,15}$/.test(node.value)) {
    return inRange(Number(node.value), node, path, min, max);
  }
  return int(node, path, min, max);
}

function inRange(n: number, at: Mark, path: string, min: number, max: number): number {
  if (n < min || n > max) fail(at, path, `${n} is out of range (allowed: ${rangeText(min, max)})`);
  return n;
}

function rangeText(min: number, max: number): string {
  return max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `${min}..${max}`;
}

export function oneOf<T extends string>(node: YamlNode, path: string, allowed: readonly T[], what: string): T {
  const s = str(node, path, `a ${what} (${allowed.join(", ")})`);
  if (!(allowed as readonly string[]).includes(s)) {
    const near = closest(s, allowed);
    fail(node, path, `unknown ${what} "${s}" (${near === undefined ? "" : `did you mean "${near}"? `}allowed: ${allowed.join(", ")})`);
  }
  return s as T;
}

export function seq(node: YamlNode, path: string, what: string): YamlNode[] {
  if (node.kind === "seq") return node.items;
  if (node.kind === "scalar" && node.value === null && !node.quoted) return [];
  const hint = node.kind === "scalar" ? ` (write a list: [${node.quoted ? JSON.stringify(node.text) : node.text}])` : "";
  return fail(node, path, `expected a list of ${what}, found ${describe(node)}${hint}`);
}

export function mapping(node: YamlNode, path: string, what: string): YamlEntry[] {
  if (node.kind === "map") return node.entries;
  if (node.kind === "scalar" && node.value === null && !node.quoted) return [];
  return fail(node, path, `expected a mapping of ${what} (name: settings), found ${describe(node)}`);
}

// ---- units ---------------------------------------------------------------------------------

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9, m: 60e9 };
const RATE_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9, tbit: 1e12 };

/** "10ms" → 10_000_000 (ns). A bare 0 is allowed: it needs no unit. */
export function duration(node: YamlNode, path: string, positive = false): number {
  const expected = 'a number and a unit: ns, us, ms, s or m, e.g. "10ms", "1.5s"';
  if (node.kind === "scalar" && node.value === 0 && !positive) return 0;
  if (node.kind === "scalar" && typeof node.value === "number") fail(node, path, `${node.text} needs a unit (expected ${expected})`);
  const text = str(node, path, `a duration (${expected})`);
  const m = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m)$/.exec(text);
  if (m === null) fail(node, path, `bad duration "${text}" (expected ${expected})`);
  const ns = Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!);
  if (!Number.isSafeInteger(ns)) fail(node, path, `duration "${text}" is too long (at most ${Number.MAX_SAFE_INTEGER} ns)`);
  if (positive && ns === 0) fail(node, path, `duration "${text}" must be longer than 0`);
  return ns;
}

/** tc's rate units, bits per second ("10mbit" → 10_000_000). */
export function rate(node: YamlNode, path: string): number {
  const expected = 'a number and a unit: bit, kbit, mbit, gbit or tbit (tc units, kbit = 1000 bit/s), e.g. "10mbit"';
  if (node.kind === "scalar" && typeof node.value === "number") fail(node, path, `${node.text} needs a unit (expected ${expected})`);
  const text = str(node, path, `a rate (${expected})`);
  const m = /^(\d+(?:\.\d+)?)([a-z]+)$/i.exec(text);
  const unit = m?.[2]?.toLowerCase() ?? "";
  if (m !== null && /^[kmgt]?bps$/.test(unit)) {
    const bits = `${Number(m[1]) * 8}${unit[0] === "b" ? "" : unit[0]}bit`;
    fail(node, path, `bad rate "${text}": tc reads ${m[2]} as bytes per second; write bits, e.g. "${bits}" (units: bit, kbit, mbit, gbit, tbit)`);
  }
  if (m === null || RATE_UNITS[unit] === undefined) fail(node, path, `bad rate "${text}" (expected ${expected})`);
  const bps = Math.round(Number(m[1]) * RATE_UNITS[unit]!);
  if (bps < 1 || !Number.isSafeInteger(bps)) fail(node, path, `rate "${text}" is out of range (allowed: 1bit to ${Number.MAX_SAFE_INTEGER}bit)`);
  return bps;
}

/** "1%" or a fraction 0..1 → 0..1. */
export function percent(node: YamlNode, path: string): number {
  const expected = 'a percentage such as "1%" or "0.5%", or a fraction 0..1';
  if (node.kind === "scalar" && typeof node.value === "number") {
    if (node.value >= 0 && node.value <= 1) return node.value;
    const hint = node.value > 1 && node.value <= 100 ? `; write "${node.value}%" for ${node.value} percent` : "";
    fail(node, path, `${node.value} is not a fraction 0..1 (expected ${expected}${hint})`);
  }
  const text = str(node, path, expected);
  const m = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (m === null) fail(node, path, `bad percentage "${text}" (expected ${expected})`);
  const p = Number(m[1]);
  if (p > 100) fail(node, path, `${text} is more than 100%`);
  return p / 100;
}

// ---- addresses -----------------------------------------------------------------------------

export function ipv4(node: YamlNode, path: string): number {
  const text = str(node, path, 'an IPv4 address such as "172.20.0.10"');
  try {
    return parseIpv4(text);
  } catch (e) {
    return fail(node, path, `bad IPv4 address ${(e as AddrError).message}`);
  }
}

export function cidrValue(node: YamlNode, path: string, example: string): Cidr {
  const text = str(node, path, `a CIDR such as "${example}"`);
  if (!text.includes("/")) fail(node, path, `"${text}" has no prefix length (expected ADDRESS/PREFIX, e.g. "${example}")`);
  try {
    return parseCidr(text);
  } catch (e) {
    return fail(node, path, `bad CIDR ${(e as AddrError).message} (expected ADDRESS/PREFIX, e.g. "${example}")`);
  }
}

/** "a.b.c.d .. w.x.y.z": the addresses of a prefix that can be given to an interface. */
export function hostRange(c: Cidr): string {
  return `${formatIpv4(c.network + 1)}..${formatIpv4(cidrBroadcast(c) - 1)}`;
}

/** The addresses a container may be given: the host range without the gateway. */
export function fixedRange(c: Cidr, gateway: number): string {
  const first = c.network + 1;
  const last = cidrBroadcast(c) - 1;
  if (gateway === first) return `${formatIpv4(first + 1)}..${formatIpv4(last)}`;
  if (gateway === last) return `${formatIpv4(first)}..${formatIpv4(last - 1)}`;
  return `${formatIpv4(first)}..${formatIpv4(last)} except the gateway ${formatIpv4(gateway)}`;
}

/** 0.0.0.0/8, loopback, multicast and the reserved class E cannot be an interface address. */
export function isUnicast(ip: number): boolean {
  const first = ip >>> 24;
  return first !== 0 && first !== 127 && first < 224;
}

export function macValue(node: YamlNode, path: string): string {
  const text = str(node, path, 'a MAC address such as "02:42:ac:11:00:09"');
  let mac: number;
  try {
    mac = parseMac(text);
  } catch (e) {
    return fail(node, path, `bad MAC address ${(e as AddrError).message}`);
  }
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(text)) fail(node, path, `bad MAC address "${text}" (expected 6 two-digit hex bytes separated by ":", e.g. "02:42:ac:11:00:09")`);
  if (macIsMulticast(mac)) fail(node, path, `${text} is a multicast address (the lowest bit of its first byte is set); a container needs a unicast MAC such as 02:42:ac:11:00:09`);
  if (mac === 0) fail(node, path, "00:00:00:00:00:00 is not a usable address");
  return formatMac(mac);
}

// ---- names ---------------------------------------------------------------------------------

/** Hosts and networks: names that can prefix an interface ref (`<namespace>/<ifname>`). */
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** Docker's container name rule (daemon/names: RestrictedNameChars). */
export const CONTAINER_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** Linux interface names: at most 15 bytes (IFNAMSIZ - 1), no "/", ":" or blanks. */
const IFNAME_RE = /^[^\s/:]{1,15}$/;

export function checkName(at: Mark, path: string, name: string, what: string): void {
  if (!NAME_RE.test(name)) fail(at, path, `invalid ${what} name "${name}" (allowed: a letter or digit, then letters, digits, "_", "." or "-")`);
}

export function checkIfname(at: Mark, path: string, name: string, what: string): void {
  if (!IFNAME_RE.test(name) || name === "." || name === "..") {
    fail(at, path, `invalid ${what} "${name}" (a Linux interface name: 1 to 15 characters, no "/", ":" or blanks)`);
  }
}
