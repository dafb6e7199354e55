import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ALLOWED_KEYS, ScenarioError, loadScenario, parseScenario, parseScenarioAll } from "./parse.js";
import { parseYaml, toPlain } from "./yaml.js";
import type { HostSpec, NetworkSpec, Scenario } from "./types.js";

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, "fixtures");
const root = resolve(here, "../..");

const host = (name: string, address: string, extra: Partial<HostSpec> = {}): HostSpec => ({
  name, address, userlandProxy: true, icc: true, ipMasq: true, docker: true, ...extra,
});

/** The implicit networks of a scenario whose Docker hosts are `hosts`. */
function implicit(hosts: string[], bridge: Partial<NetworkSpec> = {}): NetworkSpec[] {
  const base = { hosts, icc: true, ipMasq: true, internal: false };
  return [
    { name: "bridge", driver: "bridge", ...base, subnet: "172.17.0.0/16", gateway: "172.17.0.1", bridgeName: "docker0", ...bridge },
    { name: "host", driver: "host", ...base },
    { name: "none", driver: "none", ...base },
  ];
}

describe("parseScenario", () => {
  it("reads the minimal scenario, filling in every default", () => {
    const file = join(fixtures, "minimal.yaml");
    expect(loadScenario(file)).toStrictEqual({
      file,
      seed: 1,
      profile: "classic",
      hosts: [host("host", "192.168.1.10/24")],
      networks: implicit(["host"]),
      containers: [
        { name: "c1", host: "host", mode: "bridge", networks: [{ network: "bridge" }], ports: [] },
        { name: "c2", host: "host", mode: "bridge", networks: [{ network: "bridge" }], ports: [] },
      ],
      links: [],
      traffic: [{ type: "ping", from: "c1", to: "c2", count: 3, intervalNs: 1e9, size: 56, startNs: 0 }],
      capture: "all",
      expect: [],
    } satisfies Scenario);
  });

  it("reads the full fixture into the exact Scenario", () => {
    const file = join(fixtures, "full.yaml");
    const expected: Scenario = {
      file,
      name: "full",
      seed: 7,
      profile: "modern",
      durationNs: 5e9,
      hosts: [
        host("host1", "192.168.1.10/24", { userlandProxy: false }),
        host("host2", "192.168.1.11/24", { icc: false }),
        host("client", "192.168.1.20/24", { docker: false }),
      ],
      networks: [
        ...implicit(["host1", "host2"], { subnet: "10.200.0.0/16", gateway: "10.200.0.1", icc: false, mtu: 1400 }),
        {
          name: "backend", driver: "bridge", hosts: ["host1"], subnet: "172.20.0.0/16", gateway: "172.20.0.254",
          icc: false, ipMasq: true, internal: false, mtu: 1450, bridgeName: "br-back",
        },
        { name: "frontend", driver: "bridge", hosts: ["host1", "host2"], icc: true, ipMasq: false, internal: false },
      ],
      containers: [
        {
          name: "web", host: "host1", mode: "bridge",
          networks: [{ network: "backend", ip: "172.20.0.10" }, { network: "frontend" }],
          ports: [
            { hostPort: 8080, containerPort: 80, proto: "tcp" },
            { hostPort: 5353, containerPort: 53, proto: "udp" },
            { hostIp: "127.0.0.1", hostPort: 8081, containerPort: 81, proto: "tcp" },
            { hostPort: 9000, containerPort: 9000, proto: "tcp" },
            { hostPort: 9001, containerPort: 9001, proto: "tcp" },
            { hostPort: 9002, containerPort: 9002, proto: "tcp" },
            { hostIp: "192.168.1.10", hostPort: 8443, containerPort: 443, proto: "tcp" },
          ],
          mac: "02:42:ac:14:00:0a",
        },
        { name: "db", host: "host1", mode: "bridge", networks: [{ network: "backend", ip: "172.20.0.11" }], ports: [] },
        { name: "sidecar", host: "host1", mode: "container:web", networks: [], ports: [] },
        { name: "worker-1", host: "host2", mode: "bridge", networks: [{ network: "frontend" }, { network: "bridge" }], ports: [] },
        { name: "lonely", host: "host2", mode: "none", networks: [], ports: [] },
      ],
      links: [
        { at: "web/eth0", direction: "egress", delayNs: 10e6, jitterNs: 1e6, loss: 0.01, duplicate: 0.001, rateBps: 10e6, limit: 1000 },
        { at: "db/eth0", direction: "ingress", loss: 0.05 },
      ],
      traffic: [
        { type: "ping", from: "web", to: "db", count: 3, intervalNs: 200e6, size: 56, startNs: 0 },
        { type: "udp", from: "client", to: "host1", port: 5353, flows: 4, packets: 100, ratePps: 1000, size: 96, startNs: 0 },
        { type: "tcp", from: "client", to: "192.168.1.10", port: 8080, bytes: 100000, connections: 1, startNs: 1.5e9 },
        { type: "replay", file: join(fixtures, "trace.pcapng"), into: "web/eth0", mode: "received", timing: "asap", startNs: 0 },
        { type: "ping", from: "worker-1", to: "client", count: 3, intervalNs: 1e9, size: 56, startNs: 0 },
      ],
      capture: ["host1/docker0", "host1/br-back", "web/eth0", "web/eth1", "client/eth0"],
      expect: [
        { from: "client", to: "host1", proto: "tcp", port: 8080, reachable: true },
        { from: "client", to: "host1", proto: "udp", port: 5353, reachable: true },
        { from: "worker-1", to: "db", proto: "icmp", reachable: false },
      ],
    };
    expect(loadScenario(file)).toStrictEqual(expected);
  });

  it("gives hosts default addresses 192.168.1.(10+i)/24 and daemon defaults", () => {
    const s = parseScenario("hosts:\n  a:\n  b: {}\n  c: {docker: false}\n", "s.yaml");
    expect(s.hosts).toStrictEqual([host("a", "192.168.1.10/24"), host("b", "192.168.1.11/24"), host("c", "192.168.1.12/24", { docker: false })]);
    expect(s.networks).toStrictEqual(implicit(["a", "b"]));
  });

  it("moves docker0 to the next free pool when the hosts' LAN overlaps 172.17.0.0/16, as Docker does", () => {
    const s = parseScenario("hosts:\n  h: {address: 172.17.5.5/16}\n", "s.yaml");
    expect(s.networks[0]).toMatchObject({ name: "bridge", subnet: "172.18.0.0/16", gateway: "172.18.0.1" });
    const t = parseScenario("hosts:\n  h: {address: 172.16.0.10/12}\n", "s.yaml");
    expect(t.networks[0]).toMatchObject({ subnet: "192.168.0.0/20", gateway: "192.168.0.1" });
  });

  it("fills in a user network's gateway from its subnet and leaves IPAM the rest", () => {
    const s = parseScenario("networks:\n  a: {subnet: 10.1.0.0/24}\n  b:\n", "s.yaml");
    expect(s.networks.slice(3)).toStrictEqual([
      { name: "a", driver: "bridge", hosts: ["host"], subnet: "10.1.0.0/24", gateway: "10.1.0.1", icc: true, ipMasq: true, internal: false },
      { name: "b", driver: "bridge", hosts: ["host"], icc: true, ipMasq: true, internal: false },
    ]);
  });

  it("reads Docker's option strings and the short option keys", () => {
    const s = parseScenario([
      "networks:",
      "  a: {internal: true, options: {icc: false, ip_masq: \"0\", mtu: 9000}}",
      "  b: {options: {com.docker.network.bridge.enable_icc: \"True\", com.docker.network.driver.mtu: 68}}",
    ].join("\n"), "s.yaml");
    expect(s.networks[3]).toMatchObject({ icc: false, ipMasq: false, internal: true, mtu: 9000 });
    expect(s.networks[4]).toMatchObject({ icc: true, ipMasq: true, mtu: 68 });
  });

  it("reads durations, rates and percentages in every form", () => {
    const s = parseScenario([
      "containers: {c1: {}}",
      "links:",
      "  - {at: c1, delay: 1.5s, jitter: 250us, loss: 0.5%, duplicate: 0, rate: 1.5kbit}",
      "  - {at: c1/eth0, direction: ingress, delay: 2m, loss: 1, rate: 1Gbit}",
      "traffic:",
      "  - {type: ping, from: c1, to: 172.17.0.1, interval: 100ns, start: 0}",
      "  - {type: udp, from: c1, to: host, port: 53, rate: 0.5, start: 20µs}",
    ].join("\n"), "s.yaml");
    expect(s.links).toStrictEqual([
      { at: "c1/eth0", direction: "egress", delayNs: 1.5e9, jitterNs: 250e3, loss: 0.005, duplicate: 0, rateBps: 1500 },
      { at: "c1/eth0", direction: "ingress", delayNs: 120e9, loss: 1, rateBps: 1e9 },
    ]);
    expect(s.traffic).toStrictEqual([
      { type: "ping", from: "c1", to: "172.17.0.1", count: 3, intervalNs: 100, size: 56, startNs: 0 },
      { type: "udp", from: "c1", to: "host", port: 53, flows: 1, packets: 10, ratePps: 0.5, size: 82, startNs: 20e3 },
    ]);
  });

  it("defaults a replay's mode and timing, and a tcp flow's size", () => {
    const s = parseScenario("containers: {c1: {}}\ntraffic:\n  - {type: replay, file: trace.pcapng, into: host/eth0}\n  - {type: tcp, from: host, to: c1, port: 80}\n", join(fixtures, "x.yaml"));
    expect(s.traffic).toStrictEqual([
      { type: "replay", file: join(fixtures, "trace.pcapng"), into: "host/eth0", mode: "received", timing: "file", startNs: 0 },
      { type: "tcp", from: "host", to: "c1", port: 80, bytes: 1000, connections: 1, startNs: 0 },
    ]);
  });

  it("accepts the mapping form of networks and publishing on a bridge gateway", () => {
    const s = parseScenario([
      "networks: {n: {subnet: 10.9.0.0/24}}",
      "containers:",
      "  c1:",
      "    networks: {n: {ipv4_address: 10.9.0.7}, bridge: }",
      "    ports: [\"10.9.0.1:80:80\", \"0.0.0.0:81:81\", {target: 82, published: 82}]",
    ].join("\n"), "s.yaml");
    expect(s.containers[0]).toStrictEqual({
      name: "c1", host: "host", mode: "bridge",
      networks: [{ network: "n", ip: "10.9.0.7" }, { network: "bridge" }],
      ports: [
        { hostIp: "10.9.0.1", hostPort: 80, containerPort: 80, proto: "tcp" },
        { hostPort: 81, containerPort: 81, proto: "tcp" },
        { hostPort: 82, containerPort: 82, proto: "tcp" },
      ],
    });
  });

  it("allows the same host port for different protocols and different host addresses", () => {
    const s = parseScenario('containers:\n  c1: {ports: ["53:53/udp", "127.0.0.1:53:53"]}\n  c2: {ports: ["127.0.0.2:53:53", "5353:53/udp"]}\n', "s.yaml");
    expect(s.containers.map((c) => c.ports.length)).toEqual([2, 2]);
  });

  it("reads a capture of \"all\", an empty list, and expectations with icmp", () => {
    expect(parseScenario("capture: all\n", "s.yaml").capture).toBe("all");
    expect(parseScenario("capture: []\n", "s.yaml").capture).toStrictEqual([]);
    expect(parseScenario("capture: [host/eth0, host/docker0]\nexpect: [{from: host, to: 8.8.8.8, proto: icmp}]\n", "s.yaml")).toMatchObject({
      capture: ["host/eth0", "host/docker0"],
      expect: [{ from: "host", to: "8.8.8.8", proto: "icmp", reachable: true }],
    });
  });

  it("reads every example scenario of the repository", () => {
    const dir = join(root, "examples");
    for (const f of readdirSync(dir).filter((n) => n.endsWith(".yaml"))) {
      expect(() => loadScenario(join(dir, f)), f).not.toThrow();
    }
  });
});

describe("loadScenario", () => {
  it("reports an unreadable file at line 0", () => {
    const file = join(fixtures, "no-such-file.yaml");
    expect(() => loadScenario(file)).toThrow(new ScenarioError(file, 0, 0, "(file)", `cannot read the file: ENOENT: no such file or directory, open '${file}'`));
    expect(() => loadScenario(file)).toThrow(`${file}: cannot read the file: ENOENT: no such file or directory, open '${file}'`);
  });
});

describe("parseScenarioAll", () => {
  it("collects the errors of every entry, in file order, names not defined last", () => {
    const text = [
      "traffic:",
      "  - {type: ping, from: nobody, to: c1}",
      "containers:",
      "  c1: {prots: [\"80:80\"]}",
      "  c2: {ports: [\"70000:80\"]}",
      "  c3: {mac_address: 01:00:5e:00:00:01}",
    ].join("\n");
    const { scenario, errors } = parseScenarioAll(text, "s.yaml");
    expect(scenario).toBeUndefined();
    expect(errors.map((e) => e.message)).toEqual([
      's.yaml:4:8: containers.c1.prots: unknown key "prots" (did you mean "ports"? allowed: name, host, networks, network_mode, ports, mac_address, ip)',
      's.yaml:5:16: containers.c2.ports[0]: port 70000 in "70000:80" is out of range (allowed: 1..65535)',
      's.yaml:6:21: containers.c3.mac_address: 01:00:5e:00:00:01 is a multicast address (the lowest bit of its first byte is set); a container needs a unicast MAC such as 02:42:ac:11:00:09',
      's.yaml:2:24: traffic[0].from: "nobody" is not a container or host (containers: c1, c2, c3; hosts: host)',
    ]);
    expect(() => parseScenario(text, "s.yaml")).toThrow(errors[0]!.message);
  });

  it("does not report a missing key that an unknown key is a misspelling of", () => {
    const { errors } = parseScenarioAll("traffic:\n  - {type: ping, form: host, to: host}\n", "s.yaml");
    expect(errors.map((e) => e.message)).toEqual([
      's.yaml:2:18: traffic[0].form: unknown key "form" (did you mean "from"? allowed: type, from, to, count, interval, size, start)',
    ]);
  });

  it("gives the error fields as separate properties", () => {
    const { errors } = parseScenarioAll("seed: -1\n", "dir/s.yaml");
    expect({ ...errors[0] }).toMatchObject({ file: "dir/s.yaml", line: 1, col: 7, field: "seed", reason: "-1 is out of range (allowed: ≥ 0)" });
  });
});

// ---- robustness ------------------------------------------------------------------------------

const examples = [join(fixtures, "full.yaml"), join(fixtures, "minimal.yaml")].map((f) => readFileSync(f, "utf8"));
const fragments = [" ", "\n", ":", "- ", "[", "]", "{", "}", ",", "'", '"', "#", "0", "65536", "host1", "bridge", "web", "/", "  ", "container:", "none", "10ms", "-1", "true", "eth1", "all", "ip: 172.20.0.5"];

/** A fixture with a few random edits: deletions, insertions of YAML-ish fragments, duplications. */
const mutated = fc.tuple(fc.constantFrom(...examples), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 2 }), fc.constantFrom(...fragments), fc.nat({ max: 6 })), { minLength: 1, maxLength: 4 }))
  .map(([text, edits]) => edits.reduce((s, [at, op, frag, len]) => {
    const p = at % (s.length + 1);
    if (op === 0) return s.slice(0, p) + s.slice(p + 1 + len);
    if (op === 1) return s.slice(0, p) + frag + s.slice(p);
    return s.slice(0, p) + s.slice(p, p + len * 4) + s.slice(p);
  }, text));

describe("robustness", () => {
  test.prop([fc.oneof(mutated, fc.string({ maxLength: 200 }))], { numRuns: 1500 })("any text gives a Scenario or a ScenarioError", (text) => {
    const file = join(fixtures, "fuzz.yaml");
    try {
      parseScenario(text, file);
    } catch (e) {
      expect(e).toBeInstanceOf(ScenarioError);
    }
    const all = parseScenarioAll(text, file);
    expect(all.errors.every((e) => e instanceof ScenarioError)).toBe(true);
  });
});

// ---- the JSON Schema -------------------------------------------------------------------------

type Schema = {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  propertyNames?: Schema;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
  not?: Schema;
  description?: string;
  $defs?: Record<string, Schema>;
};

const schema = JSON.parse(readFileSync(join(root, "schema/scenario.schema.json"), "utf8")) as Schema & Record<string, unknown>;

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

/** The problems of `v` against `s`: a walker for the keywords the schema uses, no more. */
function check(s: Schema, v: unknown, at: string): string[] {
  if (s.$ref !== undefined) return check(schema.$defs![s.$ref.replace("#/$defs/", "")]!, v, at);
  const problems: string[] = [];
  const t = typeOf(v);
  const types = s.type === undefined ? undefined : ([] as string[]).concat(s.type);
  if (types !== undefined && !types.includes(t) && !(t === "integer" && types.includes("number"))) return [`${at}: ${t} is not ${types.join("|")}`];
  if (s.enum !== undefined && !s.enum.includes(v)) problems.push(`${at}: ${String(v)} not in enum`);
  if (s.const !== undefined && s.const !== v) problems.push(`${at}: not ${String(s.const)}`);
  if (s.pattern !== undefined && typeof v === "string" && !new RegExp(s.pattern, "u").test(v)) problems.push(`${at}: "${v}" does not match ${s.pattern}`);
  if (s.minimum !== undefined && typeof v === "number" && v < s.minimum) problems.push(`${at}: below minimum`);
  if (s.maximum !== undefined && typeof v === "number" && v > s.maximum) problems.push(`${at}: above maximum`);
  if (s.exclusiveMinimum !== undefined && typeof v === "number" && v <= s.exclusiveMinimum) problems.push(`${at}: not above exclusiveMinimum`);
  if (s.minItems !== undefined && Array.isArray(v) && v.length < s.minItems) problems.push(`${at}: too few items`);
  if (s.items !== undefined && Array.isArray(v)) v.forEach((x, i) => problems.push(...check(s.items!, x, `${at}[${i}]`)));
  if (t === "object") problems.push(...checkObject(s, v as Record<string, unknown>, at));
  for (const [kw, subs] of [["oneOf", s.oneOf], ["anyOf", s.anyOf], ["allOf", s.allOf]] as const) {
    if (subs === undefined) continue;
    const matches = subs.filter((sub) => check(sub, v, at).length === 0).length;
    const ok = kw === "oneOf" ? matches === 1 : kw === "anyOf" ? matches > 0 : matches === subs.length;
    if (!ok) problems.push(`${at}: ${matches} of ${subs.length} ${kw} match`);
  }
  if (s.not !== undefined && check(s.not, v, at).length === 0) problems.push(`${at}: matches "not"`);
  return problems;
}

function checkObject(s: Schema, o: Record<string, unknown>, at: string): string[] {
  const problems: string[] = [];
  for (const k of s.required ?? []) if (!(k in o)) problems.push(`${at}: missing ${k}`);
  for (const [k, x] of Object.entries(o)) {
    if (s.propertyNames !== undefined) problems.push(...check(s.propertyNames, k, `${at}.${k} (name)`));
    const sub = s.properties?.[k];
    if (sub !== undefined) problems.push(...check(sub, x, `${at}.${k}`));
    else if (s.additionalProperties === false) problems.push(`${at}: unexpected ${k}`);
    else if (typeof s.additionalProperties === "object") problems.push(...check(s.additionalProperties, x, `${at}.${k}`));
  }
  return problems;
}

/** Every scenario written down in this repository: fixtures, examples, and the docs' yaml blocks. */
function scenarioTexts(): [string, string][] {
  const files = [
    ...readdirSync(fixtures).filter((f) => f.endsWith(".yaml")).map((f) => join(fixtures, f)),
    ...readdirSync(join(root, "examples")).filter((f) => f.endsWith(".yaml")).map((f) => join(root, "examples", f)),
  ];
  const docs = readFileSync(join(root, "docs/scenario.md"), "utf8");
  const blocks = [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m, i): [string, string] => [`docs/scenario.md block ${i + 1}`, m[1]!]);
  return [...files.map((f): [string, string] => [f, readFileSync(f, "utf8")]), ...blocks];
}

describe("schema/scenario.schema.json", () => {
  it("is a draft 2020-12 schema with a description on every property", () => {
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    const missing: string[] = [];
    const walk = (s: unknown, at: string): void => {
      if (typeof s !== "object" || s === null) return;
      const props = (s as Schema).properties ?? {};
      for (const [k, p] of Object.entries(props)) if (p.description === undefined && p.$ref === undefined) missing.push(`${at}.${k}`);
      for (const [k, x] of Object.entries(s)) walk(x, `${at}/${k}`);
    };
    walk(schema, "#");
    expect(missing).toEqual([]);
  });

  it("names exactly the keys the parser accepts, for every kind of mapping", () => {
    const objects: Record<string, Schema> = { scenario: schema, ...schema.$defs };
    for (const [kind, keys] of Object.entries(ALLOWED_KEYS)) {
      expect(Object.keys(objects[kind]?.properties ?? {}).sort(), kind).toEqual([...keys].sort());
    }
    const withProperties = Object.entries(objects).filter(([, s]) => s.properties !== undefined).map(([k]) => k);
    expect(withProperties.sort()).toEqual(Object.keys(ALLOWED_KEYS).sort());
  });

  it("accepts every scenario in the repository, and the parser does too", () => {
    const texts = scenarioTexts();
    expect(texts.length).toBeGreaterThan(8);
    for (const [name, text] of texts) {
      expect(check(schema, toPlain(parseYaml(text)!), "#"), name).toEqual([]);
      expect(() => parseScenario(text, join(fixtures, "doc.yaml")), name).not.toThrow();
    }
  });

  it("documents the errors the parser gives", () => {
    const docs = readFileSync(join(root, "docs/scenario.md"), "utf8");
    const m = /```text\n([\s\S]*?)```\n\nthe errors are:\n\n```\n([\s\S]*?)```/.exec(docs);
    expect(m).not.toBeNull();
    expect(parseScenarioAll(m![1]!, "s.yaml").errors.map((e) => e.message)).toEqual(m![2]!.trimEnd().split("\n"));
  });

  it("rejects what the parser rejects, for a sample of mistakes", () => {
    const bad = [
      "seed: -1", "profile: fast", "hosts: {h: {adress: 10.0.0.1/24}}", "networks: {n: {driver: overlay}}",
      "containers: {c1: {ports: [\"80\"]}}", "containers: {c1: {network_mode: bogus}}", "links: [{at: c1, delay: 10}]",
      "traffic: [{type: ping, from: a, to: b, port: 1}]", "traffic: [{type: http, from: a, to: b}]", "capture: some",
      "expect: [{from: a, to: b, proto: sctp}]", "containers: {c1: {mac_address: nope}}",
    ];
    for (const text of bad) expect(check(schema, toPlain(parseYaml(text)!), "#"), text).not.toEqual([]);
  });
});
