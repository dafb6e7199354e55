// The base of every device in the graph (veth peer, bridge, namespace stack, link impairment,
// endpoint). A device has numbered ports; each port is wired to one port of another device.
// The engine hands a device its input as a batch of slot indices (the ingress port of each is
// `arena.port[slot]`); the device sends each packet on with `engine.transmit(this, port, slot)`,
// consumes it with `engine.deliver(this, slot)`, or drops it with `engine.drop(this, reason, slot)`
// where `reason` is an index into its `reasons` list. Counters are per port and per reason.

import type { Engine } from "./engine.js";

/** Drop reasons every device has (indices 0..), before its own. */
export const ENGINE_REASONS = ["queue-full", "no-carrier", "no-buffer"] as const;
export const R_QUEUE_FULL = 0;
export const R_NO_CARRIER = 1;
export const R_NO_BUFFER = 2;

/** Input ring capacity per device (a netdev backlog): packets beyond it are dropped, counted. */
export const DEFAULT_QUEUE = 4096;

export abstract class Device {
  /** Index in the engine, set when added. */
  id = -1;
  engine!: Engine;
  readonly reasons: readonly string[];
  readonly drops: Float64Array;
  readonly portNames: string[] = [];
  /** Wiring: peer device id and port for each port (-1 when not wired). */
  peerDev = new Int32Array(4).fill(-1);
  peerPort = new Int32Array(4).fill(-1);
  /** Armed `trace add` rules looking at this device (its own, and `local` rules of the devices
   *  wired to it, which decide their packets here): the engine calls the trace hooks only when
   *  non-zero (trace.ts). */
  traceArmed = 0;
  /** Capture tap index per port (-1 none). */
  tapOf = new Int32Array(4).fill(-1);
  /** Per-port counters. */
  rxPackets = new Float64Array(4);
  rxBytes = new Float64Array(4);
  txPackets = new Float64Array(4);
  txBytes = new Float64Array(4);
  /** Input ring (engine-owned). */
  ring: Int32Array;
  ringHead = 0;
  ringCount = 0;
  /** Runtime view: process() calls, packets handed in, wall time spent (ns). */
  calls = 0;
  packets = 0;
  ns = 0;

  constructor(readonly name: string, ownReasons: readonly string[] = [], queue = DEFAULT_QUEUE) {
    this.reasons = [...ENGINE_REASONS, ...ownReasons];
    this.drops = new Float64Array(this.reasons.length);
    this.ring = new Int32Array(queue);
  }

  /** Index of one of this device's own drop reasons (cold: call at construction). */
  reason(name: string): number {
    const i = this.reasons.indexOf(name);
    if (i < 0) throw new Error(`${this.name}: unknown drop reason "${name}"`);
    return i;
  }

  /** Add a port; returns its index. */
  addPort(name: string): number {
    const p = this.portNames.length;
    this.portNames.push(name);
    if (p >= this.peerDev.length) this.grow(this.peerDev.length * 2);
    return p;
  }

  portIndex(name: string): number {
    return this.portNames.indexOf(name);
  }

  private grow(n: number): void {
    const g32 = (a: Int32Array) => {
      const b = new Int32Array(n).fill(-1);
      b.set(a);
      return b;
    };
    const g64 = (a: Float64Array) => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    this.peerDev = g32(this.peerDev);
    this.peerPort = g32(this.peerPort);
    this.tapOf = g32(this.tapOf);
    this.rxPackets = g64(this.rxPackets);
    this.rxBytes = g64(this.rxBytes);
    this.txPackets = g64(this.txPackets);
    this.txBytes = g64(this.txBytes);
  }

  /** Process `n` packets (slot indices in `slots[0..n)`), each arriving on `arena.port[slot]`. */
  abstract process(slots: Int32Array, n: number): void;

  /** Packets this device holds outside the engine's rings (delay lines, ARP queues). */
  held(): number {
    return 0;
  }

  /** Called once when the device joins an engine (resolve successors, take an RNG stream). */
  attached(): void {}
}
