-- A new credential's operation (`credentials/<credential id>`) has no D1 `operations` row: that row
-- was most of a credential's D1 bytes and stayed in shard 0 whatever the shard count
-- (docs/SCALE.md). Its credential index row stands for it (state: pending or done, code: how it
-- failed, times), and `GET /v1/operations` merges these rows with the other parents' operations.
--
-- is_operation = 1 marks such rows. It is 0 for credentials whose operation has its D1 row
-- (created before this, listed from `operations` as before) and for credentials issued inside
-- another operation (a manifest's response, `credentials/responses/<id>`), which have no
-- `credentials/<id>` operation at all. Applied to every index shard, like 0006.
ALTER TABLE credential_index ADD COLUMN is_operation INTEGER NOT NULL DEFAULT 0;
