// iptables-save text in and out, IPv4, as iptables-nft 1.8 reads (iptables-restore) and prints
// (iptables-save) it. The rule model is rules.ts.
//
//   parseIptablesSave(text, file?)  -> Ruleset; throws NetfilterError
//       "iptables.rules:12: unsupported option "--tcp-flags" in rule "-A INPUT -p tcp ..."".
//   formatIptablesSave(rs, { counters?, header? }) -> text, byte for byte what iptables-save prints
//   parseRuleArgs(table, chain, argv, declared) / formatRule(chain, rule): one rule's arguments
//
// The accepted language (everything else is an error naming the line and the option, never
// ignored): `*raw|mangle|nat|filter`, `:CHAIN POLICY [pkts:bytes]`, `[pkts:bytes] -A CHAIN ...`,
// `COMMIT`, `#` comments. Rule options: -s/-d (CIDR, dotted mask, bare address = /32), -i/-o
// (`+` wildcard), -p (name or number), each with a leading `!`; -m tcp|udp (--sport, --dport, one
// port or a:b), -m icmp (--icmp-type), -m conntrack (--ctstate, --ctstatus), -m addrtype
// (--src-type, --dst-type), -m comment (--comment); -j ACCEPT|DROP|RETURN|REJECT|LOG|MASQUERADE|
// SNAT|DNAT|<chain>, -g <chain>; -c pkts bytes. iptables' own checks are made as iptables makes
// them (tcp options need `-p tcp`, no -i in OUTPUT, no DROP in nat, tcp-reset needs `-p tcp`, ...).
//
// Output is iptables' canonical form, checked against iptables-nft 1.8.9 (scripts/
// kernel-iptables.sh, fixtures/): tables in the order mangle, raw, filter, nat; built-in chains in
// the kernel's order, then user chains sorted by name (strcmp); per rule -s -d -i -o -p, then
// the match modules in the order given (tcp/udp print --sport before --dport; conntrack --ctstate
// before --ctstatus; addrtype --src-type before --dst-type), then the target. Values as iptables
// prints them: addresses masked with /len, protocols by /etc/protocols name, ports as numbers,
// lists in the kernel's bit order, strings quoted only when they need it.

import { parseIpv4, formatIpv4, AddrError } from "../../core/addr.js";
import {
  ADDRTYPE_NAMES, CT_STATE_NAMES, CT_STATUS_NAMES, HOOK_INPUT, HOOK_OUTPUT, HOOK_POSTROUTING, HOOK_PREROUTING,
  NetfilterError, REJECT_NAMES, REJECT_PORT_UNREACHABLE, REJECT_TCP_RESET, TABLE_NAMES,
  findChain, newRule, newTable, validateRuleset,
  type AddrMatch, type BitsMatch, type Chain, type MatchSpec, type NatPorts, type PortRange, type Rule,
  type Ruleset, type Table, type TableName, type TargetSpec,
} from "./rules.js";

/** A fault in one rule's arguments (parseRuleArgs); the file parser adds the file, line and rule. */
export class RuleError extends NetfilterError {}

// ---- protocol names -------------------------------------------------------------------------

/** Names iptables-save prints (getprotobynumber on Debian's /etc/protocols, netbase 6.x), checked
 *  for all of 1..255 against iptables 1.8.9 (fixtures/iptables-protocols.txt). */
const PROTO_NAMES: Record<number, string> = {
  1: "icmp", 2: "igmp", 3: "ggp", 4: "ipencap", 5: "st", 6: "tcp", 8: "egp", 9: "igp", 12: "pup",
  17: "udp", 20: "hmp", 22: "xns-idp", 27: "rdp", 29: "iso-tp4", 33: "dccp", 36: "xtp", 37: "ddp",
  38: "idpr-cmtp", 41: "ipv6", 43: "ipv6-route", 44: "ipv6-frag", 45: "idrp", 46: "rsvp", 47: "gre",
  50: "esp", 51: "ah", 57: "skip", 58: "ipv6-icmp", 59: "ipv6-nonxt", 60: "ipv6-opts", 73: "rspf",
  81: "vmtp", 88: "eigrp", 89: "ospf", 93: "ax.25", 94: "ipip", 97: "etherip", 98: "encap", 103: "pim",
  108: "ipcomp", 112: "vrrp", 115: "l2tp", 124: "isis", 132: "sctp", 133: "fc", 135: "mobility-header",
  136: "udplite", 137: "mpls-in-ip", 138: "manet", 139: "hip", 140: "shim6", 141: "wesp", 142: "rohc",
  143: "ethernet",
};
const PROTO_BY_NAME = new Map<string, number>([
  ...Object.entries(PROTO_NAMES).map(([n, s]) => [s, Number(n)] as const),
  ["all", 0], ["icmpv6", 58], ["mh", 135], // iptables' own aliases (xtables_chain_protos)
]);

export function protoName(num: number): string {
  return PROTO_NAMES[num] ?? String(num);
}

/** ICMP type names iptables accepts (libipt_icmp.c), as [type, code or -1 for every code]. */
const ICMP_NAMES: Record<string, [number, number]> = {
  "any": [255, -1], "echo-reply": [0, -1], "pong": [0, -1], "destination-unreachable": [3, -1],
  "network-unreachable": [3, 0], "host-unreachable": [3, 1], "protocol-unreachable": [3, 2],
  "port-unreachable": [3, 3], "fragmentation-needed": [3, 4], "source-route-failed": [3, 5],
  "network-unknown": [3, 6], "host-unknown": [3, 7], "network-prohibited": [3, 9], "host-prohibited": [3, 10],
  "TOS-network-unreachable": [3, 11], "TOS-host-unreachable": [3, 12], "communication-prohibited": [3, 13],
  "host-precedence-violation": [3, 14], "precedence-cutoff": [3, 15], "source-quench": [4, -1],
  "redirect": [5, -1], "network-redirect": [5, 0], "host-redirect": [5, 1], "TOS-network-redirect": [5, 2],
  "TOS-host-redirect": [5, 3], "echo-request": [8, -1], "ping": [8, -1], "router-advertisement": [9, -1],
  "router-solicitation": [10, -1], "time-exceeded": [11, -1], "ttl-exceeded": [11, -1],
  "ttl-zero-during-transit": [11, 0], "ttl-zero-during-reassembly": [11, 1], "parameter-problem": [12, -1],
  "ip-header-bad": [12, 0], "required-option-missing": [12, 1], "timestamp-request": [13, -1],
  "timestamp-reply": [14, -1], "address-mask-request": [17, -1], "address-mask-reply": [18, -1],
};

const LOG_LEVELS = ["emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"];
/** syslog's LOG_WARNING: iptables-save omits --log-level when it is this. */
const LOG_DEFAULT_LEVEL = 4;

/** Names a chain may not take: iptables' targets (a jump to them means the target). */
const RESERVED = new Set(["ACCEPT", "DROP", "QUEUE", "RETURN", "REJECT", "LOG", "MASQUERADE", "SNAT", "DNAT"]);

// ---- tokens ---------------------------------------------------------------------------------

/** Splits a line as iptables-restore does (add_param_to_argv): blanks separate words, double
 *  quotes group them, and inside quotes a backslash takes the next character literally. */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let cur = "", quoted = false, open = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (open) {
      if (ch === "\\" && i + 1 < line.length) cur += line[++i];
      else if (ch === '"') open = false;
      else cur += ch;
      continue;
    }
    if (ch === '"') {
      open = quoted = true;
    } else if (ch === " " || ch === "\t") {
      if (cur.length || quoted) out.push(cur);
      cur = "";
      quoted = false;
    } else {
      cur += ch;
    }
  }
  if (open) throw new RuleError("unterminated quoted string");
  if (cur.length || quoted) out.push(cur);
  return out;
}

/** xtables_save_string: bare if only [A-Za-z0-9_-], else in double quotes with \ before " \ '. */
export function quoteArg(s: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(s)) return s;
  return `"${s.replace(/["\\']/g, (c) => "\\" + c)}"`;
}

// ---- values ---------------------------------------------------------------------------------

function parseAddr(v: string, inv: boolean, opt: string): AddrMatch | null {
  const slash = v.indexOf("/");
  const ip = slash < 0 ? v : v.slice(0, slash);
  let addr: number;
  try {
    addr = ip === "0" ? 0 : parseIpv4(ip);
  } catch (e) {
    throw new RuleError(`${opt}: ${(e as AddrError).message} (host names are not supported)`);
  }
  let len = 32;
  if (slash >= 0) {
    const m = v.slice(slash + 1);
    if (/^\d{1,2}$/.test(m) && Number(m) <= 32) len = Number(m);
    else if (m.includes(".")) {
      let mask: number;
      try {
        mask = parseIpv4(m);
      } catch {
        throw new RuleError(`${opt}: invalid mask "${m}"`);
      }
      len = 32 - Math.log2(((~mask >>> 0) + 1) || 2 ** 32);
      if (!Number.isInteger(len)) throw new RuleError(`${opt}: non-contiguous mask "${m}" is not supported`);
    } else throw new RuleError(`${opt}: invalid mask "${m}" (0..32 or a dotted mask)`);
  }
  if (len === 0) {
    // iptables drops a /0 match; its inverse never matches and the kernel refuses it
    if (inv) throw new RuleError(`"! ${opt} ${v}" would never match (the kernel refuses it: "Invalid argument")`);
    return null;
  }
  const mask = (0xffffffff << (32 - len)) >>> 0;
  return { addr: (addr & mask) >>> 0, len, inv };
}

function parsePort(s: string, opt: string): number {
  if (!/^\d{1,5}$/.test(s)) throw new RuleError(`${opt}: invalid port "${s}" (a number 0..65535; service names are not supported)`);
  const n = Number(s);
  if (n > 65535) throw new RuleError(`${opt}: invalid port "${s}" (0..65535)`);
  return n;
}

function parsePortRange(v: string, inv: boolean, opt: string): PortRange | null {
  const colon = v.indexOf(":");
  const min = colon < 0 ? parsePort(v, opt) : colon === 0 ? 0 : parsePort(v.slice(0, colon), opt);
  const max = colon < 0 ? min : colon === v.length - 1 ? 65535 : parsePort(v.slice(colon + 1), opt);
  if (min > max) throw new RuleError(`${opt} ${v}: invalid port range (min > max)`);
  if (min === 0 && max === 65535) {
    if (inv) throw new RuleError(`"! ${opt} ${v}" would never match`);
    return null; // iptables-save omits the full range
  }
  return { min, max, inv };
}

function parseBits(v: string, names: readonly (readonly [string, number])[], opt: string): number {
  let mask = 0;
  for (const w of v.split(",")) {
    const hit = names.find(([n]) => n === w.toUpperCase());
    if (!hit) throw new RuleError(`${opt}: unknown value "${w}" (one of ${names.map(([n]) => n).join(", ")})`);
    mask |= hit[1];
  }
  return mask;
}

function formatBits(mask: number, names: readonly (readonly [string, number])[]): string {
  return names.filter(([, b]) => (mask & b) !== 0).map(([n]) => n).join(",");
}

const ADDRTYPES: [string, number][] = ADDRTYPE_NAMES.map((n, i) => [n, 1 << i]);

/** "1.2.3.4", "1.2.3.4-1.2.3.9", with ":80" or ":80-90" (ports need -p tcp/udp). */
function parseNatRange(v: string, opt: string): { addrMin: number; addrMax: number; ports: NatPorts | null } {
  const colon = v.indexOf(":");
  const ips = colon < 0 ? v : v.slice(0, colon);
  if (ips === "") throw new RuleError(`${opt} ${v}: a port without an address is not supported`);
  const dash = ips.indexOf("-");
  let addrMin: number, addrMax: number;
  try {
    addrMin = parseIpv4(dash < 0 ? ips : ips.slice(0, dash));
    addrMax = dash < 0 ? addrMin : parseIpv4(ips.slice(dash + 1));
  } catch (e) {
    throw new RuleError(`${opt} ${v}: ${(e as AddrError).message}`);
  }
  if (addrMin > addrMax) throw new RuleError(`${opt} ${v}: address range with min > max`);
  let ports: NatPorts | null = null;
  if (colon >= 0) {
    const p = v.slice(colon + 1);
    const pd = p.indexOf("-");
    const min = parsePort(pd < 0 ? p : p.slice(0, pd), opt);
    const max = pd < 0 ? min : parsePort(p.slice(pd + 1), opt);
    if (min > max) throw new RuleError(`${opt} ${v}: port range with min > max`);
    ports = { min, max };
  }
  return { addrMin, addrMax, ports };
}

function formatNatRange(lo: number, hi: number, ports: NatPorts | null): string {
  let s = formatIpv4(lo) + (hi !== lo ? `-${formatIpv4(hi)}` : "");
  if (ports) s += `:${ports.min}` + (ports.max !== ports.min ? `-${ports.max}` : "");
  return s;
}

// ---- one rule ------------------------------------------------------------------------------

/** Argument list after `-A CHAIN` (the chain's built-in hook and the table decide what is
 *  allowed); `declared` says whether a user chain exists for -j/-g. Throws RuleError. */
export function parseRuleArgs(table: TableName, chain: Chain, argv: readonly string[], declared: (name: string) => boolean): Rule {
  const r = newRule();
  const seen = new Set<string>();
  let inv = false;
  let target: TargetSpec | null = null;
  const targetOpts = new Set<string>();
  /** The module an option goes to: the most recent one that knows it (iptables dispatches by
   *  option); tcp/udp/icmp options with none load the protocol's module, as iptables does. */
  const owner = (opt: string): MatchSpec | null => {
    for (let i = r.matches.length - 1; i >= 0; i--) if (optionsOf(r.matches[i]!.kind).includes(opt)) return r.matches[i]!;
    return null;
  };
  const value = (i: number, opt: string): string => {
    if (i + 1 >= argv.length) throw new RuleError(`option "${opt}" requires a value`);
    return argv[i + 1]!;
  };
  const once = (key: string, opt: string) => {
    if (seen.has(key)) throw new RuleError(`multiple ${opt} options are not allowed`);
    seen.add(key);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "!") {
      if (inv) throw new RuleError(`"!" given twice`);
      inv = true;
      continue;
    }
    const takesInv = (what: string) => {
      if (inv) throw new RuleError(`"!" is not allowed before ${what}`);
    };
    switch (a) {
      case "-s": case "--source": case "--src":
      case "-d": case "--destination": case "--dst": {
        const which = a === "-s" || a === "--source" || a === "--src" ? "-s" : "-d";
        once(which, which);
        const v = value(i++, which);
        r[which === "-s" ? "src" : "dst"] = parseAddr(v, inv, which);
        break;
      }
      case "-i": case "--in-interface":
      case "-o": case "--out-interface": {
        const which = a === "-i" || a === "--in-interface" ? "-i" : "-o";
        once(which, which);
        const v = value(i++, which);
        if (v.length === 0 || v.length > 15) throw new RuleError(`${which}: interface name "${v}" must be 1..15 characters`);
        if (chain.hook >= 0) {
          const bad = which === "-i" ? chain.hook === HOOK_OUTPUT || chain.hook === HOOK_POSTROUTING : chain.hook === HOOK_PREROUTING || chain.hook === HOOK_INPUT;
          if (bad) throw new RuleError(`can't use ${which} with ${chain.name}`);
        }
        // "+" matches every name: iptables drops it (and keeps its never-matching inverse)
        const m = v === "+" && !inv ? null : { name: v, inv };
        if (which === "-i") r.inIface = m;
        else r.outIface = m;
        break;
      }
      case "-p": case "--protocol": {
        once("-p", "-p");
        const v = value(i++, "-p");
        const num = /^\d+$/.test(v) ? Number(v) : PROTO_BY_NAME.get(v.toLowerCase());
        if (num === undefined || num > 255) throw new RuleError(`-p: unknown protocol "${v}"`);
        if (num === 0) {
          if (inv) throw new RuleError(`"! -p ${v}" would never match`);
        } else r.proto = { num, inv };
        break;
      }
      case "-m": case "--match": {
        takesInv("-m");
        const v = value(i++, "-m");
        const m = newMatch(v);
        if (!m) throw new RuleError(`unsupported match module "${v}"`);
        r.matches.push(m);
        break;
      }
      case "-j": case "--jump": case "-g": case "--goto": {
        takesInv(a);
        if (target) throw new RuleError(`only one -j or -g is allowed`);
        const v = value(i++, a);
        const isGoto = a === "-g" || a === "--goto";
        target = parseTargetName(v, isGoto, table, declared);
        break;
      }
      case "-c": case "--set-counters": {
        takesInv("-c");
        const p = value(i++, "-c"), b = value(i++, "-c");
        if (!/^\d+$/.test(p) || !/^\d+$/.test(b)) throw new RuleError(`-c: counters must be numbers, got "${p} ${b}"`);
        r.packets = Number(p);
        r.bytes = Number(b);
        break;
      }
      default: {
        if (!a.startsWith("--")) throw new RuleError(`unexpected argument "${a}"`);
        if (target && targetOptions(target.kind).includes(a)) {
          takesInv(a);
          if (targetOpts.has(a)) throw new RuleError(`option "${a}" can only be used once`);
          targetOpts.add(a);
          const flag = TARGET_FLAGS.includes(a);
          target = setTargetOption(target, a, flag ? "" : value(i, a));
          if (!flag) i++;
          break;
        }
        let m = owner(a);
        if (!m && r.proto && !r.proto.inv) {
          const implicit = r.proto.num === 6 ? "tcp" : r.proto.num === 17 ? "udp" : r.proto.num === 1 ? "icmp" : null;
          if (implicit && optionsOf(implicit).includes(a)) r.matches.push((m = newMatch(implicit)!));
        }
        if (!m) throw new RuleError(`unsupported option "${a}"`);
        setMatchOption(m, a, value(i++, a), inv);
      }
    }
    inv = false;
  }
  if (inv) throw new RuleError(`"!" at the end of the rule`);
  r.target = target ?? { kind: "none" };
  checkRule(r);
  return r;
}

const MATCH_OPTIONS: Record<MatchSpec["kind"], readonly string[]> = {
  tcp: ["--sport", "--source-port", "--dport", "--destination-port"],
  udp: ["--sport", "--source-port", "--dport", "--destination-port"],
  icmp: ["--icmp-type"],
  conntrack: ["--ctstate", "--ctstatus"],
  addrtype: ["--src-type", "--dst-type"],
  comment: ["--comment"],
};
function optionsOf(kind: MatchSpec["kind"]): readonly string[] {
  return MATCH_OPTIONS[kind];
}

function newMatch(name: string): MatchSpec | null {
  switch (name) {
    case "tcp":
    case "udp":
      return { kind: name, sport: null, dport: null };
    case "icmp":
      return { kind: "icmp", type: -1, codeMin: 0, codeMax: 255, inv: false };
    case "conntrack":
      return { kind: "conntrack", state: null, status: null };
    case "addrtype":
      return { kind: "addrtype", src: null, dst: null };
    case "comment":
      return { kind: "comment", text: "" };
  }
  return null;
}

/** Options given per module instance, to refuse a second one as iptables does. */
const given = new WeakMap<MatchSpec, Set<string>>();

function setMatchOption(m: MatchSpec, opt: string, v: string, inv: boolean): void {
  const set = given.get(m) ?? new Set<string>();
  given.set(m, set);
  const canon = opt === "--source-port" ? "--sport" : opt === "--destination-port" ? "--dport" : opt;
  if (set.has(canon)) throw new RuleError(`only one "${canon}" is allowed per -m ${m.kind}`);
  set.add(canon);
  const noInv = () => {
    if (inv) throw new RuleError(`"!" is not allowed before ${opt}`);
  };
  switch (m.kind) {
    case "tcp":
    case "udp":
      if (canon === "--sport") m.sport = parsePortRange(v, inv, canon);
      else m.dport = parsePortRange(v, inv, canon);
      return;
    case "icmp": {
      const named = ICMP_NAMES[v];
      const numeric = /^(\d{1,3})(?:\/(\d{1,3}))?$/.exec(v);
      if (named) {
        m.type = named[0];
        if (named[1] >= 0) m.codeMin = m.codeMax = named[1];
      } else if (numeric && Number(numeric[1]) <= 255 && (numeric[2] === undefined || Number(numeric[2]) <= 255)) {
        m.type = Number(numeric[1]);
        if (numeric[2] !== undefined) m.codeMin = m.codeMax = Number(numeric[2]);
      } else throw new RuleError(`--icmp-type: unknown ICMP type "${v}"`);
      m.inv = inv;
      return;
    }
    case "conntrack": {
      const bits: BitsMatch = { mask: parseBits(v, opt === "--ctstate" ? CT_STATE_NAMES : [...CT_STATUS_NAMES, ["NONE", 0]], opt), inv };
      if (opt === "--ctstate") m.state = bits;
      else m.status = bits;
      return;
    }
    case "addrtype": {
      const bits: BitsMatch = { mask: parseBits(v, ADDRTYPES, opt), inv };
      if (opt === "--src-type") m.src = bits;
      else m.dst = bits;
      return;
    }
    case "comment":
      noInv();
      // the kernel keeps 255 bytes (XT_MAX_COMMENT_LEN 256); iptables would cut it silently
      if (Buffer.byteLength(v) > 255) throw new RuleError(`--comment is longer than 255 bytes`);
      m.text = v;
      return;
  }
}

const TARGET_FLAGS = ["--random", "--random-fully", "--persistent"];
function targetOptions(kind: TargetSpec["kind"]): readonly string[] {
  switch (kind) {
    case "REJECT": return ["--reject-with"];
    case "LOG": return ["--log-prefix", "--log-level"];
    case "MASQUERADE": return ["--to-ports", "--random", "--random-fully"];
    case "SNAT": return ["--to-source", "--random", "--random-fully", "--persistent"];
    case "DNAT": return ["--to-destination", "--random", "--persistent"];
    default: return [];
  }
}

function parseTargetName(v: string, isGoto: boolean, table: TableName, declared: (name: string) => boolean): TargetSpec {
  const builtin = isGoto ? null : builtinTarget(v);
  if (builtin) {
    if (builtin.kind === "DROP" && table === "nat") {
      throw new RuleError(`the "nat" table is not intended for filtering, the use of DROP is therefore inhibited`);
    }
    if (builtin.kind === "REJECT" && table !== "filter") throw new RuleError(`REJECT is only valid in the filter table (the kernel refuses it: "Invalid argument")`);
    if ((builtin.kind === "MASQUERADE" || builtin.kind === "SNAT" || builtin.kind === "DNAT") && table !== "nat") {
      throw new RuleError(`${builtin.kind} is only valid in the nat table (the kernel refuses it: "Invalid argument")`);
    }
    return builtin;
  }
  if (/^(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING)$/.test(v)) throw new RuleError(`cannot jump to built-in chain ${v}`);
  if (!declared(v)) {
    // all capitals: an iptables target this model does not have, or a chain not declared
    if (/^[A-Z][A-Z0-9_-]*$/.test(v) && !RESERVED.has(v)) throw new RuleError(`unsupported target or undeclared chain "${v}"`);
    throw new RuleError(`chain "${v}" does not exist (declare it with ":${v} - [0:0]" before use)`);
  }
  return isGoto ? { kind: "goto", chain: v } : { kind: "jump", chain: v };
}

function builtinTarget(v: string): TargetSpec | null {
  switch (v) {
    case "ACCEPT": case "DROP": case "RETURN":
      return { kind: v };
    case "REJECT":
      return { kind: "REJECT", with: REJECT_PORT_UNREACHABLE };
    case "LOG":
      return { kind: "LOG", prefix: "", level: LOG_DEFAULT_LEVEL };
    case "MASQUERADE":
      return { kind: "MASQUERADE", ports: null, random: false, randomFully: false };
    case "SNAT":
      return { kind: "SNAT", addrMin: -1, addrMax: -1, ports: null, random: false, randomFully: false };
    case "DNAT":
      return { kind: "DNAT", addrMin: -1, addrMax: -1, ports: null, random: false };
  }
  return null;
}

function setTargetOption(t: TargetSpec, opt: string, v: string): TargetSpec {
  switch (t.kind) {
    case "REJECT": {
      const code = REJECT_NAMES.findIndex((n) => n !== null && (n[0] === v || n[1] === v));
      if (code < 0) throw new RuleError(`--reject-with: unknown reject type "${v}" (${REJECT_NAMES.filter((n) => n).map((n) => n![0]).join(", ")})`);
      return { ...t, with: code };
    }
    case "LOG":
      if (opt === "--log-prefix") {
        if (v.length === 0) throw new RuleError(`--log-prefix must not be empty`);
        if (Buffer.byteLength(v) > 29) throw new RuleError(`--log-prefix is longer than 29 bytes (the kernel keeps 29)`);
        return { ...t, prefix: v };
      } else {
        const n = /^[0-7]$/.test(v) ? Number(v) : LOG_LEVELS.indexOf(v);
        if (n < 0) throw new RuleError(`--log-level: unknown level "${v}" (0..7 or ${LOG_LEVELS.join(", ")})`);
        return { ...t, level: n };
      }
    case "MASQUERADE":
      if (opt === "--random") return { ...t, random: true };
      if (opt === "--random-fully") return { ...t, randomFully: true };
      {
        const d = v.indexOf("-");
        const min = parsePort(d < 0 ? v : v.slice(0, d), opt);
        const max = d < 0 ? min : parsePort(v.slice(d + 1), opt);
        if (min > max) throw new RuleError(`--to-ports ${v}: port range with min > max`);
        return { ...t, ports: { min, max } };
      }
    case "SNAT":
    case "DNAT":
      if (opt === "--persistent") throw new RuleError(`${t.kind} --persistent is not supported`);
      if (opt === "--random") return { ...t, random: true };
      if (opt === "--random-fully" && t.kind === "SNAT") return { ...t, randomFully: true };
      return { ...t, ...parseNatRange(v, opt) };
  }
  throw new RuleError(`unsupported option "${opt}"`);
}

/** iptables' own per-rule checks, after all options are in. */
function checkRule(r: Rule): void {
  const proto = r.proto && !r.proto.inv ? r.proto.num : 0;
  for (const m of r.matches) {
    if (m.kind === "tcp" && proto !== 6) throw new RuleError(`TCP match requires "-p tcp"`);
    if (m.kind === "udp" && proto !== 17) throw new RuleError(`UDP match requires "-p udp"`);
    if (m.kind === "icmp") {
      if (proto !== 1) throw new RuleError(`ICMP match requires "-p icmp"`);
      if (m.type < 0) throw new RuleError(`icmp: option "--icmp-type" must be specified`);
    }
    if (m.kind === "conntrack" && !m.state && !m.status) throw new RuleError(`conntrack: at least one option is required`);
    if (m.kind === "addrtype" && !m.src && !m.dst) throw new RuleError(`addrtype: you must specify --src-type or --dst-type`);
    if (m.kind === "comment" && !given.get(m)?.has("--comment")) throw new RuleError(`comment: option "--comment" must be specified`);
  }
  const t = r.target;
  const portsOk = proto === 6 || proto === 17;
  if (t.kind === "REJECT" && t.with === REJECT_TCP_RESET && proto !== 6) {
    throw new RuleError(`--reject-with tcp-reset requires "-p tcp" (the kernel refuses it: "Invalid argument")`);
  }
  if ((t.kind === "SNAT" || t.kind === "DNAT") && t.addrMin < 0) {
    throw new RuleError(`${t.kind}: option "${t.kind === "SNAT" ? "--to-source" : "--to-destination"}" must be specified`);
  }
  if ((t.kind === "MASQUERADE" || t.kind === "SNAT" || t.kind === "DNAT") && t.ports && !portsOk) {
    throw new RuleError(`${t.kind}: a port specification needs "-p tcp" or "-p udp"`);
  }
}

// ---- one rule out ---------------------------------------------------------------------------

/** "-A CHAIN ..." exactly as iptables-save prints the rule. */
export function formatRule(chain: string, r: Rule): string {
  let s = `-A ${chain}`;
  const neg = (inv: boolean) => (inv ? " !" : "");
  if (r.src) s += `${neg(r.src.inv)} -s ${formatIpv4(r.src.addr)}/${r.src.len}`;
  if (r.dst) s += `${neg(r.dst.inv)} -d ${formatIpv4(r.dst.addr)}/${r.dst.len}`;
  if (r.inIface) s += `${neg(r.inIface.inv)} -i ${r.inIface.name}`;
  if (r.outIface) s += `${neg(r.outIface.inv)} -o ${r.outIface.name}`;
  if (r.proto) s += `${neg(r.proto.inv)} -p ${protoName(r.proto.num)}`;
  for (const m of r.matches) {
    s += ` -m ${m.kind}`;
    switch (m.kind) {
      case "tcp":
      case "udp":
        for (const [opt, p] of [["--sport", m.sport], ["--dport", m.dport]] as const) {
          if (p) s += `${neg(p.inv)} ${opt} ${p.min === p.max ? p.min : `${p.min}:${p.max}`}`;
        }
        break;
      case "icmp":
        s += `${neg(m.inv)} --icmp-type ${m.type === 255 ? "any" : m.type}`;
        if (m.type !== 255 && (m.codeMin !== 0 || m.codeMax !== 255)) s += `/${m.codeMin}`;
        break;
      case "conntrack":
        if (m.state) s += `${neg(m.state.inv)} --ctstate ${formatBits(m.state.mask, CT_STATE_NAMES)}`;
        if (m.status) s += `${neg(m.status.inv)} --ctstatus ${m.status.mask === 0 ? "NONE" : formatBits(m.status.mask, CT_STATUS_NAMES)}`;
        break;
      case "addrtype":
        if (m.src) s += `${neg(m.src.inv)} --src-type ${formatBits(m.src.mask, ADDRTYPES)}`;
        if (m.dst) s += `${neg(m.dst.inv)} --dst-type ${formatBits(m.dst.mask, ADDRTYPES)}`;
        break;
      case "comment":
        s += ` --comment ${quoteArg(m.text)}`;
        break;
    }
  }
  s += formatTarget(r.target);
  return s;
}

function formatTarget(t: TargetSpec): string {
  switch (t.kind) {
    case "none":
      return "";
    case "ACCEPT": case "DROP": case "RETURN":
      return ` -j ${t.kind}`;
    case "jump":
      return ` -j ${t.chain}`;
    case "goto":
      return ` -g ${t.chain}`;
    case "REJECT":
      return ` -j REJECT --reject-with ${REJECT_NAMES[t.with]![0]}`;
    case "LOG":
      return ` -j LOG${t.prefix ? ` --log-prefix ${quoteArg(t.prefix)}` : ""}${t.level !== LOG_DEFAULT_LEVEL ? ` --log-level ${t.level}` : ""}`;
    case "MASQUERADE": {
      let s = " -j MASQUERADE";
      if (t.ports) s += ` --to-ports ${t.ports.min}${t.ports.max !== t.ports.min ? `-${t.ports.max}` : ""}`;
      return s + (t.random ? " --random" : "") + (t.randomFully ? " --random-fully" : "");
    }
    case "SNAT":
      return ` -j SNAT --to-source ${formatNatRange(t.addrMin, t.addrMax, t.ports)}` + (t.random ? " --random" : "") + (t.randomFully ? " --random-fully" : "");
    case "DNAT":
      return ` -j DNAT --to-destination ${formatNatRange(t.addrMin, t.addrMax, t.ports)}` + (t.random ? " --random" : "");
  }
}

// ---- whole files ------------------------------------------------------------------------------

/** Parses iptables-save text. Throws NetfilterError "file:line: message". */
export function parseIptablesSave(text: string, file = "iptables.rules"): Ruleset {
  const rs: Ruleset = { tables: [], source: file };
  let table: Table | null = null;
  const lines = text.split("\n");
  const fail = (n: number, msg: string): never => {
    throw new NetfilterError(`${file}:${n}: ${msg}`);
  };
  for (let k = 0; k < lines.length; k++) {
    const n = k + 1;
    const line = lines[k]!.replace(/\r$/, "");
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    if (trimmed.startsWith("*")) {
      if (table) fail(n, `"${trimmed}" before COMMIT of table ${table.name}`);
      const name = trimmed.slice(1);
      if (!(TABLE_NAMES as readonly string[]).includes(name)) fail(n, `unsupported table "${name}" (raw, mangle, nat, filter)`);
      if (rs.tables.some((t) => t.name === name)) fail(n, `table ${name} appears twice`);
      table = newTable(name as TableName);
      rs.tables.push(table);
      continue;
    }
    if (trimmed === "COMMIT") {
      if (!table) fail(n, `COMMIT outside a table`);
      table = null;
      continue;
    }
    if (!table) fail(n, `"${trimmed}" outside a table (a "*filter"-style line must come first)`);
    const t = table!;
    if (trimmed.startsWith(":")) {
      const m = /^:(\S+)\s+(\S+)(?:\s+\[(\d+):(\d+)\])?$/.exec(trimmed);
      if (!m) fail(n, `malformed chain line "${trimmed}" (":NAME POLICY [packets:bytes]")`);
      const [, name, policy, p, b] = m!;
      const existing = findChain(t, name!);
      if (existing && existing.hook >= 0) {
        if (policy !== "ACCEPT" && policy !== "DROP" && policy !== "-") fail(n, `policy of built-in chain ${name} must be ACCEPT or DROP, not "${policy}"`);
        if (policy !== "-") existing.policy = policy as "ACCEPT" | "DROP";
        existing.packets = Number(p ?? 0);
        existing.bytes = Number(b ?? 0);
        continue;
      }
      if (policy !== "-") fail(n, `user-defined chain ${name} cannot have a policy ("${policy}"); use "-"`);
      checkChainName(name!, (msg) => fail(n, msg));
      if (!existing) t.chains.push({ name: name!, hook: -1, policy: null, packets: 0, bytes: 0, rules: [] });
      continue;
    }
    // a rule, maybe with counters in front
    let body = trimmed;
    let counters: [number, number] | null = null;
    const cm = /^\[(\d+):(\d+)\]\s+/.exec(body);
    if (cm) {
      counters = [Number(cm[1]), Number(cm[2])];
      body = body.slice(cm[0].length);
    }
    let argv: string[];
    try {
      argv = splitArgs(body);
    } catch (e) {
      return fail(n, `${(e as Error).message} in rule "${body}"`);
    }
    if (argv[0] !== "-A" && argv[0] !== "--append") {
      fail(n, argv[0]?.startsWith("-") ? `unsupported command "${argv[0]}" in "${body}" (only -A rules and :CHAIN lines)` : `unrecognised line "${body}"`);
    }
    const chain = argv[1] === undefined ? undefined : findChain(t, argv[1]);
    if (!chain) fail(n, `chain "${argv[1] ?? ""}" does not exist in table ${t.name} (declare it with ":${argv[1] ?? "NAME"} - [0:0]" first) in rule "${body}"`);
    try {
      const r = parseRuleArgs(t.name, chain!, argv.slice(2), (c) => {
        const ch = findChain(t, c);
        return ch !== undefined && ch.hook < 0;
      });
      if (counters) [r.packets, r.bytes] = counters;
      r.line = n;
      chain!.rules.push(r);
    } catch (e) {
      if (!(e instanceof RuleError)) throw e;
      fail(n, `${e.message} in rule "${body}"`);
    }
  }
  if (table) throw new NetfilterError(`${file}:${lines.length}: COMMIT expected at the end of table ${table.name}`);
  validateRuleset(rs);
  return rs;
}

function checkChainName(name: string, fail: (msg: string) => never): void {
  // iptables: at most 28 characters (XT_EXTENSION_MAXNAMELEN - 1), not an option, not a target
  if (name.length > 28) fail(`chain name "${name}" is longer than 28 characters`);
  if (name.startsWith("-") || name.startsWith("!")) fail(`chain name "${name}" may not start with "-" or "!"`);
  if (RESERVED.has(name)) fail(`chain name "${name}" is a target name`);
  if (/^(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING)$/.test(name)) fail(`chain ${name} is not a built-in chain of this table`);
}

/** iptables-nft's table order (enum nft_table_type: mangle, security, raw, filter, nat). */
const SAVE_ORDER: readonly TableName[] = ["mangle", "raw", "filter", "nat"];

export interface FormatOptions {
  /** `iptables-save -c`: "[pkts:bytes]" before every rule. */
  counters?: boolean;
  /** The "# Generated by ..." / "# Completed on ..." lines around each table. */
  header?: { version?: string; date: string };
}

/** iptables-save's output for the ruleset. */
export function formatIptablesSave(rs: Ruleset, opts: FormatOptions = {}): string {
  let out = "";
  const version = opts.header?.version ?? "v1.8.9 (nf_tables)";
  for (const name of SAVE_ORDER) {
    const t = rs.tables.find((x) => x.name === name);
    if (!t) continue;
    if (opts.header) out += `# Generated by iptables-save ${version} on ${opts.header.date}\n`;
    out += `*${t.name}\n`;
    const builtin = t.chains.filter((c) => c.hook >= 0);
    const user = t.chains.filter((c) => c.hook < 0).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const c of builtin) out += `:${c.name} ${c.policy} [${c.packets}:${c.bytes}]\n`;
    for (const c of user) out += `:${c.name} - [0:0]\n`;
    for (const c of [...builtin, ...user]) {
      for (const r of c.rules) out += (opts.counters ? `[${r.packets}:${r.bytes}] ` : "") + formatRule(c.name, r) + "\n";
    }
    out += "COMMIT\n";
    if (opts.header) out += `# Completed on ${opts.header.date}\n`;
  }
  return out;
}
