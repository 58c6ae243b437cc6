import { describe, expect, it } from "vitest";
import { base64url } from "jose";
import { refusal, type JobClaims, type SignerIdentity } from "../../signer/src/inspect.js";

const key = { kty: "EC", crv: "secp256k1", x: "a".repeat(43), y: "b".repeat(43) };
const did = "did:ion:EiAbc";
const me: SignerIdentity = { did, kid: `${did}#ion-update`, alg: "ES256K", policy: { kinds: ["did-operation"] } };
const input = (header: unknown, payload: unknown) =>
  `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}`;
const job = (header: unknown, payload: unknown): JobClaims => ({
  did,
  verificationMethodId: me.kid,
  alg: "ES256K",
  kind: "did-operation",
  signingInput: input(header, payload),
});

describe("signer: did-operation jobs (did:ion update and recovery keys)", () => {
  it("signs a Sidetree update, recover or deactivate when the policy allows the kind", () => {
    expect(refusal(job({ alg: "ES256K" }, { updateKey: key, deltaHash: "EiD" }), me)).toBeUndefined();
    expect(refusal(job({ alg: "ES256K" }, { recoveryKey: key, recoveryCommitment: "EiC", deltaHash: "EiD" }), me)).toBeUndefined();
    expect(refusal(job({ alg: "ES256K" }, { didSuffix: "EiAbc", recoveryKey: key }), me)).toBeUndefined();
  });

  it("refuses it without the policy, with any other header member, or with another payload", () => {
    expect(refusal(job({ alg: "ES256K" }, { updateKey: key, deltaHash: "EiD" }), { ...me, policy: {} })).toMatch(
      /not allowed by signer policy/,
    );
    expect(refusal(job({ alg: "ES256K", kid: me.kid }, { updateKey: key, deltaHash: "EiD" }), me)).toMatch(/alone/);
    expect(refusal(job({ alg: "ES256K" }, { updateKey: key, deltaHash: "EiD", iss: did }), me)).toMatch(/not the signed data/);
    // A credential labelled did-operation goes through the credential checks and is refused there.
    expect(refusal(job({ alg: "ES256K" }, { iss: did, vc: {} }), me)).toMatch(/kid is not/);
    expect(refusal(job({ alg: "ES256K" }, { updateKey: { ...key, d: "x" }, deltaHash: "EiD" }), me)).toMatch(/secp256k1 public JWK/);
    expect(refusal(job({ alg: "ES256K" }, { updateKey: key, deltaHash: "not base64url!" }), me)).toMatch(/deltaHash/);
  });
});
