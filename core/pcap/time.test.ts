import { describe, expect, it } from "vitest";
import { maxSecondsFor, timeToUnits, unitsToTime } from "./time.js";
import { rng } from "./fixtures/load.js";

// The reference is BigInt arithmetic (fine in a test; the code itself never uses BigInt).
const TWO64 = 1n << 64n;
const split = (v: bigint) => ({ hi: Number(v >> 32n), lo: Number(v & 0xffffffffn) });

function reference(v: bigint, tsresol: number): { sec: number; nsec: number } {
  const n = BigInt(tsresol & 0x7f);
  const unit = tsresol & 0x80 ? 1n << n : 10n ** n; // units per second
  const sec = v / unit;
  const nsec = ((v % unit) * 1_000_000_000n) / unit;
  return { sec: Number(sec), nsec: Number(nsec) };
}

function random64(next: () => number): bigint {
  const bits = 1 + Math.floor(next() * 64); // all magnitudes, not just huge values
  const v = (BigInt(Math.floor(next() * 2 ** 32)) << 32n) | BigInt(Math.floor(next() * 2 ** 32));
  return v & ((1n << BigInt(bits)) - 1n);
}

const interesting = [0n, 1n, 999_999_999n, 1_000_000_000n, 0xffffffffn, 1n << 32n, 1_795_341_295_077_221_577n, 1_795_341_295_077_221n, TWO64 - 1n];

describe("unitsToTime", () => {
  it("matches exact arithmetic for 10^-n units, n = 0..19", () => {
    const next = rng(1);
    const out = { sec: 0, nsec: 0 };
    for (let n = 0; n <= 19; n++) {
      for (const v of [...interesting, ...Array.from({ length: 300 }, () => random64(next))]) {
        const { hi, lo } = split(v);
        unitsToTime(hi, lo, n, 0, out);
        const want = reference(v, n);
        if (want.sec <= Number.MAX_SAFE_INTEGER) expect(out, `n=${n} v=${v}`).toEqual(want);
        else expect(out.nsec, `n=${n} v=${v}`).toBe(want.nsec);
      }
    }
  });

  it("matches exact arithmetic for 2^-n units, n = 0..127", () => {
    const next = rng(2);
    const out = { sec: 0, nsec: 0 };
    for (let n = 0; n <= 127; n++) {
      for (const v of [...interesting, ...Array.from({ length: 100 }, () => random64(next))]) {
        const { hi, lo } = split(v);
        unitsToTime(hi, lo, 0x80 | n, 0, out);
        const want = reference(v, 0x80 | n);
        if (want.sec <= Number.MAX_SAFE_INTEGER) expect(out, `n=${n} v=${v}`).toEqual(want);
        else expect(out.nsec, `n=${n} v=${v}`).toBe(want.nsec);
      }
    }
  });

  it("adds if_tsoffset seconds, negative ones too", () => {
    const out = { sec: 0, nsec: 0 };
    unitsToTime(0, 1_500_000, 6, 1_700_000_000, out);
    expect(out).toEqual({ sec: 1_700_000_001, nsec: 500_000_000 });
    unitsToTime(0, 3_000_000, 6, -2, out);
    expect(out).toEqual({ sec: 1, nsec: 0 });
  });
});

describe("timeToUnits", () => {
  it("matches exact arithmetic for n = 0..9, virtual and epoch times, up to the 64-bit limit", () => {
    const next = rng(3);
    const u = { hi: 0, lo: 0 };
    for (let n = 0; n <= 9; n++) {
      const max = maxSecondsFor(n);
      expect(BigInt(max) * 10n ** BigInt(n) + 10n ** BigInt(n) - 1n < TWO64).toBe(true);
      const secs = [0, 1, 59, 1_795_341_295, 0xffffffff, 2 ** 32, max, ...Array.from({ length: 200 }, () => Math.floor(next() * max))];
      for (const sec of secs) {
        for (const nsec of [0, 1, 999, 1000, 123_456_789, 999_999_999, Math.floor(next() * 1e9)]) {
          timeToUnits(sec, nsec, n, u);
          const want = BigInt(sec) * 10n ** BigInt(n) + BigInt(nsec) / 10n ** BigInt(9 - n);
          expect(split(want), `n=${n} sec=${sec} nsec=${nsec}`).toEqual(u);
          // and back: the time, cut to the resolution
          const back = { sec: 0, nsec: 0 };
          unitsToTime(u.hi, u.lo, n, 0, back);
          const unitNs = 10 ** (9 - n);
          expect(back).toEqual({ sec, nsec: nsec - (nsec % unitNs) });
        }
      }
    }
  });
});
