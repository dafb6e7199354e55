// Endpoint traffic, docker0 end to end: the UDP flow generator in c2 sending N flows of 64-byte
// frames across docker0 (c2 -> bridge -> c3) into a FlowSink in c3, one generator tick (N
// packets, one per flow) per operation: datagram built in the slot (payload header, UDP checksum,
// IP id as Linux picks it), routed, neighbour-resolved, Ethernet header, bridged (learn +
// forward), received (L2 filter, IPv4 header and checksum check, local delivery, socket lookup)
// and counted per flow (loss/duplicate/reorder window, one-way delay). The UDP checksum is not
// verified by the receiving socket, as Linux does for a packet a local stack built and handed
// across a veth (CHECKSUM_PARTIAL; docs/architecture.md). 64 flows is a tick smaller than a
// batch; 256 flows fills one batch (BATCH_SIZE) per tick.
import { runSuite, measureAllocation, reportAllocation } from "./lib.js";
import { docker0 } from "../dataplane/topologies/docker0.js";
import { FlowSink, udpFlows } from "../dataplane/endpoint/udp-flows.js";

export async function endpointBench(): Promise<void> {
  const sinks: { sink: FlowSink; flows: number; dropped: () => number; warm: number }[] = [];
  const setup = (flows: number) => () => {
    const t = docker0(2, { slots: 4096 });
    const [c2, c3] = t.containers as [NonNullable<(typeof t.containers)[0]>, NonNullable<(typeof t.containers)[0]>];
    const sink = new FlowSink(c3, 5001);
    udpFlows(c2, { dst: 0xac110003, dport: 5001, flows, pps: 1e6, count: 1e12, frameSize: 64 });
    const e = t.engine;
    // ARP resolved, FDB learned; the first tick's datagrams beyond the neighbour queue's limit are
    // dropped as neigh-failed while c2 resolves 172.17.0.3 (as Linux's unres_qlen does)
    e.run(1e6);
    sinks.push({ sink, flows, dropped: () => e.dropped, warm: e.dropped });
    return () => e.run(e.clock.now + 1000);
  };
  await runSuite("endpoint", [
    { name: "udp flows 64x64B docker0 gen->sink", packets: 64, setup: setup(64) },
    { name: "udp flows 256x64B docker0 gen->sink", packets: 256, setup: setup(256) },
  ]);
  reportAllocation("udp flows tick of 256 packets across docker0", await measureAllocation(setup(256)(), 100_000));
  // from warm-up on, nothing was dropped and every datagram arrived once, in order (the benchmark
  // counts delivered packets); only a first datagram lost at warm-up (above) may be missing
  for (const { sink, flows, dropped, warm } of sinks) {
    const r = sink.report();
    if (dropped() !== warm || r.length !== flows || r.some((f) => f.lost > 1 || f.duplicated !== 0 || f.reordered !== 0 || f.received === 0)) {
      throw new Error("endpoint bench: a datagram was dropped, duplicated or reordered after warm-up");
    }
  }
}
