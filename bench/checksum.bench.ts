// Checksum benchmarks: a full recompute of a 20-byte IPv4 header and of a 1500-byte packet,
// against the RFC 1624 incremental update used for TTL decrement and NAT rewrites.
import { runSuite } from "./lib.js";
import { checksumUpdate16, checksumUpdate32, internetChecksum } from "../core/checksum.js";

const BATCH = 256;

export async function checksumBench(): Promise<void> {
  const hdr = new Uint8Array(20 * BATCH);
  for (let i = 0; i < hdr.length; i++) hdr[i] = (i * 131) & 255;
  const big = new Uint8Array(1500 * BATCH);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 255;
  let sink = 0;
  await runSuite("checksum", [
    { name: "checksum full ipv4 header (20 B)", packets: BATCH, setup: () => () => {
      for (let i = 0; i < BATCH; i++) sink ^= internetChecksum(hdr, i * 20, 20);
    } },
    { name: "checksum full 1500 B", packets: BATCH, bytes: undefined, setup: () => () => {
      for (let i = 0; i < BATCH; i++) sink ^= internetChecksum(big, i * 1500, 1500);
    } },
    { name: "checksum incremental 16-bit (TTL)", packets: BATCH, setup: () => () => {
      for (let i = 0; i < BATCH; i++) sink ^= checksumUpdate16(i, 0x4011, 0x3f11);
    } },
    { name: "checksum incremental 32-bit (NAT address)", packets: BATCH, setup: () => () => {
      for (let i = 0; i < BATCH; i++) sink ^= checksumUpdate32(i, 0xac110002, 0x0a000001 + i);
    } },
  ]);
  if (sink === 0.5) console.log(sink); // keep results observable
}
