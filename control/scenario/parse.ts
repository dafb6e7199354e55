// Scenario files → Scenario (types.ts): a YAML document (yaml.ts) in the compose-like format of
// docs/scenario.md, every value checked, every reference resolved, every default filled in. An
// error points at the node it is about, `<file>:<line>:<col>: <field>: <reason>`, and its reason
// says what is wrong and what is allowed.
//
// Reading goes section by section: hosts, networks, containers, links, traffic, capture, expect.
// Names are collected from the mapping keys before any entry is read, and each entry is read on
// its own: a bad entry neither hides the errors of the others (parseScenarioAll) nor causes
// follow-on errors (a reference to it still resolves; a check that needs its details skips it).
// Errors are ordered by position, so parseScenario reports the one that comes first in the file.

import { readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import {
  AddrError, cidr, cidrBroadcast, cidrContains, cidrOverlaps, formatCidr, formatIpv4, formatMac,
  macIsMulticast, parseCidr, parseIpv4, parseMac, type Cidr,
} from "../../core/addr.js";
import { ROOT_FIELD, YamlError, childPath, itemPath, parseYaml, type Mark, type YamlEntry, type YamlNode } from "./yaml.js";
import type {
  AttachSpec, ContainerSpec, ExpectSpec, HostSpec, LinkImpairSpec, NetworkSpec, PortSpec, Scenario, TrafficSpec,
} from "./types.js";

export class ScenarioError extends Error {
  override name = "ScenarioError";
  constructor(
    readonly file: string,
    /** 1-based; 0 when the file could not be read. */
    readonly line: number,
    readonly col: number,
    /** Dotted path of the offending value, e.g. `containers.web.ports[0]`. */
    readonly field: string,
    readonly reason: string,
  ) {
    // a file that could not be read has no position: "FILE: cannot read the file: ..."
    super(line === 0 ? `${file}: ${reason}` : `${file}:${line}:${col}: ${field}: ${reason}`);
  }
}

export interface ScenarioResult {
  /** Present when there are no errors. */
  scenario?: Scenario;
  /** Every error found, in file order. */
  errors: ScenarioError[];
}

const ICC_OPT = "com.docker.network.bridge.enable_icc";
const MASQ_OPT = "com.docker.network.bridge.enable_ip_masquerade";
const MTU_OPT = "com.docker.network.driver.mtu";
const BRIDGE_NAME_OPT = "com.docker.network.bridge.name";

/** The keys each kind of mapping accepts; docs/scenario.md and schema/scenario.schema.json list
 *  the same (a test compares the schema with these). */
export const ALLOWED_KEYS = {
  scenario: ["name", "seed", "profile", "duration", "hosts", "networks", "containers", "links", "traffic", "capture", "expect"],
  host: ["address", "userland_proxy", "icc", "ip_masq", "docker"],
  network: ["driver", "hosts", "subnet", "gateway", "internal", "options"],
  networkOptions: [ICC_OPT, MASQ_OPT, MTU_OPT, BRIDGE_NAME_OPT, "icc", "ip_masq", "mtu"],
  defaultBridge: ["driver", "subnet", "gateway", "options"],
  defaultBridgeOptions: [MTU_OPT, "mtu"],
  container: ["name", "host", "networks", "network_mode", "ports", "mac_address", "ip"],
  attachment: ["ipv4_address"],
  port: ["target", "published", "protocol", "host_ip"],
  link: ["at", "direction", "delay", "jitter", "loss", "duplicate", "rate", "limit"],
  ping: ["type", "from", "to", "count", "interval", "size", "start"],
  udp: ["type", "from", "to", "port", "flows", "packets", "rate", "size", "start"],
  tcp: ["type", "from", "to", "port", "bytes", "connections", "start"],
  replay: ["type", "file", "into", "mode", "timing", "start"],
  expect: ["from", "to", "proto", "port", "reachable"],
} as const satisfies Record<string, readonly string[]>;

/** Parse and validate a scenario; throws the first ScenarioError (in file order). */
export function parseScenario(text: string, file: string): Scenario {
  const result = parseScenarioAll(text, file);
  if (result.scenario === undefined) throw result.errors[0]!;
  return result.scenario;
}

/** Read a scenario file; an unreadable file is a ScenarioError at line 0. */
export function loadScenario(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ScenarioError(path, 0, 0, "(file)", `cannot read the file: ${(e as Error).message}`);
  }
  return parseScenario(text, path);
}

/** Parse and validate a scenario, collecting every error instead of stopping at the first. */
export function parseScenarioAll(text: string, file: string): ScenarioResult {
  const r = new Reader(file);
  const scenario = r.guard(() => readScenario(r, text));
  const errors = r.sorted();
  return errors.length === 0 && scenario !== undefined ? { scenario, errors: [] } : { errors };
}

// ---- faults, the reader, and reading typed values ---------------------------------------------

/** A rejected value; the Reader turns it into a ScenarioError of its file. */
class Fault {
  constructor(
    readonly at: Mark,
    readonly field: string,
    readonly reason: string,
    /** 1: a name that is not defined. Such errors come after the others, which may explain them
     *  (a misspelt `containers:` leaves every container undefined). */
    readonly tier = 0,
  ) {}
}

/** Abandons an entry whose fault is already reported (a required key missing because it was
 *  misspelt: the "unknown key" error says it all). */
const SILENT = Symbol("silent");

function fail(at: Mark, field: string, reason: string): never {
  throw new Fault(at, field === "" ? ROOT_FIELD : field, reason);
}

function failRef(at: Mark, field: string, reason: string): never {
  throw new Fault(at, field, reason, 1);
}

class Reader {
  private readonly faults: Fault[] = [];
  readonly dir: string;
  constructor(readonly file: string) {
    this.dir = dirname(resolve(file));
  }

  report(f: Fault): void {
    this.faults.push(f);
  }

  /** Run `read`; a Fault is recorded and gives undefined. */
  guard<T>(read: () => T): T | undefined {
    try {
      return read();
    } catch (e) {
      if (e === SILENT) return undefined;
      if (!(e instanceof Fault)) throw e;
      this.report(e);
      return undefined;
    }
  }

  /** The errors by tier, then by position in the file. */
  sorted(): ScenarioError[] {
    return [...this.faults]
      .sort((a, b) => a.tier - b.tier || a.at.line - b.at.line || a.at.col - b.at.col)
      .map((f) => new ScenarioError(this.file, f.at.line, f.at.col, f.field, f.reason));
  }
}

/** A mapping being read: its entries by key, and where it is. */
class Obj {
  private readonly byKey: Map<string, YamlEntry>;
  /** Allowed keys that an unknown key was taken to be a misspelling of. */
  readonly suggested = new Set<string>();
  constructor(readonly at: Mark, readonly path: string, entries: YamlEntry[]) {
    this.byKey = new Map(entries.map((e) => [e.key, e]));
  }
  get(key: string): YamlNode | undefined {
    return this.byKey.get(key)?.value;
  }
  entry(key: string): YamlEntry | undefined {
    return this.byKey.get(key);
  }
  field(key: string): string {
    return childPath(this.path, key);
  }
  need(key: string, why: string): YamlNode {
    const v = this.get(key);
    if (v === undefined && this.suggested.has(key)) throw SILENT;
    if (v === undefined) fail(this.at, this.field(key), `missing required key "${key}" (${why})`);
    return v;
  }
  /** `read` of the key's value, or `dflt` when the key is absent. */
  opt<T>(key: string, read: (node: YamlNode, path: string) => T, dflt: T): T {
    const v = this.get(key);
    return v === undefined ? dflt : read(v, this.field(key));
  }
}

type Hints = Partial<Record<string, string>>;

/** A mapping (an empty value counts as an empty one) whose keys are all in `allowed`; each
 *  unknown key is reported on its own and otherwise ignored. */
function readObj(r: Reader, node: YamlNode, path: string, allowed: readonly string[], what: string, hints: Hints = {}): Obj {
  if (node.kind === "scalar" && node.value === null && !node.quoted) return new Obj(node, path, []);
  if (node.kind !== "map") fail(node, path, `expected a mapping of ${what} (keys: ${allowed.join(", ")}), found ${describe(node)}`);
  const o = new Obj(node, path, node.entries);
  for (const e of node.entries) {
    if (allowed.includes(e.key)) continue;
    const hint = hints[e.key];
    const colon = e.key.indexOf(":");
    const glued = colon > 0 && allowed.includes(e.key.slice(0, colon)) ? e.key.slice(0, colon) : undefined;
    const near = hint === undefined ? glued ?? closest(e.key, allowed) : undefined;
    if (near !== undefined) o.suggested.add(near);
    r.report(new Fault(e, childPath(path, e.key), unknownKey(e.key, allowed, hint ?? (glued === undefined ? undefined : gluedHint(e.key, colon)), near)));
  }
  return o;
}

function gluedHint(key: string, colon: number): string {
  return `write "${key.slice(0, colon)}: ${key.slice(colon + 1)}", with a blank after the colon`;
}

function unknownKey(key: string, allowed: readonly string[], hint: string | undefined, near: string | undefined): string {
  const list = `allowed: ${allowed.join(", ")}`;
  if (hint !== undefined) return `unknown key "${key}" (${hint}; ${list})`;
  return near === undefined ? `unknown key "${key}" (${list})` : `unknown key "${key}" (did you mean "${near}"? ${list})`;
}

/** The candidate within a small edit distance of `s`, for "did you mean" hints. */
function closest(s: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(1, Math.min(2, Math.floor(s.length / 3)));
  for (const c of candidates) {
    const d = editDistance(s.toLowerCase(), c.toLowerCase());
    if (d <= bestD && (best === undefined || d < bestD)) [best, bestD] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const swap = i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1] ? prev[j - 2]! : Infinity;
      cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1), swap));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

function describe(node: YamlNode): string {
  if (node.kind === "seq") return "a list";
  if (node.kind === "map") return "a mapping";
  if (node.value === null && !node.quoted) return "an empty value";
  if (typeof node.value === "string") return `the string ${JSON.stringify(node.value)}`;
  return String(node.value);
}

/** Names in messages: `"a", "b"` or "none". */
function listOf(names: Iterable<string>): string {
  const all = [...names];
  return all.length === 0 ? "none" : all.join(", ");
}

function str(node: YamlNode, path: string, what = "a string"): string {
  if (node.kind === "scalar" && typeof node.value === "string") return node.value;
  // A number written where text is expected (a name such as 2024) reads as written.
  if (node.kind === "scalar" && typeof node.value === "number") return node.text;
  return fail(node, path, `expected ${what}, found ${describe(node)}`);
}

function bool(node: YamlNode, path: string): boolean {
  if (node.kind === "scalar" && typeof node.value === "boolean") return node.value;
  const quoted = node.kind === "scalar" && node.quoted && /^(true|false)$/i.test(node.text) ? " (remove the quotes)" : "";
  return fail(node, path, `expected true or false, found ${describe(node)}${quoted}`);
}

function int(node: YamlNode, path: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (node.kind !== "scalar" || typeof node.value !== "number" || !Number.isSafeInteger(node.value)) {
    const quoted = node.kind === "scalar" && node.quoted && /^\d+$/.test(node.text) ? " (remove the quotes)" : "";
    fail(node, path, `expected an integer ${rangeText(min, max)}, found ${describe(node)}${quoted}`);
  }
  return inRange(node.value, node, path, min, max);
}

/** An integer that may also be written as a string of digits, as Docker's options are. */
function intOrDigits(node: YamlNode, path: string, min: number, max: number): number {
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

function oneOf<T extends string>(node: YamlNode, path: string, allowed: readonly T[], what: string): T {
  const s = str(node, path, `a ${what} (${allowed.join(", ")})`);
  if (!(allowed as readonly string[]).includes(s)) {
    const near = closest(s, allowed);
    fail(node, path, `unknown ${what} "${s}" (${near === undefined ? "" : `did you mean "${near}"? `}allowed: ${allowed.join(", ")})`);
  }
  return s as T;
}

function seq(node: YamlNode, path: string, what: string): YamlNode[] {
  if (node.kind === "seq") return node.items;
  if (node.kind === "scalar" && node.value === null && !node.quoted) return [];
  const hint = node.kind === "scalar" ? ` (write a list: [${node.quoted ? JSON.stringify(node.text) : node.text}])` : "";
  return fail(node, path, `expected a list of ${what}, found ${describe(node)}${hint}`);
}

function mapping(node: YamlNode, path: string, what: string): YamlEntry[] {
  if (node.kind === "map") return node.entries;
  if (node.kind === "scalar" && node.value === null && !node.quoted) return [];
  return fail(node, path, `expected a mapping of ${what} (name: settings), found ${describe(node)}`);
}

// ---- units ---------------------------------------------------------------------------------

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9, m: 60e9 };
const RATE_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9, tbit: 1e12 };

/** "10ms" → 10_000_000 (ns). A bare 0 is allowed: it needs no unit. */
function duration(node: YamlNode, path: string, positive = false): number {
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
function rate(node: YamlNode, path: string): number {
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
function percent(node: YamlNode, path: string): number {
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

function ipv4(node: YamlNode, path: string): number {
  const text = str(node, path, 'an IPv4 address such as "172.20.0.10"');
  try {
    return parseIpv4(text);
  } catch (e) {
    return fail(node, path, `bad IPv4 address ${(e as AddrError).message}`);
  }
}

function cidrValue(node: YamlNode, path: string, example: string): Cidr {
  const text = str(node, path, `a CIDR such as "${example}"`);
  if (!text.includes("/")) fail(node, path, `"${text}" has no prefix length (expected ADDRESS/PREFIX, e.g. "${example}")`);
  try {
    return parseCidr(text);
  } catch (e) {
    return fail(node, path, `bad CIDR ${(e as AddrError).message} (expected ADDRESS/PREFIX, e.g. "${example}")`);
  }
}

/** "a.b.c.d .. w.x.y.z": the addresses of a prefix that can be given to an interface. */
function hostRange(c: Cidr): string {
  return `${formatIpv4(c.network + 1)}..${formatIpv4(cidrBroadcast(c) - 1)}`;
}

/** The addresses a container may be given: the host range without the gateway. */
function fixedRange(c: Cidr, gateway: number): string {
  const first = c.network + 1;
  const last = cidrBroadcast(c) - 1;
  if (gateway === first) return `${formatIpv4(first + 1)}..${formatIpv4(last)}`;
  if (gateway === last) return `${formatIpv4(first)}..${formatIpv4(last - 1)}`;
  return `${formatIpv4(first)}..${formatIpv4(last)} except the gateway ${formatIpv4(gateway)}`;
}

/** 0.0.0.0/8, loopback, multicast and the reserved class E cannot be an interface address. */
function isUnicast(ip: number): boolean {
  const first = ip >>> 24;
  return first !== 0 && first !== 127 && first < 224;
}

function macValue(node: YamlNode, path: string): string {
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
const CONTAINER_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** Linux interface names: at most 15 bytes (IFNAMSIZ - 1), no "/", ":" or blanks. */
const IFNAME_RE = /^[^\s/:]{1,15}$/;

function checkName(at: Mark, path: string, name: string, what: string): void {
  if (!NAME_RE.test(name)) fail(at, path, `invalid ${what} name "${name}" (allowed: a letter or digit, then letters, digits, "_", "." or "-")`);
}

function checkIfname(at: Mark, path: string, name: string, what: string): void {
  if (!IFNAME_RE.test(name) || name === "." || name === "..") {
    fail(at, path, `invalid ${what} "${name}" (a Linux interface name: 1 to 15 characters, no "/", ":" or blanks)`);
  }
}

// ---- the scenario --------------------------------------------------------------------------

interface HostInfo {
  spec: HostSpec;
  at: Mark;
  addrAt: Mark;
  cidr: Cidr;
}

interface NetInfo {
  spec: NetworkSpec;
  /** Where it is declared (undefined for the implicit ones). */
  at?: Mark;
  subnetAt?: Mark;
  subnet?: Cidr;
  gateway?: number;
}

interface AttachInfo {
  network: string;
  at: Mark;
  ip?: number;
  ipAt?: Mark;
  /** Where the address was given: `...networks.<name>.ipv4_address` or `...ip`. */
  ipField?: string;
}

interface PortInfo {
  spec: PortSpec;
  at: Mark;
  field: string;
}

interface CtrInfo {
  spec: ContainerSpec;
  at: Mark;
  path: string;
  modeAt?: Mark;
  attaches: AttachInfo[];
  ports: PortInfo[];
}

/** What the sections read so far know: declared names, and the details of valid entries. */
interface Ctx {
  r: Reader;
  hostNames: Map<string, Mark>;
  hosts: Map<string, HostInfo>;
  dockerHosts: string[];
  /** The hosts' shared LAN (from the first valid host). */
  underlay?: Cidr;
  networkNames: Set<string>;
  networks: Map<string, NetInfo>;
  containerNames: Map<string, Mark>;
  containers: Map<string, CtrInfo>;
}

function readScenario(r: Reader, text: string): Scenario {
  const root = readYamlRoot(text);
  const top = readObj(r, root, "", ALLOWED_KEYS.scenario, "scenario settings");
  const ctx: Ctx = {
    r, hostNames: new Map(), hosts: new Map(), dockerHosts: [], networkNames: new Set(), networks: new Map(),
    containerNames: new Map(), containers: new Map(),
  };
  const meta = readMeta(r, top);
  readHosts(ctx, top.get("hosts"));
  const networks = readNetworks(ctx, top.get("networks"));
  readContainers(ctx, top.get("containers"));
  const scenario: Scenario = {
    file: r.file,
    ...meta,
    hosts: [...ctx.hosts.values()].map((h) => h.spec),
    networks,
    containers: [...ctx.containers.values()].map((c) => c.spec),
    links: readLinks(ctx, top.get("links")),
    traffic: readTraffic(ctx, top.get("traffic")),
    capture: readCapture(ctx, top.get("capture")),
    expect: readExpect(ctx, top.get("expect")),
  };
  return scenario;
}

function readYamlRoot(text: string): YamlNode {
  let root: YamlNode | undefined;
  try {
    root = parseYaml(text);
  } catch (e) {
    if (!(e instanceof YamlError)) throw e;
    fail(e, e.field, e.reason);
  }
  const keys = ALLOWED_KEYS.scenario.join(", ");
  if (root === undefined) fail({ line: 1, col: 1 }, "", `the file is empty (a scenario is a mapping with the keys ${keys})`);
  if (root.kind !== "map") fail(root, "", `the top level must be a mapping with the keys ${keys}; found ${describe(root)}`);
  return root;
}

function readMeta(r: Reader, top: Obj): Pick<Scenario, "name" | "seed" | "profile" | "durationNs"> {
  const meta: Pick<Scenario, "name" | "seed" | "profile" | "durationNs"> = { seed: 1, profile: "classic" };
  r.guard(() => {
    const name = top.opt("name", (n, p) => str(n, p, "a name"), undefined);
    if (name !== undefined) meta.name = name;
  });
  r.guard(() => (meta.seed = top.opt("seed", (n, p) => int(n, p, 0), 1)));
  r.guard(() => (meta.profile = top.opt("profile", (n, p) => oneOf(n, p, ["classic", "modern"] as const, "profile"), "classic")));
  r.guard(() => {
    const d = top.opt("duration", (n, p) => duration(n, p, true), undefined);
    if (d !== undefined) meta.durationNs = d;
  });
  return meta;
}

// ---- hosts ---------------------------------------------------------------------------------

const DEFAULT_HOST: HostSpec = { name: "host", address: "192.168.1.10/24", userlandProxy: true, icc: true, ipMasq: true, docker: true };

function readHosts(ctx: Ctx, node: YamlNode | undefined): void {
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

// ---- networks ------------------------------------------------------------------------------

/** Docker's local address pools, in the order it tries them (BEHAVIOR.md 1.1). */
const DEFAULT_POOLS: Cidr[] = [
  ...Array.from({ length: 15 }, (_, i) => cidr(((172 << 24) | ((17 + i) << 16)) >>> 0, 16)),
  ...Array.from({ length: 16 }, (_, i) => cidr(((192 << 24) | (168 << 16) | ((16 * i) << 8)) >>> 0, 20)),
];

const UNAVAILABLE_DRIVERS = ["overlay", "calico", "macvlan", "ipvlan"];

/** Implicit networks first ("bridge", "host", "none" when there is a Docker host), then the
 *  user-defined ones in file order. */
function readNetworks(ctx: Ctx, node: YamlNode | undefined): NetworkSpec[] {
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

/** A reference to a Docker host. */
function hostRef(ctx: Ctx, node: YamlNode, path: string, what: string): string {
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

// ---- containers ----------------------------------------------------------------------------

function readContainers(ctx: Ctx, node: YamlNode | undefined): void {
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

function definedContainers(ctx: Ctx, name: string): string {
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

// ---- published ports -----------------------------------------------------------------------

const PORT_SYNTAX = 'expected [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO], e.g. "8080:80", "127.0.0.1:5353:53/udp" or "9000-9002:9000-9002"';

function readPorts(r: Reader, node: YamlNode, path: string): PortInfo[] {
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
function checkPublishedPorts(ctx: Ctx): void {
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

// ---- links (impairments) -------------------------------------------------------------------

function readLinks(ctx: Ctx, node: YamlNode | undefined): LinkImpairSpec[] {
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

function readTraffic(ctx: Ctx, node: YamlNode | undefined): TrafficSpec[] {
  const items = node === undefined ? [] : seq(node, "traffic", "traffic generators");
  const out: TrafficSpec[] = [];
  items.forEach((item, i) => {
    const spec = ctx.r.guard(() => readTrafficItem(ctx, item, itemPath("traffic", i)));
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

function readCapture(ctx: Ctx, node: YamlNode | undefined): string[] | "all" {
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

function readExpect(ctx: Ctx, node: YamlNode | undefined): ExpectSpec[] {
  const items = node === undefined ? [] : seq(node, "expect", "expectations");
  const out: ExpectSpec[] = [];
  items.forEach((item, i) => {
    const spec = ctx.r.guard(() => readExpectItem(ctx, item, itemPath("expect", i)));
    if (spec !== undefined) out.push(spec);
  });
  return out;
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
