// The scenario commands on the bundled examples, in this thread (worker runs of the same
// commands are in interop/cli.test.ts, which builds the worker code first).
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cmdInspect, cmdRun, cmdTrace, cmdValidate, UsageError } from "./scenario.js";
import { ScenarioError } from "../control/scenario/parse.js";
import { loadScenario } from "../control/scenario/parse.js";
import { describeState } from "../control/plan-from-scenario.js";
import { openCaptureFile, newCaptureRecord } from "../core/pcap/index.js";
import { dissectFrame } from "../core/wire/frame.js";
import { WireError } from "../core/wire/error.js";
import { blocks, fixtureText, sections } from "../dataplane/netfilter/fixtures/listings.js";

const EXAMPLES = new URL("../examples/", import.meta.url);
const example = (name: string) => new URL(name, EXAMPLES).pathname;
const examples = readdirSync(EXAMPLES).filter((f) => f.endsWith(".yaml")).sort();
const dir = mkdtempSync(join(tmpdir(), "wireyard-scenario-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture(): { lines: string[]; print: (l: string) => void } {
  const lines: string[] = [];
  return { lines, print: (l) => lines.push(l) };
}

/** BEHAVIOR.md 1.9's listing (the copy the netfilter tests check against BEHAVIOR.md). */
const behavior19 = () => sections(blocks(fixtureText("docker-behavior.txt")).get("1.9")!);

describe("wireyard run on every example", () => {
  it("has the five examples the README lists", () => {
    expect(examples).toEqual(["container-sharing.yaml", "docker0-ping.yaml", "icc-false.yaml", "isolated-bridges.yaml", "published-port.yaml"]);
  });

  for (const f of examples) {
    it(`${f}: every expectation holds, packets are conserved, the capture is valid`, async () => {
      const o = capture();
      const e = capture();
      const pcap = join(dir, f.replace(".yaml", ""));
      const code = await cmdRun(example(f), { workers: 1, json: true, pcapDir: pcap }, o.print, e.print);
      const r = JSON.parse(o.lines.join("\n"));
      expect(r.expect.filter((x: { passed: boolean }) => !x.passed)).toEqual([]);
      expect(code).toBe(0);
      expect(r.conservation.ok).toBe(true);
      expect(r.captures.length).toBe(1);
      const rd = openCaptureFile(r.captures[0].file);
      const rec = newCaptureRecord();
      let n = 0;
      while (rd.next(rec)) {
        expect(dissectFrame(rec.data).error, `frame ${n + 1}`).toBe(WireError.OK);
        n++;
      }
      expect(n).toBe(r.captures[0].frames);
      expect(n).toBeGreaterThan(0);
    });
  }

  it("prints a readable summary: containers, traffic, drops, expectations, the capture", async () => {
    const o = capture();
    const code = await cmdRun(example("published-port.yaml"), { workers: 1, pcapDir: join(dir, "summary") }, o.print, () => {});
    expect(code).toBe(0);
    const text = o.lines.join("\n");
    expect(o.lines[0]).toMatch(/^wireyard run .*published-port\.yaml \(published-port\): seed 1, 1 worker, [\d.]+ s virtual in [\d.]+ s$/);
    expect(text).toMatch(/per container and host\n  name +sent pkts +sent bytes +recv pkts +recv bytes +lost/);
    expect(text).toMatch(/\n  web +[\d,]+/);
    expect(text).toMatch(/expectations: 3 passed, 0 failed/);
    // ARP requests for other addresses are listed apart from the drops
    expect(text).toMatch(/drops by device and reason\n  device +reason +packets\n  host1\/tcp +no-socket +\d+\n  \(not for them, ignored as Linux does: underlay arp-not-for-us \d+\)/);
    expect(text).toMatch(/PASS +client -> host1 tcp\/8080 reachable/);
    expect(text).toMatch(/capture: .*published-port\.pcapng \([\d,]+ frames; 4 interfaces: client\/eth0, host1\/eth0, host1\/docker0, web\/eth0\)/);
  });

  it("exits 1 and says FAIL when an expectation does not hold", async () => {
    const f = join(dir, "wrong.yaml");
    writeFileSync(f, readFileSync(example("isolated-bridges.yaml"), "utf8").replace("{from: f1, to: b1, proto: icmp, reachable: false}", "{from: f1, to: b1, proto: icmp, reachable: true}"));
    const o = capture();
    expect(await cmdRun(f, { workers: 1 }, o.print, () => {})).toBe(1);
    expect(o.lines.join("\n")).toMatch(/expectations: 2 passed, 1 failed/);
    expect(o.lines.join("\n")).toMatch(/FAIL +f1 -> b1 icmp reachable/);
  });

  it("gives the same result for the same seed, and --seed changes what is random", async () => {
    const runOnce = async (seed?: number) => {
      const o = capture();
      await cmdRun(example("published-port.yaml"), { workers: 1, json: true, ...(seed === undefined ? {} : { seed }) }, o.print, () => {});
      const r = JSON.parse(o.lines.join("\n"));
      delete r.wallSeconds;
      return r;
    };
    const a = await runOnce();
    expect(await runOnce()).toEqual(a);
    expect(a.seed).toBe(1);
    expect((await runOnce(7)).seed).toBe(7);
  });
});

describe("wireyard inspect", () => {
  it("docker0: c1 has what Docker assigns (172.17.0.2, 02:42:ac:11:00:02, gateway 172.17.0.1)", () => {
    const s = loadScenario(example("docker0-ping.yaml"));
    const st = describeState(s);
    const c1 = st.containers.find((c) => c.name === "c1")!;
    expect(c1.interfaces.map((i) => [i.ifname, i.network, i.ip, i.mac])).toEqual([["eth0", "bridge", "172.17.0.2", "02:42:ac:11:00:02"]]);
    const bridge = st.hosts[0]!.networks.find((n) => n.name === "bridge")!;
    expect([bridge.bridge, bridge.subnet, bridge.gateway]).toEqual(["docker0", "172.17.0.0/16", "172.17.0.1"]);
    const o = capture();
    cmdInspect(example("docker0-ping.yaml"), "c1", "addr", undefined, o.print);
    expect(o.lines.join("\n")).toContain("inet 172.17.0.2/16 brd 172.17.255.255 scope global eth0");
    expect(o.lines.join("\n")).toContain("link/ether 02:42:ac:11:00:02 brd ff:ff:ff:ff:ff:ff");
    const r = capture();
    cmdInspect(example("docker0-ping.yaml"), "c1", "route", undefined, r.print);
    expect(r.lines.join("\n").split("\n")[0]).toBe("default via 172.17.0.1 dev eth0");
  });

  it("the host's iptables are BEHAVIOR.md 1.9's classic rule set for -p 8080:80, rule for rule", () => {
    const o = capture();
    cmdInspect(example("docker0-ping.yaml"), "host", "iptables", undefined, o.print);
    const got = new Map<string, string[]>();
    let cur: string[] | null = null;
    for (const line of o.lines.join("\n").split("\n")) {
      if (line.startsWith("*")) got.set(line.slice(1), (cur = []));
      else if (cur && line.startsWith("[")) cur.push(line.replace(/^\[\d+:\d+\] /, ""));
    }
    for (const [table, rules] of behavior19()) expect(got.get(table), table).toEqual(rules);
  });

  it("neigh, fdb and conntrack after the run; a name that is not there", () => {
    const n = capture();
    cmdInspect(example("docker0-ping.yaml"), "c1", "neigh", undefined, n.print);
    expect(n.lines).toContain("172.17.0.3 dev eth0 lladdr 02:42:ac:11:00:03 REACHABLE");
    const f = capture();
    cmdInspect(example("docker0-ping.yaml"), "host", "fdb", undefined, f.print);
    expect(f.lines.join("\n").split("\n").some((l) => /^02:42:ac:11:00:03 dev veth[0-9a-f]{7} master docker0 $/.test(l))).toBe(true);
    const c = capture();
    cmdInspect(example("published-port.yaml"), "host1", "conntrack", undefined, c.print);
    expect(c.lines.join("\n").split("\n").some((l) => /^tcp +6 \d+ TIME_WAIT src=192\.168\.1\.20 dst=192\.168\.1\.10 sport=\d+ dport=8080 src=172\.17\.0\.2 dst=192\.168\.1\.20 sport=80 dport=\d+ \[ASSURED\]/.test(l))).toBe(true);
    expect(() => cmdInspect(example("docker0-ping.yaml"), "c9", "addr", undefined, () => {})).toThrow(UsageError);
    expect(() => cmdInspect(example("docker0-ping.yaml"), "c9", "addr", undefined, () => {})).toThrow(/"c9" is not a host, container or namespace of this scenario \(hosts and containers: host, c1, c2\)/);
  });
});

describe("wireyard trace", () => {
  it("a TCP connection to a published port: the DNAT, the conntrack entry, the bridge's forwarding", () => {
    const o = capture();
    const code = cmdTrace(example("published-port.yaml"), { from: "client", to: "host1:8080", proto: "tcp" }, o.print);
    const text = o.lines.join("\n");
    expect(code).toBe(0);
    expect(text).toContain("result: connection established");
    expect(text).toMatch(/host1 +conntrack: NEW, entry new \(unconfirmed\): tcp +6 120 SYN_SENT src=192\.168\.1\.20 dst=192\.168\.1\.10 sport=47999 dport=8080 \[UNREPLIED\]/);
    expect(text).toContain("nat PREROUTING: DNAT (-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80), conntrack reply tuple 172.17.0.2:80 > 192.168.1.20:47999");
    expect(text).toMatch(/host1\/docker0 +.*forwarded to veth[0-9a-f]{7}/);
    expect(text).toMatch(/conntrack host1: tcp +6 \d+ ESTABLISHED src=192\.168\.1\.20 dst=192\.168\.1\.10 sport=47999 dport=8080 src=172\.17\.0\.2 dst=192\.168\.1\.20 sport=80 dport=47999/);
  });

  it("icc=false: the ping between containers stops at the bridge's FORWARD rule", () => {
    const o = capture();
    const code = cmdTrace(example("icc-false.yaml"), { from: "c1", to: "c2", proto: "icmp" }, o.print);
    expect(code).toBe(1);
    expect(o.lines.join("\n")).toMatch(/filter: DROP \(-A FORWARD -i docker0 -o docker0 -j DROP\)/);
    expect(o.lines.join("\n")).toContain("result: no answer within 3 s");
  });

  it("refuses a port for icmp and a missing port for tcp", () => {
    expect(() => cmdTrace(example("docker0-ping.yaml"), { from: "c1", to: "c2:80", proto: "icmp" }, () => {})).toThrow("trace: icmp has no port (--to c2)");
    expect(() => cmdTrace(example("docker0-ping.yaml"), { from: "c1", to: "c2", proto: "tcp" }, () => {})).toThrow("trace: --to c2 needs a port for tcp (--to c2:PORT)");
  });
});

describe("wireyard validate", () => {
  it("says what a scenario describes", () => {
    const o = capture();
    expect(cmdValidate(example("isolated-bridges.yaml"), o.print)).toBe(0);
    expect(o.lines[0]).toMatch(/isolated-bridges\.yaml: ok — 1 host, 2 user networks, 3 containers, 2 traffic items, 3 expectations; \d+ dataplane steps$/);
  });

  it("a scenario error names the file, line, field and reason", () => {
    const f = join(dir, "bad.yaml");
    writeFileSync(f, "containers:\n  c1: {networks: [nowhere]}\n");
    expect(() => cmdValidate(f, () => {})).toThrow(ScenarioError);
    expect(() => cmdValidate(f, () => {})).toThrow(new RegExp(`^${f.replace(/[.]/g, "\\.")}:2:19: containers\\.c1\\.networks\\[0\\]: `));
  });
});
