/**
 * The credential index row (migrations/0006_credential_index.sql): what cross-issuer queries need,
 * no body. Bodies and JWTs stay with the issuer's object, which answers for them.
 */
export const CredentialState = { pending: 0, signed: 1, failed: 2 } as const;
export type CredentialState = (typeof CredentialState)[keyof typeof CredentialState];

export interface CredentialIndexRow {
  id: string;
  issuer: string;
  subject: string;
  schema_id: string | null;
  state: CredentialState;
  code: string | null;
  revoked: number;
  suspended: number;
  rev: number;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
  /** 1: the row stands for the operation `credentials/<id>`, which has no D1 `operations` row (migrations/0014). */
  is_operation: 0 | 1;
}

export const INDEX_COLUMNS = [
  "id",
  "issuer",
  "subject",
  "schema_id",
  "state",
  "code",
  "revoked",
  "suspended",
  "rev",
  "created_at",
  "updated_at",
  "deleted_at",
  "is_operation",
] as const satisfies readonly (keyof CredentialIndexRow)[];

/** What a credential is never changes: its identity, when it was created, and whether its operation lives here. */
const FIXED: ReadonlySet<string> = new Set(["id", "issuer", "subject", "schema_id", "created_at", "is_operation"]);
const UPDATE = INDEX_COLUMNS.filter((c) => !FIXED.has(c))
  .map((c) => `${c} = excluded.${c}`)
  .join(", ");
const ON_CONFLICT = `ON CONFLICT(id) DO UPDATE SET ${UPDATE} WHERE excluded.rev > credential_index.rev`;

/** One row's upsert: a single-row `INSERT … VALUES`, so the outbox sends many as one statement. */
export const UPSERT_ONE = `INSERT INTO credential_index (${INDEX_COLUMNS.join(", ")}) VALUES (${INDEX_COLUMNS.map(() => "?").join(", ")}) ${ON_CONFLICT}`;

/** Many rows as one statement reading a JSON array of rows (D1 binds at most 100 parameters). */
export const UPSERT_MANY = `INSERT INTO credential_index (${INDEX_COLUMNS.join(", ")})
  SELECT ${INDEX_COLUMNS.map((_, i) => `json_extract(value, '$[${i}]')`).join(", ")} FROM json_each(?) WHERE true ${ON_CONFLICT}`;

/**
 * The row's revision: it only grows over a credential's life (pending → signed or failed; status
 * changes count up status_version, which a pending credential may already carry; deletion last).
 */
export function revOf(state: CredentialState, statusVersion: number, deleted: boolean): number {
  return (deleted ? 2 ** 40 : 0) + statusVersion * 4 + (state === CredentialState.pending ? 0 : 1);
}

export const paramsOf = (row: CredentialIndexRow): (string | number | null)[] => INDEX_COLUMNS.map((c) => row[c]);

export function indexWrite(row: CredentialIndexRow): { sql: string; params: (string | number | null)[] } {
  return { sql: UPSERT_ONE, params: paramsOf(row) };
}

/** Rows per multi-row statement, and the most JSON bytes one carries (D1 caps a bound value at 2 MB). */
const GROUP_ROWS = 250;
const GROUP_BYTES = 900_000;

/** Upserts rows into one shard: statements of up to 250 rows, in one batch (one transaction). */
export function upsertStatements(db: D1Database, rows: CredentialIndexRow[]): D1PreparedStatement[] {
  const statements: D1PreparedStatement[] = [];
  let group: string[] = [];
  let bytes = 0;
  const flush = () => {
    if (group.length > 0) statements.push(db.prepare(UPSERT_MANY).bind(`[${group.join(",")}]`));
    group = [];
    bytes = 0;
  };
  for (const row of rows) {
    const json = JSON.stringify(paramsOf(row));
    if (group.length >= GROUP_ROWS || bytes + json.length > GROUP_BYTES) flush();
    group.push(json);
    bytes += json.length;
  }
  flush();
  return statements;
}
