/**
 * The squashed schema a new issuer object creates (durable-objects/schema.ts SCHEMA) is the schema
 * the migrations lead to: the same tables, columns in the same order, indexes and triggers, from
 * every version an existing object may be at. A migration added without bringing SCHEMA to the
 * same result fails here.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MIGRATIONS, SCHEMA_VERSION, migrate } from "../../durable-objects/schema";

interface SchemaObject {
  type: string;
  name: string;
  tbl_name: string;
  sql: string | null;
}

/** DDL as SQLite keeps it, less what does not change its meaning: comments and layout whitespace. */
function normalizeSql(sql: string | null): string | null {
  if (sql === null) return null;
  return sql
    .replace(/--[^\n]*/g, "")
    .replace(/\s+/g, " ")
    .replace(/\s*([(),])\s*/g, "$1")
    .trim();
}

/** Everything of the object's schema but the runtime's own tables (`_cf_…`), normalized and sorted. */
function schemaOf(sql: SqlStorage): SchemaObject[] {
  return sql
    .exec<{ type: string; name: string; tbl_name: string; sql: string | null }>(
      "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY type, name",
    )
    .toArray()
    .map((o) => ({ type: o.type, name: o.name, tbl_name: o.tbl_name, sql: normalizeSql(o.sql) }));
}

/** Each table's columns as SQLite understands them (name, type, not null, default, key), in order. */
function columnsOf(sql: SqlStorage, tables: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const t of tables) {
    out[t] = sql
      .exec<{ name: string; type: string; notnull: number; dflt_value: string | null; pk: number }>(`PRAGMA table_info("${t}")`)
      .toArray()
      .map((c) => `${c.name} ${c.type} notnull=${c.notnull} default=${c.dflt_value} pk=${c.pk}`);
  }
  return out;
}

/** Drops every table of the object (their indexes and triggers go with them): a database with no schema. */
function wipe(sql: SqlStorage): void {
  for (const o of schemaOf(sql)) {
    if (o.type === "table" && !o.name.startsWith("sqlite_")) sql.exec(`DROP TABLE "${o.name}"`);
  }
  expect(schemaOf(sql).filter((o) => !o.name.startsWith("sqlite_"))).toEqual([]);
}

const version = (sql: SqlStorage) => sql.exec<{ version: number }>("SELECT version FROM schema_version").one().version;

/** A new issuer object, as its first request finds it: the constructor's `migrate` made its schema. */
function newObject(): DurableObjectStub {
  return env.ISSUER.getByName(`did:example:schema-${crypto.randomUUID()}`);
}

/** Every schema object and every table's columns: what two ways of making a schema must agree on. */
function shapeOf(sql: SqlStorage) {
  const objects = schemaOf(sql);
  return {
    objects,
    columns: columnsOf(
      sql,
      objects.filter((o) => o.type === "table").map((o) => o.name),
    ),
  };
}

describe("the squashed schema of a new issuer object", () => {
  it("a new object creates SCHEMA and records the newest version", async () => {
    await runInDurableObject(newObject(), (_i, state) => {
      const sql = state.storage.sql;
      expect(version(sql)).toBe(SCHEMA_VERSION);
      expect(SCHEMA_VERSION).toBe(MIGRATIONS.length);
    });
  });

  it("is what every migration, run in order, makes of an empty database", async () => {
    const squashed = await runInDurableObject(newObject(), (_i, state) => {
      const sql = state.storage.sql;
      return shapeOf(sql);
    });
    const migrated = await runInDurableObject(newObject(), (_i, state) => {
      const sql = state.storage.sql;
      wipe(sql);
      // Each migration on its own, as objects created before SCHEMA existed ran them over time.
      sql.exec("CREATE TABLE schema_version (version INTEGER NOT NULL)");
      sql.exec("INSERT INTO schema_version (version) VALUES (0)");
      MIGRATIONS.forEach((m, i) => {
        sql.exec(m);
        sql.exec("UPDATE schema_version SET version = ?", i + 1);
      });
      return shapeOf(sql);
    });
    // Sanity: the comparison sees the whole schema (tables, SQLite's own indexes, indexes, triggers).
    const types = new Set(squashed.objects.map((o) => o.type));
    expect([...types].sort()).toEqual(["index", "table", "trigger"]);
    expect(squashed.objects.some((o) => o.name.startsWith("sqlite_autoindex_"))).toBe(true);
    expect(squashed.objects).toEqual(migrated.objects);
    expect(squashed.columns).toEqual(migrated.columns);
  });

  it("an existing object at any older version still runs its pending migrations, and ends at the same schema", async () => {
    await runInDurableObject(newObject(), (_i, state) => {
      const sql = state.storage.sql;
      const squashed = schemaOf(sql);
      for (let from = 0; from < MIGRATIONS.length; from++) {
        wipe(sql);
        sql.exec("CREATE TABLE schema_version (version INTEGER NOT NULL)");
        sql.exec("INSERT INTO schema_version (version) VALUES (?)", from);
        for (const m of MIGRATIONS.slice(0, from)) sql.exec(m);
        migrate(sql);
        expect(version(sql), `from version ${from}`).toBe(SCHEMA_VERSION);
        expect(schemaOf(sql), `from version ${from}`).toEqual(squashed);
      }
    });
  });

  it("the comparison would see a migration SCHEMA does not have", async () => {
    await runInDurableObject(newObject(), (_i, state) => {
      const sql = state.storage.sql;
      const squashed = schemaOf(sql);
      // A column added by ALTER TABLE, as the next migration might: only the normalized text differs.
      sql.exec("ALTER TABLE meta ADD COLUMN extra TEXT");
      const changed = schemaOf(sql);
      expect(changed).not.toEqual(squashed);
      expect(changed.find((o) => o.name === "meta")?.sql).toBe("CREATE TABLE meta(k TEXT PRIMARY KEY,v TEXT NOT NULL,extra TEXT)");
      sql.exec("ALTER TABLE meta DROP COLUMN extra");
      expect(schemaOf(sql)).toEqual(squashed);
    });
  });
});
