// Ephemeral port choice (udp_lib_get_port with snum 0), against a plain reference search.
import { describe, expect, it } from "vitest";
import { ephemeralPort, ephemeralPortReference, PORT_RANGE_HIGH, PORT_RANGE_LOW, UDP_HTABLE_SIZE } from "./ports.js";

describe("ephemeralPort", () => {
  it("nothing bound: low + reciprocal_scale(rand, range)", () => {
    const used = new Uint8Array(65536);
    expect(ephemeralPort(0, used)).toBe(32768);
    expect(ephemeralPort(0xffffffff, used)).toBe(60999);
    expect(ephemeralPort(0x80000000, used)).toBe(32768 + 14116);
  });

  it("first taken: another port of the same hash chain (first mod table size)", () => {
    const used = new Uint8Array(65536);
    const first = ephemeralPort(0x12345678, used);
    used[first] = 1;
    const p = ephemeralPort(0x12345678, used);
    expect(p).not.toBe(first);
    expect(p % UDP_HTABLE_SIZE).toBe(first % UDP_HTABLE_SIZE);
    expect(p).toBe(ephemeralPortReference(0x12345678, used));
  });

  it("a whole chain taken: the next chain; the whole range taken: -1 (EADDRINUSE)", () => {
    const used = new Uint8Array(65536);
    const first = ephemeralPort(7, used);
    for (let p = PORT_RANGE_LOW; p <= PORT_RANGE_HIGH; p++) if (p % UDP_HTABLE_SIZE === first % UDP_HTABLE_SIZE) used[p] = 1;
    expect(ephemeralPort(7, used) % UDP_HTABLE_SIZE).toBe((first + 1) % UDP_HTABLE_SIZE);
    used.fill(1, PORT_RANGE_LOW, PORT_RANGE_HIGH + 1);
    expect(ephemeralPort(7, used)).toBe(-1);
  });
});
