// Opening a capture file or byte array whatever its format: the first four bytes say pcap (either
// magic, either byte order) or pcapng (the Section Header Block type). Re-exports what readers
// produce (CaptureRecord, CaptureFormatError) so callers need only this file.
import { CaptureFormatError, type CaptureRecord } from "./record.js";
import { ByteSource, DEFAULT_CHUNK } from "./source.js";
import { PcapReader } from "./pcap-reader.js";
import { PcapngReader, DEFAULT_MAX_BLOCK_LEN } from "./pcapng-reader.js";
import { PCAP_MAGIC_NS, PCAP_MAGIC_NS_SWAPPED, PCAP_MAGIC_US, PCAP_MAGIC_US_SWAPPED } from "./pcap-format.js";
import { BT_SHB } from "./pcapng-format.js";

export { CaptureFormatError, CaptureReader, copyRecord, newCaptureRecord } from "./record.js";
export type { CaptureInterface, CaptureRecord } from "./record.js";

export interface CaptureReaderOptions {
  /** Bytes read from the file at a time (default 1 MiB). */
  chunkSize?: number;
  /** pcapng blocks longer than this are refused (default 64 MiB). */
  maxBlockLength?: number;
}

export type CaptureFormat = "pcap" | "pcapng";

/** The format the first four bytes announce, or null. */
export function detectCaptureFormat(b: Uint8Array, off = 0): CaptureFormat | null {
  if (off + 4 > b.length) return null;
  const m = ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
  if (m === PCAP_MAGIC_US || m === PCAP_MAGIC_NS || m === PCAP_MAGIC_US_SWAPPED || m === PCAP_MAGIC_NS_SWAPPED) return "pcap";
  if (m === BT_SHB) return "pcapng";
  return null;
}

function open(src: ByteSource, opts: CaptureReaderOptions): PcapReader | PcapngReader {
  if (!src.need(4)) {
    src.close();
    throw new CaptureFormatError(src.name, 0, `truncated file (4 bytes of magic needed, ${src.available} left)`);
  }
  const format = detectCaptureFormat(src.buf, src.pos);
  if (format === "pcap") return new PcapReader(src);
  if (format === "pcapng") return new PcapngReader(src, opts.maxBlockLength ?? DEFAULT_MAX_BLOCK_LEN);
  const magic = Buffer.from(src.buf.subarray(src.pos, src.pos + 4)).toString("hex");
  src.close();
  throw new CaptureFormatError(src.name, 0, `unknown magic 0x${magic} (neither pcap nor pcapng)`);
}

/** Open a pcap or pcapng file for streaming reads (the file is read in chunks, never whole). */
export function openCaptureFile(path: string, opts: CaptureReaderOptions = {}): PcapReader | PcapngReader {
  return open(ByteSource.fromFile(path, opts.chunkSize ?? DEFAULT_CHUNK), opts);
}

/** Read a pcap or pcapng capture held in memory; `name` is used in error messages. */
export function openCaptureBytes(bytes: Uint8Array, name = "<memory>", opts: CaptureReaderOptions = {}): PcapReader | PcapngReader {
  return open(ByteSource.fromBytes(bytes, name), opts);
}

/** Every record of a capture file, each owning its bytes (cold paths, tests). */
export function readCaptureFile(path: string, opts: CaptureReaderOptions = {}): CaptureRecord[] {
  return openCaptureFile(path, opts).readAll();
}
