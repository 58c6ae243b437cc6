/**
 * The issuer object's SQLite schema as an append-only list of migrations: how an existing object
 * catches up (schema.ts). Never edit a shipped migration: add a new one, and bring the squashed
 * schema (schema-squashed.ts) to the same result; test/cost/schema.test.ts compares the two.
 */
export const MIGRATIONS: readonly string[] = [
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
  `
  -- A status list names its newest status-list job, so neither its publication state nor the
  -- supersession of an older pending job has to know how the kind spells operation ids.
  ALTER TABLE status_lists ADD COLUMN job_id TEXT;
  UPDATE status_lists SET job_id = (SELECT id FROM jobs
    WHERE jobs.operation_id = 'status-lists/' || status_lists.id || '.' || status_lists.job_revision ORDER BY seq DESC LIMIT 1);
  `,
  `
  -- did:ion operations waiting for the ION node to accept them (durable-objects/ion-anchors.ts).
  -- request and next_at are NULL while the operation waits for its did-operation sign job;
  -- on_done holds the D1 writes (the DID's new state and document) that apply once accepted.
  CREATE TABLE ion_anchors (
    operation_id TEXT PRIMARY KEY,
    request TEXT,
    attempts INTEGER NOT NULL,
    next_at INTEGER,
    response TEXT NOT NULL,
    on_done TEXT NOT NULL
  );
  `,
  `
  -- Key rotation (durable-objects/rotations.ts). A re-sign job names the job whose artifact it
  -- signs again (resigns); the scan finds an artifact's jobs by key, and skips re-signed ones.
  ALTER TABLE jobs ADD COLUMN resigns TEXT;
  CREATE INDEX jobs_by_resigns ON jobs (resigns) WHERE resigns IS NOT NULL;
  -- A key rotated away: new jobs asking for it are signed by rotated_to; retired once the rotation
  -- is done (it left the DID document).
  ALTER TABLE keys ADD COLUMN rotated_to TEXT;
  ALTER TABLE keys ADD COLUMN retired INTEGER NOT NULL DEFAULT 0;
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
    ended_at INTEGER
  );
  CREATE UNIQUE INDEX rotations_running ON rotations (state) WHERE state = 'running';
  `,
  `
  -- A purged signed job whose signing input was put in R2 first (durable-objects/archive.ts): reads
  -- fetch it back. The signed-job trigger allows it, as it changes only with the purge itself.
  ALTER TABLE jobs ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
  `,
  `
  -- Reads of one credential and an issuer's credential list are answered here (api.md
  -- "Consistency"): a job names the artifact it signs, and a deleted credential is remembered.
  -- The immutability trigger is made again so the new column is frozen on a signed job too; the
  -- backfill runs between (it would trip the old trigger on signed jobs).
  DROP TRIGGER jobs_signed_immutable;
  ALTER TABLE jobs ADD COLUMN artifact_id TEXT;
  UPDATE jobs SET artifact_id = json_extract(context, '$.credentialId') WHERE kind = 'credential' AND resigns IS NULL;
  CREATE TRIGGER jobs_signed_immutable BEFORE UPDATE ON jobs WHEN OLD.status = 'signed' AND NOT (
    OLD.purged_at IS NULL AND NEW.purged_at IS NOT NULL AND NEW.signing_input = ''
    AND NEW.seq IS OLD.seq AND NEW.id IS OLD.id AND NEW.kind IS OLD.kind AND NEW.operation_id IS OLD.operation_id
    AND NEW.vm_id IS OLD.vm_id AND NEW.alg IS OLD.alg AND NEW.key_ref IS OLD.key_ref AND NEW.context IS OLD.context
    AND NEW.status IS OLD.status AND NEW.created_at IS OLD.created_at AND NEW.expires_at IS OLD.expires_at
    AND NEW.signed_at IS OLD.signed_at AND NEW.signature IS OLD.signature AND NEW.response IS OLD.response
    AND NEW.ended_at IS OLD.ended_at AND NEW.reason IS OLD.reason AND NEW.resigns IS OLD.resigns
    AND NEW.artifact_id IS OLD.artifact_id)
  BEGIN SELECT RAISE(ABORT, 'signed sign job is immutable'); END;
  CREATE INDEX jobs_by_artifact ON jobs (artifact_id) WHERE artifact_id IS NOT NULL;
  -- The issuer's credentials in the order D1 lists them, (created_at, id), keyset-paged.
  CREATE INDEX jobs_credentials ON jobs (created_at, artifact_id) WHERE kind = 'credential' AND artifact_id IS NOT NULL;
  CREATE TABLE deleted_artifacts (id TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;
  `,
  `
  -- The re-arm after every change asks for the earliest outbox due time (durable-objects/due.ts):
  -- without an index that read every undelivered row, so while D1 was down each create cost
  -- O(backlog).
  CREATE INDEX outbox_by_due ON outbox (due_at);
  `,
  `
  -- did:ion rotation: the Sidetree update taking the old keys out of the ION document is prepared
  -- (and signed, or its did-operation job created) when the rotation starts, and held until the
  -- re-signing is done (held = 1: not posted even once signed). The rotation names it.
  ALTER TABLE ion_anchors ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE rotations ADD COLUMN document_operation TEXT;
  `,
  `
  -- Cold credentials (durable-objects/archive.ts): a signed credential job past retention or the hot
  -- limit goes to R2 whole (its row, its operation's row when that is the credential's own, its
  -- audit rows), and the object keeps this row: enough to find it by id, list it in seq order, page
  -- an issuer's credentials, follow re-sign chains and find its R2 key. Ids are stored without the
  -- object id every id here starts with ('!' + the whole id when one does not): 65 bytes a copy,
  -- four copies a row. vm is the signing key's keys.rowid; resigns the seq of the job it re-signs.
  -- op is NULL when the operation is 'credentials/' || the artifact id and its row went to R2 too.
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
  DROP TRIGGER jobs_signed_undeletable;
  CREATE TRIGGER jobs_signed_undeletable BEFORE DELETE ON jobs WHEN OLD.status = 'signed'
    AND NOT EXISTS (SELECT 1 FROM cold_jobs WHERE seq = OLD.seq)
  BEGIN SELECT RAISE(ABORT, 'signed sign job is immutable'); END;
  `,
  `
  -- Compact status entries (durable-objects/status-entries.ts): they stay with every credential,
  -- cold ones too, so their size is most of what a cold credential costs. The credential id without
  -- the object id (as cold_jobs stores ids), the list by its rowid (lists are never deleted); set
  -- bits indexed for re-encoding a list. Entries written before stay in status_entries.
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
  `,
];
