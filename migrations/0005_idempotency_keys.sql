-- Idempotency-Key records of creates answered from D1 (DIDs), written in the same batch as the
-- row they created; `response` is the first answer's body, returned again to a retry.
CREATE TABLE idempotency_keys (
  scope        TEXT NOT NULL,      -- the caller: operator:<token digest> or did:<DID>
  key          TEXT NOT NULL,
  fingerprint  TEXT NOT NULL,      -- SHA-256 of method, path and body
  status       INTEGER NOT NULL,
  response     TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
