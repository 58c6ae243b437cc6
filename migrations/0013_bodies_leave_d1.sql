-- Bodies leave D1 (docs/SCALE.md): the issuer's object (and R2 for archived claims) is the one
-- store of credential bodies, JWTs, JWT history and operation results. From here on the issuer
-- objects write body-free rows: `credentials.credential` is '' and `jwt` NULL, `operations.result`
-- NULL (except a presentation submission's, which has no object behind it), `sign_jobs` '[]'.
-- Reads page these rows (or the credential index) and fetch the bodies from each issuer's object.
--
-- Rows written before this keep their bodies: reads fall back to them when the object has none
-- (ids from before ids named their object; claims dropped by retention before jobs were archived).
-- They are not stripped here, because SQL cannot tell which of them their object still holds.

-- A failed operation's code, so lists and checks need not parse a result D1 no longer holds.
ALTER TABLE operations ADD COLUMN code TEXT;
UPDATE operations SET code = json_extract(result, '$.code') WHERE result IS NOT NULL AND json_valid(result);

-- JWT history is the object's now (a re-sign job per rotation); the rows copied so far stay readable.
DROP TRIGGER IF EXISTS credentials_jwt_history;

-- No query reads credentials by issuer, subject, schema or time from this table any more: lists by
-- issuer are the object's, the others page the credential index. Reads here are by id (rows from
-- before 0013) and by status list (credentials_by_status_list stays).
DROP INDEX IF EXISTS credentials_by_issuer;
DROP INDEX IF EXISTS credentials_by_subject;
DROP INDEX IF EXISTS credentials_by_schema;
DROP INDEX IF EXISTS credentials_by_time;
