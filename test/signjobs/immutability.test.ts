/**
 * A signed job never changes: another valid signature is 409 job_already_signed, the same one is
 * 200 with nothing changed, SQLite itself refuses edits of a signed row, and a storm of concurrent
 * valid signatures has exactly one winner whose JWT is the credential's.
 */
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "../support/api";
import { auditEvents, b64, indexRows, externalDid, externalKey, issuePending, nobleSign, stubOf } from "../support/keys";

describe.each(["P-256", "secp256k1"] as const)("a signed %s job is immutable", (keyType) => {
  it("a second, different valid signature is 409 with the stored job; the same one again is 200", async () => {
    const key = await externalKey(keyType);
    const issuer = await externalDid(key);
    const { job, operation } = await issuePending(issuer);
    const first = b64.encode(nobleSign(key, job.signingInput));
    const second = b64.encode(nobleSign(key, job.signingInput));
    expect(second).not.toBe(first);

    const signed = await api("PUT", "/v1/signjobs", { id: job.id, signature: first });
    expect(signed.status).toBe(200);
    const jwt = signed.body.jwt;

    const conflict = await api("PUT", "/v1/signjobs", { id: job.id, signature: second });
    expect(conflict.status, JSON.stringify(conflict.body)).toBe(409);
    expect(conflict.body.code).toBe("job_already_signed");
    expect(conflict.body.job).toMatchObject({ id: job.id, status: "signed", signature: first, jwt });

    const conflictJws = await api("PUT", `/v1/signjobs/${job.id}`, { jws: `${job.signingInput}.${second}` });
    expect(conflictJws.status).toBe(409);

    const same = await api("PUT", "/v1/signjobs", { id: job.id, signature: first });
    expect(same.status).toBe(200);
    expect(same.body).toEqual(signed.body);

    const stored = await api("GET", `/v1/signjobs/${job.id}`);
    expect(stored.body.jwt).toBe(jwt);
    const op = await api("GET", `/v1/operations/${operation.id}`);
    expect(op.body.result.response.credentialJwt).toBe(jwt);
    // D1's one row is the credential index's, signed (state 1); the JWT is the object's.
    const rows = await indexRows(operation.id);
    expect(rows.map((r) => r.state)).toEqual([1]);
    expect(await auditEvents(issuer.did, job.id, "signed")).toBe(1);

    // A rejection or a cancellation cannot undo it either.
    const reject = await api("PUT", `/v1/signjobs/${job.id}/reject`, { reason: "changed my mind" });
    expect(reject.status).toBe(409);
    expect(reject.body.code).toBe("job_already_signed");
    const cancel = await api("PUT", `/v1/operations/cancel/${operation.id}`);
    expect(cancel.status).toBe(409);
  });

  it("SQLite refuses an UPDATE or DELETE of a signed row", async () => {
    const key = await externalKey(keyType);
    const issuer = await externalDid(key);
    const { job } = await issuePending(issuer);
    expect((await api("PUT", "/v1/signjobs", { id: job.id, signature: await key.sign(job.signingInput) })).status).toBe(200);
    await runInDurableObject(stubOf(issuer.did), (_instance, state) => {
      const sql = state.storage.sql;
      expect(() => sql.exec("UPDATE jobs SET signature = 'x' WHERE id = ?", job.id)).toThrow(/immutable/);
      expect(() => sql.exec("UPDATE jobs SET status = 'cancelled' WHERE id = ?", job.id)).toThrow();
      expect(() => sql.exec("DELETE FROM jobs WHERE id = ?", job.id)).toThrow(/immutable/);
      expect(sql.exec<{ status: string }>("SELECT status FROM jobs WHERE id = ?", job.id).one().status).toBe("signed");
    });
    const after = await api("GET", `/v1/signjobs/${job.id}`);
    expect(after.body.status).toBe("signed");
  });
});

describe.each(["P-256", "secp256k1"] as const)("racing signers (%s)", (keyType) => {
  it("50 concurrent valid signatures: exactly one wins, once, everywhere", async () => {
    const key = await externalKey(keyType);
    const issuer = await externalDid(key);
    const { job, operation } = await issuePending(issuer);
    const signatures = Array.from({ length: 50 }, () => b64.encode(nobleSign(key, job.signingInput)));
    expect(new Set(signatures).size).toBe(50);

    const results = await Promise.all(signatures.map((signature) => api("PUT", "/v1/signjobs", { id: job.id, signature })));
    const statuses = results.map((r) => r.status);
    expect(
      statuses.every((s) => s === 200 || s === 409),
      JSON.stringify(statuses),
    ).toBe(true);
    // Each signature is distinct, so only the winner's own request can be 200.
    const winners = results.filter((r) => r.status === 200);
    expect(winners).toHaveLength(1);
    const jwt = winners[0]!.body.jwt as string;
    expect(jwt).toBe(`${job.signingInput}.${winners[0]!.body.signature}`);
    for (const loser of results.filter((r) => r.status === 409)) {
      expect(loser.body.code).toBe("job_already_signed");
      expect(loser.body.job.jwt).toBe(jwt);
    }

    const rows = await indexRows(operation.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.state).toBe(1);
    expect(await auditEvents(issuer.did, job.id, "signed")).toBe(1);
    const op = await api("GET", `/v1/operations/${operation.id}`);
    expect(op.body.done).toBe(true);
    expect(op.body.result.response.credentialJwt).toBe(jwt);
    // The credential's index row (signed, above) is its operation's D1 record: no `operations` row.
    expect(await env.DB.prepare("SELECT done FROM operations WHERE id = ?").bind(operation.id).first()).toBeNull();
  });
});

describe("signing races cancelling", () => {
  it("a cancel among concurrent signatures: either the cancel or one signature wins, never both", async () => {
    for (let round = 0; round < 3; round++) {
      const key = await externalKey("P-256");
      const issuer = await externalDid(key);
      const { job, operation } = await issuePending(issuer);
      const signatures = Array.from({ length: 10 }, () => b64.encode(nobleSign(key, job.signingInput)));
      const requests = signatures.map((signature) => api("PUT", "/v1/signjobs", { id: job.id, signature }));
      requests.splice(round * 4, 0, api("PUT", `/v1/operations/cancel/${operation.id}`));
      const results = await Promise.all(requests);
      const cancel = results[round * 4]!;
      const signs = results.filter((_, i) => i !== round * 4);
      const op = await api("GET", `/v1/operations/${operation.id}`);
      const final = await api("GET", `/v1/signjobs/${job.id}`);
      if (cancel.status === 200) {
        expect(signs.every((r) => r.status === 409 && r.body.code === "job_not_pending")).toBe(true);
        expect(final.body.status).toBe("cancelled");
        expect(op.body.result.code).toBe("cancelled");
        expect((await indexRows(operation.id))[0]).toMatchObject({ state: 2, code: "cancelled" });
      } else {
        expect(cancel.status).toBe(409);
        expect(signs.filter((r) => r.status === 200)).toHaveLength(1);
        expect(final.body.status).toBe("signed");
        expect(op.body.result.response.credentialJwt).toBe(final.body.jwt);
        expect((await indexRows(operation.id))[0]!.state).toBe(1);
      }
    }
  });
});
