/**
 * The credential index writes an issuer's object records in its outbox (keys under "index:", which
 * the outbox delivers to the issuer's index shard or shards, durable-objects/outbox.ts). Every one
 * is guarded by the row's revision, so replays, reorderings, dual writes during a migration and the
 * migrator's copies all leave the newest snapshot.
 */
import type { D1Write, StatusFlags } from "../core/kinds";
import { CredentialState, indexWrite, revOf } from "./credential-index";

/** Must start with the outbox's INDEX_KEY_PREFIX ("index:"). */
export const credentialIndexKey = (credentialId: string) => `index:credential:${credentialId}`;
export const credentialIndexStatusKey = (credentialId: string) => `index:credential-status:${credentialId}`;
export const credentialIndexDeletedKey = (credentialId: string) => `index:credential-deleted:${credentialId}`;

/** A deleted row's revision is past every other (deletion is final). */
const DELETED = 2 ** 40;

/** `operationInIndex`: the row stands for the credential's operation, which has no D1 row (migrations/0014). */
type Identity = { credentialId: string; issuer: string; subject: string; schemaId: string | null; operationInIndex?: true | undefined };

/** The whole row as the object knows it now: created (pending), signed (with its flags) or failed. */
export function indexSnapshot(
  c: Identity,
  at: { createdAt: number; now: number; state: "pending" | "signed" | "failed"; flags?: StatusFlags; code?: string },
): D1Write {
  const state = CredentialState[at.state];
  const flags = at.flags ?? { revoked: false, suspended: false, version: 0 };
  return indexWrite({
    id: c.credentialId,
    issuer: c.issuer,
    subject: c.subject,
    schema_id: c.schemaId,
    state,
    code: at.code ?? null,
    revoked: flags.revoked ? 1 : 0,
    suspended: flags.suspended ? 1 : 0,
    rev: revOf(state, flags.version, false),
    created_at: at.createdAt,
    updated_at: at.now,
    deleted_at: null,
    is_operation: c.operationInIndex ? 1 : 0,
  });
}

/**
 * A status change (revoked or suspended flipped, its version counted up) on the row already there:
 * the state part of the revision (rev % 4) is kept. The row exists by then (the create's snapshot
 * is older in the same outbox); during a migration's copy the migrator re-reads what it copied
 * (src/shards/migrate.ts), so an update that reached only the old shard is carried over.
 */
export function indexStatusUpdate(credentialId: string, flags: StatusFlags, now: number): D1Write {
  return {
    sql: "UPDATE credential_index SET revoked = ?, suspended = ?, updated_at = ?, rev = ? * 4 + rev % 4 WHERE id = ? AND rev < ? * 4",
    params: [flags.revoked ? 1 : 0, flags.suspended ? 1 : 0, now, flags.version, credentialId, flags.version],
  };
}

/** Deletion: final, so its revision passes every other snapshot's. */
export function indexDeletion(credentialId: string, now: number): D1Write {
  return {
    sql: `UPDATE credential_index SET deleted_at = ?, updated_at = ?, rev = rev + ${DELETED} WHERE id = ? AND rev < ${DELETED}`,
    params: [now, now, credentialId],
  };
}
