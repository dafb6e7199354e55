// Replay of captures into interfaces, pcap in and pcap out: frames replayed into docker0 are
// answered as Linux answers them, at the times the input file gives; a run's own capture replayed
// into a fresh identical topology gives the same frames again; bad input is counted or reported.
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { docker0, dockerMac } from "../topologies/docker0.js";
import type { Netns } from "../netns/netns.js";
import { Engine } from "../engine/engine.js";
import { Device, R_NO_BUFFER, R_NO_CARRIER, R_QUEUE_FULL } from "../engine/device.js";
import { ping } from "./ping.js";
import { replayPcap } from "./replay.js";
import { FileSink, MemorySink, PcapWriter, PcapngWriter, CaptureFormatError, newCaptureRecord, openCaptureBytes } from "../../core/pcap/index.js";
import { buildFrame } from "../../core/wire/frame.js";
import { arp, eth, ethArp, icmpEcho, ipv4, raw } from "../../core/wire/layers.js";
import { printFrame } from "../../core/wire/print.js";
import { parseIpv4 as ip, MAC_BROADCAST } from "../../core/addr.js";

const C2 = ip("172.17.0.2"), C3 = ip("172.17.0.3"), M2 = dockerMac(2), M3 = dockerMac(3);
const T0 = 1_700_000_000; // epoch seconds of the input captures

/** What c2 sends to ping c3: the ARP request, then echo requests seq 1.. (64-byte ICMP). */
const arpRequest = () => buildFrame([ethArp(M2, MAC_BROADCAST), arp({ senderMac: M2, senderIp: C2, targetIp: C3 })]);
const echoRequest = (seq: number) => buildFrame([eth({ src: M2, dst: M3 }), ipv4({ src: C2, dst: C3, protocol: 1, ident: 0x4000 + seq }), icmpEcho(8, 0x77, seq), raw(56)]);

/** Every record of a capture as "point dir sec.nsec tcpdump-line" (direction: in/out). */
function records(bytes: Uint8Array): string[] {
  const rd = openCaptureBytes(bytes);
  const r = newCaptureRecord();
  const out: string[] = [];
  while (rd.next(r)) {
    const dir = (r.flags & 3) === 1 ? "in" : (r.flags & 3) === 2 ? "out" : "-";
    out.push(`${r.interfaceName} ${dir} ${r.sec}.${String(r.nsec).padStart(9, "0")} ${printFrame(r.data, 0, undefined, { link: true }).replace(/, ethertype [^:]*: /, ": ")}`);
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), "wireyard-replay-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Records what arrives on its one port: (time, first byte), then consumes it. */
class Recorder extends Device {
  got: [number, number][] = [];
  constructor(queue: number) {
    super("rec", [], queue);
    this.addPort("in");
  }
  process(slots: Int32Array, n: number): void {
    const e = this.engine;
    for (let i = 0; i < n; i++) {
      const s = slots[i]!;
      this.got.push([e.clock.now, e.arena.bytes[e.arena.start(s)]!]);
      e.deliver(this, s);
    }
  }
}

/** A pcap (nanosecond) of `n` 60-byte frames whose first byte is k, at T0 + times[k] ns. */
function numbered(times: number[]): Uint8Array {
  const sink = new MemorySink();
  const w = new PcapWriter(sink, { tsresol: 9 });
  times.forEach((t, k) => {
    const f = new Uint8Array(60).fill(k);
    w.writePacket(T0 + Math.floor(t / 1e9), t % 1e9, f, 0, 60);
  });
  w.close();
  return sink.bytes().slice();
}

describe("replay: pcap in, pcap out", () => {
  it("c2's ARP and echo requests sent out of c3's bridge port (a pcap file, streamed): c3's answers in the output pcapng", () => {
    // input: a microsecond pcap written as tcpdump would, read from disk in 64-byte chunks
    const path = join(dir, "c2.pcap");
    const w = new PcapWriter(new FileSink(path));
    w.writePacket(T0, 250_000_000, arpRequest(), 0, 42);
    for (const seq of [1, 2, 3]) w.writePacket(T0 + seq, 250_000_000, echoRequest(seq), 0, 98);
    w.close();
    const sink = new MemorySink();
    const t = docker0(2, { capture: sink });
    const res = replayPcap(t.engine, path, { device: t.bridge, port: t.ports[1]! }, { mode: "sent", startAt: 1e9, chunkSize: 64 }).result;
    t.engine.run(5e9); // before c3's neighbour entry for c2 is probed (DELAY -> PROBE)
    t.engine.capture!.close();

    expect(res).toMatchObject({ source: path, read: 4, filtered: 0, injected: 4, done: true, error: null, firstAt: 1e9, lastAt: 4e9 });
    expect(res.skipped).toEqual({ "link-type": 0, truncated: 0, "too-big": 0 });
    const at = (s: number) => `${s}.000000000`;
    const req = (n: number) => `02:42:ac:11:00:02 > 02:42:ac:11:00:03: 172.17.0.2 > 172.17.0.3: ICMP echo request, id 119, seq ${n}, length 64`;
    const rep = (n: number) => `02:42:ac:11:00:03 > 02:42:ac:11:00:02: 172.17.0.3 > 172.17.0.2: ICMP echo reply, id 119, seq ${n}, length 64`;
    const arpReq = "02:42:ac:11:00:02 > ff:ff:ff:ff:ff:ff: Request who-has 172.17.0.3 tell 172.17.0.2, length 28";
    const arpRep = "02:42:ac:11:00:03 > 02:42:ac:11:00:02: Reply 172.17.0.3 is-at 02:42:ac:11:00:03, length 28";
    const out = records(sink.bytes());
    expect(out.filter((l) => l.startsWith("c3/eth0"))).toEqual([
      `c3/eth0 in ${at(1)} ${arpReq}`,
      `c3/eth0 out ${at(1)} ${arpRep}`,
      ...[1, 2, 3].flatMap((n) => [`c3/eth0 in ${at(1 + n)} ${req(n)}`, `c3/eth0 out ${at(1 + n)} ${rep(n)}`]),
    ]);
    // the bridge never saw c2's MAC (the requests bypassed it): c3's answers are flooded to c2
    expect(out.filter((l) => l.startsWith("host/veth1a2b32"))).toEqual([`host/veth1a2b32 out ${at(1)} ${arpRep}`, ...[1, 2, 3].map((n) => `host/veth1a2b32 out ${at(1 + n)} ${rep(n)}`)]);
    expect(t.bridge.txPackets[t.ports[1]!]).toBe(4);
    expect(t.engine.conservation().ok).toBe(true);
  });

  it("frames received by c3's eth0 from a pcapng with other link types, cut and oversized records: skips counted, c3 answers", () => {
    const sink = new MemorySink();
    const w = new PcapngWriter(sink, { tsresol: 6 });
    w.addInterface({ name: "wire" });
    w.addInterface({ name: "raw-ip", linkType: 101 });
    const frames: [number, number, Uint8Array, number?][] = [
      [0, 0, arpRequest()],
      [1, 0, echoRequest(1).subarray(14)], // raw IP: link-type
      [0, 1, echoRequest(1)],
      [0, 2, echoRequest(2).subarray(0, 40), 98], // caplen 40 < len 98: truncated
      [0, 3, new Uint8Array(3000)], // larger than a slot: too-big
      [0, 4, echoRequest(4)],
    ];
    for (const [iface, s, f, orig] of frames) w.writePacket(iface, T0 + s, 0, f, 0, f.length, orig ?? f.length);
    w.close();
    const capture = new MemorySink();
    const t = docker0(2, { capture });
    const c3 = t.containers[1]!;
    const res = replayPcap(t.engine, sink.bytes(), { device: c3, port: "eth0" }, { speed: 10, name: "mixed.pcapng" }).result;
    t.engine.run(5e9);
    t.engine.capture!.close();
    expect(res).toMatchObject({ source: "mixed.pcapng", read: 6, filtered: 0, injected: 3, done: true, error: null });
    expect(res.skipped).toEqual({ "link-type": 1, truncated: 1, "too-big": 1 });
    const c3eth0 = records(capture.bytes()).filter((l) => l.startsWith("c3/eth0"));
    expect(c3eth0.map((l) => l.split(" ").slice(0, 3).join(" "))).toEqual([
      "c3/eth0 in 0.000000000", "c3/eth0 out 0.000000000", // ARP request and reply
      "c3/eth0 in 0.100000000", "c3/eth0 out 0.100000000", // echo 1 at 1 s / 10
      "c3/eth0 in 0.400000000", "c3/eth0 out 0.400000000", // echo 4
    ]);
    expect(c3eth0[5]).toContain("ICMP echo reply, id 119, seq 4, length 64");
    expect(c3.rxPackets[0]).toBe(3);
    expect(t.engine.conservation().ok).toBe(true);
  });

  it("a run's capture replayed into a fresh identical topology gives the same frames at every capture point", () => {
    const run = () => {
      const sink = new MemorySink();
      const t = docker0(2, { capture: sink });
      return { t, sink };
    };
    const first = run();
    ping(first.t.containers[0] as Netns, C3, { count: 3 });
    first.t.engine.run(3.5e9);
    first.t.engine.capture!.close();
    const before = first.sink.bytes().slice();

    // what c2 sent, sent again out of c2's eth0; c2's own stack sends nothing this time
    const second = run();
    const c2 = second.t.containers[0]!;
    const res = replayPcap(second.t.engine, before, { device: c2, port: "eth0" }, { mode: "sent", interface: "c2/eth0", direction: "out", startAt: 0 }).result;
    second.t.engine.run(3.5e9);
    second.t.engine.capture!.close();
    expect(res).toMatchObject({ injected: 4, filtered: records(before).length - 4, done: true });

    // Per capture point and direction, the same frames at the same times. Across directions
    // the order at one instant differs: in the first run the echo request waited for the ARP
    // reply, the replay hands both to the bridge at once (each still in its own order).
    const byPoint = (lines: string[]) => {
      const m = new Map<string, string[]>();
      for (const l of lines) {
        const k = l.split(" ").slice(0, 2).join(" ");
        m.set(k, [...(m.get(k) ?? []), l]);
      }
      return [...m.entries()].sort();
    };
    const a = records(before), b = records(second.sink.bytes());
    expect(b.length).toBe(a.length);
    expect(byPoint(b)).toEqual(byPoint(a));
    expect(byPoint(a).map(([k]) => k)).toEqual(["c2/eth0 in", "c2/eth0 out", "c3/eth0 in", "c3/eth0 out", "host/veth1a2b32 in", "host/veth1a2b32 out", "host/veth1a2b33 in", "host/veth1a2b33 out"]);
    expect(second.t.engine.conservation().ok).toBe(true);
  });
});

describe("replay: timing and rings", () => {
  const times = Array.from({ length: 40 }, (_, k) => k * 1e6); // 1 ms apart

  it("keeps the capture's spacing from startAt, scaled by speed; asap fills the ring and counts the rest", () => {
    const input = numbered(times);
    for (const [speed, at] of [[1, (k: number) => 5e6 + k * 1e6], [4, (k: number) => 5e6 + k * 0.25e6]] as const) {
      const e = new Engine({ slots: 256 });
      const rec = e.add(new Recorder(64));
      const res = replayPcap(e, input, { device: rec, port: 0 }, { speed, startAt: 5e6 }).result;
      e.run();
      expect(res).toMatchObject({ injected: 40, firstAt: 5e6, lastAt: at(39), done: true });
      expect(rec.got).toEqual(times.map((_, k) => [at(k), k]));
    }
    const e = new Engine({ slots: 256 });
    const rec = e.add(new Recorder(16));
    const res = replayPcap(e, input, { device: rec, port: 0 }, { speed: "asap", startAt: 5e6 }).result;
    e.run();
    expect(res).toMatchObject({ read: 40, injected: 16, firstAt: 5e6, lastAt: 5e6, done: true });
    expect(res.dropped).toEqual({ "no-buffer": 0, "queue-full": 24, "no-carrier": 0 });
    expect(rec.drops[R_QUEUE_FULL]).toBe(24);
    expect(rec.got).toEqual(Array.from({ length: 16 }, (_, k) => [5e6, k]));
    expect(e.conservation().ok).toBe(true);
    // an arena of 8 slots: the rest find no buffer
    const small = new Engine({ slots: 8 });
    const rec8 = small.add(new Recorder(64));
    const res8 = replayPcap(small, input, { device: rec8, port: 0 }, { speed: "asap" }).result;
    small.run();
    expect(res8).toMatchObject({ read: 40, injected: 8, dropped: { "no-buffer": 32, "queue-full": 0, "no-carrier": 0 } });
    expect(rec8.drops[R_NO_BUFFER]).toBe(32);
    expect(rec8.got.map(([, b]) => b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(small.conservation().ok).toBe(true);
  });

  it("streams: a file of 2000 frames read in 4 KiB chunks arrives whole, in order; out-of-order stamps keep file order", () => {
    const many = Array.from({ length: 2000 }, (_, k) => k * 1000);
    many[7] = 2000; // earlier than frame 6: sent right after it
    const path = join(dir, "many.pcap");
    writeFileSync(path, numbered(many));
    expect(readFileSync(path).length).toBeGreaterThan(100 * 1024);
    const e = new Engine({ slots: 4096 });
    const rec = e.add(new Recorder(4096));
    replayPcap(e, path, { device: rec, port: "in" }, { chunkSize: 4096 });
    e.run();
    expect(rec.got.length).toBe(2000);
    expect(rec.got.map(([, b]) => b)).toEqual(many.map((_, k) => k & 0xff));
    expect(rec.got[7]![0]).toBe(6000);
    expect(rec.got[1999]![0]).toBe(1999000);
  });

  it("sent out of an unwired port: each frame counted no-carrier", () => {
    const e = new Engine({ slots: 64 });
    const rec = e.add(new Recorder(16));
    const res = replayPcap(e, numbered([0, 1, 2]), { device: rec, port: 0 }, { mode: "sent" }).result;
    e.run();
    expect(res).toMatchObject({ injected: 0, dropped: { "no-buffer": 0, "queue-full": 0, "no-carrier": 3 } });
    expect(rec.drops[R_NO_CARRIER]).toBe(3);
    expect(e.conservation().ok).toBe(true);
  });

  it("traces replayed frames from their record on", () => {
    const t = docker0(2);
    const res = replayPcap(t.engine, numbered([0]), { device: t.containers[1]!, port: "eth0" }, { trace: true, name: "one.pcap" }).result;
    t.engine.run();
    expect(res.injected).toBe(1);
    expect(t.engine.trace.format()).toMatch(/c3 +replayed into eth0: one\.pcap record at byte 24\n.*c3 +dropped: other-host/);
  });
});

describe("replay: bad input", () => {
  it("refuses what cannot be replayed with messages naming it", () => {
    const t = docker0(2);
    const c3 = t.containers[1]!;
    const into = { device: c3, port: "eth0" };
    expect(() => replayPcap(t.engine, "/nonexistent/in.pcap", into)).toThrow(/\/nonexistent\/in\.pcap/);
    expect(() => replayPcap(t.engine, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), into, { name: "junk.bin" })).toThrow(/junk\.bin: at byte 0: unknown magic 0x01020304/);
    expect(() => replayPcap(t.engine, numbered([0]), { device: c3, port: "eth9" })).toThrow(/c3 has no port eth9 \(ports: eth0\)/);
    expect(() => replayPcap(new Engine(), numbered([0]), into)).toThrow(/device c3 is not in this engine/);
    expect(() => replayPcap(t.engine, numbered([0]), into, { speed: 0 })).toThrow(/speed 0 must be > 0/);
    t.engine.run(1e9);
    expect(() => replayPcap(t.engine, numbered([0]), into, { startAt: 5 })).toThrow(/startAt 5 ns is before now/);
  });

  it("a file cut inside its third record: two frames replayed on time, then the error, no throw", () => {
    const whole = numbered([0, 1e9, 2e9, 3e9]);
    const path = join(dir, "cut.pcap");
    writeFileSync(path, whole.subarray(0, 24 + 2 * 76 + 30));
    const e = new Engine({ slots: 64 });
    const rec = e.add(new Recorder(16));
    let finished = 0;
    const res = replayPcap(e, path, { device: rec, port: 0 }, { onDone: () => finished++ }).result;
    // read lazily: nothing is wrong until the second frame has been sent and the third is read
    e.run(0.5e9);
    expect([res.injected, res.error, res.done]).toEqual([1, null, false]);
    e.run();
    expect(res).toMatchObject({ read: 2, injected: 2, done: true });
    expect(res.error).toBeInstanceOf(CaptureFormatError);
    expect(res.error!.message).toBe(`${path}: at byte 176: truncated record (76 bytes needed, 30 left)`);
    expect(finished).toBe(1);
    expect(rec.got).toEqual([[0, 0], [1e9, 1]]);
    // a capture with no records is done at once
    const empty = replayPcap(e, whole.subarray(0, 24), { device: rec, port: 0 }).result;
    expect(empty).toMatchObject({ read: 0, injected: 0, done: true, error: null });
  });
});
