// A docker0-shaped topology built with the Topology API, as Docker's classic bridge driver lays
// it out (BEHAVIOR.md 1.3–1.5): a host namespace whose docker0 interface (172.17.0.1/16) is the
// bridge's own port; containers c2 (172.17.0.2, 02:42:ac:11:00:02) and c3 (172.17.0.3,
// 02:42:ac:11:00:03), each with eth0 on a veth whose host end is a bridge port, and a default
// route via 172.17.0.1. Used by tests, interop checks and benchmarks, which rely on its device
// names, MACs, capture points (c2/eth0, host/veth1a2b32, c3/eth0, ...) and engine order.

import type { Engine, EngineOptions } from "../engine/engine.js";
import type { Netns } from "../netns/netns.js";
import type { Bridge } from "../devices/bridge.js";
import { Topology } from "../topology.js";
import { parseMac } from "../../core/addr.js";
import type { CaptureSink } from "../../core/pcap/index.js";
import { Timer } from "../engine/clock.js";
import { buildFrame } from "../../core/wire/frame.js";
import { ipv4, icmpEcho, raw } from "../../core/wire/layers.js";

export interface Docker0 {
  engine: Engine;
  host: Netns;
  bridge: Bridge;
  containers: Netns[];
  /** Bridge port of each container's veth host end. */
  ports: number[];
  /** The API it was built with (names: "host", "docker0", "c2", "host/veth1a2b32", "c2/eth0"). */
  topology: Topology;
}

/** Docker's classic MAC for an address on docker0: 02:42 + the IPv4 bytes. */
export const dockerMac = (n: number): number => parseMac(`02:42:ac:11:00:${n.toString(16).padStart(2, "0")}`);

export function docker0(count = 2, opts: EngineOptions & { capture?: CaptureSink } = {}): Docker0 {
  const { capture, ...engineOpts } = opts;
  const t = new Topology({ seed: 1, ...engineOpts });
  const host = t.netns("host");
  const bridge = t.bridge("host/docker0", { mac: "02:42:5e:1a:2b:3c" });
  t.addr("host/docker0", "172.17.0.1/16");
  t.sysctl("host", "net.ipv4.ip_forward", 1);
  const containers: Netns[] = [];
  const ports: number[] = [];
  const points: string[] = [];
  for (let k = 0; k < count; k++) {
    const n = k + 2;
    const hex = n.toString(16).padStart(2, "0");
    const veth = `host/veth${(0x1a2b30 + n).toString(16)}`;
    containers.push(t.netns(`c${n}`));
    t.veth({ a: veth, b: `c${n}/eth0`, mac: `3e:00:00:00:00:${hex}`, peerMac: dockerMac(n) });
    t.addr(`c${n}/eth0`, `172.17.0.${n}/16`);
    t.route(`c${n}`, "default via 172.17.0.1 dev eth0");
    ports.push(t.master(veth, "docker0"));
    points.push(`c${n}/eth0`, veth);
  }
  if (capture) t.capture(capture, points);
  return { engine: t.engine, host, bridge, containers, ports, topology: t };
}

/**
 * `ping -c COUNT 172.17.0.3` from c2: one echo a second, 56 bytes of data, id 0x77; raw-socket
 * echoes carry DF and a non-zero IP id (BEHAVIOR.md 5.1). Runs until `until` ns.
 */
export function pingC2toC3(t: Docker0, count = 3, until = 2.5e9): void {
  const c2 = t.containers[0]!;
  let seq = 0;
  const timer = new Timer("ping", () => {
    seq++;
    c2.originate(buildFrame([ipv4({ src: 0xac110002, dst: 0xac110003, protocol: 1, df: true, ident: 0x4000 + seq }), icmpEcho(8, 0x77, seq), raw(56)]));
    if (seq < count) t.engine.clock.after(timer, 1e9);
  });
  t.engine.clock.arm(timer, 0);
  t.engine.run(until);
}
