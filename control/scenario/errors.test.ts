// Malformed scenarios and the exact error each gives: file, line, column, field and reason.
// Together they are the reference of what the parser refuses and how it says so.

import { describe, expect, it } from "vitest";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ScenarioError, parseScenario } from "./parse.js";

const fixtures = join(dirname(fileURLToPath(import.meta.url)), "fixtures");
const file = join(fixtures, "bad.yaml");

/** [what is wrong, the scenario's lines, the error after "<file>:"]. */
const corpus: [string, string[], string][] = [
  ['an empty file', ['# nothing here', ''], '1:1: (top level): the file is empty (a scenario is a mapping with the keys name, seed, profile, duration, hosts, networks, containers, links, traffic, capture, expect)'],
  ['a top level that is a list', ['- containers'], '1:1: (top level): the top level must be a mapping with the keys name, seed, profile, duration, hosts, networks, containers, links, traffic, capture, expect; found a list'],
  ['a top level that is text', ['just text'], '1:1: (top level): the top level must be a mapping with the keys name, seed, profile, duration, hosts, networks, containers, links, traffic, capture, expect; found the string "just text"'],
  ['a misspelt section', ['containres:', '  web: {}'], '1:1: containres: unknown key "containres" (did you mean "containers"? allowed: name, seed, profile, duration, hosts, networks, containers, links, traffic, capture, expect)'],
  ['a misspelt container key', ['containers:', '  web: {prots: ["80:80"]}'], '2:9: containers.web.prots: unknown key "prots" (did you mean "ports"? allowed: name, host, networks, network_mode, ports, mac_address, ip)'],
  ['a seed that is not a number', ['seed: abc'], '1:7: seed: expected an integer ≥ 0, found the string "abc"'],
  ['a negative seed', ['seed: -3'], '1:7: seed: -3 is out of range (allowed: ≥ 0)'],
  ['a quoted number', ['seed: "42"'], '1:7: seed: expected an integer ≥ 0, found the string "42" (remove the quotes)'],
  ['an unknown profile', ['profile: modrn'], '1:10: profile: unknown profile "modrn" (did you mean "modern"? allowed: classic, modern)'],
  ['a duration without a unit', ['duration: 5'], '1:11: duration: 5 needs a unit (expected a number and a unit: ns, us, ms, s or m, e.g. "10ms", "1.5s")'],
  ['a duration with a word for a unit', ['duration: 5 sec'], '1:11: duration: bad duration "5 sec" (expected a number and a unit: ns, us, ms, s or m, e.g. "10ms", "1.5s")'],
  ['no hosts', ['hosts: {}'], '1:8: hosts: at least one host is needed (or leave "hosts" out for one Docker host named "host")'],
  ['a bad host address', ['hosts:', '  h1: {address: 10.0.0/24}'], '2:17: hosts.h1.address: bad CIDR "10.0.0/24": "10.0.0": an IPv4 address has 4 dot-separated parts, found 3 (expected ADDRESS/PREFIX, e.g. "192.168.1.10/24")'],
  ['a host address without a prefix', ['hosts:', '  h1: {address: 10.0.0.5}'], '2:17: hosts.h1.address: "10.0.0.5" has no prefix length (expected ADDRESS/PREFIX, e.g. "192.168.1.10/24")'],
  ['a host at its LAN\'s network address', ['hosts:', '  h1: {address: 10.0.0.0/24}'], '2:17: hosts.h1.address: 10.0.0.0/24 is the network address of 10.0.0.0/24 (allowed: 10.0.0.1..10.0.0.254)'],
  ['a default host address taken by another host', ['hosts:', '  a: {address: 192.168.1.11/24}', '  b:'], '3:3: hosts.b.address: the default address 192.168.1.11/24 is already used by host "a" (line 2); give this host an address'],
  ['hosts on different subnets', ['hosts:', '  a: {address: 192.168.1.10/24}', '  b: {address: 192.168.2.10/24}'], '3:16: hosts.b.address: 192.168.2.10/24 is not on the hosts\' LAN 192.168.1.0/24 (of host "a"); all hosts share one subnet'],
  ['daemon settings on a machine without Docker', ['hosts:', '  h1:', '  client: {docker: false, icc: false}'], '3:27: hosts.client.icc: "icc" is a Docker daemon setting, and this host has docker: false'],
  ['the overlay driver', ['networks:', '  ov: {driver: overlay}'], '2:16: networks.ov.driver: driver "overlay" is not available yet (available: bridge)'],
  ['an unknown driver', ['networks:', '  n: {driver: macvtap}'], '2:15: networks.n.driver: unknown driver "macvtap" (available: bridge)'],
  ['configuring the host network', ['networks:', '  host: {subnet: 10.0.0.0/24}'], '2:3: networks.host: network "host" is predefined and cannot be configured (only "bridge" can be: subnet, gateway, mtu)'],
  ['a network on an undefined host', ['hosts: {h1: , h2: }', 'networks:', '  n: {hosts: [h1, h3]}'], '3:19: networks.n.hosts[1]: host "h3" is not defined (did you mean "h1"? defined: h1, h2)'],
  ['a network on a machine without Docker', ['hosts: {h1: , c: {docker: false}}', 'networks:', '  n: {hosts: [c]}'], '3:15: networks.n.hosts[0]: host "c" has docker: false and cannot run a network (Docker hosts: h1)'],
  ['a subnet with host bits', ['networks:', '  n: {subnet: 172.20.0.5/16}'], '2:15: networks.n.subnet: invalid subnet 172.20.0.5/16: it should be 172.20.0.0/16 (no host bits, as Docker requires)'],
  ['a subnet overlapping docker0', ['networks:', '  n: {subnet: 172.17.128.0/24}'], '2:15: networks.n.subnet: subnet 172.17.128.0/24 overlaps 172.17.0.0/16 of the default network "bridge" (docker0) on host "host" (Docker: Pool overlaps with other one on this address space)'],
  ['overlapping subnets', ['networks:', '  a: {subnet: 10.1.0.0/16}', '  b: {subnet: 10.1.2.0/24}'], '3:15: networks.b.subnet: subnet 10.1.2.0/24 overlaps 10.1.0.0/16 of network "a" on host "host" (Docker: Pool overlaps with other one on this address space)'],
  ['a subnet overlapping the LAN', ['networks:', '  a: {subnet: 192.168.0.0/16}'], '2:15: networks.a.subnet: subnet 192.168.0.0/16 overlaps the hosts\' LAN 192.168.1.0/24'],
  ['a gateway outside its subnet', ['networks:', '  a: {subnet: 10.1.0.0/24, gateway: 10.1.1.1}'], '2:37: networks.a.gateway: gateway 10.1.1.1 is outside the subnet 10.1.0.0/24 (allowed: 10.1.0.1..10.1.0.254)'],
  ['a gateway at the broadcast address', ['networks:', '  a: {subnet: 10.1.0.0/24, gateway: 10.1.0.255}'], '2:37: networks.a.gateway: gateway 10.1.0.255 is the broadcast address of 10.1.0.0/24 (allowed: 10.1.0.1..10.1.0.254)'],
  ['a gateway without a subnet', ['networks:', '  a: {gateway: 10.1.0.1}'], '2:16: networks.a.gateway: a gateway needs a subnet (Docker: every ip-range or gateway must have a corresponding subnet)'],
  ['an option under both of its names', ['networks:', '  a:', '    options:', '      icc: false', '      com.docker.network.bridge.enable_icc: "true"'], '5:7: networks.a.options["com.docker.network.bridge.enable_icc"]: given twice: as "icc" and as "com.docker.network.bridge.enable_icc" (they are the same option)'],
  ['an MTU too small', ['networks:', '  a: {options: {mtu: "40"}}'], '2:22: networks.a.options.mtu: 40 is out of range (allowed: 68..65535)'],
  ['a bridge name longer than IFNAMSIZ', ['networks:', '  a: {options: {com.docker.network.bridge.name: br-a-very-long-name}}'], '2:49: networks.a.options["com.docker.network.bridge.name"]: invalid bridge name "br-a-very-long-name" (a Linux interface name: 1 to 15 characters, no "/", ":" or blanks)'],
  ['icc on the default bridge', ['networks:', '  bridge: {options: {icc: false}}'], '2:22: networks.bridge.options.icc: unknown key "icc" (set icc on the hosts (hosts.<name>.icc, dockerd --icc); allowed: com.docker.network.driver.mtu, mtu)'],
  ['an undefined network', ['networks: {backend: {}}', 'containers:', '  web: {networks: [frontend]}'], '3:20: containers.web.networks[0]: network "frontend" is not defined (defined: bridge, backend)'],
  ['a network absent from the container\'s host', ['hosts: {h1: , h2: }', 'networks: {back: {hosts: [h1]}}', 'containers:', '  web: {host: h2, networks: [back]}'], '4:30: containers.web.networks[0]: network "back" does not exist on host "h2" (it is on: h1)'],
  ['no host with several Docker hosts', ['hosts: {h1: , h2: }', 'containers:', '  web: {}'], '3:3: containers.web.host: missing required key "host" (there are several Docker hosts: h1, h2)'],
  ['a container on a machine without Docker', ['hosts: {h1: , client: {docker: false}}', 'containers:', '  web: {host: client}'], '3:15: containers.web.host: host "client" has docker: false and cannot run containers (Docker hosts: h1)'],
  ['a misspelt host', ['hosts: {host1: , host2: }', 'containers:', '  web: {host: hots1}'], '3:15: containers.web.host: host "hots1" is not defined (did you mean "host1"? defined: host1, host2)'],
  ['two containers with one name', ['containers:', '  web: {}', '  web2: {name: web}'], '3:16: containers.web2.name: duplicate container name "web" (also the container at line 2)'],
  ['a container named like a host', ['hosts: {web: }', 'containers:', '  web: {}'], '3:3: containers.web: container name "web" is also a host\'s name (network namespaces are named after hosts and containers)'],
  ['a one-letter container name', ['containers:', '  w: {}'], '2:3: containers.w: invalid container name "w" (Docker: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least 2 characters)'],
  ['network_mode with networks', ['containers:', '  web: {networks: [bridge], network_mode: host}'], '2:29: containers.web.network_mode: network_mode and networks are mutually exclusive (as in compose); with network_mode "host" drop networks (line 2)'],
  ['compose\'s service: mode', ['containers:', '  web: {network_mode: service:db}'], '2:23: containers.web.network_mode: unknown network_mode "service:db" (compose\'s service:<name> is written container:<name> here; allowed: bridge, host, none, container:<name>)'],
  ['joining its own namespace', ['containers:', '  web: {network_mode: "container:web"}'], '2:23: containers.web.network_mode: network_mode "container:web": a container cannot join its own network namespace'],
  ['joining an undefined container', ['containers:', '  web: {network_mode: "container:dbb"}', '  db: {}'], '2:23: containers.web.network_mode: container "dbb" is not defined (did you mean "db"? defined: web, db)'],
  ['joining a container on another host', ['hosts: {h1: , h2: }', 'containers:', '  app: {host: h1}', '  side: {host: h2, network_mode: "container:app"}'], '4:34: containers.side.network_mode: container "app" runs on host "h1", not on "h2" (a network namespace can only be shared on one host)'],
  ['ports in host mode', ['containers:', '  web: {network_mode: host, ports: ["80:80"]}'], '2:29: containers.web.ports: ports cannot be used with network_mode "host" (the container uses the host\'s network stack; Docker: conflicting options)'],
  ['a port mapping with too many parts', ['containers:', '  web: {ports: ["80:80:80:80"]}'], '2:17: containers.web.ports[0]: bad port mapping "80:80:80:80" (expected [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO], e.g. "8080:80", "127.0.0.1:5353:53/udp" or "9000-9002:9000-9002")'],
  ['port 0', ['containers:', '  web: {ports: ["8080:0"]}'], '2:17: containers.web.ports[0]: port 0 in "8080:0" is out of range (allowed: 1..65535)'],
  ['ranges of different lengths', ['containers:', '  web: {ports: ["9000-9002:80-81"]}'], '2:17: containers.web.ports[0]: "9000-9002:80-81": the host range has 3 port(s) but the container range 2; they must be the same length'],
  ['a port published twice', ['containers:', '  web: {ports: ["127.0.0.1:8080:80"]}', '  api: {ports: ["8080:80"]}'], '3:17: containers.api.ports[0]: host port 8080/tcp is already published on 127.0.0.1 of host "host" by container "web" (line 2); 0.0.0.0 covers every address (Docker: Bind for 0.0.0.0:8080 failed: port is already allocated)'],
  ['a port without a host port', ['containers:', '  web: {ports: ["80"]}'], '2:17: containers.web.ports[0]: "80" has no host port: ephemeral host ports are not supported (write "HOST:CONTAINER", e.g. "8080:80")'],
  ['sctp', ['containers:', '  web: {ports: ["80:80/sctp"]}'], '2:17: containers.web.ports[0]: unknown protocol "sctp" in "80:80/sctp" (sctp is not supported; allowed: tcp, udp)'],
  ['a host address the host does not have', ['containers:', '  web: {ports: ["10.9.9.9:80:80"]}'], '2:17: containers.web.ports[0]: host address 10.9.9.9 is not an address of host "host" (allowed: 0.0.0.0, 127.0.0.0/8, 192.168.1.10, 172.17.0.1)'],
  ['ports not written as a list', ['containers:', '  web: {ports: "8080:80"}'], '2:16: containers.web.ports: expected a list of port mappings, found the string "8080:80" (write a list: ["8080:80"])'],
  ['a fixed address outside the subnet', ['networks: {n: {subnet: 10.5.0.0/24}}', 'containers:', '  web: {networks: {n: {ipv4_address: 10.5.1.2}}}'], '3:38: containers.web.networks.n.ipv4_address: address 10.5.1.2 is outside the subnet 10.5.0.0/24 of network "n" (allowed: 10.5.0.2..10.5.0.254)'],
  ['a fixed address at the gateway', ['networks: {n: {subnet: 10.5.0.0/24}}', 'containers:', '  web: {networks: [n], ip: 10.5.0.1}'], '3:28: containers.web.ip: address 10.5.0.1 is the gateway of network "n" (allowed: 10.5.0.2..10.5.0.254)'],
  ['a fixed address used twice', ['networks: {n: {subnet: 10.5.0.0/24}}', 'containers:', '  a1: {networks: [n], ip: 10.5.0.9}', '  a2: {networks: {n: {ipv4_address: 10.5.0.9}}}'], '4:37: containers.a2.networks.n.ipv4_address: address 10.5.0.9 on network "n" is already used by container "a1" (line 3) (Docker: Address already in use)'],
  ['a fixed address on a network without a subnet', ['networks: {n: {}}', 'containers:', '  web: {networks: [n], ip: 172.18.0.5}'], '3:28: containers.web.ip: user specified IP address is supported only when connecting to networks with user configured subnets (Docker); give network "n" a subnet'],
  ['a fixed address on the default bridge', ['containers:', '  web: {ip: 172.17.0.5}'], '2:13: containers.web.ip: user specified IP address is supported on user defined networks only (Docker); address 172.17.0.5 on the default bridge'],
  ['a MAC with 5 bytes', ['containers:', '  web: {mac_address: 02:42:ac:11:00}'], '2:22: containers.web.mac_address: bad MAC address "02:42:ac:11:00": a MAC address has 6 hex bytes separated by \':\', found 5 part(s)'],
  ['a multicast MAC', ['containers:', '  web: {mac_address: "03:00:00:00:00:01"}'], '2:22: containers.web.mac_address: 03:00:00:00:00:01 is a multicast address (the lowest bit of its first byte is set); a container needs a unicast MAC such as 02:42:ac:11:00:09'],
  ['an impairment on an undefined container', ['containers: {web: {}}', 'links:', '  - {at: wbe, delay: 10ms}'], '3:10: links[0].at: container "wbe" is not defined (did you mean "web"? defined: web)'],
  ['an impairment on a host', ['containers: {web: {}}', 'links:', '  - {at: host, delay: 10ms}'], '3:10: links[0].at: "host" is a host; impairments apply to a container\'s interface (containers: web)'],
  ['an impairment on an interface the container lacks', ['containers: {web: {}}', 'links:', '  - {at: web/eth1, delay: 10ms}'], '3:10: links[0].at: container "web" has no interface "eth1" (it has: eth0)'],
  ['jitter without delay', ['containers: {web: {}}', 'links:', '  - {at: web, jitter: 1ms, loss: 1%}'], '3:15: links[0].jitter: jitter needs a delay (as in tc netem: delay TIME JITTER)'],
  ['a rate in bytes', ['containers: {web: {}}', 'links:', '  - {at: web, rate: 10mbps}'], '3:21: links[0].rate: bad rate "10mbps": tc reads mbps as bytes per second; write bits, e.g. "80mbit" (units: bit, kbit, mbit, gbit, tbit)'],
  ['loss 5 meaning 5%', ['containers: {web: {}}', 'links:', '  - {at: web, loss: 5}'], '3:21: links[0].loss: 5 is not a fraction 0..1 (expected a percentage such as "1%" or "0.5%", or a fraction 0..1; write "5%" for 5 percent)'],
  ['loss over 100%', ['containers: {web: {}}', 'links:', '  - {at: web, loss: 150%}'], '3:21: links[0].loss: 150% is more than 100%'],
  ['an impairment without an effect', ['containers: {web: {}}', 'links:', '  - {at: web, direction: both}'], '3:5: links[0]: an impairment needs at least one of delay, loss, duplicate, rate'],
  ['two impairments on one interface and direction', ['containers: {web: {}}', 'links:', '  - {at: web, delay: 1ms}', '  - {at: web/eth0, direction: both, loss: 1%}'], '4:5: links[1]: web/eth0 (both) is already impaired by the entry at line 3 (egress); one entry per interface and direction'],
  ['traffic without a type', ['traffic:', '  - {from: host, to: host}'], '2:5: traffic[0].type: missing required key "type" (one of ping, udp, tcp, replay)'],
  ['an unknown traffic type', ['traffic:', '  - {type: http, from: host, to: host}'], '2:12: traffic[0].type: unknown traffic type "http" (allowed: ping, udp, tcp, replay)'],
  ['traffic from an undefined name', ['containers: {web: {}}', 'traffic:', '  - {type: ping, from: wbe, to: host}'], '3:24: traffic[0].from: "wbe" is not a container or host (did you mean "web"? containers: web; hosts: host)'],
  ['udp without a port', ['traffic:', '  - {type: udp, from: host, to: 10.0.0.1}'], '2:5: traffic[0].port: missing required key "port" (udp needs the destination port 1..65535)'],
  ['ping with a port', ['traffic:', '  - {type: ping, from: host, to: host, port: 80}'], '2:40: traffic[0].port: unknown key "port" (ping has no port: ICMP echo; allowed: type, from, to, count, interval, size, start)'],
  ['a bad IPv4 target', ['traffic:', '  - {type: ping, from: host, to: 10.0.0.300}'], '2:34: traffic[0].to: bad IPv4 address "10.0.0.300": part 4 (300) must be 0..255'],
  ['replay into a bare name', ['traffic:', '  - {type: replay, file: trace.pcapng, into: host}'], '2:46: traffic[0].into: "host" is not <namespace>/<ifname> (e.g. "web/eth0" or "host1/docker0")'],
  ['replay of a missing file', ['traffic:', '  - {type: replay, file: missing.pcap, into: host/eth0}'], `2:26: traffic[0].file: file "missing.pcap" not found (looked for ${fixtures}/missing.pcap; paths are relative to the scenario file's directory)`],
  ['a capture in an undefined namespace', ['capture: [web/eth0]'], '1:11: capture[0]: namespace "web" is not a container or host (containers: none; hosts: host)'],
  ['a capture in a host-mode container', ['containers: {web: {network_mode: host}}', 'capture: [web/eth0]'], '2:11: capture[0]: container "web" has network_mode host and no network namespace of its own (it uses host "host"\'s)'],
  ['a capture that is neither all nor a list', ['capture: everything'], '1:10: capture: expected "all" or a list of <namespace>/<ifname>, found the string "everything"'],
  ['an icmp expectation with a port', ['expect:', '  - {from: host, to: host, proto: icmp, port: 1}'], '2:41: expect[0].port: icmp has no port; remove it'],
  ['an unknown expectation protocol', ['expect:', '  - {from: host, to: host, proto: sctp}'], '2:35: expect[0].proto: unknown protocol "sctp" (allowed: udp, tcp, icmp)'],
  ['a tab in indentation', ['containers:', '\tweb: {}'], '2:1: containers: tab character in indentation (YAML indents with spaces only)'],
  ['a duplicate key', ['containers:', '  web: {}', '  web: {}'], '3:3: containers.web: duplicate key "web" (first at line 2, column 3); each key may appear once'],
  ['an anchor', ['containers:', '  web: &w {}', '  api: *w'], '2:8: containers.web: anchors (&name) are not supported; repeat the value instead'],
  ['two documents', ['name: a', '---', 'name: b'], '2:1: (top level): multiple documents (---) are not supported: a scenario file holds one document'],
  ['bad indentation', ['containers:', '  web:', '    host: host', '   ports: []'], '4:4: containers: bad indentation: 3 spaces, expected 2 spaces (like "web" at line 2)'],
  ['an unterminated string', ['name: "demo'], '1:7: name: unterminated string: no closing " on this line (quoted strings must end on the line they start)'],
  ['a quoted boolean', ['networks:', '  n: {internal: "false"}'], '2:17: networks.n.internal: expected true or false, found the string "false" (remove the quotes)'],
  ['a key glued to its value', ['traffic:', '  - {type:ping, from: host, to: host}'], '2:6: traffic[0]["type:ping"]: unknown key "type:ping" (write "type: ping", with a blank after the colon)'],
  ['a ping count of 0', ['traffic:', '  - {type: ping, from: host, to: host, count: 0}'], '2:47: traffic[0].count: 0 is out of range (allowed: ≥ 1)'],
  ['more flows than ephemeral ports', ['traffic:', '  - {type: udp, from: host, to: host, port: 1, flows: 30000}'], '2:55: traffic[0].flows: 30000 is out of range (allowed: 1..28232)'],
  ['a udp frame too small', ['traffic:', '  - {type: udp, from: host, to: host, port: 1, size: 40}'], '2:54: traffic[0].size: 40 is out of range (allowed: 62..65549)'],
  ['a udp frame to a DNS port too small for its query', ['traffic:', '  - {type: udp, from: host, to: host, port: 53, size: 64}'], '2:55: traffic[0].size: 64 is too small for port 53: its flows carry a DNS query ahead of the flow header (allowed: 82..65549)'],
  ['namespaces joined in a circle', ['containers:', '  a1: {network_mode: "container:b1"}', '  b1: {network_mode: "container:a1"}'], '2:22: containers.a1.network_mode: network_mode joins go round in a circle: a1 → b1 → a1'],
  ['a network listed twice', ['containers:', '  web: {networks: [bridge, bridge]}'], '2:28: containers.web.networks[1]: network "bridge" is listed twice'],
  ['the host network in networks', ['containers:', '  web: {networks: [host]}'], '2:20: containers.web.networks[0]: network "host" cannot be listed in networks; use network_mode: host'],
  ['host settings that are a list', ['hosts:', '  h1: [a]'], '2:7: hosts.h1: expected a mapping of host settings (keys: address, userland_proxy, icc, ip_masq, docker), found a list'],
];

describe("malformed scenarios", () => {
  it("are at least 40", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(40);
  });

  it.each(corpus)("%s", (_what, lines, expected) => {
    let error: unknown;
    try {
      parseScenario(lines.join("\n") + "\n", file);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ScenarioError);
    const e = error as ScenarioError;
    expect(e.message).toBe(`${file}:${expected}`);
    expect(`${e.line}:${e.col}: ${e.field}: ${e.reason}`).toBe(expected);
    expect(e.file).toBe(file);
  });
});
