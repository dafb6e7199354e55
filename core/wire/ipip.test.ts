import { describe, expect, it } from "vitest";
import { loadFixture } from "./fixtures/load.js";
import { ETH_HEADER_LEN } from "./ethernet.js";
import { parseIpv4 as parseAddr } from "../addr.js";
import { WireError } from "./error.js";
import { IPPROTO_ICMP, type Ipv4Repr, formatIpv4Header, ipv4FillChecksum, newIpv4Repr, parseIpv4 } from "./ipv4.js";
import { formatIcmp, newIcmpRepr, parseIcmp } from "./icmp.js";
import {
  IPIP_OVERHEAD, IPPROTO_IPIP, type IpipTunnelParams, emitIpipOuter, formatIpip, ipipCheckLen, ipipInnerOffset, ipipIs,
  ipipOuterFor, readIpipInner,
} from "./ipip.js";

// Fixture ipip-echo.hex (scripts/capture-fixtures-l3.sh): a real echo request 10.99.9.1 >
// 10.99.9.2 sent inside an outer header 10.99.0.1 > 10.99.0.2 proto 4. The capture kernel has no
// ipip driver, so the outer header comes from a raw IPPROTO_IPIP socket; its TTL 64 / DF / TOS 0
// are what the tunnel driver's defaults give for this inner packet (see ipip.ts).
const OUTER = ETH_HEADER_LEN;
const INNER = OUTER + 20;
const ip = (s: string) => parseAddr(s);

function outerOf(b: Uint8Array): Ipv4Repr {
  const r = newIpv4Repr();
  expect(parseIpv4(b, OUTER, b.length - OUTER, r)).toBe(WireError.OK);
  return r;
}

describe("ipip", () => {
  it("recognizes the IP-in-IP capture and finds the inner packet", () => {
    const { bytes, decode } = loadFixture("ipip-echo");
    expect(ipipCheckLen(bytes, OUTER, bytes.length - OUTER)).toBe(WireError.OK);
    expect(ipipIs(bytes, OUTER)).toBe(true);
    expect(ipipInnerOffset(bytes, OUTER)).toBe(INNER);
    const outer = outerOf(bytes);
    expect(outer).toMatchObject({ protocol: IPPROTO_IPIP, src: ip("10.99.0.1"), dst: ip("10.99.0.2"), ttl: 64, df: true, tos: 0, payloadLen: 84 });
    const inner = newIpv4Repr();
    expect(parseIpv4(bytes, INNER, outer.payloadLen, inner)).toBe(WireError.OK);
    expect(inner).toMatchObject({ protocol: IPPROTO_ICMP, src: ip("10.99.9.1"), dst: ip("10.99.9.2"), ttl: 64, df: true });
    // tcpdump -nev's decode of the frame: outer header, then the inner one.
    const lines = decode.split("\n");
    expect(lines[0]).toContain(formatIpv4Header(outer));
    expect(lines[1]).toBe(`    10.99.0.1 > 10.99.0.2: ${formatIpv4Header(inner)}`);
  });

  it("prints the packet as tcpdump -n and -nv do", () => {
    const { bytes } = loadFixture("ipip-echo");
    const inner = newIpv4Repr();
    expect(readIpipInner(bytes, OUTER, inner)).toBe(INNER);
    const icmp = newIcmpRepr();
    const p = INNER + 20;
    expect(parseIcmp(bytes, p, inner.payloadLen, icmp)).toBe(WireError.OK);
    const text = formatIcmp(icmp, bytes, p);
    // tcpdump -n -r <this frame>:
    expect(formatIpip(outerOf(bytes), inner, text)).toBe(
      "IP 10.99.0.1 > 10.99.0.2: IP 10.99.9.1 > 10.99.9.2: ICMP echo request, id 10927, seq 1, length 64",
    );
    // tcpdump -nv -r <this frame>:
    expect(formatIpip(outerOf(bytes), inner, text, true)).toBe(
      "IP (tos 0x0, ttl 64, id 35864, offset 0, flags [DF], proto IPIP (4), length 104)\n" +
        "    10.99.0.1 > 10.99.0.2: IP (tos 0x0, ttl 64, id 38451, offset 0, flags [DF], proto ICMP (1), length 84)\n" +
        "    10.99.9.1 > 10.99.9.2: ICMP echo request, id 10927, seq 1, length 64",
    );
  });

  it("writes the outer header in front of the inner packet in place (headroom), byte for byte", () => {
    const { bytes } = loadFixture("ipip-echo");
    const outer = outerOf(bytes);
    const b = Uint8Array.from(bytes);
    b.fill(0xaa, OUTER, INNER); // stale outer bytes
    outer.protocol = 0;
    outer.payloadLen = 0; // both derived by emitIpipOuter
    expect(emitIpipOuter(outer, b, INNER)).toBe(OUTER);
    expect(b).toEqual(bytes);
    expect(emitIpipOuter(outer, b, IPIP_OVERHEAD - 1)).toBe(-1); // no headroom: nothing written
    expect(b).toEqual(bytes);
  });

  it("derives the outer header from the tunnel's defaults as ip_tunnel_xmit does", () => {
    const { bytes } = loadFixture("ipip-echo");
    const netlinkDefault: IpipTunnelParams = { src: ip("10.99.0.1"), dst: ip("10.99.0.2"), ttl: 0, tos: 0, pmtudisc: true };
    const got = newIpv4Repr();
    ipipOuterFor(netlinkDefault, bytes, INNER, 35864, got);
    expect(got).toEqual(outerOf(bytes)); // matches the captured outer header field for field

    const b = Uint8Array.from(bytes);
    const set = (i: number, v: number) => {
      b[INNER + i] = v;
      ipv4FillChecksum(b, INNER);
    };
    set(8, 5); // inner TTL 5
    set(6, 0); // inner DF clear
    set(1, 0xbb); // inner TOS: DSCP 0x2e (EF), ECN CE
    const tunl0 = { ...netlinkDefault, pmtudisc: false }; // Calico's fallback tunl0
    ipipOuterFor(tunl0, b, INNER, 1, got);
    expect([got.ttl, got.df, got.tos]).toEqual([5, false, 0x02]); // TTL inherited, DF copied, CE -> ECT(0)
    ipipOuterFor(netlinkDefault, b, INNER, 1, got);
    expect(got.df).toBe(true);
    ipipOuterFor({ ...tunl0, ttl: 32, tos: 1 }, b, INNER, 1, got);
    expect([got.ttl, got.tos]).toEqual([32, 0xba]); // fixed TTL; TOS inherited, ECN still encapsulated
    ipipOuterFor({ ...tunl0, tos: 0x10 }, b, INNER, 1, got);
    expect(got.tos).toBe(0x12);
  });

  it("checks both headers: not IPIP, truncated or broken inner packet", () => {
    const { bytes } = loadFixture("ipip-echo");
    const n = bytes.length - OUTER;
    expect(ipipCheckLen(loadFixture("icmp-echo-request").bytes, OUTER, 84)).toBe(WireError.UNSUPPORTED);
    for (let cut = 0; cut < n; cut++) expect(ipipCheckLen(bytes, OUTER, cut)).toBe(WireError.TRUNCATED);
    const b = Uint8Array.from(bytes);
    b[INNER] = 0x65;
    expect(ipipCheckLen(b, OUTER, n)).toBe(WireError.BAD_VERSION);
    b[INNER] = 0x45;
    b[INNER + 3] = 85; // inner total length 85 > 84 carried
    expect(ipipCheckLen(b, OUTER, n)).toBe(WireError.TRUNCATED);
    const padded = new Uint8Array(bytes.length + 10);
    padded.set(bytes);
    expect(ipipCheckLen(padded, OUTER, n + 10)).toBe(WireError.OK); // trailing bytes ignored
  });
});
