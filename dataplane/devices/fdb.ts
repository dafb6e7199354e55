// The bridge forwarding database (FDB): MAC address -> port, as a Linux bridge keeps it
// (net/bridge/br_fdb.c), in typed arrays that allocate nothing per lookup. The obviously correct
// Map-based model the tests compare it against is fdb-reference.ts.
//
//   const fdb = new Fdb(maxLearned);
//   fdb.find(hi, lo)                 -> entry index or -1 (hi = first 2 bytes, lo = last 4 as int32)
//   fdb.learn(hi, lo, port, now)     -> LEARN_* (what learning a source address did)
//   fdb.add(hi, lo, port, flags, now), fdb.remove(hi, lo), fdb.removePort(port, all)
//   fdb.age(now, ageing)             -> entries removed; fdb.expiry(ageing): the earliest one left
//   fdb.portAt(i), flagsAt(i), updatedAt(i), macAt(i) for entry i; fdb.indices() (cold); the
//   forwarding path reads `fdb.port[i]` and `fdb.flags[i]` itself
//
// Layout: open addressing with linear probing over a power-of-two table, keys split into two
// int32 arrays (hi16 with -1 = empty, lo32), and parallel arrays for the port, the FDB_* flags,
// the last update (virtual ns) and a creation number (the dump lists newest first, as the kernel's
// fdb_list does). Deletion shifts the following run back (no tombstones), so an ageing sweep leaves
// a clean table. The table starts at 64 slots and doubles when half full (the load where linear
// probing stays near one probe); it is never full, so a probe always ends at an empty slot.
// Parallel arrays rather than one interleaved record per slot (int32 hi, lo, port, flags + float64
// updated in 24 bytes, so that a probe and its result share a cache line): on the bridge
// benchmark's known-unicast loop (1,000 MACs, Node 20.20, AMD EPYC, 5 alternating fresh processes,
// best of 40 rounds each) parallel arrays took 28.6-29.6 ns per frame, the interleaved record
// 30.1-30.8. (A loop over a module-level table had shown the opposite, 9.1 against 11.8 ns: V8
// folded the never-reassigned fields of that one object into constants, which a bridge's table,
// reached through `this` and replaced when it grows, does not get.)
//
// Bound: `maxLearned` learned entries (Linux's fdb_max_learned; 0 = unlimited, as there, but
// Linux's default 0 is not ours: the default here is a generous 65536, so that a MAC flood cannot
// grow the typed arrays without end; the table only takes the memory its entries need). A new source
// beyond it is not learned (LEARN_FULL: the bridge counts `fdb-full`, and the frame is forwarded or
// flooded as usual, as Linux does when fdb_create refuses). Entries added by hand (static,
// permanent, dynamic) do not count, as in Linux.
//
// No last-lookup cache (VPP l2-learn keeps one for the source): on the same loop (3 alternating
// fresh processes, best of 40 rounds each), a one-entry cache in `learn` gave 27.3-27.7 ns per frame
// against 27.6-29.8 without when sources come in bursts of 8 frames, and 28.8-29.3 against 27.8-28.8
// when every frame has another source: no gain worth a branch and an invalidation rule (a probe
// that hits its first slot costs about what the cache check does; reading the frame dominates).

/** The address belongs to the bridge (its own MAC, a port's MAC, `permanent`): frames to it go up. */
export const FDB_LOCAL = 1;
/** Never aged: `static` and `permanent` entries. */
export const FDB_STATIC = 2;
/** Added by hand (`bridge fdb add`), not learned: not counted against maxLearned. */
export const FDB_USER = 4;

/** What `learn` did. */
export const LEARN_REFRESHED = 0;
export const LEARN_NEW = 1;
export const LEARN_MOVED = 2;
/** The source is a local (own) address: not learned (Linux warns "own address as source address"). */
export const LEARN_LOCAL = 3;
/** New source but maxLearned entries exist: not learned. */
export const LEARN_FULL = 4;

export const FDB_DEFAULT_MAX_LEARNED = 65536;
const INITIAL_SLOTS = 64;
// Private copies for use in this file: an exported const is reloaded and TDZ-checked at every use
// in Node 20 (core/wire/ethernet.ts measured 10.2 vs 7.6 ns per parse). Here, with bridge.ts doing
// the same: 27.9-28.2 ns per frame against 28.9-29.0 (known-unicast loop, best of 40 rounds).
const LOCAL = FDB_LOCAL, STATIC = FDB_STATIC, USER = FDB_USER;
const REFRESHED = LEARN_REFRESHED, NEW = LEARN_NEW, MOVED = LEARN_MOVED, OWN = LEARN_LOCAL, FULL = LEARN_FULL;

import { macHi, macLo, macOf } from "../../core/addr.js";
export { macHi, macLo, macOf };

export class Fdb {
  keyHi = new Int32Array(INITIAL_SLOTS).fill(-1);
  keyLo = new Int32Array(INITIAL_SLOTS);
  port = new Int32Array(INITIAL_SLOTS);
  flags = new Uint8Array(INITIAL_SLOTS);
  updated = new Float64Array(INITIAL_SLOTS);
  seq = new Float64Array(INITIAL_SLOTS);
  /** Entries in use; of them learned (counted against maxLearned) and dynamic (aged). */
  size = 0;
  learned = 0;
  dynamic = 0;
  private mask = INITIAL_SLOTS - 1;
  private shift = 32 - 6;
  private nextSeq = 1;

  constructor(readonly maxLearned = FDB_DEFAULT_MAX_LEARNED) {
    if (!Number.isInteger(maxLearned) || maxLearned < 0) throw new RangeError(`maxLearned ${maxLearned} must be a non-negative integer`);
  }

  get capacity(): number {
    return this.keyHi.length;
  }

  portAt(i: number): number {
    return this.port[i]!;
  }
  flagsAt(i: number): number {
    return this.flags[i]!;
  }
  updatedAt(i: number): number {
    return this.updated[i]!;
  }
  macAt(i: number): number {
    return macOf(this.keyHi[i]!, this.keyLo[i]!);
  }

  private home(hi: number, lo: number): number {
    return Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> this.shift;
  }

  /** Index of the entry for (hi, lo), or -1. */
  find(hi: number, lo: number): number {
    const kh = this.keyHi;
    const kl = this.keyLo;
    const mask = this.mask;
    let i = Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> this.shift;
    for (;;) {
      const h = kh[i]!;
      if (h === hi && kl[i] === lo) return i;
      if (h === -1) return -1;
      i = (i + 1) & mask;
    }
  }

  /**
   * Learn that source (hi, lo) was seen on `port` at `now` (br_fdb_update): an existing entry is
   * refreshed and, if it is on another port, moves there at once (static entries too: Linux only
   * keeps `sticky` ones in place, and measured on 6.18, a static entry roams); a local entry is left
   * alone (LEARN_LOCAL); a new address is added unless maxLearned are learned (LEARN_FULL).
   */
  learn(hi: number, lo: number, port: number, now: number): number {
    const i = this.find(hi, lo);
    if (i >= 0) {
      if ((this.flags[i]! & LOCAL) !== 0) return OWN;
      this.updated[i] = now;
      if (this.port[i] === port) return REFRESHED;
      this.port[i] = port;
      return MOVED;
    }
    if (this.learned >= this.maxLearned && this.maxLearned !== 0) return FULL;
    this.insert(hi, lo, port, 0, now);
    this.learned++;
    return NEW;
  }

  /**
   * Add or replace an entry by hand (`bridge fdb replace`): flags FDB_USER plus FDB_STATIC
   * (`static`), FDB_STATIC|FDB_LOCAL (`permanent`) or neither (`dynamic`, aged). An existing entry
   * keeps its place in the dump order. Returns the entry index.
   */
  add(hi: number, lo: number, port: number, flags: number, now: number): number {
    const i = this.find(hi, lo);
    if (i >= 0) {
      const old = this.flags[i]!;
      if ((old & USER) === 0) this.learned--;
      if ((old & STATIC) === 0) this.dynamic--;
      if ((flags & STATIC) === 0) this.dynamic++;
      this.flags[i] = flags | USER;
      this.port[i] = port;
      this.updated[i] = now;
      return i;
    }
    return this.insert(hi, lo, port, flags | USER, now);
  }

  private insert(hi: number, lo: number, port: number, flags: number, now: number): number {
    if ((this.size + 1) * 2 > this.keyHi.length) this.grow();
    const kh = this.keyHi;
    const mask = this.mask;
    let i = this.home(hi, lo);
    while (kh[i] !== -1) i = (i + 1) & mask;
    kh[i] = hi;
    this.keyLo[i] = lo;
    this.port[i] = port;
    this.flags[i] = flags;
    this.updated[i] = now;
    this.seq[i] = this.nextSeq++;
    this.size++;
    if ((flags & STATIC) === 0) this.dynamic++;
    return i;
  }

  /** Remove the entry for (hi, lo); false if there is none. */
  remove(hi: number, lo: number): boolean {
    const i = this.find(hi, lo);
    if (i < 0) return false;
    this.removeAt(i);
    return true;
  }

  /** Remove entry `i`, shifting the run after it back so that every probe still finds its key. */
  private removeAt(i: number): void {
    const f = this.flags[i]!;
    if ((f & USER) === 0) this.learned--;
    if ((f & STATIC) === 0) this.dynamic--;
    this.size--;
    const kh = this.keyHi;
    const kl = this.keyLo;
    const mask = this.mask;
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const h = kh[j]!;
      if (h === -1) break;
      const home = this.home(h, kl[j]!);
      // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      kh[hole] = h;
      kl[hole] = kl[j]!;
      this.port[hole] = this.port[j]!;
      this.flags[hole] = this.flags[j]!;
      this.updated[hole] = this.updated[j]!;
      this.seq[hole] = this.seq[j]!;
      hole = j;
    }
    kh[hole] = -1;
  }

  /**
   * Remove every entry that `drop(i)` selects, in one pass: the scan starts after an empty slot so
   * no run wraps around its start, and re-examines a slot after a removal (a later entry may have
   * shifted into it). Returns the number removed.
   */
  private sweep(drop: (i: number) => boolean): number {
    const kh = this.keyHi;
    const mask = this.mask;
    let start = 0;
    while (kh[start] !== -1) start++;
    let removed = 0;
    let i = (start + 1) & mask;
    for (let seen = 0; seen < mask; ) {
      if (kh[i] !== -1 && drop(i)) {
        this.removeAt(i);
        removed++;
        continue;
      }
      i = (i + 1) & mask;
      seen++;
    }
    return removed;
  }

  /** Ageing sweep (br_fdb_cleanup): remove dynamic entries with updated + ageing <= now. */
  age(now: number, ageing: number): number {
    return this.sweep((i) => (this.flags[i]! & STATIC) === 0 && this.updated[i]! + ageing <= now);
  }

  /** When the next dynamic entry expires (Infinity if there is none). */
  expiry(ageing: number): number {
    let next = Infinity;
    const kh = this.keyHi;
    for (let i = 0; i < kh.length; i++) {
      if (kh[i] === -1 || (this.flags[i]! & STATIC) !== 0) continue;
      const t = this.updated[i]! + ageing;
      if (t < next) next = t;
    }
    return next;
  }

  /** Remove the entries on `port`: every one (`all`, a port leaves) or the dynamic ones (it goes down). */
  removePort(port: number, all: boolean): number {
    return this.sweep((i) => this.port[i] === port && (all || (this.flags[i]! & STATIC) === 0));
  }

  /** Remove every dynamic entry (`ip link set BR type bridge fdb_flush`). */
  flushDynamic(): number {
    return this.sweep((i) => (this.flags[i]! & STATIC) === 0);
  }

  /** Indices of every entry, newest first (cold: dumps and tests). */
  indices(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.keyHi.length; i++) if (this.keyHi[i] !== -1) out.push(i);
    return out.sort((a, b) => this.seq[b]! - this.seq[a]!);
  }

  private grow(): void {
    const oh = this.keyHi, ol = this.keyLo, op = this.port, of = this.flags, ou = this.updated, os = this.seq;
    const n = oh.length * 2;
    this.keyHi = new Int32Array(n).fill(-1);
    this.keyLo = new Int32Array(n);
    this.port = new Int32Array(n);
    this.flags = new Uint8Array(n);
    this.updated = new Float64Array(n);
    this.seq = new Float64Array(n);
    this.mask = n - 1;
    this.shift = 32 - Math.log2(n);
    for (let j = 0; j < oh.length; j++) {
      if (oh[j] === -1) continue;
      let i = this.home(oh[j]!, ol[j]!);
      while (this.keyHi[i] !== -1) i = (i + 1) & this.mask;
      this.keyHi[i] = oh[j]!;
      this.keyLo[i] = ol[j]!;
      this.port[i] = op[j]!;
      this.flags[i] = of[j]!;
      this.updated[i] = ou[j]!;
      this.seq[i] = os[j]!;
    }
  }
}
