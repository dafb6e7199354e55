// Capture file benchmarks: pcap and pcapng write and read throughput, in MB/s of packet bytes
// (the frames' own bytes, 10^6 per MB; the file adds 16 B per pcap record and 32 B per pcapng
// block). Writers are fed batches of 256 frames straight from a PacketArena, as a capture tap
// is, and write to a null sink that counts and discards (so neither a disk nor a growing buffer
// is timed); one case writes to /dev/null through FileSink to show the cost of the write(2)
// calls. Readers walk a capture held in memory (openCaptureBytes), record by record.
import { runSuite, measureAllocation, reportAllocation, type BenchCase } from "./lib.js";
import { PacketArena } from "../core/packet.js";
import { buildFrame, type Layer } from "../core/wire/frame.js";
import { newEthernetRepr } from "../core/wire/ethernet.js";
import { IPPROTO_TCP, IPPROTO_UDP, newIpv4Repr } from "../core/wire/ipv4.js";
import { newUdpRepr } from "../core/wire/udp.js";
import { TCP_ACK, newTcpRepr } from "../core/wire/tcp.js";
import { type CaptureSink, FileSink, MemorySink, PcapWriter, PcapngWriter, newCaptureRecord, openCaptureBytes } from "../core/pcap/index.js";

const N = 256;
/** Packets per capture in the read cases. */
const READ_PACKETS = 4096;
let sink = 0;

/** Counts what it is given and keeps nothing: the writers' cost without a disk or a copy. */
class NullSink implements CaptureSink {
  bytes = 0;
  write(_b: Uint8Array, _off: number, len: number): void {
    this.bytes += len;
  }
  close(): void {}
}

/** A frame of exactly `size` bytes: Ethernet + IPv4 + UDP (64 B) or TCP (larger), Docker addresses. */
function frameOf(size: number, i: number): Layer[] {
  const eth: Layer = { kind: "eth", ...newEthernetRepr(), dst: 0x0242ac110003, src: 0x0242ac110002 + (i & 7), ethertype: 0x0800 };
  const tcp = size > 64;
  const ip: Layer = { kind: "ipv4", ...newIpv4Repr(), ident: i & 0xffff, df: true, protocol: tcp ? IPPROTO_TCP : IPPROTO_UDP, src: 0xac110002 + (i & 7), dst: 0xac110003 };
  const l4: Layer = tcp
    ? { kind: "tcp", ...newTcpRepr(), srcPort: 40000 + i, dstPort: 80, seq: i * 1448, ack: 1, flags: TCP_ACK, window: 502 }
    : { kind: "udp", ...newUdpRepr(), srcPort: 40000 + i, dstPort: 53 };
  const hdr = 14 + 20 + (tcp ? 20 : 8);
  const payload = Uint8Array.from({ length: size - hdr }, (_, k) => (k * 7 + i) & 255);
  return [eth, ip, l4, { kind: "raw", bytes: payload }];
}

/** N frames of `size` bytes in an arena; returns the bytes and each frame's start. */
function batchOf(size: number): { b: Uint8Array; off: Int32Array } {
  const arena = new PacketArena({ slotCount: N });
  const off = new Int32Array(N);
  for (let i = 0; i < N; i++) off[i] = arena.start(arena.allocFrom(buildFrame(frameOf(size, i))));
  return { b: arena.bytes, off };
}

/** A whole capture in memory: READ_PACKETS frames of `size` bytes, pcap or pcapng. */
function captureOf(size: number, ng: boolean): Uint8Array {
  const { b, off } = batchOf(size);
  const mem = new MemorySink();
  if (ng) {
    const w = new PcapngWriter(mem);
    w.addInterface({ name: "c0/eth0" });
    for (let i = 0; i < READ_PACKETS; i++) w.writePacket(0, 1_700_000_000 + (i >> 10), (i & 1023) * 977_000, b, off[i & (N - 1)]!, size);
    w.close();
  } else {
    const w = new PcapWriter(mem, { tsresol: 9 });
    for (let i = 0; i < READ_PACKETS; i++) w.writePacket(1_700_000_000 + (i >> 10), (i & 1023) * 977_000, b, off[i & (N - 1)]!, size);
    w.close();
  }
  return mem.bytes().slice();
}

export async function pcapBench(): Promise<void> {
  const b64 = batchOf(64), b1500 = batchOf(1500);
  // One writer per case, created once: each op appends a batch, the buffer flushes to the sink
  // when full (every 1 MiB), as a long-running capture does.
  const ng64 = new PcapngWriter(new NullSink()), ng1500 = new PcapngWriter(new NullSink());
  const devnull = new PcapngWriter(new FileSink("/dev/null"));
  for (const w of [ng64, ng1500, devnull]) w.addInterface({ name: "c0/eth0" });
  const pc64 = new PcapWriter(new NullSink(), { tsresol: 9 }), pc1500 = new PcapWriter(new NullSink(), { tsresol: 9 });
  let sec = 1_700_000_000, nsec = 0;
  const tick = (): void => {
    nsec += 1000;
    if (nsec >= 1e9) { nsec = 0; sec++; }
  };

  const write: BenchCase[] = [
    { name: "pcapng write 64B", bytes: N * 64, setup: () => () => {
      const { b, off } = b64; for (let i = 0; i < N; i++) { tick(); ng64.writePacket(0, sec, nsec, b, off[i]!, 64); }
    } },
    { name: "pcapng write 1500B", bytes: N * 1500, setup: () => () => {
      const { b, off } = b1500; for (let i = 0; i < N; i++) { tick(); ng1500.writePacket(0, sec, nsec, b, off[i]!, 1500); }
    } },
    { name: "pcapng write 1500B to /dev/null (FileSink)", bytes: N * 1500, setup: () => () => {
      const { b, off } = b1500; for (let i = 0; i < N; i++) { tick(); devnull.writePacket(0, sec, nsec, b, off[i]!, 1500); }
    } },
    { name: "pcap write 64B", bytes: N * 64, setup: () => () => {
      const { b, off } = b64; for (let i = 0; i < N; i++) { tick(); pc64.writePacket(sec, nsec, b, off[i]!, 64); }
    } },
    { name: "pcap write 1500B", bytes: N * 1500, setup: () => () => {
      const { b, off } = b1500; for (let i = 0; i < N; i++) { tick(); pc1500.writePacket(sec, nsec, b, off[i]!, 1500); }
    } },
  ];
  await runSuite("capture write", write);
  let k = 0;
  reportAllocation("pcapng writePacket 64B", await measureAllocation(() => {
    tick();
    ng64.writePacket(0, sec, nsec, b64.b, b64.off[k]!, 64);
    k = (k + 1) & (N - 1);
  }));

  // Each case walks a whole capture; the loops are written out so that each `next` call site
  // sees one reader class.
  // Each case walks a whole capture; the loops are written out so that each `next` call site
  // sees one reader class.
  const r = newCaptureRecord();
  const ng64f = captureOf(64, true), ng1500f = captureOf(1500, true), pc64f = captureOf(64, false), pc1500f = captureOf(1500, false);
  await runSuite("capture read", [
    { name: "pcapng read 64B", bytes: READ_PACKETS * 64, setup: () => () => {
      const rd = openCaptureBytes(ng64f); while (rd.next(r)) sink ^= r.capLen + r.data[12]!;
    } },
    { name: "pcapng read 1500B", bytes: READ_PACKETS * 1500, setup: () => () => {
      const rd = openCaptureBytes(ng1500f); while (rd.next(r)) sink ^= r.capLen + r.data[12]!;
    } },
    { name: "pcap read 64B", bytes: READ_PACKETS * 64, setup: () => () => {
      const rd = openCaptureBytes(pc64f); while (rd.next(r)) sink ^= r.capLen + r.data[12]!;
    } },
    { name: "pcap read 1500B", bytes: READ_PACKETS * 1500, setup: () => () => {
      const rd = openCaptureBytes(pc1500f); while (rd.next(r)) sink ^= r.capLen + r.data[12]!;
    } },
  ]);
  for (const w of [ng64, ng1500, devnull, pc64, pc1500]) w.close();
  if (sink === 0.5) console.log(sink); // keep results observable
}
