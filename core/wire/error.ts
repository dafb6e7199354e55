// Error codes returned by every `parseX` / `xCheckLen`. Parsing never throws on bad bytes: it
// returns one of these (0 = OK) so that the forwarding path can count a drop by reason without
// allocating an exception or a string.

export const WireError = {
  OK: 0,
  /** Fewer bytes than the header (or a length field) requires. */
  TRUNCATED: 1,
  /** A length field is inconsistent: IHL < 5, total length < header, data offset < 5, ... */
  BAD_LENGTH: 2,
  /** Version, hardware type, flag that must be set, etc. */
  BAD_VERSION: 3,
  BAD_CHECKSUM: 4,
  /** A value we do not handle (e.g. an ARP for another hardware/protocol type). */
  UNSUPPORTED: 5,
  /** An option or field that is structurally invalid (e.g. option length runs past the header). */
  MALFORMED: 6,
} as const;
export type WireError = (typeof WireError)[keyof typeof WireError];

const NAMES = ["ok", "truncated", "bad-length", "bad-version", "bad-checksum", "unsupported", "malformed"] as const;

/** Kebab-case name of an error code, as drop reasons and printers show it. */
export function wireErrorName(e: number): string {
  return NAMES[e] ?? `error-${e}`;
}
