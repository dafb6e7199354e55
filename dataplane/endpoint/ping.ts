// ping (iputils) from a namespace: `ping -c COUNT -i INTERVAL -s SIZE DST`.
//
// Echo requests as iputils ping sends them from a raw ICMP socket: ICMP id = the process id
// (here a number from the namespace's socket RNG stream), seq from 1, SIZE data bytes filled
// with i & 0xff at offset i, the first 16 overwritten by the send time as a struct timeval
// (tv_sec, tv_usec: 64-bit little-endian, as on x86_64) — the virtual clock's time, so runs stay
// deterministic. IP: TTL 64, and as a raw socket in the default PMTU mode, DF with an id from
// the hashed generator (ip-id.ts; BEHAVIOR.md 5.1).
// One request every INTERVAL from start (one Timer, re-armed). Replies are matched by id; each
// seq counts once (a second reply is a duplicate); RTT = receive time - send time of that seq.
// ICMP errors quoting our requests count as errors. Finished when replies + errors reach COUNT,
// or `lingerNs` (ping's MAXWAIT, 10 s) after the last request.
// Summary as ping prints it:
//   3 packets transmitted, 3 received, 0% packet loss, time 2000ms
//   rtt min/avg/max/mdev = 0.000/0.000/0.000/0.000 ms

import type { Netns } from "../netns/netns.js";
import { Timer } from "../engine/clock.js";
import { getU16, getU32, setU16 } from "../../core/bytes.js";
import { internetChecksum } from "../../core/checksum.js";
import { formatIpv4 } from "../../core/addr.js";
import { IP_PMTUDISC_WANT } from "./ip-id.js";
import { L4_AT, sockets, type IcmpListener, type SendSocket, type Sockets } from "./stack.js";

export interface PingOptions {
  /** -c (default 3). */
  count?: number;
  /** -i in ns (default 1 s). */
  intervalNs?: number;
  /** -s data bytes (default 56). */
  size?: number;
  /** -t (default 64). */
  ttl?: number;
  /** -M: IP_PMTUDISC_* (default WANT). */
  pmtudisc?: number;
  /** ICMP id (default: random, as a process id). */
  ident?: number;
  /** Wait after the last request (default 10 s). */
  lingerNs?: number;
  onDone?: (p: Pinger) => void;
}

export class Pinger implements SendSocket, IcmpListener {
  readonly st: Sockets;
  readonly count: number;
  readonly intervalNs: number;
  readonly size: number;
  readonly ident: number;
  readonly lingerNs: number;
  ttl: number;
  tos = 0;
  pmtudisc: number;
  daddr = 0; // a raw socket is not connected
  inetId = 0;
  transmitted = 0;
  received = 0;
  duplicates = 0;
  errors = 0;
  /** Send failures (no route, no buffer): ping's "sendmsg" errors. */
  sendErrors = 0;
  /** RTT of each seq in ns (index seq - 1), NaN until answered. */
  readonly rtt: Float64Array;
  readonly sentAt: Float64Array;
  startedAt = -1;
  finishedAt = -1;
  done = false;
  onDone: ((p: Pinger) => void) | null;
  private readonly timer: Timer;

  constructor(readonly ns: Netns, readonly dst: number, opts: PingOptions = {}) {
    this.st = sockets(ns);
    this.count = opts.count ?? 3;
    this.intervalNs = opts.intervalNs ?? 1e9;
    this.size = opts.size ?? 56;
    this.ttl = opts.ttl ?? 64;
    this.pmtudisc = opts.pmtudisc ?? IP_PMTUDISC_WANT;
    this.lingerNs = opts.lingerNs ?? 10e9;
    this.onDone = opts.onDone ?? null;
    let id = opts.ident ?? this.st.rng.u32() & 0xffff;
    while (this.st.echoListeners.has(id)) id = (id + 1) & 0xffff;
    this.ident = id;
    this.rtt = new Float64Array(this.count).fill(NaN);
    this.sentAt = new Float64Array(this.count);
    this.timer = new Timer(`ping ${ns.name}`, () => this.tick());
  }

  /** Start at virtual time `at` (default now). */
  start(at = this.st.engine.clock.now): this {
    this.st.echoListeners.set(this.ident, this);
    this.st.engine.clock.arm(this.timer, at);
    return this;
  }

  private tick(): void {
    const now = this.st.engine.clock.now;
    if (this.transmitted < this.count) {
      if (this.startedAt < 0) this.startedAt = now;
      this.sendEcho(now);
      if (this.transmitted < this.count) this.st.engine.clock.after(this.timer, this.intervalNs);
      else this.st.engine.clock.after(this.timer, this.lingerNs);
    } else this.finish();
  }

  private sendEcho(now: number): void {
    const st = this.st;
    const seq = ++this.transmitted;
    this.sentAt[seq - 1] = now;
    const dst = this.dst | 0;
    const r = st.route(dst);
    if (r < 0) {
      this.sendErrors++;
      return;
    }
    const src = st.source(r, dst);
    const s = st.alloc(8 + this.size);
    if (s < 0) {
      this.sendErrors++;
      return;
    }
    const a = st.engine.arena;
    const b = a.bytes;
    const c = a.start(s) + L4_AT;
    b[c] = 8;
    b[c + 1] = 0;
    setU16(b, c + 2, 0);
    setU16(b, c + 4, this.ident);
    setU16(b, c + 6, seq & 0xffff);
    const d = c + 8;
    const n = this.size;
    for (let i = 0; i < n; i++) b[d + i] = i & 0xff;
    if (n >= 16) writeTimeval(b, d, now);
    setU16(b, c + 2, internetChecksum(b, c, 8 + n));
    if (st.ipSend(s, this, 1, src, dst, r) < 0) this.sendErrors++;
  }

  echoReply(_s: number, ip: number, icmp: number): void {
    if (this.done) return;
    const b = this.st.engine.arena.bytes;
    if ((getU32(b, ip + 12) | 0) !== (this.dst | 0)) return;
    const seq = getU16(b, icmp + 6);
    if (seq < 1 || seq > this.transmitted) return;
    if (this.rtt[seq - 1] === this.rtt[seq - 1]) {
      this.duplicates++;
      return;
    }
    this.rtt[seq - 1] = this.st.engine.clock.now - this.sentAt[seq - 1]!;
    this.received++;
    if (this.received + this.errors >= this.count) this.finish();
  }

  icmpError(_s: number, _ip: number, _icmp: number, quoted: number): void {
    if (this.done) return;
    const b = this.st.engine.arena.bytes;
    if ((getU32(b, quoted + 16) | 0) !== (this.dst | 0)) return;
    this.errors++;
    if (this.transmitted >= this.count && this.received + this.errors >= this.count) this.finish();
  }

  private finish(): void {
    this.done = true;
    this.finishedAt = this.st.engine.clock.now;
    this.st.engine.clock.cancel(this.timer);
    this.st.echoListeners.delete(this.ident);
    if (this.onDone !== null) this.onDone(this);
  }

  /** Packet loss in percent as ping computes it (integer division of the lost share). */
  get lossPercent(): number {
    return this.transmitted ? Math.floor(((this.transmitted - this.received) * 100) / this.transmitted) : 0;
  }

  /** RTT statistics in ns over the answered seqs (ping's min/avg/max/mdev). */
  stats(): { min: number; avg: number; max: number; mdev: number } {
    let min = Infinity, max = 0, sum = 0, sum2 = 0, n = 0;
    for (const t of this.rtt) {
      if (t !== t) continue;
      n++;
      sum += t;
      sum2 += t * t;
      if (t < min) min = t;
      if (t > max) max = t;
    }
    if (n === 0) return { min: 0, avg: 0, max: 0, mdev: 0 };
    const avg = sum / n;
    return { min, avg, max, mdev: Math.sqrt(Math.max(0, sum2 / n - avg * avg)) };
  }

  /** ping's closing lines. */
  summary(): string {
    const end = this.finishedAt >= 0 ? this.finishedAt : this.st.engine.clock.now;
    const ms = Math.floor((end - Math.max(0, this.startedAt) + 500_000) / 1e6);
    const extra = (this.duplicates ? `, +${this.duplicates} duplicates` : "") + (this.errors ? `, +${this.errors} errors` : "");
    const lines = [
      `--- ${formatIpv4(this.dst)} ping statistics ---`,
      `${this.transmitted} packets transmitted, ${this.received} received${extra}, ${this.lossPercent}% packet loss, time ${ms}ms`,
    ];
    if (this.received) {
      const s = this.stats();
      const f = (ns: number) => (Math.floor(ns / 1000) / 1000).toFixed(3);
      lines.push(`rtt min/avg/max/mdev = ${f(s.min)}/${f(s.avg)}/${f(s.max)}/${f(s.mdev)} ms`);
    }
    return lines.join("\n");
  }
}

/** struct timeval { tv_sec; tv_usec } (64-bit little-endian each) of virtual time `ns`. */
export function writeTimeval(b: Uint8Array, off: number, ns: number): void {
  const sec = Math.floor(ns / 1e9);
  const usec = Math.floor((ns - sec * 1e9) / 1e3);
  setU32LE(b, off, sec % 0x1_0000_0000);
  setU32LE(b, off + 4, Math.floor(sec / 0x1_0000_0000));
  setU32LE(b, off + 8, usec);
  setU32LE(b, off + 12, 0);
}

function setU32LE(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

/** `ping -c COUNT DST` from `ns`, started now. */
export function ping(ns: Netns, dst: number, opts: PingOptions = {}): Pinger {
  return new Pinger(ns, dst, opts).start();
}

