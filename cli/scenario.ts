// The scenario commands of `wireyard`: validate, run, inspect and trace. Each reads a scenario
// file (control/scenario/parse.ts), turns it into a run plan with the Docker model
// (control/plan-from-scenario.ts) and carries it out (dataplane/run.ts on this thread,
// dataplane/parallel/ on worker threads). Output goes through `out` (stdout) and `err` (stderr)
// so that tests can read it.

import { loadScenario } from "../control/scenario/parse.js";
import type { ExpectSpec, Scenario } from "../control/scenario/types.js";
import { describeState, namespaceOf, planFromScenario } from "../control/plan-from-scenario.js";
import { startControlApps } from "../control/docker-proxy.js";
import { executePlan } from "../dataplane/run.js";
import { runParallel } from "../dataplane/parallel/index.js";
import type { RunPlan, RunResult } from "../dataplane/plan.js";
import type { Topology } from "../dataplane/topology.js";
import { parseIpv4 } from "../core/addr.js";
import { UdpSocket, udpEcho } from "../dataplane/endpoint/udp-socket.js";
import { tcpConnect, tcpListen } from "../dataplane/endpoint/tcp.js";
import { ping } from "../dataplane/endpoint/ping.js";
import { fileURLToPath } from "node:url";
import { basename } from "node:path";
import { availableParallelism } from "node:os";

export type Print = (line: string) => void;

/** A command-line mistake: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The module that starts docker-proxy and gratuitous ARPs in each worker (built .js). */
const CONTROL_APPS_MODULE = fileURLToPath(new URL("../control/docker-proxy.js", import.meta.url));

export function cmdValidate(file: string, out: Print): number {
  const s = loadScenario(file);
  const plan = planFromScenario(s);
  out(`${file}: ok — ${s.hosts.length} host${s.hosts.length === 1 ? "" : "s"}, ${userNetworks(s)} user network${userNetworks(s) === 1 ? "" : "s"}, ${s.containers.length} container${s.containers.length === 1 ? "" : "s"}, ${s.traffic.length} traffic item${s.traffic.length === 1 ? "" : "s"}, ${s.expect.length} expectation${s.expect.length === 1 ? "" : "s"}; ${plan.config.ops.length} dataplane steps`);
  return 0;
}

function userNetworks(s: Scenario): number {
  return s.networks.filter((n) => !(n.name === "bridge" || n.name === "host" || n.name === "none")).length;
}

export interface RunOptions {
  pcapDir?: string;
  seed?: number;
  workers?: number;
  json?: boolean;
  /** Show a progress bar (on stderr, when it is a terminal). */
  progress?: boolean;
}

export async function cmdRun(file: string, o: RunOptions, out: Print, err: Print): Promise<number> {
  const s = loadScenario(file);
  const plan = planFromScenario(s);
  const seed = o.seed ?? s.seed;
  const workers = o.workers ?? availableParallelism();
  const name = basename(file).replace(/\.ya?ml$/, "");
  const bar = o.progress && !o.json ? progressBar(err) : null;
  const t0 = performance.now();
  const common = { seed, captureName: name, ...(o.pcapDir === undefined ? {} : { pcapDir: o.pcapDir }), ...(bar ? { onProgress: bar.update } : {}) };
  let result: RunResult;
  try {
    result =
      workers <= 1
        ? executePlan(plan, { ...common, startApps: startControlApps }).result
        : await runParallel(plan, { ...common, workers, startAppsModule: CONTROL_APPS_MODULE, startAppsExport: "startControlApps" });
  } finally {
    bar?.done();
  }
  const wall = (performance.now() - t0) / 1000;
  const failed = result.expect.filter((x) => !x.passed).length;
  if (o.json) out(JSON.stringify({ scenario: file, name: s.name ?? name, seed, wallSeconds: Number(wall.toFixed(3)), ...result }, null, 2));
  else for (const l of formatSummary(file, s, seed, result, wall)) out(l);
  return failed > 0 ? 1 : 0;
}

// ---- summary ----------------------------------------------------------------------------------

const num = (n: number) => n.toLocaleString("en-US");

/** Columns padded to their widest cell; numbers right-aligned. */
export function table(head: string[], rows: (string | number)[][]): string[] {
  const cells = [head, ...rows.map((r) => r.map((c) => (typeof c === "number" ? num(c) : c)))];
  const right = head.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === "number"));
  const w = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => "  " + r.map((c, i) => (right[i] ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join("   ").trimEnd());
}

/** Reasons that are not losses: the frame was not for that namespace. */
const IGNORED_REASONS = new Set(["arp-not-for-us", "other-host"]);

export function formatSummary(file: string, s: Scenario, seed: number, r: RunResult, wall: number): string[] {
  const L: string[] = [];
  L.push(`wireyard run ${file}${s.name ? ` (${s.name})` : ""}: seed ${seed}, ${r.workers} worker${r.workers === 1 ? "" : "s"}, ${(r.virtualNs / 1e9).toFixed(3)} s virtual in ${wall.toFixed(2)} s`);
  L.push("");
  L.push("per container and host");
  L.push(...table(["name", "sent pkts", "sent bytes", "recv pkts", "recv bytes", "lost"], r.namespaces.map((n) => [n.label, n.txPackets, n.txBytes, n.rxPackets, n.rxBytes, n.lost])));
  if (r.traffic.length > 0) {
    L.push("");
    L.push("traffic");
    L.push(...table(["#", "what", "sent", "received", "lost", "bytes received"], r.traffic.map((t, i) => [String(i + 1), t.label, t.sent, t.received, t.lost, t.bytesReceived])));
  }
  // frames a namespace takes and ignores as Linux does (an ARP request for another address, a
  // frame for another MAC seen on a flooded segment) are counted apart from real drops
  const ignored = r.drops.filter((d) => IGNORED_REASONS.has(d.reason));
  const drops = r.drops.filter((d) => !IGNORED_REASONS.has(d.reason));
  L.push("");
  L.push("drops by device and reason");
  if (drops.length === 0) L.push("  none");
  else L.push(...table(["device", "reason", "packets"], drops.map((d) => [d.device, d.reason, d.count])));
  if (ignored.length > 0) L.push(`  (not for them, ignored as Linux does: ${ignored.map((d) => `${d.device} ${d.reason} ${num(d.count)}`).join(", ")})`);
  if (r.expect.length > 0) {
    const failed = r.expect.filter((x) => !x.passed).length;
    L.push("");
    L.push(`expectations: ${r.expect.length - failed} passed, ${failed} failed`);
    L.push(...table(["", "expectation", "observed"], r.expect.map((x) => [x.passed ? "PASS" : "FAIL", `${x.label} ${x.reachable ? "reachable" : "unreachable"}`, x.observed])));
  }
  const c = r.conservation;
  L.push("");
  L.push(`packets: ${num(c.created)} created, ${num(c.delivered)} delivered, ${num(c.dropped)} dropped (counted), ${num(c.queued + c.inUse)} in flight at the end${c.ok ? "" : " — CONSERVATION VIOLATED"}`);
  for (const cap of r.captures) L.push(`capture: ${cap.file} (${num(cap.frames)} frames; ${cap.points.length} interface${cap.points.length === 1 ? "" : "s"}: ${cap.points.length > 6 ? `${cap.points.slice(0, 6).join(", ")}, ...` : cap.points.join(", ")})`);
  return L;
}

function progressBar(err: Print): { update: (f: number) => void; done: () => void } | null {
  if (!process.stderr.isTTY) return null;
  let shown = -1;
  let started = false;
  const t0 = performance.now();
  return {
    update: (f: number) => {
      // only for runs long enough to notice
      if (!started && performance.now() - t0 < 500) return;
      started = true;
      const pct = Math.max(0, Math.min(100, Math.floor(f * 100)));
      if (pct === shown) return;
      shown = pct;
      const w = 30;
      const fill = Math.round((pct / 100) * w);
      process.stderr.write(`\r  [${"#".repeat(fill)}${".".repeat(w - fill)}] ${String(pct).padStart(3)}%`);
    },
    done: () => {
      if (started) process.stderr.write("\r" + " ".repeat(40) + "\r");
      void err;
    },
  };
}

// ---- inspect ------------------------------------------------------------------------------------

export const INSPECT_WHAT = ["addr", "route", "neigh", "fdb", "iptables", "conntrack"] as const;
export type InspectWhat = (typeof INSPECT_WHAT)[number];

/** Build and run the scenario on this thread; the live state after the run. */
function runLive(file: string, seed: number | undefined, extra: ExpectSpec[] = []): { s: Scenario; plan: RunPlan; t: Topology; result: RunResult } {
  const s = loadScenario(file);
  const withExtra = extra.length > 0 ? { ...s, expect: [...s.expect, ...extra] } : s;
  const plan = planFromScenario(withExtra);
  const runPlan = extra.length > 0 ? { ...plan, expect: plan.expect.slice(0, s.expect.length) } : plan;
  const { topology, result } = executePlan(runPlan, { seed: seed ?? s.seed, startApps: startControlApps });
  return { s, plan, t: topology, result };
}

export function cmdInspect(file: string, who: string, what: InspectWhat, seed: number | undefined, out: Print): number {
  const { s, t } = runLive(file, seed);
  const state = describeState(s);
  const ns = resolveNs(state, who, t);
  const text = inspectText(t, ns, what);
  out(text.replace(/\n$/, ""));
  return 0;
}

function resolveNs(state: ReturnType<typeof describeState>, who: string, t: Topology): string {
  try {
    return namespaceOf(state, who);
  } catch {
    if (t.namespaces().includes(who)) return who;
    const names = [...state.hosts.map((h) => h.name), ...state.containers.map((c) => c.name)];
    throw new UsageError(`"${who}" is not a host, container or namespace of this scenario (hosts and containers: ${names.join(", ")})`);
  }
}

export function inspectText(t: Topology, ns: string, what: InspectWhat): string {
  switch (what) {
    case "addr":
    case "route":
    case "neigh":
      return t.ip(ns, what);
    case "fdb": {
      const brs = t.bridgesIn(ns);
      if (brs.length === 0) return `(no bridge in ${ns})`;
      return brs.map((b) => t.fdb(`${ns}/${b}`).replace(/\n$/, "")).join("\n");
    }
    case "iptables":
      return t.iptablesSave(ns, { counters: true });
    case "conntrack": {
      const lines = t.conntrack(ns);
      return lines.length === 0 ? `(no conntrack entries in ${ns})` : lines.join("\n");
    }
  }
}

// ---- trace --------------------------------------------------------------------------------------

export interface TraceOptions {
  from: string;
  to: string;
  proto: "udp" | "tcp" | "icmp";
  seed?: number;
}

/** The probe's UDP/TCP source port (fixed, so the conntrack lines about it can be picked out). */
const PROBE_SPORT = 47999;

export function cmdTrace(file: string, o: TraceOptions, out: Print): number {
  const m = /^(.*?)(?::(\d+))?$/.exec(o.to)!;
  const toName = m[1]!;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (o.proto !== "icmp" && port === undefined) throw new UsageError(`trace: --to ${o.to} needs a port for ${o.proto} (--to ${o.to}:PORT)`);
  if (o.proto === "icmp" && port !== undefined) throw new UsageError(`trace: icmp has no port (--to ${toName})`);
  if (port !== undefined && !(port >= 1 && port <= 65535)) throw new UsageError(`trace: port ${port} must be 1..65535`);
  const probe: ExpectSpec = { from: o.from, to: toName, proto: o.proto, reachable: true, ...(port === undefined ? {} : { port }) };
  const { plan, t } = runLive(file, o.seed, [probe]);
  const pe = plan.expect[plan.expect.length - 1]!;
  const e = t.engine;
  const from = t.ns(pe.from);
  const dst = parseIpv4(pe.dst);
  const start = e.clock.now;
  out(`trace ${o.proto} ${o.from} -> ${o.to}: from namespace ${pe.from} to ${pe.dst}${o.proto === "icmp" ? "" : `:${pe.port}`}${pe.sink ? `, served by ${pe.sink.ns}${o.proto === "icmp" ? "" : ` port ${pe.sink.port}`}` : ""} (state after the scenario's run, t = ${(start / 1e9).toFixed(3)} s)`);
  // the request, as it leaves `from`, and the answer the server sends back
  e.trace.add({ device: from, count: 1, local: true, match: { dst, protocol: o.proto, ...(o.proto === "icmp" ? {} : { dport: pe.port, sport: PROBE_SPORT }) } });
  if (pe.sink) e.trace.add({ device: t.ns(pe.sink.ns), count: 1, local: true, match: { protocol: o.proto, ...(o.proto === "icmp" ? {} : { sport: pe.sink.port }) } });
  let answered = "";
  if (o.proto === "udp") {
    if (pe.sink) {
      try {
        udpEcho(t.ns(pe.sink.ns), pe.sink.port);
      } catch {
        // a server of the scenario's traffic has the port: it answers or not, as it does
      }
    }
    const sock = new UdpSocket(from, { onReceive: () => void (answered = "reply received") });
    sock.bind(PROBE_SPORT);
    sock.sendTo(dst, pe.port, 32);
  } else if (o.proto === "tcp") {
    if (pe.sink) {
      try {
        tcpListen(t.ns(pe.sink.ns), pe.sink.port, { connected: () => {}, received: () => {}, eof: (sk) => sk.close(), closed: () => {} });
      } catch {
        // already listening (the scenario's own server)
      }
    }
    tcpConnect(from, dst, pe.port, { connected: () => void (answered = "connection established"), received: () => {}, eof: () => {}, closed: () => {} }, PROBE_SPORT);
  } else {
    const p = ping(from, dst, { count: 1 });
    t.run(start + 3e9);
    answered = p.received > 0 ? "echo reply received" : "";
  }
  if (o.proto !== "icmp") t.run(start + 3e9);
  const traced = e.trace.format();
  out(traced === "" ? "(no packet left the sender: check its routes and addresses)" : traced);
  out("");
  out(`result: ${answered || "no answer within 3 s"}`);
  // the connection as conntrack holds it in every namespace the probe crossed
  const needle = o.proto === "icmp" ? `type=8 code=0` : `sport=${PROBE_SPORT} `;
  for (const ns of t.namespaces()) {
    const lines = t.conntrack(ns);
    const mine = lines.filter((l) => l.includes(needle) && l.startsWith(o.proto));
    for (const l of mine) out(`conntrack ${ns}: ${l}`);
  }
  return answered ? 0 : 1;
}
