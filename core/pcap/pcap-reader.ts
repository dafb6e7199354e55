// Streaming classic pcap reader (layout in pcap-format.ts). Either byte order and either magic
// (microseconds or nanoseconds); `next(record)` fills a reused record whose data is a view into
// the input window. Every malformed or truncated input raises CaptureFormatError.
import { CaptureFormatError, CaptureReader, type CaptureRecord } from "./record.js";
import { ByteSource } from "./source.js";
import { LINKTYPE_MASK, PCAP_FILE_HEADER_LEN, PCAP_MAGIC_NS, PCAP_MAGIC_NS_SWAPPED, PCAP_MAGIC_US } from "./pcap-format.js";
import { PCAP_MAGIC_US_SWAPPED, PCAP_RECORD_HEADER_LEN, PCAP_SNAPLEN, PCAP_LINKTYPE, PCAP_VMAJOR, PCAP_VMINOR } from "./pcap-format.js";

/** Records claiming more than this many captured bytes are refused whatever the snaplen says. */
export const MAX_RECORD_LEN = 64 << 20;

export class PcapReader extends CaptureReader {
  readonly format = "pcap";
  readonly name: string;
  readonly littleEndian: boolean;
  /** True for the nanosecond magic (0xA1B23C4D). */
  readonly nano: boolean;
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly snaplen: number;
  readonly linkType: number;
  private readonly src: ByteSource;
  private readonly maxCapLen: number;
  private done = false;

  /** Reads the file header from `src` (positioned at the start of the file). */
  constructor(src: ByteSource) {
    super();
    this.src = src;
    this.name = src.name;
    if (!src.need(PCAP_FILE_HEADER_LEN)) this.fail(0, `truncated file header (${PCAP_FILE_HEADER_LEN} bytes needed, ${src.available} left)`);
    const magic = src.view.getUint32(src.pos, false);
    if (magic === PCAP_MAGIC_US || magic === PCAP_MAGIC_NS) this.littleEndian = false;
    else if (magic === PCAP_MAGIC_US_SWAPPED || magic === PCAP_MAGIC_NS_SWAPPED) this.littleEndian = true;
    else throw this.fail(0, `unknown magic 0x${magic.toString(16).padStart(8, "0")} (not a pcap file)`);
    this.nano = magic === PCAP_MAGIC_NS || magic === PCAP_MAGIC_NS_SWAPPED;
    const v = src.view;
    const le = this.littleEndian;
    this.versionMajor = v.getUint16(src.pos + PCAP_VMAJOR, le);
    this.versionMinor = v.getUint16(src.pos + PCAP_VMINOR, le);
    if (this.versionMajor !== 2) this.fail(PCAP_VMAJOR, `unsupported pcap version ${this.versionMajor}.${this.versionMinor}`);
    this.snaplen = v.getUint32(src.pos + PCAP_SNAPLEN, le);
    this.linkType = v.getUint32(src.pos + PCAP_LINKTYPE, le) & LINKTYPE_MASK;
    // A snaplen of 0 (some writers) or beyond the cap bounds nothing; the cap does.
    this.maxCapLen = this.snaplen === 0 || this.snaplen > MAX_RECORD_LEN ? MAX_RECORD_LEN : this.snaplen;
    src.skip(PCAP_FILE_HEADER_LEN);
  }

  next(r: CaptureRecord): boolean {
    if (this.done) return false;
    const src = this.src;
    const at = src.offset;
    if (!src.need(PCAP_RECORD_HEADER_LEN)) {
      if (src.available === 0) {
        this.close();
        return false;
      }
      this.fail(at, `truncated record header (${PCAP_RECORD_HEADER_LEN} bytes needed, ${src.available} left)`);
    }
    const v = src.view;
    const le = this.littleEndian;
    const p = src.pos;
    const sec = v.getUint32(p, le);
    const frac = v.getUint32(p + 4, le);
    const capLen = v.getUint32(p + 8, le);
    const origLen = v.getUint32(p + 12, le);
    if (frac >= (this.nano ? 1e9 : 1e6)) this.fail(at + 4, `${this.nano ? "nanoseconds" : "microseconds"} ${frac} out of range`);
    if (capLen > this.maxCapLen) {
      const what = capLen > MAX_RECORD_LEN ? `the ${MAX_RECORD_LEN}-byte limit` : `snaplen ${this.snaplen}`;
      this.fail(at + 8, `captured length ${capLen} larger than ${what}`);
    }
    if (!src.need(PCAP_RECORD_HEADER_LEN + capLen)) {
      this.fail(at, `truncated record (${PCAP_RECORD_HEADER_LEN + capLen} bytes needed, ${src.available} left)`);
    }
    const data = src.pos + PCAP_RECORD_HEADER_LEN; // need() may have moved the window
    r.sec = sec;
    r.nsec = this.nano ? frac : frac * 1000;
    r.buf = src.buf;
    r.off = data;
    r.capLen = capLen;
    r.data = src.buf.subarray(data, data + capLen);
    r.origLen = origLen;
    r.interfaceIndex = 0;
    r.interfaceName = "";
    r.linkType = this.linkType;
    r.flags = 0;
    r.comment = "";
    r.section = 0;
    r.fileOffset = at;
    src.skip(PCAP_RECORD_HEADER_LEN + capLen);
    return true;
  }

  close(): void {
    this.done = true;
    this.src.close();
  }

  private fail(offset: number, reason: string): never {
    this.done = true;
    this.src.close();
    throw new CaptureFormatError(this.name, offset, reason);
  }
}
