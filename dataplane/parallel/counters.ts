// Counters of a run as RunResult reports them, read from the engine: per namespace (its
// interfaces' rx/tx, the engine's per-port counters), drops by device and reason, packet
// conservation; each optionally since a snapshot. A worker of a parallel run other than worker 0
// reports everything since the end of its warm-up (every worker runs the same warm-up, worker 0
// reports it once), so that summing the workers' figures counts everything once. Also the merge
// of shard results into one RunResult. Cold path.

import type { Engine } from "../engine/engine.js";
import type { Topology } from "../topology.js";
import type { DropCount, ExpectResult, NsCounters, RunPlan, RunResult, TrafficResult } from "../plan.js";

export interface Snapshot {
  /** Per device id: per-port counters and drops by reason, copied. */
  rxPackets: Float64Array[];
  rxBytes: Float64Array[];
  txPackets: Float64Array[];
  txBytes: Float64Array[];
  drops: Float64Array[];
  created: number;
  delivered: number;
  dropped: number;
  queued: number;
  inUse: number;
}

export function snapshot(e: Engine): Snapshot {
  const c = e.conservation();
  return {
    rxPackets: e.devices.map((d) => d.rxPackets.slice()),
    rxBytes: e.devices.map((d) => d.rxBytes.slice()),
    txPackets: e.devices.map((d) => d.txPackets.slice()),
    txBytes: e.devices.map((d) => d.txBytes.slice()),
    drops: e.devices.map((d) => d.drops.slice()),
    created: c.created,
    delivered: c.delivered,
    dropped: c.dropped,
    queued: c.queued,
    inUse: c.inUse,
  };
}

const at = (list: Float64Array[] | undefined, dev: number, i: number): number => list?.[dev]?.[i] ?? 0;

/** Per reported namespace: what its L3 interfaces (the namespace's own ports, a bridge's own
 *  interface included, bridge ports not) sent and received since `since`. `lost` is left 0. */
export function nsCounters(t: Topology, plan: RunPlan, since: Snapshot | null): NsCounters[] {
  return plan.report.map(({ ns, label }) => {
    const d = t.ns(ns);
    const out: NsCounters = { ns, label, txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0, lost: 0 };
    for (let p = 0; p < d.portNames.length; p++) {
      out.txPackets += d.txPackets[p]! - at(since?.txPackets, d.id, p);
      out.txBytes += d.txBytes[p]! - at(since?.txBytes, d.id, p);
      out.rxPackets += d.rxPackets[p]! - at(since?.rxPackets, d.id, p);
      out.rxBytes += d.rxBytes[p]! - at(since?.rxBytes, d.id, p);
    }
    return out;
  });
}

/** Every drop counter that rose since `since` (all non-zero ones without), sorted by device and
 *  reason name. */
export function dropsSince(e: Engine, since: Snapshot | null): DropCount[] {
  const out: DropCount[] = [];
  for (const d of e.devices) {
    for (let i = 0; i < d.drops.length; i++) {
      const n = d.drops[i]! - at(since?.drops, d.id, i);
      if (n > 0) out.push({ device: d.name, reason: d.reasons[i]!, count: n });
    }
  }
  return sortDrops(out);
}

export function sortDrops(list: DropCount[]): DropCount[] {
  return list.sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0));
}

export function conservationSince(e: Engine, since: Snapshot | null): RunResult["conservation"] {
  const c = e.conservation();
  const s = since ?? { created: 0, delivered: 0, dropped: 0, queued: 0, inUse: 0 };
  // packets still in flight at the snapshot (a warm-up slowed by a delay line, an ARP queue)
  // are this shard's to account for from then on: counted as created here, so that what it
  // reports balances with what it holds at the end (never a negative number in flight)
  const r = { created: c.created - s.created + s.queued, delivered: c.delivered - s.delivered, dropped: c.dropped - s.dropped, queued: c.queued, inUse: c.inUse };
  return { ...r, ok: conserved(r) };
}

function conserved(r: Omit<RunResult["conservation"], "ok">): boolean {
  return r.created === r.delivered + r.dropped + r.queued && r.queued === r.inUse;
}

/** What one shard reports: a RunResult of its own flows, and which expectations it probed
 *  (the others' entries are placeholders). */
export interface ShardResult {
  result: RunResult;
  probed: boolean[];
}

// the counters a merge sums, per record
const TRAFFIC_SUMS = ["sent", "received", "lost", "bytesSent", "bytesReceived"] as const;
const NS_SUMS = ["txPackets", "txBytes", "rxPackets", "rxBytes", "lost"] as const;
const CONS_SUMS = ["created", "delivered", "dropped", "queued", "inUse"] as const;

function addInto<T extends Record<K, number>, K extends keyof T>(into: T, from: T, keys: readonly K[]): void {
  for (const k of keys) (into[k] as number) += from[k];
}

/** Sum shard results (in worker order) into the run's result. */
export function mergeResults(parts: ShardResult[]): RunResult {
  const first = parts[0]!.result;
  const traffic: TrafficResult[] = first.traffic.map((t) => ({ ...t }));
  const namespaces: NsCounters[] = first.namespaces.map((n) => ({ ...n }));
  const drops = new Map<string, DropCount>();
  const expect: ExpectResult[] = first.expect.map((e) => ({ ...e }));
  const cons = { created: 0, delivered: 0, dropped: 0, queued: 0, inUse: 0 };
  let virtualNs = 0;
  parts.forEach(({ result: r, probed }, w) => {
    virtualNs = Math.max(virtualNs, r.virtualNs);
    if (w > 0) {
      r.traffic.forEach((t, i) => addInto(traffic[i]!, t, TRAFFIC_SUMS));
      r.namespaces.forEach((n, i) => addInto(namespaces[i]!, n, NS_SUMS));
    }
    for (const d of r.drops) {
      const k = `${d.device}\u0000${d.reason}`;
      const m = drops.get(k);
      if (m) m.count += d.count;
      else drops.set(k, { ...d });
    }
    r.expect.forEach((e, i) => {
      if (probed[i]) expect[i] = { ...e };
    });
    addInto(cons, r.conservation, CONS_SUMS);
  });
  return {
    virtualNs,
    workers: parts.length,
    traffic,
    namespaces,
    drops: sortDrops([...drops.values()]),
    expect,
    conservation: { ...cons, ok: conserved(cons) },
    captures: [],
  };
}
