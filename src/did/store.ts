import type { DidDocument, DidMethod, DidWebLocation } from "./documents";

/** The members of a DID document that name verification methods. */
const RELATIONSHIPS = ["authentication", "assertionMethod", "capabilityInvocation", "capabilityDelegation", "keyAgreement"] as const;

/** The document without a verification method: gone from the list and from every relationship. */
export function withoutVerificationMethod(doc: DidDocument, vmId: string): DidDocument {
  const out: DidDocument = { ...doc, verificationMethod: doc.verificationMethod.filter((vm) => vm.id !== vmId) };
  for (const rel of RELATIONSHIPS) {
    const list = doc[rel];
    if (Array.isArray(list)) {
      out[rel] = list.filter((entry: unknown) => entry !== vmId && (entry as { id?: unknown } | null)?.id !== vmId);
    }
  }
  return out;
}
import type { IssuerKey } from "../core/models";
import type { IdempotencyClaim } from "../core/idempotency";

/** A create's first answer, kept under its Idempotency-Key. */
export type StoredAnswer = { status: number; body: unknown };

/** The first answer to a claim's key: the same request gets it again, another request a refusal. */
export type Earlier = { kind: "replay"; answer: StoredAnswer } | { kind: "reused" };

export async function findAnswer(db: D1Database, claim: IdempotencyClaim, now: number): Promise<Earlier | null> {
  const row = await db
    .prepare("SELECT fingerprint, status, response FROM idempotency_keys WHERE scope = ? AND key = ? AND expires_at > ?")
    .bind(claim.scope, claim.key, now)
    .first<{ fingerprint: string; status: number; response: string }>();
  if (!row) return null;
  if (row.fingerprint !== claim.fingerprint) return { kind: "reused" };
  return { kind: "replay", answer: { status: row.status, body: JSON.parse(row.response) } };
}

export interface DidRow {
  did: string;
  method: string;
  custody: string;
  document: string;
  web_host: string | null;
  web_path: string | null;
  created_at: number;
  deleted_at: number | null;
}

/**
 * Records a new DID and its key together, and the answer under the caller's Idempotency-Key when
 * there is one: all land or none, in one D1 round trip. A DID that exists (deleted ones too), a
 * did:web location that is taken, a key id that is taken fail the batch on their unique keys:
 * "exists". "claimed" means a concurrent request with the same Idempotency-Key won.
 */
export async function insertDid(
  db: D1Database,
  method: DidMethod,
  did: string,
  document: DidDocument,
  key: IssuerKey,
  web: DidWebLocation | null,
  idempotency?: { claim: IdempotencyClaim; answer: StoredAnswer },
  extra: D1PreparedStatement[] = [],
): Promise<"created" | "exists" | "claimed"> {
  try {
    await db.batch([
      db
        .prepare("INSERT INTO dids (did, method, custody, document, web_host, web_path, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(did, method, key.custody, JSON.stringify(document), web?.host ?? null, web?.path ?? null, key.createdAt),
      db
        .prepare(
          `INSERT INTO keys (id, did, key_type, custody, key_ref, public_jwk, encrypted_private_key, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .bind(
          key.id,
          did,
          key.keyType,
          key.custody,
          key.keyRef ?? null,
          JSON.stringify(key.publicJwk),
          key.encryptedPrivateKey ?? null,
          key.createdAt,
        ),
      ...extra,
      ...(idempotency ? idempotencyWrites(db, idempotency.claim, idempotency.answer, key.createdAt) : []),
    ]);
  } catch (err) {
    // Two creations raced: with the same Idempotency-Key, or of the same DID; the loser sees the winner's row.
    if (String(err).includes("UNIQUE")) {
      if (idempotency && (await findAnswer(db, idempotency.claim, Date.now()))) return "claimed";
      return "exists";
    }
    throw err;
  }
  return "created";
}

export async function getDid(db: D1Database, did: string): Promise<DidRow | null> {
  return db.prepare("SELECT * FROM dids WHERE did = ?").bind(did).first<DidRow>();
}

export async function listDids(
  db: D1Database,
  method: DidMethod,
  deleted: boolean,
  after: [number, string] | null,
  limit: number,
): Promise<DidRow[]> {
  const where = deleted ? "deleted_at IS NOT NULL" : "deleted_at IS NULL";
  const stmt = after
    ? db
        .prepare(`SELECT * FROM dids WHERE method = ? AND ${where} AND (created_at, did) > (?, ?) ORDER BY created_at, did LIMIT ?`)
        .bind(method, after[0], after[1], limit)
    : db.prepare(`SELECT * FROM dids WHERE method = ? AND ${where} ORDER BY created_at, did LIMIT ?`).bind(method, limit);
  return (await stmt.all<DidRow>()).results;
}

export async function markDidDeleted(db: D1Database, did: string, now: number): Promise<void> {
  await db.prepare("UPDATE dids SET deleted_at = ? WHERE did = ? AND deleted_at IS NULL").bind(now, did).run();
}

export async function getDidByWebLocation(db: D1Database, host: string, path: string): Promise<DidRow | null> {
  return db.prepare("SELECT * FROM dids WHERE web_host = ? AND web_path = ? AND deleted_at IS NULL").bind(host, path).first<DidRow>();
}

/**
 * Revokes a key in D1 and, for a DID whose document this service hosts (did:web), takes the key
 * out of that document in the same batch. did:key and did:jwk documents are derived from the DID
 * itself and cannot change. Compare-and-set on the document, so a concurrent change is re-read.
 */
export async function revokeKeyRecord(db: D1Database, did: string, vmId: string, now: number): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const row = await db.prepare("SELECT method, document FROM dids WHERE did = ?").bind(did).first<{ method: string; document: string }>();
    const revoke = db.prepare("UPDATE keys SET revoked = 1, revoked_at = ? WHERE id = ? AND revoked = 0").bind(now, vmId);
    if (!row || row.method !== "web") {
      await revoke.run();
      return;
    }
    const next = JSON.stringify(withoutVerificationMethod(JSON.parse(row.document) as DidDocument, vmId));
    const [, updated] = await db.batch([
      revoke,
      db.prepare("UPDATE dids SET document = ? WHERE did = ? AND document = ?").bind(next, did, row.document),
    ]);
    if (next === row.document || (updated?.meta.changes ?? 0) > 0) return;
  }
  throw new Error(`the document of ${did} kept changing while key ${vmId} was revoked`);
}

/** Expired records go as new ones come (D1 has no alarm): the caller's own stale key, and a few others. */
export function idempotencyWrites(db: D1Database, claim: IdempotencyClaim, answer: StoredAnswer, now: number): D1PreparedStatement[] {
  return [
    db.prepare("DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND expires_at <= ?").bind(claim.scope, claim.key, now),
    db
      .prepare(
        "DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys WHERE expires_at <= ? ORDER BY expires_at LIMIT 100)",
      )
      .bind(now),
    db
      .prepare(
        `INSERT INTO idempotency_keys (scope, key, fingerprint, status, response, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(claim.scope, claim.key, claim.fingerprint, answer.status, JSON.stringify(answer.body), now, now + claim.ttlMs),
  ];
}
