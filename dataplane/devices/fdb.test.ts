import { describe, expect, it } from "vitest";
import { Rng } from "../engine/rng.js";
import { Fdb, FDB_LOCAL, FDB_STATIC, LEARN_FULL, LEARN_LOCAL, LEARN_MOVED, LEARN_NEW, LEARN_REFRESHED, macHi, macLo, macOf } from "./fdb.js";
import { FdbReference } from "./fdb-reference.js";

const M = (s: string) => parseInt(s.replace(/:/g, ""), 16);

/** Every entry of the table equals the reference's, in the same (newest first) order. */
function same(fdb: Fdb, ref: FdbReference): void {
  const got = fdb.indices().map((i) => [fdb.macAt(i), fdb.portAt(i), fdb.flagsAt(i), fdb.updatedAt(i)]);
  const want = ref.list().map(([mac, e]) => [mac, e.port, e.flags, e.updated]);
  expect(got).toEqual(want);
  expect([fdb.size, fdb.learned, fdb.dynamic]).toEqual([ref.entries.size, ref.learned, ref.dynamic]);
  for (const [mac] of want) expect(fdb.find(macHi(mac as number), macLo(mac as number))).toBeGreaterThanOrEqual(0);
}

describe("fdb", () => {
  it("learns, refreshes, moves, and leaves local entries alone", () => {
    const f = new Fdb(10);
    const [hi, lo] = [macHi(M("02:42:ac:11:00:02")), macLo(M("02:42:ac:11:00:02"))];
    expect(f.learn(hi, lo, 1, 0)).toBe(LEARN_NEW);
    expect(f.learn(hi, lo, 1, 5)).toBe(LEARN_REFRESHED);
    expect(f.updatedAt(f.find(hi, lo))).toBe(5);
    expect(f.learn(hi, lo, 2, 6)).toBe(LEARN_MOVED);
    expect(f.portAt(f.find(hi, lo))).toBe(2);
    const own = M("02:42:e1:1f:3e:a7");
    f.add(macHi(own), macLo(own), 0, FDB_LOCAL | FDB_STATIC, 0);
    expect(f.learn(macHi(own), macLo(own), 3, 7)).toBe(LEARN_LOCAL);
    expect(f.portAt(f.find(macHi(own), macLo(own)))).toBe(0);
    expect([f.size, f.learned, f.dynamic]).toEqual([2, 1, 1]);
  });

  it("keeps keys that differ only in the high 16 bits apart, and splits MACs exactly", () => {
    const f = new Fdb();
    for (const m of [M("00:00:12:34:56:78"), M("ff:fe:12:34:56:78"), M("02:42:12:34:56:78"), M("fe:ff:ff:ff:ff:ff")]) {
      expect(macOf(macHi(m), macLo(m))).toBe(m);
      f.learn(macHi(m), macLo(m), m % 7, 0);
    }
    expect(f.portAt(f.find(macHi(M("ff:fe:12:34:56:78")), macLo(M("ff:fe:12:34:56:78"))))).toBe(M("ff:fe:12:34:56:78") % 7);
    expect(f.find(macHi(M("ff:ff:12:34:56:78")), macLo(M("ff:ff:12:34:56:78")))).toBe(-1);
  });

  it("refuses new learned entries beyond maxLearned but not hand-added ones", () => {
    const f = new Fdb(2);
    expect([1, 2, 3].map((x) => f.learn(0x0242, x, 1, 0))).toEqual([LEARN_NEW, LEARN_NEW, LEARN_FULL]);
    f.add(0x0242, 9, 1, FDB_STATIC, 0);
    expect(f.size).toBe(3);
    f.remove(0x0242, 1);
    expect(f.learn(0x0242, 3, 1, 0)).toBe(LEARN_NEW);
    const unlimited = new Fdb(0);
    for (let i = 0; i < 70000; i++) expect(unlimited.learn(0x0242, i, 1, 0)).toBe(LEARN_NEW);
  });

  it("grows in steps from 64 slots and stays at most half full", () => {
    const f = new Fdb();
    expect(f.capacity).toBe(64);
    for (let i = 0; i < 5000; i++) f.learn(0x0242, 0xac110000 + i, i & 7, i);
    expect(f.capacity).toBe(16384);
    for (let i = 0; i < 5000; i++) expect(f.portAt(f.find(0x0242, (0xac110000 + i) | 0))).toBe(i & 7);
  });

  it("matches the Map reference under random learn/add/find/move/remove/age/flush (differential)", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rng = new Rng(seed);
      const max = rng.int(0, 300); // 0 = unlimited
      const fdb = new Fdb(max);
      const ref = new FdbReference(max);
      // A small pool of addresses (so operations meet the same keys again), some differing only
      // in the high half, some random.
      const pool: number[] = [];
      for (let i = 0; i < rng.int(5, 600); i++) {
        const r = rng.u32() % 3;
        pool.push(r === 0 ? 0x0242_ac11_0000 + (i & 0xffff) : r === 1 ? (i & 0xfeff) * 0x1_0000_0000 + 0xac110002 : (rng.u32() & 0xfeff) * 0x1_0000_0000 + rng.u32());
      }
      let now = 0;
      const ageing = rng.int(1, 50);
      for (let k = 0; k < 4000; k++) {
        now += rng.int(0, 2);
        const mac = pool[rng.int(0, pool.length - 1)]!;
        const hi = macHi(mac), lo = macLo(mac);
        const port = rng.int(0, 5);
        const op = rng.u32() % 100;
        if (op < 55) expect(fdb.learn(hi, lo, port, now)).toBe(ref.learn(hi, lo, port, now));
        else if (op < 65) {
          const flags = [0, FDB_STATIC, FDB_LOCAL | FDB_STATIC][rng.int(0, 2)]!;
          fdb.add(hi, lo, port, flags, now);
          ref.add(hi, lo, port, flags, now);
        } else if (op < 80) {
          const i = fdb.find(hi, lo);
          const e = ref.find(hi, lo);
          expect(i >= 0).toBe(e !== undefined);
          if (e) expect([fdb.portAt(i), fdb.flagsAt(i), fdb.updatedAt(i)]).toEqual([e.port, e.flags, e.updated]);
        } else if (op < 90) expect(fdb.remove(hi, lo)).toBe(ref.remove(hi, lo));
        else if (op < 96) {
          expect(fdb.age(now, ageing)).toBe(ref.age(now, ageing));
          expect(fdb.expiry(ageing)).toBe(ref.nextExpiry(ageing));
        } else if (op < 99) {
          const all = rng.u32() % 2 === 0;
          expect(fdb.removePort(port, all)).toBe(ref.removePort(port, all));
        } else expect(fdb.flushDynamic()).toBe(ref.flushDynamic());
        if (k % 97 === 0) same(fdb, ref);
      }
      same(fdb, ref);
    }
  });
});
