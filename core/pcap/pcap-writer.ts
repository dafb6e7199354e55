// Streaming classic pcap writer (layout in pcap-format.ts): the file header, then one 16-byte
// record header + captured bytes per packet, copied into one preallocated buffer that goes to the
// sink when full; no allocation per record. Microsecond (magic 0xA1B2C3D4, the default) or
// nanosecond (0xA1B23C4D) timestamps, either byte order, link type Ethernet unless told otherwise.
import { DEFAULT_SNAPLEN, LINKTYPE_ETHERNET, PCAP_FILE_HEADER_LEN, PCAP_MAGIC_NS, PCAP_MAGIC_US } from "./pcap-format.js";
import { PCAP_RECORD_HEADER_LEN, PCAP_VERSION_MAJOR, PCAP_VERSION_MINOR } from "./pcap-format.js";
import { OutBuffer } from "./out-buffer.js";
import type { CaptureSink } from "./sink.js";

export interface PcapWriterOptions {
  /** 6 = microseconds (default), 9 = nanoseconds. */
  tsresol?: 6 | 9;
  /** Packets longer than this are cut to it; their original length is kept. Default 262144. */
  snaplen?: number;
  /** LINKTYPE_* (default 1, Ethernet). */
  linkType?: number;
  /** Byte order of every field (default true: little-endian, as tcpdump writes on x86). */
  littleEndian?: boolean;
  /** Output buffer size in bytes (default 1 MiB). */
  bufferSize?: number;
}

export class PcapWriter {
  readonly snaplen: number;
  readonly nano: boolean;
  private readonly le: boolean;
  private readonly out: OutBuffer;
  private closed = false;
  /** Records written so far. */
  count = 0;

  constructor(sink: CaptureSink, opts: PcapWriterOptions = {}) {
    const tsresol = opts.tsresol ?? 6;
    if (tsresol !== 6 && tsresol !== 9) throw new RangeError(`pcap tsresol ${tsresol}: only 6 and 9 exist`);
    this.nano = tsresol === 9;
    this.snaplen = opts.snaplen ?? DEFAULT_SNAPLEN;
    if (!(this.snaplen >= 1 && this.snaplen <= 0x7fffffff)) throw new RangeError(`pcap snaplen ${this.snaplen}`);
    this.le = opts.littleEndian ?? true;
    this.out = new OutBuffer(sink, opts.bufferSize);
    const o = this.out;
    const v = o.view;
    const le = this.le;
    o.reserve(PCAP_FILE_HEADER_LEN);
    v.setUint32(0, this.nano ? PCAP_MAGIC_NS : PCAP_MAGIC_US, le);
    v.setUint16(4, PCAP_VERSION_MAJOR, le);
    v.setUint16(6, PCAP_VERSION_MINOR, le);
    v.setUint32(8, 0, le);
    v.setUint32(12, 0, le);
    v.setUint32(16, this.snaplen, le);
    v.setUint32(20, opts.linkType ?? LINKTYPE_ETHERNET, le);
    o.pos = PCAP_FILE_HEADER_LEN;
  }

  /**
   * Append one packet: `len` bytes of `buf` from `off`, seen at `sec` s + `nsec` ns (integers,
   * 0 <= sec < 2^32, 0 <= nsec < 1e9; microsecond files keep floor(nsec / 1000)). `origLen` is
   * the length on the wire (default `len`); the captured bytes are cut to the snaplen.
   */
  writePacket(sec: number, nsec: number, buf: Uint8Array, off: number, len: number, origLen = len): void {
    if (this.closed) throw new Error("pcap writer: write after close");
    if (sec >>> 0 !== sec || nsec >>> 0 !== nsec || nsec >= 1e9) throw new RangeError(`pcap timestamp ${sec} s ${nsec} ns`);
    if (!(off >= 0 && len >= 0 && off + len <= buf.length)) throw new RangeError(`packet bytes ${off}+${len} outside a buffer of ${buf.length}`);
    if (!(origLen >= len && origLen <= 0xffffffff)) throw new RangeError(`original length ${origLen} < captured ${len}`);
    const capLen = len < this.snaplen ? len : this.snaplen;
    const o = this.out;
    o.reserve(PCAP_RECORD_HEADER_LEN + capLen);
    const v = o.view;
    const le = this.le;
    const p = o.pos;
    v.setUint32(p, sec, le);
    v.setUint32(p + 4, this.nano ? nsec : (nsec / 1000) | 0, le);
    v.setUint32(p + 8, capLen, le);
    v.setUint32(p + 12, origLen, le);
    o.copyIn(buf, off, capLen, p + PCAP_RECORD_HEADER_LEN);
    o.pos = p + PCAP_RECORD_HEADER_LEN + capLen;
    this.count++;
  }

  /** Send what is buffered to the sink. */
  flush(): void {
    this.out.flush();
  }

  /** Flush and close the sink. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.out.flush();
    this.out.sink.close();
  }
}
