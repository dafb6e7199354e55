// The keys a scenario file may use, in one place: the readers check every mapping against them,
// and a test holds the schema to the same list.

export const ICC_OPT = "com.docker.network.bridge.enable_icc";
export const MASQ_OPT = "com.docker.network.bridge.enable_ip_masquerade";
export const MTU_OPT = "com.docker.network.driver.mtu";
export const BRIDGE_NAME_OPT = "com.docker.network.bridge.name";

/** The keys each kind of mapping accepts; docs/scenario.md and schema/scenario.schema.json list
 *  the same (a test compares the schema with these). */
export const ALLOWED_KEYS = {
  scenario: ["name", "seed", "profile", "duration", "hosts", "networks", "containers", "links", "traffic", "capture", "expect"],
  host: ["address", "userland_proxy", "icc", "ip_masq", "docker"],
  network: ["driver", "hosts", "subnet", "gateway", "internal", "options"],
  networkOptions: [ICC_OPT, MASQ_OPT, MTU_OPT, BRIDGE_NAME_OPT, "icc", "ip_masq", "mtu"],
  defaultBridge: ["driver", "subnet", "gateway", "options"],
  defaultBridgeOptions: [MTU_OPT, "mtu"],
  container: ["name", "host", "networks", "network_mode", "ports", "mac_address", "ip"],
  attachment: ["ipv4_address"],
  port: ["target", "published", "protocol", "host_ip"],
  link: ["at", "direction", "delay", "jitter", "loss", "duplicate", "rate", "limit"],
  ping: ["type", "from", "to", "count", "interval", "size", "start"],
  udp: ["type", "from", "to", "port", "flows", "packets", "rate", "size", "start"],
  tcp: ["type", "from", "to", "port", "bytes", "connections", "start"],
  replay: ["type", "file", "into", "mode", "timing", "start"],
  expect: ["from", "to", "proto", "port", "reachable"],
} as const satisfies Record<string, readonly string[]>;
