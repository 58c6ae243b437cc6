import { globSync, readFileSync, readdirSync } from "node:fs";
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
      setupFiles: ["./test/setup.ts"],
      testTimeout: 30_000,
      // Vitest's default is one worker fewer than the cores, which on a 2-core CI machine runs one
      // file at a time while most of a file's time is the runtime loading modules.
      maxWorkers: availableParallelism(),
      projects: [
        // What `npm test` runs: each test/suites/*.test.ts imports a few folders' test files, so
        // the Worker's modules load once per suite instead of once per file (test/suites/README.md).
        { extends: true, test: { name: "suites", include: suiteFiles() } },
        // Any one file on its own: `npx vitest run --project files test/signjobs/lifecycle.test.ts`.
        { extends: true, test: { name: "files", include: ["test/**/*.test.ts"], exclude: [...NOT_WORKER, "test/suites/**"] } },
      ],
    },
  };
});

/** Folders with their own runner (Node, not workerd). */
const NOT_WORKER = ["test/e2e/**", "test/signer-daemon/**", "node_modules/**"];

/**
 * The suites, after checking that they import every workerd test file exactly once: a new test
 * file in a folder no suite names would otherwise never run in CI.
 */
function suiteFiles(): string[] {
  const root = import.meta.dirname;
  const suites = readdirSync(path.join(root, "test/suites")).filter((f) => f.endsWith(".test.ts"));
  const owner = new Map<string, string>();
  for (const suite of suites) {
    const text = readFileSync(path.join(root, "test/suites", suite), "utf8");
    const patterns = [...text.matchAll(/"(\.\.\/[^"]+\.test\.ts)"/g)].map((m) => path.posix.join("test", m[1]!.slice(3)));
    for (const file of globSync(patterns, { cwd: root })) {
      const before = owner.get(file);
      if (before) throw new Error(`${file} is imported by two suites: ${before} and ${suite}`);
      owner.set(file, suite);
    }
  }
  const all = globSync("test/**/*.test.ts", { cwd: root, exclude: (f) => /^test\/(e2e|signer-daemon|suites)(\/|$)/.test(f) });
  const missing = all.filter((f) => !owner.has(f));
  if (missing.length) throw new Error(`no suite in test/suites imports ${missing.join(", ")}`);
  return suites.map((f) => `test/suites/${f}`);
}
