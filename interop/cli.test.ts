// Interop: the newcomer's path. Each bundled example run as a user runs it, `npx wireyard run
// examples/<name>.yaml --pcap DIR` through the built command (worker threads, as many as the
// machine has cores), must succeed, and its capture must decode in tshark with 0 malformed frames
// and 0 bad checksums (IPv4/UDP/TCP/ICMP checksum validation on).
// Skipped when tshark is not installed.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BAD_CHECKSUM, CHECKED, MALFORMED, tshark } from "./tshark.js";

const haveTshark = spawnSync("tshark", ["-v"], { stdio: "ignore" }).status === 0;
const root = new URL("..", import.meta.url).pathname;
const examples = readdirSync(join(root, "examples")).filter((f) => f.endsWith(".yaml")).sort();
const dir = mkdtempSync(join(tmpdir(), "wireyard-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const count = (file: string, filter: string) => tshark(["-r", file, "-Y", filter, "-T", "fields", "-e", "frame.number"]).split("\n").filter(Boolean).length;

describe.skipIf(!haveTshark)("wireyard run examples/*.yaml --pcap", () => {
  for (const f of examples) {
    it(`${f}: exit 0, every capture clean in tshark`, () => {
      const out = join(dir, f.replace(".yaml", ""));
      // as `npx wireyard` runs it: the package's bin, the built file itself, executed through its
      // #! line, which the build marks executable (tsc does not: a fresh clone answered
      // "Permission denied")
      const r = spawnSync(join(root, "dist/cli/main.js"), ["run", join(root, "examples", f), "--pcap", out], { encoding: "utf8", cwd: root });
      expect(r.stderr).toBe("");
      expect(r.status, r.stdout).toBe(0);
      expect(r.stdout).toMatch(/expectations: \d+ passed, 0 failed/);
      const pcaps = readdirSync(out).filter((p) => p.endsWith(".pcapng"));
      expect(pcaps.length).toBe(1);
      const file = join(out, pcaps[0]!);
      const frames = count(file, "frame");
      expect(frames).toBeGreaterThan(0);
      expect(count(file, MALFORMED)).toBe(0);
      expect(count(file, BAD_CHECKSUM)).toBe(0);
      expect(count(file, CHECKED)).toBeGreaterThan(0);
    });
  }

  it("a scenario error is one line naming the file, line and field, exit 2", () => {
    const r = spawnSync(process.execPath, [join(root, "dist/cli/main.js"), "validate", join(root, "interop/fixtures/bad-scenario.yaml")], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^wireyard: .*bad-scenario\.yaml:\d+:\d+: [a-z_.\[\]0-9]+: /);
  });
});
