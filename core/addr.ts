// Addresses as integers: a MAC is a 48-bit integer (a plain number, exact below 2^53), an IPv4
// address a uint32, a CIDR a {addr, len} pair with a precomputed mask. Strings exist only here,
// at the edges (scenario files, CLI, printers); the forwarding path compares integers.

export class AddrError extends Error {
  override name = "AddrError";
}

// ---- IPv4 -----------------------------------------------------------------------------------

/** Parse dotted-quad "a.b.c.d" into a uint32. Throws AddrError naming the input and the fault. */
export function parseIpv4(s: string): number {
  const parts = s.split(".");
  if (parts.length !== 4) throw new AddrError(`"${s}": an IPv4 address has 4 dot-separated parts, found ${parts.length}`);
  let v = 0;
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p)) throw new AddrError(`"${s}": part ${i + 1} ("${p}") must be a decimal number 0..255`);
    if (p.length > 1 && p[0] === "0") throw new AddrError(`"${s}": part ${i + 1} ("${p}") has a leading zero (ambiguous octal)`);
    const n = Number(p);
    if (n > 255) throw new AddrError(`"${s}": part ${i + 1} (${n}) must be 0..255`);
    v = v * 256 + n;
  }
  return v >>> 0;
}

/** Format a uint32 as dotted-quad. */
export function formatIpv4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** Non-throwing check, for validators that collect errors. */
export function isIpv4(s: string): boolean {
  try {
    parseIpv4(s);
    return true;
  } catch {
    return false;
  }
}

// ---- MAC ------------------------------------------------------------------------------------

/** Parse "aa:bb:cc:dd:ee:ff" (or with '-') into a 48-bit integer. */
export function parseMac(s: string): number {
  const parts = s.split(/[:-]/);
  if (parts.length !== 6) throw new AddrError(`"${s}": a MAC address has 6 hex bytes separated by ':', found ${parts.length} part(s)`);
  let v = 0;
  for (let i = 0; i < 6; i++) {
    const p = parts[i]!;
    if (!/^[0-9a-fA-F]{1,2}$/.test(p)) throw new AddrError(`"${s}": byte ${i + 1} ("${p}") must be 1-2 hex digits`);
    v = v * 256 + parseInt(p, 16);
  }
  return v;
}

/** Format a 48-bit integer as lower-case "aa:bb:cc:dd:ee:ff" (as iproute2 prints it). */
export function formatMac(m: number): string {
  let s = "";
  for (let i = 5; i >= 0; i--) {
    const byte = Math.floor(m / 2 ** (8 * i)) & 255;
    s += (byte < 16 ? "0" : "") + byte.toString(16) + (i ? ":" : "");
  }
  return s;
}

export const MAC_BROADCAST = 0xffff_ffff_ffff;

/** Split a 48-bit MAC (a number) into its top 16 bits and its low 32 bits in int32 form: the
 *  bridge's FDB keys, and the halves frames are written from without float arithmetic per packet
 *  (Netns.sendEthNeigh). `macOf` joins them. */
export function macHi(mac: number): number {
  return Math.floor(mac / 0x1_0000_0000);
}
export function macLo(mac: number): number {
  return mac | 0;
}
export function macOf(hi: number, lo: number): number {
  return hi * 0x1_0000_0000 + (lo >>> 0);
}
/** Group (multicast/broadcast) bit: least significant bit of the first byte. */
export function macIsMulticast(m: number): boolean {
  return (Math.floor(m / 0x100_0000_0000) & 1) === 1;
}
/** Locally administered bit: second-least significant bit of the first byte. */
export function macIsLocal(m: number): boolean {
  return (Math.floor(m / 0x100_0000_0000) & 2) === 2;
}

// ---- CIDR -----------------------------------------------------------------------------------

export interface Cidr {
  /** Address as written (host bits kept, as in `10.0.0.5/24` on an interface). */
  readonly addr: number;
  readonly len: number;
  /** Netmask as uint32 (0 for /0). */
  readonly mask: number;
  /** addr & mask. */
  readonly network: number;
}

export function prefixMask(len: number): number {
  return len === 0 ? 0 : (0xffff_ffff << (32 - len)) >>> 0;
}

export function cidr(addr: number, len: number): Cidr {
  if (!Number.isInteger(len) || len < 0 || len > 32) throw new AddrError(`prefix length ${len} must be 0..32`);
  const mask = prefixMask(len);
  return { addr: addr >>> 0, len, mask, network: (addr & mask) >>> 0 };
}

/** Parse "a.b.c.d/len" (a bare address means /32). Host bits are kept in `addr`; see `network`. */
export function parseCidr(s: string): Cidr {
  const slash = s.indexOf("/");
  if (slash < 0) return cidr(parseIpv4(s), 32);
  const ip = s.slice(0, slash);
  const lenStr = s.slice(slash + 1);
  let a: number;
  try {
    a = parseIpv4(ip);
  } catch (e) {
    throw new AddrError(`"${s}": ${(e as Error).message}`);
  }
  if (!/^\d{1,2}$/.test(lenStr) || Number(lenStr) > 32) throw new AddrError(`"${s}": prefix length must be 0..32`);
  return cidr(a, Number(lenStr));
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.addr)}/${c.len}`;
}

/** Whether `ip` (uint32) lies in the prefix. */
export function cidrContains(c: Cidr, ip: number): boolean {
  return ((ip & c.mask) >>> 0) === c.network;
}

/** Whether two prefixes share any address. */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  const m = a.len < b.len ? a.mask : b.mask;
  return ((a.network & m) >>> 0) === ((b.network & m) >>> 0);
}

/** Broadcast address of the prefix (network | ~mask). */
export function cidrBroadcast(c: Cidr): number {
  return (c.network | ~c.mask) >>> 0;
}
