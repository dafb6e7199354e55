// The compiled evaluator (rules.ts): what each match, target and chain move does, counters,
// compile-time checks, interface bitmaps and recompilation, Docker's FORWARD chain on real-life
// packets, and no allocation per packet.
import { PerformanceObserver, performance } from "node:perf_hooks";
import { describe, expect, test } from "vitest";
import { parseIptablesSave, formatIptablesSave } from "./iptables-save.js";
import { dockerRules } from "./docker-rules.js";
import {
  ADDRTYPE_LOCAL, ADDRTYPE_UNICAST, CT_DNAT, CT_ESTABLISHED, CT_INVALID, CT_NEW, CT_RELATED, CT_UNTRACKED, HOOK_FORWARD,
  HOOK_INPUT, HOOK_OUTPUT, HOOK_POSTROUTING, HOOK_PREROUTING, IPS_ASSURED, IPS_SEEN_REPLY, NAT_PROTO_SPECIFIED,
  NAT_RANDOM, NAT_RANDOM_FULLY, NetfilterError, NfPacket, REJECT_ADMIN_PROHIBITED, REJECT_PORT_UNREACHABLE,
  REJECT_TCP_RESET, TABLE_FILTER, TABLE_MANGLE, TABLE_NAT, TABLE_RAW, V_ACCEPT, V_DNAT, V_DROP, V_MASQUERADE, V_REJECT,
  V_SNAT, compile, evaluate, findChain, findTable, newRule, recompile, syncCounters, verdictArg, verdictKind,
  type CompiledRuleset, type Ruleset,
} from "./rules.js";

const ip = (s: string) => s.split(".").reduce((a, b) => a * 256 + Number(b), 0) | 0;

function filter(rules: string, chains = "", policy = "ACCEPT"): Ruleset {
  return parseIptablesSave(`*filter\n:FORWARD ${policy} [0:0]\n${chains}${rules}\nCOMMIT\n`, "test.rules");
}

function pkt(f: Partial<NfPacket> = {}): NfPacket {
  return Object.assign(new NfPacket(), { proto: 6, sport: 40000, dport: 80, len: 60 }, f);
}

/** The rule line (1-based within the chain listing) that decided, or "policy". */
function decided(c: CompiledRuleset): string {
  if (c.lastRule < 0) return "policy";
  const t = c.tables[c.lastTable]!;
  const r = t.rules[c.lastRule]!;
  return `line ${r.line}`;
}

const IFS = ["lo", "eth0", "eth1", "docker0", "veth1a2b", "veth3c4d", "br-1"];
const ifx = (n: string) => IFS.indexOf(n);

describe("matches", () => {
  const rs = filter(
    [
      "-A FORWARD -s 10.1.0.0/16 -j DROP", // line 3
      "-A FORWARD ! -d 192.168.0.0/24 -p udp -j REJECT", // line 4
      "-A FORWARD -i veth+ -o eth0 -j ACCEPT", // line 5
      "-A FORWARD ! -i eth+ -o docker0 -p tcp -m tcp --dport 8000:8100 -j REJECT --reject-with tcp-reset", // line 6
      "-A FORWARD -p tcp -m tcp ! --sport 1024:65535 -j DROP", // line 7
      "-A FORWARD -p icmp -m icmp --icmp-type 3/4 -j ACCEPT", // line 8
      "-A FORWARD -p icmp -m icmp ! --icmp-type echo-request -j DROP", // line 9
      "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", // line 10
      "-A FORWARD -m addrtype --dst-type LOCAL -j REJECT --reject-with icmp-admin-prohibited", // line 11
      "-A FORWARD -m comment --comment anything -j DROP", // line 12
    ].join("\n"),
  );
  const c = compile(rs, { ifNames: IFS });
  const run = (p: Partial<NfPacket>) => {
    const v = evaluate(c, TABLE_FILTER, HOOK_FORWARD, pkt(p));
    return `${["", "ACCEPT", "DROP", "REJECT", "MASQ", "SNAT", "DNAT"][verdictKind(v)]}${verdictKind(v) === V_REJECT ? `/${verdictArg(v)}` : ""} ${decided(c)}`;
  };
  const base = { src: ip("172.17.0.2"), dst: ip("192.168.0.9"), inIf: ifx("eth1"), outIf: ifx("eth0") };
  test("source prefix, inverted destination with protocol", () => {
    expect(run({ ...base, src: ip("10.1.255.255") })).toBe("DROP line 3");
    expect(run({ ...base, src: ip("10.2.0.0") })).toBe("DROP line 12");
    expect(run({ ...base, dst: ip("8.8.8.8"), proto: 17 })).toBe(`REJECT/${REJECT_PORT_UNREACHABLE} line 4`);
    expect(run({ ...base, dst: ip("192.168.0.255"), proto: 17 })).toBe("DROP line 12");
  });
  test("addresses with the top bit set (int32 and uint32 forms alike)", () => {
    const rs2 = filter("-A FORWARD -s 200.0.0.0/8 -j DROP\n-A FORWARD ! -d 255.255.255.255 -j REJECT");
    const c2 = compile(rs2, { ifNames: [] });
    expect(evaluate(c2, TABLE_FILTER, HOOK_FORWARD, pkt({ src: ip("200.1.2.3") }))).toBe(V_DROP);
    expect(evaluate(c2, TABLE_FILTER, HOOK_FORWARD, pkt({ src: 0xc8010203 }))).toBe(V_DROP);
    expect(verdictKind(evaluate(c2, TABLE_FILTER, HOOK_FORWARD, pkt({ src: ip("201.0.0.1"), dst: ip("255.255.255.254") })))).toBe(V_REJECT);
    expect(evaluate(c2, TABLE_FILTER, HOOK_FORWARD, pkt({ src: ip("201.0.0.1"), dst: -1 }))).toBe(V_ACCEPT);
  });
  test("interfaces: + wildcard, inversion, no interface", () => {
    expect(run({ ...base, inIf: ifx("veth3c4d"), dport: 22 })).toBe("ACCEPT line 5");
    expect(run({ ...base, inIf: ifx("veth3c4d"), outIf: ifx("eth1"), dport: 22 })).toBe("DROP line 12");
    // ! -i eth+: docker0 and a packet without input interface match, eth1 does not
    expect(run({ ...base, inIf: ifx("docker0"), outIf: ifx("docker0"), dport: 8050 })).toBe(`REJECT/${REJECT_TCP_RESET} line 6`);
    expect(run({ ...base, inIf: -1, outIf: ifx("docker0"), dport: 8050 })).toBe(`REJECT/${REJECT_TCP_RESET} line 6`);
    expect(run({ ...base, inIf: ifx("eth1"), outIf: ifx("docker0"), dport: 8050 })).toBe("DROP line 12");
    expect(run({ ...base, inIf: ifx("docker0"), outIf: ifx("docker0"), dport: 8101 })).toBe("DROP line 12");
  });
  test("an interface index unknown at compile time counts as no interface", () => {
    expect(run({ ...base, inIf: 99, outIf: ifx("docker0"), dport: 8000 })).toBe(`REJECT/${REJECT_TCP_RESET} line 6`);
  });
  test("ports: inverted range", () => {
    expect(run({ ...base, sport: 1023, dport: 22 })).toBe("DROP line 7");
    expect(run({ ...base, sport: 0, dport: 22 })).toBe("DROP line 7");
    expect(run({ ...base, sport: 1024, dport: 22 })).toBe("DROP line 12");
  });
  test("icmp type/code, inverted type", () => {
    expect(run({ ...base, proto: 1, icmpType: 3, icmpCode: 4 })).toBe("ACCEPT line 8");
    expect(run({ ...base, proto: 1, icmpType: 3, icmpCode: 3 })).toBe("DROP line 9");
    expect(run({ ...base, proto: 1, icmpType: 8, icmpCode: 0 })).toBe("DROP line 12");
  });
  test("conntrack state and address type", () => {
    expect(run({ ...base, proto: 47, ctstate: CT_ESTABLISHED })).toBe("ACCEPT line 10");
    expect(run({ ...base, proto: 47, ctstate: CT_RELATED })).toBe("ACCEPT line 10");
    expect(run({ ...base, proto: 47, ctstate: CT_NEW, dstType: ADDRTYPE_LOCAL })).toBe(`REJECT/${REJECT_ADMIN_PROHIBITED} line 11`);
    expect(run({ ...base, proto: 47, ctstate: CT_NEW, dstType: ADDRTYPE_UNICAST })).toBe("DROP line 12");
  });
});

describe("conntrack module semantics (xt_conntrack)", () => {
  const rs = filter(
    [
      "-A FORWARD -m conntrack ! --ctstate NEW -j ACCEPT",
      "-A FORWARD -m conntrack --ctstatus ASSURED -j DROP",
      "-A FORWARD -m conntrack ! --ctstatus SEEN_REPLY -j REJECT",
      "-A FORWARD -m conntrack --ctstate DNAT -j DROP",
    ].join("\n"),
    "",
    "ACCEPT",
  );
  const c = compile(rs, { ifNames: [] });
  const v = (f: Partial<NfPacket>) => [verdictKind(evaluate(c, TABLE_FILTER, HOOK_FORWARD, pkt(f))), decided(c)];
  test("state, inverted", () => {
    expect(v({ ctstate: CT_INVALID })).toEqual([V_ACCEPT, "line 3"]);
    expect(v({ ctstate: CT_UNTRACKED })).toEqual([V_ACCEPT, "line 3"]);
  });
  test("without a conntrack entry, a status test never matches, even inverted", () => {
    const only = compile(filter("-A FORWARD -m conntrack ! --ctstatus ASSURED -j DROP"), { ifNames: [] });
    expect(evaluate(only, TABLE_FILTER, HOOK_FORWARD, pkt({ ctstate: CT_INVALID }))).toBe(V_ACCEPT);
    expect(evaluate(only, TABLE_FILTER, HOOK_FORWARD, pkt({ ctstate: CT_NEW }))).toBe(V_DROP);
    expect(evaluate(only, TABLE_FILTER, HOOK_FORWARD, pkt({ ctstate: CT_NEW, ctstatus: IPS_ASSURED }))).toBe(V_ACCEPT);
  });
  test("status bits, inverted status, the DNAT pseudo-state", () => {
    expect(v({ ctstate: CT_NEW, ctstatus: IPS_ASSURED | IPS_SEEN_REPLY })).toEqual([V_DROP, "line 4"]);
    expect(v({ ctstate: CT_NEW, ctstatus: 0 })).toEqual([V_REJECT, "line 5"]);
    expect(v({ ctstate: CT_NEW, ctstatus: IPS_SEEN_REPLY })).toEqual([V_ACCEPT, "policy"]);
    expect(v({ ctstate: CT_NEW | CT_DNAT, ctstatus: IPS_SEEN_REPLY })).toEqual([V_DROP, "line 6"]);
  });
});

describe("chains: jump, goto, RETURN, policy", () => {
  const rs = parseIptablesSave(
    [
      "*filter", // 1
      ":INPUT DROP [0:0]", // 2
      ":A - [0:0]", // 3
      ":B - [0:0]", // 4
      ":C - [0:0]", // 5
      "-A INPUT -p udp -j A", // 6
      "-A INPUT -p tcp -m tcp --dport 1 -j RETURN", // 7
      "-A INPUT -p tcp -g B", // 8
      "-A INPUT -j ACCEPT", // 9
      "-A A -m tcp -p tcp --dport 9 -j DROP", // 10 (never: udp)
      "-A A -p udp -m udp --dport 2 -j RETURN", // 11
      "-A A -p udp -m udp --dport 3 -g C", // 12
      "-A A -p udp -m udp --dport 4 -j C", // 13
      "-A A -p udp -j REJECT", // 14
      "-A B -p tcp -m tcp --dport 6 -j C", // 15
      "-A B -p tcp -m tcp --dport 7 -j ACCEPT", // 16
      "-A C -p udp -m udp --dport 3 -j RETURN", // 17
      "-A C -p tcp -m tcp --dport 6 -j RETURN", // 18
      "-A C -j LOG --log-prefix c", // 19
      "-A C -p udp -m udp --dport 4", // 20
      "COMMIT",
    ].join("\n"),
  );
  const c = compile(rs, { ifNames: [] });
  const run = (proto: number, dport: number) => {
    const v = evaluate(c, TABLE_FILTER, HOOK_INPUT, pkt({ proto, dport }));
    return `${["", "ACCEPT", "DROP", "REJECT"][verdictKind(v)]} ${decided(c)}`;
  };
  test("RETURN from a jumped chain continues after the jump", () => expect(run(17, 2)).toBe("ACCEPT line 9"));
  test("RETURN from a goto'd chain returns to the caller of the chain that went there", () => expect(run(17, 3)).toBe("ACCEPT line 9"));
  test("a jumped chain that runs to its end continues after the jump; LOG and no target go on", () => expect(run(17, 4)).toBe("REJECT line 14"));
  test("RETURN in a built-in chain applies the policy", () => expect(run(6, 1)).toBe("DROP policy"));
  test("the end of a chain reached by goto from a built-in chain applies the policy", () => {
    expect(run(6, 6)).toBe("DROP policy"); // B -> C RETURN -> back in B -> B's end -> INPUT's policy
    expect(run(6, 7)).toBe("ACCEPT line 16");
  });
  test("every matching rule counts, the policy counts on the chain", () => {
    const cc = compile(rs, { ifNames: [] });
    const p = pkt({ proto: 17, dport: 4, len: 100 });
    evaluate(cc, TABLE_FILTER, HOOK_INPUT, p);
    p.proto = 6;
    p.dport = 6;
    p.len = 40;
    evaluate(cc, TABLE_FILTER, HOOK_INPUT, p);
    evaluate(cc, TABLE_FILTER, HOOK_INPUT, p);
    syncCounters(cc);
    const out = formatIptablesSave(rs, { counters: true });
    expect(out).toBe(
      [
        "*filter",
        ":INPUT DROP [2:80]",
        ":FORWARD ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":A - [0:0]",
        ":B - [0:0]",
        ":C - [0:0]",
        "[1:100] -A INPUT -p udp -j A",
        "[0:0] -A INPUT -p tcp -m tcp --dport 1 -j RETURN",
        "[2:80] -A INPUT -p tcp -g B",
        "[0:0] -A INPUT -j ACCEPT",
        "[0:0] -A A -p tcp -m tcp --dport 9 -j DROP",
        "[0:0] -A A -p udp -m udp --dport 2 -j RETURN",
        "[0:0] -A A -p udp -m udp --dport 3 -g C",
        "[1:100] -A A -p udp -m udp --dport 4 -j C",
        "[1:100] -A A -p udp -j REJECT --reject-with icmp-port-unreachable",
        "[2:80] -A B -p tcp -m tcp --dport 6 -j C",
        "[0:0] -A B -p tcp -m tcp --dport 7 -j ACCEPT",
        "[0:0] -A C -p udp -m udp --dport 3 -j RETURN",
        "[2:80] -A C -p tcp -m tcp --dport 6 -j RETURN",
        "[1:100] -A C -j LOG --log-prefix c",
        "[1:100] -A C -p udp -m udp --dport 4",
        "COMMIT",
        "",
      ].join("\n"),
    );
  });
});

describe("tables and hooks", () => {
  const rs = parseIptablesSave(
    [
      "*raw",
      "-A PREROUTING -d 10.0.0.2 ! -i br0 -j DROP",
      "COMMIT",
      "*mangle",
      "-A OUTPUT -p udp -j DROP",
      "COMMIT",
      "*nat",
      ":DOCKER - [0:0]",
      "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
      "-A OUTPUT -p tcp -j DNAT --to-destination 10.0.0.3:8080-8081 --random",
      "-A POSTROUTING -s 10.0.0.0/24 ! -o br0 -j MASQUERADE",
      "-A POSTROUTING -p udp -j MASQUERADE --to-ports 1024-2047 --random-fully",
      "-A POSTROUTING -p tcp -j SNAT --to-source 192.0.2.1-192.0.2.9:5000 --random",
      "-A INPUT -j SNAT --to-source 192.0.2.200",
      "-A DOCKER ! -i br0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.2:80",
      "-A DOCKER -j ACCEPT",
      "COMMIT",
    ].join("\n"),
  );
  const c = compile(rs, { ifNames: ["lo", "eth0", "br0"] });
  test("raw and mangle tables evaluate like any other", () => {
    expect(evaluate(c, TABLE_RAW, HOOK_PREROUTING, pkt({ dst: ip("10.0.0.2"), inIf: 1 }))).toBe(V_DROP);
    expect(evaluate(c, TABLE_RAW, HOOK_PREROUTING, pkt({ dst: ip("10.0.0.2"), inIf: 2 }))).toBe(V_ACCEPT);
    expect(evaluate(c, TABLE_MANGLE, HOOK_OUTPUT, pkt({ proto: 17 }))).toBe(V_DROP);
    expect(evaluate(c, TABLE_MANGLE, HOOK_FORWARD, pkt({ proto: 17 }))).toBe(V_ACCEPT);
  });
  test("a table the ruleset does not have, and a hook its table does not have, accept", () => {
    expect(evaluate(c, TABLE_FILTER, HOOK_FORWARD, pkt())).toBe(V_ACCEPT);
    expect(evaluate(c, TABLE_RAW, HOOK_FORWARD, pkt())).toBe(V_ACCEPT);
  });
  test("NAT verdicts carry the index of their parameters", () => {
    const nat = c.nat;
    let v = evaluate(c, TABLE_NAT, HOOK_PREROUTING, pkt({ inIf: 1, dstType: ADDRTYPE_LOCAL, dport: 8080 }));
    expect(verdictKind(v)).toBe(V_DNAT);
    let i = verdictArg(v);
    expect([nat.addrMin[i], nat.addrMax[i], nat.portMin[i], nat.portMax[i], nat.flags[i]]).toEqual([ip("10.0.0.2"), ip("10.0.0.2"), 80, 80, NAT_PROTO_SPECIFIED]);
    expect(evaluate(c, TABLE_NAT, HOOK_PREROUTING, pkt({ inIf: 2, dstType: ADDRTYPE_LOCAL, dport: 8080 }))).toBe(V_ACCEPT);
    expect(evaluate(c, TABLE_NAT, HOOK_PREROUTING, pkt({ inIf: 1, dstType: ADDRTYPE_UNICAST, dport: 8080 }))).toBe(V_ACCEPT);
    v = evaluate(c, TABLE_NAT, HOOK_OUTPUT, pkt());
    i = verdictArg(v);
    expect([verdictKind(v), nat.addrMin[i], nat.portMin[i], nat.portMax[i], nat.flags[i]]).toEqual([V_DNAT, ip("10.0.0.3"), 8080, 8081, NAT_PROTO_SPECIFIED | NAT_RANDOM]);
    v = evaluate(c, TABLE_NAT, HOOK_POSTROUTING, pkt({ src: ip("10.0.0.7"), outIf: 1 }));
    i = verdictArg(v);
    expect([verdictKind(v), nat.addrMin[i], nat.portMin[i], nat.flags[i]]).toEqual([V_MASQUERADE, 0, 0, 0]);
    v = evaluate(c, TABLE_NAT, HOOK_POSTROUTING, pkt({ src: ip("10.0.1.7"), outIf: 1, proto: 17 }));
    i = verdictArg(v);
    expect([verdictKind(v), nat.portMin[i], nat.portMax[i], nat.flags[i]]).toEqual([V_MASQUERADE, 1024, 2047, NAT_PROTO_SPECIFIED | NAT_RANDOM_FULLY]);
    v = evaluate(c, TABLE_NAT, HOOK_POSTROUTING, pkt({ src: ip("10.0.1.7"), outIf: 1 }));
    i = verdictArg(v);
    expect([verdictKind(v), nat.addrMin[i], nat.addrMax[i], nat.portMin[i], nat.portMax[i], nat.flags[i]]).toEqual([V_SNAT, ip("192.0.2.1"), ip("192.0.2.9"), 5000, 5000, NAT_PROTO_SPECIFIED | NAT_RANDOM]);
    v = evaluate(c, TABLE_NAT, HOOK_INPUT, pkt());
    expect([verdictKind(v), c.nat.addrMin[verdictArg(v)]]).toEqual([V_SNAT, ip("192.0.2.200")]);
  });
});

describe("compile-time checks", () => {
  const text = (...lines: string[]) => lines.join("\n") + "\n";
  test("a loop of jumps reachable from a built-in chain is refused, naming it", () => {
    expect(() => parseIptablesSave(text("*filter", ":A - [0:0]", ":B - [0:0]", "-A FORWARD -j A", "-A A -j B", "-A B -j A", "COMMIT"), "loop.rules")).toThrow(
      'loop.rules:6: loop of jumps A -> B -> A (the kernel refuses it: "Too many links")',
    );
    expect(() => parseIptablesSave(text("*filter", ":A - [0:0]", "-A INPUT -g A", "-A A -g A", "COMMIT"))).toThrow(/loop of jumps A -> A/);
  });
  test("a loop nothing reaches is accepted, as the kernel does", () => {
    const rs = parseIptablesSave(text("*filter", ":A - [0:0]", ":B - [0:0]", "-A A -j B", "-A B -j A", "COMMIT"));
    expect(evaluate(compile(rs, { ifNames: [] }), TABLE_FILTER, HOOK_INPUT, pkt())).toBe(V_ACCEPT);
  });
  const nested = (n: number, verb: string) =>
    text("*filter", ...Array.from({ length: n }, (_, i) => `:C${i + 1} - [0:0]`), `-A INPUT ${verb} C1`, ...Array.from({ length: n - 1 }, (_, i) => `-A C${i + 1} ${verb} C${i + 2}`), `-A C${n} -j DROP`, "COMMIT");
  test("15 levels of user chains work; 16 are refused (nft's jump stack), by jump or goto", () => {
    const c = compile(parseIptablesSave(nested(15, "-j")), { ifNames: [] });
    expect(evaluate(c, TABLE_FILTER, HOOK_INPUT, pkt())).toBe(V_DROP);
    expect(evaluate(compile(parseIptablesSave(nested(15, "-g")), { ifNames: [] }), TABLE_FILTER, HOOK_INPUT, pkt())).toBe(V_DROP);
    expect(() => parseIptablesSave(nested(16, "-j"), "deep.rules")).toThrow(/deep\.rules: table filter: chains nested 16 deep \(INPUT -> C1 -> .* -> C16\); the kernel allows 15/);
    expect(() => parseIptablesSave(nested(16, "-g"))).toThrow(/nested 16 deep/);
  });
  test("depth counts from every built-in chain, also through a chain already checked from another", () => {
    const lines = ["*filter", ":X - [0:0]", ":X1 - [0:0]", ":X2 - [0:0]", ":A - [0:0]"];
    for (let i = 1; i <= 13; i++) lines.push(`:B${i} - [0:0]`);
    lines.push("-A FORWARD -j A", "-A A -j X", "-A X -j X1", "-A X1 -j X2", "-A INPUT -j B1");
    for (let i = 1; i < 13; i++) lines.push(`-A B${i} -j B${i + 1}`);
    lines.push("-A B13 -j X", "COMMIT");
    // FORWARD -> A -> X -> X1 -> X2 is 4 deep; INPUT -> B1..B13 -> X -> X1 -> X2 is 16
    expect(() => parseIptablesSave(lines.join("\n"))).toThrow(/nested 16 deep \(INPUT -> B1 -> .* -> B13 -> X -> X1 -> X2\)/);
    lines.splice(lines.indexOf("-A X1 -j X2"), 1);
    expect(() => parseIptablesSave(lines.join("\n"))).not.toThrow();
  });
  test("NAT targets only from the hooks that allow them", () => {
    expect(() => parseIptablesSave(text("*nat", ":X - [0:0]", "-A X -j MASQUERADE", "-A PREROUTING -j X", "COMMIT"), "n.rules")).toThrow(
      'n.rules:3: MASQUERADE is not allowed in chain X reached from PREROUTING (the kernel refuses it: "Invalid argument")',
    );
    expect(() => parseIptablesSave(text("*nat", "-A POSTROUTING -j DNAT --to-destination 1.2.3.4", "COMMIT"))).toThrow(/DNAT is not allowed in chain POSTROUTING reached from POSTROUTING/);
    expect(() => parseIptablesSave(text("*nat", "-A OUTPUT -j SNAT --to-source 1.2.3.4", "COMMIT"))).toThrow(/SNAT is not allowed in chain OUTPUT reached from OUTPUT/);
    expect(() => parseIptablesSave(text("*nat", ":X - [0:0]", "-A X -j DNAT --to-destination 1.2.3.4", "-A OUTPUT -j X", "-A PREROUTING -j X", "COMMIT"))).not.toThrow();
  });
  test("a ruleset built in code is checked when compiled", () => {
    const rs = parseIptablesSave(text("*filter", "COMMIT"), "code");
    const fwd = findChain(findTable(rs, "filter")!, "FORWARD")!;
    const r = newRule();
    r.target = { kind: "jump", chain: "NOWHERE" };
    fwd.rules.push(r);
    expect(() => compile(rs, { ifNames: [] })).toThrow(NetfilterError);
    expect(() => compile(rs, { ifNames: [] })).toThrow('code: table filter, chain FORWARD, rule 1: chain "NOWHERE" does not exist (table filter)');
  });
});

describe("interfaces are resolved at compile time", () => {
  const rs = filter("-A FORWARD -i veth+ -j DROP\n-A FORWARD ! -o br-1 -j REJECT");
  test("a wildcard covers the names known when compiling; recompiling picks up new ones and keeps counters", () => {
    let c = compile(rs, { ifNames: ["eth0", "br-1"] });
    const p = pkt({ inIf: 2, outIf: 1 });
    expect(evaluate(c, TABLE_FILTER, HOOK_FORWARD, p)).toBe(V_ACCEPT); // index 2 unknown yet: no interface
    c = recompile(c, { ifNames: ["eth0", "br-1", "veth9"] });
    expect(evaluate(c, TABLE_FILTER, HOOK_FORWARD, p)).toBe(V_DROP);
    p.inIf = 0;
    p.outIf = 0;
    expect(verdictKind(evaluate(c, TABLE_FILTER, HOOK_FORWARD, p))).toBe(V_REJECT);
    syncCounters(c);
    const rules = findChain(findTable(rs, "filter")!, "FORWARD")!;
    expect(rules.rules.map((r) => r.packets)).toEqual([1, 1]);
    expect(rules.packets).toBe(1); // the first packet went to the policy
  });
  test("more than 31 interfaces (several bitmap words)", () => {
    const names = Array.from({ length: 70 }, (_, i) => (i % 3 === 0 ? `veth${i}` : `eth${i}`));
    const c = compile(filter("-A FORWARD -i veth+ -j DROP"), { ifNames: names });
    for (let i = 0; i < 70; i++) expect(evaluate(c, TABLE_FILTER, HOOK_FORWARD, pkt({ inIf: i }))).toBe(i % 3 === 0 ? V_DROP : V_ACCEPT);
  });
});

describe("Docker's FORWARD chain on packets (classic, two networks, icc off on the second)", () => {
  const rs = dockerRules({
    profile: "classic",
    forwardPolicy: "DROP",
    networks: [
      { bridge: "docker0", subnet: "172.17.0.0/16", containers: [{ ip: "172.17.0.2", ports: [{ hostPort: 8080, containerPort: 80, proto: "tcp" }] }, { ip: "172.17.0.3" }] },
      { bridge: "br-x", subnet: "172.18.0.0/16", icc: false, containers: [{ ip: "172.18.0.2" }, { ip: "172.18.0.3" }] },
    ],
  });
  const names = ["lo", "eth0", "docker0", "br-x"];
  const c = compile(rs, { ifNames: names });
  const fwd = (from: string, to: string, f: Partial<NfPacket>) => verdictKind(evaluate(c, TABLE_FILTER, HOOK_FORWARD, pkt({ inIf: names.indexOf(from), outIf: names.indexOf(to), ...f })));
  test("outside -> published port (after DNAT) is accepted by DOCKER; other ports fall to the DROP policy", () => {
    expect(fwd("eth0", "docker0", { dst: ip("172.17.0.2"), dport: 80, ctstate: CT_NEW })).toBe(V_ACCEPT);
    expect(fwd("eth0", "docker0", { dst: ip("172.17.0.2"), dport: 81, ctstate: CT_NEW })).toBe(V_DROP);
    expect(fwd("eth0", "docker0", { dst: ip("172.17.0.3"), dport: 80, ctstate: CT_NEW })).toBe(V_DROP);
  });
  test("replies come back in through the conntrack rule", () => {
    expect(fwd("eth0", "docker0", { dst: ip("172.17.0.3"), dport: 50000, ctstate: CT_ESTABLISHED })).toBe(V_ACCEPT);
  });
  test("containers reach the outside, and each other on docker0 (icc on) but not on br-x (icc off)", () => {
    expect(fwd("docker0", "eth0", { src: ip("172.17.0.3"), ctstate: CT_NEW })).toBe(V_ACCEPT);
    expect(fwd("docker0", "docker0", { src: ip("172.17.0.3"), dst: ip("172.17.0.2"), dport: 22, ctstate: CT_NEW })).toBe(V_ACCEPT);
    expect(fwd("br-x", "br-x", { src: ip("172.18.0.3"), dst: ip("172.18.0.2"), ctstate: CT_NEW })).toBe(V_DROP);
    expect(fwd("br-x", "eth0", { src: ip("172.18.0.3"), ctstate: CT_NEW })).toBe(V_ACCEPT);
  });
  test("the isolation chains drop traffic between the two bridges, even replies", () => {
    expect(fwd("docker0", "br-x", { src: ip("172.17.0.3"), dst: ip("172.18.0.2"), ctstate: CT_NEW })).toBe(V_DROP);
    expect(fwd("br-x", "docker0", { dst: ip("172.17.0.2"), dport: 80, ctstate: CT_ESTABLISHED })).toBe(V_DROP);
  });
});

test("evaluate allocates nothing (Docker's FORWARD chain, 2,000,000 packets: no GC)", async () => {
  const rs = dockerRules({ profile: "current", networks: [{ bridge: "docker0", subnet: "172.17.0.0/16", containers: [{ ip: "172.17.0.2", ports: [{ hostPort: 8080, containerPort: 80, proto: "tcp" }] }] }] });
  const c = compile(rs, { ifNames: ["lo", "eth0", "docker0"] });
  const p = new NfPacket();
  const ctr = ip("172.17.0.2"), far = ip("198.51.100.7");
  let sink = 0;
  const loop = (n: number) => {
    for (let i = 0; i < n; i++) {
      p.inIf = 1 + (i & 1);
      p.outIf = 2 - (i & 1);
      p.src = i & 1 ? ctr : far;
      p.dst = i & 1 ? far : ctr;
      p.dport = 80 + (i & 3);
      p.ctstate = i & 4 ? CT_ESTABLISHED : CT_NEW;
      p.len = 60 + (i & 255);
      sink += evaluate(c, TABLE_FILTER, HOOK_FORWARD, p);
    }
  };
  loop(200_000); // optimise first
  // count only collections that start while the loop runs (nothing else runs then)
  const starts: number[] = [];
  const obs = new PerformanceObserver((l) => void starts.push(...l.getEntries().map((e) => e.startTime)));
  obs.observe({ entryTypes: ["gc"] });
  const t0 = performance.now();
  loop(2_000_000);
  const t1 = performance.now();
  await new Promise((r) => setTimeout(r, 20));
  obs.disconnect();
  const gcs = starts.filter((t) => t >= t0 && t <= t1).length;
  expect(sink).toBeGreaterThan(0);
  expect(gcs).toBe(0);
});
