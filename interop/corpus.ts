// The interop corpus: a seeded sample of valid frames of every kind (proptests/arbitraries.ts),
// built with core/wire/frame.ts and written both as pcap (nanosecond) and as pcapng (several
// named interfaces, direction flags, some comments). Used by corpus.test.ts.
import fc from "fast-check";
import { join } from "node:path";
import { frameKinds, validFrame } from "../proptests/arbitraries.js";
import { buildFrame, layerToJson, type Layer } from "../core/wire/frame.js";
import { FileSink, PcapWriter, PcapngWriter, EPB_INBOUND, EPB_OUTBOUND } from "../core/pcap/index.js";

export const CORPUS_SEED = 20261122;
export const INTERFACES = ["host1/eth0", "host1/docker0", "c0/eth0", "host2/vxlan0"];

export interface CorpusFrame {
  layers: Layer[];
  bytes: Uint8Array;
  /** pcapng interface index the frame was written on. */
  iface: number;
}

/** `count` frames: every kind at least count/20 times, the rest from the mixed distribution. */
export function makeCorpus(count: number, seed = CORPUS_SEED): CorpusFrame[] {
  const kinds = Object.values(frameKinds);
  const each = Math.floor(count / 20);
  const samples: Layer[][] = [];
  kinds.forEach((k, i) => samples.push(...fc.sample(k, { seed: seed + i + 1, numRuns: each })));
  samples.push(...fc.sample(validFrame, { seed, numRuns: count - samples.length }));
  return samples.map((layers, i) => ({ layers, bytes: buildFrame(layers), iface: i % INTERFACES.length }));
}

/** Virtual timestamps: frame i at i microseconds + 1 ns (exercises nanosecond resolution). */
export function timestampOf(i: number): { sec: number; nsec: number } {
  const ns = i * 1000 + 1;
  return { sec: Math.floor(ns / 1e9), nsec: ns % 1e9 };
}

export function writeCorpus(dir: string, corpus: CorpusFrame[]): { pcap: string; pcapng: string } {
  const pcap = join(dir, "corpus.pcap");
  const pcapng = join(dir, "corpus.pcapng");
  const w1 = new PcapWriter(new FileSink(pcap), { tsresol: 9 });
  const w2 = new PcapngWriter(new FileSink(pcapng));
  for (const name of INTERFACES) w2.addInterface({ name, description: `wireyard capture point ${name}` });
  corpus.forEach((f, i) => {
    const t = timestampOf(i);
    w1.writePacket(t.sec, t.nsec, f.bytes, 0, f.bytes.length);
    const flags = i % 2 ? EPB_OUTBOUND : EPB_INBOUND;
    w2.writePacket(f.iface, t.sec, t.nsec, f.bytes, 0, f.bytes.length, f.bytes.length, flags, i % 100 === 0 ? `corpus frame ${i}` : "");
  });
  w1.close();
  w2.close();
  return { pcap, pcapng };
}

export function corpusJsonl(corpus: CorpusFrame[]): string {
  return corpus.map((f) => JSON.stringify(f.layers.map(layerToJson))).join("\n") + "\n";
}
