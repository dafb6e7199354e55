// The TCP state machine of conntrack against Linux's nf_conntrack_proto_tcp.c: whole exchanges
// (handshake, data, FINs, RSTs) driven through the table with consistent sequence numbers, the
// state and timeout after every segment as Linux's table and timeout rules give them.
import { describe, expect, test } from "vitest";
import { Clock } from "../engine/clock.js";
import { Rng } from "../engine/rng.js";
import { parseIpv4 } from "../../core/addr.js";
import { buildFrame } from "../../core/wire/frame.js";
import { ipv4, raw, tcp } from "../../core/wire/layers.js";
import { ConntrackTable } from "./conntrack.js";
import { CTREF_INVALID, IP_CT_ESTABLISHED, IP_CT_ESTABLISHED_REPLY, IP_CT_NEW, IPS_ASSURED, IPS_SEEN_REPLY, refCtinfo, refEntry } from "./conntrack-bits.js";
import {
  TCP_CT_CLOSE, TCP_CT_CLOSE_WAIT, TCP_CT_ESTABLISHED, TCP_CT_FIN_WAIT, TCP_CT_LAST_ACK, TCP_CT_NONE, TCP_CT_SYN_RECV, TCP_CT_SYN_SENT,
  TCP_CT_SYN_SENT2, TCP_CT_TIME_WAIT, tcpFlagsValid, tcpNextState,
} from "./conntrack-tcp.js";

const S = 1e9;
const F = 0x01, SYN = 0x02, R = 0x04, P = 0x08, A = 0x10;
const C = parseIpv4("172.17.0.2"), SV = parseIpv4("8.8.8.8");

function segment(src: number, dst: number, sport: number, dport: number, flags: number, seq: number, ack: number, len: number): Uint8Array {
  return buildFrame([ipv4({ src, dst, protocol: 6 }), tcp({ srcPort: sport, dstPort: dport, flags, seq, ack }), raw(len)]);
}

/** A connection with consistent sequence numbers; c() and s() send from client and server. */
class Conn {
  cSeq = 1000;
  sSeq = 5000;
  ref = -1;
  constructor(readonly ct: ConntrackTable, readonly cport = 40000, readonly sport = 80) {}
  c(flags: number, len = 0): number {
    const b = segment(C, SV, this.cport, this.sport, flags, this.cSeq, flags & A ? this.sSeq : 0, len);
    this.cSeq = (this.cSeq + len + (flags & SYN ? 1 : 0) + (flags & F ? 1 : 0)) >>> 0;
    return this.send(b);
  }
  s(flags: number, len = 0): number {
    const b = segment(SV, C, this.sport, this.cport, flags, this.sSeq, flags & A ? this.cSeq : 0, len);
    this.sSeq = (this.sSeq + len + (flags & SYN ? 1 : 0) + (flags & F ? 1 : 0)) >>> 0;
    return this.send(b);
  }
  /** A segment with explicit numbers, from the client (dir 0) or the server. */
  raw(fromClient: boolean, flags: number, seq: number, ack: number): number {
    const b = fromClient ? segment(C, SV, this.cport, this.sport, flags, seq, ack, 0) : segment(SV, C, this.sport, this.cport, flags, seq, ack, 0);
    return this.send(b);
  }
  private send(b: Uint8Array): number {
    const ref = this.ct.track(b, 0);
    if (ref >= 0) this.ref = this.ct.confirm(ref);
    return ref;
  }
  get e(): number {
    return refEntry(this.ref);
  }
  state(): number {
    return this.ct.tcpState(this.e);
  }
}

function setup(params = {}) {
  const clock = new Clock();
  const ct = new ConntrackTable(clock, new Rng(7), params);
  const left = (c: Conn) => (c.ct.deadlineOf(c.e) - clock.now) / S;
  return { clock, ct, left };
}

describe("tcp_conntracks table (Linux 6.x)", () => {
  test("cells from the kernel's comments", () => {
    // ORIGINAL: SYN starts SYN_SENT, reopens TIME_WAIT and CLOSE, is ignored (11) in ESTABLISHED
    expect(tcpNextState(0, 0, TCP_CT_NONE)).toBe(TCP_CT_SYN_SENT);
    expect(tcpNextState(0, 0, TCP_CT_TIME_WAIT)).toBe(TCP_CT_SYN_SENT);
    expect(tcpNextState(0, 0, TCP_CT_ESTABLISHED)).toBe(11);
    expect(tcpNextState(0, 0, TCP_CT_SYN_SENT2)).toBe(TCP_CT_SYN_SENT2);
    // ORIGINAL SYN/ACK: invalid except in SYN_SENT2 and SYN_RECV (simultaneous open)
    expect(tcpNextState(0, 1, TCP_CT_NONE)).toBe(10);
    expect(tcpNextState(0, 1, TCP_CT_SYN_RECV)).toBe(TCP_CT_SYN_RECV);
    expect(tcpNextState(0, 1, TCP_CT_ESTABLISHED)).toBe(10);
    // FIN: SYN_SENT invalid, ESTABLISHED -> FIN_WAIT, FIN_WAIT -> LAST_ACK
    expect(tcpNextState(0, 2, TCP_CT_SYN_SENT)).toBe(10);
    expect(tcpNextState(1, 2, TCP_CT_FIN_WAIT)).toBe(TCP_CT_LAST_ACK);
    // ACK: NONE -> ESTABLISHED (picked up), SYN_SENT invalid from the client, ignored from the server
    expect(tcpNextState(0, 3, TCP_CT_NONE)).toBe(TCP_CT_ESTABLISHED);
    expect(tcpNextState(0, 3, TCP_CT_SYN_SENT)).toBe(10);
    expect(tcpNextState(1, 3, TCP_CT_SYN_SENT)).toBe(11);
    expect(tcpNextState(1, 3, TCP_CT_SYN_RECV)).toBe(TCP_CT_SYN_RECV);
    expect(tcpNextState(0, 3, TCP_CT_LAST_ACK)).toBe(TCP_CT_TIME_WAIT);
    // REPLY SYN: simultaneous open, and the server reopening TIME_WAIT
    expect(tcpNextState(1, 0, TCP_CT_SYN_SENT)).toBe(TCP_CT_SYN_SENT2);
    expect(tcpNextState(1, 0, TCP_CT_TIME_WAIT)).toBe(TCP_CT_SYN_SENT);
    expect(tcpNextState(1, 0, TCP_CT_CLOSE)).toBe(10);
    // RST: CLOSE from every state but NONE
    for (let s = 1; s <= 9; s++) expect(tcpNextState(0, 4, s)).toBe(TCP_CT_CLOSE);
    expect(tcpNextState(0, 4, TCP_CT_NONE)).toBe(10);
  });

  test("valid flag combinations (tcp_error)", () => {
    for (const f of [SYN, SYN | A, A, P | A, F | A, F | P | A, R, R | A, SYN | 0x20, A | 0x40 | 0x80]) expect(tcpFlagsValid(f)).toBe(true);
    for (const f of [0, F, SYN | F, SYN | R, F | R, P, SYN | F | A, R | F | A]) expect(tcpFlagsValid(f)).toBe(false);
  });
});

describe("a whole connection", () => {
  test("handshake, data, close from the client: states, ctinfo, timeouts, ASSURED", () => {
    const { ct, left, clock } = setup();
    const k = new Conn(ct);
    const r1 = k.c(SYN);
    expect(refCtinfo(r1)).toBe(IP_CT_NEW);
    expect(k.state()).toBe(TCP_CT_SYN_SENT);
    expect(left(k)).toBe(120);
    clock.advanceTo(1 * S);
    k.c(SYN); // retransmitted SYN: same entry, still NEW, and the timeout is not renewed
    expect(refCtinfo(k.ref)).toBe(IP_CT_NEW);
    expect(ct.count).toBe(1);
    expect(left(k)).toBe(119);
    const r2 = k.s(SYN | A);
    expect(refCtinfo(r2)).toBe(IP_CT_ESTABLISHED_REPLY);
    expect(k.state()).toBe(TCP_CT_SYN_RECV);
    expect(left(k)).toBe(60);
    expect(ct.statusOf(k.e) & IPS_SEEN_REPLY).toBeTruthy();
    expect(ct.statusOf(k.e) & IPS_ASSURED).toBe(0);
    const r3 = k.c(A);
    expect(refCtinfo(r3)).toBe(IP_CT_ESTABLISHED);
    expect(k.state()).toBe(TCP_CT_ESTABLISHED);
    expect(ct.statusOf(k.e) & IPS_ASSURED).toBeTruthy();
    expect(left(k)).toBe(432000);
    // data not yet acknowledged: the UNACK timeout (300 s) until the peer acknowledges it
    k.c(P | A, 100);
    expect(left(k)).toBe(300);
    k.s(A);
    expect(left(k)).toBe(432000);
    k.s(P | A, 50);
    expect(left(k)).toBe(300);
    k.c(A);
    expect(left(k)).toBe(432000);
    // the client closes
    k.c(F | A);
    expect(k.state()).toBe(TCP_CT_FIN_WAIT);
    expect(left(k)).toBe(120);
    k.s(A);
    expect(k.state()).toBe(TCP_CT_CLOSE_WAIT);
    expect(left(k)).toBe(60);
    k.s(F | A);
    expect(k.state()).toBe(TCP_CT_LAST_ACK);
    expect(left(k)).toBe(30);
    k.c(A);
    expect(k.state()).toBe(TCP_CT_TIME_WAIT);
    expect(left(k)).toBe(120);
    expect(ct.audit()).toBeNull();
  });

  test("a SYN in TIME_WAIT after a close reopens: the old entry goes, a new one starts", () => {
    const { ct } = setup();
    const k = new Conn(ct);
    for (const f of [SYN]) k.c(f);
    k.s(SYN | A);
    k.c(A);
    k.c(F | A);
    k.s(F | A);
    k.c(A);
    expect(k.state()).toBe(TCP_CT_TIME_WAIT);
    const old = ct.idOf(k.e);
    k.cSeq += 100000;
    const r = k.c(SYN);
    expect(refCtinfo(r)).toBe(IP_CT_NEW);
    expect(ct.idOf(refEntry(r))).not.toBe(old);
    expect(k.state()).toBe(TCP_CT_SYN_SENT);
    expect(ct.count).toBe(1);
    expect(ct.audit()).toBeNull();
  });

  test("RST: exact sequence number closes (10 s); an inexact one keeps ESTABLISHED; below the peer's ACK is INVALID", () => {
    const { ct, left } = setup();
    const k = new Conn(ct);
    k.c(SYN);
    k.s(SYN | A);
    k.c(A);
    k.s(P | A, 10);
    k.c(A);
    // a RST from the server 5 bytes ahead of what the client acknowledged: not exact
    k.raw(false, R, (k.sSeq + 5) >>> 0, 0);
    expect(k.state()).toBe(TCP_CT_ESTABLISHED);
    expect(left(k)).toBe(10); // the state stays, the timeout is CLOSE's
    // the client's challenge ACK refreshes it; the RST's sequence end counts as data the client
    // has not acknowledged (tcp_in_window books any in-window end), so UNACK's 300 s
    k.c(A);
    expect(k.state()).toBe(TCP_CT_ESTABLISHED);
    expect(left(k)).toBe(300);
    // below the client's highest ACK: invalid
    expect(k.raw(false, R, (k.sSeq - 1) >>> 0, 0)).toBe(CTREF_INVALID);
    expect(k.state()).toBe(TCP_CT_ESTABLISHED);
    // exactly the client's highest ACK
    k.raw(false, R, k.sSeq, 0);
    expect(k.state()).toBe(TCP_CT_CLOSE);
    expect(left(k)).toBe(10);
  });

  test("RST answering a SYN: the entry is deleted (gone from lookups at once, freed when the clock runs)", () => {
    const { ct, clock } = setup();
    const k = new Conn(ct);
    k.c(SYN);
    const r = k.s(R | A);
    expect(refCtinfo(r)).toBe(IP_CT_ESTABLISHED_REPLY);
    expect(ct.find(6, C, SV, 40000, 80)).toBe(-1);
    expect(ct.listed()).toEqual([]);
    expect(ct.count).toBe(1);
    clock.advanceTo(clock.now);
    expect(ct.count).toBe(0);
    expect(ct.audit()).toBeNull();
  });

  test("mid-stream pickup (nf_conntrack_tcp_loose=1): ESTABLISHED at 300 s until a reply, ASSURED on the next segment", () => {
    const { ct, left } = setup();
    const k = new Conn(ct);
    const r = k.c(P | A, 20);
    expect(refCtinfo(r)).toBe(IP_CT_NEW);
    expect(k.state()).toBe(TCP_CT_ESTABLISHED);
    expect(left(k)).toBe(300);
    k.s(A);
    expect(ct.statusOf(k.e) & IPS_SEEN_REPLY).toBeTruthy();
    expect(ct.statusOf(k.e) & IPS_ASSURED).toBe(0);
    k.c(A);
    expect(ct.statusOf(k.e) & IPS_ASSURED).toBeTruthy();
    expect(left(k)).toBe(432000);
  });

  test("loose=0 refuses a mid-stream first segment; SYN/ACK, RST, FIN without ACK never start an entry", () => {
    const strict = setup({ tcp: { timeouts: [0, 120e9, 60e9, 432000e9, 120e9, 60e9, 30e9, 120e9, 10e9, 120e9, 300e9, 300e9], loose: false, maxRetrans: 3 } });
    expect(new Conn(strict.ct).c(A)).toBe(CTREF_INVALID);
    expect(strict.ct.count).toBe(0);
    const { ct } = setup();
    for (const f of [SYN | A, R, R | A, F, SYN | F, 0]) expect(new Conn(ct).c(f)).toBe(CTREF_INVALID);
    expect(ct.count).toBe(0);
    expect(ct.invalid).toBe(6);
  });

  test("ACK from the client in SYN_SENT is INVALID; a server ACK there is ignored (no state change)", () => {
    const { ct } = setup();
    const k = new Conn(ct);
    k.c(SYN);
    expect(k.c(A)).toBe(CTREF_INVALID);
    expect(k.state()).toBe(TCP_CT_SYN_SENT);
    expect(k.s(A)).toBeGreaterThanOrEqual(0);
    expect(k.state()).toBe(TCP_CT_SYN_SENT);
  });

  test("simultaneous open: SYN both ways, SYN/ACKs, then ESTABLISHED on the reply's ACK", () => {
    const { ct } = setup();
    const k = new Conn(ct);
    k.c(SYN);
    k.s(SYN);
    expect(k.state()).toBe(TCP_CT_SYN_SENT2);
    k.c(SYN | A);
    expect(k.state()).toBe(TCP_CT_SYN_RECV);
    k.s(A);
    expect(k.state()).toBe(TCP_CT_ESTABLISHED);
  });

  test("three identical ACKs (retransmissions) cap ESTABLISHED at the 300 s RETRANS timeout", () => {
    const { ct, left } = setup();
    const k = new Conn(ct);
    k.c(SYN);
    k.s(SYN | A);
    k.c(A);
    expect(left(k)).toBe(432000);
    for (let i = 0; i < 3; i++) k.raw(true, A, k.cSeq, k.sSeq);
    expect(left(k)).toBe(300);
  });
});
