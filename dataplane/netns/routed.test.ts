// A routed path through two router namespaces, checked byte for byte against what Linux sends
// (BEHAVIOR.md 3.5, 5.3): client 10.0.1.1 — r1 (10.0.1.254 | 10.0.2.1) — r2 (10.0.2.2 |
// 10.0.3.254, MTU 1400 towards the server) — server 10.0.3.1.
import { describe, expect, it } from "vitest";
import { Engine } from "../engine/engine.js";
import { Netns } from "./netns.js";
import { MemorySink, openCaptureBytes, newCaptureRecord } from "../../core/pcap/index.js";
import { parseIpv4 as ip, parseMac as mac } from "../../core/addr.js";
import { buildFrame, dissectFrame, type Layer } from "../../core/wire/frame.js";
import { eth, ipv4, udp, raw, icmpEcho, icmpError } from "../../core/wire/layers.js";
import { printFrame } from "../../core/wire/print.js";

const MAC = { c: mac("02:00:00:00:01:01"), r1a: mac("02:00:00:00:01:fe"), r1b: mac("02:00:00:00:02:01"), r2a: mac("02:00:00:00:02:02"), r2b: mac("02:00:00:00:03:fe"), s: mac("02:00:00:00:03:01") };

function topology() {
  const e = new Engine({ seed: 42, slots: 4096 });
  const sink = new MemorySink();
  e.openCapture(sink);
  const client = e.add(new Netns("client"));
  const r1 = e.add(new Netns("r1"));
  const r2 = e.add(new Netns("r2"));
  const server = e.add(new Netns("server"));
  const c0 = client.addInterface("eth0", MAC.c);
  const r1a = r1.addInterface("eth0", MAC.r1a);
  const r1b = r1.addInterface("eth1", MAC.r1b);
  const r2a = r2.addInterface("eth0", MAC.r2a);
  const r2b = r2.addInterface("eth1", MAC.r2b, 1400);
  const s0 = server.addInterface("eth0", MAC.s, 1400);
  e.connect(client, c0, r1, r1a);
  e.connect(r1, r1b, r2, r2a);
  e.connect(r2, r2b, server, s0);
  client.addAddress("eth0", "10.0.1.1/24");
  r1.addAddress("eth0", "10.0.1.254/24");
  r1.addAddress("eth1", "10.0.2.1/24");
  r2.addAddress("eth0", "10.0.2.2/24");
  r2.addAddress("eth1", "10.0.3.254/24");
  server.addAddress("eth0", "10.0.3.1/24");
  client.route("default via 10.0.1.254 dev eth0");
  server.route("default via 10.0.3.254 dev eth0");
  r1.route("10.0.3.0/24 via 10.0.2.2 dev eth1");
  r2.route("10.0.1.0/24 via 10.0.2.1 dev eth0");
  r1.ipForward = r2.ipForward = true;
  e.tap(client, c0, "client/eth0");
  e.tap(server, s0, "server/eth0");
  const frames = () => {
    e.capture!.close();
    const rd = openCaptureBytes(sink.bytes());
    const rec = newCaptureRecord();
    const out: { at: string; dir: string; bytes: Uint8Array; t: number }[] = [];
    while (rd.next(rec)) out.push({ at: rec.interfaceName, dir: rec.flags & 1 ? "in" : "out", bytes: rec.data.slice(), t: rec.sec + rec.nsec / 1e9 });
    return out;
  };
  return { e, client, r1, r2, server, frames };
}

const UDP_PROBE = (dst: string, dport: number, ttl = 64, df = true, size = 20): Layer[] => [
  ipv4({ src: ip("10.0.1.1"), dst: ip(dst), protocol: 17, ttl, df, ident: 0x1234 }), udp(40000, dport), raw(size),
];
const ipOnly = (l: Layer[]) => buildFrame(l);

/** The ICMP error the client receives, and what Linux would have sent (id taken from it: random). */
function expectError(got: Uint8Array, from: string, fromMac: number, type: number, code: number, mtu: number, quoted: Layer[]) {
  const d = dissectFrame(got);
  expect(d.error).toBe(0);
  const outer = d.layers[1] as Extract<Layer, { kind: "ipv4" }>;
  const want = buildFrame([
    eth({ src: fromMac, dst: MAC.c }),
    ipv4({ src: ip(from), dst: ip("10.0.1.1"), protocol: 1, tos: 0xc0, df: false, ttl: 64, ident: outer.ident }),
    icmpError(type, code, mtu),
    ...quoted,
  ]);
  expect(Buffer.from(got).toString("hex")).toBe(Buffer.from(want).toString("hex"));
}

describe("routed path through two routers", () => {
  it("forwards a ping both ways: ARP at each hop, TTL one lower per router, STALE entries probed 5 s later", () => {
    const { e, client, frames } = topology();
    client.originate(ipOnly([ipv4({ src: ip("10.0.1.1"), dst: ip("10.0.3.1"), protocol: 1, ident: 7 }), icmpEcho(8, 1, 1), raw(56)]));
    e.run();
    const f = frames();
    const lines = f.map((x) => `${x.t}s ${x.at} ${x.dir} ${printFrame(x.bytes, 0, undefined, { link: true }).replace(/, ethertype .*?length \d+: /, ": ")}`);
    // The server learned r2 (10.0.3.254) from r2's ARP request (STALE), so its reply goes at once
    // and the entry enters DELAY; 5 s later, unconfirmed, it is probed by unicast (BEHAVIOR 5.4).
    // r1 did the same for the client.
    expect(lines).toEqual([
      "0s client/eth0 out 02:00:00:00:01:01 > ff:ff:ff:ff:ff:ff: Request who-has 10.0.1.254 tell 10.0.1.1, length 28",
      "0s client/eth0 in 02:00:00:00:01:fe > 02:00:00:00:01:01: Reply 10.0.1.254 is-at 02:00:00:00:01:fe, length 28",
      "0s client/eth0 out 02:00:00:00:01:01 > 02:00:00:00:01:fe: 10.0.1.1 > 10.0.3.1: ICMP echo request, id 1, seq 1, length 64",
      "0s server/eth0 in 02:00:00:00:03:fe > ff:ff:ff:ff:ff:ff: Request who-has 10.0.3.1 tell 10.0.3.254, length 28",
      "0s server/eth0 out 02:00:00:00:03:01 > 02:00:00:00:03:fe: Reply 10.0.3.1 is-at 02:00:00:00:03:01, length 28",
      "0s server/eth0 in 02:00:00:00:03:fe > 02:00:00:00:03:01: 10.0.1.1 > 10.0.3.1: ICMP echo request, id 1, seq 1, length 64",
      "0s server/eth0 out 02:00:00:00:03:01 > 02:00:00:00:03:fe: 10.0.3.1 > 10.0.1.1: ICMP echo reply, id 1, seq 1, length 64",
      "0s client/eth0 in 02:00:00:00:01:fe > 02:00:00:00:01:01: 10.0.3.1 > 10.0.1.1: ICMP echo reply, id 1, seq 1, length 64",
      "5s server/eth0 out 02:00:00:00:03:01 > 02:00:00:00:03:fe: Request who-has 10.0.3.254 tell 10.0.3.1, length 28",
      "5s client/eth0 in 02:00:00:00:01:fe > 02:00:00:00:01:01: Request who-has 10.0.1.1 tell 10.0.1.254, length 28",
      "5s client/eth0 out 02:00:00:00:01:01 > 02:00:00:00:01:fe: Reply 10.0.1.1 is-at 02:00:00:00:01:01, length 28",
      "5s server/eth0 in 02:00:00:00:03:fe > 02:00:00:00:03:01: Reply 10.0.3.254 is-at 02:00:00:00:03:fe, length 28",
    ]);
    const req = dissectFrame(f[5]!.bytes).layers[1] as Extract<Layer, { kind: "ipv4" }>;
    expect(req.ttl).toBe(62);
    const rep = dissectFrame(f[7]!.bytes).layers[1] as Extract<Layer, { kind: "ipv4" }>;
    expect(rep.ttl).toBe(62);
    expect(rep.df).toBe(false);
    expect(e.conservation().ok).toBe(true);
  });

  it("TTL 1: time exceeded from the first router, quoting the packet as it arrived", () => {
    const { e, client, frames } = topology();
    const probe = UDP_PROBE("10.0.3.1", 33434, 1);
    client.originate(ipOnly(probe));
    e.run();
    const err = frames().filter((x) => x.at === "client/eth0" && x.dir === "in")[1]!;
    expectError(err.bytes, "10.0.1.254", MAC.r1a, 11, 0, 0, UDP_PROBE("10.0.3.1", 33434, 1));
    expect(e.errors()).toContainEqual({ device: "r1", reason: "ttl-expired", count: 1 });
  });

  it("no route: net unreachable from the first router", () => {
    const { e, client, frames } = topology();
    client.originate(ipOnly(UDP_PROBE("10.9.9.9", 53)));
    e.run();
    const err = frames().filter((x) => x.at === "client/eth0" && x.dir === "in")[1]!;
    expectError(err.bytes, "10.0.1.254", MAC.r1a, 3, 0, 0, UDP_PROBE("10.9.9.9", 53));
  });

  it("closed UDP port: port unreachable from the server, quoting the datagram after two hops", () => {
    const { e, client, frames } = topology();
    client.originate(ipOnly(UDP_PROBE("10.0.3.1", 9)));
    e.run();
    const err = frames().filter((x) => x.at === "client/eth0" && x.dir === "in")[1]!;
    // the server's error crossed r2 and r1: TTL 62 on arrival; it quotes the datagram with TTL 62
    const got = dissectFrame(err.bytes);
    const outer = got.layers[1] as Extract<Layer, { kind: "ipv4" }>;
    const want = buildFrame([
      eth({ src: MAC.r1a, dst: MAC.c }),
      ipv4({ src: ip("10.0.3.1"), dst: ip("10.0.1.1"), protocol: 1, tos: 0xc0, df: false, ttl: 62, ident: outer.ident }),
      icmpError(3, 3),
      ...UDP_PROBE("10.0.3.1", 9, 62),
    ]);
    expect(Buffer.from(err.bytes).toString("hex")).toBe(Buffer.from(want).toString("hex"));
  });

  it("DF and larger than the next hop: fragmentation needed with the next-hop MTU", () => {
    const { e, client, frames } = topology();
    const big = UDP_PROBE("10.0.3.1", 7777, 64, true, 1472); // 1500 bytes of IP
    client.originate(ipOnly(big));
    e.run();
    const err = frames().filter((x) => x.at === "client/eth0" && x.dir === "in")[1]!;
    // r2 decides, after r1 decremented the TTL; the quote is cut at 576 - 28 = 548 bytes
    const quoted = buildFrame(UDP_PROBE("10.0.3.1", 7777, 63, true, 1472)).subarray(0, 548);
    const got = dissectFrame(err.bytes);
    const outer = got.layers[1] as Extract<Layer, { kind: "ipv4" }>;
    const want = buildFrame([
      eth({ src: MAC.r1a, dst: MAC.c }),
      ipv4({ src: ip("10.0.2.2"), dst: ip("10.0.1.1"), protocol: 1, tos: 0xc0, df: false, ttl: 63, ident: outer.ident }),
      icmpError(3, 4, 1400),
      raw(Uint8Array.from(quoted)),
    ]);
    expect(Buffer.from(err.bytes).toString("hex")).toBe(Buffer.from(want).toString("hex"));
  });

  it("DF clear and larger than the next hop: fragments that the server receives", () => {
    const { e, client, frames } = topology();
    client.originate(ipOnly(UDP_PROBE("10.0.3.1", 7777, 64, false, 1472)));
    e.run();
    const atServer = frames().filter((x) => x.at === "server/eth0" && x.dir === "in").map((x) => dissectFrame(x.bytes).layers[1] as Extract<Layer, { kind: "ipv4" }>).filter((l) => l.kind === "ipv4");
    expect(atServer.map((l) => [l.mf, l.fragOffset, l.payloadLen, l.ident])).toEqual([[true, 0, 1376, 0x1234], [false, 1376, 104, 0x1234]]);
  });
});

describe("ICMP error rate limit (BEHAVIOR.md 5.10)", () => {
  it("the 4th back-to-back routing error to one source within a second is not sent; tokens come back at 1/s", () => {
    const { e, client, r1, frames } = topology();
    for (let i = 0; i < 5; i++) client.originate(ipOnly(UDP_PROBE("10.9.9.9", 53)));
    e.run(0.5e9);
    const errorsAt = () => frames().filter((x) => x.at === "client/eth0" && x.dir === "in" && dissectFrame(x.bytes).layers.some((l) => l.kind === "icmp")).length;
    expect(errorsAt()).toBe(3);
    expect(r1.drops[r1.r["no-route"]]).toBe(5);
    expect(r1.icmpLimit.suppressed).toBe(2);
  });
});

describe("dumps and trace", () => {
  it("prints ip route, ip neigh and ip addr as iproute2 does, and traces a packet hop by hop", () => {
    const { e, client, r1 } = topology();
    client.originate(ipOnly(UDP_PROBE("10.0.3.1", 9)), true);
    e.run(1e9);
    expect(r1.dumpRoute()).toBe(["10.0.1.0/24 dev eth0 proto kernel scope link src 10.0.1.254", "10.0.2.0/24 dev eth1 proto kernel scope link src 10.0.2.1", "10.0.3.0/24 via 10.0.2.2 dev eth1"].join("\n"));
    expect(client.dumpRoute()).toBe(["default via 10.0.1.254 dev eth0", "10.0.1.0/24 dev eth0 proto kernel scope link src 10.0.1.1"].join("\n"));
    expect(r1.dumpNeigh()).toBe(["10.0.1.1 dev eth0 lladdr 02:00:00:00:01:01 DELAY", "10.0.2.2 dev eth1 lladdr 02:00:00:00:02:02 REACHABLE"].join("\n"));
    expect(client.dumpAddr()).toContain("    inet 10.0.1.1/24 brd 10.0.1.255 scope global eth0");
    const t = e.trace.format();
    expect(t).toContain("r1                 forward 10.0.1.1 > 10.0.3.1 in eth0, ttl 64 -> 63");
    expect(t).toContain("server             ICMP 3/3 sent to 10.0.1.1");
    expect(t).toContain("server             dropped: port-unreachable");
  });
});
