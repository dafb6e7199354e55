// `wireyard decode FILE [-e] [-c N]`: print a pcap or pcapng capture one line per frame, as
// `tcpdump -n -S -tt -r` does (with the capture point and direction from pcapng), streaming so
// that files larger than memory work.
import { openCaptureFile, newCaptureRecord, CaptureFormatError, EPB_DIR_MASK, EPB_INBOUND, EPB_OUTBOUND, LINKTYPE_ETHERNET } from "../core/pcap/index.js";
import { printFrame } from "../core/wire/print.js";

export interface DecodeOptions {
  link: boolean;
  count: number;
}

export function formatTimestamp(sec: number, nsec: number): string {
  return `${sec}.${String(nsec).padStart(9, "0")}`;
}

function direction(flags: number): string {
  const d = flags & EPB_DIR_MASK;
  return d === EPB_INBOUND ? " In " : d === EPB_OUTBOUND ? " Out" : "";
}

/** Print the capture; returns the number of frames printed. Throws CaptureFormatError on a bad file. */
export function decodeCapture(path: string, opts: DecodeOptions, out: (line: string) => void): number {
  const rd = openCaptureFile(path);
  const rec = newCaptureRecord();
  let n = 0;
  try {
    while (n < opts.count && rd.next(rec)) {
      const where = rec.interfaceName ? ` ${rec.interfaceName}${direction(rec.flags)}` : "";
      const body = rec.linkType === LINKTYPE_ETHERNET ? printFrame(rec.buf, rec.off, rec.capLen, { link: opts.link }) : `link type ${rec.linkType}, length ${rec.capLen}`;
      const cut = rec.capLen < rec.origLen ? ` [|${rec.origLen - rec.capLen} bytes not captured]` : "";
      out(`${formatTimestamp(rec.sec, rec.nsec)}${where} ${body}${cut}`);
      n++;
    }
  } finally {
    rd.close();
  }
  return n;
}

export { CaptureFormatError };
