/**
 * What one credential costs each store, measured from this code by test/scale/measure.test.ts
 * (workerd, real D1 and Durable Object SQLite, through the HTTP API). That test fails when any of
 * these drifts more than 20% from the code, so update them from its printed line when it does.
 *
 * Workload of the measurement: custodial Ed25519 did:key issuer, did:key subject, three claims,
 * revocable, jwt_vc; 200 credentials in batches of 100, then 20 single requests.
 */
// Ids name their issuer's object since issue 10 (`<64 hex>.<uuid>`, 101 characters, not a 36-character
// UUID): most of the growth of the byte figures below; the object's statements fell with multi-row writes.
export const MEASURED = {
  today: {
    /**
     * D1 file bytes per credential since its operation's row left D1 too (migrations/0014): the
     * compact credential index row with its four indexes is a credential's one D1 row, and it stands
     * for the credential's operation. Was 1,564 with the body-free operation row and its four list
     * indexes (shard 0 only, whatever the shard count), 2,495 with the body-free `credentials` row
     * as well, 10,445 with the bodies (credential JSON, JWT, the operation's result).
     */
    d1BytesPerCredential: 596,
    /** Of which bodies (credential JSON, JWT, operation result): none are written since 0013 (was 5,976). */
    d1BodyBytesPerCredential: 0,
    /**
     * Per credential: statements D1 runs (grouped upserts of up to 250 rows), table + index rows
     * written, D1's SQL time. A single create is one statement (the index row, pending and signed
     * folded into one delivery); it was 2.1 statements and 9 rows with the operation row.
     */
    batch: { d1Statements: 0.01, d1RowsWritten: 3, d1SqlMs: 0.01 },
    single: { d1Statements: 1, d1RowsWritten: 3, d1SqlMs: 0.05 },
  },
  proposed: {
    /** Two tables without bodies (PROPOSED_INDEX_DDL): credential and operation rows. */
    indexBytesPerCredential: 1_334,
    indexRowsWrittenPerCredential: 8,
    /** One WITHOUT ROWID row per credential, its operation derived (COMPACT_INDEX_DDL). */
    compactIndexBytesPerCredential: 612,
    compactIndexRowsWrittenPerCredential: 3,
  },
  /** Growth of the issuer object's SQLite file per credential (job with its signing input, operation, status entry, audit). */
  objectBytesPerCredential: 5_809,
  /**
   * Logical bytes by table per credential: jobs 3,329, operations 580, audit 123, status entry 68
   * (status_bits; 236 in status_entries, when this was 6,144 file bytes), idempotency 129.
   */
  objectLogicalPerCredential: 4_229,
  /**
   * Share of the object's logical bytes a credential keeps once retention archived it: its cold row
   * (84), status entry (68) and, until it expires, its idempotency record (129). Was 0.603 while
   * the archive moved the claims only (job row, operation and audit stayed), 0.097 with the status
   * entry in status_entries.
   */
  objectPurgedRatio: 0.06,
  /** Logical bytes of the status entry alone (kept hot: revocation updates it in place). */
  objectStatusEntryLogical: 236,
  /**
   * Object file bytes per cold credential (its job, operation and audit rows in R2, durable-objects/
   * archive.ts): the cold row with its indexes (328 measured alone, without a status entry; 84
   * logical bytes in the row) and the compact status entry (status_bits, ≈ 50; ≈ 490 in
   * status_entries, with two 101-character ids each in the row and an index: 819 in all). Measured
   * in steady state by test/signjobs/cold-archive.test.ts (file growth over a second round of 500
   * revocable credentials archived).
   */
  objectColdBytesPerCredential: 377,
  /** R2 bytes per cold credential: its record (job row with claims and signature, operation row, audit rows). */
  r2BytesPerColdCredential: 4_389,
  /** The compact JWS as served (what R2 holds for a cold credential; the credential JSON is its payload). */
  jwtBytes: 1_809,
  credentialJsonBytes: 941,
  /** SQLite statements the object runs per credential. */
  // 4.1 (revocable credentials: their status entries) once a custodial batch's jobs and operations
  // are signed and settled with one multi-row UPDATE each (Engine.acceptSoles); 7.5 before.
  batch: { objectStatements: 4.1 },
  // The single path varies with load (how many outbox rounds a request shares). 28.05 alone, counted
  // over the creates and their delivery only: the 42 measured before also counted the retention
  // alarm the test runs afterwards (test/scale/measure.test.ts now stops counting before it).
  // 16 (revocable) once a create re-arms once and keeps its key, the lists' and leases' state and
  // the idempotency prune out of every request (bench/README.md "One re-arm per single create").
  // 14 once the service's own idempotency key skips its look-up and the operation settles from the row in hand.
  single: { objectStatements: 14 },
} as const;

/**
 * The global index without bodies: ids, issuer, subject, schema, status, times. Issuer-scoped reads
 * go to the issuer's object, so the index carries no (issuer, time) index of its own beyond what
 * cross-issuer lists need. Used by the measurement to fill the same rows into this shape.
 */
export const PROPOSED_INDEX_DDL = {
  create: [
    `CREATE TABLE scale_probe_credentials (
       id TEXT PRIMARY KEY, issuer TEXT NOT NULL, subject TEXT NOT NULL, schema_id TEXT,
       revoked INTEGER NOT NULL DEFAULT 0, suspended INTEGER NOT NULL DEFAULT 0, status_version INTEGER NOT NULL DEFAULT 0,
       created_at INTEGER NOT NULL, signed_at INTEGER, deleted_at INTEGER)`,
    "CREATE INDEX scale_probe_credentials_by_subject ON scale_probe_credentials (subject, created_at, id)",
    "CREATE INDEX scale_probe_credentials_by_schema ON scale_probe_credentials (schema_id, created_at, id) WHERE schema_id IS NOT NULL",
    "CREATE INDEX scale_probe_credentials_by_time ON scale_probe_credentials (created_at, id)",
    `CREATE TABLE scale_probe_operations (
       id TEXT PRIMARY KEY, parent TEXT NOT NULL, issuer TEXT NOT NULL, done INTEGER NOT NULL, code TEXT,
       created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`,
    "CREATE INDEX scale_probe_operations_by_parent ON scale_probe_operations (parent, done, created_at, id)",
    "CREATE INDEX scale_probe_operations_by_done ON scale_probe_operations (done, created_at, id)",
  ],
  fill: [
    `INSERT INTO scale_probe_credentials SELECT id, issuer, subject, schema_id, revoked, suspended, rev / 4 % (1 << 38), created_at,
       CASE WHEN state = 1 THEN updated_at END, deleted_at
     FROM credential_index WHERE issuer = ?`,
    // A credential's operation row as D1's `operations` held it until migrations/0014 (now derived).
    `INSERT INTO scale_probe_operations SELECT 'credentials/' || id, 'credentials', issuer, state <> 0, code, created_at, updated_at
     FROM credential_index WHERE issuer = ?`,
  ],
  drop: ["DROP TABLE scale_probe_credentials", "DROP TABLE scale_probe_operations"],
};

/**
 * The compact index: one WITHOUT ROWID row per credential (no separate primary-key index), no
 * operation row for a credential (its operation is `credentials/<id>`: done and failed are the
 * credential's `state`, so operation lists for credentials read this table).
 */
export const COMPACT_INDEX_DDL = {
  create: [
    `CREATE TABLE scale_probe_compact (
       id TEXT PRIMARY KEY, issuer TEXT NOT NULL, subject TEXT NOT NULL, schema_id TEXT,
       state INTEGER NOT NULL, code TEXT, revoked INTEGER NOT NULL DEFAULT 0, suspended INTEGER NOT NULL DEFAULT 0,
       status_version INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, deleted_at INTEGER
     ) WITHOUT ROWID`,
    "CREATE INDEX scale_probe_compact_by_subject ON scale_probe_compact (subject, created_at, id)",
    "CREATE INDEX scale_probe_compact_by_schema ON scale_probe_compact (schema_id, created_at, id) WHERE schema_id IS NOT NULL",
    "CREATE INDEX scale_probe_compact_by_time ON scale_probe_compact (created_at, id)",
    "CREATE INDEX scale_probe_compact_by_state ON scale_probe_compact (state, created_at, id) WHERE state = 0",
  ],
  fill: [
    `INSERT INTO scale_probe_compact SELECT id, issuer, subject, schema_id, state, code,
       revoked, suspended, rev / 4 % (1 << 38), created_at, updated_at, deleted_at
     FROM credential_index WHERE issuer = ?`,
  ],
  drop: ["DROP TABLE scale_probe_compact"],
};
