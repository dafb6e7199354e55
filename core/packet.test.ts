import { describe, expect, it } from "vitest";
import { PacketArena, PacketBatch } from "./packet.js";

describe("PacketArena", () => {
  it("hands out slots 0,1,2... with the frame after the headroom", () => {
    const a = new PacketArena({ slotCount: 4, slotSize: 256, headroom: 64 });
    expect([a.alloc(), a.alloc(), a.alloc()]).toEqual([0, 1, 2]);
    expect(a.start(1)).toBe(256 + 64);
    expect(a.len[1]).toBe(0);
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it("counts exhaustion, double frees and bad frees without corrupting the free list", () => {
    const a = new PacketArena({ slotCount: 2 });
    const s0 = a.alloc();
    const s1 = a.alloc();
    expect(a.alloc()).toBe(-1);
    expect(a.free(s0)).toBe(true);
    expect(a.free(s0)).toBe(false);
    expect(a.free(7)).toBe(false);
    expect(a.free(-1)).toBe(false);
    expect(a.free(0.5)).toBe(false);
    expect(a.stats()).toMatchObject({ inUse: 1, allocFailures: 1, doubleFrees: 1, badFrees: 3, allocs: 2, frees: 1 });
    expect(a.audit()).toEqual([]);
    expect(a.alloc()).toBe(s0);
    expect(a.alloc()).toBe(-1);
    a.free(s1);
    a.free(s0);
    expect(a.inUse).toBe(0);
    expect(a.audit()).toEqual([]);
  });

  it("prepends and strips headers within the headroom", () => {
    const a = new PacketArena({ slotCount: 1, slotSize: 256, headroom: 64 });
    const s = a.allocFrom(Uint8Array.from([1, 2, 3, 4]));
    expect(Array.from(a.view(s))).toEqual([1, 2, 3, 4]);
    const st = a.push(s, 50); // a VXLAN outer header
    expect(st).toBe(14);
    a.bytes.fill(9, st, st + 50);
    expect(a.len[s]).toBe(54);
    expect(a.push(s, 15)).toBe(-1); // only 14 bytes of headroom left
    expect(a.pull(s, 50)).toBe(64);
    expect(Array.from(a.view(s))).toEqual([1, 2, 3, 4]);
    expect(a.pull(s, 5)).toBe(-1);
    expect(a.setLen(s, 256 - 64)).toBe(true);
    expect(a.setLen(s, 256 - 63)).toBe(false);
  });

  it("refuses frames larger than a slot can hold", () => {
    const a = new PacketArena({ slotCount: 1, slotSize: 256, headroom: 64 });
    expect(a.allocFrom(new Uint8Array(193))).toBe(-1);
    expect(a.allocFrom(new Uint8Array(192))).toBe(0);
  });

  it("shares memory with a second view of the same buffer (as a worker would)", () => {
    const a = new PacketArena({ slotCount: 3 });
    const b = new PacketArena({ slotCount: 3, buffer: a.buffer });
    const s = a.allocFrom(Uint8Array.from([0xde, 0xad]));
    expect(b.len[s]).toBe(2);
    expect(Array.from(b.bytes.subarray(b.start(s), b.start(s) + 2))).toEqual([0xde, 0xad]);
    expect(() => new PacketArena({ slotCount: 4, buffer: a.buffer })).toThrow(/layout needs/);
  });

  it("validates its configuration", () => {
    expect(() => new PacketArena({ slotCount: 0 })).toThrow("slotCount 0 must be a positive integer");
    expect(() => new PacketArena({ slotCount: 1, slotSize: 32 })).toThrow("slotSize 32 must be 64..65535");
    expect(() => new PacketArena({ slotCount: 1, slotSize: 128, headroom: 128 })).toThrow("headroom 128 must be 0..slotSize-1");
  });
});

describe("PacketBatch", () => {
  it("holds up to capacity indices and frees them back", () => {
    const a = new PacketArena({ slotCount: 8 });
    const b = new PacketBatch(4);
    for (let i = 0; i < 4; i++) expect(b.push(a.alloc())).toBe(true);
    expect(b.full).toBe(true);
    expect(b.push(a.alloc())).toBe(false);
    b.freeAll(a);
    expect(b.count).toBe(0);
    expect(a.inUse).toBe(1);
    expect(a.audit()).toEqual([]);
  });
});
