// A docker0-shaped topology built with the dataplane API, as Docker's classic bridge driver lays
// it out (BEHAVIOR.md 1.3–1.5): a host namespace whose docker0 interface (172.17.0.1/16) is the
// bridge's own port; containers c2 (172.17.0.2, 02:42:ac:11:00:02) and c3 (172.17.0.3,
// 02:42:ac:11:00:03), each with eth0 on a veth whose host end is a bridge port, and a default
// route via 172.17.0.1. Used by tests, interop checks and benchmarks.

import { Engine, type EngineOptions } from "../engine/engine.js";
import { Netns } from "../netns/netns.js";
import { Bridge } from "../devices/bridge.js";
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
}

/** Docker's classic MAC for an address on docker0: 02:42 + the IPv4 bytes. */
export const dockerMac = (n: number): number => parseMac(`02:42:ac:11:00:${n.toString(16).padStart(2, "0")}`);

export function docker0(count = 2, opts: EngineOptions & { capture?: CaptureSink } = {}): Docker0 {
  const engine = new Engine({ seed: 1, ...opts });
  if (opts.capture) engine.openCapture(opts.capture);
  const bridgeMac = parseMac("02:42:5e:1a:2b:3c");
  const host = engine.add(new Netns("host"));
  const bridge = engine.add(new Bridge("docker0", { mac: bridgeMac }));
  const hostIf = host.addInterface("docker0", bridgeMac);
  engine.connect(host, hostIf, bridge, 0);
  host.addAddress("docker0", "172.17.0.1/16");
  host.ipForward = true;
  const containers: Netns[] = [];
  const ports: number[] = [];
  for (let k = 0; k < count; k++) {
    const n = k + 2;
    const c = engine.add(new Netns(`c${n}`));
    const eth0 = c.addInterface("eth0", dockerMac(n));
    c.addAddress("eth0", `172.17.0.${n}/16`);
    c.route("default via 172.17.0.1 dev eth0");
    const vethName = `veth${(0x1a2b30 + n).toString(16)}`;
    const p = bridge.addPort(vethName, { mac: parseMac(`3e:00:00:00:00:${n.toString(16).padStart(2, "0")}`) });
    engine.connect(bridge, p, c, eth0);
    if (opts.capture) {
      engine.tap(c, eth0, `c${n}/eth0`);
      engine.tap(bridge, p, `host/${vethName}`);
    }
    containers.push(c);
    ports.push(p);
  }
  return { engine, host, bridge, containers, ports };
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
