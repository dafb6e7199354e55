import { describe, expect, it } from "vitest";
import { loadFixture } from "./fixtures/load.js";
import { ethDst, ethSrc, ethType, ETH_HEADER_LEN, ETHERTYPE_ARP } from "./ethernet.js";
import { MAC_BROADCAST, parseIpv4, parseMac } from "../addr.js";
import { WireError } from "./error.js";
import {
  arpCheckLen, arpIsGratuitous, arpOper, arpSetOper, arpSpa, arpTha, emitArp, formatArp, newArpRepr, parseArp,
  ARP_LEN, ARP_OP_REPLY, ARP_OP_REQUEST, type ArpRepr,
} from "./arp.js";

// Fixtures: scripts/capture-fixtures-l4.sh. A ping 10.99.0.1 -> 10.99.0.2 with no static
// neighbours (the kernel's request and reply), and the gratuitous ARP Linux sends with
// arp_notify=1 when veth-a's MAC changes to 02:99:00:00:00:01. Frames are 42 bytes (no padding).
const ARP = ETH_HEADER_LEN;
const A = parseIpv4("10.99.0.1");
const B = parseIpv4("10.99.0.2");
/** tcpdump -n -S line (`# | `), e.g. `ARP, Request who-has 10.99.0.2 tell 10.99.0.1, length 28`. */
const tcpdumpLine = (decode: string) => decode.split("\n").find((x) => x.startsWith("| "))!.slice(2);

function load(name: string): { b: Uint8Array; r: ArpRepr; line: string } {
  const { bytes, decode } = loadFixture(name);
  const r = newArpRepr();
  expect(bytes.length).toBe(42);
  expect(ethType(bytes, 0)).toBe(ETHERTYPE_ARP);
  expect(parseArp(bytes, ARP, bytes.length - ARP, r)).toBe(WireError.OK);
  return { b: bytes, r, line: tcpdumpLine(decode) };
}

describe("arp: real-capture fixtures", () => {
  for (const name of ["arp-request", "arp-reply", "arp-gratuitous"] as const) {
    it(`parses ${name} and prints it as tcpdump -n does`, () => {
      const { r, line } = load(name);
      expect(formatArp(r)).toBe(line);
    });

    it(`emits ${name} byte for byte`, () => {
      const { b, r } = load(name);
      const copy = Uint8Array.from(b);
      copy.fill(0xaa, ARP);
      expect(emitArp(r, copy, ARP)).toBe(ARP_LEN);
      expect(copy).toEqual(b);
    });
  }

  it("reads what Linux sends: broadcast request with a zero target MAC, unicast reply", () => {
    const req = load("arp-request");
    const rep = load("arp-reply");
    expect(ethDst(req.b, 0)).toBe(MAC_BROADCAST);
    expect(req.r).toEqual({ operation: ARP_OP_REQUEST, senderMac: ethSrc(req.b, 0), senderIp: A, targetMac: 0, targetIp: B });
    expect(rep.r).toEqual({ operation: ARP_OP_REPLY, senderMac: ethSrc(rep.b, 0), senderIp: B, targetMac: req.r.senderMac, targetIp: A });
    expect(ethDst(rep.b, 0)).toBe(req.r.senderMac);
    expect(arpIsGratuitous(req.r)).toBe(false);
  });

  it("reads the kernel's gratuitous ARP: a broadcast request for its own address", () => {
    const { b, r } = load("arp-gratuitous");
    const mac = parseMac("02:99:00:00:00:01");
    expect(r).toEqual({ operation: ARP_OP_REQUEST, senderMac: mac, senderIp: A, targetMac: 0, targetIp: A });
    expect(ethDst(b, 0)).toBe(MAC_BROADCAST);
    expect(arpIsGratuitous(r)).toBe(true);
  });

  it("constructs the request from a hand-built Repr", () => {
    const { b, r: parsed } = load("arp-request");
    const r: ArpRepr = { operation: ARP_OP_REQUEST, senderMac: ethSrc(b, 0), senderIp: A, targetMac: 0, targetIp: B };
    const out = new Uint8Array(42);
    out.set(b.subarray(0, ARP)); // Ethernet header as captured
    emitArp(r, out, ARP);
    expect(out).toEqual(b);
    expect(r).toEqual(parsed);
  });
});

describe("arp: lengths and formats", () => {
  it("reports every truncation with an error code, never a throw", () => {
    const { b } = load("arp-reply");
    const r = newArpRepr();
    for (let cut = 0; cut < ARP_LEN; cut++) {
      expect(() => parseArp(b, ARP, cut, r)).not.toThrow();
      expect(parseArp(b, ARP, cut, r)).toBe(WireError.TRUNCATED);
    }
    expect(arpCheckLen(b, ARP + 1, ARP_LEN)).toBe(WireError.TRUNCATED); // beyond the buffer
  });

  it("accepts the 60-byte padded frame of a real wire, ignoring the padding", () => {
    const { b, r } = load("arp-request");
    const padded = new Uint8Array(60);
    padded.set(b);
    padded.fill(0x55, 42);
    const back = newArpRepr();
    expect(parseArp(padded, ARP, padded.length - ARP, back)).toBe(WireError.OK);
    expect(back).toEqual(r);
    expect(formatArp(back, padded.length - ARP)).toBe("ARP, Request who-has 10.99.0.2 tell 10.99.0.1, length 46");
  });

  it("rejects other hardware/protocol types and address lengths as UNSUPPORTED", () => {
    const { b } = load("arp-request");
    for (const [at, v] of [[1, 6], [2, 0x86], [4, 8], [5, 16]] as const) {
      const x = Uint8Array.from(b);
      x[ARP + at] = v;
      expect(parseArp(x, ARP, ARP_LEN, newArpRepr())).toBe(WireError.UNSUPPORTED);
    }
  });

  it("has in-place accessors", () => {
    const b = Uint8Array.from(load("arp-request").b);
    expect([arpOper(b, ARP), arpSpa(b, ARP), arpTha(b, ARP)]).toEqual([1, A, 0]);
    arpSetOper(b, ARP, ARP_OP_REPLY);
    expect(arpOper(b, ARP)).toBe(2);
  });

  it("prints the other operations as tcpdump 4.99 does", () => {
    const r: ArpRepr = { operation: 1, senderMac: parseMac("02:00:00:00:00:01"), senderIp: parseIpv4("10.0.0.1"), targetMac: parseMac("02:00:00:00:00:09"), targetIp: parseIpv4("10.0.0.2") };
    expect(formatArp(r)).toBe("ARP, Request who-has 10.0.0.2 (02:00:00:00:00:09) tell 10.0.0.1, length 28");
    expect(formatArp({ ...r, operation: 3 })).toBe("ARP, Reverse Request who-is 02:00:00:00:00:09 tell 02:00:00:00:00:01, length 28");
    expect(formatArp({ ...r, operation: 4 })).toBe("ARP, Reverse Reply 02:00:00:00:00:09 at 10.0.0.2, length 28");
    expect(formatArp({ ...r, operation: 9 })).toBe("ARP, Inverse Reply 02:00:00:00:00:01 at 10.0.0.1, length 28");
    expect(formatArp({ ...r, operation: 7 })).toBe("ARP, Unknown (7) "); // tcpdump then hex-dumps
  });
});
