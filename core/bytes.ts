// Big-endian (network order) field access over a Uint8Array at an absolute offset.
// One-line helpers, inlined by V8; no DataView, no allocation. Callers check bounds first
// (each protocol's `xCheckLen`), so these never check.

export function getU16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
export function setU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}
export function getU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
export function setU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}
/** 48-bit big-endian integer (a MAC address). Exact: 2^48 < 2^53. */
export function getU48(b: Uint8Array, o: number): number {
  return ((b[o]! << 8) | b[o + 1]!) * 0x1_0000_0000 + getU32(b, o + 2);
}
export function setU48(b: Uint8Array, o: number, v: number): void {
  const hi = Math.floor(v / 0x1_0000_0000);
  b[o] = hi >>> 8;
  b[o + 1] = hi;
  setU32(b, o + 2, v >>> 0);
}
