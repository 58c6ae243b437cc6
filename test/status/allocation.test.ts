/**
 * Status index allocation: random, distinct indexes; a full list opens the next one, both with a
 * test-only small capacity (a meta row no API reaches) and at the real size of 131,072.
 */
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { IssuerObject } from "../../durable-objects/issuer";
import type { StatusLists } from "../../durable-objects/status-lists";
import { api } from "../support/api";
import { published, statusEntryOf } from "../support/status";
import { delivered } from "../support/keys";

async function custodialIssuer() {
  const did = await api("PUT", "/v1/dids/key", { keyType: "Ed25519" });
  expect(did.status).toBe(201);
  return { did: did.body.did.id as string, vm: did.body.did.verificationMethod[0].id as string };
}

async function issueRevocable(issuer: { did: string; vm: string }, n: number, tag: string) {
  const res = await api("PUT", "/v1/credentials/batch", {
    requests: Array.from({ length: n }, (_, i) => ({
      issuer: issuer.did,
      verificationMethodId: issuer.vm,
      subject: `did:example:${tag}-${i}`,
      data: {},
      revocable: true,
    })),
  });
  expect(res.status).toBe(201);
  return (res.body.operations as any[]).map((op) => statusEntryOf(op.result.response));
}

const listsOf = (instance: IssuerObject) => (instance as unknown as { statusLists: StatusLists }).statusLists;

describe("status index allocation", () => {
  it("10,000 credentials get distinct indexes in one list", { timeout: 180_000 }, async () => {
    const issuer = await custodialIssuer();
    const entries = [];
    for (let b = 0; b < 10; b++) entries.push(...(await issueRevocable(issuer, 1000, `b${b}`)));
    expect(entries).toHaveLength(10_000);
    expect(new Set(entries.map((e) => e.url)).size).toBe(1);
    const indexes = entries.map((e) => e.index);
    expect(new Set(indexes).size).toBe(10_000);
    expect(indexes.every((i) => Number.isInteger(i) && i >= 0 && i < 131_072)).toBe(true);
    // Random, not sequential: the first ten are not 0..9, and they spread over the whole range.
    expect(indexes.slice(0, 10)).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Math.max(...indexes)).toBeGreaterThan(120_000);
    expect(Math.min(...indexes)).toBeLessThan(10_000);
    // D1's credential index has every one of them, once the object has delivered them.
    await delivered(issuer.did);
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM credential_index WHERE issuer = ? AND deleted_at IS NULL")
      .bind(issuer.did)
      .first<{ n: number }>();
    expect(rows?.n).toBe(10_000);
  });

  it("a full list (small test capacity) opens a new one, each signed and published", async () => {
    const issuer = await custodialIssuer();
    await runInDurableObject(env.ISSUER.getByName(issuer.did), (_instance, state) => {
      state.storage.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('status_list_capacity', '5')");
    });
    const entries = await issueRevocable(issuer, 12, "small");
    const urls = [...new Set(entries.map((e) => e.url))];
    expect(urls).toHaveLength(3);
    expect(entries.filter((e) => e.url === urls[0])).toHaveLength(5);
    expect(entries.filter((e) => e.url === urls[1])).toHaveLength(5);
    expect(entries.filter((e) => e.url === urls[2])).toHaveLength(2);
    for (const url of urls) expect((await published(url)).bits).toEqual([]);
    // The next credential goes to the list that still has room.
    const [next] = await issueRevocable(issuer, 1, "next");
    expect(next!.url).toBe(urls[2]);
  });

  it("at the real size, the 131,072nd allocation fills the list and the next opens another", { timeout: 120_000 }, async () => {
    const issuer = await custodialIssuer();
    await issueRevocable(issuer, 1, "seed"); // binds the object to the DID and opens the list
    await runInDurableObject(env.ISSUER.getByName(issuer.did), (instance, state) => {
      const lists = listsOf(instance);
      const first = state.storage.sql.exec<{ id: string }>("SELECT id FROM status_lists").one().id;
      let elsewhere = 0;
      state.storage.transactionSync(() => {
        for (let i = 1; i < 131_072; i++) {
          const a = lists.allocate("revocation", `bulk-${i}`, "jwt_vc", { origin: "http://ssi.test", now: 0, vmId: issuer.vm });
          if (a.listId !== first) elsewhere++;
        }
      });
      expect(elsewhere).toBe(0);
      const row = state.storage.sql
        .exec<{ next_counter: number; open: number }>("SELECT next_counter, open FROM status_lists WHERE id = ?", first)
        .one();
      expect(row).toEqual({ next_counter: 131_072, open: 0 });
      const distinct = state.storage.sql
        .exec<{ n: number }>(
          "SELECT count(DISTINCT idx) AS n FROM status_bits WHERE list = (SELECT rowid FROM status_lists WHERE id = ?)",
          first,
        )
        .one().n;
      expect(distinct).toBe(131_072);
      const overflow = lists.allocate("revocation", "bulk-overflow", "jwt_vc", {
        origin: "http://ssi.test",
        now: Date.now(),
        vmId: issuer.vm,
      });
      expect(overflow.listId).not.toBe(first);
      expect(overflow.listCredential).toBe(`http://ssi.test/v1/credentials/status/${overflow.listId}`);
    });
  });
});
