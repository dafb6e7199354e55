import { describe, expect, it } from "vitest";
import { Engine, EngineError } from "./engine.js";
import { Device } from "./device.js";
import { Clock, Timer } from "./clock.js";
import { Rng } from "./rng.js";
import { MemorySink, openCaptureBytes, newCaptureRecord } from "../../core/pcap/index.js";

/** Forwards everything from port 0 to port 1 and back. */
class Wire extends Device {
  constructor(name: string) {
    super(name);
    this.addPort("a");
    this.addPort("b");
  }
  process(slots: Int32Array, n: number): void {
    const e = this.engine;
    for (let i = 0; i < n; i++) {
      const s = slots[i]!;
      e.transmit(this, e.arena.port[s] === 0 ? 1 : 0, s);
    }
  }
}

/** Consumes what arrives; drops frames shorter than 14 bytes as "runt". */
class Sink extends Device {
  got: number[] = [];
  private readonly runt: number;
  constructor(name: string) {
    super(name, ["runt"]);
    this.addPort("in");
    this.runt = this.reason("runt");
  }
  process(slots: Int32Array, n: number): void {
    for (let i = 0; i < n; i++) {
      const s = slots[i]!;
      if (this.engine.arena.len[s]! < 14) {
        this.engine.drop(this, this.runt, s);
        continue;
      }
      this.got.push(this.engine.arena.bytes[this.engine.arena.start(s)]!);
      this.engine.deliver(this, s);
    }
  }
}

/** Emits one 60-byte frame (first byte = sequence) every `gap` ns, `count` times. */
class Source extends Device {
  sent = 0;
  readonly timer: Timer;
  constructor(name: string, readonly count: number, readonly gap: number) {
    super(name);
    this.addPort("out");
    this.timer = new Timer(name, () => this.tick());
  }
  override attached(): void {
    this.engine.clock.arm(this.timer, 0);
  }
  tick(): void {
    const e = this.engine;
    const s = e.alloc(this);
    if (s >= 0) {
      e.arena.setLen(s, 60);
      e.arena.bytes[e.arena.start(s)] = this.sent & 255;
      e.transmit(this, 0, s);
    }
    if (++this.sent < this.count) e.clock.after(this.timer, this.gap);
  }
  process(): void {}
}

function chain(count: number, gap: number, opts = {}) {
  const e = new Engine({ slots: 1024, ...opts });
  const src = e.add(new Source("src", count, gap));
  const w = e.add(new Wire("wire"));
  const dst = e.add(new Sink("dst"));
  e.connect(src, 0, w, 0);
  e.connect(w, 1, dst, 0);
  return { e, src, w, dst };
}

describe("engine", () => {
  it("moves packets through the graph in order on virtual time", () => {
    const { e, dst, w } = chain(5, 1000);
    e.run();
    expect(dst.got).toEqual([0, 1, 2, 3, 4]);
    expect(e.clock.now).toBe(4000);
    expect(w.rxPackets[0]).toBe(5);
    expect(w.txPackets[1]).toBe(5);
    expect(e.conservation()).toMatchObject({ created: 5, delivered: 5, dropped: 0, queued: 0, inUse: 0, ok: true });
  });

  it("stops at `until` and resumes", () => {
    const { e, dst } = chain(10, 1000);
    e.run(2500);
    expect(dst.got).toEqual([0, 1, 2]);
    expect(e.clock.now).toBe(2500);
    e.run();
    expect(dst.got.length).toBe(10);
  });

  it("counts drops by reason: unwired port, full input ring, device reason", () => {
    const e = new Engine({ slots: 64 });
    const w = e.add(new Wire("w"));
    const sink = e.add(new Sink("sink"));
    e.connect(w, 1, sink, 0);
    // 3 packets into w: one runt, two good
    for (const len of [10, 60, 60]) {
      const s = e.alloc(w);
      e.arena.setLen(s, len);
      e.enqueue(w, 0, s);
    }
    // a packet to w's unwired side
    const s = e.alloc(w);
    e.arena.setLen(s, 60);
    e.enqueue(w, 1, s);
    e.run();
    expect(e.errors()).toEqual([
      { device: "w", reason: "no-carrier", count: 1 },
      { device: "sink", reason: "runt", count: 1 },
    ]);
    expect(e.conservation()).toMatchObject({ created: 4, delivered: 2, dropped: 2, ok: true });
  });

  it("drops and counts when an input ring is full", () => {
    const e = new Engine({ slots: 8192 });
    const sink = e.add(new Sink("sink"));
    for (let i = 0; i < 5000; i++) {
      const s = e.alloc(sink);
      e.arena.setLen(s, 60);
      e.enqueue(sink, 0, s);
    }
    expect(e.conservation()).toMatchObject({ queued: 4096, dropped: 904, ok: true });
    e.run();
    expect(sink.got.length).toBe(4096);
    expect(e.errors()).toEqual([{ device: "sink", reason: "queue-full", count: 904 }]);
  });

  it("counts an exhausted arena as no-buffer", () => {
    const { e, src } = chain(20, 0, { slots: 4 });
    // everything happens at t=0 in timer order: the source allocates before the sink drains
    e.run();
    expect(src.drops[src.reason("no-buffer")]! + e.delivered).toBe(20);
    expect(e.conservation().ok).toBe(true);
  });

  it("stops a forwarding loop with a clear error instead of hanging", () => {
    const e = new Engine({ slots: 16, maxBatchesPerInstant: 1000 });
    const a = e.add(new Wire("a"));
    const b = e.add(new Wire("b"));
    e.connect(a, 1, b, 0);
    e.connect(b, 1, a, 0);
    const s = e.alloc(a);
    e.arena.setLen(s, 60);
    e.enqueue(a, 0, s);
    expect(() => e.run()).toThrow(EngineError);
    expect(() => e.run()).toThrow(/forwarding loop/);
  });

  it("traces marked packets hop by hop and writes captures with directions and comments", () => {
    const { e, src, w, dst } = chain(3, 500);
    const sink = new MemorySink();
    e.openCapture(sink);
    e.tap(src, 0, "src/out");
    e.tap(dst, 0, "dst/in");
    // mark the first packet: intercept allocation by tracing in the wire
    const orig = w.process.bind(w);
    w.process = (slots, n) => {
      if (e.clock.now === 0) e.trace.mark(slots[0]!);
      if (e.arena.flags[slots[0]!]! & 1) e.trace.note(slots[0]!, w, "forwarded a -> b");
      orig(slots, n);
    };
    e.run();
    e.capture!.close();
    expect(e.trace.format()).toContain("wire               forwarded a -> b");
    expect(e.trace.format()).toContain("dst                delivered");
    const rd = openCaptureBytes(sink.bytes());
    const r = newCaptureRecord();
    const seen: string[] = [];
    while (rd.next(r)) seen.push(`${r.interfaceName} ${r.flags & 3} ${r.sec}.${r.nsec} ${r.comment}`);
    expect(seen).toEqual([
      "src/out 2 0.0 ",
      "dst/in 1 0.0 trace 1: wire: forwarded a -> b",
      "src/out 2 0.500 ",
      "dst/in 1 0.500 ",
      "src/out 2 0.1000 ",
      "dst/in 1 0.1000 ",
    ]);
    expect(dst.got).toEqual([0, 1, 2]);
  });

  it("reports runtime per device", () => {
    const { e } = chain(100, 0, { profile: true });
    e.run();
    const rt = e.runtime();
    expect(rt.map((r) => r.device)).toEqual(["wire", "dst"]);
    expect(rt[0]!.packets).toBe(100);
  });
});

describe("clock", () => {
  it("fires timers in time order, ties in arming order, and re-arms", () => {
    const c = new Clock();
    const log: string[] = [];
    const t = (n: string) => new Timer(n, () => log.push(`${n}@${c.now}`));
    const a = t("a"), b = t("b"), d = t("d");
    c.arm(a, 20);
    c.arm(b, 10);
    c.arm(d, 10);
    c.arm(a, 5); // re-arm earlier
    c.advanceTo(100);
    expect(log).toEqual(["a@5", "b@10", "d@10"]);
    c.arm(b, 50); // in the past: fires at now
    c.cancel(b);
    expect(c.pending).toBe(0);
    expect(() => c.advanceTo(50)).toThrow(RangeError);
  });
});

describe("rng", () => {
  it("is deterministic per seed and per forked stream", () => {
    const a = new Rng(42), b = new Rng(42), c = new Rng(43);
    const xs = Array.from({ length: 5 }, () => a.u32());
    expect(Array.from({ length: 5 }, () => b.u32())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.u32())).not.toEqual(xs);
    expect(new Rng(42).fork("br0").u32()).toBe(new Rng(42).fork("br0").u32());
    expect(new Rng(42).fork("br0").u32()).not.toBe(new Rng(42).fork("br1").u32());
    const r = new Rng(7);
    for (let i = 0; i < 1000; i++) {
      const v = r.int(3, 9);
      expect(v >= 3 && v <= 9).toBe(true);
    }
  });
});
