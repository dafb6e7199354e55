// The socket layer of a namespace: what its endpoint applications (udp-socket.ts, ping.ts,
// udp-flows.ts) share. One per namespace, created on first use by `sockets(ns)` and added to the
// engine as a device named "<ns>/sockets" with no ports: it only owns state and drop reasons.
//
// State: the hashed IP id generator (ip-id.ts), the bound-UDP-port bitmap and ephemeral port
// choice (ports.ts), the ICMP listeners (echo replies by ICMP id, errors by the quoted UDP source
// port or echo id), from the namespace's RNG stream (`engine.rng.fork(ns).fork("sockets")`).
// Output: `route`/`source`/`alloc`/`ipSend` build a locally generated IPv4 packet directly in an
// arena slot (no intermediate buffer) and send it the way the namespace sends its own: route,
// next-hop resolution, Ethernet header; datagrams larger than the MTU without DF are fragmented
// locally (fragment.ts: one shared id, no DF).
// ICMP input: the namespace's `icmp` hook; every message is consumed (delivered) after the
// matching listener has read it, as a raw socket sees a copy and the kernel consumes the packet.
// Drop reasons: "udp-checksum", "udp-length" (a bound socket got a bad datagram).

import { Device } from "../engine/device.js";
import type { Rng } from "../engine/rng.js";
import type { Netns } from "../netns/netns.js";
import { RTN_UNICAST, routeLookup, routeOif, routePrefSrc, routeType } from "../netns/route.js";
import { outputVia } from "../netns/ip-output.js";
import { fragmentAndSend } from "../netns/fragment.js";
import { getU16 } from "../../core/bytes.js";
import { ETH_HEADER_LEN } from "../../core/wire/ethernet.js";
import { ipv4WriteHeader } from "../../core/wire/ipv4.js";
import { PKT_L4_CSUM_OK } from "../../core/packet.js";
import { IpIdGenerator, IPV4_DF, jiffies, selectIdent, sendsDf, type IdentSocket } from "./ip-id.js";
import { ephemeralPort } from "./ports.js";

export const ENETUNREACH = -101;
export const EMSGSIZE = -90;
export const ENOBUFS = -105;
export const EADDRINUSE = -98;

/** Offset of the IPv4 header in a slot built by `alloc` (Ethernet header space before it). */
export const IP_AT = ETH_HEADER_LEN;
/** Offset of the L4 header (no IP options). */
export const L4_AT = ETH_HEADER_LEN + 20;

/** A socket's sending state: id/DF (ip-id.ts) plus TTL and TOS. */
export interface SendSocket extends IdentSocket {
  ttl: number;
  tos: number;
}

/** Reads ICMP for a socket; the slot stays the dispatcher's (it delivers it afterwards). */
export interface IcmpListener {
  /** An echo reply with this listener's id; `icmp` = offset of the ICMP header. */
  echoReply?(slot: number, ip: number, icmp: number): void;
  /** An ICMP error quoting one of this listener's packets; `quoted` = offset of the quoted IP header. */
  icmpError(slot: number, ip: number, icmp: number, quoted: number): void;
}

export class Sockets extends Device {
  readonly ids: IpIdGenerator;
  readonly rng: Rng;
  /** Bound UDP ports (1 = bound by a socket here). */
  readonly udpUsed = new Uint8Array(65536);
  private nBound = 0;
  /** Listener by local UDP port (ICMP errors). */
  readonly udpListeners = new Map<number, IcmpListener>();
  /** Listener by ICMP echo id. */
  readonly echoListeners = new Map<number, IcmpListener>();
  /** The instant (ns) `jValue` (its jiffies) was computed for. */
  private jNow = -1;
  private jValue = 0;
  readonly rUdpChecksum: number;
  readonly rUdpLength: number;

  constructor(readonly owner: Netns) {
    super(`${owner.name}/sockets`, ["udp-checksum", "udp-length"]);
    this.rUdpChecksum = this.reason("udp-checksum");
    this.rUdpLength = this.reason("udp-length");
    this.rng = owner.engine.rng.fork(owner.name).fork("sockets");
    this.ids = new IpIdGenerator(this.rng.fork("ip-id"));
    owner.icmp = (_ns, s, ip, l4) => this.icmpInput(s, ip, l4);
  }

  process(slots: Int32Array, n: number): void {
    for (let k = 0; k < n; k++) this.engine.drop(this, 0, slots[k]!);
  }

  // ---- ports (cold) -----------------------------------------------------------------------------

  /** Bind a UDP port: `port` 0 picks an ephemeral one. Returns the port or EADDRINUSE. */
  bindUdp(port: number): number {
    const used = this.udpUsed;
    if (port === 0) {
      const others = this.owner.udp.size !== this.nBound;
      if (others) for (const p of this.owner.udp.keys()) used[p] = used[p] || 2; // ports bound by other code
      port = ephemeralPort(this.rng.u32(), used);
      if (others) for (const p of this.owner.udp.keys()) if (used[p] === 2) used[p] = 0;
      if (port < 0) return EADDRINUSE;
    } else if (used[port] || this.owner.udp.has(port)) return EADDRINUSE;
    used[port] = 1;
    this.nBound++;
    return port;
  }

  releaseUdp(port: number): void {
    if (this.udpUsed[port] === 1) this.nBound--;
    this.udpUsed[port] = 0;
    this.udpListeners.delete(port);
    this.owner.udp.delete(port);
  }

  // ---- output -----------------------------------------------------------------------------------

  /** Route index towards `dst`, or ENETUNREACH. */
  route(dst: number): number {
    const r = routeLookup(this.owner, dst >>> 0);
    return r < 0 || routeType(this.owner, r) !== RTN_UNICAST ? ENETUNREACH : r;
  }

  /** Source address for `dst` via route `r` (the route's src, else inet_select_addr), in int32
   *  form (`a | 0`, a small integer: see ipSend). */
  source(r: number, dst: number): number {
    const p = routePrefSrc(this.owner, r);
    return (p !== 0 ? p : this.owner.selectSource(routeOif(this.owner, r), dst >>> 0)) | 0;
  }

  /** A slot for an IPv4 packet (20-byte header) with `l4len` bytes after it, or ENOBUFS/EMSGSIZE. */
  alloc(l4len: number): number {
    const e = this.engine;
    const s = e.alloc(this.owner);
    if (s < 0) return ENOBUFS;
    if (!e.arena.setLen(s, L4_AT + l4len)) {
      e.deliver(this.owner, s); // never sent: the application got EMSGSIZE (larger than a slot)
      return EMSGSIZE;
    }
    return s;
  }

  /**
   * Write the IPv4 header in front of the L4 bytes of `slot` (from `alloc`) and send it along route
   * `r`: id and DF as `sk` chooses them, TTL/TOS from `sk`. Larger than the MTU: EMSGSIZE with DF
   * (IP_PMTUDISC_DO), else fragmented. `src`/`dst` in int32 form (`a | 0`).
   * Addresses travel between the endpoint functions in int32 form and time as jiffies: V8 passes
   * an integer below 2^31 to a call as a small integer but may box 172.17.0.3 (above 2^31) or a
   * time above 2.1 s in a heap number. Measured with 64 x 50,000 sendTo() of 22-byte datagrams into
   * a downed interface (node /tmp/alloc-exp4.mjs send, bench/lib.ts measureAllocation): uint32
   * addresses 6 GCs in one run; int32 0, 12 and 13 GCs in three runs: the send path is NOT
   * reliably allocation-free yet (the cause was not found; no deopts in these functions).
   */
  ipSend(slot: number, sk: SendSocket, proto: number, src: number, dst: number, r: number): number {
    const ns = this.owner;
    const e = this.engine;
    const a = e.arena;
    const b = a.bytes;
    const ip = a.start(slot) + IP_AT;
    const total = a.len[slot]! - ETH_HEADER_LEN;
    const mtu = ns.mtu[routeOif(ns, r)]!;
    const df = sendsDf(sk.pmtudisc, total, mtu);
    if (df && total > mtu) {
      e.deliver(ns, slot); // never sent: the application got EMSGSIZE
      return EMSGSIZE;
    }
    const tos = sk.tos & 0xff, ttl = sk.ttl & 0xff;
    const now = e.clock.now;
    if (now !== this.jNow) {
      // jiffies of the current instant, computed once per instant (a float division otherwise
      // paid per packet; a generator sends a whole tick at one instant)
      this.jNow = now;
      this.jValue = jiffies(now);
    }
    const id = selectIdent(this.ids, sk, df, src, dst, proto, this.jValue);
    ipv4WriteHeader(b, ip, tos, total, id, df ? IPV4_DF : 0, ttl, proto, src, dst);
    a.flags[slot]! |= PKT_L4_CSUM_OK; // the caller wrote the L4 checksum
    if (ns.netfilter !== null) ns.netfilter.localOut(slot, r, dst); // OUTPUT, POSTROUTING, then the same
    else if (total > mtu) fragmentAndSend(ns, slot, r, dst >>> 0, mtu);
    else outputVia(ns, slot, r, dst);
    return slot;
  }

  // ---- ICMP input (the namespace's hook) --------------------------------------------------------

  private icmpInput(s: number, ip: number, l4: number): void {
    const e = this.engine;
    const b = e.arena.bytes;
    const type = b[l4]!;
    const end = ip + getU16(b, ip + 2);
    if (type === 0) {
      const l = this.echoListeners.get(getU16(b, l4 + 4));
      if (l !== undefined && l.echoReply !== undefined) l.echoReply(s, ip, l4);
    } else if ((type === 3 || type === 11 || type === 12 || type === 4) && l4 + 8 + 20 + 8 <= end) {
      const q = l4 + 8;
      const qihl = (b[q]! & 15) * 4;
      const qp = b[q + 9]!;
      if (q + qihl + 8 <= end) {
        let l: IcmpListener | undefined;
        if (qp === 17) l = this.udpListeners.get(getU16(b, q + qihl));
        else if (qp === 1 && b[q + qihl] === 8) l = this.echoListeners.get(getU16(b, q + qihl + 4));
        if (l !== undefined) l.icmpError(s, ip, l4, q);
      }
    }
    e.deliver(this.owner, s);
  }
}

/** The socket layer of `ns` (created and added to its engine on first use). */
export function sockets(ns: Netns): Sockets {
  const d = ns.engine.device(`${ns.name}/sockets`);
  if (d instanceof Sockets) return d;
  return ns.engine.add(new Sockets(ns));
}
