/**
 * Custodial issuers sign at once: 201 with a done operation whose JWT a third party verifies,
 * then the credential can be read back and listed (keyset pages) by issuer, subject and schema.
 */
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { verifyCredential } from "did-jwt-vc";
import { compactVerify, decodeJwt, importJWK } from "jose";
import { describe, expect, it } from "vitest";
import { api, enc } from "../support/api";
import { b64, credentialRequest, custodialDid, KEY_TYPES, ALG, type Issuer } from "../support/keys";

const resolver = {
  resolve: async (did: string) => {
    const res = await api("GET", `/v1/dids/resolver/${enc(did)}`);
    return { didResolutionMetadata: {}, didDocument: res.body.didDocument, didDocumentMetadata: {} };
  },
};

async function verifyWithPublicKey(issuer: Issuer, jwt: string, alg: string) {
  const jwk = issuer.doc.verificationMethod[0]!.publicKeyJwk;
  if (alg === "ES256K") {
    const [h, p, s] = jwt.split(".");
    const point = new Uint8Array([4, ...b64.decode(jwk.x!), ...b64.decode(jwk.y!)]);
    return secp256k1.verify(b64.decode(s!), new TextEncoder().encode(`${h}.${p}`), point, { lowS: true });
  }
  await compactVerify(jwt, await importJWK(jwk, alg));
  return true;
}

describe.each(KEY_TYPES)("custodial %s issuer", (keyType) => {
  it("201 done at once; the JWT verifies (public key, did-jwt-vc) and reads back", async () => {
    const issuer = await custodialDid(keyType);
    const res = await api("PUT", "/v1/credentials", credentialRequest(issuer, { schemaId: "https://example.com/schemas/degree" }));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.done).toBe(true);
    const container = res.body.result.response;
    expect(container).toMatchObject({
      fullyQualifiedVerificationMethodId: issuer.vmId,
      revoked: false,
      suspended: false,
      operationId: res.body.id,
    });
    const jwt = container.credentialJwt as string;
    expect(await verifyWithPublicKey(issuer, jwt, ALG[keyType])).toBe(true);
    const verified = await verifyCredential(jwt, resolver);
    expect(verified.verified).toBe(true);
    expect(verified.verifiableCredential.credentialSchema).toEqual({ id: "https://example.com/schemas/degree", type: "JsonSchema" });

    // The sign job exists and is signed, like an external one.
    const job = await api("GET", `/v1/signjobs/${res.body.signJobs[0]}`);
    expect(job.body).toMatchObject({ status: "signed", jwt, alg: ALG[keyType] });

    const got = await api("GET", `/v1/credentials/${container.id}`);
    expect(got.status).toBe(200);
    // The container, and every JWT it has had (one until a key rotation re-signs it).
    expect(got.body).toEqual({
      ...container,
      jwtHistory: [{ jwt, verificationMethodId: issuer.vmId, signedAt: expect.any(String) }],
    });
    expect((await api("GET", `/v1/operations/${res.body.id}`)).body).toMatchObject({ id: res.body.id, done: true });
    expect((await api("PUT", "/v1/credentials/verification", { credentialJwt: jwt })).body).toEqual({ verified: true });
  });

  it("vc+jwt: the credential is the payload", async () => {
    const issuer = await custodialDid(keyType, "jwk");
    const res = await api("PUT", "/v1/credentials", credentialRequest(issuer, { format: "vc+jwt" }));
    expect(res.status).toBe(201);
    const jwt = res.body.result.response.credentialJwt as string;
    expect(await verifyWithPublicKey(issuer, jwt, ALG[keyType])).toBe(true);
    const payload = decodeJwt(jwt);
    expect(payload.vc).toBeUndefined();
    expect(payload.issuer).toBe(issuer.did);
    expect(typeof payload.validFrom).toBe("string");
  });
});

describe("reading and listing credentials", () => {
  it("lists by issuer, subject and schema with keyset pages (pageSize=2 over 5)", async () => {
    const issuer = await custodialDid("Ed25519");
    const subject = `did:example:${crypto.randomUUID()}`;
    const schemaId = `https://example.com/schemas/${crypto.randomUUID()}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await api("PUT", "/v1/credentials", credentialRequest(issuer, { subject, schemaId, data: { n: i } }));
      expect(res.status).toBe(201);
      ids.push(res.body.result.response.id);
    }
    // Noise that must not show up under these filters.
    const other = await custodialDid("Ed25519");
    await api("PUT", "/v1/credentials", credentialRequest(other));

    for (const filter of [`issuer=${enc(issuer.did)}`, `subject=${enc(subject)}`, `schema=${enc(schemaId)}`]) {
      const seen: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const res = await api("GET", `/v1/credentials?${filter}&pageSize=2${token ? `&pageToken=${token}` : ""}`);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(res.body.credentials.length).toBeLessThanOrEqual(2);
        seen.push(...res.body.credentials.map((c: any) => c.id));
        token = res.body.nextPageToken;
        pages++;
      } while (token);
      expect(pages).toBe(3);
      expect(seen.sort()).toEqual([...ids].sort());
      // Oldest first.
      const all = await api("GET", `/v1/credentials?${filter}`);
      expect(all.body.credentials.map((c: any) => c.credential.credentialSubject.n)).toEqual([0, 1, 2, 3, 4]);
      expect(all.body.nextPageToken).toBeUndefined();
    }
    expect((await api("GET", "/v1/credentials?pageToken=garbage")).status).toBe(400);
    expect((await api("GET", `/v1/credentials/${crypto.randomUUID()}`)).status).toBe(404);
  });
});
