/**
 * PUT /v1/credentials/verification judges a credential JWT the way a relying party would:
 * signature against the resolved issuer DID, validity dates, key revocation, DID deactivation.
 * Bad input is a verdict with a reason, never an error.
 */
import { describe, expect, it } from "vitest";
import { api, enc } from "../support/api";
import { b64, credentialRequest, custodialDid, externalDid, externalKey, type ExternalKey, type Issuer } from "../support/keys";

const verify = (credentialJwt: string) => api("PUT", "/v1/credentials/verification", { credentialJwt });

/** A credential JWT made by the holder of an external key, outside the service. */
async function craft(key: ExternalKey, issuer: Issuer, claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    iss: issuer.did,
    sub: "did:example:alice",
    nbf: now - 10,
    jti: `urn:uuid:${crypto.randomUUID()}`,
    vc: {
      "@context": ["https://www.w3.org/2018/credentials/v1"],
      type: ["VerifiableCredential"],
      issuer: issuer.did,
      issuanceDate: new Date((now - 10) * 1000).toISOString(),
      credentialSubject: { id: "did:example:alice", name: "Alice" },
    },
    ...claims,
  };
  const input = `${b64.encode(JSON.stringify({ alg: key.alg, kid: issuer.vmId, typ: "JWT", ...header }))}.${b64.encode(JSON.stringify(payload))}`;
  return `${input}.${await key.sign(input)}`;
}

describe("credential verification", () => {
  it("an issued credential verifies; a tampered one does not", async () => {
    const issuer = await custodialDid("secp256k1");
    const res = await api("PUT", "/v1/credentials", credentialRequest(issuer));
    const jwt = res.body.result.response.credentialJwt as string;
    expect((await verify(jwt)).body).toEqual({ verified: true });

    const [h, p, s] = jwt.split(".");
    const claims = JSON.parse(new TextDecoder().decode(b64.decode(p!)));
    claims.vc.credentialSubject.name = "Mallory";
    const tampered = await verify(`${h}.${b64.encode(JSON.stringify(claims))}.${s}`);
    expect(tampered.status).toBe(200);
    expect(tampered.body.verified).toBe(false);
    expect(tampered.body.reason).toMatch(/signature/);

    const sig = b64.decode(s!);
    sig[10] = sig[10]! ^ 1;
    expect((await verify(`${h}.${p}.${b64.encode(sig)}`)).body).toMatchObject({ verified: false, reason: expect.any(String) });
  });

  it("a credential signed by a key the issuer DID does not name is refused", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const stranger = await externalKey("Ed25519");
    const res = await verify(await craft(stranger, issuer, {}));
    expect(res.body).toMatchObject({ verified: false, reason: expect.stringMatching(/signature/) });
    expect((await verify(await craft(key, issuer, {}))).body).toEqual({ verified: true });
  });

  it("validity dates: exp in the past and nbf in the future are refused", async () => {
    for (const keyType of ["Ed25519", "P-256", "secp256k1"] as const) {
      const key = await externalKey(keyType);
      const issuer = await externalDid(key);
      const now = Math.floor(Date.now() / 1000);
      const expired = await verify(await craft(key, issuer, { exp: now - 3600 }));
      expect(expired.body).toEqual({ verified: false, reason: expect.stringMatching(/expired/) });
      const early = await verify(await craft(key, issuer, { nbf: now + 3600 }));
      expect(early.body).toEqual({ verified: false, reason: expect.stringMatching(/not valid yet/) });
      expect((await verify(await craft(key, issuer, { exp: now + 3600 }))).body).toEqual({ verified: true });
    }
  });

  it("vc+jwt validity dates come from validFrom and validUntil", async () => {
    const key = await externalKey("P-256");
    const issuer = await externalDid(key);
    const base = {
      "@context": ["https://www.w3.org/ns/credentials/v2"],
      type: ["VerifiableCredential"],
      issuer: issuer.did,
      credentialSubject: { id: "did:example:alice" },
    };
    const make = async (dates: Record<string, string>) => {
      const input = `${b64.encode(JSON.stringify({ alg: key.alg, kid: issuer.vmId, typ: "vc+jwt" }))}.${b64.encode(JSON.stringify({ ...base, ...dates }))}`;
      return `${input}.${await key.sign(input)}`;
    };
    const past = new Date(Date.now() - 7200_000).toISOString();
    const future = new Date(Date.now() + 7200_000).toISOString();
    expect((await verify(await make({ validFrom: past, validUntil: future }))).body).toEqual({ verified: true });
    expect((await verify(await make({ validFrom: past, validUntil: past }))).body).toMatchObject({
      verified: false,
      reason: expect.stringMatching(/expired/),
    });
    expect((await verify(await make({ validFrom: future }))).body).toMatchObject({
      verified: false,
      reason: expect.stringMatching(/not valid yet/),
    });
  });

  it("a revoked key's credentials no longer verify", async () => {
    const issuer = await custodialDid("P-256");
    const res = await api("PUT", "/v1/credentials", credentialRequest(issuer));
    const jwt = res.body.result.response.credentialJwt as string;
    expect((await verify(jwt)).body).toEqual({ verified: true });
    expect((await api("DELETE", `/v1/keys/${enc(issuer.vmId)}`)).status).toBe(204);
    expect((await verify(jwt)).body).toEqual({ verified: false, reason: expect.stringMatching(/revoked/) });
    // And it signs nothing more.
    const more = await api("PUT", "/v1/credentials", credentialRequest(issuer));
    expect(more.status).toBe(409);
    expect(more.body.code).toBe("key_revoked");
  });

  it("a deleted issuer DID's credentials no longer verify", async () => {
    const issuer = await custodialDid("Ed25519", "jwk");
    const jwt = (await api("PUT", "/v1/credentials", credentialRequest(issuer))).body.result.response.credentialJwt as string;
    expect((await api("DELETE", `/v1/dids/jwk/${enc(issuer.did)}`)).status).toBe(204);
    expect((await verify(jwt)).body).toMatchObject({ verified: false, reason: expect.stringMatching(/deactivated/) });
  });

  it("junk is a verdict, not an error", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    for (const junk of [
      "x",
      "a.b.c",
      "a.b.c.d",
      await craft(key, issuer, {}, { alg: "none" }),
      await craft(key, issuer, {}, { kid: "did:example:other#k" }),
    ]) {
      const res = await verify(junk);
      expect(res.status, junk).toBe(200);
      expect(res.body.verified).toBe(false);
      expect(typeof res.body.reason).toBe("string");
    }
    expect(
      (await verify(await craft(key, issuer, { iss: "did:example:nobody", vc: { issuer: "did:example:nobody" } }))).body.verified,
    ).toBe(false);
    expect((await api("PUT", "/v1/credentials/verification", {})).status).toBe(400);
  });
});
