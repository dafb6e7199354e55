// Expectation probes of the executor (dataplane/run.ts): each PlanExpect sends a warm-up probe
// with the traffic's (so its path is resolved in every shard alike, traffic.ts); after the
// traffic it is checked by sending one probe through the live dataplane, in a slot of its own of
// PROBE_SLOT_NS virtual time (probe i starts at end + i x slot, whichever shard runs it), from a
// source port (or ICMP id) of its own (flows.ts):
//   udp   a 16-byte datagram ("WYPR", the probe's index; to DNS's ports a DNS query naming the
//         probe) to dst:port from a connected socket (its IP ids its own, as the traffic's
//         flows'); reachable when those bytes reach a socket on the sink's port in the sink's
//         namespace (the one bound there is watched; with none, one is bound for the slot).
//         Without a sink, the namespace that owns dst is the sink; with no such namespace
//         nothing can be observed arriving.
//   tcp   connect() to dst:port; reachable when the handshake completes (the connection is then
//         closed); a RST is "refused".
//   icmp  one echo request; reachable when the echo reply comes back.
// `observed` says what happened: "delivered to c3:53", "handshake completed", "echo reply", an
// ICMP error and its sender, "refused (TCP reset)", "no reply", or why nothing was sent, followed
// by the drop counters that rose during the slot ("dropped at host: nf-drop"; not those of the
// copies of a broadcast that other hosts ignore).

import type { Topology } from "../topology.js";
import type { ExpectResult, PlanExpect, PlanSink } from "../plan.js";
import { formatIpv4, parseIpv4 } from "../../core/addr.js";
import { getU16, getU32 } from "../../core/bytes.js";
import { Netns } from "../netns/netns.js";
import { sockets, type IcmpListener } from "../endpoint/stack.js";
import { Pinger } from "../endpoint/ping.js";
import { UdpSocket } from "../endpoint/udp-socket.js";
import { ECONNREFUSED, ECONNRESET, ETIMEDOUT, TCP_SYN_SENT, TcpSocket, tcpStack, type TcpApp } from "../endpoint/tcp.js";
import { flowHash, type PlanFlows } from "./flows.js";
import { DNS_PORTS, context, dnsQuery, shardOfHash, warmUp, type Shard, type Warm } from "./traffic.js";

export const PROBE_SLOT_NS = 1e9;
/** "WYPR" */
const PROBE_MAGIC = 0x57595052;

export interface Probe {
  /** Whether this shard runs it. */
  readonly owned: boolean;
  /** The warm-up probe along its path (every shard alike, traffic.ts), and its end. */
  warm(): void;
  endWarm(): void;
  /** Send it (at the start of its slot). */
  start(): void;
  /** At the end of its slot: what was seen; the probe's sockets are closed. */
  finish(): { reached: boolean; observed: string };
}

/** The probes of `exps`, each marked with whether this shard runs it (TCP stacks made for the
 *  TCP probes' namespaces in every shard). */
export function probes(t: Topology, exps: readonly PlanExpect[], ids: PlanFlows, shard: Shard): Probe[] {
  return exps.map((ex, i) => {
    const who = `expect ${i} (${ex.label})`;
    const ns = context(who, () => t.ns(ex.from));
    const dst = context(who, () => parseIpv4(ex.dst));
    const st = sockets(ns);
    const r = st.route(dst | 0);
    const src = r < 0 ? 0 : st.source(r, dst | 0) >>> 0;
    const k = ids.expect[i]!;
    if (ex.proto === "tcp") {
      tcpStack(ns).secureNumbers = true;
      const owner = ownerOf(t, dst);
      if (owner !== null) tcpStack(owner).secureNumbers = true; // a closed port answers with a RST
    }
    const port = ex.proto === "udp" ? ids.udpPort(k) : ex.proto === "tcp" ? ids.tcpPort(k) : 0;
    const h = ex.proto === "icmp" ? flowHash(src, dst, 1, 0, 0) : flowHash(src, dst, ex.proto === "udp" ? 17 : 6, port, ex.port);
    const owned = shardOfHash(shard, h) === shard.index;
    const probe = ex.proto === "udp" ? udpProbe(t, ex, i, ns, dst, port, ids.udpInetId(k), owned) : ex.proto === "tcp" ? tcpProbe(ns, ex, dst, port, owned) : icmpProbe(t, ns, dst, ids.icmpId(k), owned);
    let warm: Warm | null = null;
    return {
      ...probe,
      warm: () => void (warm = context(who, () => warmUp(ns, dst, ex.proto, ex.port, ids.expectWarm[i]!, ids))),
      endWarm: () => warm?.end(),
    };
  });
}

type ProbeBody = Omit<Probe, "warm" | "endWarm">;

function udpProbe(t: Topology, ex: PlanExpect, index: number, ns: Netns, dst: number, sport: number, inetId: number, owned: boolean): ProbeBody {
  let sock: UdpSocket | null = null;
  let arrived = false;
  let restore = () => {};
  let sent = 0;
  const sinkOf = (): PlanSink | null => {
    if (ex.sink) return ex.sink;
    const o = ownerOf(t, dst);
    return o === null ? null : { ns: o.name, port: ex.port };
  };
  const sink = sinkOf();
  return {
    owned,
    start() {
      const b = t.engine.arena.bytes;
      const payload = probePayload(index, ex.port);
      const ours = (off: number, len: number) => len === payload.length && payload.every((x, i) => b[off + i] === x);
      if (sink) {
        const sns = t.ns(sink.ns);
        const prev = sns.udp.get(sink.port);
        if (prev !== null) {
          sns.udp.set(sink.port, (n, s, ip, udp) => {
            if (ours(udp + 8, getU16(b, udp + 4) - 8)) arrived = true;
            prev(n, s, ip, udp);
          });
          restore = () => sns.udp.set(sink.port, prev);
        } else {
          const tmp = new UdpSocket(sns, { onReceive: (_sk, _s, _src, _sport, off, len) => (arrived ||= ours(off, len)) });
          tmp.bind(sink.port);
          restore = () => tmp.close();
        }
      }
      sock = new UdpSocket(ns);
      sock.bind(sport);
      // connected, as the traffic's flows: its IP ids are its own, not a bucket's it shares
      if (sockets(ns).route(dst | 0) >= 0) sock.connect(dst >>> 0, ex.port, inetId);
      sent = sock.sendTo(dst, ex.port, payload);
    },
    finish() {
      restore();
      const s = sock!;
      s.close();
      if (arrived) return { reached: true, observed: `delivered to ${sink!.ns}:${sink!.port}` };
      if (sent < 0) return { reached: false, observed: `not sent (${errnoName(sent)})` };
      if (s.icmpErrors > 0) return { reached: false, observed: `${icmpName(s.lastIcmpType, s.lastIcmpCode)} from ${formatIpv4(s.lastIcmpFrom)}` };
      return { reached: false, observed: sink ? "no reply" : `nothing observed (no namespace owns ${ex.dst}: no sink to watch)` };
    },
  };
}

function tcpProbe(ns: Netns, ex: PlanExpect, dst: number, sport: number, owned: boolean): ProbeBody {
  let sk: TcpSocket | null = null;
  let established = false;
  let failure = "";
  return {
    owned,
    start() {
      const app: TcpApp = {
        connected(s) {
          established = true;
          s.close();
        },
        received() {},
        eof: (s) => s.close(),
        closed() {},
      };
      try {
        sk = new TcpSocket(tcpStack(ns), app).connect(dst, ex.port, sport);
      } catch (err) {
        failure = `not sent (${(err as Error).message})`;
      }
    },
    finish() {
      const s = sk;
      if (s === null) return { reached: false, observed: failure };
      if (s.state === TCP_SYN_SENT) s.close();
      if (established) return { reached: true, observed: "handshake completed" };
      if (s.error === ECONNREFUSED) return { reached: false, observed: "refused (TCP reset)" };
      if (s.error !== 0) return { reached: false, observed: errnoName(s.error) };
      return { reached: false, observed: "no reply to the SYN" };
    },
  };
}

function icmpProbe(t: Topology, ns: Netns, dst: number, ident: number, owned: boolean): ProbeBody {
  let p: Pinger | null = null;
  let err = "";
  return {
    owned,
    start() {
      const pinger = (p = new Pinger(ns, dst, { count: 1, ident, intervalNs: PROBE_SLOT_NS, lingerNs: PROBE_SLOT_NS }).start());
      const st = sockets(ns);
      const b = t.engine.arena.bytes;
      const watch: IcmpListener = {
        echoReply: (s, ip, icmp) => pinger.echoReply(s, ip, icmp),
        icmpError: (s, ip, icmp, quoted) => {
          err ||= `${icmpName(b[icmp]!, b[icmp + 1]!)} from ${formatIpv4(getU32(b, ip + 12))}`;
          pinger.icmpError(s, ip, icmp, quoted);
        },
      };
      st.echoListeners.set(pinger.ident, watch);
    },
    finish() {
      const q = p!;
      if (q.received > 0) return { reached: true, observed: "echo reply" };
      if (err) return { reached: false, observed: err };
      if (q.sendErrors > 0) return { reached: false, observed: "not sent (no route)" };
      return { reached: false, observed: "no reply" };
    },
  };
}

/** What a UDP probe sends: "WYPR" and its index, or to DNS's ports a DNS query naming it. */
function probePayload(index: number, port: number): Uint8Array {
  if (DNS_PORTS.has(port)) return dnsQuery(0x5000 + (index & 0xfff), `probe-${index}.wireyard.test`);
  const p = new Uint8Array(16);
  new DataView(p.buffer).setUint32(0, PROBE_MAGIC);
  new DataView(p.buffer).setUint32(4, index);
  return p;
}

/** The namespace with `addr` on one of its interfaces, or null. */
export function ownerOf(t: Topology, addr: number): Netns | null {
  for (const d of t.engine.devices) if (d instanceof Netns && d.localIfOf(addr >>> 0) >= 0) return d;
  return null;
}

export function icmpName(type: number, code: number): string {
  if (type === 3) {
    const what = ["net unreachable", "host unreachable", "protocol unreachable", "port unreachable", "fragmentation needed"][code];
    if (what) return `ICMP ${what}`;
    if (code === 9 || code === 10 || code === 13) return "ICMP administratively prohibited";
    return `ICMP unreachable code ${code}`;
  }
  if (type === 11) return "ICMP time exceeded";
  return `ICMP type ${type} code ${code}`;
}

function errnoName(e: number): string {
  const names: Record<number, string> = { [-101]: "ENETUNREACH: no route", [-113]: "EHOSTUNREACH", [-90]: "EMSGSIZE", [-105]: "ENOBUFS", [ECONNRESET]: "connection reset", [ETIMEDOUT]: "timed out", [ECONNREFUSED]: "refused" };
  return names[e] ?? `error ${e}`;
}

/** Drop reasons of the copies of a broadcast or flooded frame that a host is not the
 *  destination of: no loss of the probe, left out of what it reports. */
const NOT_THE_PROBE = new Set(["arp-not-for-us", "other-host"]);

/** What rose in the drop counters since `before` (per device, per reason), as text. */
export function dropRise(t: Topology, before: Float64Array[]): string {
  const parts: string[] = [];
  for (const d of t.engine.devices) {
    for (let i = 0; i < d.drops.length; i++) {
      if (NOT_THE_PROBE.has(d.reasons[i]!)) continue;
      const n = d.drops[i]! - (before[d.id]?.[i] ?? 0);
      if (n > 0) parts.push(`${d.name}: ${d.reasons[i]}${n > 1 ? ` x${n}` : ""}`);
    }
  }
  return parts.length ? `dropped at ${parts.join(", ")}` : "";
}

export function expectResult(ex: PlanExpect, seen: { reached: boolean; observed: string }, drops: string): ExpectResult {
  return { label: ex.label, reachable: ex.reachable, passed: seen.reached === ex.reachable, observed: drops ? `${seen.observed} (${drops})` : seen.observed };
}
