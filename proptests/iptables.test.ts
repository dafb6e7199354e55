// Properties of the iptables rules (dataplane/netfilter): random rule sets (every supported match
// and target, options in random order, user chains jumping and going to later chains) and random
// packets drawn near the rules' own values:
//  - text round-trips: iptables-save's canonical form parses back to the same rules and prints
//    byte for byte the same;
//  - the compiled evaluator gives the verdict, the deciding rule, the REJECT code / NAT
//    parameters and the counters of the plain reference interpreter (rules-reference.ts);
//  - evaluation never throws, whatever the packet's numbers;
//  - a loop of jumps is refused exactly when a built-in chain reaches it.
import { fc, test } from "@fast-check/vitest";
import { expect } from "vitest";
import { formatIptablesSave, parseIptablesSave } from "../dataplane/netfilter/iptables-save.js";
import {
  ADDRTYPE_NAMES, CT_DNAT, CT_SNAT, HOOK_NAMES, NfPacket, NetfilterError, TABLE_HOOKS, TABLE_NAMES, compile, evaluate,
  syncCounters, verdictArg, verdictKind, VERDICT_NAMES, type Rule, type Ruleset, type TableName,
} from "../dataplane/netfilter/rules.js";
import { RefCounters, refEvaluate, type RefPacket } from "../dataplane/netfilter/rules-reference.js";

const IFS = ["lo", "eth0", "eth1", "docker0", "veth1", "veth22", "br-a"];
const IF_PATTERNS = [...IFS, "eth+", "veth+", "br-+", "+", "nope0", "v+"];
const NETS = ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3", "192.168.0.0/24", "172.17.0.2", "0.0.0.0/1", "128.0.0.0/1", "200.1.2.3/32", "10.1.2.3/255.255.255.0"];
const ADDRS = ["10.1.2.3", "10.1.2.4", "10.2.0.1", "192.168.0.7", "172.17.0.2", "200.1.2.3", "128.0.0.1", "1.2.3.4", "255.255.255.255", "0.0.0.0"];
const PORTS = [0, 22, 53, 80, 1023, 1024, 8080, 65535];
const CT_STATES = ["INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED"];
const CT_BITS: Record<string, number> = { INVALID: 1, ESTABLISHED: 2, RELATED: 4, NEW: 8, UNTRACKED: 1024 };
const STATUSES = ["EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED"];
const TYPES = ["UNICAST", "LOCAL", "BROADCAST", "MULTICAST"];
const COMMENT_CHARS = ["a", "Z", "0", "_", "-", " ", '"', "\\", "'", "#", ".", "\t", "é", "!"];

/** null most of the time, so that rules have few conditions and packets match some of them. */
const maybe = <T,>(a: fc.Arbitrary<T>, weight = 2): fc.Arbitrary<T | null> => fc.oneof({ arbitrary: fc.constant(null), weight: 10 - weight }, { arbitrary: a, weight });
const u32 = (s: string) => s.split(".").reduce((a, b) => a * 256 + Number(b), 0);
const bang = fc.boolean().map((b) => (b ? "! " : ""));
const someOf = (xs: string[]) => fc.subarray(xs, { minLength: 1 }).chain((s) => fc.shuffledSubarray(s, { minLength: s.length, maxLength: s.length }));
const portSpec = fc.tuple(fc.constantFrom(...PORTS), fc.constantFrom(...PORTS), fc.boolean()).filter(([a, b, inv]) => !(Math.min(a, b) === 0 && Math.max(a, b) === 65535 && inv))
  .map(([a, b, inv]) => `${inv ? "! " : ""}${a === b ? a : `${Math.min(a, b)}:${Math.max(a, b)}`}`);

type ChainKind = "PREROUTING" | "INPUT" | "FORWARD" | "OUTPUT" | "POSTROUTING" | "user";

function ruleArb(table: TableName, chain: ChainKind, laterChains: string[]): fc.Arbitrary<string> {
  const noIn = chain === "OUTPUT" || chain === "POSTROUTING";
  const noOut = chain === "PREROUTING" || chain === "INPUT";
  const proto = maybe(fc.constantFrom("tcp", "udp", "icmp", "47", "6"), 5);
  return fc
    .record({
      src: maybe(fc.tuple(bang, fc.constantFrom(...NETS)).map(([b, n]) => `${b}-s ${n}`)),
      dst: maybe(fc.tuple(bang, fc.constantFrom(...NETS)).map(([b, n]) => `${b}--dst ${n}`)),
      iin: noIn ? fc.constant(null) : maybe(fc.tuple(bang, fc.constantFrom(...IF_PATTERNS)).map(([b, n]) => `${b}-i ${n}`)),
      out: noOut ? fc.constant(null) : maybe(fc.tuple(bang, fc.constantFrom(...IF_PATTERNS)).map(([b, n]) => `${b}-o ${n}`)),
      proto,
      protoInv: fc.boolean(),
      sport: maybe(portSpec),
      dport: maybe(portSpec),
      icmp: maybe(fc.tuple(bang, fc.constantFrom("any", "0", "3", "3/4", "8", "11", "echo-request", "port-unreachable")).map(([b, t]) => `${b}--icmp-type ${t}`)),
      ct: maybe(fc.tuple(fc.option(fc.tuple(bang, someOf([...CT_STATES, "SNAT", "DNAT"])), { nil: null }), fc.option(fc.tuple(bang, someOf(STATUSES)), { nil: null }), fc.boolean())),
      addrtype: maybe(fc.tuple(fc.option(fc.tuple(bang, someOf(TYPES)), { nil: null }), fc.option(fc.tuple(bang, someOf(TYPES)), { nil: null }))),
      comment: maybe(fc.string({ unit: fc.constantFrom(...COMMENT_CHARS), maxLength: 12 })),
      target: targetArb(table, chain, laterChains),
    })
    .chain((x) => {
      const groups: string[] = [];
      for (const g of [x.src, x.dst, x.iin, x.out]) if (g) groups.push(g);
      const p = x.proto;
      const isTcp = p === "tcp" || p === "6";
      const protoInv = x.protoInv && p !== null;
      if (p) groups.push(`${protoInv ? "! " : ""}-p ${p}`);
      if (!protoInv && (isTcp || p === "udp") && (x.sport || x.dport)) {
        groups.push(`-m ${isTcp ? "tcp" : "udp"}${x.sport ? ` ${x.sport.startsWith("!") ? "! --sport " + x.sport.slice(2) : "--sport " + x.sport}` : ""}${x.dport ? ` ${x.dport.startsWith("!") ? "! --dport " + x.dport.slice(2) : "--dport " + x.dport}` : ""}`);
      }
      if (!protoInv && p === "icmp" && x.icmp) groups.push(`-m icmp ${x.icmp}`);
      if (x.ct && (x.ct[0] || x.ct[1])) {
        const [st, ss, order] = x.ct;
        const a = st ? `${st[0]}--ctstate ${st[1].join(",")}` : "";
        const b = ss ? `${ss[0]}--ctstatus ${ss[1].join(",")}` : "";
        groups.push(`-m conntrack ${[order ? a : b, order ? b : a].filter(Boolean).join(" ")}`);
      }
      if (x.addrtype && (x.addrtype[0] || x.addrtype[1])) {
        const [s, d] = x.addrtype;
        groups.push(`-m addrtype${s ? ` ${s[0]}--src-type ${s[1].join(",")}` : ""}${d ? ` ${d[0]}--dst-type ${d[1].join(",")}` : ""}`);
      }
      if (x.comment !== null) groups.push(`-m comment --comment "${x.comment.replace(/["\\]/g, (c) => "\\" + c)}"`);
      let target = x.target;
      // targets that need a protocol
      if (target.includes("tcp-reset") && !(isTcp && !protoInv)) target = "-j REJECT --reject-with icmp-host-unreachable";
      if (/(--to-ports|:\d)/.test(target) && !((isTcp || p === "udp") && !protoInv)) target = target.replace(/ --to-ports \S+/, "").replace(/:\d+(-\d+)?/, "");
      if (target) groups.push(target);
      return fc.shuffledSubarray(groups, { minLength: groups.length, maxLength: groups.length }).map((g) => `-A CHAIN ${g.join(" ")}`.trimEnd());
    });
}

function targetArb(table: TableName, chain: ChainKind, later: string[]): fc.Arbitrary<string> {
  const common: fc.Arbitrary<string>[] = [fc.constant(""), fc.constant("-j ACCEPT"), fc.constant("-j RETURN"), fc.constant("-j LOG"), fc.constantFrom("-j LOG --log-prefix x", '-j LOG --log-prefix "a b" --log-level 6')];
  if (later.length) common.push(fc.constantFrom(...later).map((c) => `-j ${c}`), fc.constantFrom(...later).map((c) => `-g ${c}`));
  if (table !== "nat") common.push(fc.constant("-j DROP"));
  if (table === "filter") {
    common.push(fc.constantFrom("-j REJECT", "-j REJECT --reject-with tcp-reset", "-j REJECT --reject-with icmp-admin-prohibited", "-j REJECT --reject-with net-unreach"));
  }
  if (table !== "nat") return fc.oneof(...common);
  if (chain === "PREROUTING" || chain === "OUTPUT") {
    common.push(fc.constantFrom("-j DNAT --to-destination 10.9.9.9", "-j DNAT --to-destination 10.9.9.9:80", "-j DNAT --to-destination 10.9.9.1-10.9.9.7:1000-2000 --random"));
  } else if (chain === "POSTROUTING") {
    common.push(fc.constantFrom("-j MASQUERADE", "-j MASQUERADE --to-ports 1024-2047 --random", "-j MASQUERADE --random-fully", "-j SNAT --to-source 192.0.2.1", "-j SNAT --to-source 192.0.2.1-192.0.2.3:5000-6000 --random-fully"));
  } else if (chain === "INPUT") {
    common.push(fc.constant("-j SNAT --to-source 192.0.2.9"));
  }
  return fc.oneof(...common);
}

interface Case {
  table: TableName;
  text: string;
}

/** A table: random policies, 0..5 user chains C0..Cn (Ci jumps only to Cj, j > i), random rules.
 *  In nat, user chains get no NAT targets (their hooks are not known in advance). */
const tableCase: fc.Arbitrary<Case> = fc
  .tuple(fc.constantFrom<TableName>("filter", "nat", "raw", "mangle"), fc.integer({ min: 0, max: 5 }))
  .chain(([table, nUser]) => {
    const users = Array.from({ length: nUser }, (_, i) => `C${i}`);
    const builtins = TABLE_HOOKS[table].map((h) => HOOK_NAMES[h]) as ChainKind[];
    const chainRules = (name: string, kind: ChainKind, later: string[]) =>
      fc.array(ruleArb(table, kind, later), { maxLength: 6 }).map((rs) => rs.map((r) => r.replace("-A CHAIN", `-A ${name}`)));
    return fc
      .tuple(
        fc.array(fc.constantFrom("ACCEPT", "DROP"), { minLength: builtins.length, maxLength: builtins.length }),
        fc.tuple(...builtins.map((b) => chainRules(b, b, users))),
        fc.tuple(...users.map((u, i) => chainRules(u, "user", users.slice(i + 1)))),
      )
      .map(([policies, bRules, uRules]) => {
        const lines = [`*${table}`, ...builtins.map((b, i) => `:${b} ${policies[i]} [0:0]`), ...users.map((u) => `:${u} - [0:0]`), ...bRules.flat(), ...uRules.flat(), "COMMIT"];
        return { table, text: lines.join("\n") + "\n" };
      });
  });

/** Packets near the rules' values; `wild` ones anywhere in int32. */
const packetArb = fc.record({
  inIf: fc.integer({ min: -1, max: IFS.length }),
  outIf: fc.integer({ min: -1, max: IFS.length }),
  src: fc.constantFrom(...ADDRS),
  dst: fc.constantFrom(...ADDRS),
  proto: fc.constantFrom(6, 17, 1, 47, 0),
  sport: fc.oneof(fc.constantFrom(...PORTS), fc.integer({ min: 0, max: 65535 })),
  dport: fc.oneof(fc.constantFrom(...PORTS), fc.integer({ min: 0, max: 65535 })),
  icmpType: fc.constantFrom(0, 3, 8, 11, 255),
  icmpCode: fc.constantFrom(0, 3, 4, 255),
  state: fc.constantFrom(...CT_STATES),
  snat: fc.boolean(),
  dnat: fc.boolean(),
  status: fc.subarray(STATUSES),
  srcType: fc.constantFrom(...TYPES),
  dstType: fc.constantFrom(...TYPES),
  len: fc.integer({ min: 20, max: 65535 }),
});
type PacketSpec = typeof packetArb extends fc.Arbitrary<infer T> ? T : never;

function toPackets(s: PacketSpec): [NfPacket, RefPacket] {
  const p = new NfPacket();
  Object.assign(p, {
    inIf: s.inIf, outIf: s.outIf, src: u32(s.src) | 0, dst: u32(s.dst) | 0, proto: s.proto, sport: s.sport, dport: s.dport,
    icmpType: s.icmpType, icmpCode: s.icmpCode, len: s.len,
    ctstate: CT_BITS[s.state]! | (s.snat ? CT_SNAT : 0) | (s.dnat ? CT_DNAT : 0),
    ctstatus: STATUSES.reduce((m, n, i) => (s.status.includes(n) ? m | (1 << i) : m), 0),
    srcType: 1 << ADDRTYPE_NAMES.indexOf(s.srcType as "LOCAL"), dstType: 1 << ADDRTYPE_NAMES.indexOf(s.dstType as "LOCAL"),
  });
  const name = (i: number) => (i >= 0 && i < IFS.length ? IFS[i]! : null);
  const ref: RefPacket = {
    inIf: name(s.inIf), outIf: name(s.outIf), src: u32(s.src), dst: u32(s.dst), proto: s.proto, sport: s.sport, dport: s.dport,
    icmpType: s.icmpType, icmpCode: s.icmpCode, state: s.state, snat: s.snat, dnat: s.dnat, status: s.status,
    srcType: s.srcType, dstType: s.dstType, len: s.len,
  };
  return [p, ref];
}

/** What the equivalence property saw, so that a test can check it saw enough. */
const seen = { verdicts: new Set<string>(), byRule: 0, byPolicy: 0, moduleRules: 0, viaUserChain: 0 };

const withoutLines = (rs: Ruleset) => JSON.parse(JSON.stringify(rs, (k, v) => (k === "line" || k === "source" ? undefined : v)));

test.prop([tableCase], { numRuns: 400 })("canonical text round-trips: same rules, same bytes", ({ text }) => {
  const rs = parseIptablesSave(text, "random.rules");
  const canonical = formatIptablesSave(rs);
  const again = parseIptablesSave(canonical, "canonical.rules");
  expect(formatIptablesSave(again)).toBe(canonical);
  expect(withoutLines(again)).toEqual(withoutLines(rs));
  const counted = formatIptablesSave(rs, { counters: true, header: { date: "Thu Jan  1 00:00:00 1970" } });
  expect(formatIptablesSave(parseIptablesSave(counted), { counters: true, header: { date: "Thu Jan  1 00:00:00 1970" } })).toBe(counted);
});

test.prop([tableCase, fc.array(packetArb, { minLength: 1, maxLength: 40 })], { numRuns: 400 })(
  "the compiled evaluator equals the reference: verdict, deciding rule, parameters, counters",
  ({ table, text }, packets) => {
    const rs = parseIptablesSave(text, "random.rules");
    const c = compile(rs, { ifNames: IFS });
    const ti = TABLE_NAMES.indexOf(table);
    const counters = new RefCounters();
    for (const spec of packets) {
      for (const hook of TABLE_HOOKS[table]) {
        const [p, ref] = toPackets(spec);
        const v = evaluate(c, ti, hook, p);
        const want = refEvaluate(rs, table, HOOK_NAMES[hook], ref, counters);
        expect(VERDICT_NAMES[verdictKind(v)]).toBe(want.verdict);
        const got: Rule | null = c.lastRule < 0 ? null : c.tables[ti]!.rules[c.lastRule]!;
        expect(got).toBe(want.rule);
        seen.verdicts.add(want.verdict);
        if (want.rule) {
          seen.byRule++;
          if (want.rule.matches.length) seen.moduleRules++;
          if (!rs.tables[0]!.chains.some((ch) => ch.hook >= 0 && ch.rules.includes(want.rule!))) seen.viaUserChain++;
        } else seen.byPolicy++;
        const tg = want.rule?.target;
        if (tg?.kind === "REJECT") expect(verdictArg(v)).toBe(tg.with);
        if (tg?.kind === "MASQUERADE" || tg?.kind === "SNAT" || tg?.kind === "DNAT") {
          const i = verdictArg(v), n = c.nat;
          const lo = tg.kind === "MASQUERADE" ? 0 : tg.addrMin | 0, hi = tg.kind === "MASQUERADE" ? 0 : tg.addrMax | 0;
          expect([n.addrMin[i], n.addrMax[i], n.portMin[i], n.portMax[i]]).toEqual([lo, hi, tg.ports?.min ?? 0, tg.ports?.max ?? 0]);
        }
      }
    }
    syncCounters(c);
    for (const t of rs.tables) {
      for (const ch of t.chains) {
        for (const r of ch.rules) expect([r.packets, r.bytes]).toEqual([counters.rules.get(r)?.packets ?? 0, counters.rules.get(r)?.bytes ?? 0]);
        if (ch.hook >= 0) expect([ch.packets, ch.bytes]).toEqual([counters.policies.get(ch)?.packets ?? 0, counters.policies.get(ch)?.bytes ?? 0]);
      }
    }
  },
);

test("the equivalence property saw every verdict, rules with modules and rules in user chains deciding", () => {
  expect([...seen.verdicts].sort()).toEqual(["ACCEPT", "DNAT", "DROP", "MASQUERADE", "REJECT", "SNAT"]);
  const all = seen.byRule + seen.byPolicy;
  expect(seen.byRule / all).toBeGreaterThan(0.15);
  expect(seen.byPolicy / all).toBeGreaterThan(0.1);
  expect(seen.moduleRules).toBeGreaterThan(200);
  expect(seen.viaUserChain).toBeGreaterThan(100);
});

const wild = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
test.prop([tableCase, fc.array(fc.tuple(fc.integer({ min: -1, max: 5 }), fc.integer({ min: -1, max: 6 }), fc.array(wild, { minLength: 13, maxLength: 13 })), { maxLength: 30 })], { numRuns: 300 })(
  "evaluation never throws, whatever the table, hook and packet numbers",
  ({ text }, shots) => {
    const c = compile(parseIptablesSave(text), { ifNames: IFS });
    const p = new NfPacket();
    for (const [table, hook, f] of shots) {
      [p.inIf, p.outIf, p.src, p.dst, p.proto, p.sport, p.dport, p.icmpType, p.icmpCode, p.ctstate, p.ctstatus, p.srcType, p.len] = f;
      p.dstType = f[0]!;
      const v = evaluate(c, table, hook, p);
      expect(verdictKind(v)).toBeGreaterThanOrEqual(1);
      expect(verdictKind(v)).toBeLessThanOrEqual(6);
    }
  },
);

test.prop([fc.integer({ min: 1, max: 6 }), fc.array(fc.tuple(fc.nat(), fc.nat(), fc.boolean()), { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 3 })], { numRuns: 500 })(
  "a loop of jumps is refused exactly when a built-in chain reaches it",
  (n, edges, roots) => {
    const names = Array.from({ length: n }, (_, i) => `C${i}`);
    const e = edges.map(([a, b, g]) => [a % n, b % n, g] as const);
    const r = roots.map((x) => x % n);
    const text = ["*filter", ...names.map((c) => `:${c} - [0:0]`), ...r.map((x) => `-A FORWARD -j C${x}`), ...e.map(([a, b, g]) => `-A C${a} ${g ? "-g" : "-j"} C${b}`), "COMMIT"].join("\n");
    // reference: a cycle among chains reachable from FORWARD?
    const next = (k: number) => e.filter(([a]) => a === k).map(([, b]) => b);
    const reach = new Set<number>();
    const stack = [...r];
    while (stack.length) {
      const k = stack.pop()!;
      if (reach.has(k)) continue;
      reach.add(k);
      stack.push(...next(k));
    }
    const onCycle = (k: number) => {
      const seen = new Set<number>();
      const s = [...next(k)];
      while (s.length) {
        const x = s.pop()!;
        if (x === k) return true;
        if (seen.has(x)) continue;
        seen.add(x);
        s.push(...next(x));
      }
      return false;
    };
    const loops = [...reach].some(onCycle);
    if (loops) expect(() => parseIptablesSave(text)).toThrow(/loop of jumps/);
    else {
      const c = compile(parseIptablesSave(text), { ifNames: [] });
      expect(() => evaluate(c, 3, 2, new NfPacket())).not.toThrow();
    }
    expect(NetfilterError).toBeDefined();
  },
);
