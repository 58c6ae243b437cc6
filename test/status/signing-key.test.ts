/**
 * A status change needs a key that can sign the list. With the issuer's key revoked (or its DID
 * deleted) a change is refused with 409 `no_signing_key` and nothing moves; the alarm offers no
 * new status-list job for such an issuer, and a revoked key leaves its did:web document.
 */
import { describe, expect, it } from "vitest";
import { api, enc } from "../support/api";
import { custodialDid, externalDid, externalKey, issuePending, objectQuery, pendingJobs, type Issuer } from "../support/keys";
import { alarmNow, onlyRetentionArmed, published, statusEntryOf } from "../support/status";

type ListRow = { id: string; revision: number; job_revision: number };

/** Issues one revocable credential and signs everything pending, so its list is published. */
async function publishedCredential(issuer: Issuer, sign: (input: string) => Promise<string>) {
  const { operation } = await issuePending(issuer, { revocable: true });
  for (const job of await pendingJobs(issuer.did)) {
    expect((await api("PUT", "/v1/signjobs", { id: job.id, signature: await sign(job.signingInput) })).status).toBe(200);
  }
  const container = (await api("GET", `/v1/operations/${operation.id}`)).body.result.response;
  return { id: container.id as string, entry: statusEntryOf(container) };
}

describe("a status change without a usable signing key", () => {
  it("is 409 no_signing_key, single and batch, and changes no bit", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const a = await publishedCredential(issuer, key.sign);
    const b = await publishedCredential(issuer, key.sign);
    const listsBefore = await objectQuery<ListRow>(issuer.did, "SELECT id, revision, job_revision FROM status_lists");

    expect((await api("DELETE", `/v1/keys/${enc(issuer.vmId)}`)).status).toBe(204);

    const single = await api("PUT", `/v1/credentials/${a.id}/status`, { revoked: true });
    expect(single.status, JSON.stringify(single.body)).toBe(409);
    expect(single.headers.get("content-type")).toBe("application/problem+json");
    expect(single.body.code).toBe("no_signing_key");

    const batch = await api("PUT", "/v1/credentials/status/batch", {
      requests: [
        { id: a.id, revoked: true },
        { id: b.id, revoked: true },
      ],
    });
    expect(batch.status, JSON.stringify(batch.body)).toBe(200);
    expect(batch.body.results).toEqual([
      expect.objectContaining({ id: a.id, revoked: false, code: "no_signing_key" }),
      expect.objectContaining({ id: b.id, revoked: false, code: "no_signing_key" }),
    ]);
    expect(batch.body.operations).toEqual([]);

    // Nothing moved: flags, bits, list revisions, jobs, D1, the published list.
    expect((await api("GET", `/v1/credentials/${a.id}/status`)).body).toEqual({ revoked: false, suspended: false });
    expect(await objectQuery(issuer.did, "SELECT credential FROM status_bits WHERE bit = 1")).toEqual([]);
    expect(await objectQuery<ListRow>(issuer.did, "SELECT id, revision, job_revision FROM status_lists")).toEqual(listsBefore);
    expect(await pendingJobs(issuer.did)).toEqual([]);
    expect((await api("GET", `/v1/credentials/${a.id}`)).body.revoked).toBe(false);
    expect((await published(a.entry.url)).bits).toEqual([]);

    // A request that changes nothing is still answered as before.
    const noop = await api("PUT", `/v1/credentials/${a.id}/status`, { revoked: false });
    expect(noop.status, JSON.stringify(noop.body)).toBe(200);
    expect(noop.body).toEqual({ revoked: false, suspended: false });
  });

  it("a custodial issuer whose key is revoked is refused the same way", async () => {
    const issuer = await custodialDid("P-256");
    const res = await api("PUT", "/v1/credentials", {
      issuer: issuer.did,
      verificationMethodId: issuer.vmId,
      subject: "did:example:c",
      data: {},
      suspendable: true,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const id = res.body.result.response.id as string;
    expect((await api("DELETE", `/v1/keys/${enc(issuer.vmId)}`)).status).toBe(204);
    const refused = await api("PUT", `/v1/credentials/${id}/status`, { suspended: true });
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect(refused.body.code).toBe("no_signing_key");
    expect((await api("GET", `/v1/credentials/${id}/status`)).body).toEqual({ revoked: false, suspended: false });
  });
});

describe("the alarm and issuers that can no longer sign", () => {
  it("a deleted DID's unsigned list is not revived, and the alarm is not re-armed for it", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    await issuePending(issuer, { revocable: true });
    const listJob = (await pendingJobs(issuer.did)).find((j) => j.kind === "status-list");
    expect(listJob).toBeDefined();
    expect((await api("DELETE", `/v1/dids/key/${enc(issuer.did)}`)).status).toBe(204);
    expect((await api("GET", `/v1/signjobs/${listJob.id}`)).body.status).toBe("cancelled");
    const before = await objectQuery<ListRow>(issuer.did, "SELECT id, revision, job_revision FROM status_lists");

    await alarmNow(issuer.did);
    expect(await pendingJobs(issuer.did)).toEqual([]);
    expect(await objectQuery<ListRow>(issuer.did, "SELECT id, revision, job_revision FROM status_lists")).toEqual(before);
    expect(await objectQuery(issuer.did, "SELECT id FROM jobs WHERE status = 'pending'")).toEqual([]);
    await onlyRetentionArmed(issuer.did);
  });

  it("a list whose key was revoked is not revived", async () => {
    const key = await externalKey("P-256");
    const issuer = await externalDid(key);
    await issuePending(issuer, { suspendable: true });
    const listJob = (await pendingJobs(issuer.did)).find((j) => j.kind === "status-list");
    expect((await api("DELETE", `/v1/keys/${enc(issuer.vmId)}`)).status).toBe(204);
    expect(await pendingJobs(issuer.did)).toEqual([]);
    const before = await objectQuery<ListRow>(issuer.did, "SELECT id, revision, job_revision FROM status_lists");

    await alarmNow(issuer.did);
    expect(await pendingJobs(issuer.did)).toEqual([]);
    expect(await objectQuery<ListRow>(issuer.did, "SELECT id, revision, job_revision FROM status_lists")).toEqual(before);
    await onlyRetentionArmed(issuer.did);
    // The operator sees why.
    const view = await api("GET", `/v1/credentials/status/${listJob.payload.vc.id.split("/").pop()}/publication`);
    expect(view.body.publication).toEqual({ state: "stopped", attempts: 1, lastError: "signing key revoked" });
  });
});

describe("a revoked key and its did:web document", () => {
  it("leaves the served document, the API's copy and the resolver's answer", async () => {
    const key = await externalKey("Ed25519");
    const didWebId = `did:web:ssi.test:revoked:${crypto.randomUUID()}`;
    const created = await api("PUT", "/v1/dids/web", {
      keyType: "Ed25519",
      custody: "external",
      publicKeyJwk: key.publicKeyJwk,
      options: { didWebId },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const vm = created.body.did.verificationMethod[0].id as string;
    const path = `/${didWebId.split(":").slice(3).join("/")}/did.json`;
    expect((await api("GET", path, undefined, { auth: null })).body.verificationMethod.map((v: any) => v.id)).toEqual([vm]);

    expect((await api("DELETE", `/v1/keys/${enc(vm)}`)).status).toBe(204);

    const served = await api("GET", path, undefined, { auth: null });
    expect(served.status).toBe(200);
    expect(served.body.id).toBe(didWebId);
    const docs = [
      served.body,
      (await api("GET", `/v1/dids/web/${enc(didWebId)}`)).body.did,
      (await api("GET", `/v1/dids/resolver/${enc(didWebId)}`)).body.didDocument,
    ];
    for (const doc of docs) {
      expect(JSON.stringify(doc)).not.toContain(vm);
      expect(doc.verificationMethod).toEqual([]);
      for (const rel of ["authentication", "assertionMethod", "capabilityInvocation", "capabilityDelegation"]) expect(doc[rel]).toEqual([]);
    }
    // The key record itself is kept, marked revoked.
    expect((await api("GET", `/v1/keys/${enc(vm)}`)).body).toMatchObject({ id: vm, revoked: true });
  });
});
