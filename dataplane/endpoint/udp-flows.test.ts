// The UDP flow generator and its sink: R pps for T s sends R*T packets per flow, seen by the sink
// without loss, duplication or reordering on plain veths; on an impaired veth the sink's counts
// match what the link did (netem-like loss, duplication, jitter reordering).
import { describe, expect, it } from "vitest";
import { docker0 } from "../topologies/docker0.js";
import { Engine } from "../engine/engine.js";
import { Netns } from "../netns/netns.js";
import { connectVeth } from "../devices/veth.js";
import type { Impairment } from "../devices/link.js";
import { MemorySink, openCaptureBytes, newCaptureRecord } from "../../core/pcap/index.js";
import { dissectFrame } from "../../core/wire/frame.js";
import { parseIpv4 as ip, parseMac as mac } from "../../core/addr.js";
import { FlowSink, udpFlows, FLOW_MAGIC, FLOW_DNS_MIN_FRAME } from "./udp-flows.js";

describe("UDP flows on docker0", () => {
  it("4 flows at 1000 pps for 2 s: 2000 packets each, all received, in order, once", () => {
    const sink = new MemorySink();
    const t = docker0(2, { capture: sink });
    const [c2, c3] = t.containers as [Netns, Netns];
    const fs = new FlowSink(c3, 5001);
    const g = udpFlows(c2, { dst: ip("172.17.0.3"), dport: 5001, flows: 4, pps: 1000, durationNs: 2e9, frameSize: 128 });
    t.engine.run(10e9);
    expect(g.done).toBe(true);
    expect(Array.from(g.sent)).toEqual([2000, 2000, 2000, 2000]);
    expect(new Set(g.socks.map((s) => s.port)).size).toBe(4);
    expect(fs.report(2000).map((r) => [r.flow, r.received, r.lost, r.duplicated, r.reordered, r.maxDelay])).toEqual([0, 1, 2, 3].map((f) => [f, 2000, 0, 0, 0, 0]));
    expect(fs.foreign).toBe(0);
    expect(t.engine.conservation().ok).toBe(true);
    // the frames: 128 bytes, valid checksums, the payload header, the last tick at 1.999 s
    t.engine.capture!.close();
    const rd = openCaptureBytes(sink.bytes());
    const r = newCaptureRecord();
    let n = 0, last = 0;
    while (rd.next(r)) {
      if (r.interfaceName !== "c2/eth0" || r.data.length !== 128) continue;
      n++;
      last = r.sec * 1e9 + r.nsec;
      if (n <= 8) {
        expect(dissectFrame(r.data).error).toBe(0);
        const p = r.data.subarray(42);
        expect((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!).toBe(FLOW_MAGIC | 0);
        expect((p[4]! << 8) | p[5]!).toBe((n - 1) % 4);
        expect((p[8]! << 24) | (p[9]! << 16) | (p[10]! << 8) | p[11]!).toBe(Math.floor((n - 1) / 4));
        expect(r.data[20]! & 0x40).toBe(0x40); // DF
      }
    }
    expect(n).toBe(8000);
    expect(last).toBe(1.999e9);
  });

  it("count instead of duration, non-integer period: ticks at round(k * 1e9 / pps)", () => {
    const t = docker0(2);
    const [c2, c3] = t.containers as [Netns, Netns];
    const fs = new FlowSink(c3, 5001);
    const at: number[] = [];
    const g = udpFlows(c2, { dst: ip("172.17.0.3"), dport: 5001, pps: 3, count: 4 });
    const orig = fs.counter.add.bind(fs.counter);
    fs.counter.add = (f, s) => {
      at.push(t.engine.clock.now);
      orig(f, s);
    };
    t.engine.run(10e9);
    expect(g.sent[0]).toBe(4);
    expect(at).toEqual([0, 333333333, 666666667, 1e9]);
  });
});

function impaired(ab: Impairment, seed = 11) {
  const e = new Engine({ seed, slots: 8192 });
  const a = e.add(new Netns("a"));
  const b = e.add(new Netns("b"));
  const ia = a.addInterface("eth0", mac("02:00:00:00:00:01"));
  const ib = b.addInterface("eth0", mac("02:00:00:00:00:02"));
  const link = connectVeth(e, a, ia, b, ib, { ab })!;
  a.addAddress("eth0", "10.9.0.1/24");
  b.addAddress("eth0", "10.9.0.2/24");
  return { e, a, b, link };
}

describe("UDP flows to a DNS port", () => {
  it("carry a DNS query for wy. ahead of the flow header; the sink finds the header behind it", () => {
    const sink = new MemorySink();
    const t = docker0(2, { capture: sink });
    const [c2, c3] = t.containers as [Netns, Netns];
    const fs = new FlowSink(c3, 53);
    const g = udpFlows(c2, { dst: ip("172.17.0.3"), dport: 53, flows: 2, pps: 100, count: 5, dns: true });
    expect(g.payloadLen + 42).toBe(FLOW_DNS_MIN_FRAME);
    t.engine.run(2e9);
    expect(fs.report(5).map((r) => [r.flow, r.received, r.lost])).toEqual([[0, 5, 0], [1, 5, 0]]);
    expect(fs.foreign).toBe(0);
    t.engine.capture!.close();
    const rd = openCaptureBytes(sink.bytes());
    const r = newCaptureRecord();
    let n = 0;
    while (rd.next(r)) {
      if (r.interfaceName !== "c2/eth0" || r.data.length !== 82) continue;
      n++;
      expect(dissectFrame(r.data).error).toBe(0); // UDP checksum verified
      const q = r.data.subarray(42);
      // id = seq, flags RD, 1 question, no records, "\x02wy\x00" A IN, then the flow header
      expect(Array.from(q.subarray(2, 20))).toEqual([1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, 0x77, 0x79, 0, 0, 1, 0, 1]);
      expect((q[0]! << 8) | q[1]!).toBe((q[30]! << 8) | q[31]!);
      expect(((q[20]! << 24) | (q[21]! << 16) | (q[22]! << 8) | q[23]!) >>> 0).toBe(FLOW_MAGIC);
    }
    expect(n).toBe(10);
    expect(() => udpFlows(c2, { dst: ip("172.17.0.3"), dport: 53, pps: 1, count: 1, dns: true, frameSize: 64 })).toThrow("frame size 64 < 82 (a DNS query ahead of the flow header)");
  });
});

describe("UDP flows over an impaired veth", () => {
  it("loss: lost = what the link dropped; duplicate: duplicated = what it duplicated", () => {
    const { e, a, b, link } = impaired({ loss: 0.1, duplicate: 0.05 });
    const cap = new MemorySink();
    e.openCapture(cap);
    e.tap(b, 0, "b/eth0");
    const fs = new FlowSink(b, 9);
    udpFlows(a, { dst: ip("10.9.0.2"), dport: 9, flows: 2, pps: 500, durationNs: 2e9 });
    e.run(10e9);
    const st = link.stats(0);
    const rep = fs.report(1000);
    expect(st.lost).toBeGreaterThan(0);
    expect(st.duplicated).toBeGreaterThan(0);
    // UDP frames that reached b, counted from a capture
    e.capture!.close();
    const rd = openCaptureBytes(cap.bytes());
    const rec = newCaptureRecord();
    let udpIn = 0;
    while (rd.next(rec)) if (rec.data[23] === 17 && rec.data[12] === 8) udpIn++;
    expect(rep.reduce((x, r) => x + r.received, 0)).toBe(udpIn);
    for (const r of rep) {
      expect(r.received - r.duplicated + r.lost).toBe(1000);
      expect(r.lost).toBeGreaterThan(50);
      expect(r.duplicated).toBeGreaterThan(10);
    }
    expect(rep.every((r) => r.reordered === 0)).toBe(true);
  });

  it("jitter reorders: the sink counts late packets, none lost", () => {
    const { e, a, b } = impaired({ delayNs: 10e6, jitterNs: 5e6 });
    const fs = new FlowSink(b, 9);
    udpFlows(a, { dst: ip("10.9.0.2"), dport: 9, pps: 1000, count: 1000 });
    e.run(10e9);
    const [r] = fs.report(1000);
    expect(r!.received).toBe(1000);
    expect(r!.lost).toBe(0);
    expect(r!.duplicated).toBe(0);
    expect(r!.reordered).toBeGreaterThan(0);
    expect(r!.minDelay).toBeGreaterThanOrEqual(5e6);
    expect(r!.maxDelay).toBeLessThan(30e6); // the first waits for ARP across the link
  });
});
