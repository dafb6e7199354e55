// Property: the in-place forwarding rewrites (TTL decrement, NAT of addresses and ports) update
// checksums incrementally, and the result equals what a full recompute gives: the rewritten frame
// is byte-identical to the frame built from scratch with the new values, and it still dissects
// with every checksum verified.
import { fc, test } from "@fast-check/vitest";
import { expect } from "vitest";
import { buildFrame, dissectFrame, type Layer } from "../core/wire/frame.js";
import { ipv4DecTtl, ipv4RewriteDst, ipv4RewriteSrc, ipv4ReprHeaderLen } from "../core/wire/ipv4.js";
import { tcpRewriteAddrChecksum, tcpRewriteDstPort, tcpRewriteSrcPort } from "../core/wire/tcp.js";
import { udpRewriteAddrChecksum, udpRewriteDstPort, udpRewriteSrcPort } from "../core/wire/udp.js";
import { ethReprHeaderLen } from "../core/wire/ethernet.js";
import { WireError } from "../core/wire/error.js";
import { frameKinds, ip } from "./arbitraries.js";

const port = fc.nat({ max: 0xffff });
const nat = fc.record({ src: fc.option(ip, { nil: undefined }), dst: fc.option(ip, { nil: undefined }), sport: fc.option(port, { nil: undefined }), dport: fc.option(port, { nil: undefined }), ttl: fc.boolean() });

test.prop([frameKinds.ipv4, nat], { numRuns: 3000 })("incremental rewrites == rebuilding the frame", (layers, n) => {
  const b = buildFrame(layers);
  const e = layers[0] as Extract<Layer, { kind: "eth" }>;
  const ip4 = layers[1] as Extract<Layer, { kind: "ipv4" }>;
  const l4 = layers[2]!;
  const ipOff = ethReprHeaderLen(e);
  const l4Off = ipOff + ipv4ReprHeaderLen(ip4);
  if (n.ttl && ip4.ttl > 1) {
    ipv4DecTtl(b, ipOff);
    ip4.ttl -= 1;
  }
  if (n.src !== undefined) {
    if (l4.kind === "tcp") tcpRewriteAddrChecksum(b, l4Off, ip4.src, n.src);
    if (l4.kind === "udp") udpRewriteAddrChecksum(b, l4Off, ip4.src, n.src);
    ipv4RewriteSrc(b, ipOff, n.src);
    ip4.src = n.src;
  }
  if (n.dst !== undefined) {
    if (l4.kind === "tcp") tcpRewriteAddrChecksum(b, l4Off, ip4.dst, n.dst);
    if (l4.kind === "udp") udpRewriteAddrChecksum(b, l4Off, ip4.dst, n.dst);
    ipv4RewriteDst(b, ipOff, n.dst);
    ip4.dst = n.dst;
  }
  if (n.sport !== undefined && (l4.kind === "tcp" || l4.kind === "udp")) {
    (l4.kind === "tcp" ? tcpRewriteSrcPort : udpRewriteSrcPort)(b, l4Off, n.sport);
    l4.srcPort = n.sport;
  }
  if (n.dport !== undefined && (l4.kind === "tcp" || l4.kind === "udp")) {
    (l4.kind === "tcp" ? tcpRewriteDstPort : udpRewriteDstPort)(b, l4Off, n.dport);
    l4.dstPort = n.dport;
  }
  expect(Buffer.from(b).toString("hex")).toBe(Buffer.from(buildFrame(layers)).toString("hex"));
  expect(dissectFrame(b).error).toBe(WireError.OK);
});
