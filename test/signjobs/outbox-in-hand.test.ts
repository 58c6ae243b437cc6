/**
 * The delivery right after a change sends the outbox rows that change committed from memory: it
 * does not read them back from the table, and deletes them in one statement once D1 has them. The
 * table stays the durable copy: an object that dies between the commit and the delivery loses
 * nothing, the next instance reads the rows from the table and delivers them.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api } from "../support/api";
import { crashOnDelivery, installOutboxD1 } from "../support/faults";
import { credentialRequest, custodialDid, delivered, objectQuery, stubOf } from "../support/keys";
import { meter } from "../cost/meter";

const READ_BACK = "SELECT seq, key, sql, params, attempts, refusals FROM outbox";

describe("outbox rows in hand", () => {
  it("a create's delivery does not read its rows back, and deletes them in one statement", async () => {
    const issuer = await custodialDid("Ed25519");
    expect((await api("PUT", "/v1/credentials", credentialRequest(issuer))).status).toBe(201);
    const m = await meter(issuer.did);
    await m.take();
    const res = await api("PUT", "/v1/credentials", credentialRequest(issuer, { revocable: true }));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const cost = await m.take();
    const statements = [...cost.bySql.keys()];
    expect(statements.filter((s) => s.startsWith(READ_BACK))).toEqual([]);
    expect(statements.filter((s) => s.startsWith("DELETE FROM outbox")).map((s) => cost.bySql.get(s)!.n)).toEqual([1]);
    expect(await objectQuery(issuer.did, "SELECT key FROM outbox")).toEqual([]);
    const row = await env.DB.prepare("SELECT state FROM credential_index WHERE id = ?").bind(res.body.result.response.id).first();
    expect(row).toEqual({ state: 1 });
  });

  it("an object that dies between the commit and the delivery loses nothing: the next instance delivers from the table", async () => {
    const issuer = await custodialDid("Ed25519");
    expect((await api("PUT", "/v1/credentials", credentialRequest(issuer))).status).toBe(201);
    await delivered(issuer.did);
    const crash = crashOnDelivery();
    await installOutboxD1(stubOf(issuer.did), crash.wrap);
    // The answer may or may not get out before the abort; what matters is what was committed.
    await api("PUT", "/v1/credentials", credentialRequest(issuer, { subject: "did:example:crash" })).catch(() => undefined);
    await crash.crashed;
    // A new instance: its first round reads the table, which still holds the committed rows.
    await delivered(issuer.did);
    expect(await objectQuery(issuer.did, "SELECT key FROM outbox")).toEqual([]);
    const ids = await objectQuery<{ id: string }>(issuer.did, "SELECT artifact_id AS id FROM jobs WHERE kind = 'credential' ORDER BY seq");
    expect(ids).toHaveLength(2);
    const rows = await env.DB.prepare("SELECT id, state FROM credential_index WHERE issuer = ? ORDER BY created_at")
      .bind(issuer.did)
      .all<{ id: string; state: number }>();
    expect(rows.results).toEqual(ids.map(({ id }) => ({ id, state: 1 })));
    // Their index rows are their operations' D1 records too (migrations/0014): nothing in `operations`.
    const ops = await env.DB.prepare("SELECT count(*) AS n FROM operations WHERE issuer = ?").bind(issuer.did).first<{ n: number }>();
    expect(ops?.n).toBe(0);
  });
});
