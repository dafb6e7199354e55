// Properties of the wire codecs:
//  1. parse(emit(r)) == r for every protocol, over wide Reprs (any flags, option orders, types);
//  2. for valid whole frames, dissect(build(L)) == L and build(dissect(b)) == b;
//  3. any bytes at any offset: parsers never throw, return an error code, and never read outside
//     the range they were given (the result does not change when every byte outside the range
//     changes, and is the same when the range ends exactly at the end of the buffer).
import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { buildFrame, dissectFrame, frameLength } from "../core/wire/frame.js";
import { emitEthernet, ethReprHeaderLen, newEthernetRepr, parseEthernet } from "../core/wire/ethernet.js";
import { emitArp, newArpRepr, parseArp } from "../core/wire/arp.js";
import { emitIpv4, ipv4AddrSum, ipv4ReprHeaderLen, newIpv4Repr, parseIpv4, readIpv4Fields, readIpv4FieldsReference } from "../core/wire/ipv4.js";
import { emitIcmp, newIcmpRepr, parseIcmp, parseIcmpQuote } from "../core/wire/icmp.js";
import { emitUdp, newUdpRepr, parseUdp, parseUdpWithSum } from "../core/wire/udp.js";
import { emitTcp, newTcpRepr, parseTcp, tcpReprHeaderLen } from "../core/wire/tcp.js";
import { newTcpOptions, parseTcpOptions } from "../core/wire/tcp-options.js";
import { emitVxlan, newVxlanRepr, parseVxlan } from "../core/wire/vxlan.js";
import { printFrame } from "../core/wire/print.js";
import { WireError } from "../core/wire/error.js";
import { ip, mac, tcpOptionBytes, validFrame } from "./arbitraries.js";

const u8 = fc.nat({ max: 0xff });
const u16 = fc.nat({ max: 0xffff });
const u32 = fc.nat({ max: 0xffffffff });
const RUNS = { numRuns: 1000 };

/** Emit `hdr` bytes of header in front of `pay` payload bytes, then parse back. */
function roundTrip<R>(hdrLen: number, payload: Uint8Array, emit: (b: Uint8Array) => void, parse: (b: Uint8Array, out: R) => number, fresh: () => R): R {
  const b = new Uint8Array(hdrLen + payload.length);
  b.set(payload, hdrLen);
  emit(b);
  const out = fresh();
  expect(parse(b, out)).toBe(WireError.OK);
  return out;
}

describe("parse(emit(r)) == r", () => {
  test.prop([fc.record({ dst: mac, src: mac, ethertype: u16, vlan: fc.boolean(), pcp: fc.nat({ max: 7 }), dei: fc.nat({ max: 1 }), vid: fc.nat({ max: 4095 }) })], RUNS)("ethernet", (e) => {
    const r = { ...e, pcp: e.vlan ? e.pcp : 0, dei: e.vlan ? e.dei : 0, vid: e.vlan ? e.vid : 0, ethertype: !e.vlan && e.ethertype === 0x8100 ? 0x0800 : e.ethertype };
    expect(roundTrip(ethReprHeaderLen(r), new Uint8Array(0), (b) => emitEthernet(r, b, 0), (b, o) => parseEthernet(b, 0, b.length, o), newEthernetRepr)).toEqual(r);
  });

  test.prop([fc.record({ operation: u16, senderMac: mac, senderIp: ip, targetMac: mac, targetIp: u32 })], RUNS)("arp", (r) => {
    expect(roundTrip(28, new Uint8Array(0), (b) => emitArp(r, b, 0), (b, o) => parseArp(b, 0, b.length, o), newArpRepr)).toEqual(r);
  });

  const rawOptions = (max: number) => fc.uint8Array({ maxLength: max }).map((o) => {
    // any option bytes at all for IPv4 (kept raw); a multiple of 4 as on the wire
    const n = o.length & ~3;
    const full = new Uint8Array(40);
    full.set(o.subarray(0, n));
    return { options: full, optionsLen: n };
  });
  test.prop([fc.record({ tos: u8, ident: u16, df: fc.boolean(), mf: fc.boolean(), fragOffset: fc.nat({ max: 8191 }).map((x) => x * 8), ttl: u8, protocol: u8, src: u32, dst: u32 }), rawOptions(40), fc.uint8Array({ maxLength: 64 })], RUNS)("ipv4", (h, o, payload) => {
    const r = { ...h, ...o, payloadLen: payload.length };
    const back = roundTrip(ipv4ReprHeaderLen(r), payload, (b) => emitIpv4(r, b, 0), (b, out) => parseIpv4(b, 0, b.length, out), newIpv4Repr);
    expect(back).toEqual(r);
  });

  test.prop([u8, u8, u16, u16, u16, u32, fc.uint8Array({ maxLength: 64 })], RUNS)("icmp (any type and code)", (type, code, a, b2, mtu, rest, payload) => {
    const r = newIcmpRepr();
    r.type = type;
    r.code = code;
    if (type === 0 || type === 8) { r.ident = a; r.seq = b2; }
    else if (type === 3 && code === 4) { r.mtu = mtu; r.rest = (rest & 0xffff0000) >>> 0; }
    else r.rest = rest;
    r.payloadLen = payload.length;
    expect(roundTrip(8, payload, (b) => emitIcmp(r, b, 0), (b, out) => parseIcmp(b, 0, b.length, out), newIcmpRepr)).toEqual(r);
  });

  test.prop([u16, u16, fc.boolean(), u32, u32, fc.uint8Array({ maxLength: 64 })], RUNS)("udp", (srcPort, dstPort, noChecksum, src, dst, payload) => {
    const r = { srcPort, dstPort, noChecksum, payloadLen: payload.length };
    expect(roundTrip(8, payload, (b) => emitUdp(r, b, 0, src, dst), (b, out) => parseUdp(b, 0, b.length, src, dst, out), newUdpRepr)).toEqual(r);
  });

  // TCP options in any order the grammar allows: NOP, MSS, WS, SACK-perm, TS, SACK, unknown kinds, then EOL padding.
  const anyTcpOptions = fc.oneof(
    tcpOptionBytes,
    fc.array(fc.oneof(
      fc.constant([1]), u16.map((v) => [2, 4, v >> 8, v & 255]), u8.map((v) => [3, 3, v]), fc.constant([4, 2]),
      fc.tuple(u32, u32).map(([a, b]) => [8, 10, a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255, b >>> 24, (b >>> 16) & 255, (b >>> 8) & 255, b & 255]),
      fc.tuple(fc.integer({ min: 30, max: 250 }), fc.uint8Array({ maxLength: 6 })).map(([k, d]) => [k, 2 + d.length, ...d]),
    ), { maxLength: 6 }).map((list) => {
      const flat: number[] = [];
      for (const o of list) if (flat.length + o.length <= 40) flat.push(...o);
      const out = new Uint8Array((flat.length + 3) & ~3);
      out.set(flat);
      return out;
    }),
  );
  test.prop([fc.record({ srcPort: u16, dstPort: u16, seq: u32, ack: u32, flags: fc.nat({ max: 0xfff }), window: u16, urgent: u16 }), anyTcpOptions, u32, u32, fc.uint8Array({ maxLength: 64 })], RUNS)("tcp", (h, opts, src, dst, payload) => {
    const options = new Uint8Array(40);
    options.set(opts);
    const r = { ...h, options, optionsLen: opts.length, payloadLen: payload.length };
    const back = roundTrip(tcpReprHeaderLen(r), payload, (b) => emitTcp(r, b, 0, src, dst), (b, out) => parseTcp(b, 0, b.length, src, dst, out), newTcpRepr);
    expect(back).toEqual(r);
  });

  test.prop([fc.nat({ max: 0xffffff })], RUNS)("vxlan", (vni) => {
    const r = { vni };
    expect(roundTrip(8, new Uint8Array(0), (b) => emitVxlan(r, b, 0), (b, out) => parseVxlan(b, 0, b.length, out), newVxlanRepr)).toEqual(r);
  });
});

describe("fast paths equal their references", () => {
  test.prop([fc.uint8Array({ minLength: 60, maxLength: 60 }), fc.nat({ max: 10 }), fc.uint8Array({ minLength: 40, maxLength: 40 }), fc.nat({ max: 40 })], { numRuns: 1000 })(
    "readIpv4Fields == readIpv4FieldsReference, whatever the Repr held before",
    (bytes, ihlWords, stale, staleLen) => {
      const b = Uint8Array.from(bytes);
      b[0] = 0x40 | (5 + Math.min(ihlWords, 10));
      const fast = newIpv4Repr();
      // a reused Repr: previous options (respecting the zero-beyond-optionsLen rule)
      fast.options.set(stale.subarray(0, staleLen & ~3));
      fast.optionsLen = staleLen & ~3;
      readIpv4Fields(b, 0, fast);
      const ref = newIpv4Repr();
      readIpv4FieldsReference(b, 0, ref);
      expect(fast).toEqual(ref);
    },
  );
  test.prop([validFrame], { numRuns: 500 })("parseUdpWithSum(ipv4AddrSum) == parseUdp(src, dst)", (layers) => {
    const b = buildFrame(layers);
    const i = layers.findIndex((l) => l.kind === "udp");
    if (i < 0) return;
    let off = 0;
    for (let k = 0; k < i; k++) off += frameLength([layers[k]!]);
    let ipOff = 0;
    for (let k = 0; k < i - 1; k++) ipOff += frameLength([layers[k]!]);
    const ip4 = layers[i - 1] as Extract<(typeof layers)[number], { kind: "ipv4" }>;
    const a = newUdpRepr();
    const c = newUdpRepr();
    expect(parseUdpWithSum(b, off, b.length - off, ipv4AddrSum(b, ipOff), a)).toBe(parseUdp(b, off, b.length - off, ip4.src, ip4.dst, c));
    expect(a).toEqual(c);
  });
});

describe("whole valid frames", () => {
  test.prop([validFrame], { numRuns: 2000 })("dissect(build(L)) == L and build(dissect(b)) == b", (layers) => {
    const b = buildFrame(layers);
    const d = dissectFrame(b);
    expect(d.error, `${d.errorLayer} at ${d.errorOffset}`).toBe(WireError.OK);
    expect(d.layers).toEqual(layers);
    expect(buildFrame(d.layers)).toEqual(b);
    expect(printFrame(b).length).toBeGreaterThan(0);
  });
});

describe("arbitrary bytes: no throw, error codes, no reads outside the range", () => {
  type Probe = (b: Uint8Array, off: number, len: number) => unknown;
  const probes: Record<string, Probe> = {
    ethernet: (b, o, n) => { const r = newEthernetRepr(); return [parseEthernet(b, o, n, r), r]; },
    arp: (b, o, n) => { const r = newArpRepr(); return [parseArp(b, o, n, r), r]; },
    ipv4: (b, o, n) => { const r = newIpv4Repr(); return [parseIpv4(b, o, n, r), r]; },
    "icmp quote": (b, o, n) => { const r = newIpv4Repr(); return [parseIcmpQuote(b, o, n, r), r]; },
    icmp: (b, o, n) => { const r = newIcmpRepr(); return [parseIcmp(b, o, n, r), r]; },
    udp: (b, o, n) => { const r = newUdpRepr(); return [parseUdp(b, o, n, 0x0a000001, 0x0a000002, r), r]; },
    tcp: (b, o, n) => { const r = newTcpRepr(); return [parseTcp(b, o, n, 0x0a000001, 0x0a000002, r, false), r]; },
    "tcp options": (b, o, n) => { const r = newTcpOptions(); return [parseTcpOptions(b, o, n, r), r]; },
    vxlan: (b, o, n) => { const r = newVxlanRepr(); return [parseVxlan(b, o, n, r), r]; },
    "dissect frame": (b, o, n) => {
      const d = dissectFrame(b, o, n);
      return { ...d, errorOffset: d.errorOffset === undefined ? undefined : d.errorOffset - o }; // relative to the range
    },
    "print frame": (b, o, n) => printFrame(b, o, n),
  };
  // Mostly random bytes, sometimes a valid frame with random damage (reaches deeper code).
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.tuple(validFrame, fc.array(fc.tuple(fc.nat(), u8), { maxLength: 4 }), fc.nat()).map(([l, edits, cut]) => {
      const b = buildFrame(l);
      for (const [i, v] of edits) if (b.length) b[i % b.length] = v;
      return b.slice(0, b.length ? cut % (b.length + 1) : 0);
    }),
  );
  for (const [name, probe] of Object.entries(probes)) {
    test.prop([bytes, fc.nat({ max: 64 }), fc.uint8Array({ minLength: 64, maxLength: 64 })], { numRuns: 500 })(name, (range, pad, noise) => {
      // the range alone, ending exactly at the end of its buffer
      const exact = Uint8Array.from(range);
      let r1: unknown;
      expect(() => { r1 = probe(exact, 0, exact.length); }).not.toThrow();
      // the same range inside a bigger buffer at offset `pad`, surrounded by noise
      const big = new Uint8Array(pad + range.length + 64);
      big.set(noise.subarray(0, pad), 0);
      big.set(range, pad);
      big.set(noise, pad + range.length);
      const r2 = probe(big, pad, range.length);
      expect(normalize(r2)).toEqual(normalize(r1));
      if (Array.isArray(r1)) expect(typeof r1[0]).toBe("number");
    });
  }
});

function normalize(x: unknown): unknown {
  return JSON.parse(JSON.stringify(x, (_k, v) => (v instanceof Uint8Array ? Array.from(v) : v)));
}
