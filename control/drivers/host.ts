// The host driver (network "host", `--network host`): the container's endpoint joins the host's
// own sandbox, so the container sees the host's interfaces, addresses and routes and has none of
// its own. One network of this driver per daemon. Nothing to build in the dataplane: the host
// namespace exists already. Published ports are discarded in this mode (Docker warns), so the
// controller never binds any (a host-network endpoint is never a gateway endpoint).

import type { Driver } from "../cnm.js";
import { interfacelessDriver } from "./null.js";

export const hostDriver: Driver = interfacelessDriver("host");
