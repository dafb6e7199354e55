import { describe, expect, it } from "vitest";
import { loadFixture } from "./fixtures/load.js";
import { ETH_HEADER_LEN } from "./ethernet.js";
import { parseIpv4 as parseAddr } from "../addr.js";
import { WireError } from "./error.js";
import {
  IPPROTO_ICMP, IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP, IPOPT_RR, type Ipv4Repr, emitIpv4, formatIpv4Header, formatIpv4LaterFragment,
  formatIpv4Options, formatIpv4Prefix, ipv4CheckLen, ipv4CheckOptions, ipv4Checksum, ipv4ComputeChecksum, ipv4DecTtl,
  ipv4FillChecksum, ipv4FindOption, ipv4FragOffset, ipv4HeaderLen, ipv4IsFragment, ipv4ReprHeaderLen, ipv4RewriteDst, ipv4RewriteSrc,
  ipv4SetTtl, ipv4Ttl, ipv4VerifyChecksum, newIpv4Repr, parseIpv4,
} from "./ipv4.js";
import { IPPROTO_UDP as UDP_FROM_UDP } from "./udp.js";
import { IPPROTO_TCP as TCP_FROM_TCP } from "./tcp.js";

// Fixtures: scripts/capture-fixtures-l3.sh (ping, fragments, record route and a forwarded echo
// through a router namespace; offloads off). Each fixture's `#` lines are tcpdump -nev's own
// decode of the frame: the header text printed here must equal it.
const IP = ETH_HEADER_LEN;
const ip = (s: string) => parseAddr(s);

/** tcpdump's parenthesised IPv4 header from the fixture's first decode line. */
function tcpdumpHeader(decode: string): string {
  return /: (\(tos .*\))$/m.exec(decode.split("\n")[0]!)![1]!;
}
/** The second decode line after the addresses, e.g. `ip-proto-1`. */
function tcpdumpBody(decode: string): string {
  return decode.split("\n")[1]!.replace(/^\s+\S+ > \S+: /, "");
}
function parsed(name: string): { bytes: Uint8Array; decode: string; r: Ipv4Repr } {
  const { bytes, decode } = loadFixture(name);
  const r = newIpv4Repr();
  expect(parseIpv4(bytes, IP, bytes.length - IP, r)).toBe(WireError.OK);
  return { bytes, decode, r };
}
const opts = (hex: string) => {
  const o = new Uint8Array(40);
  o.set(Buffer.from(hex, "hex"));
  return o;
};

const FIXTURES = [
  "icmp-echo-request", "icmp-echo-reply", "icmp-port-unreach", "icmp-frag-needed", "icmp-time-exceeded", "ipip-echo",
  "ipv4-frag-first", "ipv4-frag-middle", "ipv4-frag-last", "ipv4-rr-request", "ipv4-rr-reply", "ipv4-fwd-before", "ipv4-fwd-after",
];

describe("ipv4", () => {
  it("re-exports the TCP and UDP protocol numbers instead of defining others", () => {
    expect(IPPROTO_UDP).toBe(UDP_FROM_UDP);
    expect(IPPROTO_TCP).toBe(TCP_FROM_TCP);
    expect([IPPROTO_ICMP, IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP]).toEqual([1, 4, 6, 17]);
  });

  it("constructs the header of the udp-hello capture from a hand-built Repr", () => {
    // udp-hello.hex: 4500 002a 67ed 4000 4011 be0d 0a63 0001 0a63 0002
    const r: Ipv4Repr = { ...newIpv4Repr(), tos: 0, ident: 0x67ed, df: true, ttl: 64, protocol: 17, src: ip("10.99.0.1"), dst: ip("10.99.0.2"), payloadLen: 22 };
    const b = new Uint8Array(42).fill(0x55);
    expect(emitIpv4(r, b, 0)).toBe(20);
    expect(Buffer.from(b.subarray(0, 20)).toString("hex")).toBe("4500002a67ed40004011be0d0a6300010a630002");
    expect(b.subarray(0, 20)).toEqual(loadFixture("udp-hello").bytes.subarray(IP, IP + 20));
  });

  it("parses the echo request field by field", () => {
    const { r } = parsed("icmp-echo-request");
    expect(r).toEqual({
      tos: 0, ident: 58976, df: true, mf: false, fragOffset: 0, ttl: 64, protocol: IPPROTO_ICMP,
      src: ip("10.99.0.1"), dst: ip("10.99.0.2"), options: new Uint8Array(40), optionsLen: 0, payloadLen: 64,
    });
    expect(formatIpv4Prefix(r)).toBe("IP 10.99.0.1 > 10.99.0.2:");
  });

  for (const name of FIXTURES) {
    it(`${name}: prints the header as tcpdump did, and re-emits it byte for byte`, () => {
      const { bytes, decode, r } = parsed(name);
      expect(formatIpv4Header(r)).toBe(tcpdumpHeader(decode));
      const hl = ipv4ReprHeaderLen(r);
      const copy = Uint8Array.from(bytes);
      copy.fill(0xaa, IP, IP + hl); // stale header bytes must not leak into emit
      expect(emitIpv4(r, copy, IP)).toBe(hl);
      expect(copy).toEqual(bytes);
    });
  }

  it("keeps options intact as raw bytes (record route: IHL 15, NOP + 39-byte RR)", () => {
    const { bytes, r } = parsed("ipv4-rr-request");
    expect(ipv4HeaderLen(bytes, IP)).toBe(60);
    expect(r.optionsLen).toBe(40);
    expect(r.options).toEqual(bytes.subarray(IP + 20, IP + 60));
    expect(r.options[0]).toBe(1); // NOP
    expect([r.options[1], r.options[2], r.options[3]]).toEqual([IPOPT_RR, 39, 12]); // pointer past 2 recorded hops
    expect(ipv4CheckOptions(bytes, IP)).toBe(WireError.OK);
    expect(ipv4FindOption(bytes, IP, IPOPT_RR)).toBe(IP + 21);
    // The reply: Linux echoes RR first and pads with EOL (no NOP); a missing option is -1.
    const rep = parsed("ipv4-rr-reply");
    expect(ipv4FindOption(rep.bytes, IP, IPOPT_RR)).toBe(IP + 20);
    expect(rep.r.options[39]).toBe(0);
    expect(ipv4FindOption(loadFixture("icmp-echo-request").bytes, IP, IPOPT_RR)).toBe(-1);
  });

  it("zero-fills unused option capacity so that Reprs compare deeply after reuse", () => {
    const r = parsed("ipv4-rr-request").r;
    const { bytes } = loadFixture("icmp-echo-request");
    expect(parseIpv4(bytes, IP, bytes.length - IP, r)).toBe(WireError.OK);
    expect(r).toEqual(parsed("icmp-echo-request").r);
  });

  it("pads an option run that is not a multiple of 4 with EOL", () => {
    const r: Ipv4Repr = { ...newIpv4Repr(), protocol: 1, optionsLen: 3, options: opts("9403ff"), payloadLen: 0 };
    const b = new Uint8Array(24).fill(0xee);
    expect(emitIpv4(r, b, 0)).toBe(24);
    expect(Buffer.from(b.subarray(20)).toString("hex")).toBe("9403ff00");
    expect(ipv4VerifyChecksum(b, 0)).toBe(true);
  });

  it("reads the three fragments of a 3000-byte ping (-M dont): one id, MF, offsets in bytes", () => {
    const [first, middle, last] = ["ipv4-frag-first", "ipv4-frag-middle", "ipv4-frag-last"].map((n) => parsed(n));
    expect([first!.r.mf, middle!.r.mf, last!.r.mf]).toEqual([true, true, false]);
    expect([first!.r.fragOffset, middle!.r.fragOffset, last!.r.fragOffset]).toEqual([0, 1480, 2960]);
    expect(new Set([first!.r.ident, middle!.r.ident, last!.r.ident]).size).toBe(1);
    expect([first!.r.df, middle!.r.df, last!.r.df]).toEqual([false, false, false]);
    expect(first!.r.payloadLen + middle!.r.payloadLen + last!.r.payloadLen).toBe(8 + 3000);
    expect(ipv4FragOffset(middle!.bytes, IP)).toBe(1480);
    expect([first, middle, last].map((f) => ipv4IsFragment(f!.bytes, IP))).toEqual([true, true, true]);
    expect(ipv4IsFragment(loadFixture("icmp-echo-request").bytes, IP)).toBe(false);
    for (const f of [middle!, last!]) expect(formatIpv4LaterFragment(f.r)).toBe(tcpdumpBody(f.decode));
  });

  it("decrements TTL as the real router did (ipv4-fwd-before -> ipv4-fwd-after)", () => {
    const before = Uint8Array.from(loadFixture("ipv4-fwd-before").bytes);
    const after = loadFixture("ipv4-fwd-after").bytes;
    expect(ipv4DecTtl(before, IP)).toBe(63);
    expect(before.subarray(IP)).toEqual(after.subarray(IP)); // TOS/ECN, id and DF kept
  });

  it("decrements TTL incrementally with the same result as a full recompute, for every TTL", () => {
    for (const name of FIXTURES) {
      const b = Uint8Array.from(loadFixture(name).bytes);
      for (let ttl = 255; ttl >= 1; ttl--) {
        ipv4SetTtl(b, IP, ttl);
        ipv4FillChecksum(b, IP);
        expect(ipv4DecTtl(b, IP)).toBe(ttl - 1);
        expect(ipv4Ttl(b, IP)).toBe(ttl - 1);
        expect(ipv4Checksum(b, IP)).toBe(ipv4ComputeChecksum(b, IP));
      }
    }
  });

  it("rewrites addresses with an incremental checksum equal to a full recompute", () => {
    const b = Uint8Array.from(loadFixture("ipv4-rr-request").bytes);
    for (const a of [ip("192.168.7.7"), 0, 0xffffffff, ip("10.99.2.1")]) {
      ipv4RewriteSrc(b, IP, a);
      expect(ipv4Checksum(b, IP)).toBe(ipv4ComputeChecksum(b, IP));
      ipv4RewriteDst(b, IP, (a ^ 0x5a5a5a5a) >>> 0);
      expect(ipv4Checksum(b, IP)).toBe(ipv4ComputeChecksum(b, IP));
      expect(ipv4VerifyChecksum(b, IP)).toBe(true);
    }
  });

  it("rejects a flipped header bit as a bad checksum, accepts it unverified, and ignores payload bits", () => {
    const b = Uint8Array.from(loadFixture("icmp-echo-request").bytes);
    const r = newIpv4Repr();
    b[b.length - 1]! ^= 1;
    expect(parseIpv4(b, IP, b.length - IP, r)).toBe(WireError.OK);
    b[IP + 5]! ^= 1; // ident
    expect(parseIpv4(b, IP, b.length - IP, r)).toBe(WireError.BAD_CHECKSUM);
    expect(parseIpv4(b, IP, b.length - IP, r, false)).toBe(WireError.OK);
    expect(r.ident).toBe(58976 ^ 1);
  });

  it("reports every truncation with an error code, never a throw", () => {
    for (const name of ["icmp-echo-request", "ipv4-rr-request", "ipv4-frag-last"]) {
      const { bytes } = loadFixture(name);
      const n = bytes.length - IP;
      const r = newIpv4Repr();
      for (let cut = 0; cut < n; cut++) {
        expect(parseIpv4(bytes, IP, cut, r)).toBe(WireError.TRUNCATED);
        expect(parseIpv4(bytes.subarray(0, IP + cut), IP, n, r)).toBe(WireError.TRUNCATED); // len beyond the buffer
      }
    }
  });

  it("reports bad versions and inconsistent lengths", () => {
    const { bytes } = loadFixture("icmp-echo-request");
    const n = bytes.length - IP;
    const with_ = (i: number, v: number) => {
      const b = Uint8Array.from(bytes);
      b[IP + i] = v;
      return ipv4CheckLen(b, IP, n);
    };
    expect(with_(0, 0x65)).toBe(WireError.BAD_VERSION);
    expect(with_(0, 0x44)).toBe(WireError.BAD_LENGTH); // IHL 4
    expect(with_(0, 0x4f)).toBe(WireError.OK); // IHL 15 still fits in 84 bytes
    expect(with_(3, 19)).toBe(WireError.BAD_LENGTH); // total length 19 < header
    expect(with_(2, 1)).toBe(WireError.TRUNCATED); // total length 340 > 84 present
    expect(ipv4CheckLen(bytes, -1, n)).toBe(WireError.TRUNCATED);
  });

  it("ignores bytes after the total length (Ethernet padding, overlong input)", () => {
    const { bytes } = loadFixture("ipv4-frag-last");
    const padded = new Uint8Array(bytes.length + 40).fill(0x77);
    padded.set(bytes);
    const r = newIpv4Repr();
    expect(parseIpv4(padded, IP, padded.length - IP, r)).toBe(WireError.OK);
    expect(r.payloadLen).toBe(48);
  });

  it("walks malformed options without reading past the header", () => {
    const r: Ipv4Repr = { ...newIpv4Repr(), optionsLen: 4, options: opts("07010000"), payloadLen: 0 };
    const b = new Uint8Array(24);
    emitIpv4(r, b, 0);
    expect(ipv4CheckOptions(b, 0)).toBe(WireError.MALFORMED); // length 1
    b[21] = 9; // length 9 > 4 left
    expect(ipv4CheckOptions(b, 0)).toBe(WireError.MALFORMED);
    expect(ipv4FindOption(b, 0, 68)).toBe(-1);
  });

  it("prints options exactly as tcpdump 4.99 does for the same bytes", () => {
    // Expected strings: tcpdump -nv of packets carrying these option bytes.
    const cases: [string, string][] = [
      ["01010101", "NOP,NOP,NOP,NOP"],
      ["830b080102030405060708" + "00", "LSRR 1.2.3.4, 5.6.7.8,EOL"],
      ["890b040102030405060708" + "00", "SSRR 1.2.3.4 5.6.7.8,EOL"],
      ["94040000", "RA"],
      ["94040007", "RA value 7"],
      ["440c0500" + "00000001" + "00000002", "timestamp TS{TSONLY ^ 1@ 2@}"],
      ["44140d11" + "01020304" + "00000005" + "0000000000000000", "timestamp TS{TS+ADDR 5@1.2.3.4 ^ 0@0.0.0.0 [1 hops not recorded]} "],
      ["440c0503" + "01020304" + "00000005", "timestamp TS{PRESPEC ^ 5@1.2.3.4}"],
      ["44080502" + "00000001", "timestamp TS{[bad length 8][bad ts type 2]}"],
      ["820b" + "00".repeat(9) + "00", "security,EOL"],
      ["99040000", "unknown 153"],
      ["520c" + "00".repeat(10), "traceroute"],
      ["0707040000000000", "RR 0.0.0.0,EOL"],
      ["07030400", "RR,EOL"],
      ["070c0400", "RR [bad length 12]"],
      ["99010000", "unknown 153 [bad length 1]"],
      ["01000000", "NOP,EOL"],
    ];
    for (const [hex, text] of cases) expect(formatIpv4Options(opts(hex), hex.length / 2)).toBe(text);
  });

  it("prints ECN bits, MF+DF and a zero TTL as tcpdump does", () => {
    const base = { ...newIpv4Repr(), src: ip("10.0.0.1"), dst: ip("10.0.0.2"), ident: 1, protocol: 1, payloadLen: 8 };
    expect(formatIpv4Header({ ...base, tos: 0xb9 })).toBe("(tos 0xb9,ECT(1), ttl 64, id 1, offset 0, flags [none], proto ICMP (1), length 28)");
    expect(formatIpv4Header({ ...base, tos: 2 })).toContain("(tos 0x2,ECT(0), ");
    expect(formatIpv4Header({ ...base, tos: 3 })).toContain("(tos 0x3,CE, ");
    expect(formatIpv4Header({ ...base, mf: true, df: true })).toContain("flags [+, DF]");
    expect(formatIpv4Header({ ...base, ttl: 0 })).toBe("(tos 0x0, id 1, offset 0, flags [none], proto ICMP (1), length 28)");
    expect(formatIpv4Header({ ...base, protocol: 200 })).toContain("proto unknown (200)");
  });
});
