import { Where } from "../db/where";
import type { Container } from "./schemas";

export interface CredentialRow {
  id: string;
  issuer: string;
  subject: string;
  schema_id: string | null;
  verification_method_id: string;
  operation_id: string;
  format: string;
  credential: string;
  jwt: string | null;
  status_list_id: string | null;
  status_index: number | null;
  status_purpose: string | null;
  revoked: number;
  suspended: number;
  created_at: number;
  signed_at: number | null;
  deleted_at: number | null;
}

export function containerOf(row: CredentialRow): Container {
  return {
    id: row.id,
    fullyQualifiedVerificationMethodId: row.verification_method_id,
    credential: JSON.parse(row.credential) as Record<string, unknown>,
    ...(row.jwt ? { credentialJwt: row.jwt } : {}),
    revoked: row.revoked === 1,
    suspended: row.suspended === 1,
    operationId: row.operation_id,
  };
}

export async function getCredential(db: D1Database, id: string): Promise<CredentialRow | null> {
  return db.prepare("SELECT * FROM credentials WHERE id = ? AND deleted_at IS NULL").bind(id).first<CredentialRow>();
}

export type CredentialFilter = { issuer?: string; subject?: string; schema?: string };

/** Keyset pages over one index: (filter column, created_at, id). */
export async function listCredentials(
  db: D1Database,
  filter: CredentialFilter,
  after: [number, string] | null,
  limit: number,
): Promise<CredentialRow[]> {
  const where = new Where()
    .always("deleted_at IS NULL")
    .when(filter.issuer, "issuer = ?")
    .when(filter.subject, "subject = ?")
    .when(filter.schema, "schema_id = ?")
    .when(after?.[0], "(created_at, id) > (?, ?)", ...(after ?? []));
  const sql = `SELECT * FROM credentials ${where} ORDER BY created_at, id LIMIT ?`;
  return (await db.prepare(sql).bind(...where.params, limit).all<CredentialRow>()).results;
}
