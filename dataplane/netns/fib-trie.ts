// Longest-prefix-match structure of a large routing table (fib.ts uses it above SMALL prefixes).
// It maps an address to a value (route index + 1; 0 = no route) and knows nothing else of routes:
// its owner tells it the prefix length behind a value (`lenOf`) and, on a deletion, which shorter
// prefix takes over.
//
// Layout: a direct table `top` indexed by the first `tb` address bits (16, or 20 for tables above
// BIG prefixes), then nodes of 16 int32 (one 64-byte line) per 4 further bits, leaf-pushed. An
// entry is a value (>= 0) or ~offset of a child node (< 0). Prefixes of at most `tb` bits live only
// in `top` and `best` (best = their value for each top entry, whatever the entry holds), so a
// short prefix never rewrites nodes; a node entry of 0 means "no longer prefix: use best". A
// lookup is at most 1 + (32 - tb) / 4 dependent loads. An update touches only its own region (a /0
// touches the 2^tb top entries), never the rest of the table; a node whose 16 entries come to hold
// one value is folded into its parent and freed.
// Measured (Node 20, AMD EPYC, 100,000 random prefixes, dst in routed prefixes, plain loop, best of
// 15; /tmp prototypes kept in the report): tb = 16: 70 Mpps, 17 MB; tb = 20: 90 Mpps, 17 MB (fewer
// nodes pay for the 8 MB top); DIR-24-8: 176 Mpps, 100 MB; 8-bit nodes: 134 MB; a hash per prefix
// length probed from /32 down: < 2 Mpps.

const EMPTY = new Int32Array(0);

export class LpmTrie {
  /** Address bits that index `top`, and 32 minus that. */
  readonly tb: number;
  private readonly topShift: number;
  private readonly top: Int32Array;
  private readonly best: Int32Array;
  private pool: Int32Array;
  private poolUsed = 0;
  private freeNode = -1;
  /** Nodes in use. */
  nodes = 0;

  /** `lenOf(v)`: prefix length of the route with value v (-1 for 0). tb 0 makes an empty trie. */
  constructor(tb: number, private readonly lenOf: (v: number) => number) {
    this.tb = tb;
    this.topShift = 32 - tb;
    this.top = tb ? new Int32Array(1 << tb) : EMPTY;
    this.best = tb ? new Int32Array(1 << tb) : EMPTY;
    this.pool = tb ? new Int32Array(16 * 64) : EMPTY;
  }

  /** Value of the longest prefix containing dst (int32 or uint32), 0 if none. */
  lookup(dst: number): number {
    const t = dst >>> this.topShift;
    let v = this.top[t]!;
    if (v < 0) {
      const pool = this.pool;
      let shift = this.topShift;
      do {
        shift -= 4;
        v = pool[~v + ((dst >>> shift) & 15)]!;
      } while (v < 0);
      if (v === 0) v = this.best[t]!;
    }
    return v;
  }

  bytes(): number {
    return (this.top.length + this.best.length + this.pool.length) * 4;
  }

  /** Shortest prefix length whose values can stand in for a deleted prefix of length `len`. */
  coverFloor(len: number): number {
    return len <= this.tb ? 0 : this.tb + 1;
  }

  /** Entries of prefix (net, len) that hold no longer prefix now hold `v` (an added prefix, or a
   *  new value for the same prefix). */
  paint(net: number, len: number, v: number): void {
    if (len <= this.tb) {
      const top = this.top, best = this.best, first = net >>> this.topShift, end = first + (1 << (this.tb - len));
      for (let t = first; t < end; t++) {
        if (this.lenOf(best[t]!) > len) continue;
        best[t] = v;
        if (top[t]! >= 0) top[t] = v;
      }
      return;
    }
    const path = this.path(net, len, true);
    const off = path[path.length - 1]!, end = this.levelEnd(len), first = off + ((net >>> (32 - end)) & 15);
    for (let i = first; i < first + (1 << (end - len)); i++) this.push(i, v, len);
  }

  /** Entries holding prefix (net, len), which is gone, now hold `repl`: the value of the longest
   *  shorter prefix covering it, of length at least coverFloor(len), or 0. */
  unpaint(net: number, len: number, repl: number): void {
    if (len <= this.tb) {
      const top = this.top, best = this.best, first = net >>> this.topShift, end = first + (1 << (this.tb - len));
      for (let t = first; t < end; t++) {
        if (this.lenOf(best[t]!) !== len) continue;
        best[t] = repl;
        if (top[t]! >= 0) top[t] = repl;
      }
      return;
    }
    const path = this.path(net, len, false);
    const off = path[path.length - 1]!, end = this.levelEnd(len), first = off + ((net >>> (32 - end)) & 15);
    for (let i = first; i < first + (1 << (end - len)); i++) this.clear(i, len, repl);
    // Fold: a node whose 16 entries hold one value is that value in its parent.
    for (let d = path.length - 1; d >= 0; d--) {
      const node = path[d]!, v = this.pool[node]!;
      for (let k = 1; k < 16; k++) if (this.pool[node + k] !== v) return;
      if (v < 0 || (d === 0 && v !== 0)) return;
      this.freeNodeAt(node);
      const t = net >>> this.topShift;
      if (d === 0) this.top[t] = this.best[t]!;
      else this.pool[path[d - 1]! + ((net >>> (this.topShift - 4 * d)) & 15)] = v;
    }
  }

  private push(i: number, v: number, len: number): void {
    const e = this.pool[i]!;
    if (e < 0) for (let k = 0; k < 16; k++) this.push(~e + k, v, len);
    else if (this.lenOf(e) <= len) this.pool[i] = v;
  }

  private clear(i: number, len: number, repl: number): void {
    const e = this.pool[i]!;
    if (e < 0) for (let k = 0; k < 16; k++) this.clear(~e + k, len, repl);
    else if (this.lenOf(e) === len) this.pool[i] = repl;
  }

  /** Offsets of the nodes from the top down to the level of `len` along `net` (created if asked;
   *  a new node starts with its parent entry's value pushed into all 16 entries). */
  private path(net: number, len: number, create: boolean): number[] {
    const t = net >>> this.topShift, out: number[] = [];
    if (this.top[t]! >= 0) {
      if (!create) throw new Error("fib: no node for a prefix in the table");
      this.top[t] = ~this.newNode(0);
    }
    out.push(~this.top[t]!);
    for (let end = this.tb + 4; end < this.levelEnd(len); end += 4) {
      const i = out[out.length - 1]! + ((net >>> (32 - end)) & 15);
      const e = this.pool[i]!;
      if (e >= 0) {
        if (!create) throw new Error("fib: no node for a prefix in the table");
        const c = this.newNode(e);
        this.pool[i] = ~c;
        out.push(c);
      } else out.push(~e);
    }
    return out;
  }

  /** Last address bit covered by the node level that holds prefixes of length `len` (> tb). */
  private levelEnd(len: number): number {
    return this.tb + 4 * Math.ceil((len - this.tb) / 4);
  }

  private newNode(fill: number): number {
    let off = this.freeNode;
    if (off >= 0) this.freeNode = this.pool[off]!;
    else {
      off = this.poolUsed;
      this.poolUsed += 16;
      if (this.poolUsed > this.pool.length) {
        const p = new Int32Array(Math.max(16 * 64, this.pool.length * 2));
        p.set(this.pool);
        this.pool = p;
      }
    }
    this.pool.fill(fill, off, off + 16);
    this.nodes++;
    return off;
  }

  private freeNodeAt(off: number): void {
    this.pool[off] = this.freeNode;
    this.freeNode = off;
    this.nodes--;
  }
}
