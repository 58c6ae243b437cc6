/**
 * The service writes the body-free credential index through the issuer object's outbox, to the
 * issuer's shard: created (pending), signed or failed, status changes and deletion, each revision
 * guarded; with 4 shards every issuer's rows land in its own shard only.
 */
import { applyD1Migrations, env, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { IssuerObject } from "../../durable-objects/issuer";
import { shardOf } from "../../src/shards/hash";
import { forgetLayout } from "../../src/shards/shards";
import { api, enc, type ApiResponse } from "../support/api";
import { credentialRequest, custodialDid, externalDid, externalKey, issuePending, stubOf } from "../support/keys";

const shards = () => [env.DB, ...[1, 2, 3].map((i) => Reflect.get(env, `DB_SHARD_${i}`) as D1Database)];

beforeAll(async () => {
  for (const db of shards().slice(1)) await applyD1Migrations(db, env.TEST_MIGRATIONS);
});

/** Delivers the issuer's outbox now, so the test does not depend on when the create answered. */
const drained = (did: string) => runInDurableObject(stubOf(did), (o: IssuerObject) => o["outbox"].drain());

const indexRow = async (db: D1Database, id: string) =>
  db.prepare("SELECT * FROM credential_index WHERE id = ?").bind(id).first<Record<string, number | string | null>>();

describe("the credential index, written by the service", () => {
  it("a custodial credential's row: signed, then revoked, then deleted; no body in it", async () => {
    const issuer = await custodialDid("Ed25519");
    const res = await api("PUT", "/v1/credentials", credentialRequest(issuer, { revocable: true, schemaId: "https://example.com/s" }));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const id = res.body.result.response.id as string;
    await drained(issuer.did);
    expect(await indexRow(env.DB, id)).toMatchObject({
      issuer: issuer.did,
      subject: "did:example:alice",
      schema_id: "https://example.com/s",
      state: 1,
      revoked: 0,
      rev: 1,
      deleted_at: null,
    });

    const revoked = await api("PUT", `/v1/credentials/${id}/status`, { revoked: true });
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    await drained(issuer.did);
    expect(await indexRow(env.DB, id)).toMatchObject({ state: 1, revoked: 1, rev: 5 });

    expect((await api("DELETE", `/v1/credentials/${id}`)).status).toBe(204);
    await drained(issuer.did);
    const deleted = await indexRow(env.DB, id);
    expect(deleted?.deleted_at).not.toBeNull();
    expect(deleted?.rev).toBe(2 ** 40 + 5);
  });

  it("an external issuer's credential is pending in the index, then failed when its job is rejected", async () => {
    const key = await externalKey("P-256");
    const issuer = await externalDid(key);
    const { operation, job } = await issuePending(issuer);
    const id = operation.result?.response?.id ?? operation.id.split("/")[1];
    await drained(issuer.did);
    expect(await indexRow(env.DB, id)).toMatchObject({ state: 0, rev: 0 });
    const rejected = await api("PUT", `/v1/signjobs/${job.id}/reject`, { reason: "no" });
    expect(rejected.status, JSON.stringify(rejected.body)).toBe(200);
    await drained(issuer.did);
    expect(await indexRow(env.DB, id)).toMatchObject({ state: 2, code: "rejected", rev: 1 });
  });

  it("with 4 shards, each issuer's rows land in its own shard and nowhere else", async () => {
    await env.DB.prepare("INSERT INTO index_layout (id, shards, next, phase, since) VALUES (1, 4, NULL, 'steady', 0)").run();
    forgetLayout();
    try {
      const placed: { id: string; did: string }[] = [];
      for (let i = 0; i < 6; i++) {
        const issuer = await custodialDid("Ed25519");
        const res = await api("PUT", "/v1/credentials", credentialRequest(issuer));
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        await drained(issuer.did);
        placed.push({ id: res.body.result.response.id, did: issuer.did });
      }
      const homes = new Set<number>();
      for (const { id, did } of placed) {
        const home = shardOf(did, 4);
        homes.add(home);
        for (const [i, db] of shards().entries()) {
          expect(await indexRow(db, id), `shard ${i}`).toEqual(i === home ? expect.objectContaining({ issuer: did }) : null);
        }
      }
      expect(homes.size).toBeGreaterThan(1);

      // Listing by subject reads every shard's index and finds each of them, with its body.
      const subject = `did:example:alice`;
      const listed = await api("GET", `/v1/credentials?subject=${enc(subject)}&pageSize=1000`);
      expect(listed.status).toBe(200);
      const byId = new Map((listed.body.credentials as { id: string; credentialJwt?: string }[]).map((c) => [c.id, c]));
      for (const { id } of placed) expect(byId.get(id)?.credentialJwt).toBeTruthy();

      // The unfiltered list, two at a time: full pages, oldest first, each credential once.
      const seen: string[] = [];
      let token: string | undefined;
      let bookmark: string | null = null;
      do {
        const page: ApiResponse = await api("GET", `/v1/credentials?pageSize=2${token ? `&pageToken=${token}` : ""}`, undefined, {
          headers: bookmark ? { "index-bookmark": bookmark } : {},
        });
        expect(page.status, JSON.stringify(page.body)).toBe(200);
        bookmark = page.headers.get("index-bookmark");
        expect(bookmark).toBeTruthy();
        token = page.body.nextPageToken;
        if (token) expect(page.body.credentials).toHaveLength(2);
        seen.push(...(page.body.credentials as { id: string }[]).map((c) => c.id));
      } while (token);
      expect(new Set(seen).size).toBe(seen.length);
      const mine = seen.filter((id) => placed.some((p) => p.id === id));
      expect(mine).toEqual(placed.map((p) => p.id));

      // A deleted credential leaves the cross-issuer lists; a bookmark that is not ours is ignored.
      expect((await api("DELETE", `/v1/credentials/${placed[0]!.id}`)).status).toBe(204);
      const after = await api("GET", `/v1/credentials?subject=${enc(subject)}&pageSize=1000`, undefined, {
        headers: { "index-bookmark": "not-a-bookmark" },
      });
      expect(after.status).toBe(200);
      const left = (after.body.credentials as { id: string }[]).map((c) => c.id);
      expect(left).not.toContain(placed[0]!.id);
      expect(left).toContain(placed[1]!.id);
    } finally {
      await env.DB.prepare("DELETE FROM index_layout").run();
      forgetLayout();
    }
  });
});
