// Linux's ICMP error rate limit (net/ipv4/icmp.c icmpv4_xrlim_allow / inet_peer_xrlim_allow):
// a token bucket per destination, one token per icmp_ratelimit (1 s), at most 6 tokens
// (XRLIM_BURST_FACTOR), for the types in icmp_ratemask 0x1818 (destination unreachable, source
// quench, time exceeded, parameter problem). BEHAVIOR.md 5.10: a routing error (no route,
// unreachable, prohibit) first spends a token in ip_error and then another in icmp_send, so the
// 4th back-to-back routing error to one source within a second is not sent.
// Typed-array table keyed by destination address; a full table allows (as a missing inet_peer).

export const ICMP_RATEMASK = 0x1818;

export class IcmpRateLimit {
  private readonly keys: Uint32Array;
  private readonly used: Uint8Array;
  private readonly tokens: Float64Array;
  private readonly last: Float64Array;
  suppressed = 0;

  constructor(readonly interval = 1e9, readonly burst = 6, readonly capacity = 1024) {
    this.keys = new Uint32Array(capacity);
    this.used = new Uint8Array(capacity);
    this.tokens = new Float64Array(capacity);
    this.last = new Float64Array(capacity);
  }

  /** Whether an ICMP error of `type` to `dst` may be sent at `now` (spends a token if so). */
  allow(type: number, dst: number, now: number): boolean {
    if (type > 15 || !((ICMP_RATEMASK >> type) & 1)) return true;
    const i = this.slot(dst);
    if (i < 0) return true;
    // inet_peer_xrlim_allow: token += now - last, capped at burst * interval; send if >= interval
    let t = this.tokens[i]! + (now - this.last[i]!);
    const max = this.burst * this.interval;
    if (t > max) t = max;
    this.last[i] = now;
    if (t >= this.interval) {
      this.tokens[i] = t - this.interval;
      return true;
    }
    this.tokens[i] = t;
    this.suppressed++;
    return false;
  }

  private slot(dst: number): number {
    const cap = this.capacity;
    let i = (Math.imul(dst, 0x9e3779b1) >>> 0) % cap;
    for (let k = 0; k < cap; k++) {
      if (!this.used[i]) {
        this.used[i] = 1;
        this.keys[i] = dst;
        this.tokens[i] = this.burst * this.interval; // a new peer starts with a full bucket
        this.last[i] = -Infinity;
        return i;
      }
      if (this.keys[i] === dst) return i;
      i = i + 1 === cap ? 0 : i + 1;
    }
    return -1;
  }
}
