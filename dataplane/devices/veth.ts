// connectVeth: wire two device ports the way a veth pair joins them. With no impairment the ports
// are connected directly (a plain veth costs nothing beyond the two ends); with one, a Link sits
// between them, named `veth:<a>/<ifname>-<b>/<ifname>`, `ab` impairing what a sends to b (a qdisc
// on a's interface) and `ba` the reverse.

import type { Engine } from "../engine/engine.js";
import type { Device } from "../engine/device.js";
import { Link, isImpaired, type LinkConfig } from "./link.js";

export function vethLinkName(a: Device, pa: number, b: Device, pb: number): string {
  return `veth:${a.name}/${a.portNames[pa] ?? pa}-${b.name}/${b.portNames[pb] ?? pb}`;
}

/** Connect `a`'s port `pa` to `b`'s port `pb`; returns the Link placed between them, or null. */
export function connectVeth(engine: Engine, a: Device, pa: number, b: Device, pb: number, impair?: LinkConfig): Link | null {
  if (!isImpaired(impair?.ab) && !isImpaired(impair?.ba)) {
    engine.connect(a, pa, b, pb);
    return null;
  }
  const link = engine.add(new Link(vethLinkName(a, pa, b, pb), impair));
  engine.connect(a, pa, link, 0);
  engine.connect(link, 1, b, pb);
  return link;
}
