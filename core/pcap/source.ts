// The readers' input: a window over a file read in chunks (fs.readSync into one reusable buffer),
// or over a Uint8Array already in memory. Readers ask `need(n)` for n bytes at `pos`, read them
// through `view` / `buf`, then `skip(n)`. A file may be larger than memory: the window only ever
// holds max(chunk size, the largest block asked for), and the readers cap what they ask for.
import { closeSync, openSync, readSync } from "node:fs";

export const DEFAULT_CHUNK = 1 << 20;

export class ByteSource {
  /** The window; buf[pos] is the next unread byte, buf[end - 1] the last one read in. */
  buf: Uint8Array;
  view: DataView;
  pos = 0;
  end: number;
  /** File offset of buf[0]. */
  private base = 0;
  private fd: number;

  private constructor(readonly name: string, buf: Uint8Array, end: number, fd: number) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.end = end;
    this.fd = fd;
  }

  static fromFile(path: string, chunkSize = DEFAULT_CHUNK): ByteSource {
    const fd = openSync(path, "r");
    return new ByteSource(path, new Uint8Array(Math.max(64, chunkSize)), 0, fd);
  }

  static fromBytes(bytes: Uint8Array, name = "<memory>"): ByteSource {
    return new ByteSource(name, bytes, bytes.length, -1);
  }

  /** File offset of buf[pos]: where the next unread byte is. */
  get offset(): number {
    return this.base + this.pos;
  }

  /** Bytes available at pos without reading more. */
  get available(): number {
    return this.end - this.pos;
  }

  /**
   * Make `n` bytes available at `pos`, reading more of the file if needed. False when the file
   * ends first (then `available` says how many there are). Moves the window: earlier views of
   * `buf` may then hold other bytes.
   */
  need(n: number): boolean {
    if (this.end - this.pos >= n) return true;
    if (this.fd < 0) return false;
    this.refill(n);
    return this.end - this.pos >= n;
  }

  skip(n: number): void {
    this.pos += n;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private refill(n: number): void {
    const keep = this.end - this.pos;
    if (n > this.buf.length) {
      const bigger = new Uint8Array(Math.max(n, this.buf.length * 2));
      bigger.set(this.buf.subarray(this.pos, this.end));
      this.buf = bigger;
      this.view = new DataView(bigger.buffer);
    } else if (this.pos > 0) {
      this.buf.copyWithin(0, this.pos, this.end);
    }
    this.base += this.pos;
    this.pos = 0;
    this.end = keep;
    while (this.end < n) {
      const got = readSync(this.fd, this.buf, this.end, this.buf.length - this.end, this.base + this.end);
      if (got === 0) return;
      this.end += got;
    }
  }
}
