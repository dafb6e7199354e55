import { describe, expect, it } from "vitest";
import { loadFixture } from "./fixtures/load.js";
import { ethPayloadType, ETH_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from "./ethernet.js";
import { getU16, getU32 } from "../bytes.js";
import { WireError } from "./error.js";
import { newUdpRepr, parseUdp, UDP_HEADER_LEN } from "./udp.js";
import { formatArp, newArpRepr, parseArp } from "./arp.js";
import {
  emitVxlan, formatVxlan, newVxlanRepr, parseVxlan, vxlanCheckLen, vxlanFlags, vxlanReservedBitsSet, vxlanSetVni, vxlanSrcPort,
  vxlanVni, VXLAN_FLAG_I, VXLAN_HEADER_LEN, VXLAN_PORT,
} from "./vxlan.js";

// Fixtures: scripts/capture-fixtures-l4.sh. `ip link add vx0 type vxlan id 42 remote <peer>
// dstport 4789 dev veth-a` in both namespaces (iproute2 defaults otherwise), 10.100.0.1 pings
// 10.100.0.2 across; captured on the underlay veth: the encapsulated ARP request and echo request.
const IP = ETH_HEADER_LEN; // outer IPv4, 20 bytes
const UDP = IP + 20;
const VX = UDP + UDP_HEADER_LEN;
const INNER = VX + VXLAN_HEADER_LEN;
const src = (b: Uint8Array) => getU32(b, IP + 12);
const dst = (b: Uint8Array) => getU32(b, IP + 16);
/** tcpdump -n -S lines (`# | `) after the outer "a.b.c.d.port > e.f.g.h.4789: ". */
const tcpdumpText = (decode: string) => {
  const lines = decode.split("\n").filter((x) => x.startsWith("| ")).map((x) => x.slice(2));
  return [lines[0]!.slice(lines[0]!.indexOf(": ") + 2), ...lines.slice(1)].join("\n");
};

describe("vxlan: real-capture fixtures", () => {
  for (const name of ["vxlan-arp", "vxlan-icmp"] as const) {
    it(`parses ${name} (VNI 42) and emits its header byte for byte`, () => {
      const { bytes } = loadFixture(name);
      const r = newVxlanRepr();
      expect(parseVxlan(bytes, VX, bytes.length - VX, r)).toBe(WireError.OK);
      expect(r).toEqual({ vni: 42 });
      expect([vxlanFlags(bytes, VX), vxlanVni(bytes, VX), vxlanReservedBitsSet(bytes, VX)]).toEqual([VXLAN_FLAG_I, 42, false]);
      const copy = Uint8Array.from(bytes);
      copy.fill(0xaa, VX, INNER);
      expect(emitVxlan(r, copy, VX)).toBe(VXLAN_HEADER_LEN);
      expect(copy).toEqual(bytes);
    });

    it(`shows Linux's outer headers in ${name}: UDP checksum on, DF clear, TTL 64, hashed source port`, () => {
      const { bytes } = loadFixture(name);
      const u = newUdpRepr();
      expect(parseUdp(bytes, UDP, bytes.length - UDP, src(bytes), dst(bytes), u)).toBe(WireError.OK); // checksum verifies
      expect(u.noChecksum).toBe(false); // this kernel's default is `udpcsum`
      expect(u.dstPort).toBe(VXLAN_PORT);
      expect(u.srcPort).toBeGreaterThanOrEqual(32768);
      expect(u.srcPort).toBeLessThan(60999);
      expect(bytes[IP + 6]! & 0x40).toBe(0); // DF clear
      expect(bytes[IP + 8]).toBe(64); // TTL
      expect(bytes[IP + 1]).toBe(0); // TOS 0
    });
  }

  it("carries the inner ARP request, and prints the pair as tcpdump -n does", () => {
    const { bytes, decode } = loadFixture("vxlan-arp");
    const r = newVxlanRepr();
    parseVxlan(bytes, VX, bytes.length - VX, r);
    expect(ethPayloadType(bytes, INNER)).toBe(ETHERTYPE_ARP);
    const a = newArpRepr();
    expect(parseArp(bytes, INNER + ETH_HEADER_LEN, bytes.length - INNER - ETH_HEADER_LEN, a)).toBe(WireError.OK);
    expect(formatVxlan(r, formatArp(a))).toBe(tcpdumpText(decode));
  });

  it("carries the inner echo request; the header line matches tcpdump", () => {
    const { bytes, decode } = loadFixture("vxlan-icmp");
    const r = newVxlanRepr();
    parseVxlan(bytes, VX, bytes.length - VX, r);
    expect(ethPayloadType(bytes, INNER)).toBe(ETHERTYPE_IPV4);
    expect(getU16(bytes, UDP + 4)).toBe(bytes.length - UDP); // inner frame = rest of the datagram
    expect(formatVxlan(r)).toBe(tcpdumpText(decode).split("\n")[0]);
  });

  it("constructs a header from a hand-built Repr", () => {
    const b = new Uint8Array(8).fill(0xff);
    emitVxlan({ vni: 42 }, b, 0);
    expect(Buffer.from(b).toString("hex")).toBe("0800000000002a00");
    emitVxlan({ vni: 0xff_ffff }, b, 0);
    expect(Buffer.from(b).toString("hex")).toBe("08000000ffffff00");
    vxlanSetVni(b, 0, 4096);
    expect(vxlanVni(b, 0)).toBe(4096);
  });
});

describe("vxlan: lengths, flags, source port", () => {
  it("reports every truncation with an error code, never a throw", () => {
    const { bytes } = loadFixture("vxlan-arp");
    const r = newVxlanRepr();
    for (let cut = 0; cut < VXLAN_HEADER_LEN; cut++) {
      expect(() => parseVxlan(bytes, VX, cut, r)).not.toThrow();
      expect(parseVxlan(bytes, VX, cut, r)).toBe(WireError.TRUNCATED);
    }
    expect(parseVxlan(bytes, VX, VXLAN_HEADER_LEN, r)).toBe(WireError.OK); // an empty inner frame is the next layer's problem
    expect(vxlanCheckLen(bytes, bytes.length - 4, 8)).toBe(WireError.TRUNCATED); // beyond the buffer
  });

  it("rejects a header without the I flag as BAD_VERSION; ignores reserved bits but reports them", () => {
    const b = Uint8Array.from([0x00, 0, 0, 0, 0, 0, 42, 0]);
    expect(parseVxlan(b, 0, 8, newVxlanRepr())).toBe(WireError.BAD_VERSION);
    expect(formatVxlan({ vni: 42 }, "", 0)).toBe("VXLAN, flags [invalid] (0x00), vni 42");
    const g = Uint8Array.from([0x88, 0, 0, 0, 0, 0, 42, 0]); // the GBP extension's G bit
    const r = newVxlanRepr();
    expect(parseVxlan(g, 0, 8, r)).toBe(WireError.OK);
    expect(r.vni).toBe(42);
    expect(vxlanReservedBitsSet(g, 0)).toBe(true);
    expect(formatVxlan(r, "", vxlanFlags(g, 0))).toBe("VXLAN, flags [I] (0x88), vni 42");
    const low = Uint8Array.from([0x08, 0, 0, 0, 0, 0, 42, 1]);
    expect(vxlanReservedBitsSet(low, 0)).toBe(true);
  });

  it("picks the source port exactly as udp_flow_src_port (differential vs 64-bit reference)", () => {
    const ref = (hash: number, min: number, max: number) => {
      const h = (BigInt(hash) ^ (BigInt(hash) << 16n)) & 0xffff_ffffn;
      return Number(((h * BigInt(max - min)) >> 32n) + BigInt(min));
    };
    let x = 0x9e3779b9;
    const hashes = [0, 1, 0xffff, 0x10000, 0x7fff_ffff, 0x8000_0000, 0xffff_0000, 0xffff_ffff];
    for (let i = 0; i < 2000; i++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      hashes.push(x);
    }
    for (const h of hashes) {
      expect(vxlanSrcPort(h)).toBe(ref(h, 32768, 60999));
      expect(vxlanSrcPort(h, 49152, 65535)).toBe(ref(h, 49152, 65535));
      expect(vxlanSrcPort(h, 1, 65535)).toBe(ref(h, 1, 65535));
    }
    expect(vxlanSrcPort(0)).toBe(32768);
    expect(vxlanSrcPort(0xffff_0000)).toBe(60998); // h = 0xffff0000: the top of the range, max excluded
    expect(vxlanSrcPort(0xffff_0000, 5000, 5000)).toBe(60998); // no range configured -> local port range
  });
});
