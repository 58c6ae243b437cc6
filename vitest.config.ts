import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { outboundMock } from "./test/outbound/mock.ts";

// Fixed test secrets: the bearer token tests send, and a key-encryption key (32 zero-free bytes).
export const TEST_TOKEN = "test-operator-token";
export const TEST_KEK = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA";

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
          },
          // Every fetch to another host lands in this mock: tests never reach a network.
          outboundService: outboundMock,
        },
      }),
    ],
    test: {
      include: ["test/**/*.test.ts"],
      exclude: ["test/e2e/**", "test/signer/**", "node_modules/**"],
      setupFiles: ["./test/setup.ts"],
      testTimeout: 30_000,
    },
  };
});
