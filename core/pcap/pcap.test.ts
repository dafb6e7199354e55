import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CaptureFormatError, newCaptureRecord, openCaptureBytes, openCaptureFile, type CaptureRecord } from "./reader.js";
import { PcapReader } from "./pcap-reader.js";
import { PcapWriter } from "./pcap-writer.js";
import { FileSink, MemorySink } from "./sink.js";
import { ByteSource } from "./source.js";
import { fixtureBytes, fixturePath, rng, swapPcap, tsharkRows } from "./fixtures/load.js";

// Fixtures: scripts/capture-fixtures-pcap.sh (tcpdump, editcap and scapy on ping and UDP traffic
// between two namespaces), each with tshark's reading of it beside it.
const dir = mkdtempSync(join(tmpdir(), "wy-pcap-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const read = (bytes: Uint8Array, name = "x.pcap") => openCaptureBytes(bytes, name).readAll();
const essentials = (r: CaptureRecord) => ({ sec: r.sec, nsec: r.nsec, capLen: r.capLen, origLen: r.origLen });

/** Each frame is Ethernet + IPv4 whose total length accounts for the frame (untruncated). */
function checkFrame(r: CaptureRecord): void {
  expect((r.data[12]! << 8) | r.data[13]!).toBe(0x0800);
  if (r.capLen === r.origLen) expect((r.data[16]! << 8) | r.data[17]!).toBe(r.capLen - 14);
  expect(r.data).toEqual(r.buf.subarray(r.off, r.off + r.capLen));
}

describe("pcap reader on real captures", () => {
  for (const [name, nano, le, snaplen] of [
    ["tcpdump-us.pcap", false, true, 262144],
    ["tcpdump-ns.pcap", true, true, 262144],
    ["tcpdump-s64.pcap", false, true, 64],
    ["scapy-be-ns.pcap", true, false, 262144],
  ] as const) {
    it(`reads ${name} as tshark does`, () => {
      const rd = openCaptureFile(fixturePath(name)) as PcapReader;
      expect([rd.format, rd.nano, rd.littleEndian, rd.snaplen, rd.linkType, rd.versionMajor, rd.versionMinor]).toEqual(["pcap", nano, le, snaplen, 1, 2, 4]);
      const recs = rd.readAll();
      expect(recs.map(essentials)).toEqual(tsharkRows(name).map(({ sec, nsec, capLen, origLen }) => ({ sec, nsec, capLen, origLen })));
      for (const r of recs) {
        checkFrame(r);
        expect([r.interfaceIndex, r.interfaceName, r.linkType, r.flags, r.comment, r.section]).toEqual([0, "", 1, 0, "", 0]);
      }
    });
  }

  it("sees the same frames in the tcpdump, snaplen-cut and scapy big-endian files", () => {
    const us = read(fixtureBytes("tcpdump-us.pcap"));
    const ns = read(fixtureBytes("tcpdump-ns.pcap"));
    const be = read(fixtureBytes("scapy-be-ns.pcap"));
    const cut = read(fixtureBytes("tcpdump-s64.pcap"));
    expect(ns.map((r) => r.data)).toEqual(us.map((r) => r.data));
    expect(be).toEqual(ns);
    expect(cut.map((r) => r.data)).toEqual(us.map((r) => r.data.subarray(0, 64)));
    expect(ns.map((r) => [r.sec, Math.floor(r.nsec / 1000)])).toEqual(us.map((r) => [r.sec, r.nsec / 1000]));
    expect(us.map((r) => r.fileOffset)).toEqual([24, 24 + 16 + 142, 24 + 2 * (16 + 142), 24 + 2 * (16 + 142) + 16 + 52]);
  });

  it("reads a byte-swapped copy of a tcpdump file identically", () => {
    const le = fixtureBytes("tcpdump-us.pcap");
    const be = swapPcap(le);
    expect(Buffer.from(be.subarray(0, 4)).toString("hex")).toBe("a1b2c3d4");
    expect(read(be)).toEqual(read(le));
  });
});

describe("pcap writer", () => {
  for (const name of ["tcpdump-us.pcap", "tcpdump-ns.pcap", "scapy-be-ns.pcap", "tcpdump-s64.pcap"]) {
    it(`rewrites ${name} byte for byte`, () => {
      const src = fixtureBytes(name);
      const rd = openCaptureBytes(src, name) as PcapReader;
      const sink = new MemorySink();
      const w = new PcapWriter(sink, { tsresol: rd.nano ? 9 : 6, littleEndian: rd.littleEndian, snaplen: rd.snaplen });
      const r = newCaptureRecord();
      while (rd.next(r)) w.writePacket(r.sec, r.nsec, r.buf, r.off, r.capLen, r.origLen);
      w.close();
      expect(sink.closed).toBe(true);
      expect(sink.bytes()).toEqual(src);
    });
  }

  it("round-trips records in every resolution and byte order, from whole arrays and arena slices", () => {
    const next = rng(7);
    const arena = Uint8Array.from({ length: 20000 }, () => Math.floor(next() * 256));
    const lens = [0, 1, 3, 14, 60, 64, 65, 200, 1500, 1514, 9000];
    for (const tsresol of [6, 9] as const) {
      for (const littleEndian of [true, false]) {
        for (const bufferSize of [64, 4096, 1 << 20]) {
          const sink = new MemorySink();
          const w = new PcapWriter(sink, { tsresol, littleEndian, bufferSize, snaplen: 1600 });
          const want: { sec: number; nsec: number; data: Uint8Array; origLen: number }[] = [];
          for (let i = 0; i < 60; i++) {
            const len = lens[i % lens.length]!;
            const off = 1 + Math.floor(next() * (arena.length - len - 1));
            const sec = i % 2 ? i : 1_795_341_295 + i; // virtual time, then epoch seconds
            const nsec = Math.floor(next() * 1e9);
            if (i % 3 === 0) w.writePacket(sec, nsec, arena.slice(off, off + len), 0, len); // whole array
            else w.writePacket(sec, nsec, arena, off, len, len + (i % 5));
            const capLen = Math.min(len, 1600);
            want.push({ sec, nsec: tsresol === 9 ? nsec : nsec - (nsec % 1000), data: arena.slice(off, off + capLen), origLen: len + (i % 3 === 0 ? 0 : i % 5) });
          }
          w.close();
          expect(w.count).toBe(60);
          const got = read(sink.bytes());
          expect(got.map((r) => ({ sec: r.sec, nsec: r.nsec, data: r.data, origLen: r.origLen }))).toEqual(want);
        }
      }
    }
  });

  it("cuts packets to the snaplen and keeps their original length", () => {
    const sink = new MemorySink();
    const w = new PcapWriter(sink, { snaplen: 100 });
    const frame = Uint8Array.from({ length: 1500 }, (_, i) => i);
    w.writePacket(1, 2000, frame, 0, 1500);
    w.close();
    const [r] = read(sink.bytes());
    expect([r!.capLen, r!.origLen, r!.nsec]).toEqual([100, 1500, 2000]);
    expect(r!.data).toEqual(frame.subarray(0, 100));
  });

  it("refuses bad timestamps, lengths and writes after close", () => {
    const w = new PcapWriter(new MemorySink());
    const b = new Uint8Array(10);
    expect(() => w.writePacket(-1, 0, b, 0, 10)).toThrow(RangeError);
    expect(() => w.writePacket(2 ** 32, 0, b, 0, 10)).toThrow(RangeError);
    expect(() => w.writePacket(1.5, 0, b, 0, 10)).toThrow(RangeError);
    expect(() => w.writePacket(1, 1e9, b, 0, 10)).toThrow(RangeError);
    expect(() => w.writePacket(1, 0, b, 5, 6)).toThrow(RangeError);
    expect(() => w.writePacket(1, 0, b, 0, 10, 9)).toThrow(RangeError);
    expect(() => new PcapWriter(new MemorySink(), { tsresol: 3 as 6 })).toThrow(RangeError);
    w.close();
    expect(() => w.writePacket(1, 0, b, 0, 10)).toThrow(/after close/);
  });

  it("streams through a file sink, and reads back in chunks smaller than a record", () => {
    const path = join(dir, "big.pcap");
    const w = new PcapWriter(new FileSink(path), { tsresol: 9, bufferSize: 256 });
    const frame = Uint8Array.from({ length: 3000 }, (_, i) => i * 7);
    for (let i = 0; i < 500; i++) w.writePacket(i, i * 1000 + 1, frame, i % 100, 100 + (i % 2900));
    w.close();
    for (const chunkSize of [64, 1000, 1 << 20]) {
      const rd = openCaptureFile(path, { chunkSize });
      const r = newCaptureRecord();
      let n = 0;
      while (rd.next(r)) {
        expect([r.sec, r.nsec, r.capLen]).toEqual([n, n * 1000 + 1, 100 + (n % 2900)]);
        expect(Buffer.compare(r.data, frame.subarray(n % 100, (n % 100) + 100 + (n % 2900)))).toBe(0);
        n++;
      }
      expect(n).toBe(500);
    }
    expect(read(new Uint8Array(readFileSync(path))).length).toBe(500);
  });
});

describe("pcap reader on bad input", () => {
  it("reads every cut of a file to a record boundary, and reports every other cut as truncated", () => {
    const full = fixtureBytes("tcpdump-us.pcap");
    const boundaries = new Map([[24, 0], [182, 1], [340, 2], [408, 3], [504, 4]]);
    for (let cut = 0; cut <= full.length; cut++) {
      const bytes = full.subarray(0, cut);
      const n = boundaries.get(cut);
      if (n !== undefined) {
        expect(read(bytes).length).toBe(n);
        continue;
      }
      let err: unknown;
      try {
        read(bytes, "cut.pcap");
      } catch (e) {
        err = e;
      }
      expect(err, `cut at ${cut}`).toBeInstanceOf(CaptureFormatError);
      expect((err as Error).message).toMatch(/^cut\.pcap: at byte \d+: truncated (file|file header|record header|record) \(\d+ bytes (of magic )?needed, \d+ left\)$/);
    }
    expect(() => read(full.subarray(0, 40), "x.pcap")).toThrow("x.pcap: at byte 24: truncated record (158 bytes needed, 16 left)");
    expect(() => read(full.subarray(0, 189), "x.pcap")).toThrow("x.pcap: at byte 182: truncated record header (16 bytes needed, 7 left)");
    expect(() => read(full.subarray(0, 100), "x.pcap")).toThrow("x.pcap: at byte 24: truncated record (158 bytes needed, 76 left)");
  });

  it("reports truncation from a file too, and closes it", () => {
    const path = join(dir, "cut.pcap");
    writeFileSync(path, fixtureBytes("tcpdump-us.pcap").subarray(0, 300));
    for (const chunkSize of [64, 1 << 20]) {
      expect(() => openCaptureFile(path, { chunkSize }).readAll()).toThrow(`${path}: at byte 182: truncated record (158 bytes needed, 118 left)`);
    }
  });

  it("names corrupted fields", () => {
    const good = fixtureBytes("tcpdump-us.pcap");
    const bad = (edit: (b: Uint8Array, v: DataView) => void) => {
      const b = Uint8Array.from(good);
      edit(b, new DataView(b.buffer));
      return () => read(b, "x.pcap");
    };
    expect(bad((_, v) => v.setUint32(24 + 8, 0xffffffff, true))).toThrow("x.pcap: at byte 32: captured length 4294967295 larger than the 67108864-byte limit");
    expect(bad((_, v) => v.setUint32(24 + 8, 262145, true))).toThrow("x.pcap: at byte 32: captured length 262145 larger than snaplen 262144");
    expect(bad((_, v) => v.setUint32(24 + 4, 1_000_000, true))).toThrow("x.pcap: at byte 28: microseconds 1000000 out of range");
    expect(bad((_, v) => v.setUint16(4, 3, true))).toThrow("x.pcap: at byte 4: unsupported pcap version 3.4");
    expect(bad((b) => b.set([0x12, 0x34, 0x56, 0x78]))).toThrow("x.pcap: at byte 0: unknown magic 0x12345678 (neither pcap nor pcapng)");
    expect(() => read(new Uint8Array(0), "x.pcap")).toThrow("x.pcap: at byte 0: truncated file (4 bytes of magic needed, 0 left)");
    expect(() => new PcapReader(ByteSource.fromBytes(good.subarray(0, 10), "short.pcap"))).toThrow("short.pcap: at byte 0: truncated file header (24 bytes needed, 10 left)");
    // a record whose captured length runs past the next records: reported where the bytes end
    expect(bad((_, v) => v.setUint32(24 + 8, 2000, true))).toThrow("x.pcap: at byte 24: truncated record (2016 bytes needed, 480 left)");
  });

  it("never throws anything but CaptureFormatError on random corruption, and never hangs", () => {
    const good = fixtureBytes("tcpdump-ns.pcap");
    const next = rng(11);
    let errors = 0;
    for (let i = 0; i < 3000; i++) {
      const b = Uint8Array.from(good);
      for (let k = 1 + Math.floor(next() * 4); k > 0; k--) b[Math.floor(next() * 64)] = Math.floor(next() * 256);
      try {
        expect(read(b).length).toBeLessThanOrEqual(4);
      } catch (e) {
        expect(e).toBeInstanceOf(CaptureFormatError);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(100);
  });
});

describe("pcap iterators", () => {
  it("yield records that own their bytes, sync and async", async () => {
    const recs = [...openCaptureBytes(fixtureBytes("tcpdump-us.pcap"))];
    expect(recs.length).toBe(4);
    expect(recs[0]!.data.buffer).not.toBe(recs[1]!.data.buffer);
    const asyncRecs: CaptureRecord[] = [];
    for await (const r of openCaptureFile(fixturePath("tcpdump-us.pcap"))) asyncRecs.push(r);
    expect(asyncRecs.map(essentials)).toEqual(recs.map(essentials));
    expect(asyncRecs.map((r) => r.data)).toEqual(recs.map((r) => r.data));
  });
});

