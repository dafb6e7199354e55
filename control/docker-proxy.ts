// What the Docker daemon runs beside the dataplane once containers start: docker-proxy for each
// published port while the userland proxy is on, and the unsolicited ARPs of the modern profile
// (BEHAVIOR.md 1.6, 1.11). The executor calls `startControlApps(t, plan)` right after building.
//
// docker-proxy, in the host namespace, as the real one relays (cmd/docker-proxy):
//   tcp  listens on the host port; each accepted connection gets its own connection to the
//        container (source: the host's address towards it, the bridge's gateway address); bytes
//        are copied both ways as they arrive, a FIN from one side is passed on as a FIN to the
//        other once what came before it is sent (CloseWrite, TcpSocket.shutdown: the other
//        direction keeps flowing), both sockets are closed once both directions are done; a
//        failed upstream connection closes the client's
//   udp  one socket bound to the host port; one upstream socket per client address and port,
//        connected to the container; replies go back to the client from the published port;
//        a flow idle for 90 s is forgotten (UDPConnTrackTimeout). The replies' source address:
//        up to v27 the kernel picks it by route (a socket bound to 0.0.0.0), so a container
//        asking the host's eth0 address hears back from the bridge's ("reply from unexpected
//        source", moby/libnetwork#1729); since v28 the address the client sent to (IP_PKTINFO,
//        moby/moby#48571): option `udpReplyFrom` "route" or "destination"
// With the proxy on, Docker's rules leave traffic from the bridge itself and from 127.0.0.0/8
// alone (skipDNAT, `! -d 127.0.0.0/8`), so that traffic reaches these listeners: a container can
// reach its host's published port without hairpin NAT.
// Limits: a listener here takes the port on every address, so a port bound to one host address
// (`-p 127.0.0.1:8080:80`) closes connections to other addresses (TCP; Linux would reset them)
// and answers datagrams to them with port unreachable (UDP), and one (protocol, port) can be
// proxied once per host.
//
// Announcements: `count` ARP requests `intervalNs` apart out of the container's interface,
// broadcast, sender = target = the container's address, target MAC zero (l2disco NewUnsolARP).

import type { Topology } from "../dataplane/topology.js";
import type { Netns } from "../dataplane/netns/netns.js";
import type { PlanAnnounce, PlanProxy, RunPlan } from "../dataplane/plan.js";
import { Timer } from "../dataplane/engine/clock.js";
import { TCP_SYN_SENT, tcpConnect, tcpListen, type TcpApp, type TcpListener, type TcpSocket } from "../dataplane/endpoint/tcp.js";
import { UdpSocket } from "../dataplane/endpoint/udp-socket.js";
import { getU32, setU16, setU48 } from "../core/bytes.js";
import { ARP_OP_REQUEST, emitArp } from "../core/wire/arp.js";
import { ETHERTYPE_ARP, ETH_HEADER_LEN } from "../core/wire/ethernet.js";
import { MAC_BROADCAST, parseIpv4 } from "../core/addr.js";
import { DockerError } from "./ipam.js";

/** docker-proxy's idle timeout for a UDP flow. */
export const UDP_FLOW_TIMEOUT_NS = 90e9;

export interface ProxyCounters {
  /** Connections accepted (TCP) or client flows seen (UDP). */
  flows: number;
  /** Upstream connections that failed (refused, unreachable, timed out). */
  failed: number;
  /** Payload bytes relayed to the container and back to clients. */
  bytesToContainer: number;
  bytesToClient: number;
}

export type DockerProxy = TcpProxy | UdpProxy;

export interface DockerProxyOptions {
  /** Source of UDP replies: "route" (<= v27, the default) or "destination" (v28+). */
  udpReplyFrom?: "route" | "destination";
}

/** Start docker-proxy for one published port (see the file header). */
export function startDockerProxy(t: Topology, p: PlanProxy, opts: DockerProxyOptions = {}): DockerProxy {
  const ns = t.ns(p.ns);
  const what = `docker-proxy ${p.proto} ${p.hostIp}:${p.hostPort} -> ${p.dst}:${p.dport} in ${p.ns}`;
  try {
    return p.proto === "tcp" ? new TcpProxy(ns, p) : new UdpProxy(ns, p, opts.udpReplyFrom ?? p.udpReplyFrom ?? "route");
  } catch (e) {
    throw new DockerError(`${what}: ${(e as Error).message}`, { cause: e });
  }
}

export class TcpProxy {
  readonly counters: ProxyCounters = { flows: 0, failed: 0, bytesToContainer: 0, bytesToClient: 0 };
  readonly listener: TcpListener;
  private readonly hostIp: number;
  private readonly dst: number;

  constructor(readonly ns: Netns, readonly plan: PlanProxy) {
    this.hostIp = parseIpv4(plan.hostIp);
    this.dst = parseIpv4(plan.dst);
    this.listener = tcpListen(ns, plan.hostPort, { connected: (sk) => this.accept(sk), received() {}, eof() {}, closed() {} });
  }

  close(): void {
    this.listener.close();
  }

  private accept(client: TcpSocket): void {
    if (this.hostIp !== 0 && client.laddr >>> 0 !== this.hostIp) return client.close();
    this.counters.flows++;
    const c = this.counters;
    const bytes = this.ns.engine.arena.bytes;
    let up: TcpSocket | null = null;
    let closeUp = false; // the client's FIN came before the upstream connection was up
    // as moby's TCPProxy brokers: an EOF from one side half-closes the other (CloseWrite), and
    // once both directions are done both sockets are closed
    let clientDone = false, upDone = false;
    const bothDone = () => {
      if (!clientDone || !upDone) return;
      client.close();
      up?.close();
    };
    const upApp: TcpApp = {
      connected(sk) {
        if (closeUp) sk.shutdown();
      },
      received(_sk, off, len) {
        c.bytesToClient += len;
        client.send(bytes.subarray(off, off + len));
      },
      eof() {
        upDone = true;
        client.shutdown();
        bothDone();
      },
      closed(sk) {
        if (sk.error === 0) return;
        if (sk.establishedAt < 0) c.failed++;
        client.close();
      },
    };
    client.app = {
      connected() {},
      received(_sk, off, len) {
        c.bytesToContainer += len;
        up?.send(bytes.subarray(off, off + len));
      },
      eof() {
        clientDone = true;
        if (up === null) return;
        if (up.state === TCP_SYN_SENT) closeUp = true;
        else up.shutdown();
        bothDone();
      },
      closed(sk) {
        if (sk.error !== 0 && up !== null) up.close(); // in SYN_SENT: the attempt is dropped
      },
    };
    try {
      up = tcpConnect(this.ns, this.dst, this.plan.dport, upApp);
    } catch {
      c.failed++;
      client.close();
    }
  }
}

interface UdpFlow {
  up: UdpSocket;
  timer: Timer;
  /** Source address of the replies (0: chosen by route). */
  from: number;
}

export class UdpProxy {
  readonly counters: ProxyCounters = { flows: 0, failed: 0, bytesToContainer: 0, bytesToClient: 0 };
  readonly socket: UdpSocket;
  /** Client flows by address * 65536 + port. */
  private readonly flows = new Map<number, UdpFlow>();
  private readonly dst: number;

  constructor(readonly ns: Netns, readonly plan: PlanProxy, readonly replyFrom: "route" | "destination" = "route") {
    this.dst = parseIpv4(plan.dst);
    this.socket = new UdpSocket(ns, { onReceive: (_sk, slot, src, sport, payload, len) => this.fromClient(slot, src >>> 0, sport, payload, len) });
    this.socket.bind(plan.hostPort, parseIpv4(plan.hostIp));
  }

  /** Flows alive now. */
  get activeFlows(): number {
    return this.flows.size;
  }

  close(): void {
    for (const f of this.flows.values()) {
      f.up.close();
      this.ns.engine.clock.cancel(f.timer);
    }
    this.flows.clear();
    this.socket.close();
  }

  private fromClient(slot: number, src: number, sport: number, payload: number, len: number): void {
    const key = src * 65536 + sport;
    let f = this.flows.get(key);
    if (f === undefined) {
      const up = new UdpSocket(this.ns, {
        onReceive: (_u, _slot, _from, _fport, pl, l) => {
          this.counters.bytesToClient += l;
          this.reply(flow, src, sport, pl, l);
          this.touch(flow);
        },
      });
      try {
        up.connect(this.dst, this.plan.dport);
      } catch {
        this.counters.failed++;
        return;
      }
      const timer = new Timer(`docker-proxy udp ${this.plan.hostPort}`, () => {
        up.close();
        this.flows.delete(key);
      });
      const flow: UdpFlow = { up, timer, from: this.replyFrom === "destination" ? this.destinationOf(slot, payload) : 0 };
      f = flow;
      this.flows.set(key, flow);
      this.counters.flows++;
    }
    this.counters.bytesToContainer += len;
    f.up.sendArena(this.dst, this.plan.dport, payload, len);
    this.touch(f);
  }

  /** The client's datagram's destination address (what IP_PKTINFO reports), or 0. */
  private destinationOf(slot: number, payload: number): number {
    const a = this.ns.engine.arena;
    const ip = a.start(slot) + ETH_HEADER_LEN;
    return (a.bytes[ip]! & 0x0f) * 4 + ip + 8 === payload ? getU32(a.bytes, ip + 16) : 0;
  }

  /** sendmsg() with IP_PKTINFO's source when the flow has one. */
  private reply(f: UdpFlow, dst: number, dport: number, payload: number, len: number): void {
    const sk = this.socket;
    if (f.from === 0) {
      sk.sendArena(dst, dport, payload, len);
      return;
    }
    const bound = sk.saddr;
    sk.saddr = f.from;
    sk.sendArena(dst, dport, payload, len);
    sk.saddr = bound;
  }

  private touch(f: UdpFlow): void {
    const clock = this.ns.engine.clock;
    clock.arm(f.timer, clock.now + UDP_FLOW_TIMEOUT_NS);
  }
}

/** Unsolicited ARP requests from one container interface (modern profile). */
export class Announcer {
  /** Requests sent, and timer firings (a request is not sent when the arena is full). */
  sent = 0;
  private fired = 0;
  private readonly ns: Netns;
  private readonly port: number;
  private readonly ip: number;
  private readonly timer: Timer;

  constructor(t: Topology, readonly plan: PlanAnnounce) {
    const d = t.dev(plan.ref);
    if (d.kind !== "interface") throw new DockerError(`announce ${plan.ip} on ${plan.ref}: not an interface of a namespace`);
    this.ns = d.ns;
    this.port = d.port;
    this.ip = parseIpv4(plan.ip);
    this.timer = new Timer(`announce ${plan.ref}`, () => this.fire());
    if (plan.count > 0) this.ns.engine.clock.arm(this.timer, plan.startNs);
  }

  private fire(): void {
    const e = this.ns.engine;
    const s = e.alloc(this.ns);
    if (s >= 0) {
      const a = e.arena;
      const off = a.start(s);
      a.setLen(s, ETH_HEADER_LEN + 28);
      const mac = this.ns.mac[this.port]!;
      setU48(a.bytes, off, MAC_BROADCAST);
      setU48(a.bytes, off + 6, mac);
      setU16(a.bytes, off + 12, ETHERTYPE_ARP);
      emitArp({ operation: ARP_OP_REQUEST, senderMac: mac, senderIp: this.ip, targetMac: 0, targetIp: this.ip }, a.bytes, off + ETH_HEADER_LEN);
      e.transmit(this.ns, this.port, s);
      this.sent++;
    }
    if (++this.fired < this.plan.count) e.clock.arm(this.timer, e.clock.now + this.plan.intervalNs);
  }
}

export interface ControlApps {
  proxies: DockerProxy[];
  announcers: Announcer[];
}

/** Start every docker-proxy and every announcement of the plan in the built topology. */
export function startControlApps(t: Topology, plan: RunPlan, opts: DockerProxyOptions = {}): ControlApps {
  return { proxies: plan.proxies.map((p) => startDockerProxy(t, p, opts)), announcers: plan.announce.map((a) => new Announcer(t, a)) };
}
