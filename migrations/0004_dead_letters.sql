-- Outbox rows an issuer object stopped retrying (D1 refused them too many times), reported
-- best-effort by the object so /readiness can count them without visiting every object.
-- The row itself (statement, parameters, last error) stays in the object's outbox_dead table.
CREATE TABLE dead_letters (
  issuer    TEXT NOT NULL,
  key       TEXT NOT NULL,      -- the outbox entity key, e.g. credential:<id>
  dead_at   INTEGER NOT NULL,
  attempts  INTEGER NOT NULL,
  PRIMARY KEY (issuer, key, dead_at)
);
