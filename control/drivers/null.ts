// The null driver (network "none", `--network none`): an endpoint with no interface, no address
// and no MAC; the container's namespace holds only its loopback. One network of this driver per
// daemon (libnetwork refuses a second). Nothing to build in the dataplane beyond the namespace,
// which the controller creates for the sandbox.

import type { Driver } from "../cnm.js";
import { DockerError } from "../ipam.js";

/** A driver whose endpoints have no interface of their own (null, host): nothing to create or
 *  render; a fixed MAC is refused as Docker refuses it with these network modes. */
export function interfacelessDriver(type: "null" | "host"): Driver {
  return {
    type,
    usesIpam: false,
    createNetwork() {},
    deleteNetwork() {},
    createEndpoint(_c, _nw, ep, opts) {
      if (opts.mac !== undefined) throw new DockerError(`container ${ep.name}: conflicting options: mac-address and the network mode`);
    },
    deleteEndpoint() {},
    join() {},
    leave() {},
    renderNetwork() {},
    renderEndpoint() {},
  };
}

export const nullDriver: Driver = interfacelessDriver("null");
