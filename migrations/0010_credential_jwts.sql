-- Key rotation (api.md "Key rotation"): a re-signed credential keeps its id and status entry and
-- gets a newer JWT. The JWTs it had before are kept here, by D1 itself: whenever a credential's
-- JWT is replaced, the one replaced becomes a history row (idempotent: a replay changes nothing).
CREATE TABLE credential_jwts (
  credential_id           TEXT NOT NULL,
  jwt                     TEXT NOT NULL,
  verification_method_id  TEXT NOT NULL,
  signed_at               INTEGER,
  replaced_at             INTEGER NOT NULL,
  PRIMARY KEY (credential_id, jwt)
) WITHOUT ROWID;

CREATE TRIGGER credentials_jwt_history AFTER UPDATE OF jwt ON credentials
WHEN OLD.jwt IS NOT NULL AND NEW.jwt IS NOT OLD.jwt
BEGIN
  INSERT INTO credential_jwts (credential_id, jwt, verification_method_id, signed_at, replaced_at)
  VALUES (OLD.id, OLD.jwt, OLD.verification_method_id, OLD.signed_at, coalesce(NEW.signed_at, 0))
  ON CONFLICT DO NOTHING;
END;
