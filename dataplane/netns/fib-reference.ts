// The obviously correct routing table the tests compare Fib (fib.ts) against: an array of route
// objects, every lookup a scan of all of them. Same operations, same errors, same defaults; no
// speed, no typed arrays. Lookup: among the routes whose prefix contains dst, the longest prefix,
// then the lowest metric, then the first added.

import {
  FIB_EEXIST, FIB_EINVAL, FIB_ESRCH, RTN_UNICAST, RTPROT_BOOT, defaultScope, prefixMask,
  type RouteMatch, type RouteSpec,
} from "./fib.js";

export interface RefRoute {
  network: number;
  len: number;
  type: number;
  oif: number;
  gateway: number;
  scope: number;
  src: number;
  metric: number;
  proto: number;
  flags: number;
  /** Order of addition (ties among equal prefix and metric). */
  seq: number;
}

export class RefFib {
  /** Every route, in order of addition. */
  readonly all = new Set<RefRoute>();
  /** Routes by "network/len" (so that building 100,000 routes is not quadratic). */
  private readonly byPrefix = new Map<string, RefRoute[]>();
  private seq = 0;

  get size(): number {
    return this.all.size;
  }

  add(spec: RouteSpec): RefRoute | number {
    if (!valid(spec)) return FIB_EINVAL;
    if (this.same(spec)) return FIB_EEXIST;
    const r = fields(spec, this.seq++);
    this.all.add(r);
    this.prefix(r.network, r.len).push(r);
    return r;
  }

  replace(spec: RouteSpec): RefRoute | number {
    if (!valid(spec)) return FIB_EINVAL;
    const old = this.same(spec);
    if (!old) return this.add(spec);
    Object.assign(old, fields(spec, old.seq));
    return old;
  }

  delete(network: number, len: number, match: RouteMatch = {}): RefRoute | number {
    if (!valid({ network, len })) return FIB_EINVAL;
    const list = this.prefix(network >>> 0, len);
    const gone = list.filter((r) => matches(r, match)).sort((a, b) => a.metric - b.metric || a.seq - b.seq)[0];
    if (!gone) return FIB_ESRCH;
    list.splice(list.indexOf(gone), 1);
    this.all.delete(gone);
    return gone;
  }

  lookup(dst: number): RefRoute | undefined {
    let best: RefRoute | undefined;
    for (const r of this.all) {
      if (((dst & prefixMask(r.len)) >>> 0) !== r.network) continue;
      if (!best || r.len > best.len || (r.len === best.len && (r.metric < best.metric || (r.metric === best.metric && r.seq < best.seq)))) best = r;
    }
    return best;
  }

  /** Routes in `ip route show` order: network, then longer prefix first, then metric. */
  show(): RefRoute[] {
    return [...this.all].sort((a, b) => a.network - b.network || b.len - a.len || a.metric - b.metric || a.seq - b.seq);
  }

  private same(spec: RouteSpec): RefRoute | undefined {
    return this.prefix(spec.network >>> 0, spec.len).find((r) => r.metric === (spec.metric ?? 0));
  }

  private prefix(network: number, len: number): RefRoute[] {
    const k = `${network}/${len}`;
    let l = this.byPrefix.get(k);
    if (!l) this.byPrefix.set(k, (l = []));
    return l;
  }
}

function valid(s: RouteSpec): boolean {
  const m = s.metric ?? 0;
  if (!Number.isInteger(s.len) || s.len < 0 || s.len > 32) return false;
  if (!Number.isInteger(m) || m < 0 || m > 0xffff_ffff) return false;
  return ((s.network >>> 0) & ~prefixMask(s.len)) >>> 0 === 0;
}

/** One object literal for every route: one hidden class, so scans stay fast (a spread made them
 *  12x slower). */
function fields(s: RouteSpec, seq: number): RefRoute {
  const type = s.type ?? RTN_UNICAST, gateway = (s.gateway ?? 0) >>> 0;
  return {
    network: s.network >>> 0,
    len: s.len,
    type,
    oif: s.oif ?? 0,
    gateway,
    scope: s.scope ?? defaultScope(type, gateway),
    src: (s.src ?? 0) >>> 0,
    metric: s.metric ?? 0,
    proto: s.proto ?? RTPROT_BOOT,
    flags: s.flags ?? 0,
    seq,
  };
}

function matches(r: RefRoute, m: RouteMatch): boolean {
  return (!m.metric || m.metric === r.metric) && (!m.type || m.type === r.type) && (!m.oif || m.oif === r.oif) &&
    (!m.gateway || m.gateway >>> 0 === r.gateway) && (!m.src || m.src >>> 0 === r.src) && (!m.proto || m.proto === r.proto) &&
    (m.scope === undefined || m.scope === r.scope);
}
