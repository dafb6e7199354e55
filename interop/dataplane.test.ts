// Interop: captures written by the emulated dataplane decode in tshark with 0 malformed frames
// and 0 bad checksums (the docker0 ping at every capture point; the routed path's errors).
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileSink } from "../core/pcap/index.js";
import { docker0, pingC2toC3 } from "../dataplane/topologies/docker0.js";
import { BAD_CHECKSUM, MALFORMED, countMatching, tshark } from "./tshark.js";

const dir = mkdtempSync(join(tmpdir(), "wireyard-dp-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("dataplane captures in tshark", () => {
  it("docker0 ping -c 3: every capture point decodes cleanly", () => {
    const file = join(dir, "docker0.pcapng");
    const t = docker0(2, { capture: new FileSink(file) });
    pingC2toC3(t);
    t.engine.capture!.close();
    const lines = tshark(["-r", file, "-T", "fields", "-e", "frame.interface_name", "-e", "_ws.col.Protocol"]).split("\n").filter(Boolean);
    expect(lines.length).toBe(32); // 8 frames at each of 4 capture points
    expect(new Set(lines.map((l) => l.split("\t")[0]))).toEqual(new Set(["c2/eth0", "c3/eth0", "host/veth1a2b32", "host/veth1a2b33"]));
    expect(countMatching(file, MALFORMED)).toEqual([]);
    expect(countMatching(file, BAD_CHECKSUM)).toEqual([]);
    expect(countMatching(file, "icmp.type == 0").length).toBe(12);
    expect(countMatching(file, "arp.opcode == 1").length).toBe(4);
  });
});
