// IPv4 fragmentation of a forwarded packet larger than the next-hop MTU with DF clear
// (ip_fragment): fragments carry (mtu - header) bytes rounded down to 8, the same id, MF on all
// but the last, offsets in 8-byte units; options are copied to the first fragment only (all of
// them) and to later ones only when the option's copied bit is set. Each fragment is a new slot;
// the original is consumed.

import { getU16, setU16 } from "../../core/bytes.js";
import { internetChecksum } from "../../core/checksum.js";
import { ETH_HEADER_LEN } from "../../core/wire/ethernet.js";
import type { Netns } from "./netns.js";
import { outputVia } from "./ip-output.js";

/** Options copied into later fragments (at most 40 bytes): scratch, nothing allocated per packet. */
const copied = new Uint8Array(40);

export function fragmentAndSend(ns: Netns, s: number, rt: number, dst: number, mtu: number): void {
  const e = ns.engine;
  const a = e.arena;
  const b = a.bytes;
  const ip = a.start(s) + ETH_HEADER_LEN;
  const ihl = (b[ip]! & 15) * 4;
  const total = getU16(b, ip + 2);
  const ff = getU16(b, ip + 6);
  const baseOff = (ff & 0x1fff) * 8;
  const lastMf = ff & 0x2000;
  // later fragments' header: options with the copied bit only
  let nOpts = 0;
  for (let i = 20; i < ihl; ) {
    const t = b[ip + i]!;
    if (t === 0) break;
    if (t === 1) {
      i++;
      continue;
    }
    const l = b[ip + i + 1]!;
    if (l < 2) break;
    if (t & 0x80) for (let k = 0; k < l && nOpts < 40; k++) copied[nOpts++] = b[ip + i + k]!;
    i += l;
  }
  const laterIhl = 20 + ((nOpts + 3) & ~3);
  let pos = 0;
  const data = total - ihl;
  while (pos < data) {
    const hl = pos === 0 ? ihl : laterIhl;
    let n = data - pos;
    if (hl + n > mtu) n = (mtu - hl) & ~7;
    const f = e.alloc(ns);
    if (f < 0) break;
    const fo = a.start(f);
    const fip = fo + ETH_HEADER_LEN;
    a.setLen(f, ETH_HEADER_LEN + hl + n);
    b.copyWithin(fip, ip, ip + 20);
    if (pos === 0) b.copyWithin(fip + 20, ip + 20, ip + ihl);
    else {
      for (let k = 0; k < laterIhl - 20; k++) b[fip + 20 + k] = k < nOpts ? copied[k]! : 0;
      b[fip] = 0x40 | (laterIhl >> 2);
    }
    b.copyWithin(fip + hl, ip + ihl + pos, ip + ihl + pos + n);
    setU16(b, fip + 2, hl + n);
    const more = pos + n < data || lastMf ? 0x2000 : 0;
    setU16(b, fip + 6, more | ((baseOff + pos) >> 3));
    setU16(b, fip + 10, 0);
    setU16(b, fip + 10, internetChecksum(b, fip, hl));
    a.flags[f] = a.flags[s]!;
    outputVia(ns, f, rt, dst);
    pos += n;
  }
  e.deliver(ns, s); // the original is consumed by fragmentation (counted as delivered to the stack)
}
