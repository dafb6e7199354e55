// iptables-save text in and out (iptables-save.ts), checked against what iptables-nft 1.8.9 did
// with the same input in a network namespace (scripts/kernel-iptables.sh -> fixtures/kernel/).
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { formatIptablesSave, formatRule, parseIptablesSave, quoteArg, splitArgs } from "./iptables-save.js";
import { NetfilterError, findChain, findTable } from "./rules.js";

const DIR = new URL("./fixtures/kernel/", import.meta.url);
const read = (name: string) => readFileSync(new URL(name, DIR), "utf8");

/** One rule in a table with chains X and Y declared, as the script restored it. */
function one(table: string, rule: string): string {
  return `*${table}\n:X - [0:0]\n:Y - [0:0]\n${rule}\nCOMMIT\n`;
}
function canonical(table: string, rule: string): string {
  const rs = parseIptablesSave(one(table, rule), "one.rules");
  const t = findTable(rs, table as "filter")!;
  return t.chains.flatMap((c) => c.rules.map((r) => formatRule(c.name, r))).join("\n");
}

/** Rules iptables takes that this model refuses, on purpose (an option it does not evaluate, or a
 *  value iptables would change silently), with the words the error must contain. */
const STRICTER: Record<string, string> = {
  "-A INPUT -p tcp --dport http -j ACCEPT": 'invalid port "http"',
  "-A INPUT ! -p tcp -m tcp --dport 5 -j ACCEPT": 'TCP match requires "-p tcp"',
  // iptables-save then shows "-p tcp -j ACCEPT": the inversion is lost from the text
  "-A INPUT -p tcp ! --dport 0:65535 -j ACCEPT": '"! --dport 0:65535" would never match',
  "-A INPUT -p tcp --tcp-flags SYN SYN -j DROP": 'unsupported option "--tcp-flags"',
  "-A INPUT -p tcp --syn -j DROP": 'unsupported option "--syn"',
  "-A INPUT -m conntrack --ctproto tcp -j ACCEPT": 'unsupported option "--ctproto"',
  "-A INPUT -m addrtype --src-type LOCAL --limit-iface-in -j ACCEPT": 'unsupported option "--limit-iface-in"',
  "-A INPUT -m state --state NEW -j ACCEPT": 'unsupported match module "state"',
  "-A INPUT -m mark --mark 1 -j ACCEPT": 'unsupported match module "mark"',
  "-A INPUT -j MARK --set-mark 1": 'unsupported target or undeclared chain "MARK"',
  "-A INPUT -j LOG --log-tcp-sequence": 'unsupported option "--log-tcp-sequence"',
  '-A INPUT -j LOG --log-prefix "0123456789012345678901234567890"': "--log-prefix is longer than 29 bytes",
};

describe("single rules as iptables-nft 1.8.9 took them (fixtures/kernel/rules.out.tsv)", () => {
  // table<TAB>rule<TAB>result; a rule may itself hold a tab (inside a quoted comment)
  const rows = read("rules.out.tsv").split("\n").filter((l) => l && !l.startsWith("#")).map((l) => {
    const m = /^([^\t]+)\t(.*)\t([=!] .*)$/.exec(l)!;
    return [m[1], m[2], m[3]] as [string, string, string];
  });
  test("the fixture covers every input line", () => {
    const inputs = read("rules.in.tsv").split("\n").filter((l) => l && !l.startsWith("#"));
    expect(inputs.length).toBeGreaterThan(150);
    expect(rows.map(([t, r]) => `${t}\t${r}`)).toEqual(inputs);
    expect(rows.filter(([, , res]) => res.startsWith("!")).length).toBeGreaterThan(40);
  });
  for (const [table, rule, result] of rows) {
    const stricter = STRICTER[rule];
    if (result.startsWith("= ") && stricter === undefined) {
      test(`${table}: ${rule}  =>  ${result.slice(2)}`, () => expect(canonical(table, rule)).toBe(result.slice(2)));
    } else {
      test(`${table}: ${rule}  refused${stricter ? " (iptables takes it; refused here on purpose)" : ""}`, () => {
        expect(() => canonical(table, rule)).toThrow(NetfilterError);
        if (stricter) expect(() => canonical(table, rule)).toThrow(stricter);
      });
    }
  }
  test("every deliberate refusal is a rule iptables took", () => {
    for (const rule of Object.keys(STRICTER)) expect(rows.find(([, r]) => r === rule)?.[2].startsWith("=")).toBe(true);
  });
});

describe("whole files (fixtures/kernel/*.in.rules)", () => {
  const names = readdirSync(DIR).filter((f) => f.endsWith(".in.rules")).map((f) => f.slice(0, -".in.rules".length));
  test("fixtures present", () => expect(names.length).toBeGreaterThanOrEqual(15));
  for (const name of names) {
    const errFile = `${name}.err`;
    if (existsSync(new URL(errFile, DIR))) {
      test(`${name}: refused, as iptables-restore did (${read(errFile).trim().slice(0, 90)})`, () => {
        expect(() => parseIptablesSave(read(`${name}.in.rules`), `${name}.in.rules`)).toThrow(NetfilterError);
      });
      continue;
    }
    const want = read(`${name}.out.rules`);
    const counters = name.startsWith("counters");
    if (name === "header") {
      test("header: the comment lines iptables-save prints", () => {
        const date = /on (.*)$/m.exec(want)![1]!;
        expect(formatIptablesSave(parseIptablesSave(read("header.in.rules")), { header: { date } })).toBe(want);
        expect(formatIptablesSave(parseIptablesSave(want), { header: { date, version: "v1.8.9 (nf_tables)" } })).toBe(want);
      });
      continue;
    }
    test(`${name}: formatted as iptables-save printed it`, () => {
      expect(formatIptablesSave(parseIptablesSave(read(`${name}.in.rules`)), { counters })).toBe(want);
    });
    test(`${name}: canonical text round-trips byte for byte`, () => {
      expect(formatIptablesSave(parseIptablesSave(want), { counters })).toBe(want);
    });
  }
  test("every Docker rule set iptables re-printed round-trips", () => {
    const docker = readdirSync(DIR).filter((f) => f.startsWith("docker-"));
    expect(docker.length).toBeGreaterThanOrEqual(12);
    for (const f of docker) expect(formatIptablesSave(parseIptablesSave(read(f), f))).toBe(read(f));
  });
});

test("protocol numbers 1..255 print as iptables-save prints them", () => {
  const want = read("protocols.out.txt").trim().split("\n");
  expect(want).toHaveLength(255);
  const text = `*filter\n${Array.from({ length: 255 }, (_, i) => `-A INPUT -p ${i + 1}`).join("\n")}\nCOMMIT\n`;
  const got = findChain(findTable(parseIptablesSave(text), "filter")!, "INPUT")!.rules.map((r) => formatRule("INPUT", r).split(" ")[3]);
  expect(got).toEqual(want);
  // and each name reads back as its number
  for (let p = 1; p <= 255; p++) expect(canonical("filter", `-A INPUT -p ${want[p - 1]}`)).toBe(`-A INPUT -p ${want[p - 1]}`);
});

describe("errors name the file, the line, the option and the rule", () => {
  const err = (text: string) => {
    try {
      parseIptablesSave(text, "iptables.rules");
    } catch (e) {
      expect(e).toBeInstanceOf(NetfilterError);
      return (e as Error).message;
    }
    throw new Error("no error");
  };
  test("an unsupported option", () => {
    const lines = ["*filter", ...Array.from({ length: 10 }, () => "-A INPUT -j ACCEPT"), "-A INPUT -p tcp --tcp-flags SYN SYN -j DROP", "COMMIT"];
    expect(err(lines.join("\n"))).toBe('iptables.rules:12: unsupported option "--tcp-flags" in rule "-A INPUT -p tcp --tcp-flags SYN SYN -j DROP"');
  });
  test("a jump to a chain not declared", () => {
    expect(err("*filter\n-A FORWARD -j DOCKER\nCOMMIT\n")).toBe('iptables.rules:2: unsupported target or undeclared chain "DOCKER" in rule "-A FORWARD -j DOCKER"');
    expect(err("*filter\n-A FORWARD -g mychain\nCOMMIT\n")).toBe('iptables.rules:2: chain "mychain" does not exist (declare it with ":mychain - [0:0]" before use) in rule "-A FORWARD -g mychain"');
  });
  test("a rule in a chain not declared", () => {
    expect(err("*nat\n-A DOCKER -j RETURN\nCOMMIT\n")).toMatch(/^iptables\.rules:2: chain "DOCKER" does not exist in table nat/);
  });
  test("tables, commands and lines outside the language", () => {
    expect(err("*security\nCOMMIT\n")).toBe('iptables.rules:1: unsupported table "security" (raw, mangle, nat, filter)');
    expect(err("*filter\n-I INPUT -j ACCEPT\nCOMMIT\n")).toMatch(/^iptables\.rules:2: unsupported command "-I"/);
    expect(err("*filter\n-N X\nCOMMIT\n")).toMatch(/^iptables\.rules:2: unsupported command "-N"/);
    expect(err("-A INPUT -j ACCEPT\n")).toMatch(/^iptables\.rules:1: .*outside a table/);
    expect(err("*filter\n*nat\nCOMMIT\n")).toMatch(/^iptables\.rules:2: "\*nat" before COMMIT of table filter/);
    expect(err("*filter\nCOMMIT\n*filter\nCOMMIT\n")).toBe("iptables.rules:3: table filter appears twice");
    expect(err("*filter\n:INPUT REJECT [0:0]\nCOMMIT\n")).toMatch(/policy of built-in chain INPUT must be ACCEPT or DROP/);
    expect(err("*filter\n:X ACCEPT [0:0]\nCOMMIT\n")).toMatch(/user-defined chain X cannot have a policy/);
    expect(err("*filter\n:ACCEPT - [0:0]\nCOMMIT\n")).toMatch(/chain name "ACCEPT" is a target name/);
    expect(err("*raw\n:FORWARD - [0:0]\nCOMMIT\n")).toMatch(/chain FORWARD is not a built-in chain of this table/);
    expect(err(`*filter\n:${"C".repeat(29)} - [0:0]\nCOMMIT\n`)).toMatch(/longer than 28 characters/);
    expect(err('*filter\n-A INPUT -m comment --comment "open\nCOMMIT\n')).toMatch(/^iptables\.rules:2: unterminated quoted string/);
  });
  test("values", () => {
    const bad = (rule: string, words: string) => expect(err(`*nat\n${rule}\nCOMMIT\n`)).toContain(words);
    bad("-A PREROUTING -s 1.2.3.4.5 -j ACCEPT", '-s: "1.2.3.4.5": an IPv4 address has 4 dot-separated parts');
    bad("-A PREROUTING -s 10.0.0.0/255.0.255.0 -j ACCEPT", 'non-contiguous mask "255.0.255.0"');
    bad("-A PREROUTING -p tcp --dport 1-2 -j ACCEPT", 'invalid port "1-2"');
    bad("-A PREROUTING -p tcp -j DNAT --to-destination :80", "a port without an address is not supported");
    bad("-A PREROUTING -j DNAT --to-destination 10.0.0.2-10.0.0.1", "address range with min > max");
    bad("-A PREROUTING -j DNAT --to-destination 10.0.0.1 --persistent", "DNAT --persistent is not supported");
    bad("-A POSTROUTING -j SNAT --to-source 10.0.0.1 --persistent", "SNAT --persistent is not supported");
    bad("-A PREROUTING -j DNAT", 'DNAT: option "--to-destination" must be specified');
    bad("-A PREROUTING -m comment --comment x --comment y", 'only one "--comment" is allowed');
    bad(`-A PREROUTING -m comment --comment ${"c".repeat(256)}`, "--comment is longer than 255 bytes");
    bad("-A PREROUTING ! -m comment --comment x", '"!" is not allowed before -m');
    bad("-A PREROUTING -j ACCEPT !", '"!" at the end of the rule');
    bad("-A PREROUTING -s", 'option "-s" requires a value');
    bad("-A PREROUTING -j ACCEPT -j ACCEPT", "only one -j or -g is allowed");
    bad("-A PREROUTING -j ACCEPT -c x y", "-c: counters must be numbers");
  });
});

describe("quoting", () => {
  test("splitArgs reads quotes and backslashes as iptables-restore does", () => {
    expect(splitArgs('-A X -m comment --comment "a \\"b\\" \\\\ c\'" -j RETURN')).toEqual(["-A", "X", "-m", "comment", "--comment", 'a "b" \\ c\'', "-j", "RETURN"]);
    expect(splitArgs('--comment ""  x\ty')).toEqual(["--comment", "", "x", "y"]);
    expect(splitArgs("a\\b")).toEqual(["a\\b"]); // outside quotes a backslash is a character
  });
  test("quoteArg quotes only what needs it, escaping \" \\ and '", () => {
    expect(quoteArg("abc_-09")).toBe("abc_-09");
    expect(quoteArg("a.b")).toBe('"a.b"');
    expect(quoteArg("")).toBe('""');
    expect(quoteArg(`q"x\\y'z`)).toBe(`"q\\"x\\\\y\\'z"`);
    for (const s of ["", "a b", `q"x\\y'z`, "tab\tx", "#"]) expect(splitArgs(quoteArg(s))).toEqual([s]);
  });
});

test("counters: `-c` prefixes, policies always, user chains [0:0]", () => {
  const rs = parseIptablesSave(read("counters.in.rules"));
  const f = findTable(rs, "filter")!;
  expect(findChain(f, "INPUT")!.packets).toBe(5);
  expect(findChain(f, "INPUT")!.rules.map((r) => [r.packets, r.bytes])).toEqual([[3, 4], [9, 10]]);
  const plain = formatIptablesSave(rs);
  expect(plain).toContain(":INPUT ACCEPT [5:100]\n");
  expect(plain).toContain("\n-A INPUT -j X\n");
  expect(plain).toContain(":X - [0:0]\n");
});
