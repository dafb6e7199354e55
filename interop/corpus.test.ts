// Interop: a seeded corpus of 10,000 random valid frames of every kind, written as pcap and as
// pcapng, checked by two independent implementations:
//  - tshark (checksum validation on for IPv4, UDP, TCP; ICMP is always validated): no malformed
//    frame, no bad checksum, every decoded field equal to the Repr we emitted, interface names,
//    comments and directions of the pcapng as written;
//  - scapy, given the same Reprs, builds byte-identical frames; and frames scapy writes to a pcap
//    are read by our pcap reader and dissected to the fields scapy reports.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeCorpus, writeCorpus, corpusJsonl, INTERFACES, timestampOf, type CorpusFrame } from "./corpus.js";
import { BAD_CHECKSUM, CHECKED, MALFORMED, countMatching, expectedFields, tshark, tsharkFields } from "./tshark.js";
import { dissectFrame, layerToJson, type Layer } from "../core/wire/frame.js";
import { openCaptureFile, newCaptureRecord } from "../core/pcap/index.js";
import { WireError } from "../core/wire/error.js";

const N = Number(process.env.CORPUS_SIZE ?? 10_000);
const PY = "/usr/bin/python3";
const SCAPY = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "scapy_frames.py");

let dir: string;
let corpus: CorpusFrame[];
let files: { pcap: string; pcapng: string };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "wireyard-interop-"));
  corpus = makeCorpus(N);
  files = writeCorpus(dir, corpus);
});
afterAll(() => {
  if (process.env.KEEP_CORPUS) console.log(`corpus kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
});

describe("the corpus", () => {
  it(`has ${N} frames covering every protocol`, () => {
    expect(corpus.length).toBe(N);
    const has = (pred: (l: Layer[]) => boolean) => corpus.filter((f) => pred(f.layers)).length;
    const kinds = (l: Layer[]) => l.map((x) => x.kind).join(",");
    const coverage = {
      arp: has((l) => l.some((x) => x.kind === "arp")),
      vlan: has((l) => l.some((x) => x.kind === "eth" && x.vlan)),
      udp: has((l) => l.some((x) => x.kind === "udp")),
      tcpWithOptions: has((l) => l.some((x) => x.kind === "tcp" && x.optionsLen > 0)),
      icmpEcho: has((l) => l.some((x) => x.kind === "icmp" && (x.type === 0 || x.type === 8))),
      icmpErrorQuoting: has((l) => /icmp,ipv4,(udp|tcp|icmp)/.test(kinds(l))),
      icmpErrorTruncatedQuote: has((l) => /icmp,raw$/.test(kinds(l)) && l.some((x) => x.kind === "icmp" && x.type === 3)),
      fragNeeded: has((l) => l.some((x) => x.kind === "icmp" && x.type === 3 && x.code === 4)),
      vxlanInner: has((l) => /udp,vxlan,eth,(arp|ipv4)/.test(kinds(l))),
      ipip: has((l) => /ipv4,ipv4/.test(kinds(l))),
      ipv4Options: has((l) => l.some((x) => x.kind === "ipv4" && x.optionsLen > 0)),
      fragments: has((l) => l.some((x) => x.kind === "ipv4" && (x.mf || x.fragOffset > 0))),
    };
    console.log("corpus coverage", coverage);
    for (const [k, v] of Object.entries(coverage)) expect(v, k).toBeGreaterThanOrEqual(50);
  });
});

describe("tshark", () => {
  for (const kind of ["pcap", "pcapng"] as const) {
    it(`reads the ${kind} file: every frame, 0 malformed, 0 bad checksums`, () => {
      const f = files[kind];
      const total = tshark(["-r", f, "-T", "fields", "-e", "frame.number"]).split("\n").filter(Boolean).length;
      expect(total).toBe(N);
      expect(countMatching(f, MALFORMED)).toEqual([]);
      expect(countMatching(f, BAD_CHECKSUM)).toEqual([]);
      // the checks really ran: every frame with an IPv4 header had a checksum validated as good
      const withIpv4 = corpus.filter((c) => c.layers.some((l) => l.kind === "ipv4")).length;
      expect(countMatching(f, CHECKED).length).toBe(withIpv4);
    });
  }

  it("decodes every frame to the fields of the Reprs we emitted", () => {
    const got = tsharkFields(files.pcapng, ["frame.interface_name", "frame.comment", "frame.packet_flags_direction", "frame.time_epoch"]);
    expect(got.length).toBe(N);
    const mismatches: string[] = [];
    corpus.forEach((f, i) => {
      const want = expectedFields(f.layers);
      // A quote truncated to 548 bytes is raw to us; tshark also decodes the headers inside it.
      const prefixOnly = f.layers.some((l, j) => l.kind === "icmp" && f.layers[j + 1]?.kind === "raw" && l.type !== 0 && l.type !== 8);
      for (const [field, values] of want) {
        const seen = got[i]!.get(field) ?? [];
        const ok = prefixOnly ? values.every((v, k) => seen[k] === v) : values.join("|") === seen.join("|");
        if (!ok) mismatches.push(`frame ${i + 1} ${field}: want ${values.join("|")} got ${seen.join("|")}`);
      }
      for (const [field, seen] of got[i]!) {
        if (!want.has(field) && seen.length && !prefixOnly && !field.startsWith("frame.")) mismatches.push(`frame ${i + 1} ${field}: unexpected ${seen.join("|")}`);
      }
      const g = got[i]!;
      if (g.get("frame.interface_name")![0] !== INTERFACES[f.iface]) mismatches.push(`frame ${i + 1}: interface ${g.get("frame.interface_name")}`);
      const dir = i % 2 ? "0x00000002" : "0x00000001";
      if (g.get("frame.packet_flags_direction")![0] !== dir) mismatches.push(`frame ${i + 1}: direction ${g.get("frame.packet_flags_direction")}`);
      const comment = (g.get("frame.comment") ?? []).join("|");
      if (comment !== (i % 100 === 0 ? `corpus frame ${i}` : "")) mismatches.push(`frame ${i + 1}: comment ${comment}`);
      const t = timestampOf(i);
      if (g.get("frame.time_epoch")![0] !== `${t.sec}.${String(t.nsec).padStart(9, "0")}`) mismatches.push(`frame ${i + 1}: time ${g.get("frame.time_epoch")}`);
    });
    expect(mismatches.slice(0, 20)).toEqual([]);
  });

  it("lists the pcapng interface names wireyard wrote", () => {
    const out = tshark(["-r", files.pcapng, "-T", "fields", "-e", "frame.interface_name"]);
    expect([...new Set(out.split("\n").filter(Boolean))].sort()).toEqual([...INTERFACES].sort());
    const stats = execFileSync("capinfos", [files.pcapng], { encoding: "utf8" });
    for (const name of INTERFACES) expect(stats).toContain(name);
  });
});

describe("scapy", () => {
  it("builds byte-identical frames from the same Reprs (100%)", () => {
    const specs = join(dir, "specs.jsonl");
    const out = join(dir, "scapy.hex");
    writeFileSync(specs, corpusJsonl(corpus));
    execFileSync(PY, [SCAPY, "build", specs, out], { stdio: "inherit" });
    const lines = readFileSync(out, "utf8").split("\n").filter(Boolean);
    expect(lines.length).toBe(N);
    const differ: string[] = [];
    corpus.forEach((f, i) => {
      const ours = Buffer.from(f.bytes).toString("hex");
      if (lines[i] !== ours) differ.push(`frame ${i + 1}: ${JSON.stringify(f.layers.map(layerToJson))}\n ours  ${ours}\n scapy ${lines[i]}`);
    });
    expect(differ.slice(0, 5)).toEqual([]);
  });

  it("writes a pcap that our reader reads and our dissector parses to scapy's fields", () => {
    const specs = join(dir, "specs.jsonl");
    writeFileSync(specs, corpusJsonl(corpus));
    const pcap = join(dir, "scapy.pcap");
    const report = join(dir, "scapy-report.jsonl");
    execFileSync(PY, [SCAPY, "write", specs, pcap, report], { stdio: "inherit" });
    const theirs = readFileSync(report, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>[]);
    const rd = openCaptureFile(pcap);
    const rec = newCaptureRecord();
    const differ: string[] = [];
    let i = 0;
    while (rd.next(rec)) {
      const d = dissectFrame(rec.data);
      if (d.error !== WireError.OK) differ.push(`frame ${i + 1}: ${d.errorLayer} ${d.error}`);
      const ours = toScapyView(d.layers);
      if (JSON.stringify(ours) !== JSON.stringify(theirs[i])) differ.push(`frame ${i + 1}:\n ours  ${JSON.stringify(ours)}\n scapy ${JSON.stringify(theirs[i])}`);
      i++;
    }
    expect(i).toBe(N);
    expect(differ.slice(0, 5)).toEqual([]);
  });
});

/** Our layers in the form scapy_frames.py reports (scapy merges 802.1Q into its own layer; ICMP bytes 4-7 as hex). */
function toScapyView(layers: Layer[]): Record<string, unknown>[] {
  return layers.map((l) => {
    const j = layerToJson(l);
    if (l.kind === "icmp") {
      const w = l.type === 0 || l.type === 8 ? ((l.ident << 16) | l.seq) >>> 0 : l.type === 3 && l.code === 4 ? (l.rest | l.mtu) >>> 0 : l.rest;
      return { kind: "icmp", type: l.type, code: l.code, rest4: w.toString(16).padStart(8, "0"), payloadLen: l.payloadLen };
    }
    return j;
  });
}
