// The obviously correct model of fdb.ts: a Map from the 48-bit MAC to its entry, with the same
// rules written as plainly as possible. Tests (fdb.test.ts) run random operations on both and
// compare every answer and the whole contents (STYLE habit 14, Snabb's verify(trusted)).

import { FDB_LOCAL, FDB_STATIC, FDB_USER, LEARN_FULL, LEARN_LOCAL, LEARN_MOVED, LEARN_NEW, LEARN_REFRESHED, macOf } from "./fdb.js";

export interface RefEntry {
  port: number;
  flags: number;
  updated: number;
  seq: number;
}

export class FdbReference {
  readonly entries = new Map<number, RefEntry>();
  private nextSeq = 1;

  constructor(readonly maxLearned: number) {}

  find(hi: number, lo: number): RefEntry | undefined {
    return this.entries.get(macOf(hi, lo));
  }

  get learned(): number {
    return [...this.entries.values()].filter((e) => !(e.flags & FDB_USER)).length;
  }

  get dynamic(): number {
    return [...this.entries.values()].filter((e) => !(e.flags & FDB_STATIC)).length;
  }

  learn(hi: number, lo: number, port: number, now: number): number {
    const e = this.find(hi, lo);
    if (e) {
      if (e.flags & FDB_LOCAL) return LEARN_LOCAL;
      e.updated = now;
      if (e.port === port) return LEARN_REFRESHED;
      e.port = port;
      return LEARN_MOVED;
    }
    if (this.maxLearned !== 0 && this.learned >= this.maxLearned) return LEARN_FULL;
    this.entries.set(macOf(hi, lo), { port, flags: 0, updated: now, seq: this.nextSeq++ });
    return LEARN_NEW;
  }

  add(hi: number, lo: number, port: number, flags: number, now: number): void {
    const e = this.find(hi, lo);
    if (e) Object.assign(e, { port, flags: flags | FDB_USER, updated: now });
    else this.entries.set(macOf(hi, lo), { port, flags: flags | FDB_USER, updated: now, seq: this.nextSeq++ });
  }

  remove(hi: number, lo: number): boolean {
    return this.entries.delete(macOf(hi, lo));
  }

  private removeIf(drop: (e: RefEntry) => boolean): number {
    let n = 0;
    for (const [mac, e] of this.entries) {
      if (drop(e)) {
        this.entries.delete(mac);
        n++;
      }
    }
    return n;
  }

  age(now: number, ageing: number): number {
    return this.removeIf((e) => !(e.flags & FDB_STATIC) && e.updated + ageing <= now);
  }

  nextExpiry(ageing: number): number {
    let t = Infinity;
    for (const e of this.entries.values()) if (!(e.flags & FDB_STATIC)) t = Math.min(t, e.updated + ageing);
    return t;
  }

  removePort(port: number, all: boolean): number {
    return this.removeIf((e) => e.port === port && (all || !(e.flags & FDB_STATIC)));
  }

  flushDynamic(): number {
    return this.removeIf((e) => !(e.flags & FDB_STATIC));
  }

  /** Every entry as [mac, entry], newest first. */
  list(): [number, RefEntry][] {
    return [...this.entries].sort((a, b) => b[1].seq - a[1].seq);
  }
}
