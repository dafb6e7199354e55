// Properties of the TCP endpoint (dataplane/endpoint/tcp.ts, tcp-flows.ts):
//  - the connection table (open addressing, removal by moving entries back) answers every lookup
//    as a plain Map does, over any sequence of inserts and removals, colliding keys included;
//  - the RST answering any segment to a closed port is the one tcp_v4_send_reset builds (written
//    here as plainly as possible), and a RST is never answered;
//  - any number of connections, any transfer sizes, any loss on the veth: the sink gets exactly
//    the bytes sent, intact, every connection completes, every slot is accounted for, and the
//    same seed gives the same run.
import { fc, test } from "@fast-check/vitest";
import { expect } from "vitest";
import { docker0 } from "../dataplane/topologies/docker0.js";
import { Engine } from "../dataplane/engine/engine.js";
import { Netns } from "../dataplane/netns/netns.js";
import { connectVeth } from "../dataplane/devices/veth.js";
import { TcpSocket, tcpStack } from "../dataplane/endpoint/tcp.js";
import { TcpSink, tcpFlows } from "../dataplane/endpoint/tcp-flows.js";
import { MemorySink, newCaptureRecord, openCaptureBytes } from "../core/pcap/index.js";
import { buildFrame, dissectFrame, type Layer } from "../core/wire/frame.js";
import { ipv4, raw, tcp } from "../core/wire/layers.js";

const C2 = 0xac110002, C3 = 0xac110003;

test.prop([
  fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 5 })), { minLength: 100, maxLength: 600, size: "max" }),
])("connection table = Map, through inserts and removals", (ops) => {
  const t = docker0(1);
  const st = tcpStack(t.containers[0]!);
  const ref = new Map<string, TcpSocket>();
  const key = (r: number, lp: number, rp: number) => `${r}/${lp}/${rp}`;
  for (const [add, r, lp, rp] of ops) {
    // few distinct values: many keys share hash slots and probe chains
    const raddr = (0x0a000000 + r) | 0, lport = 1000 + lp, rport = 2000 + rp;
    const k = key(raddr, lport, rport);
    const have = ref.get(k);
    if (add && !have) {
      const sk = new TcpSocket(st);
      sk.laddr = C2 | 0;
      sk.raddr = raddr;
      sk.lport = lport;
      sk.rport = rport;
      st.insert(sk);
      ref.set(k, sk);
    } else if (!add && have) {
      st.remove(have);
      ref.delete(k);
    }
    expect(st.connections).toBe(ref.size);
  }
  for (let r = 0; r < 4; r++)
    for (let lp = 0; lp < 8; lp++)
      for (let rp = 0; rp < 6; rp++) {
        const raddr = (0x0a000000 + r) | 0;
        expect(st.lookup(C2 | 0, raddr, 1000 + lp, 2000 + rp)).toBe(ref.get(key(raddr, 1000 + lp, 2000 + rp)) ?? null);
      }
});

/** tcp_v4_send_reset, as plainly as possible: the fields of the answer, or null. */
function resetReference(flags: number, seq: number, ack: number, dataLen: number, tos: number) {
  if (flags & 4) return null;
  if (flags & 0x10) return { flags: 0x04, seq: ack, ack: 0, tos: tos & 0xfc };
  return { flags: 0x14, seq: 0, ack: (seq + dataLen + (flags & 2 ? 1 : 0) + (flags & 1 ? 1 : 0)) % 2 ** 32, tos: tos & 0xfc };
}

test.prop([
  fc.array(fc.record({
    flags: fc.integer({ min: 0, max: 0x3f }),
    seq: fc.integer({ min: 0, max: 0xffffffff }),
    ack: fc.integer({ min: 0, max: 0xffffffff }),
    dataLen: fc.integer({ min: 0, max: 40 }),
    tos: fc.integer({ min: 0, max: 255 }),
    sport: fc.integer({ min: 1, max: 65535 }),
  }), { minLength: 1, maxLength: 12 }),
])("a closed port answers as tcp_v4_send_reset, never a RST", (segs) => {
  const sink = new MemorySink();
  const t = docker0(2, { capture: sink });
  const [c2, c3] = t.containers as [Netns, Netns];
  tcpStack(c3);
  for (const g of segs) c2.originate(buildFrame([ipv4({ src: C2, dst: C3, protocol: 6, tos: g.tos, df: false, ident: 7 }), tcp({ srcPort: g.sport, dstPort: 9, seq: g.seq, ack: g.ack, flags: g.flags, window: 512 }), raw(g.dataLen)]));
  t.engine.run(1e9);
  t.engine.capture!.close();
  const rd = openCaptureBytes(sink.bytes());
  const r = newCaptureRecord();
  const got: unknown[] = [];
  while (rd.next(r)) {
    if (r.interfaceName !== "c3/eth0" || (r.flags & 3) !== 2 || r.data[23] !== 6) continue; // outbound TCP
    const d = dissectFrame(r.data);
    expect(d.error).toBe(0);
    const h = d.layers[1] as Extract<Layer, { kind: "ipv4" }>;
    const s = d.layers[2] as Extract<Layer, { kind: "tcp" }>;
    expect([h.ttl, h.df, h.ident, s.window, s.optionsLen, s.payloadLen, s.srcPort]).toEqual([64, true, 0, 0, 0, 0, 9]);
    got.push({ flags: s.flags, seq: s.seq, ack: s.ack, tos: h.tos, port: s.dstPort });
  }
  const want = segs.map((g) => { const x = resetReference(g.flags, g.seq, g.ack, g.dataLen, g.tos); return x && { ...x, port: g.sport }; }).filter((x) => x !== null);
  expect(got).toEqual(want);
  expect(t.engine.conservation().ok).toBe(true);
});

test.prop([
  fc.integer({ min: 1, max: 6 }),
  fc.array(fc.integer({ min: 0, max: 40_000 }), { minLength: 1, maxLength: 1 }),
  fc.constantFrom(0, 0, 0.02, 0.1),
  fc.integer({ min: 1, max: 1 << 30 }),
], { numRuns: 40 })("connections x bytes over a (lossy) veth: every byte once, intact; deterministic", (n, [bytes], loss, seed) => {
  const run = () => {
    const e = new Engine({ seed, slots: 8192 });
    const a = e.add(new Netns("a"));
    const b = e.add(new Netns("b"));
    const ia = a.addInterface("eth0", 0x020000000001);
    const ib = b.addInterface("eth0", 0x020000000002);
    connectVeth(e, a, ia, b, ib, loss > 0 ? { ab: { loss, delayNs: 1e5 }, ba: { loss, delayNs: 1e5 } } : undefined);
    a.addAddress("eth0", "10.9.0.1/24");
    b.addAddress("eth0", "10.9.0.2/24");
    const sink = new TcpSink(b, 80);
    const g = tcpFlows(a, { dst: 0x0a090002, dport: 80, connections: n, bytes: bytes! });
    e.run(3000e9);
    return { e, g, sink, a };
  };
  const { e, g, sink, a } = run();
  expect([g.done, g.complete]).toEqual([true, n]);
  expect(sink.report().map((r) => [r.bytes, r.corrupt])).toEqual(new Array(n).fill([bytes, 0]));
  expect(e.conservation().ok).toBe(true);
  if (loss === 0) expect(tcpStack(a).retransmits).toBe(0);
  const again = run();
  expect(again.g.socks.map((s) => [s.lport, s.iss, s.segsOut, s.retransmissions, s.closedAt])).toEqual(g.socks.map((s) => [s.lport, s.iss, s.segsOut, s.retransmissions, s.closedAt]));
  expect(again.e.clock.fired).toBe(e.clock.fired);
});
