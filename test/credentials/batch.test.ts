/**
 * PUT /v1/credentials/batch: up to 1000 credentials in one call, validated all-or-nothing.
 * Custodial issuers get 1000 done operations at once; external ones 1000 pending sign jobs that a
 * signer pages through oldest first.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, enc } from "../support/api";
import { credentialRequest, custodialDid, delivered, externalDid, externalKey, type Issuer } from "../support/keys";

const requests = (issuer: Issuer, n: number) =>
  Array.from({ length: n }, (_, i) => credentialRequest(issuer, { subject: `did:example:holder-${i}`, data: { n: i } }));

// A credential's one D1 row is its credential index row (state 0 pending, 1 signed), which stands
// for its operation too (is_operation): D1's `operations` table gets nothing.
async function d1Count(table: "credential_index" | "operations", issuer: string, extra = "") {
  await delivered(issuer);
  const row = await env.DB.prepare(`SELECT count(*) AS n FROM ${table} WHERE issuer = ? ${extra}`).bind(issuer).first<{ n: number }>();
  return row!.n;
}

describe("batch issuance", () => {
  it("1000 for a custodial issuer: 201, 1000 done operations in request order, 1000 credential rows", async () => {
    const issuer = await custodialDid("Ed25519");
    const res = await api("PUT", "/v1/credentials/batch", { requests: requests(issuer, 1000) });
    expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(201);
    const ops = res.body.operations as any[];
    expect(ops).toHaveLength(1000);
    expect(ops.every((o) => o.done && o.result.response.credentialJwt)).toBe(true);
    expect(ops.map((o) => o.result.response.credential.credentialSubject.n)).toEqual([...Array(1000).keys()]);
    expect(new Set(ops.map((o) => o.id)).size).toBe(1000);
    expect(await d1Count("credential_index", issuer.did, "AND state = 1 AND is_operation = 1")).toBe(1000);
    expect(await d1Count("operations", issuer.did)).toBe(0);
    const sample = await api("PUT", "/v1/credentials/verification", { credentialJwt: ops[537].result.response.credentialJwt });
    expect(sample.body).toEqual({ verified: true });
  });

  it("1000 for an external issuer: 202, 1000 pending jobs, pages of 100 cover each exactly once, oldest first", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const res = await api("PUT", "/v1/credentials/batch", { requests: requests(issuer, 1000) });
    expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(202);
    const ops = res.body.operations as any[];
    expect(ops).toHaveLength(1000);
    expect(ops.every((o) => !o.done && o.signJobs.length === 1)).toBe(true);
    expect(await d1Count("credential_index", issuer.did, "AND state = 0 AND is_operation = 1")).toBe(1000);
    expect(await d1Count("operations", issuer.did)).toBe(0);

    const listed: any[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await api("GET", `/v1/signjobs?did=${enc(issuer.did)}&status=pending&pageSize=100${token ? `&pageToken=${token}` : ""}`);
      expect(page.status).toBe(200);
      expect(page.body.signJobs).toHaveLength(100);
      listed.push(...page.body.signJobs);
      token = page.body.nextPageToken;
      pages++;
    } while (token);
    expect(pages).toBe(10);
    const seen = listed.map((j) => j.id as string);
    expect(new Set(seen).size).toBe(1000);
    expect(seen).toEqual(ops.map((o) => o.signJobs[0]));

    // A signer drains them in one batch submission.
    const signatures = await Promise.all(listed.map(async (j) => ({ id: j.id, signature: await key.sign(j.signingInput) })));
    const signed = await api("PUT", "/v1/signjobs", { signatures });
    expect(signed.status).toBe(200);
    expect(signed.body.results.every((r: any) => r.status === "signed" && !r.code)).toBe(true);
    expect(await d1Count("credential_index", issuer.did, "AND state = 1 AND is_operation = 1")).toBe(1000);
    expect(await d1Count("operations", issuer.did)).toBe(0);
  });

  it("one invalid item refuses the whole batch with 400 naming requests.N.field; nothing is created", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const batch: Record<string, unknown>[] = requests(issuer, 10);
    delete batch[7]!.subject;
    batch[3] = { ...batch[3], format: "jwt_ld" };
    const res = await api("PUT", "/v1/credentials/batch", { requests: batch });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("validation_failed");
    const paths = res.body.errors.map((e: any) => e.path);
    expect(paths).toContain("requests.7.subject");
    expect(paths).toContain("requests.3.format");
    expect(await d1Count("credential_index", issuer.did)).toBe(0);
    const jobs = await api("GET", `/v1/signjobs?did=${enc(issuer.did)}`);
    expect(jobs.body.signJobs).toEqual([]);

    expect((await api("PUT", "/v1/credentials/batch", { requests: requests(issuer, 1001) })).status).toBe(400);
    expect((await api("PUT", "/v1/credentials/batch", { requests: [] })).status).toBe(400);
  });

  it("revocable and suspendable together are refused, singly and in a batch", async () => {
    const issuer = await custodialDid("Ed25519");
    const one = await api("PUT", "/v1/credentials", credentialRequest(issuer, { revocable: true, suspendable: true }));
    expect(one.status).toBe(400);
    expect(one.body.errors.map((e: any) => e.path)).toContain("suspendable");
    const batch = [credentialRequest(issuer), credentialRequest(issuer, { revocable: true, suspendable: true })];
    const res = await api("PUT", "/v1/credentials/batch", { requests: batch });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: any) => e.path)).toContain("requests.1.suspendable");
    expect(await d1Count("credential_index", issuer.did)).toBe(0);
  });

  it("a batch may span issuers and keeps request order", async () => {
    const custodial = await custodialDid("P-256");
    const key = await externalKey("P-256");
    const external = await externalDid(key);
    const batch = [credentialRequest(custodial), credentialRequest(external), credentialRequest(custodial)];
    const res = await api("PUT", "/v1/credentials/batch", { requests: batch });
    expect(res.status).toBe(202);
    expect(res.body.operations.map((o: any) => o.done)).toEqual([true, false, true]);
    expect(res.body.operations.map((o: any) => o.result.response.fullyQualifiedVerificationMethodId)).toEqual([
      custodial.vmId,
      external.vmId,
      custodial.vmId,
    ]);
  });
});
