import { describe, expect, it } from "vitest";
import { expectProblem } from "./support/contract";
import { api } from "./support/api";

/** Every did:jwk DID, walked page by page: the sizes of the pages and the ids in order. */
async function walk(pageSize: number, query = "") {
  const pages: string[][] = [];
  let token: string | undefined;
  do {
    const res = await api("GET", `/v1/dids/jwk?pageSize=${pageSize}${query}${token ? `&pageToken=${encodeURIComponent(token)}` : ""}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(res.body.nextPageToken ? ["dids", "nextPageToken"] : ["dids"]);
    pages.push(res.body.dids.map((d: { id: string }) => d.id));
    token = res.body.nextPageToken;
  } while (token && pages.length < 1000);
  return pages;
}

// Other test files of the same suite may have created did:jwk DIDs before these run (storage is
// per suite file), so the walks take whatever was there first into account.
describe("GET /v1/dids/{method} keyset pagination", () => {
  it("walks five new DIDs two at a time, each once, oldest first, after those already there", async () => {
    const before = (await walk(1000)).flat();
    const created: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await api("PUT", "/v1/dids/jwk", { keyType: "Ed25519" });
      expect(res.status).toBe(201);
      created.push(res.body.did.id);
      await new Promise((r) => setTimeout(r, 2)); // distinct createdAt, so the order is the creation order
    }
    const total = before.length + 5;

    const pages = await walk(2);
    expect(pages.map((p) => p.length)).toEqual([...Array(Math.ceil(total / 2)).keys()].map((i) => Math.min(2, total - 2 * i)));
    expect(pages.flat()).toEqual([...before, ...created]);

    // A page holding them all has no next token.
    const all = await api("GET", `/v1/dids/jwk?pageSize=${total + 1}`);
    expect(all.body.dids.map((d: { id: string }) => d.id)).toEqual([...before, ...created]);
    expect(all.body.nextPageToken).toBeUndefined();

    // Other methods and deleted DIDs are separate lists.
    for (const other of ["/v1/dids/key?pageSize=1000", "/v1/dids/jwk?deleted=true&pageSize=1000"]) {
      const ids = (await api("GET", other)).body.dids.map((d: { id: string }) => d.id);
      for (const id of created) expect(ids).not.toContain(id);
    }
  });

  it("a page exactly filling the list has no next token", async () => {
    const total = (await walk(1000)).flat().length;
    expect(total).toBeGreaterThanOrEqual(5);
    const res = await api("GET", `/v1/dids/jwk?pageSize=${total}`);
    expect(res.body.dids).toHaveLength(total);
    expect(res.body.nextPageToken).toBeUndefined();
  });

  it("refuses a forged page token and out-of-range page sizes with 400", async () => {
    expectProblem(await api("GET", "/v1/dids/jwk?pageToken=not-a-token"), 400, "validation_failed");
    expectProblem(await api("GET", "/v1/dids/jwk?pageSize=0"), 400, "validation_failed");
    expectProblem(await api("GET", "/v1/dids/jwk?pageSize=1001"), 400, "validation_failed");
    expectProblem(await api("GET", "/v1/dids/jwk?pageSize=two"), 400, "validation_failed");
    expectProblem(await api("GET", "/v1/dids/jwk?deleted=maybe"), 400, "validation_failed");
  });
});
