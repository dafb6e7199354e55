// A YAML subset parser: the part of YAML 1.2 that compose-like scenario files use, with the line
// and column of every node kept so that a later check can point at the value it rejects.
//
// Supported: block mappings and sequences at any indentation (including `- key: v` mappings inside
// sequences and sequences at their key's indentation), flow sequences and mappings (`[a, b]`,
// `{from: c0, to: c1}`, which may span lines), plain, single- and double-quoted scalars,
// comments, one document (an optional leading `---`). Plain scalars resolve as the YAML 1.2
// core schema does: null, bool, int (decimal, 0o, 0x), float (incl. .inf, .nan); everything else
// stays a string, so `8080:80`, `10ms`, `02:42:ac:11:00:02` and `172.17.0.0/16` are strings.
//
// Refused with a positioned YamlError: tabs in indentation, duplicate keys, anchors, aliases,
// tags, block scalars (`|`, `>`), complex keys (`? `), directives, several documents,
// multi-line plain or quoted scalars, inconsistent indentation, unterminated quotes and flow
// collections, nesting deeper than MAX_DEPTH. The parser never throws anything else: every loop
// consumes input, and recursion is bounded by MAX_DEPTH.

export interface Mark {
  line: number;
  col: number;
}

export type ScalarValue = string | number | boolean | null;

export interface YamlScalar extends Mark {
  kind: "scalar";
  value: ScalarValue;
  /** The text as written (without quotes, escapes resolved); "" for an empty value. */
  text: string;
  quoted: boolean;
}

export interface YamlSeq extends Mark {
  kind: "seq";
  items: YamlNode[];
}

/** A key and its value; the Mark is the key's. */
export interface YamlEntry extends Mark {
  key: string;
  value: YamlNode;
}

export interface YamlMap extends Mark {
  kind: "map";
  entries: YamlEntry[];
}

export type YamlNode = YamlScalar | YamlSeq | YamlMap;

/** The field name used for the document itself. */
export const ROOT_FIELD = "(top level)";

export class YamlError extends Error {
  override name = "YamlError";
  constructor(
    readonly line: number,
    readonly col: number,
    /** Dotted path of the node being read, e.g. `containers.web.ports[0]`. */
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${line}:${col}: ${field}: ${reason}`);
  }
}

/** Parse one document. `undefined` when it holds nothing but blank lines and comments. */
export function parseYaml(text: string): YamlNode | undefined {
  // Line ends are normalized so that columns count characters of the line as an editor shows it.
  const src = text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
  return new Parser(src).document();
}

/** `parent.key`, or `parent["key"]` for keys that would read ambiguously in a dotted path. */
export function childPath(parent: string, key: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(key)) return `${parent}[${JSON.stringify(key)}]`;
  return parent === "" ? key : `${parent}.${key}`;
}

export function itemPath(parent: string, index: number): string {
  return `${parent}[${index}]`;
}

/** The node as plain JSON-like data (mappings become objects, in key order). */
export function toPlain(node: YamlNode): unknown {
  if (node.kind === "scalar") return node.value;
  if (node.kind === "seq") return node.items.map(toPlain);
  return Object.fromEntries(node.entries.map((e) => [e.key, toPlain(e.value)]));
}

/** A short, quoted excerpt of the text at `p` for messages. */
function excerpt(src: string, p: number): string {
  const end = src.indexOf("\n", p);
  const rest = src.slice(p, end < 0 ? undefined : end);
  return JSON.stringify(rest.length > 20 ? `${rest.slice(0, 20)}…` : rest);
}

function spaces(n: number): string {
  return n === 1 ? "1 space" : `${n} spaces`;
}

const isBlank = (c: string): boolean => c === " " || c === "\t";
const isLineEnd = (c: string): boolean => c === "\n" || c === "";
const isSep = (c: string): boolean => isBlank(c) || isLineEnd(c);
const FLOW_INDICATORS = ",[]{}";
/** Characters that cannot start a plain scalar (YAML's c-indicator, less `-?:`). */
const NOT_PLAIN_FIRST = ",[]{}#&*!|>'\"%@`";

// Single-character escapes of double-quoted scalars (YAML 1.2 §5.7).
const ESCAPES: Record<string, string> = {
  "0": "\0", a: "\x07", b: "\b", t: "\t", "\t": "\t", n: "\n", v: "\v", f: "\f", r: "\r",
  e: "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", N: "\x85", _: "\xa0", L: "\u2028", P: "\u2029",
};
const HEX_ESCAPES: Record<string, number> = { x: 2, u: 4, U: 8 };

/** Deeper nesting is refused: real scenarios nest 5 levels, and recursion must stay bounded. */
export const MAX_DEPTH = 64;

/** YAML 1.2 core schema resolution of a plain scalar. */
export function resolvePlain(t: string): ScalarValue {
  if (/^(~|null|Null|NULL)?$/.test(t)) return null;
  if (/^(true|True|TRUE)$/.test(t)) return true;
  if (/^(false|False|FALSE)$/.test(t)) return false;
  if (/^[-+]?[0-9]+$/.test(t)) return Number(t) || 0; // `|| 0`: "-0" is 0
  if (/^0o[0-7]+$/.test(t)) return parseInt(t.slice(2), 8);
  if (/^0x[0-9a-fA-F]+$/.test(t)) return parseInt(t.slice(2), 16);
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(t)) return Number(t) || 0;
  if (/^[-+]?\.(inf|Inf|INF)$/.test(t)) return t.startsWith("-") ? -Infinity : Infinity;
  if (/^\.(nan|NaN|NAN)$/.test(t)) return NaN;
  return t;
}

class Parser {
  private pos = 0;
  private depth = 0;
  private seenContent = false;
  /** Offset of the first character of every line. */
  private readonly starts: number[] = [0];

  constructor(private readonly src: string) {
    for (let i = 0; i < src.length; i++) if (src.charCodeAt(i) === 10) this.starts.push(i + 1);
  }

  document(): YamlNode | undefined {
    if (this.seekContent("") < 0) return undefined;
    const node = this.blockNode("");
    if (this.seekContent("") >= 0) {
      this.fail(this.pos, "", `unexpected content after the document's top-level value (which started at line ${node.line}); everything must belong to it`);
    }
    return node;
  }

  // ---- positions and characters ----------------------------------------------------------

  private mark(at: number): Mark {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: at - this.starts[lo]! + 1 };
  }

  private fail(at: number, path: string, reason: string): never {
    const m = this.mark(at);
    throw new YamlError(m.line, m.col, path === "" ? ROOT_FIELD : path, reason);
  }

  /** The character at `at`, "" past the end. */
  private ch(at = this.pos): string {
    return this.src[at] ?? "";
  }

  private lineStart(at: number): number {
    return this.starts[this.mark(at).line - 1]!;
  }

  /** Offset of the line break ending the line of `at` (the text's length on the last line). */
  private lineEnd(at: number): number {
    const nl = this.src.indexOf("\n", at);
    return nl < 0 ? this.src.length : nl;
  }

  private nextLine(at: number): number {
    return Math.min(this.lineEnd(at) + 1, this.src.length);
  }

  /** A "#" starts a comment only after a blank or at the start of a line. */
  private atComment(): boolean {
    return this.ch() === "#" && isSep(this.ch(this.pos - 1));
  }

  private skipBlanks(): void {
    while (isBlank(this.ch())) this.pos++;
  }

  private atLineEndOrComment(): boolean {
    return isLineEnd(this.ch()) || this.atComment();
  }

  private atSeqItem(): boolean {
    return this.ch() === "-" && isSep(this.ch(this.pos + 1));
  }

  private enter(at: number, path: string): void {
    if (++this.depth > MAX_DEPTH) this.fail(at, path, `nesting deeper than ${MAX_DEPTH} levels is not supported`);
  }

  // ---- lines -----------------------------------------------------------------------------

  /** Move to the first character of the next line holding content (skipping blank and
   *  comment-only lines) and return its indentation, or -1 at the end of the text. The position
   *  must be at the start of a line, at the first character of one (so this can be repeated), or
   *  at the end of the text. */
  private seekContent(path: string): number {
    let p = this.pos >= this.src.length ? this.pos : this.lineStart(this.pos);
    for (;;) {
      if (p >= this.src.length) {
        this.pos = p;
        return -1;
      }
      let q = p;
      while (this.ch(q) === " ") q++;
      let r = q;
      while (isBlank(this.ch(r))) r++;
      if (isLineEnd(this.ch(r)) || this.ch(r) === "#") {
        p = this.nextLine(r);
        continue;
      }
      if (r !== q) this.fail(q, path, "tab character in indentation (YAML indents with spaces only)");
      if (q === p && this.documentMarker(q, path)) {
        p = this.nextLine(q);
        continue;
      }
      this.pos = q;
      this.seenContent = true;
      return q - p;
    }
  }

  /** At column 1: a leading `---` is skipped (true); other markers and directives are refused. */
  private documentMarker(q: number, path: string): boolean {
    const marker = this.src.slice(q, q + 3);
    const c = this.ch(q);
    if (c === "%") this.fail(q, path, "directives (%YAML, %TAG) are not supported");
    if ((marker !== "---" && marker !== "...") || !isSep(this.ch(q + 3))) return false;
    if (marker === "...") this.fail(q, path, 'document end markers ("...") are not supported');
    if (this.seenContent) this.fail(q, path, "multiple documents (---) are not supported: a scenario file holds one document");
    let r = q + 3;
    while (isBlank(this.ch(r))) r++;
    if (!isLineEnd(this.ch(r)) && this.ch(r) !== "#") this.fail(r, path, "content on the --- line is not supported; start the document on the next line");
    return true;
  }

  /** After a value: only blanks and a comment may follow on its line; moves to the next line. */
  private endLine(path: string): void {
    this.skipBlanks();
    const c = this.ch();
    if (this.atComment()) this.pos = this.lineEnd(this.pos);
    if (this.ch() === "\n") {
      this.pos++;
      return;
    }
    if (this.ch() === "") return;
    if (c === ":") this.fail(this.pos, path, 'unexpected ":" after a value (a key is a plain or quoted string followed by ": ")');
    this.fail(this.pos, path, `unexpected text after the value: ${excerpt(this.src, this.pos)} (quote a value that contains ": " or " #")`);
  }

  // ---- block collections ------------------------------------------------------------------

  /** The node starting at the position, whose column is its indentation. */
  private blockNode(path: string): YamlNode {
    const start = this.pos;
    this.enter(start, path);
    const indent = start - this.lineStart(start);
    let node: YamlNode;
    if (this.atSeqItem()) node = this.blockSeq(indent, path, false);
    else if (this.keyColon() >= 0) node = this.blockMap(indent, path);
    else {
      node = this.inlineValue(path, false);
      this.endLine(path);
    }
    this.depth--;
    return node;
  }

  private blockSeq(indent: number, path: string, underKey: boolean): YamlSeq {
    const seq: YamlSeq = { kind: "seq", items: [], ...this.mark(this.pos) };
    for (;;) {
      seq.items.push(this.seqItem(indent, itemPath(path, seq.items.length)));
      const next = this.seekContent(path);
      if (next < indent) return seq;
      if (next > indent) this.badIndent(next, indent, path, `the "- " items of the sequence at line ${seq.line}`);
      if (this.atSeqItem()) continue;
      if (underKey) return seq;
      this.fail(this.pos, path, `expected a "- " item like the others of the sequence at line ${seq.line}, found ${excerpt(this.src, this.pos)}`);
    }
  }

  private seqItem(indent: number, path: string): YamlNode {
    const dash = this.pos;
    this.pos++;
    this.skipBlanks();
    if (this.atLineEndOrComment()) return this.nestedValue(indent, path, dash, false);
    return this.blockNode(path);
  }

  private blockMap(indent: number, path: string): YamlMap {
    const map: YamlMap = { kind: "map", entries: [], ...this.mark(this.pos) };
    const seen = new Map<string, Mark>();
    for (;;) {
      this.mapEntry(map, seen, indent, path);
      const next = this.seekContent(path);
      if (next < indent) return map;
      const last = map.entries[map.entries.length - 1]!;
      const like = `"${last.key}" at line ${last.line}`;
      if (next > indent) this.badIndent(next, indent, path, like);
      if (this.atSeqItem()) this.fail(this.pos, path, `a "- " item cannot follow ${like} at the same indentation; indent the items under their key`);
      if (this.keyColon() < 0) this.fail(this.pos, path, `expected "key: value" like ${like}, found ${excerpt(this.src, this.pos)}`);
    }
  }

  private badIndent(found: number, expected: number, path: string, like: string): never {
    return this.fail(this.pos, path, `bad indentation: ${spaces(found)}, expected ${spaces(expected)} (like ${like})`);
  }

  private mapEntry(map: YamlMap, seen: Map<string, Mark>, indent: number, path: string): void {
    const at = this.pos;
    const key = this.blockKey(path);
    const field = childPath(path, key);
    this.checkDuplicate(seen, key, at, field);
    this.skipBlanks();
    let value: YamlNode;
    if (this.atLineEndOrComment()) value = this.nestedValue(indent, field, at, true);
    else if (this.atSeqItem()) this.fail(this.pos, field, 'a "- " sequence cannot start on its key\'s line; put each item on its own line below the key');
    else {
      value = this.inlineValue(field, false);
      this.endLine(field);
    }
    map.entries.push({ key, ...this.mark(at), value });
  }

  /** The value of a key or "- " with nothing after it on its line: the more indented lines that
   *  follow, a sequence at the key's own indentation (`sameIndentSeq`), or else null. */
  private nestedValue(indent: number, path: string, at: number, sameIndentSeq: boolean): YamlNode {
    this.endLine(path);
    const next = this.seekContent(path);
    if (next > indent) return this.blockNode(path);
    if (next === indent && sameIndentSeq && this.atSeqItem()) return this.blockSeq(indent, path, true);
    return { kind: "scalar", value: null, text: "", quoted: false, ...this.mark(at) };
  }

  private checkDuplicate(seen: Map<string, Mark>, key: string, at: number, field: string): void {
    const first = seen.get(key);
    if (first === undefined) seen.set(key, this.mark(at));
    else this.fail(at, field, `duplicate key ${JSON.stringify(key)} (first at line ${first.line}, column ${first.col}); each key may appear once`);
  }

  /** Where the ":" of a block mapping key on this line is, or -1 if the line is not "key: ...". */
  private keyColon(): number {
    let p = this.pos;
    const c = this.ch(p);
    if (c === '"' || c === "'") {
      p = this.quotedEnd(p);
      if (p < 0) return -1;
      while (isBlank(this.ch(p))) p++;
      return this.ch(p) === ":" && isSep(this.ch(p + 1)) ? p : -1;
    }
    if (NOT_PLAIN_FIRST.includes(c)) return -1;
    for (; !isLineEnd(this.ch(p)); p++) {
      const d = this.ch(p);
      if (isBlank(d) && this.ch(p + 1) === "#") return -1;
      if (d === ":" && isSep(this.ch(p + 1))) return p;
    }
    return -1;
  }

  /** Reads a block mapping key and its ":". */
  private blockKey(path: string): string {
    const colon = this.keyColon();
    const c = this.ch();
    let key: string;
    if (c === '"' || c === "'") key = this.quoted(path).text;
    else {
      key = this.src.slice(this.pos, colon).replace(/[ \t]+$/, "");
      if (key === "") this.fail(this.pos, path, 'missing key before ":"');
      if (c === "?" && isSep(this.ch(this.pos + 1))) this.fail(this.pos, path, 'complex keys ("? ") are not supported');
    }
    this.pos = colon + 1;
    return key;
  }

  // ---- values on one line (block context) or inside [ ] and { } (flow context) ----------------

  private inlineValue(path: string, flow: boolean): YamlNode {
    const c = this.ch();
    const n = this.ch(this.pos + 1);
    if (c === "[") return this.flowSeq(path);
    if (c === "{") return this.flowMap(path);
    if (c === '"' || c === "'") return this.quoted(path);
    if (c === "&") this.fail(this.pos, path, "anchors (&name) are not supported; repeat the value instead");
    if (c === "*") this.fail(this.pos, path, "aliases (*name) are not supported; repeat the value instead");
    if (c === "!") this.fail(this.pos, path, "tags (!tag) are not supported; quote the value to make it a string");
    if (c === "|" || c === ">") this.fail(this.pos, path, `block scalars ("${c}") are not supported; write the value on one line, quoted if needed`);
    if (NOT_PLAIN_FIRST.includes(c)) this.fail(this.pos, path, `a plain value cannot start with "${c}"; quote the value`);
    const sepAfter = isSep(n) || (flow && FLOW_INDICATORS.includes(n));
    if (c === "-" && sepAfter) this.fail(this.pos, path, 'a "- " sequence item cannot appear here (inside [ ] use commas: [a, b])');
    if (c === "?" && sepAfter) this.fail(this.pos, path, 'complex keys ("? ") are not supported');
    if (c === ":" && sepAfter) this.fail(this.pos, path, 'missing key before ":"');
    return this.plain(path, flow);
  }

  private plain(path: string, flow: boolean): YamlScalar {
    const start = this.pos;
    let p = start;
    for (;; p++) {
      const c = this.ch(p);
      if (isLineEnd(c) || (isBlank(c) && this.ch(p + 1) === "#")) break;
      if (flow && FLOW_INDICATORS.includes(c)) break;
      if (c !== ":") continue;
      const n = this.ch(p + 1);
      if (flow && (isSep(n) || FLOW_INDICATORS.includes(n))) break;
      if (!flow && isSep(n)) this.fail(p, path, 'unexpected ": " inside a value: a nested mapping goes on the next lines, indented; quote a value that contains ": "');
    }
    const text = this.src.slice(start, p).replace(/[ \t]+$/, "");
    this.pos = start + text.length;
    return { kind: "scalar", value: resolvePlain(text), text, quoted: false, ...this.mark(start) };
  }

  private quoted(path: string): YamlScalar {
    const start = this.pos;
    const text = this.ch() === "'" ? this.singleQuoted(path) : this.doubleQuoted(path);
    return { kind: "scalar", value: text, text, quoted: true, ...this.mark(start) };
  }

  private unterminated(start: number, path: string, q: string): never {
    return this.fail(start, path, `unterminated string: no closing ${q} on this line (quoted strings must end on the line they start)`);
  }

  private singleQuoted(path: string): string {
    const start = this.pos;
    let out = "";
    for (let p = start + 1; ; p++) {
      const c = this.ch(p);
      if (isLineEnd(c)) this.unterminated(start, path, "'");
      if (c !== "'") {
        out += c;
        continue;
      }
      if (this.ch(p + 1) !== "'") {
        this.pos = p + 1;
        return out;
      }
      out += "'";
      p++;
    }
  }

  private doubleQuoted(path: string): string {
    const start = this.pos;
    let out = "";
    let p = start + 1;
    for (;;) {
      const c = this.ch(p);
      if (isLineEnd(c)) this.unterminated(start, path, '"');
      if (c === '"') {
        this.pos = p + 1;
        return out;
      }
      if (c !== "\\") {
        out += c;
        p++;
        continue;
      }
      const [s, len] = this.escape(p, path);
      out += s;
      p += len;
    }
  }

  /** The escape sequence at `p` (a backslash): its text and its length in the source. */
  private escape(p: number, path: string): [string, number] {
    const e = this.ch(p + 1);
    const simple = ESCAPES[e];
    if (simple !== undefined) return [simple, 2];
    const digits = HEX_ESCAPES[e];
    const hex = digits === undefined ? "" : this.src.slice(p + 2, p + 2 + digits);
    if (digits === undefined || !new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) {
      const shown = isLineEnd(e) ? "\\ at the end of the line" : `"\\${e}"`;
      this.fail(p, path, `unknown escape ${shown} in a double-quoted string (allowed: \\\\ \\" \\/ \\0 \\a \\b \\t \\n \\v \\f \\r \\e \\xXX \\uXXXX \\UXXXXXXXX; or use single quotes)`);
    }
    const code = parseInt(hex, 16);
    if (code > 0x10ffff) this.fail(p, path, `escape \\${e}${hex} is beyond the last Unicode code point (10FFFF)`);
    return [String.fromCodePoint(code), 2 + digits];
  }

  /** Offset just past the closing quote of the string opened at `p`, or -1 if it does not close
   *  on its line. */
  private quotedEnd(p: number): number {
    const q = this.ch(p);
    for (let i = p + 1; !isLineEnd(this.ch(i)); i++) {
      const c = this.ch(i);
      const escaped = (q === '"' && c === "\\") || (q === "'" && c === q && this.ch(i + 1) === q);
      if (escaped && isLineEnd(this.ch(i + 1))) return -1;
      if (escaped) i++;
      else if (c === q) return i + 1;
    }
    return -1;
  }

  // ---- flow collections ---------------------------------------------------------------------

  /** Skip blanks, line breaks and comments inside [ ] or { }; the end of the text is an error
   *  reported at the opening bracket. */
  private skipFlowSpace(path: string, open: number, closer: string): void {
    for (;;) {
      const c = this.ch();
      if (c === "") {
        const what = closer === "]" ? "sequence" : "mapping";
        this.fail(open, path, `unterminated flow ${what}: no "${closer}" closes the "${this.ch(open)}" opened here`);
      }
      if (isSep(c)) this.pos++;
      else if (this.atComment()) this.pos = this.lineEnd(this.pos);
      else return;
    }
  }

  /** A reminder of where the bracket was opened, when the error is on another line. */
  private stillOpen(open: number): string {
    const m = this.mark(open);
    return m.line === this.mark(this.pos).line ? "" : ` (the "${this.ch(open)}" at line ${m.line}, column ${m.col} is still open)`;
  }

  private flowSeq(path: string): YamlSeq {
    const open = this.pos;
    this.enter(open, path);
    const seq: YamlSeq = { kind: "seq", items: [], ...this.mark(open) };
    this.pos++;
    for (;;) {
      this.skipFlowSpace(path, open, "]");
      if (this.ch() === "]") break;
      if (this.ch() === ",") this.fail(this.pos, path, 'expected a value before ","');
      const item = itemPath(path, seq.items.length);
      seq.items.push(this.inlineValue(item, true));
      this.skipFlowSpace(path, open, "]");
      const c = this.ch();
      if (c === "]") break;
      if (c === ",") this.pos++;
      else if (c === ":") this.fail(this.pos, item, "key: value pairs are not supported inside [ ]; use { } for a mapping");
      else this.fail(this.pos, path, `expected "," or "]" after the item, found ${excerpt(this.src, this.pos)}${this.stillOpen(open)}`);
    }
    this.pos++;
    this.depth--;
    return seq;
  }

  private flowMap(path: string): YamlMap {
    const open = this.pos;
    this.enter(open, path);
    const map: YamlMap = { kind: "map", entries: [], ...this.mark(open) };
    const seen = new Map<string, Mark>();
    this.pos++;
    for (;;) {
      this.skipFlowSpace(path, open, "}");
      if (this.ch() === "}") break;
      if (this.ch() === ",") this.fail(this.pos, path, 'expected a key before ","');
      this.flowEntry(map, seen, path, open);
      this.skipFlowSpace(path, open, "}");
      const c = this.ch();
      if (c === "}") break;
      if (c === ",") this.pos++;
      else this.fail(this.pos, path, `expected "," or "}" after the value, found ${excerpt(this.src, this.pos)}${this.stillOpen(open)}`);
    }
    this.pos++;
    this.depth--;
    return map;
  }

  /** `key: value`, `key:` or `key` (both null) inside { }. */
  private flowEntry(map: YamlMap, seen: Map<string, Mark>, path: string, open: number): void {
    const at = this.pos;
    const keyNode = this.inlineValue(path, true);
    if (keyNode.kind !== "scalar") this.fail(at, path, "[ ] and { } cannot be keys (not supported)");
    const key = keyNode.text;
    const field = childPath(path, key);
    this.checkDuplicate(seen, key, at, field);
    this.skipFlowSpace(path, open, "}");
    let value: YamlNode = { kind: "scalar", value: null, text: "", quoted: false, ...this.mark(at) };
    if (this.ch() === ":") {
      this.pos++;
      this.skipFlowSpace(path, open, "}");
      if (this.ch() !== "," && this.ch() !== "}") value = this.inlineValue(field, true);
    }
    map.entries.push({ key, ...this.mark(at), value });
  }
}
