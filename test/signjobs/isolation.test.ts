/**
 * A signer authenticated with DID-auth sees and acts on its own DID's sign jobs only: another
 * DID's job looks absent (404), listing another DID's jobs is 403, and operator routes are closed.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { api, enc } from "../support/api";
import { didAuth, externalDid, externalKey, issuePending, type ExternalKey, type Issuer } from "../support/keys";

describe.each(["Ed25519", "P-256", "secp256k1"] as const)("DID-auth isolation (%s signer)", (keyType) => {
  let keyA: ExternalKey, keyB: ExternalKey;
  let a: Issuer, b: Issuer;
  let jobA: any, jobB: any;
  beforeAll(async () => {
    keyA = await externalKey(keyType);
    keyB = await externalKey("Ed25519");
    a = await externalDid(keyA);
    b = await externalDid(keyB);
    jobA = (await issuePending(a)).job;
    jobB = (await issuePending(b)).job;
  });
  const asA = async () => ({ auth: await didAuth(keyA, a) });

  it("cannot see, sign or reject B's job (404), nor list B's jobs (403)", async () => {
    const get = await api("GET", `/v1/signjobs/${jobB.id}`, undefined, await asA());
    expect(get.status, JSON.stringify(get.body)).toBe(404);
    expect(JSON.stringify(get.body)).not.toContain(jobB.signingInput);

    const sign = await api("PUT", "/v1/signjobs", { id: jobB.id, signature: await keyB.sign(jobB.signingInput) }, await asA());
    expect(sign.status).toBe(404);
    const signOne = await api("PUT", `/v1/signjobs/${jobB.id}`, { signature: await keyB.sign(jobB.signingInput) }, await asA());
    expect(signOne.status).toBe(404);
    const batch = await api(
      "PUT",
      "/v1/signjobs",
      { signatures: [{ id: jobB.id, signature: await keyB.sign(jobB.signingInput) }] },
      await asA(),
    );
    expect(batch.status).toBe(200);
    expect(batch.body.results).toEqual([{ id: jobB.id, status: "unknown", code: "not_found", detail: expect.any(String) }]);
    const reject = await api("PUT", `/v1/signjobs/${jobB.id}/reject`, { reason: "mischief" }, await asA());
    expect(reject.status).toBe(404);

    const list = await api("GET", `/v1/signjobs?did=${enc(b.did)}&status=pending`, undefined, await asA());
    expect(list.status).toBe(403);
    expect(list.body.code).toBe("forbidden");

    // B's job is untouched.
    const still = await api("GET", `/v1/signjobs/${jobB.id}`);
    expect(still.body.status).toBe("pending");
  });

  it("operator routes are closed to a signer", async () => {
    expect((await api("GET", `/v1/operations/${jobA.operationId}`, undefined, await asA())).status).toBe(403);
    expect((await api("PUT", "/v1/credentials", { issuer: a.did }, await asA())).status).toBe(403);
  });

  it("lists, reads and signs its own", async () => {
    const list = await api("GET", `/v1/signjobs?did=${enc(a.did)}&status=pending`, undefined, await asA());
    expect(list.status, JSON.stringify(list.body)).toBe(200);
    expect(list.body.signJobs.map((j: any) => j.id)).toEqual([jobA.id]);
    const get = await api("GET", `/v1/signjobs/${jobA.id}`, undefined, await asA());
    expect(get.status).toBe(200);
    const signed = await api("PUT", "/v1/signjobs", { id: jobA.id, signature: await keyA.sign(jobA.signingInput) }, await asA());
    expect(signed.status, JSON.stringify(signed.body)).toBe(200);
    expect(signed.body.status).toBe("signed");
  });

  it("a DID-auth token is single-use and must be signed by the DID's key", async () => {
    const token = await didAuth(keyA, a);
    expect((await api("GET", `/v1/signjobs/${jobA.id}`, undefined, { auth: token })).status).toBe(200);
    expect((await api("GET", `/v1/signjobs/${jobA.id}`, undefined, { auth: token })).status).toBe(401);
    const forged = await didAuth(keyB, a); // B's key claiming to be A
    expect((await api("GET", `/v1/signjobs/${jobA.id}`, undefined, { auth: forged })).status).toBe(401);
  });
});
