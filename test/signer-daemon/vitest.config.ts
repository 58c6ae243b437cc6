import { defineConfig } from "vitest/config";

// The signer daemon is a Node program (native pkcs11js, child processes, real sockets), so its
// tests run in plain Node, not in workerd like the service's tests.
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/signer-daemon/**/*.test.ts"],
    environment: "node",
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
