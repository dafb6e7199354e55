#!/usr/bin/env node
// The `wireyard` command (see USAGE). Exit codes: 0 success; 1 an expectation failed, a trace got
// no answer, or the run failed (a worker died); 2 a usage or scenario error (one line naming the
// file, line, field and reason — never a stack trace).
import { setFlagsFromString } from "node:v8";
import { runDemo } from "./demo.js";
import { decodeCapture, CaptureFormatError } from "./decode.js";
import { UsageError, cmdInspect, cmdRun, cmdTrace, cmdValidate, INSPECT_WHAT, type InspectWhat, type RunOptions } from "./scenario.js";
import { ScenarioError } from "../control/scenario/parse.js";
import { DockerError } from "../control/ipam.js";

const USAGE = `usage: wireyard <command> [options]

commands:
  run <scenario> [--pcap DIR] [--seed N] [--workers N] [--json]
                              build the Docker hosts a scenario file describes, send its traffic,
                              check its expectations and print a summary (per container: packets
                              and bytes sent, received, lost; drops by device and reason;
                              expectations); --pcap writes DIR/<scenario>.pcapng with one interface
                              per capture point; --workers N runs on N worker threads (default:
                              the number of cores; results are the same for any N); --json prints
                              the summary as JSON. Exit code 1 when an expectation fails.
  inspect <scenario> <name> [addr|route|neigh|fdb|iptables|conntrack]
                              the state of a host's or container's namespace after the run, as
                              ip addr, ip route, ip neigh, bridge fdb show, iptables-save -c and
                              conntrack -L print it (default: addr)
  trace <scenario> --from <container> --to <container|host|address>[:port] [--proto udp|tcp|icmp]
                              after the run, send one packet and print every hop's decision
                              (bridge forwarding, routing, netfilter rules, NAT, conntrack) for it
                              and its answer (default proto: tcp with a port, icmp without)
  validate <scenario>         check a scenario file and say what it describes
  demo [--out DIR]            build the frames of a small Docker host (ARP, ping, published
                              ports, TCP, ICMP errors, VXLAN), write DIR/demo.pcapng and print them
  decode FILE [-e] [-c N]     print a pcap or pcapng file one frame per line, as tcpdump -n
                              does; -e adds the link-level header, -c stops after N frames
  help                        this text

scenario files: docs/scenario.md; examples: examples/*.yaml`;

// A larger inlining budget for the forwarding path (see bench/RESULTS.md, "inlining budget").
setFlagsFromString("--max-inlined-bytecode-size-cumulative=3000");

const print = (l: string) => console.log(l);
const printErr = (l: string) => console.error(l);

function takeValue(args: string[], i: number, flag: string): string {
  const v = args[i + 1];
  if (v === undefined || v.startsWith("--")) throw new UsageError(`${flag} needs a value`);
  return v;
}

function intValue(args: string[], i: number, flag: string, min: number): number {
  const v = takeValue(args, i, flag);
  if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`${flag}: "${v}" is not an integer >= ${min}`);
  return Number(v);
}

/** Positional arguments and --flags of a command. */
function split(cmd: string, args: string[], flags: Record<string, "value" | "bool">): { pos: string[]; opt: Map<string, string | true>; at: Map<string, number> } {
  const pos: string[] = [];
  const opt = new Map<string, string | true>();
  const at = new Map<string, number>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith("--")) {
      const kind = flags[a];
      if (kind === undefined) throw new UsageError(`${cmd}: unknown option "${a}" (options: ${Object.keys(flags).join(", ") || "none"})`);
      at.set(a, i);
      if (kind === "bool") opt.set(a, true);
      else opt.set(a, takeValue(args, i++, a));
    } else pos.push(a);
  }
  return { pos, opt, at };
}

function scenarioArg(cmd: string, pos: string[], extra = 0): string {
  if (pos.length === 0) throw new UsageError(`${cmd}: which scenario? (wireyard ${cmd} FILE.yaml)`);
  if (pos.length > 1 + extra) throw new UsageError(`${cmd}: unexpected argument "${pos[1 + extra]}"`);
  return pos[0]!;
}

function seedOf(args: string[], p: ReturnType<typeof split>): number | undefined {
  return p.opt.has("--seed") ? intValue(args, p.at.get("--seed")!, "--seed", 0) : undefined;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  if (cmd === undefined || cmd === "help" || cmd === "--help" || cmd === "-h") {
    console.log(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === "validate") {
    const p = split(cmd, args, {});
    return cmdValidate(scenarioArg(cmd, p.pos), print);
  }
  if (cmd === "run") {
    const p = split(cmd, args, { "--pcap": "value", "--seed": "value", "--workers": "value", "--json": "bool" });
    const o: RunOptions = { json: p.opt.has("--json"), progress: true };
    const seed = seedOf(args, p);
    if (seed !== undefined) o.seed = seed;
    if (p.opt.has("--workers")) o.workers = intValue(args, p.at.get("--workers")!, "--workers", 1);
    if (p.opt.has("--pcap")) o.pcapDir = p.opt.get("--pcap") as string;
    return cmdRun(scenarioArg(cmd, p.pos), o, print, printErr);
  }
  if (cmd === "inspect") {
    const p = split(cmd, args, { "--seed": "value" });
    const file = scenarioArg(cmd, p.pos, 2);
    const who = p.pos[1];
    if (who === undefined) throw new UsageError("inspect: which host or container? (wireyard inspect FILE NAME [addr|route|neigh|fdb|iptables|conntrack])");
    const what = (p.pos[2] ?? "addr") as InspectWhat;
    if (!INSPECT_WHAT.includes(what)) throw new UsageError(`inspect: "${what}" is not one of ${INSPECT_WHAT.join(", ")}`);
    return cmdInspect(file, who, what, seedOf(args, p), print);
  }
  if (cmd === "trace") {
    const p = split(cmd, args, { "--from": "value", "--to": "value", "--proto": "value", "--seed": "value" });
    const file = scenarioArg(cmd, p.pos);
    const from = p.opt.get("--from") as string | undefined;
    const to = p.opt.get("--to") as string | undefined;
    if (from === undefined || to === undefined) throw new UsageError("trace: --from <container> and --to <container|host|address>[:port] are required");
    const proto = (p.opt.get("--proto") as string | undefined) ?? (/:\d+$/.test(to) ? "tcp" : "icmp");
    if (proto !== "udp" && proto !== "tcp" && proto !== "icmp") throw new UsageError(`trace: --proto "${proto}" is not udp, tcp or icmp`);
    const seed = seedOf(args, p);
    return cmdTrace(file, { from, to, proto, ...(seed === undefined ? {} : { seed }) }, print);
  }
  if (cmd === "demo") {
    let dir = "out";
    for (let i = 0; i < args.length; i++) {
      if (args[i] === "--out") dir = takeValue(args, i++, "--out");
      else throw new UsageError(`demo: unknown option "${args[i]}"`);
    }
    console.log("wireyard demo: the frames of a small Docker host (docker0 172.17.0.0/16, a published port, a VXLAN overlay)\n");
    const { path, frames } = runDemo(dir, (l) => console.log(l));
    console.log(`\n${frames} frames written to ${path} (pcapng, interfaces host1/eth0, host1/docker0, c0/eth0)`);
    console.log(`open it in Wireshark, or: tshark -r ${path}   |   npx wireyard decode ${path}`);
    return 0;
  }
  if (cmd === "decode") {
    let file: string | undefined;
    let link = false;
    let count = Infinity;
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (a === "-e") link = true;
      else if (a === "-c") {
        const v = args[i + 1];
        if (v === undefined || !/^\d+$/.test(v)) throw new UsageError(`-c: "${v ?? ""}" is not a count`);
        count = Number(v);
        i++;
      } else if (a.startsWith("-")) throw new UsageError(`decode: unknown option "${a}"`);
      else if (file === undefined) file = a;
      else throw new UsageError(`decode: one file at a time ("${a}" is extra)`);
    }
    if (file === undefined) throw new UsageError("decode: which file? (wireyard decode FILE)");
    decodeCapture(file, { link, count }, (l) => console.log(l));
    return 0;
  }
  throw new UsageError(`unknown command "${cmd}" (try: wireyard help)`);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError || e instanceof ScenarioError || e instanceof DockerError) {
      console.error(`wireyard: ${e.message}`);
      process.exitCode = 2;
    } else if (e instanceof CaptureFormatError) {
      console.error(`wireyard: ${e.message}`);
      process.exitCode = 1;
    } else if (e instanceof Error && "code" in e && (e.code === "ENOENT" || e.code === "EACCES" || e.code === "EISDIR")) {
      console.error(`wireyard: ${e.message}`);
      process.exitCode = 1;
    } else if (e instanceof Error) {
      // a failed run (a worker that died, a dataplane error): the message; the stack on request
      console.error(`wireyard: ${e.message}`);
      if (process.env.WIREYARD_DEBUG) console.error(e.stack);
      process.exitCode = 1;
    } else throw e;
  },
);
