import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { Engine } from "../engine/engine.js";
import { Device } from "../engine/device.js";
import { parseMac } from "../../core/addr.js";
import { buildFrame } from "../../core/wire/frame.js";
import { eth, raw } from "../../core/wire/layers.js";
import { ethDst, ethSrc } from "../../core/wire/ethernet.js";
import { Bridge, type BridgeOptions } from "./bridge.js";

const BR_MAC = parseMac("02:42:e1:1f:3e:a7");
const PORT_MAC = (i: number) => parseMac(`ae:de:3b:f2:58:1${i + 1}`);
const C = (last: number) => 0x0242_ac11_0000 + last;

/** A container's eth0 (or the bridge's stack): records the source and destination of what arrives. */
class Host extends Device {
  got: { src: number; dst: number; bytes: number[] }[] = [];
  constructor(name: string) {
    super(name);
    this.addPort("eth0");
  }
  process(slots: Int32Array, n: number): void {
    const a = this.engine.arena;
    for (let i = 0; i < n; i++) {
      const s = slots[i]!;
      this.got.push({ src: ethSrc(a.bytes, a.start(s)), dst: ethDst(a.bytes, a.start(s)), bytes: Array.from(a.view(s)) });
      this.engine.deliver(this, s);
    }
  }
}

/** docker0 with vethc1..vethcN, each wired to a Host cN; port 0 wired to a Host "stack". */
function docker0(ports = 3, opts: Partial<BridgeOptions> = {}, slots = 1024) {
  const e = new Engine({ slots });
  const br = e.add(new Bridge("docker0", { mac: BR_MAC, ...opts }));
  const stack = e.add(new Host("stack"));
  e.connect(br, 0, stack, 0);
  const hosts: Host[] = [];
  for (let i = 1; i <= ports; i++) {
    const p = br.addPort(`vethc${i}`, { mac: PORT_MAC(i) });
    expect(p).toBe(i);
    hosts.push(e.add(new Host(`c${i}`)));
    e.connect(br, p, hosts[i - 1]!, 0);
  }
  return { e, br, stack, hosts };
}

/** Put a 60-byte frame into the bridge as arriving on `port` (0 = sent by the bridge's stack). */
function inject(e: Engine, br: Bridge, port: number, dst: number, src: number, trace = false, len = 60): number {
  const s = e.arena.allocFrom(buildFrame([eth({ dst, src, ethertype: 0x88b5 }), raw(46)]));
  e.arena.setLen(s, len);
  if (trace) e.trace.mark(s);
  e.enqueue(br, port, s);
  return s;
}

const receivers = (hosts: Host[], stack: Host, src: number) =>
  [...hosts, stack].filter((h) => h.got.some((g) => g.src === src)).map((h) => h.name);

describe("bridge against Linux 6.18 (fixtures/bridge-kernel.txt, scripts/kernel-bridge.sh)", () => {
  const lines = readFileSync(new URL("./fixtures/bridge-kernel.txt", import.meta.url), "utf8").split("\n").filter((l) => l && !l.startsWith("#"));
  it("replays every step with the kernel's result", () => {
    const { e, br, stack, hosts } = docker0(3);
    const portOf = (name: string) => (name === "h" ? 0 : br.portIndex(`veth${name}`));
    const at = (dt: number) => e.run(e.clock.now + dt * 1e9);
    const fdbLines = (pred: (l: string) => boolean) => br.fdbShow({ self: false }).split("\n").map((l) => l.trimEnd()).filter(pred).join(" ; ");
    const flagName: Record<string, string> = { learning: "learning", flood: "flood", mcast_flood: "mcastFlood", bcast_flood: "bcastFlood", hairpin: "hairpin" };
    const results: string[] = [];
    for (const line of lines) {
      const [step, expected] = line.split(" => ") as [string, string];
      const [op, ...args] = step.split(" ");
      let got = "";
      switch (op) {
        case "send": {
          const [from, dst, src] = args as [string, string, string];
          at(1);
          for (const h of [...hosts, stack]) h.got = [];
          inject(e, br, portOf(from), parseMac(dst), parseMac(src));
          e.run(e.clock.now);
          const to = [...hosts, stack].map((h) => [h.name === "stack" ? "br" : h.name, h.got.filter((g) => g.src === parseMac(src)).length] as const);
          const names = to.filter(([, n]) => n > 0).map(([name, n]) => (n > 1 ? `${name}x${n}` : name));
          got = `to ${names.length ? names.join(" ") : "-"} | fdb ${fdbLines((l) => l.startsWith(src + " "))}`;
          at(0.5);
          break;
        }
        case "flags":
          for (let i = 1; i < args.length; i += 2) br.setPortFlags(portOf(args[0]!.slice(4)), { [flagName[args[i]!]!]: args[i + 1] === "on" });
          break;
        case "fdbadd":
          br.fdbAdd(parseMac(args[0]!), portOf(args[1]!.slice(4)), args[2] as "static");
          break;
        case "ageing":
          br.setAgeingTime(Number(args[0]) * 10e6);
          at(0.2);
          break;
        case "down":
        case "up":
          br.setPortUp(portOf(args[0]!.slice(4)), op === "up");
          at(0.2);
          break;
        case "nomaster":
          br.removePort(portOf(args[0]!.slice(4)));
          break;
        case "wait":
          at(Number(args[0]));
          break;
        case "flush":
          br.fdbFlush();
          break;
        case "dump":
          got = fdbLines(() => true);
          break;
        default:
          throw new Error(`unknown step ${line}`);
      }
      results.push(`${step} => ${got.trim()}`);
      expect.soft(`${step} => ${got.trim()}`).toBe(`${step} => ${expected.trim()}`);
    }
    expect(results.length).toBeGreaterThan(60);
    expect(e.conservation().ok).toBe(true);
  });
});

describe("bridge fdb show", () => {
  const text = readFileSync(new URL("./fixtures/bridge-fdb-show.txt", import.meta.url), "utf8");
  const [withV6, withoutV6] = text.split(/^# the same bridge.*\n/m).map((s) => s.split("\n").filter((l) => l && !l.startsWith("#")));
  it("prints docker0 with two veths as the kernel does (IPv6 on)", () => {
    const { e, br } = docker0(2);
    inject(e, br, 1, C(3), C(2)); // c1 -> c2 and back: both learned
    inject(e, br, 2, C(2), C(3));
    e.run(e.clock.now);
    expect(br.fdbShow().split("\n")).toEqual(withV6);
  });
  it("prints a lone bridge in a namespace without IPv6", () => {
    const e = new Engine({ slots: 16 });
    const br = e.add(new Bridge("docker0", { mac: BR_MAC, ipv6: false }));
    expect(br.fdbShow().split("\n")).toEqual(withoutV6);
  });
  it("shows static entries, and stale ones between expiry and the sweep (sweeps >= 10 ms apart)", () => {
    const { e, br } = docker0(1);
    br.fdbAdd(C(9), 1, "static");
    inject(e, br, 1, 0xffff_ffff_ffff, C(2));
    e.run(5e6);
    inject(e, br, 1, 0xffff_ffff_ffff, C(3));
    e.run(300.007e9);
    const show = br.fdbShow({ self: false });
    expect(show).toContain("02:42:ac:11:00:09 dev vethc1 master docker0 static");
    expect(show).not.toContain("02:42:ac:11:00:02");
    expect(show).toContain("02:42:ac:11:00:03 dev vethc1 master docker0 stale");
    e.run(300.01e9);
    expect(br.fdbShow({ self: false })).not.toContain("02:42:ac:11:00:03");
  });
});

describe("bridge forwarding", () => {
  it("copies a flood into new slots, byte for byte, the original leaving by the last port", () => {
    const { e, br, stack, hosts } = docker0(3);
    const s = inject(e, br, 1, 0xffff_ffff_ffff, C(2));
    e.run();
    const seen = [hosts[1]!, hosts[2]!, stack].map((h) => h.got);
    for (const g of seen) expect(g).toHaveLength(1);
    expect(seen[1]![0]!.bytes).toEqual(seen[0]![0]!.bytes);
    expect(seen[2]![0]!.bytes).toEqual(seen[0]![0]!.bytes);
    expect(e.arena.allocs).toBe(3); // the original and 2 copies
    expect(s).toBeGreaterThanOrEqual(0);
    expect(e.conservation()).toMatchObject({ created: 3, delivered: 3, ok: true });
  });

  it("floods newest port first, then up to the bridge", () => {
    const { e, br } = docker0(3);
    const order: string[] = [];
    const orig = e.transmit.bind(e);
    e.transmit = (d, p, s) => (d === br && order.push(br.portNames[p]!), orig(d, p, s));
    inject(e, br, 2, 0xffff_ffff_ffff, C(3));
    e.run();
    expect(order).toEqual(["vethc3", "vethc1", "docker0"]);
  });

  it("counts no-buffer when the arena cannot hold a copy; other ports still get theirs", () => {
    const { e, br, stack, hosts } = docker0(3, {}, 2);
    inject(e, br, 1, 0xffff_ffff_ffff, C(2));
    e.run();
    expect(br.drops[br.reason("no-buffer")]).toBe(1);
    expect(hosts[1]!.got.length + hosts[2]!.got.length + stack.got.length).toBe(2);
    expect(e.conservation().ok).toBe(true);
  });

  it("drops runts, frames on a down port, and floods with nowhere to go", () => {
    const { e, br } = docker0(1);
    inject(e, br, 1, C(9), C(2), false, 13);
    e.run();
    br.setPortUp(1, false);
    inject(e, br, 1, C(9), C(2));
    e.run();
    br.setPortUp(1, true);
    inject(e, br, 1, C(9), C(2)); // unknown unicast, the only other port is the bridge
    e.run();
    expect(e.errors()).toEqual([
      { device: "docker0", reason: "runt", count: 1 },
      { device: "docker0", reason: "port-down", count: 1 },
      { device: "docker0", reason: "no-ports", count: 1 },
    ]);
  });

  it("sends unknown unicast up too when the bridge is promiscuous", () => {
    const { e, br, stack, hosts } = docker0(2, { promisc: true });
    inject(e, br, 1, C(9), C(2));
    e.run();
    expect(receivers(hosts, stack, C(2))).toEqual(["c2", "stack"]);
  });

  it("traces each decision: learned, flooded, forwarded, dropped", () => {
    const { e, br } = docker0(2);
    inject(e, br, 1, 0xffff_ffff_ffff, C(2), true);
    e.run(e.clock.now);
    inject(e, br, 2, C(2), C(3), true);
    inject(e, br, 1, C(2), C(4), true);
    e.run(e.clock.now);
    const t = e.trace.format();
    expect(t).toContain("02:42:ac:11:00:02 learned on vethc1");
    expect(t).toContain("flooded (broadcast) to 2 ports: vethc2, docker0");
    expect(t).toContain("clone of trace 1");
    expect(t).toContain("forwarded to vethc1");
    expect(t).toContain("02:42:ac:11:00:02 is on the ingress port vethc1 (hairpin off)");
    expect(t).toContain("dropped: hairpin-off");
  });
});

describe("bridge FDB", () => {
  it("ages entries on the virtual clock with one sweep timer, refreshed entries staying", () => {
    const { e, br } = docker0(2);
    inject(e, br, 1, 0xffff_ffff_ffff, C(2));
    inject(e, br, 2, 0xffff_ffff_ffff, C(3));
    e.run(e.clock.now);
    const pending = e.clock.pending;
    e.run(200e9);
    inject(e, br, 2, 0xffff_ffff_ffff, C(3)); // refresh c3 at 200 s
    e.run(300e9 - 1);
    expect([br.fdbLookup(C(2)), br.fdbLookup(C(3))]).toEqual([1, 2]);
    expect(e.clock.pending).toBe(pending);
    e.run(300e9);
    expect([br.fdbLookup(C(2)), br.fdbLookup(C(3))]).toEqual([-1, 2]);
    e.run(); // runs until c3 ages out at 500 s, then nothing is armed
    expect(br.fdbLookup(C(3))).toBe(-1);
    expect(e.clock.now).toBe(500e9);
    expect(br.counters()).toMatchObject({ learned: 2, aged: 2 });
    expect(br.fdbLookup(BR_MAC)).toBe(0);
  });

  it("stops learning at maxLearned, counting fdb-full, and still floods", () => {
    const { e, br, hosts, stack } = docker0(2, { maxLearned: 2 });
    br.fdbAdd(C(0x99), 2, "static"); // added by hand: not counted
    for (const m of [C(2), C(3), C(4)]) inject(e, br, 1, 0xffff_ffff_ffff, m);
    e.run(e.clock.now);
    expect([C(2), C(3), C(4)].map((m) => br.fdbLookup(m))).toEqual([1, 1, -1]);
    expect(br.counters()).toMatchObject({ learned: 2, "fdb-full": 1 });
    expect(receivers(hosts, stack, C(4))).toEqual(["c2", "stack"]);
  });

  it("counts frames carrying one of the bridge's own addresses as source, not learning them", () => {
    const { e, br } = docker0(2);
    inject(e, br, 1, 0xffff_ffff_ffff, PORT_MAC(2));
    e.run(e.clock.now);
    expect(br.counters()["own-source"]).toBe(1);
    expect(br.fdbLookup(PORT_MAC(2))).toBe(2);
  });

  it("moves an entry when its source appears on another port", () => {
    const { e, br } = docker0(2);
    inject(e, br, 1, 0xffff_ffff_ffff, C(2));
    inject(e, br, 2, 0xffff_ffff_ffff, C(2));
    e.run(e.clock.now);
    expect(br.fdbLookup(C(2))).toBe(2);
    expect(br.counters()).toMatchObject({ learned: 1, moved: 1 });
  });

  it("reuses a removed port's index and forgets its entries", () => {
    const { e, br } = docker0(3);
    inject(e, br, 2, 0xffff_ffff_ffff, C(3));
    e.run(e.clock.now);
    br.removePort(2);
    expect(br.fdbLookup(C(3))).toBe(-1);
    expect(br.fdbLookup(PORT_MAC(2))).toBe(-1);
    expect(br.addPort("veth9", { mac: C(0x19) })).toBe(2);
    expect(br.fdbShow({ self: false }).split("\n").at(-1)).toBe("02:42:ac:11:00:19 dev veth9 master docker0 permanent");
    expect(() => br.setPortUp(7, false)).toThrow(RangeError);
  });
});
