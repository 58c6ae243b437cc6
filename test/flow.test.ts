import { describe, expect, it } from "vitest";
import { api, enc, externalEd25519 } from "./helpers";

describe("SIP 9 flow", () => {
  it("custodial issuance is done at once", async () => {
    const did = await api("PUT", "/v1/dids/key", { keyType: "Ed25519" });
    expect(did.status).toBe(201);
    const doc = did.body.did;
    const res = await api("PUT", "/v1/credentials", {
      issuer: doc.id,
      verificationMethodId: doc.verificationMethod[0].id,
      subject: "did:example:alice",
      data: { name: "Alice" },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.done).toBe(true);
    expect(res.body.result.response.credentialJwt).toMatch(/^ey/);
    const op = await api("GET", `/v1/operations/${res.body.id}`);
    expect(op.status).toBe(200);
    expect(op.body.done).toBe(true);
    const v = await api("PUT", "/v1/credentials/verification", { credentialJwt: res.body.result.response.credentialJwt });
    expect(v.body).toEqual({ verified: true });
  });

  it("external issuance waits for a signature", async () => {
    const key = await externalEd25519();
    const did = await api("PUT", "/v1/dids/key", { keyType: "Ed25519", custody: "external", publicKeyJwk: key.publicKeyJwk, keyRef: "pkcs11:token=t;object=k" });
    expect(did.status, JSON.stringify(did.body)).toBe(201);
    const doc = did.body.did;
    const res = await api("PUT", "/v1/credentials", {
      issuer: doc.id,
      verificationMethodId: doc.verificationMethod[0].id,
      subject: "did:example:bob",
      data: { name: "Bob" },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const jobs = await api("GET", `/v1/signjobs?did=${enc(doc.id)}&status=pending`);
    expect(jobs.body.signJobs).toHaveLength(1);
    const job = jobs.body.signJobs[0];
    expect(job.keyRef).toBe("pkcs11:token=t;object=k");
    const signed = await api("PUT", "/v1/signjobs", { id: job.id, signature: await key.sign(job.signingInput) });
    expect(signed.status, JSON.stringify(signed.body)).toBe(200);
    expect(signed.body.status).toBe("signed");
    const op = await api("GET", `/v1/operations/${res.body.id}`);
    expect(op.body.done).toBe(true);
    const cred = await api("GET", `/v1/credentials/${op.body.result.response.id}`);
    expect(cred.body.credentialJwt).toBe(signed.body.jwt);
  });
});
