// Tracing (VPP's `trace add` / `show trace`): a packet marked with PKT_TRACE makes every device
// it crosses record one line about its decision. Unmarked packets cost one flag test per device.
// Entries are kept per trace id (a packet keeps its id across devices; a clone gets a new id
// that names its parent). Captured traced packets carry the lines recorded since their previous
// capture as the pcapng packet comment.

import { PKT_TRACE } from "../../core/packet.js";
import type { Engine } from "./engine.js";
import type { Device } from "./device.js";

export interface TraceEntry {
  id: number;
  /** Virtual time, ns. */
  t: number;
  device: string;
  text: string;
}

export class TraceLog {
  readonly entries: TraceEntry[] = [];
  private readonly idOf = new Map<number, number>();
  private readonly uncaptured = new Map<number, string[]>();
  private nextId = 1;

  constructor(private readonly engine: Engine) {}

  /** Mark `slot` for tracing; returns its trace id. */
  mark(slot: number, parent = 0): number {
    this.engine.arena.flags[slot]! |= PKT_TRACE;
    const id = this.nextId++;
    this.idOf.set(slot, id);
    if (parent) this.add(id, "engine", `clone of trace ${parent}`);
    return id;
  }

  idOfSlot(slot: number): number {
    return this.idOf.get(slot) ?? 0;
  }

  /** Record a decision for a traced packet (callers test PKT_TRACE first). */
  note(slot: number, dev: Device, text: string): void {
    this.add(this.idOf.get(slot) ?? 0, dev.name, text);
  }

  private add(id: number, device: string, text: string): void {
    this.entries.push({ id, t: this.engine.clock.now, device, text });
    const pending = this.uncaptured.get(id);
    if (pending) pending.push(`${device}: ${text}`);
    else this.uncaptured.set(id, [`${device}: ${text}`]);
  }

  /** The lines recorded for the packet since its last capture (consumed). */
  takeComment(slot: number): string {
    const id = this.idOf.get(slot) ?? 0;
    const lines = this.uncaptured.get(id);
    if (!lines) return `trace ${id}`;
    this.uncaptured.delete(id);
    return `trace ${id}: ${lines.join("; ")}`;
  }

  /** The slot is freed: forget its id mapping (its entries stay). */
  release(slot: number): void {
    if (this.engine.arena.flags[slot]! & PKT_TRACE) this.idOf.delete(slot);
  }

  /** Hop-by-hop text of every trace, or of one. */
  format(id?: number): string {
    const lines: string[] = [];
    let last = -1;
    for (const e of this.entries) {
      if (id !== undefined && e.id !== id) continue;
      if (e.id !== last) {
        lines.push(`trace ${e.id}:`);
        last = e.id;
      }
      lines.push(`  ${(e.t / 1e6).toFixed(6).padStart(14)} ms  ${e.device.padEnd(18)} ${e.text}`);
    }
    return lines.join("\n");
  }
}
