/**
 * The rotation operation names its re-sign jobs (api.md "Operations": `signJobs`), bounded for a
 * rotation of 100,000 credentials: the object answers `GET /v1/operations/{id}` (and lists of
 * operations) with up to 1,000 of them, D1's row holds none, and the whole set pages through
 * `GET /v1/signjobs?did=&operationId=`.
 */
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, enc } from "../support/api";
import { delivered, externalKey, stubOf } from "../support/keys";

describe("rotation operation: its sign jobs", () => {
  it("lists the re-sign jobs: all 120 from the object (up to 1,000), none in D1's row, every one through the sign job list", async () => {
    const oldKey = await externalKey("Ed25519");
    const newKey = await externalKey("Ed25519");
    const did = "did:web:ssi.test:rot-opjobs";
    const created = await api("PUT", "/v1/dids/web", {
      keyType: "Ed25519",
      custody: "external",
      publicKeyJwk: oldKey.publicKeyJwk,
      options: { didWebId: did },
    });
    expect(created.status).toBe(201);
    const vm = `${did}#key-1`;
    const requests = Array.from({ length: 120 }, (_, i) => ({
      issuer: did,
      verificationMethodId: vm,
      subject: "did:example:s",
      data: { i },
    }));
    expect((await api("PUT", "/v1/credentials/batch", { requests })).status).toBe(202);
    const issued = (await api("GET", `/v1/signjobs?did=${enc(did)}&status=pending&pageSize=1000`)).body.signJobs as any[];
    const signatures = await Promise.all(issued.map(async (j) => ({ id: j.id, signature: await oldKey.sign(j.signingInput) })));
    expect((await api("PUT", "/v1/signjobs", { signatures })).status).toBe(200);
    const added = await api("PUT", `/v1/dids/web/${enc(did)}/keys`, {
      keyType: "Ed25519",
      custody: "external",
      publicKeyJwk: newKey.publicKeyJwk,
    });
    const newVm = added.body.verificationMethodId;
    const rotation = await api("PUT", `/v1/dids/web/${enc(did)}/rotate`, { verificationMethodId: newVm });
    expect(rotation.status).toBe(202);
    const id = rotation.body.id as string;
    for (let i = 0; i < 50 && !(await api("GET", `/v1/operations/${id}`)).body.result?.response?.scanComplete; i++) {
      await runDurableObjectAlarm(stubOf(did));
    }

    const pending = (await api("GET", `/v1/signjobs?did=${enc(did)}&status=pending&pageSize=1000`)).body.signJobs as any[];
    const resign = pending.filter((j) => j.operationId === id).map((j) => j.id);
    expect(resign).toHaveLength(120);

    // The object's answer: every re-sign job, in creation order.
    const op = (await api("GET", `/v1/operations/${id}`)).body;
    expect(op.signJobs).toEqual(resign);

    // Paging the sign jobs of the operation gives the whole set, whatever the operation lists.
    const paged: string[] = [];
    let token: string | undefined;
    do {
      const page = await api("GET", `/v1/signjobs?did=${enc(did)}&operationId=${enc(id)}&pageSize=50${token ? `&pageToken=${token}` : ""}`);
      expect(page.status, JSON.stringify(page.body)).toBe(200);
      paged.push(...page.body.signJobs.map((j: any) => j.id));
      token = page.body.nextPageToken;
    } while (token);
    expect(paged).toEqual(resign);

    // Lists of operations answer from the object too; D1's row is body-free (bounded whatever the size).
    await delivered(did);
    const listed = (await api("GET", `/v1/operations?parent=dids/rotations&pageSize=100`)).body.operations as any[];
    expect(listed.find((o) => o.id === id).signJobs).toEqual(resign);
    const row = await env.DB.prepare("SELECT sign_jobs FROM operations WHERE id = ?").bind(id).first<{ sign_jobs: string }>();
    expect(row?.sign_jobs).toBe("[]");

    // Signing them all completes the rotation; the done operation still names its jobs.
    const sigs = await Promise.all(pending.map(async (j) => ({ id: j.id, signature: await newKey.sign(j.signingInput) })));
    expect((await api("PUT", "/v1/signjobs", { signatures: sigs })).status).toBe(200);
    const done = (await api("GET", `/v1/operations/${id}`)).body;
    expect(done).toMatchObject({ done: true, result: { response: { resigned: 120 } } });
    expect(done.signJobs).toEqual(resign);
  });

  it("an operationId of another issuer's operation lists nothing; a bad one is 400", async () => {
    const key = await externalKey("Ed25519");
    const did = "did:web:ssi.test:rot-opjobs-bad";
    await api("PUT", "/v1/dids/web", {
      keyType: "Ed25519",
      custody: "external",
      publicKeyJwk: key.publicKeyJwk,
      options: { didWebId: did },
    });
    const none = await api("GET", `/v1/signjobs?did=${enc(did)}&operationId=${enc("dids/rotations/nope")}`);
    expect(none.status).toBe(200);
    expect(none.body.signJobs).toEqual([]);
    const bad = await api("GET", `/v1/signjobs?did=${enc(did)}&operationId=${"x".repeat(600)}`);
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toContain("application/problem+json");
    expect(bad.body.code).toBe("validation_failed");
  });
});
