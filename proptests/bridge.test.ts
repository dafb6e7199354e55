// Properties of the bridge (dataplane/devices/bridge.ts) on random port counts, port flags, ageing
// times, port up/down and flag changes, and traffic (valid and invalid sources; broadcast,
// multicast, link-local, known and unknown unicast; the bridge's and ports' own MACs; frames from
// the bridge's own interface), with random gaps on the virtual clock:
//   1. a frame never leaves by its ingress port unless that port has hairpin on;
//   2. a broadcast from a port reaches every other up port with bcast_flood, and the bridge,
//      exactly once (from the bridge itself: every up port);
//   3. once a MAC is learned on a port, unicast to it goes only to that port until it ages out,
//      moves, or the port goes down; never learned or aged out, it floods to the flood ports;
//   4. conservation holds and, drained, no slot is left in use.
// 3 keeps its own record of what was learned when (a few lines of Map), not the bridge's FDB.
import { fc, test } from "@fast-check/vitest";
import { expect } from "vitest";
import { Engine } from "../dataplane/engine/engine.js";
import { Device } from "../dataplane/engine/device.js";
import { Bridge } from "../dataplane/devices/bridge.js";

const BR_MAC = 0x0242_e11f_3ea7;
const PORT_MAC = (p: number) => 0xaede_3bf2_5800 + p;
const POOL = (i: number) => 0x0242_ac11_0000 + i;
const BCAST = 0xffff_ffff_ffff;

/** Records the id (payload bytes 14..17) of every frame that arrives. */
class Tap extends Device {
  got: number[] = [];
  constructor(name: string) {
    super(name);
    this.addPort("eth0");
  }
  process(slots: Int32Array, n: number): void {
    const a = this.engine.arena;
    for (let i = 0; i < n; i++) {
      const o = a.start(slots[i]!);
      this.got.push(((a.bytes[o + 14]! << 24) | (a.bytes[o + 15]! << 16) | (a.bytes[o + 16]! << 8) | a.bytes[o + 17]!) >>> 0);
      this.engine.deliver(this, slots[i]!);
    }
  }
}

/** Mostly true (the Linux default for all but hairpin), so that learning and flooding happen. */
const mostly = fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, fc.constant(false));
const portCfg = fc.record({ learning: mostly, flood: mostly, mcastFlood: mostly, bcastFlood: mostly, hairpin: fc.boolean(), up: mostly }, { noNullPrototype: true });
const dstArb = fc.oneof(
  { weight: 5, arbitrary: fc.nat(5).map(POOL) },
  { weight: 2, arbitrary: fc.constant(BCAST) },
  fc.constantFrom(0x0100_5e01_0203, 0x0180_c200_0000, 0x0180_c200_0001, 0x0180_c200_000e, BR_MAC, PORT_MAC(1)),
);
const srcArb = fc.oneof({ weight: 8, arbitrary: fc.nat(5).map(POOL) }, fc.constantFrom(0x0300_0000_0001, 0, BR_MAC));
const event = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("frame" as const), from: fc.nat(8), src: srcArb, dst: dstArb, gap: fc.oneof({ weight: 3, arbitrary: fc.nat(50) }, fc.nat(3000)) }) },
  fc.record({ kind: fc.constant("flags" as const), port: fc.nat(8), cfg: portCfg }),
);
const scenario = fc.record({ ports: fc.array(portCfg, { minLength: 1, maxLength: 6 }), ageingMs: fc.constantFrom(0, 500, 2000, 300_000), events: fc.array(event, { maxLength: 150, size: "max" }) });

interface Seen {
  from: number;
  src: number;
  dst: number;
  /** Times each port (0 = the bridge) received the frame. */
  to: number[];
  /** What properties 2 and 3 expect (ports, sorted), or null when they say nothing. */
  expect: number[] | null;
  hairpinAtIngress: boolean;
}

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

function simulate(sc: Scenario) {
  const e = new Engine({ slots: 256, slotSize: 128, headroom: 16 });
  const br = e.add(new Bridge("br0", { mac: BR_MAC, ageingTime: sc.ageingMs * 1e6 }));
  const n = sc.ports.length;
  const taps = [e.add(new Tap("stack"))];
  e.connect(br, 0, taps[0]!, 0);
  const flags = sc.ports.map((c) => ({ ...c }));
  for (let p = 1; p <= n; p++) {
    br.addPort(`p${p}`, { mac: PORT_MAC(p), ...flags[p - 1]! });
    taps.push(e.add(new Tap(`t${p}`)));
    e.connect(br, p, taps[p]!, 0);
  }
  const cfg = (p: number) => flags[p - 1]!;
  const ageing = sc.ageingMs * 1e6;
  const learnedAt = new Map<number, { port: number; t: number }>();
  const seen: Seen[] = [];
  let id = 0;
  for (const ev of sc.events) {
    if (ev.kind === "flags") {
      const p = 1 + (ev.port % n);
      if (cfg(p).up && !ev.cfg.up) for (const [m, l] of learnedAt) if (l.port === p) learnedAt.delete(m);
      flags[p - 1] = { ...ev.cfg };
      br.setPortFlags(p, ev.cfg);
      br.setPortUp(p, ev.cfg.up);
      continue;
    }
    e.run(e.clock.now + ev.gap * 1e6);
    const now = e.clock.now;
    const from = ev.from % (n + 1);
    const frame = new Uint8Array(60);
    for (let i = 0; i < 6; i++) {
      frame[i] = Math.floor(ev.dst / 2 ** (40 - 8 * i)) & 255;
      frame[6 + i] = Math.floor(ev.src / 2 ** (40 - 8 * i)) & 255;
    }
    frame.set([0x88, 0xb5, id >>> 24, (id >>> 16) & 255, (id >>> 8) & 255, id & 255], 12);
    for (const t of taps) t.got = [];
    const s = e.arena.allocFrom(frame);
    e.enqueue(br, from, s);
    e.run(now);
    const to = taps.map((t) => t.got.filter((x) => x === id).length);
    id++;
    // What should happen, for the properties that speak about this frame.
    const up = (p: number) => p === 0 || cfg(p).up;
    const others = (need: (p: number) => boolean) => {
      const out: number[] = [];
      for (let p = 1; p <= n; p++) if (up(p) && need(p) && (p !== from || cfg(p).hairpin)) out.push(p);
      return out;
    };
    const validSrc = ev.src !== 0 && ev.src !== 0x0300_0000_0001;
    const ok = from === 0 || (up(from) && validSrc);
    // The learning record (property 3): valid sources from up, learning ports, ageing on; learned
    // before the forwarding decision.
    if (from !== 0 && ok && ev.src !== BR_MAC && cfg(from).learning && ageing > 0 && ev.dst !== 0x0180_c200_0001) {
      learnedAt.set(ev.src, { port: from, t: now });
    }
    let expectTo: number[] | null = null;
    if (ok && ev.dst === BCAST) expectTo = from === 0 ? others(() => true) : [...others((p) => cfg(p).bcastFlood), 0];
    else if (ok && ev.dst >= POOL(0) && ev.dst <= POOL(5)) {
      const l = learnedAt.get(ev.dst);
      if (l && now < l.t + ageing) expectTo = l.port === from && !cfg(from).hairpin ? [] : up(l.port) ? [l.port] : [];
      else if (!l || now >= l.t + ageing + 10e6) expectTo = others((p) => cfg(p).flood);
    }
    seen.push({ from, src: ev.src, dst: ev.dst, to, expect: expectTo, hairpinAtIngress: from !== 0 && cfg(from).hairpin });
  }
  e.run(e.clock.now);
  return { e, seen };
}

const received = (to: number[]) => to.flatMap((c, p) => Array<number>(c).fill(p));

test.prop([scenario], { numRuns: 300 })("a frame never leaves by its ingress port with hairpin off", (sc) => {
  for (const f of simulate(sc).seen) if (f.from !== 0 && !f.hairpinAtIngress) expect(f.to[f.from]).toBe(0);
});

test.prop([scenario], { numRuns: 300 })("a broadcast reaches every other up bcast_flood port, and the bridge, exactly once", (sc) => {
  for (const f of simulate(sc).seen) if (f.dst === BCAST && f.expect) expect(received(f.to).sort((a, b) => a - b)).toEqual(f.expect.sort((a, b) => a - b));
});

test.prop([scenario], { numRuns: 300 })("unicast to a learned MAC goes only to its port until it ages out, moves or the port goes down", (sc) => {
  for (const f of simulate(sc).seen) if (f.dst !== BCAST && f.expect) expect(received(f.to).sort((a, b) => a - b)).toEqual(f.expect.sort((a, b) => a - b));
});

test.prop([scenario], { numRuns: 300 })("conservation holds and nothing is left in use", (sc) => {
  const { e } = simulate(sc);
  expect(e.conservation()).toMatchObject({ ok: true, queued: 0, inUse: 0 });
});
