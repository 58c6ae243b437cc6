/**
 * Reads of credentials. The issuer's object is the one store of credential bodies, JWTs and JWT
 * history: a read by id asks the object its id names; lists page an index (the object's for one
 * issuer, D1's credential index across issuers) and fetch the page's bodies from each issuer's
 * object, one call per issuer. D1's `credentials` table is legacy: new credentials write no row
 * there (their index row is their one D1 row), rows written before 0013 keep their bodies, and
 * D1 answers for those only when no object does.
 */
import { objectOfId } from "../core/ids";
import { issuerByHex, issuerByName } from "../issuer-client";
import type { CredentialRead } from "../../durable-objects/issuer";
import type { Container } from "./schemas";

export interface CredentialRow {
  id: string;
  issuer: string;
  subject: string;
  schema_id: string | null;
  verification_method_id: string;
  operation_id: string;
  format: string;
  /** '' since 0013 (the body is the object's); the JSON in rows written before. */
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

/** Live rows written before 0013 that still hold their body, by id. */
export async function legacyRows(db: D1Database, ids: string[]): Promise<Map<string, CredentialRow>> {
  if (ids.length === 0) return new Map();
  const rows = (
    await db
      .prepare("SELECT * FROM credentials WHERE id IN (SELECT value FROM json_each(?)) AND deleted_at IS NULL AND credential <> ''")
      .bind(JSON.stringify(ids))
      .all<CredentialRow>()
  ).results;
  return new Map(rows.map((r) => [r.id, r]));
}

type JwtRow = { jwt: string; verification_method_id: string; signed_at: number | null };
type JwtHistory = { jwt: string; verificationMethodId: string; signedAt?: string }[];

/** A pre-0013 row's JWTs, newest first: its own, then those a key rotation replaced before 0013 (credential_jwts). */
async function legacyJwtHistory(db: D1Database, row: CredentialRow): Promise<JwtHistory> {
  if (!row.jwt) return [];
  const earlier = (
    await db
      .prepare(
        "SELECT jwt, verification_method_id, signed_at FROM credential_jwts WHERE credential_id = ? ORDER BY replaced_at DESC, signed_at DESC",
      )
      .bind(row.id)
      .all<JwtRow>()
  ).results;
  const current: JwtRow = { jwt: row.jwt, verification_method_id: row.verification_method_id, signed_at: row.signed_at };
  return [current, ...earlier.filter((e) => e.jwt !== row.jwt)].map((e) => ({
    jwt: e.jwt,
    verificationMethodId: e.verification_method_id,
    ...(e.signed_at !== null ? { signedAt: new Date(e.signed_at).toISOString() } : {}),
  }));
}

/** A credential as the routes use it: whose it is, its operation, and its container. */
export interface FoundCredential {
  id: string;
  issuer: string;
  operationId: string;
  signed: boolean;
  container: Container;
  /** Every JWT it had, newest first (key rotation re-signs); empty before it is signed. */
  jwtHistory: JwtHistory;
  /** Whether D1's legacy `credentials` table has a row for it (its deletion is written there too). */
  legacyRow: boolean;
}

const fromRead = (read: CredentialRead & { container: Container }): FoundCredential => ({
  id: read.id,
  issuer: read.issuer,
  operationId: read.operationId,
  signed: read.signed,
  container: read.container,
  jwtHistory: read.jwtHistory,
  legacyRow: read.legacyRow,
});

/**
 * A live credential by id. An id that names its issuer's object (src/core/ids.ts) is answered by
 * that object, so a credential is found the moment its create answered (api.md "Consistency").
 * An older id is looked up in D1 for its issuer, whose object then answers; D1's own copy of the
 * body answers only when no object holds it (written before 0013, claims dropped before archiving).
 */
export async function findCredential(env: Env, id: string): Promise<FoundCredential | null> {
  const stub = issuerByHex(env, objectOfId(id));
  let read: CredentialRead | null = null;
  if (stub) {
    read = await stub.getCredential(id);
    if (!read) return null;
  } else {
    const row = await env.DB.prepare("SELECT issuer FROM credentials WHERE id = ? AND deleted_at IS NULL")
      .bind(id)
      .first<{ issuer: string }>();
    if (!row) return null;
    read = await issuerByName(env, row.issuer).getCredential(id);
  }
  if (read?.container) return fromRead({ ...read, container: read.container });
  // Only a credential old enough to have a D1 row can have its body there.
  if (read && !read.legacyRow) return null;
  const legacy = (await legacyRows(env.DB, [id])).get(id);
  if (!legacy) return null;
  return {
    id: legacy.id,
    issuer: legacy.issuer,
    operationId: legacy.operation_id,
    signed: legacy.jwt !== null,
    container: containerOf(legacy),
    jwtHistory: await legacyJwtHistory(env.DB, legacy),
    legacyRow: true,
  };
}

/**
 * The containers of `ids`, by id: one call to each issuer's object, all in parallel, then D1 for
 * what no object holds (rows from before 0013). Deleted and unknown ids are absent.
 */
export async function containersByIssuer(env: Env, refs: { id: string; issuer: string }[]): Promise<Map<string, Container>> {
  const byIssuer = new Map<string, string[]>();
  for (const r of refs) byIssuer.set(r.issuer, [...(byIssuer.get(r.issuer) ?? []), r.id]);
  const out = new Map<string, Container>();
  // Ids an object knows to have no D1 row: D1 cannot have their body either.
  const indexOnly = new Set<string>();
  await Promise.all(
    [...byIssuer].map(async ([issuer, ids]) => {
      for (const read of await issuerByName(env, issuer).getCredentials(ids)) {
        if (read.container) out.set(read.id, read.container);
        else if (!read.legacyRow) indexOnly.add(read.id);
      }
    }),
  );
  const missing = refs.filter((r) => !out.has(r.id) && !indexOnly.has(r.id)).map((r) => r.id);
  for (const [id, row] of await legacyRows(env.DB, missing)) out.set(id, containerOf(row));
  return out;
}

/**
 * One page of an issuer's credentials, answered by its object in the order and with the page
 * keys D1 uses; the few whose bodies only D1 still holds (from before 0013) are read there.
 */
export async function listIssuerCredentials(
  env: Env,
  issuer: string,
  after: [number, string] | null,
  limit: number,
): Promise<{ container: Container; created_at: number; id: string }[]> {
  const reads: CredentialRead[] = await issuerByName(env, issuer).listCredentials(after, limit);
  const legacy = await legacyRows(
    env.DB,
    reads.filter((r) => r.container === null && r.legacyRow).map((r) => r.id),
  );
  return reads.flatMap((r) => {
    const row = legacy.get(r.id);
    const container = r.container ?? (row ? containerOf(row) : undefined);
    return container ? [{ container, created_at: r.createdAt, id: r.id }] : [];
  });
}
