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
