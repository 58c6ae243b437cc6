import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "../support/api";
import { externalDid, externalKey, issuePending, objectQuery, pendingJobs, stubOf } from "../support/keys";
import { published, statusEntryOf } from "../support/status";

describe("a status list whose job ended unsigned", () => {
  it("is offered again by the alarm, under a new operation, and published once signed", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const op = await issuePending(issuer, { revocable: true });
    const jobs = await pendingJobs(issuer.did);
    const credentialJob = jobs.find((j: any) => j.kind === "credential")!;
    const listJob = jobs.find((j: any) => j.kind === "status-list")!;
    expect(listJob).toBeDefined();

    // The signer refuses the list's first version; the credential itself is signed.
    expect((await api("PUT", `/v1/signjobs/${listJob.id}/reject`, { reason: "not now" })).status).toBe(200);
    const signed = await api("PUT", "/v1/signjobs", { id: credentialJob.id, signature: await key.sign(credentialJob.signingInput) });
    expect(signed.status).toBe(200);
    const listOp = await api("GET", `/v1/operations/${listJob.operationId}`);
    expect(listOp.body.result.code).toBe("rejected_by_signer");

    // The rejection armed the alarm for a retry 30 s after it; move the rejection back so it is due.
    await objectQuery(issuer.did, "UPDATE jobs SET ended_at = ended_at - 30000 WHERE id = ?", listJob.id);
    expect(await runDurableObjectAlarm(stubOf(issuer.did))).toBe(true);
    const again = (await pendingJobs(issuer.did)).filter((j: any) => j.kind === "status-list");
    expect(again).toHaveLength(1);
    expect(again[0].operationId).not.toBe(listJob.operationId);
    const ok = await api("PUT", "/v1/signjobs", { id: again[0].id, signature: await key.sign(again[0].signingInput) });
    expect(ok.status).toBe(200);

    const credential = (await api("GET", `/v1/operations/${op.operation.id}`)).body.result.response;
    const list = await published(statusEntryOf(credential).url);
    expect(list.bits).toEqual([]);
  });
});
