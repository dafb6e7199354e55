// Merge of the workers' captures into one pcapng file: every worker captured the same points in
// the same order (the same interface blocks), so the file takes worker 0's interfaces and every
// worker's packets ordered by virtual timestamp; equal timestamps keep worker order, then each
// worker's own order (a k-way merge, one record held per worker). Direction flags and comments
// are kept. With one worker the file is byte for byte the one the executor writes in-thread.

import { FileSink, PcapngReader, PcapngWriter, newCaptureRecord, openCaptureBytes, type CaptureRecord } from "../../core/pcap/index.js";

export interface MergedCapture {
  file: string;
  frames: number;
  points: string[];
}

export function mergeCaptures(parts: readonly Uint8Array[], file: string): MergedCapture {
  const readers = parts.map((b, w) => openCaptureBytes(b, `worker ${w} capture`));
  const heads: (CaptureRecord | null)[] = readers.map((rd) => {
    const r = newCaptureRecord();
    return rd.next(r) ? r : null;
  });
  const first = readers[0]!;
  if (!(first instanceof PcapngReader)) throw new Error("worker 0's capture is not pcapng");
  const ifs = first.interfaces;
  const w = new PcapngWriter(new FileSink(file));
  for (const i of ifs) w.addInterface({ name: i.name, description: i.description, linkType: i.linkType, snaplen: i.snaplen });
  let frames = 0;
  for (;;) {
    let best = -1;
    for (let k = 0; k < heads.length; k++) {
      const h = heads[k];
      if (!h) continue;
      const b = best < 0 ? null : heads[best]!;
      if (!b || h.sec < b.sec || (h.sec === b.sec && h.nsec < b.nsec)) best = k;
    }
    if (best < 0) break;
    const r = heads[best]!;
    w.writePacket(r.interfaceIndex, r.sec, r.nsec, r.buf, r.off, r.capLen, r.origLen, r.flags, r.comment);
    frames++;
    if (!readers[best]!.next(r)) heads[best] = null;
  }
  w.close();
  return { file, frames, points: ifs.map((i) => i.name) };
}
