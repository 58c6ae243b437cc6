/**
 * A signer that keeps refusing an issuer's status list: the service offers it again with an
 * exponential backoff (30 s, 60 s, 120 s, ...), stops after 8 attempts, shows where it stands in
 * the list's publication view, and starts over when a status change gives the list new bits.
 *
 * The backoff is minutes long, so the tests move the refused job's end back in time instead of
 * waiting; running the alarm before that shows no retry is offered early.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "../support/api";
import { externalDid, externalKey, issuePending, objectQuery, pendingJobs, stubOf } from "../support/keys";
import { alarmNow, onlyRetentionArmed, published, statusEntryOf } from "../support/status";

const listJobs = async (did: string) => (await pendingJobs(did)).filter((j) => j.kind === "status-list");

describe("status list publication against a signer that refuses it", () => {
  it("backs off 30 s, 60 s, 120 s, ..., fails after 8 attempts, and a status change restarts it", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const { job: credentialJob } = await issuePending(issuer, { revocable: true });
    expect((await api("PUT", "/v1/signjobs", { id: credentialJob.id, signature: await key.sign(credentialJob.signingInput) })).status).toBe(
      200,
    );
    const [first] = await listJobs(issuer.did);
    const listId = first.payload.vc.id.split("/").pop() as string;
    const view = async () => {
      const res = await api("GET", `/v1/credentials/status/${listId}/publication`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body;
    };
    expect(await view()).toMatchObject({ id: listId, purpose: "revocation", revision: 1, publication: { state: "pending", attempts: 1 } });

    let job = first;
    for (let attempt = 1; attempt <= 8; attempt++) {
      expect((await api("PUT", `/v1/signjobs/${job.id}/reject`, { reason: `policy refuses it (${attempt})` })).status).toBe(200);
      const ended = Date.parse((await api("GET", `/v1/signjobs/${job.id}`)).body.endedAt);
      const delay = 30_000 * 2 ** (attempt - 1);
      const state = await view();
      if (attempt < 8) {
        expect(state.publication).toEqual({
          state: "retrying",
          attempts: attempt,
          nextAttemptAt: new Date(ended + delay).toISOString(),
          lastError: `policy refuses it (${attempt})`,
        });
        // Armed no later than the retry (an alarm armed earlier, for the rejection's own outbox row, is kept).
        const alarm = await runInDurableObject(stubOf(issuer.did), (_i, s) => s.storage.getAlarm());
        expect(alarm).toBeLessThanOrEqual(ended + delay);
      } else {
        expect(state.publication).toEqual({ state: "failed", attempts: 8, lastError: "policy refuses it (8)" });
      }

      // Not due yet: the alarm offers nothing, and arms for the retry.
      await alarmNow(issuer.did);
      expect(await listJobs(issuer.did)).toEqual([]);
      if (attempt < 8) expect(await runInDurableObject(stubOf(issuer.did), (_i, s) => s.storage.getAlarm())).toBe(ended + delay);

      // Due: the alarm offers the list again, under a new operation, until the bound.
      await objectQuery(issuer.did, "UPDATE jobs SET ended_at = ended_at - ? WHERE id = ?", delay, job.id);
      await alarmNow(issuer.did);
      const again = await listJobs(issuer.did);
      if (attempt < 8) {
        expect(again).toHaveLength(1);
        expect(again[0].operationId).not.toBe(job.operationId);
        expect((await view()).publication).toEqual({ state: "pending", attempts: attempt + 1 });
        job = again[0];
      } else {
        expect(again).toEqual([]);
      }
    }
    // Failed for good: no alarm is kept armed for it, however long it waits.
    await onlyRetentionArmed(issuer.did);
    await objectQuery(issuer.did, "UPDATE jobs SET ended_at = 0 WHERE kind = 'status-list'");
    await alarmNow(issuer.did);
    expect(await listJobs(issuer.did)).toEqual([]);
    expect((await view()).publication.state).toBe("failed");

    // A status change gives the list new bits: publication starts over, and succeeds.
    const credential = (await api("GET", `/v1/operations/${credentialJob.operationId}`)).body.result.response;
    const revoked = await api("PUT", `/v1/credentials/${credential.id}/status`, { revoked: true });
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    expect((await view()).publication).toEqual({ state: "pending", attempts: 1 });
    const [fresh] = await listJobs(issuer.did);
    expect((await api("PUT", "/v1/signjobs", { id: fresh.id, signature: await key.sign(fresh.signingInput) })).status).toBe(200);
    expect((await view()).publication).toEqual({ state: "published", attempts: 1 });
    const entry = statusEntryOf(credential);
    expect((await published(entry.url)).bits).toEqual([entry.index]);
  });

  it("an unknown list is 404, and the view needs an operator", async () => {
    expect((await api("GET", `/v1/credentials/status/${crypto.randomUUID()}/publication`)).status).toBe(404);
    expect((await api("GET", `/v1/credentials/status/${crypto.randomUUID()}/publication`, undefined, { auth: null })).status).toBe(401);
  });
});
