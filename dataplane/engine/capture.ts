// Capture points: a tap on any device port writes pcapng, one interface block per point named
// `<namespace>/<ifname>` (e.g. `host1/docker0`, `c0/eth0`), packets with the in/out direction
// flag, virtual timestamps, and the trace lines of traced packets as comments. Writing copies the
// frame into the writer's buffer: nothing is allocated per packet (except for traced packets).

import { EPB_INBOUND, EPB_OUTBOUND, PcapngWriter, type CaptureSink } from "../../core/pcap/index.js";
import { PKT_TRACE } from "../../core/packet.js";
import type { Engine } from "./engine.js";
import type { Device } from "./device.js";

export class Capture {
  readonly writer: PcapngWriter;
  readonly names: string[] = [];
  packets = 0;

  constructor(private readonly engine: Engine, sink: CaptureSink) {
    this.writer = new PcapngWriter(sink);
  }

  /** Tap `dev`'s `port` under `name`; both directions are written. Returns the interface index. */
  tap(dev: Device, port: number, name: string): number {
    if (dev.tapOf[port]! >= 0) return dev.tapOf[port]!;
    const i = this.writer.addInterface({ name, description: `${dev.name} port ${dev.portNames[port]}` });
    this.names.push(name);
    dev.tapOf[port] = i;
    return i;
  }

  write(iface: number, slot: number, inbound: boolean): void {
    const e = this.engine;
    const a = e.arena;
    const ns = e.clock.now;
    const sec = Math.floor(ns / 1e9);
    const comment = a.flags[slot]! & PKT_TRACE ? e.trace.takeComment(slot) : "";
    const len = a.len[slot]!;
    this.writer.writePacket(iface, sec, ns - sec * 1e9, a.bytes, a.start(slot), len, len, inbound ? EPB_INBOUND : EPB_OUTBOUND, comment);
    this.packets++;
  }

  close(): void {
    this.writer.close();
  }
}
