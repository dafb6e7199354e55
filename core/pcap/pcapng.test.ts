import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newCaptureRecord, openCaptureBytes, openCaptureFile, type CaptureRecord } from "./reader.js";
import { PcapngReader } from "./pcapng-reader.js";
import { PcapngWriter } from "./pcapng-writer.js";
import { EPB_INBOUND, EPB_OUTBOUND } from "./pcapng-format.js";
import { FileSink, MemorySink } from "./sink.js";
import { block, blockEnds, concat, fixtureBytes, fixturePath, option, rng, swapPcapng, tsharkRows, u32s } from "./fixtures/load.js";

// Fixtures: scripts/capture-fixtures-pcap.sh (dumpcap on two interfaces with comments added by
// editcap; editcap conversions of tcpdump files), each with tshark's reading of it beside it.
const dir = mkdtempSync(join(tmpdir(), "wy-pcapng-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const read = (bytes: Uint8Array, name = "x.pcapng") => openCaptureBytes(bytes, name).readAll();
const meta = (r: CaptureRecord) => ({
  sec: r.sec, nsec: r.nsec, capLen: r.capLen, origLen: r.origLen, interfaceIndex: r.interfaceIndex, interfaceName: r.interfaceName, comment: r.comment,
});
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("pcapng reader on real captures", () => {
  for (const name of ["dumpcap-2if.pcapng", "editcap-us.pcapng", "editcap-ns.pcapng"]) {
    it(`reads ${name} as tshark does`, () => {
      const recs = openCaptureFile(fixturePath(name)).readAll();
      expect(recs.map(meta)).toEqual(tsharkRows(name));
      for (const r of recs) expect([r.linkType, r.flags, r.section, (r.data[12]! << 8) | r.data[13]!]).toEqual([1, 0, 0, 0x0800]);
    });
  }

  it("reads dumpcap's interfaces, application and the frames tcpdump saw at the same instants", () => {
    const rd = openCaptureFile(fixturePath("dumpcap-2if.pcapng")) as PcapngReader;
    expect(rd.application).toMatch(/^Dumpcap \(Wireshark\) 4\./);
    const recs = [...rd];
    expect(rd.interfaces).toEqual([
      { name: "veth-b", description: "", linkType: 1, snaplen: 262144, tsresol: 9, tsoffset: 0 },
      { name: "lo", description: "Loopback", linkType: 1, snaplen: 262144, tsresol: 9, tsoffset: 0 },
    ]);
    const tcpdump = read(fixtureBytes("tcpdump-ns.pcap"));
    expect(recs.slice(0, 4).map((r) => [r.sec, r.nsec, hex(r.data)])).toEqual(tcpdump.map((r) => [r.sec, r.nsec, hex(r.data)]));
  });

  it("reads editcap's conversions as the pcap files they came from", () => {
    for (const [ng, pcap] of [["editcap-us.pcapng", "tcpdump-us.pcap"], ["editcap-ns.pcapng", "tcpdump-ns.pcap"]]) {
      const a = read(fixtureBytes(ng!));
      const b = read(fixtureBytes(pcap!));
      expect(a.map((r) => [r.sec, r.nsec, r.origLen, hex(r.data)])).toEqual(b.map((r) => [r.sec, r.nsec, r.origLen, hex(r.data)]));
    }
  });

  it("reads a big-endian copy of the dumpcap file identically", () => {
    const le = fixtureBytes("dumpcap-2if.pcapng");
    const be = swapPcapng(le);
    expect(hex(be.subarray(8, 12))).toBe("1a2b3c4d");
    const rd = openCaptureBytes(be) as PcapngReader;
    const recs = rd.readAll();
    expect(rd.littleEndian).toBe(false);
    expect(recs.map(meta)).toEqual(read(le).map(meta));
    expect(recs.map((r) => hex(r.data))).toEqual(read(le).map((r) => hex(r.data)));
  });
});

describe("pcapng writer", () => {
  it("lays out SHB, IDB and EPB as the spec says", () => {
    const sink = new MemorySink();
    const w = new PcapngWriter(sink);
    expect(w.addInterface({ name: "c0/eth0" })).toBe(0);
    w.writePacket(0, 1, 2, Uint8Array.of(0xaa, 0xbb, 0xcc), 0, 3, 3, EPB_INBOUND, "hi");
    w.close();
    const shb = "0a0d0d0a 2c000000 4d3c2b1a 0100 0000 ffffffff ffffffff 0400 0800 7769726579617264 00000000 2c000000";
    const idb = "01000000 2c000000 0100 0000 00000400 0200 0700 63302f657468 3000 0900 0100 09000000 00000000 2c000000";
    const epb = "06000000 38000000 00000000 00000000 02ca9a3b 03000000 03000000 aabbcc00 0200 0400 01000000 0100 0200 6869 0000 00000000 38000000";
    expect(hex(sink.bytes())).toBe((shb + idb + epb).replaceAll(" ", ""));
  });

  it("writes EPBs and IDBs byte for byte as editcap does (only the SHB options differ)", () => {
    for (const [ng, pcap, tsresol] of [["editcap-us.pcapng", "tcpdump-us.pcap", 6], ["editcap-ns.pcapng", "tcpdump-ns.pcap", 9]] as const) {
      const sink = new MemorySink();
      const w = new PcapngWriter(sink, { tsresol });
      w.addInterface();
      const r = newCaptureRecord();
      const rd = openCaptureBytes(fixtureBytes(pcap));
      while (rd.next(r)) w.writePacket(0, r.sec, r.nsec, r.buf, r.off, r.capLen, r.origLen);
      w.close();
      const theirs = fixtureBytes(ng);
      expect(hex(sink.bytes().subarray(blockEnds(sink.bytes())[0]))).toBe(hex(theirs.subarray(blockEnds(theirs)[0])));
    }
  });

  it("round-trips packets, interfaces, flags and comments in every resolution and byte order", () => {
    const next = rng(5);
    const arena = Uint8Array.from({ length: 16384 }, () => Math.floor(next() * 256));
    const ifaces = [
      { name: "host1/docker0", description: "bridge", linkType: 1, snaplen: 262144 },
      { name: "c0/eth0 ✓", description: "", linkType: 1, snaplen: 100 },
      { name: "", description: "", linkType: 101, snaplen: 65535 },
    ];
    const comments = ["", "", "first", "ünïcödé ✓", "x".repeat(1001), ""];
    const flagsList = [0, EPB_INBOUND, EPB_OUTBOUND, 0x1e1, 0];
    for (const littleEndian of [true, false]) {
      for (const tsresol of [9, 6, 3, 0]) {
        for (const bufferSize of [64, 1 << 20]) {
          const sink = new MemorySink();
          const w = new PcapngWriter(sink, { littleEndian, tsresol, bufferSize });
          const want: ReturnType<typeof meta>[] = [];
          const data: string[] = [];
          const extra: number[][] = [];
          ifaces.forEach((i, k) => expect(w.addInterface(i)).toBe(k));
          for (let i = 0; i < 50; i++) {
            const id = i % 3;
            const len = [0, 1, 2, 3, 60, 64, 99, 100, 101, 1514, 9000][i % 11]!;
            const off = Math.floor(next() * (arena.length - len));
            const sec = i % 2 ? i * 17 : 1_795_341_295 + i;
            const nsec = Math.floor(next() * 1e9);
            const comment = comments[i % comments.length]!;
            const flags = flagsList[i % flagsList.length]!;
            w.writePacket(id, sec, nsec, arena, off, len, len + (i % 4), flags, comment);
            const capLen = Math.min(len, ifaces[id]!.snaplen);
            const unit = 10 ** (9 - tsresol);
            want.push({ sec, nsec: nsec - (nsec % unit), capLen, origLen: len + (i % 4), interfaceIndex: id, interfaceName: ifaces[id]!.name, comment });
            data.push(hex(arena.subarray(off, off + capLen)));
            extra.push([flags, ifaces[id]!.linkType]);
          }
          w.close();
          const rd = openCaptureBytes(sink.bytes()) as PcapngReader;
          const got = rd.readAll();
          expect(rd.littleEndian).toBe(littleEndian);
          expect(rd.application).toBe("wireyard");
          expect(rd.interfaces.map((i) => [i.name, i.description, i.linkType, i.snaplen, i.tsresol])).toEqual(ifaces.map((i) => [i.name, i.description, i.linkType, i.snaplen, tsresol]));
          expect(got.map(meta)).toEqual(want);
          expect(got.map((r) => hex(r.data))).toEqual(data);
          expect(got.map((r) => [r.flags, r.linkType])).toEqual(extra);
        }
      }
    }
  });

  it("streams through a file sink; reads back in chunks smaller than a block", () => {
    const path = join(dir, "big.pcapng");
    const w = new PcapngWriter(new FileSink(path), { bufferSize: 128 });
    w.addInterface({ name: "a" });
    w.addInterface({ name: "b" });
    const frame = Uint8Array.from({ length: 4000 }, (_, i) => i * 13);
    for (let i = 0; i < 400; i++) w.writePacket(i & 1, i, i + 7, frame, i % 50, 1 + ((i * 37) % 3900), undefined, i % 3, i % 7 ? "" : `#${i}`);
    w.close();
    for (const chunkSize of [64, 4096]) {
      const rd = openCaptureFile(path, { chunkSize });
      const r = newCaptureRecord();
      let n = 0;
      while (rd.next(r)) {
        expect([r.sec, r.nsec, r.interfaceName, r.flags, r.comment]).toEqual([n, n + 7, n & 1 ? "b" : "a", n % 3, n % 7 ? "" : `#${n}`]);
        expect(Buffer.compare(r.data, frame.subarray(n % 50, (n % 50) + 1 + ((n * 37) % 3900)))).toBe(0);
        n++;
      }
      expect(n).toBe(400);
    }
  });

  it("refuses unknown interfaces, bad timestamps and lengths", () => {
    const w = new PcapngWriter(new MemorySink());
    const b = new Uint8Array(8);
    expect(() => w.writePacket(0, 0, 0, b, 0, 8)).toThrow(/interface 0 not added/);
    w.addInterface();
    expect(() => w.writePacket(0, -1, 0, b, 0, 8)).toThrow(RangeError);
    expect(() => w.writePacket(0, 0, 1e9, b, 0, 8)).toThrow(RangeError);
    expect(() => w.writePacket(0, 2 ** 40, 0, b, 0, 8)).toThrow(RangeError); // beyond 64-bit nanoseconds
    expect(() => w.writePacket(0, 0, 0, b, 4, 8)).toThrow(RangeError);
    expect(() => w.writePacket(0, 0, 0, b, 0, 8, 7)).toThrow(RangeError);
    expect(() => w.writePacket(0, 0, 0, b, 0, 8, 8, 0, "x".repeat(70000))).toThrow(/65535 at most/);
    expect(() => new PcapngWriter(new MemorySink(), { tsresol: 10 })).toThrow(RangeError);
    expect(() => w.addInterface({ linkType: 70000 })).toThrow(RangeError);
    w.writePacket(0, 2 ** 34, 0, b, 0, 8); // 544 years after 1970 still fits
    w.close();
    expect(() => w.writePacket(0, 0, 0, b, 0, 8)).toThrow(/after close/);
  });
});

describe("pcapng reader on every kind of block", () => {
  const le = true;
  const shb = (l = le) => block(0x0a0d0d0a, [...u32s([0x1a2b3c4d], l), ...(l ? [1, 0, 0, 0] : [0, 1, 0, 0]), ...u32s([-1, -1])], l);
  const idb = (opts: number[] = [], snaplen = 262144) => block(1, [1, 0, 0, 0, ...u32s([snaplen]), ...opts]);

  it("reads several sections, skipping blocks it does not know", () => {
    const sink = new MemorySink();
    const w = new PcapngWriter(sink);
    w.addInterface({ name: "eth0" });
    w.writePacket(0, 5, 6, Uint8Array.of(1, 2, 3, 4, 5), 0, 5);
    w.close();
    const unknown = [block(0x0bad, [1, 2, 3, 4, 5, 6, 7, 8]), block(4, [0, 0, 0, 0]), block(5, u32s([0, 0, 0]))];
    const first = concat(sink.bytes().subarray(0, blockEnds(sink.bytes())[1]), ...unknown, sink.bytes().subarray(blockEnds(sink.bytes())[1]!));
    const file = concat(first, swapPcapng(fixtureBytes("dumpcap-2if.pcapng")), fixtureBytes("editcap-us.pcapng"));
    const recs = read(file);
    expect(recs.map((r) => [r.section, r.interfaceIndex, r.interfaceName])).toEqual([
      [0, 0, "eth0"], ...[0, 0, 0, 0, 0, 0, 1, 1].map((i) => [1, i, ["veth-b", "lo"][i]]), [2, 0, ""], [2, 0, ""], [2, 0, ""], [2, 0, ""],
    ]);
    expect([recs[0]!.sec, recs[0]!.nsec, hex(recs[0]!.data)]).toEqual([5, 6, "0102030405"]);
  });

  it("reads Simple Packet Blocks on interface 0, cut to its snaplen", () => {
    const spb = (origLen: number, n: number) => block(3, [...u32s([origLen]), ...Array.from({ length: n }, (_, i) => i)]);
    const recs = read(concat(shb(), idb([], 64), spb(100, 100), spb(10, 10), spb(3000, 20)));
    expect(recs.map((r) => [r.sec, r.nsec, r.capLen, r.origLen, r.interfaceIndex])).toEqual([[0, 0, 64, 100, 0], [0, 0, 10, 10, 0], [0, 0, 20, 3000, 0]]);
    expect(recs[1]!.data).toEqual(Uint8Array.from({ length: 10 }, (_, i) => i));
  });

  it("reads obsolete Packet Blocks (16-bit interface id, pack_flags)", () => {
    const pb = block(2, [0, 0, 0, 0, ...u32s([0, 1_000_001, 2, 60]), 0xde, 0xad, 0, 0, ...option(2, u32s([EPB_OUTBOUND])), 0, 0, 0, 0]);
    const [r] = read(concat(shb(), idb(), pb));
    expect([r!.sec, r!.nsec, r!.capLen, r!.origLen, r!.flags, hex(r!.data)]).toEqual([1, 1000, 2, 60, EPB_OUTBOUND, "dead"]);
  });

  it("converts 2^-n and 10^-n timestamps, with if_tsoffset", () => {
    const epb = (id: number, hi: number, lo: number) => block(6, u32s([id, hi, lo, 0, 0]));
    const binary = idb([...option(9, [0x80 | 20]), ...option(14, u32s([1_700_000_000, 0])), 0, 0, 0, 0]);
    const pico = idb([...option(9, [12]), 0, 0, 0, 0]);
    const recs = read(concat(shb(), binary, pico, epb(0, 0, 5 * 2 ** 20 + 2 ** 19), epb(1, 287445, 1_015_724_736), epb(1, 0, 999)));
    // 287445·2^32 + 1015724736 = 1234567890123456 ps
    expect(recs.map((r) => [r.sec, r.nsec])).toEqual([[1_700_000_005, 500_000_000], [1234, 567_890_123], [0, 0]]);
  });

  it("reads a big-endian section written by hand", () => {
    const be = false;
    const epb = block(6, [...u32s([0, 0, 1_000_000, 1, 1], be), 0x42, 0, 0, 0, ...option(1, [...Buffer.from("big")], be), 0, 0, 0, 0], be);
    const [r] = read(concat(shb(be), block(1, [0, 1, 0, 0, ...u32s([0], be), ...option(2, [...Buffer.from("be0")], be)], be), epb));
    expect([r!.sec, r!.nsec, r!.interfaceName, r!.comment, hex(r!.data), r!.linkType]).toEqual([1, 0, "be0", "big", "42", 1]);
  });
});
