// The Internet checksum (RFC 1071): one's-complement sum of 16-bit big-endian words.
//
//   sum      = checksumAdd(0, buf, off, len)          partial 32-bit sum, not folded
//   checksum = checksumFinish(sum)                    fold carries, complement -> 16 bits
//
// Pseudo-header for UDP/TCP over IPv4 (RFC 768, RFC 9293):
//   +--------+--------+--------+--------+
//   |           Source Address          |
//   |         Destination Address       |
//   |  zero  |  PTCL  |    L4 Length    |
//   +--------+--------+--------+--------+
//
// Incremental update (RFC 1624, eqn. 3): HC' = ~(~HC + ~m + m') for a 16-bit field changing from
// m to m'; a 32-bit field is two 16-bit halves. It equals a full recompute except when every
// covered byte is zero (full: 0xffff, incremental: 0) — impossible for IPv4 headers (version byte)
// and for UDP/TCP (the pseudo-header carries the protocol number). Used for TTL decrement and NAT rewrites so that
// forwarding never re-reads the payload.
//
// UDP rule (RFC 768): a computed checksum of 0 is transmitted as 0xffff; a received 0 means the
// sender computed none. See `udpChecksumOnWire`.

/**
 * Add `len` bytes at `off` to a running 32-bit sum. An odd final byte is padded with zero. Only
 * the folded value of the result is meaningful (`checksumFold`): where the partial sum is folded
 * on the way is not part of the contract.
 */
export function checksumAdd(sum: number, b: Uint8Array, off: number, len: number): number {
  // Unrolled, with the high and low bytes of the words summed apart and combined once per block
  // (RFC 1071 2(B): the order of the additions does not matter). Against checksumAddReference,
  // the word-at-a-time loop it replaces: 20 bytes 10.4 -> 7.6 ns, 1500 bytes 713 -> 397 ns
  // (medians of 5 runs, each in a fresh process; Node 20.20, AMD EPYC; bench/RESULTS.md).
  // A block is at most 8 KiB, so the byte sums stay below 2^20 and the running sum a small
  // integer (SMI); it is folded between blocks.
  if (len <= 0) return sum;
  const wend = off + (len & ~1);
  let i = off;
  while (i < wend) {
    const bend = Math.min(wend, i + 8192);
    let hi = 0;
    let lo = 0;
    for (; i + 8 <= bend; i += 8) {
      hi += b[i]! + b[i + 2]! + b[i + 4]! + b[i + 6]!;
      lo += b[i + 1]! + b[i + 3]! + b[i + 5]! + b[i + 7]!;
    }
    for (; i < bend; i += 2) {
      hi += b[i]!;
      lo += b[i + 1]!;
    }
    sum += hi * 256 + lo;
    if (i < wend) sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (len & 1) sum += b[wend]! << 8;
  return sum;
}

/**
 * checksumAdd(0, b, off, 20) straight-line, for the 20-byte IPv4 header without options that the
 * forwarding path verifies per packet (same folded value; property-tested).
 */
export function checksumAdd20(b: Uint8Array, off: number): number {
  const hi = b[off]! + b[off + 2]! + b[off + 4]! + b[off + 6]! + b[off + 8]! + b[off + 10]! + b[off + 12]! + b[off + 14]! + b[off + 16]! + b[off + 18]!;
  const lo = b[off + 1]! + b[off + 3]! + b[off + 5]! + b[off + 7]! + b[off + 9]! + b[off + 11]! + b[off + 13]! + b[off + 15]! + b[off + 17]! + b[off + 19]!;
  return hi * 256 + lo;
}

/** The plain word-at-a-time sum that `checksumAdd` replaces, kept as its reference (same folded value). */
export function checksumAddReference(sum: number, b: Uint8Array, off: number, len: number): number {
  const end = off + len;
  let i = off;
  // One word per iteration; fold every 4096 words so the sum stays a small integer (SMI).
  while (i + 1 < end) {
    sum += (b[i]! << 8) | b[i + 1]!;
    i += 2;
    if ((i & 0x1fff) === 0) sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (i < end) sum += b[i]! << 8;
  return sum;
}

/** Fold a 32-bit partial sum into 16 bits (no complement). */
export function checksumFold(sum: number): number {
  sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum & 0xffff) + (sum >>> 16);
}

/** Fold and complement: the value written into a checksum field. */
export function checksumFinish(sum: number): number {
  return ~checksumFold(sum) & 0xffff;
}

/** Checksum of a byte range (field assumed zeroed or included, as the caller arranges). */
export function internetChecksum(b: Uint8Array, off: number, len: number): number {
  return checksumFinish(checksumAdd(0, b, off, len));
}

/** Whether a range that includes its own checksum field verifies (sums to 0xffff). */
export function checksumVerifies(b: Uint8Array, off: number, len: number): boolean {
  return checksumFold(checksumAdd(0, b, off, len)) === 0xffff;
}

/** Partial sum of the IPv4 pseudo-header for UDP/TCP (`l4len` = L4 header + payload). */
export function pseudoHeaderSum(src: number, dst: number, proto: number, l4len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + l4len;
}

/** RFC 768: a computed UDP checksum of 0 goes on the wire as 0xffff (0 means "none"). */
export function udpChecksumOnWire(c: number): number {
  return c === 0 ? 0xffff : c;
}

/** RFC 1624 incremental update of checksum `hc` when a 16-bit field changes from `oldv` to `newv`. */
export function checksumUpdate16(hc: number, oldv: number, newv: number): number {
  let s = (~hc & 0xffff) + (~oldv & 0xffff) + (newv & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** RFC 1624 incremental update for a 32-bit field (an IPv4 address). */
export function checksumUpdate32(hc: number, oldv: number, newv: number): number {
  let s = (~hc & 0xffff) + (~(oldv >>> 16) & 0xffff) + (~oldv & 0xffff) + (newv >>> 16) + (newv & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
