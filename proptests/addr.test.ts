// Properties of the address helpers: format/parse round trips, CIDR membership agrees with a
// reference computed on strings of bits.
import { fc, test } from "@fast-check/vitest";
import { expect } from "vitest";
import { cidr, cidrContains, cidrOverlaps, formatIpv4, formatMac, parseCidr, parseIpv4, parseMac, formatCidr } from "../core/addr.js";

const u32 = fc.nat({ max: 0xffffffff });
const bits = (a: number) => a.toString(2).padStart(32, "0");

test.prop([u32])("parseIpv4(formatIpv4(a)) == a", (a) => {
  expect(parseIpv4(formatIpv4(a))).toBe(a);
});

test.prop([fc.nat({ max: 2 ** 48 - 1 })])("parseMac(formatMac(m)) == m", (m) => {
  expect(parseMac(formatMac(m))).toBe(m);
});

test.prop([u32, fc.integer({ min: 0, max: 32 }), u32])("cidrContains agrees with a bit-string prefix compare", (net, len, ip) => {
  const c = cidr(net, len);
  expect(cidrContains(c, ip)).toBe(bits(net).slice(0, len) === bits(ip).slice(0, len));
  expect(parseCidr(formatCidr(c))).toEqual(c);
});

test.prop([u32, fc.integer({ min: 0, max: 32 }), u32, fc.integer({ min: 0, max: 32 })])("cidrOverlaps is symmetric and means a shared prefix", (a, la, b, lb) => {
  const x = cidr(a, la);
  const y = cidr(b, lb);
  const l = Math.min(la, lb);
  expect(cidrOverlaps(x, y)).toBe(bits(a).slice(0, l) === bits(b).slice(0, l));
  expect(cidrOverlaps(y, x)).toBe(cidrOverlaps(x, y));
});
