// TCP connect-and-send generator and its sink (tcp.ts underneath).
//
// TcpFlowGenerator: N connections from a namespace to DST:DPORT, each from its own ephemeral port
// (or the ports given in `sports`).
// Each connects, and once established sends `bytes` bytes (the stream pattern of tcp.ts:
// byte k = k mod 251) in MSS-sized segments, the last with PSH, then closes (FIN after the data).
// Connections start together, or `intervalNs` apart (one Timer, re-armed per start). A connection
// is complete when both FINs are exchanged and its own acknowledged (it then sits in TIME_WAIT
// for 60 s of virtual time), failed when refused, reset or timed out (an unanswered SYN gives up
// after 131 s, tcp.ts). `done` once every connection is complete or failed.
//
// TcpSink: a listener on a port counting, per accepted connection, the bytes received and the
// bytes that differ from the pattern (0 when the stream arrived intact and in order); it closes
// each connection when the peer does, so its FIN carries the ACK of the peer's FIN, as a server
// that reads to EOF and closes does.

import type { Netns } from "../netns/netns.js";
import { Timer } from "../engine/clock.js";
import { tcpPatternCheck, tcpStack, TcpSocket, TCP_STATE_NAMES, type TcpApp, type TcpListener, type TcpStack } from "./tcp.js";

export interface TcpFlowOptions {
  dst: number;
  dport: number;
  /** Number of connections (default 1). */
  connections?: number;
  /** Bytes each connection sends. */
  bytes: number;
  /** Virtual time between two connections' starts (default 0: all at once). */
  intervalNs?: number;
  /** Source port of each connection (then `connections` is their number); default ephemeral. */
  sports?: readonly number[];
  onDone?: (g: TcpFlowGenerator) => void;
}

export interface TcpFlowReport {
  conn: number;
  sport: number;
  state: string;
  /** Negative errno, 0 when complete. */
  error: number;
  bytesAcked: number;
  /** ns from the SYN to establishment, and to completion (-1: not reached). */
  connectNs: number;
  completeNs: number;
}

export class TcpFlowGenerator implements TcpApp {
  readonly stack: TcpStack;
  readonly socks: TcpSocket[] = [];
  readonly connections: number;
  readonly bytes: number;
  readonly intervalNs: number;
  /** Virtual time each connection completed or failed (-1 before). */
  readonly endedAt: Float64Array;
  complete = 0;
  failed = 0;
  done = false;
  private started = 0;
  private startAt = 0;
  private readonly timer: Timer;
  private readonly onDone: ((g: TcpFlowGenerator) => void) | null;

  constructor(readonly ns: Netns, readonly opts: TcpFlowOptions) {
    this.connections = opts.sports ? opts.sports.length : (opts.connections ?? 1);
    this.bytes = opts.bytes;
    this.intervalNs = opts.intervalNs ?? 0;
    if (!(this.connections >= 1) || !Number.isInteger(this.connections)) throw new RangeError(`connections must be a positive integer (${this.connections})`);
    if (!(this.bytes >= 0) || !Number.isInteger(this.bytes)) throw new RangeError(`bytes must be a non-negative integer (${this.bytes})`);
    this.stack = tcpStack(ns);
    this.endedAt = new Float64Array(this.connections).fill(-1);
    this.onDone = opts.onDone ?? null;
    this.timer = new Timer(`tcp-flows ${ns.name}`, () => this.fire());
  }

  /** Start at virtual time `at` (default now). */
  start(at = this.ns.engine.clock.now): this {
    this.startAt = at;
    this.ns.engine.clock.arm(this.timer, at);
    return this;
  }

  private fire(): void {
    const clock = this.ns.engine.clock;
    do {
      const sk = new TcpSocket(this.stack, this);
      sk.tag = this.started++;
      this.socks.push(sk);
      sk.connect(this.opts.dst, this.opts.dport, this.opts.sports?.[sk.tag] ?? 0);
    } while (this.started < this.connections && this.intervalNs === 0);
    if (this.started < this.connections) clock.arm(this.timer, this.startAt + this.started * this.intervalNs);
  }

  connected(sk: TcpSocket): void {
    if (this.bytes > 0) sk.send(this.bytes);
    sk.close();
  }

  received(): void {}

  eof(): void {}

  closed(sk: TcpSocket): void {
    this.endedAt[sk.tag] = this.ns.engine.clock.now;
    if (sk.error === 0 && sk.bytesAcked === this.bytes) this.complete++;
    else this.failed++;
    if (this.complete + this.failed === this.connections) {
      this.done = true;
      if (this.onDone !== null) this.onDone(this);
    }
  }

  report(): TcpFlowReport[] {
    return this.socks.map((sk, i) => ({
      conn: i,
      sport: sk.lport,
      state: TCP_STATE_NAMES[sk.state]!,
      error: sk.error,
      bytesAcked: sk.bytesAcked,
      connectNs: sk.establishedAt < 0 ? -1 : sk.establishedAt - sk.openedAt,
      completeNs: this.endedAt[i]! < 0 || sk.error !== 0 ? -1 : this.endedAt[i]! - sk.openedAt,
    }));
  }

  /** Close every connection still open (cold). */
  close(): void {
    this.ns.engine.clock.cancel(this.timer);
    for (const sk of this.socks) sk.close();
  }
}

export interface TcpSinkReport {
  conn: number;
  /** The peer's address (uint32) and port. */
  peer: number;
  peerPort: number;
  bytes: number;
  /** Bytes that differed from the pattern at their stream offset. */
  corrupt: number;
  state: string;
}

export class TcpSink implements TcpApp {
  readonly listener: TcpListener;
  readonly conns: TcpSocket[] = [];
  /** Per connection (accept order): bytes received, bytes not matching the pattern. */
  bytes = new Float64Array(16);
  corrupt = new Float64Array(16);
  /** Connections whose peer closed, and that ended. */
  eofs = 0;
  ended = 0;

  constructor(readonly ns: Netns, port: number, readonly verify = true) {
    this.listener = tcpStack(ns).listen(port, this);
  }

  connected(sk: TcpSocket): void {
    const i = this.conns.length;
    sk.tag = i;
    this.conns.push(sk);
    if (i === this.bytes.length) {
      const grow = (a: Float64Array) => {
        const g = new Float64Array(a.length * 2);
        g.set(a);
        return g;
      };
      this.bytes = grow(this.bytes);
      this.corrupt = grow(this.corrupt);
    }
  }

  received(sk: TcpSocket, off: number, len: number): void {
    const i = sk.tag;
    if (this.verify) this.corrupt[i]! += tcpPatternCheck(this.ns.engine.arena.bytes, off, sk.rcvNxt - len, len);
    this.bytes[i]! += len;
  }

  eof(sk: TcpSocket): void {
    this.eofs++;
    sk.close();
  }

  closed(): void {
    this.ended++;
  }

  /** Total bytes received over every connection. */
  get total(): number {
    let t = 0;
    for (let i = 0; i < this.conns.length; i++) t += this.bytes[i]!;
    return t;
  }

  report(): TcpSinkReport[] {
    return this.conns.map((sk, i) => ({ conn: i, peer: sk.raddr >>> 0, peerPort: sk.rport, bytes: this.bytes[i]!, corrupt: this.corrupt[i]!, state: TCP_STATE_NAMES[sk.state]! }));
  }

  close(): void {
    this.listener.close();
  }
}

/** Start `opts.connections` connections from `ns` now. */
export function tcpFlows(ns: Netns, opts: TcpFlowOptions): TcpFlowGenerator {
  return new TcpFlowGenerator(ns, opts).start();
}
