// A Docker host with its iptables rules, built with the Topology API: docker0 (172.17.0.1/16,
// containers c2 = 172.17.0.2 and c3 = 172.17.0.3 with Docker's classic MACs, default route via
// 172.17.0.1), an outside interface eth0 (192.168.1.10/24) wired to an external client namespace
// "client" (192.168.1.20/24), ip_forward on, and the rules Docker's daemon leaves
// (dockerRules, netfilter/docker-rules.ts) for `-p 8080:80/tcp -p 5353:53/udp` on c2. Options:
// the rule profile, userland-proxy (false: hairpin NAT rules and hairpin on every bridge port, as
// Docker sets them), icc, and a second bridge network br-net2 (172.18.0.0/16, container c4 =
// 172.18.0.2) that Docker isolates from docker0. Used by the netfilter tests, interop and
// benchmarks, which rely on its names and addresses. The steps of scripts/kernel-docker-host.sh
// (udpStep, tcpStep, with the script's servers) run here the same way.

import type { Engine, EngineOptions } from "../engine/engine.js";
import type { Netns } from "../netns/netns.js";
import type { Bridge } from "../devices/bridge.js";
import { Topology } from "../topology.js";
import type { CaptureSink } from "../../core/pcap/index.js";
import { dockerRules, type DockerNetworkSpec, type DockerRulesSpec } from "../netfilter/docker-rules.js";
import type { NetfilterOptions } from "../netfilter/hooks.js";
import { UdpSocket, udpEcho } from "../endpoint/udp-socket.js";
import { tcpConnect, tcpListen, type TcpApp } from "../endpoint/tcp.js";
import { formatIpv4, parseIpv4 } from "../../core/addr.js";

export const HOST_IP = 0xc0a8010a; // 192.168.1.10
export const CLIENT_IP = 0xc0a80114; // 192.168.1.20
export const C2_IP = 0xac110002;
export const C3_IP = 0xac110003;
export const C4_IP = 0xac120002; // 172.18.0.2 on br-net2
export const BRIDGE_MAC = "02:42:5e:1a:2b:3c";

export interface DockerHostOptions extends EngineOptions {
  /** Docker's rule layout (default classic). */
  ruleProfile?: "classic" | "current";
  /** Docker's userland-proxy (default true); false: hairpin NAT. */
  userlandProxy?: boolean;
  icc?: boolean;
  /** A second bridge network br-net2 with container c4. */
  secondNetwork?: boolean;
  netfilter?: NetfilterOptions;
  /** A pcapng capture of every interface and bridge port. */
  capture?: CaptureSink;
}

export interface DockerHost {
  topology: Topology;
  engine: Engine;
  host: Netns;
  client: Netns;
  /** c2, c3 (and c4 on br-net2 when asked). */
  containers: Netns[];
  bridge: Bridge;
  rules: DockerRulesSpec;
}

export function dockerHost(opts: DockerHostOptions = {}): DockerHost {
  const { ruleProfile: profile = "classic", userlandProxy = true, icc = true, secondNetwork = false, netfilter, capture, ...engineOpts } = opts;
  const t = new Topology({ seed: 1, ...engineOpts });
  const host = t.netns("host");
  const client = t.netns("client");
  const bridge = t.bridge("host/docker0", { mac: BRIDGE_MAC });
  t.addr("host/docker0", "172.17.0.1/16");
  t.sysctl("host", "net.ipv4.ip_forward", 1);
  t.veth({ a: "host/eth0", b: "client/eth0", mac: "02:00:c0:a8:01:0a", peerMac: "02:00:c0:a8:01:14" });
  t.addr("host/eth0", "192.168.1.10/24");
  t.addr("client/eth0", "192.168.1.20/24");
  const containers: Netns[] = [];
  const attach = (n: number, br: string, net: string, hex: string) => {
    const veth = `host/veth${(0x1a2b30 + n).toString(16)}`;
    containers.push(t.netns(`c${n}`));
    t.veth({ a: veth, b: `c${n}/eth0`, mac: `3e:00:00:00:00:${hex}`, peerMac: `02:42:ac:${net === "17" ? "11" : "12"}:00:${hex}` });
    t.addr(`c${n}/eth0`, `172.${net}.0.${net === "17" ? n : n - 2}/16`);
    t.route(`c${n}`, `default via 172.${net}.0.1 dev eth0`);
    const port = t.master(veth, br);
    // userland-proxy=false: Docker turns hairpin on for every endpoint's port (setHairpinMode)
    if (!userlandProxy) t.br(br).setPortFlags(port, { hairpin: true });
  };
  attach(2, "docker0", "17", "02");
  attach(3, "docker0", "17", "03");
  const networks: DockerNetworkSpec[] = [
    {
      bridge: "docker0",
      subnet: "172.17.0.0/16",
      icc,
      containers: [
        { ip: "172.17.0.2", ports: [{ hostPort: 8080, containerPort: 80, proto: "tcp" }, { hostPort: 5353, containerPort: 53, proto: "udp" }] },
        { ip: "172.17.0.3" },
      ],
    },
  ];
  if (secondNetwork) {
    t.bridge("host/br-net2", { mac: "02:42:5e:1a:2b:3d" });
    t.addr("host/br-net2", "172.18.0.1/16");
    attach(4, "br-net2", "18", "02");
    networks.push({ bridge: "br-net2", subnet: "172.18.0.0/16", icc, containers: [{ ip: "172.18.0.2" }] });
  }
  const rules: DockerRulesSpec = { profile, userlandProxy, networks };
  t.iptables("host", dockerRules(rules), netfilter);
  if (capture) t.capture(capture, "all");
  return { topology: t, engine: t.engine, host, client, containers, bridge, rules };
}

// ---- the steps of scripts/kernel-docker-host.sh, on the emulator ------------------------------------

const S = 1e9;

/** The kernel script's servers: c2 echoes UDP on 53 and answers TCP on 80 with as many bytes as
 *  it read, then closes; the client echoes UDP on 7. */
export function dockerHostServers(d: DockerHost): void {
  udpEcho(d.containers[0]!, 53);
  udpEcho(d.client, 7);
  tcpListen(d.containers[0]!, 80, {
    connected() {},
    received(sk, _off, len) {
      sk.send(len);
      sk.close();
    },
    eof(sk) {
      sk.close();
    },
    closed() {},
  });
}

/** "cl" (the client), "c2", "c3", "c4". */
function nsOf(d: DockerHost, who: string): Netns {
  if (who === "cl") return d.client;
  const n = d.containers[Number(who.slice(1)) - 2];
  if (!n) throw new Error(`no namespace "${who}"`);
  return n;
}

/** `udp NS SPORT DST DPORT`: one 10-byte datagram from port SPORT, then 1 s for a reply.
 *  Returns the script's line: "udp NS SPORT DST DPORT: reply from A:P" or "...: no reply". */
/** The UDP steps' payload: a DNS query for "a.test" A (id 0x1234, RD), 24 bytes, the same as
 *  scripts/kernel-docker-host.sh sends: the published ports are DNS's (53, 5353), and a capture
 *  of them decodes as DNS in tshark. */
export const DNS_QUERY = Uint8Array.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x61, 0x04, 0x74, 0x65, 0x73, 0x74, 0x00, 0x00, 0x01, 0x00, 0x01]);

export function udpStep(d: DockerHost, who: string, sport: number, dst: string, dport: number): string {
  let reply = "no reply";
  const sk = new UdpSocket(nsOf(d, who), { onReceive: (_s, _slot, src, sp) => (reply = `reply from ${formatIpv4(src >>> 0)}:${sp}`) });
  sk.bind(sport);
  sk.sendTo(parseIpv4(dst), dport, DNS_QUERY);
  d.engine.run(d.engine.clock.now + 1 * S);
  sk.close();
  return `udp ${who} ${sport} ${dst} ${dport}: ${reply}`;
}

/** `tcp NS SPORT DST DPORT`: connect from SPORT, send 100 bytes, read the answer, close; 1 s.
 *  Returns "tcp NS SPORT DST DPORT: N bytes from A:P" or "...: failed". */
export function tcpStep(d: DockerHost, who: string, sport: number, dst: string, dport: number): string {
  let got = 0;
  let peer = "";
  const app: TcpApp = {
    connected(sk) {
      sk.send(100);
    },
    received(sk, _off, len) {
      got += len;
      peer = `${formatIpv4(sk.raddr >>> 0)}:${sk.rport}`;
      sk.close();
    },
    eof() {},
    closed() {},
  };
  tcpConnect(nsOf(d, who), parseIpv4(dst), dport, app, sport);
  d.engine.run(d.engine.clock.now + 1 * S);
  return `tcp ${who} ${sport} ${dst} ${dport}: ${got > 0 ? `${got} bytes from ${peer}` : "failed"}`;
}

/** Each step line (its text up to ":" is the step) run in order; the lines they give. */
export function runSteps(d: DockerHost, steps: string[]): string[] {
  return steps.map((line) => {
    const [kind, who, sport, dst, dport] = line.split(":")[0]!.split(" ");
    return (kind === "udp" ? udpStep : tcpStep)(d, who!, Number(sport), dst!, Number(dport));
  });
}
