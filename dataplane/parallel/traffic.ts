// The traffic of a run plan as the executor (dataplane/run.ts) runs it, in one thread or as one
// shard of a parallel run: per item its receivers, its warm-up probe, its generators for the flows
// this shard owns, and its counters.
//
// Every shard sets up the same receivers and stacks (so every replica has the same devices and
// bound ports) and sends the same warm-up probes; only the generators differ, each shard making
// the flows whose symmetric 5-tuple hash falls on it (flows.ts):
//   ping   Pinger with the item's ICMP id (the whole item is one flow)
//   udp    UdpFlowGenerator with fixed flows: per flow its own source port, a connected socket
//          whose IP ids start at a per-flow value, its sequence number as payload flow index;
//          a FlowSink (one per namespace:port) at the sink; `packets` and `ratePps` are per flow
//   tcp    TcpFlowGenerator with a source port per connection; a TcpSink at the sink; TCP stacks
//          in secureNumbers mode (ISN etc. from the connection's 4-tuple, endpoint/tcp.ts)
//   replay the whole file, on the shard its item index hashes to (frames are not split by flow)
// Warm-up probes (before any traffic, identical in every shard): ping, one echo; udp, one
// datagram to dst:dport from the item's probe port (a DNS query to DNS's ports); tcp, a connection from its probe port closed
// once established. They resolve neighbours and teach bridges along the path, so no flow's first
// packet waits on ARP or floods, whatever the shard.
//
// Counters: ping sent/received = echo requests/replies, bytes as frames (42 + size); udp sent =
// datagrams sent, received = datagrams the sink counted for these flows (duplicates included),
// lost = sent - distinct received (no sink: all), bytes as frames (size); tcp sent = connections,
// received = connections completed, lost = the others, bytesSent = connections x bytes,
// bytesReceived = bytes the peer acknowledged; replay sent = frames injected, received 0, lost =
// frames the replay dropped (no buffer, queue full, no carrier), bytes 0.

import type { Topology } from "../topology.js";
import type { Netns } from "../netns/netns.js";
import type { PlanTraffic, RunPlan, TrafficResult } from "../plan.js";
import { parseIpv4 } from "../../core/addr.js";
import { sockets } from "../endpoint/stack.js";
import { Pinger } from "../endpoint/ping.js";
import { UdpSocket } from "../endpoint/udp-socket.js";
import { FlowSink, UdpFlowGenerator, isDnsPort } from "../endpoint/udp-flows.js";
import { TcpFlowGenerator, TcpSink } from "../endpoint/tcp-flows.js";
import { TCP_SYN_SENT, TcpSocket, tcpStack, type TcpApp } from "../endpoint/tcp.js";
import { replayPcap, type PcapReplay, type ReplayTarget } from "../endpoint/replay.js";
import { flowHash, mix, shardOf, type ItemSeq, type PlanFlows } from "./flows.js";

export interface Shard {
  index: number;
  count: number;
  /** The shard of a flow hash (an RSS indirection table, `indirection`); absent: hash mod count. */
  owner?: (h: number) => number;
}

/** Buckets of the indirection table (a power of two). */
export const RSS_BUCKETS = 256;

/** The shard of flow hash `h`. */
export function shardOfHash(shard: Shard, h: number): number {
  return shard.owner ? shard.owner(h) : shardOf(h, shard.count);
}

/** The flows of a ping, udp or tcp item as the shards see them: the source address its
 *  namespace would use towards the destination (0: no route), and per flow its sequence number
 *  and symmetric 5-tuple hash (pairs in `flows`; a ping item is one flow, hashed without ids). */
function itemFlows(t: Topology, tr: Exclude<PlanTraffic, { kind: "replay" }>, seq: ItemSeq, ids: PlanFlows, who: string): { ns: Netns; src: number; dst: number; flows: number[] } {
  const ns = context(who, () => t.ns(tr.from));
  const dst = context(who, () => parseIpv4(tr.dst));
  const st = sockets(ns);
  const r = st.route(dst | 0);
  const src = r < 0 ? 0 : st.source(r, dst | 0) >>> 0;
  const flows: number[] = [];
  if (tr.kind === "ping") flows.push(seq.first, flowHash(src, dst, 1, 0, 0));
  else {
    for (let k = seq.first; k < seq.first + seq.count; k++) {
      const port = tr.kind === "udp" ? ids.udpPort(k) : ids.tcpPort(k);
      flows.push(k, flowHash(src, dst, tr.kind === "udp" ? 17 : 6, port, tr.dport));
    }
  }
  return { ns, src, dst, flows };
}

/**
 * An RSS indirection table for `count` shards, as a NIC's (ethtool -X) spreads hash buckets over
 * queues: every flow of the plan (UDP flows, TCP connections, pings; each weighted by the packets
 * it will send) is hashed as the shards hash it, the RSS_BUCKETS buckets of the hash's low bits
 * are weighed, and the buckets are dealt heaviest first to the least loaded shard (ties: lower
 * bucket, lower shard). Hash mod count left ~500 +- 16 of 1,000 equal flows per shard of 2, and
 * a run waits for its slowest worker. Every shard computes the same table from the same plan.
 */
export function indirection(t: Topology, plan: RunPlan, ids: PlanFlows, count: number): (h: number) => number {
  const weight = new Float64Array(RSS_BUCKETS);
  plan.traffic.forEach((tr, i) => {
    if (tr.kind === "replay") return;
    const w = tr.kind === "udp" ? tr.packets : tr.kind === "tcp" ? 1 + Math.ceil(tr.bytes / 1448) : tr.count;
    const { flows } = itemFlows(t, tr, ids.items[i]!, ids, `traffic ${i} (${tr.id})`);
    for (let j = 0; j < flows.length; j += 2) weight[flows[j + 1]! & (RSS_BUCKETS - 1)]! += w;
  });
  const order = Array.from({ length: RSS_BUCKETS }, (_, b) => b).sort((a, b) => weight[b]! - weight[a]! || a - b);
  const load = new Float64Array(count);
  const table = new Uint8Array(RSS_BUCKETS);
  for (const b of order) {
    let best = 0;
    for (let w = 1; w < count; w++) if (load[w]! < load[best]!) best = w;
    table[b] = best;
    load[best]! += weight[b]!;
  }
  return (h) => table[h & (RSS_BUCKETS - 1)]!;
}

/** Payload of a warm-up datagram ("WYWU"): not a flow's, a FlowSink counts it as foreign. */
const WARM_MAGIC = Uint8Array.from([0x57, 0x59, 0x57, 0x55, 0, 0, 0, 0]);

/** DNS's ports: a datagram of ours to one of them is a DNS query, so that an analyzer decoding
 *  the port as DNS finds a well-formed message. */
export const DNS_PORTS = new Set([53, 5353]);

/** A DNS query (RFC 1035: id, RD, one question, type A, class IN) for `name`. */
export function dnsQuery(id: number, name: string): Uint8Array {
  const labels = name.split(".").map((l) => new TextEncoder().encode(l));
  const q = new Uint8Array(12 + labels.reduce((n, l) => n + 1 + l.length, 0) + 1 + 4);
  q.set([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  let o = 12;
  for (const l of labels) {
    q[o++] = l.length;
    q.set(l, o);
    o += l.length;
  }
  q.set([0, 0, 1, 0, 1], o);
  return q;
}

/** Receivers shared by the items that send to the same namespace and port. */
export class Receivers {
  readonly udp = new Map<string, FlowSink>();
  readonly tcp = new Map<string, TcpSink>();
  constructor(private readonly t: Topology) {}

  udpAt(ns: string, port: number, who: string): FlowSink {
    const k = `${ns}:${port}`;
    let s = this.udp.get(k);
    if (!s) this.udp.set(k, (s = context(who, () => new FlowSink(this.t.ns(ns), port))));
    return s;
  }

  tcpAt(ns: string, port: number, who: string): TcpSink {
    const k = `${ns}:${port}`;
    let s = this.tcp.get(k);
    if (!s) {
      const n = this.t.ns(ns);
      tcpStack(n).secureNumbers = true;
      this.tcp.set(k, (s = context(who, () => new TcpSink(n, port))));
    }
    return s;
  }
}

/** One traffic item of the plan in this shard. */
export class TrafficItem {
  readonly label: string;
  readonly ns: Netns | null;
  readonly dst: number;
  /** The source address the from-namespace picks towards dst (0: no route). */
  readonly src: number;
  /** Sequence numbers (flows.ts) of the flows this shard runs. */
  readonly owned: number[] = [];
  /** Virtual time the item's flows here finished (-Infinity: none run here). */
  doneAt = -Infinity;
  done = true;
  private readonly who: string;
  private sink: FlowSink | TcpSink | null = null;
  private pinger: Pinger | null = null;
  private udpGen: UdpFlowGenerator | null = null;
  private tcpGen: TcpFlowGenerator | null = null;
  private replay: PcapReplay | null = null;
  private unsent = 0;
  private warmed: Warm | null = null;

  constructor(private readonly t: Topology, readonly tr: PlanTraffic, readonly index: number, private readonly ids: PlanFlows, shard: Shard, rx: Receivers) {
    this.who = `traffic ${index} (${tr.id})`;
    if (tr.kind === "replay") {
      this.ns = null;
      this.dst = 0;
      this.src = 0;
      this.label = `replay ${tr.file} into ${tr.into} (${tr.mode})`;
      if (shardOf(mix(index, 0x72706c79), shard.count) === shard.index) this.owned.push(0);
      return;
    }
    const { ns, src, dst, flows } = itemFlows(t, tr, ids.items[index]!, ids, this.who);
    this.ns = ns;
    this.src = src;
    this.dst = dst;
    for (let j = 0; j < flows.length; j += 2) if (shardOfHash(shard, flows[j + 1]!) === shard.index) this.owned.push(flows[j]!);
    if (tr.kind === "ping") {
      this.label = `${tr.from} -> ${tr.dst} icmp x${tr.count}`;
      return;
    }
    if (tr.kind === "udp") {
      this.label = `${tr.from} -> ${tr.dst} udp/${tr.dport} x${tr.flows} flows`;
      if (tr.sink) this.sink = rx.udpAt(tr.sink.ns, tr.sink.port, this.who);
    } else {
      this.label = `${tr.from} -> ${tr.dst} tcp/${tr.dport} x${tr.connections} connections of ${tr.bytes} B`;
      tcpStack(ns).secureNumbers = true;
      if (tr.sink) this.sink = rx.tcpAt(tr.sink.ns, tr.sink.port, this.who);
    }
  }

  /** Send the warm-up probe (every shard alike). */
  warm(): void {
    const { tr, ns, ids } = this;
    if (ns === null || tr.kind === "replay") return;
    const seq = ids.items[this.index]!.warm;
    this.warmed = context(this.who, () => warmUp(ns, this.dst, tr.kind === "ping" ? "icmp" : tr.kind, tr.kind === "ping" ? 0 : tr.dport, seq, ids));
  }

  /** After the warm-up: its sockets are closed (a SYN still unanswered is given up). */
  endWarm(): void {
    this.warmed?.end();
  }

  /** Start this shard's flows of the item. */
  start(): void {
    const { tr, ns, ids, t } = this;
    if (this.owned.length === 0) return;
    const clock = t.engine.clock;
    this.done = false;
    const finished = () => {
      this.done = true;
      this.doneAt = clock.now;
    };
    const at = Math.max(tr.startNs, clock.now);
    if (tr.kind === "replay") {
      this.replay = context(this.who, () => replayPcap(t.engine, tr.file, replayTarget(t, tr.into), { mode: tr.mode, speed: tr.timing === "asap" ? "asap" : 1, startAt: at, onDone: finished }));
      return;
    }
    if (tr.kind === "ping") {
      this.pinger = new Pinger(ns!, this.dst, { count: tr.count, intervalNs: tr.intervalNs, size: tr.size, ident: ids.icmpId(this.owned[0]!), onDone: finished }).start(at);
      return;
    }
    if (tr.kind === "udp") {
      const fixed = this.owned.map((k) => ({ flow: k, sport: ids.udpPort(k), inetId: ids.udpInetId(k) }));
      // a DNS or mDNS port on the way (as sent, or at the socket after DNAT): the flows carry a
      // DNS query ahead of their header, so analyzers decoding by port see well-formed queries
      const dns = isDnsPort(tr.dport) || (tr.sink !== null && isDnsPort(tr.sink.port));
      const g = (this.udpGen = context(this.who, () => new UdpFlowGenerator(ns!, { dst: this.dst, dport: tr.dport, fixed, frameSize: tr.size, pps: tr.ratePps, count: tr.packets, dns, onDone: finished })));
      g.start(at);
      if (g.done) finished(); // nothing to send
      return;
    }
    if (this.src === 0) {
      // no route: every connect() would fail with ENETUNREACH
      this.unsent = this.owned.length;
      finished();
      return;
    }
    this.tcpGen = new TcpFlowGenerator(ns!, { dst: this.dst, dport: tr.dport, bytes: tr.bytes, sports: this.owned.map((k) => ids.tcpPort(k)), onDone: finished }).start(at);
  }

  result(): TrafficResult {
    const { tr } = this;
    const out: TrafficResult = { id: tr.id, kind: tr.kind, label: this.label, sent: 0, received: 0, lost: 0, bytesSent: 0, bytesReceived: 0 };
    if (this.pinger) {
      const p = this.pinger;
      const frame = 42 + (tr.kind === "ping" ? tr.size : 0);
      out.sent = p.transmitted;
      out.received = p.received;
      out.lost = p.transmitted - p.received;
      out.bytesSent = p.transmitted * frame;
      out.bytesReceived = p.received * frame;
    } else if (this.udpGen && tr.kind === "udp") {
      const g = this.udpGen;
      for (let f = 0; f < g.flows; f++) out.sent += g.sent[f]!;
      let distinct = 0;
      if (this.sink instanceof FlowSink) {
        const c = this.sink.counter;
        for (const k of this.owned) {
          out.received += c.received[k] ?? 0;
          distinct += c.distinct[k] ?? 0;
        }
      }
      out.lost = Math.max(0, out.sent - distinct);
      out.bytesSent = out.sent * tr.size;
      out.bytesReceived = out.received * tr.size;
    } else if (tr.kind === "tcp" && (this.tcpGen || this.unsent)) {
      out.sent = this.owned.length;
      out.received = this.tcpGen?.complete ?? 0;
      out.lost = out.sent - out.received;
      out.bytesSent = out.sent * tr.bytes;
      for (const sk of this.tcpGen?.socks ?? []) out.bytesReceived += sk.bytesAcked;
    } else if (this.replay) {
      const r = this.replay.result;
      out.sent = r.injected;
      out.lost = r.dropped["no-buffer"] + r.dropped["queue-full"] + r.dropped["no-carrier"];
    }
    return out;
  }
}

export interface Warm {
  /** Close what the probe opened. */
  end(): void;
}

/**
 * A warm-up probe from `ns` to dst (every shard sends the same): icmp, one echo request with id
 * `icmpId(seq)`; udp, one datagram to `dport` from `udpPort(seq)`; tcp, a connection to `dport`
 * from `tcpPort(seq)`, closed once established (given up at `end` if still unanswered).
 */
export function warmUp(ns: Netns, dst: number, proto: "icmp" | "udp" | "tcp", dport: number, seq: number, ids: PlanFlows): Warm {
  if (proto === "icmp") {
    new Pinger(ns, dst, { count: 1, ident: ids.icmpId(seq), intervalNs: 1e9, lingerNs: 1e9 }).start();
    return { end() {} };
  }
  if (proto === "udp") {
    const s = new UdpSocket(ns);
    s.bind(ids.udpPort(seq));
    s.sendTo(dst, dport, DNS_PORTS.has(dport) ? dnsQuery(seq & 0xffff, "warm-up.wireyard.test") : WARM_MAGIC);
    return { end: () => s.close() };
  }
  if (sockets(ns).route(dst | 0) < 0) return { end() {} };
  const app: TcpApp = { connected: (sk) => sk.close(), received() {}, eof: (sk) => sk.close(), closed() {} };
  const sk = new TcpSocket(tcpStack(ns), app).connect(dst, dport, ids.tcpPort(seq));
  return {
    end() {
      if (sk.state === TCP_SYN_SENT) sk.close();
    },
  };
}

/** The device port a capture point `ref` names: a namespace's interface or a bridge port. */
function replayTarget(t: Topology, ref: string): ReplayTarget {
  const info = t.dev(ref);
  if (info.kind === "interface") return { device: info.ns, port: info.port };
  if (info.kind === "bridge-port") return { device: info.bridge, port: info.port };
  throw new Error(`"${ref}" is in no namespace and on no bridge: nothing to replay into`);
}

/** The items of `plan` for this shard. */
export function trafficItems(t: Topology, plan: RunPlan, ids: PlanFlows, shard: Shard, rx: Receivers): TrafficItem[] {
  return plan.traffic.map((tr, i) => new TrafficItem(t, tr, i, ids, shard, rx));
}

/** Run `f`; an error gets `who` in front of its message. */
export function context<T>(who: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    if (!e.message.startsWith(who)) e.message = `${who}: ${e.message}`;
    throw e;
  }
}
