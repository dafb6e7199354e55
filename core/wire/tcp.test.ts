import { describe, expect, it } from "vitest";
import { loadFixture } from "./fixtures/load.js";
import { ETH_HEADER_LEN } from "./ethernet.js";
import { getU16, getU32 } from "../bytes.js";
import { parseIpv4 } from "../addr.js";
import { WireError } from "./error.js";
import {
  emitTcp, newTcpRepr, parseTcp, tcpCheckLen, tcpChecksum, tcpComputeChecksum, tcpFlags, tcpHeaderLen, tcpReprHeaderLen,
  tcpRewriteAddrChecksum, tcpRewriteDstPort, tcpRewriteSrcPort, tcpSetFlags, tcpVerifyChecksum,
  TCP_ACK, TCP_CWR, TCP_ECE, TCP_FIN, TCP_NS, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG, type TcpRepr,
} from "./tcp.js";
import { emitTcpOptions, formatTcp, newTcpOptions, parseTcpOptions, setTcpReprOptions } from "./tcp-options.js";

// Fixtures: scripts/capture-fixtures-l4.sh (nc between two namespaces, offloads off): a session
// 10.99.0.1:40000 -> 10.99.0.2:7777 sending "hello wireyard", and an RST from the closed port 9.
// Each .hex carries tcpdump's `-nev` decode and its `-n -S` line (`# | `), the printer's oracle.
const IP = ETH_HEADER_LEN; // the fixtures carry a 20-byte IPv4 header
const TCP = IP + 20;
const src = (b: Uint8Array) => getU32(b, IP + 12);
const dst = (b: Uint8Array) => getU32(b, IP + 16);
const segLen = (b: Uint8Array) => getU16(b, IP + 2) - 20; // IPv4 total length - header
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
/** tcpdump -n -S text after "a.b.c.d.port > e.f.g.h.port: ". */
const tcpdumpLine = (decode: string) => {
  const l = decode.split("\n").find((x) => x.startsWith("| "))!;
  return l.slice(l.indexOf(": ") + 2);
};

function load(name: string): { b: Uint8Array; r: TcpRepr; line: string } {
  const { bytes, decode } = loadFixture(name);
  const r = newTcpRepr();
  expect(parseTcp(bytes, TCP, segLen(bytes), src(bytes), dst(bytes), r)).toBe(WireError.OK);
  return { b: bytes, r, line: tcpdumpLine(decode) };
}

const FIXTURES = ["tcp-syn", "tcp-synack", "tcp-ack", "tcp-data", "tcp-fin", "tcp-rst"] as const;

describe("tcp: real-capture fixtures", () => {
  for (const name of FIXTURES) {
    it(`parses ${name} and prints it as tcpdump -n -S does`, () => {
      const { r, line } = load(name);
      expect(formatTcp(r)).toBe(line);
    });

    it(`emits ${name} byte for byte, options and checksum included`, () => {
      const { b, r } = load(name);
      const copy = Uint8Array.from(b);
      copy.fill(0xaa, TCP, TCP + tcpReprHeaderLen(r)); // stale header bytes must not leak into emit
      expect(emitTcp(r, copy, TCP, src(b), dst(b))).toBe(tcpHeaderLen(b, TCP));
      expect(copy).toEqual(b);
    });
  }

  it("reads the handshake: ports, flags, Linux SYN options, sequence arithmetic", () => {
    const syn = load("tcp-syn").r;
    const synack = load("tcp-synack").r;
    const ack = load("tcp-ack").r;
    expect([syn.srcPort, syn.dstPort, syn.flags, syn.window, syn.optionsLen, syn.payloadLen]).toEqual([40000, 7777, TCP_SYN, 64240, 20, 0]);
    expect([synack.srcPort, synack.dstPort, synack.flags, synack.optionsLen]).toEqual([7777, 40000, TCP_SYN | TCP_ACK, 20]);
    expect(synack.ack).toBe((syn.seq + 1) >>> 0);
    expect([ack.flags, ack.seq, ack.ack, ack.optionsLen]).toEqual([TCP_ACK, (syn.seq + 1) >>> 0, (synack.seq + 1) >>> 0, 12]);
    // Linux's SYN layout: mss, sackOK+TS in one word, nop+wscale.
    expect(hex(syn.options.subarray(0, 4))).toBe("020405b4");
    expect(hex(syn.options.subarray(4, 8))).toBe("0402080a");
    expect(hex(syn.options.subarray(16, 19))).toBe("010303");
    const o = newTcpOptions();
    expect(parseTcpOptions(syn.options, 0, syn.optionsLen, o)).toBe(WireError.OK);
    expect([o.mss, o.sackPermitted, o.timestamps, o.tsEcr, o.sackCount, o.unknown]).toEqual([1460, true, true, 0, 0, 0]);
    expect(o.wscale).toBeGreaterThanOrEqual(0);
    const oa = newTcpOptions();
    parseTcpOptions(synack.options, 0, synack.optionsLen, oa);
    expect(oa.tsEcr).toBe(o.tsVal); // the SYN-ACK echoes the SYN's timestamp
  });

  it("reads the data segment, the FIN and the RST", () => {
    const syn = load("tcp-syn").r;
    const { b, r: data } = load("tcp-data");
    expect(data.flags).toBe(TCP_PSH | TCP_ACK);
    expect(data.seq).toBe((syn.seq + 1) >>> 0);
    expect(data.payloadLen).toBe(14);
    const p = TCP + tcpReprHeaderLen(data);
    expect(Buffer.from(b.subarray(p, p + data.payloadLen)).toString()).toBe("hello wireyard");
    expect(hex(data.options.subarray(0, 4))).toBe("0101080a"); // established: nop,nop,TS
    const fin = load("tcp-fin").r;
    expect(fin.flags).toBe(TCP_FIN | TCP_ACK);
    expect(fin.seq).toBe((data.seq + 14) >>> 0);
    const rst = load("tcp-rst");
    // Linux answers a SYN to a closed port with RST+ACK, seq 0, ack = ISN + 1, window 0, no options.
    expect([rst.r.srcPort, rst.r.dstPort, rst.r.flags, rst.r.seq, rst.r.window, rst.r.optionsLen]).toEqual([9, 40001, TCP_RST | TCP_ACK, 0, 0, 0]);
    expect(rst.line).toMatch(/^Flags \[R\.\], seq 0, ack \d+, win 0, length 0$/);
  });

  it("constructs the SYN and the data segment from hand-built Reprs (Linux option layout)", () => {
    for (const name of ["tcp-syn", "tcp-data"] as const) {
      const { b, r: parsed } = load(name);
      const po = newTcpOptions();
      parseTcpOptions(parsed.options, 0, parsed.optionsLen, po);
      const o = newTcpOptions();
      o.timestamps = true;
      o.tsVal = po.tsVal;
      o.tsEcr = po.tsEcr;
      if (name === "tcp-syn") {
        o.mss = 1460;
        o.sackPermitted = true;
        o.wscale = po.wscale;
      }
      const r = newTcpRepr();
      r.srcPort = 40000;
      r.dstPort = 7777;
      r.seq = parsed.seq;
      r.ack = parsed.ack;
      r.flags = name === "tcp-syn" ? TCP_SYN : TCP_PSH | TCP_ACK;
      r.window = parsed.window;
      r.payloadLen = name === "tcp-syn" ? 0 : 14;
      setTcpReprOptions(r, o);
      const out = new Uint8Array(b.length);
      out.set(b.subarray(0, TCP)); // Ethernet + IPv4 as captured
      out.set(Buffer.from(r.payloadLen ? "hello wireyard" : ""), TCP + 20 + r.optionsLen);
      emitTcp(r, out, TCP, src(b), dst(b));
      expect(hex(out)).toBe(hex(b));
      expect(r).toEqual(parsed);
    }
  });
});

describe("tcp: lengths, checksum, rewrites", () => {
  it("reports every truncation with an error code, never a throw", () => {
    const { b } = load("tcp-data");
    const n = segLen(b);
    const h = tcpHeaderLen(b, TCP); // 32: nop,nop,TS
    const r = newTcpRepr();
    for (let cut = 0; cut < h; cut++) expect(tcpCheckLen(b, TCP, cut)).toBe(WireError.TRUNCATED);
    for (let cut = 0; cut <= n; cut++) {
      expect(() => parseTcp(b, TCP, cut, src(b), dst(b), r)).not.toThrow();
      // Past the header a shorter segment is well-formed but its checksum no longer verifies.
      expect(parseTcp(b, TCP, cut, src(b), dst(b), r)).toBe(cut < h ? WireError.TRUNCATED : cut < n ? WireError.BAD_CHECKSUM : WireError.OK);
      if (cut >= h) expect(parseTcp(b, TCP, cut, 0, 0, r, false)).toBe(WireError.OK);
      if (cut >= h) expect(r.payloadLen).toBe(cut - h);
    }
    expect(tcpCheckLen(b, b.length - 10, 20)).toBe(WireError.TRUNCATED); // beyond the buffer
    const bad = Uint8Array.from(b);
    bad[TCP + 12] = 0x40; // data offset 4 < 5
    expect(tcpCheckLen(bad, TCP, n)).toBe(WireError.BAD_LENGTH);
  });

  it("ignores bytes after the segment (overlong input, e.g. Ethernet padding to 60)", () => {
    const { b, r } = load("tcp-rst");
    const padded = new Uint8Array(60);
    padded.set(b);
    const back = newTcpRepr();
    expect(parseTcp(padded, TCP, segLen(padded), src(b), dst(b), back)).toBe(WireError.OK);
    expect(back).toEqual(r);
  });

  it("rejects a flipped payload bit as a bad checksum, and accepts it unverified", () => {
    const b = Uint8Array.from(load("tcp-data").b);
    b[b.length - 1]! ^= 1;
    const r = newTcpRepr();
    expect(parseTcp(b, TCP, segLen(b), src(b), dst(b), r)).toBe(WireError.BAD_CHECKSUM);
    expect(parseTcp(b, TCP, segLen(b), src(b), dst(b), r, false)).toBe(WireError.OK);
    expect(tcpVerifyChecksum(b, TCP, segLen(b), src(b), dst(b))).toBe(false);
  });

  it("sends a computed checksum of 0 as 0 (no UDP-style 0xffff rule)", () => {
    const b = new Uint8Array(22);
    const r = newTcpRepr();
    r.payloadLen = 2;
    let found = false;
    for (let v = 0; v < 0x10000 && !found; v++) {
      b[20] = v >> 8;
      b[21] = v & 255;
      emitTcp(r, b, 0, 1, 2);
      if (tcpChecksum(b, 0) === 0) {
        expect(parseTcp(b, 0, 22, 1, 2, newTcpRepr())).toBe(WireError.OK);
        found = true;
      }
    }
    expect(found).toBe(true);
  });

  it("rejects structurally invalid options as MALFORMED", () => {
    const { b } = load("tcp-syn");
    const r = newTcpRepr();
    for (const [at, v] of [[TCP + 21, 0x30], [TCP + 21, 1], [TCP + 21, 0]] as const) {
      const bad = Uint8Array.from(b);
      bad[at] = v; // the mss option's length byte: past the header, < 2
      expect(parseTcp(bad, TCP, segLen(bad), src(b), dst(b), r, false)).toBe(WireError.MALFORMED);
    }
    const last = Uint8Array.from(b);
    last[TCP + 39] = 8; // last byte: a kind with no room for its length byte
    last[TCP + 38] = 1;
    expect(parseTcp(last, TCP, segLen(last), src(b), dst(b), r, false)).toBe(WireError.MALFORMED);
  });

  it("rewrites ports and addresses incrementally (== full recompute)", () => {
    const { b } = load("tcp-data");
    const n = segLen(b);
    const w = Uint8Array.from(b);
    tcpRewriteSrcPort(w, TCP, 61000);
    tcpRewriteDstPort(w, TCP, 80);
    const newSrc = parseIpv4("192.168.7.9");
    tcpRewriteAddrChecksum(w, TCP, src(b), newSrc);
    expect(tcpChecksum(w, TCP)).toBe(tcpComputeChecksum(w, TCP, n, newSrc, dst(b)));
    const r = newTcpRepr();
    expect(parseTcp(w, TCP, n, newSrc, dst(b), r)).toBe(WireError.OK);
    expect([r.srcPort, r.dstPort]).toEqual([61000, 80]);
  });
});

describe("tcp: flags, options, printer", () => {
  it("keeps NS/CWR/ECE in the 12-bit field and the data offset beside it", () => {
    const r = newTcpRepr();
    r.flags = TCP_SYN | TCP_ECE | TCP_CWR | TCP_NS;
    const b = new Uint8Array(20);
    emitTcp(r, b, 0, 0, 0);
    expect(hex(b.subarray(12, 14))).toBe("51c2");
    const back = newTcpRepr();
    expect(parseTcp(b, 0, 20, 0, 0, back)).toBe(WireError.OK);
    expect(back.flags).toBe(0x1c2);
    tcpSetFlags(b, 0, TCP_RST);
    expect([tcpHeaderLen(b, 0), tcpFlags(b, 0)]).toEqual([20, TCP_RST]);
    expect(formatTcp(back)).toBe("Flags [SEW], seq 0, win 0, length 0"); // tcpdump 4.99 does not print NS
  });

  it("round-trips any option order exactly (raw options are the source of truth)", () => {
    const r = newTcpRepr();
    Object.assign(r, { srcPort: 1, dstPort: 2, seq: 0xffff_fff0, ack: 7, flags: TCP_ACK | TCP_URG, window: 9, urgent: 3, payloadLen: 32 });
    // TS first, an unknown kind 99 with data, wscale, then EOL and padding.
    r.options.set([8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 99, 4, 0xab, 0xcd, 3, 3, 14, 0, 0, 0]);
    r.optionsLen = 20;
    const b = new Uint8Array(80);
    expect(emitTcp(r, b, 4, 10, 20)).toBe(40);
    const back = newTcpRepr();
    expect(parseTcp(b, 4, 72, 10, 20, back)).toBe(WireError.OK);
    expect(back).toEqual(r);
    const o = newTcpOptions();
    expect(parseTcpOptions(back.options, 0, back.optionsLen, o)).toBe(WireError.OK);
    expect([o.tsVal, o.tsEcr, o.wscale, o.mss, o.unknown]).toEqual([1, 2, 14, -1, 1]);
    expect(formatTcp(back)).toBe(
      "Flags [.U], seq 4294967280:16, ack 7, win 9, urg 3, options [TS val 1 ecr 2,unknown-99 0xabcd,wscale 14,eol], length 32",
    );
  });

  it("writes Linux's layouts for the other option combinations, SACK blocks capped at 40 bytes", () => {
    const o = newTcpOptions();
    const b = new Uint8Array(40);
    o.mss = 1460;
    o.sackPermitted = true;
    o.wscale = 7;
    expect(hex(b.subarray(0, emitTcpOptions(o, b, 0)))).toBe("020405b4" + "01010402" + "01030307"); // no timestamps
    Object.assign(o, { mss: -1, sackPermitted: false, wscale: -1, timestamps: true, tsVal: 1, tsEcr: 2, sackCount: 4 });
    o.sack.set([10, 20, 30, 40, 50, 60, 70, 80]);
    const n = emitTcpOptions(o, b, 0);
    expect(n).toBe(40); // 12 (TS) + 4 + 3 blocks: the 4th does not fit
    expect(hex(b.subarray(12, 16))).toBe("0101051a");
    const back = newTcpOptions();
    expect(parseTcpOptions(b, 0, n, back)).toBe(WireError.OK);
    expect([back.sackCount, ...back.sack]).toEqual([3, 10, 20, 30, 40, 50, 60, 0, 0]);
    o.timestamps = false;
    expect(emitTcpOptions(o, b, 0)).toBe(36); // 4 blocks without timestamps
    const r = newTcpRepr();
    r.flags = TCP_ACK;
    r.optionsLen = 36;
    r.options.set(b.subarray(0, 36));
    expect(formatTcp(r)).toBe("Flags [.], ack 0, win 0, options [nop,nop,sack 4 {10:20}{30:40}{50:60}{70:80}], length 0");
  });

  it("prints uto, tfo and exp options as tcpdump does", () => {
    const r = newTcpRepr();
    Object.assign(r, { flags: TCP_ACK, seq: 5, ack: 6, window: 7 });
    r.options.set([254, 6, 0x12, 0x34, 0xab, 0xcd, 28, 4, 0x81, 0x2c, 1, 1]);
    r.optionsLen = 12;
    expect(formatTcp(r)).toBe("Flags [.], ack 6, win 7, options [exp-1234,uto 0x812c 16534,nop,nop], length 0");
    r.options.fill(0).set([34, 2, 254, 8, 0xf9, 0x89, 1, 2, 3, 4, 1, 1]);
    expect(formatTcp(r)).toBe("Flags [.], ack 6, win 7, options [tfo  cookiereq,exp-tfo cookie 01020304,nop,nop], length 0");
  });

  it("decodes option lists defensively", () => {
    const o = newTcpOptions();
    const opt = (...v: number[]) => Uint8Array.from(v);
    expect(parseTcpOptions(opt(2, 5, 0, 0, 0), 0, 5, o)).toBe(WireError.OK); // wrong-length mss: ignored
    expect([o.mss, o.unknown]).toEqual([-1, 1]);
    expect(parseTcpOptions(opt(0, 2, 1), 0, 3, o)).toBe(WireError.OK); // EOL ends the list
    expect(parseTcpOptions(opt(1, 2), 0, 2, o)).toBe(WireError.MALFORMED);
    expect(parseTcpOptions(opt(30, 1, 0, 0), 0, 4, o)).toBe(WireError.MALFORMED);
    expect(parseTcpOptions(opt(30, 9, 0, 0), 0, 4, o)).toBe(WireError.MALFORMED);
    const r = newTcpRepr();
    r.options.set([1, 30, 9, 0]);
    r.optionsLen = 4;
    expect(formatTcp(r)).toBe("Flags [none], win 0, options [nop,[bad opt]]"); // tcpdump stops the line there
    r.options.set([30, 9, 0, 0]);
    expect(formatTcp(r)).toBe("Flags [none], win 0, options [[bad opt]");
  });
});
