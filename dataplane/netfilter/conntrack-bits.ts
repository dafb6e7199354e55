// Numbers shared by connection tracking, NAT and the rules: entry status bits (IPS_*, as
// include/uapi/linux/netfilter/nf_conntrack_common.h), the per-packet ctinfo (enum
// ip_conntrack_info), the reference a tracked packet carries, and the state bits
// `-m conntrack --ctstate` tests.

/** Drop reasons of every device that runs netfilter hooks (a namespace, a bridge with
 *  br_netfilter), consecutive and in this order (hooks.ts). */
export const NF_REASONS = ["nf-drop", "nf-reject", "nf-nat", "conntrack-full", "conntrack-invalid", "conntrack-clash"] as const;

// ---- entry status (ct->status) ---------------------------------------------------------------
export const IPS_EXPECTED = 1 << 0;
export const IPS_SEEN_REPLY = 1 << 1;
export const IPS_ASSURED = 1 << 2;
export const IPS_CONFIRMED = 1 << 3;
export const IPS_SRC_NAT = 1 << 4;
export const IPS_DST_NAT = 1 << 5;
export const IPS_NAT_MASK = IPS_SRC_NAT | IPS_DST_NAT;
export const IPS_SEQ_ADJUST = 1 << 6;
export const IPS_SRC_NAT_DONE = 1 << 7;
export const IPS_DST_NAT_DONE = 1 << 8;
export const IPS_NAT_DONE_MASK = IPS_SRC_NAT_DONE | IPS_DST_NAT_DONE;
export const IPS_DYING = 1 << 9;
export const IPS_FIXED_TIMEOUT = 1 << 10;
/** Not a Linux bit: the entry slot is in use (allocated, confirmed or not). */
export const CT_USED = 1 << 16;
/** Not a Linux bit: the entry is linked in the table's by-source chain (NAT source mappings). */
export const CT_BYSOURCE = 1 << 17;

// ---- ctinfo: what a packet is to its entry ---------------------------------------------------
export const IP_CT_ESTABLISHED = 0;
export const IP_CT_RELATED = 1;
export const IP_CT_NEW = 2;
export const IP_CT_IS_REPLY = 3;
export const IP_CT_ESTABLISHED_REPLY = 3;
export const IP_CT_RELATED_REPLY = 4;

// ---- the reference a tracked packet carries (skb->_nfct) -------------------------------------
// (entry << 3) | ctinfo, a small integer; negative when the packet has no entry.
/** No entry: the packet is INVALID to the rules (malformed, or the protocol's tracker refused it). */
export const CTREF_INVALID = -1;
/** The packet must be dropped: the table is full and nothing could be evicted (the drop reason
 *  `conntrack-full`, Linux's "nf_conntrack: table full, dropping packet"). */
export const CTREF_DROP = -2;
/** The packet must be dropped: at confirm its entry clashed with another one's tuple (Linux's
 *  insert_failed; e.g. every NAT port of a range taken). */
export const CTREF_CLASH = -3;
export const refEntry = (ref: number): number => ref >> 3;
export const refCtinfo = (ref: number): number => ref & 7;
/** 0 original, 1 reply. */
export const refDir = (ref: number): number => ((ref & 7) >= IP_CT_IS_REPLY ? 1 : 0);
export const makeRef = (e: number, ctinfo: number): number => (e << 3) | ctinfo;
/** nf_ct_attach: the reference for an ICMP error a stack sends about a packet of `ref` (the
 *  error goes the other way: RELATED_REPLY for an original packet, RELATED for a reply). */
export const relatedRef = (ref: number): number => (ref < 0 ? ref : makeRef(ref >> 3, (ref & 7) >= IP_CT_IS_REPLY ? IP_CT_RELATED : IP_CT_RELATED_REPLY));

// ---- `-m conntrack --ctstate` bits (the values dataplane/netfilter/rules.ts uses) ------------
export const CTSTATE_INVALID = 1 << 0;
export const CTSTATE_ESTABLISHED = 1 << 1;
export const CTSTATE_RELATED = 1 << 2;
export const CTSTATE_NEW = 1 << 3;
export const CTSTATE_SNAT = 1 << 8;
export const CTSTATE_DNAT = 1 << 9;
export const CTSTATE_UNTRACKED = 1 << 10;

/** Timeout indexes of the table (ConntrackTable.refresh): TCP's 0..11 (TCP_CT_* states,
 *  TCP_TIMEOUT_RETRANS, TCP_TIMEOUT_UNACK in conntrack-tcp.ts), then these. */
export const T_UDP = 12;
export const T_UDP_STREAM = 13;
export const T_ICMP = 14;
export const T_GENERIC = 15;
/** 0 ns: a dying entry is freed when the clock next runs its timers. */
export const T_NOW = 16;

/** NAT manipulation types (enum nf_nat_manip_type): SRC at POSTROUTING and INPUT, DST at
 *  PREROUTING and OUTPUT (HOOK2MANIP). */
export const NAT_MANIP_SRC = 0;
export const NAT_MANIP_DST = 1;

// ---- ICMP tuples -----------------------------------------------------------------------------
// An ICMP tuple carries the echo id as sport (the same both ways) and `type << 8 | code` as dport.

/** Echo-like ICMP types and their inverse + 1 (icmp's invmap); 0 = not invertible. */
const ICMP_INVMAP = new Uint8Array(19);
ICMP_INVMAP[8] = 0 + 1;
ICMP_INVMAP[0] = 8 + 1;
ICMP_INVMAP[13] = 14 + 1;
ICMP_INVMAP[14] = 13 + 1;
ICMP_INVMAP[15] = 16 + 1;
ICMP_INVMAP[16] = 15 + 1;
ICMP_INVMAP[17] = 18 + 1;
ICMP_INVMAP[18] = 17 + 1;

/** The inverse of an ICMP tuple's `type << 8 | code` (-1 when the type has no inverse): echo 8 <->
 *  echo reply 0, timestamp 13 <-> 14, information 15 <-> 16, address mask 17 <-> 18. */
export function icmpInvertTypeCode(tc: number): number {
  const t = tc >>> 8;
  if (t > 18 || ICMP_INVMAP[t] === 0) return -1;
  return ((ICMP_INVMAP[t]! - 1) << 8) | (tc & 0xff);
}

// ---- an entry's words (conntrack.ts `ent`, 16 int32 = 64 bytes = one cache line per entry) ----
// 0-3 original tuple node (source, destination, sport << 16 | dport, hash link), 4 status,
// 5 protocol, 6 id, 7 mark; 8-11 reply tuple node; 12-13 deadline and 14-15 creation time as
// float64 (`entF` indexes e * 8 + F_DEADLINE, e * 8 + F_BORN).
export const ENT_WORDS = 16;
export const W_STATUS = 4;
export const W_PROTO = 5;
export const W_ID = 6;
export const W_MARK = 7;
export const F_DEADLINE = 6;
export const F_BORN = 7;
