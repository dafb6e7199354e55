// Docker's rule sets (docker-rules.ts) against the listings of BEHAVIOR.md 1.9/1.10, moby's own
// generated documentation of real daemons, and what iptables-nft printed for every scenario
// (fixtures/kernel/docker-*.rules, from scripts/kernel-iptables.sh).
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { dockerRules, dockerRulesText, type DockerRulesSpec } from "./docker-rules.js";
import { formatIptablesSave, formatRule } from "./iptables-save.js";
import { blocks, fixtureText, sections } from "./fixtures/listings.js";
import { NetfilterError, findTable, type Ruleset, type TableName } from "./rules.js";

const fixture = fixtureText;
const scenarios: { name: string; about: string; spec: DockerRulesSpec }[] = JSON.parse(fixture("docker-scenarios.json"));
const scenario = (name: string) => scenarios.find((s) => s.name === name)!.spec;

/** The ruleset as `iptables -S` lists one table: -P, -N (sorted), -A. */
function listing(rs: Ruleset, table: TableName): string[] {
  const t = findTable(rs, table);
  if (!t) return [];
  const saved = formatIptablesSave({ tables: [t], source: "" }).split("\n");
  return [
    ...t.chains.filter((c) => c.hook >= 0).map((c) => `-P ${c.name} ${c.policy}`),
    ...saved.filter((l) => l.startsWith(":") && l.endsWith(" - [0:0]")).map((l) => `-N ${l.slice(1, -" - [0:0]".length)}`),
    ...saved.filter((l) => l.startsWith("-A ")),
  ];
}
const rulesOf = (rs: Ruleset, table: TableName) => listing(rs, table).filter((l) => l.startsWith("-A "));

describe("BEHAVIOR.md listings", () => {
  const listings = blocks(fixture("docker-behavior.txt"));
  test("the fixture is BEHAVIOR.md's text, verbatim (when ../shared/BEHAVIOR.md is there)", () => {
    const path = new URL("../../../shared/BEHAVIOR.md", import.meta.url);
    if (!existsSync(path)) return;
    const behavior = readFileSync(path, "utf8");
    for (const body of listings.values()) expect(behavior).toContain(body);
  });

  test("1.9 classic: iptables-save equals the listing line for line, with the declarations it prints", () => {
    const want = sections(listings.get("1.9")!);
    const rs = dockerRules(scenario("classic-behavior"));
    for (const [table, rules] of want) expect(rulesOf(rs, table as TableName)).toEqual(rules);
    expect(dockerRulesText(scenario("classic-behavior"))).toBe(
      [
        "*filter",
        ":INPUT ACCEPT [0:0]",
        ":FORWARD ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":DOCKER - [0:0]",
        ":DOCKER-ISOLATION-STAGE-1 - [0:0]",
        ":DOCKER-ISOLATION-STAGE-2 - [0:0]",
        ":DOCKER-USER - [0:0]",
        ...want.get("filter")!,
        "COMMIT",
        "*nat",
        ":PREROUTING ACCEPT [0:0]",
        ":INPUT ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]",
        ":DOCKER - [0:0]",
        ...want.get("nat")!,
        "COMMIT",
        "",
      ].join("\n"),
    );
  });

  test("1.9 variants named in the listing: userland-proxy=false, icc=false", () => {
    const base = sections(listings.get("1.9")!);
    const noProxy = dockerRules(scenario("classic-noproxy"));
    expect(rulesOf(noProxy, "nat")).toEqual([
      "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
      "-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER", // no "! -d 127.0.0.0/8" with hairpin
      "-A POSTROUTING -o docker0 -m addrtype --src-type LOCAL -j MASQUERADE", // the line "userland-proxy=false adds"
      "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
      "-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE",
      // no skipDNAT RETURN, and the DNAT without "! -i docker0"
      "-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
    ]);
    expect(rulesOf(noProxy, "filter")).toEqual(base.get("filter"));
    const noIcc = rulesOf(dockerRules(scenario("classic-noicc")), "filter");
    const accept = "-A FORWARD -i docker0 -o docker0 -j ACCEPT";
    const expected = base.get("filter")!.filter((l) => l !== accept);
    expected.splice(expected.indexOf("-A FORWARD -i docker0 ! -o docker0 -j ACCEPT") + 1, 0, "-A FORWARD -i docker0 -o docker0 -j DROP");
    expect(noIcc).toEqual(expected);
  });

  test("1.10 current: the golden file line for line, with the declarations iptables-save prints", () => {
    const want = sections(listings.get("1.10")!);
    const rs = dockerRules(scenario("current-behavior"));
    for (const table of ["raw", "filter", "nat"] as const) expect(rulesOf(rs, table)).toEqual(want.get(table));
    expect(dockerRulesText(scenario("current-behavior"))).toBe(
      [
        "*raw",
        ":PREROUTING ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ...want.get("raw")!,
        "COMMIT",
        "*filter",
        ":INPUT ACCEPT [0:0]",
        ":FORWARD ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":DOCKER - [0:0]",
        ":DOCKER-BRIDGE - [0:0]",
        ":DOCKER-CT - [0:0]",
        ":DOCKER-FORWARD - [0:0]",
        ":DOCKER-INTERNAL - [0:0]",
        ...want.get("filter")!,
        "COMMIT",
        "*nat",
        ":PREROUTING ACCEPT [0:0]",
        ":INPUT ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]",
        ":DOCKER - [0:0]",
        ...want.get("nat")!,
        "COMMIT",
        "",
      ].join("\n"),
    );
  });

  test("1.10 hairpin=true: the differences BEHAVIOR.md lists, in the golden file's order", () => {
    const want = sections(listings.get("1.10")!);
    const rs = dockerRules(scenario("current-hairpin"));
    expect(rulesOf(rs, "filter")).toEqual(want.get("filter"));
    expect(rulesOf(rs, "raw")).toEqual(want.get("raw"));
    // moby TestIptabler/hairpin=true,internal=false,icc=true,masq=true,... (nat table)
    expect(rulesOf(rs, "nat")).toEqual([
      "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
      "-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER",
      "-A POSTROUTING -o br-dummy -m addrtype --src-type LOCAL -j MASQUERADE",
      "-A POSTROUTING -s 192.168.0.0/24 ! -o br-dummy -j MASQUERADE",
      "-A POSTROUTING -s 192.168.0.2/32 -d 192.168.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE",
      "-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.168.0.2:80",
    ]);
  });

  test("1.10 icc=false: DOCKER-FORWARD's ACCEPT becomes a DROP for the bridge and an ACCEPT for the rest", () => {
    const want = sections(listings.get("1.10")!).get("filter")!;
    const expected = want.filter((l) => l !== "-A DOCKER-FORWARD -i br-dummy -j ACCEPT");
    expected.push("-A DOCKER-FORWARD -i br-dummy -o br-dummy -j DROP", "-A DOCKER-FORWARD -i br-dummy ! -o br-dummy -j ACCEPT");
    expect(rulesOf(dockerRules(scenario("current-noicc")), "filter")).toEqual(expected);
  });

  test("1.10 DOCKER-USER: kept first in FORWARD, no RETURN in v29 (TestUserChain golden)", () => {
    const rs = dockerRules({ ...scenario("current-behavior"), userChain: true });
    expect(rulesOf(rs, "filter").slice(0, 2)).toEqual(["-A FORWARD -j DOCKER-USER", "-A FORWARD -j DOCKER-FORWARD"]);
    expect(rulesOf(rs, "filter").filter((l) => l.startsWith("-A DOCKER-USER"))).toEqual([]);
    expect(listing(rs, "filter")).toContain("-N DOCKER-USER");
  });

  test("FORWARD policy DROP when Docker enabled ip_forward itself", () => {
    expect(dockerRulesText({ ...scenario("classic-behavior"), forwardPolicy: "DROP" })).toContain("\n:FORWARD DROP [0:0]\n");
    expect(dockerRulesText({ ...scenario("current-behavior"), forwardPolicy: "DROP" })).toContain("\n:FORWARD DROP [0:0]\n");
  });
});

describe("moby's generated iptables documentation (real daemons)", () => {
  const docs = blocks(fixture("docker-moby-docs.txt"));
  test("four listings", () => expect([...docs.keys()]).toEqual(["current-portmap", "current-internal", "current-lo", "classic-hostip"]));
  for (const [name, body] of docs) {
    test(`${name}: every table listed is what the generator builds`, () => {
      const rs = dockerRules(scenario(name));
      let compared = 0;
      for (const [table, lines] of sections(body)) {
        let want = lines;
        if (name === "classic-hostip") {
          // v28 development's defaultDrop, not in v27.5.1 (see the fixture's note)
          want = lines.filter((l) => !/^-A DOCKER ! -i (docker0|bridge1) -o \1 -j DROP$/.test(l));
          expect(want.length).toBe(lines.length - (table === "filter" ? 2 : 0));
        }
        expect(listing(rs, table as TableName)).toEqual(want);
        compared++;
      }
      expect(compared).toBeGreaterThanOrEqual(2);
    });
  }
});

describe("iptables-nft printed every scenario unchanged (fixtures/kernel/docker-*.rules)", () => {
  test("twelve and more scenarios", () => expect(scenarios.length).toBeGreaterThanOrEqual(13));
  for (const s of scenarios) {
    test(`${s.name}: ${s.about}`, () => {
      expect(dockerRulesText(s.spec)).toBe(fixture(`kernel/docker-${s.name}.rules`));
    });
  }
});

describe("ordering as Docker's inserts produce it", () => {
  test("classic, several networks: newest network's rules first, icc=false DROPs appended, internal rules on top of isolation stage 1", () => {
    const f = rulesOf(dockerRules(scenario("classic-multi")), "filter");
    expect(f.filter((l) => l.startsWith("-A FORWARD"))).toEqual([
      "-A FORWARD -j DOCKER-USER",
      "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
      "-A FORWARD -o bridge1 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
      "-A FORWARD -o bridge1 -j DOCKER",
      "-A FORWARD -i bridge1 ! -o bridge1 -j ACCEPT",
      "-A FORWARD -i br-int1 -o br-int1 -j ACCEPT",
      "-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
      "-A FORWARD -o docker0 -j DOCKER",
      "-A FORWARD -i docker0 ! -o docker0 -j ACCEPT",
      "-A FORWARD -i docker0 -o docker0 -j ACCEPT",
      "-A FORWARD -i br-int2 -o br-int2 -j DROP",
      "-A FORWARD -i bridge1 -o bridge1 -j DROP",
    ]);
    expect(f.filter((l) => l.startsWith("-A DOCKER-ISOLATION-STAGE-1"))).toEqual([
      "-A DOCKER-ISOLATION-STAGE-1 -i bridge1 ! -o bridge1 -j DOCKER-ISOLATION-STAGE-2",
      "-A DOCKER-ISOLATION-STAGE-1 ! -s 10.9.1.0/24 -o br-int2 -j DROP",
      "-A DOCKER-ISOLATION-STAGE-1 ! -d 10.9.1.0/24 -i br-int2 -j DROP",
      "-A DOCKER-ISOLATION-STAGE-1 ! -s 10.9.0.0/24 -o br-int1 -j DROP",
      "-A DOCKER-ISOLATION-STAGE-1 ! -d 10.9.0.0/24 -i br-int1 -j DROP",
      "-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2",
      "-A DOCKER-ISOLATION-STAGE-1 -j RETURN",
    ]);
  });
  test("current: per-port ACCEPTs inserted above the per-network DROPs, newest container first", () => {
    const rs = dockerRules(scenario("current-many"));
    expect(rulesOf(rs, "filter").filter((l) => l.startsWith("-A DOCKER "))).toEqual([
      "-A DOCKER -d 172.18.0.2/32 ! -i br-1a2b3c4d5e6f -o br-1a2b3c4d5e6f -p tcp -m tcp --dport 9000 -j ACCEPT",
      "-A DOCKER -d 172.17.0.4/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 8443 -j ACCEPT",
      "-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p udp -m udp --dport 53 -j ACCEPT",
      "-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT",
      "-A DOCKER ! -i docker0 -o docker0 -j DROP",
      "-A DOCKER ! -i br-1a2b3c4d5e6f -o br-1a2b3c4d5e6f -j DROP",
    ]);
    // direct-access filtering for every container on a NAT network, published or not
    expect(rulesOf(rs, "raw")).toEqual([
      "-A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP",
      "-A PREROUTING -d 172.17.0.3/32 ! -i docker0 -j DROP",
      "-A PREROUTING -d 172.17.0.4/32 ! -i docker0 -j DROP",
      "-A PREROUTING -d 172.18.0.2/32 ! -i br-1a2b3c4d5e6f -j DROP",
    ]);
    // a host address on the DNAT rule; no masquerading for the ipMasq=false network
    const nat = rulesOf(rs, "nat");
    expect(nat).toContain("-A DOCKER -d 10.0.0.5/32 -p tcp -m tcp --dport 443 -j DNAT --to-destination 172.17.0.4:8443");
    expect(nat.filter((l) => l.includes("172.18.0.0/16"))).toEqual([]);
  });
  test("no networks: the daemon's chains only", () => {
    expect(rulesOf(dockerRules({ profile: "classic", networks: [] }), "filter")).toEqual([
      "-A FORWARD -j DOCKER-USER",
      "-A DOCKER-ISOLATION-STAGE-1 -j RETURN",
      "-A DOCKER-ISOLATION-STAGE-2 -j RETURN",
      "-A DOCKER-USER -j RETURN",
    ]);
    expect(rulesOf(dockerRules({ profile: "classic", networks: [] }), "nat")).toEqual([]);
    const current = dockerRules({ profile: "current", networks: [] });
    expect(rulesOf(current, "nat")).toEqual(["-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER", "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER"]);
    expect(findTable(current, "raw")).toBeUndefined();
  });
  test("every rule of every scenario is canonical (formatting it again changes nothing)", () => {
    for (const s of scenarios) {
      const rs = dockerRules(s.spec);
      for (const t of rs.tables) for (const c of t.chains) for (const r of c.rules) expect(formatRule(c.name, r)).toMatch(/^-A \S+ /);
    }
  });
});

describe("bad input is refused with the network named", () => {
  const bad = (spec: Partial<DockerRulesSpec>, words: string) => {
    expect(() => dockerRules({ profile: "current", networks: [], ...spec })).toThrow(words);
  };
  test("containers, ports, bridge names", () => {
    bad({ networks: [{ bridge: "docker0", subnet: "172.17.0.0/16", containers: [{ ip: "10.0.0.2" }] }] }, "network docker0: container 10.0.0.2 is outside 172.17.0.0/16");
    bad({ networks: [{ bridge: "docker0", subnet: "172.17.0.0/16", containers: [{ ip: "172.17.0.2", ports: [{ hostPort: 0, containerPort: 80, proto: "tcp" }] }] }] }, "hostPort 0 must be 1..65535");
    bad({ networks: [{ bridge: "docker0", subnet: "172.17.0.0/16", containers: [{ ip: "172.17.0.2", ports: [{ hostPort: 1, containerPort: 80, proto: "sctp" as "tcp" }] }] }] }, 'port protocol "sctp" is not supported');
    bad({ networks: [{ bridge: "a-bridge-name-too-long", subnet: "172.17.0.0/16" }] }, "bridge name must be 1..15 characters");
    bad({ networks: [{ bridge: "docker0", subnet: "172.17.0.0/16", containers: [{ ip: "172.17.0.2", ports: [{ hostIp: "::", hostPort: 1, containerPort: 80, proto: "tcp" }] }] }] }, 'hostIp "::" is not an IPv4 address');
    expect(() => dockerRules({ profile: "classic", networks: [{ bridge: "x", subnet: "172.17.0.0/33" }] })).toThrow(/prefix length/);
    expect(() => dockerRules({ profile: "classic", networks: [{ bridge: "x", subnet: "172.17.0.0/16", containers: [{ ip: "172.17.0.2", ports: [{ hostPort: 1, containerPort: 1, proto: "tcp" }] }] }] })).not.toThrow(NetfilterError);
  });
});
