// Where capture writers send their bytes: a file (fs.openSync + fs.writeSync) or memory (for tests
// and in-memory captures). Writers hand a sink large chunks (their whole output buffer), so a
// sink does one system call or one copy per chunk.
import { closeSync, openSync, writeSync } from "node:fs";

export interface CaptureSink {
  /** Take `len` bytes of `b` from `off`; the bytes may be overwritten once this returns. */
  write(b: Uint8Array, off: number, len: number): void;
  close(): void;
}

/** Writes to a file, created or truncated on open. */
export class FileSink implements CaptureSink {
  private fd: number;

  constructor(readonly path: string) {
    this.fd = openSync(path, "w");
  }

  write(b: Uint8Array, off: number, len: number): void {
    if (this.fd < 0) throw new Error(`${this.path}: write after close`);
    let done = 0;
    while (done < len) done += writeSync(this.fd, b, off + done, len - done);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** Keeps everything written in one growing buffer. */
export class MemorySink implements CaptureSink {
  private buf = new Uint8Array(1 << 16);
  private len = 0;
  closed = false;

  write(b: Uint8Array, off: number, len: number): void {
    if (this.len + len > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.len + len));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    this.buf.set(b.subarray(off, off + len), this.len);
    this.len += len;
  }

  close(): void {
    this.closed = true;
  }

  get length(): number {
    return this.len;
  }

  /** The bytes written so far: a view, valid until the next write. */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}
