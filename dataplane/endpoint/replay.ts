// Replay of a capture file into an interface (tcpreplay for the emulator): pcap or pcapng in any
// format the readers take (either byte order, micro- or nanosecond pcap, pcapng sections and
// timestamp resolutions), from a path (streamed: one record held at a time) or from bytes.
//
// Where the frames go, `into: { device, port }` and `mode`:
//   "received" (default): each frame arrives at `port` of `device` as from the wire: the
//     device's rx counters, a tap on that port (inbound), then its input ring (full: the frame
//     is dropped `queue-full` and counted). Into a bridge port the bridge learns and forwards
//     it; into a namespace's eth0 its stack answers it. The device wired to that port sees
//     nothing of it.
//   "sent": `device` sends each frame out of `port`, as `tcpreplay -i IF` puts frames on IF's
//     link: its tx counters, its tap (outbound), then the device wired there receives it (ring
//     full: `queue-full`; nothing wired: `no-carrier`). The sender's own stack does not process
//     it (tcpreplay's frames bypass the sending host's IP stack too).
//   So "sent out of c2/eth0" and "received by c2's bridge port" put the same frames into the
//   bridge; they differ in whose counters and taps see them.
//
// Timing: a frame is injected at startAt + (its timestamp - the first selected record's) / speed
// on the virtual clock (startAt defaults to now, speed to 1). speed "asap" injects every frame at
// startAt, in file order, in one go: frames beyond what the input ring holds are dropped
// (`queue-full`), as a real ring would. A timestamp earlier than the previous frame's is taken
// as the previous one's (frames keep file order). One Timer, re-armed per frame time; frames
// due at the same instant are injected together.
//
// Selection: `interface` (pcapng if_name, or index within its section) and `direction` ("in" or
// "out": epb_flags) pick records, e.g. what c2/eth0 sent in a capture of an earlier run; records
// not picked are counted as `filtered` and do not set the timeline.
//
// Not injected, counted in `skipped` by reason: link types other than Ethernet (`link-type`),
// records cut short by the snap length, caplen < len (`truncated`: the frame is incomplete),
// frames larger than an arena slot's data room (`too-big`). A malformed record ends the replay:
// frames before it stay injected and the CaptureFormatError (naming the file and byte offset)
// is kept in `result.error`. Errors found when opening (no such file, not a capture, a bad
// file header) and bad arguments throw from `replayPcap`.
//
// Accounting: read = filtered + skipped + injected + dropped (no-buffer, queue-full,
// no-carrier), each also counted on the device that dropped it. With `trace`, every injected
// frame is marked (trace.ts) with a first line naming its record.

import type { Engine } from "../engine/engine.js";
import { R_NO_BUFFER, type Device } from "../engine/device.js";
import { Timer } from "../engine/clock.js";
import { EPB_DIR_MASK, EPB_INBOUND, EPB_OUTBOUND, LINKTYPE_ETHERNET, newCaptureRecord, openCaptureBytes, openCaptureFile, type CaptureReader } from "../../core/pcap/index.js";

export type ReplayMode = "received" | "sent";

export interface ReplayTarget {
  device: Device;
  /** Port index or name (a namespace's interface, a bridge port). */
  port: number | string;
}

export interface ReplayOptions {
  mode?: ReplayMode;
  /** Virtual time (ns) of the first frame; default now. */
  startAt?: number;
  /** Time scale: 2 = twice as fast; "asap" (or Infinity) = all at startAt. Default 1. */
  speed?: number | "asap";
  /** Only records of this pcapng interface (if_name, or index in its section). */
  interface?: string | number;
  /** Only records with this direction (pcapng epb_flags). */
  direction?: "in" | "out";
  /** Mark every injected frame for tracing. */
  trace?: boolean;
  /** Read size for a path (default the reader's, 1 MiB). */
  chunkSize?: number;
  /** Name of an in-memory source in messages (default "<memory>"). */
  name?: string;
  onDone?: (r: ReplayResult) => void;
}

export const REPLAY_SKIPS = ["link-type", "truncated", "too-big"] as const;
export const REPLAY_DROPS = ["no-buffer", "queue-full", "no-carrier"] as const;

export interface ReplayResult {
  /** The file name, or the name given for bytes. */
  source: string;
  read: number;
  filtered: number;
  injected: number;
  skipped: Record<(typeof REPLAY_SKIPS)[number], number>;
  dropped: Record<(typeof REPLAY_DROPS)[number], number>;
  /** Virtual times of the first and last frame handed over (NaN before the first). */
  firstAt: number;
  lastAt: number;
  done: boolean;
  /** The malformed record that ended the replay early, or null. */
  error: Error | null;
}

export class PcapReplay {
  readonly result: ReplayResult;
  readonly mode: ReplayMode;
  readonly port: number;
  private readonly reader: CaptureReader;
  private readonly rec = newCaptureRecord();
  private readonly timer: Timer;
  private readonly speed: number;
  private readonly startAt: number;
  private readonly ifName: string | null;
  private readonly ifIndex: number;
  private readonly dir: number;
  private readonly room: number;
  /** Timestamp of the first selected record (the timeline's zero), once read. */
  private started = false;
  private sec0 = 0;
  private nsec0 = 0;
  /** When the record held in `rec` is due. */
  private nextAt = 0;

  constructor(readonly engine: Engine, source: string | Uint8Array, readonly into: ReplayTarget, private readonly opts: ReplayOptions = {}) {
    const dev = into.device;
    const what = typeof source === "string" ? source : (opts.name ?? "<memory>");
    if (dev.engine !== engine) throw new RangeError(`replay of ${what}: device ${dev.name} is not in this engine`);
    const port = typeof into.port === "string" ? dev.portIndex(into.port) : into.port;
    if (!Number.isInteger(port) || port < 0 || port >= dev.portNames.length) {
      throw new RangeError(`replay of ${what}: ${dev.name} has no port ${into.port} (ports: ${dev.portNames.join(", ") || "none"})`);
    }
    this.port = port;
    this.mode = opts.mode ?? "received";
    if (this.mode !== "received" && this.mode !== "sent") throw new RangeError(`replay of ${what}: mode "${String(this.mode)}" (received or sent)`);
    const speed = opts.speed ?? 1;
    this.speed = speed === "asap" ? Infinity : speed;
    if (!(this.speed > 0)) throw new RangeError(`replay of ${what}: speed ${String(speed)} must be > 0 or "asap"`);
    const now = engine.clock.now;
    this.startAt = opts.startAt ?? now;
    if (!(this.startAt >= now)) throw new RangeError(`replay of ${what}: startAt ${opts.startAt} ns is before now (${now} ns)`);
    this.ifName = typeof opts.interface === "string" ? opts.interface : null;
    this.ifIndex = typeof opts.interface === "number" ? opts.interface : -1;
    this.dir = opts.direction === "in" ? EPB_INBOUND : opts.direction === "out" ? EPB_OUTBOUND : 0;
    this.room = engine.arena.slotSize - engine.arena.headroom;
    // Opening reads the file header: a missing file or one that is not a capture throws here.
    this.reader = typeof source === "string" ? openCaptureFile(source, opts.chunkSize ? { chunkSize: opts.chunkSize } : {}) : openCaptureBytes(source, what);
    this.result = {
      source: this.reader.name, read: 0, filtered: 0, injected: 0,
      skipped: { "link-type": 0, truncated: 0, "too-big": 0 },
      dropped: { "no-buffer": 0, "queue-full": 0, "no-carrier": 0 },
      firstAt: NaN, lastAt: NaN, done: false, error: null,
    };
    this.timer = new Timer(`replay ${this.reader.name}`, () => this.fire());
  }

  /** Read up to the first frame and arm the timer for it. */
  start(): this {
    if (this.advance()) this.engine.clock.arm(this.timer, this.nextAt);
    else this.finish();
    return this;
  }

  /** Stop early (the file is closed; what was injected stays). */
  stop(): void {
    if (this.result.done) return;
    this.engine.clock.cancel(this.timer);
    this.finish();
  }

  private fire(): void {
    const now = this.engine.clock.now;
    do {
      this.inject();
      if (!this.advance()) return this.finish();
    } while (this.nextAt <= now);
    this.engine.clock.arm(this.timer, this.nextAt);
  }

  /** Read records until one to inject is held in `rec` (true, nextAt set) or the end. */
  private advance(): boolean {
    const r = this.rec;
    const res = this.result;
    for (;;) {
      try {
        if (!this.reader.next(r)) return false;
      } catch (err) {
        res.error = err as Error; // the reader names the file, byte offset and fault
        return false;
      }
      res.read++;
      if ((this.ifName !== null && r.interfaceName !== this.ifName) || (this.ifIndex >= 0 && r.interfaceIndex !== this.ifIndex) || (this.dir !== 0 && (r.flags & EPB_DIR_MASK) !== this.dir)) {
        res.filtered++;
        continue;
      }
      if (!this.started) {
        this.started = true;
        this.sec0 = r.sec;
        this.nsec0 = r.nsec;
        this.nextAt = this.startAt;
      }
      if (r.linkType !== LINKTYPE_ETHERNET) res.skipped["link-type"]++;
      else if (r.capLen < r.origLen) res.skipped.truncated++;
      else if (r.capLen > this.room) res.skipped["too-big"]++;
      else {
        if (this.speed !== Infinity) {
          // seconds are subtracted first: epoch nanoseconds do not fit a double exactly
          const at = this.startAt + Math.round(((r.sec - this.sec0) * 1e9 + (r.nsec - this.nsec0)) / this.speed);
          if (at > this.nextAt) this.nextAt = at;
        }
        return true;
      }
    }
  }

  /** Hand the record held in `rec` to the device. */
  private inject(): void {
    const e = this.engine;
    const a = e.arena;
    const dev = this.into.device;
    const res = this.result;
    // A received frame comes from the wire, not from the device: the arena directly, so that a
    // `trace add` rule on the device does not take it for one it created (engine.alloc's hook).
    const received = this.mode === "received";
    const s = received ? a.alloc() : e.alloc(dev);
    if (s < 0) {
      if (received) dev.drops[R_NO_BUFFER]!++;
      res.dropped["no-buffer"]++;
      return;
    }
    const r = this.rec;
    a.bytes.set(r.data, a.start(s));
    a.setLen(s, r.capLen);
    if (this.opts.trace) {
      e.trace.mark(s);
      e.trace.note(s, dev, `replayed ${this.mode === "sent" ? "out of" : "into"} ${dev.portNames[this.port]}: ${res.source} record at byte ${r.fileOffset}`);
    }
    if (res.injected + res.dropped["queue-full"] + res.dropped["no-carrier"] === 0) res.firstAt = e.clock.now;
    res.lastAt = e.clock.now;
    if (received) {
      if (dev.ringCount === dev.ring.length) res.dropped["queue-full"]++;
      else res.injected++;
      e.enqueue(dev, this.port, s);
      return;
    }
    const peer = e.devices[dev.peerDev[this.port]!];
    if (peer === undefined) res.dropped["no-carrier"]++;
    else if (peer.ringCount === peer.ring.length) res.dropped["queue-full"]++;
    else res.injected++;
    e.transmit(dev, this.port, s);
  }

  private finish(): void {
    this.reader.close();
    this.result.done = true;
    if (this.opts.onDone) this.opts.onDone(this.result);
  }
}

/** Replay `source` (a path, streamed, or capture bytes) into `into` from now on (see the header). */
export function replayPcap(engine: Engine, source: string | Uint8Array, into: ReplayTarget, opts: ReplayOptions = {}): PcapReplay {
  return new PcapReplay(engine, source, into, opts).start();
}
