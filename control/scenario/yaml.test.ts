import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import { MAX_DEPTH, YamlError, childPath, parseYaml, resolvePlain, toPlain, type YamlMap, type YamlNode } from "./yaml.js";

const plain = (text: string): unknown => {
  const node = parseYaml(text);
  return node === undefined ? undefined : toPlain(node);
};

/** The error message parseYaml throws for `text` ("line:col: field: reason"). */
function yamlError(text: string): string {
  try {
    parseYaml(text);
  } catch (e) {
    if (e instanceof YamlError) return e.message;
    throw e;
  }
  throw new Error("no error");
}

describe("block collections", () => {
  it("reads nested mappings and sequences at any indentation", () => {
    const text = [
      "name: demo   # a comment",
      "containers:",
      "    web:",
      "        ports:",
      "        - 8080:80",
      "        -   '5353:53/udp'",
      "    db: {}",
      "list:",
      "  - a",
      "  -",
      "    - b",
      "    - c",
      "  - key: v",
      "    other: w",
      "  - - x",
      "    - y",
      "  -",
      "",
    ].join("\n");
    expect(plain(text)).toEqual({
      name: "demo",
      containers: { web: { ports: ["8080:80", "5353:53/udp"] }, db: {} },
      list: ["a", ["b", "c"], { key: "v", other: "w" }, ["x", "y"], null],
    });
  });

  it("keeps the line and column of every node", () => {
    const root = parseYaml("a:\n  - {from: c0, to: 10}\n  - x\n") as YamlMap;
    const seq = root.entries[0]!.value;
    expect(root).toMatchObject({ kind: "map", line: 1, col: 1 });
    expect(root.entries[0]).toMatchObject({ key: "a", line: 1, col: 1 });
    expect(seq).toMatchObject({ kind: "seq", line: 2, col: 3 });
    const items = (seq as { items: YamlNode[] }).items;
    expect(items[0]).toMatchObject({ kind: "map", line: 2, col: 5 });
    expect((items[0] as YamlMap).entries[1]).toMatchObject({ key: "to", line: 2, col: 16, value: { value: 10, line: 2, col: 20 } });
    expect(items[1]).toMatchObject({ kind: "scalar", value: "x", line: 3, col: 5 });
  });

  it("gives an empty value null, positioned at its key", () => {
    const root = parseYaml("a:\nb: 1\n") as YamlMap;
    expect(root.entries[0]!.value).toMatchObject({ kind: "scalar", value: null, text: "", line: 1, col: 1 });
  });

  it("accepts a leading ---, CRLF line ends and a byte order mark", () => {
    expect(plain("\uFEFF---\r\na: 1\r\nb:\r\n- x\r\n")).toEqual({ a: 1, b: ["x"] });
  });

  it("returns undefined for a document of comments and blank lines", () => {
    expect(parseYaml("")).toBeUndefined();
    expect(parseYaml("# nothing\n\n   \n\t\n")).toBeUndefined();
  });

  it("reads quoted keys and keys with spaces", () => {
    expect(plain(`"a b": 1\n'c''d' : 2\ne f: 3\n`)).toEqual({ "a b": 1, "c'd": 2, "e f": 3 });
  });
});

describe("flow collections", () => {
  it("reads nested flow sequences and mappings, also across lines", () => {
    expect(plain("a: [1, [2, 3], {x: y, 'q': \"r\"}, ]\nb: {k: [a, b], e: , n}\nc: [\n  1, # one\n  2\n]\n")).toEqual({
      a: [1, [2, 3], { x: "y", q: "r" }],
      b: { k: ["a", "b"], e: null, n: null },
      c: [1, 2],
    });
  });

  it("keeps colons that are not followed by a blank inside plain scalars", () => {
    expect(plain("p: [8080:80, 127.0.0.1:8081:81/udp]\nm: {mac: 02:42:ac:11:00:02}\n")).toEqual({
      p: ["8080:80", "127.0.0.1:8081:81/udp"],
      m: { mac: "02:42:ac:11:00:02" },
    });
    // As in YAML: without a blank after the colon, "target:80" is one plain key with no value.
    expect(plain("{target:80}")).toEqual({ "target:80": null });
    expect(plain('{"target":80}')).toEqual({ target: 80 });
  });
});

describe("scalars", () => {
  it.each([
    ["~", null], ["null", null], ["NULL", null], ["", null],
    ["true", true], ["False", false], ["yes", "yes"], ["on", "on"],
    ["0", 0], ["-0", 0], ["+12", 12], ["0o17", 15], ["0x1F", 31], ["1_000", "1_000"],
    ["1.5", 1.5], [".5", 0.5], ["1e3", 1000], ["-.inf", -Infinity], [".nan", NaN],
    ["8080:80", "8080:80"], ["10ms", "10ms"], ["02:42:ac:11:00:02", "02:42:ac:11:00:02"],
    ["172.17.0.0/16", "172.17.0.0/16"], ["1%", "1%"], ["0.1.2", "0.1.2"],
  ])("resolves %j as the YAML 1.2 core schema does", (text, value) => {
    expect(resolvePlain(text)).toEqual(value);
  });

  it("never resolves quoted scalars", () => {
    expect(plain(`a: "1"\nb: 'true'\nc: "null"\n`)).toEqual({ a: "1", b: "true", c: "null" });
  });

  it("reads double-quoted escapes and single-quoted doubled quotes", () => {
    expect(plain(String.raw`a: "t\tn\n\"q\" \\ \x41\u00e9\U0001F600 \/"`)).toEqual({ a: 't\tn\n"q" \\ Aé😀 /' });
    expect(plain("a: 'it''s # not a comment'")).toEqual({ a: "it's # not a comment" });
  });

  it("ends plain scalars at a comment, not at a # inside a word", () => {
    expect(plain("a: b#c # comment\nb: x # y")).toEqual({ a: "b#c", b: "x" });
  });
});

describe("errors", () => {
  it.each([
    ["a:\n\tb: 1\n", "2:1: a: tab character in indentation (YAML indents with spaces only)"],
    ["a:\n  \t- 1\n", "2:3: a: tab character in indentation (YAML indents with spaces only)"],
    ["a: 1\nb: 2\na: 3\n", '3:1: a: duplicate key "a" (first at line 1, column 1); each key may appear once'],
    ["x: {k: 1, k: 2}", '1:11: x.k: duplicate key "k" (first at line 1, column 5); each key may appear once'],
    ["a: &x 1\n", "1:4: a: anchors (&name) are not supported; repeat the value instead"],
    ["a: *x\n", "1:4: a: aliases (*name) are not supported; repeat the value instead"],
    ["a: !!str 1\n", "1:4: a: tags (!tag) are not supported; quote the value to make it a string"],
    ["a: |\n  x\n", '1:4: a: block scalars ("|") are not supported; write the value on one line, quoted if needed'],
    ["a: 1\n---\nb: 2\n", "2:1: (top level): multiple documents (---) are not supported: a scenario file holds one document"],
    ["%YAML 1.2\n---\na: 1\n", "1:1: (top level): directives (%YAML, %TAG) are not supported"],
    ["a: 1\n...\n", '2:1: (top level): document end markers ("...") are not supported'],
    ["a:\n  b: 1\n   c: 2\n", '3:4: a: bad indentation: 3 spaces, expected 2 spaces (like "b" at line 2)'],
    ["a: 1\n  b: 2\n", '2:3: (top level): bad indentation: 2 spaces, expected 0 spaces (like "a" at line 1)'],
    ["l:\n  - 1\n   - 2\n", '3:4: l: bad indentation: 3 spaces, expected 2 spaces (like the "- " items of the sequence at line 2)'],
    ["- 1\nb: 2\n", '2:1: (top level): expected a "- " item like the others of the sequence at line 1, found "b: 2"'],
    ["a: 1\n- 2\n", '2:1: (top level): a "- " item cannot follow "a" at line 1 at the same indentation; indent the items under their key'],
    ["a: 1\nb\n", '2:1: (top level): expected "key: value" like "a" at line 1, found "b"'],
    ["a: - 1\n", "1:4: a: a \"- \" sequence cannot start on its key's line; put each item on its own line below the key"],
    ["a: \"abc\n", '1:4: a: unterminated string: no closing " on this line (quoted strings must end on the line they start)'],
    ["a: 'abc\n  def'\n", "1:4: a: unterminated string: no closing ' on this line (quoted strings must end on the line they start)"],
    ["a: [1, 2\n", '1:4: a: unterminated flow sequence: no "]" closes the "[" opened here'],
    ["a: {x: 1\n", '1:4: a: unterminated flow mapping: no "}" closes the "{" opened here'],
    ['a: ["1" 2]', '1:9: a: expected "," or "]" after the item, found "2]"'],
    ["a: [1,, 2]", '1:7: a: expected a value before ","'],
    ["a: [x: 1]", "1:6: a[0]: key: value pairs are not supported inside [ ]; use { } for a mapping"],
    ['a: {x: "1" y}', '1:12: a: expected "," or "}" after the value, found "y}"'],
    ["a: b: c\n", '1:5: a: unexpected ": " inside a value: a nested mapping goes on the next lines, indented; quote a value that contains ": "'],
    ['a: "x" y\n', '1:8: a: unexpected text after the value: "y" (quote a value that contains ": " or " #")'],
    ["[a]: 1\n", '1:4: (top level): unexpected ":" after a value (a key is a plain or quoted string followed by ": ")'],
    ["? a\n: 1\n", '1:1: (top level): complex keys ("? ") are not supported'],
    ["a: @x\n", '1:4: a: a plain value cannot start with "@"; quote the value'],
    [String.raw`a: "\q"`, '1:5: a: unknown escape "\\q" in a double-quoted string (allowed: \\\\ \\" \\/ \\0 \\a \\b \\t \\n \\v \\f \\r \\e \\xXX \\uXXXX \\UXXXXXXXX; or use single quotes)'],
    ["a\nb\n", "2:1: (top level): unexpected content after the document's top-level value (which started at line 1); everything must belong to it"],
    ["--- x\n", "1:5: (top level): content on the --- line is not supported; start the document on the next line"],
  ])("%j → %s", (text, message) => {
    expect(yamlError(text)).toBe(message);
  });

  it("refuses nesting deeper than MAX_DEPTH instead of overflowing the stack", () => {
    expect(yamlError("[".repeat(100_000))).toBe(`1:${MAX_DEPTH}: ${"[0]".repeat(MAX_DEPTH - 1)}: nesting deeper than ${MAX_DEPTH} levels is not supported`);
    // The document's own level counts as one.
    expect(plain("[".repeat(MAX_DEPTH - 1) + "]".repeat(MAX_DEPTH - 1))).toBeDefined();
  });
});

describe("paths", () => {
  it("dots plain keys and brackets the others", () => {
    expect(childPath("", "containers")).toBe("containers");
    expect(childPath("containers", "web")).toBe("containers.web");
    expect(childPath("networks.b.options", "com.docker.network.driver.mtu")).toBe('networks.b.options["com.docker.network.driver.mtu"]');
  });
});

// Characters that steer the parser, so random documents reach its corners.
const yamlish = fc.string({ unit: fc.constantFrom(..." \t\n\r-:?,[]{}#&*!|>'\"%@`\\.ab01xyz~".split("")), maxLength: 80 });

// Lines of YAML-like tokens at random indentation, so the block structure gets exercised too.
const tokens = ["a", "b:", "- ", "-", "key: v", "k: [1, 2", "]", "{x: 1", "}", "'q'", '"d"', "# c", ": ", ",", "x y", "---", "\t", "? ", "&a", "|", "8080:80"];
const yamlLines = fc.array(fc.tuple(fc.nat({ max: 6 }), fc.array(fc.constantFrom(...tokens), { maxLength: 4 })), { maxLength: 8 })
  .map((lines) => lines.map(([indent, toks]) => " ".repeat(indent) + toks.join(" ")).join("\n"));

describe("robustness", () => {
  test.prop([fc.oneof(yamlish, yamlLines, fc.string({ maxLength: 80 }))], { numRuns: 4000 })("any text parses or fails with a YamlError", (text) => {
    try {
      parseYaml(text);
    } catch (e) {
      expect(e).toBeInstanceOf(YamlError);
    }
  });

  it("is fast on large inputs", () => {
    const big = Array.from({ length: 20_000 }, (_, i) => `k${i}: [${i}, "v", {a: b}]`).join("\n");
    const t0 = performance.now();
    expect((parseYaml(big) as YamlMap).entries).toHaveLength(20_000);
    expect(performance.now() - t0).toBeLessThan(20_000);
  });
});
