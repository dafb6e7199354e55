// Endpoint traffic: the UDP flow generator sending 64 flows of 64-byte frames across docker0
// (c2 -> bridge -> c3) into a FlowSink, one generator tick (64 packets) per operation: datagram
// built in the slot (headers, UDP checksum, hashed IP id), routed, ARP-cached, bridged,
// received, checksum-verified and counted.
import { runSuite, measureAllocation, reportAllocation } from "./lib.js";
import { docker0 } from "../dataplane/topologies/docker0.js";
import { FlowSink, udpFlows } from "../dataplane/endpoint/udp-flows.js";

export async function endpointBench(): Promise<void> {
  const setup = () => {
    const t = docker0(2, { slots: 4096 });
    const [c2, c3] = t.containers as [NonNullable<(typeof t.containers)[0]>, NonNullable<(typeof t.containers)[0]>];
    new FlowSink(c3, 5001);
    udpFlows(c2, { dst: 0xac110003, dport: 5001, flows: 64, pps: 1e6, count: 1e12, frameSize: 64 });
    const e = t.engine;
    e.run(1e6); // ARP resolved, FDB learned
    return () => e.run(e.clock.now + 1000);
  };
  await runSuite("endpoint", [{ name: "udp flows 64x64B docker0 gen->sink", packets: 64, setup }]);
  reportAllocation("udp flows tick of 64 packets across docker0", await measureAllocation(setup(), 100_000));
}
