/**
 * Consistency (api.md "Conventions"): no answer waits for D1. With the issuer's deliveries to D1
 * held, a create answers, and a read of its id, its operation and its issuer's list see it at once
 * (answered by the issuer's object); a cross-issuer list sees it once the delivery has run.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, enc } from "../support/api";
import { gatedD1, installOutboxD1 } from "../support/faults";
import { credentialRequest, custodialDid, delivered, externalDid, externalKey, stubOf } from "../support/keys";

describe("read your writes, with D1 held", () => {
  it("custodial: a create answers while D1 is held; GET by id, the operation and the issuer's list see it; D1 lists it once delivered", async () => {
    const issuer = await custodialDid("Ed25519");
    const subject = `did:example:${crypto.randomUUID()}`;
    const gate = gatedD1();
    await installOutboxD1(stubOf(issuer.did), gate.wrap);

    const res = await api("PUT", "/v1/credentials", credentialRequest(issuer, { subject, revocable: true }));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const container = res.body.result.response;
    // The id names its issuer's object; the credential's own id stays a urn:uuid.
    expect(container.id).toMatch(/^[0-9a-f]{64}\.[0-9a-f-]{36}$/);
    expect(container.credential.id).toBe(`urn:uuid:${container.id.slice(65)}`);

    const got = await api("GET", `/v1/credentials/${container.id}`);
    expect(got.status, JSON.stringify(got.body)).toBe(200);
    expect(got.body).toEqual({ ...container, jwtHistory: [expect.objectContaining({ jwt: container.credentialJwt })] });
    const op = await api("GET", `/v1/operations/${res.body.id}`);
    expect(op.status).toBe(200);
    expect(op.body).toMatchObject({ id: res.body.id, done: true });
    const listed = await api("GET", `/v1/credentials?issuer=${enc(issuer.did)}`);
    expect(listed.body.credentials.map((c: { id: string }) => c.id)).toEqual([container.id]);
    const status = await api("PUT", `/v1/credentials/${container.id}/status`, { revoked: true });
    expect(status.status, JSON.stringify(status.body)).toBe(200);
    expect((await api("GET", `/v1/credentials/${container.id}`)).body.revoked).toBe(true);

    // D1 has not been written (its delivery is held), so a cross-issuer query does not list it yet.
    const row = await env.DB.prepare("SELECT id FROM credential_index WHERE id = ?").bind(container.id).first();
    expect(row).toBeNull();
    expect((await api("GET", `/v1/credentials?subject=${enc(subject)}`)).body.credentials).toEqual([]);

    gate.release();
    await delivered(issuer.did);
    const bySubject = await api("GET", `/v1/credentials?subject=${enc(subject)}`);
    expect(bySubject.body.credentials.map((c: { id: string; revoked: boolean }) => [c.id, c.revoked])).toEqual([[container.id, true]]);
  });

  it("external: pending then signed, each visible at once through the object while D1 is held; delete too", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const gate = gatedD1();
    await installOutboxD1(stubOf(issuer.did), gate.wrap);

    const res = await api("PUT", "/v1/credentials", credentialRequest(issuer));
    expect(res.status).toBe(202);
    const id = res.body.result.response.id as string;
    expect((await api("GET", `/v1/credentials/${id}`)).body.credentialJwt).toBeUndefined();
    const jobs = await api("GET", `/v1/signjobs?did=${enc(issuer.did)}&status=pending`);
    expect(jobs.body.signJobs.map((j: { operationId: string }) => j.operationId)).toEqual([res.body.id]);

    const job = jobs.body.signJobs[0];
    const signed = await api("PUT", "/v1/signjobs", { id: job.id, signature: await key.sign(job.signingInput) });
    expect(signed.status, JSON.stringify(signed.body)).toBe(200);
    const op = await api("GET", `/v1/operations/${res.body.id}`);
    expect(op.body.done).toBe(true);
    const got = await api("GET", `/v1/credentials/${id}`);
    expect(got.body.credentialJwt).toBe(signed.body.jwt);
    expect((await api("GET", `/v1/credentials?issuer=${enc(issuer.did)}`)).body.credentials).toHaveLength(1);

    expect((await api("DELETE", `/v1/credentials/${id}`)).status).toBe(204);
    expect((await api("GET", `/v1/credentials/${id}`)).status).toBe(404);
    expect((await api("GET", `/v1/credentials?issuer=${enc(issuer.did)}`)).body.credentials).toEqual([]);

    gate.release();
    await delivered(issuer.did);
    // Its one D1 row, the credential index's: signed, then deleted (the JWT is the object's).
    const row = await env.DB.prepare("SELECT state, deleted_at FROM credential_index WHERE id = ?")
      .bind(id)
      .first<{ state: number; deleted_at: number | null }>();
    expect(row?.state).toBe(1);
    expect(row?.deleted_at).not.toBeNull();
    expect(await env.DB.prepare("SELECT id FROM credentials WHERE id = ?").bind(id).first()).toBeNull();
  });

  it("an id that names no object of ours, or another object, is simply not found", async () => {
    const issuer = await custodialDid("Ed25519");
    const res = await api("PUT", "/v1/credentials", credentialRequest(issuer));
    const id = res.body.result.response.id as string;
    const other = await custodialDid("Ed25519");
    const otherHex = env.ISSUER.idFromName(other.did).toString();
    for (const bad of [`${"0".repeat(64)}.${id.slice(65)}`, `${otherHex}.${id.slice(65)}`, `${id}x`]) {
      const got = await api("GET", `/v1/credentials/${bad}`);
      expect(got.status, bad).toBe(404);
      expect(got.body.code).toBe("not_found");
      expect((await api("GET", `/v1/operations/credentials/${bad}`)).status).toBe(404);
    }
  });
});
