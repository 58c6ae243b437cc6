/**
 * The SIP 9 seed sequence, end to end, for each algorithm and both credential formats: an external
 * DID → a credential → 202 with one sign job → the signer finds it, signs signingInput, submits →
 * the operation is done and the JWT verifies with third-party libraries.
 */
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { verifyCredential } from "did-jwt-vc";
import { compactVerify, decodeJwt, decodeProtectedHeader, importJWK, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { api, enc } from "../support/api";
import { b64, indexRows, externalDid, externalKey, KEY_TYPES, pendingJobs, type ExternalKey, type Issuer } from "../support/keys";

/** did-jwt-vc resolves the issuer through the service's own resolver endpoint, as a relying party would. */
function resolverVia() {
  return {
    resolve: async (did: string) => {
      const res = await api("GET", `/v1/dids/resolver/${enc(did)}`);
      expect(res.status).toBe(200);
      return { didResolutionMetadata: {}, didDocument: res.body.didDocument, didDocumentMetadata: {} };
    },
  };
}

/** The external signer's round trip: find the pending job, sign its signingInput, submit. */
async function signThrough(key: ExternalKey, issuer: Issuer, operation: any) {
  const jobs = await pendingJobs(issuer.did);
  expect(jobs.map((j) => j.id)).toEqual(operation.signJobs);
  const job = jobs[0];
  expect(job).toMatchObject({ did: issuer.did, verificationMethodId: issuer.vmId, alg: key.alg, kind: "credential", status: "pending" });
  expect(job.operationId).toBe(operation.id);
  if (key.alg !== "EdDSA") {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(job.signingInput)));
    expect(job.digest).toBe(b64.encode(digest));
  } else {
    expect(job.digest).toBeUndefined();
  }
  const signed = await api("PUT", "/v1/signjobs", { id: job.id, signature: await key.sign(job.signingInput) });
  expect(signed.status, JSON.stringify(signed.body)).toBe(200);
  expect(signed.body.status).toBe("signed");
  expect(signed.body.jwt.startsWith(`${job.signingInput}.`)).toBe(true);
  expect(await pendingJobs(issuer.did)).toEqual([]);

  const op = await api("GET", `/v1/operations/${operation.id}`);
  expect(op.status).toBe(200);
  expect(op.body.done).toBe(true);
  expect(op.body.result.response.credentialJwt).toBe(signed.body.jwt);
  const cred = await api("GET", `/v1/credentials/${op.body.result.response.id}`);
  expect(cred.status).toBe(200);
  expect(cred.body.credentialJwt).toBe(signed.body.jwt);
  expect(await indexRows(operation.id)).toHaveLength(1);
  return signed.body.jwt as string;
}

/** Verifies a compact JWS with the issuer's public JWK; jose in workerd has no secp256k1, so noble does ES256K. */
async function verifyJws(key: ExternalKey, jwt: string): Promise<void> {
  if (key.alg === "ES256K") {
    const [h, p, s] = jwt.split(".");
    const point = new Uint8Array([4, ...b64.decode(key.publicKeyJwk.x!), ...b64.decode(key.publicKeyJwk.y!)]);
    expect(secp256k1.verify(b64.decode(s!), new TextEncoder().encode(`${h}.${p}`), point, { prehash: true, lowS: true })).toBe(true);
    return;
  }
  const { protectedHeader } = await compactVerify(jwt, await importJWK(key.publicKeyJwk, key.alg));
  expect(protectedHeader.alg).toBe(key.alg);
}

describe.each(KEY_TYPES)("seed sequence with an external %s key", (keyType) => {
  it("jwt_vc: 202 → sign job → signature → done; did-jwt-vc verifies", async () => {
    const key = await externalKey(keyType);
    const issuer = await externalDid(key);
    const res = await api("PUT", "/v1/credentials", {
      issuer: issuer.did,
      verificationMethodId: issuer.vmId,
      subject: "did:example:alice",
      data: { name: "Alice" },
      type: ["UniversityDegreeCredential"],
      expiry: "2099-01-01T00:00:00Z",
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body.done).toBe(false);
    expect(res.body.id).toMatch(/^credentials\//);
    expect(res.body.signJobs).toHaveLength(1);
    expect(res.body.result?.response?.credentialJwt).toBeUndefined();
    const pending = await api("GET", `/v1/operations/${res.body.id}`);
    expect(pending.body.done).toBe(false);

    const jwt = await signThrough(key, issuer, res.body);
    await verifyJws(key, jwt);
    const header = decodeProtectedHeader(jwt);
    expect(header).toMatchObject({ alg: key.alg, kid: issuer.vmId, typ: "JWT" });

    const verified = await verifyCredential(jwt, resolverVia());
    expect(verified.verified).toBe(true);
    expect(verified.issuer).toBe(issuer.did);
    expect(verified.payload.sub).toBe("did:example:alice");
    expect(verified.payload.exp).toBe(Date.parse("2099-01-01T00:00:00Z") / 1000);
    expect(verified.verifiableCredential.type).toContain("UniversityDegreeCredential");
    expect(verified.verifiableCredential.credentialSubject).toMatchObject({ id: "did:example:alice", name: "Alice" });
  });

  it("vc+jwt: the VC 2.0 payload verifies with the public key, typ vc+jwt, validFrom, no vc claim", async () => {
    const key = await externalKey(keyType);
    const issuer = await externalDid(key, "jwk");
    const res = await api("PUT", "/v1/credentials", {
      issuer: issuer.did,
      verificationMethodId: issuer.vmId,
      subject: "did:example:bob",
      data: { name: "Bob" },
      format: "vc+jwt",
      expiry: "2099-01-01T00:00:00Z",
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const jwt = await signThrough(key, issuer, res.body);
    await verifyJws(key, jwt);
    if (key.alg !== "ES256K") {
      const { payload, protectedHeader } = await jwtVerify(jwt, await importJWK(key.publicKeyJwk, key.alg), { typ: "vc+jwt" });
      expect(protectedHeader.kid).toBe(issuer.vmId);
      expect(payload.vc).toBeUndefined();
    }
    expect(decodeProtectedHeader(jwt)).toMatchObject({ alg: key.alg, kid: issuer.vmId, typ: "vc+jwt" });
    const payload = decodeJwt(jwt) as Record<string, any>;
    expect(payload.vc).toBeUndefined();
    expect(payload["@context"][0]).toBe("https://www.w3.org/ns/credentials/v2");
    expect(payload.issuer).toBe(issuer.did);
    expect(Math.abs(Date.parse(payload.validFrom) - Date.now())).toBeLessThan(60_000);
    expect(payload.validUntil).toBe("2099-01-01T00:00:00Z");
    expect(payload.credentialSubject).toEqual({ id: "did:example:bob", name: "Bob" });

    const v = await api("PUT", "/v1/credentials/verification", { credentialJwt: jwt });
    expect(v.body).toEqual({ verified: true });
  });
});
