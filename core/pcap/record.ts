// What every capture reader produces: the record it fills, the error it raises on a malformed
// file, and the base class giving `next(record)` readers their sync and async iterators.
// Timestamps are always two integers, whole seconds and nanoseconds within the second (0..1e9-1):
// never a BigInt, never a float of nanoseconds since the epoch (2^53 ns is only 104 days).

/** A malformed or truncated capture file: names the file, the byte offset and the problem. */
export class CaptureFormatError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`${file}: at byte ${offset}: ${reason}`);
    this.name = "CaptureFormatError";
  }
}

export interface CaptureRecord {
  /** Timestamp: seconds since the epoch (or since 0 in virtual time) and nanoseconds. */
  sec: number;
  nsec: number;
  /** The captured bytes: a view into the reader's buffer, valid until the next `next()` call. */
  data: Uint8Array;
  /** The same bytes as buffer + offset + length, for callers that copy without a view. */
  buf: Uint8Array;
  off: number;
  capLen: number;
  /** Length of the packet on the wire (>= capLen when the capture was cut to a snaplen). */
  origLen: number;
  /** pcapng: interface index within its section; pcap: 0. */
  interfaceIndex: number;
  /** pcapng if_name ("" when absent, and always for pcap). */
  interfaceName: string;
  /** LINKTYPE_* of the record's interface (1 = Ethernet). */
  linkType: number;
  /** pcapng epb_flags (0 when absent); direction = flags & 3: 1 inbound, 2 outbound. */
  flags: number;
  /** pcapng opt_comment (several are joined with "\n"; "" when none). */
  comment: string;
  /** pcapng section number, from 0 (pcap: 0). */
  section: number;
  /** Byte offset of the record (pcap) or block (pcapng) in the file. */
  fileOffset: number;
}

export function newCaptureRecord(): CaptureRecord {
  const empty = new Uint8Array(0);
  return {
    sec: 0, nsec: 0, data: empty, buf: empty, off: 0, capLen: 0, origLen: 0, interfaceIndex: 0,
    interfaceName: "", linkType: 0, flags: 0, comment: "", section: 0, fileOffset: 0,
  };
}

/** A record that owns its bytes (data copied out of the reader's buffer). */
export function copyRecord(r: CaptureRecord): CaptureRecord {
  const data = r.data.slice();
  return { ...r, data, buf: data, off: 0 };
}

/** One interface of a pcapng section (pcap files have exactly one, without a name). */
export interface CaptureInterface {
  name: string;
  description: string;
  linkType: number;
  snaplen: number;
  /** if_tsresol byte as in the file: n = 10^-n s, 0x80 | n = 2^-n s (6 when absent). */
  tsresol: number;
  /** if_tsoffset in seconds (0 when absent). */
  tsoffset: number;
}

/**
 * Base of PcapReader and PcapngReader. `next(r)` is the fast path; the iterators are for cold
 * paths and yield records that own their bytes. Reaching the end or an error closes the file.
 */
export abstract class CaptureReader {
  abstract readonly format: "pcap" | "pcapng";
  /** The file name used in error messages. */
  abstract readonly name: string;
  /** Fill `r` with the next record; false at the end of the file. Throws CaptureFormatError. */
  abstract next(r: CaptureRecord): boolean;
  abstract close(): void;

  *[Symbol.iterator](): Generator<CaptureRecord, void, undefined> {
    const r = newCaptureRecord();
    try {
      while (this.next(r)) yield copyRecord(r);
    } finally {
      this.close();
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<CaptureRecord, void, undefined> {
    for (const r of this) yield r;
  }

  /** Every remaining record (cold paths and tests). */
  readAll(): CaptureRecord[] {
    return [...this];
  }
}
