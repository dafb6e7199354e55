import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runDemo, DEMO_INTERFACES } from "./demo.js";
import { decodeCapture } from "./decode.js";
import { openCaptureFile, newCaptureRecord, CaptureFormatError } from "../core/pcap/index.js";
import { dissectFrame } from "../core/wire/frame.js";
import { WireError } from "../core/wire/error.js";

const dir = mkdtempSync(join(tmpdir(), "wireyard-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("wireyard demo", () => {
  const printed: string[] = [];
  const { path, frames } = runDemo(dir, (l) => printed.push(l));

  it("writes a pcapng with one interface per capture point, every frame valid", () => {
    const rd = openCaptureFile(path);
    const r = newCaptureRecord();
    const names = new Set<string>();
    let n = 0;
    while (rd.next(r)) {
      names.add(r.interfaceName);
      const d = dissectFrame(r.data);
      expect(d.error, `frame ${n + 1}: ${d.errorLayer}`).toBe(WireError.OK);
      expect(r.flags & 3).toBeGreaterThan(0);
      n++;
    }
    expect(n).toBe(frames);
    expect([...names].sort()).toEqual([...DEMO_INTERFACES].sort());
  });

  it("prints what decode prints for the file it wrote", () => {
    const decoded: string[] = [];
    expect(decodeCapture(path, { link: false, count: Infinity }, (l) => decoded.push(l))).toBe(frames);
    expect(decoded).toEqual(printed);
    expect(printed[0]).toBe("0.000250000 c0/eth0 Out ARP, Request who-has 172.17.0.1 tell 172.17.0.2, length 28");
    expect(printed).toContain("0.002000000 host1/docker0 Out IP 192.168.50.10.41000 > 172.17.0.2.53: UDP, length 27");
  });

  it("is deterministic: two runs give byte-identical captures", () => {
    const other = join(dir, "again");
    const second = runDemo(other, () => {});
    expect(readFileSync(second.path)).toEqual(readFileSync(path));
  });
});

describe("wireyard decode", () => {
  it("stops after -c frames and prints link headers with -e", () => {
    const { path } = runDemo(join(dir, "c"), () => {});
    const lines: string[] = [];
    expect(decodeCapture(path, { link: true, count: 2 }, (l) => lines.push(l))).toBe(2);
    expect(lines[0]).toBe("0.000250000 c0/eth0 Out 02:42:ac:11:00:02 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 172.17.0.1 tell 172.17.0.2, length 28");
  });

  it("rejects a truncated file with the byte offset", () => {
    const { path } = runDemo(join(dir, "t"), () => {});
    const cut = join(dir, "cut.pcapng");
    writeFileSync(cut, readFileSync(path).subarray(0, 100));
    expect(() => decodeCapture(cut, { link: false, count: Infinity }, () => {})).toThrow(CaptureFormatError);
    expect(() => decodeCapture(cut, { link: false, count: Infinity }, () => {})).toThrow(/cut\.pcapng: at byte 44: truncated block/);
  });
});
