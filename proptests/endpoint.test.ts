// Properties of the endpoint layer (dataplane/endpoint):
//  - the ephemeral port search equals its plain reference for any taken-port set, table size
//    and random word, and a found port is in range and free;
//  - random bind(0)/close sequences keep bound ports unique and within 32768-60999;
//  - the flow sink's loss/duplicate/reorder arithmetic equals a Set-based reference for any
//    arrival sequence;
//  - every datagram a socket sends (any TOS, TTL, size, PMTU mode) dissects with valid checksums;
import { fc, test } from "@fast-check/vitest";
import { expect } from "vitest";
import { ephemeralPort, ephemeralPortReference, PORT_RANGE_HIGH, PORT_RANGE_LOW } from "../dataplane/endpoint/ports.js";
import { FlowCounter, flowCountReference, udpFlows } from "../dataplane/endpoint/udp-flows.js";
import { UdpSocket } from "../dataplane/endpoint/udp-socket.js";
import { docker0 } from "../dataplane/topologies/docker0.js";
import { MemorySink, newCaptureRecord, openCaptureBytes } from "../core/pcap/index.js";
import { dissectFrame } from "../core/wire/frame.js";

test.prop([
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.constantFrom(256, 1024, 8192, 65536),
  fc.integer({ min: 0, max: 1000 }),
  fc.array(fc.integer({ min: 0, max: 120 }), { maxLength: 60 }),
  fc.double({ min: 0, max: 1, noNaN: true }),
])("ephemeral port search = reference; result in range and free", (rand, hsize, lowOff, holes, density) => {
  const low = PORT_RANGE_LOW + lowOff, high = low + 127; // a small range, so that it fills up
  const used = new Uint8Array(65536);
  for (let p = low; p <= high; p++) if (((p * 2654435761) >>> 0) / 2 ** 32 < density) used[p] = 1;
  for (const h of holes) used[low + (h % 128)] = 0;
  const got = ephemeralPort(rand, used, low, high, hsize);
  expect(got).toBe(ephemeralPortReference(rand, used, low, high, hsize));
  if (got >= 0) {
    expect(got >= low && got <= high && used[got] === 0).toBe(true);
  } else {
    for (let p = low; p <= high; p++) expect(used[p]).toBe(1);
  }
});

test.prop([fc.array(fc.boolean(), { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 1000 })])(
  "bind(0)/close keep bound ports unique and in range",
  (ops, seed) => {
    const t = docker0(1, { seed });
    const c2 = t.containers[0]!;
    const open: UdpSocket[] = [];
    for (const bind of ops) {
      if (bind || open.length === 0) {
        const s = new UdpSocket(c2);
        const p = s.bind(0);
        expect(p >= PORT_RANGE_LOW && p <= PORT_RANGE_HIGH).toBe(true);
        open.push(s);
      } else open.splice(seed % open.length, 1)[0]!.close();
      expect(new Set(open.map((s) => s.port)).size).toBe(open.length);
    }
  },
);

test.prop([
  fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 20000 })), { maxLength: 400 }),
  fc.constantFrom(32, 64, 1024, 1 << 16),
])("flow counter = Set-based reference, for any window (small windows exercise late packets)", (arrivals, window) => {
  const c = new FlowCounter(window);
  for (const [f, s] of arrivals) c.add(f, s);
  for (let f = 0; f < 4; f++) {
    const ref = flowCountReference(arrivals.filter((a) => a[0] === f).map((a) => a[1]), window);
    const got = { received: c.received[f] ?? 0, distinct: c.distinct[f] ?? 0, duplicated: c.duplicated[f] ?? 0, reordered: c.reordered[f] ?? 0, late: c.late[f] ?? 0, next: c.next[f] ?? 0 };
    expect(got).toEqual(ref);
  }
});

test.prop([fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 50, maxLength: 600 })])("flow counter: seqs walking through many windows in small steps, some back, equal the reference", (steps) => {
  // mostly small steps forward (the ring is reused many times without being cleared wholesale),
  // some back (reordered, duplicated, or older than the window)
  const seqs: number[] = [];
  let s = 0;
  for (const d of steps) seqs.push((s += d % 5 === 0 ? -Math.min(s, 2 * d) : d % 9));
  const c = new FlowCounter(64);
  for (const q of seqs) c.add(0, q);
  const ref = flowCountReference(seqs, 64);
  expect({ received: c.received[0], distinct: c.distinct[0], duplicated: c.duplicated[0], reordered: c.reordered[0], late: c.late[0], next: c.next[0] }).toEqual(ref);
});

test.prop([fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 255 }), fc.integer({ min: 0, max: 1400 }), fc.constantFrom(0, 1, 2), fc.integer({ min: 1, max: 1000 })], { numRuns: 60 })(
  "every datagram a socket sends is a valid frame: IPv4 header checksum (computed from the field values) and UDP checksum verify",
  (tos, ttl, len, pmtudisc, seed) => {
    const sink = new MemorySink();
    const t = docker0(2, { seed, capture: sink });
    const [c2] = t.containers as [NonNullable<(typeof t.containers)[0]>];
    const s = new UdpSocket(c2, { tos, ttl, pmtudisc });
    for (let k = 0; k < 3; k++) s.sendTo(0xac110003, 9 + k, len + k);
    t.engine.run(5e9);
    t.engine.capture!.close();
    const rd = openCaptureBytes(sink.bytes());
    const r = newCaptureRecord();
    let udpFrames = 0;
    while (rd.next(r)) {
      if (r.interfaceName !== "c2/eth0" || (r.flags & 3) !== 2 || r.data[12] !== 8 || r.data[13] !== 0) continue;
      const d = dissectFrame(r.data);
      expect(d.error).toBe(0);
      const ip = d.layers[1] as { kind: string; tos: number; ttl: number; protocol: number };
      if (ip.protocol !== 17) continue;
      expect(ip.tos).toBe(tos);
      expect(ip.ttl).toBe(ttl);
      udpFrames++;
    }
    expect(udpFrames).toBeGreaterThanOrEqual(3);
  },
);

test.prop([fc.integer({ min: 62, max: 1514 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 1, max: 1000 })], { numRuns: 40 })(
  "every frame the UDP flow generator sends (checksum computed from the values written) dissects with valid checksums",
  (frameSize, flows, dport, seed) => {
    const sink = new MemorySink();
    const t = docker0(2, { seed, capture: sink });
    const [c2] = t.containers as [NonNullable<(typeof t.containers)[0]>];
    udpFlows(c2, { dst: 0xac110003, dport, flows, pps: 1000, count: 3, frameSize });
    t.engine.run(1e9);
    t.engine.capture!.close();
    const rd = openCaptureBytes(sink.bytes());
    const r = newCaptureRecord();
    let n = 0;
    while (rd.next(r)) {
      if (r.interfaceName !== "c2/eth0" || (r.flags & 3) !== 2 || r.data[23] !== 17) continue;
      expect(dissectFrame(r.data).error).toBe(0);
      expect(r.data.length).toBe(frameSize);
      n++;
    }
    expect(n).toBe(3 * flows);
  },
);
