// Scenario files → Scenario (types.ts): a YAML document (yaml.ts) in the compose-like format of
// docs/scenario.md, every value checked, every reference resolved, every default filled in. An
// error points at the node it is about, `<file>:<line>:<col>: <field>: <reason>`, and its reason
// says what is wrong and what is allowed.
//
// Reading goes section by section: hosts, networks, containers, links, traffic, capture, expect.
// Names are collected from the mapping keys before any entry is read, and each entry is read on
// its own: a bad entry neither hides the errors of the others (parseScenarioAll) nor causes
// follow-on errors (a reference to it still resolves; a check that needs its details skips it).
// Errors are ordered by position, so parseScenario reports the one that comes first in the file.

import { readFileSync } from "node:fs";
import type { Ctx } from "./context.js";
import { ALLOWED_KEYS } from "./keys.js";
import { readContainers } from "./read-containers.js";
import { readHosts } from "./read-hosts.js";
import { readNetworks } from "./read-networks.js";
import { readCapture, readExpect, readLinks, readTraffic } from "./read-traffic.js";
import { Reader, ScenarioError, describe, fail, readObj, type Obj } from "./reader.js";
import type { Scenario } from "./types.js";
import { duration, int, oneOf, str } from "./values.js";
import { YamlError, parseYaml, type YamlNode } from "./yaml.js";

export { ScenarioError };
export { ALLOWED_KEYS };

export interface ScenarioResult {
  /** Present when there are no errors. */
  scenario?: Scenario;
  /** Every error found, in file order. */
  errors: ScenarioError[];
}

/** Parse and validate a scenario; throws the first ScenarioError (in file order). */
export function parseScenario(text: string, file: string): Scenario {
  const result = parseScenarioAll(text, file);
  if (result.scenario === undefined) throw result.errors[0]!;
  return result.scenario;
}

/** Read a scenario file; an unreadable file is a ScenarioError at line 0. */
export function loadScenario(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ScenarioError(path, 0, 0, "(file)", `cannot read the file: ${(e as Error).message}`);
  }
  return parseScenario(text, path);
}

/** Parse and validate a scenario, collecting every error instead of stopping at the first. */
export function parseScenarioAll(text: string, file: string): ScenarioResult {
  const r = new Reader(file);
  const scenario = r.guard(() => readScenario(r, text));
  const errors = r.sorted();
  return errors.length === 0 && scenario !== undefined ? { scenario, errors: [] } : { errors };
}

// ---- the scenario --------------------------------------------------------------------------

function readScenario(r: Reader, text: string): Scenario {
  const root = readYamlRoot(text);
  const top = readObj(r, root, "", ALLOWED_KEYS.scenario, "scenario settings");
  const ctx: Ctx = {
    r, hostNames: new Map(), hosts: new Map(), dockerHosts: [], networkNames: new Set(), networks: new Map(),
    containerNames: new Map(), containers: new Map(),
  };
  const meta = readMeta(r, top);
  readHosts(ctx, top.get("hosts"));
  const networks = readNetworks(ctx, top.get("networks"));
  readContainers(ctx, top.get("containers"));
  const scenario: Scenario = {
    file: r.file,
    ...meta,
    hosts: [...ctx.hosts.values()].map((h) => h.spec),
    networks,
    containers: [...ctx.containers.values()].map((c) => c.spec),
    links: readLinks(ctx, top.get("links")),
    traffic: readTraffic(ctx, top.get("traffic")),
    capture: readCapture(ctx, top.get("capture")),
    expect: readExpect(ctx, top.get("expect")),
  };
  return scenario;
}

function readYamlRoot(text: string): YamlNode {
  let root: YamlNode | undefined;
  try {
    root = parseYaml(text);
  } catch (e) {
    if (!(e instanceof YamlError)) throw e;
    fail(e, e.field, e.reason);
  }
  const keys = ALLOWED_KEYS.scenario.join(", ");
  if (root === undefined) fail({ line: 1, col: 1 }, "", `the file is empty (a scenario is a mapping with the keys ${keys})`);
  if (root.kind !== "map") fail(root, "", `the top level must be a mapping with the keys ${keys}; found ${describe(root)}`);
  return root;
}

function readMeta(r: Reader, top: Obj): Pick<Scenario, "name" | "seed" | "profile" | "durationNs"> {
  const meta: Pick<Scenario, "name" | "seed" | "profile" | "durationNs"> = { seed: 1, profile: "classic" };
  r.guard(() => {
    const name = top.opt("name", (n, p) => str(n, p, "a name"), undefined);
    if (name !== undefined) meta.name = name;
  });
  r.guard(() => (meta.seed = top.opt("seed", (n, p) => int(n, p, 0), 1)));
  r.guard(() => (meta.profile = top.opt("profile", (n, p) => oneOf(n, p, ["classic", "modern"] as const, "profile"), "classic")));
  r.guard(() => {
    const d = top.opt("duration", (n, p) => duration(n, p, true), undefined);
    if (d !== undefined) meta.durationNs = d;
  });
  return meta;
}
