/**
 * The issuer object's SQLite schema: the migrations (schema-migrations.ts, append-only) and the
 * same schema squashed (schema-squashed.ts) for new objects. test/cost/schema.test.ts compares the
 * two. The stored version says how far an object got.
 */
import { MIGRATIONS } from "./schema-migrations";
import { SCHEMA } from "./schema-squashed";

export { MIGRATIONS, SCHEMA };

/** The version an object is at once every migration ran (what SCHEMA creates). */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the object's schema up to date. Runs in the constructor, before the first answer, on
 * every wake: an object that is current pays two statements. A new object (no version recorded)
 * creates SCHEMA and records the newest version in one script; an older one runs its pending
 * migrations and the version update as one script. Either is one `exec`, in one transaction with
 * the constructor's other writes. A new issuer's wake bounds P5 (bench/README.md "Waking an issuer").
 */
export function migrate(sql: SqlStorage): void {
  sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  const row = sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0];
  if (!row) {
    sql.exec(`${SCHEMA}\nINSERT INTO schema_version (version) VALUES (${SCHEMA_VERSION});`);
    return;
  }
  if (row.version >= SCHEMA_VERSION) return;
  runMigrations(sql, row.version);
}

/** The migrations after `from`, and the version update, as one script: how an existing object catches up. */
export function runMigrations(sql: SqlStorage, from: number): void {
  const pending = MIGRATIONS.slice(from).map((m) => m.trim().replace(/;?$/, ";"));
  sql.exec([...pending, `UPDATE schema_version SET version = ${SCHEMA_VERSION};`].join("\n"));
}
