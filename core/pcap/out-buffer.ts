// The capture writers' output: one preallocated buffer (1 MiB by default) with a DataView made once,
// into which records are copied and which goes to the sink whenever the next record does not fit.
// Nothing here allocates per record (a record larger than the buffer grows it, once).
import type { CaptureSink } from "./sink.js";

export const DEFAULT_BUFFER_SIZE = 1 << 20;

export class OutBuffer {
  buf: Uint8Array;
  view: DataView;
  /** Next free byte of buf. */
  pos = 0;
  // One-entry cache of a DataView over the last source ArrayBuffer (the packet arena, usually).
  private srcBuffer: ArrayBufferLike | null = null;
  private srcView: DataView = new DataView(new ArrayBuffer(0));

  constructor(
    readonly sink: CaptureSink,
    size = DEFAULT_BUFFER_SIZE,
  ) {
    this.buf = new Uint8Array(Math.max(64, size));
    this.view = new DataView(this.buf.buffer);
  }

  /** Make room for `n` bytes at `pos`: flush when they do not fit, grow if they never would. */
  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.flush();
    if (n > this.buf.length) {
      this.buf = new Uint8Array(n);
      this.view = new DataView(this.buf.buffer);
    }
  }

  flush(): void {
    if (this.pos > 0) this.sink.write(this.buf, 0, this.pos);
    this.pos = 0;
  }

  /**
   * Copy src[off, off + len) to buf[at, ...). A whole array goes through `set`; a slice of a larger
   * buffer is copied 4 bytes at a time through DataViews instead of `set(subarray)`, which would
   * allocate a view per record. Measured (Node 20, 1 core, AMD EPYC): 16-byte-unrolled DataView
   * copy 1.5 GB/s at 64 B, 2.7 GB/s at 200 B, 3.9 GB/s at 1500 B; a byte loop 1.0 GB/s.
   */
  copyIn(src: Uint8Array, off: number, len: number, at: number): void {
    if (off === 0 && len === src.length) {
      this.buf.set(src, at);
      return;
    }
    if (src.buffer !== this.srcBuffer) {
      this.srcBuffer = src.buffer;
      this.srcView = new DataView(src.buffer);
    }
    const sv = this.srcView;
    const ov = this.view;
    const base = src.byteOffset + off;
    let i = 0;
    for (; i + 16 <= len; i += 16) {
      ov.setInt32(at + i, sv.getInt32(base + i));
      ov.setInt32(at + i + 4, sv.getInt32(base + i + 4));
      ov.setInt32(at + i + 8, sv.getInt32(base + i + 8));
      ov.setInt32(at + i + 12, sv.getInt32(base + i + 12));
    }
    for (; i + 4 <= len; i += 4) ov.setInt32(at + i, sv.getInt32(base + i));
    const b = this.buf;
    for (; i < len; i++) b[at + i] = src[off + i]!;
  }
}
