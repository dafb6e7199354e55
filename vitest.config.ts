import { defineConfig } from "vitest/config";

// Three projects: fast unit tests beside the code, property tests, and interop tests that
// call tshark and scapy (run by `npm run test:interop`, not by `npm test`).
export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["core/**/*.test.ts", "dataplane/**/*.test.ts", "control/**/*.test.ts", "cli/**/*.test.ts", "bench/**/*.test.ts"] } },
      { test: { name: "prop", include: ["proptests/**/*.test.ts"], testTimeout: 60_000 } },
      { test: { name: "interop", include: ["interop/**/*.test.ts"], testTimeout: 300_000, hookTimeout: 300_000 } },
    ],
  },
});
