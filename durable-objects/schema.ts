/**
 * The issuer object's SQLite schema, as an append-only list of migrations.
 * Never edit a shipped migration: add a new one. The stored version says how far an object got.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);

  -- The issuer's keys, copied from D1 on first use (or written through at DID creation).
  CREATE TABLE keys (
    id TEXT PRIMARY KEY, key_type TEXT NOT NULL, alg TEXT NOT NULL, custody TEXT NOT NULL,
    key_ref TEXT, public_jwk TEXT NOT NULL, encrypted_private_key TEXT, revoked INTEGER NOT NULL DEFAULT 0
  );

  CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    vm_id TEXT NOT NULL,
    alg TEXT NOT NULL,
    key_ref TEXT,
    signing_input TEXT NOT NULL,
    payload TEXT NOT NULL,
    context TEXT NOT NULL,           -- what the kind's finaliser needs, as JSON
    status TEXT NOT NULL CHECK (status IN ('pending','signed','rejected','cancelled','expired')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    signed_at INTEGER,
    signature TEXT,
    response TEXT,                   -- the finaliser's result, set in the same write as signed
    ended_at INTEGER,
    reason TEXT
  );
  CREATE INDEX jobs_by_status ON jobs (status, seq);
  CREATE INDEX jobs_by_operation ON jobs (operation_id);
  CREATE INDEX jobs_pending_expiry ON jobs (expires_at) WHERE status = 'pending';

  -- A signed job never changes again, whatever code runs against this database.
  CREATE TRIGGER jobs_signed_immutable BEFORE UPDATE ON jobs WHEN OLD.status = 'signed'
  BEGIN SELECT RAISE(ABORT, 'signed sign job is immutable'); END;
  CREATE TRIGGER jobs_signed_undeletable BEFORE DELETE ON jobs WHEN OLD.status = 'signed'
  BEGIN SELECT RAISE(ABORT, 'signed sign job is immutable'); END;
  -- Only pending jobs may move, and only once.
  CREATE TRIGGER jobs_terminal_final BEFORE UPDATE OF status ON jobs WHEN OLD.status <> 'pending'
  BEGIN SELECT RAISE(ABORT, 'sign job already ended'); END;

  CREATE TABLE operations (
    id TEXT PRIMARY KEY,
    parent TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );

  -- D1 writes that follow state changes, written in the same transaction as the change.
  -- One row per projected entity: a newer snapshot of the same entity replaces an undelivered one.
  CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    sql TEXT NOT NULL,
    params TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at INTEGER NOT NULL
  );

  CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    job_id TEXT,
    event TEXT NOT NULL,
    detail TEXT
  );
  CREATE INDEX audit_by_job ON audit (job_id);

  -- DID-auth jti replay set, pruned by expiry.
  CREATE TABLE jtis (jti TEXT PRIMARY KEY, exp INTEGER NOT NULL);
  CREATE INDEX jtis_by_exp ON jtis (exp);

  -- Which connected signer holds a pending job, and until when.
  CREATE TABLE leases (job_id TEXT PRIMARY KEY, signer TEXT NOT NULL, until INTEGER NOT NULL);
  CREATE INDEX leases_by_until ON leases (until);
  CREATE INDEX leases_by_signer ON leases (signer);
  `,
  `
  -- Bitstring Status Lists (issue 5). One open list per (purpose, credential format); indexes are
  -- a keyed permutation (perm_key) of [0, size) applied to next_counter. Full at capacity.
  CREATE TABLE status_lists (
    id TEXT PRIMARY KEY,
    purpose TEXT NOT NULL CHECK (purpose IN ('revocation','suspension')),
    format TEXT NOT NULL,
    url TEXT NOT NULL,
    size INTEGER NOT NULL,
    capacity INTEGER NOT NULL,
    perm_key BLOB NOT NULL,
    next_counter INTEGER NOT NULL,
    open INTEGER NOT NULL,
    vm_id TEXT NOT NULL,             -- the key that signs it
    revision INTEGER NOT NULL,       -- bumped by every bit change; the published version
    job_revision INTEGER NOT NULL,   -- the revision of its newest status-list job
    created_at INTEGER NOT NULL
  );
  CREATE UNIQUE INDEX status_lists_open ON status_lists (purpose, format) WHERE open = 1;
  CREATE INDEX status_lists_dirty ON status_lists (created_at) WHERE revision > job_revision;

  -- One entry per credential with a status: its list, index and bit.
  CREATE TABLE status_entries (
    credential_id TEXT PRIMARY KEY,
    list_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    purpose TEXT NOT NULL,
    bit INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0,
    UNIQUE (list_id, idx)
  );
  CREATE INDEX status_entries_set ON status_entries (list_id, idx) WHERE bit = 1;
  -- Revocation is permanent, whatever code runs against this database.
  CREATE TRIGGER status_revocation_permanent BEFORE UPDATE OF bit ON status_entries
  WHEN OLD.purpose = 'revocation' AND OLD.bit = 1 AND NEW.bit = 0
  BEGIN SELECT RAISE(ABORT, 'revocation is permanent'); END;
  `,
  `
  -- Status-list jobs offered for a list's current bits since they last changed: the retry backoff
  -- (30 s, 60 s, 120 s, ...) and its bound are counted from it; a bit change sets it back to 0.
  ALTER TABLE status_lists ADD COLUMN publish_attempts INTEGER NOT NULL DEFAULT 0;
  `,
  `
  -- Bounded storage (issue 8). A job keeps its claims once, in signing_input: the payload is
  -- decoded from it when read. Ended jobs past the retention drop their signing input (purged_at).
  DROP TRIGGER jobs_signed_immutable;
  ALTER TABLE jobs DROP COLUMN payload;
  ALTER TABLE jobs ADD COLUMN purged_at INTEGER;
  CREATE INDEX jobs_to_purge ON jobs (ended_at) WHERE ended_at IS NOT NULL AND purged_at IS NULL;
  -- A signed job never changes again, except that retention may drop its signing input, once.
  CREATE TRIGGER jobs_signed_immutable BEFORE UPDATE ON jobs WHEN OLD.status = 'signed' AND NOT (
    OLD.purged_at IS NULL AND NEW.purged_at IS NOT NULL AND NEW.signing_input = ''
    AND NEW.seq IS OLD.seq AND NEW.id IS OLD.id AND NEW.kind IS OLD.kind AND NEW.operation_id IS OLD.operation_id
    AND NEW.vm_id IS OLD.vm_id AND NEW.alg IS OLD.alg AND NEW.key_ref IS OLD.key_ref AND NEW.context IS OLD.context
    AND NEW.status IS OLD.status AND NEW.created_at IS OLD.created_at AND NEW.expires_at IS OLD.expires_at
    AND NEW.signed_at IS OLD.signed_at AND NEW.signature IS OLD.signature AND NEW.response IS OLD.response
    AND NEW.ended_at IS OLD.ended_at AND NEW.reason IS OLD.reason)
  BEGIN SELECT RAISE(ABORT, 'signed sign job is immutable'); END;

  -- Repeated invalid signatures of a job collapse into one row per reason, with a count.
  ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE audit ADD COLUMN last_at INTEGER;
  UPDATE audit SET
    count = (SELECT count(*) FROM audit a WHERE a.job_id = audit.job_id AND a.event = audit.event AND a.detail IS audit.detail),
    last_at = (SELECT max(at) FROM audit a WHERE a.job_id = audit.job_id AND a.event = audit.event AND a.detail IS audit.detail)
  WHERE event = 'invalid_signature';
  DELETE FROM audit WHERE event = 'invalid_signature' AND seq > (
    SELECT min(seq) FROM audit a WHERE a.job_id = audit.job_id AND a.event = audit.event AND a.detail IS audit.detail);
  CREATE UNIQUE INDEX audit_invalid_once ON audit (job_id, event, detail) WHERE event = 'invalid_signature';

  -- Outbox rows D1 refused (while answering) too many times stop being retried and wait here;
  -- each is also reported, best-effort, to D1's dead_letters table, which /readiness counts.
  ALTER TABLE outbox ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE outbox_dead (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    sql TEXT NOT NULL,
    params TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    dead_at INTEGER NOT NULL,
    reported INTEGER NOT NULL DEFAULT 0,   -- 1 once D1 has its dead_letters row; -1 when reporting gave up
    report_attempts INTEGER NOT NULL DEFAULT 0,
    report_due_at INTEGER NOT NULL
  );
  CREATE INDEX outbox_dead_unreported ON outbox_dead (report_due_at) WHERE reported = 0;
  `,
  `
  -- Idempotency-Key records of creates, written in the transaction that creates the jobs.
  -- operations: the created operation ids in request order (JSON); pruned by the alarm.
  CREATE TABLE idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    operations TEXT NOT NULL,
    custodial INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
  );
  CREATE INDEX idempotency_by_expiry ON idempotency (expires_at);
  -- The alarm wakes for callers' keys only; the service's own short-lived keys go with the next create.
  CREATE INDEX idempotency_alarm ON idempotency (expires_at) WHERE scope <> 'internal';
  `,
];

export function migrate(sql: SqlStorage): void {
  sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  const row = sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0];
  let version = row?.version ?? 0;
  if (!row) sql.exec("INSERT INTO schema_version (version) VALUES (0)");
  while (version < MIGRATIONS.length) {
    sql.exec(MIGRATIONS[version]!);
    version += 1;
    sql.exec("UPDATE schema_version SET version = ?", version);
  }
}
