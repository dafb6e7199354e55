// The table and NAT against what a real kernel did (scripts/capture-fixtures-conntrack.sh): the
// same flows driven through a router built from the table the way Linux's hooks use it
// (conntrack at PREROUTING/OUTPUT, DNAT or a null binding on the first packet, MASQUERADE on
// `-o veth-rs` or a null binding at POSTROUTING/INPUT, confirm at the last hook), then
// `conntrack -L` compared with the kernel's listing line by line, and the router's rewrites
// compared byte for byte with the frames the kernel sent.
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { Clock } from "../engine/clock.js";
import { Rng } from "../engine/rng.js";
import { formatIpv4, parseIpv4 } from "../../core/addr.js";
import { buildFrame, type Layer } from "../../core/wire/frame.js";
import { icmpEcho, icmpError, ipv4, raw, tcp, udp } from "../../core/wire/layers.js";
import { ipv4DecTtl } from "../../core/wire/ipv4.js";
import { ConntrackTable } from "./conntrack.js";
import { IPS_CONFIRMED, IP_CT_NEW, IP_CT_RELATED, IP_CT_RELATED_REPLY, NAT_MANIP_DST, NAT_MANIP_SRC, refCtinfo, refEntry } from "./conntrack-bits.js";
import { formatConntrackList } from "./conntrack-dump.js";
import { NAT_MAP_IPS, NAT_PROTO_SPECIFIED, natNullBinding, natSetup } from "./nat-tuple.js";
import { natIcmpReplyTranslation, natPacket } from "./nat-packet.js";

const S = 1e9;
const fx = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");
const ip = parseIpv4;
const RC = ip("10.99.1.254"), RS = ip("10.99.2.254");
const F = 0x01, SYN = 0x02, R = 0x04, P = 0x08, A = 0x10;

/** The capture's router: conntrack, `-t nat -A POSTROUTING -o veth-rs -j MASQUERADE`, and the DNAT
 *  of udp 10.99.1.254:5353 to 10.99.2.1:7777 (from veth-rc). */
class Router {
  readonly clock = new Clock();
  readonly ct = new ConntrackTable(this.clock, new Rng(11));
  /** Force the source port/id MASQUERADE gives the next new connection (to replay a kernel's random choice). */
  forcePort = -1;

  at(seconds: number): this {
    this.clock.advanceTo(seconds * S);
    return this;
  }

  /** A packet arriving from veth-rc or veth-rs (or, with `local`, sent by the router itself):
   *  through the hooks; returns its reference (negative: not tracked). */
  receive(b: Uint8Array, local = false): number {
    const ct = this.ct;
    let ref = ct.track(b, 0);
    if (ref < 0) return ref;
    // PREROUTING / OUTPUT: destination NAT
    this.nat(ref, NAT_MANIP_DST, b, local);
    const dst = (b[16]! << 24) | (b[17]! << 16) | (b[18]! << 8) | b[19]!;
    const toRouter = dst === (RC | 0) || dst === (RS | 0);
    // POSTROUTING / INPUT: source NAT; MASQUERADE for new connections out of veth-rs
    const outRs = !toRouter && (dst & 0xffffff00) === (ip("10.99.2.0") | 0);
    this.nat(ref, NAT_MANIP_SRC, b, local, outRs && !local);
    ref = ct.confirm(ref);
    return ref;
  }

  private nat(ref: number, manip: number, b: Uint8Array, _local: boolean, masquerade = false): void {
    const ct = this.ct;
    const info = refCtinfo(ref);
    if (info === IP_CT_RELATED || info === IP_CT_RELATED_REPLY) {
      expect(natIcmpReplyTranslation(ct, ref, manip, b, 0)).toBe(true);
      return;
    }
    if (info === IP_CT_NEW && !(ct.statusOf(refEntry(ref)) & IPS_CONFIRMED)) {
      const e = refEntry(ref);
      if (manip === NAT_MANIP_DST && ct.protoOf(e) === 17 && ct.tDst(e * 2) === (RC | 0) && ct.tDport(e * 2) === 5353) {
        natSetup(ct, ref, manip, NAT_MAP_IPS | NAT_PROTO_SPECIFIED, ip("10.99.2.1"), ip("10.99.2.1"), 7777, 7777);
      } else if (masquerade) {
        if (this.forcePort >= 0) natSetup(ct, ref, manip, NAT_MAP_IPS | NAT_PROTO_SPECIFIED, RS, RS, this.forcePort, this.forcePort);
        else natSetup(ct, ref, manip, NAT_MAP_IPS, RS, RS, 0, 0);
        this.forcePort = -1;
      } else natNullBinding(ct, ref, manip);
    }
    natPacket(ct, ref, manip, b, 0);
  }
}

const pkt = (src: string, dst: string, proto: number, l4: Layer[]): Uint8Array => buildFrame([ipv4({ src: ip(src), dst: ip(dst), protocol: proto }), ...l4]);
const U = (src: string, sp: number, dst: string, dp: number) => pkt(src, dst, 17, [udp(sp, dp), raw(8)]);
const T = (src: string, sp: number, dst: string, dp: number, flags: number, seq: number, ack: number, len = 0) => pkt(src, dst, 6, [tcp({ srcPort: sp, dstPort: dp, flags, seq, ack }), raw(len)]);
const E = (src: string, dst: string, type: 0 | 8, id: number) => pkt(src, dst, 1, [icmpEcho(type, id, 1), raw(8)]);

/** The fixture's marks (seconds, relative to the first) and kernel lines. */
function listing(text: string) {
  const marks = new Map<string, number>();
  let t0 = NaN, dump = NaN;
  const lines: string[] = [];
  for (const l of text.split("\n")) {
    const m = /^# mark (\S+) ([\d.]+)/.exec(l);
    if (m) {
      if (isNaN(t0)) t0 = +m[2]!;
      marks.set(m[1]!, +m[2]! - t0);
    } else if (l.startsWith("# dump ")) dump = +l.slice(7) - t0;
    else if (l && !l.startsWith("#")) lines.push(l);
  }
  return { marks, dump, lines };
}

const timeoutOf = (l: string) => +l.split(/ +/)[2]!;
const withoutTimeout = (l: string) => l.split(/ +/).filter((_, i) => i !== 2).join(" ");

describe("conntrack -L against Linux 6.18 (fixtures/conntrack-list.txt)", () => {
  test("the same flows give the same entries, states, flags, NAT tuples and (within a second) timeouts", () => {
    const { marks, dump, lines } = listing(fx("conntrack-list.txt"));
    const r = new Router();
    const base = 10; // virtual seconds of the first mark
    const at = (name: string, delta = 0) => r.at(base + marks.get(name)! + delta);
    // the neighbour pings before the flows (ids from the kernel's lines)
    const pingIds = lines.filter((l) => /dst=10\.99\.[12]\.254 type=8/.test(l)).map((l) => [/src=(\S+)/.exec(l)![1]!, /dst=(\S+)/.exec(l)![1]!, +/id=(\d+)/.exec(l)![1]!] as const);
    at("udp-unreplied", -1.1);
    for (const [s, d, id] of pingIds) {
      r.receive(E(s, d, 8, id));
      r.receive(E(d, s, 0, id), true);
    }
    at("udp-unreplied", -1);
    r.receive(U("10.99.1.1", 40001, "10.99.2.1", 7778));
    at("udp-replied");
    r.receive(U("10.99.1.1", 40002, "10.99.2.1", 7777));
    r.receive(U("10.99.2.1", 7777, "10.99.2.254", 40002));
    at("udp-assured", -2.5);
    r.receive(U("10.99.1.1", 40003, "10.99.2.1", 7777));
    r.receive(U("10.99.2.1", 7777, "10.99.2.254", 40003));
    at("udp-assured");
    r.receive(U("10.99.1.1", 40003, "10.99.2.1", 7777));
    r.receive(U("10.99.2.1", 7777, "10.99.2.254", 40003));
    at("udp-dnat");
    r.receive(U("10.99.1.1", 40004, "10.99.1.254", 5353));
    r.receive(U("10.99.2.1", 7777, "10.99.2.254", 40004));
    at("udp-plain");
    r.receive(U("10.99.2.1", 6001, "10.99.1.1", 6000));
    r.receive(U("10.99.1.1", 6000, "10.99.2.1", 6001));
    at("tcp-open");
    let c = 1000, s = 9000;
    const cs = (f: number, len = 0) => { r.receive(T("10.99.1.1", 40005, "10.99.2.1", 8000, f, c, f & A ? s : 0, len)); c += len + (f & (SYN | F) ? 1 : 0); };
    const sc = (f: number, len = 0) => { r.receive(T("10.99.2.1", 8000, "10.99.2.254", 40005, f, s, f & A ? c : 0, len)); s += len + (f & (SYN | F) ? 1 : 0); };
    cs(SYN), sc(SYN | A), cs(A), cs(P | A, 5), sc(A), sc(P | A, 5), cs(A);
    at("tcp-closed");
    c = 2000, s = 7000;
    const cs2 = (f: number, len = 0) => { r.receive(T("10.99.1.1", 40006, "10.99.2.1", 8001, f, c, f & A ? s : 0, len)); c += len + (f & (SYN | F) ? 1 : 0); };
    const sc2 = (f: number, len = 0) => { r.receive(T("10.99.2.1", 8001, "10.99.2.254", 40006, f, s, f & A ? c : 0, len)); s += len + (f & (SYN | F) ? 1 : 0); };
    cs2(SYN), sc2(SYN | A), cs2(A), cs2(P | A, 5), sc2(A), sc2(P | A, 5), cs2(A), cs2(F | A), sc2(F | A), cs2(A);
    at("tcp-synsent", -1.5);
    r.receive(T("10.99.1.1", 40007, "10.99.2.1", 9999, SYN, 3000, 0));
    at("tcp-synsent", -0.5);
    r.receive(T("10.99.1.1", 40007, "10.99.2.1", 9999, SYN, 3000, 0));
    at("tcp-refused");
    r.receive(T("10.99.1.1", 40008, "10.99.2.1", 9, SYN, 4000, 0));
    r.receive(T("10.99.2.1", 9, "10.99.2.254", 40008, R | A, 0, 4001));
    at("icmp-echo");
    r.receive(E("10.99.1.1", "10.99.2.1", 8, 0x1234));
    r.receive(E("10.99.2.1", "10.99.2.254", 0, 0x1234));
    at("generic");
    const g = pkt("10.99.1.1", "10.99.2.1", 253, [raw(8)]);
    r.receive(g.slice());
    // the server's protocol unreachable, quoting the translated datagram: RELATED, changes nothing
    const quoted = pkt("10.99.2.254", "10.99.2.1", 253, [raw(8)]);
    const unreach = buildFrame([ipv4({ src: ip("10.99.2.1"), dst: RS, protocol: 1 }), icmpError(3, 2), { ...ipv4({ src: RS, dst: ip("10.99.2.1"), protocol: 253 }) }, raw(quoted.subarray(20))]);
    expect(refCtinfo(r.receive(unreach))).toBe(IP_CT_RELATED_REPLY);
    r.at(base + dump);

    const ours = formatConntrackList(r.ct);
    expect(ours.length).toBe(lines.length);
    for (const k of lines) {
      const mine = ours.find((o) => withoutTimeout(o) === withoutTimeout(k));
      expect(mine, `no entry like: ${k}\nours:\n${ours.join("\n")}`).toBeDefined();
      expect(Math.abs(timeoutOf(mine!) - timeoutOf(k)), `${mine} vs ${k}`).toBeLessThanOrEqual(1);
    }
    // the refused connection is in neither listing
    expect(lines.some((l) => l.includes("sport=40008"))).toBe(false);
    expect(r.ct.audit()).toBeNull();
  });

  test("defaults equal the kernel's sysctls (fixtures/conntrack-sysctl.txt)", () => {
    const sys = new Map(fx("conntrack-sysctl.txt").trim().split("\n").map((l) => l.split(" = ") as [string, string]));
    const ct = new ConntrackTable(new Clock(), new Rng(1));
    expect(ct.max).toBe(+sys.get("nf_conntrack_max")!);
    expect(ct.params.udpTimeout / S).toBe(+sys.get("nf_conntrack_udp_timeout")!);
    expect(ct.params.udpTimeoutStream / S).toBe(+sys.get("nf_conntrack_udp_timeout_stream")!);
    expect(ct.params.icmpTimeout / S).toBe(+sys.get("nf_conntrack_icmp_timeout")!);
    expect(ct.params.genericTimeout / S).toBe(+sys.get("nf_conntrack_generic_timeout")!);
    const names = ["", "syn_sent", "syn_recv", "established", "fin_wait", "close_wait", "last_ack", "time_wait", "close"];
    for (let i = 1; i < names.length; i++) expect(ct.tcp.timeouts[i]! / S, names[i]).toBe(+sys.get(`nf_conntrack_tcp_timeout_${names[i]}`)!);
    expect(ct.tcp.timeouts[10]! / S).toBe(+sys.get("nf_conntrack_tcp_timeout_max_retrans")!);
    expect(ct.tcp.timeouts[11]! / S).toBe(+sys.get("nf_conntrack_tcp_timeout_unacknowledged")!);
    expect(ct.params.tcp.loose).toBe(sys.get("nf_conntrack_tcp_loose") === "1");
    expect(ct.params.tcp.maxRetrans).toBe(+sys.get("nf_conntrack_tcp_max_retrans")!);
  });
});

/** The IPv4 packet of a `tcpdump -xx` fixture (after the 14-byte Ethernet header). */
function frameOf(name: string): Uint8Array {
  const hex = fx(name).split("\n").filter((l) => /^\s+0x[0-9a-f]+:/.test(l)).map((l) => l.replace(/^\s+0x[0-9a-f]+:\s+/, "").replace(/\s+/g, "")).join("");
  return Uint8Array.from(Buffer.from(hex, "hex")).subarray(14);
}
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("NAT rewrites against the kernel's frames (fixtures/conntrack-nat-*.hex)", () => {
  test("MASQUERADE of a UDP datagram and of a TCP SYN: addresses, checksums (the kernel kept the ports)", () => {
    for (const name of ["udp-out", "tcp-syn"]) {
      const r = new Router();
      const b = frameOf(`conntrack-nat-${name}-before.hex`).slice();
      expect(r.receive(b)).toBeGreaterThanOrEqual(0);
      ipv4DecTtl(b, 0); // forwarding's decrement
      expect(hex(b), name).toBe(hex(frameOf(`conntrack-nat-${name}-after.hex`)));
    }
  });

  test("a port unreachable for a masqueraded datagram: outer destination and quoted source translated back", () => {
    const r = new Router();
    const out = frameOf("conntrack-nat-udp-out-before.hex").slice();
    r.receive(out);
    const err = frameOf("conntrack-nat-icmp-error-before.hex").slice();
    const ref = r.receive(err);
    expect(refCtinfo(ref)).toBe(IP_CT_RELATED_REPLY);
    ipv4DecTtl(err, 0);
    expect(hex(err)).toBe(hex(frameOf("conntrack-nat-icmp-error-after.hex")));
  });

  test("an echo request whose id collides: MASQUERADE changes the id (to the kernel's choice when forced)", () => {
    const before = frameOf("conntrack-nat-echo-collide-before.hex");
    const after = frameOf("conntrack-nat-echo-collide-after.hex");
    const keptId = (before[24]! << 8) | before[25]!;
    const kernelId = (after[24]! << 8) | after[25]!;
    const r = new Router();
    // 10.99.1.1 took the id first
    r.receive(E("10.99.1.1", "10.99.2.1", 8, keptId));
    const mine = before.slice();
    r.receive(mine);
    const myId = (mine[24]! << 8) | mine[25]!;
    expect(myId).not.toBe(keptId);
    expect(formatIpv4(((mine[12]! << 24) | (mine[13]! << 16) | (mine[14]! << 8) | mine[15]!) >>> 0)).toBe("10.99.2.254");
    // the same translation as the kernel's, byte for byte
    const r2 = new Router();
    r2.receive(E("10.99.1.1", "10.99.2.1", 8, keptId));
    r2.forcePort = kernelId;
    const b = before.slice();
    r2.receive(b);
    ipv4DecTtl(b, 0);
    expect(hex(b)).toBe(hex(after));
  });
});

describe("collisions a real kernel resolved (fixtures/conntrack-collide.txt)", () => {
  const band = (p: number) => (p < 512 ? [1, 511] : p < 1024 ? [600, 1023] : [1024, 65535]) as [number, number];

  test("the kernel moved every second source's port within its band (udp 500..504 -> 1..511, 700..704 -> 600..1023, 4002x -> 1024..65535) and changed the echo ids", () => {
    const { lines } = listing(fx("conntrack-collide.txt"));
    const rows = lines.map((l) => ({ icmp: l.startsWith("icmp"), src: /src=(\S+)/.exec(l)![1]!, orig: +/(?:sport|id)=(\d+)/.exec(l)![1]!, mapped: +/(?:dport|id)=(\d+) mark/.exec(l)![1]! }));
    expect(rows.length).toBeGreaterThan(20); // the first flows (30 s UDP timeout) may have expired before the listing
    for (const k of rows.filter((x) => x.src === "10.99.1.2")) {
      expect(k.mapped).not.toBe(k.orig);
      if (k.icmp) continue;
      const [lo, hi] = band(k.orig);
      expect(k.mapped).toBeGreaterThanOrEqual(lo);
      expect(k.mapped).toBeLessThanOrEqual(hi);
    }
    // no two connections share a mapped port (the reply tuples differ only there)
    const udpMapped = rows.filter((x) => !x.icmp).map((x) => x.mapped);
    expect(new Set(udpMapped).size).toBe(udpMapped.length);
  });

  test("ours, for the same flows: the first source keeps its port unless a mapping took it, the second moves within the band", () => {
    const r = new Router();
    const taken = new Set<number>();
    for (const p of [500, 501, 502, 503, 504, 700, 701, 702, 703, 704, 40020, 40021, 40022, 40023, 40024]) {
      const first = U("10.99.1.1", p, "10.99.2.1", 7778);
      r.receive(first);
      const m1 = (first[20]! << 8) | first[21]!;
      if (!taken.has(p)) expect(m1).toBe(p);
      else expect(m1).not.toBe(p);
      taken.add(m1);
      const second = U("10.99.1.2", p, "10.99.2.1", 7778);
      r.receive(second);
      const m2 = (second[20]! << 8) | second[21]!;
      expect(taken.has(m2)).toBe(false);
      const [lo, hi] = band(p);
      expect(m2).toBeGreaterThanOrEqual(lo);
      expect(m2).toBeLessThanOrEqual(hi);
      taken.add(m2);
    }
    for (const id of [0x2000, 0x2001, 0x2002]) {
      const a = E("10.99.1.1", "10.99.2.1", 8, id);
      r.receive(a);
      expect((a[24]! << 8) | a[25]!).toBe(id);
      const b = E("10.99.1.2", "10.99.2.1", 8, id);
      r.receive(b);
      expect((b[24]! << 8) | b[25]!).not.toBe(id);
    }
    expect(r.ct.count).toBe(36);
    expect(r.ct.audit()).toBeNull();
  });
});
