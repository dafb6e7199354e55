import { describe, expect, it } from "vitest";
import { loadFixture } from "./fixtures/load.js";
import { ETH_HEADER_LEN } from "./ethernet.js";
import { getU32 } from "../bytes.js";
import { WireError } from "./error.js";
import { emitUdp, newUdpRepr, parseUdp, udpCheckLen, udpChecksum, formatUdp, udpComputeChecksum, UDP_HEADER_LEN } from "./udp.js";

// Fixtures: scripts/capture-fixtures-udp.sh (nc -u between two namespaces, offloads off).
const IP = ETH_HEADER_LEN; // the fixtures carry a 20-byte IPv4 header
const UDP = IP + 20;
const src = (b: Uint8Array) => getU32(b, IP + 12);
const dst = (b: Uint8Array) => getU32(b, IP + 16);

describe("udp", () => {
  for (const [name, sport, dport, payload] of [
    ["udp-hello", 40000, 7777, "hello wireyard"],
    ["udp-odd", 40001, 9, "x"],
  ] as const) {
    it(`parses the real-capture fixture ${name}`, () => {
      const { bytes } = loadFixture(name);
      const r = newUdpRepr();
      expect(parseUdp(bytes, UDP, bytes.length - UDP, src(bytes), dst(bytes), r)).toBe(WireError.OK);
      expect(r).toEqual({ srcPort: sport, dstPort: dport, payloadLen: payload.length, noChecksum: false });
      expect(Buffer.from(bytes.subarray(UDP + 8, UDP + 8 + r.payloadLen)).toString()).toBe(payload);
      expect(formatUdp(r)).toBe(`UDP, length ${payload.length}`);
    });

    it(`emits ${name} byte for byte, checksum included`, () => {
      const { bytes } = loadFixture(name);
      const r = newUdpRepr();
      parseUdp(bytes, UDP, bytes.length - UDP, src(bytes), dst(bytes), r);
      const copy = Uint8Array.from(bytes);
      copy.fill(0xaa, UDP, UDP + UDP_HEADER_LEN); // stale header bytes must not leak into emit
      expect(emitUdp(r, copy, UDP, src(bytes), dst(bytes))).toBe(UDP_HEADER_LEN);
      expect(copy).toEqual(bytes);
    });
  }

  it("rejects a flipped payload bit as a bad checksum, and accepts it unverified", () => {
    const b = Uint8Array.from(loadFixture("udp-hello").bytes);
    b[b.length - 1]! ^= 1;
    const r = newUdpRepr();
    expect(parseUdp(b, UDP, b.length - UDP, src(b), dst(b), r)).toBe(WireError.BAD_CHECKSUM);
    expect(parseUdp(b, UDP, b.length - UDP, src(b), dst(b), r, false)).toBe(WireError.OK);
  });

  it("treats a zero checksum as none, and round-trips it", () => {
    const b = Uint8Array.from(loadFixture("udp-hello").bytes);
    b[UDP + 6] = 0;
    b[UDP + 7] = 0;
    const r = newUdpRepr();
    expect(parseUdp(b, UDP, b.length - UDP, src(b), dst(b), r)).toBe(WireError.OK);
    expect(r.noChecksum).toBe(true);
    const out = Uint8Array.from(b);
    emitUdp(r, out, UDP, src(b), dst(b));
    expect(udpChecksum(out, UDP)).toBe(0);
  });

  it("sends a computed checksum of 0 as 0xffff", () => {
    // Find a 2-byte payload for which the checksum computes to 0 (complement 0xffff).
    const b = new Uint8Array(10);
    const r = { srcPort: 1, dstPort: 2, payloadLen: 2, noChecksum: false };
    let found = false;
    for (let v = 0; v < 0x10000 && !found; v++) {
      b[8] = v >> 8;
      b[9] = v & 255;
      emitUdp(r, b, 0, 0, 0);
      // before the 0xffff rule, the sum of everything (check field zero) would be 0xffff
      b[6] = 0;
      b[7] = 0;
      if (udpComputeChecksum(b, 0, 0, 0) === 0xffff) {
        emitUdp(r, b, 0, 0, 0);
        expect(udpChecksum(b, 0)).toBe(0xffff);
        expect(parseUdp(b, 0, 10, 0, 0, newUdpRepr())).toBe(WireError.OK);
        found = true;
      }
    }
    expect(found).toBe(true);
  });

  it("reports truncation and bad lengths with an error code", () => {
    const { bytes } = loadFixture("udp-hello");
    const n = bytes.length - UDP;
    const r = newUdpRepr();
    for (let cut = 0; cut < 8; cut++) expect(udpCheckLen(bytes, UDP, cut)).toBe(WireError.TRUNCATED);
    expect(parseUdp(bytes, UDP, n - 1, 0, 0, r)).toBe(WireError.TRUNCATED); // length field > available
    const b = Uint8Array.from(bytes);
    b[UDP + 5] = 7; // length 7 < header
    expect(udpCheckLen(b, UDP, n)).toBe(WireError.BAD_LENGTH);
    expect(udpCheckLen(bytes, bytes.length - 4, 8)).toBe(WireError.TRUNCATED); // beyond the buffer
  });

  it("ignores bytes after the datagram (overlong input, e.g. Ethernet padding)", () => {
    const { bytes } = loadFixture("udp-odd");
    const padded = new Uint8Array(60);
    padded.set(bytes);
    const r = newUdpRepr();
    expect(parseUdp(padded, UDP, padded.length - UDP, src(bytes), dst(bytes), r)).toBe(WireError.OK);
    expect(r.payloadLen).toBe(1);
  });
});
