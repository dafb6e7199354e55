// Docker's iptables rules for bridge networks (IPv4), as a Ruleset (rules.ts) or iptables-save
// text, for the two profiles of BEHAVIOR.md: "classic" (Docker <= v27, §1.9) and "current"
// (v28.x/v29 layout as in v29, §1.10). The Docker model calls it with the daemon's options and its
// networks in creation order, each with its containers in start order:
//
//   dockerRules({ profile: "classic", userlandProxy: true, networks: [{ bridge: "docker0",
//     subnet: "172.17.0.0/16", containers: [{ ip: "172.17.0.2", ports: [{ hostPort: 8080,
//     containerPort: 80, proto: "tcp" }] }] }] })            -> Ruleset
//   dockerRulesText(spec, formatOptions?)                        -> iptables-save text
//
// The order of rules is what Docker's own sequence of `iptables -I` (insert at the head) and
// `iptables -A` (append, skipped when the rule exists: Docker checks with `iptables -C`) produces;
// this file replays that sequence with Docker's argument lists, and the parser canonicalises them
// as iptables does. Sources (moby): v27 libnetwork/drivers/bridge/setup_ip_tables_linux.go
// (setupIPChains, setupIPTablesInternal, setIcc, setINC, setupInternalNetworkRules),
// libnetwork/iptables/iptables.go (ProgramChain, EnsureJumpRule, AddReturnRule),
// port_mapping_linux.go (setPerPortNAT, setPerPortForwarding), firewall_linux.go
// (setupUserChain); v29 daemon/libnetwork/drivers/bridge/internal/iptabler (golden files
// TestIptabler/*.golden and the generated docs integration/network/bridge/iptablesdoc).
//
// Daemon start (both): the chains; classic appends `-j RETURN` to both isolation chains, current
// adds the nat PREROUTING/OUTPUT jumps and DOCKER-FORWARD's three jumps (each inserted at the
// head, so CT, INTERNAL, BRIDGE). DOCKER-USER is created and its jump kept at the top of FORWARD
// (classic also gives it `-j RETURN`). Per network, then per container (endpoint, then its port
// bindings) — see classicNetwork/currentNetwork and the port functions below.
//
// Not modelled: IPv6 (ip6tables), SCTP bindings (they need the sctp match and a mangle CHECKSUM
// rule), gateway modes other than nat (routed, nat-unprotected), a network's host_ipv4 SNAT
// address, WSL2 rules, docker-proxy's own sockets, removal of networks and containers.

import { NetfilterError, findChain, findTable, newTable, type Ruleset, type TableName } from "./rules.js";
import { formatIptablesSave, formatRule, parseRuleArgs, type FormatOptions } from "./iptables-save.js";
import { parseCidr, parseIpv4, formatCidr, formatIpv4, isIpv4 } from "../../core/addr.js";

export interface DockerPortBinding {
  /** Host address the port is published on; absent or "0.0.0.0" = every address. */
  hostIp?: string;
  hostPort: number;
  containerPort: number;
  proto: "tcp" | "udp";
}

export interface DockerContainerSpec {
  ip: string;
  ports?: DockerPortBinding[];
}

export interface DockerNetworkSpec {
  /** Bridge interface: "docker0", "br-<id>". */
  bridge: string;
  subnet: string;
  /** Inter-container communication (com.docker.network.bridge.enable_icc), default true. */
  icc?: boolean;
  /** IP masquerading (com.docker.network.bridge.enable_ip_masquerade), default true. */
  ipMasq?: boolean;
  /** `docker network create --internal`: no NAT, no outside traffic. */
  internal?: boolean;
  containers?: DockerContainerSpec[];
}

export interface DockerRulesSpec {
  profile: "classic" | "current";
  /** Daemon's userland-proxy (default true); false = hairpin NAT rules. */
  userlandProxy?: boolean;
  /** DOCKER-USER chain (default true, as every daemon creates it). */
  userChain?: boolean;
  /** filter FORWARD policy: DROP when Docker turned ip_forward on itself (setupIPv4Forwarding). */
  forwardPolicy?: "ACCEPT" | "DROP";
  networks: DockerNetworkSpec[];
}

/** The rule set a daemon with these networks and containers leaves in the kernel. */
export function dockerRules(spec: DockerRulesSpec): Ruleset {
  const ipt = new Ipt();
  const hairpin = spec.userlandProxy === false;
  const nets = spec.networks.map(checkNetwork);
  if (spec.profile === "classic") {
    ipt.chain("nat", "DOCKER");
    for (const c of ["DOCKER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2"]) ipt.chain("filter", c);
    ipt.append("filter", "DOCKER-ISOLATION-STAGE-1", "-j RETURN");
    ipt.append("filter", "DOCKER-ISOLATION-STAGE-2", "-j RETURN");
    for (const n of nets) classicNetwork(ipt, n, hairpin);
    // arrangeUserFilterRule runs after every network is created: DOCKER-USER ends on top
    if (spec.userChain !== false) userChain(ipt, true);
    for (const n of nets) for (const c of n.containers) for (const p of c.ports) classicPort(ipt, n, c.ip, p, hairpin);
  } else {
    ipt.chain("nat", "DOCKER");
    for (const c of ["DOCKER", "DOCKER-FORWARD", "DOCKER-BRIDGE", "DOCKER-CT", "DOCKER-INTERNAL"]) ipt.chain("filter", c);
    natJumps(ipt, hairpin);
    ipt.ensureJump("FORWARD", "DOCKER-FORWARD");
    for (const c of ["DOCKER-BRIDGE", "DOCKER-INTERNAL", "DOCKER-CT"]) ipt.ensureJump("DOCKER-FORWARD", c);
    if (spec.userChain !== false) userChain(ipt, false);
    for (const n of nets) currentNetwork(ipt, n, hairpin);
    for (const n of nets) {
      if (n.internal) continue; // internal networks get neither direct-access filtering nor ports
      for (const c of n.containers) {
        // filterDirectAccess, on endpoint creation: only the bridge may reach the container
        ipt.table("raw");
        ipt.append("raw", "PREROUTING", `-d ${c.ip} ! -i ${n.bridge} -j DROP`);
        for (const p of c.ports) currentPort(ipt, n, c.ip, p, hairpin);
      }
    }
  }
  if (spec.forwardPolicy === "DROP") findChain(findTable(ipt.rs, "filter")!, "FORWARD")!.policy = "DROP";
  return ipt.rs;
}

/** dockerRules as iptables-save prints it. */
export function dockerRulesText(spec: DockerRulesSpec, opts?: FormatOptions): string {
  return formatIptablesSave(dockerRules(spec), opts);
}

interface Net {
  bridge: string;
  subnet: string;
  icc: boolean;
  ipMasq: boolean;
  internal: boolean;
  containers: { ip: string; ports: DockerPortBinding[] }[];
}

function checkNetwork(n: DockerNetworkSpec): Net {
  const where = `network ${n.bridge}`;
  if (!/^[^\s/]{1,15}$/.test(n.bridge)) throw new NetfilterError(`${where}: bridge name must be 1..15 characters without blanks`);
  const sub = parseCidr(n.subnet);
  const subnet = formatCidr({ ...sub, addr: sub.network });
  const containers = (n.containers ?? []).map((c) => {
    const ip = parseIpv4(c.ip);
    if ((ip & sub.mask) >>> 0 !== sub.network) throw new NetfilterError(`${where}: container ${c.ip} is outside ${subnet}`);
    for (const p of c.ports ?? []) {
      if (p.proto !== "tcp" && p.proto !== "udp") throw new NetfilterError(`${where}: container ${c.ip}: port protocol "${p.proto}" is not supported (tcp, udp)`);
      for (const [k, v] of [["hostPort", p.hostPort], ["containerPort", p.containerPort]] as const) {
        if (!Number.isInteger(v) || v < 1 || v > 65535) throw new NetfilterError(`${where}: container ${c.ip}: ${k} ${v} must be 1..65535`);
      }
      if (p.hostIp !== undefined && !isIpv4(p.hostIp)) throw new NetfilterError(`${where}: container ${c.ip}: hostIp "${p.hostIp}" is not an IPv4 address`);
    }
    return { ip: formatIpv4(ip), ports: c.ports ?? [] };
  });
  return { bridge: n.bridge, subnet, icc: n.icc ?? true, ipMasq: n.ipMasq ?? true, internal: n.internal ?? false, containers };
}

/** setupUserChain: DOCKER-USER exists and FORWARD's first rule jumps to it. */
function userChain(ipt: Ipt, withReturn: boolean): void {
  ipt.chain("filter", "DOCKER-USER");
  if (withReturn) ipt.append("filter", "DOCKER-USER", "-j RETURN");
  ipt.ensureJump("FORWARD", "DOCKER-USER");
}

/** nat PREROUTING/OUTPUT jumps to DOCKER for local destinations; without hairpin NAT the proxy
 *  answers for 127.0.0.0/8, so OUTPUT leaves it alone. */
function natJumps(ipt: Ipt, hairpin: boolean): void {
  ipt.append("nat", "PREROUTING", "-m addrtype --dst-type LOCAL -j DOCKER");
  ipt.append("nat", "OUTPUT", "-m addrtype --dst-type LOCAL -j DOCKER" + (hairpin ? "" : " ! --dst 127.0.0.0/8"));
}

// ---- classic (<= v27) -----------------------------------------------------------------------

function classicNetwork(ipt: Ipt, n: Net, hairpin: boolean): void {
  const br = n.bridge;
  if (n.internal) {
    // setupInternalNetworkRules: both inserted at the head of DOCKER-ISOLATION-STAGE-1
    ipt.insert("filter", "DOCKER-ISOLATION-STAGE-1", `-i ${br} ! -d ${n.subnet} -j DROP`);
    ipt.insert("filter", "DOCKER-ISOLATION-STAGE-1", `-o ${br} ! -s ${n.subnet} -j DROP`);
    classicIcc(ipt, br, n.icc);
  } else {
    // setupIPTablesInternal
    if (n.ipMasq) ipt.insert("nat", "POSTROUTING", `-s ${n.subnet} ! -o ${br} -j MASQUERADE`);
    if (n.ipMasq && !hairpin) ipt.insert("nat", "DOCKER", `-i ${br} -j RETURN`);
    if (hairpin) ipt.insert("nat", "POSTROUTING", `-m addrtype --src-type LOCAL -o ${br} -j MASQUERADE`);
    classicIcc(ipt, br, n.icc);
    ipt.insert("filter", "FORWARD", `-i ${br} ! -o ${br} -j ACCEPT`);
    // ProgramChain(nat): the jumps, appended once
    natJumps(ipt, hairpin);
    // ProgramChain(filter): inserted, so the conntrack rule ends above the DOCKER jump
    ipt.insert("filter", "FORWARD", `-o ${br} -j DOCKER`);
    ipt.insert("filter", "FORWARD", `-o ${br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
  }
  ipt.ensureJump("FORWARD", "DOCKER-ISOLATION-STAGE-1");
  if (!n.internal) {
    // setINC (isolateNetwork skips internal networks)
    ipt.insert("filter", "DOCKER-ISOLATION-STAGE-1", `-i ${br} ! -o ${br} -j DOCKER-ISOLATION-STAGE-2`);
    ipt.insert("filter", "DOCKER-ISOLATION-STAGE-2", `-o ${br} -j DROP`);
  }
}

/** setIcc (<= v27): ACCEPT inserted, or DROP appended. */
function classicIcc(ipt: Ipt, br: string, icc: boolean): void {
  if (icc) ipt.insert("filter", "FORWARD", `-i ${br} -o ${br} -j ACCEPT`);
  else ipt.append("filter", "FORWARD", `-i ${br} -o ${br} -j DROP`);
}

/** setPerPortNAT + setPerPortForwarding (v27): everything appended. */
function classicPort(ipt: Ipt, n: Net, ip: string, p: DockerPortBinding, hairpin: boolean): void {
  const br = n.bridge;
  ipt.append("nat", "DOCKER", `-p ${p.proto} -d ${hostAddr(p)} --dport ${p.hostPort} -j DNAT --to-destination ${ip}:${p.containerPort}` + (hairpin ? "" : ` ! -i ${br}`));
  ipt.append("nat", "POSTROUTING", `-p ${p.proto} -s ${ip} -d ${ip} --dport ${p.containerPort} -j MASQUERADE`);
  ipt.append("filter", "DOCKER", `! -i ${br} -o ${br} -p ${p.proto} -d ${ip} --dport ${p.containerPort} -j ACCEPT`);
}

// ---- current (v28+/v29) ---------------------------------------------------------------------

function currentNetwork(ipt: Ipt, n: Net, hairpin: boolean): void {
  const br = n.bridge;
  if (n.internal) {
    ipt.insert("filter", "DOCKER-INTERNAL", `-i ${br} ! -d ${n.subnet} -j DROP`);
    ipt.insert("filter", "DOCKER-INTERNAL", `-o ${br} ! -s ${n.subnet} -j DROP`);
    ipt.append("filter", "DOCKER-FORWARD", `-i ${br} -o ${br} -j ${n.icc ? "ACCEPT" : "DROP"}`);
    return;
  }
  // setupNonInternalNetworkRules
  if (n.ipMasq) ipt.insert("nat", "POSTROUTING", `-s ${n.subnet} ! -o ${br} -j MASQUERADE`);
  if (hairpin) ipt.insert("nat", "POSTROUTING", `-m addrtype --src-type LOCAL -o ${br} -j MASQUERADE`);
  if (!n.icc) ipt.append("filter", "DOCKER-FORWARD", `-i ${br} -o ${br} -j DROP`);
  ipt.append("filter", "DOCKER-FORWARD", n.icc ? `-i ${br} -j ACCEPT` : `-i ${br} ! -o ${br} -j ACCEPT`);
  // setDefaultForwardRule (appended: per-port ACCEPTs are inserted above it), then the
  // per-bridge conntrack and DOCKER jump rules
  ipt.append("filter", "DOCKER", `! -i ${br} -o ${br} -j DROP`);
  ipt.append("filter", "DOCKER-CT", `-o ${br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
  ipt.append("filter", "DOCKER-BRIDGE", `-o ${br} -j DOCKER`);
}

function currentPort(ipt: Ipt, n: Net, ip: string, p: DockerPortBinding, hairpin: boolean): void {
  const br = n.bridge;
  ipt.append("nat", "DOCKER", `-p ${p.proto} -d ${hostAddr(p)} --dport ${p.hostPort} -j DNAT --to-destination ${ip}:${p.containerPort}` + (hairpin ? "" : ` ! -i ${br}`));
  if (hairpin) ipt.append("nat", "POSTROUTING", `-p ${p.proto} -s ${ip} -d ${ip} --dport ${p.containerPort} -j MASQUERADE`);
  ipt.insert("filter", "DOCKER", `! -i ${br} -o ${br} -p ${p.proto} -d ${ip} --dport ${p.containerPort} -j ACCEPT`);
  // filterPortMappedOnLoopback: a port on 127.0.0.1 is not reachable from other hosts
  if (p.hostIp !== undefined && p.hostIp.startsWith("127.")) {
    ipt.append("raw", "PREROUTING", `-p ${p.proto} -d ${p.hostIp} --dport ${p.hostPort} ! -i lo -j DROP`);
  }
}

/** Docker passes "0/0" for every address (iptables reads "0.0.0.0" as /32). */
function hostAddr(p: DockerPortBinding): string {
  return p.hostIp === undefined || p.hostIp === "0.0.0.0" ? "0/0" : p.hostIp;
}

// ---- an `iptables` command line over the model --------------------------------------------

class Ipt {
  readonly rs: Ruleset = { tables: [], source: "docker-rules" };

  table(name: TableName) {
    let t = findTable(this.rs, name);
    if (!t) this.rs.tables.push((t = newTable(name)));
    return t;
  }

  /** `iptables -t T -N C`, when it does not exist yet. */
  chain(table: TableName, name: string) {
    const t = this.table(table);
    let c = findChain(t, name);
    if (!c) t.chains.push((c = { name, hook: -1, policy: null, packets: 0, bytes: 0, rules: [] }));
    return c;
  }

  private rule(table: TableName, chain: string, args: string) {
    const t = this.table(table);
    const c = findChain(t, chain);
    if (!c) throw new NetfilterError(`docker-rules: no chain ${chain} in table ${table}`);
    const r = parseRuleArgs(table, c, args.split(" "), (name) => findChain(t, name)?.hook === -1);
    const text = formatRule(chain, r);
    const at = c.rules.findIndex((x) => formatRule(chain, x) === text);
    return { c, r, at };
  }

  /** `iptables -A`, skipped when `iptables -C` finds the rule. */
  append(table: TableName, chain: string, args: string): void {
    const { c, r, at } = this.rule(table, chain, args);
    if (at < 0) c.rules.push(r);
  }

  /** `iptables -I` (at the head), skipped when `iptables -C` finds the rule. */
  insert(table: TableName, chain: string, args: string): void {
    const { c, r, at } = this.rule(table, chain, args);
    if (at < 0) c.rules.unshift(r);
  }

  /** EnsureJumpRule: delete `-j to` if present, insert it at the head. */
  ensureJump(from: string, to: string): void {
    const { c, r, at } = this.rule("filter", from, `-j ${to}`);
    if (at >= 0) c.rules.splice(at, 1);
    c.rules.unshift(r);
  }
}
