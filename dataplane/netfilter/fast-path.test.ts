// The established-flow path (fast-path.ts) against the reference path: two identical routers
// (MASQUERADE out of eth1, a DNAT to an inside host, a FORWARD rule), one with the fused path and
// one without, get the same frames; every frame each sends, every counter, every conntrack entry
// and every rule counter must be the same, and the fused one must have carried the established
// datagrams. The cases are the branches where the fused path hands over to the reference path.
import { describe, expect, test } from "vitest";
import { PKT_TRACE } from "../../core/packet.js";
import { raw, udp, tcp } from "../../core/wire/layers.js";
import { udpComputeChecksum } from "../../core/wire/udp.js";
import { HOST, NAT_IP, NEAR, SERVER, back, frame, out, router } from "./fixtures/fast-path-router.js";

/** out(40000, 53) with its last two payload bytes chosen so that, once MASQUERADE has made its
 *  source 192.168.1.10, its UDP checksum computes to 0 (and goes out as 0xffff); its own
 *  checksum is valid. */
function zeroAfterNat(): Uint8Array {
  const f = out(40000, 53);
  const end = f.length;
  for (let k = 0; k < 0x10000; k++) {
    f[end - 2] = k >>> 8;
    f[end - 1] = k & 0xff;
    f[40] = f[41] = 0;
    if (udpComputeChecksum(f.subarray(14), 20, NAT_IP, SERVER) !== 0xffff) continue;
    const c = udpComputeChecksum(f.subarray(14), 20, HOST, SERVER);
    f[40] = c >>> 8;
    f[41] = c & 0xff;
    return f;
  }
  throw new Error("no payload gives a checksum of 0");
}

/** The same frames through a fused and a reference router; both states must be equal. */
function both(steps: (r: ReturnType<typeof router>) => void) {
  const fast = router(true), ref = router(false);
  steps(fast);
  steps(ref);
  expect(fast.state()).toEqual(ref.state());
  expect(ref.nf.fastPackets).toBe(0);
  return { fast, ref };
}

/** An established flow: out, its reply, so that the next packets are ESTABLISHED. */
const establish = (r: ReturnType<typeof router>, sp = 40000, dp = 53) => {
  r.send(out(sp, dp), 0);
  r.send(back(dp, sp), 1);
};

describe("the established-flow path gives what the reference path gives", () => {
  test("established datagrams both ways, MASQUERADEd out and un-NATed back, carried by the fused path", () => {
    const { fast } = both((r) => {
      establish(r);
      for (let i = 0; i < 5; i++) {
        r.send(out(40000, 53, { ident: 100 + i }), 0);
        r.send(back(53, 40000), 1);
      }
    });
    expect(fast.nf.fastPackets).toBe(11); // the first reply too: a reply is never NEW
    expect(fast.state().outside.length).toBe(6);
    expect(fast.state().inside.length).toBe(6);
  });

  test("the UDP stream rule: after 2 s with a reply seen the entry becomes ASSURED with the stream timeout", () => {
    const { fast } = both((r) => {
      establish(r);
      r.wait(3e9);
      r.send(out(40000, 53), 0);
    });
    expect(fast.nf.fastPackets).toBe(2);
    expect(fast.state().conntrack.join("\n")).toContain("ASSURED");
  });

  test("DNAT to the inside host: the client's later datagrams and the host's replies", () => {
    const { fast } = both((r) => {
      r.send(frame(SERVER, NAT_IP, [udp(7000, 6001), raw(22)], {}, true), 1);
      r.send(frame(HOST, SERVER, [udp(5001, 7000), raw(22)]), 0);
      r.send(frame(SERVER, NAT_IP, [udp(7000, 6001), raw(22)], {}, true), 1);
      r.send(frame(HOST, SERVER, [udp(5001, 7000), raw(22)]), 0);
    });
    expect(fast.nf.fastPackets).toBe(3);
  });

  test("a datagram without a UDP checksum (0 stays 0), and one with Ethernet padding", () => {
    const { fast } = both((r) => {
      establish(r);
      const f = out(40000, 53);
      f[40] = 0;
      f[41] = 0;
      r.send(f, 0);
      const padded = new Uint8Array(out(40000, 53).length + 10);
      padded.set(out(40000, 53));
      r.send(padded, 0);
      r.send(zeroAfterNat(), 0);
    });
    expect(fast.nf.fastPackets).toBe(4);
    // the last one's checksum, computed afresh after MASQUERADE, is 0: sent as 0xffff
    const last = Buffer.from(fast.state().outside.at(-1)!, "hex");
    expect((last[40]! << 8) | last[41]!).toBe(0xffff);
  });

  test("what the fused path leaves to the reference path: new flows, TCP, options, fragments, bad checksums, short UDP, traced frames", () => {
    const { fast } = both((r) => {
      establish(r);
      r.send(out(40001, 53), 0); // NEW
      r.send(frame(HOST, SERVER, [tcp({ srcPort: 40000, dstPort: 80, flags: 0x02, seq: 1 })]), 0);
      r.send(out(40000, 53, { mf: true }), 0);
      const bad = out(40000, 53);
      bad[24]! ^= 0xff;
      r.send(bad, 0);
      const short = out(40000, 53);
      short[38] = 0x01; // UDP length 256 > datagram
      r.send(short, 0);
      r.send(out(40000, 53), 0, PKT_TRACE);
      r.send(out(40000, 53, { options: new Uint8Array([1, 1, 1, 1]), optionsLen: 4 }), 0);
    });
    expect(fast.nf.fastPackets).toBe(1); // establish()'s reply only
  });

  test("exits after PREROUTING and routing: TTL expiring, larger than the MTU with DF, a FORWARD rule's DROP", () => {
    const { fast } = both((r) => {
      establish(r);
      r.send(out(40000, 53, { ttl: 1 }), 0);
      r.r.mtu[1] = 60;
      r.send(out(40000, 53, { df: true }, 40), 0);
      r.r.mtu[1] = 1500;
      establish(r, 40002, 54); // the DROP rule: the reply never comes back established
      r.send(out(40002, 54), 0);
    });
    // establish()'s reply; TTL 1 and DF over the MTU are established packets the fused path
    // tracked before handing them to ipForwardPacket
    expect(fast.nf.fastPackets).toBe(3);
    expect(fast.state().drops.map((d) => d.reason)).toEqual(expect.arrayContaining(["ttl-expired", "frag-needed", "nf-drop"]));
  });

  test("exits at the neighbour: a STALE next hop goes to DELAY; an interface down drops", () => {
    const { fast } = both((r) => {
      r.r.route(`${"192.168.1.0"}/24 dev eth1`, "replace");
      r.send(frame(HOST, NEAR, [udp(41000, 53), raw(22)]), 0);
      r.send(frame(NEAR, NAT_IP, [udp(53, 41000), raw(22)], {}, true), 1);
      r.send(frame(HOST, NEAR, [udp(41000, 53), raw(22)]), 0);
      establish(r);
      r.setUp(false);
      r.send(out(40000, 53), 0);
    });
    expect(fast.state().neigh).toContain("DELAY");
    expect(fast.nf.fastPackets).toBeGreaterThanOrEqual(2);
  });
});
