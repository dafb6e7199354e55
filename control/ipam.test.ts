// IPAM (ipam.ts) against BEHAVIOR.md 1.1-1.4: the predefined pools and their order, the reserved
// prefixes, gateway first, lowest free address, immediate reuse, fixed addresses; and properties
// of any sequence of requests and releases against a plain reference (a sorted free list).
import { describe, expect } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { AddressPool, DockerError, Ipam, parseSubnet, predefinedPools } from "./ipam.js";
import { formatCidr, formatIpv4, parseCidr, parseIpv4 } from "../core/addr.js";

const ip = parseIpv4;
const subnets = (ipam: Ipam) => ipam.pools().map((p) => formatCidr(p.subnet));

describe("predefined pools (BEHAVIOR.md 1.1)", () => {
  test("172.17-19 as /16, 172.20-31 as /16s cut from three /14s, then 192.168.0.0/16 in /20s", () => {
    const all = predefinedPools().map(formatCidr);
    expect(all.length).toBe(3 + 12 + 16);
    expect(all.slice(0, 4)).toEqual(["172.17.0.0/16", "172.18.0.0/16", "172.19.0.0/16", "172.20.0.0/16"]);
    expect(all[14]).toBe("172.31.0.0/16");
    expect(all.slice(15, 17)).toEqual(["192.168.0.0/20", "192.168.16.0/20"]);
    expect(all.at(-1)).toBe("192.168.240.0/20");
  });
});

describe("pool allocation (BEHAVIOR.md 1.2)", () => {
  test("first free in order: docker0 172.17, then 172.18, 172.19, ...", () => {
    const ipam = new Ipam();
    for (let k = 0; k < 4; k++) ipam.requestPool();
    expect(subnets(ipam)).toEqual(["172.17.0.0/16", "172.18.0.0/16", "172.19.0.0/16", "172.20.0.0/16"]);
  });

  test("a pool overlapping a reserved prefix (the host's on-link subnet) is skipped", () => {
    const ipam = new Ipam([parseCidr("172.18.5.0/24")]);
    ipam.requestPool();
    ipam.requestPool();
    expect(subnets(ipam)).toEqual(["172.17.0.0/16", "172.19.0.0/16"]);
  });

  test("a released pool is the next one given", () => {
    const ipam = new Ipam();
    ipam.requestPool();
    const p18 = ipam.requestPool();
    ipam.requestPool();
    ipam.releasePool(p18);
    expect(formatCidr(ipam.requestPool().subnet)).toBe("172.18.0.0/16");
  });

  test("a requested subnet is taken as is and skipped by the defaults; an overlapping one is refused", () => {
    const ipam = new Ipam();
    ipam.requestPool("172.17.0.0/16");
    ipam.requestPool("172.18.0.0/24");
    expect(formatCidr(ipam.requestPool().subnet)).toBe("172.19.0.0/16");
    expect(() => ipam.requestPool("172.18.0.128/25")).toThrow(/Pool overlaps with other one on this address space/);
    // a reserved prefix only steers the defaults
    const withReserved = new Ipam([parseCidr("10.1.0.0/16")]);
    expect(formatCidr(withReserved.requestPool("10.1.0.0/24").subnet)).toBe("10.1.0.0/24");
  });

  test("the defaults exhausted: Docker's message", () => {
    const ipam = new Ipam([], predefinedPools([{ base: "10.0.0.0/23", size: 24 }]));
    ipam.requestPool();
    ipam.requestPool();
    expect(() => ipam.requestPool()).toThrow("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network");
  });

  test("subnets must be written with their network address", () => {
    expect(() => parseSubnet("172.18.0.5/16")).toThrow("invalid subnet 172.18.0.5/16: it should be 172.18.0.0/16");
    expect(() => parseSubnet("10.0.0.0")).toThrow(/needs a prefix length/);
    expect(() => parseSubnet("10.0.0.0/33")).toThrow(DockerError);
  });
});

describe("addresses (BEHAVIOR.md 1.3, 1.4)", () => {
  test("gateway first (.1), then .2, .3; a released address is reused at once", () => {
    const p = new AddressPool(parseCidr("172.17.0.0/16"));
    expect(formatIpv4(p.requestAny())).toBe("172.17.0.1");
    const a = [p.requestAny(), p.requestAny(), p.requestAny()].map(formatIpv4);
    expect(a).toEqual(["172.17.0.2", "172.17.0.3", "172.17.0.4"]);
    p.release(ip("172.17.0.3"));
    expect(formatIpv4(p.requestAny())).toBe("172.17.0.3");
    expect(formatIpv4(p.requestAny())).toBe("172.17.0.5");
  });

  test("network and broadcast are reserved; /31 and /32 reserve nothing", () => {
    const p = new AddressPool(parseCidr("10.0.0.0/30"));
    expect([p.requestAny(), p.requestAny()].map(formatIpv4)).toEqual(["10.0.0.1", "10.0.0.2"]);
    expect(() => p.requestAny()).toThrow("no available addresses on pool 10.0.0.0/30");
    expect(() => p.request(ip("10.0.0.0"))).toThrow("10.0.0.0: Address already in use");
    expect(() => p.request(ip("10.0.0.3"))).toThrow("10.0.0.3: Address already in use");
    const p31 = new AddressPool(parseCidr("10.0.0.0/31"));
    expect([p31.requestAny(), p31.requestAny()].map(formatIpv4)).toEqual(["10.0.0.0", "10.0.0.1"]);
  });

  test("a fixed address is honoured, refused when taken or out of the pool, and skipped by later requests", () => {
    const p = new AddressPool(parseCidr("10.5.0.0/24"));
    p.requestAny();
    expect(formatIpv4(p.request(ip("10.5.0.2")))).toBe("10.5.0.2");
    expect(formatIpv4(p.requestAny())).toBe("10.5.0.3");
    expect(() => p.request(ip("10.5.0.2"))).toThrow("10.5.0.2: Address already in use");
    expect(() => p.request(ip("10.6.0.2"))).toThrow("requested address 10.6.0.2 is out of range (10.5.0.0/24)");
    expect(() => p.release(ip("10.5.0.9"))).toThrow(/not allocated/);
    expect(() => p.release(ip("10.5.0.255"))).toThrow(/not an address of pool/);
  });
});

// ---- properties ----------------------------------------------------------------------------------

type Op = { kind: "any" } | { kind: "release"; pick: number } | { kind: "fixed"; off: number };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ kind: "any" as const }) },
  { weight: 3, arbitrary: fc.nat(1000).map((pick) => ({ kind: "release" as const, pick })) },
  { weight: 1, arbitrary: fc.nat(255).map((off) => ({ kind: "fixed" as const, off })) },
);

describe("IPAM properties (any sequence of requests and releases)", () => {
  test.prop([fc.integer({ min: 24, max: 30 }), fc.array(opArb, { maxLength: 300 })], { numRuns: 300 })(
    "never the same address twice, always the lowest free one, never network, gateway or broadcast",
    (len, ops) => {
      const subnet = parseCidr(`10.20.30.0/${len}`);
      const size = 2 ** (32 - len);
      const pool = new AddressPool(subnet);
      const gateway = pool.requestAny();
      expect(gateway).toBe(subnet.network + 1);
      const live = new Set<number>(); // handed out and not released
      const reserved = new Set([subnet.network, gateway, subnet.network + size - 1]);
      const lowestFree = () => {
        for (let a = subnet.network + 1; a < subnet.network + size - 1; a++) if (!live.has(a) && !reserved.has(a)) return a;
        return -1;
      };
      for (const op of ops) {
        if (op.kind === "any") {
          const want = lowestFree();
          if (want < 0) {
            expect(() => pool.requestAny()).toThrow(DockerError);
            continue;
          }
          const got = pool.requestAny();
          expect(live.has(got)).toBe(false);
          expect(reserved.has(got)).toBe(false);
          expect(got).toBe(want);
          live.add(got);
        } else if (op.kind === "release") {
          if (live.size === 0) continue;
          const a = [...live][op.pick % live.size]!;
          pool.release(a);
          live.delete(a);
        } else {
          const a = subnet.network + (op.off % size);
          if (live.has(a) || reserved.has(a)) expect(() => pool.request(a)).toThrow(/Address already in use/);
          else {
            expect(pool.request(a)).toBe(a);
            live.add(a);
          }
        }
        expect(pool.allocated()).toEqual([...live, ...reserved].sort((x, y) => x - y));
      }
    },
  );

  test.prop([fc.array(fc.oneof(fc.constant(-1), fc.nat(40)), { maxLength: 60 }), fc.array(fc.nat(40), { maxLength: 3 })], { numRuns: 200 })(
    "pools: the first predefined prefix overlapping no allocated pool and no reserved prefix",
    (steps, reservedIdx) => {
      const defs = predefinedPools();
      const reserved = reservedIdx.map((i) => defs[i % defs.length]!);
      const ipam = new Ipam(reserved);
      for (const s of steps) {
        if (s >= 0 && ipam.pools().length > 0) {
          ipam.releasePool(ipam.pools()[s % ipam.pools().length]!);
          continue;
        }
        const taken = ipam.pools().map((p) => p.subnet);
        const want = defs.find((d) => !taken.some((t) => t.network === d.network) && !reserved.some((r) => r.network === d.network));
        if (!want) {
          expect(() => ipam.requestPool()).toThrow(/could not find an available/);
          continue;
        }
        expect(formatCidr(ipam.requestPool().subnet)).toBe(formatCidr(want));
      }
    },
  );
});
