// A scenario after parsing and validation: what a scenario file (YAML, compose-like) describes,
// with every default filled in, every reference checked and every duration in nanoseconds of
// virtual time. The parser (parse.ts) and validator (validate.ts) produce it; the Docker model
// (control/) turns it into a dataplane plan (dataplane/plan.ts). Plain data only: it can be
// printed as JSON and sent to a worker thread.

/** Where a value came from in its file (1-based line and column). */
export interface SourcePos {
  file: string;
  line: number;
  col: number;
}

export type RuleProfile = "classic" | "modern";

export interface HostSpec {
  name: string;
  /** The host's address on the shared underlay LAN (its eth0), CIDR; default 192.168.1.(10+i)/24. */
  address: string;
  /** Docker daemon settings (dockerd flags). */
  userlandProxy: boolean; // --userland-proxy (default true)
  icc: boolean; // --icc (default true): the default bridge network's icc
  ipMasq: boolean; // --ip-masq (default true)
  /** false: a plain Linux machine (an external client); it has no docker0 and runs no containers. */
  docker: boolean;
}

export type NetworkDriver = "bridge" | "host" | "none";

export interface NetworkSpec {
  name: string;
  driver: NetworkDriver;
  /** The hosts it exists on (a bridge network is local to a host); default: every Docker host. */
  hosts: string[];
  /** Absent: IPAM picks from Docker's default pools. */
  subnet?: string;
  gateway?: string;
  icc: boolean; // com.docker.network.bridge.enable_icc (default true)
  ipMasq: boolean; // com.docker.network.bridge.enable_ip_masquerade (default true)
  internal: boolean; // --internal (default false)
  mtu?: number; // com.docker.network.driver.mtu
  /** com.docker.network.bridge.name; default docker0 for "bridge", br-<id> otherwise. */
  bridgeName?: string;
}

export interface PortSpec {
  /** Absent: every address (0.0.0.0). */
  hostIp?: string;
  hostPort: number;
  containerPort: number;
  proto: "tcp" | "udp";
}

export interface AttachSpec {
  network: string;
  /** Fixed address (`--ip`). */
  ip?: string;
}

export interface ContainerSpec {
  name: string;
  host: string;
  /** "bridge" (default: attached to `networks`), "host", "none", or "container:<name>". */
  mode: "bridge" | "host" | "none" | `container:${string}`;
  /** In attach order: eth0, eth1, ... (empty unless mode is "bridge"). */
  networks: AttachSpec[];
  /** Published ports, ranges expanded one entry per port. */
  ports: PortSpec[];
  /** Fixed MAC (`--mac-address`). */
  mac?: string;
}

/** netem/tbf on a container's interface. */
export interface LinkImpairSpec {
  /** `<container>` (its eth0) or `<container>/<ifname>`. */
  at: string;
  /** What the container sends (egress), what it receives (ingress), or both. */
  direction: "egress" | "ingress" | "both";
  delayNs?: number;
  jitterNs?: number;
  loss?: number; // 0..1
  duplicate?: number; // 0..1
  rateBps?: number;
  limit?: number;
}

/** A target: a container name, a host name, or an IPv4 literal; `port` where the protocol has one. */
export type TrafficSpec =
  | { type: "ping"; from: string; to: string; count: number; intervalNs: number; size: number; startNs: number }
  | { type: "udp"; from: string; to: string; port: number; flows: number; packets: number; ratePps: number; size: number; startNs: number }
  | { type: "tcp"; from: string; to: string; port: number; bytes: number; connections: number; startNs: number }
  | { type: "replay"; file: string; into: string; mode: "received" | "sent"; timing: "file" | "asap"; startNs: number };

export interface ExpectSpec {
  from: string;
  to: string;
  proto: "udp" | "tcp" | "icmp";
  port?: number;
  reachable: boolean;
}

export interface Scenario {
  /** The file it was read from (as given). */
  file: string;
  name?: string;
  seed: number;
  profile: RuleProfile;
  /** Virtual time to run; absent: until the traffic is done plus 1 s. */
  durationNs?: number;
  hosts: HostSpec[];
  /** User-defined networks plus the implicit "bridge", "host" and "none" of every Docker host. */
  networks: NetworkSpec[];
  containers: ContainerSpec[];
  links: LinkImpairSpec[];
  traffic: TrafficSpec[];
  /** `<namespace>/<ifname>` refs (a container's or host's namespace is named after it), or "all". */
  capture: string[] | "all";
  expect: ExpectSpec[];
}
