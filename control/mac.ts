// Names and link-layer addresses the Docker daemon makes up (BEHAVIOR.md 1.5, 1.6), drawn from the
// run's seeded RNG so a seed always gives the same ones:
//
// - container MACs by profile: "classic" (Docker <= v27, the default) derives them from the IPv4
//   address, 02:42:<a>:<b>:<c>:<d> (netutils.GenerateMACFromIP); "modern" (v28+) draws a random
//   unicast, locally administered MAC (netutils.GenerateRandomMAC) and announces it with three
//   unsolicited ARP requests 1 s apart (l2disco, advertiseAddrNMsgsDefault/IntervalDefault);
// - a bridge's own MAC: random in both profiles (setupDevice);
// - host-side veth names "veth" + 7 random hex digits (vethPrefix, vethLen); the container side
//   is renamed eth0, eth1, ... in attach order;
// - object IDs: 64 hex digits (stringid.GenerateRandomID), drawn again when the 12-digit short
//   form would read as a decimal number.

import type { Rng } from "../dataplane/engine/rng.js";

export type MacProfile = "classic" | "modern";

/** Unsolicited ARP on container start (modern profile): how many, how far apart (ns). */
export const ANNOUNCE_COUNT = 3;
export const ANNOUNCE_INTERVAL_NS = 1e9;

/** GenerateMACFromIP: 02:42 followed by the four bytes of `ip` (a uint32). */
export function macFromIp(ip: number): number {
  return 0x0242 * 2 ** 32 + (ip >>> 0);
}

/** GenerateRandomMAC: six random bytes, multicast bit cleared, locally administered bit set. */
export function randomMac(rng: Rng): number {
  const hi = ((rng.u32() & 0xfeff) | 0x0200) >>> 0; // first two bytes: byte 0 &= 0xfe, |= 0x02
  return hi * 2 ** 32 + rng.u32();
}

/** The MAC an endpoint with address `ip` gets under `profile`. */
export function endpointMac(profile: MacProfile, ip: number, rng: Rng): number {
  return profile === "classic" ? macFromIp(ip) : randomMac(rng);
}

/** `n` random lower-case hex digits. */
export function randomHex(rng: Rng, n: number): string {
  let s = "";
  while (s.length < n) s += rng.u32().toString(16).padStart(8, "0");
  return s.slice(0, n);
}

/** A host-side veth name not taken yet: "veth" + 7 hex digits (GenerateIfaceName retries). */
export function vethName(rng: Rng, taken: (name: string) => boolean): string {
  for (;;) {
    const name = "veth" + randomHex(rng, 7);
    if (!taken(name)) return name;
  }
}

/** The container-side name of the interface with index `n`: eth0, eth1, ... */
export function containerIfName(n: number): string {
  return `eth${n}`;
}

/** A 64-hex-digit ID whose 12-digit short form is not all decimal digits (stringid). */
export function randomId(rng: Rng): string {
  for (;;) {
    const id = randomHex(rng, 64);
    if (!/^\d{12}/.test(id)) return id;
  }
}
