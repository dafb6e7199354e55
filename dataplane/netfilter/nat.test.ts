// NAT tuple selection (nat-tuple.ts) and packet rewriting (nat-packet.ts): Linux's
// get_unique_tuple rules, checked on packets whose checksums are verified in full afterwards.
import { describe, expect, test } from "vitest";
import { Clock } from "../engine/clock.js";
import { Rng } from "../engine/rng.js";
import { parseIpv4 } from "../../core/addr.js";
import { buildFrame, dissectIpv4Packet, type Layer } from "../../core/wire/frame.js";
import { WireError } from "../../core/wire/error.js";
import { icmpEcho, icmpError, ipv4, raw, tcp, udp } from "../../core/wire/layers.js";
import { ConntrackTable } from "./conntrack.js";
import { CTREF_CLASH, IPS_DST_NAT, IPS_SRC_NAT, IP_CT_ESTABLISHED_REPLY, NAT_MANIP_DST, NAT_MANIP_SRC, refCtinfo, refEntry } from "./conntrack-bits.js";
import { bswap32, jhash1, NAT_MAP_IPS, NAT_PERSISTENT, NAT_PROTO_SPECIFIED, NAT_RANDOM_FULLY, natNullBinding, natSetup, reciprocalScale } from "./nat-tuple.js";
import { natIcmpReplyTranslation, natPacket } from "./nat-packet.js";

const ip = parseIpv4;
const HOST = ip("192.168.1.10");
const pkt = (src: string, dst: string, proto: number, l4: Layer[]) => buildFrame([ipv4({ src: ip(src), dst: ip(dst), protocol: proto }), ...l4]);
const U = (src: string, sp: number, dst: string, dp: number) => pkt(src, dst, 17, [udp(sp, dp), raw(12)]);
const T = (src: string, sp: number, dst: string, dp: number, flags: number) => pkt(src, dst, 6, [tcp({ srcPort: sp, dstPort: dp, flags, seq: 100, ack: flags & 0x10 ? 200 : 0 }), raw(10)]);
const E = (src: string, dst: string, type: 0 | 8, id: number) => pkt(src, dst, 1, [icmpEcho(type, id, 7), raw(8)]);
const sport = (b: Uint8Array) => (b[20]! << 8) | b[21]!;
const dport = (b: Uint8Array) => (b[22]! << 8) | b[23]!;
const srcOf = (b: Uint8Array) => ((b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!) >>> 0;
const dstOf = (b: Uint8Array) => ((b[16]! << 24) | (b[17]! << 16) | (b[18]! << 8) | b[19]!) >>> 0;
/** Every checksum of an IPv4 packet verifies (its layers must include the IPv4 header and what
 *  follows it). */
function verifies(b: Uint8Array): boolean {
  const d = dissectIpv4Packet(b);
  if (d.layers.length < 2 || d.layers[0]!.kind !== "ipv4") throw new Error("not dissected as IPv4");
  return d.error === WireError.OK;
}

function host(seed = 5) {
  const ct = new ConntrackTable(new Clock(), new Rng(seed));
  /** A container's packet leaving through MASQUERADE (flags/ports extra) to the host address. */
  const masq = (b: Uint8Array, flags = 0, lo = 0, hi = 0) => {
    const ref = ct.track(b, 0);
    natSetup(ct, ref, NAT_MANIP_SRC, NAT_MAP_IPS | flags, HOST, HOST, lo, hi);
    natPacket(ct, ref, NAT_MANIP_SRC, b, 0);
    return ct.confirm(ref);
  };
  /** An unNATed packet through both hooks (null bindings), as the host's own traffic. */
  const plain = (b: Uint8Array) => {
    const ref = ct.track(b, 0);
    natNullBinding(ct, ref, NAT_MANIP_DST);
    natPacket(ct, ref, NAT_MANIP_DST, b, 0);
    natNullBinding(ct, ref, NAT_MANIP_SRC);
    natPacket(ct, ref, NAT_MANIP_SRC, b, 0);
    return ct.confirm(ref);
  };
  return { ct, masq, plain };
}

describe("source port selection", () => {
  test("two containers with the same source port to the same destination: the first keeps it, the second gets another in the band", () => {
    for (const [p, lo, hi] of [[40000, 1024, 65535], [500, 1, 511], [700, 600, 1023], [1024, 1024, 65535], [600, 600, 1023], [1, 1, 511]] as const) {
      const { ct, masq } = host(p);
      const a = U("172.17.0.2", p, "8.8.8.8", 53);
      masq(a);
      expect(sport(a)).toBe(p);
      expect(srcOf(a)).toBe(HOST);
      const b = U("172.17.0.3", p, "8.8.8.8", 53);
      const ref = masq(b);
      expect(sport(b)).not.toBe(p);
      expect(sport(b)).toBeGreaterThanOrEqual(lo);
      expect(sport(b)).toBeLessThanOrEqual(hi);
      expect(ct.statusOf(refEntry(ref)) & IPS_SRC_NAT).toBeTruthy();
      expect(verifies(a) && verifies(b)).toBe(true);
      // the second's reply comes back to it, un-NATed at PREROUTING
      const reply = U("8.8.8.8", 53, "192.168.1.10", sport(b));
      const r = ct.track(reply, 0);
      expect(refEntry(r)).toBe(refEntry(ref));
      expect(refCtinfo(r)).toBe(IP_CT_ESTABLISHED_REPLY);
      natPacket(ct, r, NAT_MANIP_DST, reply, 0);
      expect(dstOf(reply)).toBe(ip("172.17.0.3"));
      expect(dport(reply)).toBe(p);
      expect(verifies(reply)).toBe(true);
    }
  });

  test("a source keeps its mapping for new destinations (find_appropriate_src), so the port stays the same per container", () => {
    const { masq } = host();
    const a1 = U("172.17.0.2", 40000, "8.8.8.8", 53);
    masq(a1);
    const b1 = U("172.17.0.3", 40000, "8.8.8.8", 53);
    masq(b1);
    const mapped = sport(b1);
    const b2 = U("172.17.0.3", 40000, "1.1.1.1", 53);
    masq(b2);
    expect(sport(b2)).toBe(mapped);
    const a2 = U("172.17.0.2", 40000, "1.1.1.1", 53);
    masq(a2);
    expect(sport(a2)).toBe(40000);
  });

  test("--random-fully picks a random port in the band even when the original is free", () => {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 8; seed++) {
      const { masq } = host(seed);
      const b = U("172.17.0.2", 40000, "8.8.8.8", 53);
      masq(b, NAT_RANDOM_FULLY);
      expect(sport(b)).toBeGreaterThanOrEqual(1024);
      seen.add(sport(b));
    }
    expect(seen.has(40000)).toBe(false);
    expect(seen.size).toBeGreaterThan(6);
  });

  test("--to-ports 1000-1003: every mapping inside, the original kept when inside and free, the fifth colliding flow dropped at confirm", () => {
    const { ct, masq } = host();
    const ports: number[] = [];
    for (let i = 0; i < 4; i++) {
      const b = U(`172.17.0.${2 + i}`, 1001, "8.8.8.8", 53);
      expect(masq(b, NAT_PROTO_SPECIFIED, 1000, 1003)).toBeGreaterThanOrEqual(0);
      ports.push(sport(b));
    }
    expect(ports[0]).toBe(1001);
    expect([...ports].sort()).toEqual([1000, 1001, 1002, 1003]);
    expect(masq(U("172.17.0.9", 1001, "8.8.8.8", 53), NAT_PROTO_SPECIFIED, 1000, 1003)).toBe(CTREF_CLASH);
    expect(ct.insertFailed).toBe(1);
    // a different destination has all four ports free again
    const other = U("172.17.0.9", 1001, "9.9.9.9", 53);
    expect(masq(other, NAT_PROTO_SPECIFIED, 1000, 1003)).toBeGreaterThanOrEqual(0);
    expect(ct.audit()).toBeNull();
  });

  test("ICMP echo ids: kept when free, else any id", () => {
    const { masq } = host();
    const a = E("172.17.0.2", "8.8.8.8", 8, 77);
    masq(a);
    expect((a[24]! << 8) | a[25]!).toBe(77);
    const b = E("172.17.0.3", "8.8.8.8", 8, 77);
    masq(b);
    expect((b[24]! << 8) | b[25]!).not.toBe(77);
    expect(verifies(a) && verifies(b)).toBe(true);
  });

  test("the null binding moves the port of a connection whose tuple is another's translated reply", () => {
    // 172.17.0.2:40000 -> 8.8.8.8:53 is masqueraded to 192.168.1.10:40000; then the host itself
    // connects from 192.168.1.10:40000 to 8.8.8.8:53: same reply tuple, so its port must change
    const { ct, masq, plain } = host();
    masq(U("172.17.0.2", 40000, "8.8.8.8", 53));
    const own = U("192.168.1.10", 40000, "8.8.8.8", 53);
    const ref = plain(own);
    expect(ref).toBeGreaterThanOrEqual(0);
    expect(srcOf(own)).toBe(HOST);
    expect(sport(own)).not.toBe(40000);
    expect(sport(own)).toBeGreaterThanOrEqual(1024);
    expect(ct.statusOf(refEntry(ref)) & IPS_SRC_NAT).toBeTruthy();
    // without the clash nothing changes
    const free = U("192.168.1.10", 40001, "8.8.8.8", 53);
    const r2 = plain(free);
    expect(sport(free)).toBe(40001);
    expect(ct.statusOf(refEntry(r2)) & (IPS_SRC_NAT | IPS_DST_NAT)).toBe(0);
  });

  test("the last tries of a TCP SYN evict a colliding masqueraded entry in TIME_WAIT whose sequence is behind", () => {
    const { ct, masq } = host();
    // one port only: --to-ports 5000
    const seg = (src: string, flags: number, seq: number, ack = 0) => pkt(src, "8.8.8.8", 6, [tcp({ srcPort: 40000, dstPort: 80, flags, seq, ack }), raw(0)]);
    const back = (flags: number, seq: number, ack: number) => pkt("8.8.8.8", "192.168.1.10", 6, [tcp({ srcPort: 80, dstPort: 5000, flags, seq, ack }), raw(0)]);
    masq(seg("172.17.0.2", 0x02, 100), NAT_PROTO_SPECIFIED, 5000, 5000);
    const through = (b: Uint8Array) => ct.confirm(ct.track(b, 0));
    through(back(0x12, 900, 101));
    through(seg("172.17.0.2", 0x10, 101, 901));
    through(seg("172.17.0.2", 0x11, 101, 901));
    through(back(0x11, 901, 102));
    through(seg("172.17.0.2", 0x10, 102, 902));
    const old = ct.find(6, ip("172.17.0.2"), ip("8.8.8.8"), 40000, 80) >> 1;
    expect(ct.tcpState(old)).toBe(7);
    // another container, same port range, a SYN with a later sequence number
    const r = masq(seg("172.17.0.3", 0x02, 5000), NAT_PROTO_SPECIFIED, 5000, 5000);
    expect(r).toBeGreaterThanOrEqual(0);
    expect(ct.find(6, ip("172.17.0.2"), ip("8.8.8.8"), 40000, 80)).toBe(-1);
    expect(ct.count).toBe(1);
    expect(ct.audit()).toBeNull();
  });

  test("an address range: the address is jhash(source, destination) scaled into the range, stable per pair; --persistent ignores the destination", () => {
    const lo = ip("10.9.0.1"), hi = ip("10.9.0.8");
    const pick = (src: string, dst: string, flags: number) => {
      const ct = new ConntrackTable(new Clock(), new Rng(1));
      const b = U(src, 40000, dst, 53);
      const ref = ct.track(b, 0);
      natSetup(ct, ref, NAT_MANIP_SRC, NAT_MAP_IPS | flags, lo, hi, 0, 0);
      natPacket(ct, ref, NAT_MANIP_SRC, b, 0);
      return srcOf(b);
    };
    const expected = (src: number, dst: number, persistent: boolean) => (lo + reciprocalScale(jhash1(bswap32(src), persistent ? 0 : bswap32(dst)), hi - lo + 1)) >>> 0;
    const dsts = ["8.8.8.8", "1.1.1.1", "9.9.9.9", "4.4.4.4", "208.67.222.222"];
    const got = dsts.map((d) => pick("172.17.0.2", d, 0));
    for (let i = 0; i < dsts.length; i++) {
      expect(got[i]).toBe(expected(ip("172.17.0.2"), ip(dsts[i]!), false));
      expect(got[i]).toBeGreaterThanOrEqual(lo);
      expect(got[i]).toBeLessThanOrEqual(hi);
    }
    expect(new Set(got).size).toBeGreaterThan(1);
    const persistent = dsts.map((d) => pick("172.17.0.2", d, NAT_PERSISTENT));
    expect(new Set(persistent).size).toBe(1);
    expect(persistent[0]).toBe(expected(ip("172.17.0.2"), 0, true));
  });

  test("jhash2 of one word and reciprocal_scale: the values C gives (u32 arithmetic, include/linux/jhash.h)", () => {
    // [k, initval, jhash2(&k, 1, initval)] from the header's code compiled with gcc
    const cases = [
      [0x00000000, 0x00000000, 0x049396b8], [0x00000000, 0x08080808, 0xf5b6c44d], [0x00000001, 0x00000000, 0x72a82a9b],
      [0x00000001, 0xdeadbeef, 0xc393af12], [0x020011ac, 0x08080808, 0x99489cbc], [0x020011ac, 0x01010101, 0x317edccd],
      [0xffffffff, 0x00000000, 0x9b11c75b], [0xffffffff, 0xdeadbeef, 0xc5f9410e],
    ];
    for (const [k, iv, h] of cases) expect(jhash1(k!, iv!)).toBe(h);
    // 172.17.0.2 read as a little-endian u32 is 0x020011ac
    expect(bswap32(ip("172.17.0.2"))).toBe(0x020011ac);
    expect(reciprocalScale(0x9e3779b1, 8)).toBe(4);
    expect(reciprocalScale(0x9e3779b1, 1000003)).toBe(618035);
    expect(reciprocalScale(0xffffffff, 8)).toBe(7);
    expect(reciprocalScale(0xffffffff, 0)).toBe(0);
  });
});

describe("DNAT and the reply's un-NAT", () => {
  test("to ip:port, with the reply's source restored at POSTROUTING; checksums verify", () => {
    const ct = new ConntrackTable(new Clock(), new Rng(9));
    const b = T("203.0.113.5", 51000, "192.168.1.10", 8080, 0x02);
    const ref = ct.track(b, 0);
    natSetup(ct, ref, NAT_MANIP_DST, NAT_MAP_IPS | NAT_PROTO_SPECIFIED, ip("172.17.0.2"), ip("172.17.0.2"), 80, 80);
    natPacket(ct, ref, NAT_MANIP_DST, b, 0);
    natNullBinding(ct, ref, NAT_MANIP_SRC);
    natPacket(ct, ref, NAT_MANIP_SRC, b, 0);
    ct.confirm(ref);
    expect(dstOf(b)).toBe(ip("172.17.0.2"));
    expect(dport(b)).toBe(80);
    expect(srcOf(b)).toBe(ip("203.0.113.5"));
    expect(verifies(b)).toBe(true);
    const reply = T("172.17.0.2", 80, "203.0.113.5", 51000, 0x12);
    const r = ct.track(reply, 0);
    expect(refEntry(r)).toBe(refEntry(ref));
    expect(natPacket(ct, r, NAT_MANIP_DST, reply, 0)).toBe(false);
    expect(natPacket(ct, r, NAT_MANIP_SRC, reply, 0)).toBe(true);
    expect(srcOf(reply)).toBe(HOST);
    expect(sport(reply)).toBe(8080);
    expect(verifies(reply)).toBe(true);
  });

  test("without a port the destination port never changes; a DNATed ICMP echo keeps its id", () => {
    const ct = new ConntrackTable(new Clock(), new Rng(9));
    const b = U("203.0.113.5", 51000, "192.168.1.10", 8080);
    const ref = ct.track(b, 0);
    natSetup(ct, ref, NAT_MANIP_DST, NAT_MAP_IPS, ip("172.17.0.2"), ip("172.17.0.2"), 0, 0);
    natPacket(ct, ref, NAT_MANIP_DST, b, 0);
    expect(dport(b)).toBe(8080);
    expect(dstOf(b)).toBe(ip("172.17.0.2"));
    const e = E("203.0.113.5", "192.168.1.10", 8, 9);
    const er = ct.track(e, 0);
    natSetup(ct, er, NAT_MANIP_DST, NAT_MAP_IPS, ip("172.17.0.2"), ip("172.17.0.2"), 0, 0);
    natPacket(ct, er, NAT_MANIP_DST, e, 0);
    expect((e[24]! << 8) | e[25]!).toBe(9);
    expect(verifies(e)).toBe(true);
  });
});

describe("ICMP errors of translated connections", () => {
  test("a time exceeded quoting only 8 bytes of a masqueraded TCP segment: quoted ports and addresses back, ICMP checksum right", () => {
    const { ct, masq } = host();
    masq(T("172.17.0.2", 40000, "8.8.8.8", 443, 0x02)); // takes 40000 towards 8.8.8.8:443
    const syn = T("172.17.0.3", 40000, "8.8.8.8", 443, 0x02);
    const ref = masq(syn);
    const mapped = sport(syn);
    // a router on the way quotes the IPv4 header and 8 bytes of the translated segment
    const quote = syn.subarray(0, 28);
    const err = buildFrame([ipv4({ src: ip("10.1.1.1"), dst: HOST, protocol: 1 }), icmpError(11, 0), raw(quote)]);
    const r = ct.track(err, 0);
    expect(refEntry(r)).toBe(refEntry(ref));
    expect(natIcmpReplyTranslation(ct, r, NAT_MANIP_DST, err, 0)).toBe(true);
    expect(dstOf(err)).toBe(ip("172.17.0.3"));
    const q = err.subarray(28);
    expect(srcOf(q)).toBe(ip("172.17.0.3"));
    expect(sport(q)).toBe(40000);
    expect(mapped).not.toBe(40000);
    // the quoted TCP checksum is beyond the 8 bytes: untouched; the rest verifies
    expect(verifies(err)).toBe(true);
    // at the other hook nothing more to do
    const copy = err.slice();
    expect(natIcmpReplyTranslation(ct, r, NAT_MANIP_SRC, err, 0)).toBe(true);
    expect(err).toEqual(copy);
  });

  test("a redirect for a translated connection is dropped", () => {
    const { ct, masq } = host();
    const b = U("172.17.0.2", 40000, "8.8.8.8", 53);
    masq(b);
    const red = buildFrame([ipv4({ src: ip("10.1.1.1"), dst: HOST, protocol: 1 }), { ...icmpError(5, 1), rest: ip("10.1.1.2") }, raw(b.subarray(0, 28))]);
    const r = ct.track(red, 0);
    expect(r).toBeGreaterThanOrEqual(0);
    expect(natIcmpReplyTranslation(ct, r, NAT_MANIP_DST, red, 0)).toBe(false);
  });
});
