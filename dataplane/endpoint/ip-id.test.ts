// The id/DF rules of ip-id.ts (ip_select_ident_segs, ip_idents_reserve, ip_dont_fragment).
import { describe, expect, it } from "vitest";
import { Rng } from "../engine/rng.js";
import { IpIdGenerator, IP_PMTUDISC_DO, IP_PMTUDISC_DONT, IP_PMTUDISC_PROBE, IP_PMTUDISC_WANT, selectIdent, sendsDf } from "./ip-id.js";

const D = 0xac110003, S = 0xac110002;

describe("DF (ip_dont_fragment)", () => {
  it("DO/PROBE always, WANT when it fits, DONT never", () => {
    expect([IP_PMTUDISC_DO, IP_PMTUDISC_PROBE].map((m) => [sendsDf(m, 100, 1500), sendsDf(m, 2000, 1500)])).toEqual([[true, true], [true, true]]);
    expect([sendsDf(IP_PMTUDISC_WANT, 1500, 1500), sendsDf(IP_PMTUDISC_WANT, 1501, 1500)]).toEqual([true, false]);
    expect(sendsDf(IP_PMTUDISC_DONT, 100, 1500)).toBe(false);
  });
});

describe("selectIdent", () => {
  it("connected: the socket's counter, +1 per packet, whatever the DF mode", () => {
    const g = new IpIdGenerator(new Rng(1));
    const sk = { pmtudisc: IP_PMTUDISC_DO, daddr: D, inetId: 0xfffe };
    expect([0, 1, 2].map(() => selectIdent(g, sk, true, S, D, 17, 0))).toEqual([0xfffe, 0xffff, 0]);
  });

  it("unconnected DO with DF: 0; WANT with DF (ignore_df) and DONT: the hashed generator", () => {
    const g = new IpIdGenerator(new Rng(1));
    expect(selectIdent(g, { pmtudisc: IP_PMTUDISC_DO, daddr: 0, inetId: 0 }, true, S, D, 17, 0)).toBe(0);
    const ref = new IpIdGenerator(new Rng(1));
    const want = ref.next(D, S, 17, 0);
    expect(selectIdent(g, { pmtudisc: IP_PMTUDISC_WANT, daddr: 0, inetId: 0 }, true, S, D, 17, 0)).toBe(want);
    expect(selectIdent(g, { pmtudisc: IP_PMTUDISC_DONT, daddr: 0, inetId: 0 }, false, S, D, 17, 0)).toBe((want + 1) & 0xffff);
  });
});

describe("IpIdGenerator (ip_idents_reserve)", () => {
  it("within one jiffy a destination's ids go up by one per packet (by segs for a burst)", () => {
    const g = new IpIdGenerator(new Rng(7));
    const a = g.next(D, S, 1, 0);
    expect(g.next(D, S, 1, 0)).toBe((a + 1) & 0xffff);
    expect(g.next(D, S, 1, 0, 3)).toBe((a + 2) & 0xffff);
    expect(g.next(D, S, 1, 0)).toBe((a + 5) & 0xffff);
  });

  it("after d idle jiffies the counter jumps by a random amount below d", () => {
    const g = new IpIdGenerator(new Rng(7));
    const a = g.next(D, S, 1, 0);
    const b = g.next(D, S, 1, 1000);
    const jump = (b - a - 1 + 0x10000) & 0xffff;
    expect(jump).toBeLessThan(1000);
    let moved = 0;
    for (let k = 2; k < 50; k++) {
      const x = g.next(D, S, 1, k * 1000);
      const y = g.next(D, S, 1, k * 1000);
      expect(y).toBe((x + 1) & 0xffff);
      if (x !== 0) moved++;
    }
    expect(moved).toBeGreaterThan(0);
  });

  it("is keyed per namespace: two seeds give different ids; the same seed the same", () => {
    const seq = (seed: number) => [1, 2, 3].map((k) => new IpIdGenerator(new Rng(seed)).next(D + k, S, 17, 0));
    expect(seq(1)).toEqual(seq(1));
    expect(seq(1)).not.toEqual(seq(2));
  });
});
