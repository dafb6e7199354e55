// Properties of routed forwarding on random chains of routers (random MTUs, optional link
// impairments, random UDP traffic with random sizes, TTLs and DF):
//  - every datagram the server receives has its TTL lowered by exactly the number of routers and
//    verifies (IPv4 and UDP checksums), fragments included;
//  - nothing is delivered twice (each datagram carries a unique sequence number);
//  - conservation holds: created = delivered + dropped + queued, with nothing left queued;
//  - the same seed gives a byte-identical capture.
import { fc, test } from "@fast-check/vitest";
import { expect } from "vitest";
import { Engine } from "../dataplane/engine/engine.js";
import { Netns } from "../dataplane/netns/netns.js";
import { connectVeth } from "../dataplane/devices/veth.js";
import { MemorySink, openCaptureBytes, newCaptureRecord } from "../core/pcap/index.js";
import { buildFrame, dissectFrame, type Layer } from "../core/wire/frame.js";
import { ipv4, raw, udp } from "../core/wire/layers.js";
import { WireError } from "../core/wire/error.js";

interface Plan {
  routers: number;
  mtus: number[];
  delays: number[];
  loss: number;
  packets: { size: number; ttl: number; df: boolean }[];
  seed: number;
}

const plan = fc.record({
  routers: fc.integer({ min: 1, max: 4 }),
  mtus: fc.array(fc.integer({ min: 576, max: 1500 }), { minLength: 5, maxLength: 5 }),
  delays: fc.array(fc.constantFrom(0, 0, 1000, 50_000), { minLength: 5, maxLength: 5 }),
  loss: fc.constantFrom(0, 0, 0.1),
  packets: fc.array(fc.record({ size: fc.integer({ min: 8, max: 1472 }), ttl: fc.integer({ min: 1, max: 64 }), df: fc.boolean() }), { minLength: 1, maxLength: 40 }),
  seed: fc.nat(),
});

function run(p: Plan) {
  const e = new Engine({ seed: p.seed, slots: 8192 });
  const sink = new MemorySink();
  e.openCapture(sink);
  const nodes: Netns[] = [];
  const n = p.routers + 2;
  for (let i = 0; i < n; i++) nodes.push(e.add(new Netns(i === 0 ? "client" : i === n - 1 ? "server" : `r${i}`)));
  for (let i = 0; i + 1 < n; i++) {
    const mtu = p.mtus[i]!;
    const a = nodes[i]!.addInterface("right", 0x020000000000 + i * 256 + 1, mtu);
    const b = nodes[i + 1]!.addInterface("left", 0x020000000000 + i * 256 + 2, mtu);
    const impair = p.delays[i] || p.loss ? { delayNs: p.delays[i]!, loss: p.loss } : undefined;
    connectVeth(e, nodes[i]!, a, nodes[i + 1]!, b, impair ? { ab: impair, ba: impair } : undefined);
    nodes[i]!.addAddress("right", `10.${i}.0.1/24`);
    nodes[i + 1]!.addAddress("left", `10.${i}.0.2/24`);
  }
  for (let i = 0; i < n; i++) {
    const node = nodes[i]!;
    node.ipForward = i > 0 && i < n - 1;
    if (i < n - 1) node.route(`10.${n}.0.0/16 via 10.${i}.0.2 dev right`);
    if (i > 0 && i < n - 1) node.route(`10.0.0.0/16 via 10.${i - 1}.0.1 dev left`);
  }
  const server = nodes[n - 1]!;
  server.addInterface("lo0", 0x02ffffffffff);
  server.addAddress("lo0", `10.${n}.0.1/32`);
  server.route(`default via 10.${n - 2}.0.1 dev left`);
  const got: Layer[][] = [];
  server.udp.set(9999, (ns, slot) => {
    got.push(dissectFrame(ns.engine.arena.view(slot)).layers);
    ns.engine.deliver(ns, slot);
  });
  e.tap(server, server.ifindex("left"), "server/left");
  p.packets.forEach((pk, i) => {
    const payload = new Uint8Array(pk.size);
    payload[0] = i >> 8;
    payload[1] = i & 255;
    nodes[0]!.originate(buildFrame([ipv4({ src: 0x0a000001, dst: ((10 << 24) | (n << 16) | 1) >>> 0, protocol: 17, ttl: pk.ttl, df: pk.df, ident: i + 1 }), udp(40000, 9999), raw(payload)]));
  });
  e.run(60e9);
  e.capture!.close();
  return { e, got, capture: sink.bytes().slice(), n };
}

test.prop([plan], { numRuns: 150 })("routed chains: TTL, checksums, no duplicates, conservation, determinism", (p) => {
  const { e, got, capture } = run(p);
  const hops = p.routers;
  const seen = new Set<number>();
  for (const layers of got) {
    const ip4 = layers[1] as Extract<Layer, { kind: "ipv4" }>;
    const u = layers[2];
    expect(ip4.ttl).toBe(p.packets[ip4.ident - 1]!.ttl - hops);
    expect(seen.has(ip4.ident)).toBe(false);
    seen.add(ip4.ident);
    if (u?.kind === "udp") expect(u.dstPort).toBe(9999);
  }
  // every frame captured at the server verifies (fragments included)
  const rd = openCaptureBytes(capture);
  const rec = newCaptureRecord();
  while (rd.next(rec)) expect(dissectFrame(rec.data).error).toBe(WireError.OK);
  // packets that could not arrive: TTL too small, or DF and too big for some hop
  for (const [i, pk] of p.packets.entries()) {
    const minMtu = Math.min(...p.mtus.slice(0, hops + 1));
    const fits = pk.size + 28 <= minMtu;
    if (pk.ttl <= hops || (pk.df && !fits)) expect(seen.has(i + 1)).toBe(false);
  }
  const c = e.conservation();
  expect(c.ok).toBe(true);
  expect(c.queued).toBe(0);
  expect(run(p).capture).toEqual(capture);
});
