// `trace add`: rules that mark the first N packets at a device (optionally of one flow), on
// docker0 with other traffic around: exactly N packets traced, each hop by hop across the
// namespaces and the bridge, and only those carry pcapng comments.
import { describe, expect, it } from "vitest";
import { docker0 } from "../topologies/docker0.js";
import type { Netns } from "../netns/netns.js";
import { Engine } from "./engine.js";
import { Device } from "./device.js";
import { FlowSink, udpFlows } from "../endpoint/udp-flows.js";
import { ping } from "../endpoint/ping.js";
import { udpEcho } from "../endpoint/udp-socket.js";
import { MemorySink, newCaptureRecord, openCaptureBytes } from "../../core/pcap/index.js";
import { parseIpv4 as ip, parseMac } from "../../core/addr.js";
import { buildFrame } from "../../core/wire/frame.js";
import { eth, ipv4, udp, icmpEcho, raw } from "../../core/wire/layers.js";
import { getU16, getU32 } from "../../core/bytes.js";

const C2 = ip("172.17.0.2"), C3 = ip("172.17.0.3");

/** Entries of one trace as "device: text". */
const hops = (e: Engine, id: number) => e.trace.entries.filter((x) => x.id === id).map((x) => `${x.device}: ${x.text}`);

describe("trace add: the first N packets of a flow", () => {
  it("traces exactly the first 2 packets of one UDP flow, c2 -> docker0 -> c3, with capture comments", () => {
    const sink = new MemorySink();
    const t = docker0(2, { capture: sink });
    const e = t.engine;
    const [c2, c3] = t.containers as [Netns, Netns];
    const fs = new FlowSink(c3, 5001);
    // other traffic: pings both ways, and a second flow from c2 to the same port
    ping(c2, C3, { count: 3 });
    ping(c3, C2, { count: 3 });
    const g = udpFlows(c2, { dst: C3, dport: 5001, flows: 2, pps: 1000, count: 5 });
    const sport = g.socks[0]!.port;
    const rule = e.trace.add({ device: c2, count: 2, match: { src: "172.17.0.2", dst: C3, protocol: "udp", sport, dport: 5001 } });
    expect(rule.text).toBe(`c2 (in and created): first 2 udp 172.17.0.2:${sport} > 172.17.0.3:5001`);
    e.run(4e9);
    e.capture!.close();

    expect(rule.marked).toBe(2);
    expect(rule.active).toBe(false);
    expect(e.devices.map((d) => d.traceArmed)).toEqual(e.devices.map(() => 0));
    // tracing changed nothing: both flows arrived whole
    expect(fs.report(5).map((r) => [r.received, r.lost])).toEqual([[5, 0], [5, 0]]);
    expect(e.conservation().ok).toBe(true);

    expect(e.trace.ids()).toEqual([1, 2]);
    for (const id of [1, 2]) {
      expect(hops(e, id)).toEqual([
        `c2: created: trace add 1 (${id} of 2)`,
        "c2: route to 172.17.0.3: dev eth0",
        "c2: out eth0 to 02:42:ac:11:00:03",
        "host/docker0: 02:42:ac:11:00:02 refreshed on veth1a2b32",
        "host/docker0: forwarded to veth1a2b33",
        "c3: delivered",
      ]);
    }
    // each at the tick that sent it (the first waited for ARP, resolved at the same instant)
    expect([1, 2].map((id) => [...new Set(e.trace.entries.filter((x) => x.id === id).map((x) => x.t))])).toEqual([[0], [1e6]]);
    const text = e.trace.format();
    expect(text.split("\n").filter((l) => l.startsWith("trace "))).toEqual(["trace 1:", "trace 2:"]);
    expect(text).toMatch(/trace 2:\n +1\.000000 ms  c2 +created: trace add 1 \(2 of 2\)\n +1\.000000 ms  c2 +route to 172\.17\.0\.3: dev eth0\n/);
    expect(e.trace.format(2)).not.toContain("trace 1:");

    // the capture: exactly the two packets carry comments, at each of the 4 points they cross
    const rd = openCaptureBytes(sink.bytes());
    const r = newCaptureRecord();
    const commented: string[] = [];
    let uncommented = 0;
    while (rd.next(r)) {
      if (r.comment === "") {
        uncommented++;
        continue;
      }
      // flow 0's datagrams, seq 0 then 1 (payload: magic, flow, 0, seq)
      expect(getU16(r.data, 34)).toBe(sport);
      expect(getU32(r.data, 42 + 8)).toBe(commented.length >> 2);
      commented.push(`${r.interfaceName} ${r.comment}`);
    }
    expect(uncommented).toBeGreaterThan(40); // ARP, 12 ping frames, 8 other datagrams, at 4 points
    const firstAt = (n: number) => [
      `c2/eth0 trace ${n}: c2: created: trace add 1 (${n} of 2); c2: route to 172.17.0.3: dev eth0; c2: out eth0 to 02:42:ac:11:00:03`,
      `host/veth1a2b32 trace ${n}`,
      `host/veth1a2b33 trace ${n}: host/docker0: 02:42:ac:11:00:02 refreshed on veth1a2b32; host/docker0: forwarded to veth1a2b33`,
      `c3/eth0 trace ${n}`,
    ];
    expect(commented).toEqual([...firstAt(1), ...firstAt(2)]);
  });

  it("bidirectional: a rule on c3 takes the requests arriving and the echoes c3 creates", () => {
    for (const bidirectional of [true, false]) {
      const t = docker0(2);
      const e = t.engine;
      const [c2, c3] = t.containers as [Netns, Netns];
      udpEcho(c3, 7);
      const g = udpFlows(c2, { dst: C3, dport: 7, pps: 100, count: 3 });
      const rule = e.trace.add({ device: "c3", count: 4, bidirectional, match: { src: "172.17.0.0/24", dst: C3, protocol: 17, dport: 7 } });
      e.run(1e9);
      const first = e.trace.ids().map((id) => hops(e, id)[0]);
      if (bidirectional) {
        expect(first).toEqual(["c3: in eth0: trace add 1 (1 of 4)", "c3: created: trace add 1 (2 of 4)", "c3: in eth0: trace add 1 (3 of 4)", "c3: created: trace add 1 (4 of 4)"]);
        expect(hops(e, 2)).toEqual([
          "c3: created: trace add 1 (2 of 4)",
          "c3: route to 172.17.0.2: dev eth0",
          "c3: out eth0 to 02:42:ac:11:00:02",
          "host/docker0: 02:42:ac:11:00:03 refreshed on veth1a2b33", // learned from its ARP reply
          "host/docker0: forwarded to veth1a2b32",
          "c2: delivered",
        ]);
        expect(rule.active).toBe(false);
      } else {
        expect(first).toEqual([1, 2, 3].map((k) => `c3: in eth0: trace add 1 (${k} of 4)`));
        expect(rule.active).toBe(true); // only 3 requests were sent
        e.trace.remove(rule);
      }
      expect(g.socks[0]!.rxPackets).toBe(3);
      expect(e.devices.map((d) => d.traceArmed)).toEqual(e.devices.map(() => 0));
      expect(e.conservation().ok).toBe(true);
    }
  });

  it("a port rule on the bridge marks arrivals there only; a rule removed early marks nothing more", () => {
    const t = docker0(2);
    const e = t.engine;
    const [c2] = t.containers as [Netns, Netns];
    ping(c2, C3, { count: 4 });
    const rule = e.trace.add({ device: t.bridge, port: "veth1a2b33", count: 10, match: { protocol: "icmp" } });
    expect(rule.text).toBe("host/docker0/veth1a2b33: first 10 icmp any > any");
    e.run(1.5e9);
    // echo replies from c3 (the requests arrive on c2's port; ARP is not ICMP)
    expect(e.trace.ids().map((id) => hops(e, id)[0])).toEqual(["host/docker0: in veth1a2b33: trace add 1 (1 of 10)", "host/docker0: in veth1a2b33: trace add 1 (2 of 10)"]);
    expect(hops(e, 1).slice(1)).toEqual(["host/docker0: 02:42:ac:11:00:03 refreshed on veth1a2b33", "host/docker0: forwarded to veth1a2b32", "c2: delivered"]);
    e.trace.remove(rule);
    expect(rule.active).toBe(false);
    expect(t.bridge.traceArmed).toBe(0);
    e.run(5e9);
    expect(e.trace.ids()).toEqual([1, 2]);
    expect(rule.marked).toBe(2);
  });

  it("does not trace a created packet that never leaves its namespace, nor leave lines of it", () => {
    const t = docker0(2);
    const e = t.engine;
    const [c2] = t.containers as [Netns, Netns];
    c2.setUp("eth0", false);
    const g = udpFlows(c2, { dst: C3, dport: 9, pps: 1000, count: 2 });
    const rule = e.trace.add({ device: c2, count: 1 });
    e.run(0.5e9);
    expect(c2.drops[c2.r["iface-down"]]).toBe(2);
    expect(rule.marked).toBe(0);
    expect(e.trace.entries).toEqual([]);
    // up again: the next packet c2 creates is the ARP request for c3, traced to its end
    c2.setUp("eth0", true);
    g.close();
    udpFlows(c2, { dst: C3, dport: 9, pps: 1000, count: 1 });
    e.run(1e9);
    expect(rule.marked).toBe(1);
    expect(hops(e, 1).slice(0, 3)).toEqual(["c2: created: trace add 1 (1 of 1)", "host/docker0: 02:42:ac:11:00:02 learned on veth1a2b32", "host/docker0: flooded (broadcast) to 2 ports: veth1a2b33, docker0"]);
    expect(e.trace.format()).toContain("clone of trace 1");
    expect(e.conservation().ok).toBe(true);
  });

  it("refuses bad rules with messages naming what is wrong", () => {
    const { engine: e, containers } = docker0(2);
    const c2 = containers[0]!;
    expect(() => e.trace.add({ device: "c9", count: 1 })).toThrow(/trace add c9: no such device/);
    expect(() => e.trace.add({ device: c2, port: "eth7", count: 1 })).toThrow(/trace add c2: no port eth7 \(ports: eth0\)/);
    expect(() => e.trace.add({ device: c2, port: 0, local: true, count: 1 })).toThrow(/packets the device creates \(local\) have none/);
    expect(() => e.trace.add({ device: c2, count: 0 })).toThrow(/count 0 must be a positive integer/);
    expect(() => e.trace.add({ device: c2, count: 1, match: { protocol: "icmp", dport: 7 } })).toThrow(/protocol 1 has no ports/);
    expect(() => e.trace.add({ device: c2, count: 1, match: { src: "172.17.0.300" } })).toThrow(/172\.17\.0\.300/);
    expect(() => e.trace.add({ device: c2, count: 1, match: { sport: 70000 } })).toThrow(/sport 70000 must be 0..65535/);
    expect(e.devices.map((d) => d.traceArmed)).toEqual(e.devices.map(() => 0));
  });
});

/** A device with one port, to hold rules for the filter test. */
class Port extends Device {
  constructor() {
    super("p");
    this.addPort("in");
  }
  process(): void {}
}

describe("trace add filter", () => {
  const M = parseMac("02:00:00:00:00:01");
  const udpFrame = (src: string, dst: string, sport: number, dport: number, opts: { vlan?: number; fragOffset?: number } = {}) =>
    buildFrame([
      eth({ src: M, dst: M, ...(opts.vlan !== undefined ? { vlan: true, vid: opts.vlan } : {}) }),
      ipv4({ src: ip(src), dst: ip(dst), protocol: 17, ...(opts.fragOffset ? { fragOffset: opts.fragOffset, df: false } : {}) }),
      udp(sport, dport),
      raw(8),
    ]);

  it("matches addresses, prefixes, protocol and ports, one VLAN tag, and never reads past the frame", () => {
    const e = new Engine({ slots: 16 });
    const d = e.add(new Port());
    const rule = (m: object, bidirectional = false) => e.trace.add({ device: d, count: 1, match: m, bidirectional });
    const f = udpFrame("10.0.0.1", "10.0.1.2", 1000, 53);
    const cases: [object, boolean, boolean][] = [
      [{}, false, true],
      [{ src: "10.0.0.1" }, false, true],
      [{ src: "10.0.0.2" }, false, false],
      [{ src: "10.0.0.0/24", dst: "10.0.0.0/16" }, false, true],
      [{ dst: "10.0.0.0/24" }, false, false],
      [{ protocol: "udp", sport: 1000, dport: 53 }, false, true],
      [{ protocol: "tcp" }, false, false],
      [{ sport: 53 }, false, false],
      [{ sport: 53, dport: 1000 }, true, true],
      [{ src: "10.0.1.2", dst: "10.0.0.1" }, true, true],
      [{ src: "10.0.1.2", dst: "10.0.0.1" }, false, false],
    ];
    for (const [m, bidir, want] of cases) expect([m, bidir, rule(m, bidir).matches(f, 0, f.length)]).toEqual([m, bidir, want]);
    const tagged = udpFrame("10.0.0.1", "10.0.1.2", 1000, 53, { vlan: 5 });
    expect(getU16(tagged, 12)).toBe(0x8100);
    expect(rule({ dport: 53 }).matches(tagged, 0, tagged.length)).toBe(true);
    // a later fragment has no ports: it matches addresses, not ports
    const frag = udpFrame("10.0.0.1", "10.0.1.2", 1000, 53, { fragOffset: 8 });
    expect(rule({ src: "10.0.0.1" }).matches(frag, 0, frag.length)).toBe(true);
    expect(rule({ dport: 53 }).matches(frag, 0, frag.length)).toBe(false);
    // not IPv4: ARP-sized garbage and an ICMP echo for a port rule
    const echo = buildFrame([eth({ src: M, dst: M }), ipv4({ src: 1, dst: 2, protocol: 1 }), icmpEcho(8, 1, 1), raw(4)]);
    expect(rule({ dport: 53 }).matches(echo, 0, echo.length)).toBe(false);
    expect(rule({ protocol: "icmp", dst: 2 }).matches(echo, 0, echo.length)).toBe(true);
    // every cut of the frame (the rest still in the buffer): no match without the ports, so
    // nothing past the cut was read
    const r = rule({ dport: 53 });
    for (let len = 0; len < 14 + 20 + 4; len++) expect([len, r.matches(f, 0, len)]).toEqual([len, false]);
    expect(r.matches(f, 0, 14 + 20 + 4)).toBe(true);
    const r2 = rule({ dst: "10.0.1.2" });
    for (let len = 0; len < 14 + 20; len++) expect([len, r2.matches(f, 0, len)]).toEqual([len, false]);
    expect(r2.matches(f, 0, 14 + 20)).toBe(true);
  });
});
