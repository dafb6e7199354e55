// The obviously correct iptables interpreter the tests compare the compiled evaluator (rules.ts)
// against: it walks the parsed rules with strings and recursion, as the iptables man page
// describes them, and keeps its counters in Maps. No speed, no typed arrays.
//
// A jump runs the target chain and goes on if it returned; a goto runs the target chain in place
// of the current one (so its end returns to whoever called the current chain); the end of a
// built-in chain, or RETURN in it, applies the policy.

import type { Chain, MatchSpec, Rule, Ruleset, TableName } from "./rules.js";

export interface RefPacket {
  /** Interface names, null when the packet has none at this hook. */
  inIf: string | null;
  outIf: string | null;
  /** uint32 addresses. */
  src: number;
  dst: number;
  proto: number;
  sport: number;
  dport: number;
  icmpType: number;
  icmpCode: number;
  /** "INVALID", "NEW", "ESTABLISHED", "RELATED" or "UNTRACKED". */
  state: string;
  /** The connection was source/destination NATed (conntrack's SNAT/DNAT pseudo-states). */
  snat: boolean;
  dnat: boolean;
  /** "EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED" that hold for the connection. */
  status: string[];
  /** "LOCAL", "UNICAST", "BROADCAST", ... */
  srcType: string;
  dstType: string;
  len: number;
}

export interface RefResult {
  /** "ACCEPT", "DROP", "REJECT", "MASQUERADE", "SNAT", "DNAT". */
  verdict: string;
  /** The rule that decided, null for a policy. */
  rule: Rule | null;
}

export class RefCounters {
  readonly rules = new Map<Rule, { packets: number; bytes: number }>();
  readonly policies = new Map<Chain, { packets: number; bytes: number }>();
}

const STATE_NAMES: Record<number, string> = { 1: "INVALID", 2: "ESTABLISHED", 4: "RELATED", 8: "NEW", 256: "SNAT", 512: "DNAT", 1024: "UNTRACKED" };
const STATUS_NAMES: Record<number, string> = { 1: "EXPECTED", 2: "SEEN_REPLY", 4: "ASSURED", 8: "CONFIRMED" };
const TYPE_NAMES = ["UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE", "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE"];

function names(mask: number, table: Record<number, string> | string[]): string[] {
  const out: string[] = [];
  for (let bit = 0; bit < 31; bit++) {
    const name = Array.isArray(table) ? table[bit] : table[1 << bit];
    if (mask & (1 << bit) && name) out.push(name);
  }
  return out;
}

function interfaceMatches(pattern: string, name: string | null): boolean {
  const n = name ?? "";
  if (pattern.endsWith("+")) return n.startsWith(pattern.slice(0, pattern.length - 1));
  return n === pattern;
}

function inPrefix(ip: number, addr: number, len: number): boolean {
  // compare the first `len` bits, one at a time
  for (let bit = 31; bit >= 32 - len; bit--) {
    if (Math.floor(ip / 2 ** bit) % 2 !== Math.floor(addr / 2 ** bit) % 2) return false;
  }
  return true;
}

function moduleMatches(m: MatchSpec, p: RefPacket): boolean {
  switch (m.kind) {
    case "tcp":
    case "udp": {
      if (m.sport && (p.sport >= m.sport.min && p.sport <= m.sport.max) === m.sport.inv) return false;
      if (m.dport && (p.dport >= m.dport.min && p.dport <= m.dport.max) === m.dport.inv) return false;
      return true;
    }
    case "icmp": {
      const hit = m.type === 255 || (p.icmpType === m.type && p.icmpCode >= m.codeMin && p.icmpCode <= m.codeMax);
      return hit !== m.inv;
    }
    case "conntrack": {
      const states = [p.state];
      if (p.snat) states.push("SNAT");
      if (p.dnat) states.push("DNAT");
      if (m.state) {
        const listed = names(m.state.mask, STATE_NAMES);
        const hit = states.some((s) => listed.includes(s));
        if (hit === m.state.inv) return false;
      }
      const hasEntry = p.state !== "INVALID" && p.state !== "UNTRACKED";
      if (!hasEntry) return m.state !== null;
      if (m.status) {
        const listed = names(m.status.mask, STATUS_NAMES);
        const hit = p.status.some((s) => listed.includes(s));
        if (hit === m.status.inv) return false;
      }
      return true;
    }
    case "addrtype": {
      if (m.src && names(m.src.mask, TYPE_NAMES).includes(p.srcType) === m.src.inv) return false;
      if (m.dst && names(m.dst.mask, TYPE_NAMES).includes(p.dstType) === m.dst.inv) return false;
      return true;
    }
    case "comment":
      return true;
  }
}

export function refRuleMatches(r: Rule, p: RefPacket): boolean {
  if (r.src && inPrefix(p.src, r.src.addr, r.src.len) === r.src.inv) return false;
  if (r.dst && inPrefix(p.dst, r.dst.addr, r.dst.len) === r.dst.inv) return false;
  if (r.inIface && interfaceMatches(r.inIface.name, p.inIf) === r.inIface.inv) return false;
  if (r.outIface && interfaceMatches(r.outIface.name, p.outIf) === r.outIface.inv) return false;
  if (r.proto && (p.proto === r.proto.num) === r.proto.inv) return false;
  return r.matches.every((m) => moduleMatches(m, p));
}

/** Runs `hook` ("FORWARD", ...) of the table over the packet. */
export function refEvaluate(rs: Ruleset, table: TableName, hook: string, p: RefPacket, counters: RefCounters): RefResult {
  const t = rs.tables.find((x) => x.name === table);
  const base = t?.chains.find((c) => c.name === hook && c.hook >= 0);
  if (!t || !base) return { verdict: "ACCEPT", rule: null };
  const chainNamed = (name: string) => t.chains.find((c) => c.name === name)!;

  // a verdict, or null when the chain ran to its end or RETURNed
  const run = (chain: Chain): RefResult | null => {
    for (const r of chain.rules) {
      if (!refRuleMatches(r, p)) continue;
      const c = counters.rules.get(r) ?? { packets: 0, bytes: 0 };
      c.packets += 1;
      c.bytes += p.len;
      counters.rules.set(r, c);
      const tg = r.target;
      if (tg.kind === "none" || tg.kind === "LOG") continue;
      if (tg.kind === "RETURN") return null;
      if (tg.kind === "jump") {
        const v = run(chainNamed(tg.chain));
        if (v) return v;
        continue;
      }
      if (tg.kind === "goto") return run(chainNamed(tg.chain));
      return { verdict: tg.kind, rule: r };
    }
    return null;
  };

  const v = run(base);
  if (v) return v;
  const c = counters.policies.get(base) ?? { packets: 0, bytes: 0 };
  c.packets += 1;
  c.bytes += p.len;
  counters.policies.set(base, c);
  return { verdict: base.policy ?? "ACCEPT", rule: null };
}
