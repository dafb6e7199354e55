// MACs, veth names and IDs (mac.ts): Docker's formats, and the same values for the same seed.
import { describe, expect, test } from "vitest";
import { Rng } from "../dataplane/engine/rng.js";
import { endpointMac, macFromIp, randomId, randomMac, vethName } from "./mac.js";
import { formatMac, macIsLocal, macIsMulticast, parseIpv4 } from "../core/addr.js";

describe("MACs (BEHAVIOR.md 1.5)", () => {
  test("classic: 02:42 + the IPv4 bytes", () => {
    expect(formatMac(macFromIp(parseIpv4("172.17.0.2")))).toBe("02:42:ac:11:00:02");
    expect(formatMac(macFromIp(parseIpv4("10.0.1.5")))).toBe("02:42:0a:00:01:05");
    expect(formatMac(endpointMac("classic", parseIpv4("192.168.255.254"), new Rng(1)))).toBe("02:42:c0:a8:ff:fe");
  });

  test("modern and bridges: random, unicast, locally administered, fixed by the seed", () => {
    const r = new Rng(7);
    const macs = Array.from({ length: 200 }, () => randomMac(r));
    for (const m of macs) {
      expect(macIsMulticast(m)).toBe(false);
      expect(macIsLocal(m)).toBe(true);
      expect(m).toBeLessThan(2 ** 48);
    }
    expect(new Set(macs).size).toBe(200);
    const again = new Rng(7);
    expect(Array.from({ length: 200 }, () => randomMac(again))).toEqual(macs);
    expect(endpointMac("modern", parseIpv4("172.17.0.2"), new Rng(7))).toBe(macs[0]);
  });
});

describe("names", () => {
  test("veth + 7 hex digits, drawn again when taken", () => {
    const r = new Rng(3);
    const first = vethName(r, () => false);
    expect(first).toMatch(/^veth[0-9a-f]{7}$/);
    const taken = new Set([vethName(new Rng(3), () => false)]);
    const other = vethName(new Rng(3), (n) => taken.has(n));
    expect(other).toMatch(/^veth[0-9a-f]{7}$/);
    expect(other).not.toBe(first);
  });

  test("IDs: 64 hex digits; the 12-digit short form is never all decimal", () => {
    const r = new Rng(11);
    for (let k = 0; k < 500; k++) {
      const id = randomId(r);
      expect(id).toMatch(/^[0-9a-f]{64}$/);
      expect(id.slice(0, 12)).not.toMatch(/^\d{12}$/);
    }
    expect(randomId(new Rng(11))).toBe(randomId(new Rng(11)));
  });
});
