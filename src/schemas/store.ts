/** The schemas table (migrations/0006): read by the routes and by credential issuance (`schemaId`). */
import { CompiledSchema, type JsonSchemaDialect } from "./json-schema";

export interface SchemaRow {
  id: string;
  name: string;
  description: string | null;
  schema: string;
  dialect: string;
  issuer: string | null;
  verification_method_id: string | null;
  operation_id: string | null;
  jwt: string | null;
  created_at: number;
  deleted_at: number | null;
}

export const getSchema = (db: D1Database, id: string) =>
  db.prepare("SELECT * FROM schemas WHERE id = ? AND deleted_at IS NULL").bind(id).first<SchemaRow>();

export async function listSchemas(db: D1Database, after: [number, string] | null, limit: number): Promise<SchemaRow[]> {
  const sql = after
    ? "SELECT * FROM schemas WHERE (created_at, id) > (?, ?) AND deleted_at IS NULL ORDER BY created_at, id LIMIT ?"
    : "SELECT * FROM schemas WHERE deleted_at IS NULL ORDER BY created_at, id LIMIT ?";
  const stmt = after ? db.prepare(sql).bind(after[0], after[1], limit) : db.prepare(sql).bind(limit);
  return (await stmt.all<SchemaRow>()).results;
}

/** Soft delete: a signed schema's outbox upsert arriving later must not bring it back. */
export async function deleteSchema(db: D1Database, id: string, now: number): Promise<boolean> {
  const r = await db.prepare("UPDATE schemas SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL").bind(now, id).run();
  return r.meta.changes > 0;
}

/** The API view of a stored schema. */
export function schemaOf(row: SchemaRow) {
  return {
    id: row.id,
    name: row.name,
    ...(row.description !== null ? { description: row.description } : {}),
    schema: JSON.parse(row.schema) as Record<string, unknown>,
    dialect: row.dialect as JsonSchemaDialect,
    ...(row.issuer !== null ? { issuer: row.issuer } : {}),
    ...(row.verification_method_id !== null ? { verificationMethodId: row.verification_method_id } : {}),
    ...(row.operation_id !== null ? { operationId: row.operation_id } : {}),
    ...(row.jwt !== null ? { credentialSchemaJwt: row.jwt } : {}),
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/**
 * The compiled schemas a credential request names, each read from D1 and compiled once per request
 * however many credentials of a batch name it. An unknown id maps to `undefined`.
 */
export async function schemasFor(db: D1Database, ids: readonly string[]): Promise<Map<string, CompiledSchema | undefined>> {
  const distinct = [...new Set(ids)];
  const out = new Map<string, CompiledSchema | undefined>();
  if (distinct.length === 0) return out;
  // D1 binds at most 100 parameters per statement.
  const chunks: string[][] = [];
  for (let i = 0; i < distinct.length; i += 100) chunks.push(distinct.slice(i, i + 100));
  const rows = (
    await Promise.all(
      chunks.map(
        async (chunk) =>
          (
            await db
              .prepare(`SELECT id, schema FROM schemas WHERE id IN (${chunk.map(() => "?").join(", ")}) AND deleted_at IS NULL`)
              .bind(...chunk)
              .all<{ id: string; schema: string }>()
          ).results,
      ),
    )
  ).flat();
  for (const id of distinct) out.set(id, undefined);
  for (const row of rows) {
    // Stored schemas passed the same check when created; compile cannot fail on them.
    const compiled = CompiledSchema.compile(JSON.parse(row.schema));
    out.set(row.id, compiled.ok ? compiled.compiled : undefined);
  }
  return out;
}
