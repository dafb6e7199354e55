// Property: an RFC 1624 incremental update equals a full recompute after arbitrary rewrites of
// 16- and 32-bit fields, applied in any number and order.
import { fc, test } from "@fast-check/vitest";
import { expect } from "vitest";
import { checksumAdd, checksumAdd20, checksumAddReference, checksumFold, checksumUpdate16, checksumUpdate32, internetChecksum } from "../core/checksum.js";
import { getU16, getU32, setU16, setU32 } from "../core/bytes.js";
import { ipv4WriteHeader } from "../core/wire/ipv4.js";

const rewrite = fc.record({ wide: fc.boolean(), pos: fc.nat(), value: fc.nat({ max: 0xffffffff }) });

test.prop([fc.uint8Array({ minLength: 8, maxLength: 200 }), fc.array(rewrite, { maxLength: 20 })], { numRuns: 2000 })(
  "incremental update == full recompute",
  (bytes, rewrites) => {
    // Word 0 is the checksum field; keep one nonzero byte outside it (as an IPv4 version byte
    // or the UDP pseudo-header protocol guarantees), which rules out the all-zero exception.
    const b = Uint8Array.from(bytes);
    b[2] |= 0x40;
    setU16(b, 0, 0);
    let hc = internetChecksum(b, 0, b.length);
    for (const r of rewrites) {
      const width = r.wide ? 4 : 2;
      // aligned to 16 bits, after the checksum field, not touching byte 2's guard
      const slots = Math.floor((b.length - 4) / 2) - (width === 4 ? 1 : 0);
      if (slots <= 0) continue;
      const o = 4 + 2 * (r.pos % slots);
      if (r.wide) {
        const old = getU32(b, o);
        setU32(b, o, r.value);
        hc = checksumUpdate32(hc, old, r.value >>> 0);
      } else {
        const old = getU16(b, o);
        setU16(b, o, r.value & 0xffff);
        hc = checksumUpdate16(hc, old, r.value & 0xffff);
      }
    }
    expect(hc).toBe(internetChecksum(b, 0, b.length));
  },
);

// The unrolled checksumAdd against the plain word-at-a-time reference it replaced: the same folded
// value for any bytes, offset, length (odd included) and starting sum.
test.prop([fc.uint8Array({ maxLength: 20000 }), fc.nat(), fc.nat(), fc.nat({ max: 0xfffff })], { numRuns: 1000 })(
  "checksumAdd == checksumAddReference (folded)",
  (bytes, a, b, start) => {
    const off = bytes.length ? a % bytes.length : 0;
    const len = bytes.length - off ? b % (bytes.length - off + 1) : 0;
    expect(checksumFold(checksumAdd(start, bytes, off, len))).toBe(checksumFold(checksumAddReference(start, bytes, off, len)));
  },
);

test.prop([fc.uint8Array({ minLength: 20, maxLength: 64 }), fc.nat()], { numRuns: 2000 })(
  "checksumAdd20 (straight-line 20-byte header sum) folds to the same value as checksumAdd",
  (buf, at) => {
    const off = at % (buf.length - 19);
    expect(checksumFold(checksumAdd20(buf, off))).toBe(checksumFold(checksumAdd(0, buf, off, 20)));
  },
);

test.prop([fc.integer({ min: 0, max: 255 }), fc.integer({ min: 20, max: 65535 }), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.boolean()], { numRuns: 2000 })(
  "ipv4WriteHeader's checksum (from the field values) verifies over the written header, addresses in uint32 or int32 form",
  (tos, total, id, frag, ttl, proto, src, dst, asInt32) => {
    const b = new Uint8Array(24);
    ipv4WriteHeader(b, 2, tos, total, id, frag, ttl, proto, asInt32 ? src | 0 : src, asInt32 ? dst | 0 : dst);
    expect(checksumFold(checksumAdd(0, b, 2, 20))).toBe(0xffff);
    expect(getU32(b, 14)).toBe(src);
    expect(getU32(b, 18)).toBe(dst);
  },
);
