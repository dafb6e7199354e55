// Routing table (FIB) of one emulated network namespace: IPv4 routes as Linux keeps them in one
// table (main or local), with a longest-prefix-match lookup over typed arrays that allocates
// nothing. Names, parsing and `ip route show` lines live in route-format.ts; the obviously correct
// linear-scan model the tests compare against is fib-reference.ts.
//
// A namespace holds two tables, as Linux's default policy rules say (rule 0: local, 32766: main):
// `local` gets the RTN_LOCAL / RTN_BROADCAST routes of its own addresses, `main` everything else
// (see `addressRoutes` in route-format.ts). The stack looks up `local` first, then `main`.
//
//   const main = new Fib();
//   main.add({ network, len, type?, oif?, gateway?, scope?, src?, metric?, proto?, flags? })
//     -> route index >= 0, or FIB_EEXIST (a route with this prefix and metric exists, whatever its
//        type: "RTNETLINK answers: File exists"), or FIB_EINVAL (length not 0..32, host bits set:
//        "Error: Invalid prefix for given prefix length."). Absent fields take iproute2's defaults:
//        unicast, proto boot, metric 0, scope from `defaultScope`.
//   main.replace(spec)  -> the route with this prefix and metric gets the new fields, same index;
//                          none -> added.
//   main.delete(network, len, match?) -> index removed, or FIB_ESRCH ("RTNETLINK answers: No such
//        process"). Like `ip route del`: the lowest-metric route of that prefix passing the filters
//        in `match` (type, oif, gateway, scope, src, metric, proto; absent or 0 = any) goes.
//   main.deleteOif(oif) -> number of routes removed (an interface went away).
//   main.lookup(dst)    -> route index or -1 (no route). dst may be int32 or uint32.
//   main.type(r) oif(r) gateway(r) scope(r) src(r) metric(r) proto(r) flags(r) network(r) len(r)
//   main.find(network, len, metric?) -> index of that exact route or -1; main.routes() -> every
//        index in `ip route show` order; main.size; main.generation (changes on every update: the
//        key for a cache of lookups).
// An index is valid until its route is deleted (then it is reused). Lookup picks the longest
// prefix, then the lowest metric (equal metrics cannot coexist). What the stack does with the
// type: RTN_UNICAST forward (gateway 0 = on-link), RTN_LOCAL deliver, RTN_BLACKHOLE drop silently,
// RTN_UNREACHABLE ICMP host unreachable (code 1), RTN_PROHIBIT ICMP admin prohibited (code 13),
// RTN_THROW as no route in this table (next table; after main: net unreachable), -1 (no route)
// ICMP net unreachable (code 0). The table does not check gateways against interfaces (the
// kernel's fib_check_nh: "Error: Nexthop has invalid gateway."): the stack does.
//
// Structure, chosen by measurement (bench/fib.bench.ts): up to SMALL prefixes (every container)
// a linear scan of (network, mask, route) kept sorted longest first, with no other memory; above,
// the leaf-pushed multibit trie of fib-trie.ts (512 KiB of direct table at 16 bits, 8 MiB at 20
// bits above BIG prefixes, plus 64-byte nodes). Routes themselves: 29 bytes each in typed arrays,
// plus one Map entry per prefix (Smi keys) on the cold path.

import { LpmTrie } from "./fib-trie.js";

export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;
export const RTN_BROADCAST = 3;
export const RTN_ANYCAST = 4;
export const RTN_MULTICAST = 5;
export const RTN_BLACKHOLE = 6;
export const RTN_UNREACHABLE = 7;
export const RTN_PROHIBIT = 8;
export const RTN_THROW = 9;

export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_SITE = 200;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;

export const RTPROT_KERNEL = 2;
export const RTPROT_BOOT = 3;
export const RTPROT_STATIC = 4;

/** Next-hop flag "onlink": the gateway is on the link even if no route says so. */
export const RTNH_F_ONLINK = 4;

/** Errors as negative errno, the kernel's way. */
export const FIB_ESRCH = -3;
export const FIB_EEXIST = -17;
export const FIB_EINVAL = -22;

export interface RouteSpec {
  /** uint32 network address (host bits zero) and prefix length 0..32. */
  network: number;
  len: number;
  type?: number;
  /** Output interface index given by the stack, >= 1 (as Linux ifindex; lo is 1); 0 = none
   *  (blackhole and friends) and, in a RouteMatch, "any". */
  oif?: number;
  /** uint32; 0 = on-link. */
  gateway?: number;
  scope?: number;
  /** Preferred source address, 0 = none. */
  src?: number;
  metric?: number;
  proto?: number;
  flags?: number;
}

export type RouteMatch = Partial<Omit<RouteSpec, "network" | "len">>;

/** The scope iproute2 gives a route that names none (ip/iproute.c, iproute_modify). */
export function defaultScope(type: number, gateway: number): number {
  if (type === RTN_LOCAL) return RT_SCOPE_HOST;
  if (type === RTN_BROADCAST || type === RTN_MULTICAST || type === RTN_ANYCAST) return RT_SCOPE_LINK;
  if (type === RTN_UNICAST && gateway === 0) return RT_SCOPE_LINK;
  return RT_SCOPE_UNIVERSE;
}

export function prefixMask(len: number): number {
  return len === 0 ? 0 : (0xffff_ffff << (32 - len)) >>> 0;
}

/** Tables with at most this many prefixes are scanned linearly. bench/fib.bench.ts: 16 prefixes
 *  none of which matches (the scan's worst case) 37-50 Mpps, a 5-route container 130 Mpps, vs the
 *  trie at 17 prefixes 95-160 Mpps but 512 KiB more per table: 16 keeps every container (2-10
 *  routes) small and above 30 Mpps. */
export const SMALL = 16;
/** Tables with more prefixes index the trie's `top` by 20 bits, not 16 (measured: fib-trie.ts);
 *  back to 16 at half that. */
export const BIG = 65536;
const NO_TRIE = new LpmTrie(0, () => -1);

export class Fib {
  /** Routes in the table. */
  size = 0;
  /** Bumped by every change. */
  generation = 0;
  private prefixes = 0;
  /** Per prefix length: network (as int32) -> first route of that prefix (lowest metric). */
  private readonly heads: (Map<number, number> | undefined)[] = new Array(33).fill(undefined);
  // Routes, by index; routes of one prefix are chained by `rNext` in metric order.
  private cap = 0;
  private highWater = 0;
  private freeRoute = -1;
  private rNet = new Uint32Array(0);
  private rLen = new Uint8Array(0);
  private rType = new Uint8Array(0);
  private rScope = new Uint8Array(0);
  private rProto = new Uint8Array(0);
  private rFlags = new Uint8Array(0);
  private rOif = new Int32Array(0);
  private rGw = new Uint32Array(0);
  private rSrc = new Uint32Array(0);
  private rMetric = new Uint32Array(0);
  private rNext = new Int32Array(0);
  // Small tables: one entry per prefix, longest first.
  private sCount = 0;
  private sNet = new Int32Array(SMALL);
  private sMask = new Int32Array(SMALL);
  private sRoute = new Int32Array(SMALL);
  // Large tables (more than SMALL prefixes): see fib-trie.ts.
  private large = false;
  private lpm = NO_TRIE;

  lookup(dst: number): number {
    if (this.large) return this.lpm.lookup(dst) - 1;
    const n = this.sCount, net = this.sNet, mask = this.sMask;
    for (let i = 0; i < n; i++) if ((dst & mask[i]!) === net[i]) return this.sRoute[i]!;
    return -1;
  }

  /** Nodes of the large-table structure in use (memory figures, tests). */
  get nodes(): number {
    return this.lpm.nodes;
  }

  type(r: number): number { return this.rType[r]!; }
  oif(r: number): number { return this.rOif[r]!; }
  gateway(r: number): number { return this.rGw[r]!; }
  /** gateway() in int32 form, for the per-packet path: a uint32 above 2^31 returned from a call
   *  V8 did not inline is boxed (forwarding via 192.168.1.1: 25 GCs per 50,000 batches of 256). */
  gatewayInt(r: number): number { return this.rGw[r]! | 0; }
  scope(r: number): number { return this.rScope[r]!; }
  src(r: number): number { return this.rSrc[r]!; }
  metric(r: number): number { return this.rMetric[r]!; }
  proto(r: number): number { return this.rProto[r]!; }
  flags(r: number): number { return this.rFlags[r]!; }
  network(r: number): number { return this.rNet[r]!; }
  len(r: number): number { return this.rLen[r]!; }

  add(spec: RouteSpec): number {
    return this.insert(spec, false);
  }

  replace(spec: RouteSpec): number {
    return this.insert(spec, true);
  }

  delete(network: number, len: number, match: RouteMatch = {}): number {
    const net = network >>> 0;
    if (!validPrefix(net, len)) return FIB_EINVAL;
    for (let r = this.heads[len]?.get(net | 0) ?? -1; r >= 0; r = this.rNext[r]!) {
      if (this.matches(r, match)) {
        this.unlink(r);
        return r;
      }
    }
    return FIB_ESRCH;
  }

  deleteOif(oif: number): number {
    const gone = this.routes().filter((r) => this.rOif[r] === oif);
    for (const r of gone) this.unlink(r);
    return gone.length;
  }

  find(network: number, len: number, metric?: number): number {
    const net = network >>> 0;
    if (!validPrefix(net, len)) return -1;
    let r = this.heads[len]?.get(net | 0) ?? -1;
    while (r >= 0 && metric !== undefined && this.rMetric[r] !== metric) r = this.rNext[r]!;
    return r;
  }

  /** Every route index, in the order `ip route show` prints them: by network address, longer prefix
   *  first for the same address, then by metric (the kernel's fib_trie leaf and alias order). */
  routes(): number[] {
    const firsts: number[] = [];
    for (const m of this.heads) if (m) for (const r of m.values()) firsts.push(r);
    firsts.sort((a, b) => this.rNet[a]! - this.rNet[b]! || this.rLen[b]! - this.rLen[a]!);
    const out: number[] = [];
    for (const f of firsts) for (let r = f; r >= 0; r = this.rNext[r]!) out.push(r);
    return out;
  }

  /** Bytes of typed arrays held (routes, small list, direct table, nodes). */
  memoryBytes(): number {
    return this.cap * 29 + SMALL * 12 + this.lpm.bytes();
  }

  // ---- updates ------------------------------------------------------------------------------

  private insert(spec: RouteSpec, replace: boolean): number {
    const net = spec.network >>> 0, len = spec.len, metric = spec.metric ?? 0;
    if (!validPrefix(net, len) || !(Number.isInteger(metric) && metric >= 0 && metric <= 0xffff_ffff)) return FIB_EINVAL;
    const head = this.heads[len]?.get(net | 0) ?? -1;
    let prev = -1, cur = head;
    for (; cur >= 0 && this.rMetric[cur]! <= metric; prev = cur, cur = this.rNext[cur]!) {
      if (this.rMetric[cur] !== metric) continue;
      if (!replace) return FIB_EEXIST;
      this.setFields(cur, spec);
      this.generation++;
      return cur;
    }
    const r = this.allocRoute();
    this.rNet[r] = net;
    this.rLen[r] = len;
    this.rMetric[r] = metric;
    this.setFields(r, spec);
    this.rNext[r] = cur;
    this.size++;
    this.generation++;
    if (prev >= 0) this.rNext[prev] = r;
    else this.headChanged(net, len, head, r);
    return r;
  }

  private setFields(r: number, s: RouteSpec): void {
    const type = s.type ?? RTN_UNICAST, gw = (s.gateway ?? 0) >>> 0;
    this.rType[r] = type;
    this.rGw[r] = gw;
    this.rOif[r] = s.oif ?? 0;
    this.rScope[r] = s.scope ?? defaultScope(type, gw);
    this.rSrc[r] = (s.src ?? 0) >>> 0;
    this.rProto[r] = s.proto ?? RTPROT_BOOT;
    this.rFlags[r] = s.flags ?? 0;
  }

  private matches(r: number, m: RouteMatch): boolean {
    if (m.metric && m.metric !== this.rMetric[r]) return false;
    if (m.type && m.type !== this.rType[r]) return false;
    if (m.oif && m.oif !== this.rOif[r]) return false;
    if (m.gateway && m.gateway >>> 0 !== this.rGw[r]) return false;
    if (m.src && m.src >>> 0 !== this.rSrc[r]) return false;
    if (m.proto && m.proto !== this.rProto[r]) return false;
    return m.scope === undefined || m.scope === this.rScope[r];
  }

  private unlink(r: number): void {
    const net = this.rNet[r]!, len = this.rLen[r]!;
    const head = this.heads[len]!.get(net | 0)!;
    const next = this.rNext[r]!;
    if (head === r) this.headChanged(net, len, r, next);
    else {
      let p = head;
      while (this.rNext[p] !== r) p = this.rNext[p]!;
      this.rNext[p] = next;
    }
    this.rNext[r] = this.freeRoute; // free only after the lookup structure forgot it
    this.freeRoute = r;
    this.size--;
    this.generation++;
  }

  /** The first route of prefix (net, len) changes from `was` to `now` (-1: none). */
  private headChanged(net: number, len: number, was: number, now: number): void {
    const m = this.heads[len] ?? (this.heads[len] = new Map());
    if (now >= 0) m.set(net | 0, now);
    else m.delete(net | 0);
    if (was < 0) this.prefixes++;
    if (now < 0) this.prefixes--;
    const lpm = this.lpm, tb = this.prefixes > BIG ? 20 : this.prefixes <= BIG / 2 ? 16 : lpm.tb;
    if (!this.large && this.prefixes > SMALL) this.buildTrie(tb);
    else if (this.large && this.prefixes <= SMALL / 2) this.dropTrie();
    else if (!this.large) this.buildSmall();
    else if (tb !== lpm.tb) this.buildTrie(tb);
    else if (now >= 0) lpm.paint(net, len, now + 1);
    else lpm.unpaint(net, len, this.cover(net, len, lpm.coverFloor(len)));
  }

  private allocRoute(): number {
    if (this.freeRoute >= 0) {
      const r = this.freeRoute;
      this.freeRoute = this.rNext[r]!;
      return r;
    }
    if (this.highWater === this.cap) this.growRoutes(Math.max(8, this.cap * 2));
    return this.highWater++;
  }

  private growRoutes(cap: number): void {
    const g = <T extends Uint8Array | Int32Array | Uint32Array>(a: T, b: T): T => (b.set(a), b);
    this.rNet = g(this.rNet, new Uint32Array(cap));
    this.rLen = g(this.rLen, new Uint8Array(cap));
    this.rType = g(this.rType, new Uint8Array(cap));
    this.rScope = g(this.rScope, new Uint8Array(cap));
    this.rProto = g(this.rProto, new Uint8Array(cap));
    this.rFlags = g(this.rFlags, new Uint8Array(cap));
    this.rOif = g(this.rOif, new Int32Array(cap));
    this.rGw = g(this.rGw, new Uint32Array(cap));
    this.rSrc = g(this.rSrc, new Uint32Array(cap));
    this.rMetric = g(this.rMetric, new Uint32Array(cap));
    this.rNext = g(this.rNext, new Int32Array(cap));
    this.cap = cap;
  }

  // ---- small tables -------------------------------------------------------------------------

  private buildSmall(): void {
    const firsts: number[] = [];
    for (let len = 32; len >= 0; len--) for (const r of this.heads[len]?.values() ?? []) firsts.push(r);
    this.sCount = firsts.length;
    for (let i = 0; i < firsts.length; i++) {
      const r = firsts[i]!;
      this.sNet[i] = this.rNet[r]! | 0;
      this.sMask[i] = prefixMask(this.rLen[r]!) | 0;
      this.sRoute[i] = r;
    }
  }

  private buildTrie(tb: number): void {
    const t = new LpmTrie(tb, (v) => (v === 0 ? -1 : this.rLen[v - 1]!));
    for (let len = 0; len <= 32; len++) for (const r of this.heads[len]?.values() ?? []) t.paint(this.rNet[r]!, len, r + 1);
    this.lpm = t;
    this.large = true;
  }

  private dropTrie(): void {
    this.large = false;
    this.lpm = NO_TRIE;
    this.buildSmall();
  }

  /** Route value (index + 1) of the longest prefix shorter than `len` and at least `floor` that
   *  covers `net`; 0 if none. */
  private cover(net: number, len: number, floor: number): number {
    for (let l = len - 1; l >= floor; l--) {
      const r = this.heads[l]?.get((net & prefixMask(l)) | 0);
      if (r !== undefined) return r + 1;
    }
    return 0;
  }
}

function validPrefix(net: number, len: number): boolean {
  return Number.isInteger(len) && len >= 0 && len <= 32 && Number.isInteger(net) && (net & ~prefixMask(len)) === 0;
}

