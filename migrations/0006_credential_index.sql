-- The sharded credential index (docs/SCALE.md): no bodies, one row per credential, by issuer hash
-- over the index shards (DB is shard 0; DB_SHARD_1.. the others). Every shard gets every migration;
-- the tables other than these stay in shard 0 and are empty elsewhere.
-- state: 0 pending, 1 signed, 2 failed (code says why). rev orders the snapshots of one row: the
-- issuer object bumps it with every change, and an upsert carrying an older rev changes nothing,
-- so replays, reorderings and the migrator's copies all leave the newest snapshot.
CREATE TABLE credential_index (
  id              TEXT PRIMARY KEY,
  issuer          TEXT NOT NULL,
  subject         TEXT NOT NULL,
  schema_id       TEXT,
  state           INTEGER NOT NULL,
  code            TEXT,
  revoked         INTEGER NOT NULL DEFAULT 0,
  suspended       INTEGER NOT NULL DEFAULT 0,
  rev             INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  deleted_at      INTEGER
) WITHOUT ROWID;
CREATE INDEX credential_index_by_subject ON credential_index (subject, created_at, id);
CREATE INDEX credential_index_by_schema ON credential_index (schema_id, created_at, id) WHERE schema_id IS NOT NULL;
CREATE INDEX credential_index_by_time ON credential_index (created_at, id);
CREATE INDEX credential_index_pending ON credential_index (created_at, id) WHERE state = 0;

-- The index layout while it differs from INDEX_SHARDS (a 1 → N migration, and after it); read from
-- shard 0 only. One row.
CREATE TABLE index_layout (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  shards      INTEGER NOT NULL,
  next        INTEGER,
  phase       TEXT NOT NULL CHECK (phase IN ('steady', 'copying', 'switched', 'cleaning')),
  since       INTEGER NOT NULL,
  cursor      TEXT                 -- the migrator's position (JSON), so a restarted run resumes
);
