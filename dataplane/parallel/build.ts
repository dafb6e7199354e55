// Where the worker script is, and how tests get it built. Worker threads run plain JavaScript:
// from the compiled tree (dist/dataplane/parallel/index.js) the worker is its sibling worker.js;
// from the TypeScript sources (vitest) it is dist/dataplane/parallel/worker.js, which
// `ensureWorkerBuilt` compiles (tsconfig.json here: the worker's imports only) when a source is
// newer than the last build. Builds are serialised between processes by a lock directory, so two
// test files starting together do not write the same files at once. Cold path.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(import.meta.url);
/** The repository (or installed package) root. */
const ROOT = resolve(dirname(here), here.endsWith(".ts") ? "../.." : "../../..");
const DIST_WORKER = join(ROOT, "dist/dataplane/parallel/worker.js");

/** The worker script for piscina. */
export function workerScript(): string {
  const js = here.endsWith(".js") ? join(dirname(here), "worker.js") : DIST_WORKER;
  if (!existsSync(js)) throw new Error(`${js} not found: worker threads run compiled code; build first (npm run build)`);
  return js;
}

/** Compile the worker into dist/ if a source changed since the last build (tests call this). */
export function ensureWorkerBuilt(): void {
  const stamp = join(ROOT, "dist/.parallel-worker-built");
  const lock = join(ROOT, "dist/.parallel-worker-lock");
  mkdirSync(join(ROOT, "dist"), { recursive: true });
  const fresh = () => existsSync(stamp) && existsSync(DIST_WORKER) && statSync(stamp).mtimeMs >= newestSource();
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (fresh()) return;
    try {
      mkdirSync(lock);
      break;
    } catch {
      // another process is building: wait for it (a lock older than 2 minutes is stale)
      const held = statSync(lock, { throwIfNoEntry: false });
      if (Date.now() > deadline || (held && Date.now() - held.mtimeMs > 120_000)) rmSync(lock, { recursive: true, force: true });
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
  try {
    if (fresh()) return;
    const started = Date.now();
    const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
    try {
      execFileSync(process.execPath, [tsc, "-p", join(ROOT, "dataplane/parallel/tsconfig.json")], { cwd: ROOT, stdio: "pipe" });
    } catch (err) {
      const out = String((err as { stdout?: Buffer }).stdout ?? "") + String((err as { stderr?: Buffer }).stderr ?? "");
      throw new Error(`building the parallel worker failed:\n${out || (err as Error).message}`);
    }
    writeFileSync(stamp, "");
    // sources saved during the build make the stamp stale next time
    if (newestSource() > started) rmSync(stamp, { force: true });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Newest modification time of the sources a worker may import (core/, dataplane/, not tests). */
function newestSource(): number {
  let newest = 0;
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== "fixtures") walk(p);
      } else if ((e.name.endsWith(".ts") && !e.name.endsWith(".test.ts")) || e.name === "tsconfig.json") newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(join(ROOT, "core"));
  walk(join(ROOT, "dataplane"));
  return Math.max(newest, statSync(join(ROOT, "tsconfig.json")).mtimeMs);
}
