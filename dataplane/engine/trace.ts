// Tracing (VPP's `trace add` / `show trace`): a packet marked with PKT_TRACE makes every device
// it crosses record one line about its decision. Unmarked packets cost one flag test per device.
// Entries are kept per trace id (a packet keeps its id across devices; a clone gets a new id
// that names its parent). Captured traced packets carry the lines recorded since their previous
// capture as the pcapng packet comment.
//
// Marking: a crafted packet with `mark(slot)` (`Netns.originate(ip, true)`), or with rules:
// `add({ device, port?, count, match?, bidirectional?, local? })` marks the first `count`
// packets at a device that pass an optional IPv4 flow filter (addresses or prefixes, protocol,
// ports; `bidirectional` also takes the reverse direction). The filter is compiled to numbers
// when the rule is added. A rule takes:
//   - packets arriving at the device (on `port` only, if given): checked in `engine.enqueue`;
//   - with `local` (the default without `port`), also packets the device creates itself: a
//     namespace's sockets and generators (udp-flows, ping), its ARP requests and ICMP errors.
//     Such a packet is marked tentatively when allocated (PKT_TRACE set, its lines held back)
//     because its headers are not written yet; it is matched once its frame is complete: when
//     it leaves the device (enqueued at the next device, captured on the way out, or noted by
//     another device). A match gives it a trace id and records the held lines with their
//     times; otherwise the flag is cleared and the lines dropped. A packet that never leaves
//     (EMSGSIZE, no route, a neighbour that never answers) is never traced by a `local` rule.
//     Copies keep their parent's state: a bridge's flood copies, a link's duplicates of a
//     traced packet; but a link's duplicate of an untraced packet, and each fragment a
//     namespace cuts from its own datagram, count as packets that device created.
// "First" means in the order packets are matched: a created packet is matched when it leaves,
// so one held for ARP resolution may be matched after a later one that was not held.
//
// Cost: each device has a `traceArmed` count of the rules that need its hooks (its own rules,
// and the `local` rules of the devices wired to it, which match their packets on arrival there,
// wiring as at `add` time). `engine.enqueue` and `engine.alloc` test it once per packet; with
// no rule armed nothing else runs. A rule is disarmed once it has marked `count` packets.

import { PKT_TRACE } from "../../core/packet.js";
import { getU16, getU32 } from "../../core/bytes.js";
import { formatIpv4, parseCidr } from "../../core/addr.js";
import type { Engine } from "./engine.js";
import type { Device } from "./device.js";

export interface TraceEntry {
  id: number;
  /** Virtual time, ns. */
  t: number;
  device: string;
  text: string;
}

/** A flow filter: any subset of the fields; addresses as uint32, "a.b.c.d" or "a.b.c.d/len". */
export interface TraceMatch {
  src?: number | string;
  dst?: number | string;
  /** IP protocol number, or "icmp", "tcp", "udp". */
  protocol?: number | "icmp" | "tcp" | "udp";
  /** TCP/UDP ports (a packet without ports, e.g. a later fragment, does not match them). */
  sport?: number;
  dport?: number;
}

export interface TraceAddOptions {
  /** The device, or its name. */
  device: Device | string;
  /** Only packets arriving on this port (index or name). */
  port?: number | string;
  /** Mark this many packets, then disarm. */
  count: number;
  match?: TraceMatch;
  /** Match the reverse direction too (src <-> dst, sport <-> dport). */
  bidirectional?: boolean;
  /** Also packets the device creates (default: true without `port`, and not allowed with it). */
  local?: boolean;
}

// Filter fields present (bits of TraceRule.fields).
const F_SRC = 1, F_DST = 2, F_PROTO = 4, F_SPORT = 8, F_DPORT = 16, F_PORTS = F_SPORT | F_DPORT;
const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17 };

/** An armed (or finished) `trace add`: its compiled filter and how many packets it marked. */
export class TraceRule {
  marked = 0;
  /** Devices whose `traceArmed` this rule holds (its device, and its neighbours if `local`). */
  readonly armed: Device[] = [];
  constructor(
    readonly id: number,
    readonly device: Device,
    /** Ingress port, -1 for any. */
    readonly port: number,
    readonly local: boolean,
    readonly count: number,
    readonly fields: number,
    readonly src: number,
    readonly srcMask: number,
    readonly dst: number,
    readonly dstMask: number,
    readonly protocol: number,
    readonly sport: number,
    readonly dport: number,
    readonly bidirectional: boolean,
    /** The rule as given, for `format` headers. */
    readonly text: string,
  ) {}

  get active(): boolean {
    return this.armed.length > 0;
  }

  /** Whether the frame at bytes[off, off+len) passes the filter (one 802.1Q tag is skipped). */
  matches(b: Uint8Array, off: number, len: number): boolean {
    const f = this.fields;
    if (f === 0) return true;
    const end = off + len;
    let p = off + 12;
    if (p + 2 > end) return false;
    let type = getU16(b, p);
    if (type === 0x8100) {
      p += 4;
      if (p + 2 > end) return false;
      type = getU16(b, p);
    }
    const ip = p + 2;
    if (type !== 0x0800 || ip + 20 > end || b[ip]! >> 4 !== 4) return false;
    const ihl = (b[ip]! & 15) * 4;
    const proto = b[ip + 9]!;
    let sport = -1, dport = -1;
    if ((proto === 6 || proto === 17) && (getU16(b, ip + 6) & 0x1fff) === 0 && ihl >= 20 && ip + ihl + 4 <= end) {
      sport = getU16(b, ip + ihl);
      dport = getU16(b, ip + ihl + 2);
    }
    if ((f & F_PORTS) !== 0 && sport < 0) return false;
    if ((f & F_PROTO) !== 0 && proto !== this.protocol) return false;
    const src = getU32(b, ip + 12), dst = getU32(b, ip + 16);
    return this.one(src, dst, sport, dport) || (this.bidirectional && this.one(dst, src, dport, sport));
  }

  private one(src: number, dst: number, sport: number, dport: number): boolean {
    const f = this.fields;
    return (
      ((f & F_SRC) === 0 || ((src ^ this.src) & this.srcMask) === 0) &&
      ((f & F_DST) === 0 || ((dst ^ this.dst) & this.dstMask) === 0) &&
      ((f & F_SPORT) === 0 || sport === this.sport) &&
      ((f & F_DPORT) === 0 || dport === this.dport)
    );
  }
}

/** A packet a device created while one of its `local` rules was armed, not matched yet. */
interface Pending {
  dev: Device;
  /** Lines recorded meanwhile (id 0 until matched). */
  held: TraceEntry[];
  t: number;
}

export class TraceLog {
  readonly entries: TraceEntry[] = [];
  readonly rules: TraceRule[] = [];
  private readonly idOf = new Map<number, number>();
  private readonly uncaptured = new Map<number, string[]>();
  private readonly pending = new Map<number, Pending>();
  /** Armed rules by device id. */
  private readonly rulesAt = new Map<number, TraceRule[]>();
  private nextId = 1;
  private nextRule = 1;

  constructor(private readonly engine: Engine) {}

  /** Mark `slot` for tracing; returns its trace id. */
  mark(slot: number, parent = 0): number {
    this.pending.delete(slot); // a copy of a traced packet is traced as a clone, not by a rule
    this.engine.arena.flags[slot]! |= PKT_TRACE;
    const id = this.nextId++;
    this.idOf.set(slot, id);
    if (parent) this.record(id, "engine", `clone of trace ${parent}`);
    return id;
  }

  idOfSlot(slot: number): number {
    if (this.pending.size !== 0) this.settle(slot);
    return this.idOf.get(slot) ?? 0;
  }

  /** Record a decision for a traced packet (callers test PKT_TRACE first). */
  note(slot: number, dev: Device, text: string): void {
    // A device may have read the flag before a tentative mark was settled (and cleared).
    if ((this.engine.arena.flags[slot]! & PKT_TRACE) === 0) return;
    if (this.pending.size !== 0) {
      const p = this.pending.get(slot);
      if (p !== undefined) {
        if (p.dev === dev) {
          p.held.push({ id: 0, t: this.engine.clock.now, device: dev.name, text });
          return;
        }
        if (this.settle(slot) === 0) return; // another device sees it: it has left its creator
      }
    }
    this.record(this.idOf.get(slot) ?? 0, dev.name, text);
  }

  private record(id: number, device: string, text: string, t = this.engine.clock.now): void {
    this.entries.push({ id, t, device, text });
    const pending = this.uncaptured.get(id);
    if (pending) pending.push(`${device}: ${text}`);
    else this.uncaptured.set(id, [`${device}: ${text}`]);
  }

  /** The lines recorded for the packet since its last capture (consumed); "" if not traced. */
  takeComment(slot: number): string {
    // captured leaving its creator: its frame is complete, match it now
    if (this.pending.size !== 0 && this.pending.has(slot) && this.settle(slot) === 0) return "";
    const id = this.idOf.get(slot) ?? 0;
    const lines = this.uncaptured.get(id);
    if (!lines) return `trace ${id}`;
    this.uncaptured.delete(id);
    return `trace ${id}: ${lines.join("; ")}`;
  }

  /** The slot is freed: forget its id mapping (its entries stay). A packet still tentatively
   *  marked never left its creator: it is not traced. One test while nothing is traced. */
  release(slot: number): void {
    if (this.idOf.size + this.pending.size === 0) return;
    this.idOf.delete(slot);
    this.pending.delete(slot);
  }

  // ---- rules (`trace add`) -----------------------------------------------------------------

  /** Mark the first `count` packets at a device (see the file header). Cold. */
  add(o: TraceAddOptions): TraceRule {
    const e = this.engine;
    const dev = typeof o.device === "string" ? e.device(o.device) : o.device;
    const where = `trace add ${typeof o.device === "string" ? o.device : o.device.name}`;
    if (!dev || dev.engine !== e) throw new RangeError(`${where}: no such device in this engine`);
    let port = -1;
    if (o.port !== undefined) {
      port = typeof o.port === "string" ? dev.portIndex(o.port) : o.port;
      if (!Number.isInteger(port) || port < 0 || port >= dev.portNames.length) throw new RangeError(`${where}: no port ${o.port} (ports: ${dev.portNames.join(", ") || "none"})`);
    }
    const local = o.local ?? port < 0;
    if (local && port >= 0) throw new RangeError(`${where}: a port selects arriving packets; packets the device creates (local) have none`);
    if (!Number.isInteger(o.count) || o.count < 1) throw new RangeError(`${where}: count ${o.count} must be a positive integer`);
    const m = o.match ?? {};
    let fields = 0;
    const addr = (v: number | string | undefined, bit: number, what: string): [number, number] => {
      if (v === undefined) return [0, 0];
      fields |= bit;
      if (typeof v === "number") {
        if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new RangeError(`${where}: ${what} ${v} is not an IPv4 address (uint32)`);
        return [v, 0xffff_ffff];
      }
      const c = parseCidr(v);
      return [c.network, c.mask];
    };
    const [src, srcMask] = addr(m.src, F_SRC, "src");
    const [dst, dstMask] = addr(m.dst, F_DST, "dst");
    let protocol = -1;
    if (m.protocol !== undefined) {
      fields |= F_PROTO;
      protocol = typeof m.protocol === "string" ? (PROTOCOLS[m.protocol] ?? -1) : m.protocol;
      if (!Number.isInteger(protocol) || protocol < 0 || protocol > 255) throw new RangeError(`${where}: protocol ${m.protocol} (a number 0..255, "icmp", "tcp" or "udp")`);
    }
    const l4port = (v: number | undefined, bit: number, what: string): number => {
      if (v === undefined) return -1;
      if (!Number.isInteger(v) || v < 0 || v > 65535) throw new RangeError(`${where}: ${what} ${v} must be 0..65535`);
      if (protocol >= 0 && protocol !== 6 && protocol !== 17) throw new RangeError(`${where}: ${what} given, but protocol ${protocol} has no ports (tcp or udp only)`);
      fields |= bit;
      return v;
    };
    const sport = l4port(m.sport, F_SPORT, "sport");
    const dport = l4port(m.dport, F_DPORT, "dport");
    const text = describe(dev, port, local, o.count, m, o.bidirectional === true);
    const r = new TraceRule(this.nextRule++, dev, port, local, o.count, fields, src, srcMask, dst, dstMask, protocol, sport, dport, o.bidirectional === true, text);
    this.arm(r, dev);
    if (local) {
      // Created packets are matched on arrival at the next device: hook the devices wired here.
      for (let p = 0; p < dev.portNames.length; p++) {
        const peer = e.devices[dev.peerDev[p]!];
        if (peer !== undefined && !r.armed.includes(peer)) this.arm(r, peer);
      }
    }
    const list = this.rulesAt.get(dev.id);
    if (list) list.push(r);
    else this.rulesAt.set(dev.id, [r]);
    this.rules.push(r);
    return r;
  }

  private arm(r: TraceRule, d: Device): void {
    d.traceArmed++;
    r.armed.push(d);
  }

  /** Disarm a rule (done by itself after `count` packets). Packets its device created and that
   *  no other rule of that device can take are untraced at once. */
  remove(r: TraceRule): void {
    if (!r.active) return;
    for (const d of r.armed) d.traceArmed--;
    r.armed.length = 0;
    const list = this.rulesAt.get(r.device.id)!;
    list.splice(list.indexOf(r), 1);
    if (!r.local || list.some((x) => x.local)) return;
    const flags = this.engine.arena.flags;
    for (const [slot, p] of this.pending) {
      if (p.dev !== r.device) continue;
      flags[slot]! &= ~PKT_TRACE;
      this.pending.delete(slot);
    }
  }

  /** engine.alloc hook (the device has a rule armed): a tentative mark for `local` rules. */
  created(dev: Device, slot: number): void {
    const list = this.rulesAt.get(dev.id);
    if (list === undefined || !list.some((r) => r.local)) return;
    this.engine.arena.flags[slot]! |= PKT_TRACE;
    this.pending.set(slot, { dev, held: [], t: this.engine.clock.now });
  }

  /** engine.enqueue hook (the device has a rule armed, or a neighbour a `local` one). */
  arrive(dev: Device, port: number, slot: number): void {
    const a = this.engine.arena;
    if (a.flags[slot]! & PKT_TRACE) {
      if (!this.pending.has(slot) || this.settle(slot) !== 0) return; // traced already
    }
    const list = this.rulesAt.get(dev.id);
    if (list === undefined) return;
    const start = a.start(slot), len = a.len[slot]!;
    for (let i = 0; i < list.length; i++) {
      const r = list[i]!;
      if ((r.port >= 0 && r.port !== port) || !r.matches(a.bytes, start, len)) continue;
      const id = this.mark(slot);
      this.record(id, dev.name, `in ${dev.portNames[port]}: ${this.take(r)}`);
      return;
    }
  }

  /** Count a packet marked by `r` (disarming it at `count`); the line saying so. */
  private take(r: TraceRule): string {
    r.marked++;
    const text = `trace add ${r.id} (${r.marked} of ${r.count})`;
    if (r.marked === r.count) this.remove(r);
    return text;
  }

  /** Match a tentatively marked packet now (its frame is complete): returns its trace id, or 0
   *  (flag cleared, held lines dropped). A slot not pending returns its current id. */
  private settle(slot: number): number {
    const p = this.pending.get(slot);
    if (p === undefined) return this.idOf.get(slot) ?? 0;
    this.pending.delete(slot);
    const a = this.engine.arena;
    const list = this.rulesAt.get(p.dev.id);
    if (list !== undefined && (a.flags[slot]! & PKT_TRACE) !== 0) {
      const start = a.start(slot), len = a.len[slot]!;
      for (let i = 0; i < list.length; i++) {
        const r = list[i]!;
        if (!r.local || !r.matches(a.bytes, start, len)) continue;
        const id = this.nextId++;
        this.idOf.set(slot, id);
        this.record(id, p.dev.name, `created: ${this.take(r)}`, p.t);
        for (const h of p.held) this.record(id, h.device, h.text, h.t);
        return id;
      }
    }
    a.flags[slot]! &= ~PKT_TRACE;
    return 0;
  }

  // ---- show trace --------------------------------------------------------------------------

  /** Trace ids that have entries, in order. */
  ids(): number[] {
    return [...new Set(this.entries.map((e) => e.id))].sort((x, y) => x - y);
  }

  /** Hop-by-hop text of every trace (by id), or of one. */
  format(id?: number): string {
    const byId = new Map<number, TraceEntry[]>();
    for (const e of this.entries) {
      if (id !== undefined && e.id !== id) continue;
      const l = byId.get(e.id);
      if (l) l.push(e);
      else byId.set(e.id, [e]);
    }
    const lines: string[] = [];
    for (const k of [...byId.keys()].sort((x, y) => x - y)) {
      lines.push(`trace ${k}:`);
      for (const e of byId.get(k)!) lines.push(`  ${(e.t / 1e6).toFixed(6).padStart(14)} ms  ${e.device.padEnd(18)} ${e.text}`);
    }
    return lines.join("\n");
  }
}

/** `trace add` as text: "c2 local first 2 udp 172.17.0.2 > 172.17.0.3:5001". */
function describe(dev: Device, port: number, local: boolean, count: number, m: TraceMatch, bidir: boolean): string {
  const ip = (v: number | string | undefined) => (v === undefined ? "any" : typeof v === "number" ? formatIpv4(v) : v);
  const pt = (v: number | undefined) => (v === undefined ? "" : `:${v}`);
  const where = port >= 0 ? `${dev.name}/${dev.portNames[port]}` : `${dev.name}${local ? " (in and created)" : ""}`;
  const flow = m.src ?? m.dst ?? m.protocol ?? m.sport ?? m.dport;
  const filter = flow === undefined ? "" : ` ${m.protocol ?? "ip"} ${ip(m.src)}${pt(m.sport)} ${bidir ? "<>" : ">"} ${ip(m.dst)}${pt(m.dport)}`;
  return `${where}: first ${count}${filter}`;
}
