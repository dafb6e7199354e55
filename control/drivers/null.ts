// The null driver (network "none", `--network none`): an endpoint with no interface, no address
// and no MAC; the container's namespace holds only its loopback. One network of this driver per
// daemon (libnetwork refuses a second). Nothing to build in the dataplane beyond the namespace,
// which the controller creates for the sandbox.

import type { Driver } from "../cnm.js";
import { DockerError } from "../ipam.js";

export const nullDriver: Driver = {
  type: "null",
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
