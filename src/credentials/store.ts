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
  const where: string[] = ["deleted_at IS NULL"];
  const params: (string | number)[] = [];
  if (filter.issuer) (where.push("issuer = ?"), params.push(filter.issuer));
  if (filter.subject) (where.push("subject = ?"), params.push(filter.subject));
  if (filter.schema) (where.push("schema_id = ?"), params.push(filter.schema));
  if (after) (where.push("(created_at, id) > (?, ?)"), params.push(after[0], after[1]));
  const sql = `SELECT * FROM credentials WHERE ${where.join(" AND ")} ORDER BY created_at, id LIMIT ?`;
  return (await db.prepare(sql).bind(...params, limit).all<CredentialRow>()).results;
}
