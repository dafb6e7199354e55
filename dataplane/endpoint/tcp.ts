// A small TCP for container endpoints: listen/accept, connect, send, close, and the resets of
// closed ports, behaving on the wire as Linux 6.x does (net/ipv4/tcp_*.c), checked against kernel
// captures (scripts/capture-fixtures-tcp.sh, dataplane/endpoint/fixtures/tcp-*.hex).
//
// One TcpStack per namespace, created on first use by `tcpStack(ns)`: an engine device named
// "<ns>/tcp" with no ports that owns the TCP port space, the listeners, the connection table (open
// addressing over an Int32Array: no allocation per lookup) and the drop reasons. It installs
// itself as the namespace's `tcp` hook; segments are built in arena slots and sent through the
// namespace's socket layer (stack.ts: route, source address, IP id, output).
//
// What goes on the wire, as Linux:
//   SYN       window 64240 (rounddown(65536, 1460)), options mss (MTU - 40), sackOK, TS (virtual
//             ms + a per-connection random offset, ecr 0), nop, wscale 7 (ilog2(tcp_rmem[2] =
//             6 MiB) - 15); ISN from the namespace's RNG stream; DF; IP id from the socket's counter
//             (started at a random value, as tcp_v4_connect does), +1 per segment sent.
//   SYN-ACK   window 65160 (rounddown(65536, 1460 - 12)), mss ours, sackOK/TS/wscale only if the SYN
//             had them; DF and IP id 0 (sent by the request socket, ip_build_and_send_pkt).
//   segments  options nop,nop,TS when both sides sent TS; window ALIGN(rcv_ssthresh, 128) >> 7,
//             rcv_ssthresh growing by 2 x rcv_mss per segment of 128 bytes or more (tcp_grow_window)
//             up to 77836 bytes (measured: the window a 131072-byte receive buffer allows when
//             it is read at once; buffer autotuning is not emulated); DF; the socket's IP id counter
//             (an accepted socket starts its counter at a random value, tcp_v4_syn_recv_sock).
//             Data in segments of MSS - 12 (1448) bytes; PSH on the segment that empties the send
//             queue (the last of a send()); close() with data still unsent puts FIN on the last
//             data segment (tcp_send_fin). Every data segment is acknowledged at once (Linux's
//             quick-ack mode at the start of a connection; its later delayed ACKs are not emulated).
//   FIN       a FIN received in ESTABLISHED is acknowledged after 40 ms (delayed ACK: tcp_fin
//             enters ping-pong mode) unless the application closes first, whose FIN carries the
//             ACK. Active closer: TIME_WAIT for 60 s. A connection closed by its application
//             whose FIN is acknowledged without a FIN becomes a time-wait socket at once
//             (tcp_rcv_state_process FIN_WAIT1, orphaned): what it sends from then on (the last
//             ACK) goes out as the kernel's control socket sends it, DF and IP id 0.
//   RST       for a segment to no connection and no listener (tcp_v4_send_reset): with ACK:
//             RST, seq = its ack; without: RST|ACK, seq 0, ack = seq + data + SYN + FIN;
//             window 0, no options, TTL 64, TOS of the segment without ECN bits, DF, IP id 0.
//             Never in answer to a RST, nor when the checksum is bad.
//   retries   an unanswered SYN is sent again after 1 s five times (tcp_syn_linear_timeouts = 4),
//             then with doubling timeouts (2, 4, 8, 16, 32 s; 10 retransmissions = tcp_syn_retries
//             6 + 4) and connect() fails with ETIMEDOUT 64 s after the last, 131 s after the first
//             SYN (the kernel, whose timers fire a little late: 133.7 s), counted in `timeouts`.
//             A SYN-ACK is sent again at 1, 3, 7, 15, 31 s (tcp_synack_retries = 5) and the
//             half-open connection forgotten at 63 s; a repeated SYN gets the SYN-ACK again.
//             Data and FIN: retransmission timeout srtt + max(4 x rttvar, 200 ms), doubling,
//             go-back-N from the first unacknowledged byte with cwnd 1; ETIMEDOUT after
//             tcp_retries2 (15) worth of backoff (924.6 s). Slow start from cwnd 10, then
//             +1 segment per window (Reno; Linux's CUBIC is not emulated).
// Connection numbers: ISN, timestamp offset and the socket's IP id counter come from the stack's
// stream, in the order connections open. With `secureNumbers` they come instead from a keyed hash
// of the connection, as Linux computes the first two (secure_tcp_seq: a hash of the 4-tuple plus
// the time in 64 ns units; secure_tcp_ts_off: a hash of the addresses): a connection's bytes then
// do not depend on the connections opened before it (dataplane/parallel/ runs flows apart).
// Not emulated: SACK blocks and the out-of-order queue (a segment beyond rcv_nxt is dropped and
// acknowledged again), Nagle, delayed ACKs other than the FIN's, window probes, PAWS, simultaneous
// open, urgent data, TIME_WAIT reuse by a new SYN, ICMP errors for TCP, Linux's parity rule for
// connect()'s ephemeral ports (ports here come from ports.ts, a TCP port space of their own).
//
// Drop reasons (on "<ns>/tcp"): "tcp-header" (data offset < 5 or past the segment), "tcp-checksum",
// "no-socket" (no connection, no listener: answered with a RST unless it is one), "listen-invalid"
// (to a listener, not a SYN: a RST if it has ACK), "not-acceptable" (fails its connection's
// sequence or ACK checks: answered as Linux does, with an ACK or a RST), "out-of-order" (data
// beyond rcv_nxt: acknowledged again). Every other segment is consumed (engine.deliver).

import { Device } from "../engine/device.js";
import { Timer } from "../engine/clock.js";
import type { Rng } from "../engine/rng.js";
import { Netns } from "../netns/netns.js";
import { routeOif } from "../netns/route.js";
import { getU16, getU32, setU16, setU32 } from "../../core/bytes.js";
import { checksumAdd, checksumFold } from "../../core/checksum.js";
import { PKT_TRACE } from "../../core/packet.js";
import { newTcpOptions, parseTcpOptions, type TcpOptions } from "../../core/wire/tcp-options.js";
import { tcpComputeChecksum, tcpWriteReset } from "../../core/wire/tcp.js";
import { IP_PMTUDISC_DO, IP_PMTUDISC_WANT } from "./ip-id.js";
import { EADDRINUSE, L4_AT, sockets, type SendSocket, type Sockets } from "./stack.js";
import { ephemeralPort } from "./ports.js";

// States, numbered as Linux's (include/net/tcp_states.h).
export const TCP_ESTABLISHED = 1;
export const TCP_SYN_SENT = 2;
export const TCP_SYN_RECV = 3;
export const TCP_FIN_WAIT1 = 4;
export const TCP_FIN_WAIT2 = 5;
export const TCP_TIME_WAIT = 6;
export const TCP_CLOSE = 7;
export const TCP_CLOSE_WAIT = 8;
export const TCP_LAST_ACK = 9;
export const TCP_LISTEN = 10;
export const TCP_CLOSING = 11;
export const TCP_STATE_NAMES = ["", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING"] as const;

export const EPIPE = -32;
export const ECONNRESET = -104;
export const ETIMEDOUT = -110;
export const ECONNREFUSED = -111;

// Header flags (low byte of the flags field).
const FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;

const MS = 1e6;
/** TCP_TIMEOUT_INIT, TCP_RTO_MIN, TCP_RTO_MAX, TCP_TIMEWAIT_LEN, TCP_DELACK_MIN (HZ / 25). */
export const TCP_TIMEOUT_INIT = 1000 * MS;
export const TCP_RTO_MIN = 200 * MS;
export const TCP_RTO_MAX = 120_000 * MS;
export const TCP_TIMEWAIT_LEN = 60_000 * MS;
export const TCP_DELACK = 40 * MS;
const TCP_INVALID_RATELIMIT = 500 * MS;
/** RFC 6298 5.7: the timeout after a handshake that needed retransmissions (TCP_TIMEOUT_FALLBACK). */
const TCP_TIMEOUT_FALLBACK = 3000 * MS;
export const TCP_SYN_RETRIES = 6;
export const TCP_SYN_LINEAR_TIMEOUTS = 4;
export const TCP_SYNACK_RETRIES = 5;
export const TCP_RETRIES2 = 15;
const TCP_INIT_CWND = 10;
const TCP_MSS_DEFAULT = 536;
/** tcp_full_space of the default 131072-byte receive buffer (scaling ratio 1/2 before any data). */
const TCP_INIT_SPACE = 65536;
/** Where the receive window stops growing (see the file header). */
export const TCP_RCV_SPACE_MAX = 77836;
/** ilog2(max(tcp_rmem[2] = 6291456, rmem_max)) - 15. */
export const TCP_WSCALE = 7;
const TS_OPT = 0x0101080a; // nop, nop, kind 8, length 10

/** tcp_model_timeout(boundary, base): the time `boundary` doublings from `base` take, each
 *  timeout capped at TCP_RTO_MAX. */
function modelTimeout(boundary: number, base: number): number {
  const thresh = Math.floor(Math.log2(TCP_RTO_MAX / base));
  return boundary <= thresh ? (2 ** (boundary + 1) - 1) * base : (2 ** (thresh + 1) - 1) * base + (boundary - thresh) * TCP_RTO_MAX;
}
const DATA_GIVE_UP = modelTimeout(TCP_RETRIES2, TCP_RTO_MIN);

/** The bytes a generated stream carries at stream offset k: k mod 251 (a prime, so they never line
 *  up with segment boundaries). Written by `send(n)` and checked by tcp-flows.ts's sink. */
export function tcpPatternFill(b: Uint8Array, off: number, streamOff: number, len: number): void {
  let v = streamOff % 251;
  for (let i = off, end = off + len; i < end; i++) {
    b[i] = v;
    if (++v === 251) v = 0;
  }
}

/** Bytes at `off` that differ from the pattern of stream offset `streamOff` on. */
export function tcpPatternCheck(b: Uint8Array, off: number, streamOff: number, len: number): number {
  let v = streamOff % 251;
  let bad = 0;
  for (let i = off, end = off + len; i < end; i++) {
    if (b[i] !== v) bad++;
    if (++v === 251) v = 0;
  }
  return bad;
}

/** What a connection tells its application. Calls come from the input path and timers. */
export interface TcpApp {
  /** connect() completed, or a listener accepted the connection. */
  connected(sk: TcpSocket): void;
  /** `len` new in-order bytes at arena offset `off` (readable until the call returns); they
   *  start at stream offset `sk.rcvNxt - len`. */
  received(sk: TcpSocket, off: number, len: number): void;
  /** The peer closed its side (its FIN arrived in order). */
  eof(sk: TcpSocket): void;
  /** The connection is over for the application (called once): both sides closed (TIME_WAIT or
   *  CLOSED), or reset, refused or timed out (`sk.error`). */
  closed(sk: TcpSocket): void;
}

const NO_APP: TcpApp = { connected() {}, received() {}, eof() {}, closed() {} };

export class TcpListener {
  accepted = 0;
  constructor(readonly stack: TcpStack, readonly port: number, readonly app: TcpApp) {}
  close(): void {
    this.stack.unlisten(this);
  }
}

export class TcpStack extends Device {
  readonly st: Sockets;
  readonly rng: Rng;
  /** Bound TCP ports (listeners and connections' local ports). */
  readonly used = new Uint8Array(65536);
  readonly listeners = new Map<number, TcpListener>();
  /** What the kernel's control socket sends (resets, time-wait ACKs, SYN-ACKs): DF, id 0. */
  readonly ctl: SendSocket = { pmtudisc: IP_PMTUDISC_DO, daddr: 0, inetId: 0, ttl: 64, tos: 0 };
  readonly opts: TcpOptions = newTcpOptions();
  // connection table: open addressing, linear probing; tab holds socket id + 1 (0 = empty)
  private tab = new Int32Array(64);
  private socks: (TcpSocket | null)[] = [];
  private freeIds: number[] = [];
  private count = 0;
  // counters (netstat -s)
  activeOpens = 0;
  passiveOpens = 0;
  resetsSent = 0;
  /** Connections that failed: ETIMEDOUT, ECONNREFUSED, ECONNRESET. */
  timeouts = 0;
  refused = 0;
  resets = 0;
  retransmits = 0;
  /** Connection numbers from a keyed hash of the connection (see the header). */
  secureNumbers = false;
  private readonly secret: number;
  readonly rHeader: number;
  readonly rChecksum: number;
  readonly rNoSocket: number;
  readonly rListen: number;
  readonly rNotAcceptable: number;
  readonly rOutOfOrder: number;

  constructor(readonly owner: Netns) {
    super(`${owner.name}/tcp`, ["tcp-header", "tcp-checksum", "no-socket", "listen-invalid", "not-acceptable", "out-of-order"]);
    this.rHeader = this.reason("tcp-header");
    this.rChecksum = this.reason("tcp-checksum");
    this.rNoSocket = this.reason("no-socket");
    this.rListen = this.reason("listen-invalid");
    this.rNotAcceptable = this.reason("not-acceptable");
    this.rOutOfOrder = this.reason("out-of-order");
    this.st = sockets(owner);
    this.rng = owner.engine.rng.fork(owner.name).fork("tcp");
    this.secret = this.rng.fork("secret").u32(); // a stream of its own: the stack's is untouched
    owner.tcp = (_ns, s, ip, l4) => this.input(s, ip, l4);
  }

  process(slots: Int32Array, n: number): void {
    for (let k = 0; k < n; k++) this.engine.drop(this, 0, slots[k]!);
  }

  // ---- ports and listeners (cold) ---------------------------------------------------------------

  /** Take a local port: 0 picks an ephemeral one (ports.ts). Returns it, or EADDRINUSE. */
  bindPort(port: number): number {
    if (port === 0) port = ephemeralPort(this.rng.u32(), this.used);
    else if (this.used[port] !== 0) return EADDRINUSE;
    if (port < 0) return EADDRINUSE;
    this.used[port] = 1;
    return port;
  }

  /** Keyed hash of (laddr, raddr, lport, rport, salt), uint32 (secureNumbers). */
  secureHash(laddr: number, raddr: number, lport: number, rport: number, salt: number): number {
    let h = Math.imul(this.secret ^ salt, 0x9e3779b1) ^ laddr;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) ^ raddr;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) ^ ((lport << 16) | rport);
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  /** ISN, timestamp offset and IP id start of connection (laddr, raddr, lport, rport). */
  connectionNumbers(sk: TcpSocket): void {
    const { laddr, raddr, lport, rport } = sk;
    if (!this.secureNumbers) {
      sk.iss = this.rng.u32();
      sk.tsOffset = this.rng.u32();
      sk.inetId = this.rng.u32() & 0xffff;
      return;
    }
    sk.iss = (this.secureHash(laddr, raddr, lport, rport, 1) + Math.floor(this.engine.clock.now / 64)) >>> 0;
    sk.tsOffset = this.secureHash(laddr, raddr, 0, 0, 2);
    sk.inetId = this.secureHash(laddr, raddr, lport, rport, 3) & 0xffff;
  }

  releasePort(port: number): void {
    this.used[port] = 0;
  }

  listen(port: number, app: TcpApp): TcpListener {
    if (this.bindPort(port) !== port) throw new Error(`${this.owner.name}: listen ${port}: EADDRINUSE`);
    const l = new TcpListener(this, port, app);
    this.listeners.set(port, l);
    return l;
  }

  unlisten(l: TcpListener): void {
    if (this.listeners.get(l.port) !== l) return;
    this.listeners.delete(l.port);
    this.releasePort(l.port);
  }

  // ---- connection table ---------------------------------------------------------------------

  private slot(laddr: number, raddr: number, lport: number, rport: number): number {
    let h = Math.imul(raddr ^ 0x9e3779b9, 0x85ebca6b) ^ laddr;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) ^ ((lport << 16) | rport);
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    return (h ^ (h >>> 13)) & (this.tab.length - 1);
  }

  /** The connection for (local, remote) addresses (int32 form) and ports, or null. */
  lookup(laddr: number, raddr: number, lport: number, rport: number): TcpSocket | null {
    const tab = this.tab;
    const mask = tab.length - 1;
    for (let i = this.slot(laddr, raddr, lport, rport); ; i = (i + 1) & mask) {
      const v = tab[i]!;
      if (v === 0) return null;
      const sk = this.socks[v - 1]!;
      if (sk.lport === lport && sk.rport === rport && sk.raddr === raddr && sk.laddr === laddr) return sk;
    }
  }

  /** Add a connection (cold: at connect or SYN time). */
  insert(sk: TcpSocket): void {
    if ((this.count + 1) * 2 > this.tab.length) this.rehash(this.tab.length * 2);
    const id = this.freeIds.length > 0 ? this.freeIds.pop()! : this.socks.length;
    this.socks[id] = sk;
    sk.id = id;
    this.place(id);
    this.count++;
  }

  private place(id: number): void {
    const sk = this.socks[id]!;
    const mask = this.tab.length - 1;
    let i = this.slot(sk.laddr, sk.raddr, sk.lport, sk.rport);
    while (this.tab[i] !== 0) i = (i + 1) & mask;
    this.tab[i] = id + 1;
  }

  private rehash(size: number): void {
    this.tab = new Int32Array(size);
    for (let id = 0; id < this.socks.length; id++) if (this.socks[id] !== null) this.place(id);
  }

  /** Remove a connection: its entry, then the entries after it moved back (no tombstones). */
  remove(sk: TcpSocket): void {
    if (sk.id < 0) return;
    const tab = this.tab;
    const mask = tab.length - 1;
    let i = this.slot(sk.laddr, sk.raddr, sk.lport, sk.rport);
    while (tab[i] !== sk.id + 1) i = (i + 1) & mask;
    tab[i] = 0;
    for (let j = (i + 1) & mask; tab[j] !== 0; j = (j + 1) & mask) {
      const o = this.socks[tab[j]! - 1]!;
      const k = this.slot(o.laddr, o.raddr, o.lport, o.rport);
      // the entry at j may fill the hole at i unless its home k lies cyclically in (i, j]
      if (i <= j ? i < k && k <= j : i < k || k <= j) continue;
      tab[i] = tab[j]!;
      tab[j] = 0;
      i = j;
    }
    this.socks[sk.id] = null;
    this.freeIds.push(sk.id);
    sk.id = -1;
    this.count--;
  }

  /** Connections in the table (TIME_WAIT included). */
  get connections(): number {
    return this.count;
  }

  // ---- input (the namespace's hook) ---------------------------------------------------------

  private input(s: number, ip: number, l4: number): void {
    const e = this.engine;
    const b = e.arena.bytes;
    const len = getU16(b, ip + 2) - (l4 - ip);
    const doff = (b[l4 + 12]! >>> 4) << 2;
    if (doff < 20 || doff > len) return e.drop(this, this.rHeader, s);
    const src = getU32(b, ip + 12) | 0;
    const dst = getU32(b, ip + 16) | 0;
    const pseudo = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 6 + len;
    if (checksumFold(checksumAdd(pseudo, b, l4, len)) !== 0xffff) return e.drop(this, this.rChecksum, s);
    const sport = getU16(b, l4);
    const dport = getU16(b, l4 + 2);
    const sk = this.lookup(dst, src, dport, sport);
    if (sk !== null) return sk.input(s, ip, l4, len, doff);
    if (dst === -1) return e.drop(this, this.rNoSocket, s); // broadcast: tcp_v4_rcv takes PACKET_HOST only
    const l = this.listeners.get(dport);
    if (l !== undefined) return this.listenInput(l, s, ip, l4, len, doff, src, dst, sport, dport);
    if (e.arena.flags[s]! & PKT_TRACE) e.trace.note(s, this, `no socket for port ${dport}${b[l4 + 13]! & RST ? "" : ": reset"}`);
    this.reset(ip, l4, len, doff);
    e.drop(this, this.rNoSocket, s);
  }

  /** tcp_rcv_state_process in LISTEN: a SYN opens a connection in SYN_RECV and is answered with a
   *  SYN-ACK; an ACK gets a RST; anything else (RST, SYN|FIN, no flags) is ignored. */
  private listenInput(l: TcpListener, s: number, ip: number, l4: number, len: number, doff: number, src: number, dst: number, sport: number, dport: number): void {
    const e = this.engine;
    const flags = e.arena.bytes[l4 + 13]!;
    if (flags & ACK && !(flags & RST)) {
      this.reset(ip, l4, len, doff);
      return e.drop(this, this.rListen, s);
    }
    if ((flags & (SYN | RST | FIN)) !== SYN) return e.drop(this, this.rListen, s);
    const sk = new TcpSocket(this, l.app);
    sk.passive(l, dst, src, dport, sport, l4, doff);
    e.deliver(this, s);
  }

  /**
   * tcp_v4_send_reset: the RST answering the segment at `l4` (still in its slot). With ACK: RST,
   * seq = its ack; without: RST|ACK, seq 0, ack = seq + data + SYN + FIN. Window 0, no options,
   * from the address it was sent to; TTL 64, its TOS without the ECN bits; DF and id 0 (the
   * kernel's per-namespace control socket, IP_PMTUDISC_DO). Nothing answers a RST.
   */
  reset(ip: number, l4: number, len: number, doff: number): void {
    const st = this.st;
    const b = this.engine.arena.bytes;
    const flags = b[l4 + 13]!;
    if (flags & RST) return;
    const to = getU32(b, ip + 12) | 0;
    const from = getU32(b, ip + 16) | 0;
    const r = st.route(to);
    if (r < 0) return;
    const s = st.alloc(20);
    if (s < 0) return;
    const t = this.engine.arena.start(s) + L4_AT;
    tcpWriteReset(b, t, l4, len - doff);
    setU16(b, t + 16, tcpComputeChecksum(b, t, 20, from, to));
    this.resetsSent++;
    st.ipSend(s, this.control(b[ip + 1]! & ~3), 6, from, to, r);
  }

  /** The control socket, sending with `tos` this time. */
  control(tos: number): SendSocket {
    this.ctl.tos = tos;
    return this.ctl;
  }
}

/**
 * A TCP connection. Stream offsets (bytes of data from 0, doubles: no 2^32 wrap) are kept
 * apart from sequence numbers: data byte k is seq iss + 1 + k, the FIN follows the last byte.
 */
export class TcpSocket implements SendSocket {
  readonly stack: TcpStack;
  readonly ns: Netns;
  app: TcpApp;
  /** For the application (an index, say). */
  tag = 0;
  /** Slot in the stack's table (-1: not in it). */
  id = -1;
  state = TCP_CLOSE;
  /** Negative errno once the connection failed (ECONNREFUSED, ECONNRESET, ETIMEDOUT). */
  error = 0;
  // addresses in int32 form, ports
  laddr = 0;
  raddr = 0;
  lport = 0;
  rport = 0;
  private ownsPort = false;
  // SendSocket: DF when it fits, the socket's id counter (connected), TTL 64
  pmtudisc = IP_PMTUDISC_WANT;
  daddr = 0;
  inetId = 0;
  ttl = 64;
  tos = 0;
  // sequence space
  iss = 0;
  irs = 0;
  sndUna = 0;
  sndNxt = 0;
  /** Highest stream offset ever sent (go-back-N resends from sndUna). */
  sndMax = 0;
  /** Stream offset after the last byte the application queued. */
  sndEnd = 0;
  rcvNxt = 0;
  private finQueued = false;
  /** shutdown() and not close(): FIN sent, still the application's (not orphaned). */
  private halfClosed = false;
  private finSent = false;
  private finEver = false;
  private finAcked = false;
  private finRcvd = false;
  /** From now on segments go out as the control socket sends them (a time-wait socket). */
  private tw = false;
  /** The application knows the connection (connect(), or accepted): it gets closed() once. */
  private notify = false;
  private listener: TcpListener | null = null;
  // options negotiated
  tsOk = false;
  tsOffset = 0;
  private tsRecent = 0;
  sackOk = false;
  sndWscale = 0;
  rcvWscale = 0;
  /** The peer's MSS option, our advertised MSS, and the data per segment. */
  peerMss = TCP_MSS_DEFAULT;
  advMss = 1460;
  mss = TCP_MSS_DEFAULT;
  // windows and congestion
  sndWnd = 0;
  cwnd = TCP_INIT_CWND;
  private cwndCnt = 0;
  ssthresh = Infinity;
  rcvWnd = 0;
  rcvSsthresh = 0;
  private rcvMss = TCP_MSS_DEFAULT;
  private lastAckSent = 0;
  private lastOowAck = -Infinity;
  // timers: one Timer, armed at the earliest of these (ns; Infinity = off)
  private readonly timer: Timer;
  private rtoAt = Infinity;
  private ackAt = Infinity;
  private twAt = Infinity;
  rto = TCP_TIMEOUT_INIT;
  private srtt = -1;
  private rttvar = 0;
  private rttEnd = -1;
  private rttStart = 0;
  retransmissions = 0;
  private backoffs = 0;
  private retransStamp = 0;
  // send buffer for bytes given to send(Uint8Array): a ring holding stream offsets [sndUna, sndEnd)
  private ring: Uint8Array | null = null;
  private generated = false;
  // counters
  bytesAcked = 0;
  bytesReceived = 0;
  segsOut = 0;
  segsIn = 0;
  /** Virtual time of connect()/the SYN, of establishment, of the application's close. */
  openedAt = 0;
  establishedAt = -1;
  closedAt = -1;

  constructor(stack: TcpStack, app: TcpApp = NO_APP) {
    this.stack = stack;
    this.ns = stack.owner;
    this.app = app;
    this.timer = new Timer(`tcp ${stack.owner.name}`, () => this.onTimer());
  }

  get stateName(): string {
    return TCP_STATE_NAMES[this.state]!;
  }

  // ---- the application's calls (cold) -------------------------------------------------------

  /** connect(): an ephemeral port (or `sport`), the source address of the route, SYN. Throws
   *  ENETUNREACH / EADDRINUSE. */
  connect(dst: number, dport: number, sport = 0): this {
    const st = this.stack;
    if (this.state !== TCP_CLOSE || this.id >= 0) throw new Error(`${this.ns.name}: connect on a ${this.stateName} socket`);
    const d = dst | 0;
    const r = st.st.route(d);
    if (r < 0) throw new Error(`${this.ns.name}: connect: ENETUNREACH`);
    const p = st.bindPort(sport);
    if (p < 0) throw new Error(`${this.ns.name}: connect ${sport}: EADDRINUSE`);
    this.ownsPort = true;
    this.lport = p;
    this.rport = dport;
    this.raddr = d;
    this.daddr = d;
    this.laddr = st.st.source(r, d);
    this.advMss = st.owner.mtu[routeOif(st.owner, r)]! - 40;
    st.connectionNumbers(this);
    // tcp_connect_init: tcp_select_initial_window(full space, advmss): window and scale
    this.rcvWnd = Math.min(Math.floor(TCP_INIT_SPACE / this.advMss) * this.advMss, 65535);
    this.rcvSsthresh = this.rcvWnd;
    this.state = TCP_SYN_SENT;
    this.notify = true;
    this.openedAt = this.ns.engine.clock.now;
    st.insert(this);
    st.activeOpens++;
    this.sendSyn();
    this.rtoAt = this.ns.engine.clock.now + this.rto;
    this.rearm();
    return this;
  }

  /** send(): `data` bytes, or `n` bytes of the generated pattern (tcpPatternFill). Queued and
   *  sent as the windows allow. Returns the bytes queued, or EPIPE after close(). A socket sends
   *  either given bytes or the pattern, not both. */
  send(data: Uint8Array | number): number {
    if (this.finQueued || this.state === TCP_CLOSE || this.error !== 0) return EPIPE;
    const n = typeof data === "number" ? data : data.length;
    if (typeof data === "number") {
      if (this.ring !== null) throw new Error(`${this.ns.name}: send(n) on a socket that sent bytes`);
      this.generated = true;
    } else {
      if (this.generated) throw new Error(`${this.ns.name}: send(bytes) on a socket that sent the pattern`);
      this.queueBytes(data);
    }
    this.sndEnd += n;
    if (this.state === TCP_ESTABLISHED || this.state === TCP_CLOSE_WAIT) this.output();
    return n;
  }

  /** close(): FIN after the queued data (ESTABLISHED, CLOSE_WAIT); in SYN_SENT the attempt is
   *  dropped without a segment. The socket is orphaned: data arriving after the peer acknowledged
   *  the FIN is answered with a reset. After shutdown(), close() orphans it then. */
  close(): void {
    const now = this.ns.engine.clock.now;
    if (this.state === TCP_SYN_SENT) {
      this.closedAt = now;
      this.destroy();
      return this.notifyClosed();
    }
    if (this.finQueued) {
      if (this.halfClosed) {
        // tcp_close of a half-closed socket: an orphan from now on, FIN_WAIT2 a time-wait socket
        this.halfClosed = false;
        this.closedAt = now;
        if (this.state === TCP_FIN_WAIT2 && !this.tw) {
          this.tw = true;
          this.twAt = now + TCP_TIMEWAIT_LEN; // tcp_fin_timeout
          this.rearm();
        }
      }
      return;
    }
    if (this.state === TCP_ESTABLISHED) this.state = TCP_FIN_WAIT1;
    else if (this.state === TCP_CLOSE_WAIT) this.state = TCP_LAST_ACK;
    else return;
    this.finQueued = true;
    this.closedAt = now;
    this.output();
    this.rearm();
  }

  /** shutdown(SHUT_WR): FIN after the queued data, as close() sends it, but the socket stays the
   *  application's: it goes on receiving (FIN_WAIT1/FIN_WAIT2) until the peer's FIN, with no
   *  FIN_WAIT2 timeout (a half-close, as docker-proxy's CloseWrite and `nc -N` do). send() fails
   *  with EPIPE from then on. No effect in SYN_SENT or after close(). */
  shutdown(): void {
    if (this.finQueued || this.state === TCP_SYN_SENT) return;
    if (this.state !== TCP_ESTABLISHED && this.state !== TCP_CLOSE_WAIT) return;
    this.halfClosed = true;
    this.state = this.state === TCP_ESTABLISHED ? TCP_FIN_WAIT1 : TCP_LAST_ACK;
    this.finQueued = true;
    this.output();
    this.rearm();
  }

  /** Bytes queued and not yet acknowledged. */
  get unacked(): number {
    return this.sndEnd - this.sndUna;
  }

  private queueBytes(data: Uint8Array): void {
    const need = this.sndEnd - this.sndUna + data.length;
    let ring = this.ring;
    if (ring === null || ring.length < need) {
      let cap = ring === null ? 4096 : ring.length;
      while (cap < need) cap *= 2;
      const g = new Uint8Array(cap);
      if (ring !== null) for (let k = this.sndUna; k < this.sndEnd; k++) g[k % cap] = ring[k % ring.length]!;
      this.ring = ring = g;
    }
    const cap = ring.length;
    for (let i = 0; i < data.length; i++) ring[(this.sndEnd + i) % cap] = data[i]!;
  }

  // ---- passive open (from TcpStack.listenInput) ------------------------------------------------

  /** The SYN at `l4` reached listener `l`: SYN_RECV, SYN-ACK. */
  passive(l: TcpListener, laddr: number, raddr: number, lport: number, rport: number, l4: number, doff: number): void {
    const st = this.stack;
    const b = this.ns.engine.arena.bytes;
    this.listener = l;
    this.laddr = laddr;
    this.raddr = raddr;
    this.daddr = raddr;
    this.lport = lport;
    this.rport = rport;
    const r = st.st.route(raddr);
    this.advMss = r < 0 ? 1460 : st.owner.mtu[routeOif(st.owner, r)]! - 40;
    this.irs = getU32(b, l4 + 4);
    this.synOptions(b, l4, doff);
    st.connectionNumbers(this); // inet_id: tcp_v4_syn_recv_sock: newinet->inet_id = get_random_u16()
    // tcp_openreq_init_rwin: the MSS less the timestamps option, window quantized to it
    const mss = this.advMss - (this.tsOk ? 12 : 0);
    this.rcvWnd = Math.min(Math.floor(TCP_INIT_SPACE / mss) * mss, 65535);
    this.rcvSsthresh = this.rcvWnd;
    this.state = TCP_SYN_RECV;
    this.openedAt = this.ns.engine.clock.now;
    st.insert(this);
    this.sendSyn();
    this.rtoAt = this.openedAt + this.rto;
    this.rearm();
  }

  /** Options of a SYN or SYN-ACK: MSS, window scale, SACK permitted, timestamps. */
  private synOptions(b: Uint8Array, l4: number, doff: number): void {
    const o = this.stack.opts;
    parseTcpOptions(b, l4 + 20, doff - 20, o); // a malformed list keeps what came before (as tcp_parse_options)
    this.peerMss = o.mss > 0 ? o.mss : TCP_MSS_DEFAULT;
    this.sackOk = o.sackPermitted;
    this.tsOk = o.timestamps;
    this.tsRecent = o.tsVal;
    if (o.wscale >= 0) {
      this.sndWscale = Math.min(o.wscale, 14);
      this.rcvWscale = TCP_WSCALE;
    }
    this.mss = Math.min(this.peerMss, this.advMss) - (this.tsOk ? 12 : 0);
  }

  // ---- input -------------------------------------------------------------------------------

  /** A segment for this connection (checksum verified, header length checked). */
  input(s: number, ip: number, l4: number, len: number, doff: number): void {
    const st = this.stack;
    const e = st.engine;
    const b = e.arena.bytes;
    const flags = b[l4 + 13]!;
    const seq = getU32(b, l4 + 4);
    const ack = getU32(b, l4 + 8);
    const dlen = len - doff;
    this.segsIn++;
    if (this.state === TCP_SYN_SENT) return this.synSentInput(s, ip, l4, len, doff, flags, seq, ack);
    if (this.state === TCP_SYN_RECV) {
      // tcp_check_req
      if (flags & RST) {
        if (seq !== ((this.irs + 1) >>> 0)) return e.drop(st, st.rNotAcceptable, s);
        this.destroy(); // a reset embryonic connection is forgotten
        return e.deliver(st, s);
      }
      if (flags & SYN) {
        if (seq === this.irs && !(flags & ACK)) this.sendSyn(); // the SYN again: the SYN-ACK again
        return e.drop(st, st.rNotAcceptable, s);
      }
      if (!(flags & ACK)) return e.drop(st, st.rNotAcceptable, s);
      if (ack !== ((this.iss + 1) >>> 0)) {
        st.reset(ip, l4, len, doff);
        return e.drop(st, st.rNotAcceptable, s);
      }
      this.establish(getU16(b, l4 + 14) * 2 ** this.sndWscale);
      this.notify = true;
      if (this.listener !== null) this.listener.accepted++;
      st.passiveOpens++;
      this.app.connected(this);
      if (this.id < 0) return e.deliver(st, s); // ended during the callback
    }
    if (this.tw) return this.timeWaitInput(s, ip, l4, len, doff, flags, seq, dlen);
    const d = (seq - this.rcvSeq()) | 0;
    const segLen = dlen + (flags & FIN ? 1 : 0);
    const wnd = this.window();
    // tcp_validate_incoming: sequence (end not before rcv_nxt, start not past the window), RST, SYN
    if (d + segLen < 0 || d > wnd) {
      if (!(flags & RST) && this.oowAllowed(segLen)) this.sendAck(); // tcp_send_dupack
      return e.drop(st, st.rNotAcceptable, s);
    }
    if (flags & RST) {
      if (d !== 0) {
        if (this.oowAllowed(0)) this.sendAck(); // RFC 5961 3.2: in the window but not rcv_nxt: a challenge ACK
        return e.drop(st, st.rNotAcceptable, s);
      }
      st.resets++;
      this.fail(this.state === TCP_CLOSE_WAIT ? EPIPE : ECONNRESET);
      return e.deliver(st, s);
    }
    if (flags & SYN) {
      if (this.oowAllowed(0)) this.sendAck(); // RFC 5961 4.2: a SYN on a synchronized connection gets a challenge ACK
      return e.drop(st, st.rNotAcceptable, s);
    }
    if (!(flags & ACK)) return e.drop(st, st.rNotAcceptable, s);
    // the ACK field (tcp_ack)
    const a = (ack - this.seqOf(this.sndUna)) | 0;
    if (a > this.sndMax - this.sndUna + (this.finEver ? 1 : 0)) return e.drop(st, st.rNotAcceptable, s); // acknowledges data never sent
    if (this.tsOk && d <= 0) this.readTs(b, l4, doff);
    const wasState = this.state;
    if (a > 0) this.acked(a);
    if (a >= 0) this.sndWnd = getU16(b, l4 + 14) * 2 ** this.sndWscale;
    if (this.state === TCP_CLOSE) return e.deliver(st, s); // LAST_ACK done
    // data and FIN (tcp_data_queue), in order only
    if (segLen > 0 && d + segLen <= 0) {
      this.output();
      this.sendAck(); // a retransmission: acknowledged at once
      return e.drop(st, st.rNotAcceptable, s);
    }
    if (d > 0) {
      this.output();
      this.sendAck(); // out of order: Linux queues it and sends a duplicate ACK with SACK
      return e.drop(st, st.rOutOfOrder, s);
    }
    const skip = -d;
    if ((this.state === TCP_FIN_WAIT1 || this.state === TCP_FIN_WAIT2) && !this.halfClosed && dlen > skip) {
      // new data for a socket its application closed (also with the ACK of its FIN): RFC 1122
      // says reset, and Linux does (tcp_rcv_state_process: LINUX_MIB_TCPABORTONDATA, then
      // tcp_v4_send_reset)
      st.reset(ip, l4, len, doff);
      this.fail(ECONNRESET);
      return e.drop(st, st.rNotAcceptable, s);
    }
    let took = 0;
    if (dlen > skip && !this.finRcvd) {
      took = dlen - skip;
      this.rcvNxt += took;
      this.bytesReceived += took;
      this.grow(took);
    }
    const gotFin = (flags & FIN) !== 0 && !this.finRcvd && d + dlen === took;
    if (gotFin) this.finRcvd = true;
    this.output(); // tcp_data_snd_check: what the ACK allows, carrying the ACK
    const now = e.clock.now;
    if (gotFin && this.state === TCP_ESTABLISHED) {
      // tcp_fin: CLOSE_WAIT and ping-pong mode, so the ACK is delayed (the application's FIN
      // usually carries it)
      this.state = TCP_CLOSE_WAIT;
      if (this.rcvSeq() !== this.lastAckSent && this.ackAt === Infinity) this.ackAt = now + TCP_DELACK;
    } else if (gotFin && this.state === TCP_FIN_WAIT1) {
      this.state = TCP_CLOSING;
      this.sendAck();
    } else if (gotFin && this.state === TCP_FIN_WAIT2) {
      this.sendAck();
      this.enterTimeWait();
    } else if (this.rcvSeq() !== this.lastAckSent) this.sendAck();
    // orphaned (closed by the application) FIN_WAIT2 without a FIN here: a time-wait socket
    if (wasState === TCP_FIN_WAIT1 && this.state === TCP_FIN_WAIT2 && !this.halfClosed) {
      this.tw = true;
      this.twAt = now + TCP_TIMEWAIT_LEN; // tcp_fin_timeout
    }
    this.rearm();
    if (took > 0) this.app.received(this, l4 + doff + skip, took);
    e.deliver(st, s);
    if (gotFin) {
      this.app.eof(this);
      if (this.state === TCP_TIME_WAIT) this.notifyClosed();
    }
  }

  /** tcp_rcv_synsent_state_process. */
  private synSentInput(s: number, ip: number, l4: number, len: number, doff: number, flags: number, seq: number, ack: number): void {
    const st = this.stack;
    const e = st.engine;
    const b = e.arena.bytes;
    if (flags & ACK && ack !== ((this.iss + 1) >>> 0)) {
      st.reset(ip, l4, len, doff); // an unacceptable ACK: reset
      return e.drop(st, st.rNotAcceptable, s);
    }
    if (flags & RST) {
      if (!(flags & ACK)) return e.drop(st, st.rNotAcceptable, s);
      st.refused++;
      this.fail(ECONNREFUSED);
      return e.deliver(st, s);
    }
    if (!(flags & SYN) || !(flags & ACK)) return e.drop(st, st.rNotAcceptable, s); // no simultaneous open
    this.irs = seq;
    this.synOptions(b, l4, doff);
    const retried = this.retransmissions > 0;
    this.establish(getU16(b, l4 + 14)); // the SYN-ACK's window is never scaled
    if (retried) this.rto = TCP_TIMEOUT_FALLBACK;
    this.retransmissions = 0;
    this.sendAck();
    this.output(); // anything queued before the handshake completed
    e.deliver(st, s);
    this.app.connected(this);
  }

  private establish(wnd: number): void {
    const now = this.ns.engine.clock.now;
    if (this.retransmissions === 0) this.rttSample(now - this.openedAt);
    this.state = TCP_ESTABLISHED;
    this.establishedAt = now;
    this.sndWnd = wnd;
    this.rtoAt = Infinity;
    this.backoffs = 0;
    this.lastAckSent = this.rcvSeq();
    this.rearm();
  }

  /** `a` more sequence numbers acknowledged (data, then maybe our FIN). */
  private acked(a: number): void {
    const now = this.ns.engine.clock.now;
    const data = Math.min(a, this.sndEnd - this.sndUna);
    this.sndUna += data;
    this.bytesAcked += data;
    if (this.sndNxt < this.sndUna) this.sndNxt = this.sndUna;
    if (this.finEver && a > data) this.finAcked = this.finSent = true;
    if (this.rttEnd >= 0 && this.sndUna >= this.rttEnd) {
      this.rttSample(now - this.rttStart);
      this.rttEnd = -1;
    }
    // slow start, then Reno's +1 segment per window
    const segs = Math.ceil(data / this.mss);
    if (this.cwnd < this.ssthresh) this.cwnd += segs;
    else if ((this.cwndCnt += segs) >= this.cwnd) {
      this.cwndCnt = 0;
      this.cwnd++;
    }
    this.retransmissions = 0;
    this.backoffs = 0;
    this.rtoAt = this.inFlight() ? now + this.rto : Infinity;
    if (!this.finAcked) return;
    if (this.state === TCP_FIN_WAIT1) this.state = TCP_FIN_WAIT2;
    else if (this.state === TCP_CLOSING) {
      this.enterTimeWait();
      this.notifyClosed();
    } else if (this.state === TCP_LAST_ACK) {
      this.destroy();
      this.notifyClosed();
    }
  }

  /**
   * A time-wait socket (tcp_timewait_state_process): in FIN_WAIT2 (closed by the application,
   * its FIN acknowledged) or TIME_WAIT. What it sends goes out as the control socket sends it.
   */
  private timeWaitInput(s: number, ip: number, l4: number, len: number, doff: number, flags: number, seq: number, dlen: number): void {
    const st = this.stack;
    const e = st.engine;
    const d = (seq - this.rcvSeq()) | 0;
    const end = d + dlen + (flags & FIN ? 1 : 0) + (flags & SYN ? 1 : 0);
    const wnd = this.window();
    const inWindow = d === 0 || (end > 0 && d < wnd) || (d === wnd && end === d); // tcp_in_window
    if (this.state === TCP_FIN_WAIT2) {
      if (!inWindow) {
        if (this.oowAllowed(end - d)) this.sendAck();
        return e.drop(st, st.rNotAcceptable, s);
      }
      if (flags & RST) {
        this.fail(ECONNRESET);
        return e.deliver(st, s);
      }
      if (flags & SYN && d >= 0) {
        st.reset(ip, l4, len, doff);
        return e.drop(st, st.rNotAcceptable, s);
      }
      if (!(flags & ACK) || end <= 0 || end === d) return e.deliver(st, s); // a duplicate ACK
      if (!(flags & FIN) || end !== 1) {
        st.reset(ip, l4, len, doff); // new data after a half-duplex close: reset
        this.fail(ECONNRESET);
        return e.drop(st, st.rNotAcceptable, s);
      }
      this.finRcvd = true;
      this.sendAck();
      this.enterTimeWait();
      e.deliver(st, s);
      this.app.eof(this);
      return this.notifyClosed();
    }
    // TIME_WAIT: a bare ACK or a RST at rcv_nxt is taken (a RST ends TIME_WAIT, rfc1337 = 0);
    // everything else is acknowledged (the peer's FIN again), and with ACK TIME_WAIT starts over
    if (d === 0 && (flags & RST || end === 0)) {
      if (flags & RST) this.destroy();
      return e.deliver(st, s);
    }
    if (flags & RST) return e.drop(st, st.rNotAcceptable, s);
    if (this.oowAllowed(end - d)) this.sendAck();
    if (flags & ACK) {
      this.twAt = e.clock.now + TCP_TIMEWAIT_LEN;
      this.rearm();
    }
    if (flags & FIN && end === 0) return e.deliver(st, s);
    e.drop(st, st.rNotAcceptable, s);
  }

  /**
   * tcp_oow_rate_limited: an ACK answering an unacceptable segment without data (a duplicate ACK,
   * a challenge ACK, a time-wait ACK) goes out at most once per 500 ms (tcp_invalid_ratelimit),
   * which ends ACK loops between two confused ends. Segments with data are always answered.
   */
  private oowAllowed(segLen: number): boolean {
    if (segLen > 0) return true;
    const now = this.ns.engine.clock.now;
    if (now - this.lastOowAck < TCP_INVALID_RATELIMIT) return false;
    this.lastOowAck = now;
    return true;
  }

  private readTs(b: Uint8Array, l4: number, doff: number): void {
    if (doff === 32 && getU32(b, l4 + 20) === TS_OPT) {
      this.tsRecent = getU32(b, l4 + 24);
      return;
    }
    const o = this.stack.opts;
    parseTcpOptions(b, l4 + 20, doff - 20, o);
    if (o.timestamps) this.tsRecent = o.tsVal;
  }

  /** tcp_grow_window after `len` new bytes (tcp_measure_rcv_mss first). */
  private grow(len: number): void {
    if (len >= this.rcvMss) this.rcvMss = Math.min(len, this.advMss);
    if (len < 128) return;
    const room = TCP_RCV_SPACE_MAX - this.rcvSsthresh;
    if (room > 0) this.rcvSsthresh += Math.min(room, Math.max(2 * this.rcvMss, 2 * len));
  }

  // ---- output ------------------------------------------------------------------------------

  private seqOf(off: number): number {
    return (this.iss + 1 + off) >>> 0;
  }

  private rcvSeq(): number {
    return (this.irs + 1 + this.rcvNxt + (this.finRcvd ? 1 : 0)) >>> 0;
  }

  /** The receive window in bytes, as advertised (tcp_select_window with the scale's rounding). */
  private window(): number {
    const w = Math.min(this.rcvSsthresh, TCP_RCV_SPACE_MAX);
    const u = 1 << this.rcvWscale;
    return Math.ceil(w / u) * u;
  }

  private inFlight(): boolean {
    return this.sndNxt > this.sndUna || (this.finSent && !this.finAcked);
  }

  /** Send what the congestion and peer windows allow (tcp_write_xmit), then maybe the FIN. */
  private output(): void {
    const s = this.state;
    if (s !== TCP_ESTABLISHED && s !== TCP_CLOSE_WAIT && s !== TCP_FIN_WAIT1 && s !== TCP_LAST_ACK) return;
    const mss = this.mss;
    const now = this.ns.engine.clock.now;
    for (;;) {
      if (this.finSent) break;
      const avail = this.sndEnd - this.sndNxt;
      if (Math.ceil((this.sndNxt - this.sndUna) / mss) >= this.cwnd) break;
      if (avail > 0) {
        const room = this.sndUna + this.sndWnd - this.sndNxt;
        const n = Math.min(mss, avail, room);
        if (n <= 0) break;
        const last = n === avail;
        const fin = last && this.finQueued;
        if (this.rttEnd < 0 && this.sndNxt >= this.sndMax) {
          this.rttEnd = this.sndNxt + n; // time one new segment (Karn: never a retransmission)
          this.rttStart = now;
        }
        this.segment(ACK | (last ? PSH : 0) | (fin ? FIN : 0), this.sndNxt, n);
        this.sndNxt += n;
        if (this.sndNxt > this.sndMax) this.sndMax = this.sndNxt;
        if (fin) this.finSent = this.finEver = true;
      } else if (this.finQueued) {
        this.segment(ACK | FIN, this.sndNxt, 0);
        this.finSent = this.finEver = true;
      } else break;
    }
    if (this.rtoAt === Infinity && this.inFlight()) {
      this.rtoAt = now + this.rto;
      this.rearm();
    }
  }

  /** A pure ACK now (clears a pending delayed ACK). */
  private sendAck(): void {
    this.segment(ACK, this.sndNxt, 0);
  }

  /** SYN (connect) or SYN-ACK (SYN_RECV), options as tcp_options_write lays them out. */
  private sendSyn(): void {
    const st = this.stack;
    const ss = st.st;
    const r = ss.route(this.raddr);
    if (r < 0) return;
    const synack = this.state === TCP_SYN_RECV;
    const ts = synack ? this.tsOk : true;
    const sack = synack ? this.sackOk : true;
    const ws = synack ? this.rcvWscale > 0 : true;
    const optLen = 4 + (ts ? 12 : sack ? 4 : 0) + (ws ? 4 : 0);
    const s = ss.alloc(20 + optLen);
    if (s < 0) return;
    const b = st.engine.arena.bytes;
    const t = st.engine.arena.start(s) + L4_AT;
    this.header(b, t, synack ? SYN | ACK : SYN, this.iss, synack ? ((this.irs + 1) >>> 0) : 0, 20 + optLen, Math.min(this.rcvWnd, 65535));
    let o = t + 20;
    setU32(b, o, 0x02040000 | this.advMss);
    o += 4;
    if (ts) {
      setU32(b, o, sack ? 0x0402080a : 0x0101080a);
      setU32(b, o + 4, this.tsVal());
      setU32(b, o + 8, synack ? this.tsRecent : 0);
      o += 12;
    } else if (sack) {
      setU32(b, o, 0x01010402);
      o += 4;
    }
    if (ws) setU32(b, o, 0x01030300 | TCP_WSCALE);
    setU16(b, t + 16, tcpComputeChecksum(b, t, 20 + optLen, this.laddr, this.raddr));
    this.segsOut++;
    // the SYN from the connecting socket (its id counter); the SYN-ACK from the request socket (id 0)
    ss.ipSend(s, synack ? st.control(this.tos) : this, 6, this.laddr, this.raddr, r);
  }

  /** A segment with `n` bytes of stream offset `off` on, or none. */
  private segment(flags: number, off: number, n: number): void {
    const st = this.stack;
    const ss = st.st;
    const r = ss.route(this.raddr);
    if (r < 0) return;
    const hl = this.tsOk ? 32 : 20;
    const s = ss.alloc(hl + n);
    if (s < 0) return;
    const b = st.engine.arena.bytes;
    const t = st.engine.arena.start(s) + L4_AT;
    const rcv = this.rcvSeq();
    let w = this.window();
    w = this.rcvWscale > 0 ? w >>> this.rcvWscale : Math.min(w, 65535);
    // after our FIN, segments (ACKs) carry the sequence number past it
    this.header(b, t, flags, (this.seqOf(off) + (this.finSent && off >= this.sndEnd ? 1 : 0)) >>> 0, rcv, hl, w);
    if (this.tsOk) {
      setU32(b, t + 20, TS_OPT);
      setU32(b, t + 24, this.tsVal());
      setU32(b, t + 28, this.tsRecent);
    }
    if (n > 0) this.fill(b, t + hl, off, n);
    setU16(b, t + 16, tcpComputeChecksum(b, t, hl + n, this.laddr, this.raddr));
    this.lastAckSent = rcv;
    this.ackAt = Infinity;
    this.segsOut++;
    ss.ipSend(s, this.tw ? st.control(this.tos) : this, 6, this.laddr, this.raddr, r);
  }

  private header(b: Uint8Array, t: number, flags: number, seq: number, ack: number, hl: number, win: number): void {
    setU16(b, t, this.lport);
    setU16(b, t + 2, this.rport);
    setU32(b, t + 4, seq);
    setU32(b, t + 8, flags & ACK ? ack : 0);
    b[t + 12] = (hl >>> 2) << 4;
    b[t + 13] = flags;
    setU16(b, t + 14, win);
    setU32(b, t + 16, 0); // checksum, urgent pointer
  }

  /** TSval: the virtual clock in ms plus the connection's offset. */
  private tsVal(): number {
    return (Math.floor(this.ns.engine.clock.now / MS) + this.tsOffset) >>> 0;
  }

  private fill(b: Uint8Array, at: number, off: number, n: number): void {
    const ring = this.ring;
    if (ring === null) return tcpPatternFill(b, at, off, n);
    const cap = ring.length;
    for (let i = 0; i < n; i++) b[at + i] = ring[(off + i) % cap]!;
  }

  // ---- timers ------------------------------------------------------------------------------

  private rearm(): void {
    const at = Math.min(this.rtoAt, this.ackAt, this.twAt);
    const clock = this.ns.engine.clock;
    if (at === Infinity) {
      if (this.timer.armed) clock.cancel(this.timer);
    } else if (at !== this.timer.at || !this.timer.armed) clock.arm(this.timer, at);
  }

  private onTimer(): void {
    const now = this.ns.engine.clock.now;
    if (this.twAt <= now) {
      this.twAt = Infinity;
      if (this.state === TCP_FIN_WAIT2) return this.fail(ETIMEDOUT); // tcp_fin_timeout: the peer never closed
      return this.destroy(); // TIME_WAIT over
    }
    if (this.ackAt <= now) {
      this.ackAt = Infinity;
      if (this.rcvSeq() !== this.lastAckSent) this.sendAck();
    }
    if (this.rtoAt <= now) {
      this.rtoAt = Infinity;
      this.retransmitTimer(now);
    }
    if (this.id >= 0) this.rearm();
  }

  /** tcp_retransmit_timer / reqsk_timer_handler. */
  private retransmitTimer(now: number): void {
    const st = this.stack;
    if (this.state === TCP_SYN_SENT) {
      if (this.retransmissions >= TCP_SYN_RETRIES + TCP_SYN_LINEAR_TIMEOUTS) {
        st.timeouts++;
        return this.fail(ETIMEDOUT);
      }
      this.retransmissions++;
      st.retransmits++;
      this.sendSyn();
      if (this.retransmissions > TCP_SYN_LINEAR_TIMEOUTS) this.rto = Math.min(this.rto * 2, TCP_RTO_MAX);
      this.rtoAt = now + this.rto;
      return;
    }
    if (this.state === TCP_SYN_RECV) {
      if (this.retransmissions >= TCP_SYNACK_RETRIES) return this.destroy(); // the request is dropped
      this.retransmissions++;
      st.retransmits++;
      this.sendSyn();
      this.rto = Math.min(this.rto * 2, TCP_RTO_MAX);
      this.rtoAt = now + this.rto;
      return;
    }
    if (!this.inFlight()) return;
    if (this.backoffs === 0) this.retransStamp = now - this.rto;
    else if (now - this.retransStamp >= DATA_GIVE_UP) {
      st.timeouts++;
      return this.fail(ETIMEDOUT);
    }
    // go back to the first unacknowledged byte with one segment of window
    this.ssthresh = Math.max(Math.ceil((this.sndNxt - this.sndUna) / this.mss) >> 1, 2);
    this.cwnd = 1;
    this.cwndCnt = 0;
    this.sndNxt = this.sndUna;
    if (!this.finAcked) this.finSent = false;
    this.rttEnd = -1;
    this.retransmissions++;
    this.backoffs++;
    st.retransmits++;
    this.output();
    this.rto = Math.min(this.rto * 2, TCP_RTO_MAX);
    this.rtoAt = now + this.rto;
  }

  private rttSample(m: number): void {
    if (this.srtt < 0) {
      this.srtt = m;
      this.rttvar = m / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - m);
      this.srtt = 0.875 * this.srtt + 0.125 * m;
    }
    this.rto = Math.min(this.srtt + Math.max(4 * this.rttvar, TCP_RTO_MIN), TCP_RTO_MAX);
  }

  private enterTimeWait(): void {
    this.state = TCP_TIME_WAIT;
    this.tw = true;
    this.rtoAt = Infinity;
    this.ackAt = Infinity;
    this.twAt = this.ns.engine.clock.now + TCP_TIMEWAIT_LEN;
    this.rearm();
  }

  /** The connection fails with `err`: no more segments, the application told. */
  private fail(err: number): void {
    this.error = err;
    this.destroy();
    this.notifyClosed();
  }

  private notifyClosed(): void {
    if (!this.notify) return;
    this.notify = false;
    this.app.closed(this);
  }

  /** Out of the table, timers off, the port free (if it took one). */
  private destroy(): void {
    this.state = TCP_CLOSE;
    this.rtoAt = this.ackAt = this.twAt = Infinity;
    this.ns.engine.clock.cancel(this.timer);
    this.stack.remove(this);
    if (this.ownsPort) {
      this.stack.releasePort(this.lport);
      this.ownsPort = false;
    }
  }
}

/** The TCP layer of `ns` (created and added to its engine on first use). */
export function tcpStack(ns: Netns): TcpStack {
  const d = ns.engine.device(`${ns.name}/tcp`);
  if (d instanceof TcpStack) return d;
  return ns.engine.add(new TcpStack(ns));
}

// every namespace gets its TCP layer on the first segment for it (Netns.tcpLayer)
Netns.tcpLayer = (ns) => void tcpStack(ns);

/** listen(port) in `ns`: connections are accepted and handed to `app`. */
export function tcpListen(ns: Netns, port: number, app: TcpApp): TcpListener {
  return tcpStack(ns).listen(port, app);
}

/** A new socket in `ns` connecting to dst:dport. */
export function tcpConnect(ns: Netns, dst: number, dport: number, app: TcpApp = NO_APP, sport = 0): TcpSocket {
  return new TcpSocket(tcpStack(ns), app).connect(dst, dport, sport);
}
