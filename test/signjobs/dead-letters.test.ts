/**
 * An outbox row that D1 refuses (while D1 answers everything else) is not retried forever: after
 * 10 refusals it moves to the object's dead letters, is reported to D1's dead_letters table, and
 * /readiness counts it. The issuer's other writes keep landing throughout.
 */
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "../support/api";
import { externalDid, externalKey, objectQuery, stubOf } from "../support/keys";

async function deliverNow(did: string) {
  await runInDurableObject(stubOf(did), async (_i, state) => {
    state.storage.sql.exec("UPDATE outbox SET due_at = 0");
    state.storage.sql.exec("UPDATE outbox_dead SET report_due_at = 0 WHERE reported = 0");
    await state.storage.setAlarm(Date.now() + 60_000);
  });
  expect(await runDurableObjectAlarm(stubOf(did))).toBe(true);
}

type Row = { key: string; attempts: number; refusals: number };

describe("outbox dead letters", () => {
  it("a row D1 refuses 10 times moves to the dead letters, is reported, and /readiness counts it", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    await env.DB.exec(
      "CREATE TRIGGER doomed BEFORE INSERT ON credential_index WHEN NEW.subject = 'did:example:doomed' BEGIN SELECT RAISE(ABORT, 'row refused'); END",
    );
    try {
      const res = await api("PUT", "/v1/credentials", {
        issuer: issuer.did,
        verificationMethodId: issuer.vmId,
        subject: "did:example:doomed",
        data: {},
      });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      const entity = `index:credential:${res.body.result.response.id}`;
      let rows = await objectQuery<Row>(issuer.did, "SELECT key, attempts, refusals FROM outbox");
      expect(rows).toEqual([{ key: entity, attempts: 1, refusals: 1 }]);

      for (let refusals = 2; refusals < 10; refusals++) {
        await deliverNow(issuer.did);
        rows = await objectQuery<Row>(issuer.did, "SELECT key, attempts, refusals FROM outbox");
        expect(rows).toEqual([{ key: entity, attempts: refusals, refusals }]);
        expect(await objectQuery(issuer.did, "SELECT seq FROM outbox_dead")).toEqual([]);
      }
      const before = await api("GET", "/readiness", undefined, { auth: null });
      expect(before.body.checks.deadLetters).toEqual({ ok: true, count: 0 });

      // The tenth refusal: no more retries, the row waits in the dead letters and D1 hears of it.
      await deliverNow(issuer.did);
      expect(await objectQuery(issuer.did, "SELECT key FROM outbox")).toEqual([]);
      const dead = await objectQuery<{ key: string; attempts: number; last_error: string; reported: number }>(
        issuer.did,
        "SELECT key, attempts, last_error, reported FROM outbox_dead",
      );
      expect(dead).toEqual([{ key: entity, attempts: 10, last_error: expect.stringContaining("row refused"), reported: 1 }]);
      const reported = await env.DB.prepare("SELECT issuer, key, attempts FROM dead_letters WHERE issuer = ?").bind(issuer.did).all();
      expect(reported.results).toEqual([{ issuer: issuer.did, key: entity, attempts: 10 }]);

      const readiness = await api("GET", "/readiness", undefined, { auth: null });
      expect(readiness.status).toBe(200);
      expect(readiness.body.status).toBe("ready");
      expect(readiness.body.checks.deadLetters).toEqual({ ok: false, count: 1 });
      // It tells nothing of what was refused or why.
      expect(JSON.stringify(readiness.body)).not.toContain("refused");

      // Nothing is left for the alarm to retry: the object is quiet again.
      expect(await runInDurableObject(stubOf(issuer.did), (_i, state) => state.storage.getAlarm())).toBe(
        (await objectQuery<{ t: number }>(issuer.did, "SELECT min(expires_at) AS t FROM jobs WHERE status = 'pending'"))[0]!.t,
      );

      // The issuer's other writes still land.
      const healthy = await api("PUT", "/v1/credentials", {
        issuer: issuer.did,
        verificationMethodId: issuer.vmId,
        subject: "did:example:fine",
        data: {},
      });
      expect((await api("GET", `/v1/credentials/${healthy.body.result.response.id}`)).status).toBe(200);
    } finally {
      await env.DB.exec("DROP TRIGGER IF EXISTS doomed");
    }
  });
});
