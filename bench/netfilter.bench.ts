// iptables evaluation (dataplane/netfilter/rules.ts): Docker's filter FORWARD chain, as the
// rule generator builds it for a host with docker0 and one user network (three containers, two
// published ports), over batches of 256 packets: a mix of new connections from outside to a
// published port and to an unpublished one, replies coming back (ESTABLISHED), containers going
// out, and container-to-container traffic on the same bridge and across bridges. Each packet
// is a reused NfPacket filled from precomputed typed arrays; the baseline fills it without
// evaluating. Cases: the classic (<= v27) and current (v29) layouts, and a 200-rule chain of
// non-matching rules in front (a long DOCKER-USER). Also printed: GCs per 100,000 batches.
import { runSuite, measureAllocation, reportAllocation } from "./lib.js";
import { dockerRules, type DockerRulesSpec } from "../dataplane/netfilter/docker-rules.js";
import { parseIptablesSave, formatIptablesSave } from "../dataplane/netfilter/iptables-save.js";
import {
  CT_ESTABLISHED, CT_NEW, HOOK_FORWARD, NfPacket, TABLE_FILTER, compile, evaluate, findChain, findTable,
  type CompiledRuleset, type Ruleset,
} from "../dataplane/netfilter/rules.js";

const N = 256;
const IFS = ["lo", "eth0", "docker0", "br-1a2b3c4d5e6f"];
const ip = (s: string) => s.split(".").reduce((a, b) => a * 256 + Number(b), 0) | 0;

function spec(profile: "classic" | "current"): DockerRulesSpec {
  return {
    profile,
    forwardPolicy: "DROP",
    networks: [
      { bridge: "docker0", subnet: "172.17.0.0/16", containers: [{ ip: "172.17.0.2", ports: [{ hostPort: 8080, containerPort: 80, proto: "tcp" }] }, { ip: "172.17.0.3" }] },
      { bridge: "br-1a2b3c4d5e6f", subnet: "172.18.0.0/16", containers: [{ ip: "172.18.0.2", ports: [{ hostPort: 5353, containerPort: 53, proto: "udp" }] }] },
    ],
  };
}

/** The same rules with a DOCKER-USER of 200 rules that match nothing in the mix. */
function withLongUserChain(rs: Ruleset): Ruleset {
  const text = formatIptablesSave(rs);
  const at = text.indexOf("COMMIT\n", text.indexOf("*filter"));
  const extra = Array.from({ length: 200 }, (_, i) => `-A DOCKER-USER -s 10.${i >> 8}.${i & 255}.0/24 -j DROP\n`).join("");
  const out = parseIptablesSave(text.slice(0, at) + extra + text.slice(at), "bench");
  if (findChain(findTable(out, "filter")!, "DOCKER-USER")!.rules.length !== 200) throw new Error("bench: DOCKER-USER not filled");
  return out;
}

interface Traffic {
  inIf: Int32Array;
  outIf: Int32Array;
  src: Int32Array;
  dst: Int32Array;
  proto: Int32Array;
  sport: Int32Array;
  dport: Int32Array;
  ctstate: Int32Array;
  len: Int32Array;
}

function traffic(): Traffic {
  const t: Traffic = {
    inIf: new Int32Array(N), outIf: new Int32Array(N), src: new Int32Array(N), dst: new Int32Array(N), proto: new Int32Array(N),
    sport: new Int32Array(N), dport: new Int32Array(N), ctstate: new Int32Array(N), len: new Int32Array(N),
  };
  const eth0 = 1, docker0 = 2, br = 3;
  const far = ip("198.51.100.7");
  const kinds: [number, number, number, number, number, number, number][] = [
    // inIf, outIf, src, dst, proto, dport, ctstate
    [eth0, docker0, far, ip("172.17.0.2"), 6, 80, CT_NEW], // to a published port (after DNAT)
    [eth0, docker0, far, ip("172.17.0.3"), 6, 22, CT_NEW], // to a port nobody published: dropped
    [eth0, docker0, far, ip("172.17.0.3"), 6, 41000, CT_ESTABLISHED], // a reply
    [docker0, eth0, ip("172.17.0.3"), far, 6, 443, CT_NEW], // a container going out
    [docker0, docker0, ip("172.17.0.3"), ip("172.17.0.2"), 6, 80, CT_NEW], // same bridge
    [docker0, br, ip("172.17.0.3"), ip("172.18.0.2"), 17, 53, CT_NEW], // across bridges: dropped
    [eth0, br, far, ip("172.18.0.2"), 17, 53, CT_NEW], // published UDP port
    [br, eth0, ip("172.18.0.2"), far, 17, 53, CT_ESTABLISHED],
  ];
  for (let i = 0; i < N; i++) {
    const k = kinds[(i * 7) % kinds.length]!;
    t.inIf[i] = k[0];
    t.outIf[i] = k[1];
    t.src[i] = k[2];
    t.dst[i] = k[3];
    t.proto[i] = k[4];
    t.sport[i] = 30000 + i;
    t.dport[i] = k[5];
    t.ctstate[i] = k[6];
    t.len[i] = 60 + (i & 511);
  }
  return t;
}

let sink = 0;

function batch(c: CompiledRuleset | null, t: Traffic, p: NfPacket): () => void {
  const { inIf, outIf, src, dst, proto, sport, dport, ctstate, len } = t;
  return () => {
    let s = 0;
    for (let i = 0; i < N; i++) {
      p.inIf = inIf[i]!;
      p.outIf = outIf[i]!;
      p.src = src[i]!;
      p.dst = dst[i]!;
      p.proto = proto[i]!;
      p.sport = sport[i]!;
      p.dport = dport[i]!;
      p.ctstate = ctstate[i]!;
      p.len = len[i]!;
      s += c === null ? p.dport & 7 : evaluate(c, TABLE_FILTER, HOOK_FORWARD, p);
    }
    sink = (sink + s) | 0;
  };
}

export async function netfilterBench(): Promise<void> {
  const t = traffic();
  const classic = compile(dockerRules(spec("classic")), { ifNames: IFS });
  const current = compile(dockerRules(spec("current")), { ifNames: IFS });
  const long = compile(withLongUserChain(dockerRules(spec("current"))), { ifNames: IFS });
  let t0 = performance.now();
  for (let i = 0; i < 100; i++) compile(dockerRules(spec("current")), { ifNames: IFS });
  const compileUs = ((performance.now() - t0) * 1000) / 100;
  t0 = performance.now();
  await runSuite("iptables filter FORWARD (Docker rules, batch of 256)", [
    { name: "netfilter harness only (baseline)", packets: N, setup: () => batch(null, t, new NfPacket()) },
    { name: "netfilter FORWARD classic (v27)", packets: N, setup: () => batch(classic, t, new NfPacket()) },
    { name: "netfilter FORWARD current (v29)", packets: N, setup: () => batch(current, t, new NfPacket()) },
    { name: "netfilter FORWARD current + 200-rule DOCKER-USER", packets: N, setup: () => batch(long, t, new NfPacket()) },
  ]);
  console.log(`  generate + compile Docker's rules (current, 2 networks): ${compileUs.toFixed(0)} µs`);
  reportAllocation("netfilter FORWARD current, batch of 256", await measureAllocation(batch(current, t, new NfPacket()), 100_000));
  if (sink === 0.5) console.log(sink);
}
