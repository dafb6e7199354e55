import { describe, expect, it } from "vitest";
import { loadFixture } from "./fixtures/load.js";
import { WireError } from "./error.js";
import {
  emitEthernet, ethCheckLen, ethDst, ethHeaderLenOf, ethPayloadType, ethSrc, ethType, formatEthernet, newEthernetRepr, parseEthernet,
  ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_VLAN, vlanTci,
} from "./ethernet.js";

// Fixtures: udp-hello and arp-request (veth captures, scripts/capture-fixtures-*.sh) and
// eth-vlan-icmp-echo (a published capture of a Linux VLAN 20 sub-interface; see its header).
describe("ethernet", () => {
  it("parses an untagged frame and re-emits its header byte for byte", () => {
    const { bytes } = loadFixture("udp-hello");
    const e = newEthernetRepr();
    expect(parseEthernet(bytes, 0, bytes.length, e)).toBe(WireError.OK);
    expect(e).toEqual({ dst: ethDst(bytes, 0), src: ethSrc(bytes, 0), ethertype: ETHERTYPE_IPV4, vlan: false, pcp: 0, dei: 0, vid: 0 });
    const out = new Uint8Array(14).fill(0xee);
    expect(emitEthernet(e, out, 0)).toBe(14);
    expect(out).toEqual(bytes.subarray(0, 14));
  });

  it("parses the 802.1Q fixture: VLAN 20, priority 0, IPv4 inside", () => {
    const { bytes } = loadFixture("eth-vlan-icmp-echo");
    expect(ethType(bytes, 0)).toBe(ETHERTYPE_VLAN);
    expect(ethPayloadType(bytes, 0)).toBe(ETHERTYPE_IPV4);
    expect(ethHeaderLenOf(bytes, 0)).toBe(18);
    expect(vlanTci(bytes, 0)).toBe(20);
    const e = newEthernetRepr();
    expect(parseEthernet(bytes, 0, bytes.length, e)).toBe(WireError.OK);
    expect(e).toEqual({ dst: 0x00163e5221ec, src: 0x00163e3c2bb3, ethertype: ETHERTYPE_IPV4, vlan: true, pcp: 0, dei: 0, vid: 20 });
    const out = new Uint8Array(18);
    expect(emitEthernet(e, out, 0)).toBe(18);
    expect(out).toEqual(bytes.subarray(0, 18));
    expect(formatEthernet(e, bytes.length)).toBe("00:16:3e:3c:2b:b3 > 00:16:3e:52:21:ec, ethertype 802.1Q (0x8100), length 102: vlan 20, p 0, ethertype IPv4 (0x0800)");
  });

  it("constructs a tagged header from a Repr (priority, DEI, VID 4094)", () => {
    const e = { dst: 0x0242ac110003, src: 0x0242ac110002, ethertype: ETHERTYPE_ARP, vlan: true, pcp: 5, dei: 1, vid: 4094 };
    const b = new Uint8Array(18);
    expect(emitEthernet(e, b, 0)).toBe(18);
    expect(Buffer.from(b).toString("hex")).toBe("0242ac1100030242ac110002" + "8100" + "bffe" + "0806");
    const back = newEthernetRepr();
    expect(parseEthernet(b, 0, 18, back)).toBe(WireError.OK);
    expect(back).toEqual(e);
  });

  it("reports truncation at every cut, tagged or not, and never reads past the buffer", () => {
    const tagged = loadFixture("eth-vlan-icmp-echo").bytes;
    const plain = loadFixture("arp-request").bytes;
    const e = newEthernetRepr();
    for (let cut = 0; cut < 18; cut++) expect(parseEthernet(tagged, 0, cut, e)).toBe(WireError.TRUNCATED);
    for (let cut = 0; cut < 14; cut++) expect(parseEthernet(plain, 0, cut, e)).toBe(WireError.TRUNCATED);
    expect(ethCheckLen(plain, plain.length - 10, 14)).toBe(WireError.TRUNCATED); // range past the end
    expect(ethCheckLen(plain, -1, 14)).toBe(WireError.TRUNCATED);
  });

  it("accepts trailing bytes (a 60-byte padded ARP from a real wire)", () => {
    const { bytes } = loadFixture("arp-request");
    const padded = new Uint8Array(60);
    padded.set(bytes);
    const e = newEthernetRepr();
    expect(parseEthernet(padded, 0, 60, e)).toBe(WireError.OK);
    expect(e.ethertype).toBe(ETHERTYPE_ARP);
  });
});
