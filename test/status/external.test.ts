/**
 * An external issuer's status list is re-signed through sign jobs: changes made while a
 * status-list job is pending fold into one newer job, and the published list only moves when a
 * job is signed.
 */
import { describe, expect, it } from "vitest";
import { api, enc } from "../support/api";
import { externalKey } from "../support/keys";
import { published, setIndexes, sorted, statusEntryOf } from "../support/status";

describe("external issuer status lists", () => {
  it("folds three revocations into one pending job; the list changes when it is signed", async () => {
    const key = await externalKey("Ed25519");
    const did = await api("PUT", "/v1/dids/key", { keyType: "Ed25519", custody: "external", publicKeyJwk: key.publicKeyJwk });
    expect(did.status).toBe(201);
    const issuer = did.body.did.id as string;
    const vm = did.body.did.verificationMethod[0].id as string;
    const pending = async (kind: string) =>
      ((await api("GET", `/v1/signjobs?did=${enc(issuer)}&status=pending`)).body.signJobs as any[]).filter((j) => j.kind === kind);
    const sign = async (job: any) => {
      const res = await api("PUT", "/v1/signjobs", { id: job.id, signature: await key.sign(job.signingInput) });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body;
    };

    const created = await api("PUT", "/v1/credentials/batch", {
      requests: [0, 1, 2].map((i) => ({ issuer, verificationMethodId: vm, subject: `did:example:h${i}`, data: { i }, revocable: true })),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    // Three credential jobs and the new list's first version.
    const credentialJobs = await pending("credential");
    expect(credentialJobs).toHaveLength(3);
    const [initial] = await pending("status-list");
    expect(initial).toBeDefined();
    expect(setIndexes(initial.payload.vc.credentialSubject.encodedList)).toEqual([]);
    for (const job of [...credentialJobs, initial]) await sign(job);
    const containers = await Promise.all(
      created.body.operations.map(async (op: any) => (await api("GET", `/v1/operations/${op.id}`)).body.result.response),
    );
    const entries = containers.map(statusEntryOf);
    const url = entries[0]!.url;
    expect((await published(url)).bits).toEqual([]);

    // Revoke the three in a row while the first status-list job is pending.
    const ops: any[] = [];
    for (const c of containers) {
      const res = await api("PUT", `/v1/credentials/${c.id}/status`, { revoked: true });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({ revoked: true, suspended: false, operation: { done: false } });
      ops.push(res.body.operation);
    }
    const lists = await pending("status-list");
    expect(lists).toHaveLength(1);
    expect(lists[0].operationId).toBe(ops[2].id);
    expect(setIndexes(lists[0].payload.vc.credentialSubject.encodedList)).toEqual(sorted(entries.map((e) => e.index)));

    // The superseded jobs ended cancelled and their operations failed with code "superseded".
    for (const op of ops.slice(0, 2)) {
      const got = (await api("GET", `/v1/operations/${op.id}`)).body;
      expect(got).toMatchObject({ done: true, result: { code: "superseded", error: "superseded by a newer status list job" } });
      const job = (await api("GET", `/v1/signjobs/${got.signJobs[0]}`)).body;
      expect(job).toMatchObject({ status: "cancelled", reason: "superseded by a newer status list job" });
      expect((await api("PUT", "/v1/signjobs", { id: job.id, signature: await key.sign(job.signingInput) })).status).toBe(409);
    }

    // Not signed yet: the published list is still the previous signed one; the flags already say revoked.
    expect((await published(url)).bits).toEqual([]);
    expect((await api("GET", `/v1/credentials/${containers[0].id}/status`)).body).toEqual({ revoked: true, suspended: false });
    expect((await api("PUT", "/v1/credentials/verification", { credentialJwt: containers[0].credentialJwt })).body).toEqual({
      verified: true,
    });

    const signed = await sign(lists[0]);
    expect(signed.status).toBe("signed");
    const after = await published(url);
    expect(after.jwt).toBe(signed.jwt);
    expect(after.bits).toEqual(sorted(entries.map((e) => e.index)));
    expect((await api("GET", `/v1/operations/${ops[2].id}`)).body).toMatchObject({
      done: true,
      result: { response: { credentialJwt: signed.jwt } },
    });
    const v = await api("PUT", "/v1/credentials/verification", { credentialJwt: containers[1].credentialJwt });
    expect(v.body.verified).toBe(false);
    expect(v.body.reason).toMatch(/revoked/);

    // Nothing is left pending, and the signed job stays signed.
    expect(await pending("status-list")).toHaveLength(0);
    expect((await api("GET", `/v1/signjobs/${lists[0].id}`)).body).toMatchObject({ status: "signed", jwt: signed.jwt });
  });

  it("a credential revoked before its own job is signed reads back revoked", async () => {
    const key = await externalKey("Ed25519");
    const did = await api("PUT", "/v1/dids/key", { keyType: "Ed25519", custody: "external", publicKeyJwk: key.publicKeyJwk });
    const issuer = did.body.did.id as string;
    const res = await api("PUT", "/v1/credentials", {
      issuer,
      verificationMethodId: did.body.did.verificationMethod[0].id,
      subject: "did:example:early",
      data: {},
      suspendable: true,
    });
    expect(res.status).toBe(202);
    const id = res.body.result.response.id as string;
    expect((await api("PUT", `/v1/credentials/${id}/status`, { suspended: true })).body.suspended).toBe(true);
    const jobs = (await api("GET", `/v1/signjobs?did=${enc(issuer)}&status=pending`)).body.signJobs as any[];
    // The list's first job was folded into the newer one.
    expect(jobs.map((j) => j.kind).sort()).toEqual(["credential", "status-list"]);
    for (const job of jobs) await api("PUT", "/v1/signjobs", { id: job.id, signature: await key.sign(job.signingInput) });
    const op = (await api("GET", `/v1/operations/${res.body.id}`)).body;
    expect(op.result.response).toMatchObject({ suspended: true, revoked: false });
    expect((await api("GET", `/v1/credentials/${id}`)).body).toMatchObject({ suspended: true });
    const entry = statusEntryOf(op.result.response);
    expect((await published(entry.url)).bits).toEqual([entry.index]);
  });
});
