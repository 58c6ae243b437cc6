-- did:ion DIDs this service manages (src/did/ion-create.ts). `did` is the short form (also in
-- dids); `state` is the Sidetree state (document, commitments) as this service last changed it;
-- `operation_keys` holds the update and recovery keys: public JWK, keyRef, and for custodial
-- DIDs the wrapped private key. Anchoring is the operation `dids/ion/<suffix>`.
CREATE TABLE ion_dids (
  did TEXT PRIMARY KEY,
  suffix TEXT NOT NULL UNIQUE,
  long_form TEXT NOT NULL,
  state TEXT NOT NULL,
  operation_keys TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
