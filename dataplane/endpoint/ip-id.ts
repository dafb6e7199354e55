// IPv4 identification and DF of locally generated packets, as Linux chooses them
// (include/net/ip.h ip_select_ident_segs after the 2022 "use the private generator as much as we
// can" change, net/ipv4/route.c __ip_select_ident / ip_idents_reserve; BEHAVIOR.md 3.6, 5.1):
//
//   DF: IP_PMTUDISC_DO / PROBE: always; WANT (the default): when the datagram fits the route's
//       MTU (otherwise it is fragmented locally, no DF); DONT: never (ip_dont_fragment).
//   id: connected socket (TCP, connected UDP)           -> per-socket counter inet_id++
//       DF and not ignore_df (DO / PROBE sockets)        -> 0
//       otherwise (WANT, DONT; raw ICMP, unconnected UDP) -> hashed per-destination generator
//   ignore_df (ip_sk_ignore_df) is what makes a WANT socket's DF packets take the generator:
//   pmtudisc < DO. Observed on Linux 6.18 (BEHAVIOR.md 5.1): ping and unconnected UDP send DF with
//   a non-zero id; IP_PMTUDISC_DO sockets DF with id 0.
//
// The generator: a table of 16-bit counters with random initial values (inet_init fills
// ip_idents with get_random_bytes) and a last-use time per counter, indexed by a keyed hash of
// (daddr, saddr, protocol). On use, a counter idle for d jiffies first jumps by a random amount
// below d (ip_idents_reserve), so an observer cannot count another host's traffic. Linux's table
// is global with a siphash key per namespace; here each namespace has its own table and key,
// seeded from its RNG stream, so runs are deterministic. The jump is a keyed hash of (bucket,
// jiffy) rather than the next number of a stream shared by all buckets (Linux draws a fresh
// random number): a bucket's ids then depend only on the traffic that uses it, so a flow run
// alone (a shard of a parallel run, dataplane/parallel/) gets the ids it gets among the others.
// A hashed id may be 0 (1 in 65536), as on Linux. Allocation-free per packet: typed arrays sized
// once.

import type { Rng } from "../engine/rng.js";

export const IP_PMTUDISC_DONT = 0;
export const IP_PMTUDISC_WANT = 1;
export const IP_PMTUDISC_DO = 2;
export const IP_PMTUDISC_PROBE = 3;

export const IPV4_DF = 0x4000;

/** Table size of the hashed generator (Linux sizes ip_idents from memory; 2048 at minimum). */
export const IP_IDENTS_SIZE = 2048;
/** Jiffy length: HZ = 1000. */
export const JIFFY_NS = 1e6;

/** What the id choice needs from a socket: its PMTU mode, its peer (0: unconnected), its counter. */
export interface IdentSocket {
  pmtudisc: number;
  daddr: number;
  inetId: number;
}

export class IpIdGenerator {
  private readonly ids = new Uint16Array(IP_IDENTS_SIZE);
  private readonly stamp = new Float64Array(IP_IDENTS_SIZE);
  private readonly key0: number;
  private readonly key1: number;
  private readonly key2: number;

  constructor(rng: Rng) {
    for (let i = 0; i < IP_IDENTS_SIZE; i++) this.ids[i] = rng.u32() & 0xffff;
    this.key0 = rng.u32();
    this.key1 = rng.u32();
    this.key2 = rng.u32();
  }

  /** Bucket of (dst, src, proto): a keyed mix (Linux: siphash_3u32 with the namespace's key). */
  bucket(dst: number, src: number, proto: number): number {
    let h = this.key0 ^ Math.imul(dst | 0, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 15), 0x85ebca6b) ^ (src | 0);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) ^ proto ^ this.key1;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    return (h ^ (h >>> 13)) & (IP_IDENTS_SIZE - 1);
  }

  /** ip_idents_reserve(hash, segs): the id for the next `segs` packets to (dst, src, proto) at
   *  time `j` in jiffies (`jiffies(now)`; a small integer, not ns: see selectIdent). */
  next(dst: number, src: number, proto: number, j: number, segs = 1): number {
    const h = this.bucket(dst, src, proto);
    const old = this.stamp[h]!;
    let delta = 0;
    if (old !== j) {
      this.stamp[h] = j;
      delta = Math.floor(this.jump(h, j) * (j - old)); // get_random_u32_below(now - old)
    }
    const id = (this.ids[h]! + delta) & 0xffff;
    this.ids[h] = id + segs;
    return id;
  }

  /** Uniform in [0, 1), fixed by the key, the bucket and the jiffy (see the header). */
  private jump(h: number, j: number): number {
    let x = this.key2 ^ Math.imul(h + 1, 0x9e3779b1);
    x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) ^ (j | 0) ^ Math.imul((j / 0x1_0000_0000) | 0, 0x27d4eb2f);
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
    return ((x ^ (x >>> 16)) >>> 0) / 0x1_0000_0000;
  }
}

/** Virtual time in jiffies. */
export function jiffies(now: number): number {
  return Math.floor(now / JIFFY_NS);
}

/** Whether a datagram of `total` bytes leaves with DF on a route of MTU `mtu` (ip_dont_fragment). */
export function sendsDf(pmtudisc: number, total: number, mtu: number): boolean {
  if (pmtudisc === IP_PMTUDISC_DO || pmtudisc === IP_PMTUDISC_PROBE) return true;
  return pmtudisc === IP_PMTUDISC_WANT && total <= mtu;
}

/**
 * The IPv4 id of the next packet `sk` sends to `dst` from `src` with protocol `proto`
 * (ip_select_ident_segs). `df`: whether the packet carries DF. Advances the socket's counter or
 * the namespace generator. Addresses may be given in int32 form (`a | 0`) and time is in jiffies:
 * a value outside the small-integer range passed to a call that is not inlined is boxed (a heap
 * allocation per packet; see stack.ts `ipSend`).
 */
export function selectIdent(gen: IpIdGenerator, sk: IdentSocket, df: boolean, src: number, dst: number, proto: number, j: number): number {
  if (sk.daddr !== 0) {
    const id = sk.inetId & 0xffff;
    sk.inetId = (id + 1) & 0xffff;
    return id;
  }
  const ignoreDf = sk.pmtudisc < IP_PMTUDISC_DO;
  if (df && !ignoreDf) return 0;
  return gen.next(dst, src, proto, j);
}
