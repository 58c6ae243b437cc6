import { availableParallelism } from "node:os";
import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { outboundMock } from "./test/outbound/mock.ts";

// Fixed test secrets: the bearer token tests send, and a key-encryption key (32 zero-free bytes).
export const TEST_TOKEN = "test-operator-token";
export const TEST_KEK = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA";

// wrangler.toml declares these as required secrets and wrangler looks for them in process.env: the
// same values as the bindings below, set (not inherited from the shell) so the tests stay hermetic.
process.env.API_TOKENS = `${TEST_TOKEN},second-token`;
process.env.KEY_ENCRYPTION_KEY = TEST_KEK;

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            API_TOKENS: `${TEST_TOKEN},second-token`,
            KEY_ENCRYPTION_KEY: TEST_KEK,
            SIGNJOB_TTL_SECONDS: "3600",
            // The test ION node (test/support/ion-node.ts), answered inside the outbound mock.
            ION_NODE_URL: "https://ion-node.test.example",
          },
          // Every fetch to another host lands in this mock: tests never reach a network.
          outboundService: outboundMock,
          d1Databases: { DB_SHARD_1: "ssi-edge-shard-1", DB_SHARD_2: "ssi-edge-shard-2", DB_SHARD_3: "ssi-edge-shard-3" },
        },
      }),
    ],
    test: {
      include: ["test/**/*.test.ts"],
      exclude: ["test/e2e/**", "test/signer-daemon/**", "node_modules/**"],
      setupFiles: ["./test/setup.ts"],
      testTimeout: 30_000,
      // Vitest's default is one worker fewer than the cores, which on a 2-core CI machine runs one
      // file at a time while most of a file's time is the runtime loading modules. Storage is
      // isolated per test file, so files can run side by side.
      maxWorkers: availableParallelism(),
    },
  };
});
