import { describe, expect, it } from "vitest";
import { Engine } from "../engine/engine.js";
import { NeighTable, NUD_NAMES, neighHash, type NeighOwner } from "./neigh.js";
import fc from "fast-check";

const S = 1e9;

function setup() {
  const e = new Engine({ slots: 64, seed: 7 });
  const log: string[] = [];
  const owner: NeighOwner = {
    solicit: (i, ip, mac) => log.push(`${e.clock.now / S}s solicit if${i} ${ip} ${mac < 0 ? "broadcast" : "unicast " + mac}`),
    unresolved: (i, ip, slot) => log.push(`${e.clock.now / S}s unresolved if${i} ${ip} slot${slot}`),
    resolved: (i, mac, slot) => log.push(`${e.clock.now / S}s resolved if${i} mac ${mac} slot${slot}`),
  };
  const t = new NeighTable(e, owner, e.rng.fork("ns"));
  const state = (ip: number) => NUD_NAMES[t.entries().find((x) => x.ip === ip)?.state ?? 0];
  return { e, t, log, state };
}

describe("neighbour table (Linux state machine)", () => {
  it("fails after 3 broadcast requests 1 s apart and hands the queued packets back at 3 s", () => {
    const { e, t, log, state } = setup();
    expect(t.resolve(1, 5, 10)).toBe(-1);
    expect(t.resolve(1, 5, 11)).toBe(-1);
    expect(t.held()).toBe(2);
    e.run();
    expect(log).toEqual([
      "0s solicit if1 5 broadcast",
      "1s solicit if1 5 broadcast",
      "2s solicit if1 5 broadcast",
      "3s unresolved if1 5 slot10",
      "3s unresolved if1 5 slot11",
    ]);
    expect(state(5)).toBe("FAILED");
    expect(t.held()).toBe(0);
  });

  it("a reply resolves: queued packets go in order, the entry is REACHABLE, then STALE after 15..45 s", () => {
    const { e, t, log, state } = setup();
    t.resolve(1, 5, 10);
    t.resolve(1, 5, 11);
    e.run(0.5 * S);
    t.learn(1, 5, 0xaabb, true, false);
    expect(log.slice(1)).toEqual(["0.5s resolved if1 mac 43707 slot10", "0.5s resolved if1 mac 43707 slot11"]);
    expect(state(5)).toBe("REACHABLE");
    expect(t.resolve(1, 5, 12)).toBe(0xaabb);
    e.run(10 * S);
    expect(state(5)).toBe("REACHABLE");
    e.run(60 * S);
    expect(state(5)).toBe("STALE");
  });

  it("STALE in use: DELAY for 5 s, then 3 unicast probes 1 s apart, then FAILED", () => {
    const { e, t, log, state } = setup();
    t.learn(1, 9, 0x1234, false, true); // a request from .9: STALE
    expect(state(9)).toBe("STALE");
    e.run(100 * S);
    expect(t.resolve(1, 9, 3)).toBe(0x1234); // sent at once, entry to DELAY
    expect(state(9)).toBe("DELAY");
    e.run();
    expect(log).toEqual([
      "105s solicit if1 9 unicast 4660",
      "106s solicit if1 9 unicast 4660",
      "107s solicit if1 9 unicast 4660",
    ]);
    expect(state(9)).toBe("FAILED");
  });

  it("a confirmation during DELAY returns to REACHABLE without probing", () => {
    const { e, t, log, state } = setup();
    t.learn(1, 9, 0x1234, false, true);
    t.resolve(1, 9, 3);
    e.run(2 * S);
    t.learn(1, 9, 0x1234, true, false);
    e.run(6 * S);
    expect(state(9)).toBe("REACHABLE");
    expect(log).toEqual([]);
  });

  it("does not create entries from unsolicited ARP unless asked, and keeps a valid state for the same MAC", () => {
    const { t, state } = setup();
    t.learn(1, 7, 0x55, false, false);
    expect(t.entries()).toEqual([]);
    t.learn(1, 7, 0x55, true, true);
    expect(state(7)).toBe("REACHABLE");
    t.learn(1, 7, 0x55, false, true); // a request with the same MAC
    expect(state(7)).toBe("REACHABLE");
    t.learn(1, 7, 0x56, false, true); // a different MAC: STALE with the new address
    expect(state(7)).toBe("STALE");
    expect(t.entries()[0]!.mac).toBe(0x56);
  });

  it("permanent entries never change and resolve at once", () => {
    const { e, t, state } = setup();
    t.addPermanent(2, 1, 0x99);
    t.learn(2, 1, 0x77, true, true);
    expect(t.resolve(2, 1, 0)).toBe(0x99);
    e.run(1000 * S);
    expect(state(1)).toBe("PERMANENT");
  });

  it("bounds the queue of an unresolved entry", () => {
    const { t, log } = setup();
    for (let i = 0; i < 103; i++) t.resolve(1, 5, i);
    expect(t.held()).toBe(101);
    expect(log.filter((l) => l.includes("unresolved"))).toEqual(["0s unresolved if1 5 slot101", "0s unresolved if1 5 slot102"]);
  });
});

describe("neighbour table hashing", () => {
  it("bucket hash is a uint32 for every interface and address (a negative one walked out of range)", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 4095 }), fc.integer({ min: 0, max: 0xffffffff }), (i, ip) => {
      const h = neighHash(i, ip);
      return Number.isInteger(h) && h >= 0 && h < 2 ** 32;
    }), { numRuns: 5000 });
    expect(neighHash(1, 0xac110003)).toBeGreaterThanOrEqual(0);
  });
});
