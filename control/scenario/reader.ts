// The machinery every section reader shares: a rejected value becomes a positioned ScenarioError
// without stopping the others, and a mapping is read with its unknown keys reported, each with a
// "did you mean" hint where one is close.

import { dirname, resolve } from "node:path";
import { ROOT_FIELD, childPath, type Mark, type YamlEntry, type YamlNode } from "./yaml.js";

export class ScenarioError extends Error {
  override name = "ScenarioError";
  constructor(
    readonly file: string,
    /** 1-based; 0 when the file could not be read. */
    readonly line: number,
    readonly col: number,
    /** Dotted path of the offending value, e.g. `containers.web.ports[0]`. */
    readonly field: string,
    readonly reason: string,
  ) {
    // a file that could not be read has no position: "FILE: cannot read the file: ..."
    super(line === 0 ? `${file}: ${reason}` : `${file}:${line}:${col}: ${field}: ${reason}`);
  }
}

/** A rejected value; the Reader turns it into a ScenarioError of its file. */
class Fault {
  constructor(
    readonly at: Mark,
    readonly field: string,
    readonly reason: string,
    /** 1: a name that is not defined. Such errors come after the others, which may explain them
     *  (a misspelt `containers:` leaves every container undefined). */
    readonly tier = 0,
  ) {}
}

/** Abandons an entry whose fault is already reported (a required key missing because it was
 *  misspelt: the "unknown key" error says it all). */
const SILENT = Symbol("silent");

export function fail(at: Mark, field: string, reason: string): never {
  throw new Fault(at, field === "" ? ROOT_FIELD : field, reason);
}

export function failRef(at: Mark, field: string, reason: string): never {
  throw new Fault(at, field, reason, 1);
}

export class Reader {
  private readonly faults: Fault[] = [];
  readonly dir: string;
  constructor(readonly file: string) {
    this.dir = dirname(resolve(file));
  }

  report(f: Fault): void {
    this.faults.push(f);
  }

  /** Run `read`; a Fault is recorded and gives undefined. */
  guard<T>(read: () => T): T | undefined {
    try {
      return read();
    } catch (e) {
      if (e === SILENT) return undefined;
      if (!(e instanceof Fault)) throw e;
      this.report(e);
      return undefined;
    }
  }

  /** The errors by tier, then by position in the file. */
  sorted(): ScenarioError[] {
    return [...this.faults]
      .sort((a, b) => a.tier - b.tier || a.at.line - b.at.line || a.at.col - b.at.col)
      .map((f) => new ScenarioError(this.file, f.at.line, f.at.col, f.field, f.reason));
  }
}

/** A mapping being read: its entries by key, and where it is. */
export class Obj {
  private readonly byKey: Map<string, YamlEntry>;
  /** Allowed keys that an unknown key was taken to be a misspelling of. */
  readonly suggested = new Set<string>();
  constructor(readonly at: Mark, readonly path: string, entries: YamlEntry[]) {
    this.byKey = new Map(entries.map((e) => [e.key, e]));
  }
  get(key: string): YamlNode | undefined {
    return this.byKey.get(key)?.value;
  }
  entry(key: string): YamlEntry | undefined {
    return this.byKey.get(key);
  }
  field(key: string): string {
    return childPath(this.path, key);
  }
  need(key: string, why: string): YamlNode {
    const v = this.get(key);
    if (v === undefined && this.suggested.has(key)) throw SILENT;
    if (v === undefined) fail(this.at, this.field(key), `missing required key "${key}" (${why})`);
    return v;
  }
  /** `read` of the key's value, or `dflt` when the key is absent. */
  opt<T>(key: string, read: (node: YamlNode, path: string) => T, dflt: T): T {
    const v = this.get(key);
    return v === undefined ? dflt : read(v, this.field(key));
  }
}

export type Hints = Partial<Record<string, string>>;

/** A mapping (an empty value counts as an empty one) whose keys are all in `allowed`; each
 *  unknown key is reported on its own and otherwise ignored. */
export function readObj(r: Reader, node: YamlNode, path: string, allowed: readonly string[], what: string, hints: Hints = {}): Obj {
  if (node.kind === "scalar" && node.value === null && !node.quoted) return new Obj(node, path, []);
  if (node.kind !== "map") fail(node, path, `expected a mapping of ${what} (keys: ${allowed.join(", ")}), found ${describe(node)}`);
  const o = new Obj(node, path, node.entries);
  for (const e of node.entries) {
    if (allowed.includes(e.key)) continue;
    const hint = hints[e.key];
    const colon = e.key.indexOf(":");
    const glued = colon > 0 && allowed.includes(e.key.slice(0, colon)) ? e.key.slice(0, colon) : undefined;
    const near = hint === undefined ? glued ?? closest(e.key, allowed) : undefined;
    if (near !== undefined) o.suggested.add(near);
    r.report(new Fault(e, childPath(path, e.key), unknownKey(e.key, allowed, hint ?? (glued === undefined ? undefined : gluedHint(e.key, colon)), near)));
  }
  return o;
}

export function gluedHint(key: string, colon: number): string {
  return `write "${key.slice(0, colon)}: ${key.slice(colon + 1)}", with a blank after the colon`;
}

function unknownKey(key: string, allowed: readonly string[], hint: string | undefined, near: string | undefined): string {
  const list = `allowed: ${allowed.join(", ")}`;
  if (hint !== undefined) return `unknown key "${key}" (${hint}; ${list})`;
  return near === undefined ? `unknown key "${key}" (${list})` : `unknown key "${key}" (did you mean "${near}"? ${list})`;
}

/** The candidate within a small edit distance of `s`, for "did you mean" hints. */
export function closest(s: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(1, Math.min(2, Math.floor(s.length / 3)));
  for (const c of candidates) {
    const d = editDistance(s.toLowerCase(), c.toLowerCase());
    if (d <= bestD && (best === undefined || d < bestD)) [best, bestD] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const swap = i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1] ? prev[j - 2]! : Infinity;
      cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1), swap));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

export function describe(node: YamlNode): string {
  if (node.kind === "seq") return "a list";
  if (node.kind === "map") return "a mapping";
  if (node.value === null && !node.quoted) return "an empty value";
  if (typeof node.value === "string") return `the string ${JSON.stringify(node.value)}`;
  return String(node.value);
}

/** Names in messages: `"a", "b"` or "none". */
export function listOf(names: Iterable<string>): string {
  const all = [...names];
  return all.length === 0 ? "none" : all.join(", ");
}
