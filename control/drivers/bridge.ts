// The bridge driver (libnetwork drivers/bridge): a Linux bridge per network in the host
// namespace, holding the gateway address; a veth pair per endpoint, host end a bridge port, the
// other end the container's eth<N>.
//
//   network    bridge "docker0" for the daemon's default network, "br-<first 12 hex of the ID>"
//              otherwise, or com.docker.network.bridge.name; a random MAC (setupDevice); the
//              gateway as <gw>/<len>; the MTU only when given ("purely cosmetic" on the bridge)
//   endpoint   MAC: --mac-address, else by profile (classic 02:42:<ip>, modern random); host
//              end "veth<7 hex>" (Linux gives it a random MAC); both ends get the network's MTU
//   join       the container end is named eth0, eth1, ... in the sandbox; address <ip>/<len>;
//              the default route is the controller's (via the gateway endpoint)
// Ops reference bridges as "<host>/<bridge>" and enslave with the bridge's bare name: each host
// has its own docker0.
// Not built yet: hairpin mode on the bridge ports and route_localnet on the bridge when the
// userland proxy is off (Docker's setHairpinMode, setupLoopbackAddressesRouting): the Topology
// ops have no way to say them (see docs/docker-model.md).

import type { VethSpec } from "../../dataplane/topology.js";
import type { Driver } from "../cnm.js";
import { DockerError } from "../ipam.js";
import { endpointMac, randomMac, vethName } from "../mac.js";
import { formatIpv4, formatMac, parseMac } from "../../core/addr.js";

export const bridgeDriver: Driver = {
  type: "bridge",
  usesIpam: true,

  createNetwork(c, nw) {
    const o = nw.options;
    const name = o.bridgeName ?? (nw.predefined ? "docker0" : `br-${nw.id.slice(0, 12)}`);
    if (!/^[^\s/:]{1,15}$/.test(name)) throw new DockerError(`bridge name "${name}" is not a valid interface name (1-15 characters, no '/', ':' or spaces)`);
    const other = c.networks().find((n) => n.bridge === name);
    if (other) throw new DockerError(`cannot create network ${nw.id} (${name}): conflicts with network ${other.id} (${other.bridge}): networks have same bridge name`);
    if (o.mtu !== undefined && !(Number.isInteger(o.mtu) && o.mtu >= 68 && o.mtu <= 65535)) throw new DockerError(`invalid MTU ${o.mtu}: it must be an integer 68..65535`);
    nw.bridge = name;
    nw.bridgeMac = randomMac(c.rng.mac);
  },

  deleteNetwork(_c, nw) {
    nw.bridge = null;
  },

  createEndpoint(c, _nw, ep, opts) {
    if (opts.mac !== undefined) {
      let mac: number;
      try {
        mac = parseMac(opts.mac);
      } catch (e) {
        throw new DockerError(`invalid MAC address: ${(e as Error).message}`);
      }
      if (Math.floor(mac / 2 ** 40) & 1) throw new DockerError(`invalid MAC address ${opts.mac}: it is a multicast address`);
      ep.mac = mac;
    } else ep.mac = endpointMac(c.profile, ep.ip, c.rng.mac);
    ep.hostVeth = vethName(c.rng.veth, (n) => c.vethTaken(n));
    c.takeVeth(ep.hostVeth);
  },

  deleteEndpoint(c, _nw, ep) {
    if (ep.hostVeth !== null) c.releaseVeth(ep.hostVeth);
    ep.hostVeth = null;
  },

  join(_c, _nw, ep, sb) {
    ep.ifname = sb.nextIfName();
  },

  leave() {},

  renderNetwork(c, nw, out) {
    const ref = `${c.host}/${nw.bridge}`;
    out.push({ op: "bridge", ref, spec: nw.options.mtu === undefined ? { mac: formatMac(nw.bridgeMac) } : { mac: formatMac(nw.bridgeMac), mtu: nw.options.mtu } });
    out.push({ op: "addr", ref, cidr: `${formatIpv4(nw.gateway)}/${nw.subnet!.len}` });
  },

  renderEndpoint(c, nw, ep, sb, out, impair) {
    const host = `${c.host}/${ep.hostVeth}`;
    const inside = `${sb.ns}/${ep.ifname}`;
    const spec: VethSpec = { a: host, b: inside, peerMac: formatMac(ep.mac) };
    if (nw.options.mtu !== undefined) spec.mtu = nw.options.mtu;
    // a = host end: what it sends is what the container receives
    if (impair?.ingress || impair?.egress) spec.impair = { ...(impair.ingress && { ab: impair.ingress }), ...(impair.egress && { ba: impair.egress }) };
    out.push({ op: "veth", spec });
    out.push({ op: "master", ref: host, bridge: nw.bridge! });
    // userland-proxy=false: hairpin on the endpoint's port, so that a container reaching its own
    // published port gets the DNATed frame back through the port it came from (setHairpinMode)
    if (!c.userlandProxy) out.push({ op: "brport", ref: host, flags: { hairpin: true } });
    out.push({ op: "addr", ref: inside, cidr: `${formatIpv4(ep.ip)}/${nw.subnet!.len}` });
  },
};
