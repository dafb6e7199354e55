// Connection tracking (dataplane/netfilter/conntrack.ts): packets of established flows through
// `track` (the lookup by either tuple, the protocol's tracker, the timeout refresh) and `confirm`,
// in batches of 256 packets from 64-byte IPv4 packets laid out in one buffer, on tables of 10,000
// and 100,000 flows. Cases: the harness alone (the baseline: reading each packet's first byte);
// `find` only; UDP both directions; TCP ACK segments (the state machine); replies of
// source-NATed UDP flows un-NATed (`natPacket` at the destination hook: address, checksums),
// with the harness restoring the 6 rewritten bytes per packet. Also prints the table's bytes per
// entry and checks that a batch allocates nothing (0 GCs over 10^5 batches).
import { runSuite, measureAllocation, reportAllocation } from "./lib.js";
import { Clock } from "../dataplane/engine/clock.js";
import { Rng } from "../dataplane/engine/rng.js";
import { ConntrackTable } from "../dataplane/netfilter/conntrack.js";
import { NAT_MANIP_DST, NAT_MANIP_SRC } from "../dataplane/netfilter/conntrack-bits.js";
import { NAT_MAP_IPS, natSetup } from "../dataplane/netfilter/nat-tuple.js";
import { natPacket } from "../dataplane/netfilter/nat-packet.js";
import { buildFrame } from "../core/wire/frame.js";
import { ipv4, raw, tcp, udp } from "../core/wire/layers.js";

const N = 256;
const SLOT = 64;

interface Setup {
  ct: ConntrackTable;
  buf: Uint8Array;
  offs: Int32Array;
  flows: number;
}

/** `flows` UDP or TCP connections, established; a batch of N of their packets (both directions). */
function setup(flows: number, proto: 6 | 17, snat = false): Setup {
  const ct = new ConntrackTable(new Clock(), new Rng(1), { initialCapacity: 1024 });
  const client = (i: number) => 0x0a000000 + i; // 10.0.x.y
  const server = 0xc6336401; // 198.51.100.1
  const host = 0xc0a8010a; // 192.168.1.10
  const seg = (src: number, dst: number, sp: number, dp: number, flags: number) =>
    buildFrame(proto === 6 ? [ipv4({ src, dst, protocol: 6 }), tcp({ srcPort: sp, dstPort: dp, flags, seq: 1, ack: 1 }), raw(4)] : [ipv4({ src, dst, protocol: 17 }), udp(sp, dp), raw(16)]);
  for (let i = 0; i < flows; i++) {
    const a = seg(client(i), server, 40000, 80, 0x02);
    const ref = ct.track(a, 0);
    if (snat) natSetup(ct, ref, NAT_MANIP_SRC, NAT_MAP_IPS, host, host, 0, 0);
    ct.confirm(ref);
    const r = (ref >> 3) * 2 + 1;
    const b = snat ? seg(server, host, 80, ct.tDport(r), 0x12) : seg(server, client(i), 80, 40000, 0x12);
    ct.confirm(ct.track(b, 0));
    ct.confirm(ct.track(seg(client(i), server, 40000, 80, 0x10), 0));
  }
  if (ct.count !== flows) throw new Error(`conntrack bench: ${ct.count} entries for ${flows} flows`);
  // the batch: packets of flows spread over the table, alternating directions (replies only for NAT)
  const buf = new Uint8Array(N * SLOT);
  const offs = new Int32Array(N);
  let x = 12345;
  for (let j = 0; j < N; j++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const i = x % flows;
    const e = ct.find(proto, client(i), server, 40000, 80) >> 1;
    const replyDport = ct.tDport(e * 2 + 1);
    const p = snat || j & 1 ? seg(server, snat ? host : client(i), 80, snat ? replyDport : 40000, 0x10) : seg(client(i), server, 40000, 80, 0x10);
    buf.set(p, j * SLOT);
    offs[j] = j * SLOT;
  }
  return { ct, buf, offs, flows };
}

function trackBatch(s: Setup): () => void {
  const { ct, buf, offs } = s;
  return () => {
    for (let j = 0; j < N; j++) ct.confirm(ct.track(buf, offs[j]!));
  };
}

function findBatch(s: Setup): () => number {
  const { ct, buf, offs } = s;
  return () => {
    let hits = 0;
    for (let j = 0; j < N; j++) {
      const o = offs[j]!;
      const src = (buf[o + 12]! << 24) | (buf[o + 13]! << 16) | (buf[o + 14]! << 8) | buf[o + 15]!;
      const dst = (buf[o + 16]! << 24) | (buf[o + 17]! << 16) | (buf[o + 18]! << 8) | buf[o + 19]!;
      if (ct.find(buf[o + 9]!, src, dst, (buf[o + 20]! << 8) | buf[o + 21]!, (buf[o + 22]! << 8) | buf[o + 23]!) >= 0) hits++;
    }
    return hits;
  };
}

/** Puts back what un-SNAT rewrote in each packet of the batch (destination address, IP and UDP
 *  checksums: 8 bytes) from a pristine copy, so every batch tracks the same packets. */
function restorer(s: Setup): () => void {
  const { buf, offs } = s;
  const pristine = buf.slice();
  return () => {
    for (let j = 0; j < N; j++) {
      const o = offs[j]!;
      for (let k = 16; k < 20; k++) buf[o + k] = pristine[o + k]!;
      buf[o + 10] = pristine[o + 10]!;
      buf[o + 11] = pristine[o + 11]!;
      buf[o + 26] = pristine[o + 26]!;
      buf[o + 27] = pristine[o + 27]!;
    }
  };
}

/** Replies of SNATed flows: track, un-NAT at the destination hook (PREROUTING), restore. */
function natBatch(s: Setup): () => void {
  const { ct, buf, offs } = s;
  const restore = restorer(s);
  return () => {
    for (let j = 0; j < N; j++) {
      const o = offs[j]!;
      natPacket(ct, ct.track(buf, o), NAT_MANIP_DST, buf, o);
    }
    restore();
  };
}

export async function conntrackBench(): Promise<void> {
  const udp10k = setup(10_000, 17);
  const udp100k = setup(100_000, 17);
  const tcp10k = setup(10_000, 6);
  const nat10k = setup(10_000, 17, true);
  console.log(`  conntrack: ${udp10k.ct.bytesPerEntry} bytes per entry (typed arrays: tuples, hash chains, entry fields, expiry heap, buckets, TCP state), capacity ${udp100k.ct.cap} for 100,000 flows`);
  let sink = 0;
  const find = findBatch(udp10k);
  const natHarness = restorer(nat10k);
  await runSuite("conntrack (established flows, batches of 256)", [
    { name: "conntrack harness only (baseline)", packets: N, setup: () => () => { for (let j = 0; j < N; j++) sink ^= udp10k.buf[udp10k.offs[j]!]!; } },
    { name: "conntrack find, 10k UDP flows", packets: N, setup: () => () => void (sink ^= find()) },
    { name: "conntrack track+confirm, 10k UDP flows", packets: N, setup: () => trackBatch(udp10k) },
    { name: "conntrack track+confirm, 100k UDP flows", packets: N, setup: () => trackBatch(udp100k) },
    { name: "conntrack track+confirm, 10k TCP flows (ACKs)", packets: N, setup: () => trackBatch(tcp10k) },
    { name: "conntrack NAT harness only (restore 8 bytes)", packets: N, setup: () => natHarness },
    { name: "conntrack track+un-SNAT, 10k UDP replies", packets: N, setup: () => natBatch(nat10k) },
  ]);
  // Let the old-space marking started by the setup's garbage (100,000 flows built through
  // buildFrame) finish first: without this pause its finalisation task landed inside the first
  // measurement as one Mark-Compact ("finalize incremental marking via task", --trace-gc), with
  // 0 scavenges, i.e. nothing allocated per packet.
  await new Promise((r) => setTimeout(r, 200));
  reportAllocation("conntrack track+confirm, 100k UDP flows, batch of 256", await measureAllocation(trackBatch(udp100k), 100_000));
  reportAllocation("conntrack track+confirm, 10k TCP flows, batch of 256", await measureAllocation(trackBatch(tcp10k), 100_000));
  reportAllocation("conntrack track+un-SNAT, 10k UDP replies, batch of 256", await measureAllocation(natBatch(nat10k), 100_000));
  for (const s of [udp10k, udp100k, tcp10k, nat10k]) {
    const msg = s.ct.audit();
    if (msg) throw new Error(`conntrack bench: ${msg}`);
    if (s.ct.count !== s.flows) throw new Error(`conntrack bench: ${s.ct.count} entries after the runs, ${s.flows} flows`);
  }
  if (sink === 0.5) console.log(sink);
}
