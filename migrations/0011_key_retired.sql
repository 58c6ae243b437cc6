-- A key a completed rotation took out of the DID document (api.md "Key rotation") is retired: it
-- signs nothing more and authenticates nobody (DID-auth, signer sockets). Unlike a revocation, the
-- JWTs it signed before stay valid; so it is its own column, not \`revoked\`.
ALTER TABLE keys ADD COLUMN retired_at INTEGER;
