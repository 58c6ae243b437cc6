/**
 * What waking an issuer object costs before its first answer (P5, bench/README.md "Waking an
 * issuer"): the constructor's schema check, then what a first request reads that a warm object
 * has in memory (test/cost/single.test.ts, "waking").
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SCHEMA, migrate } from "../../durable-objects/schema";
import { custodialDid } from "../support/keys";

/** Runs `migrate` on the object's own SQLite, counting the `exec` calls it makes. */
function countedMigrate(sql: SqlStorage): number {
  let calls = 0;
  const counted = new Proxy(sql, {
    get: (target, prop) =>
      prop === "exec"
        ? (...args: Parameters<SqlStorage["exec"]>) => {
            calls++;
            return target.exec(...args);
          }
        : Reflect.get(target, prop),
  });
  migrate(counted);
  return calls;
}

describe("waking an issuer object", () => {
  it("a current schema is checked with two statements; pending migrations run as one script", async () => {
    const issuer = await custodialDid("Ed25519");
    await runInDurableObject(env.ISSUER.getByName(issuer.did), (_i, state) => {
      const sql = state.storage.sql;
      const version = () => sql.exec<{ version: number }>("SELECT version FROM schema_version").one().version;
      const current = version();
      expect(countedMigrate(sql)).toBe(2);
      // A new object has every migration pending: wipe this one's schema back to nothing, and the
      // whole list still runs as one script (whichever migration is the newest).
      const objects = () =>
        sql
          .exec<{ type: string; name: string; sql: string | null }>(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY type, name",
          )
          .toArray();
      const before = objects();
      for (const { name } of before.filter((o) => o.type === "table")) sql.exec(`DROP TABLE "${name}"`);
      expect(objects()).toEqual([]);
      // A new object: the squashed schema (test/cost/schema.test.ts) and its version, one script.
      expect(countedMigrate(sql)).toBe(3);
      expect(version()).toBe(current);
      expect(objects()).toEqual(before);
    });
  });

  it("a new object's schema is CREATE statements only, no ALTER TABLE", () => {
    const statements = SCHEMA.replace(/--[^\n]*/g, "")
      .split(/;\s*(?=CREATE|$)/)
      .map((s) => s.trim())
      .filter(Boolean);
    console.log(`new object's schema: ${statements.length} CREATE statements`);
    expect(statements.every((s) => s.startsWith("CREATE "))).toBe(true);
    // Measured 2026-12-02: 48 (the migrations run 72: 51 CREATE, 14 ALTER TABLE, 3 DROP, 4 backfills).
    expect(statements.length).toBeLessThanOrEqual(48);
  });
});
