import { describe, expect, it } from "vitest";
import {
  AddrError, cidr, cidrBroadcast, cidrContains, cidrOverlaps, formatCidr, formatIpv4, formatMac,
  macIsLocal, macIsMulticast, parseCidr, parseIpv4, parseMac, MAC_BROADCAST,
} from "./addr.js";

describe("IPv4 addresses", () => {
  it("parses and formats dotted quads as uint32", () => {
    expect(parseIpv4("172.17.0.2")).toBe(0xac110002);
    expect(parseIpv4("255.255.255.255")).toBe(0xffffffff);
    expect(parseIpv4("0.0.0.0")).toBe(0);
    expect(formatIpv4(0xac110001)).toBe("172.17.0.1");
    expect(formatIpv4(0xffffffff)).toBe("255.255.255.255");
  });
  it.each([
    ["10.0.0", '"10.0.0": an IPv4 address has 4 dot-separated parts, found 3'],
    ["10.0.0.256", '"10.0.0.256": part 4 (256) must be 0..255'],
    ["10.0.x.1", '"10.0.x.1": part 3 ("x") must be a decimal number 0..255'],
    ["10.0.01.1", '"10.0.01.1": part 3 ("01") has a leading zero (ambiguous octal)'],
    ["", '"": an IPv4 address has 4 dot-separated parts, found 1'],
  ])("rejects %j with a clear error", (s, msg) => {
    expect(() => parseIpv4(s)).toThrow(new AddrError(msg));
  });
});

describe("MAC addresses", () => {
  it("parses and formats 48-bit integers", () => {
    expect(parseMac("02:42:ac:11:00:02")).toBe(0x0242ac110002);
    expect(parseMac("FF-FF-FF-FF-FF-FF")).toBe(MAC_BROADCAST);
    expect(formatMac(0x0242ac110002)).toBe("02:42:ac:11:00:02");
    expect(formatMac(0)).toBe("00:00:00:00:00:00");
    expect(formatMac(MAC_BROADCAST)).toBe("ff:ff:ff:ff:ff:ff");
  });
  it("knows the group and locally administered bits", () => {
    expect(macIsMulticast(MAC_BROADCAST)).toBe(true);
    expect(macIsMulticast(parseMac("01:00:5e:00:00:01"))).toBe(true);
    expect(macIsMulticast(parseMac("02:42:ac:11:00:02"))).toBe(false);
    expect(macIsLocal(parseMac("02:42:ac:11:00:02"))).toBe(true);
    expect(macIsLocal(parseMac("00:1b:21:00:00:01"))).toBe(false);
  });
  it("rejects malformed MACs", () => {
    expect(() => parseMac("02:42:ac:11:00")).toThrow('"02:42:ac:11:00": a MAC address has 6 hex bytes separated by \':\', found 5 part(s)');
    expect(() => parseMac("02:42:ac:11:00:zz")).toThrow('"02:42:ac:11:00:zz": byte 6 ("zz") must be 1-2 hex digits');
  });
});

describe("CIDR", () => {
  it("parses, keeps host bits, and derives mask and network", () => {
    const c = parseCidr("172.17.0.1/16");
    expect(c).toEqual({ addr: 0xac110001, len: 16, mask: 0xffff0000, network: 0xac110000 });
    expect(formatCidr(c)).toBe("172.17.0.1/16");
    expect(parseCidr("10.1.2.3")).toMatchObject({ len: 32, mask: 0xffffffff });
    expect(parseCidr("0.0.0.0/0")).toMatchObject({ len: 0, mask: 0, network: 0 });
    expect(cidrBroadcast(c)).toBe(parseIpv4("172.17.255.255"));
  });
  it("tests membership and overlap", () => {
    const c = parseCidr("172.17.0.0/16");
    expect(cidrContains(c, parseIpv4("172.17.255.254"))).toBe(true);
    expect(cidrContains(c, parseIpv4("172.18.0.1"))).toBe(false);
    expect(cidrContains(parseCidr("0.0.0.0/0"), 0xffffffff)).toBe(true);
    expect(cidrOverlaps(c, parseCidr("172.17.5.0/24"))).toBe(true);
    expect(cidrOverlaps(parseCidr("172.17.5.0/24"), c)).toBe(true);
    expect(cidrOverlaps(c, parseCidr("172.18.0.0/16"))).toBe(false);
  });
  it.each([
    ["10.0.0.0/33", '"10.0.0.0/33": prefix length must be 0..32'],
    ["10.0.0.0/", '"10.0.0.0/": prefix length must be 0..32'],
    ["10.0.0.0/-1", '"10.0.0.0/-1": prefix length must be 0..32'],
    ["10.0.0/8", '"10.0.0/8": "10.0.0": an IPv4 address has 4 dot-separated parts, found 3'],
  ])("rejects %j", (s, msg) => {
    expect(() => parseCidr(s)).toThrow(new AddrError(msg));
  });
  it("checks prefix lengths given as numbers", () => {
    expect(() => cidr(0, 33)).toThrow("prefix length 33 must be 0..32");
  });
});
