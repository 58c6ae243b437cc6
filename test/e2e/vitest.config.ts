import { defineConfig } from "vitest/config";

// End to end, in Node: the Worker under `wrangler dev`, the signer daemon as real child
// processes, and a real SoftHSM2 token.
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/e2e/**/*.test.ts"],
    environment: "node",
    fileParallelism: false,
    testTimeout: 480_000,
    hookTimeout: 120_000,
  },
});
