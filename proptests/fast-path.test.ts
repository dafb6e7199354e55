// The established-flow path (dataplane/netfilter/fast-path.ts) is the reference path made faster.
// Two identical routers (dataplane/netfilter/fixtures/fast-path-router.ts: MASQUERADE out, a
// DNAT in, a FORWARD DROP rule, a STALE neighbour), one with the fused path and one without, get
// the same random sequence: datagrams of a few flows both ways (inside host to servers and their
// replies, clients to the DNATed port and the inside host's replies), TCP segments of two
// connections both ways with random flags (SYN, SYN-ACK, ACK, data, FIN, RST: conntrack's state
// machine, entries killed and reopened), some of them altered (TTL
// 1, DF over a lowered MTU, no UDP checksum, Ethernet padding, a bad header checksum, the MF bit,
// a UDP length beyond the datagram), time passing (entries expire, the UDP stream rule) and the
// outside interface going down and up. Every frame either router sends, every counter, every
// conntrack entry and rule counter and the neighbour table are the same; over the runs, the
// fused router carried established datagrams.
import { fc, test } from "@fast-check/vitest";
import { afterAll, expect } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { raw, tcp, udp } from "../core/wire/layers.js";
import { executePlan } from "../dataplane/run.js";
import { dockerHostPlan } from "../dataplane/plans/docker-host-plan.js";
import { NsNetfilter } from "../dataplane/netfilter/hooks.js";
import { HOST, NAT_IP, NEAR, SERVER, frame, router, type Router } from "../dataplane/netfilter/fixtures/fast-path-router.js";

const peers = [SERVER, SERVER + 1, NEAR];
// peer 2 (NEAR) is on eth1's link: its neighbour entry starts STALE
const step = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("out" as const), peer: fc.nat(2), sport: fc.integer({ min: 40000, max: 40001 }), dport: fc.constantFrom(53, 53, 53, 54), alter: fc.nat(30) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("back" as const), peer: fc.nat(2), sport: fc.constantFrom(53, 53, 53, 54), dport: fc.integer({ min: 40000, max: 40001 }), alter: fc.nat(30) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("dnat-in" as const), peer: fc.nat(2), sport: fc.integer({ min: 7000, max: 7001 }), alter: fc.nat(30) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("dnat-reply" as const), peer: fc.nat(2), dport: fc.integer({ min: 7000, max: 7001 }), alter: fc.nat(30) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("tcp-out" as const), peer: fc.nat(1), sport: fc.integer({ min: 41000, max: 41001 }), flags: fc.constantFrom(0x02, 0x10, 0x10, 0x18, 0x11, 0x04, 0x12), seq: fc.nat(3), alter: fc.nat(30) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("tcp-back" as const), peer: fc.nat(1), dport: fc.integer({ min: 41000, max: 41001 }), flags: fc.constantFrom(0x12, 0x10, 0x10, 0x18, 0x11, 0x04), seq: fc.nat(3), alter: fc.nat(30) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("wait" as const), ns: fc.constantFrom(5e8, 2.5e9, 31e9) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("link" as const), up: fc.boolean() }) },
);
type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

/** Alteration `k` of a datagram's frame (6-12; any other: none). */
function alter(f: Uint8Array, k: number): { f: Uint8Array; mtu?: number } {
  const setCsum = () => {
    f[24] = f[25] = 0;
    let s = 0;
    for (let i = 14; i < 34; i += 2) s += (f[i]! << 8) | f[i + 1]!;
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    f[24] = (~s >>> 8) & 0xff;
    f[25] = ~s & 0xff;
  };
  switch (k) {
    case 7: f[22] = 1; setCsum(); return { f }; // TTL 1
    case 8: return { f, mtu: 48 }; // DF (the default) over the MTU
    case 9: f[40] = f[41] = 0; return { f }; // no UDP checksum
    case 10: { const p = new Uint8Array(f.length + 7); p.set(f); return { f: p }; } // padding
    case 11: f[25]! ^= 1; return { f }; // bad header checksum
    case 12: f[20]! |= 0x20; setCsum(); return { f }; // MF
    case 6: f[38] = 0x02; return { f }; // UDP length beyond the datagram
    default: return { f };
  }
}

function apply(r: Router, s: Step): void {
  if (s.kind === "wait") return r.wait(s.ns);
  if (s.kind === "link") return r.setUp(s.up);
  const peer = peers[s.peer]!;
  let f: Uint8Array, port: number;
  if (s.kind === "out") [f, port] = [frame(HOST, peer, [udp(s.sport, s.dport), raw(22)]), 0];
  else if (s.kind === "back") [f, port] = [frame(peer, NAT_IP, [udp(s.sport, s.dport), raw(22)], {}, true), 1];
  else if (s.kind === "tcp-out") [f, port] = [frame(HOST, peer, [tcp({ srcPort: s.sport, dstPort: 80, flags: s.flags, seq: 1000 + s.seq * 100, ack: 5000 + s.seq * 100 }), raw(s.flags & 0x08 ? 100 : 0)]), 0];
  else if (s.kind === "tcp-back") [f, port] = [frame(peer, NAT_IP, [tcp({ srcPort: 80, dstPort: s.dport, flags: s.flags, seq: 5000 + s.seq * 100, ack: 1000 + s.seq * 100 }), raw(s.flags & 0x08 ? 100 : 0)], {}, true), 1];
  else if (s.kind === "dnat-in") [f, port] = [frame(peer, NAT_IP, [udp(s.sport, 6001), raw(22)], {}, true), 1];
  else [f, port] = [frame(HOST, peer, [udp(5001, s.dport), raw(22)]), 0];
  const a = alter(f, s.alter);
  if (a.mtu) r.r.mtu[1] = a.mtu;
  r.send(a.f, port);
  r.r.mtu[1] = 1500;
}

test.prop([fc.array(step, { minLength: 20, maxLength: 80 }), fc.boolean()], { numRuns: 200 })(
  "the fused and the reference router send the same frames and keep the same counters and tables",
  (steps, onLink) => {
    const fast = router(true), ref = router(false);
    for (const r of [fast, ref]) {
      // the peers beyond eth1 by the gateway, or (onLink) 198.51.100.0/24 on eth1's link, unresolved
      if (onLink) r.r.route("198.51.100.0/24 dev eth1");
      for (const s of steps) {
        const before = r.nf.fastPackets;
        apply(r, s);
        if (s.kind === "tcp-out" || s.kind === "tcp-back") carriedTcp += r.nf.fastPackets - before;
      }
    }
    expect(fast.state()).toEqual(ref.state());
    expect(ref.nf.fastPackets).toBe(0);
    carried += fast.nf.fastPackets;
  },
);

// the comparison is not vacuous: over the runs, the fused router carried established datagrams
// and segments
let carried = 0, carriedTcp = 0;
afterAll(() => {
  expect(carried).toBeGreaterThan(100);
  expect(carriedTcp).toBeGreaterThan(50);
});

// Whole runs through Docker's NAT (dataplane/plans/docker-host-plan.ts: a client's UDP flows and
// TCP connections to published ports, DNATed to a container; a container's datagrams and pings
// MASQUERADEd out; Docker's filter rules), with real TCP stacks at both ends: the fused and the
// reference run write the same capture file byte for byte, give the same result (traffic,
// counters, drops by reason, conservation) and leave the same conntrack tables.
function runPlan(opts: Parameters<typeof dockerHostPlan>[0], fast: boolean, dir: string) {
  const was = NsNetfilter.fastPathDefault;
  NsNetfilter.fastPathDefault = fast;
  try {
    const name = fast ? "fast" : "reference";
    const { topology, result } = executePlan(dockerHostPlan({ ...opts, capture: "all" }), { pcapDir: dir, captureName: name });
    const names = topology.namespaces();
    return {
      result,
      conntrack: names.map((ns) => topology.conntrack(ns)),
      carried: names.reduce((n, ns) => n + (topology.ns(ns).netfilter?.fastPackets ?? 0), 0),
      pcap: readFileSync(join(dir, `${name}.pcapng`)),
    };
  } finally {
    NsNetfilter.fastPathDefault = was;
  }
}

test.prop(
  [fc.record({ seed: fc.integer({ min: 1, max: 1 << 30 }), udpFlows: fc.integer({ min: 1, max: 6 }), udpPackets: fc.integer({ min: 1, max: 10 }), tcpConnections: fc.integer({ min: 1, max: 3 }), tcpBytes: fc.constantFrom(0, 3000, 20000) })],
  { numRuns: 12 },
)("Docker's NAT with real TCP: the same capture, result and conntrack tables with the fused path on and off", (o) => {
  const dir = mkdtempSync(join(tmpdir(), "wireyard-prop-fast-"));
  const fast = runPlan(o, true, dir);
  const ref = runPlan(o, false, dir);
  expect(ref.carried).toBe(0);
  expect(fast.carried).toBeGreaterThan(0); // the client's segments after each handshake
  // the capture's file name is the run's own
  const named = (r: typeof fast.result) => ({ ...r, captures: r.captures.map((c) => ({ ...c, file: "" })) });
  expect(named(fast.result)).toEqual(named(ref.result));
  expect(fast.conntrack).toEqual(ref.conntrack);
  expect(fast.pcap.equals(ref.pcap)).toBe(true);
}, 60_000);
