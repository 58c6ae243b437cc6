/**
 * How the outbox sends many rows of the same single-row upsert as one D1 statement
 * (durable-objects/outbox-delivery.ts, `grouped`).
 */

// A single-row `INSERT INTO t (cols) VALUES (?, …) <rest>` whose rows can travel as one statement.
const SINGLE_ROW_INSERT = /^\s*INSERT\s+INTO\s+(\w+)\s*\(([^)]*)\)\s*VALUES\s*\(\s*\?(?:\s*,\s*\?)*\s*\)([\s\S]*)$/i;
const multiRowSql = new Map<string, string | null>();

/**
 * The same upsert for many rows, as one statement reading a JSON array of parameter arrays:
 * `INSERT INTO t (cols) SELECT json_extract(value,'$[0]'), … FROM json_each(?) WHERE true <rest>`.
 * SQLite applies the rows in array order, exactly as the single statements would run one by one,
 * so idempotence and ordering are unchanged; D1 parses and round-trips one statement, not hundreds.
 */
export function multiRow(sql: string): string | null {
  let cached = multiRowSql.get(sql);
  if (cached === undefined) {
    const m = SINGLE_ROW_INSERT.exec(sql);
    if (m) {
      const columns = m[2]!.split(",").length;
      const values = Array.from({ length: columns }, (_, i) => `json_extract(value, '$[${i}]')`).join(", ");
      // "WHERE true" resolves SQLite's parsing ambiguity between a SELECT's join and ON CONFLICT.
      cached = `INSERT INTO ${m[1]} (${m[2]}) SELECT ${values} FROM json_each(?) WHERE true${m[3]}`;
    } else {
      cached = null;
    }
    multiRowSql.set(sql, cached);
  }
  return cached;
}
