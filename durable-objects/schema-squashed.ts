/**
 * The schema every migration (schema-migrations.ts) leads to, created directly: a new object runs
 * this one script (48 CREATE statements) instead of every migration (72 DDL statements, 14 of them
 * ALTER TABLEs that make SQLite re-check the whole schema each), before its first answer. The
 * comments are the migrations'; the columns are in the order the migrations left them (added
 * columns last). test/cost/schema.test.ts compares what this creates with what the migrations create.
 */
export const SCHEMA = `
  CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);

  -- The issuer's keys, copied from D1 on first use. rotated_to: a key rotated away, whose new jobs
  -- are signed by rotated_to; retired once the rotation is done (it left the DID document).
  CREATE TABLE keys (
    id TEXT PRIMARY KEY, key_type TEXT NOT NULL, alg TEXT NOT NULL, custody TEXT NOT NULL,
    key_ref TEXT, public_jwk TEXT NOT NULL, encrypted_private_key TEXT, revoked INTEGER NOT NULL DEFAULT 0,
    rotated_to TEXT, retired INTEGER NOT NULL DEFAULT 0
  );

  CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    vm_id TEXT NOT NULL,
    alg TEXT NOT NULL,
    key_ref TEXT,
    signing_input TEXT NOT NULL,     -- the claims too: the payload is decoded from it; '' once purged
    context TEXT NOT NULL,           -- what the kind's finaliser needs, as JSON
    status TEXT NOT NULL CHECK (status IN ('pending','signed','rejected','cancelled','expired')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    signed_at INTEGER,
    signature TEXT,
    response TEXT,                   -- the finaliser's result, set in the same write as signed
    ended_at INTEGER,
    reason TEXT,
    purged_at INTEGER,               -- retention dropped the signing input (bounded storage)
    resigns TEXT,                    -- a re-sign job: the job whose artifact it signs again
    archived INTEGER NOT NULL DEFAULT 0, -- the purged signing input was put in R2 first
    artifact_id TEXT                 -- the artifact it signs (reads of credentials are answered here)
  );
  CREATE INDEX jobs_by_status ON jobs (status, seq);
  CREATE INDEX jobs_by_operation ON jobs (operation_id);
  CREATE INDEX jobs_pending_expiry ON jobs (expires_at) WHERE status = 'pending';
  CREATE INDEX jobs_to_purge ON jobs (ended_at) WHERE ended_at IS NOT NULL AND purged_at IS NULL;
  CREATE INDEX jobs_by_resigns ON jobs (resigns) WHERE resigns IS NOT NULL;
  CREATE INDEX jobs_by_artifact ON jobs (artifact_id) WHERE artifact_id IS NOT NULL;
  -- The issuer's credentials in the order D1 lists them, (created_at, id), keyset-paged.
  CREATE INDEX jobs_credentials ON jobs (created_at, artifact_id) WHERE kind = 'credential' AND artifact_id IS NOT NULL;

  -- Only pending jobs may move, and only once.
  CREATE TRIGGER jobs_terminal_final BEFORE UPDATE OF status ON jobs WHEN OLD.status <> 'pending'
  BEGIN SELECT RAISE(ABORT, 'sign job already ended'); END;
  -- A signed job never changes again, except that retention may drop its signing input, once.
  CREATE TRIGGER jobs_signed_immutable BEFORE UPDATE ON jobs WHEN OLD.status = 'signed' AND NOT (
    OLD.purged_at IS NULL AND NEW.purged_at IS NOT NULL AND NEW.signing_input = ''
    AND NEW.seq IS OLD.seq AND NEW.id IS OLD.id AND NEW.kind IS OLD.kind AND NEW.operation_id IS OLD.operation_id
    AND NEW.vm_id IS OLD.vm_id AND NEW.alg IS OLD.alg AND NEW.key_ref IS OLD.key_ref AND NEW.context IS OLD.context
    AND NEW.status IS OLD.status AND NEW.created_at IS OLD.created_at AND NEW.expires_at IS OLD.expires_at
    AND NEW.signed_at IS OLD.signed_at AND NEW.signature IS OLD.signature AND NEW.response IS OLD.response
    AND NEW.ended_at IS OLD.ended_at AND NEW.reason IS OLD.reason AND NEW.resigns IS OLD.resigns
    AND NEW.artifact_id IS OLD.artifact_id)
  BEGIN SELECT RAISE(ABORT, 'signed sign job is immutable'); END;

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
    due_at INTEGER NOT NULL,
    refusals INTEGER NOT NULL DEFAULT 0
  );
  -- The re-arm after every change asks for the earliest due time (durable-objects/due.ts).
  CREATE INDEX outbox_by_due ON outbox (due_at);

  -- Repeated invalid signatures of a job are one row per reason, with a count.
  CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    job_id TEXT,
    event TEXT NOT NULL,
    detail TEXT,
    count INTEGER NOT NULL DEFAULT 1,
    last_at INTEGER
  );
  CREATE INDEX audit_by_job ON audit (job_id);
  CREATE UNIQUE INDEX audit_invalid_once ON audit (job_id, event, detail) WHERE event = 'invalid_signature';

  -- DID-auth jti replay set, pruned by expiry.
  CREATE TABLE jtis (jti TEXT PRIMARY KEY, exp INTEGER NOT NULL);
  CREATE INDEX jtis_by_exp ON jtis (exp);

  -- Which connected signer holds a pending job, and until when.
  CREATE TABLE leases (job_id TEXT PRIMARY KEY, signer TEXT NOT NULL, until INTEGER NOT NULL);
  CREATE INDEX leases_by_until ON leases (until);
  CREATE INDEX leases_by_signer ON leases (signer);

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
    created_at INTEGER NOT NULL,
    publish_attempts INTEGER NOT NULL DEFAULT 0, -- status-list jobs offered since the bits last changed
    job_id TEXT                      -- its newest status-list job
  );
  CREATE UNIQUE INDEX status_lists_open ON status_lists (purpose, format) WHERE open = 1;
  CREATE INDEX status_lists_dirty ON status_lists (created_at) WHERE revision > job_revision;

  -- Status entries written before status_bits: their list, index and bit.
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

  -- Outbox rows D1 refused (while answering) too many times stop being retried and wait here;
  -- each is also reported, best-effort, to D1's dead_letters table, which /readiness counts.
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

  -- did:ion operations waiting for the ION node to accept them (durable-objects/ion-anchors.ts).
  -- request and next_at are NULL while the operation waits for its did-operation sign job;
  -- on_done holds the D1 writes (the DID's new state and document) that apply once accepted;
  -- held = 1: a rotation's update, not posted even once signed until the re-signing is done.
  CREATE TABLE ion_anchors (
    operation_id TEXT PRIMARY KEY,
    request TEXT,
    attempts INTEGER NOT NULL,
    next_at INTEGER,
    response TEXT NOT NULL,
    on_done TEXT NOT NULL,
    held INTEGER NOT NULL DEFAULT 0
  );

  -- Key rotation (durable-objects/rotations.ts).
  CREATE TABLE rotations (
    id TEXT PRIMARY KEY,              -- the operation's id: dids/rotations/<uuid>
    to_key TEXT NOT NULL,
    from_keys TEXT NOT NULL,          -- JSON array of the keys rotated away
    method TEXT NOT NULL,             -- the DID method: whose document changes at the end
    origin TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    cursor INTEGER NOT NULL,          -- the scan's position in jobs.seq
    high INTEGER NOT NULL,            -- the last jobs.seq when it started: later jobs are the new key's
    created INTEGER NOT NULL DEFAULT 0,
    signed INTEGER NOT NULL DEFAULT 0,
    cleanup INTEGER NOT NULL DEFAULT 0, -- failed: its pending re-sign jobs are still being cancelled
    created_at INTEGER NOT NULL,
    ended_at INTEGER,
    document_operation TEXT           -- did:ion: the held Sidetree update taking the old keys out
  );
  CREATE UNIQUE INDEX rotations_running ON rotations (state) WHERE state = 'running';

  CREATE TABLE deleted_artifacts (id TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;

  -- Cold credentials (durable-objects/archive.ts): a signed credential job past retention or the hot
  -- limit goes to R2 whole, and the object keeps this row. Ids are stored without the object id
  -- every id here starts with ('!' + the whole id when one does not). vm is the signing key's
  -- keys.rowid; resigns the seq of the job it re-signs. op is NULL when the operation is
  -- 'credentials/' || the artifact id and its row went to R2 too.
  CREATE TABLE cold_jobs (
    seq INTEGER PRIMARY KEY,
    job TEXT NOT NULL,
    artifact TEXT,
    op TEXT,
    resigns INTEGER,
    vm INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    legacy INTEGER NOT NULL
  );
  CREATE UNIQUE INDEX cold_jobs_by_id ON cold_jobs (job);
  CREATE INDEX cold_jobs_by_artifact ON cold_jobs (artifact) WHERE artifact IS NOT NULL;
  CREATE INDEX cold_jobs_credentials ON cold_jobs (created_at, artifact) WHERE artifact IS NOT NULL;
  CREATE INDEX cold_jobs_by_op ON cold_jobs (op) WHERE op IS NOT NULL;
  CREATE INDEX cold_jobs_by_resigns ON cold_jobs (resigns) WHERE resigns IS NOT NULL;
  -- A signed job leaves the table only once its cold row is there (written first, same transaction).
  CREATE TRIGGER jobs_signed_undeletable BEFORE DELETE ON jobs WHEN OLD.status = 'signed'
    AND NOT EXISTS (SELECT 1 FROM cold_jobs WHERE seq = OLD.seq)
  BEGIN SELECT RAISE(ABORT, 'signed sign job is immutable'); END;

  -- Compact status entries (durable-objects/status-entries.ts): the credential id without the
  -- object id (as cold_jobs stores ids), the list by its rowid (lists are never deleted).
  CREATE TABLE status_bits (
    credential TEXT NOT NULL PRIMARY KEY,
    list INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    bit INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;
  CREATE INDEX status_bits_set ON status_bits (list, idx) WHERE bit = 1;
  -- Revocation is permanent, whatever code runs against this database.
  CREATE TRIGGER status_bits_revocation_permanent BEFORE UPDATE OF bit ON status_bits
  WHEN OLD.bit = 1 AND NEW.bit = 0 AND (SELECT purpose FROM status_lists WHERE rowid = OLD.list) = 'revocation'
  BEGIN SELECT RAISE(ABORT, 'revocation is permanent'); END;
`;
