// Properties of connection tracking and NAT (dataplane/netfilter/):
//  1. random sequences of packets (TCP with random flags, UDP, ICMP echo and errors, generic; NAT
//     with small port ranges that collide), drops before confirm, kills and time advances keep
//     the table consistent (audit: every entry found by both tuples as itself, counts, buckets,
//     heap and timer), no two entries share a tuple in either direction (so no two share a reply
//     tuple), and no entry is lost: an entry that disappears had reached its deadline, or was
//     evicted (early drop) or killed, exactly as many as the counters say;
//  2. NAT is reversible: for random flows and translations (SNAT/MASQUERADE over address and
//     port ranges, --random-fully, DNAT to ip[:port], with colliding flows in the table), the
//     server's reply to the translated packet, tracked and translated at both hooks, is the
//     inverse of the original packet; an ICMP error quoting the translated packet comes back with
//     its outer destination and whole quote translated back to the original; every checksum verifies.
import { fc, test } from "@fast-check/vitest";
import { expect } from "vitest";
import { Clock } from "../dataplane/engine/clock.js";
import { Rng } from "../dataplane/engine/rng.js";
import { buildFrame, dissectIpv4Packet, type Layer } from "../core/wire/frame.js";
import { WireError } from "../core/wire/error.js";
import { icmpEcho, icmpError, ipv4, raw, tcp, udp } from "../core/wire/layers.js";
import { ipv4VerifyChecksum } from "../core/wire/ipv4.js";
import { tcpVerifyChecksum } from "../core/wire/tcp.js";
import { udpVerifyChecksum } from "../core/wire/udp.js";
import { ConntrackTable } from "../dataplane/netfilter/conntrack.js";
import {
  CT_USED, IP_CT_ESTABLISHED_REPLY, IP_CT_NEW, IP_CT_RELATED_REPLY, IPS_ASSURED, IPS_CONFIRMED, IPS_DYING, NAT_MANIP_DST, NAT_MANIP_SRC, refCtinfo, refEntry,
} from "../dataplane/netfilter/conntrack-bits.js";
import { NAT_MAP_IPS, NAT_PROTO_SPECIFIED, NAT_RANDOM_FULLY, natNullBinding, natSetup } from "../dataplane/netfilter/nat-tuple.js";
import { natIcmpReplyTranslation, natPacket } from "../dataplane/netfilter/nat-packet.js";

const S = 1e9;
const A32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const U16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const CLIENTS = [0xac110002, 0xac110003, 0xac110004];
const SERVERS = [0x08080808, 0x01010101];
const NAT_IPS = [0xc0a8010a, 0xc0a8010b];

function packet(proto: number, src: number, dst: number, sport: number, dport: number, opts: { flags?: number; type?: number; len?: number } = {}): Uint8Array {
  const l4: Layer[] =
    proto === 6 ? [tcp({ srcPort: sport, dstPort: dport, flags: opts.flags ?? 0x10, seq: 1000, ack: 2000 })]
    : proto === 17 ? [udp(sport, dport)]
    : proto === 1 ? [icmpEcho((opts.type ?? 8) as 0 | 8, sport, 1)]
    : [];
  return buildFrame([ipv4({ src, dst, protocol: proto }), ...l4, raw(opts.len ?? 4)]);
}

/** Every checksum of an IPv4 packet verifies (its layers must include the IPv4 header and what
 *  follows it). */
function verifies(b: Uint8Array): boolean {
  const d = dissectIpv4Packet(b);
  if (d.layers.length < 2 || d.layers[0]!.kind !== "ipv4") throw new Error("not dissected as IPv4");
  return d.error === WireError.OK;
}

// ---- property 1 -----------------------------------------------------------------------------------

const op = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("pkt" as const), flow: fc.nat({ max: 63 }), reply: fc.boolean(), flags: fc.constantFrom(0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x01, 0x03, 0), drop: fc.boolean(), nat: fc.nat({ max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("error" as const), flow: fc.nat({ max: 63 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("time" as const), dt: fc.oneof({ weight: 4, arbitrary: fc.nat({ max: 3 * S }) }, { weight: 1, arbitrary: fc.integer({ min: 25 * S, max: 130 * S }) }, { weight: 1, arbitrary: fc.constant(0) }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("kill" as const), flow: fc.nat({ max: 63 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("stream" as const), flow: fc.nat({ max: 63 }) }) },
);

/** Flow i: protocol, client, server, ports (few ports, so NAT collides). */
function flow(i: number) {
  const proto = [6, 17, 1, 47][i % 4]!;
  return { proto, c: CLIENTS[(i >> 2) % 3]!, s: SERVERS[(i >> 4) % 2]!, cp: proto === 47 ? 0 : 1000 + ((i >> 2) % 4), sp: proto === 47 ? 0 : proto === 1 ? 0 : 80 };
}

// Over 300 runs this exercised (counted once while writing it): ~1,500 early drops, ~700 packets
// dropped as conntrack-full, ~3,000 expiries, ~600 kills, ~40 insert failures, ~480 array growths.
test.prop([fc.array(op, { minLength: 1, maxLength: 300, size: "max" }), fc.nat(), fc.constantFrom(8, 16, 64)], { numRuns: 300 })(
  "random packets, drops, kills and time keep the table consistent and lose nothing",
  (ops, seed, max) => {
    const clock = new Clock();
    const ct = new ConntrackTable(clock, new Rng(seed), { max, initialCapacity: 4 });
    /** id -> [entry, deadline, ASSURED] of every confirmed entry after the last step. */
    let known = new Map<number, [number, number, boolean]>();
    let before = 0, killedBefore = 0;
    const begin = () => {
      before = ct.earlyDrop + ct.killed;
      killedBefore = ct.killed;
    };
    /** The invariants, after every packet or time step. */
    const check = () => {
      expect(ct.audit()).toBeNull();
      // no two listed entries share a tuple, in either direction
      const tuples = new Set<string>();
      const listed = ct.listed();
      for (const e of listed) for (const n of [e * 2, e * 2 + 1]) tuples.add(`${ct.protoOf(e)}/${ct.tSrc(n)}/${ct.tDst(n)}/${ct.tSport(n)}/${ct.tDport(n)}`);
      expect(tuples.size).toBe(2 * listed.length);
      // nothing lost: what disappeared had expired, or was evicted or killed (as counted); early
      // drop never takes an ASSURED entry (those can only have been killed)
      const now = new Map<number, [number, number, boolean]>();
      for (let e = 0; e < ct.cap; e++) if ((ct.statusOf(e) & (CT_USED | IPS_CONFIRMED)) === (CT_USED | IPS_CONFIRMED)) now.set(ct.idOf(e), [e, ct.deadlineOf(e), (ct.statusOf(e) & IPS_ASSURED) !== 0]);
      let unexplained = 0, assured = 0;
      for (const [id, [, deadline, a]] of known) if (!now.has(id) && deadline > clock.now) unexplained++, (assured += a ? 1 : 0);
      expect(unexplained).toBe(ct.earlyDrop + ct.killed - before);
      expect(assured).toBeLessThanOrEqual(ct.killed - killedBefore);
      for (const [, [e, d]] of now) if (!(ct.statusOf(e) & IPS_DYING)) expect(d).toBeGreaterThan(clock.now);
      known = now;
      begin();
    };
    for (const o of ops) {
      if (o.kind === "time") clock.advanceTo(clock.now + o.dt);
      else if (o.kind === "stream") {
        // a whole exchange: handshake (TCP) or request, answer, and another packet 2.1 s later
        // (a UDP stream): ASSURED entries, which early drop must leave alone
        const f = flow(o.flow);
        const through = (b: Uint8Array) => {
          const r = ct.confirm(ct.track(b, 0));
          check();
          return r;
        };
        const fwd = (flags: number) => through(packet(f.proto, f.c, f.s, f.cp, f.sp, { flags }));
        const first = fwd(0x02);
        if (first >= 0 && ct.statusOf(refEntry(first)) & CT_USED) {
          const r = refEntry(first) * 2 + 1;
          through(packet(f.proto, ct.tSrc(r) >>> 0, ct.tDst(r) >>> 0, ct.tSport(r), f.proto === 1 ? 0 : ct.tDport(r), { flags: 0x12, type: 0 }));
          if (f.proto === 17) {
            clock.advanceTo(clock.now + 2.1 * S);
            check();
          }
          fwd(0x10);
        }
      } else if (o.kind === "kill") {
        const f = flow(o.flow);
        const n = ct.find(f.proto, f.c, f.s, f.cp, f.proto === 1 ? 8 << 8 : f.sp);
        if (n >= 0) ct.kill(n >> 1);
      } else {
        const f = flow(o.flow);
        const n = ct.find(f.proto, f.c, f.s, f.cp, f.proto === 1 ? 8 << 8 : f.sp);
        let b: Uint8Array;
        if (o.kind === "error" || o.reply) {
          if (n < 0) continue;
          // the server answers the translated flow: the reply tuple as it is in the entry
          const r = (n | 1) as number;
          const rs = ct.tSrc(r) >>> 0, rd = ct.tDst(r) >>> 0;
          if (o.kind === "error") {
            const sent = packet(f.proto, rd, rs, f.proto === 1 ? ct.tSport(r) : ct.tDport(r), f.proto === 1 ? 0 : ct.tSport(r), { flags: 0x02 });
            b = buildFrame([ipv4({ src: rs, dst: rd, protocol: 1 }), icmpError(3, 3), raw(sent)]);
          } else b = packet(f.proto, rs, rd, ct.tSport(r), f.proto === 1 ? 0 : ct.tDport(r), { flags: o.flags, type: 0 });
        } else b = packet(f.proto, f.c, f.s, f.cp, f.sp, { flags: o.flags });
        const ref = ct.track(b, 0);
        if (ref >= 0 && refCtinfo(ref) === IP_CT_NEW && !(ct.statusOf(refEntry(ref)) & IPS_CONFIRMED)) {
          const nat = o.kind === "pkt" ? o.nat : 0;
          if (nat === 1) natSetup(ct, ref, NAT_MANIP_SRC, NAT_MAP_IPS | NAT_PROTO_SPECIFIED, NAT_IPS[0]!, NAT_IPS[1]!, 1000, 1003);
          else if (nat === 2) natSetup(ct, ref, NAT_MANIP_SRC, NAT_MAP_IPS, NAT_IPS[0]!, NAT_IPS[0]!, 0, 0);
          else natNullBinding(ct, ref, NAT_MANIP_SRC);
          if (o.kind === "pkt" && o.drop) {
            ct.discard(ref);
            expect(ct.statusOf(refEntry(ref)) & CT_USED).toBe(0);
          } else ct.confirm(ref);
        }
      }
      check();
    }
  },
);

// ---- property 2 -----------------------------------------------------------------------------------

const natCase = fc.record({
  proto: fc.constantFrom(6, 17, 1),
  client: fc.constantFrom(...CLIENTS),
  server: fc.constantFrom(...SERVERS),
  cport: fc.constantFrom(80, 500, 700, 1023, 1024, 40000, 65535),
  sport: fc.integer({ min: 1, max: 65535 }),
  snat: fc.oneof(
    fc.constant(null),
    fc.record({ lo: fc.constant(NAT_IPS[0]!), hi: fc.constantFrom(NAT_IPS[0]!, NAT_IPS[1]!), ports: fc.option(fc.tuple(fc.integer({ min: 1, max: 65535 }), fc.nat({ max: 5 })), { nil: null }), fully: fc.boolean() }),
  ),
  dnat: fc.option(fc.record({ to: fc.constantFrom(0x0a000005, 0x0a000006), port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: null }) }), { nil: null }),
  /** Flows already in the table: same protocol and server, clients and ports from the same sets. */
  others: fc.array(fc.record({ client: fc.constantFrom(...CLIENTS), cport: fc.constantFrom(80, 500, 700, 1024, 40000), to: fc.constantFrom(...NAT_IPS) }), { maxLength: 6 }),
  seed: fc.nat(),
});

test.prop([natCase], { numRuns: 500 })("NAT is reversible: the reply of a translated packet, and an error quoting it, come back to the original tuple", (c) => {
  const ct = new ConntrackTable(new Clock(), new Rng(c.seed));
  const icmp = c.proto === 1;
  const sp = icmp ? 0 : c.sport;
  const router = (b: Uint8Array, masq: { lo: number; hi: number; flags: number; pl: number; ph: number } | null, dnat: { to: number; port: number | null } | null) => {
    const ref = ct.track(b, 0);
    if (ref < 0) return ref;
    const fresh = refCtinfo(ref) === IP_CT_NEW && !(ct.statusOf(refEntry(ref)) & IPS_CONFIRMED);
    if (refCtinfo(ref) === IP_CT_RELATED_REPLY || refCtinfo(ref) === 1) {
      expect(natIcmpReplyTranslation(ct, ref, NAT_MANIP_DST, b, 0)).toBe(true);
      expect(natIcmpReplyTranslation(ct, ref, NAT_MANIP_SRC, b, 0)).toBe(true);
      return ref;
    }
    if (fresh) {
      if (dnat) natSetup(ct, ref, NAT_MANIP_DST, NAT_MAP_IPS | (dnat.port === null ? 0 : NAT_PROTO_SPECIFIED), dnat.to, dnat.to, dnat.port ?? 0, dnat.port ?? 0);
      else natNullBinding(ct, ref, NAT_MANIP_DST);
    }
    natPacket(ct, ref, NAT_MANIP_DST, b, 0);
    if (fresh) {
      if (masq) natSetup(ct, ref, NAT_MANIP_SRC, NAT_MAP_IPS | masq.flags, masq.lo, masq.hi, masq.pl, masq.ph);
      else natNullBinding(ct, ref, NAT_MANIP_SRC);
    }
    natPacket(ct, ref, NAT_MANIP_SRC, b, 0);
    return ct.confirm(ref);
  };
  // the flows already there, masqueraded to one address
  for (const o of c.others) router(packet(c.proto, o.client, c.server, o.cport, sp, { flags: 0x02 }), { lo: o.to, hi: o.to, flags: 0, pl: 0, ph: 0 }, null);
  const masq = c.snat && { lo: c.snat.lo, hi: c.snat.hi, flags: (c.snat.ports ? NAT_PROTO_SPECIFIED : 0) | (c.snat.fully ? NAT_RANDOM_FULLY : 0), pl: c.snat.ports?.[0] ?? 0, ph: c.snat.ports ? Math.min(65535, c.snat.ports[0] + c.snat.ports[1]) : 0 };
  const orig = packet(c.proto, c.client, c.server, c.cport, sp, { flags: 0x02, len: 12 });
  const p = orig.slice();
  const ref = router(p, masq, c.dnat);
  if (ref < 0) return; // the ranges were exhausted: dropped at confirm, as Linux
  expect(verifies(p)).toBe(true);
  const l4 = 20;
  const [ps, pd] = [A32(p, 12), A32(p, 16)];
  const pcp = icmp ? U16(p, l4 + 4) : U16(p, l4);
  const psp = icmp ? 0 : U16(p, l4 + 2);
  // the server's reply to what it received
  const reply = packet(c.proto, pd, ps, icmp ? pcp : psp, icmp ? 0 : pcp, { flags: 0x12, type: 0, len: 12 });
  const r = router(reply, null, null);
  expect(refEntry(r)).toBe(refEntry(ref));
  expect(refCtinfo(r)).toBe(IP_CT_ESTABLISHED_REPLY);
  expect(verifies(reply)).toBe(true);
  expect([A32(reply, 12), A32(reply, 16)]).toEqual([c.server >>> 0, c.client >>> 0]);
  if (icmp) expect(U16(reply, l4 + 4)).toBe(c.cport);
  else expect([U16(reply, l4), U16(reply, l4 + 2)]).toEqual([sp, c.cport]);
  // an error from the server quoting the whole translated packet
  const err = buildFrame([ipv4({ src: pd, dst: ps, protocol: 1 }), icmpError(3, 3), raw(p)]);
  const er = router(err, null, null);
  expect(refEntry(er)).toBe(refEntry(ref));
  expect(verifies(err)).toBe(true);
  expect(A32(err, 16)).toBe(c.client >>> 0);
  const q = err.subarray(28);
  expect(ipv4VerifyChecksum(q, 0)).toBe(true);
  // the quote is the original packet again, up to the checksum words (equal as numbers modulo 0xffff)
  const qs = q.slice(), os = orig.slice();
  const csumAt = [10, c.proto === 6 ? 36 : c.proto === 17 ? 26 : 22];
  for (const o of csumAt) {
    expect(U16(qs, o) % 0xffff).toBe(U16(os, o) % 0xffff);
    qs[o] = qs[o + 1] = os[o] = os[o + 1] = 0;
  }
  expect(Array.from(qs)).toEqual(Array.from(os));
  if (c.proto === 6) expect(tcpVerifyChecksum(q, 20, q.length - 20, A32(q, 12), A32(q, 16))).toBe(true);
  if (c.proto === 17) expect(udpVerifyChecksum(q, 20, A32(q, 12), A32(q, 16))).toBe(true);
  expect(ct.audit()).toBeNull();
});
