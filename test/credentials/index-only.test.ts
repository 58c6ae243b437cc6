/**
 * D1's `credentials` table has left the write path (docs/SCALE.md): a new credential's one D1 row
 * is its credential index row, and its status changes and deletion write nothing to that table.
 * Rows written there before stay readable, and their status and deletion keep being written, for
 * ids that name their object and for older ids that D1 resolves to their issuer. And a
 * cross-issuer page asks each issuer's object for its bodies once.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { CredentialReads } from "../../durable-objects/credential-reads";
import type { IssuerObject } from "../../durable-objects/issuer";
import { api, enc } from "../support/api";
import { credentialRequest, custodialDid, delivered, externalDid, externalKey, issuePending, stubOf, type Issuer } from "../support/keys";

type LegacyRow = { credential: string; revoked: number; status_version: number; signed_at: number | null; deleted_at: number | null };

const legacyRow = (id: string) =>
  env.DB.prepare("SELECT credential, revoked, status_version, signed_at, deleted_at FROM credentials WHERE id = ?")
    .bind(id)
    .first<LegacyRow>();
const indexRow = (id: string) =>
  env.DB.prepare("SELECT state, revoked, deleted_at FROM credential_index WHERE id = ?")
    .bind(id)
    .first<{ state: number; revoked: number; deleted_at: number | null }>();

describe("new credentials write no D1 `credentials` row", () => {
  it("created, revoked and deleted: the index row follows, the legacy table is never written", async () => {
    const issuer = await custodialDid("Ed25519");
    const res = await api("PUT", "/v1/credentials", credentialRequest(issuer, { revocable: true }));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const id = res.body.result.response.id as string;
    expect((await api("PUT", `/v1/credentials/${id}/status`, { revoked: true })).status).toBe(200);
    await delivered(issuer.did);
    expect(await indexRow(id)).toEqual({ state: 1, revoked: 1, deleted_at: null });
    expect((await api("GET", `/v1/credentials/${id}`)).body).toMatchObject({ id, revoked: true });
    expect((await api("DELETE", `/v1/credentials/${id}`)).status).toBe(204);
    await delivered(issuer.did);
    expect((await indexRow(id))?.deleted_at).not.toBeNull();
    expect(await env.DB.prepare("SELECT id FROM credentials WHERE issuer = ?").bind(issuer.did).first()).toBeNull();
    expect((await api("GET", `/v1/credentials/${id}`)).status).toBe(404);
  });
});

/**
 * Turns a pending credential of an external issuer into one created before the table left the
 * write path: its job's context loses `indexOnly` (optionally its id becomes a bare UUID, as ids
 * were before they named their object), and D1 gets the row the create wrote then, body included.
 */
async function makeLegacy(issuer: Issuer, routedId: string, bareUuid: boolean): Promise<string> {
  const id = bareUuid ? crypto.randomUUID() : routedId;
  const credential = await runInDurableObject(stubOf(issuer.did), (_o, state) => {
    const sql = state.storage.sql;
    const job = sql.exec<{ context: string }>("SELECT context FROM jobs WHERE artifact_id = ?", routedId).one();
    const context = JSON.parse(job.context) as Record<string, unknown>;
    delete context.indexOnly;
    context.credentialId = id;
    sql.exec("UPDATE jobs SET artifact_id = ?, context = ? WHERE artifact_id = ?", id, JSON.stringify(context), routedId);
    // Status entries key a credential by its id without the object's prefix ('!' and the whole id without one).
    const short = (x: string) => (x.indexOf(".") === 64 ? x.slice(65) : `!${x}`);
    sql.exec("UPDATE status_bits SET credential = ? WHERE credential = ?", short(id), short(routedId));
    return context;
  });
  if (bareUuid) await env.DB.prepare("DELETE FROM credential_index WHERE id = ?").bind(routedId).run();
  const now = Date.now();
  await env.DB.prepare(
    `INSERT INTO credentials (id, issuer, subject, schema_id, verification_method_id, operation_id, format, credential, jwt,
       status_list_id, status_index, status_purpose, created_at)
     VALUES (?, ?, ?, NULL, ?, ?, 'jwt_vc', ?, NULL, ?, ?, 'revocation', ?)`,
  )
    .bind(
      id,
      issuer.did,
      credential.subject as string,
      issuer.vmId,
      `credentials/${routedId}`,
      JSON.stringify({ id: `urn:uuid:${id}`, issuer: issuer.did }),
      credential.statusListId as string,
      credential.statusIndex as number,
      now,
    )
    .run();
  return id;
}

describe.each([
  ["an id that names its object", false],
  ["an id from before ids named their object", true],
])("a legacy D1 `credentials` row (%s)", (_name, bareUuid) => {
  it("is read, signed, revoked and deleted through the API, its D1 row kept current", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const subject = `did:example:legacy-${crypto.randomUUID()}`;
    const { operation, job } = await issuePending(issuer, { subject, revocable: true });
    await delivered(issuer.did);
    const id = await makeLegacy(issuer, operation.result.response.id as string, bareUuid);

    const pending = await api("GET", `/v1/credentials/${id}`);
    expect(pending.status, JSON.stringify(pending.body)).toBe(200);
    expect(pending.body).toMatchObject({ id, revoked: false });
    expect(pending.body.credentialJwt).toBeUndefined();

    // Signed now: the legacy row is marked signed and loses its body (the object holds it).
    const signed = await api("PUT", "/v1/signjobs", { id: job.id, signature: await key.sign(job.signingInput) });
    expect(signed.status, JSON.stringify(signed.body)).toBe(200);
    await delivered(issuer.did);
    expect(await legacyRow(id)).toMatchObject({ credential: "", revoked: 0 });
    expect((await legacyRow(id))?.signed_at).not.toBeNull();
    const read = await api("GET", `/v1/credentials/${id}`);
    expect(read.body).toMatchObject({ id, credentialJwt: signed.body.jwt, revoked: false });
    expect((await api("GET", `/v1/credentials?subject=${enc(subject)}`)).body.credentials).toEqual([
      read.body.jwtHistory ? stripHistory(read.body) : read.body,
    ]);

    const revoked = await api("PUT", `/v1/credentials/${id}/status`, { revoked: true });
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    expect(revoked.body).toMatchObject({ revoked: true, suspended: false });
    await delivered(issuer.did);
    expect(await legacyRow(id)).toMatchObject({ revoked: 1, status_version: 1, deleted_at: null });
    expect(await indexRow(id)).toMatchObject({ state: 1, revoked: 1 });
    expect((await api("GET", `/v1/credentials/${id}`)).body.revoked).toBe(true);

    expect((await api("DELETE", `/v1/credentials/${id}`)).status).toBe(204);
    // The route writes the deletion at once, so an older id (resolved through this row) is gone at once.
    expect((await legacyRow(id))?.deleted_at).not.toBeNull();
    expect((await api("GET", `/v1/credentials/${id}`)).status).toBe(404);
    await delivered(issuer.did);
    expect((await indexRow(id))?.deleted_at).not.toBeNull();
    expect((await api("GET", `/v1/credentials?subject=${enc(subject)}`)).body.credentials).toEqual([]);
    // Bad input changes nothing: a status change of the deleted credential is a problem.
    const again = await api("PUT", `/v1/credentials/${id}/status`, { revoked: false });
    expect(again.status).toBeGreaterThanOrEqual(400);
    expect(again.headers.get("content-type")).toContain("application/problem+json");
  });
});

const stripHistory = ({ jwtHistory: _h, ...container }: Record<string, unknown>) => container;

describe("a cross-issuer page", () => {
  it("fetches its bodies with one call per issuer per page", async () => {
    const issuers = [await custodialDid("Ed25519"), await custodialDid("P-256"), await custodialDid("Ed25519")];
    const subject = `did:example:page-${crypto.randomUUID()}`;
    for (let round = 0; round < 3; round++) {
      for (const issuer of issuers) {
        expect((await api("PUT", "/v1/credentials", credentialRequest(issuer, { subject, data: { round } }))).status).toBe(201);
      }
    }
    for (const issuer of issuers) await delivered(issuer.did);
    // Counted where the calls land: in each issuer object, the reads behind its RPC method
    // `getCredentials` (RPC dispatch ignores an instance's own properties, so the method itself
    // cannot be wrapped), and behind reads of one id, which a page must not fall back to.
    const calls = async (): Promise<number[]> =>
      Promise.all(
        issuers.map((i) =>
          runInDurableObject(stubOf(i.did), (o: IssuerObject) => {
            const reads = o["credentials"] as unknown as { bodyCalls?: number } & Pick<CredentialReads, "many" | "get">;
            const counted = reads;
            if (counted.bodyCalls === undefined) {
              const [many, get] = [reads.many.bind(reads), reads.get.bind(reads)];
              counted.bodyCalls = 0;
              reads.many = (ids) => {
                counted.bodyCalls!++;
                return many(ids);
              };
              reads.get = (id) => {
                counted.bodyCalls! += 100;
                return get(id);
              };
            }
            const n = counted.bodyCalls;
            counted.bodyCalls = 0;
            return n;
          }),
        ),
      );
    await calls();
    const whole = await api("GET", `/v1/credentials?subject=${enc(subject)}&pageSize=9`);
    expect(whole.body.credentials).toHaveLength(9);
    expect(await calls()).toEqual([1, 1, 1]);
    // Two pages of 5 and 4: each issuer is asked at most once per page, and only when it has rows on it.
    const first = await api("GET", `/v1/credentials?subject=${enc(subject)}&pageSize=5`);
    expect(first.body.credentials).toHaveLength(5);
    expect(await calls()).toEqual([1, 1, 1]);
    const second = await api("GET", `/v1/credentials?subject=${enc(subject)}&pageSize=5&pageToken=${enc(first.body.nextPageToken)}`);
    expect(second.body.credentials).toHaveLength(4);
    expect(await calls()).toEqual([1, 1, 1]);
  });
});
