// iptables rules (IPv4) of one namespace: the rule model, its compilation into flat typed arrays,
// and the evaluation of one packet at one hook. Text in and out (iptables-save format) is
// iptables-save.ts; Docker's rule sets are docker-rules.ts; the obviously correct interpreter the
// property tests compare against is rules-reference.ts.
//
//   const rs = parseIptablesSave(text, "iptables.rules");   // a Ruleset (the model below)
//   const c = compile(rs, { ifNames: ns.portNames });         // once; again when interfaces change
//   const pkt = new NfPacket();                               // one, reused for every packet
//   pkt.inIf = 0; pkt.outIf = 1; pkt.src = ...; ...
//   const v = evaluate(c, TABLE_FILTER, HOOK_FORWARD, pkt);
//   verdictKind(v): V_ACCEPT | V_DROP | V_REJECT | V_MASQUERADE | V_SNAT | V_DNAT
//   verdictArg(v):  the REJECT_* code, or the index of the NAT parameters in c.nat
//   syncCounters(c); formatIptablesSave(rs, { counters: true })  // `iptables-save -c`
//
// What Linux does, and so what evaluation does (net/ipv4/netfilter/ip_tables.c ipt_do_table,
// nft's compat layer behaves the same): rules of the hook's built-in chain in order; a rule
// matches when every part matches; its packet and byte counters count every match, whatever the
// target; ACCEPT/DROP/REJECT and the NAT targets end the table's traversal; a jump pushes the
// return point, a goto does not (RETURN from a goto'd chain returns to the last jump); RETURN in
// a built-in chain, or its end, applies the chain's policy (counted on the chain). A rule with no
// target (or LOG, which only logs) continues with the next rule. Which tables a hook visits, and
// in what order (raw -300, mangle -150, nat -100 / +100, filter 0), is the caller's business.
//
// The packet (NfPacket) carries numbers only: interfaces as indexes into env.ifNames (-1: none,
// e.g. the input interface at OUTPUT), addresses as int32 (`| 0` of the uint32), protocol,
// ports (TCP/UDP), ICMP type and code, the conntrack state as CT_* bits and status as IPS_* bits
// (conntrack.ts computes them), the address type of source and destination as `1 << RTN_*` (the
// caller's route lookup: LOCAL, BROADCAST, MULTICAST, UNICAST...), and the length for the byte
// counters. Fragments never reach the rules: conntrack reassembles first (nf_defrag_ipv4, -400).
//
// Compilation checks what the kernel checks when the rules are loaded: jumps to undeclared
// chains, loops reachable from a built-in chain (nft answers "Too many links"), chains nested
// deeper than nft's 16-level jump stack, and targets used from hooks that do not allow them
// (MASQUERADE only reached from POSTROUTING, SNAT from POSTROUTING/INPUT, DNAT from
// PREROUTING/OUTPUT). `-i eth+` wildcards are resolved against the interface names once: each
// rule with an interface match gets a bitmap over interface indexes, so evaluation never looks at
// a string. An interface index at or beyond ifNames.length (an interface added after compiling)
// is treated as no interface: recompile (`recompile`, which keeps the counters) after a change.
//
// Cost (bench/netfilter.bench.ts, Node 20, shared 2-core AMD EPYC, noisy): Docker's FORWARD
// path for a mix of packets 11-14 Mpps (classic and current layouts), about 3 ns per rule that
// does not match (a 200-rule DOCKER-USER in front: 1.6 Mpps), 0 GCs per 100,000 batches of 256.

// ---- tables, hooks ------------------------------------------------------------------------

export const TABLE_RAW = 0;
export const TABLE_MANGLE = 1;
export const TABLE_NAT = 2;
export const TABLE_FILTER = 3;
export const TABLE_NAMES = ["raw", "mangle", "nat", "filter"] as const;
export type TableName = (typeof TABLE_NAMES)[number];

/** Hook numbers as Linux's NF_INET_*. */
export const HOOK_PREROUTING = 0;
export const HOOK_INPUT = 1;
export const HOOK_FORWARD = 2;
export const HOOK_OUTPUT = 3;
export const HOOK_POSTROUTING = 4;
export const HOOK_NAMES = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"] as const;

/** Built-in chains of each table, in the order iptables-save lists them (iptable_raw.c etc.). */
export const TABLE_HOOKS: Readonly<Record<TableName, readonly number[]>> = {
  raw: [HOOK_PREROUTING, HOOK_OUTPUT],
  mangle: [HOOK_PREROUTING, HOOK_INPUT, HOOK_FORWARD, HOOK_OUTPUT, HOOK_POSTROUTING],
  nat: [HOOK_PREROUTING, HOOK_INPUT, HOOK_OUTPUT, HOOK_POSTROUTING],
  filter: [HOOK_INPUT, HOOK_FORWARD, HOOK_OUTPUT],
};

/** nft's jump stack (NFT_JUMP_STACK_SIZE): a user chain may sit at most 15 jumps (or gotos)
 *  below a built-in chain; one deeper and the rule is refused with "Too many links". */
export const MAX_CHAIN_DEPTH = 15;

// ---- packet fields ----------------------------------------------------------------------------

/** Conntrack state bits as xt_conntrack's XT_CONNTRACK_STATE_*: a packet has one of INVALID,
 *  ESTABLISHED, RELATED, NEW, UNTRACKED, plus SNAT/DNAT when its connection is NATed. */
export const CT_INVALID = 1 << 0;
export const CT_ESTABLISHED = 1 << 1;
export const CT_RELATED = 1 << 2;
export const CT_NEW = 1 << 3;
export const CT_SNAT = 1 << 8;
export const CT_DNAT = 1 << 9;
export const CT_UNTRACKED = 1 << 10;
export const CT_STATE_NAMES: readonly [string, number][] = [
  ["INVALID", CT_INVALID], ["NEW", CT_NEW], ["RELATED", CT_RELATED], ["ESTABLISHED", CT_ESTABLISHED],
  ["UNTRACKED", CT_UNTRACKED], ["SNAT", CT_SNAT], ["DNAT", CT_DNAT],
];

/** Conntrack status bits as nf_conntrack_common.h's IPS_* (the ones --ctstatus names). */
export const IPS_EXPECTED = 1 << 0;
export const IPS_SEEN_REPLY = 1 << 1;
export const IPS_ASSURED = 1 << 2;
export const IPS_CONFIRMED = 1 << 3;
export const CT_STATUS_NAMES: readonly [string, number][] = [
  ["EXPECTED", IPS_EXPECTED], ["SEEN_REPLY", IPS_SEEN_REPLY], ["ASSURED", IPS_ASSURED], ["CONFIRMED", IPS_CONFIRMED],
];

/** Address types for `-m addrtype`, index = RTN_* (a packet carries `1 << RTN_*`). */
export const ADDRTYPE_NAMES = [
  "UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE", "UNREACHABLE",
  "PROHIBIT", "THROW", "NAT", "XRESOLVE",
] as const;
export const ADDRTYPE_UNICAST = 1 << 1;
export const ADDRTYPE_LOCAL = 1 << 2;
export const ADDRTYPE_BROADCAST = 1 << 3;
export const ADDRTYPE_MULTICAST = 1 << 5;

/** REJECT codes as ipt_REJECT's enum ipt_reject_with (4, echo-reply, was removed). */
export const REJECT_NET_UNREACHABLE = 0;
export const REJECT_HOST_UNREACHABLE = 1;
export const REJECT_PROTO_UNREACHABLE = 2;
export const REJECT_PORT_UNREACHABLE = 3;
export const REJECT_NET_PROHIBITED = 5;
export const REJECT_HOST_PROHIBITED = 6;
export const REJECT_TCP_RESET = 7;
export const REJECT_ADMIN_PROHIBITED = 8;
/** iptables' names (as saved) and aliases (accepted), by code. */
export const REJECT_NAMES: readonly (readonly [string, string] | null)[] = [
  ["icmp-net-unreachable", "net-unreach"], ["icmp-host-unreachable", "host-unreach"],
  ["icmp-proto-unreachable", "proto-unreach"], ["icmp-port-unreachable", "port-unreach"], null,
  ["icmp-net-prohibited", "net-prohib"], ["icmp-host-prohibited", "host-prohib"], ["tcp-reset", "tcp-rst"],
  ["icmp-admin-prohibited", "admin-prohib"],
];

/** One packet as the rules see it. Create one and reuse it: evaluate reads it, never keeps it. */
export class NfPacket {
  /** Interface indexes (into env.ifNames), -1 = none. */
  inIf = -1;
  outIf = -1;
  /** IPv4 addresses as int32. */
  src = 0;
  dst = 0;
  proto = 0;
  /** TCP/UDP ports. */
  sport = 0;
  dport = 0;
  icmpType = 0;
  icmpCode = 0;
  /** CT_* bits. */
  ctstate = CT_NEW;
  /** IPS_* bits of the packet's connection (its whole status word will do: only EXPECTED,
   *  SEEN_REPLY, ASSURED and CONFIRMED are looked at). */
  ctstatus = 0;
  /** `1 << RTN_*` of the source and destination address. */
  srcType = ADDRTYPE_UNICAST;
  dstType = ADDRTYPE_UNICAST;
  /** Bytes (IP header and payload), for the byte counters. */
  len = 0;
}

// ---- verdicts -------------------------------------------------------------------------------

export const V_ACCEPT = 1;
export const V_DROP = 2;
export const V_REJECT = 3;
export const V_MASQUERADE = 4;
export const V_SNAT = 5;
export const V_DNAT = 6;
export const VERDICT_NAMES = ["", "ACCEPT", "DROP", "REJECT", "MASQUERADE", "SNAT", "DNAT"] as const;
export function verdictKind(v: number): number {
  return v & 7;
}
/** REJECT: the REJECT_* code; MASQUERADE/SNAT/DNAT: the index of the parameters in `c.nat`. */
export function verdictArg(v: number): number {
  return v >> 3;
}

/** NAT flags (c.nat.flags): as nf_nat's NF_NAT_RANGE_*: a port range was given, --random,
 *  --random-fully. */
export const NAT_PROTO_SPECIFIED = 1;
export const NAT_RANDOM = 2;
export const NAT_RANDOM_FULLY = 4;

// ---- the model ------------------------------------------------------------------------------

export class NetfilterError extends Error {
  override name = "NetfilterError";
}

export interface AddrMatch {
  /** uint32, host bits cleared (iptables keeps addr & mask). */
  addr: number;
  len: number;
  inv: boolean;
}

export interface IfaceMatch {
  /** As written: "eth0", or "veth+" for every name starting "veth". */
  name: string;
  inv: boolean;
}

export interface PortRange {
  min: number;
  max: number;
  inv: boolean;
}

export interface BitsMatch {
  /** CT_* / IPS_* / addrtype bits. */
  mask: number;
  inv: boolean;
}

export type MatchSpec =
  | { kind: "tcp" | "udp"; sport: PortRange | null; dport: PortRange | null }
  /** type 255 = any; codes min..max (0..255 when only a type is given). */
  | { kind: "icmp"; type: number; codeMin: number; codeMax: number; inv: boolean }
  | { kind: "conntrack"; state: BitsMatch | null; status: BitsMatch | null }
  | { kind: "addrtype"; src: BitsMatch | null; dst: BitsMatch | null }
  | { kind: "comment"; text: string };

export interface NatPorts {
  min: number;
  max: number;
}

export type TargetSpec =
  | { kind: "none" }
  | { kind: "ACCEPT" }
  | { kind: "DROP" }
  | { kind: "RETURN" }
  | { kind: "jump"; chain: string }
  | { kind: "goto"; chain: string }
  | { kind: "REJECT"; with: number }
  | { kind: "LOG"; prefix: string; level: number }
  | { kind: "MASQUERADE"; ports: NatPorts | null; random: boolean; randomFully: boolean }
  | { kind: "SNAT"; addrMin: number; addrMax: number; ports: NatPorts | null; random: boolean; randomFully: boolean }
  | { kind: "DNAT"; addrMin: number; addrMax: number; ports: NatPorts | null; random: boolean };

export interface Rule {
  src: AddrMatch | null;
  dst: AddrMatch | null;
  inIface: IfaceMatch | null;
  outIface: IfaceMatch | null;
  /** Protocol number (never 0: `-p all` is no match). */
  proto: { num: number; inv: boolean } | null;
  /** Match modules, in the order given (iptables-save keeps it). */
  matches: MatchSpec[];
  target: TargetSpec;
  packets: number;
  bytes: number;
  /** Line in the source text (0: built in code), for error messages. */
  line: number;
}

export interface Chain {
  name: string;
  /** HOOK_* for a built-in chain, -1 for a user chain. */
  hook: number;
  /** Built-in chains only. */
  policy: "ACCEPT" | "DROP" | null;
  /** Counters of the policy (built-in chains; iptables prints [0:0] for user chains). */
  packets: number;
  bytes: number;
  rules: Rule[];
}

export interface Table {
  name: TableName;
  /** Built-in chains first, in TABLE_HOOKS order, then user chains in creation order. */
  chains: Chain[];
}

export interface Ruleset {
  /** At most one per name, any order (iptables-save prints mangle, raw, filter, nat). */
  tables: Table[];
  /** Where the text came from, for error messages. */
  source: string;
}

export function newRule(): Rule {
  return { src: null, dst: null, inIface: null, outIface: null, proto: null, matches: [], target: { kind: "none" }, packets: 0, bytes: 0, line: 0 };
}

export function newTable(name: TableName): Table {
  return { name, chains: TABLE_HOOKS[name].map((h) => ({ name: HOOK_NAMES[h], hook: h, policy: "ACCEPT" as const, packets: 0, bytes: 0, rules: [] })) };
}

export function findTable(rs: Ruleset, name: TableName): Table | undefined {
  return rs.tables.find((t) => t.name === name);
}

export function findChain(t: Table, name: string): Chain | undefined {
  return t.chains.find((c) => c.name === name);
}

/** Where a rule came from, for messages: "file:line" or "table/chain rule n". */
export function ruleWhere(rs: Ruleset, t: Table, c: Chain, i: number): string {
  const line = c.rules[i]!.line;
  return line > 0 ? `${rs.source}:${line}` : `${rs.source}: table ${t.name}, chain ${c.name}, rule ${i + 1}`;
}

// ---- checks needing the whole table -----------------------------------------------------------

/** Hooks from which each chain is reached, checking jump targets, loops and depth on the way.
 *  Throws NetfilterError. Returns a hook bit mask per chain (index as in t.chains). */
export function chainHooks(rs: Ruleset, t: Table): number[] {
  const index = new Map<string, number>();
  t.chains.forEach((c, i) => index.set(c.name, i));
  const n = t.chains.length;
  // successors, each with the rule that jumps
  const succ: { to: number; rule: number }[][] = t.chains.map(() => []);
  t.chains.forEach((c, ci) =>
    c.rules.forEach((r, ri) => {
      if (r.target.kind !== "jump" && r.target.kind !== "goto") return;
      const to = index.get(r.target.chain);
      if (to === undefined) throw new NetfilterError(`${ruleWhere(rs, t, c, ri)}: chain "${r.target.chain}" does not exist (table ${t.name})`);
      if (t.chains[to]!.hook >= 0) throw new NetfilterError(`${ruleWhere(rs, t, c, ri)}: cannot jump to built-in chain ${r.target.chain}`);
      succ[ci]!.push({ to, rule: ri });
    }),
  );
  // longest path below each reachable chain, with loop detection (DFS colours)
  const colour = new Uint8Array(n); // 0 new, 1 on the path, 2 done
  const below = new Int32Array(n);
  const path: number[] = [];
  const tooDeep = (names: string[]): never => {
    throw new NetfilterError(`${rs.source}: table ${t.name}: chains nested ${names.length - 1} deep (${names.join(" -> ")}); the kernel allows ${MAX_CHAIN_DEPTH} below a built-in chain ("Too many links")`);
  };
  const visit = (ci: number): void => {
    colour[ci] = 1;
    path.push(ci);
    // one level too deep already: stop here (this also bounds the recursion)
    if (path.length - 1 > MAX_CHAIN_DEPTH) tooDeep(path.map((k) => t.chains[k]!.name));
    let best = 0;
    for (const s of succ[ci]!) {
      if (colour[s.to] === 1) {
        const cycle = path.slice(path.indexOf(s.to)).map((k) => t.chains[k]!.name);
        const c = t.chains[ci]!;
        throw new NetfilterError(`${ruleWhere(rs, t, c, s.rule)}: loop of jumps ${[...cycle, t.chains[s.to]!.name].join(" -> ")} (the kernel refuses it: "Too many links")`);
      }
      if (colour[s.to] === 0) visit(s.to);
      best = Math.max(best, below[s.to]! + 1);
    }
    below[ci] = best;
    path.pop();
    colour[ci] = 2;
  };
  const hooks = new Array<number>(n).fill(0);
  t.chains.forEach((c, ci) => {
    if (c.hook < 0) return;
    visit(ci);
    if (below[ci]! > MAX_CHAIN_DEPTH) {
      // name the deepest path
      const names = [c.name];
      for (let k = ci; below[k]! > 0; ) {
        k = succ[k]!.find((s) => below[s.to]! === below[k]! - 1)!.to;
        names.push(t.chains[k]!.name);
      }
      tooDeep(names);
    }
    // hooks reaching each chain
    const stack = [ci];
    const seen = new Set<number>();
    while (stack.length) {
      const k = stack.pop()!;
      if (seen.has(k)) continue;
      seen.add(k);
      hooks[k] = hooks[k]! | (1 << c.hook);
      for (const s of succ[k]!) stack.push(s.to);
    }
  });
  return hooks;
}

/** Hooks at which each NAT target may run (the kernel's xt_target .hooks). */
const TARGET_HOOKS: Record<string, number> = {
  MASQUERADE: 1 << HOOK_POSTROUTING,
  SNAT: (1 << HOOK_POSTROUTING) | (1 << HOOK_INPUT),
  DNAT: (1 << HOOK_PREROUTING) | (1 << HOOK_OUTPUT),
  REJECT: (1 << HOOK_INPUT) | (1 << HOOK_FORWARD) | (1 << HOOK_OUTPUT),
};

/** Everything the kernel checks when a table is loaded; throws NetfilterError naming the rule. */
export function validateRuleset(rs: Ruleset): void {
  const seen = new Set<string>();
  for (const t of rs.tables) {
    if (seen.has(t.name)) throw new NetfilterError(`${rs.source}: table ${t.name} appears twice`);
    seen.add(t.name);
    const hooks = chainHooks(rs, t);
    t.chains.forEach((c, ci) =>
      c.rules.forEach((r, ri) => {
        const allowed = TARGET_HOOKS[r.target.kind];
        const bad = allowed === undefined ? 0 : hooks[ci]! & ~allowed;
        if (bad === 0) return;
        const h = HOOK_NAMES[31 - Math.clz32(bad & -bad)];
        throw new NetfilterError(`${ruleWhere(rs, t, c, ri)}: ${r.target.kind} is not allowed in chain ${c.name} reached from ${h} (the kernel refuses it: "Invalid argument")`);
      }),
    );
  }
}

// ---- compilation --------------------------------------------------------------------------------

export interface NfEnv {
  /** Interface names by index (the namespace's port names). */
  ifNames: readonly string[];
}

// rule flags
const F_SRC = 1;
const F_SRC_INV = 2;
const F_DST = 4;
const F_DST_INV = 8;
const F_IN = 16;
const F_OUT = 32;
const F_PROTO = 64;
const F_PROTO_INV = 128;
const F_MATCHES = 256;

// match entry kinds
const M_SPORT = 1;
const M_DPORT = 2;
const M_ICMP = 3;
const M_CONNTRACK = 4;
const M_ADDRTYPE = 5;
// conntrack entry flags (mC)
const CTF_STATE = 1;
const CTF_STATE_INV = 2;
const CTF_STATUS = 4;
const CTF_STATUS_INV = 8;

// target kinds: 1..6 are the verdicts; the rest continue or move
const T_NONE = 0;
const T_RETURN = 8;
const T_JUMP = 9;
const T_GOTO = 10;

const STACK = MAX_CHAIN_DEPTH + 1;

/** One table as flat arrays: rules of all chains back to back, chain c = rules start[c]..end[c]. */
export class CompiledTable {
  readonly chainNames: string[];
  readonly chainStart: Int32Array;
  readonly chainEnd: Int32Array;
  /** V_ACCEPT / V_DROP for built-in chains, 0 for user chains. */
  readonly chainPolicy: Int8Array;
  readonly policyPackets: Float64Array;
  readonly policyBytes: Float64Array;
  /** Built-in chain per hook, -1 if the table has none there. */
  readonly hookChain = new Int32Array(5).fill(-1);
  readonly nRules: number;
  readonly flags: Uint32Array;
  readonly srcNet: Int32Array;
  readonly srcMask: Int32Array;
  readonly dstNet: Int32Array;
  readonly dstMask: Int32Array;
  readonly proto: Int32Array;
  /** Interface bitmaps, `words` uint32 per rule; bit 0 = no interface, bit i+1 = index i. */
  readonly words: number;
  readonly inBits: Uint32Array;
  readonly outBits: Uint32Array;
  readonly mStart: Int32Array;
  readonly mEnd: Int32Array;
  readonly mKind: Uint8Array;
  readonly mA: Int32Array;
  readonly mB: Int32Array;
  readonly mC: Int32Array;
  readonly mD: Int32Array;
  readonly tKind: Uint8Array;
  readonly tArg: Int32Array;
  readonly packets: Float64Array;
  readonly bytes: Float64Array;
  readonly stackRule = new Int32Array(STACK);
  readonly stackEnd = new Int32Array(STACK);
  /** The model objects behind the flat indexes (cold: counters, traces). */
  readonly rules: Rule[];
  readonly chains: Chain[];

  constructor(t: Table, env: NfEnv, nat: NatBuilder) {
    const names = t.chains.map((c) => c.name);
    const index = new Map(names.map((n, i) => [n, i] as const));
    const nc = t.chains.length;
    this.chains = t.chains;
    this.chainNames = names;
    this.chainStart = new Int32Array(nc);
    this.chainEnd = new Int32Array(nc);
    this.chainPolicy = new Int8Array(nc);
    this.policyPackets = new Float64Array(nc);
    this.policyBytes = new Float64Array(nc);
    this.rules = [];
    t.chains.forEach((c, ci) => {
      this.chainStart[ci] = this.rules.length;
      for (const r of c.rules) this.rules.push(r);
      this.chainEnd[ci] = this.rules.length;
      if (c.hook >= 0) {
        this.hookChain[c.hook] = ci;
        this.chainPolicy[ci] = c.policy === "DROP" ? V_DROP : V_ACCEPT;
        this.policyPackets[ci] = c.packets;
        this.policyBytes[ci] = c.bytes;
      }
    });
    const n = (this.nRules = this.rules.length);
    this.flags = new Uint32Array(n);
    this.srcNet = new Int32Array(n);
    this.srcMask = new Int32Array(n);
    this.dstNet = new Int32Array(n);
    this.dstMask = new Int32Array(n);
    this.proto = new Int32Array(n);
    const slots = env.ifNames.length + 1;
    this.words = (slots + 31) >>> 5;
    this.inBits = new Uint32Array(n * this.words);
    this.outBits = new Uint32Array(n * this.words);
    this.mStart = new Int32Array(n);
    this.mEnd = new Int32Array(n);
    this.tKind = new Uint8Array(n);
    this.tArg = new Int32Array(n);
    this.packets = new Float64Array(n);
    this.bytes = new Float64Array(n);
    const kind: number[] = [], a: number[] = [], b: number[] = [], cc: number[] = [], d: number[] = [];
    const entry = (k: number, x: number, y: number, z: number, w = 0) => {
      kind.push(k), a.push(x), b.push(y), cc.push(z), d.push(w);
    };
    this.rules.forEach((r, i) => {
      let f = 0;
      if (r.src) {
        f |= F_SRC | (r.src.inv ? F_SRC_INV : 0);
        this.srcMask[i] = maskOf(r.src.len);
        this.srcNet[i] = r.src.addr & maskOf(r.src.len);
      }
      if (r.dst) {
        f |= F_DST | (r.dst.inv ? F_DST_INV : 0);
        this.dstMask[i] = maskOf(r.dst.len);
        this.dstNet[i] = r.dst.addr & maskOf(r.dst.len);
      }
      if (r.inIface) {
        f |= F_IN;
        fillIfBits(this.inBits, i * this.words, r.inIface, env.ifNames);
      }
      if (r.outIface) {
        f |= F_OUT;
        fillIfBits(this.outBits, i * this.words, r.outIface, env.ifNames);
      }
      if (r.proto) {
        f |= F_PROTO | (r.proto.inv ? F_PROTO_INV : 0);
        this.proto[i] = r.proto.num;
      }
      this.mStart[i] = kind.length;
      for (const m of r.matches) {
        switch (m.kind) {
          case "tcp":
          case "udp":
            if (m.sport) entry(M_SPORT, m.sport.min, m.sport.max, m.sport.inv ? 1 : 0);
            if (m.dport) entry(M_DPORT, m.dport.min, m.dport.max, m.dport.inv ? 1 : 0);
            break;
          case "icmp":
            entry(M_ICMP, m.type, m.codeMin, m.codeMax, m.inv ? 1 : 0);
            break;
          case "conntrack": {
            const fl = (m.state ? CTF_STATE : 0) | (m.state?.inv ? CTF_STATE_INV : 0) | (m.status ? CTF_STATUS : 0) | (m.status?.inv ? CTF_STATUS_INV : 0);
            entry(M_CONNTRACK, m.state?.mask ?? 0, m.status?.mask ?? 0, fl);
            break;
          }
          case "addrtype":
            entry(M_ADDRTYPE, m.src?.mask ?? 0, m.dst?.mask ?? 0, (m.src?.inv ? 1 : 0) | (m.dst?.inv ? 2 : 0));
            break;
          case "comment":
            break;
        }
      }
      this.mEnd[i] = kind.length;
      if (this.mEnd[i]! > this.mStart[i]!) f |= F_MATCHES;
      this.flags[i] = f;
      const tg = r.target;
      switch (tg.kind) {
        case "none":
        case "LOG":
          this.tKind[i] = T_NONE;
          break;
        case "ACCEPT":
          this.tKind[i] = V_ACCEPT;
          break;
        case "DROP":
          this.tKind[i] = V_DROP;
          break;
        case "REJECT":
          this.tKind[i] = V_REJECT;
          this.tArg[i] = tg.with;
          break;
        case "RETURN":
          this.tKind[i] = T_RETURN;
          break;
        case "jump":
        case "goto":
          this.tKind[i] = tg.kind === "jump" ? T_JUMP : T_GOTO;
          this.tArg[i] = index.get(tg.chain)!;
          break;
        case "MASQUERADE":
          this.tKind[i] = V_MASQUERADE;
          this.tArg[i] = nat.add(0, 0, tg.ports, tg.random, tg.randomFully);
          break;
        case "SNAT":
          this.tKind[i] = V_SNAT;
          this.tArg[i] = nat.add(tg.addrMin, tg.addrMax, tg.ports, tg.random, tg.randomFully);
          break;
        case "DNAT":
          this.tKind[i] = V_DNAT;
          this.tArg[i] = nat.add(tg.addrMin, tg.addrMax, tg.ports, tg.random, false);
          break;
      }
      this.packets[i] = r.packets;
      this.bytes[i] = r.bytes;
    });
    this.mKind = Uint8Array.from(kind);
    this.mA = Int32Array.from(a);
    this.mB = Int32Array.from(b);
    this.mC = Int32Array.from(cc);
    this.mD = Int32Array.from(d);
  }
}

/** NAT parameters of every NAT rule, read by the caller through verdictArg. Addresses are int32
 *  (0 for MASQUERADE: the caller picks the output interface's address), ports 0 when none given. */
export class NatParams {
  constructor(
    readonly addrMin: Int32Array,
    readonly addrMax: Int32Array,
    readonly portMin: Int32Array,
    readonly portMax: Int32Array,
    /** NAT_* bits. */
    readonly flags: Uint8Array,
  ) {}
}

class NatBuilder {
  readonly rows: number[][] = [];
  add(lo: number, hi: number, ports: NatPorts | null, random: boolean, fully: boolean): number {
    this.rows.push([lo | 0, hi | 0, ports?.min ?? 0, ports?.max ?? 0, (ports ? NAT_PROTO_SPECIFIED : 0) | (random ? NAT_RANDOM : 0) | (fully ? NAT_RANDOM_FULLY : 0)]);
    return this.rows.length - 1;
  }
  build(): NatParams {
    const col = (k: number) => this.rows.map((r) => r[k]!);
    return new NatParams(Int32Array.from(col(0)), Int32Array.from(col(1)), Int32Array.from(col(2)), Int32Array.from(col(3)), Uint8Array.from(col(4)));
  }
}

export class CompiledRuleset {
  /** Indexed by TABLE_*; null when the ruleset has no such table (every hook accepts). */
  readonly tables: (CompiledTable | null)[] = [null, null, null, null];
  readonly nat: NatParams;
  readonly ifCount: number;
  /** Table and flat rule index of the rule that gave the last verdict (-1: a chain policy or no
   *  rule), for traces. */
  lastTable = -1;
  lastRule = -1;

  constructor(
    readonly ruleset: Ruleset,
    readonly env: NfEnv,
  ) {
    validateRuleset(ruleset);
    const nat = new NatBuilder();
    for (const t of ruleset.tables) this.tables[TABLE_NAMES.indexOf(t.name)] = new CompiledTable(t, env, nat);
    this.nat = nat.build();
    this.ifCount = env.ifNames.length;
  }
}

export function compile(rs: Ruleset, env: NfEnv): CompiledRuleset {
  return new CompiledRuleset(rs, env);
}

/** Counters back into the model, then compiled again for new interface names. */
export function recompile(c: CompiledRuleset, env: NfEnv): CompiledRuleset {
  syncCounters(c);
  return compile(c.ruleset, env);
}

/** Copies the counters into the model (rule.packets/bytes, built-in chains' policy counters). */
export function syncCounters(c: CompiledRuleset): Ruleset {
  for (const t of c.tables) {
    if (t === null) continue;
    t.rules.forEach((r, i) => {
      r.packets = t.packets[i]!;
      r.bytes = t.bytes[i]!;
    });
    t.chains.forEach((ch, i) => {
      if (ch.hook < 0) return;
      ch.packets = t.policyPackets[i]!;
      ch.bytes = t.policyBytes[i]!;
    });
  }
  return c.ruleset;
}

function maskOf(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) | 0;
}

/** The kernel's interface comparison (ip_packet_match): "eth+" matches names starting "eth"
 *  (so "+" matches every name, and no interface); otherwise the whole name. */
export function ifaceMatches(pattern: string, name: string): boolean {
  return pattern.endsWith("+") ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
}

function fillIfBits(bits: Uint32Array, at: number, m: IfaceMatch, names: readonly string[]): void {
  for (let slot = 0; slot <= names.length; slot++) {
    const name = slot === 0 ? "" : names[slot - 1]!;
    if (ifaceMatches(m.name, name) !== m.inv) bits[at + (slot >>> 5)]! |= 1 << (slot & 31);
  }
}

// ---- evaluation (per packet: no strings, no allocation) ---------------------------------------

/** Runs the table's chain for `hook` over the packet; returns the verdict (see verdictKind,
 *  verdictArg) and counts on the matching rules. A table or hook without rules accepts. */
export function evaluate(c: CompiledRuleset, table: number, hook: number, pkt: NfPacket): number {
  const t = c.tables[table];
  c.lastTable = table;
  c.lastRule = -1;
  if (t === null || t === undefined) return V_ACCEPT;
  const base = t.hookChain[hook]!;
  if (base === undefined || base < 0) return V_ACCEPT;
  const flags = t.flags, tKind = t.tKind, tArg = t.tArg, chainStart = t.chainStart, chainEnd = t.chainEnd;
  const packets = t.packets, bytes = t.bytes, stackRule = t.stackRule, stackEnd = t.stackEnd;
  const srcMask = t.srcMask, srcNet = t.srcNet, dstMask = t.dstMask, dstNet = t.dstNet, protos = t.proto;
  const inBits = t.inBits, outBits = t.outBits;
  const words = t.words, nIf = c.ifCount;
  const inSlot = pkt.inIf >= 0 && pkt.inIf < nIf ? pkt.inIf + 1 : 0;
  const outSlot = pkt.outIf >= 0 && pkt.outIf < nIf ? pkt.outIf + 1 : 0;
  const inWord = inSlot >>> 5, inBit = 1 << (inSlot & 31), outWord = outSlot >>> 5, outBit = 1 << (outSlot & 31);
  const src = pkt.src | 0, dst = pkt.dst | 0, proto = pkt.proto, len = pkt.len;
  let r = chainStart[base]!, end = chainEnd[base]!, sp = 0;
  for (;;) {
    if (r < end) {
      const f = flags[r]!;
      if (f !== 0) {
        if ((f & F_SRC) !== 0 && ((src & srcMask[r]!) === srcNet[r]!) === ((f & F_SRC_INV) !== 0)) { r++; continue; }
        if ((f & F_DST) !== 0 && ((dst & dstMask[r]!) === dstNet[r]!) === ((f & F_DST_INV) !== 0)) { r++; continue; }
        if ((f & F_IN) !== 0 && (inBits[r * words + inWord]! & inBit) === 0) { r++; continue; }
        if ((f & F_OUT) !== 0 && (outBits[r * words + outWord]! & outBit) === 0) { r++; continue; }
        if ((f & F_PROTO) !== 0 && (proto === protos[r]!) === ((f & F_PROTO_INV) !== 0)) { r++; continue; }
        if ((f & F_MATCHES) !== 0 && !modulesMatch(t, r, pkt)) { r++; continue; }
      }
      packets[r]!++;
      bytes[r]! += len;
      const k = tKind[r]!;
      if (k === T_NONE) { r++; continue; }
      if (k < T_RETURN) {
        c.lastRule = r;
        return k | (tArg[r]! << 3);
      }
      if (k === T_JUMP) {
        if (sp === STACK) return V_DROP; // compile refuses deeper nesting; never reached
        stackRule[sp] = r + 1;
        stackEnd[sp++] = end;
        const ch = tArg[r]!;
        r = chainStart[ch]!;
        end = chainEnd[ch]!;
        continue;
      }
      if (k === T_GOTO) {
        const ch = tArg[r]!;
        r = chainStart[ch]!;
        end = chainEnd[ch]!;
        continue;
      }
      // RETURN: as the end of the chain
    }
    if (sp === 0) break;
    r = stackRule[--sp]!;
    end = stackEnd[sp]!;
  }
  t.policyPackets[base]!++;
  t.policyBytes[base]! += len;
  return t.chainPolicy[base]!;
}

function modulesMatch(t: CompiledTable, r: number, pkt: NfPacket): boolean {
  const kind = t.mKind, ma = t.mA, mb = t.mB, mc = t.mC;
  for (let m = t.mStart[r]!, e = t.mEnd[r]!; m < e; m++) {
    const a = ma[m]!, b = mb[m]!, c = mc[m]!;
    switch (kind[m]) {
      case M_SPORT: {
        const p = pkt.sport;
        if ((p >= a && p <= b ? 1 : 0) === c) return false;
        break;
      }
      case M_DPORT: {
        const p = pkt.dport;
        if ((p >= a && p <= b ? 1 : 0) === c) return false;
        break;
      }
      case M_ICMP: {
        // xt icmp_type_code_match: type 0xff matches every type
        const hit = a === 255 || (pkt.icmpType === a && pkt.icmpCode >= b && pkt.icmpCode <= c);
        if (hit === (t.mD[m]! !== 0)) return false;
        break;
      }
      case M_CONNTRACK: {
        // xt_conntrack conntrack_mt: the state is checked first; a packet without a conntrack
        // entry (INVALID, UNTRACKED) then matches only if the module tests the state
        const st = pkt.ctstate;
        if ((c & CTF_STATE) !== 0 && ((st & a) !== 0) === ((c & CTF_STATE_INV) !== 0)) return false;
        if ((st & (CT_INVALID | CT_UNTRACKED)) !== 0) {
          if ((c & CTF_STATE) === 0) return false;
          break;
        }
        if ((c & CTF_STATUS) !== 0 && ((pkt.ctstatus & b) !== 0) === ((c & CTF_STATUS_INV) !== 0)) return false;
        break;
      }
      case M_ADDRTYPE:
        if (a !== 0 && ((pkt.srcType & a) !== 0) === ((c & 1) !== 0)) return false;
        if (b !== 0 && ((pkt.dstType & b) !== 0) === ((c & 2) !== 0)) return false;
        break;
    }
  }
  return true;
}
