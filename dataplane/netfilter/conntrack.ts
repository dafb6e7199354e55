// The connection tracking table of one namespace, as Linux's nf_conntrack (net/netfilter/
// nf_conntrack_core.c, nf_conntrack_proto_{udp,icmp,generic}.c; TCP in conntrack-tcp.ts).
//
// An entry holds two tuples (proto, src, dst, sport, dport), original and reply direction, each
// hashed on its own (nf_conn's tuplehash[2]): a node is `entry * 2 + dir`, and a lookup returns the
// node, so one probe gives both the entry and the direction. ICMP tuples carry the echo id in
// sport (the same in both directions) and `type << 8 | code` in dport (the reply's type is the
// inverse: echo 8 <-> echo reply 0, timestamp 13 <-> 14, info 15 <-> 16, address mask 17 <-> 18);
// other protocols (generic) have ports 0.
//
// Life of an entry, as Linux: the first packet of a flow creates it unconfirmed (not hashed, not
// timed: `lookupOrCreate`), NAT may rewrite its reply tuple while it is unconfirmed (nat-tuple.ts),
// and it is hashed when the packet leaves the last hook (`confirm`, __nf_conntrack_confirm). A
// packet dropped before that frees its unconfirmed entry (`discard`). Every packet refreshes the
// entry's timeout (per protocol); an entry is deleted at its deadline.
//
// What a packet is to its entry (ctinfo): NEW until a reply was seen, ESTABLISHED after,
// ESTABLISHED_REPLY for the reply direction, RELATED(_REPLY) for an ICMP error quoting one of its
// packets (`findRelated`). `track` is nf_conntrack_in for one IPv4 packet and returns a reference
// `(entry << 3) | ctinfo` (conntrack-bits.ts), or CTREF_INVALID (no entry: the packet is INVALID to
// `-m conntrack --ctstate`, as Linux for malformed packets, an echo reply without request, an ICMP
// error quoting nothing known, a TCP segment the state machine refuses) or CTREF_DROP (the table is
// full: counted in `full`, the `conntrack-full` drop reason); `confirm` may answer CTREF_CLASH.
//
// Defaults (BEHAVIOR.md 3.3, and /proc/sys/net/netfilter in a fresh namespace on Linux 6.18,
// fixtures/conntrack-sysctl.txt): UDP 30 s unreplied, 120 s (udp_timeout_stream) once a packet
// comes more than 2 s after the first with a reply seen, which also sets ASSURED; ICMP 30 s;
// generic 600 s; TCP per state (conntrack-tcp.ts). nf_conntrack_max = 262144, what Linux computes
// for a 64-bit host with more than 4 GiB of memory (buckets = max, one bucket per entry); a
// smaller host gets 65536 (1-4 GiB) or memory/16384/8 buckets, at least 1024. The arrays start at
// `initialCapacity` entries and double up to `max` (a copy, not per packet).
//
// When full: early_drop as Linux, from the new tuple's bucket over 8 buckets, every entry without
// ASSURED in the first bucket that has one is deleted; if none, the packet is dropped.
//
// Expiry: one Timer for the table, armed at the earliest key of a heap of entries
// (conntrack-expiry.ts). A refresh that moves a deadline later only stores it; the heap key is
// corrected when it comes up (lazy), so a packet costs no heap operation (not even a read of its
// key) unless its deadline moves earlier. The protocol trackers are in conntrack-track.ts (UDP, ICMP, errors, generic) and
// conntrack-tcp.ts.
//
// How the hooks use it (the order of Linux's hooks and priorities):
//   ref = ct.track(b, off)                 PREROUTING and OUTPUT, after reassembly
//   ct.ctState(ref), ct.statusOf(refEntry(ref))      what `-m conntrack` tests
//   at PREROUTING/OUTPUT (NAT_MANIP_DST) and POSTROUTING/INPUT (NAT_MANIP_SRC):
//     RELATED ICMP errors: natIcmpReplyTranslation(ct, ref, manip, b, off)     (nat-packet.ts)
//     a new connection (ctinfo NEW, entry unconfirmed, !natInitialized): the nat table's DNAT /
//       SNAT / MASQUERADE -> natSetup(ct, ref, manip, ...), or natNullBinding(ct, ref, manip)
//     then natPacket(ct, ref, manip, b, off)
//   ref = ct.confirm(ref)                  when the packet leaves POSTROUTING or INPUT
//   ct.discard(ref)                        a packet dropped before that
//   relatedRef(ref)                        an ICMP error the stack sends about the packet
//
// Not done: fragments (the caller reassembles first, as nf_defrag_ipv4 does before conntrack:
// `track` refuses fragments), checksum verification (nf_conntrack_checksum, the caller's),
// expectations and helpers (no RELATED data connections), zones, the gc worker's early drop of
// closing TCP entries above 95% of max, SCTP/DCCP/UDPLITE/GRE trackers (generic here), NAT clash
// resolution beyond "same flow" (nf_ct_resolve_clash_harder).

import { Timer, type Clock } from "../engine/clock.js";
import type { Rng } from "../engine/rng.js";
import {
  CT_BYSOURCE, CT_USED, CTREF_CLASH, CTREF_DROP, CTREF_INVALID, CTSTATE_DNAT, CTSTATE_INVALID, CTSTATE_SNAT, IP_CT_ESTABLISHED, IP_CT_ESTABLISHED_REPLY,
  IP_CT_NEW, IPS_ASSURED, IPS_CONFIRMED, IPS_DST_NAT, IPS_DYING, IPS_SEEN_REPLY, IPS_SRC_NAT, T_NOW, icmpInvertTypeCode, makeRef, refCtinfo,
  refEntry,
} from "./conntrack-bits.js";
import { LINUX_TCP, TcpTrack, type TcpParams } from "./conntrack-tcp.js";
import { ExpiryHeap } from "./conntrack-expiry.js";
import { findRelated, trackPacket, trackTcp } from "./conntrack-track.js";
import { ENT_WORDS } from "./conntrack-bits.js";

const PROTO_ICMP = 1;
const S = 1e9;

export interface ConntrackParams {
  /** nf_conntrack_max. */
  max: number;
  /** Entries the arrays hold at first; they double up to `max`. */
  initialCapacity: number;
  /** nf_conntrack_udp_timeout, nf_conntrack_udp_timeout_stream, nf_conntrack_icmp_timeout,
   *  nf_conntrack_generic_timeout (ns). */
  udpTimeout: number;
  udpTimeoutStream: number;
  icmpTimeout: number;
  genericTimeout: number;
  tcp: TcpParams;
}
export const LINUX_CONNTRACK: ConntrackParams = {
  max: 262144,
  initialCapacity: 1024,
  udpTimeout: 30 * S,
  udpTimeoutStream: 120 * S,
  icmpTimeout: 30 * S,
  genericTimeout: 600 * S,
  tcp: LINUX_TCP,
};

/** Entries examined by early_drop: NF_CT_EVICTION_RANGE buckets. */
const EVICTION_RANGE = 8;

export class ConntrackTable {
  readonly params: ConntrackParams;
  readonly max: number;
  /** Entries the arrays hold now. */
  cap: number;
  // ---- by entry: one 64-byte block (conntrack-bits.ts ENT_WORDS) ----
  /** 16 int32 words per entry, the fields a packet touches in one cache line: the original
   *  node (source, destination, ports `sport << 16 | dport` (ICMP: id and `type << 8 | code`),
   *  next node of its hash chain), status (IPS_* bits, CT_USED, CT_BYSOURCE), protocol, id
   *  (creation order, the dump's order), mark, the reply node, then the deadline and the creation
   *  time as float64. Node n = entry * 2 + dir starts at word n * 8. Arrays per field took a
   *  cache line each: a lookup, refresh and NAT rewrite of an established flow read ~6 lines
   *  where this reads 2 (the bucket head and the block). */
  ent!: Int32Array;
  /** The same memory, for the status, id and mark words (unsigned). */
  entU!: Uint32Array;
  /** The same memory as float64: deadline at e * 8 + F_DEADLINE, creation at e * 8 + F_BORN. */
  entF!: Float64Array;
  private bsNext!: Int32Array;
  private readonly expiry = new ExpiryHeap(0);
  private freeStack!: Int32Array;
  private freeTop = 0;
  // ---- buckets ----
  private head!: Int32Array;
  private bsHead!: Int32Array;
  private mask = 0;
  readonly tcp: TcpTrack;
  /** Timeouts (ns) by index: TCP's 0..11, then T_UDP, T_UDP_STREAM, T_ICMP, T_GENERIC, 0. */
  readonly timeouts: Float64Array;
  private readonly timer: Timer;
  private readonly seed: number;
  /** Random numbers for NAT port selection (nat-tuple.ts). */
  readonly rng: Rng;
  private nextId = 1;
  /** Node found last (-1 none): a flow's packets follow each other. */
  private lastNode = -1;

  /** Entries in use (confirmed or not), as nf_conntrack_count. */
  count = 0;
  // counters (conntrack -S names where Linux has one)
  found = 0;
  created = 0;
  invalid = 0;
  /** Packets dropped because the table was full and nothing could be evicted (`conntrack-full`). */
  full = 0;
  earlyDrop = 0;
  insertFailed = 0;
  clashResolved = 0;
  expired = 0;
  /** Entries deleted by kill(). */
  killed = 0;
  /** Times the arrays were enlarged. */
  grown = 0;

  constructor(readonly clock: Clock, rng: Rng, params: Partial<ConntrackParams> = {}) {
    this.params = { ...LINUX_CONNTRACK, ...params };
    this.max = this.params.max;
    this.rng = rng;
    this.seed = rng.u32() | 0;
    this.cap = 0;
    this.tcp = new TcpTrack(0, this.params.tcp);
    const p = this.params;
    this.timeouts = Float64Array.from([...this.tcp.timeouts, p.udpTimeout, p.udpTimeoutStream, p.icmpTimeout, p.genericTimeout, 0]);
    this.timer = new Timer("conntrack", () => this.expire());
    this.allocate(Math.min(this.params.initialCapacity, this.max));
  }

  // ---- storage ---------------------------------------------------------------------------------

  /** Bytes the arrays take per entry (node arrays, entry arrays, heap, free stack, both bucket
   *  arrays at one bucket per entry, TCP state). */
  get bytesPerEntry(): number {
    const arrays = [this.ent, this.bsNext, this.freeStack];
    let b = 0;
    for (const a of arrays) b += a.byteLength;
    b += this.head.byteLength + this.bsHead.byteLength;
    return b / this.cap + ExpiryHeap.BYTES_PER_ENTRY + TcpTrack.BYTES_PER_ENTRY;
  }

  private allocate(cap: number): void {
    const old = this.cap;
    const g32 = (a: Int32Array | undefined, n: number) => { const b = new Int32Array(n); if (a) b.set(a); return b; };
    this.ent = g32(this.ent, ENT_WORDS * cap);
    this.entU = new Uint32Array(this.ent.buffer);
    this.entF = new Float64Array(this.ent.buffer);
    this.bsNext = g32(this.bsNext, cap);
    this.freeStack = g32(this.freeStack, cap);
    for (let e = cap - 1; e >= old; e--) this.freeStack[this.freeTop++] = e;
    this.tcp.grow(cap);
    this.expiry.grow(cap);
    this.cap = cap;
    // one bucket per entry (a power of two), as Linux sizes nf_conntrack_max = buckets
    let nb = 1;
    while (nb < cap) nb *= 2;
    this.head = new Int32Array(nb).fill(-1);
    this.bsHead = new Int32Array(nb).fill(-1);
    this.mask = nb - 1;
    this.lastNode = -1;
    for (let e = 0; e < old; e++) {
      const st = this.statusOf(e);
      if ((st & (IPS_CONFIRMED | IPS_DYING | CT_USED)) === (IPS_CONFIRMED | CT_USED)) {
        this.hashNode(e * 2);
        this.hashNode(e * 2 + 1);
      }
      if (st & CT_BYSOURCE) this.bsLink(e);
    }
  }

  private grow(): void {
    this.allocate(Math.min(this.max, this.cap * 2));
    this.grown++;
  }

  // ---- hashing ---------------------------------------------------------------------------------

  /** Hash of a tuple, 31 bits: never negative (a negative hash masked or taken modulo walks
   *  out-of-range buckets, see neigh.ts), and a small integer, so returning it never boxes a
   *  heap number as a uint32 above 2^31 would. */
  hashTuple(proto: number, src: number, dst: number, sport: number, dport: number): number {
    let h = Math.imul(src ^ this.seed, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 15) ^ dst, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ ((sport << 16) | dport), 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16) ^ proto, 0x27d4eb2f);
    return (h ^ (h >>> 15)) & 0x7fffffff;
  }

  // ---- an entry's fields ----
  statusOf(e: number): number {
    return this.entU[e * 16 + 4]!;
  }
  setStatus(e: number, v: number): void {
    this.entU[e * 16 + 4] = v;
  }
  protoOf(e: number): number {
    return this.ent[e * 16 + 5]!;
  }
  setProto(e: number, v: number): void {
    this.ent[e * 16 + 5] = v;
  }
  idOf(e: number): number {
    return this.entU[e * 16 + 6]!;
  }
  setId(e: number, v: number): void {
    this.entU[e * 16 + 6] = v;
  }
  markOf(e: number): number {
    return this.entU[e * 16 + 7]!;
  }
  setMark(e: number, v: number): void {
    this.entU[e * 16 + 7] = v;
  }
  /** When entry e expires (ns, virtual time). */
  deadlineOf(e: number): number {
    return this.entF[e * 8 + 6]!;
  }
  setDeadline(e: number, v: number): void {
    this.entF[e * 8 + 6] = v;
  }
  /** When entry e was created (UDP's 2-second stream rule). */
  bornOf(e: number): number {
    return this.entF[e * 8 + 7]!;
  }
  setBorn(e: number, v: number): void {
    this.entF[e * 8 + 7] = v;
  }

  // ---- a node's words ----
  tSrc(n: number): number {
    return this.ent[n * 8]!;
  }
  tDst(n: number): number {
    return this.ent[n * 8 + 1]!;
  }
  tSport(n: number): number {
    return this.ent[n * 8 + 2]! >>> 16;
  }
  tDport(n: number): number {
    return this.ent[n * 8 + 2]! & 0xffff;
  }
  /** Set node n's tuple (not its hash link: rehash a hashed node around this). */
  setTuple(n: number, src: number, dst: number, sport: number, dport: number): void {
    const k = n * 8;
    const a = this.ent;
    a[k] = src;
    a[k + 1] = dst;
    a[k + 2] = (sport << 16) | dport;
  }
  private hNext(n: number): number {
    return this.ent[n * 8 + 3]!;
  }
  private setNext(n: number, next: number): void {
    this.ent[n * 8 + 3] = next;
  }
  private nodeHash(n: number): number {
    const a = this.ent, k = n * 8;
    const pp = a[k + 2]!;
    return this.hashTuple(this.protoOf(n >> 1), a[k]!, a[k + 1]!, pp >>> 16, pp & 0xffff);
  }

  private hashNode(n: number): void {
    const b = this.nodeHash(n) & this.mask;
    this.setNext(n, this.head[b]!);
    this.head[b] = n;
  }

  private unhashNode(n: number): void {
    const b = this.nodeHash(n) & this.mask;
    let p = this.head[b]!;
    if (p === n) {
      this.head[b] = this.hNext(n);
      return;
    }
    while (p >= 0) {
      const q = this.hNext(p);
      if (q === n) {
        this.setNext(p, this.hNext(n));
        return;
      }
      p = q;
    }
  }

  private unhash(e: number): void {
    this.unhashNode(e * 2);
    this.unhashNode(e * 2 + 1);
    if (this.lastNode >> 1 === e) this.lastNode = -1;
  }

  /** The node (entry * 2 + dir) whose tuple this is, or -1. Addresses as int32 or uint32. */
  find(proto: number, src: number, dst: number, sport: number, dport: number): number {
    src |= 0;
    dst |= 0;
    const ports = (sport << 16) | dport;
    const a = this.ent;
    const last = this.lastNode;
    if (last >= 0) {
      const k = last * 8;
      if (a[k] === src && a[k + 1] === dst && a[k + 2] === ports && a[(last >> 1) * 16 + 5] === proto) return last;
    }
    let n = this.head[this.hashTuple(proto, src, dst, sport, dport) & this.mask]!;
    while (n >= 0) {
      const k = n * 8;
      if (a[k] === src && a[k + 1] === dst && a[k + 2] === ports && a[(n >> 1) * 16 + 5] === proto) {
        this.lastNode = n;
        return n;
      }
      n = a[k + 3]!;
    }
    return -1;
  }

  /**
   * nf_conntrack_tuple_taken: whether a hashed entry other than `ignore` has this tuple in either
   * direction; an entry with the same original tuple as `ignore` does not count (the same flow,
   * left to the clash resolution at confirm).
   */
  tupleTaken(proto: number, src: number, dst: number, sport: number, dport: number, ignore: number): boolean {
    src |= 0;
    dst |= 0;
    let n = this.head[this.hashTuple(proto, src, dst, sport, dport) & this.mask]!;
    while (n >= 0) {
      const x = n >> 1;
      if (x !== ignore && this.tSrc(n) === src && this.tDst(n) === dst && this.tSport(n) === sport && this.tDport(n) === dport && this.protoOf(x) === proto) {
        if (ignore < 0 || !this.sameTuple(ignore * 2, x * 2)) return true;
      }
      n = this.hNext(n);
    }
    return false;
  }

  private sameTuple(a: number, b: number): boolean {
    const k = this.ent;
    return k[a * 8] === k[b * 8] && k[a * 8 + 1] === k[b * 8 + 1] && k[a * 8 + 2] === k[b * 8 + 2] && this.protoOf(a >> 1) === this.protoOf(b >> 1);
  }

  // ---- by-source chain (NAT source mappings, nf_nat_bysource) ------------------------------------

  /** Bucket of the by-source chain for an original source (proto, address, port or ICMP id). */
  bySourceHead(proto: number, src: number, sport: number): number {
    return this.bsHead[this.hashTuple(proto, src, 0, sport, 0) & this.mask]!;
  }
  bySourceNext(e: number): number {
    return this.bsNext[e]!;
  }
  /** Link entry e in the by-source chain of its original source (nf_nat_setup_info for SRC). */
  bsLink(e: number): void {
    const b = this.hashTuple(this.protoOf(e), this.tSrc(e * 2), 0, this.tSport(e * 2), 0) & this.mask;
    this.bsNext[e] = this.bsHead[b]!;
    this.bsHead[b] = e;
    this.setStatus(e, this.statusOf(e) | CT_BYSOURCE);
  }
  private bsUnlink(e: number): void {
    const b = this.hashTuple(this.protoOf(e), this.tSrc(e * 2), 0, this.tSport(e * 2), 0) & this.mask;
    let p = this.bsHead[b]!;
    if (p === e) this.bsHead[b] = this.bsNext[e]!;
    else {
      while (p >= 0 && this.bsNext[p] !== e) p = this.bsNext[p]!;
      if (p >= 0) this.bsNext[p] = this.bsNext[e]!;
    }
    this.setStatus(e, this.statusOf(e) & ~CT_BYSOURCE);
  }

  // ---- entries -----------------------------------------------------------------------------------

  /**
   * The entry of this packet tuple, or a new unconfirmed one (resolve_normal_ct): a reference
   * `(entry << 3) | ctinfo`, CTREF_INVALID (an ICMP type with no inverse) or CTREF_DROP (full).
   */
  lookupOrCreate(proto: number, src: number, dst: number, sport: number, dport: number): number {
    const n = this.find(proto, src, dst, sport, dport);
    if (n >= 0) {
      this.found++;
      const e = n >> 1;
      if (n & 1) return makeRef(e, IP_CT_ESTABLISHED_REPLY);
      return makeRef(e, this.statusOf(e) & IPS_SEEN_REPLY ? IP_CT_ESTABLISHED : IP_CT_NEW);
    }
    let rsport = dport, rdport = sport;
    if (proto === PROTO_ICMP) {
      rdport = icmpInvertTypeCode(dport);
      if (rdport < 0) return CTREF_INVALID;
      rsport = sport;
    }
    const e = this.alloc(this.hashTuple(proto, src | 0, dst | 0, sport, dport));
    if (e < 0) return CTREF_DROP;
    const o = e * 2;
    this.setProto(e, proto);
    this.setTuple(o, src, dst, sport, dport);
    this.setTuple(o + 1, dst, src, rsport, rdport);
    this.created++;
    return makeRef(e, IP_CT_NEW);
  }

  private alloc(hash: number): number {
    if (this.count >= this.max && !this.evict(hash)) {
      this.full++;
      return -1;
    }
    if (this.freeTop === 0) this.grow();
    const e = this.freeStack[--this.freeTop]!;
    this.count++;
    this.setStatus(e, CT_USED);
    this.setMark(e, 0);
    this.setId(e, this.nextId++);
    this.setBorn(e, this.clock.now);
    this.setDeadline(e, this.clock.now);
    return e;
  }

  /** early_drop: delete the non-ASSURED entries of the first of 8 buckets (from the new tuple's)
   *  that has any. */
  private evict(hash: number): boolean {
    let b = hash & this.mask;
    for (let i = 0; i < EVICTION_RANGE; i++) {
      let drops = 0;
      for (;;) {
        let n = this.head[b]!;
        while (n >= 0 && this.statusOf(n >> 1) & IPS_ASSURED) n = this.hNext(n);
        if (n < 0) break;
        this.free(n >> 1);
        drops++;
      }
      if (drops > 0) {
        this.earlyDrop += drops;
        this.rearm();
        return true;
      }
      b = (b + 1) & this.mask;
    }
    return false;
  }

  private free(e: number): void {
    const st = this.statusOf(e);
    if (st & CT_BYSOURCE) this.bsUnlink(e);
    if ((st & (IPS_CONFIRMED | IPS_DYING)) === IPS_CONFIRMED) this.unhash(e);
    if (this.expiry.has(e)) this.expiry.remove(e);
    this.setStatus(e, 0);
    this.freeStack[this.freeTop++] = e;
    this.count--;
  }

  /** __nf_conntrack_confirm: hash the entry of a packet leaving its last hook. Returns the
   *  reference to carry on (the same, or an identical entry's), or CTREF_CLASH (drop it). */
  confirm(ref: number): number {
    if (ref < 0) return ref;
    const e = refEntry(ref);
    const st = this.statusOf(e);
    if (st & IPS_CONFIRMED) return ref;
    const o = e * 2;
    const proto = this.protoOf(e);
    const n1 = this.find(proto, this.tSrc(o), this.tDst(o), this.tSport(o), this.tDport(o));
    const n2 = n1 >= 0 ? -1 : this.find(proto, this.tSrc(o + 1), this.tDst(o + 1), this.tSport(o + 1), this.tDport(o + 1));
    if (n1 >= 0 || n2 >= 0) {
      const x = (n1 >= 0 ? n1 : n2) >> 1;
      // the same flow with the same translation (created twice before either was confirmed):
      // the packet joins the existing entry (nf_ct_resolve_clash)
      if (n1 === x * 2 && this.sameTuple(o + 1, x * 2 + 1) && (st & (IPS_SRC_NAT | IPS_DST_NAT)) === (this.statusOf(x) & (IPS_SRC_NAT | IPS_DST_NAT))) {
        this.free(e);
        this.clashResolved++;
        return makeRef(x, refCtinfo(ref));
      }
      this.free(e);
      this.insertFailed++;
      return CTREF_CLASH;
    }
    this.setStatus(e, st | IPS_CONFIRMED);
    this.hashNode(o);
    this.hashNode(o + 1);
    this.expiry.push(e, this.entF);
    if (this.expiry.top() === e) this.rearm();
    return ref;
  }

  /** The packet of an unconfirmed entry was dropped: free the entry (a confirmed one stays). */
  discard(ref: number): void {
    if (ref < 0) return;
    const e = refEntry(ref);
    if ((this.statusOf(e) & (CT_USED | IPS_CONFIRMED)) === CT_USED) this.free(e);
  }

  /** Delete an entry now (conntrack -D; a TCP entry a SYN reopens; a closing entry NAT evicts). */
  kill(e: number): void {
    if ((this.statusOf(e) & CT_USED) === 0) return;
    this.free(e);
    this.killed++;
    this.rearm();
  }

  /** nf_ct_kill for an entry the current packet still refers to: out of the hash now, freed when
   *  the clock next runs its timers (at this same instant, after the packet has left). */
  killDeferred(e: number): void {
    const st = this.statusOf(e);
    if ((st & IPS_CONFIRMED) === 0) {
      this.free(e);
      return;
    }
    if (st & IPS_DYING) return;
    this.unhash(e);
    this.setStatus(e, st | IPS_DYING);
    this.refresh(e, T_NOW);
  }

  /** `conntrack -F`. */
  flush(): void {
    for (let e = 0; e < this.cap; e++) if (this.statusOf(e) & CT_USED) this.free(e);
    this.rearm();
  }

  /**
   * Refresh entry e's timeout (nf_ct_refresh): it expires timeouts[t] ns from now (t: a TCP_CT_* /
   * TCP_TIMEOUT_* index, or T_UDP, T_UDP_STREAM, T_ICMP, T_GENERIC). An index, not the value: a
   * time above 2^31 ns passed to a call V8 does not inline is boxed (clock.ts).
   */
  refresh(e: number, t: number): void {
    const f = this.entF;
    const i = e * 8 + 6;
    const d = this.clock.now + this.timeouts[t]!;
    const was = f[i]!;
    f[i] = d;
    // later: stored only (the heap key, never after the deadline, is corrected when it comes
    // up), without touching the heap; earlier: the key follows
    if (d < was && this.expiry.decrease(e, f)) this.rearm();
  }

  // ---- packets (conntrack-track.ts) -------------------------------------------------------------

  /**
   * nf_conntrack_in for the IPv4 packet whose header is at `off` (checked by the caller, total
   * length within the buffer, not a fragment): finds or creates its entry, runs the protocol's
   * tracker, refreshes the timeout. Returns a reference, CTREF_INVALID or CTREF_DROP.
   */
  track(b: Uint8Array, off: number): number {
    return trackPacket(this, b, off);
  }

  /** The TCP tracker for a segment of `ref`'s entry (conntrack-track.ts trackTcp). */
  tcpSegment(ref: number, flags: number, seq: number, ack: number, win: number, payload: number): number {
    return trackTcp(this, ref, flags, seq, ack, win, payload);
  }

  /** The entry an ICMP error relates to, from the quoted datagram's tuple as quoted and the
   *  error's destination (conntrack-track.ts findRelated). */
  findRelated(proto: number, qSrc: number, qDst: number, qSport: number, qDport: number, outerDst: number): number {
    return findRelated(this, proto, qSrc, qDst, qSport, qDport, outerDst);
  }

  /** The TCP state of an entry (TCP_CT_*). */
  tcpState(e: number): number {
    return this.tcp.state[e]!;
  }

  /** `-m conntrack --ctstate` bits of a packet's reference (CTSTATE_*). */
  ctState(ref: number): number {
    if (ref < 0) return CTSTATE_INVALID;
    const st = this.statusOf(refEntry(ref));
    let bits = 1 << ((refCtinfo(ref) % 3) + 1);
    if (st & IPS_SRC_NAT) bits |= CTSTATE_SNAT;
    if (st & IPS_DST_NAT) bits |= CTSTATE_DNAT;
    return bits;
  }

  /** Seconds left before entry e expires, as conntrack -L prints them (rounded down). */
  secondsLeft(e: number): number {
    return Math.max(0, Math.floor((this.deadlineOf(e) - this.clock.now) / S));
  }

  /** Entries shown by `conntrack -L`: confirmed and not dying, in creation order. Cold path. */
  listed(): number[] {
    const out: number[] = [];
    for (let e = 0; e < this.cap; e++) if ((this.statusOf(e) & (CT_USED | IPS_CONFIRMED | IPS_DYING)) === (CT_USED | IPS_CONFIRMED)) out.push(e);
    return out.sort((a, b) => this.idOf(a) - this.idOf(b));
  }

  // ---- expiry ---------------------------------------------------------------------------------------

  private rearm(): void {
    if (this.expiry.size === 0) {
      if (this.timer.armed) this.clock.cancel(this.timer);
      return;
    }
    const at = this.expiry.topKey();
    if (!this.timer.armed || this.timer.at !== at) this.clock.arm(this.timer, at);
  }

  /** The timer: delete every entry whose deadline has come, re-key the ones refreshed since. */
  private expire(): void {
    const now = this.clock.now;
    const x = this.expiry;
    while (x.size > 0 && x.topKey() <= now) {
      const e = x.top();
      if (this.deadlineOf(e) <= now) {
        this.free(e);
        this.expired++;
      } else x.rekeyTop(this.entF);
    }
    this.rearm();
  }

  // ---- checks --------------------------------------------------------------------------------------

  /** Consistency of every structure (for tests): null, or what is wrong. Cold path. */
  audit(): string | null {
    let used = 0, hashed = 0, inHeap = 0;
    for (let e = 0; e < this.cap; e++) {
      const st = this.statusOf(e);
      if ((st & CT_USED) === 0) {
        if (this.expiry.has(e)) return `free entry ${e} in the heap`;
        continue;
      }
      used++;
      const o = e * 2;
      const p = this.protoOf(e);
      if ((st & (IPS_CONFIRMED | IPS_DYING)) === IPS_CONFIRMED) {
        hashed++;
        if (this.find(p, this.tSrc(o), this.tDst(o), this.tSport(o), this.tDport(o)) !== o) return `entry ${e}: original tuple not found as its own`;
        if (this.find(p, this.tSrc(o + 1), this.tDst(o + 1), this.tSport(o + 1), this.tDport(o + 1)) !== o + 1) return `entry ${e}: reply tuple not found as its own`;
      }
      if (st & IPS_CONFIRMED) {
        inHeap++;
        if (!this.expiry.has(e)) return `confirmed entry ${e} not in the heap`;
        if (this.expiry.keyOf(e) > this.deadlineOf(e)) return `entry ${e}: heap key after its deadline`;
        if (this.deadlineOf(e) < this.clock.now) return `entry ${e}: deadline passed, not expired`;
      } else if (this.expiry.has(e)) return `unconfirmed entry ${e} in the heap`;
      if (st & CT_BYSOURCE) {
        let x = this.bySourceHead(p, this.tSrc(o), this.tSport(o));
        while (x >= 0 && x !== e) x = this.bsNext[x]!;
        if (x !== e) return `entry ${e} not in its by-source chain`;
      }
    }
    if (used !== this.count) return `count ${this.count}, entries in use ${used}`;
    if (used + this.freeTop !== this.cap) return `${used} used + ${this.freeTop} free != ${this.cap}`;
    if (inHeap !== this.expiry.size) return `heap holds ${this.expiry.size}, confirmed entries ${inHeap}`;
    let nodes = 0;
    for (let b = 0; b <= this.mask; b++) {
      for (let n = this.head[b]!; n >= 0; n = this.hNext(n)) {
        const e = n >> 1;
        if ((this.statusOf(e) & (CT_USED | IPS_CONFIRMED | IPS_DYING)) !== (CT_USED | IPS_CONFIRMED)) return `node ${n} hashed for an entry not confirmed`;
        if ((this.hashTuple(this.protoOf(e), this.tSrc(n), this.tDst(n), this.tSport(n), this.tDport(n)) & this.mask) !== b) return `node ${n} in the wrong bucket`;
        if (++nodes > 2 * this.cap) return "hash chain loop";
      }
    }
    if (nodes !== 2 * hashed) return `${nodes} nodes hashed for ${hashed} entries`;
    const h = this.expiry.check();
    if (h) return h;
    if (this.expiry.size > 0 && (!this.timer.armed || this.timer.at !== this.expiry.topKey())) return "timer not armed at the earliest key";
    if (this.expiry.size === 0 && this.timer.armed) return "timer armed for an empty heap";
    return null;
  }
}
