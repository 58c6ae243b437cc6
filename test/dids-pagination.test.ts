import { describe, expect, it } from "vitest";
import { expectProblem } from "./support/contract";
import { api } from "./support/api";

// A file of its own: storage is per test file, so these five are the only did:jwk DIDs here.
describe("GET /v1/dids/{method} keyset pagination", () => {
  it("walks five DIDs two at a time, each once, oldest first", async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await api("PUT", "/v1/dids/jwk", { keyType: "Ed25519" });
      expect(res.status).toBe(201);
      created.push(res.body.did.id);
      await new Promise((r) => setTimeout(r, 2)); // distinct createdAt, so the order is the creation order
    }

    const pages: string[][] = [];
    let token: string | undefined;
    do {
      const res = await api("GET", `/v1/dids/jwk?pageSize=2${token ? `&pageToken=${encodeURIComponent(token)}` : ""}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(res.body.nextPageToken ? ["dids", "nextPageToken"] : ["dids"]);
      pages.push(res.body.dids.map((d: { id: string }) => d.id));
      token = res.body.nextPageToken;
    } while (token && pages.length < 10);

    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(pages.flat()).toEqual(created);

    // The default page holds them all and has no next token.
    const all = await api("GET", "/v1/dids/jwk");
    expect(all.body.dids.map((d: { id: string }) => d.id)).toEqual(created);
    expect(all.body.nextPageToken).toBeUndefined();

    // Other methods and deleted DIDs are separate lists.
    expect((await api("GET", "/v1/dids/key")).body).toEqual({ dids: [] });
    expect((await api("GET", "/v1/dids/jwk?deleted=true")).body).toEqual({ dids: [] });
  });

  it("a page exactly filling the list has no next token", async () => {
    const res = await api("GET", "/v1/dids/jwk?pageSize=5");
    expect(res.body.dids).toHaveLength(5);
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
