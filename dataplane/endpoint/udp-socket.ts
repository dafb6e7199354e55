// UDP sockets of a namespace, and two small servers built on them: an echo server (sends each
// datagram back to where it came from) and a sink (counts packets and bytes).
//
// As Linux (net/ipv4/udp.c, datagram.c): bind(0) and the first send of an unbound socket take an
// ephemeral port (ports.ts); connect fixes the peer, picks the source address from the route and
// starts the per-socket IP id counter at a random value (ip4_datagram_connect: inet_id =
// get_random_u16()); a connected socket only receives from its peer (anything else finds no
// socket: ICMP port unreachable), a socket bound to an address only datagrams to it. Sent
// datagrams: TTL 64, TOS 0, UDP checksum computed, id/DF per ip-id.ts. Received datagrams with a
// bad length or checksum are dropped (reasons on "<ns>/sockets"), the others consumed with
// engine.deliver after `onReceive` has read them. ICMP errors quoting the socket's datagrams
// are counted (as IP_RECVERR would queue them); a connected socket also gets ECONNREFUSED /
// EHOSTUNREACH / ... pending as sk_err for a hard error (udp_err).

import type { Netns } from "../netns/netns.js";
import { icmpError } from "../netns/icmp-error.js";
import { getU16, getU32, setU16 } from "../../core/bytes.js";
import { checksumAdd, checksumFinish, checksumFold } from "../../core/checksum.js";
import { PKT_L4_CSUM_OK } from "../../core/packet.js";
import { IP_PMTUDISC_WANT } from "./ip-id.js";
import { EADDRINUSE, L4_AT, sockets, type IcmpListener, type SendSocket, type Sockets } from "./stack.js";

export const ECONNREFUSED = -111;
export const EHOSTUNREACH = -113;
export const ENETUNREACH_ERR = -101;

/** Called for each datagram received; the slot is the socket's until it returns. */
export type UdpReceive = (sock: UdpSocket, slot: number, src: number, sport: number, payload: number, len: number) => void;

export interface UdpSocketOptions {
  /** IP_MTU_DISCOVER (ip-id.ts constants); default IP_PMTUDISC_WANT. */
  pmtudisc?: number;
  ttl?: number;
  tos?: number;
  onReceive?: UdpReceive;
}

/** Write the UDP header and checksum for a datagram at `udp` whose payload is already in place. */
export function udpHeader(b: Uint8Array, udp: number, sport: number, dport: number, payloadLen: number, src: number, dst: number): void {
  const l = 8 + payloadLen;
  setU16(b, udp, sport);
  setU16(b, udp + 2, dport);
  setU16(b, udp + 4, l);
  setU16(b, udp + 6, 0);
  const pseudo = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 17 + l;
  const c = checksumFinish(checksumAdd(pseudo, b, udp, l));
  setU16(b, udp + 6, c === 0 ? 0xffff : c);
}

export class UdpSocket implements SendSocket, IcmpListener {
  readonly st: Sockets;
  pmtudisc: number;
  ttl: number;
  tos: number;
  /** Peer (connected) or 0, and its port. */
  daddr = 0;
  dport = 0;
  inetId = 0;
  /** Bound address (0 = any) and port (0 = unbound). */
  saddr = 0;
  port = 0;
  rxPackets = 0;
  rxBytes = 0;
  txPackets = 0;
  /** ICMP errors received for this socket's datagrams, and the last one's type/code/sender. */
  icmpErrors = 0;
  lastIcmpType = -1;
  lastIcmpCode = -1;
  lastIcmpFrom = 0;
  /** sk_err of a connected socket (negative errno), reported and cleared by takeError(). */
  pendingError = 0;
  onReceive: UdpReceive | null;
  private readonly handler: (ns: Netns, slot: number, ip: number, udp: number) => void;

  constructor(readonly ns: Netns, opts: UdpSocketOptions = {}) {
    this.st = sockets(ns);
    this.pmtudisc = opts.pmtudisc ?? IP_PMTUDISC_WANT;
    this.ttl = opts.ttl ?? 64;
    this.tos = opts.tos ?? 0;
    this.onReceive = opts.onReceive ?? null;
    this.handler = (_ns, s, ip, udp) => this.input(s, ip, udp);
  }

  /** bind(addr, port): port 0 = ephemeral. Returns the port; throws EADDRINUSE. */
  bind(port = 0, addr = 0): number {
    if (this.port !== 0) throw new Error(`${this.ns.name}: socket already bound to ${this.port}`);
    const p = this.st.bindUdp(port);
    if (p === EADDRINUSE) throw new Error(`${this.ns.name}: bind ${port}: EADDRINUSE`);
    this.port = p;
    this.saddr = addr >>> 0;
    this.ns.udp.set(p, this.handler);
    this.st.udpListeners.set(p, this);
    return p;
  }

  /** connect(dst, dport): autobinds, fixes the source address from the route, starts the IP id
   *  counter at `inetId` (default: random from the namespace's stream). Throws ENETUNREACH. */
  connect(dst: number, dport: number, inetId?: number): void {
    const r = this.st.route(dst >>> 0);
    if (r < 0) throw new Error(`${this.ns.name}: connect: ENETUNREACH`);
    if (this.port === 0) this.bind(0);
    if (this.saddr === 0) this.saddr = this.st.source(r, dst >>> 0) >>> 0;
    this.daddr = dst >>> 0;
    this.dport = dport;
    this.inetId = inetId === undefined ? this.st.rng.u32() & 0xffff : inetId & 0xffff;
  }

  /** send() on a connected socket: slot sent, or a negative errno (pending error first). */
  send(payload: Uint8Array | number): number {
    if (this.pendingError !== 0) return this.takeError();
    return this.sendTo(this.daddr, this.dport, payload);
  }

  /**
   * sendto(dst, dport): `payload` bytes, or a length (zero bytes). Returns the slot sent, or a
   * negative errno (ENETUNREACH, EMSGSIZE, ENOBUFS).
   */
  sendTo(dst: number, dport: number, payload: Uint8Array | number): number {
    return typeof payload === "number" ? this.build(dst, dport, payload, null, -1) : this.build(dst, dport, payload.length, payload, -1);
  }

  /** sendto() of `len` bytes found at `off` in the arena (an echo sends a received payload back). */
  sendArena(dst: number, dport: number, off: number, len: number): number {
    return this.build(dst, dport, len, null, off);
  }

  private build(dst: number, dport: number, len: number, data: Uint8Array | null, from: number): number {
    const st = this.st;
    if (this.port === 0) this.bind(0);
    const d = dst | 0;
    const r = st.route(d);
    if (r < 0) return r;
    const src = this.saddr !== 0 ? this.saddr | 0 : st.source(r, d);
    const s = st.alloc(8 + len);
    if (s < 0) return s;
    const a = st.engine.arena;
    const b = a.bytes;
    const udp = a.start(s) + L4_AT;
    if (data !== null) b.set(data, udp + 8);
    else if (from >= 0) b.copyWithin(udp + 8, from, from + len);
    else b.fill(0, udp + 8, udp + 8 + len);
    udpHeader(b, udp, this.port, dport, len, src, d);
    const res = st.ipSend(s, this, 17, src, d, r);
    if (res >= 0) this.txPackets++;
    return res;
  }

  /** The pending socket error, cleared. */
  takeError(): number {
    const e = this.pendingError;
    this.pendingError = 0;
    return e;
  }

  close(): void {
    if (this.port !== 0) this.st.releaseUdp(this.port);
    this.port = 0;
    this.daddr = 0;
  }

  private input(s: number, ip: number, udp: number): void {
    const ns = this.ns;
    const e = ns.engine;
    const b = e.arena.bytes;
    const src = getU32(b, ip + 12);
    const dst = getU32(b, ip + 16);
    const sport = getU16(b, udp);
    if ((this.daddr !== 0 && (src !== this.daddr || sport !== this.dport)) || (this.saddr !== 0 && dst !== this.saddr)) {
      return icmpError(ns, s, ip, 3, 3, 0, ns.r["port-unreachable"]); // no socket matches
    }
    const l = getU16(b, udp + 4);
    const room = getU16(b, ip + 2) - (udp - ip);
    if (l < 8 || l > room) return e.drop(this.st, this.st.rUdpLength, s);
    // a received 0 means "no checksum"; a datagram built by a local stack (PKT_L4_CSUM_OK, a
    // veth's CHECKSUM_PARTIAL) is accepted unverified, as Linux does
    if (getU16(b, udp + 6) !== 0 && (e.arena.flags[s]! & PKT_L4_CSUM_OK) === 0) {
      const pseudo = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 17 + l;
      if (checksumFold(checksumAdd(pseudo, b, udp, l)) !== 0xffff) return e.drop(this.st, this.st.rUdpChecksum, s);
    }
    this.rxPackets++;
    this.rxBytes += l - 8;
    if (this.onReceive !== null) this.onReceive(this, s, src, sport, udp + 8, l - 8);
    e.deliver(ns, s);
  }

  icmpError(_s: number, ip: number, icmp: number, quoted: number): void {
    const b = this.ns.engine.arena.bytes;
    const qdst = getU32(b, quoted + 16);
    if (this.daddr !== 0 && qdst !== this.daddr) return;
    const type = b[icmp]!;
    const code = b[icmp + 1]!;
    this.icmpErrors++;
    this.lastIcmpType = type;
    this.lastIcmpCode = code;
    this.lastIcmpFrom = getU32(b, ip + 12);
    // udp_err: only hard errors (destination unreachable other than frag-needed) set sk_err on a
    // connected socket; icmp_err_convert: port -> ECONNREFUSED, net -> ENETUNREACH, else EHOSTUNREACH.
    if (this.daddr !== 0 && type === 3 && code !== 4) this.pendingError = code === 3 ? ECONNREFUSED : code === 0 ? ENETUNREACH_ERR : EHOSTUNREACH;
  }
}

/** An echo server on `port`: every datagram goes back to its sender, same payload. */
export function udpEcho(ns: Netns, port: number, opts: UdpSocketOptions = {}): UdpSocket {
  const sock = new UdpSocket(ns, opts);
  sock.onReceive = (sk, _slot, src, sport, payload, len) => {
    sk.sendArena(src, sport, payload, len);
  };
  sock.bind(port);
  return sock;
}

/** A sink on `port`: counts packets (rxPackets) and payload bytes (rxBytes); `onReceive` sees each. */
export function udpSink(ns: Netns, port: number, onReceive?: UdpReceive): UdpSocket {
  const sock = new UdpSocket(ns, onReceive ? { onReceive } : {});
  sock.bind(port);
  return sock;
}
