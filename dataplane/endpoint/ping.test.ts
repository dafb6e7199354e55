// ping from a container: replies, RTTs, the summary line, and the echo request bytes as Linux's
// ping sends them (BEHAVIOR.md 5.1: DF and a non-zero id from the hashed generator).
import { describe, expect, it } from "vitest";
import { docker0 } from "../topologies/docker0.js";
import { Engine } from "../engine/engine.js";
import { Netns } from "../netns/netns.js";
import { connectVeth } from "../devices/veth.js";
import { MemorySink, openCaptureBytes, newCaptureRecord } from "../../core/pcap/index.js";
import { dissectFrame, type Layer } from "../../core/wire/frame.js";
import { parseIpv4 as ip, parseMac as mac } from "../../core/addr.js";
import { ping } from "./ping.js";
import { IP_PMTUDISC_DO } from "./ip-id.js";

function captured(e: Engine, sink: MemorySink, point: string): Uint8Array[] {
  e.capture!.close();
  const rd = openCaptureBytes(sink.bytes());
  const r = newCaptureRecord();
  const out: Uint8Array[] = [];
  while (rd.next(r)) if (r.interfaceName === point && (r.flags & 1) === 0) out.push(r.data.slice());
  return out;
}

const ipOf = (f: Uint8Array) => dissectFrame(f).layers.find((l) => l.kind === "ipv4") as Extract<Layer, { kind: "ipv4" }> | undefined;

describe("ping on docker0", () => {
  it("ping -c 3 c2 -> c3: 3 replies, RTT 0 on plain veths, ping's summary", () => {
    const sink = new MemorySink();
    const t = docker0(2, { capture: sink });
    const p = ping(t.containers[0]!, ip("172.17.0.3"), { count: 3 });
    t.engine.run(20e9);
    expect(p.done).toBe(true);
    expect([p.transmitted, p.received, p.duplicates, p.errors]).toEqual([3, 3, 0, 0]);
    expect(Array.from(p.rtt)).toEqual([0, 0, 0]);
    expect(p.summary()).toBe(
      "--- 172.17.0.3 ping statistics ---\n3 packets transmitted, 3 received, 0% packet loss, time 2000ms\nrtt min/avg/max/mdev = 0.000/0.000/0.000/0.000 ms",
    );
    expect(t.engine.conservation().ok).toBe(true);
    // the requests as c2 sent them
    const reqs = captured(t.engine, sink, "c2/eth0").filter((f) => f.length > 42);
    expect(reqs.length).toBe(3);
    const ids = new Set<number>();
    reqs.forEach((f, k) => {
      const d = dissectFrame(f);
      expect(d.error).toBe(0);
      const h = ipOf(f)!;
      expect(h.df).toBe(true);
      expect(h.ttl).toBe(64);
      expect(h.ident).not.toBe(0);
      ids.add(h.ident);
      const icmp = 34;
      expect(f.length).toBe(14 + 20 + 8 + 56);
      expect(f[icmp]).toBe(8);
      expect((f[icmp + 4]! << 8) | f[icmp + 5]!).toBe(p.ident);
      expect((f[icmp + 6]! << 8) | f[icmp + 7]!).toBe(k + 1);
      // struct timeval of the virtual send time (k s), then 0x10, 0x11, ...
      const data = f.subarray(icmp + 8);
      expect(Array.from(data.subarray(0, 16))).toEqual([k, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
      expect(Array.from(data.subarray(16, 20))).toEqual([0x10, 0x11, 0x12, 0x13]);
      expect(data[55]).toBe(55);
    });
    expect(ids.size).toBe(3); // one destination, idle 1 s between: the counter moved on each time
  });

  it("IP_PMTUDISC_DO (ping -M do) sends DF with id 0", () => {
    const sink = new MemorySink();
    const t = docker0(2, { capture: sink });
    const p = ping(t.containers[0]!, ip("172.17.0.3"), { count: 2, pmtudisc: IP_PMTUDISC_DO });
    t.engine.run(20e9);
    expect(p.received).toBe(2);
    const reqs = captured(t.engine, sink, "c2/eth0").filter((f) => f.length > 42);
    expect(reqs.map((f) => [ipOf(f)!.df, ipOf(f)!.ident])).toEqual([[true, 0], [true, 0]]);
  });

  it("counts no replies from an address nobody has: 100% loss, finished 10 s after the last request", () => {
    const t = docker0(2);
    const p = ping(t.containers[0]!, ip("172.17.0.9"), { count: 2 });
    t.engine.run(60e9);
    expect(p.done).toBe(true);
    expect([p.transmitted, p.received]).toEqual([2, 0]);
    expect(p.summary()).toBe("--- 172.17.0.9 ping statistics ---\n2 packets transmitted, 0 received, 100% packet loss, time 11000ms");
  });

  it("is deterministic: same seed, same ping id and IP ids", () => {
    const run = () => {
      const sink = new MemorySink();
      const t = docker0(2, { capture: sink, seed: 9 });
      ping(t.containers[0]!, ip("172.17.0.3"), { count: 3 });
      t.engine.run(20e9);
      t.engine.capture!.close();
      return sink.bytes().slice();
    };
    expect(run()).toEqual(run());
  });
});

describe("ping over an impaired veth", () => {
  it("measures the configured delay both ways: RTT = 2 x 5 ms", () => {
    const e = new Engine({ seed: 3 });
    const a = e.add(new Netns("a"));
    const b = e.add(new Netns("b"));
    const ia = a.addInterface("eth0", mac("02:00:00:00:00:01"));
    const ib = b.addInterface("eth0", mac("02:00:00:00:00:02"));
    connectVeth(e, a, ia, b, ib, { ab: { delayNs: 5e6 }, ba: { delayNs: 5e6 } });
    a.addAddress("eth0", "10.9.0.1/24");
    b.addAddress("eth0", "10.9.0.2/24");
    const p = ping(a, ip("10.9.0.2"), { count: 3, intervalNs: 200e6 });
    e.run(20e9);
    expect(p.received).toBe(3);
    // the first request waits for ARP (request + reply cross the link: 10 ms) before going out
    expect(Array.from(p.rtt)).toEqual([20e6, 10e6, 10e6]);
    expect(p.summary().split("\n")[2]).toBe("rtt min/avg/max/mdev = 10.000/13.333/20.000/4.714 ms");
    expect(e.conservation().ok).toBe(true);
  });
});
