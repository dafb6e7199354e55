// The expiry order of the connection tracking table: a binary min-heap of entry indexes keyed by
// time (ns), in typed arrays (heap, position of each entry, key of each entry). The table keeps
// each entry's real deadline elsewhere and lets the key lag behind it: a refresh that moves a
// deadline later costs nothing, the key is corrected when the entry reaches the top
// (`rekeyTop`); only a deadline moving earlier sifts (`decrease`). One Timer, armed at `topKey`,
// serves the whole table. Ties keep no particular order (the table's expiry frees every due
// entry at one instant).

import { ENT_WORDS, F_DEADLINE } from "./conntrack-bits.js";

/** Where entry e's deadline is in the keys array the table passes: its entry block as float64
 *  (conntrack-bits.ts: 8 float64 per entry, the deadline at F_DEADLINE). */
const KEY_STRIDE = ENT_WORDS / 2;
const KEY_AT = F_DEADLINE;

export class ExpiryHeap {
  private heap: Int32Array;
  /** Position of entry e in the heap, -1 when not in it. */
  private pos: Int32Array;
  private key: Float64Array;
  size = 0;

  constructor(cap: number) {
    this.heap = new Int32Array(cap);
    this.pos = new Int32Array(cap).fill(-1);
    this.key = new Float64Array(cap);
  }

  /** Bytes per entry. */
  static readonly BYTES_PER_ENTRY = 4 + 4 + 8;

  grow(cap: number): void {
    const h = new Int32Array(cap);
    h.set(this.heap);
    const p = new Int32Array(cap).fill(-1);
    p.set(this.pos);
    const k = new Float64Array(cap);
    k.set(this.key);
    this.heap = h;
    this.pos = p;
    this.key = k;
  }

  has(e: number): boolean {
    return this.pos[e]! >= 0;
  }
  /** The entry at the top (size > 0). */
  top(): number {
    return this.heap[0]!;
  }
  topKey(): number {
    return this.key[this.heap[0]!]!;
  }
  keyOf(e: number): number {
    return this.key[e]!;
  }

  /** Insert e with key k (the caller reads the deadline array: no double crosses a call). */
  push(e: number, keys: Float64Array): void {
    const i = this.size++;
    this.heap[i] = e;
    this.pos[e] = i;
    this.key[e] = keys[e * KEY_STRIDE + KEY_AT]!;
    this.up(i);
  }

  /** Lower e's key to keys[e] if that is earlier; returns whether e is now at the top. */
  decrease(e: number, keys: Float64Array): boolean {
    const i = this.pos[e]!;
    const k = keys[e * KEY_STRIDE + KEY_AT]!;
    if (i < 0 || k >= this.key[e]!) return false;
    this.key[e] = k;
    this.up(i);
    return this.pos[e] === 0;
  }

  /** The top entry's key catches up with keys[top] (later), and it sinks to its place. */
  rekeyTop(keys: Float64Array): void {
    const e = this.heap[0]!;
    this.key[e] = keys[e * KEY_STRIDE + KEY_AT]!;
    this.down(0);
  }

  remove(e: number): void {
    const i = this.pos[e]!;
    const last = --this.size;
    this.pos[e] = -1;
    if (i === last) return;
    const m = this.heap[last]!;
    this.heap[i] = m;
    this.pos[m] = i;
    this.down(i);
    this.up(this.pos[m]!);
  }

  private up(i: number): void {
    const heap = this.heap, key = this.key, pos = this.pos;
    const e = heap[i]!;
    const k = key[e]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = heap[p]!;
      if (key[pe]! <= k) break;
      heap[i] = pe;
      pos[pe] = i;
      i = p;
    }
    heap[i] = e;
    pos[e] = i;
  }

  private down(i: number): void {
    const heap = this.heap, key = this.key, pos = this.pos, n = this.size;
    const e = heap[i]!;
    const k = key[e]!;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && key[heap[c + 1]!]! < key[heap[c]!]!) c++;
      const ce = heap[c]!;
      if (key[ce]! >= k) break;
      heap[i] = ce;
      pos[ce] = i;
      i = c;
    }
    heap[i] = e;
    pos[e] = i;
  }

  /** Heap order and positions (for audits): null, or what is wrong. */
  check(): string | null {
    for (let i = 0; i < this.size; i++) {
      if (this.pos[this.heap[i]!] !== i) return `heap position of entry ${this.heap[i]} is not ${i}`;
      if (i > 0 && this.key[this.heap[(i - 1) >> 1]!]! > this.key[this.heap[i]!]!) return `heap order broken at ${i}`;
    }
    return null;
  }
}
