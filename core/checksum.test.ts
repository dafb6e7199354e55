import { describe, expect, it } from "vitest";
import { checksumAdd, checksumFinish, checksumUpdate16, checksumUpdate32, checksumVerifies, internetChecksum, pseudoHeaderSum } from "./checksum.js";

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));

describe("internet checksum", () => {
  // An IPv4 header captured from the kernel (fixture udp-hello): checksum field 0x3f28.
  const hdr = hex("4500 002a e6d2 4000 4011 3f28 0a63 0001 0a63 0002");
  it("verifies a real IPv4 header and recomputes its checksum", () => {
    expect(checksumVerifies(hdr, 0, 20)).toBe(true);
    const z = Uint8Array.from(hdr);
    z[10] = 0;
    z[11] = 0;
    expect(internetChecksum(z, 0, 20)).toBe(0x3f28);
  });
  it("matches the RFC 1071 worked example", () => {
    // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2 (before complement).
    expect(checksumFinish(checksumAdd(0, hex("0001f203f4f5f6f7"), 0, 8))).toBe(~0xddf2 & 0xffff);
  });
  it("pads an odd trailing byte with zero", () => {
    expect(internetChecksum(hex("ab"), 0, 1)).toBe(~0xab00 & 0xffff);
    expect(internetChecksum(hex("00ab01"), 1, 1)).toBe(~0xab00 & 0xffff);
  });
  it("handles long buffers (carries folded)", () => {
    const b = new Uint8Array(65536).fill(0xff);
    expect(internetChecksum(b, 0, b.length)).toBe(0);
  });
  it("includes the UDP pseudo-header", () => {
    // 10.99.0.1 -> 10.99.0.2, proto 17, length 22 (fixture udp-hello)
    expect(pseudoHeaderSum(0x0a630001, 0x0a630002, 17, 22)).toBe(0x0a63 + 0x0001 + 0x0a63 + 0x0002 + 17 + 22);
  });
});

describe("RFC 1624 incremental update", () => {
  it("matches a recompute after a TTL decrement", () => {
    const h = hex("4500 002a e6d2 4000 4011 3f28 0a63 0001 0a63 0002");
    const oldWord = (h[8]! << 8) | h[9]!;
    h[8]! -= 1;
    const upd = checksumUpdate16(0x3f28, oldWord, (h[8]! << 8) | h[9]!);
    h[10] = 0;
    h[11] = 0;
    expect(upd).toBe(internetChecksum(h, 0, 20));
  });
  it("matches a recompute after a 32-bit address rewrite", () => {
    const h = hex("4500 002a e6d2 4000 4011 3f28 0a63 0001 0a63 0002");
    const upd = checksumUpdate32(0x3f28, 0x0a630001, 0xc0a80164);
    h.set([0xc0, 0xa8, 0x01, 0x64], 12);
    h[10] = 0;
    h[11] = 0;
    expect(upd).toBe(internetChecksum(h, 0, 20));
  });
  it("yields 0 (not 0xffff) when the new sum is negative zero, as a recompute does (eqn. 3, not eqn. 2)", () => {
    // Words 0xfffe + 0x0002 -> after rewriting 0x0002 to 0x0001 the sum is 0xffff (-0).
    const c = internetChecksum(hex("fffe 0002"), 0, 4);
    const upd = checksumUpdate16(c, 0x0002, 0x0001);
    expect(upd).toBe(0);
    expect(upd).toBe(internetChecksum(hex("fffe 0001"), 0, 4));
  });
});
