-- Schemas (api.md "Schemas"): unsigned ones are written by the route; signed ones by the `schema`
-- kind through the issuer's outbox (issuer, verification_method_id, operation_id and, once signed, jwt).
CREATE TABLE schemas (
  id                     TEXT PRIMARY KEY,
  name                   TEXT NOT NULL,
  description            TEXT,
  schema                 TEXT NOT NULL,  -- the JSON Schema document
  dialect                TEXT NOT NULL,  -- 2020-12 | 2019-09 | draft-07
  issuer                 TEXT,
  verification_method_id TEXT,
  operation_id           TEXT,
  jwt                    TEXT,           -- the JsonSchemaCredential (vc+jwt) once signed
  created_at             INTEGER NOT NULL,
  deleted_at             INTEGER         -- soft delete: a late outbox upsert must not bring a row back
);
CREATE INDEX schemas_by_time ON schemas (created_at, id);

-- Presentation definitions (DIF PE v2), stored in DIF's snake_case shape.
CREATE TABLE presentation_definitions (
  id          TEXT PRIMARY KEY,
  definition  TEXT NOT NULL,
  created_at  INTEGER NOT NULL
);
CREATE INDEX presentation_definitions_by_time ON presentation_definitions (created_at, id);

-- Presentation requests: written by the `presentation-request` kind through the verifier's outbox.
CREATE TABLE presentation_requests (
  id                     TEXT PRIMARY KEY,
  definition_id          TEXT NOT NULL,
  issuer                 TEXT NOT NULL,
  verification_method_id TEXT NOT NULL,
  operation_id           TEXT NOT NULL,
  jwt                    TEXT,
  expires_at             INTEGER NOT NULL,
  created_at             INTEGER NOT NULL,
  deleted_at             INTEGER
);
CREATE INDEX presentation_requests_by_time ON presentation_requests (created_at, id);

-- Holder submissions awaiting review; status moves once, pending → approved | denied.
CREATE TABLE presentation_submissions (
  id            TEXT PRIMARY KEY,
  definition_id TEXT NOT NULL,
  holder        TEXT NOT NULL,
  status        TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
  reason        TEXT,
  submission    TEXT NOT NULL,  -- the presentation_submission object
  jwt           TEXT NOT NULL,  -- the holder's VP JWT
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);
CREATE INDEX presentation_submissions_by_status ON presentation_submissions (status, created_at, id);
CREATE INDEX presentation_submissions_by_time ON presentation_submissions (created_at, id);
CREATE TRIGGER presentation_submissions_review_once BEFORE UPDATE OF status ON presentation_submissions
WHEN OLD.status <> 'pending'
BEGIN
  SELECT RAISE(ABORT, 'a reviewed submission does not change');
END;
