// Streaming pcapng reader (layouts in pcapng-format.ts). Sections in either byte order, one after
// another; interfaces from IDBs (if_name, if_description, if_tsresol 10^-n or 2^-n, if_tsoffset);
// packets from EPBs (epb_flags, opt_comment), SPBs and obsolete PBs; any other block is skipped by
// its length. `next(record)` fills a reused record whose data is a view into the input window.
// Every malformed or truncated input raises CaptureFormatError naming the file and byte offset.
import { CaptureFormatError, CaptureReader, type CaptureInterface, type CaptureRecord } from "./record.js";
import { ByteSource } from "./source.js";
import { unitsToTime } from "./time.js";
import { BLOCK_HEADER_LEN, BLOCK_MIN_LEN, BT_EPB, BT_IDB, BT_PB, BT_SHB, BT_SPB, BYTE_ORDER_MAGIC } from "./pcapng-format.js";
import { EPB_HEADER_LEN, EPB_MIN_LEN, IDB_HEADER_LEN, IDB_MIN_LEN, OPT_COMMENT, OPT_EPB_FLAGS } from "./pcapng-format.js";
import { OPT_IF_DESCRIPTION, OPT_IF_NAME, OPT_IF_TSOFFSET, OPT_IF_TSRESOL, OPT_SHB_USERAPPL } from "./pcapng-format.js";
import { SHB_HEADER_LEN, SHB_MIN_LEN, SPB_HEADER_LEN, SPB_MIN_LEN, pad4 } from "./pcapng-format.js";

/** Blocks claiming more bytes than this are refused (the reader would have to hold them). */
export const DEFAULT_MAX_BLOCK_LEN = 64 << 20;

const utf8 = new TextDecoder("utf-8"); // not fatal: bad UTF-8 becomes U+FFFD, never a throw
const decode = (b: Uint8Array, start: number, end: number): string => {
  while (end > start && b[end - 1] === 0) end--; // some writers include a NUL terminator
  return utf8.decode(b.subarray(start, end));
};

export class PcapngReader extends CaptureReader {
  readonly format = "pcapng";
  readonly name: string;
  /** Byte order of the current section. */
  littleEndian = true;
  /** Current section, from 0. */
  section = -1;
  /** Interfaces of the current section, by index. */
  interfaces: CaptureInterface[] = [];
  /** shb_userappl of the current section ("" when absent). */
  application = "";
  private readonly src: ByteSource;
  private readonly maxBlockLen: number;
  private done = false;
  // Filled by options() for the block being read.
  private optFlags = 0;
  private optComment = "";
  private blockType = 0;

  /** Reads the first Section Header Block from `src` (positioned at the start of the file). */
  constructor(src: ByteSource, maxBlockLen = DEFAULT_MAX_BLOCK_LEN) {
    super();
    this.src = src;
    this.name = src.name;
    this.maxBlockLen = maxBlockLen;
    if (!src.need(4)) this.fail(0, `truncated section header block (${SHB_MIN_LEN} bytes needed, ${src.available} left)`);
    const first = src.view.getUint32(src.pos, true);
    if (first !== BT_SHB) this.fail(0, `first block has type 0x${first.toString(16)}, not a section header (not a pcapng file)`);
    this.readShb(this.block());
  }

  next(r: CaptureRecord): boolean {
    if (this.done) return false;
    const src = this.src;
    for (;;) {
      const at = src.offset;
      const len = this.block();
      if (len < 0) {
        this.close();
        return false;
      }
      const type = this.blockType;
      if (type === BT_EPB || type === BT_PB) return this.readEpb(r, at, len, type);
      if (type === BT_SPB) return this.readSpb(r, at, len);
      if (type === BT_IDB) this.readIdb(at, len);
      else if (type === BT_SHB) this.readShb(len);
      else src.skip(len); // NRB, ISB, DSB, custom, ...: not ours to read
    }
  }

  close(): void {
    this.done = true;
    this.src.close();
  }

  /**
   * Check the block at `src.pos` and bring all of it into the window: returns its total length
   * (sets blockType), or -1 at a clean end of file. An SHB sets the byte order first.
   */
  private block(): number {
    const src = this.src;
    const at = src.offset;
    if (!src.need(BLOCK_HEADER_LEN)) {
      if (src.available === 0) return -1;
      this.fail(at, `truncated block header (${BLOCK_HEADER_LEN} bytes needed, ${src.available} left)`);
    }
    let type = src.view.getUint32(src.pos, this.littleEndian);
    if (type === BT_SHB) {
      if (!src.need(12)) this.fail(at, `truncated section header block (12 bytes needed, ${src.available} left)`);
      const magic = src.view.getUint32(src.pos + 8, true);
      if (magic === BYTE_ORDER_MAGIC) this.littleEndian = true;
      else if (src.view.getUint32(src.pos + 8, false) === BYTE_ORDER_MAGIC) this.littleEndian = false;
      else this.fail(at + 8, `bad byte-order magic 0x${magic.toString(16).padStart(8, "0")} in section header`);
    }
    const le = this.littleEndian;
    type = src.view.getUint32(src.pos, le);
    const len = src.view.getUint32(src.pos + 4, le);
    const min = type === BT_EPB || type === BT_PB ? EPB_MIN_LEN : type === BT_SHB ? SHB_MIN_LEN : type === BT_IDB ? IDB_MIN_LEN : type === BT_SPB ? SPB_MIN_LEN : BLOCK_MIN_LEN;
    if (len % 4 !== 0) this.fail(at + 4, `block total length ${len} is not a multiple of 4`);
    if (len < min) this.fail(at + 4, `block total length ${len} is less than ${min} (block type 0x${type.toString(16)})`);
    if (len > this.maxBlockLen) this.fail(at + 4, `block total length ${len} is larger than the ${this.maxBlockLen}-byte limit`);
    if (!src.need(len)) this.fail(at, `truncated block (${len} bytes needed, ${src.available} left)`);
    const trailing = src.view.getUint32(src.pos + len - 4, le);
    if (trailing !== len) this.fail(at + len - 4, `trailing block total length ${trailing} does not match ${len}`);
    this.blockType = type;
    return len;
  }

  private readShb(len: number): void {
    const src = this.src;
    const at = src.offset;
    const major = src.view.getUint16(src.pos + 12, this.littleEndian);
    const minor = src.view.getUint16(src.pos + 14, this.littleEndian);
    if (major !== 1) this.fail(at + 12, `unsupported pcapng version ${major}.${minor}`);
    this.section++;
    this.interfaces = [];
    this.application = "";
    this.options(at, src.pos + SHB_HEADER_LEN, src.pos + len - 4);
    src.skip(len);
  }

  private readIdb(at: number, len: number): void {
    const src = this.src;
    const p = src.pos;
    const le = this.littleEndian;
    const iface: CaptureInterface = {
      name: "", description: "", linkType: src.view.getUint16(p + 8, le), snaplen: src.view.getUint32(p + 12, le), tsresol: 6, tsoffset: 0,
    };
    this.interfaces.push(iface);
    this.options(at, p + IDB_HEADER_LEN, p + len - 4, iface);
    src.skip(len);
  }

  private readEpb(r: CaptureRecord, at: number, len: number, type: number): boolean {
    const src = this.src;
    const v = src.view;
    const le = this.littleEndian;
    const p = src.pos;
    const id = type === BT_EPB ? v.getUint32(p + 8, le) : v.getUint16(p + 8, le);
    if (id >= this.interfaces.length) this.fail(at + 8, `interface ${id} not described (${this.interfaces.length} in this section)`);
    const capLen = v.getUint32(p + 20, le);
    const room = len - EPB_MIN_LEN;
    if (capLen > room) this.fail(at + 20, `captured length ${capLen} larger than the block holds (${room})`);
    const iface = this.interfaces[id]!;
    unitsToTime(v.getUint32(p + 12, le), v.getUint32(p + 16, le), iface.tsresol, iface.tsoffset, r);
    this.options(at, p + EPB_HEADER_LEN + capLen + pad4(capLen), p + len - 4);
    this.fill(r, at, p + EPB_HEADER_LEN, capLen, v.getUint32(p + 24, le), id);
    src.skip(len);
    return true;
  }

  private readSpb(r: CaptureRecord, at: number, len: number): boolean {
    const src = this.src;
    if (this.interfaces.length === 0) this.fail(at, "simple packet block before any interface description");
    const origLen = src.view.getUint32(src.pos + 8, this.littleEndian);
    const snaplen = this.interfaces[0]!.snaplen;
    let capLen = Math.min(origLen, len - SPB_MIN_LEN);
    if (snaplen !== 0 && snaplen < capLen) capLen = snaplen;
    r.sec = 0;
    r.nsec = 0;
    this.optFlags = 0;
    this.optComment = "";
    this.fill(r, at, src.pos + SPB_HEADER_LEN, capLen, origLen, 0);
    src.skip(len);
    return true;
  }

  private fill(r: CaptureRecord, at: number, data: number, capLen: number, origLen: number, id: number): void {
    const iface = this.interfaces[id]!;
    const buf = this.src.buf;
    r.buf = buf;
    r.off = data;
    r.capLen = capLen;
    r.data = buf.subarray(data, data + capLen);
    r.origLen = origLen;
    r.interfaceIndex = id;
    r.interfaceName = iface.name;
    r.linkType = iface.linkType;
    r.flags = this.optFlags;
    r.comment = this.optComment;
    r.section = this.section;
    r.fileOffset = at;
  }

  /**
   * Walk the options in buf[start, end) of the block at file offset `at`: an IDB's go into
   * `iface`, an SHB's application into `application`, a packet's flags and comment into optFlags
   * and optComment. Unknown options are skipped.
   */
  private options(at: number, start: number, end: number, iface?: CaptureInterface): void {
    const src = this.src;
    const b = src.buf;
    const v = src.view;
    const le = this.littleEndian;
    const type = this.blockType;
    const fileOff = at - src.pos; // buffer position -> file offset
    this.optFlags = 0;
    this.optComment = "";
    for (let q = start; q + 4 <= end; ) {
      const code = v.getUint16(q, le);
      const n = v.getUint16(q + 2, le);
      if (code === 0) return; // opt_endofopt
      const val = q + 4;
      if (val + n > end) this.fail(fileOff + q, `option ${code} of length ${n} runs past the end of the block`);
      if (code === OPT_COMMENT) {
        const c = decode(b, val, val + n);
        this.optComment = this.optComment === "" ? c : `${this.optComment}\n${c}`;
      } else if (iface) {
        if (code === OPT_IF_NAME) iface.name = decode(b, val, val + n);
        else if (code === OPT_IF_DESCRIPTION) iface.description = decode(b, val, val + n);
        else if (code === OPT_IF_TSRESOL) iface.tsresol = n === 1 ? b[val]! : this.fail(fileOff + q, `if_tsresol of length ${n} (1 expected)`);
        else if (code === OPT_IF_TSOFFSET) {
          if (n !== 8) this.fail(fileOff + q, `if_tsoffset of length ${n} (8 expected)`);
          const hi = v.getInt32(val + (le ? 4 : 0), le);
          iface.tsoffset = hi * 0x1_0000_0000 + v.getUint32(val + (le ? 0 : 4), le);
        }
      } else if (type === BT_SHB) {
        if (code === OPT_SHB_USERAPPL) this.application = decode(b, val, val + n);
      } else if (code === OPT_EPB_FLAGS) {
        if (n !== 4) this.fail(fileOff + q, `epb_flags of length ${n} (4 expected)`);
        this.optFlags = v.getUint32(val, le);
      }
      q = val + n + pad4(n);
    }
  }

  private fail(offset: number, reason: string): never {
    this.done = true;
    this.src.close();
    throw new CaptureFormatError(this.name, offset, reason);
  }
}
