#!/usr/bin/env node
// The `wireyard` command.
//   wireyard demo [--out DIR]             write and print the demo capture (npm start)
//   wireyard decode FILE [-e] [-c N]      print a pcap/pcapng capture tcpdump-style
//   wireyard help
import { setFlagsFromString } from "node:v8";
import { runDemo } from "./demo.js";
import { decodeCapture, CaptureFormatError } from "./decode.js";

const USAGE = `usage: wireyard <command> [options]

commands:
  demo [--out DIR]            build the frames of a small Docker host (ARP, ping, published
                              ports, TCP, ICMP errors, VXLAN), write DIR/demo.pcapng (default
                              DIR: out) with one interface per capture point, and print them
  decode FILE [-e] [-c N]     print a pcap or pcapng file one frame per line, as tcpdump -n
                              does; -e adds the link-level header, -c stops after N frames
  help                        this text

not yet available: run, inspect, trace, validate (they need the emulator; see README.md)`;

// A larger inlining budget for the forwarding path (see bench/RESULTS.md, "inlining budget").
setFlagsFromString("--max-inlined-bytecode-size-cumulative=3000");

class UsageError extends Error {}

function takeValue(args: string[], i: number, flag: string): string {
  const v = args[i + 1];
  if (v === undefined || v.startsWith("-")) throw new UsageError(`${flag} needs a value`);
  return v;
}

function main(argv: string[]): number {
  const [cmd, ...args] = argv;
  if (cmd === undefined || cmd === "help" || cmd === "--help" || cmd === "-h") {
    console.log(USAGE);
    return cmd === undefined ? 2 : 0;
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
        const v = takeValue(args, i++, "-c");
        if (!/^\d+$/.test(v)) throw new UsageError(`-c: "${v}" is not a count`);
        count = Number(v);
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

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  if (e instanceof UsageError) {
    console.error(`wireyard: ${e.message}`);
    process.exitCode = 2;
  } else if (e instanceof CaptureFormatError) {
    console.error(`wireyard: ${e.message}`);
    process.exitCode = 1;
  } else if (e instanceof Error && "code" in e && (e.code === "ENOENT" || e.code === "EACCES" || e.code === "EISDIR")) {
    console.error(`wireyard: ${e.message}`);
    process.exitCode = 1;
  } else throw e;
}
