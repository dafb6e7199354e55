import { describe, expect, it } from "vitest";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { loadFixture } from "./fixtures/load.js";
import { buildFrame, dissectFrame, dissectIpv4Packet, layerToJson } from "./frame.js";
import { eth, ipv4, raw, udp } from "./layers.js";
import { printFrame } from "./print.js";
import { WireError } from "./error.js";

const dir = join(dirname(fileURLToPath(import.meta.url)), "fixtures");
const fixtures = readdirSync(dir).filter((f) => f.endsWith(".hex")).map((f) => f.slice(0, -4));

describe("whole frames from the real-capture fixtures", () => {
  it("has fixtures", () => expect(fixtures.length).toBeGreaterThanOrEqual(25));

  for (const name of fixtures) {
    it(`${name}: dissects cleanly and rebuilds byte for byte`, () => {
      const { bytes } = loadFixture(name);
      const d = dissectFrame(bytes);
      expect(d.error, `${d.errorLayer} at ${d.errorOffset}`).toBe(WireError.OK);
      const again = buildFrame(d.layers);
      expect(Buffer.from(again).toString("hex")).toBe(Buffer.from(bytes).toString("hex"));
    });

    it(`${name}: prints what tcpdump printed`, () => {
      const { bytes, decode } = loadFixture(name);
      // `# | ` lines: `tcpdump -n -S -t` of the same frame (non-verbose, as printFrame prints).
      const terse = decode.split("\n").filter((l) => l.startsWith("| ")).map((l) => l.slice(2));
      expect(terse.length).toBeGreaterThan(0);
      expect(printFrame(bytes)).toBe(terse.join("\n"));
    });
  }

  for (const name of fixtures) {
    const { decode } = loadFixture(name);
    const withLink = decode.split("\n").filter((l) => l.startsWith("e| ")).map((l) => l.slice(3));
    if (withLink.length === 0) continue;
    it(`${name}: prints what tcpdump -e printed`, () => {
      expect(printFrame(loadFixture(name).bytes, 0, undefined, { link: true })).toBe(withLink.join("\n"));
    });
  }

  it("dissects the layers of a VXLAN-encapsulated ping", () => {
    const d = dissectFrame(loadFixture("vxlan-icmp").bytes);
    expect(d.layers.map((l) => l.kind)).toEqual(["eth", "ipv4", "udp", "vxlan", "eth", "ipv4", "icmp", "raw"]);
  });

  it("dissects an ICMP error down to the quoted datagram", () => {
    const d = dissectFrame(loadFixture("icmp-port-unreach").bytes);
    expect(d.layers.map((l) => l.kind)).toEqual(["eth", "ipv4", "icmp", "ipv4", "udp", "raw"]);
    expect(layerToJson(d.layers[4]!)).toEqual({ kind: "udp", srcPort: 40001, dstPort: 9, payloadLen: 1, noChecksum: false });
  });

  it("reports where a damaged frame fails, keeping the rest as raw", () => {
    const b = Uint8Array.from(loadFixture("udp-hello").bytes);
    b[b.length - 1]! ^= 0xff;
    const d = dissectFrame(b);
    expect(d.error).toBe(WireError.BAD_CHECKSUM);
    expect(d.errorLayer).toBe("udp");
    expect(d.errorOffset).toBe(34);
    expect(d.layers.map((l) => l.kind)).toEqual(["eth", "ipv4", "raw"]);
    // never throws on any truncation
    for (let cut = 0; cut < b.length; cut++) expect(() => dissectFrame(b, 0, cut)).not.toThrow();
  });
});

describe("dissectIpv4Packet", () => {
  it("an IPv4 packet without a link header: the same layers dissectFrame finds behind Ethernet, checksums verified", () => {
    const frame = buildFrame([eth({ src: 0x02, dst: 0x04 }), ipv4({ src: 0x0a000001, dst: 0x0a000002, protocol: 17 }), udp(1000, 53), raw(6)]);
    const whole = dissectFrame(frame);
    const pkt = dissectIpv4Packet(frame, 14);
    expect(pkt.error).toBe(WireError.OK);
    expect(pkt.layers).toEqual(whole.layers.slice(1));
    const bad = frame.slice(14);
    bad[10]! ^= 0xff; // the header checksum
    expect(dissectIpv4Packet(bad).error).not.toBe(WireError.OK);
  });
});
