// The engine: a graph of devices, their input rings, the virtual clock, and the loop that moves
// batches until nothing is left to do at the current time, then advances to the next timer.
//
//   run(until):  repeat { service every device with input, in id order, until all rings are empty;
//                         advance the clock to the next timer (if <= until) and fire it }
//
// Packets are arena slots. Every slot ends in exactly one of: delivered (an endpoint consumed
// it), dropped (with a device and a reason), or still queued (in a ring or held by a device).
// `conservation()` checks created = delivered + dropped + queued, and queued = slots in use.

import { PacketArena, PKT_TRACE } from "../../core/packet.js";
import { Clock } from "./clock.js";
import { Rng } from "./rng.js";
import { Device, R_NO_BUFFER, R_NO_CARRIER, R_QUEUE_FULL } from "./device.js";
import { Capture } from "./capture.js";
import { TraceLog } from "./trace.js";
import { BATCH_SIZE } from "../../core/packet.js";
import type { CaptureSink } from "../../core/pcap/index.js";

export interface EngineOptions {
  seed?: number;
  slots?: number;
  slotSize?: number;
  headroom?: number;
  /** Put the arena in this buffer (sized for slots/slotSize/headroom, e.g. another arena's
   *  `buffer`) instead of a new one: a parallel run's main thread allocates each worker's. */
  arenaBuffer?: SharedArrayBuffer;
  /** Guard against forwarding loops at one instant (an L2 loop never advances time). */
  maxBatchesPerInstant?: number;
  /** Time every device call for `runtime()` (ns per packet). Off by default: performance.now()
   *  returns a heap number on Node 20 (~16 bytes per call, 15 GCs per 2*10^6 calls measured). */
  profile?: boolean;
}

export class EngineError extends Error {
  override name = "EngineError";
}

export interface Conservation {
  created: number;
  delivered: number;
  dropped: number;
  queued: number;
  inUse: number;
  ok: boolean;
}

export class Engine {
  readonly arena: PacketArena;
  readonly clock = new Clock();
  readonly rng: Rng;
  readonly devices: Device[] = [];
  readonly trace = new TraceLog(this);
  capture: Capture | null = null;
  delivered = 0;
  dropped = 0;
  private readonly batch = new Int32Array(BATCH_SIZE);
  private readonly maxBatches: number;
  readonly profile: boolean;
  private readonly byName = new Map<string, Device>();

  constructor(opts: EngineOptions = {}) {
    const arena = { slotCount: opts.slots ?? 65536, slotSize: opts.slotSize ?? 2048, headroom: opts.headroom ?? 128 };
    this.arena = new PacketArena(opts.arenaBuffer ? { ...arena, buffer: opts.arenaBuffer } : arena);
    this.rng = new Rng(opts.seed ?? 1);
    this.maxBatches = opts.maxBatchesPerInstant ?? 1_000_000;
    this.profile = opts.profile ?? false;
  }

  add<D extends Device>(d: D): D {
    if (this.byName.has(d.name)) throw new EngineError(`a device named "${d.name}" exists already`);
    d.id = this.devices.length;
    d.engine = this;
    this.devices.push(d);
    this.byName.set(d.name, d);
    d.attached();
    return d;
  }

  device(name: string): Device | undefined {
    return this.byName.get(name);
  }

  /** Wire port `pa` of `a` to port `pb` of `b` (both directions). */
  connect(a: Device, pa: number, b: Device, pb: number): void {
    if (a.peerDev[pa] !== -1 || b.peerDev[pb] !== -1) throw new EngineError(`${a.name}/${a.portNames[pa]} or ${b.name}/${b.portNames[pb]} is wired already`);
    a.peerDev[pa] = b.id;
    a.peerPort[pa] = pb;
    b.peerDev[pb] = a.id;
    b.peerPort[pb] = pa;
  }

  disconnect(a: Device, pa: number): void {
    const b = this.devices[a.peerDev[pa]!];
    if (b) {
      b.peerDev[a.peerPort[pa]!] = -1;
      b.peerPort[a.peerPort[pa]!] = -1;
    }
    a.peerDev[pa] = -1;
    a.peerPort[pa] = -1;
  }

  // ---- captures ----------------------------------------------------------------------------

  /** Start writing a pcapng capture to `sink` (taps added with `tap`). */
  openCapture(sink: CaptureSink): Capture {
    if (this.capture) throw new EngineError("a capture is open already");
    this.capture = new Capture(this, sink);
    return this.capture;
  }

  /** Capture both directions of `dev`'s port `port` as capture point `name` (e.g. "c0/eth0"). */
  tap(dev: Device, port: number, name: string): number {
    if (!this.capture) throw new EngineError("open a capture before adding taps");
    return this.capture.tap(dev, port, name);
  }

  // ---- the per-packet operations devices call ---------------------------------------------

  /** A new packet (counted as created); -1 when the arena is exhausted (counted on `dev`). */
  alloc(dev: Device): number {
    const s = this.arena.alloc();
    if (s < 0) dev.drops[R_NO_BUFFER]!++;
    // `trace add` with `local`: packets a device creates may be marked (trace.ts `created`).
    else if (dev.traceArmed !== 0) this.trace.created(dev, s);
    return s;
  }

  /** Put `slot` into `dev`'s input ring as arriving on `port`. */
  enqueue(dev: Device, port: number, slot: number): void {
    const a = this.arena;
    // `trace add` on this device (or a neighbour's): one test per packet while none is armed.
    if (dev.traceArmed !== 0) this.trace.arrive(dev, port, slot);
    dev.rxPackets[port]!++;
    dev.rxBytes[port]! += a.len[slot]!;
    if (dev.tapOf[port]! >= 0) this.capture!.write(dev.tapOf[port]!, slot, true);
    if (dev.ringCount === dev.ring.length) return this.drop(dev, R_QUEUE_FULL, slot);
    a.port[slot] = port;
    const r = dev.ring;
    // head < length and count < length: one conditional subtraction instead of `%` (an integer
    // division per hop)
    let t = dev.ringHead + dev.ringCount;
    if (t >= r.length) t -= r.length;
    r[t] = slot;
    dev.ringCount++;
  }

  /** Send `slot` out of `dev`'s `port` to whatever is wired there. */
  transmit(dev: Device, port: number, slot: number): void {
    const peer = dev.peerDev[port]!;
    if (peer < 0) return this.drop(dev, R_NO_CARRIER, slot);
    dev.txPackets[port]!++;
    dev.txBytes[port]! += this.arena.len[slot]!;
    if (dev.tapOf[port]! >= 0) this.capture!.write(dev.tapOf[port]!, slot, false);
    this.enqueue(this.devices[peer]!, dev.peerPort[port]!, slot);
  }

  /** An endpoint consumed the packet. */
  deliver(dev: Device, slot: number): void {
    if (this.arena.flags[slot]! & PKT_TRACE) this.trace.note(slot, dev, "delivered");
    this.delivered++;
    this.trace.release(slot);
    this.arena.free(slot);
  }

  /** The packet is dropped by `dev` for reason index `reason`. */
  drop(dev: Device, reason: number, slot: number): void {
    dev.drops[reason]!++;
    this.dropped++;
    if (this.arena.flags[slot]! & PKT_TRACE) this.trace.note(slot, dev, `dropped: ${dev.reasons[reason]}`);
    this.trace.release(slot);
    this.arena.free(slot);
  }

  // ---- the loop ----------------------------------------------------------------------------

  /** Service every ring until all are empty (at the current virtual time). */
  drain(): void {
    const devs = this.devices;
    const batch = this.batch;
    let batches = 0;
    let busy = true;
    while (busy) {
      busy = false;
      for (let i = 0; i < devs.length; i++) {
        const d = devs[i]!;
        if (d.ringCount === 0) continue;
        busy = true;
        const r = d.ring;
        const n = d.ringCount < BATCH_SIZE ? d.ringCount : BATCH_SIZE;
        let h = d.ringHead;
        for (let k = 0; k < n; k++) {
          batch[k] = r[h]!;
          h = h + 1 === r.length ? 0 : h + 1;
        }
        d.ringHead = h;
        d.ringCount -= n;
        if (this.profile) {
          const t0 = performance.now();
          d.process(batch, n);
          d.ns += (performance.now() - t0) * 1e6;
        } else d.process(batch, n);
        d.calls++;
        d.packets += n;
        if (++batches > this.maxBatches) throw new EngineError(`more than ${this.maxBatches} batches at virtual time ${this.clock.now} ns without time advancing: a forwarding loop?`);
      }
    }
  }

  /** Run until no work is left or virtual time would pass `until` (ns). */
  run(until = Infinity): void {
    this.drain();
    for (;;) {
      const t = this.clock.next();
      if (t === Infinity || t > until) break;
      this.clock.advanceTo(t);
      this.drain();
    }
    if (until !== Infinity && until > this.clock.now) this.clock.advanceTo(until);
  }

  // ---- views -------------------------------------------------------------------------------

  conservation(): Conservation {
    let queued = 0;
    for (const d of this.devices) queued += d.ringCount + d.held();
    const created = this.arena.allocs;
    const inUse = this.arena.inUse;
    return { created, delivered: this.delivered, dropped: this.dropped, queued, inUse, ok: created === this.delivered + this.dropped + queued && queued === inUse };
  }

  /** `show runtime`: per device, calls, packets, packets per call and ns per packet (NaN unless `profile`). */
  runtime(): { device: string; calls: number; packets: number; perCall: number; nsPerPacket: number }[] {
    return this.devices.filter((d) => d.calls > 0).map((d) => ({ device: d.name, calls: d.calls, packets: d.packets, perCall: d.packets / d.calls, nsPerPacket: this.profile ? d.ns / d.packets : NaN }));
  }

  /** `show errors`: every non-zero drop counter. */
  errors(): { device: string; reason: string; count: number }[] {
    const out: { device: string; reason: string; count: number }[] = [];
    for (const d of this.devices) d.drops.forEach((c, i) => c > 0 && out.push({ device: d.name, reason: d.reasons[i]!, count: c }));
    return out;
  }
}
