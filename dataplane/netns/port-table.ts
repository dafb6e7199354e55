// A table from a 16-bit port to its handler, with the part of Map's interface the socket layer
// uses (get/set/has/delete/keys/size). Lookup is one array load instead of a hash-map probe: the
// UDP receive path looks a port up per packet.

export class PortTable<H> {
  private readonly h: (H | null)[] = new Array<H | null>(65536).fill(null);
  private n = 0;

  get size(): number {
    return this.n;
  }

  /** The handler bound to `port` (0..65535), or null. */
  get(port: number): H | null {
    return this.h[port & 0xffff]!;
  }

  has(port: number): boolean {
    return this.h[port & 0xffff] !== null;
  }

  set(port: number, handler: H): this {
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new RangeError(`port ${port} is not in 0..65535`);
    if (this.h[port] === null) this.n++;
    this.h[port] = handler;
    return this;
  }

  delete(port: number): boolean {
    if (this.h[port & 0xffff] === null) return false;
    this.h[port & 0xffff] = null;
    this.n--;
    return true;
  }

  /** Bound ports in increasing order. */
  *keys(): IterableIterator<number> {
    for (let p = 0; p < 65536; p++) if (this.h[p] !== null) yield p;
  }
}
