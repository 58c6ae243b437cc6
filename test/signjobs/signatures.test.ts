/**
 * Every signature is verified against the job's key before anything changes. Refused ones are
 * 422 invalid_signature, leave the job pending and leave an audit row; the accepted encodings
 * (JOSE raw, DER on request, a whole compact JWS, high-S for ES256K) are stored in JOSE low-S form.
 */
import { p256 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { beforeAll, describe, expect, it } from "vitest";
import { api } from "../support/api";
import { auditEvents, b64, externalDid, externalKey, issuePending, nobleSign, type ExternalKey, type Issuer } from "../support/keys";

async function expectRefused(issuer: Issuer, job: any, body: Record<string, unknown>) {
  const before = await auditEvents(issuer.did, job.id, "invalid_signature");
  const res = await api("PUT", "/v1/signjobs", { id: job.id, ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(422);
  expect(res.headers.get("content-type")).toContain("application/problem+json");
  expect(res.body.code).toBe("invalid_signature");
  const after = await api("GET", `/v1/signjobs/${job.id}`);
  expect(after.body.status).toBe("pending");
  expect(after.body.signature).toBeUndefined();
  expect(await auditEvents(issuer.did, job.id, "invalid_signature")).toBe(before + 1);
}

/** A compact JWS over the job's header with a different payload, validly signed by the right key. */
async function jwsOverOtherPayload(key: ExternalKey, job: any) {
  const [header] = job.signingInput.split(".");
  const input = `${header}.${b64.encode(JSON.stringify({ iss: "did:example:mallory", sub: "x" }))}`;
  return `${input}.${await key.sign(input)}`;
}

describe.each(["Ed25519", "P-256", "secp256k1"] as const)("bad %s signatures are refused", (keyType) => {
  let key: ExternalKey;
  let issuer: Issuer;
  let job: any;
  let other: any;
  beforeAll(async () => {
    key = await externalKey(keyType);
    issuer = await externalDid(key);
    job = (await issuePending(issuer)).job;
    other = (await issuePending(issuer)).job;
  });

  it("signed by another key", async () => {
    const stranger = await externalKey(keyType);
    await expectRefused(issuer, job, { signature: await stranger.sign(job.signingInput) });
  });

  it("over another job's signingInput", async () => {
    await expectRefused(issuer, job, { signature: await key.sign(other.signingInput) });
  });

  it("truncated, too long, empty-ish", async () => {
    const sig = b64.decode(await key.sign(job.signingInput));
    await expectRefused(issuer, job, { signature: b64.encode(sig.slice(0, 63)) });
    await expectRefused(issuer, job, { signature: b64.encode(new Uint8Array([...sig, 0])) });
    await expectRefused(issuer, job, { signature: "AA" });
  });

  it("not base64url", async () => {
    const sig = await key.sign(job.signingInput);
    await expectRefused(issuer, job, { signature: `${sig.slice(0, -4)}+/==` });
    await expectRefused(issuer, job, { signature: "not a signature!" });
  });

  it("a compact JWS whose signing input differs from the job's", async () => {
    await expectRefused(issuer, job, { jws: await jwsOverOtherPayload(key, job) });
    await expectRefused(issuer, job, { jws: `${other.signingInput}.${await key.sign(other.signingInput)}` });
    await expectRefused(issuer, job, { jws: "a.b" });
  });

  if (keyType !== "Ed25519") {
    it("DER sent as raw JOSE", async () => {
      const der = nobleSign(key, job.signingInput, { format: "der" });
      await expectRefused(issuer, job, { signature: b64.encode(der) });
    });
    it("JOSE raw sent as DER", async () => {
      await expectRefused(issuer, job, { signature: await key.sign(job.signingInput), signatureFormat: "der" });
    });
  } else {
    it("DER is refused for EdDSA", async () => {
      await expectRefused(issuer, job, { signature: await key.sign(job.signingInput), signatureFormat: "der" });
    });
  }

  it("the right JWS is accepted, after all those refusals", async () => {
    const sig = await key.sign(job.signingInput);
    const res = await api("PUT", "/v1/signjobs", { id: job.id, jws: `${job.signingInput}.${sig}` });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.status).toBe("signed");
    expect(res.body.jwt).toBe(`${job.signingInput}.${res.body.signature}`);
    if (keyType === "Ed25519") expect(res.body.signature).toBe(sig);
    expect(await auditEvents(issuer.did, job.id, "signed")).toBe(1);
  });
});

describe("accepted encodings are stored in JOSE form", () => {
  it("ES256K high-S (n − s) is accepted and stored as low-S", async () => {
    const key = await externalKey("secp256k1");
    const issuer = await externalDid(key);
    const { job, operation } = await issuePending(issuer);
    const low = secp256k1.Signature.fromBytes(nobleSign(key, job.signingInput), "compact");
    expect(low.hasHighS()).toBe(false);
    const high = new secp256k1.Signature(low.r, secp256k1.Point.Fn.ORDER - low.s);
    expect(high.hasHighS()).toBe(true);
    const res = await api("PUT", "/v1/signjobs", { id: job.id, signature: b64.encode(high.toBytes("compact")) });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.signature).toBe(b64.encode(low.toBytes("compact")));
    const op = await api("GET", `/v1/operations/${operation.id}`);
    expect(op.body.result.response.credentialJwt).toBe(`${job.signingInput}.${b64.encode(low.toBytes("compact"))}`);
    // The high-S spelling of the same signature is the same signature: 200, nothing changes.
    const again = await api("PUT", "/v1/signjobs", { id: job.id, signature: b64.encode(high.toBytes("compact")) });
    expect(again.status).toBe(200);
    expect(again.body.signature).toBe(res.body.signature);
  });

  it.each(["P-256", "secp256k1"] as const)("%s DER with signatureFormat der is accepted and stored as r||s", async (keyType) => {
    const key = await externalKey(keyType);
    const issuer = await externalDid(key);
    const { job } = await issuePending(issuer);
    const der = nobleSign(key, job.signingInput, { format: "der" });
    const curve = keyType === "P-256" ? p256 : secp256k1;
    const compact = curve.Signature.fromBytes(der, "der").toBytes("compact");
    const res = await api("PUT", "/v1/signjobs", { id: job.id, signature: b64.encode(der), signatureFormat: "der" });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.signature).toBe(b64.encode(compact));
    expect(b64.decode(res.body.signature)).toHaveLength(64);
  });

  it("an ES256 signature over the digest's preimage equals signing the digest (KMS-style)", async () => {
    const key = await externalKey("P-256");
    const issuer = await externalDid(key);
    const { job } = await issuePending(issuer);
    // A KMS signs the 32-byte digest without hashing again.
    const sig = p256.sign(b64.decode(job.digest), key.secret!, { prehash: false });
    const res = await api("PUT", "/v1/signjobs", { id: job.id, signature: b64.encode(sig) });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });
});
