// Acceptance: a 3-echo ping from 172.17.0.2 to 172.17.0.3 on docker0 produces exactly the frames
// Linux produces — ARP request (broadcast), ARP reply, three echo requests and three replies —
// at c2/eth0, at both bridge ports and at c3/eth0.
import { describe, expect, it } from "vitest";
import { docker0, pingC2toC3 } from "./docker0.js";
import { MemorySink, openCaptureBytes, newCaptureRecord } from "../../core/pcap/index.js";
import { printFrame } from "../../core/wire/print.js";

function pingScenario(seed = 1) {
  const sink = new MemorySink();
  const t = docker0(2, { capture: sink, seed });
  pingC2toC3(t);
  t.engine.capture!.close();
  const byPoint = new Map<string, string[]>();
  const rd = openCaptureBytes(sink.bytes());
  const r = newCaptureRecord();
  while (rd.next(r)) {
    const list = byPoint.get(r.interfaceName) ?? [];
    list.push(`${r.flags & 1 ? "in " : "out"} ${printFrame(r.data, 0, undefined, { link: true }).replace(/, ethertype [^:]*: /, ": ")}`);
    byPoint.set(r.interfaceName, list);
  }
  return { t, byPoint, bytes: sink.bytes().slice() };
}

const M2 = "02:42:ac:11:00:02", M3 = "02:42:ac:11:00:03", BC = "ff:ff:ff:ff:ff:ff";
const arpReq = `${M2} > ${BC}: Request who-has 172.17.0.3 tell 172.17.0.2, length 28`;
const arpRep = `${M3} > ${M2}: Reply 172.17.0.3 is-at ${M3}, length 28`;
const req = (n: number) => `${M2} > ${M3}: 172.17.0.2 > 172.17.0.3: ICMP echo request, id 119, seq ${n}, length 64`;
const rep = (n: number) => `${M3} > ${M2}: 172.17.0.3 > 172.17.0.2: ICMP echo reply, id 119, seq ${n}, length 64`;

describe("docker0: ping -c 3 from c2 to c3", () => {
  it("puts exactly ARP request, ARP reply, 3 requests and 3 replies at every capture point", () => {
    const { byPoint, t } = pingScenario();
    const sender = (d: [string, string]) => [`${d[0]} ${arpReq}`, `${d[1]} ${arpRep}`, ...[1, 2, 3].flatMap((n) => [`${d[0]} ${req(n)}`, `${d[1]} ${rep(n)}`])];
    // c2 sends out of its eth0; the bridge port of c2 receives what c2 sends; c3's port sends it on
    expect(byPoint.get("c2/eth0")).toEqual(sender(["out", "in "]));
    expect(byPoint.get("host/veth1a2b32")).toEqual(sender(["in ", "out"]));
    expect(byPoint.get("host/veth1a2b33")).toEqual(sender(["out", "in "]));
    expect(byPoint.get("c3/eth0")).toEqual(sender(["in ", "out"]));
    // the broadcast also went up to docker0, where it is not for the host
    expect(t.engine.errors()).toEqual([{ device: "host", reason: "arp-not-for-us", count: 1 }]);
    expect(t.engine.conservation().ok).toBe(true);
    expect(t.bridge.fdbShow()).toContain(`${M2} dev veth1a2b32 master docker0`);
  });

  it("is deterministic: the same seed gives a byte-identical capture", () => {
    expect(pingScenario(5).bytes).toEqual(pingScenario(5).bytes);
  });
});
