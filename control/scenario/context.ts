// What the section readers hand on to each other: the details of every valid entry, kept with
// where it stands in the file so that later checks can point at it.

import type { Cidr } from "../../core/addr.js";
import type { Reader } from "./reader.js";
import type { ContainerSpec, HostSpec, NetworkSpec, PortSpec } from "./types.js";
import type { Mark } from "./yaml.js";

export interface HostInfo {
  spec: HostSpec;
  at: Mark;
  addrAt: Mark;
  cidr: Cidr;
}

export interface NetInfo {
  spec: NetworkSpec;
  /** Where it is declared (undefined for the implicit ones). */
  at?: Mark;
  subnetAt?: Mark;
  subnet?: Cidr;
  gateway?: number;
}

export interface AttachInfo {
  network: string;
  at: Mark;
  ip?: number;
  ipAt?: Mark;
  /** Where the address was given: `...networks.<name>.ipv4_address` or `...ip`. */
  ipField?: string;
}

export interface PortInfo {
  spec: PortSpec;
  at: Mark;
  field: string;
}

export interface CtrInfo {
  spec: ContainerSpec;
  at: Mark;
  path: string;
  modeAt?: Mark;
  attaches: AttachInfo[];
  ports: PortInfo[];
}

/** What the sections read so far know: declared names, and the details of valid entries. */
export interface Ctx {
  r: Reader;
  hostNames: Map<string, Mark>;
  hosts: Map<string, HostInfo>;
  dockerHosts: string[];
  /** The hosts' shared LAN (from the first valid host). */
  underlay?: Cidr;
  networkNames: Set<string>;
  networks: Map<string, NetInfo>;
  containerNames: Map<string, Mark>;
  containers: Map<string, CtrInfo>;
}
