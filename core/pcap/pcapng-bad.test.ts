import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CaptureFormatError, newCaptureRecord, openCaptureBytes, openCaptureFile } from "./reader.js";
import { PcapngReader } from "./pcapng-reader.js";
import { PcapngWriter } from "./pcapng-writer.js";
import { MemorySink } from "./sink.js";
import { ByteSource } from "./source.js";
import { block, blockEnds, concat, fixtureBytes, option, rng, u32s } from "./fixtures/load.js";

// Malformed and truncated pcapng: every problem is a CaptureFormatError naming file, byte offset
// and what is wrong; nothing else is ever thrown and nothing hangs.
const dir = mkdtempSync(join(tmpdir(), "wy-pcapng-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const read = (bytes: Uint8Array, name = "x.pcapng") => openCaptureBytes(bytes, name).readAll();

function errorOf(f: () => unknown): CaptureFormatError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CaptureFormatError);
    return e as CaptureFormatError;
  }
  throw new Error("no error");
}

/** SHB (44 bytes) + IDB "eth0" (40 bytes, at 44) + EPB of a 60-byte frame with flags and comment
 * (120 bytes, at 84) + EPB of 14 bytes with flags (60 bytes, at 204). */
function small(): Uint8Array {
  const sink = new MemorySink();
  const w = new PcapngWriter(sink);
  w.addInterface({ name: "eth0" });
  const frame = Uint8Array.from({ length: 60 }, (_, i) => i);
  w.writePacket(0, 1_795_341_295, 123_456_789, frame, 0, 60, 60, 1, "a comment");
  w.writePacket(0, 1_795_341_296, 0, frame, 0, 14, 60, 2);
  w.close();
  return Uint8Array.from(sink.bytes());
}

describe("pcapng truncation", () => {
  for (const [name, bytes] of [["small.pcapng", small()], ["editcap-ns.pcapng", fixtureBytes("editcap-ns.pcapng")], ["dumpcap-2if.pcapng", fixtureBytes("dumpcap-2if.pcapng")]] as const) {
    it(`reads ${name} cut at a block end, and reports every other cut as truncated`, () => {
      const ends = blockEnds(bytes);
      const all = read(bytes);
      const packetsBefore = (cut: number) => all.filter((r) => r.fileOffset < cut).length;
      for (let cut = 0; cut <= bytes.length; cut++) {
        if (ends.includes(cut)) {
          expect(read(bytes.subarray(0, cut)).length).toBe(packetsBefore(cut));
          continue;
        }
        const e = errorOf(() => read(bytes.subarray(0, cut), "cut.pcapng"));
        expect(e.message, `cut at ${cut}`).toMatch(/^cut\.pcapng: at byte \d+: truncated (file|block header|block|section header block) \(\d+ bytes (of magic )?needed, \d+ left\)$/);
      }
    });
  }

  it("names the block that is cut short", () => {
    const b = small();
    expect(() => read(b.subarray(0, 100))).toThrow("x.pcapng: at byte 84: truncated block (120 bytes needed, 16 left)");
    expect(() => read(b.subarray(0, 86))).toThrow("x.pcapng: at byte 84: truncated block header (8 bytes needed, 2 left)");
    expect(() => read(b.subarray(0, 10))).toThrow("x.pcapng: at byte 0: truncated section header block (12 bytes needed, 10 left)");
    const path = join(dir, "cut.pcapng");
    writeFileSync(path, b.subarray(0, 150));
    expect(() => openCaptureFile(path, { chunkSize: 64 }).readAll()).toThrow(`${path}: at byte 84: truncated block (120 bytes needed, 66 left)`);
  });
});

describe("pcapng corruption", () => {
  const edit = (f: (v: DataView, b: Uint8Array) => void) => {
    const b = small();
    f(new DataView(b.buffer), b);
    return b;
  };

  it("names bad block lengths", () => {
    expect(() => read(edit((v) => v.setUint32(88, 13, true)))).toThrow("x.pcapng: at byte 88: block total length 13 is not a multiple of 4");
    expect(() => read(edit((v) => v.setUint32(88, 8, true)))).toThrow("x.pcapng: at byte 88: block total length 8 is less than 32 (block type 0x6)");
    expect(() => read(edit((v) => v.setUint32(88, 0x7ffffffc, true)))).toThrow("x.pcapng: at byte 88: block total length 2147483644 is larger than the 67108864-byte limit");
    expect(() => openCaptureBytes(small(), "x.pcapng", { maxBlockLength: 40 })).toThrow("x.pcapng: at byte 4: block total length 44 is larger than the 40-byte limit");
    expect(() => read(edit((v) => v.setUint32(84 + 116, 99, true)))).toThrow("x.pcapng: at byte 200: trailing block total length 99 does not match 120");
    // a length that is plausible but wrong: the trailing copy does not match
    expect(() => read(edit((v) => v.setUint32(88, 116, true)))).toThrow("x.pcapng: at byte 196: trailing block total length 0 does not match 116");
  });

  it("names bad section headers", () => {
    expect(() => read(edit((v) => v.setUint32(8, 0x11223344, true)))).toThrow("x.pcapng: at byte 8: bad byte-order magic 0x11223344 in section header");
    expect(() => read(edit((v) => v.setUint16(12, 2, true)))).toThrow("x.pcapng: at byte 12: unsupported pcapng version 2.0");
    expect(() => new PcapngReader(ByteSource.fromBytes(small().subarray(44), "idb-first.pcapng"))).toThrow(
      "idb-first.pcapng: at byte 0: first block has type 0x1, not a section header (not a pcapng file)",
    );
  });

  it("names bad packet blocks and options", () => {
    expect(() => read(edit((v) => v.setUint32(92, 5, true)))).toThrow("x.pcapng: at byte 92: interface 5 not described (1 in this section)");
    expect(() => read(edit((v) => v.setUint32(104, 1000, true)))).toThrow("x.pcapng: at byte 104: captured length 1000 larger than the block holds (88)");
    expect(() => read(edit((v) => v.setUint16(62, 200, true)))).toThrow("x.pcapng: at byte 60: option 2 of length 200 runs past the end of the block");
    const shb = small().subarray(0, 44);
    const idb = (opts: number[]) => block(1, [1, 0, 0, 0, ...u32s([0]), ...opts, 0, 0, 0, 0]);
    expect(() => read(concat(shb, idb(option(9, [6, 6]))))).toThrow("x.pcapng: at byte 60: if_tsresol of length 2 (1 expected)");
    expect(() => read(concat(shb, idb(option(14, [1]))))).toThrow("x.pcapng: at byte 60: if_tsoffset of length 1 (8 expected)");
    const epb = block(6, [...u32s([0, 0, 0, 0, 0]), ...option(2, [1, 0])]);
    expect(() => read(concat(shb, idb([]), epb))).toThrow("x.pcapng: at byte 96: epb_flags of length 2 (4 expected)");
    expect(() => read(concat(shb, block(3, u32s([4, 0]))))).toThrow("x.pcapng: at byte 44: simple packet block before any interface description");
  });

  it("stops after an error: next() then returns false", () => {
    const rd = openCaptureBytes(edit((v) => v.setUint32(92, 5, true)));
    const r = newCaptureRecord();
    expect(() => rd.readAll()).toThrow(CaptureFormatError);
    expect(rd.next(r)).toBe(false);
  });

  it("never throws anything but CaptureFormatError on random corruption, and never hangs", () => {
    const next = rng(13);
    for (const good of [small(), fixtureBytes("dumpcap-2if.pcapng")]) {
      let errors = 0;
      for (let i = 0; i < 2000; i++) {
        const b = Uint8Array.from(good);
        const span = i % 2 ? b.length : 256; // headers are where it matters; anywhere, too
        for (let k = 1 + Math.floor(next() * 4); k > 0; k--) b[Math.floor(next() * span)] = Math.floor(next() * 256);
        try {
          read(b);
        } catch (e) {
          expect(e).toBeInstanceOf(CaptureFormatError);
          errors++;
        }
      }
      expect(errors).toBeGreaterThan(100);
    }
  });
});
