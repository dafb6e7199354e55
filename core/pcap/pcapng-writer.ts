// Streaming pcapng writer (layouts in pcapng-format.ts): one Section Header Block, an Interface
// Description Block per `addInterface` (if_name, if_description, if_tsresol), and an Enhanced
// Packet Block per packet with epb_flags (direction) and opt_comment when given. Blocks are
// copied into one preallocated buffer that goes to the sink when full; without a comment nothing
// is allocated per packet. Timestamps default to nanoseconds (if_tsresol 9).
import { BLOCK_MIN_LEN, BT_EPB, BT_IDB, BT_SHB, BYTE_ORDER_MAGIC, EPB_HEADER_LEN, IDB_HEADER_LEN } from "./pcapng-format.js";
import { OPT_COMMENT, OPT_EPB_FLAGS, OPT_IF_DESCRIPTION, OPT_IF_NAME, OPT_IF_TSRESOL, OPT_SHB_USERAPPL } from "./pcapng-format.js";
import { SHB_HEADER_LEN, pad4 } from "./pcapng-format.js";
import { DEFAULT_SNAPLEN, LINKTYPE_ETHERNET } from "./pcap-format.js";
import { OutBuffer } from "./out-buffer.js";
import type { CaptureSink } from "./sink.js";
import { maxSecondsFor, timeToUnits, type Units64 } from "./time.js";

export interface PcapngWriterOptions {
  /** Timestamp units 10^-tsresol s for every interface, 0..9 (default 9, nanoseconds). */
  tsresol?: number;
  /** Byte order of the section (default true: little-endian). */
  littleEndian?: boolean;
  /** shb_userappl (default "wireyard"; "" writes none). */
  application?: string;
  /** Output buffer size in bytes (default 1 MiB). */
  bufferSize?: number;
}

export interface PcapngInterfaceOptions {
  /** if_name, e.g. "host1/docker0". */
  name?: string;
  /** if_description. */
  description?: string;
  /** LINKTYPE_* (default 1, Ethernet). */
  linkType?: number;
  /** Packets longer than this are cut to it (default 262144). */
  snaplen?: number;
}

const utf8 = new TextEncoder();

/** UTF-8 bytes of a string option; an option value holds 65535 bytes at most. */
function optionBytes(s: string): Uint8Array {
  const b = utf8.encode(s);
  if (b.length > 0xffff) throw new RangeError(`pcapng option of ${b.length} bytes (65535 at most)`);
  return b;
}

export class PcapngWriter {
  readonly tsresol: number;
  private readonly le: boolean;
  private readonly out: OutBuffer;
  private readonly maxSec: number;
  private readonly units: Units64 = { hi: 0, lo: 0 };
  private readonly snaplens: number[] = [];
  private closed = false;
  /** Packets written so far. */
  count = 0;

  constructor(sink: CaptureSink, opts: PcapngWriterOptions = {}) {
    this.tsresol = opts.tsresol ?? 9;
    if (!(this.tsresol >= 0 && this.tsresol <= 9 && Number.isInteger(this.tsresol))) throw new RangeError(`pcapng tsresol ${this.tsresol}: 0..9`);
    this.maxSec = maxSecondsFor(this.tsresol);
    this.le = opts.littleEndian ?? true;
    this.out = new OutBuffer(sink, opts.bufferSize);
    const app = opts.application ?? "wireyard";
    const appBytes = app === "" ? null : optionBytes(app);
    const optLen = appBytes ? 4 + appBytes.length + pad4(appBytes.length) + 4 : 0;
    const total = SHB_HEADER_LEN + optLen + 4;
    const p = this.blockStart(BT_SHB, total);
    const v = this.out.view;
    v.setUint32(p + 8, BYTE_ORDER_MAGIC, this.le);
    v.setUint16(p + 12, 1, this.le);
    v.setUint16(p + 14, 0, this.le);
    v.setInt32(p + 16, -1, this.le); // section length: not specified (the file is a stream)
    v.setInt32(p + 20, -1, this.le);
    let q = p + SHB_HEADER_LEN;
    if (appBytes) q = this.endOptions(this.bytesOption(q, OPT_SHB_USERAPPL, appBytes));
    this.blockEnd(p, q, total);
  }

  /** Write an Interface Description Block; returns the interface index for `writePacket`. */
  addInterface(opts: PcapngInterfaceOptions = {}): number {
    if (this.closed) throw new Error("pcapng writer: write after close");
    const snaplen = opts.snaplen ?? DEFAULT_SNAPLEN;
    if (!(snaplen >= 1 && snaplen <= 0x7fffffff)) throw new RangeError(`pcapng snaplen ${snaplen}`);
    const linkType = opts.linkType ?? LINKTYPE_ETHERNET;
    if (linkType >>> 0 !== linkType || linkType > 0xffff) throw new RangeError(`pcapng link type ${linkType}`);
    const name = opts.name ? optionBytes(opts.name) : null;
    const desc = opts.description ? optionBytes(opts.description) : null;
    const withTsresol = this.tsresol !== 6; // 10^-6 is the default when absent
    let optLen = 0;
    if (name) optLen += 4 + name.length + pad4(name.length);
    if (desc) optLen += 4 + desc.length + pad4(desc.length);
    if (withTsresol) optLen += 8;
    if (optLen > 0) optLen += 4;
    const total = IDB_HEADER_LEN + optLen + 4;
    const p = this.blockStart(BT_IDB, total);
    const v = this.out.view;
    v.setUint16(p + 8, linkType, this.le);
    v.setUint16(p + 10, 0, this.le);
    v.setUint32(p + 12, snaplen, this.le);
    let q = p + IDB_HEADER_LEN;
    if (name) q = this.bytesOption(q, OPT_IF_NAME, name);
    if (desc) q = this.bytesOption(q, OPT_IF_DESCRIPTION, desc);
    if (withTsresol) {
      v.setUint16(q, OPT_IF_TSRESOL, this.le);
      v.setUint16(q + 2, 1, this.le);
      v.setUint32(q + 4, 0, this.le);
      this.out.buf[q + 4] = this.tsresol;
      q += 8;
    }
    if (optLen > 0) q = this.endOptions(q);
    this.blockEnd(p, q, total);
    return this.snaplens.push(snaplen) - 1;
  }

  /**
   * Append an Enhanced Packet Block: `len` bytes of `buf` from `off` on interface `iface`, seen
   * at `sec` s + `nsec` ns (integers, nsec < 1e9). `origLen` is the length on the wire (default
   * `len`); bytes beyond the interface's snaplen are not stored. `flags` is epb_flags (written
   * when non-zero; EPB_INBOUND / EPB_OUTBOUND in bits 0-1); `comment` an opt_comment.
   */
  writePacket(iface: number, sec: number, nsec: number, buf: Uint8Array, off: number, len: number, origLen = len, flags = 0, comment = ""): void {
    if (this.closed) throw new Error("pcapng writer: write after close");
    const snaplens = this.snaplens;
    if (iface >>> 0 !== iface || iface >= snaplens.length) throw new RangeError(`pcapng interface ${iface} not added`);
    if (!(sec >= 0 && sec <= this.maxSec && Math.floor(sec) === sec) || nsec >>> 0 !== nsec || nsec >= 1e9) {
      throw new RangeError(`pcapng timestamp ${sec} s ${nsec} ns`);
    }
    if (!(off >= 0 && len >= 0 && off + len <= buf.length)) throw new RangeError(`packet bytes ${off}+${len} outside a buffer of ${buf.length}`);
    if (!(origLen >= len && origLen <= 0xffffffff)) throw new RangeError(`original length ${origLen} < captured ${len}`);
    const snaplen = snaplens[iface]!;
    const capLen = len < snaplen ? len : snaplen;
    const note = comment === "" ? null : optionBytes(comment); // the one allocation, only with a comment
    let optLen = flags !== 0 ? 8 : 0;
    if (note) optLen += 4 + note.length + pad4(note.length);
    if (optLen > 0) optLen += 4;
    const dataPad = pad4(capLen);
    const total = EPB_HEADER_LEN + capLen + dataPad + optLen + 4;
    const p = this.blockStart(BT_EPB, total);
    const o = this.out;
    const v = o.view;
    const le = this.le;
    const u = this.units;
    timeToUnits(sec, nsec, this.tsresol, u);
    v.setUint32(p + 8, iface, le);
    v.setUint32(p + 12, u.hi, le);
    v.setUint32(p + 16, u.lo, le);
    v.setUint32(p + 20, capLen, le);
    v.setUint32(p + 24, origLen, le);
    o.copyIn(buf, off, capLen, p + EPB_HEADER_LEN);
    let q = p + EPB_HEADER_LEN + capLen;
    for (let i = 0; i < dataPad; i++) o.buf[q++] = 0;
    if (flags !== 0) {
      v.setUint16(q, OPT_EPB_FLAGS, le);
      v.setUint16(q + 2, 4, le);
      v.setUint32(q + 4, flags, le);
      q += 8;
    }
    if (note) q = this.bytesOption(q, OPT_COMMENT, note);
    if (optLen > 0) q = this.endOptions(q);
    this.blockEnd(p, q, total);
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

  /** Reserve `total` bytes and write the block type and length; returns the block's offset. */
  private blockStart(type: number, total: number): number {
    if (total < BLOCK_MIN_LEN || total > 0xffffffff) throw new RangeError(`pcapng block of ${total} bytes`);
    const o = this.out;
    o.reserve(total);
    const p = o.pos;
    o.view.setUint32(p, type, this.le);
    o.view.setUint32(p + 4, total, this.le);
    return p;
  }

  /** Write the trailing total length at `q` (which must be where the block's body ended). */
  private blockEnd(p: number, q: number, total: number): void {
    this.out.view.setUint32(q, total, this.le);
    this.out.pos = p + total;
  }

  private bytesOption(q: number, code: number, bytes: Uint8Array): number {
    const v = this.out.view;
    v.setUint16(q, code, this.le);
    v.setUint16(q + 2, bytes.length, this.le);
    this.out.buf.set(bytes, q + 4);
    let e = q + 4 + bytes.length;
    for (let i = pad4(bytes.length); i > 0; i--) this.out.buf[e++] = 0;
    return e;
  }

  private endOptions(q: number): number {
    this.out.view.setUint32(q, 0, this.le); // opt_endofopt: code 0, length 0
    return q + 4;
  }
}
