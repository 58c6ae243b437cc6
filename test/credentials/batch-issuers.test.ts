/**
 * A batch spanning issuers (issue 8, item 6): every issuer is checked before any creates a job,
 * so a refusal leaves nothing behind; a failure after that point is answered per item, with the
 * operations that were created, and a retry with the same Idempotency-Key creates nothing twice.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { IssuerObject } from "../../durable-objects/issuer";
import { api, enc } from "../support/api";
import { crashOnDelivery, installOutboxD1 } from "../support/faults";
import { credentialRequest, custodialDid, externalDid, externalKey, objectQuery, stubOf, type Issuer } from "../support/keys";

const credentialRows = async (issuer: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM credential_index WHERE issuer = ?").bind(issuer).first<{ n: number }>())!.n;
const jobRows = async (did: string) =>
  (await objectQuery<{ n: number }>(did, "SELECT count(*) AS n FROM jobs WHERE kind = 'credential'"))[0]!.n;

async function revokeKey(issuer: Issuer) {
  const res = await api("DELETE", `/v1/keys/${enc(issuer.vmId)}`);
  expect(res.status).toBe(204);
}

/** A batch of `n` requests for A, then one for B, then `n` more for A. */
function mixed(a: Issuer, b: Issuer, n = 2) {
  const forA = (i: number) => credentialRequest(a, { data: { i } });
  return [...Array.from({ length: n }, (_, i) => forA(i)), credentialRequest(b), ...Array.from({ length: n }, (_, i) => forA(n + i))];
}

describe("a batch across issuers is checked whole before anything is created", () => {
  it("issuer B's key is revoked: 409 key_revoked naming B's item, and issuer A has nothing", async () => {
    const a = await externalDid(await externalKey("Ed25519"));
    const b = await externalDid(await externalKey("Ed25519"));
    await revokeKey(b);
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await api("PUT", "/v1/credentials/batch", { requests: mixed(a, b) }, { headers: { "idempotency-key": "atomic-1" } });
      expect(res.status, JSON.stringify(res.body)).toBe(409);
      expect(res.body.code).toBe("key_revoked");
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(res.body.errors.map((e: any) => e.path)).toEqual(["requests.2"]);
    }
    expect(await jobRows(a.did)).toBe(0);
    expect(await credentialRows(a.did)).toBe(0);
  });

  it("issuer B's DID is deleted: 409 did_deactivated; custodial issuer A signed nothing", async () => {
    const a = await custodialDid("Ed25519");
    const b = await externalDid(await externalKey("P-256"));
    expect((await api("DELETE", `/v1/dids/key/${enc(b.did)}`)).status).toBe(204);
    const res = await api("PUT", "/v1/credentials/batch", { requests: mixed(a, b) });
    expect(res.status, JSON.stringify(res.body)).toBe(409);
    expect(res.body.code).toBe("did_deactivated");
    expect(await jobRows(a.did)).toBe(0);
    expect(await credentialRows(a.did)).toBe(0);
  });

  it("issuer B's custodial key cannot be unlocked: 503 custody_unavailable, A has nothing", async () => {
    const a = await externalDid(await externalKey("Ed25519"));
    const b = await custodialDid("Ed25519");
    // B's wrapped key is damaged (as with a wrong KEY_ENCRYPTION_KEY): it cannot be decrypted.
    await env.DB.prepare("UPDATE keys SET encrypted_private_key = 'AAAA' WHERE id = ?").bind(b.vmId).run();
    await objectQuery(b.did, "UPDATE keys SET encrypted_private_key = 'AAAA' WHERE id = ?", b.vmId);
    const res = await api("PUT", "/v1/credentials/batch", { requests: mixed(a, b) });
    expect(res.status, JSON.stringify(res.body)).toBe(503);
    expect(res.body.code).toBe("custody_unavailable");
    expect(await jobRows(a.did)).toBe(0);
  });

  it("an unknown verification method of B: 404, and A has nothing", async () => {
    const a = await custodialDid("P-256");
    const b = await externalDid(await externalKey("Ed25519"));
    const requests = [credentialRequest(a), credentialRequest(b, { verificationMethodId: `${b.did}#nope` })];
    const res = await api("PUT", "/v1/credentials/batch", { requests });
    expect(res.status, JSON.stringify(res.body)).toBe(404);
    expect(res.body.errors.map((e: any) => e.path)).toEqual(["requests.1"]);
    expect(await jobRows(a.did)).toBe(0);
  });
});

describe("a failure after the point of no return is answered per item", () => {
  it("B's key is revoked between the checks and its create: 200, A's operations, B's items in errors; the retry adds nothing", async () => {
    const a = await externalDid(await externalKey("Ed25519"));
    const b = await externalDid(await externalKey("Ed25519"));
    const bId = env.ISSUER.idFromName(b.did);
    // The revocation races the batch: it lands in B's object after B passed the check and before
    // B creates its jobs (the real revocation, at the one moment the race can hit).
    const original = IssuerObject.prototype.createArtifacts;
    IssuerObject.prototype.createArtifacts = async function (this: IssuerObject, input) {
      const self = this as unknown as { ctx: DurableObjectState };
      if (self.ctx.id.equals(bId)) {
        await env.DB.prepare("UPDATE keys SET revoked = 1, revoked_at = ? WHERE id = ?").bind(Date.now(), b.vmId).run();
        await this.revokeKey(b.did, b.vmId);
      }
      return original.call(this, input);
    };
    let res;
    try {
      res = await api("PUT", "/v1/credentials/batch", { requests: mixed(a, b) }, { headers: { "idempotency-key": "late-1" } });
    } finally {
      IssuerObject.prototype.createArtifacts = original;
    }
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const ops = res.body.operations as any[];
    expect(ops.map((o) => (o === null ? null : o.result.response.fullyQualifiedVerificationMethodId))).toEqual([
      a.vmId,
      a.vmId,
      null,
      a.vmId,
      a.vmId,
    ]);
    expect(res.body.errors).toEqual([{ index: 2, status: 409, code: "key_revoked", detail: expect.any(String) }]);
    expect(await jobRows(a.did)).toBe(4);
    expect(await jobRows(b.did)).toBe(0);

    // The retry returns A's operations again (created once) and B's refusal again.
    const retry = await api("PUT", "/v1/credentials/batch", { requests: mixed(a, b) }, { headers: { "idempotency-key": "late-1" } });
    expect(retry.status).toBe(200);
    expect(retry.body.operations.map((o: any) => o?.id ?? null)).toEqual(ops.map((o) => o?.id ?? null));
    expect(retry.body.errors.map((e: any) => e.index)).toEqual([2]);
    expect(await jobRows(a.did)).toBe(4);
  });

  it("B's object crashes after committing its part: the batch completes, each credential once, and a retry adds nothing", async () => {
    const a = await custodialDid("Ed25519");
    const b = await externalDid(await externalKey("Ed25519"));
    const crash = crashOnDelivery();
    await installOutboxD1(stubOf(b.did), crash.wrap);
    const body = { requests: mixed(a, b, 3) };
    const first = await api("PUT", "/v1/credentials/batch", body, { headers: { "idempotency-key": "crash-1" } });
    await crash.crashed;
    expect(first.status, JSON.stringify(first.body).slice(0, 400)).toBe(202);
    expect(first.body.errors).toBeUndefined();
    const retry = await api("PUT", "/v1/credentials/batch", body, { headers: { "idempotency-key": "crash-1" } });
    expect(retry.status).toBe(202);
    expect(retry.body.operations.map((o: any) => o.id)).toEqual(first.body.operations.map((o: any) => o.id));
    expect(await jobRows(a.did)).toBe(6);
    expect(await jobRows(b.did)).toBe(1);
  });
});
