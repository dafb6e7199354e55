// The TCP state machine of connection tracking, as Linux's nf_conntrack_proto_tcp.c (6.x):
// the `tcp_conntracks` table indexed by direction, the segment's flag class and the old state;
// tcp_new (the first segment of an entry), tcp_error's table of valid flag combinations,
// nf_conntrack_tcp_packet's special cases (ignored segments and the SYN/ACK resync, reopening from
// TIME_WAIT/CLOSE, simultaneous open, RFC 5961 challenge ACKs, RST checks against the peer's
// highest ACK) and its choice of timeout (RETRANS after 3 identical ACKs, UNACK while data is
// unacknowledged, CLOSE after a RST, UNACK for a picked-up connection that has seen no reply, no
// renewal for a SYN sent again before any reply: a real kernel's SYN_SENT entry counted from the
// first SYN, not the retransmission, fixtures/conntrack-list.txt).
//
// Window tracking (tcp_in_window's four bounds, window scaling, SACK) is not done: every segment
// counts as in window, as with nf_conntrack_tcp_be_liberal=1 (Linux's default 0 marks
// out-of-window segments INVALID). The bookkeeping tcp_in_window does for in-window segments is
// kept, because the state machine reads it: per direction the highest sequence end (td_end), the
// highest ACK (td_maxack), the DATA_UNACKNOWLEDGED flag, and the last ACK segment's fields for the
// retransmission count.
//
// Storage: struct-of-arrays by entry index (the per-direction fields at e*2+dir), grown with the
// table. The caller (conntrack.ts) owns the entry's status bits and timers; `tcpPacket` returns
// a timeout index (TCP_CT_* state, TCP_TIMEOUT_RETRANS or TCP_TIMEOUT_UNACK) or a TCP_R_* code.

import { IPS_ASSURED, IPS_SEEN_REPLY } from "./conntrack-bits.js";

export const TCP_CT_NONE = 0;
export const TCP_CT_SYN_SENT = 1;
export const TCP_CT_SYN_RECV = 2;
export const TCP_CT_ESTABLISHED = 3;
export const TCP_CT_FIN_WAIT = 4;
export const TCP_CT_CLOSE_WAIT = 5;
export const TCP_CT_LAST_ACK = 6;
export const TCP_CT_TIME_WAIT = 7;
export const TCP_CT_CLOSE = 8;
export const TCP_CT_SYN_SENT2 = 9;
/** TCP_CONNTRACK_MAX, the table's "invalid" (sIV). */
const sIV = 10;
/** TCP_CONNTRACK_IGNORE (sIG). */
const sIG = 11;
/** Timeout indexes beyond the states (TCP_CONNTRACK_RETRANS, TCP_CONNTRACK_UNACK). */
export const TCP_TIMEOUT_RETRANS = 10;
export const TCP_TIMEOUT_UNACK = 11;
export const TCP_CT_NAMES = ["NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"] as const;

const S = 1e9;
/** Default timeouts (ns) by index: nf_conntrack_tcp_timeout_* as read in a fresh namespace on
 *  Linux 6.18 (dataplane/netfilter/fixtures/conntrack-sysctl.txt); SYN_SENT2 uses SYN_SENT's. */
export const TCP_TIMEOUTS_DEFAULT = [0, 120 * S, 60 * S, 432000 * S, 120 * S, 60 * S, 30 * S, 120 * S, 10 * S, 120 * S, 300 * S, 300 * S];

// Flag classes (enum tcp_bit_set): the row of the table.
export const TCP_SYN_SET = 0;
export const TCP_SYNACK_SET = 1;
export const TCP_FIN_SET = 2;
export const TCP_ACK_SET = 3;
export const TCP_RST_SET = 4;
export const TCP_NONE_SET = 5;

const FIN = 0x01, SYN = 0x02, RST = 0x04, ACK = 0x10, URG = 0x20;

/** get_conntrack_index: RST first, then SYN (with or without ACK), FIN, ACK, nothing. */
export function tcpFlagIndex(flags: number): number {
  if (flags & RST) return TCP_RST_SET;
  if (flags & SYN) return flags & ACK ? TCP_SYNACK_SET : TCP_SYN_SET;
  if (flags & FIN) return TCP_FIN_SET;
  if (flags & ACK) return TCP_ACK_SET;
  return TCP_NONE_SET;
}

/** tcp_valid_flags: combinations of FIN/SYN/RST/ACK/URG that are not INVALID (PSH, ECE, CWR are
 *  ignored). A FIN without ACK, SYN|FIN, SYN|RST and no flag at all are invalid. */
const VALID = new Uint8Array(URG | ACK | RST | SYN | FIN + 1);
for (const f of [SYN, SYN | URG, SYN | ACK, RST, RST | ACK, FIN | ACK, FIN | ACK | URG, ACK, ACK | URG]) VALID[f] = 1;
export function tcpFlagsValid(flags: number): boolean {
  return VALID[flags & (FIN | SYN | RST | ACK | URG)] === 1;
}

// tcp_conntracks[dir][index][old state], Linux 6.x, rows in the order of enum tcp_bit_set.
//                 sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2
const TABLE = Uint8Array.from([
  /* ORIGINAL */
  /* syn    */ 1, 1, sIG, sIG, sIG, sIG, sIG, 1, 1, 9,
  /* synack */ sIV, sIV, 2, sIV, sIV, sIV, sIV, sIV, sIV, 2,
  /* fin    */ sIV, sIV, 4, 4, 6, 6, 6, 7, 8, sIV,
  /* ack    */ 3, sIV, 3, 3, 5, 5, 7, 7, 8, sIV,
  /* rst    */ sIV, 8, 8, 8, 8, 8, 8, 8, 8, 8,
  /* none   */ sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV,
  /* REPLY */
  /* syn    */ sIV, 9, sIV, sIV, sIV, sIV, sIV, 1, sIV, 9,
  /* synack */ sIV, 2, sIG, sIG, sIG, sIG, sIG, sIG, sIG, 2,
  /* fin    */ sIV, sIV, 4, 4, 6, 6, 6, 7, 8, sIV,
  /* ack    */ sIV, sIG, 2, 3, 5, 5, 7, 7, 8, sIG,
  /* rst    */ sIV, 8, 8, 8, 8, 8, 8, 8, 8, 8,
  /* none   */ sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV,
]);
/** The table's next state for (direction, flag class, old state): a TCP_CT_* state, 10 = invalid, 11 = ignore. */
export function tcpNextState(dir: number, index: number, old: number): number {
  return TABLE[dir * 60 + index * 10 + old]!;
}

// Per-direction flags (ip_ct_tcp_state.flags) and last_flags bits, as Linux numbers them.
const F_CLOSE_INIT = 0x04;
const F_DATA_UNACK = 0x10;
const F_MAXACK_SET = 0x20;
/** Not a Linux flag: this direction has been seen (Linux tests td_maxwin != 0). */
const F_SEEN = 0x80;
const L_EXP_CHALLENGE_ACK = 0x40;
const L_SIMULTANEOUS_OPEN = 0x80;

/** tcpPacket results besides a timeout index. */
export const TCP_R_INVALID = -1;
/** Accepted without changing state or timeout (Linux's "ignored" segments). */
export const TCP_R_IGNORED = -2;
/** An attempt to reopen a closed or aborted connection: delete the entry and look up again. */
export const TCP_R_REOPEN = -3;
/** A RST answering a connection that has seen no reply: accepted, and the entry deleted. */
export const TCP_R_KILL = -4;

const before = (a: number, b: number): boolean => ((a - b) | 0) < 0;
const after = (a: number, b: number): boolean => ((b - a) | 0) < 0;

export interface TcpParams {
  /** Timeouts (ns) by index, TCP_TIMEOUTS_DEFAULT's layout. */
  timeouts: number[];
  /** nf_conntrack_tcp_loose: pick up connections from a mid-stream segment (default 1). */
  loose: boolean;
  /** nf_conntrack_tcp_max_retrans (default 3). */
  maxRetrans: number;
}
export const LINUX_TCP: TcpParams = { timeouts: TCP_TIMEOUTS_DEFAULT, loose: true, maxRetrans: 3 };

export class TcpTrack {
  state: Uint8Array;
  lastIndex: Uint8Array;
  lastDir: Uint8Array;
  lastFlags: Uint8Array;
  retrans: Uint8Array;
  lastSeq: Int32Array;
  lastAck: Int32Array;
  lastEnd: Int32Array;
  lastWin: Uint16Array;
  /** By e*2+dir. */
  tdEnd: Int32Array;
  maxAck: Int32Array;
  flags: Uint8Array;
  readonly timeouts: Float64Array;

  constructor(cap: number, readonly params: TcpParams = LINUX_TCP) {
    this.state = new Uint8Array(cap);
    this.lastIndex = new Uint8Array(cap);
    this.lastDir = new Uint8Array(cap);
    this.lastFlags = new Uint8Array(cap);
    this.retrans = new Uint8Array(cap);
    this.lastSeq = new Int32Array(cap);
    this.lastAck = new Int32Array(cap);
    this.lastEnd = new Int32Array(cap);
    this.lastWin = new Uint16Array(cap);
    this.tdEnd = new Int32Array(2 * cap);
    this.maxAck = new Int32Array(2 * cap);
    this.flags = new Uint8Array(2 * cap);
    if (params.timeouts.length !== 12) throw new RangeError(`TCP timeouts: 12 values (10 states, RETRANS, UNACK), got ${params.timeouts.length}`);
    this.timeouts = Float64Array.from(params.timeouts);
  }

  /** Bytes per entry of these arrays. */
  static readonly BYTES_PER_ENTRY = 1 + 1 + 1 + 1 + 1 + 4 + 4 + 4 + 2 + 2 * (4 + 4 + 1);

  grow(cap: number): void {
    const g8 = (a: Uint8Array, n: number) => { const b = new Uint8Array(n); b.set(a); return b; };
    const g32 = (a: Int32Array, n: number) => { const b = new Int32Array(n); b.set(a); return b; };
    this.state = g8(this.state, cap);
    this.lastIndex = g8(this.lastIndex, cap);
    this.lastDir = g8(this.lastDir, cap);
    this.lastFlags = g8(this.lastFlags, cap);
    this.retrans = g8(this.retrans, cap);
    this.lastSeq = g32(this.lastSeq, cap);
    this.lastAck = g32(this.lastAck, cap);
    this.lastEnd = g32(this.lastEnd, cap);
    const w = new Uint16Array(cap);
    w.set(this.lastWin);
    this.lastWin = w;
    this.tdEnd = g32(this.tdEnd, 2 * cap);
    this.maxAck = g32(this.maxAck, 2 * cap);
    this.flags = g8(this.flags, 2 * cap);
  }

  /** memset(&ct->proto.tcp, 0, ...): a new entry's TCP state. */
  reset(e: number): void {
    this.state[e] = TCP_CT_NONE;
    this.lastIndex[e] = TCP_NONE_SET;
    this.lastDir[e] = 0;
    this.lastFlags[e] = 0;
    this.retrans[e] = 0;
    this.lastSeq[e] = 0;
    this.lastAck[e] = 0;
    this.lastEnd[e] = 0;
    this.lastWin[e] = 0;
    this.clearDir(e * 2);
    this.clearDir(e * 2 + 1);
  }

  private clearDir(d: number): void {
    this.tdEnd[d] = 0;
    this.maxAck[d] = 0;
    this.flags[d] = 0;
  }

  /**
   * A segment of entry `e` in direction `dir` (0 original, 1 reply); `isNew`: the entry was just
   * created for it (unconfirmed). `status[si]` is the entry's IPS_* word in the table's entry
   * array: read for SEEN_REPLY and ASSURED, ASSURED is set here. `seq`, `ack` as int32 (`| 0`), `win` the raw window field,
   * `payload` the data length. Returns the timeout index to refresh with, or TCP_R_*.
   */
  packet(status: Uint32Array, si: number, e: number, dir: number, isNew: boolean, tcpFlags: number, seq: number, ack: number, win: number, payload: number): number {
    // tcp_error: flag combinations
    if (!tcpFlagsValid(tcpFlags)) return TCP_R_INVALID;
    const index = tcpFlagIndex(tcpFlags);
    const end = (seq + payload + (tcpFlags & SYN ? 1 : 0) + (tcpFlags & FIN ? 1 : 0)) | 0;
    const d = e * 2 + dir;
    const r = e * 2 + (dir ^ 1);
    if (isNew) {
      // tcp_new: a SYN starts SYN_SENT; with loose=1 an ACK (with or without data) picks the
      // connection up mid-stream; the table's NONE column refuses the rest (SYN|ACK, FIN|ACK, RST)
      const first = TABLE[index * 10 + TCP_CT_NONE]!;
      if (first === sIV) return TCP_R_INVALID;
      if (first !== TCP_CT_SYN_SENT && !this.params.loose) return TCP_R_INVALID;
      this.reset(e);
      this.tdEnd[e * 2] = end;
      this.flags[e * 2] = F_SEEN;
    }
    const tm = this.timeouts;
    let old = this.state[e]!;
    let next = TABLE[dir * 60 + index * 10 + old]!;
    let skipWindow = false;
    if (next === TCP_CT_SYN_SENT && old >= TCP_CT_TIME_WAIT) {
      // RFC 1122 reopening from TIME_WAIT (or CLOSE): if either side started the close, or the
      // last segment in this direction was a RST, the old entry is deleted and the SYN looked
      // up again (it creates a new entry); otherwise the SYN is ignored
      if ((this.flags[d]! | this.flags[r]!) & F_CLOSE_INIT || (this.lastDir[e] === dir && this.lastIndex[e] === TCP_RST_SET)) return TCP_R_REOPEN;
      next = sIG;
    }
    switch (next) {
      case sIG:
        if (index === TCP_SYNACK_SET && this.lastIndex[e] === TCP_SYN_SET && this.lastDir[e] !== dir && ack === this.lastEnd[e]) {
          // a SYN/ACK answering a SYN the table ignored: both ends are in sync, the entry was not;
          // resynchronise from the SYN's annotated values
          old = TCP_CT_SYN_SENT;
          next = TCP_CT_SYN_RECV;
          const ld = e * 2 + this.lastDir[e]!;
          this.tdEnd[ld] = this.lastEnd[e]!;
          this.flags[ld] = F_SEEN;
          this.lastFlags[e] = this.lastFlags[e]! & ~L_EXP_CHALLENGE_ACK;
          this.clearDir(d);
          break;
        }
        this.lastIndex[e] = index;
        this.lastDir[e] = dir;
        this.lastSeq[e] = seq;
        this.lastEnd[e] = end;
        this.lastWin[e] = win;
        if (index === TCP_SYN_SET && dir === 0) {
          // a SYN in the original direction: the server may answer with an RFC 5961 challenge
          // ACK, which in LAST_ACK must not be taken for the last ACK
          this.lastFlags[e] = old === TCP_CT_LAST_ACK ? L_EXP_CHALLENGE_ACK : 0;
        }
        // a possible challenge ACK answering a SYN
        if (old === TCP_CT_SYN_SENT && index === TCP_ACK_SET && dir === 1) this.lastAck[e] = ack;
        return TCP_R_IGNORED;
      case sIV:
        return TCP_R_INVALID;
      case TCP_CT_TIME_WAIT:
        if (old === TCP_CT_LAST_ACK && index === TCP_ACK_SET && this.lastDir[e] !== dir && this.lastIndex[e] === TCP_SYN_SET && this.lastFlags[e]! & L_EXP_CHALLENGE_ACK) {
          this.lastFlags[e] = this.lastFlags[e]! & ~L_EXP_CHALLENGE_ACK;
          return TCP_R_IGNORED;
        }
        break;
      case TCP_CT_SYN_SENT2:
        this.lastFlags[e] = this.lastFlags[e]! | L_SIMULTANEOUS_OPEN;
        break;
      case TCP_CT_SYN_RECV:
        if (dir === 1 && index === TCP_ACK_SET && this.lastFlags[e]! & L_SIMULTANEOUS_OPEN) next = TCP_CT_ESTABLISHED;
        break;
      case TCP_CT_CLOSE: {
        if (index !== TCP_RST_SET) break;
        // closing already: the tuple may have been reused, skip the checks
        if (this.canEarlyDrop(e)) {
          skipWindow = true;
          break;
        }
        const st = status[si]!;
        const established = old === TCP_CT_ESTABLISHED && (st & IPS_ASSURED) !== 0;
        // td_maxack is outdated if a SYN was let through since
        if (this.flags[r]! & F_MAXACK_SET && this.lastIndex[e] !== TCP_SYN_SET) {
          const peerAck = this.maxAck[r]!;
          // not established and sequence 0: most likely the answer to a SYN let through
          if (seq === 0 && !established) break;
          // a RST below what the peer has acknowledged is invalid (tcp_ignore_invalid_rst=0)
          if (before(seq, peerAck)) return TCP_R_INVALID;
          if (!established || seq === peerAck) break;
          // part of a train (data then RST at its end)
          if (this.lastIndex[e] === TCP_ACK_SET && this.lastDir[e] === dir && seq === this.lastEnd[e]) break;
          // otherwise the sequence number is not exact: keep the state, the peer may send a
          // challenge ACK
          next = old;
        }
        if ((((st & IPS_SEEN_REPLY) !== 0 && this.lastIndex[e] === TCP_SYN_SET) || ((st & IPS_ASSURED) === 0 && this.lastIndex[e] === TCP_ACK_SET)) && ack === this.lastEnd[e]) {
          // a RST answering a SYN or ACK let through as ignored: no window bookkeeping
          skipWindow = true;
        } else if (old === TCP_CT_SYN_SENT && this.lastIndex[e] === TCP_ACK_SET && this.lastDir[e] === 1 && seq === this.lastAck[e]) {
          // a RST answering a challenge ACK let through
          skipWindow = true;
        }
        break;
      }
    }
    if (!skipWindow) this.inWindow(e, dir, old, index, tcpFlags, seq, ack, end, win);
    this.lastIndex[e] = index;
    this.lastDir[e] = dir;
    this.state[e] = next;
    if (old !== next && next === TCP_CT_FIN_WAIT) this.flags[d] = this.flags[d]! | F_CLOSE_INIT;

    let t: number;
    if (this.retrans[e]! >= this.params.maxRetrans && tm[next]! > tm[TCP_TIMEOUT_RETRANS]!) t = TCP_TIMEOUT_RETRANS;
    else if (index === TCP_RST_SET) t = TCP_CT_CLOSE;
    else if ((this.flags[e * 2]! | this.flags[e * 2 + 1]!) & F_DATA_UNACK && tm[next]! > tm[TCP_TIMEOUT_UNACK]!) t = TCP_TIMEOUT_UNACK;
    else if (this.lastWin[e] === 0 && tm[next]! > tm[TCP_TIMEOUT_RETRANS]!) t = TCP_TIMEOUT_RETRANS;
    else t = next;

    const st = status[si]!;
    if ((st & IPS_SEEN_REPLY) === 0) {
      // only a RST came back: no connection, delete the entry now
      if (tcpFlags & RST) return TCP_R_KILL;
      // a SYN sent again does not renew the timeout (else a port reused by a client or a NAT
      // could keep the entry alive for ever)
      if (index === TCP_SYN_SET && old === TCP_CT_SYN_SENT) return TCP_R_IGNORED;
      // a picked-up connection that has seen no reply does not get the 5-day timeout
      if (next === TCP_CT_ESTABLISHED && tm[t]! > tm[TCP_TIMEOUT_UNACK]!) t = TCP_TIMEOUT_UNACK;
    } else if ((st & IPS_ASSURED) === 0 && (old === TCP_CT_SYN_RECV || old === TCP_CT_ESTABLISHED) && next === TCP_CT_ESTABLISHED) {
      // a valid ACK in ESTABLISHED after SYN_RECV, or an answer for a picked-up connection
      status[si] = st | IPS_ASSURED;
    }
    return t;
  }

  /** tcp_in_window's bookkeeping for a segment taken as in window. */
  private inWindow(e: number, dir: number, old: number, index: number, tcpFlags: number, seq: number, ack: number, end: number, win: number): void {
    const s = e * 2 + dir;
    const r = e * 2 + (dir ^ 1);
    if ((this.flags[s]! & F_SEEN) === 0) {
      // the sender's first segment
      this.tdEnd[s] = end;
      this.flags[s] = F_SEEN;
      if (tcpFlags & SYN) {
        if ((tcpFlags & ACK) === 0) return; // simultaneous open
      } else if ((this.flags[r]! & F_SEEN) === 0) {
        this.tdEnd[r] = ack; // (the receiver stays unseen, as Linux leaves its td_maxwin 0)
      } else if (ack === ((this.tdEnd[r]! + 1) | 0)) {
        this.tdEnd[r] = (this.tdEnd[r]! + 1) | 0; // likely the answer to a keepalive
      }
    } else if (tcpFlags & SYN && after(end, this.tdEnd[s]!) && (old === TCP_CT_SYN_SENT || old === TCP_CT_SYN_RECV)) {
      // a SYN (or SYN/ACK) sent again with a new sequence number: the direction starts over
      this.tdEnd[s] = end;
      if (dir === 1 && (tcpFlags & ACK) === 0) return;
    }
    // a RST answering a SYN, sent with sequence number 0
    if ((tcpFlags & RST) !== 0 && seq === 0 && old === TCP_CT_SYN_SENT) seq = end = this.tdEnd[s]!;
    const hasAck = (tcpFlags & ACK) !== 0;
    if (!hasAck || ((tcpFlags & RST) !== 0 && ack === 0)) ack = this.tdEnd[r]!;
    if (after(end, this.tdEnd[s]!)) {
      this.tdEnd[s] = end;
      this.flags[s] = this.flags[s]! | F_DATA_UNACK;
    }
    if (hasAck) {
      if ((this.flags[s]! & F_MAXACK_SET) === 0) {
        this.maxAck[s] = ack;
        this.flags[s] = this.flags[s]! | F_MAXACK_SET;
      } else if (after(ack, this.maxAck[s]!)) this.maxAck[s] = ack;
    }
    if (ack === this.tdEnd[r]) this.flags[r] = this.flags[r]! & ~F_DATA_UNACK;
    if (index === TCP_ACK_SET) {
      if (this.lastDir[e] === dir && this.lastSeq[e] === seq && this.lastAck[e] === ack && this.lastEnd[e] === end && this.lastWin[e] === win) {
        if (this.retrans[e]! < 255) this.retrans[e]!++;
      } else {
        this.lastDir[e] = dir;
        this.lastSeq[e] = seq;
        this.lastAck[e] = ack;
        this.lastEnd[e] = end;
        this.lastWin[e] = win;
        this.retrans[e] = 0;
      }
    }
  }

  /** tcp_can_early_drop: closing states (used by the table's full-table eviction). */
  canEarlyDrop(e: number): boolean {
    const s = this.state[e]!;
    return s === TCP_CT_FIN_WAIT || s === TCP_CT_LAST_ACK || s === TCP_CT_TIME_WAIT || s === TCP_CT_CLOSE || s === TCP_CT_CLOSE_WAIT;
  }
}
