// Interop: capture files written by core/pcap read by the real tools (tshark 4.0, tcpdump 4.99,
// editcap), and an editcap rewrite of them read back by core/pcap.
import { afterAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EPB_INBOUND, EPB_OUTBOUND, FileSink, PcapWriter, PcapngWriter, readCaptureFile } from "../core/pcap/index.js";

const dir = mkdtempSync(join(tmpdir(), "wy-interop-pcap-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const fields = (path: string, ...names: string[]) =>
  run("tshark", ["-r", path, "-T", "fields", ...names.flatMap((n) => ["-e", n])]).trimEnd().split("\n").map((l) => l.split("\t"));

/** An Ethernet + IPv4 + UDP frame of `len` bytes (tshark decodes it without complaint). */
function frame(len: number, seed: number): Uint8Array {
  const f = new Uint8Array(len);
  f.set([0x02, 0x42, 0xac, 0x11, 0x00, 0x03, 0x02, 0x42, 0xac, 0x11, 0x00, 0x02, 0x08, 0x00]);
  f.set([0x45, 0, (len - 14) >> 8, (len - 14) & 255, 0, seed, 0x40, 0, 64, 17, 0, 0, 172, 17, 0, 2, 172, 17, 0, 3], 14);
  f.set([0x9c, 0x40, 0x1e, 0x61, (len - 34) >> 8, (len - 34) & 255, 0, 0], 34);
  return f;
}

const packets = [
  // interface, sec, nsec, length, original length, flags, comment
  [0, 1_795_341_295, 123_456_789, 60, 60, EPB_INBOUND, "first, inbound"],
  [1, 1_795_341_295, 123_456_999, 1514, 1514, EPB_OUTBOUND, ""],
  [1, 3, 5, 200, 4000, EPB_OUTBOUND, "virtual time ✓"],
  [2, 4, 999_999_999, 64, 64, 0, ""],
] as const;
const names = ["host1/docker0", "c0/eth0", "vxlan0"];

describe("pcapng written by core/pcap", () => {
  for (const littleEndian of [true, false]) {
    for (const tsresol of [9, 6]) {
      it(`is read by tshark with interface names, comments and directions (${littleEndian ? "little" : "big"}-endian, 10^-${tsresol})`, () => {
        const path = join(dir, `w-${littleEndian}-${tsresol}.pcapng`);
        const w = new PcapngWriter(new FileSink(path), { littleEndian, tsresol });
        w.addInterface({ name: names[0], description: "docker0 bridge" });
        w.addInterface({ name: names[1], snaplen: 1000 });
        w.addInterface({ name: names[2] });
        for (const [id, sec, nsec, len, orig, flags, comment] of packets) w.writePacket(id, sec, nsec, frame(len, id), 0, len, orig, flags, comment);
        w.close();
        const rows = fields(path, "frame.interface_id", "frame.interface_name", "frame.comment", "frame.packet_flags_direction", "frame.time_epoch", "frame.len", "frame.cap_len");
        expect(rows).toEqual(
          packets.map(([id, sec, nsec, len, orig, flags, comment]) => {
            const ns = tsresol === 9 ? nsec : nsec - (nsec % 1000);
            return [String(id), names[id], comment, flags ? `0x0000000${flags}` : "", `${sec}.${String(ns).padStart(9, "0")}`, String(orig), String(Math.min(len, id === 1 ? 1000 : len))];
          }),
        );
        expect(fields(path, "frame.interface_description")[0]).toEqual(["docker0 bridge"]);
        expect(run("capinfos", ["-T", "-r", "-E", "-c", path]).trim()).toBe(`${path}\tether\t4`);
        // editcap rewrites it; core/pcap reads back what editcap kept
        const copy = join(dir, `copy-${littleEndian}-${tsresol}.pcapng`);
        run("editcap", ["-F", "pcapng", path, copy]);
        const back = readCaptureFile(copy);
        expect(back.map((r) => [r.interfaceIndex, r.interfaceName, r.flags, r.comment, r.origLen])).toEqual(
          packets.map(([id, , , , orig, flags, comment]) => [id, names[id], flags, comment, orig]),
        );
      });
    }
  }

  // tshark 4.0 numbers the sections but resolves interface ids against the first section's
  // interfaces (it names both packets "le0"), so only section numbers and times are compared;
  // mergecap of the two files, which writes one section with both interfaces, keeps the names.
  it("is read by tshark and merged by mergecap when files are concatenated into sections", () => {
    const parts = [true, false].map((littleEndian) => {
      const path = join(dir, `part-${littleEndian}.pcapng`);
      const w = new PcapngWriter(new FileSink(path), { littleEndian });
      w.addInterface({ name: littleEndian ? "le0" : "be0" });
      w.writePacket(0, 10, littleEndian ? 1 : 2, frame(60, 1), 0, 60);
      w.close();
      return path;
    });
    const both = join(dir, "both.pcapng");
    run("sh", ["-c", `cat "${parts[0]}" "${parts[1]}" > "${both}"`]);
    expect(fields(both, "frame.section_number", "frame.time_epoch")).toEqual([["1", "10.000000001"], ["2", "10.000000002"]]);
    expect(readCaptureFile(both).map((r) => [r.section, r.interfaceName, r.nsec])).toEqual([[0, "le0", 1], [1, "be0", 2]]);
    const merged = join(dir, "merged.pcapng");
    run("mergecap", ["-w", merged, parts[0]!, parts[1]!]);
    expect(fields(merged, "frame.interface_name", "frame.time_epoch")).toEqual([["le0", "10.000000001"], ["be0", "10.000000002"]]);
    expect(readCaptureFile(merged).map((r) => [r.section, r.interfaceIndex, r.interfaceName, r.nsec])).toEqual([[0, 0, "le0", 1], [0, 1, "be0", 2]]);
  });
});

describe("pcap written by core/pcap", () => {
  for (const littleEndian of [true, false]) {
    for (const tsresol of [6, 9] as const) {
      it(`is read by tshark and tcpdump (${littleEndian ? "little" : "big"}-endian, 10^-${tsresol})`, () => {
        const path = join(dir, `w-${littleEndian}-${tsresol}.pcap`);
        const w = new PcapWriter(new FileSink(path), { littleEndian, tsresol, snaplen: 1000 });
        for (const [id, sec, nsec, len, orig] of packets) w.writePacket(sec, nsec, frame(len, id), 0, len, orig);
        w.close();
        const times = packets.map(([, sec, nsec]) => `${sec}.${String(tsresol === 9 ? nsec : nsec - (nsec % 1000)).padStart(9, "0")}`);
        expect(fields(path, "frame.time_epoch", "frame.len", "frame.cap_len")).toEqual(
          packets.map(([, , , len, orig], i) => [times[i], String(orig), String(Math.min(len, 1000))]),
        );
        const dump = run("tcpdump", ["-r", path, "-nn", "-tt", "--time-stamp-precision=nano"]).trimEnd().split("\n");
        expect(dump.map((l) => l.split(" ")[0])).toEqual(times);
        expect(dump[0]).toContain("172.17.0.2.40000 > 172.17.0.3.7777: UDP, length 18");
        expect(run("capinfos", ["-T", "-r", "-E", "-c", path]).trim()).toBe(`${path}\tether\t4`);
      });
    }
  }
});
