// UDP flow generator and its sink: N flows (one UDP socket each, so distinct ephemeral source
// ports) from a namespace to DST:DPORT, each sending `pps` packets per second of virtual time,
// `count` packets per flow (or pps x duration), all flows in step: at tick k (time start +
// round(k * 1e9 / pps)) every flow sends its packet k. One Timer per generator, re-armed per
// tick, never one per packet.
//
// Frame size = the Ethernet frame without FCS (what a capture shows): UDP payload = size - 42.
// Payload (big-endian): magic "WYFD" (u32), flow index (u16), 0 (u16), seq from 0 (u32),
// send time in ns (u32 high, u32 low), then zeros. Minimum frame: 62 bytes. With `dns` (flows to
// DNS or mDNS ports, which analyzers decode as DNS by port) that header follows a DNS query for
// "wy." type A (20 bytes: id = seq mod 2^16, RD, one question), so Wireshark and tshark see a
// well-formed query with trailing data rather than a malformed message; minimum frame 82 bytes.
// Datagrams are built in the arena slot (no buffer per packet); IPv4 id/DF as an unconnected UDP
// socket (ip-id.ts: DF, hashed id).
//
// Fixed flows (`fixed`): each flow binds a given source port, is connected to DST:DPORT with its
// IP id counter starting at a given value (a connected socket's ids are its own, Linux's inet_id,
// as iperf's connected UDP sockets send), and writes a given flow index: a flow's frames then
// depend on nothing the other flows do (dataplane/parallel/ runs flows apart and needs that).
//
// FlowSink: a UDP socket on a port that reads that payload and counts per flow, as iperf does:
// received, duplicated (a seq seen before), reordered (a new seq lower than the highest seen),
// lost (expected - distinct seqs; expected = highest seq + 1 unless the caller knows the count),
// and one-way delay min/max/sum, over a sliding window of 65,536 seqs per flow (fixed memory for
// any run length; older arrivals are counted as `late`). Datagrams without the magic are counted
// as `foreign`.

import type { Netns } from "../netns/netns.js";
import { Timer } from "../engine/clock.js";
import { getU16, getU32, setU16, setU32 } from "../../core/bytes.js";
import { L4_AT, sockets, type Sockets } from "./stack.js";
import { UdpSocket } from "./udp-socket.js";
import { checksumFinish } from "../../core/checksum.js";

export const FLOW_MAGIC = 0x57594644;
export const FLOW_HEADER_LEN = 20;
export const FLOW_MIN_FRAME = 14 + 20 + 8 + FLOW_HEADER_LEN;
/** The DNS query ahead of the flow header with `dns`. */
export const FLOW_DNS_PREFIX_LEN = 20;
export const FLOW_DNS_MIN_FRAME = FLOW_MIN_FRAME + FLOW_DNS_PREFIX_LEN;
/** Ports analyzers decode as DNS: flows to them need the `dns` payload. */
export const isDnsPort = (port: number): boolean => port === 53 || port === 5353;
/** The prefix's 16-bit words other than the id, for the checksum: flags 0x0100, qdcount 1, zero
 *  counts, "\x02wy\x00", type A, class IN. */
const DNS_PREFIX_SUM = 0x0100 + 1 + 0x0277 + 0x7900 + 1 + 1;

export interface FlowOptions {
  dst: number;
  dport: number;
  /** Number of flows (default 1). */
  flows?: number;
  /** Ethernet frame size without FCS (default 64). */
  frameSize?: number;
  /** Packets per second per flow. */
  pps: number;
  /** Packets per flow; or give durationNs (count = round(pps * duration)). */
  count?: number;
  durationNs?: number;
  /** IP_PMTUDISC_* of the flows' sockets. */
  pmtudisc?: number;
  /** A DNS query ahead of the flow header (see the file header). */
  dns?: boolean;
  /** One entry per flow (then `flows` is their number): see the header. */
  fixed?: readonly FixedFlow[];
  onDone?: (g: UdpFlowGenerator) => void;
}

export interface FixedFlow {
  /** Flow index written in the payload (what the sink counts by), 0..65535. */
  flow: number;
  sport: number;
  /** Start of the connected socket's IP id counter. */
  inetId: number;
}

export class UdpFlowGenerator {
  readonly socks: UdpSocket[] = [];
  readonly flows: number;
  readonly count: number;
  readonly payloadLen: number;
  readonly dns: boolean;
  readonly periodNs: number;
  /** Datagrams sent per flow; send failures (no route, no buffer, EMSGSIZE) in total. */
  readonly sent: Float64Array;
  /** Flow index each socket writes in its payload. */
  readonly flowIds: Uint16Array;
  sendErrors = 0;
  startAt = 0;
  tick = 0;
  done = false;
  private readonly st: Sockets;
  private readonly timer: Timer;
  private readonly onDone: ((g: UdpFlowGenerator) => void) | null;
  /** Destination in int32 form (stack.ts ipSend). */
  private readonly dst: number;
  private readonly dport: number;

  constructor(readonly ns: Netns, readonly opts: FlowOptions) {
    const fixed = opts.fixed;
    this.flows = fixed ? fixed.length : (opts.flows ?? 1);
    this.dst = opts.dst | 0;
    this.dport = opts.dport & 0xffff;
    this.dns = opts.dns ?? false;
    const size = opts.frameSize ?? (this.dns ? FLOW_DNS_MIN_FRAME : 64);
    const min = this.dns ? FLOW_DNS_MIN_FRAME : FLOW_MIN_FRAME;
    if (size < min) throw new RangeError(`frame size ${size} < ${min}${this.dns ? " (a DNS query ahead of the flow header)" : ""}`);
    if (!(opts.pps > 0)) throw new RangeError(`pps must be > 0`);
    this.payloadLen = size - 42;
    this.count = opts.count ?? Math.round((opts.pps * (opts.durationNs ?? 1e9)) / 1e9);
    this.periodNs = 1e9 / opts.pps;
    this.flowIds = new Uint16Array(this.flows);
    for (let f = 0; f < this.flows; f++) {
      const s = new UdpSocket(ns, opts.pmtudisc !== undefined ? { pmtudisc: opts.pmtudisc } : {});
      const ff = fixed?.[f];
      if (ff === undefined) {
        s.bind(0);
        this.flowIds[f] = f;
      } else {
        s.bind(ff.sport);
        // without a route the flow stays unconnected: its sends fail (counted) as they would
        if (sockets(ns).route(this.dst) >= 0) s.connect(opts.dst >>> 0, this.dport, ff.inetId);
        this.flowIds[f] = ff.flow;
      }
      this.socks.push(s);
    }
    this.st = this.socks[0]?.st as Sockets;
    this.sent = new Float64Array(this.flows);
    this.onDone = opts.onDone ?? null;
    this.timer = new Timer(`udp-flows ${ns.name}`, () => this.fire());
  }

  /** Start at virtual time `at` (default now). */
  start(at = this.ns.engine.clock.now): this {
    this.startAt = at;
    this.tick = 0;
    if (this.count > 0) this.ns.engine.clock.arm(this.timer, at);
    else this.done = true;
    return this;
  }

  private fire(): void {
    const k = this.tick++;
    const socks = this.socks;
    // One route lookup per tick for all flows (same destination, and the table cannot change
    // within a tick), as a connected socket's cached route; source address from it.
    const st = this.st;
    const r = st.route(this.dst);
    const src = r < 0 ? 0 : st.source(r, this.dst);
    const ids = this.flowIds;
    for (let f = 0; f < socks.length; f++) {
      if (this.sendOne(socks[f]!, ids[f]!, k, r, src) < 0) this.sendErrors++;
      else this.sent[f]!++;
    }
    if (this.tick < this.count) this.ns.engine.clock.arm(this.timer, this.startAt + Math.round(this.tick * this.periodNs));
    else {
      this.done = true;
      if (this.onDone !== null) this.onDone(this);
    }
  }

  private sendOne(sk: UdpSocket, flow: number, seq: number, r: number, src: number): number {
    const st = this.st;
    const dst = this.dst;
    if (r < 0) return r;
    const len = this.payloadLen;
    const s = st.alloc(8 + len);
    if (s < 0) return s;
    const a = st.engine.arena;
    const b = a.bytes;
    const udp = a.start(s) + L4_AT;
    let p = udp + 8;
    let pre = 0;
    if (this.dns) {
      setU16(b, p, seq);
      setU32(b, p + 2, 0x01000001);
      setU32(b, p + 6, 0);
      setU16(b, p + 10, 0);
      setU32(b, p + 12, 0x02777900);
      setU32(b, p + 16, 0x00010001);
      p += FLOW_DNS_PREFIX_LEN;
      pre = DNS_PREFIX_SUM + (seq & 0xffff);
    }
    const now = st.engine.clock.now;
    setU32(b, p, FLOW_MAGIC);
    setU16(b, p + 4, flow);
    setU16(b, p + 6, 0);
    setU32(b, p + 8, seq);
    const hi = Math.floor(now / 0x1_0000_0000);
    const lo = (now - hi * 0x1_0000_0000) | 0; // now mod 2^32 without a float `%`
    setU32(b, p + 12, hi);
    setU32(b, p + 16, lo);
    const end = udp + 8 + len;
    if (len < 64 + FLOW_HEADER_LEN) for (let i = p + FLOW_HEADER_LEN; i < end; i++) b[i] = 0; // short: no builtin call
    else b.fill(0, p + FLOW_HEADER_LEN, end);
    // UDP header, checksum from the values written (pseudo-header, header, payload header; the
    // rest of the payload is zeros) rather than by reading the datagram back: equal to
    // udpHeader()'s (the frames are dissected with checksum verification in tests)
    const sport = sk.port, dport = this.dport, l = 8 + len;
    setU16(b, udp, sport);
    setU16(b, udp + 2, dport);
    setU16(b, udp + 4, l);
    const sum = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 17 + l + sport + dport + l +
      (FLOW_MAGIC >>> 16) + (FLOW_MAGIC & 0xffff) + flow + (seq >>> 16) + (seq & 0xffff) + (hi >>> 16) + (hi & 0xffff) + (lo >>> 16) + (lo & 0xffff) + pre;
    const c = checksumFinish(sum);
    setU16(b, udp + 6, c === 0 ? 0xffff : c);
    return st.ipSend(s, sk, 17, src, dst, r);
  }

  close(): void {
    this.ns.engine.clock.cancel(this.timer);
    for (const s of this.socks) s.close();
  }
}

/**
 * Per-flow counters of loss, duplication and reordering (the sink's arithmetic), over a sliding
 * window of the last `window` sequence numbers per flow (a ring bitmap, `window` / 8 bytes per
 * flow, 8 KiB by default), so memory stays fixed however long a run is. A seq inside the window is
 * checked exactly (duplicate, or late = reordered); a seq older than the window cannot be checked
 * for duplication and is counted as received, distinct, reordered and `late`.
 */
export class FlowCounter {
  received = new Float64Array(4);
  distinct = new Float64Array(4);
  duplicated = new Float64Array(4);
  reordered = new Float64Array(4);
  /** Older than the window (also counted in reordered and distinct). */
  late = new Float64Array(4);
  /** Highest seq seen + 1 (0: none). */
  next = new Float64Array(4);
  private bits: (Uint32Array | undefined)[] = [];
  flows = 0;
  private readonly mask: number;

  constructor(readonly window = 1 << 16) {
    if (!Number.isInteger(window) || window < 32 || (window & (window - 1)) !== 0) throw new RangeError(`flow counter window ${window}: must be a power of two >= 32`);
    this.mask = window - 1;
  }

  add(flow: number, seq: number): void {
    if (flow >= this.received.length) this.grow(Math.max(flow + 1, this.received.length * 2));
    if (flow >= this.flows) this.flows = flow + 1;
    this.received[flow]!++;
    let bits = this.bits[flow];
    if (bits === undefined) bits = this.bits[flow] = new Uint32Array(this.window >>> 5); // first packet of the flow
    const next = this.next[flow]!;
    const mask = this.mask;
    if (seq >= next) {
      // the window moves up to seq: the positions of next..seq-1 now stand for seqs not seen yet
      if (seq - next >= this.window) bits.fill(0);
      else for (let q = next; q < seq; q++) bits[(q & mask) >>> 5]! &= ~(1 << (q & 31));
      bits[(seq & mask) >>> 5]! |= 1 << (seq & 31);
      this.distinct[flow]!++;
      this.next[flow] = seq + 1;
      return;
    }
    if (seq < next - this.window) {
      this.late[flow]!++;
      this.distinct[flow]!++;
      this.reordered[flow]!++;
      return;
    }
    const w = (seq & mask) >>> 5, bit = 1 << (seq & 31);
    if ((bits[w]! & bit) !== 0) {
      this.duplicated[flow]!++;
      return;
    }
    bits[w]! |= bit;
    this.distinct[flow]!++;
    this.reordered[flow]!++;
  }

  /** Lost in `flow`: expected (default: highest seq + 1) minus distinct seqs received. */
  lost(flow: number, expected = this.next[flow] ?? 0): number {
    return expected - (this.distinct[flow] ?? 0);
  }

  private grow(n: number): void {
    const f = (a: Float64Array) => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    this.received = f(this.received);
    this.distinct = f(this.distinct);
    this.duplicated = f(this.duplicated);
    this.reordered = f(this.reordered);
    this.late = f(this.late);
    this.next = f(this.next);
  }
}

/** The counts a FlowCounter with `window` must give, computed as plainly as possible with a Set
 *  (reference for tests). */
export function flowCountReference(seqs: readonly number[], window = 1 << 16): { received: number; distinct: number; duplicated: number; reordered: number; late: number; next: number } {
  const seen = new Set<number>();
  let duplicated = 0, reordered = 0, late = 0, max = -1;
  for (const s of seqs) {
    if (max >= 0 && s < max + 1 - window) {
      late++;
      reordered++;
      seen.add(s);
      continue;
    }
    if (seen.has(s)) {
      duplicated++;
      continue;
    }
    seen.add(s);
    if (s < max) reordered++;
    else max = s;
  }
  return { received: seqs.length, distinct: seqs.length - duplicated, duplicated, reordered, late, next: max + 1 };
}

export interface FlowReport {
  flow: number;
  received: number;
  lost: number;
  duplicated: number;
  reordered: number;
  /** Arrived older than the counter's window (also in reordered). */
  late: number;
  /** One-way delay, ns. */
  minDelay: number;
  maxDelay: number;
  avgDelay: number;
}

export class FlowSink {
  readonly sock: UdpSocket;
  readonly counter = new FlowCounter();
  foreign = 0;
  private minDelay = new Float64Array(4).fill(Infinity);
  private maxDelay = new Float64Array(4);
  private sumDelay = new Float64Array(4);

  constructor(readonly ns: Netns, port: number) {
    this.sock = new UdpSocket(ns, { onReceive: (_sk, _s, _src, _sport, off, len) => this.input(off, len) });
    this.sock.bind(port);
  }

  private input(off: number, len: number): void {
    const b = this.ns.engine.arena.bytes;
    if (len < FLOW_HEADER_LEN || getU32(b, off) !== FLOW_MAGIC) {
      // behind the DNS query of a flow to a DNS port, or not a flow's
      if (len < FLOW_HEADER_LEN + FLOW_DNS_PREFIX_LEN || getU32(b, off + FLOW_DNS_PREFIX_LEN) !== FLOW_MAGIC) {
        this.foreign++;
        return;
      }
      off += FLOW_DNS_PREFIX_LEN;
      len -= FLOW_DNS_PREFIX_LEN;
    }
    const flow = getU16(b, off + 4);
    const c = this.counter;
    c.add(flow, getU32(b, off + 8));
    if (flow >= this.minDelay.length) {
      const n = c.received.length;
      const g = (a: Float64Array, fill: number) => {
        const x = new Float64Array(n).fill(fill);
        x.set(a);
        return x;
      };
      this.minDelay = g(this.minDelay, Infinity);
      this.maxDelay = g(this.maxDelay, 0);
      this.sumDelay = g(this.sumDelay, 0);
    }
    const d = this.ns.engine.clock.now - (getU32(b, off + 12) * 0x1_0000_0000 + getU32(b, off + 16));
    if (d < this.minDelay[flow]!) this.minDelay[flow] = d;
    if (d > this.maxDelay[flow]!) this.maxDelay[flow] = d;
    this.sumDelay[flow]! += d;
  }

  /** Per-flow report; `expected` = packets each flow sent, when known (tail loss counts then). */
  report(expected?: number): FlowReport[] {
    const c = this.counter;
    const out: FlowReport[] = [];
    for (let f = 0; f < c.flows; f++) {
      const n = c.received[f]!;
      out.push({
        flow: f,
        received: n,
        lost: c.lost(f, expected),
        duplicated: c.duplicated[f]!,
        reordered: c.reordered[f]!,
        late: c.late[f]!,
        minDelay: n ? this.minDelay[f]! : 0,
        maxDelay: this.maxDelay[f]!,
        avgDelay: n ? this.sumDelay[f]! / n : 0,
      });
    }
    return out;
  }

  close(): void {
    this.sock.close();
  }
}

/** Start `opts.flows` flows from `ns` now. */
export function udpFlows(ns: Netns, opts: FlowOptions): UdpFlowGenerator {
  return new UdpFlowGenerator(ns, opts).start();
}
