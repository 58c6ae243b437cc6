-- The global read model. Durable Objects project their state here through their outboxes;
-- DIDs and keys are written here directly when they are created.
-- Times are milliseconds since the epoch.

CREATE TABLE dids (
  did         TEXT PRIMARY KEY,
  method      TEXT NOT NULL,
  custody     TEXT NOT NULL,
  document    TEXT NOT NULL,
  web_host    TEXT,            -- did:web only: the host and path the document is served at
  web_path    TEXT,
  created_at  INTEGER NOT NULL,
  deleted_at  INTEGER
);
CREATE INDEX dids_by_method ON dids (method, created_at, did);
CREATE UNIQUE INDEX dids_by_web_location ON dids (web_host, web_path) WHERE web_host IS NOT NULL;

CREATE TABLE keys (
  id                     TEXT PRIMARY KEY,   -- the verification method id
  did                    TEXT NOT NULL,
  key_type               TEXT NOT NULL,
  custody                TEXT NOT NULL,
  key_ref                TEXT,
  public_jwk             TEXT NOT NULL,
  encrypted_private_key  TEXT,               -- custodial only: AES-256-GCM under KEY_ENCRYPTION_KEY
  created_at             INTEGER NOT NULL,
  revoked                INTEGER NOT NULL DEFAULT 0,
  revoked_at             INTEGER
);
CREATE INDEX keys_by_did ON keys (did);

CREATE TABLE credentials (
  id                      TEXT PRIMARY KEY,
  issuer                  TEXT NOT NULL,
  subject                 TEXT NOT NULL,
  schema_id               TEXT,
  verification_method_id  TEXT NOT NULL,
  operation_id            TEXT NOT NULL,
  format                  TEXT NOT NULL,
  credential              TEXT NOT NULL,      -- the unsigned credential JSON
  jwt                     TEXT,               -- set once, when its sign job is signed
  status_list_id          TEXT,
  status_index            INTEGER,
  status_purpose          TEXT,
  revoked                 INTEGER NOT NULL DEFAULT 0,
  suspended               INTEGER NOT NULL DEFAULT 0,
  status_version          INTEGER NOT NULL DEFAULT 0,
  created_at              INTEGER NOT NULL,
  signed_at               INTEGER,
  deleted_at              INTEGER
);
CREATE INDEX credentials_by_issuer ON credentials (issuer, created_at, id);
CREATE INDEX credentials_by_subject ON credentials (subject, created_at, id);
CREATE INDEX credentials_by_schema ON credentials (schema_id, created_at, id);
CREATE INDEX credentials_by_time ON credentials (created_at, id);

CREATE TABLE operations (
  id          TEXT PRIMARY KEY,
  parent      TEXT NOT NULL,
  issuer      TEXT NOT NULL,
  done        INTEGER NOT NULL,
  result      TEXT,                -- JSON { response? , error?, code? }
  sign_jobs   TEXT NOT NULL,       -- JSON array of job ids
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
CREATE INDEX operations_by_parent ON operations (parent, done, created_at, id);
CREATE INDEX operations_by_time ON operations (done, created_at, id);

-- Published (signed) status list credentials; replaced only when a newer list job is signed.
CREATE TABLE status_lists (
  id          TEXT PRIMARY KEY,
  issuer      TEXT NOT NULL,
  purpose     TEXT NOT NULL,
  format      TEXT NOT NULL,
  credential  TEXT NOT NULL,
  jwt         TEXT NOT NULL,
  ttl_ms      INTEGER NOT NULL,
  version     INTEGER NOT NULL,    -- the list's revision in its issuer object; never goes back
  updated_at  INTEGER NOT NULL
);
