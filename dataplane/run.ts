// The executor: carries out a RunPlan (plan.ts) on one thread and reports a RunResult.
//
//   const { topology, result } = executePlan(plan, { pcapDir: "out", startApps: startControlApps });
//
// Phases, all in virtual time from 0:
//   1. build   applyConfig(plan.config) with the seed (opts.seed overrides the plan's); the
//              capture opens (pcapDir: `<pcapDir>/<captureName or "capture">.pcapng`, one
//              interface per capture point of plan.capture); `startApps(t, plan)` starts what
//              the caller runs beside the dataplane (the Docker model's docker-proxy, announces);
//              receivers (FlowSink, TcpSink) bind at the sinks (parallel/traffic.ts).
//   2. warm-up every traffic item and expectation sends one probe at time 0 (parallel/
//              traffic.ts, probes.ts) and the engine runs until nothing is in flight (or the
//              first traffic starts): neighbours are resolved and bridges have learned before
//              any flow sends. Neighbour entries the warm-up left waiting for a confirmation
//              are confirmed (see confirmNeighbours).
//   3. traffic every item starts at its startNs; the run lasts plan.durationNs, or until every
//              item is done plus SETTLE_NS (1 s).
//   4. expect  each expectation is probed in a 1 s slot of its own (parallel/probes.ts).
// Counters (parallel/counters.ts): per item (parallel/traffic.ts), per reported namespace from
// its interfaces' counters, drops by device and reason, conservation.
//
// Flows are independent of each other by construction (parallel/flows.ts: a source port, ICMP
// id and random seed per flow, fixed by the plan), so `shard: {index, count}` can run only the
// flows whose 5-tuple hashes to `index`: the parallel run (parallel/index.ts) runs each shard in
// a worker and sums their results. Every shard builds the same replica and runs the same warm-up;
// a shard other than 0 reports only what happened after it (its capture opens then), and leaves
// plan.announce out of what startApps sees (announces are no flow's: shard 0 sends them).
// What still couples flows, and so may differ between one thread and N workers, is listed in
// dataplane/parallel/index.ts.
// Deterministic: the same plan, seed and shard give the same result and capture bytes.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Topology } from "./topology.js";
import type { RunPlan, RunResult } from "./plan.js";
import { applyConfig } from "./config.js";
import type { Capture } from "./engine/capture.js";
import { FileSink, type CaptureSink } from "../core/pcap/index.js";
import { TcpStack } from "./endpoint/tcp.js";
import { Netns } from "./netns/netns.js";
import { NUD_DELAY, NUD_PROBE, NUD_STALE } from "./netns/neigh.js";
import { planFlows } from "./parallel/flows.js";
import { Receivers, indirection, trafficItems, type Shard } from "./parallel/traffic.js";
import { PROBE_SLOT_NS, dropRise, expectResult, probes } from "./parallel/probes.js";
import { conservationSince, dropsSince, nsCounters, snapshot, type ShardResult } from "./parallel/counters.js";

/** Virtual time run after the last item is done. */
export const SETTLE_NS = 1e9;

export interface ExecOptions {
  /** Overrides plan.config.seed. */
  seed?: number;
  /** Write a pcapng capture of plan.capture into this directory. */
  pcapDir?: string;
  /** File name without extension (default "capture"). */
  captureName?: string;
  /** Called as virtual time advances, with the fraction done (0..1). */
  onProgress?: (fraction: number) => void;
  /** Run only the flows of this shard (see the header). */
  shard?: Shard;
  /** Start what runs beside the dataplane (docker-proxy, announces), after the build. */
  startApps?: (t: Topology, plan: RunPlan) => void;
  /** Arena size (default: the engine's, 65536 slots of 2048 bytes). */
  engine?: { slots?: number; slotSize?: number; headroom?: number };
}

/** Run `plan` in this thread. With a shard, `result.expect` lists the probes it ran. */
export function executePlan(plan: RunPlan, opts: ExecOptions = {}): { topology: Topology; result: RunResult } {
  const out = runShard(plan, opts, {});
  return { topology: out.topology, result: { ...out.result, expect: out.result.expect.filter((_, i) => out.probed[i]) } };
}

/** How a worker of a parallel run takes part (parallel/worker.ts). */
export interface ShardHooks {
  /** Capture into this sink rather than a file. */
  captureSink?: CaptureSink;
  /** The engine's arena in this buffer. */
  arenaBuffer?: SharedArrayBuffer;
  /** Given the virtual time this shard's traffic ended (-Infinity: none ran here), the time
   *  the whole run's traffic ended (the latest of every shard's). */
  agreeEnd?: (localEnd: number) => number;
  /** Called after each slice of the run. */
  onSlice?: (t: Topology) => void;
  /** Called once built and warmed up, just before the traffic starts. */
  beforeTraffic?: () => void;
}

export interface ShardOutput extends ShardResult {
  topology: Topology;
  capture: Capture | null;
  /** Wall-clock times (ms since the epoch): start, traffic started, traffic done, finished. */
  wall: { start: number; runStart: number; runEnd: number; end: number };
}

const wallNow = (): number => performance.timeOrigin + performance.now();

export function runShard(plan: RunPlan, opts: ExecOptions, hooks: ShardHooks): ShardOutput {
  const start = wallNow();
  const seed = opts.seed ?? plan.config.seed;
  if (!Number.isInteger(seed)) throw new RangeError(`seed ${seed} must be an integer`);
  const given = opts.shard ?? { index: 0, count: 1 };
  if (!(Number.isInteger(given.count) && given.count >= 1 && Number.isInteger(given.index) && given.index >= 0 && given.index < given.count)) {
    throw new RangeError(`shard ${given.index} of ${given.count}: need 0 <= index < count`);
  }
  let shard: Shard = given;
  const t = applyConfig({ seed, ops: plan.config.ops }, { ...opts.engine, ...(hooks.arenaBuffer ? { arenaBuffer: hooks.arenaBuffer } : {}) });
  const e = t.engine;
  const ids = planFlows(plan, seed);

  // 1. capture, apps, receivers
  const wantCapture = (hooks.captureSink !== undefined || opts.pcapDir !== undefined) && (plan.capture === "all" || plan.capture.length > 0);
  let capture: Capture | null = null;
  let file = "";
  const openCapture = () => {
    let sink = hooks.captureSink;
    if (!sink) {
      mkdirSync(opts.pcapDir!, { recursive: true });
      file = join(opts.pcapDir!, `${opts.captureName ?? "capture"}.pcapng`);
      sink = new FileSink(file);
    }
    capture = t.capture(sink, plan.capture);
  };
  if (wantCapture && shard.index === 0) openCapture();
  opts.startApps?.(t, shard.index === 0 ? plan : { ...plan, announce: [] });
  const rx = new Receivers(t);
  // flows to shards through a balanced indirection table (every shard computes the same one)
  if (shard.count > 1 && !shard.owner) shard = { ...shard, owner: indirection(t, plan, ids, shard.count) };
  const items = trafficItems(t, plan, ids, shard, rx);
  const checks = probes(t, plan.expect, ids, shard);
  for (const d of e.devices) if (d instanceof TcpStack) d.secureNumbers = true;

  // 2. warm-up
  const firstStart = plan.traffic.reduce((m, tr) => Math.min(m, tr.startNs), Infinity);
  for (const it of items) it.warm();
  for (const p of checks) p.warm();
  t.run(0);
  while (e.conservation().queued > 0) {
    const next = e.clock.next();
    if (next === Infinity || next > firstStart) break;
    t.run(next);
  }
  for (const it of items) it.endWarm();
  for (const p of checks) p.endWarm();
  confirmNeighbours(t);
  const warmEnd = e.clock.now;
  const since = shard.index > 0 ? snapshot(e) : null;
  if (wantCapture && shard.index > 0) openCapture();

  // 3. traffic
  const estimate = estimateEnd(plan);
  const slice = Math.max(1e6, Math.min(SETTLE_NS / 2, estimate / 200));
  const tick = () => {
    hooks.onSlice?.(t);
    opts.onProgress?.(Math.min(0.99, e.clock.now / estimate));
  };
  hooks.beforeTraffic?.();
  const runStart = wallNow();
  for (const it of items) it.start();
  let end: number;
  let runEnd: number;
  if (plan.durationNs !== undefined) {
    end = Math.max(plan.durationNs, e.clock.now);
    runTo(t, end, slice, tick);
    runEnd = wallNow();
  } else {
    while (!items.every((it) => it.done)) {
      if (e.clock.pending === 0 && e.conservation().queued === 0) break; // nothing can finish them
      t.run(e.clock.now + slice);
      tick();
    }
    runEnd = wallNow();
    for (const it of items) if (!it.done) it.doneAt = e.clock.now;
    const local = items.reduce((m, it) => Math.max(m, it.doneAt), -Infinity);
    const agreed = hooks.agreeEnd ? hooks.agreeEnd(local) : local;
    end = Math.max(e.clock.now, (agreed === -Infinity ? warmEnd : agreed) + SETTLE_NS);
    runTo(t, end, slice, tick);
  }

  // 4. expectations, one slot each
  const expect = plan.expect.map((ex, i) => {
    const p = checks[i]!;
    const slotEnd = end + (i + 1) * PROBE_SLOT_NS;
    if (!p.owned) {
      t.run(slotEnd);
      return { label: ex.label, reachable: ex.reachable, passed: false, observed: "" };
    }
    const before = e.devices.map((d) => d.drops.slice());
    p.start();
    t.run(slotEnd);
    return expectResult(ex, p.finish(), dropRise(t, before));
  });
  opts.onProgress?.(1);

  // results
  const traffic = items.map((it) => it.result());
  const namespaces = nsCounters(t, plan, since);
  for (const n of namespaces) {
    traffic.forEach((r, i) => {
      const tr = plan.traffic[i]!;
      if (tr.kind !== "replay" && tr.from === n.ns) n.lost += r.lost;
    });
  }
  const cap = capture as Capture | null;
  if (cap) cap.close();
  const result: RunResult = {
    virtualNs: e.clock.now,
    workers: 1,
    traffic,
    namespaces,
    drops: dropsSince(e, since),
    expect,
    conservation: conservationSince(e, since),
    captures: cap && file ? [{ file, frames: cap.packets, points: [...cap.names] }] : [],
  };
  return { topology: t, capture: cap, result, probed: checks.map((p) => p.owned), wall: { start, runStart, runEnd, end: wallNow() } };
}

/**
 * After the warm-up: every neighbour entry waiting for a confirmation (STALE, DELAY, PROBE: the
 * reverse direction of a warm-up probe, learned from its ARP request) is confirmed (REACHABLE),
 * as an answer from the neighbour would. Otherwise the warm-up's aftermath, a unicast ARP probe
 * 5 s later, would happen in every worker of a parallel run.
 */
function confirmNeighbours(t: Topology): void {
  for (const d of t.engine.devices) {
    if (!(d instanceof Netns)) continue;
    for (const n of d.neigh.entries()) {
      if (n.state === NUD_STALE || n.state === NUD_DELAY || n.state === NUD_PROBE) d.neigh.learn(n.ifindex, n.ip | 0, n.mac, true, false);
    }
  }
}

/** Run to `until` in slices, calling `tick` after each. */
function runTo(t: Topology, until: number, slice: number, tick: () => void): void {
  while (t.engine.clock.now < until) {
    t.run(Math.min(until, t.engine.clock.now + slice));
    tick();
  }
}

/** When the run should end, from the plan alone (for progress). */
export function estimateEnd(plan: RunPlan): number {
  if (plan.durationNs !== undefined) return Math.max(plan.durationNs, 1);
  let end = 0;
  for (const tr of plan.traffic) {
    const d = tr.kind === "ping" ? tr.count * tr.intervalNs : tr.kind === "udp" ? (tr.packets / tr.ratePps) * 1e9 : 1e9;
    end = Math.max(end, tr.startNs + d);
  }
  return end + SETTLE_NS + plan.expect.length * PROBE_SLOT_NS;
}

