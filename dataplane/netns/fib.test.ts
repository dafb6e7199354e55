// Routing table: the same `ip addr`/`ip route` commands replayed against a capture from a real
// kernel (iproute2 6.1, Linux 6.18, a scratch namespace), then lookup, metric, delete and replace
// semantics, the small-table/trie switch and node reclamation (against the linear reference).
import { describe, expect, test } from "vitest";
import { parseIpv4 as ip } from "../../core/addr.js";
import {
  FIB_EEXIST, FIB_EINVAL, FIB_ESRCH, Fib, RTN_BLACKHOLE, RTN_LOCAL, RTN_PROHIBIT, RTN_UNICAST, RTN_UNREACHABLE,
  RT_SCOPE_LINK, SMALL, BIG,
} from "./fib.js";
import { RefFib } from "./fib-reference.js";
import { addressRoutes, fibErrorText, parseRoute, showRoutes } from "./route-format.js";

// Interfaces as the kernel numbered them in the capture.
const DEVS = ["", "lo", "cali1234", "eth0"];
const devIndex = (n: string) => DEVS.indexOf(n);
const devName = (i: number) => DEVS[i]!;

// Commands run after: lo up, eth0/cali1234 veth pair up, `ip addr add` 172.17.0.2/16 dev eth0,
// 10.65.0.9/32, 192.168.7.1/31 and 192.168.8.1/30 dev cali1234. Right: what `ip` answered.
const COMMANDS: [string, string][] = [
  ["add default via 172.17.0.1 dev eth0", ""],
  ["add default via 172.17.0.1 dev eth0 metric 10", ""],
  ["add blackhole 10.0.0.0/8", ""],
  ["add unreachable 10.1.0.0/16", ""],
  ["add prohibit 10.2.0.0/16", ""],
  ["add 10.65.0.2 dev cali1234 scope link", ""],
  ["add 169.254.1.1 dev eth0 scope link", ""],
  ["add 10.0.0.0/16 dev eth0 metric 1", ""],
  ["add 10.0.0.0/24 via 172.17.0.3 dev eth0 proto static metric 3", ""],
  ["add 10.20.0.0/16 via 192.168.5.5 dev eth0 onlink metric 7", ""],
  ["add 10.30.0.0/16 dev eth0 scope global src 172.17.0.2", ""],
  ["add 10.31.0.0/16 dev eth0 scope site proto bird", ""],
  ["add local 10.8.0.0/16 dev eth0", ""],
  ["add broadcast 10.9.0.255 dev eth0", ""],
  ["add 10.10.0.0/24 dev eth0 scope host", ""],
  ["add throw 10.34.0.0/16", ""],
  ["replace 10.3.0.0/16 via 172.17.0.8 dev eth0 metric 50", ""],
  ["replace 10.3.0.0/16 dev eth0 metric 50 proto static", ""],
  ["add 10.3.0.0/16 via 172.17.0.5 dev eth0 metric 100", ""],
  ["add 10.3.0.0/16 via 172.17.0.6 dev eth0 metric 100", "RTNETLINK answers: File exists"],
  ["add 10.0.0.0/16 dev cali1234 metric 1", "RTNETLINK answers: File exists"],
  ["del 10.0.0.0/8", ""],
  ["del 10.0.0.0/8", "RTNETLINK answers: No such process"],
  ["add blackhole 10.0.0.0/8 metric 5", ""],
  ["add 10.0.0.1/8 dev eth0", "Error: Invalid prefix for given prefix length."],
  ["del 10.99.0.0/16", "RTNETLINK answers: No such process"],
  ["del 10.3.0.0/16 via 172.17.0.5", ""],
  ["del 10.3.0.0/16 metric 100", "RTNETLINK answers: No such process"],
  ["add 10.40.0.0/16 via 172.17.0.9 dev eth0 proto dhcp metric 600", ""],
  ["add unreachable default metric 4000", ""],
];

// `ip route show` and `ip route show table local` afterwards (trailing spaces trimmed).
const MAIN = `default via 172.17.0.1 dev eth0
default via 172.17.0.1 dev eth0 metric 10
unreachable default metric 4000
10.0.0.0/24 via 172.17.0.3 dev eth0 proto static metric 3
10.0.0.0/16 dev eth0 scope link metric 1
blackhole 10.0.0.0/8 metric 5
unreachable 10.1.0.0/16
prohibit 10.2.0.0/16
10.3.0.0/16 dev eth0 proto static scope link metric 50
10.10.0.0/24 dev eth0 scope host
10.20.0.0/16 via 192.168.5.5 dev eth0 metric 7 onlink
10.30.0.0/16 dev eth0 src 172.17.0.2
10.31.0.0/16 dev eth0 proto bird scope site
throw 10.34.0.0/16
10.40.0.0/16 via 172.17.0.9 dev eth0 proto dhcp metric 600
10.65.0.2 dev cali1234 scope link
169.254.1.1 dev eth0 scope link
172.17.0.0/16 dev eth0 proto kernel scope link src 172.17.0.2
192.168.7.0/31 dev cali1234 proto kernel scope link src 192.168.7.1
192.168.8.0/30 dev cali1234 proto kernel scope link src 192.168.8.1`;
const LOCAL = `local 10.8.0.0/16 dev eth0 scope host
broadcast 10.9.0.255 dev eth0 scope link
local 10.65.0.9 dev cali1234 proto kernel scope host src 10.65.0.9
local 127.0.0.0/8 dev lo proto kernel scope host src 127.0.0.1
local 127.0.0.1 dev lo proto kernel scope host src 127.0.0.1
broadcast 127.255.255.255 dev lo proto kernel scope link src 127.0.0.1
local 172.17.0.2 dev eth0 proto kernel scope host src 172.17.0.2
broadcast 172.17.255.255 dev eth0 proto kernel scope link src 172.17.0.2
local 192.168.7.1 dev cali1234 proto kernel scope host src 192.168.7.1
local 192.168.8.1 dev cali1234 proto kernel scope host src 192.168.8.1
broadcast 192.168.8.3 dev cali1234 proto kernel scope link src 192.168.8.1`;

function replay(): { main: Fib; local: Fib; answers: string[] } {
  const main = new Fib(), local = new Fib();
  const addrs: [number, string, number, boolean][] = [[1, "127.0.0.1", 8, true], [3, "172.17.0.2", 16, false], [2, "10.65.0.9", 32, false], [2, "192.168.7.1", 31, false], [2, "192.168.8.1", 30, false]];
  for (const [oif, a, len, lo] of addrs) {
    const r = addressRoutes(oif, ip(a), len, lo);
    for (const s of r.local) expect(local.add(s)).toBeGreaterThanOrEqual(0);
    for (const s of r.main) expect(main.add(s)).toBeGreaterThanOrEqual(0);
  }
  const answers = COMMANDS.map(([cmd]) => {
    const verb = cmd.slice(0, cmd.indexOf(" "));
    const { table, spec } = parseRoute(cmd.slice(verb.length + 1), devIndex);
    const fib = table === "local" ? local : main;
    const { network, len, ...match } = spec;
    const rc = verb === "add" ? fib.add(spec) : verb === "replace" ? fib.replace(spec) : fib.delete(network, len, match);
    return rc < 0 ? fibErrorText(rc) : "";
  });
  return { main, local, answers };
}

describe("against a real kernel", () => {
  const { main, local, answers } = replay();
  test("each command answers as ip did", () => expect(answers).toEqual(COMMANDS.map((c) => c[1])));
  test("ip route show", () => expect(showRoutes(main, devName).join("\n")).toBe(MAIN));
  test("ip route show table local", () => expect(showRoutes(local, devName).join("\n")).toBe(LOCAL));
  test("lookups: longest prefix, then lowest metric; error types reach the stack", () => {
    const at = (fib: Fib, a: string) => fib.lookup(ip(a));
    expect(main.gateway(at(main, "8.8.8.8"))).toBe(ip("172.17.0.1"));
    expect(main.metric(at(main, "8.8.8.8"))).toBe(0);
    expect(main.gateway(at(main, "10.0.0.9"))).toBe(ip("172.17.0.3"));
    expect(main.metric(at(main, "10.0.1.9"))).toBe(1);
    expect(main.type(at(main, "10.200.0.1"))).toBe(RTN_BLACKHOLE);
    expect(main.type(at(main, "10.1.2.3"))).toBe(RTN_UNREACHABLE);
    expect(main.type(at(main, "10.2.2.3"))).toBe(RTN_PROHIBIT);
    expect(main.oif(at(main, "10.65.0.2"))).toBe(2);
    expect(main.scope(at(main, "10.65.0.2"))).toBe(RT_SCOPE_LINK);
    expect(main.src(at(main, "172.17.9.9"))).toBe(ip("172.17.0.2"));
    expect(local.type(at(local, "172.17.0.2"))).toBe(RTN_LOCAL);
    expect(at(local, "172.17.0.3")).toBe(-1);
  });
});

describe("semantics", () => {
  test("no route is -1; a default catches everything (Calico's workload view)", () => {
    const f = new Fib();
    expect(f.lookup(ip("1.2.3.4"))).toBe(-1);
    const link = f.add({ network: ip("169.254.1.1"), len: 32, oif: 2, scope: RT_SCOPE_LINK });
    const def = f.add({ network: 0, len: 0, oif: 2, gateway: ip("169.254.1.1") });
    expect(f.lookup(ip("169.254.1.1"))).toBe(link);
    expect(f.lookup(ip("255.255.255.255"))).toBe(def);
    expect(f.lookup(0)).toBe(def);
    expect(f.type(def)).toBe(RTN_UNICAST);
    expect(showRoutes(f, devName)).toEqual(["default via 169.254.1.1 dev cali1234", "169.254.1.1 dev cali1234 scope link"]);
  });

  test("an address given as int32 or uint32 finds the same route", () => {
    for (const n of [4, 40]) {
      const f = new Fib();
      for (let i = 0; i < n; i++) f.add({ network: ((0xc0 + i) << 24) >>> 0, len: 8, oif: i + 1 });
      expect(f.lookup(0xc1020304)).toBe(f.lookup(0xc1020304 | 0));
      expect(f.oif(f.lookup(0xc1020304 | 0))).toBe(2);
    }
  });

  test("add refuses an equal prefix and metric whatever the type; replace keeps the index", () => {
    const f = new Fib();
    const a = f.add({ network: ip("10.0.0.0"), len: 8, type: RTN_BLACKHOLE });
    expect(f.add({ network: ip("10.0.0.0"), len: 8, oif: 3 })).toBe(FIB_EEXIST);
    expect(f.replace({ network: ip("10.0.0.0"), len: 8, oif: 3 })).toBe(a);
    expect(f.type(a)).toBe(RTN_UNICAST);
    expect(f.oif(a)).toBe(3);
    expect(f.replace({ network: ip("10.0.0.0"), len: 8, oif: 4, metric: 9 })).not.toBe(a);
    expect(f.size).toBe(2);
  });

  test("delete: the lowest metric that passes the filters; errors as ip prints them", () => {
    const f = new Fib();
    const m5 = f.add({ network: ip("10.3.0.0"), len: 16, oif: 1, metric: 5 });
    const m1 = f.add({ network: ip("10.3.0.0"), len: 16, oif: 2, metric: 1 });
    expect(f.lookup(ip("10.3.1.1"))).toBe(m1);
    expect(f.delete(ip("10.3.0.0"), 16, { oif: 1 })).toBe(m5);
    expect(f.delete(ip("10.3.0.0"), 16, { type: RTN_BLACKHOLE })).toBe(FIB_ESRCH);
    expect(f.delete(ip("10.3.0.1"), 16)).toBe(FIB_EINVAL);
    expect(f.delete(ip("10.3.0.0"), 16)).toBe(m1);
    expect(f.lookup(ip("10.3.1.1"))).toBe(-1);
    expect(f.add({ network: 0, len: 33 })).toBe(FIB_EINVAL);
    expect(f.add({ network: 0, len: 0, metric: -1 })).toBe(FIB_EINVAL);
  });

  test("deleteOif removes every route through an interface", () => {
    const f = new Fib();
    for (let i = 0; i < 30; i++) f.add({ network: ip("10.65.0.0") + i, len: 32, oif: 1 + (i % 3) });
    f.add({ network: 0, len: 0, oif: 2, gateway: ip("10.0.0.1") });
    expect(f.deleteOif(2)).toBe(11);
    expect(f.size).toBe(20);
    expect(f.lookup(ip("10.65.0.1"))).toBe(-1);
    expect(f.oif(f.lookup(ip("10.65.0.3")))).toBe(1);
  });
});

describe("structure", () => {
  const key = (f: Fib, r: number) => (r < 0 ? "none" : `${f.network(r)}/${f.len(r)}@${f.metric(r)}`);

  test("crossing SMALL builds the trie, falling to SMALL/2 drops it; lookups equal the reference throughout", () => {
    const f = new Fib(), ref = new RefFib();
    const specs = Array.from({ length: 3 * SMALL }, (_, i) => ({ network: ip("10.0.0.0") + i * 0x1040, len: 18 + (i % 15), oif: 1 }));
    const probes = specs.flatMap((s) => [s.network, s.network + 1, s.network + 0x7ff, s.network - 1]);
    const check = () => {
      for (const p of probes) {
        const r = ref.lookup(p);
        expect(key(f, f.lookup(p))).toBe(r ? `${r.network}/${r.len}@${r.metric}` : "none");
      }
    };
    for (const s of specs) {
      s.network = (s.network & ~((1 << (32 - s.len)) - 1)) >>> 0;
      if (f.add(s) >= 0) ref.add(s);
      check();
    }
    expect(f.nodes).toBeGreaterThan(0);
    for (const s of specs) {
      f.delete(s.network, s.len);
      ref.delete(s.network, s.len);
      check();
    }
    expect(f.size).toBe(0);
    expect(f.nodes).toBe(0);
  });

  // A prefix in the nodes whose cover lives in the top table: deleting both, in that order, must
  // leave no trace of either (with 16 and with 20 top bits).
  test.each([[SMALL + 1, 16], [BIG + 1, 20]])("delete a nested pair, inner first (%i prefixes, %i-bit top)", (n, tb) => {
    const f = new Fib();
    for (let i = 0; f.size < n - 2; i++) f.add({ network: ((0x80000000 + i * 256) & 0xffffff00) >>> 0, len: 24, oif: 1 });
    const outer = { network: ip("10.64.0.0"), len: tb - 2, oif: 2 }, inner = { network: ip("10.64.5.0"), len: 24, oif: 3 };
    f.add(outer);
    f.add(inner);
    expect(f.oif(f.lookup(ip("10.64.5.7")))).toBe(3);
    f.delete(inner.network, inner.len);
    expect(f.oif(f.lookup(ip("10.64.5.7")))).toBe(2);
    f.delete(outer.network, outer.len);
    expect(f.lookup(ip("10.64.5.7"))).toBe(-1);
    expect(f.memoryBytes() > 8 << 20).toBe(tb === 20);
  });

  test("deleting the prefixes that made nodes frees them", () => {
    const f = new Fib();
    for (let i = 0; i < SMALL + 2; i++) f.add({ network: (ip("20.0.0.0") + (i << 16)) >>> 0, len: 16, oif: 1 });
    expect(f.nodes).toBe(0);
    f.add({ network: ip("20.1.2.3"), len: 32, oif: 2 });
    f.add({ network: ip("20.1.2.0"), len: 24, oif: 3 });
    expect(f.nodes).toBe(4); // /16-20, /20-24, /24-28, /28-32
    f.delete(ip("20.1.2.3"), 32);
    expect(f.nodes).toBe(2);
    expect(f.oif(f.lookup(ip("20.1.2.3")))).toBe(3);
    f.delete(ip("20.1.2.0"), 24);
    expect(f.nodes).toBe(0);
    expect(f.oif(f.lookup(ip("20.1.2.3")))).toBe(1);
  });
});
