import { describe, expect, it } from "vitest";
import { loadFixture } from "./fixtures/load.js";
import { ETH_HEADER_LEN } from "./ethernet.js";
import { parseIpv4 as parseAddr } from "../addr.js";
import { setU32 } from "../bytes.js";
import { WireError } from "./error.js";
import { IPPROTO_ICMP, IPPROTO_IPIP, IPPROTO_UDP, emitIpv4, formatIpv4Header, newIpv4Repr, parseIpv4 } from "./ipv4.js";
import {
  ICMP_DEST_UNREACH, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_ERROR_MAX_LEN, ICMP_HEADER_LEN, ICMP_TIME_EXCEEDED,
  ICMP_TIME_EXCEEDED_TTL, ICMP_UNREACH_FILTER_PROHIB, ICMP_UNREACH_FRAG_NEEDED, ICMP_UNREACH_HOST, ICMP_UNREACH_NET,
  ICMP_UNREACH_PORT, ICMP_UNREACH_PROTOCOL, type IcmpRepr, emitIcmp, formatIcmp, icmpChecksum, icmpCheckLen,
  icmpErrorQuoteLen, icmpIsError, icmpQuoteCheckLen, icmpQuoteDstPort, icmpQuoteIcmpIdent, icmpQuoteIcmpType,
  icmpQuoteOffset, icmpQuoteSrcPort, newIcmpRepr, parseIcmp, parseIcmpQuote,
} from "./icmp.js";

// Fixtures: scripts/capture-fixtures-l3.sh — ping between two namespaces, a UDP datagram to a
// closed port, and errors from a router namespace (ping -t 1, ping -M do -s 1400 towards an
// MTU-1400 link, no route, `unreachable` and `prohibit` routes), all from the real kernel.
const IP = ETH_HEADER_LEN;
const ICMP = IP + 20; // every outer header here is 20 bytes
const ip = (s: string) => parseAddr(s);

function parsed(name: string): { bytes: Uint8Array; decode: string; r: IcmpRepr; len: number } {
  const { bytes, decode } = loadFixture(name);
  const outer = newIpv4Repr();
  expect(parseIpv4(bytes, IP, bytes.length - IP, outer)).toBe(WireError.OK);
  expect(outer.protocol).toBe(IPPROTO_ICMP);
  const r = newIcmpRepr();
  expect(parseIcmp(bytes, ICMP, outer.payloadLen, r)).toBe(WireError.OK);
  return { bytes, decode, r, len: outer.payloadLen };
}
/** tcpdump's text for the ICMP message: the second decode line after the addresses. */
const tcpdumpIcmp = (decode: string) => decode.split("\n")[1]!.replace(/^\s+\S+ > \S+: /, "");
/** tcpdump -v's header of the quoted datagram (third decode line). */
const tcpdumpQuote = (decode: string) => decode.split("\n")[2]!.trim();

const rep = (o: Partial<IcmpRepr>): IcmpRepr => ({ ...newIcmpRepr(), ...o });

const CASES: [string, Partial<IcmpRepr>][] = [
  ["icmp-echo-request", { type: ICMP_ECHO_REQUEST, ident: 10922, seq: 1, payloadLen: 56 }],
  ["icmp-echo-reply", { type: ICMP_ECHO_REPLY, ident: 10922, seq: 1, payloadLen: 56 }],
  ["icmp-port-unreach", { type: ICMP_DEST_UNREACH, code: ICMP_UNREACH_PORT, payloadLen: 29 }],
  ["icmp-proto-unreach", { type: ICMP_DEST_UNREACH, code: ICMP_UNREACH_PROTOCOL, payloadLen: 104 }],
  ["icmp-frag-needed", { type: ICMP_DEST_UNREACH, code: ICMP_UNREACH_FRAG_NEEDED, mtu: 1400, payloadLen: 548 }],
  ["icmp-time-exceeded", { type: ICMP_TIME_EXCEEDED, code: ICMP_TIME_EXCEEDED_TTL, payloadLen: 84 }],
  ["icmp-net-unreach", { type: ICMP_DEST_UNREACH, code: ICMP_UNREACH_NET, payloadLen: 84 }],
  ["icmp-host-unreach", { type: ICMP_DEST_UNREACH, code: ICMP_UNREACH_HOST, payloadLen: 84 }],
  ["icmp-filter-prohib", { type: ICMP_DEST_UNREACH, code: ICMP_UNREACH_FILTER_PROHIB, payloadLen: 84 }],
];

describe("icmp", () => {
  for (const [name, want] of CASES) {
    it(`${name}: parses, prints as tcpdump did, re-emits byte for byte`, () => {
      const { bytes, decode, r, len } = parsed(name);
      expect(r).toEqual(rep(want));
      expect(formatIcmp(r, bytes, ICMP)).toBe(tcpdumpIcmp(decode));
      const copy = Uint8Array.from(bytes);
      copy.fill(0xaa, ICMP, ICMP + ICMP_HEADER_LEN);
      expect(emitIcmp(r, copy, ICMP)).toBe(ICMP_HEADER_LEN);
      expect(copy).toEqual(bytes);
      expect(icmpIsError(r.type)).toBe(r.type !== ICMP_ECHO_REQUEST && r.type !== ICMP_ECHO_REPLY);
      expect(len).toBe(ICMP_HEADER_LEN + r.payloadLen);
    });
  }

  it("constructs a whole port-unreachable packet from Reprs around the quoted datagram", () => {
    const { bytes } = loadFixture("icmp-port-unreach");
    const quote = bytes.subarray(ICMP + 8); // the 29-byte datagram as the kernel quoted it
    const b = new Uint8Array(bytes.length).fill(0x33);
    b.set(bytes.subarray(0, IP)); // Ethernet is not this file's business
    b.set(quote, ICMP + 8);
    emitIcmp(rep({ type: 3, code: 3, payloadLen: quote.length }), b, ICMP);
    // Linux ICMP errors: TOS 0xc0, DF clear, TTL 64 (ident is random).
    const outer = { ...newIpv4Repr(), tos: 0xc0, ident: 43288, ttl: 64, protocol: 1, src: ip("10.99.0.2"), dst: ip("10.99.0.1"), payloadLen: 8 + quote.length };
    emitIpv4(outer, b, IP);
    expect(b).toEqual(bytes);
  });

  it("sizes error quotes as Linux does: at most 576 bytes in all", () => {
    expect(ICMP_ERROR_MAX_LEN).toBe(576);
    expect(icmpErrorQuoteLen(1428, 1500)).toBe(548); // icmp-frag-needed: ICMP length 556
    expect(icmpErrorQuoteLen(84, 1500)).toBe(84); // time exceeded quotes a whole ping
    expect(icmpErrorQuoteLen(29, 1500)).toBe(29);
    expect(icmpErrorQuoteLen(1428, 300)).toBe(272); // a smaller path MTU back to the sender
    expect(icmpErrorQuoteLen(1428, 1500, 60)).toBe(508); // echoed options enlarge the outer header
    expect(icmpErrorQuoteLen(100, 20)).toBe(0);
    const fn = parsed("icmp-frag-needed");
    expect(fn.r.payloadLen).toBe(icmpErrorQuoteLen(1428, 1500));
  });

  it("reads the quoted datagram of each error without requiring its total length", () => {
    for (const [name] of CASES.slice(2)) {
      const { bytes, decode, r } = parsed(name);
      const q = icmpQuoteOffset(ICMP);
      const quote = newIpv4Repr();
      expect(parseIcmpQuote(bytes, q, r.payloadLen, quote)).toBe(WireError.OK);
      expect(formatIpv4Header(quote)).toBe(tcpdumpQuote(decode));
      expect(quote.src).toBe(ip(name === "icmp-port-unreach" || name === "icmp-proto-unreach" ? "10.99.0.1" : "10.99.1.1"));
    }
    // frag-needed: 1428 bytes announced, 548 present: parseIpv4 refuses, parseIcmpQuote accepts.
    const { bytes, r } = parsed("icmp-frag-needed");
    const q = icmpQuoteOffset(ICMP);
    const quote = newIpv4Repr();
    expect(parseIpv4(bytes, q, r.payloadLen, quote)).toBe(WireError.TRUNCATED);
    expect(parseIcmpQuote(bytes, q, r.payloadLen, quote)).toBe(WireError.OK);
    expect([quote.payloadLen, quote.ident, quote.df]).toEqual([1408, 0, true]); // IP_PMTUDISC_DO: id 0
  });

  it("finds the quoted ports and ICMP id (what conntrack RELATED and NAT need)", () => {
    const pu = parsed("icmp-port-unreach");
    const q = icmpQuoteOffset(ICMP);
    expect([icmpQuoteSrcPort(pu.bytes, q), icmpQuoteDstPort(pu.bytes, q)]).toEqual([40001, 9]);
    const te = parsed("icmp-time-exceeded");
    expect(icmpQuoteIcmpType(te.bytes, q)).toBe(ICMP_ECHO_REQUEST);
    expect(icmpQuoteIcmpIdent(te.bytes, q)).toBe(Number(/id (\d+), seq/.exec(te.decode.split("\n")[3]!)![1]));
    const quote = newIpv4Repr();
    parseIcmpQuote(te.bytes, q, te.r.payloadLen, quote);
    expect(quote.ttl).toBe(1); // quoted as received, before the router's decrement
  });

  it("checks a quote's lengths: header, then 8 bytes of L4 or the whole short datagram", () => {
    const { bytes, r } = parsed("icmp-port-unreach");
    const q = icmpQuoteOffset(ICMP);
    for (let cut = 0; cut < 28; cut++) expect(icmpQuoteCheckLen(bytes, q, cut)).toBe(WireError.TRUNCATED);
    for (let cut = 28; cut <= r.payloadLen; cut++) expect(icmpQuoteCheckLen(bytes, q, cut)).toBe(WireError.OK);
    const b = Uint8Array.from(bytes);
    b[q] = 0x45 + 0x10;
    expect(icmpQuoteCheckLen(b, q, 29)).toBe(WireError.BAD_VERSION);
    b[q] = 0x43;
    expect(icmpQuoteCheckLen(b, q, 29)).toBe(WireError.BAD_LENGTH);
    b[q] = 0x45;
    b[q + 2] = 0;
    b[q + 3] = 24; // a 24-byte original (4 bytes of L4): all of it present is enough
    expect(icmpQuoteCheckLen(b, q, 24)).toBe(WireError.OK);
    b[q + 3] = 19;
    expect(icmpQuoteCheckLen(b, q, 29)).toBe(WireError.BAD_LENGTH);
  });

  it("rejects a flipped payload bit as a bad checksum, and accepts it unverified", () => {
    const { bytes, len } = parsed("icmp-time-exceeded");
    const b = Uint8Array.from(bytes);
    b[b.length - 1]! ^= 0x80;
    const r = newIcmpRepr();
    expect(parseIcmp(b, ICMP, len, r)).toBe(WireError.BAD_CHECKSUM);
    expect(parseIcmp(b, ICMP, len, r, false)).toBe(WireError.OK);
  });

  it("reports truncation with an error code, never a throw", () => {
    const { bytes, len } = parsed("icmp-echo-request");
    const r = newIcmpRepr();
    for (let cut = 0; cut < ICMP_HEADER_LEN; cut++) expect(parseIcmp(bytes, ICMP, cut, r)).toBe(WireError.TRUNCATED);
    // ICMP has no length field: a shorter message is a different (unverifiable) message.
    for (let cut = ICMP_HEADER_LEN; cut < len; cut++) {
      expect(parseIcmp(bytes, ICMP, cut, r)).toBe(WireError.BAD_CHECKSUM);
      expect(parseIcmp(bytes, ICMP, cut, r, false)).toBe(WireError.OK);
      expect(r.payloadLen).toBe(cut - ICMP_HEADER_LEN);
    }
    expect(icmpCheckLen(bytes, bytes.length - 4, 8)).toBe(WireError.TRUNCATED);
    const outer = newIpv4Repr();
    expect(parseIpv4(bytes.subarray(0, bytes.length - 1), IP, bytes.length - 1 - IP, outer)).toBe(WireError.TRUNCATED);
  });

  it("ignores bytes after the message when given the IPv4 payload length (overlong input)", () => {
    const { bytes, len, r: want } = parsed("icmp-port-unreach");
    const padded = new Uint8Array(bytes.length + 20).fill(0x99);
    padded.set(bytes);
    const r = newIcmpRepr();
    expect(parseIcmp(padded, ICMP, len, r)).toBe(WireError.OK);
    expect(r).toEqual(want);
  });

  it("round-trips unknown types and the unused half of frag-needed exactly", () => {
    for (const r of [
      rep({ type: 42, code: 7, rest: 0xdeadbeef, payloadLen: 3 }),
      rep({ type: 3, code: 4, mtu: 1400, rest: 0x12340000, payloadLen: 0 }),
      rep({ type: 8, ident: 0xffff, seq: 0, payloadLen: 1 }),
      rep({ type: 5, code: 1, rest: ip("10.0.0.254"), payloadLen: 0 }),
    ]) {
      const b = new Uint8Array(8 + r.payloadLen).fill(0xab);
      emitIcmp(r, b, 0);
      const back = newIcmpRepr();
      expect(parseIcmp(b, 0, b.length, back)).toBe(WireError.OK);
      expect(back).toEqual(r);
      expect(icmpChecksum(b, 0)).not.toBe(0xabab);
    }
  });

  it("prints the other types in tcpdump's words", () => {
    // Expected strings: tcpdump -n on packets with these headers (quote: 10.0.0.2 > 10.0.0.9 UDP).
    const q = new Uint8Array(8 + 28);
    q.set(Buffer.from("4500001c00010000051100000a0000020a000009" + "03e8003500080000", "hex"), 8);
    const f = (o: Partial<IcmpRepr>) => formatIcmp(rep({ payloadLen: 28, ...o }), q, 0);
    expect(f({ type: 3, code: 16 })).toBe("ICMP 10.0.0.9 unreachable - #16, length 36");
    expect(f({ type: 3, code: 4, mtu: 0 })).toBe("ICMP 10.0.0.9 unreachable - need to frag, length 36");
    expect(f({ type: 3, code: 9 })).toBe("ICMP net 10.0.0.9 unreachable - admin prohibited, length 36");
    expect(f({ type: 3, code: 10 })).toBe("ICMP host 10.0.0.9 unreachable - admin prohibited, length 36");
    expect(f({ type: 3, code: 5 })).toBe("ICMP 10.0.0.9 unreachable - source route failed, length 36");
    expect(f({ type: 3, code: 3 })).toBe("ICMP 10.0.0.9 udp port 53 unreachable, length 36");
    expect(f({ type: 5, code: 0, rest: ip("10.0.0.254") })).toBe("ICMP redirect 10.0.0.9 to net 10.0.0.254, length 36");
    expect(f({ type: 5, code: 3, rest: ip("10.0.0.254") })).toBe("ICMP redirect-tos 10.0.0.9 to host 10.0.0.254, length 36");
    expect(f({ type: 5, code: 4, rest: ip("10.0.0.254") })).toBe("ICMP redirect-#4 10.0.0.9 to 10.0.0.254, length 36");
    expect(f({ type: 11, code: 1 })).toBe("ICMP ip reassembly time exceeded, length 36");
    expect(f({ type: 11, code: 2 })).toBe("ICMP time exceeded-#2, length 36");
    expect(f({ type: 12, code: 0, rest: 9 << 24 })).toBe("ICMP parameter problem - octet 9, length 36");
    expect(f({ type: 12, code: 1 })).toBe("ICMP parameter problem - code 1, length 36");
    expect(f({ type: 4 })).toBe("ICMP source quench, length 36");
    expect(f({ type: 42 })).toBe("ICMP type-#42, length 36");
    expect(f({ type: 10 })).toBe("ICMP router solicitation, length 36");
    expect(f({ type: 13, rest: (7 << 16) | 9, payloadLen: 12 })).toBe("ICMP time stamp query id 7 seq 9, length 20");
    const ts = new Uint8Array(20);
    [3723004, 86399999, 100000000].forEach((t, k) => setU32(ts, 8 + 4 * k, t));
    expect(formatIcmp(rep({ type: 14, rest: (7 << 16) | 9, payloadLen: 12 }), ts, 0))
      .toBe("ICMP time stamp reply id 7 seq 9: org 01:02:03.004, recv 23:59:59.999, xmit 27:46:40.000, length 20");
    const mask = new Uint8Array(12);
    mask.set([255, 255, 255, 0], 8);
    expect(formatIcmp(rep({ type: 18, payloadLen: 4 }), mask, 0)).toBe("ICMP address mask is 0xffffff00, length 12");
    const ra = new Uint8Array(24);
    ra.set(Buffer.from("0a00000100000005c0a80001ffffffff", "hex"), 8);
    expect(formatIcmp(rep({ type: 9, rest: 0x02020708, payloadLen: 16 }), ra, 0))
      .toBe("ICMP router advertisement lifetime 30:00 2: {10.0.0.1 5} {192.168.0.1 4294967295}, length 24");
  });

  it("knows the proto-unreachable the kernel sends for IP-in-IP it cannot decapsulate", () => {
    const { bytes } = parsed("icmp-proto-unreach");
    expect(bytes[icmpQuoteOffset(ICMP) + 9]).toBe(IPPROTO_IPIP);
    expect(IPPROTO_UDP).toBe(17);
  });
});
