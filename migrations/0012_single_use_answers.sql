-- A holder's answer is used once. A VP JWT is one submission however often it is sent (a replay is
-- refused), and a presentation or manifest request (its nonce) is answered at most once by each
-- holder. Rows from before this migration have neither column and are not constrained.
ALTER TABLE presentation_submissions ADD COLUMN jwt_sha256 TEXT;
ALTER TABLE presentation_submissions ADD COLUMN request_id TEXT;
CREATE UNIQUE INDEX presentation_submissions_by_jwt ON presentation_submissions (jwt_sha256) WHERE jwt_sha256 IS NOT NULL;
CREATE UNIQUE INDEX presentation_submissions_by_request ON presentation_submissions (request_id, holder) WHERE request_id IS NOT NULL;
ALTER TABLE credential_applications ADD COLUMN request_id TEXT;
CREATE UNIQUE INDEX credential_applications_by_request ON credential_applications (request_id, applicant) WHERE request_id IS NOT NULL;
