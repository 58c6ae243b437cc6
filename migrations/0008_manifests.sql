-- Credential Manifest flows (api.md "Credential Manifests"). Times are milliseconds since the epoch.
-- Manifests, manifest requests and responses are projected here by the issuer object's outbox
-- (their kinds); applications and templates are immutable once made and are written by their routes.

CREATE TABLE manifests (
  id                      TEXT PRIMARY KEY,
  issuer                  TEXT NOT NULL,
  verification_method_id  TEXT NOT NULL,
  operation_id            TEXT NOT NULL,
  manifest                TEXT NOT NULL,      -- the DIF credential_manifest JSON
  jwt                     TEXT,               -- set once, when its sign job is signed
  created_at              INTEGER NOT NULL,
  signed_at               INTEGER,
  deleted_at              INTEGER
);
CREATE INDEX manifests_by_time ON manifests (created_at, id);
CREATE INDEX manifests_by_issuer ON manifests (issuer, created_at, id);

CREATE TABLE manifest_requests (
  id                      TEXT PRIMARY KEY,
  manifest_id             TEXT NOT NULL,
  issuer                  TEXT NOT NULL,
  operation_id            TEXT NOT NULL,
  audience                TEXT,               -- JSON array
  expires_at              INTEGER NOT NULL,
  callback_url            TEXT,
  jwt                     TEXT,
  created_at              INTEGER NOT NULL,
  signed_at               INTEGER,
  deleted_at              INTEGER
);
CREATE INDEX manifest_requests_by_time ON manifest_requests (created_at, id);

CREATE TABLE issuance_templates (
  id                      TEXT PRIMARY KEY,
  manifest_id             TEXT NOT NULL,
  issuer                  TEXT NOT NULL,
  verification_method_id  TEXT NOT NULL,
  credentials             TEXT NOT NULL,      -- JSON: the template's credentials
  created_at              INTEGER NOT NULL,
  deleted_at              INTEGER
);
CREATE INDEX issuance_templates_by_time ON issuance_templates (created_at, id);
-- At most one live template per manifest: an application must know which one applies.
CREATE UNIQUE INDEX issuance_templates_by_manifest ON issuance_templates (manifest_id) WHERE deleted_at IS NULL;

CREATE TABLE credential_applications (
  id                      TEXT PRIMARY KEY,   -- the DIF credential_application id
  manifest_id             TEXT NOT NULL,
  issuer                  TEXT NOT NULL,
  applicant               TEXT NOT NULL,
  operation_id            TEXT NOT NULL,
  application             TEXT NOT NULL,      -- the DIF credential_application JSON
  application_jwt         TEXT NOT NULL,
  created_at              INTEGER NOT NULL,
  deleted_at              INTEGER
);
CREATE INDEX credential_applications_by_time ON credential_applications (created_at, id);

CREATE TABLE credential_responses (
  id                      TEXT PRIMARY KEY,
  application_id          TEXT NOT NULL,
  manifest_id             TEXT NOT NULL,
  issuer                  TEXT NOT NULL,
  applicant               TEXT NOT NULL,
  operation_id            TEXT NOT NULL,
  response                TEXT NOT NULL,      -- the DIF credential_response JSON
  jwt                     TEXT,
  created_at              INTEGER NOT NULL,
  signed_at               INTEGER,
  deleted_at              INTEGER
);
CREATE INDEX credential_responses_by_time ON credential_responses (created_at, id);
CREATE UNIQUE INDEX credential_responses_by_application ON credential_responses (application_id);
