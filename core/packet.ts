// The packet arena and batches.
//
// One SharedArrayBuffer holds every packet: it is cut into `slotCount` fixed slots of `slotSize`
// bytes (default 2048). A packet is a slot index; its frame starts `headroom` bytes into the slot
// (default 128), so encapsulation (VXLAN adds 50 bytes, IPIP 20, 802.1Q 4) prepends headers by
// moving the start back instead of copying the frame (Snabb packet.lua, VPP vlib_buffer_t).
//
// Per-packet metadata lives in typed arrays indexed by slot, in the same shared memory: data
// offset within the slot, length, ingress port, flow hash and flags. So a batch is only a list
// of slot indices: handing a packet to the next device, or to another worker thread, copies one
// int32 (STYLE.md habit 7: between workers only indices cross).
//
// Accounting: every slot is either free (on the free stack) or owned. `alloc` on an empty arena
// returns -1 and counts `allocFailures`; `free` of a free or out-of-range slot is refused and
// counted (`doubleFrees`, `badFrees`), never corrupts the free stack. `audit()` proves no slot
// is lost or duplicated.
//
// Not yet: allocation from several threads at once. Workers each own an arena (or a disjoint
// range of slots); see docs/architecture.md.

/** Flag bits in `PacketArena.flags`. */
export const PKT_TRACE = 1 << 0;
/** (1 << 1 is the namespace's PKT_FORWARDED; 1 << 3 .. 1 << 6 are its netfilter flags, netns.ts
 *  PKT_NFCT, PKT_NF_ATTACHED, PKT_BRNF, PKT_BRNF_DNAT.) The L4 checksum was written by the local stack that
 *  built the packet: Linux hands such a packet across a veth as CHECKSUM_PARTIAL, and the
 *  receiving stack accepts it without verifying (skb_csum_unnecessary). A packet from anywhere
 *  else (a replayed capture, a crafted frame) lacks the flag and is verified. */
export const PKT_L4_CSUM_OK = 1 << 2;

export interface ArenaOptions {
  slotCount: number;
  slotSize?: number;
  headroom?: number;
  /** Attach to an existing arena's buffer (another worker) instead of creating one. */
  buffer?: SharedArrayBuffer;
}

export interface ArenaStats {
  slotCount: number;
  inUse: number;
  free: number;
  allocs: number;
  frees: number;
  allocFailures: number;
  doubleFrees: number;
  badFrees: number;
}

export class PacketArena {
  readonly slotCount: number;
  readonly slotSize: number;
  readonly headroom: number;
  readonly buffer: SharedArrayBuffer;
  /** All frame bytes; a packet's frame is bytes[slot*slotSize + off[slot] ... + len[slot]]. */
  readonly bytes: Uint8Array;
  /** Data offset within the slot (headroom at allocation). */
  readonly off: Uint16Array;
  readonly len: Uint16Array;
  /** Ingress port of the current device (device-defined). */
  readonly port: Uint16Array;
  readonly hash: Uint32Array;
  readonly flags: Uint32Array;
  /** 1 while a slot is owned, 0 while free. */
  private readonly owned: Uint8Array;
  private readonly freeStack: Int32Array;
  private freeTop: number;
  allocs = 0;
  frees = 0;
  allocFailures = 0;
  doubleFrees = 0;
  badFrees = 0;

  constructor(opts: ArenaOptions) {
    const { slotCount, slotSize = 2048, headroom = 128 } = opts;
    if (!Number.isInteger(slotCount) || slotCount < 1) throw new RangeError(`slotCount ${slotCount} must be a positive integer`);
    if (!Number.isInteger(slotSize) || slotSize < 64 || slotSize > 65535) throw new RangeError(`slotSize ${slotSize} must be 64..65535`);
    if (!Number.isInteger(headroom) || headroom < 0 || headroom >= slotSize) throw new RangeError(`headroom ${headroom} must be 0..slotSize-1`);
    this.slotCount = slotCount;
    this.slotSize = slotSize;
    this.headroom = headroom;
    // Layout: [bytes | off u16 | len u16 | port u16 | pad | hash u32 | flags u32 | owned u8]
    const dataBytes = slotCount * slotSize;
    const u16Off = align(dataBytes, 4);
    const u32Off = align(u16Off + 3 * 2 * slotCount, 4);
    const u8Off = u32Off + 2 * 4 * slotCount;
    const total = u8Off + slotCount;
    this.buffer = opts.buffer ?? new SharedArrayBuffer(total);
    if (this.buffer.byteLength !== total) throw new RangeError(`buffer is ${this.buffer.byteLength} bytes, this layout needs ${total}`);
    this.bytes = new Uint8Array(this.buffer, 0, dataBytes);
    this.off = new Uint16Array(this.buffer, u16Off, slotCount);
    this.len = new Uint16Array(this.buffer, u16Off + 2 * slotCount, slotCount);
    this.port = new Uint16Array(this.buffer, u16Off + 4 * slotCount, slotCount);
    this.hash = new Uint32Array(this.buffer, u32Off, slotCount);
    this.flags = new Uint32Array(this.buffer, u32Off + 4 * slotCount, slotCount);
    this.owned = new Uint8Array(this.buffer, u8Off, slotCount);
    this.freeStack = new Int32Array(slotCount);
    // Lowest slots on top, so a fresh arena hands out 0, 1, 2, ... (deterministic).
    for (let i = 0; i < slotCount; i++) this.freeStack[i] = slotCount - 1 - i;
    this.freeTop = slotCount;
  }

  /** Take a slot; its frame is empty and starts after the headroom. Returns -1 when exhausted. */
  alloc(): number {
    if (this.freeTop === 0) {
      this.allocFailures++;
      return -1;
    }
    const s = this.freeStack[--this.freeTop]!;
    this.owned[s] = 1;
    this.off[s] = this.headroom;
    this.len[s] = 0;
    this.port[s] = 0;
    this.hash[s] = 0;
    this.flags[s] = 0;
    this.allocs++;
    return s;
  }

  /** Return a slot. Refuses (false, counted) a slot that is free already or out of range. */
  free(s: number): boolean {
    if (!(s >= 0 && s < this.slotCount) || (s | 0) !== s) {
      this.badFrees++;
      return false;
    }
    if (this.owned[s] === 0) {
      this.doubleFrees++;
      return false;
    }
    this.owned[s] = 0;
    this.freeStack[this.freeTop++] = s;
    this.frees++;
    return true;
  }

  isOwned(s: number): boolean {
    return this.owned[s] === 1;
  }

  /** Absolute offset of the packet's first byte in `bytes`. */
  start(s: number): number {
    return s * this.slotSize + this.off[s]!;
  }

  /** Absolute offset one past the slot's last byte (limit for appends). */
  slotEnd(s: number): number {
    return (s + 1) * this.slotSize;
  }

  /** Grow the front by `n` bytes (prepend a header). Returns the new start, or -1 if the headroom is too small. */
  push(s: number, n: number): number {
    const o = this.off[s]!;
    if (n > o) return -1;
    this.off[s] = o - n;
    this.len[s] = this.len[s]! + n;
    return s * this.slotSize + o - n;
  }

  /** Strip `n` bytes from the front (remove a header). Returns the new start, or -1 if the packet is shorter. */
  pull(s: number, n: number): number {
    const l = this.len[s]!;
    if (n > l) return -1;
    const o = this.off[s]! + n;
    this.off[s] = o;
    this.len[s] = l - n;
    return s * this.slotSize + o;
  }

  /** Set the length, checking the frame stays inside the slot. Returns false if it would not. */
  setLen(s: number, n: number): boolean {
    if (n < 0 || this.off[s]! + n > this.slotSize) return false;
    this.len[s] = n;
    return true;
  }

  /** Allocate a slot and copy a frame into it (cold path: traffic setup, tests, pcap replay). */
  allocFrom(src: Uint8Array, srcOff = 0, n = src.length - srcOff): number {
    if (n > this.slotSize - this.headroom) return -1;
    const s = this.alloc();
    if (s < 0) return -1;
    this.bytes.set(src.subarray(srcOff, srcOff + n), this.start(s));
    this.len[s] = n;
    return s;
  }

  /** A view of the packet's bytes (allocates a view: cold path only). */
  view(s: number): Uint8Array {
    const a = this.start(s);
    return this.bytes.subarray(a, a + this.len[s]!);
  }

  get inUse(): number {
    return this.slotCount - this.freeTop;
  }

  stats(): ArenaStats {
    const { slotCount, allocs, frees, allocFailures, doubleFrees, badFrees } = this;
    return { slotCount, inUse: this.inUse, free: this.freeTop, allocs, frees, allocFailures, doubleFrees, badFrees };
  }

  /**
   * Check the accounting: each slot is on the free stack exactly once or owned, never both, and
   * allocs - frees = owned. Returns a list of problems (empty when sound). Cold path.
   */
  audit(): string[] {
    const problems: string[] = [];
    const seen = new Uint8Array(this.slotCount);
    for (let i = 0; i < this.freeTop; i++) {
      const s = this.freeStack[i]!;
      if (seen[s]) problems.push(`slot ${s} is on the free stack twice`);
      seen[s] = 1;
      if (this.owned[s]) problems.push(`slot ${s} is both free and owned`);
    }
    let owned = 0;
    for (let s = 0; s < this.slotCount; s++) {
      if (this.owned[s]) owned++;
      else if (!seen[s]) problems.push(`slot ${s} is lost (neither free nor owned)`);
    }
    if (this.allocs - this.frees !== owned) problems.push(`allocs - frees = ${this.allocs - this.frees} but ${owned} slots are owned`);
    return problems;
  }
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** Maximum packets in a batch (VPP's vector size). */
export const BATCH_SIZE = 256;

/**
 * A batch: up to `capacity` slot indices. Devices read one batch and append each packet to the
 * batch of the next device (or drop it with a reason). Metadata is per slot in the arena.
 */
export class PacketBatch {
  readonly slots: Int32Array;
  count = 0;
  constructor(readonly capacity: number = BATCH_SIZE) {
    this.slots = new Int32Array(capacity);
  }
  /** Append; false when full (the caller drops and counts). */
  push(s: number): boolean {
    if (this.count === this.capacity) return false;
    this.slots[this.count++] = s;
    return true;
  }
  clear(): void {
    this.count = 0;
  }
  get full(): boolean {
    return this.count === this.capacity;
  }
  /** Free every packet in the batch back to the arena and empty it. */
  freeAll(arena: PacketArena): void {
    for (let i = 0; i < this.count; i++) arena.free(this.slots[i]!);
    this.count = 0;
  }
}
