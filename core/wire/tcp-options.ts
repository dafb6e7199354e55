// TCP options: a decoded view of the raw option bytes a TcpRepr carries, the encoder for the
// layouts Linux writes (net/ipv4/tcp_output.c `tcp_options_write`), and the tcpdump printer for
// a whole segment (`formatTcp`).
//
//   kind 0 EOL | kind 1 NOP | 2,4,MSS(16) | 3,3,shift | 4,2 (SACK permitted)
//   5,2+8n, n x (left edge(32), right edge(32)) | 8,10,TSval(32),TSecr(32)
//
// Linux's layout, every word 32-bit aligned, in this order:
//   mss                      02 04 mm mm
//   sackOK + timestamps      04 02 08 0a  val  ecr      (or, without sackOK: 01 01 08 0a val ecr)
//   sackOK, no timestamps    01 01 04 02
//   window scale             01 03 03 ss
//   SACK blocks              01 01 05 len  {left right} x n
// so a SYN reads `mss 1460,sackOK,TS val x ecr 0,nop,wscale 7` and an established segment
// `nop,nop,TS val x ecr y`. Linux never writes EOL; the result is always a multiple of 4.

import { getU16, getU32, setU32 } from "../bytes.js";
import { WireError } from "./error.js";
import { TCP_ACK, TCP_FIN, TCP_MAX_OPTIONS_LEN, TCP_RST, TCP_SYN, TCP_URG, type TcpRepr } from "./tcp.js";

export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;
export const TCPOPT_WSCALE = 3;
export const TCPOPT_SACK_PERM = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TIMESTAMP = 8;
export const TCPOPT_UTO = 28;
export const TCPOPT_FASTOPEN = 34;
/** RFC 6994 shared experimental kind (TCP Fast Open before RFC 7413 used magic 0xf989). */
export const TCPOPT_EXP = 254;
export const TCP_MAX_SACK_BLOCKS = 4;

export interface TcpOptions {
  /** Maximum segment size, -1 if absent. */
  mss: number;
  /** Window scale shift count as sent (Linux caps its use at 14), -1 if absent. */
  wscale: number;
  sackPermitted: boolean;
  timestamps: boolean;
  tsVal: number;
  tsEcr: number;
  /** Number of SACK blocks (0..4); block i is sack[2i] (left edge), sack[2i+1] (right edge). */
  sackCount: number;
  readonly sack: Uint32Array;
  /** Options Linux ignores: unknown kinds, and known kinds with the wrong length. */
  unknown: number;
}

export function newTcpOptions(): TcpOptions {
  return { mss: -1, wscale: -1, sackPermitted: false, timestamps: false, tsVal: 0, tsEcr: 0, sackCount: 0, sack: new Uint32Array(2 * TCP_MAX_SACK_BLOCKS), unknown: 0 };
}

function reset(o: TcpOptions): void {
  o.mss = -1;
  o.wscale = -1;
  o.sackPermitted = false;
  o.timestamps = false;
  o.tsVal = 0;
  o.tsEcr = 0;
  o.sackCount = 0;
  o.sack.fill(0);
  o.unknown = 0;
}

/**
 * Decode the `len` option bytes at `off` (e.g. `r.options, 0, r.optionsLen`) into `out`
 * (reset first; nothing allocated). EOL ends the list; an option whose length is < 2 or runs
 * past the end is MALFORMED.
 */
export function parseTcpOptions(b: Uint8Array, off: number, len: number, out: TcpOptions): WireError {
  reset(out);
  const end = off + len;
  let i = off;
  while (i < end) {
    const kind = b[i]!;
    if (kind === TCPOPT_EOL) break;
    if (kind === TCPOPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return WireError.MALFORMED;
    const l = b[i + 1]!;
    if (l < 2 || i + l > end) return WireError.MALFORMED;
    if (kind === TCPOPT_MSS && l === 4) out.mss = getU16(b, i + 2);
    else if (kind === TCPOPT_WSCALE && l === 3) out.wscale = b[i + 2]!;
    else if (kind === TCPOPT_SACK_PERM && l === 2) out.sackPermitted = true;
    else if (kind === TCPOPT_TIMESTAMP && l === 10) {
      out.timestamps = true;
      out.tsVal = getU32(b, i + 2);
      out.tsEcr = getU32(b, i + 6);
    } else if (kind === TCPOPT_SACK && l >= 10 && (l - 2) % 8 === 0) {
      const n = (l - 2) >>> 3;
      for (let k = 0; k < n && k < TCP_MAX_SACK_BLOCKS; k++) {
        out.sack[2 * k] = getU32(b, i + 2 + 8 * k);
        out.sack[2 * k + 1] = getU32(b, i + 6 + 8 * k);
      }
      out.sackCount = n;
    } else out.unknown++;
    i += l;
  }
  return WireError.OK;
}

/**
 * Write `opts` at `off` in Linux's layout; returns the length (a multiple of 4, at most 40).
 * SACK blocks beyond what fits in 40 bytes are left out, as Linux does (3 with timestamps).
 * Unknown options are not written.
 */
export function emitTcpOptions(opts: TcpOptions, b: Uint8Array, off: number): number {
  let p = off;
  if (opts.mss >= 0) {
    setU32(b, p, 0x02040000 | (opts.mss & 0xffff));
    p += 4;
  }
  let sackPermPending = opts.sackPermitted;
  if (opts.timestamps) {
    setU32(b, p, sackPermPending ? 0x0402080a : 0x0101080a);
    sackPermPending = false;
    setU32(b, p + 4, opts.tsVal);
    setU32(b, p + 8, opts.tsEcr);
    p += 12;
  }
  if (sackPermPending) {
    setU32(b, p, 0x01010402);
    p += 4;
  }
  if (opts.wscale >= 0) {
    setU32(b, p, 0x01030300 | (opts.wscale & 0xff));
    p += 4;
  }
  const room = (TCP_MAX_OPTIONS_LEN - (p - off) - 4) >> 3;
  const n = Math.min(opts.sackCount, TCP_MAX_SACK_BLOCKS, room);
  if (n > 0) {
    setU32(b, p, 0x01010500 | (2 + 8 * n));
    for (let k = 0; k < n; k++) {
      setU32(b, p + 4 + 8 * k, opts.sack[2 * k]!);
      setU32(b, p + 8 + 8 * k, opts.sack[2 * k + 1]!);
    }
    p += 4 + 8 * n;
  }
  return p - off;
}

/** Encode `opts` into the Repr's option bytes (zero-filling the rest) and set `optionsLen`. */
export function setTcpReprOptions(r: TcpRepr, opts: TcpOptions): void {
  r.options.fill(0);
  r.optionsLen = emitTcpOptions(opts, r.options, 0);
}

// ---- tcpdump printer ------------------------------------------------------------------------
const FLAG_CHARS: readonly (readonly [number, string])[] = [
  [0x01, "F"], [0x02, "S"], [0x04, "R"], [0x08, "P"], [0x10, "."], [0x20, "U"], [0x40, "E"], [0x80, "W"],
];
const OPTION_NAMES: Record<number, string> = {
  0: "eol", 1: "nop", 2: "mss", 3: "wscale", 4: "sackOK", 5: "sack", 6: "echo", 7: "echoreply", 8: "TS",
  11: "cc", 12: "ccnew", 13: "ccecho", 19: "md5", 20: "scps", 28: "uto", 29: "tcp-ao", 30: "mptcp", 34: "tfo", 254: "exp",
};

/** One option as tcpdump prints it; `l` is its total length (1 for EOL/NOP). */
function formatOption(o: Uint8Array, i: number, kind: number, l: number): string {
  const name = OPTION_NAMES[kind] ?? `unknown-${kind}`;
  if (kind === TCPOPT_MSS && l === 4) return `${name} ${getU16(o, i + 2)}`;
  if (kind === TCPOPT_WSCALE && l === 3) return `${name} ${o[i + 2]}`;
  if (kind === TCPOPT_TIMESTAMP && l === 10) return `${name} val ${getU32(o, i + 2)} ecr ${getU32(o, i + 6)}`;
  if (kind === TCPOPT_SACK) {
    if ((l - 2) % 8 !== 0) return `${name} invalid sack`;
    let s = `${name} ${(l - 2) >>> 3} `;
    for (let k = i + 2; k < i + l; k += 8) s += `{${getU32(o, k)}:${getU32(o, k + 4)}}`;
    return s;
  }
  if ((kind === 6 || kind === 7 || (kind >= 11 && kind <= 13)) && l === 6) return `${name} ${getU32(o, i + 2)}`; // echo, cc
  if (kind === TCPOPT_UTO && l === 4) {
    const v = getU16(o, i + 2);
    return `${name} 0x${v.toString(16)} ${v & 1 ? (v >>> 1) * 60 : v >>> 1}`;
  }
  if (kind === TCPOPT_FASTOPEN) return `${name} ${fastOpen(o, i + 2, l - 2)}`; // sic: two spaces
  if (kind === TCPOPT_EXP && l >= 4) {
    const magic = getU16(o, i + 2);
    return magic === 0xf989 ? `${name}-tfo${fastOpen(o, i + 4, l - 4)}` : `${name}-${magic.toString(16).padStart(4, "0")}`;
  }
  if (l <= 2) return name;
  return `${name} 0x${hexBytes(o, i + 2, l - 2)}`;
}

function hexBytes(o: Uint8Array, i: number, n: number): string {
  let s = "";
  for (let k = i; k < i + n; k++) s += (o[k]! < 16 ? "0" : "") + o[k]!.toString(16);
  return s;
}

/** TCP Fast Open (RFC 7413) cookie text: ` cookiereq`, ` cookie <hex>`, or ` (invalid)`. */
function fastOpen(o: Uint8Array, i: number, n: number): string {
  if (n === 0) return " cookiereq";
  if (n % 2 !== 0 || n < 4 || n > 16) return " (invalid)";
  return ` cookie ${hexBytes(o, i, n)}`;
}

/**
 * tcpdump's ` options [...]` text. A structurally invalid list ends in `[bad opt]` and tcpdump
 * stops the line there (no closing bracket if it was the first option, no length): `bad` says so.
 */
function formatOptions(o: Uint8Array, len: number): { text: string; bad: boolean } {
  const parts: string[] = [];
  let i = 0;
  while (i < len) {
    const kind = o[i]!;
    if (kind === TCPOPT_EOL || kind === TCPOPT_NOP) {
      parts.push(OPTION_NAMES[kind]!);
      i++;
      if (kind === TCPOPT_EOL) break;
      continue;
    }
    const l = i + 1 < len ? o[i + 1]! : 0;
    if (l < 2 || i + l > len) {
      const text = parts.length ? `${parts.join(",")},[bad opt]]` : "[bad opt]";
      return { text: `, options [${text}`, bad: true };
    }
    parts.push(formatOption(o, i, kind, l));
    i += l;
  }
  return { text: `, options [${parts.join(",")}]`, bad: false };
}

/**
 * tcpdump -n -S style, after the addresses and ports (absolute sequence numbers: a printer
 * without flow state), e.g.
 * `Flags [S], seq 3735928559, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0`.
 * Flags are the 8 bits tcpdump 4.99 prints (NS is not shown). Options: eol, nop, mss, wscale,
 * sackOK, sack, TS, echo/cc, uto, tfo and exp as tcpdump decodes them; any other kind as its tcpdump name
 * (or `unknown-K`) plus its data in hex, which is tcpdump's own text for unknown kinds (it decodes
 * md5, mptcp, tcp-ao, scps further). A known kind with an unusual length prints in the hex form
 * (tcpdump appends `[len N]` and may lose its place in the list).
 */
export function formatTcp(r: TcpRepr): string {
  let flags = "";
  for (const [bit, c] of FLAG_CHARS) if (r.flags & bit) flags += c;
  let s = `Flags [${flags || "none"}]`;
  if (r.payloadLen > 0 || r.flags & (TCP_SYN | TCP_FIN | TCP_RST)) {
    s += `, seq ${r.seq}`;
    if (r.payloadLen > 0) s += `:${(r.seq + r.payloadLen) >>> 0}`;
  }
  if (r.flags & TCP_ACK) s += `, ack ${r.ack}`;
  s += `, win ${r.window}`;
  if (r.flags & TCP_URG) s += `, urg ${r.urgent}`;
  if (r.optionsLen > 0) {
    const { text, bad } = formatOptions(r.options, r.optionsLen);
    if (bad) return s + text;
    s += text;
  }
  return `${s}, length ${r.payloadLen}`;
}
