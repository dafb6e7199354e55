// The table itself: lookups by either tuple, confirm/discard, timeouts on the virtual clock, the
// UDP and ICMP trackers, RELATED lookups, the full table (early drop, conntrack-full), growth,
// the memory per entry, and the ctstate bits the rules test.
import { describe, expect, test } from "vitest";
import { Clock } from "../engine/clock.js";
import { Rng } from "../engine/rng.js";
import { parseIpv4 } from "../../core/addr.js";
import { buildFrame, type Layer } from "../../core/wire/frame.js";
import { icmpEcho, icmpError, ipv4, raw, tcp, udp } from "../../core/wire/layers.js";
import { ConntrackTable } from "./conntrack.js";
import {
  CTREF_CLASH, CTREF_DROP, CTREF_INVALID, CTSTATE_DNAT, CTSTATE_ESTABLISHED, CTSTATE_INVALID, CTSTATE_NEW, CTSTATE_RELATED, CTSTATE_SNAT, CTSTATE_UNTRACKED,
  IP_CT_ESTABLISHED, IP_CT_ESTABLISHED_REPLY, IP_CT_NEW, IP_CT_RELATED, IP_CT_RELATED_REPLY, IPS_ASSURED, IPS_CONFIRMED, IPS_SEEN_REPLY, NAT_MANIP_DST,
  NAT_MANIP_SRC, refCtinfo, refDir, refEntry, relatedRef,
} from "./conntrack-bits.js";
import { formatConntrackList } from "./conntrack-dump.js";
import { NAT_MAP_IPS, NAT_PROTO_SPECIFIED, natSetup } from "./nat-tuple.js";
import * as rules from "./rules.js";

const S = 1e9;
const ip = parseIpv4;
const pkt = (src: string, dst: string, proto: number, l4: Layer[]) => buildFrame([ipv4({ src: ip(src), dst: ip(dst), protocol: proto }), ...l4]);
const U = (src: string, sp: number, dst: string, dp: number) => pkt(src, dst, 17, [udp(sp, dp), raw(8)]);
const E = (src: string, dst: string, type: 0 | 8, id: number) => pkt(src, dst, 1, [icmpEcho(type, id, 1), raw(8)]);

function table(params = {}) {
  const clock = new Clock();
  const ct = new ConntrackTable(clock, new Rng(3), params);
  /** track + confirm, as one packet through every hook. */
  const send = (b: Uint8Array) => ct.confirm(ct.track(b, 0));
  const left = (ref: number) => (ct.deadlineOf(refEntry(ref)) - clock.now) / S;
  return { clock, ct, send, left };
}

describe("lookup and confirm", () => {
  test("an entry is found by both tuples, with direction; unconfirmed entries are not in the table", () => {
    const { ct } = table();
    const ref = ct.track(U("10.0.0.1", 1000, "10.0.0.2", 53), 0);
    expect(refCtinfo(ref)).toBe(IP_CT_NEW);
    const e = refEntry(ref);
    expect(ct.find(17, ip("10.0.0.1"), ip("10.0.0.2"), 1000, 53)).toBe(-1);
    expect(formatConntrackList(ct)).toEqual([]);
    expect(ct.confirm(ref)).toBe(ref);
    expect(ct.statusOf(e) & IPS_CONFIRMED).toBeTruthy();
    expect(ct.find(17, ip("10.0.0.1"), ip("10.0.0.2"), 1000, 53)).toBe(e * 2);
    expect(ct.find(17, ip("10.0.0.2"), ip("10.0.0.1"), 53, 1000)).toBe(e * 2 + 1);
    expect(ct.find(17, ip("10.0.0.2"), ip("10.0.0.1"), 53, 1001)).toBe(-1);
    expect(ct.find(6, ip("10.0.0.1"), ip("10.0.0.2"), 1000, 53)).toBe(-1);
  });

  test("ctinfo: NEW until a reply, ESTABLISHED_REPLY for replies, ESTABLISHED after", () => {
    const { send } = table();
    const a = send(U("10.0.0.1", 1000, "10.0.0.2", 53));
    expect(refCtinfo(send(U("10.0.0.1", 1000, "10.0.0.2", 53)))).toBe(IP_CT_NEW);
    const r = send(U("10.0.0.2", 53, "10.0.0.1", 1000));
    expect(refCtinfo(r)).toBe(IP_CT_ESTABLISHED_REPLY);
    expect(refDir(r)).toBe(1);
    expect(refEntry(r)).toBe(refEntry(a));
    expect(refCtinfo(send(U("10.0.0.1", 1000, "10.0.0.2", 53)))).toBe(IP_CT_ESTABLISHED);
  });

  test("discard frees an unconfirmed entry and leaves a confirmed one", () => {
    const { ct, send } = table();
    const ref = ct.track(U("10.0.0.1", 1000, "10.0.0.2", 53), 0);
    expect(ct.count).toBe(1);
    ct.discard(ref);
    expect(ct.count).toBe(0);
    const c = send(U("10.0.0.1", 1000, "10.0.0.2", 53));
    ct.discard(c);
    expect(ct.count).toBe(1);
    expect(ct.audit()).toBeNull();
  });

  test("confirm: the same flow created twice joins the first entry; a clash of different flows drops", () => {
    const { ct } = table();
    const b = U("10.0.0.1", 1000, "10.0.0.2", 53);
    const r1 = ct.track(b, 0);
    const r2 = ct.track(b, 0); // not hashed yet: a second unconfirmed entry
    expect(refEntry(r2)).not.toBe(refEntry(r1));
    expect(ct.confirm(r1)).toBe(r1);
    expect(refEntry(ct.confirm(r2))).toBe(refEntry(r1));
    expect(ct.clashResolved).toBe(1);
    expect(ct.count).toBe(1);
    // two new flows whose NAT makes the second's reply tuple the first's: the second is dropped
    const x = ct.track(U("10.0.0.3", 1000, "10.0.0.9", 53), 0);
    const y = ct.track(U("10.0.0.4", 1000, "10.0.0.9", 53), 0);
    natSetup(ct, x, NAT_MANIP_SRC, NAT_MAP_IPS | NAT_PROTO_SPECIFIED, ip("10.0.0.100"), ip("10.0.0.100"), 5000, 5000);
    natSetup(ct, y, NAT_MANIP_SRC, NAT_MAP_IPS | NAT_PROTO_SPECIFIED, ip("10.0.0.100"), ip("10.0.0.100"), 5000, 5000);
    expect(ct.confirm(x)).toBe(x);
    expect(ct.confirm(y)).toBe(CTREF_CLASH);
    expect(ct.insertFailed).toBe(1);
    expect(ct.audit()).toBeNull();
  });

  test("malformed packets are INVALID and create nothing", () => {
    const { ct } = table();
    const short = U("10.0.0.1", 1000, "10.0.0.2", 53);
    short[24] = 0; // UDP length 5 < 8
    short[25] = 5;
    expect(ct.track(short, 0)).toBe(CTREF_INVALID);
    const frag = U("10.0.0.1", 1000, "10.0.0.2", 53);
    frag[6] = 0x20; // MF: a fragment (reassembly comes first)
    expect(ct.track(frag, 0)).toBe(CTREF_INVALID);
    const badIcmp = pkt("10.0.0.1", "10.0.0.2", 1, [{ ...icmpError(19, 0) }, raw(8)]);
    expect(ct.track(badIcmp, 0)).toBe(CTREF_INVALID);
    expect(ct.count).toBe(0);
    expect(ct.invalid).toBe(3);
  });
});

describe("timeouts on the virtual clock", () => {
  test("an unreplied UDP entry expires exactly 30 s after its last packet", () => {
    const { ct, clock, send } = table();
    send(U("10.0.0.1", 1000, "10.0.0.2", 53));
    clock.advanceTo(20 * S);
    send(U("10.0.0.1", 1000, "10.0.0.2", 53));
    clock.advanceTo(50 * S - 1);
    expect(ct.count).toBe(1);
    expect(ct.secondsLeft(ct.listed()[0]!)).toBe(0);
    clock.advanceTo(50 * S);
    expect(ct.count).toBe(0);
    expect(ct.expired).toBe(1);
    expect(ct.audit()).toBeNull();
  });

  test("entries expire in deadline order whatever their creation order; a shorter timeout takes effect", () => {
    const { ct, clock, send } = table();
    send(E("10.0.0.1", "10.0.0.2", 8, 1)); // 30 s
    send(pkt("10.0.0.1", "10.0.0.2", 47, [raw(8)])); // generic 600 s
    const t = send(pkt("10.0.0.1", "10.0.0.2", 6, [tcp({ srcPort: 1, dstPort: 2, flags: 0x10, seq: 1, ack: 1 }), raw(0)])); // picked up: 300 s
    send(U("10.0.0.1", 7, "10.0.0.2", 7)); // 30 s
    const gone: number[] = [];
    let n = ct.count;
    for (let s = 0; s <= 700; s++) {
      clock.advanceTo(s * S);
      if (ct.count !== n) gone.push(s), (n = ct.count);
    }
    expect(gone).toEqual([30, 300, 600]);
    // a TCP entry going from ESTABLISHED (5 days) to FIN_WAIT expires 120 s later
    const k = send(pkt("10.0.0.1", "10.0.0.2", 6, [tcp({ srcPort: 3, dstPort: 4, flags: 0x02, seq: 1 }), raw(0)]));
    send(pkt("10.0.0.2", "10.0.0.1", 6, [tcp({ srcPort: 4, dstPort: 3, flags: 0x12, seq: 9, ack: 2 }), raw(0)]));
    send(pkt("10.0.0.1", "10.0.0.2", 6, [tcp({ srcPort: 3, dstPort: 4, flags: 0x10, seq: 2, ack: 10 }), raw(0)]));
    expect(ct.tcpState(refEntry(k))).toBe(3);
    send(pkt("10.0.0.1", "10.0.0.2", 6, [tcp({ srcPort: 3, dstPort: 4, flags: 0x11, seq: 2, ack: 10 }), raw(0)]));
    const at = clock.now;
    clock.advanceTo(at + 120 * S - 1);
    expect(ct.count).toBe(1);
    clock.advanceTo(at + 120 * S);
    expect(ct.count).toBe(0);
    void t;
  });
});

describe("UDP and ICMP", () => {
  test("UDP: a reply alone is not ASSURED (30 s); a packet more than 2 s after the first makes it a stream (120 s, ASSURED)", () => {
    const { ct, clock, send, left } = table();
    const a = send(U("10.0.0.1", 1000, "10.0.0.2", 53));
    expect(left(a)).toBe(30);
    clock.advanceTo(0.1 * S);
    const r = send(U("10.0.0.2", 53, "10.0.0.1", 1000));
    expect(ct.statusOf(refEntry(r)) & IPS_SEEN_REPLY).toBeTruthy();
    expect(ct.statusOf(refEntry(r)) & IPS_ASSURED).toBe(0);
    expect(left(r)).toBe(30);
    clock.advanceTo(2 * S); // not after the 2 s
    send(U("10.0.0.1", 1000, "10.0.0.2", 53));
    expect(ct.statusOf(refEntry(a)) & IPS_ASSURED).toBe(0);
    clock.advanceTo(2 * S + 1);
    send(U("10.0.0.1", 1000, "10.0.0.2", 53));
    expect(ct.statusOf(refEntry(a)) & IPS_ASSURED).toBeTruthy();
    expect(left(a)).toBe(120);
    // without a reply, no stream however long it lasts
    const b = send(U("10.0.0.1", 2000, "10.0.0.2", 53));
    clock.advanceTo(10 * S);
    send(U("10.0.0.1", 2000, "10.0.0.2", 53));
    expect(ct.statusOf(refEntry(b)) & IPS_ASSURED).toBe(0);
    expect(left(b)).toBe(30);
  });

  test("ICMP echo is tracked by id: its reply is ESTABLISHED_REPLY, another id or a lone reply is INVALID", () => {
    const { ct, send, left } = table();
    const q = send(E("10.0.0.1", "10.0.0.2", 8, 0x1234));
    expect(refCtinfo(q)).toBe(IP_CT_NEW);
    expect(left(q)).toBe(30);
    expect(refCtinfo(send(E("10.0.0.2", "10.0.0.1", 0, 0x1234)))).toBe(IP_CT_ESTABLISHED_REPLY);
    expect(send(E("10.0.0.2", "10.0.0.1", 0, 0x1235))).toBe(CTREF_INVALID);
    const q2 = send(E("10.0.0.1", "10.0.0.2", 8, 0x1235));
    expect(refEntry(q2)).not.toBe(refEntry(q));
    expect(ct.count).toBe(2);
    expect(formatConntrackList(ct)[0]).toBe("icmp     1 30 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=4660 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=4660 mark=0 use=1");
    // never ASSURED
    expect(ct.statusOf(refEntry(q)) & IPS_ASSURED).toBe(0);
  });

  test("RELATED: an ICMP error quoting a NATed packet finds the entry (reply direction) via its translated tuple", () => {
    const { ct, send } = table();
    // 172.17.0.2:40000 -> 8.8.8.8:53, source NAT to 192.168.1.10:40000
    const ref = ct.track(U("172.17.0.2", 40000, "8.8.8.8", 53), 0);
    natSetup(ct, ref, NAT_MANIP_SRC, NAT_MAP_IPS, ip("192.168.1.10"), ip("192.168.1.10"), 0, 0);
    ct.confirm(ref);
    const e = refEntry(ref);
    // tuple level: the quoted datagram as 8.8.8.8 received it, the error sent to the NAT address
    const rel = ct.findRelated(17, ip("192.168.1.10"), ip("8.8.8.8"), 40000, 53, ip("192.168.1.10"));
    expect(refEntry(rel)).toBe(e);
    expect(refCtinfo(rel)).toBe(IP_CT_RELATED_REPLY);
    // the error must go to that tuple's destination
    expect(ct.findRelated(17, ip("192.168.1.10"), ip("8.8.8.8"), 40000, 53, ip("192.168.1.11"))).toBe(CTREF_INVALID);
    // packet level, from an error a router on the way (10.1.1.1) sends
    const err = buildFrame([ipv4({ src: ip("10.1.1.1"), dst: ip("192.168.1.10"), protocol: 1 }), icmpError(11, 0), ipv4({ src: ip("192.168.1.10"), dst: ip("8.8.8.8"), protocol: 17, ttl: 1 }), udp(40000, 53), raw(8)]);
    const r2 = send(err);
    expect(refEntry(r2)).toBe(e);
    expect(refCtinfo(r2)).toBe(IP_CT_RELATED_REPLY);
    expect(ct.ctState(r2)).toBe(CTSTATE_RELATED | CTSTATE_SNAT);
    // the container's error about a reply it received (quoting 8.8.8.8:53 -> 172.17.0.2:40000), sent
    // to 8.8.8.8: RELATED in the original direction
    const err2 = buildFrame([ipv4({ src: ip("172.17.0.2"), dst: ip("8.8.8.8"), protocol: 1 }), icmpError(3, 3), ipv4({ src: ip("8.8.8.8"), dst: ip("172.17.0.2"), protocol: 17 }), udp(53, 40000), raw(8)]);
    expect(refCtinfo(send(err2))).toBe(IP_CT_RELATED);
    // an error a stack generates itself joins the entry of the packet it answers (nf_ct_attach),
    // in the other direction: it is not looked up (quoting the original packet before NAT, as the
    // host's forwarding path would, is not a tuple of the table)
    const local = buildFrame([ipv4({ src: ip("172.17.0.1"), dst: ip("172.17.0.2"), protocol: 1 }), icmpError(3, 4, 1400), ipv4({ src: ip("172.17.0.2"), dst: ip("8.8.8.8"), protocol: 17 }), udp(40000, 53), raw(8)]);
    expect(send(local)).toBe(CTREF_INVALID);
    expect(refCtinfo(relatedRef(ref))).toBe(IP_CT_RELATED_REPLY);
    expect(refEntry(relatedRef(ref))).toBe(e);
    expect(refCtinfo(relatedRef(rel))).toBe(IP_CT_RELATED);
    // quoting an unknown flow
    const err3 = buildFrame([ipv4({ src: ip("10.1.1.1"), dst: ip("192.168.1.10"), protocol: 1 }), icmpError(3, 3), ipv4({ src: ip("192.168.1.10"), dst: ip("8.8.4.4"), protocol: 17 }), udp(40000, 53), raw(8)]);
    expect(send(err3)).toBe(CTREF_INVALID);
    // no entry was created or changed by the errors
    expect(ct.count).toBe(1);
    expect(ct.statusOf(e) & IPS_SEEN_REPLY).toBe(0);
    expect(ct.invalid).toBe(3); // the wrong destination, the locally generated error, the unknown flow
  });
});

describe("a full table", () => {
  test("early drop evicts the non-ASSURED entries of the first bucket that has one; with all ASSURED the packet is dropped (conntrack-full)", () => {
    const { ct, clock, send } = table({ max: 8, initialCapacity: 8 });
    // 8 UDP streams, ASSURED
    for (let i = 0; i < 8; i++) send(U("10.0.0.1", 1000 + i, "10.0.0.2", 53));
    for (let i = 0; i < 8; i++) send(U("10.0.0.2", 53, "10.0.0.1", 1000 + i));
    clock.advanceTo(3 * S);
    for (let i = 0; i < 8; i++) send(U("10.0.0.1", 1000 + i, "10.0.0.2", 53));
    expect(ct.count).toBe(8);
    for (const e of ct.listed()) expect(ct.statusOf(e) & IPS_ASSURED).toBeTruthy();
    expect(send(U("10.0.0.9", 1, "10.0.0.2", 53))).toBe(CTREF_DROP);
    expect(ct.full).toBe(1);
    expect(ct.count).toBe(8);
    // one entry not ASSURED: the 8-bucket range of an 8-bucket table covers it
    const victimPort = 1003;
    ct.kill(ct.find(17, ip("10.0.0.1"), ip("10.0.0.2"), victimPort, 53) >> 1);
    send(U("10.0.0.1", victimPort, "10.0.0.2", 53));
    expect(ct.count).toBe(8);
    const r = send(U("10.0.0.9", 1, "10.0.0.2", 53));
    expect(r).toBeGreaterThanOrEqual(0);
    expect(ct.earlyDrop).toBe(1);
    expect(ct.find(17, ip("10.0.0.1"), ip("10.0.0.2"), victimPort, 53)).toBe(-1);
    expect(ct.count).toBe(8);
    expect(ct.audit()).toBeNull();
  });

  test("the eviction range is 8 buckets from the new tuple's: a non-ASSURED entry elsewhere in a big table is not evicted", () => {
    const { ct, clock, send } = table({ max: 64, initialCapacity: 64 });
    for (let i = 0; i < 64; i++) send(U("10.0.0.1", 1000 + i, "10.0.0.2", 53));
    for (let i = 0; i < 64; i++) send(U("10.0.0.2", 53, "10.0.0.1", 1000 + i));
    clock.advanceTo(3 * S);
    for (let i = 1; i < 64; i++) send(U("10.0.0.1", 1000 + i, "10.0.0.2", 53));
    // 1000 is the only entry not ASSURED; find new tuples whose 8 buckets miss both its nodes
    const e0 = ct.find(17, ip("10.0.0.1"), ip("10.0.0.2"), 1000, 53) >> 1;
    const buckets = [ct.hashTuple(17, ip("10.0.0.1") | 0, ip("10.0.0.2") | 0, 1000, 53) & 63, ct.hashTuple(17, ip("10.0.0.2") | 0, ip("10.0.0.1") | 0, 53, 1000) & 63];
    const inRange = (h: number) => buckets.some((b) => ((b - (h & 63) + 64) & 63) < 8);
    let far = -1, near = -1;
    for (let p = 1; p < 5000 && (far < 0 || near < 0); p++) {
      const h = ct.hashTuple(17, ip("10.0.0.9") | 0, ip("10.0.0.2") | 0, p, 53);
      if (inRange(h)) near = near < 0 ? p : near;
      else far = far < 0 ? p : far;
    }
    expect(send(U("10.0.0.9", far, "10.0.0.2", 53))).toBe(CTREF_DROP);
    expect(ct.statusOf(e0) & IPS_CONFIRMED).toBeTruthy();
    expect(send(U("10.0.0.9", near, "10.0.0.2", 53))).toBeGreaterThanOrEqual(0);
    expect(ct.find(17, ip("10.0.0.1"), ip("10.0.0.2"), 1000, 53)).toBe(-1);
    expect(ct.audit()).toBeNull();
  });
});

describe("storage", () => {
  test("the arrays grow from the initial capacity to max, every entry still found", () => {
    const { ct, send } = table({ initialCapacity: 4, max: 1000 });
    for (let i = 0; i < 300; i++) send(U("10.0.0.1", 1000 + i, "10.0.0.2", 53));
    expect(ct.cap).toBeGreaterThanOrEqual(300);
    expect(ct.grown).toBeGreaterThan(0);
    for (let i = 0; i < 300; i++) expect(ct.find(17, ip("10.0.0.2"), ip("10.0.0.1"), 53, 1000 + i)).toBeGreaterThanOrEqual(0);
    expect(ct.audit()).toBeNull();
  });

  test("bytes per entry: 133 (a 64-byte block of tuples, chains and hot fields, 8 by-source link and free stack, 16 heap, 8 buckets, 37 TCP state)", () => {
    const { ct } = table({ initialCapacity: 1024 });
    expect(ct.bytesPerEntry).toBe(133);
  });

  test("flush and kill", () => {
    const { ct, send } = table();
    for (let i = 0; i < 10; i++) send(U("10.0.0.1", 1000 + i, "10.0.0.2", 53));
    ct.kill(refEntry(send(U("10.0.0.1", 1000, "10.0.0.2", 53))));
    expect(ct.count).toBe(9);
    ct.flush();
    expect(ct.count).toBe(0);
    expect(ct.audit()).toBeNull();
  });
});

describe("ctstate bits", () => {
  test("the CTSTATE_* values are rules.ts's CT_* values", () => {
    expect([CTSTATE_INVALID, CTSTATE_ESTABLISHED, CTSTATE_RELATED, CTSTATE_NEW, CTSTATE_SNAT, CTSTATE_DNAT, CTSTATE_UNTRACKED]).toEqual([
      rules.CT_INVALID, rules.CT_ESTABLISHED, rules.CT_RELATED, rules.CT_NEW, rules.CT_SNAT, rules.CT_DNAT, rules.CT_UNTRACKED,
    ]);
    expect([IPS_SEEN_REPLY, IPS_ASSURED, IPS_CONFIRMED]).toEqual([rules.IPS_SEEN_REPLY, rules.IPS_ASSURED, rules.IPS_CONFIRMED]);
  });

  test("per packet: NEW, ESTABLISHED (either direction), INVALID, with DNAT/SNAT of the connection", () => {
    const { ct, send } = table();
    const ref = ct.track(U("10.0.0.1", 1000, "10.0.0.80", 80), 0);
    expect(ct.ctState(ref)).toBe(CTSTATE_NEW);
    natSetup(ct, ref, NAT_MANIP_DST, NAT_MAP_IPS, ip("172.17.0.2"), ip("172.17.0.2"), 0, 0);
    expect(ct.ctState(ref)).toBe(CTSTATE_NEW | CTSTATE_DNAT);
    ct.confirm(ref);
    const r = send(U("172.17.0.2", 80, "10.0.0.1", 1000));
    expect(refCtinfo(r)).toBe(IP_CT_ESTABLISHED_REPLY);
    expect(ct.ctState(r)).toBe(CTSTATE_ESTABLISHED | CTSTATE_DNAT);
    expect(refCtinfo(send(U("10.0.0.1", 1000, "10.0.0.80", 80)))).toBe(IP_CT_ESTABLISHED);
    expect(ct.ctState(CTREF_INVALID)).toBe(CTSTATE_INVALID);
    expect(ct.ctState((5 << 3) | IP_CT_RELATED) & CTSTATE_RELATED).toBeTruthy();
  });
});
