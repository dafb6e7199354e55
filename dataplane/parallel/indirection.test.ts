// The RSS indirection table: flows dealt to shards by weighed hash buckets, the same table in
// every shard, and every flow in exactly one shard.
import { describe, expect, it } from "vitest";
import { applyConfig } from "../config.js";
import { docker0Plan } from "../plans/docker0-plan.js";
import { planFlows, flowHash, shardOf } from "./flows.js";
import { indirection, RSS_BUCKETS } from "./traffic.js";
import { sockets } from "../endpoint/stack.js";
import { parseIpv4 } from "../../core/addr.js";

describe("indirection", () => {
  const plan = docker0Plan({ containers: 2, udp: { flows: 1000, packets: 10, ratePps: 1000, size: 64 } });
  const t = applyConfig(plan.config);
  const ids = planFlows(plan, plan.config.seed);
  const tr = plan.traffic[0]!;
  if (tr.kind !== "udp") throw new Error("udp plan expected");
  const st = sockets(t.ns(tr.from));
  const dst = parseIpv4(tr.dst);
  const src = st.source(st.route(dst | 0), dst | 0) >>> 0;
  const seq = ids.items[0]!;
  const hashes = Array.from({ length: seq.count }, (_, j) => flowHash(src, dst, 17, ids.udpPort(seq.first + j), tr.dport));

  for (const n of [2, 3, 4]) {
    it(`${n} shards: every flow in one shard, loads within one bucket of each other, better than hash mod ${n}`, () => {
      const owner = indirection(t, plan, ids, n);
      const load = new Array(n).fill(0);
      for (const h of hashes) load[owner(h)]++;
      expect(load.reduce((a, b) => a + b, 0)).toBe(1000);
      const perBucket = new Array(RSS_BUCKETS).fill(0);
      for (const h of hashes) perBucket[h & (RSS_BUCKETS - 1)]++;
      expect(Math.max(...load) - Math.min(...load)).toBeLessThanOrEqual(Math.max(...perBucket));
      const mod = new Array(n).fill(0);
      for (const h of hashes) mod[shardOf(h, n)]++;
      expect(Math.max(...load)).toBeLessThanOrEqual(Math.max(...mod));
      // the same table from another replica (what every worker computes)
      const again = indirection(applyConfig(plan.config), plan, ids, n);
      expect(hashes.map(again)).toEqual(hashes.map(owner));
    });
  }
});
