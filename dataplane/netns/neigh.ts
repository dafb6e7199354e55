// The neighbour (ARP) table of a namespace, with Linux's state machine (net/core/neighbour.c,
// net/ipv4/arp.c; defaults from BEHAVIOR.md 3.7 and what a real kernel put on the wire, 5.4):
//
//   NONE --first use--> INCOMPLETE: broadcast request now, then every retrans_time (1 s); after
//        3 requests with no answer (t = 3 s) FAILED: queued packets are handed back for ICMP host
//        unreachable.
//   a reply --> REACHABLE for reachable_time (base 30 s randomised to 15..45 s), then STALE.
//   a request from the neighbour --> STALE (created if absent; same MAC keeps the state).
//   STALE --use--> DELAY; 5 s later, unless confirmed, PROBE: unicast requests to the cached MAC
//        every second, 3 of them, then FAILED.
//   PERMANENT (ip neigh add ... permanent): never changes, never probed.
//
// Storage: typed arrays with open addressing keyed by (interface, address); one timer for the
// whole table armed at the earliest deadline (a scan on expiry: tables are small). Packets waiting
// for resolution sit in a bounded per-table pool of queue nodes (unres_qlen per entry).

import { macHi, macLo } from "../../core/addr.js";
import { Timer } from "../engine/clock.js";
import type { Engine } from "../engine/engine.js";
import type { Rng } from "../engine/rng.js";

export const NUD_NONE = 0;
export const NUD_INCOMPLETE = 1;
export const NUD_REACHABLE = 2;
export const NUD_STALE = 3;
export const NUD_DELAY = 4;
export const NUD_PROBE = 5;
export const NUD_FAILED = 6;
export const NUD_PERMANENT = 7;
/** States in which a packet goes out to the entry's MAC at once, the state unchanged. */
const usable = (st: number): boolean => st === NUD_REACHABLE || st === NUD_DELAY || st === NUD_PROBE || st === NUD_PERMANENT;
export const NUD_NAMES = ["NONE", "INCOMPLETE", "REACHABLE", "STALE", "DELAY", "PROBE", "FAILED", "PERMANENT"];

const S = 1e9;
export interface NeighParams {
  retransTime: number;
  baseReachableTime: number;
  delayFirstProbeTime: number;
  mcastProbes: number;
  ucastProbes: number;
  /** Packets queued per unresolved entry (Linux limits by bytes, unres_qlen_bytes 212992 ≈ 101 small packets). */
  unresQlen: number;
  gcStaleTime: number;
}
export const LINUX_NEIGH: NeighParams = { retransTime: 1 * S, baseReachableTime: 30 * S, delayFirstProbeTime: 5 * S, mcastProbes: 3, ucastProbes: 3, unresQlen: 101, gcStaleTime: 60 * S };

/** What the table asks of its namespace. */
export interface NeighOwner {
  /** Send an ARP request for `ip` on interface `ifindex`: broadcast when `mac` < 0, else unicast to `mac`. */
  solicit(ifindex: number, ip: number, mac: number): void;
  /** Resolution failed: the packet could not be sent (ICMP host unreachable if forwarded). */
  unresolved(ifindex: number, ip: number, slot: number): void;
  /** Resolution succeeded: transmit the waiting packet to `mac`. */
  resolved(ifindex: number, mac: number, slot: number): void;
}

export class NeighTable {
  readonly cap: number;
  private readonly ifs: Int32Array;
  /** Addresses in int32 form (`ip | 0`): compared and passed as small integers, never boxed. */
  private readonly ips: Int32Array;
  readonly state: Uint8Array;
  readonly mac: Float64Array;
  /** The same MAC as its top 16 bits and low 32 bits (int32), written into frames per packet
   *  without float arithmetic (netns.ts sendEthNeigh). Always set through setMac. */
  readonly macHi: Int32Array;
  readonly macLo: Int32Array;
  private readonly deadline: Float64Array;
  private readonly confirmed: Float64Array;
  private readonly used: Float64Array;
  private readonly reachableTime: Float64Array;
  private readonly probes: Uint8Array;
  private readonly qHead: Int32Array;
  private readonly qTail: Int32Array;
  private readonly qLen: Uint16Array;
  // queue node pool
  private readonly nodeSlot: Int32Array;
  private readonly nodeNext: Int32Array;
  private freeNode: number;
  count = 0;
  /** Index of the last entry find() returned (any index; validated on use). */
  private lastHit = 0;
  queued = 0;
  full = 0;
  private readonly timer: Timer;

  constructor(private readonly engine: Engine, private readonly owner: NeighOwner, private readonly rng: Rng, readonly params: NeighParams = LINUX_NEIGH, capacity = 1024, queueNodes = 1024) {
    this.cap = capacity;
    this.ifs = new Int32Array(capacity).fill(-1);
    this.ips = new Int32Array(capacity);
    this.state = new Uint8Array(capacity);
    this.mac = new Float64Array(capacity);
    this.macHi = new Int32Array(capacity);
    this.macLo = new Int32Array(capacity);
    this.deadline = new Float64Array(capacity).fill(Infinity);
    this.confirmed = new Float64Array(capacity);
    this.used = new Float64Array(capacity);
    this.reachableTime = new Float64Array(capacity);
    this.probes = new Uint8Array(capacity);
    this.qHead = new Int32Array(capacity).fill(-1);
    this.qTail = new Int32Array(capacity).fill(-1);
    this.qLen = new Uint16Array(capacity);
    this.nodeSlot = new Int32Array(queueNodes);
    this.nodeNext = new Int32Array(queueNodes);
    for (let i = 0; i < queueNodes; i++) this.nodeNext[i] = i + 1 < queueNodes ? i + 1 : -1;
    this.freeNode = 0;
    this.timer = new Timer("neigh", () => this.expire(this.engine.clock.now));
  }

  /**
   * resolveEntry's common case for the established-flow path (netfilter/fast-path.ts): the entry
   * of (ifindex, ip) when it is REACHABLE, DELAY, PROBE or PERMANENT, marked used as resolveEntry
   * marks it; -1 for anything else (no entry, or a state whose use changes it), left to
   * resolveEntry.
   */
  usableEntry(ifindex: number, ip: number): number {
    const i = this.find(ifindex, ip);
    if (i < 0) return -1;
    if (!usable(this.state[i]!)) return -1;
    this.used[i] = this.engine.clock.now;
    return i;
  }

  /** Entry index for (ifindex, ip), or -1. */
  find(ifindex: number, ip: number): number {
    // the entry found last (a flow's packets follow each other): checked before hashing
    const last = this.lastHit;
    const k = ip | 0;
    if (this.ifs[last] === ifindex && this.ips[last] === k) return last;
    const i = this.probe(ifindex, k);
    if (i >= 0) this.lastHit = i;
    return i;
  }

  private probe(ifindex: number, ip: number): number {
    const cap = this.cap;
    let i = neighHash(ifindex, ip) % cap;
    for (let k = 0; k < cap; k++) {
      const f = this.ifs[i]!;
      if (f === -1) return -1;
      if (f === ifindex && this.ips[i] === ip) return i;
      i = i + 1 === cap ? 0 : i + 1;
    }
    return -1;
  }

  private insert(ifindex: number, ip: number): number {
    if (this.count * 4 >= this.cap * 3) {
      this.full++;
      return -1;
    }
    let i = neighHash(ifindex, ip) % this.cap;
    while (this.ifs[i] !== -1) i = i + 1 === this.cap ? 0 : i + 1;
    this.ifs[i] = ifindex;
    this.ips[i] = ip | 0;
    this.state[i] = NUD_NONE;
    this.setMac(i, 0);
    this.deadline[i] = Infinity;
    this.probes[i] = 0;
    // neigh_alloc: an old confirmation (now - 2 * base_reachable_time), so nothing counts as confirmed
    this.confirmed[i] = this.engine.clock.now - 2 * this.params.baseReachableTime;
    this.used[i] = this.engine.clock.now;
    this.qLen[i] = 0;
    this.qHead[i] = -1;
    this.qTail[i] = -1;
    this.count++;
    return i;
  }

  private newReachableTime(): number {
    const b = this.params.baseReachableTime;
    return Math.floor(b / 2 + this.rng.float() * b); // 0.5x .. 1.5x (neigh_rand_reach_time)
  }

  private setDeadline(i: number, at: number): void {
    this.deadline[i] = at;
    if (at < this.timerAt()) this.engine.clock.arm(this.timer, at);
  }

  private timerAt(): number {
    return this.timer.armed ? this.timer.at : Infinity;
  }

  /**
   * Resolve `ip` on `ifindex` for `slot`, at the time of sending. Returns the MAC when the packet
   * can go now (REACHABLE, STALE→DELAY, DELAY, PROBE, PERMANENT); otherwise the packet is queued
   * (or handed to `unresolved` when the queue is full / the table is full) and -1 is returned.
   */
  resolve(ifindex: number, ip: number, slot: number): number {
    const i = this.resolveEntry(ifindex, ip, slot);
    return i < 0 ? -1 : this.mac[i]!;
  }

  /**
   * resolve() for the forwarding path: returns the entry whose MAC (`mac[i]`) the packet goes to,
   * or -1. An index and `ip` in int32 form keep every argument a small integer: a 48-bit MAC or an
   * address above 2^31 passed to a call V8 did not inline is boxed in a heap number (16 bytes per
   * packet each; seen as 25 GCs per 6.4 million docker0 packets once a second topology existed).
   */
  resolveEntry(ifindex: number, ip: number, slot: number): number {
    let i = this.find(ifindex, ip);
    const now = this.engine.clock.now;
    if (i < 0) {
      i = this.insert(ifindex, ip);
      if (i < 0) {
        this.owner.unresolved(ifindex, ip >>> 0, slot);
        return -1;
      }
    }
    const st = this.state[i]!;
    this.used[i] = now;
    if (usable(st)) return i;
    if (st === NUD_STALE) {
      this.state[i] = NUD_DELAY;
      this.setDeadline(i, now + this.params.delayFirstProbeTime);
      return i;
    }
    // NONE, FAILED: start resolving; INCOMPLETE: just queue
    if (st !== NUD_INCOMPLETE) {
      this.state[i] = NUD_INCOMPLETE;
      this.probes[i] = this.params.ucastProbes; // as __neigh_event_send: the unicast budget is spent
      this.setDeadline(i, now + this.params.retransTime);
      this.enqueue(i, slot);
      this.probes[i]!++;
      this.owner.solicit(ifindex, ip >>> 0, -1);
      return -1;
    }
    this.enqueue(i, slot);
    return -1;
  }

  private enqueue(i: number, slot: number): void {
    if (this.qLen[i]! >= this.params.unresQlen || this.freeNode < 0) {
      // Linux drops the oldest queued packet; we hand back the new one (counted by the owner)
      this.owner.unresolved(this.ifs[i]!, this.ips[i]! >>> 0, slot);
      return;
    }
    const n = this.freeNode;
    this.freeNode = this.nodeNext[n]!;
    this.nodeSlot[n] = slot;
    this.nodeNext[n] = -1;
    if (this.qTail[i]! >= 0) this.nodeNext[this.qTail[i]!] = n;
    else this.qHead[i] = n;
    this.qTail[i] = n;
    this.qLen[i]!++;
    this.queued++;
  }

  /** Hand every queued packet of entry i to `resolved` (mac >= 0) or `unresolved`. */
  private flush(i: number, mac: number): void {
    let n = this.qHead[i]!;
    const ifindex = this.ifs[i]!;
    const ip = this.ips[i]! >>> 0;
    this.qHead[i] = -1;
    this.qTail[i] = -1;
    this.qLen[i] = 0;
    while (n >= 0) {
      const next = this.nodeNext[n]!;
      const slot = this.nodeSlot[n]!;
      this.nodeNext[n] = this.freeNode;
      this.freeNode = n;
      this.queued--;
      if (mac >= 0) this.owner.resolved(ifindex, mac, slot);
      else this.owner.unresolved(ifindex, ip, slot);
      n = next;
    }
  }

  /**
   * An ARP packet from (ip, mac) arrived on ifindex. `isReply`: a reply (or a request addressed
   * to us whose sender we learn). `create`: whether a missing entry is created (requests for a
   * local address create STALE entries; gratuitous ARP with arp_accept=0 does not).
   */
  learn(ifindex: number, ip: number, mac: number, isReply: boolean, create: boolean): void {
    let i = this.find(ifindex, ip);
    const now = this.engine.clock.now;
    if (i < 0) {
      if (!create) return;
      i = this.insert(ifindex, ip);
      if (i < 0) return;
    }
    const st = this.state[i]!;
    if (st === NUD_PERMANENT) return;
    const sameMac = this.mac[i] === mac && st !== NUD_NONE && st !== NUD_INCOMPLETE && st !== NUD_FAILED;
    this.setMac(i, mac);
    if (isReply) {
      this.state[i] = NUD_REACHABLE;
      this.confirmed[i] = now;
      this.reachableTime[i] = this.newReachableTime();
      this.setDeadline(i, now + this.reachableTime[i]!);
    } else if (!sameMac || st === NUD_NONE || st === NUD_INCOMPLETE || st === NUD_FAILED) {
      // neigh_update(..., NUD_STALE, OVERRIDE): same lladdr keeps a valid state
      this.state[i] = NUD_STALE;
      this.deadline[i] = Infinity;
    }
    if (this.qHead[i]! >= 0) this.flush(i, mac);
  }

  private setMac(i: number, mac: number): void {
    this.mac[i] = mac;
    this.macHi[i] = macHi(mac);
    this.macLo[i] = macLo(mac);
  }

  /** `ip neigh add/replace ... lladdr MAC nud permanent`. */
  addPermanent(ifindex: number, ip: number, mac: number): boolean {
    let i = this.find(ifindex, ip);
    if (i < 0) i = this.insert(ifindex, ip);
    if (i < 0) return false;
    this.state[i] = NUD_PERMANENT;
    this.setMac(i, mac);
    this.deadline[i] = Infinity;
    if (this.qHead[i]! >= 0) this.flush(i, mac);
    return true;
  }

  private expire(now: number): void {
    const p = this.params;
    let next = Infinity;
    for (let i = 0; i < this.cap; i++) {
      if (this.ifs[i] === -1) continue;
      if (this.deadline[i]! <= now) {
        const st = this.state[i]!;
        if (st === NUD_REACHABLE) {
          if (now - this.used[i]! <= p.delayFirstProbeTime) {
            this.state[i] = NUD_DELAY;
            this.deadline[i] = now + p.delayFirstProbeTime;
          } else {
            this.state[i] = NUD_STALE;
            this.deadline[i] = Infinity;
          }
        } else if (st === NUD_DELAY) {
          if (now - this.confirmed[i]! <= p.delayFirstProbeTime) {
            this.state[i] = NUD_REACHABLE;
            this.deadline[i] = now + this.reachableTime[i]!;
          } else {
            this.state[i] = NUD_PROBE;
            this.probes[i] = 0;
            this.deadline[i] = now + p.retransTime;
            this.probes[i]!++;
            this.owner.solicit(this.ifs[i]!, this.ips[i]! >>> 0, this.mac[i]!);
          }
        } else if (st === NUD_INCOMPLETE || st === NUD_PROBE) {
          const max = p.ucastProbes + (st === NUD_PROBE ? 0 : p.mcastProbes);
          if (this.probes[i]! >= max) {
            this.state[i] = NUD_FAILED;
            this.deadline[i] = Infinity;
            this.flush(i, -1);
          } else {
            this.deadline[i] = now + p.retransTime;
            this.probes[i]!++;
            this.owner.solicit(this.ifs[i]!, this.ips[i]! >>> 0, st === NUD_PROBE || this.probes[i]! <= p.ucastProbes ? this.mac[i]! : -1);
          }
        }
      }
      if (this.deadline[i]! < next) next = this.deadline[i]!;
    }
    if (next < Infinity) this.engine.clock.arm(this.timer, next);
  }

  /** Packets waiting for resolution (for conservation). */
  held(): number {
    return this.queued;
  }

  /** Entries for `ip neigh show`: [ifindex, ip, mac, state]. Cold path. */
  entries(): { ifindex: number; ip: number; mac: number; state: number }[] {
    const out: { ifindex: number; ip: number; mac: number; state: number }[] = [];
    for (let i = 0; i < this.cap; i++) if (this.ifs[i] !== -1 && this.state[i] !== NUD_NONE) out.push({ ifindex: this.ifs[i]!, ip: this.ips[i]! >>> 0, mac: this.mac[i]!, state: this.state[i]! });
    return out.sort((a, b) => a.ifindex - b.ifindex || a.ip - b.ip);
  }
}

/** Bucket hash, a uint32 (never negative: `^` gives an int32, so the result is shifted back to
 *  uint32; a negative hash made `% cap` negative and find() walk out-of-range indices up to 0,
 *  which cost 46% of the docker0 UDP path's time before this was seen in a profile). */
export function neighHash(ifindex: number, ip: number): number {
  return ((Math.imul((ip ^ Math.imul(ifindex, 0x9e3779b1)) >>> 0, 0x85ebca6b) >>> 0) ^ (ip >>> 16)) >>> 0;
}
