// Flow identities of a run plan, fixed by the plan and its seed alone: the source port of every
// UDP flow and TCP connection, the ICMP id of every ping, and the per-flow seed of what a flow
// draws at random (a connected UDP socket's first IP id). Nothing here depends on which flows a
// worker runs, so a flow sends the same frames whether it runs among all the others
// (dataplane/run.ts) or in a shard of a parallel run (dataplane/parallel/).
//
// Each protocol has one sequence over the plan, in plan order: for every traffic item its warm-up
// probe, then its flows (UDP flows, TCP connections; a ping item is one flow); then for every
// expectation of that protocol its warm-up probe and its probe. Sequence number k gives the port PORT_LOW + (base + k) mod 28232
// (Linux's ephemeral range 32768-60999; `base` from the seed), so every flow of a plan has a
// source port of its own, across namespaces too: a MASQUERADE on the way keeps each flow's port
// (nf_nat changes a port only when two flows would clash), and NAT decisions stay per flow. A plan
// needing more than 28232 ports of one protocol is refused. ICMP ids are consecutive from a
// seed-derived base. A UDP flow's payload index (what the sink counts by) is its k.
//
// The shard of a flow: a symmetric hash of its 5-tuple (the same for both directions, as RSS
// with a symmetric key), modulo the worker count. An ICMP flow hashes without ids (its address
// pair only): replies and errors between two addresses share the namespace's IP id bucket
// (endpoint/ip-id.ts), so the pings of one pair run together.

import type { RunPlan } from "../plan.js";

export const PORT_LOW = 32768;
export const PORT_HIGH = 60999;
export const PORT_RANGE = PORT_HIGH - PORT_LOW + 1;

/** Sequence numbers of one traffic item: its warm-up probe's, and its first flow's (the flows
 *  follow). -1 for a replay (no probe, no flows of ours). */
export interface ItemSeq {
  warm: number;
  first: number;
  count: number;
}

export interface PlanFlows {
  items: ItemSeq[];
  /** Per expectation: its probe's sequence number in its protocol, and its warm-up's. */
  expect: number[];
  expectWarm: number[];
  udpPort(k: number): number;
  tcpPort(k: number): number;
  icmpId(k: number): number;
  /** First IP id of the connected socket of UDP flow k. */
  udpInetId(k: number): number;
}

export function planFlows(plan: RunPlan, seed: number): PlanFlows {
  const next = { udp: 0, tcp: 0, icmp: 0 };
  const items = plan.traffic.map((tr, i): ItemSeq => {
    const take = (proto: "udp" | "tcp" | "icmp", n: number): ItemSeq => {
      if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`traffic ${i} (${tr.id}): ${n} flows: must be an integer >= 0`);
      const warm = next[proto];
      next[proto] += 1 + n;
      return { warm, first: warm + 1, count: n };
    };
    if (tr.kind === "udp") return take("udp", tr.flows);
    if (tr.kind === "tcp") return take("tcp", tr.connections);
    if (tr.kind === "ping") return take("icmp", 1);
    return { warm: -1, first: -1, count: 0 };
  });
  const expectWarm: number[] = [];
  const expect = plan.expect.map((ex) => {
    expectWarm.push(next[ex.proto]++);
    return next[ex.proto]++;
  });
  for (const p of ["udp", "tcp"] as const) {
    if (next[p] > PORT_RANGE) throw new RangeError(`the plan needs ${next[p]} ${p.toUpperCase()} source ports (probes included); the ephemeral range 32768-60999 has ${PORT_RANGE}`);
  }
  if (next.icmp > 65536) throw new RangeError(`the plan needs ${next.icmp} ICMP ids; there are 65536`);
  const udpBase = mix(seed, 0x75647020) % PORT_RANGE;
  const tcpBase = mix(seed, 0x74637020) % PORT_RANGE;
  const icmpBase = mix(seed, 0x69636d70) & 0xffff;
  return {
    items,
    expect,
    expectWarm,
    udpPort: (k) => PORT_LOW + ((udpBase + k) % PORT_RANGE),
    tcpPort: (k) => PORT_LOW + ((tcpBase + k) % PORT_RANGE),
    icmpId: (k) => (icmpBase + k) & 0xffff,
    udpInetId: (k) => mix(seed ^ 0x1d, k) & 0xffff,
  };
}

/** A 32-bit mix of two words (splitmix-style finaliser). */
export function mix(a: number, b: number): number {
  let h = Math.imul((a ^ 0x9e3779b9) | 0, 0x85ebca6b) ^ Math.imul(b | 0, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Symmetric hash of a 5-tuple: the endpoints (address, port) are put in order first, so
 * (a, pa) -> (b, pb) and (b, pb) -> (a, pa) hash alike. Addresses as uint32 or int32.
 */
export function flowHash(a: number, b: number, proto: number, pa: number, pb: number): number {
  const ua = a >>> 0, ub = b >>> 0;
  const swap = ua > ub || (ua === ub && pa > pb);
  const lo = swap ? ub : ua, hi = swap ? ua : ub;
  const plo = swap ? pb : pa, phi = swap ? pa : pb;
  return mix(mix(mix(lo, hi), (plo << 16) | (phi & 0xffff)), proto);
}

/** The worker (0..count-1) that runs a flow with hash `h`. */
export function shardOf(h: number, count: number): number {
  return h % count;
}
