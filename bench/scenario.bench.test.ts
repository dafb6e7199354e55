// The large-scenario benchmark builds what it says: every host, container and namespace.
import { describe, expect, it } from "vitest";
import { bigScenario, buildOnce } from "./scenario.bench.js";

describe("scenario build benchmark", () => {
  it("2 hosts x 4 containers: 2 hosts + 8 containers + the underlay, every container on its network", () => {
    const r = buildOnce(bigScenario(2, 4));
    expect(r.namespaces).toBe(11);
    expect(r.ops).toBeGreaterThan(8 * 3);
  });
});
