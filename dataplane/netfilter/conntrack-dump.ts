// `conntrack -L` (conntrack-tools 1.4.7, libnetfilter_conntrack's default output), one line per
// entry, checked against a real kernel's listing (fixtures/conntrack-list.txt):
//
//   tcp      6 431996 ESTABLISHED src=10.99.1.1 dst=10.99.2.1 sport=40005 dport=8000 src=10.99.2.1 dst=10.99.2.254 sport=8000 dport=40005 [ASSURED] mark=0 use=1
//   udp      17 22 src=10.99.1.1 dst=10.99.2.1 sport=40001 dport=7778 [UNREPLIED] src=10.99.2.1 dst=10.99.2.254 sport=7778 dport=40001 mark=0 use=1
//   icmp     1 29 src=10.99.1.1 dst=10.99.2.1 type=8 code=0 id=4660 src=10.99.2.1 dst=10.99.2.254 type=0 code=0 id=4660 mark=0 use=1
//   unknown  253 599 src=10.99.1.1 dst=10.99.2.1 [UNREPLIED] src=10.99.2.1 dst=10.99.2.254 mark=0 use=1
//
// The protocol name padded to 8 and its number, the seconds left (rounded down), the TCP state,
// the original tuple, [UNREPLIED] until a reply was seen, the reply tuple, [ASSURED], the mark, and
// use=1 (the table's own reference). Only confirmed entries are listed (unconfirmed ones are not in
// the table yet; Linux lists them apart with `conntrack -L unconfirmed`), in creation order (the
// kernel lists in hash-bucket order). Cold path.

import { formatIpv4 } from "../../core/addr.js";
import { IPS_ASSURED, IPS_SEEN_REPLY } from "./conntrack-bits.js";
import type { ConntrackTable } from "./conntrack.js";
import { TCP_CT_NAMES } from "./conntrack-tcp.js";

const NAMES: Record<number, string> = { 1: "icmp", 6: "tcp", 17: "udp" };

function tuple(ct: ConntrackTable, n: number, proto: number): string {
  let s = `src=${formatIpv4(ct.tSrc(n) >>> 0)} dst=${formatIpv4(ct.tDst(n) >>> 0)} `;
  if (proto === 6 || proto === 17) s += `sport=${ct.tSport(n)} dport=${ct.tDport(n)} `;
  else if (proto === 1) s += `type=${ct.tDport(n) >>> 8} code=${ct.tDport(n) & 0xff} id=${ct.tSport(n)} `;
  return s;
}

/** The `conntrack -L` line of entry e. */
export function formatConntrackEntry(ct: ConntrackTable, e: number): string {
  const proto = ct.protoOf(e);
  const st = ct.statusOf(e);
  let s = `${(NAMES[proto] ?? "unknown").padEnd(8)} ${proto} ${ct.secondsLeft(e)} `;
  if (proto === 6) s += `${TCP_CT_NAMES[ct.tcpState(e)]} `;
  s += tuple(ct, e * 2, proto);
  if ((st & IPS_SEEN_REPLY) === 0) s += "[UNREPLIED] ";
  s += tuple(ct, e * 2 + 1, proto);
  if (st & IPS_ASSURED) s += "[ASSURED] ";
  return `${s}mark=${ct.markOf(e)} use=1`;
}

/** `conntrack -L`: every listed entry's line. */
export function formatConntrackList(ct: ConntrackTable): string[] {
  return ct.listed().map((e) => formatConntrackEntry(ct, e));
}
