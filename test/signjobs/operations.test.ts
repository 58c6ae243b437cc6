/**
 * Operations as a client polls them: listing by parent and done with keyset pages, ends that come
 * from elsewhere (key revocation, deleting a pending credential) showing up at once, and page
 * tokens that do not belong to a listing refused as 400.
 */
import { describe, expect, it } from "vitest";
import { api, enc } from "../support/api";
import { b64, externalDid, externalKey, issuePending, pendingJobs } from "../support/keys";

describe("operations", () => {
  it("lists by parent and done, oldest first, in keyset pages", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const created = [];
    for (let i = 0; i < 3; i++) created.push(await issuePending(issuer));
    const collect = async (query: string) => {
      const ids: string[] = [];
      let token: string | undefined;
      do {
        const res = await api("GET", `/v1/operations?${query}&pageSize=2${token ? `&pageToken=${token}` : ""}`);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(res.body.operations.length).toBeLessThanOrEqual(2);
        ids.push(...res.body.operations.map((o: any) => o.id));
        token = res.body.nextPageToken;
      } while (token);
      return ids;
    };
    const ids = created.map((c) => c.operation.id);
    expect((await collect("parent=credentials&done=false")).filter((id) => ids.includes(id))).toEqual(ids);

    const first = created[0]!.job;
    expect((await api("PUT", "/v1/signjobs", { id: first.id, signature: await key.sign(first.signingInput) })).status).toBe(200);
    expect((await collect("parent=credentials&done=false")).filter((id) => ids.includes(id))).toEqual(ids.slice(1));
    expect((await collect("parent=credentials&done=true")).filter((id) => ids.includes(id))).toEqual(ids.slice(0, 1));
    expect(await collect("parent=nothing-here")).toEqual([]);
    expect((await api("GET", "/v1/operations/credentials/does-not-exist")).status).toBe(404);
    expect((await api("GET", `/v1/operations/${enc(ids[1]!)}`)).body.id).toBe(ids[1]);
  });

  it("revoking the signing key fails its pending operations at once", async () => {
    const key = await externalKey("P-256");
    const issuer = await externalDid(key);
    const { job, operation } = await issuePending(issuer);
    expect((await api("DELETE", `/v1/keys/${enc(issuer.vmId)}`)).status).toBe(204);
    expect((await api("GET", `/v1/signjobs/${job.id}`)).body.status).toBe("cancelled");
    const op = await api("GET", `/v1/operations/${operation.id}`);
    expect(op.body).toMatchObject({ done: true, result: { code: "cancelled" } });
    const late = await api("PUT", "/v1/signjobs", { id: job.id, signature: await key.sign(job.signingInput) });
    expect(late.status).toBe(409);
    expect(late.body.code).toBe("job_not_pending");
  });

  it("deleting a pending credential cancels its operation and sign job", async () => {
    const key = await externalKey("secp256k1");
    const issuer = await externalDid(key);
    const { job, operation } = await issuePending(issuer);
    const id = operation.result.response.id;
    expect((await api("DELETE", `/v1/credentials/${id}`)).status).toBe(204);
    expect((await api("GET", `/v1/credentials/${id}`)).status).toBe(404);
    expect((await api("GET", `/v1/signjobs/${job.id}`)).body.status).toBe("cancelled");
    expect((await api("GET", `/v1/operations/${operation.id}`)).body).toMatchObject({ done: true, result: { code: "cancelled" } });
    expect(await pendingJobs(issuer.did)).toEqual([]);
    expect((await api("DELETE", `/v1/credentials/${id}`)).status).toBe(404);
  });

  it("a page token of the wrong shape is 400, not an empty page", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    await issuePending(issuer);
    const token = (v: unknown) => b64.encode(JSON.stringify(v));
    const bad = [
      `/v1/signjobs?did=${enc(issuer.did)}&pageToken=${token(["abc"])}`,
      `/v1/signjobs?did=${enc(issuer.did)}&pageToken=${token([-1.5])}`,
      `/v1/credentials?pageToken=${token(["x", 5])}`,
      `/v1/operations?pageToken=${token(["x", 5])}`,
      `/v1/operations?pageToken=not-base64-json`,
    ];
    for (const path of bad) {
      const res = await api("GET", path);
      expect(res.status, path).toBe(400);
      expect(res.body.code).toBe("validation_failed");
      expect(res.body.errors[0].path).toBe("query.pageToken");
    }
  });
});
