// Properties of netfilter on the packet path (dataplane/netfilter/hooks.ts, bridge netfilter in
// dataplane/devices/bridge.ts), on the Docker host of dataplane/topologies/docker-host.ts with
// random traffic:
//  1. reversibility: every reply a sender gets back through NAT (published ports, masquerade with
//     colliding source ports, hairpin) comes from exactly where it sent (the inverse of its own
//     tuple), and every NATed entry's reply tuple is other than its original's inverse only where
//     NAT applies;
//  2. no two live entries share a reply tuple (nor an original one), and the table's audit holds;
//  3. an entry disappears exactly when its timeout passes without traffic, and its NAT port is
//     then free for a new connection;
//  4. a packet a DROP rule matches is never delivered, and every such packet is counted;
//  5. conservation holds after every run;
//  6. iptables-save (with counters, after traffic) parsed and loaded again saves the same text.
import { fc, test } from "@fast-check/vitest";
import { expect } from "vitest";
import { dockerHost, dockerHostServers, C2_IP, C3_IP, CLIENT_IP, HOST_IP, type DockerHost } from "../dataplane/topologies/docker-host.js";
import { UdpSocket, udpEcho } from "../dataplane/endpoint/udp-socket.js";
import { formatIpv4 } from "../core/addr.js";
import { dockerRules } from "../dataplane/netfilter/docker-rules.js";
import { formatIptablesSave, parseIptablesSave } from "../dataplane/netfilter/iptables-save.js";
import { Topology } from "../dataplane/topology.js";
import { ping } from "../dataplane/endpoint/ping.js";
import { IPS_CONFIRMED, IPS_DST_NAT, IPS_SRC_NAT } from "../dataplane/netfilter/conntrack-bits.js";

const S = 1e9;
const ip = (a: number) => formatIpv4(a >>> 0);

/** Where a flow goes: the client's echo (masqueraded), the published UDP port (DNAT), the
 *  published port from a container (hairpin, userland-proxy=false), c2's echo from c3 (bridged). */
const TARGETS = [
  { dst: CLIENT_IP, dport: 7 },
  { dst: HOST_IP, dport: 5353 },
  { dst: 0xac110001, dport: 5353 },
  { dst: C2_IP, dport: 53 },
] as const;

const flowArb = fc.record({
  from: fc.constantFrom("cl", "c2", "c3"),
  sport: fc.constantFrom(1000, 40000, 40001, 600),
  target: fc.nat({ max: TARGETS.length - 1 }),
  dt: fc.constantFrom(0, 0.1 * S, 1 * S, 31 * S),
});

function nsOf(d: DockerHost, who: string) {
  return who === "cl" ? d.client : d.containers[who === "c2" ? 0 : 1]!;
}

/** The entries of the host's table as tuples: [original, reply], confirmed ones only. */
function entries(d: DockerHost): { o: string; r: string; nat: number }[] {
  const ct = d.host.netfilter!.ct!;
  const out: { o: string; r: string; nat: number }[] = [];
  for (let e = 0; e < ct.cap; e++) {
    if ((ct.statusOf(e) & IPS_CONFIRMED) === 0 || ct.statusOf(e) & (1 << 9)) continue;
    const t = (n: number) => `${ct.protoOf(e)} ${ip(ct.tSrc(n))}:${ct.tSport(n)} > ${ip(ct.tDst(n))}:${ct.tDport(n)}`;
    out.push({ o: t(2 * e), r: t(2 * e + 1), nat: ct.statusOf(e) & (IPS_SRC_NAT | IPS_DST_NAT) });
  }
  return out;
}

test.prop([fc.array(flowArb, { minLength: 1, maxLength: 25 }), fc.boolean()], { numRuns: 60 })(
  "replies come back from where each sender sent; reply tuples unique; NAT only where translated; conservation",
  (flows, proxy) => {
    const d = dockerHost({ userlandProxy: proxy });
    dockerHostServers(d);
    const socks = new Map<string, UdpSocket>();
    const problems: string[] = [];
    const sent: string[] = [];
    for (const f of flows) {
      const t = TARGETS[f.target]!;
      if (f.from === "cl" && t.dst !== HOST_IP) continue; // the client reaches only the published port
      const key = `${f.from}:${f.sport}`;
      let sk = socks.get(key);
      if (!sk) {
        const from = f.from;
        sk = new UdpSocket(nsOf(d, from), {
          onReceive: (s, _slot, src, sport) => {
            // a reply must come from an address and port this socket sent to
            if (!sent.includes(`${from}:${s.port} > ${ip(src)}:${sport}`)) problems.push(`${from}:${s.port} got a datagram from ${ip(src)}:${sport}`);
          },
        });
        sk.bind(f.sport);
        socks.set(key, sk);
      }
      sent.push(`${f.from}:${f.sport} > ${ip(t.dst)}:${t.dport}`);
      sk.sendTo(t.dst, t.dport, 10);
      d.engine.run(d.engine.clock.now + f.dt);
    }
    d.engine.run(d.engine.clock.now + 1 * S);
    expect(problems).toEqual([]);
    const ct = d.host.netfilter!.ct!;
    expect(ct.audit()).toBeNull();
    const es = entries(d);
    const replies = es.map((x) => x.r);
    expect(new Set(replies).size).toBe(replies.length);
    expect(new Set([...replies, ...es.map((x) => x.o)]).size).toBe(2 * es.length);
    for (const x of es) {
      // the reply tuple is the original's inverse exactly when no NAT applies
      const [p, a, , b] = x.o.split(" ");
      const inverse = `${p} ${b} > ${a}`;
      expect(x.r === inverse).toBe(x.nat === 0);
    }
    expect(d.engine.conservation().ok).toBe(true);
  },
);

test.prop([fc.integer({ min: 0, max: 60 }), fc.boolean()], { numRuns: 40 })(
  "an entry lives exactly its timeout after its last packet; then its NAT port is free again",
  (gapTenths, replied) => {
    const d = dockerHost();
    if (replied) udpEcho(d.client, 7);
    const c2 = new UdpSocket(d.containers[0]!);
    c2.bind(40000);
    const c3 = new UdpSocket(d.containers[1]!);
    c3.bind(40000);
    c2.sendTo(CLIENT_IP, 7, 10);
    d.engine.run(0.5 * S);
    c3.sendTo(CLIENT_IP, 7, 10); // collides: moved to another port
    d.engine.run(d.engine.clock.now + gapTenths * 0.1 * S);
    c3.sendTo(CLIENT_IP, 7, 10); // refreshes c3's entry only
    const last = d.engine.clock.now;
    d.engine.run(last); // delivered at this instant (no delay on the links)
    const lines = () => d.topology.conntrack("host");
    const c3Line = () => lines().find((l) => l.includes("src=172.17.0.3"));
    const natPort = Number(/dport=(\d+) (?:\[ASSURED\] )?mark/.exec(c3Line()!)![1]);
    expect(natPort).not.toBe(40000);
    // UDP: 30 s (with a reply and more than 2 s of life: a stream, 120 s)
    const ct = d.host.netfilter!.ct!;
    const e3 = [...ct.listed()].find((e) => ct.tSrc(2 * e) === (C3_IP | 0))!;
    const timeout = ct.deadlineOf(e3) - last;
    expect([30 * S, 120 * S]).toContain(timeout);
    if (timeout === 120 * S) expect(replied && gapTenths > 20).toBe(true);
    d.engine.run(last + timeout - 1);
    expect(c3Line()).toBeDefined();
    d.engine.run(last + timeout);
    expect(c3Line()).toBeUndefined();
    // c2's entry (no traffic since 0) is gone too by now: 40000 is free, a new flow from c3 keeps it
    d.engine.run(Math.max(d.engine.clock.now, 0.5 * S + 120 * S));
    expect(lines()).toEqual([]);
    c3.sendTo(CLIENT_IP, 7, 10);
    d.engine.run(d.engine.clock.now + 0.1 * S);
    expect(c3Line()).toContain("sport=7 dport=40000 ");
    expect(ct.audit()).toBeNull();
    expect(d.engine.conservation().ok).toBe(true);
  },
);

const dropRuleArb = fc.record({ src: fc.constantFrom(null, CLIENT_IP, C2_IP, C3_IP), dport: fc.constantFrom(53, 7, 9) });

test.prop([fc.array(dropRuleArb, { minLength: 1, maxLength: 4 }), fc.array(fc.record({ from: fc.constantFrom("cl", "c2", "c3"), target: fc.nat({ max: 3 }) }), { minLength: 1, maxLength: 20 })], { numRuns: 60 })(
  "a datagram a DROP rule matches (as FORWARD sees it: after DNAT, before SNAT) is never delivered, and each is counted",
  (rules, sends) => {
    const d = dockerHost({ userlandProxy: false });
    const text = d.topology.iptablesSave("host").replace(
      "-A DOCKER-USER -j RETURN",
      [...rules.map((r) => `-A DOCKER-USER${r.src === null ? "" : ` -s ${ip(r.src)}/32`} -p udp -m udp --dport ${r.dport} -j DROP`), "-A DOCKER-USER -j RETURN"].join("\n"),
    );
    d.topology.iptables("host", text);
    const got: string[] = [];
    for (const [ns, port] of [[d.containers[0]!, 53], [d.client, 7], [d.client, 9], [d.containers[1]!, 9]] as const) {
      const s = new UdpSocket(ns, { onReceive: (_s, _slot, src, sport) => got.push(`${ns.name}:${port} from ${ip(src)}:${sport}`) });
      s.bind(port);
    }
    let expectDrops = 0;
    const expected: string[] = [];
    let sport = 41000;
    for (const x of sends) {
      const t = [
        { dst: CLIENT_IP, dport: 7, fwdDst: CLIENT_IP, fwdPort: 7, to: "client:7" },
        { dst: HOST_IP, dport: 5353, fwdDst: C2_IP, fwdPort: 53, to: "c2:53" },
        { dst: C2_IP, dport: 53, fwdDst: C2_IP, fwdPort: 53, to: "c2:53" },
        { dst: CLIENT_IP, dport: 9, fwdDst: CLIENT_IP, fwdPort: 9, to: "client:9" },
      ][x.target]!;
      const srcIp = x.from === "cl" ? CLIENT_IP : x.from === "c2" ? C2_IP : C3_IP;
      if (x.from === "cl" && t.dst !== HOST_IP) continue;
      if (x.from === "c2" && t.fwdDst === C2_IP) continue; // to itself: not forwarded
      const sk = new UdpSocket(nsOf(d, x.from));
      sk.bind(++sport);
      sk.sendTo(t.dst, t.dport, 10);
      d.engine.run(d.engine.clock.now + 0.1 * S);
      sk.close();
      const dropped = rules.some((r) => (r.src === null || r.src === srcIp) && r.dport === t.fwdPort);
      if (dropped) expectDrops++;
      else expected.push(t.to);
    }
    // exactly the datagrams no rule matched were delivered (so none that a rule matched)
    expect(got.map((g) => g.split(" ")[0]!).sort()).toEqual(expected.sort());
    const drops = d.engine.errors().filter((e) => e.reason === "nf-drop").reduce((a, e) => a + e.count, 0);
    expect(drops).toBe(expectDrops);
    expect(d.engine.conservation().ok).toBe(true);
  },
);

const netArb = fc.record({
  icc: fc.boolean(),
  ipMasq: fc.boolean(),
  internal: fc.boolean(),
  ports: fc.array(fc.record({ hostPort: fc.integer({ min: 1, max: 65535 }), containerPort: fc.integer({ min: 1, max: 65535 }), proto: fc.constantFrom("tcp" as const, "udp" as const) }), { maxLength: 3 }),
});

test.prop([fc.array(netArb, { minLength: 1, maxLength: 3 }), fc.constantFrom("classic" as const, "current" as const), fc.boolean(), fc.nat({ max: 6 })], { numRuns: 80 })(
  "iptables-save -c after traffic, parsed and restored into another namespace, saves the same text",
  (nets, profile, userlandProxy, packets) => {
    const rs = dockerRules({
      profile,
      userlandProxy,
      networks: nets.map((n, i) => ({ bridge: i === 0 ? "docker0" : `br-n${i}`, subnet: `172.${17 + i}.0.0/16`, icc: n.icc, ipMasq: n.ipMasq, internal: n.internal, containers: [{ ip: `172.${17 + i}.0.2`, ports: n.ports }] })),
    });
    const t = new Topology();
    t.netns("a");
    t.netns("b");
    t.veth({ a: "a/eth0", b: "b/eth0" });
    t.addr("a/eth0", "10.0.0.1/24");
    t.addr("b/eth0", "10.0.0.2/24");
    t.iptables("a", rs);
    // some counts: pings from b to a (INPUT, OUTPUT, nat PREROUTING/POSTROUTING)
    if (packets > 0) ping(t.ns("b"), 0x0a000001, { count: packets, intervalNs: 0.1 * S, lingerNs: 0.5 * S });
    t.run(2 * S);
    const text = t.iptablesSave("a", { counters: true });
    t.iptables("b", parseIptablesSave(text, "a.rules"));
    expect(t.iptablesSave("b", { counters: true })).toBe(text);
    expect(formatIptablesSave(parseIptablesSave(text), { counters: true })).toBe(text);
  },
);
