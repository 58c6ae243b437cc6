/**
 * Revocation and suspension for a custodial issuer: status entries, the status API, the published
 * list read back with Node's gunzip, HTTP caching and content negotiation, and verification.
 */
import { describe, expect, it } from "vitest";
import { api } from "../support/api";
import { listCredentialOf, published, sorted, statusEntryOf } from "../support/status";

async function custodialIssuer() {
  const did = await api("PUT", "/v1/dids/key", { keyType: "Ed25519" });
  expect(did.status).toBe(201);
  return { did: did.body.did.id as string, vm: did.body.did.verificationMethod[0].id as string };
}

async function issue(issuer: { did: string; vm: string }, extra: Record<string, unknown>, n: number) {
  const res = await api("PUT", "/v1/credentials/batch", {
    requests: Array.from({ length: n }, (_, i) => ({
      issuer: issuer.did,
      verificationMethodId: issuer.vm,
      subject: `did:example:holder${i}`,
      data: { n: i },
      ...extra,
    })),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.operations.map((op: any) => op.result.response) as any[];
}

const verify = async (jwt: string) => (await api("PUT", "/v1/credentials/verification", { credentialJwt: jwt })).body;

describe("custodial revocation and suspension", () => {
  it("revokes, suspends and unsuspends; the published lists show exactly the set bits", async () => {
    const issuer = await custodialIssuer();
    const revocable = await issue(issuer, { revocable: true }, 3);
    const suspendable = await issue(issuer, { suspendable: true }, 3);
    const plain = (await issue(issuer, {}, 1))[0];

    // Status entries: one list per purpose, distinct indexes, the entry's id is <list>#<index>.
    const r = revocable.map(statusEntryOf);
    const s = suspendable.map(statusEntryOf);
    for (const e of [...r, ...s]) {
      expect(e.entry).toEqual({
        id: `${e.url}#${e.index}`,
        type: "BitstringStatusListEntry",
        statusPurpose: e.purpose,
        statusListIndex: String(e.index),
        statusListCredential: e.url,
      });
      expect(e.url).toMatch(/^http:\/\/ssi\.test\/v1\/credentials\/status\/[0-9a-f]{64}\.[0-9a-f-]{36}$/);
    }
    expect(new Set(r.map((e) => e.url)).size).toBe(1);
    expect(new Set(s.map((e) => e.url)).size).toBe(1);
    expect(r[0]!.url).not.toBe(s[0]!.url);
    expect(r.every((e) => e.purpose === "revocation") && s.every((e) => e.purpose === "suspension")).toBe(true);
    expect(new Set(r.map((e) => e.index)).size).toBe(3);
    expect(plain.credential.credentialStatus).toBeUndefined();
    expect(revocable[0].credential["@context"]).toContain("https://www.w3.org/ns/credentials/status/v1");

    // Each new list was signed at once, empty.
    const firstR = await published(r[0]!.url);
    expect(firstR.bits).toEqual([]);
    expect(firstR.credential).toMatchObject({
      "@context": ["https://www.w3.org/2018/credentials/v1", "https://www.w3.org/ns/credentials/status/v1"],
      id: r[0]!.url,
      type: ["VerifiableCredential", "BitstringStatusListCredential"],
      issuer: issuer.did,
      credentialSubject: { id: `${r[0]!.url}#list`, type: "BitstringStatusList", statusPurpose: "revocation", ttl: 300000 },
    });
    expect((await published(s[0]!.url)).bits).toEqual([]);
    expect(await verify(revocable[0].credentialJwt)).toEqual({ verified: true });

    expect((await api("GET", `/v1/credentials/${revocable[0].id}/status`)).body).toEqual({ revoked: false, suspended: false });

    // Revoke: done at once, through a signed status-list job.
    const revoked = await api("PUT", `/v1/credentials/${revocable[0].id}/status`, { revoked: true });
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    expect(revoked.body).toMatchObject({ revoked: true, suspended: false, operation: { done: true } });
    expect(revoked.body.operation.result.response).toMatchObject({ id: r[0]!.url.split("/").pop(), statusListCredential: r[0]!.url });
    const job = await api("GET", `/v1/signjobs/${revoked.body.operation.signJobs[0]}`);
    expect(job.body).toMatchObject({ kind: "status-list", status: "signed" });
    expect((await published(r[0]!.url)).bits).toEqual([r[0]!.index]);
    expect((await api("GET", `/v1/credentials/${revocable[0].id}/status`)).body).toEqual({ revoked: true, suspended: false });
    expect((await api("GET", `/v1/credentials/${revocable[0].id}`)).body).toMatchObject({ revoked: true, suspended: false });
    const v = await verify(revocable[0].credentialJwt);
    expect(v.verified).toBe(false);
    expect(v.reason).toMatch(/revoked/);
    expect(await verify(revocable[1].credentialJwt)).toEqual({ verified: true });

    // Revoking again changes nothing; un-revoking is refused; wrong purposes are refused.
    const again = await api("PUT", `/v1/credentials/${revocable[0].id}/status`, { revoked: true });
    expect(again.body).toEqual({ revoked: true, suspended: false });
    const unrevoke = await api("PUT", `/v1/credentials/${revocable[0].id}/status`, { revoked: false });
    expect(unrevoke.status).toBe(409);
    expect(unrevoke.body.code).toBe("revocation_permanent");
    expect(unrevoke.headers.get("content-type")).toBe("application/problem+json");
    const suspendRevocable = await api("PUT", `/v1/credentials/${revocable[1].id}/status`, { suspended: true });
    expect(suspendRevocable.status).toBe(409);
    expect(suspendRevocable.body.code).toBe("status_not_enabled");
    expect((await api("PUT", `/v1/credentials/${suspendable[0].id}/status`, { revoked: true })).body.code).toBe("status_not_enabled");
    expect((await api("PUT", `/v1/credentials/${plain.id}/status`, { revoked: true })).body.code).toBe("status_not_enabled");
    expect((await api("PUT", `/v1/credentials/${plain.id}/status`, { revoked: false, suspended: false })).body).toEqual({
      revoked: false,
      suspended: false,
    });
    const unknown = await api("PUT", "/v1/credentials/00000000-0000-0000-0000-000000000000/status", { revoked: true });
    expect(unknown.status).toBe(404);
    expect((await api("GET", "/v1/credentials/00000000-0000-0000-0000-000000000000/status")).status).toBe(404);
    expect((await api("PUT", `/v1/credentials/${plain.id}/status`, { revoked: "yes" })).status).toBe(400);
    expect((await api("PUT", `/v1/credentials/${plain.id}/status`, { revoked: true, extra: 1 })).status).toBe(400);
    expect((await published(r[0]!.url)).bits).toEqual([r[0]!.index]);

    // Suspend two, then unsuspend one: only that bit moves; the revocation list is untouched.
    for (const c of suspendable.slice(0, 2)) {
      expect((await api("PUT", `/v1/credentials/${c.id}/status`, { suspended: true })).body).toMatchObject({ suspended: true });
    }
    expect((await published(s[0]!.url)).bits).toEqual(sorted([s[0]!.index, s[1]!.index]));
    const sv = await verify(suspendable[0].credentialJwt);
    expect(sv.verified).toBe(false);
    expect(sv.reason).toMatch(/suspended/);
    const unsuspended = await api("PUT", `/v1/credentials/${suspendable[0].id}/status`, { suspended: false });
    expect(unsuspended.body).toMatchObject({ revoked: false, suspended: false, operation: { done: true } });
    expect((await published(s[0]!.url)).bits).toEqual([s[1]!.index]);
    expect((await published(r[0]!.url)).bits).toEqual([r[0]!.index]);
    expect(await verify(suspendable[0].credentialJwt)).toEqual({ verified: true });
    expect((await verify(suspendable[1].credentialJwt)).reason).toMatch(/suspended/);

    // Batch: both purposes, one issuer call, one job per changed list, per-request results.
    const batch = await api("PUT", "/v1/credentials/status/batch", {
      requests: [
        { id: revocable[1].id, revoked: true },
        { id: suspendable[2].id, suspended: true },
        { id: "no-such-credential", revoked: true },
        { id: revocable[0].id, revoked: false },
        { id: suspendable[1].id, suspended: false },
      ],
    });
    expect(batch.status, JSON.stringify(batch.body)).toBe(200);
    const [b0, b1, b2, b3, b4] = batch.body.results;
    expect(b0).toMatchObject({ id: revocable[1].id, revoked: true, suspended: false });
    expect(b1).toMatchObject({ id: suspendable[2].id, revoked: false, suspended: true });
    expect(b2).toMatchObject({ id: "no-such-credential", code: "not_found" });
    expect(b3).toMatchObject({ id: revocable[0].id, revoked: true, code: "revocation_permanent" });
    expect(b4).toMatchObject({ id: suspendable[1].id, suspended: false });
    expect(batch.body.operations).toHaveLength(2);
    expect(batch.body.operations.every((op: any) => op.done)).toBe(true);
    expect(b0.operationId).not.toBe(b1.operationId);
    expect(b1.operationId).toBe(b4.operationId);
    expect((await published(r[0]!.url)).bits).toEqual(sorted([r[0]!.index, r[1]!.index]));
    expect((await published(s[0]!.url)).bits).toEqual([s[2]!.index]);
    expect((await api("GET", `/v1/credentials/${suspendable[2].id}`)).body).toMatchObject({ suspended: true });
    expect((await api("PUT", "/v1/credentials/status/batch", { requests: [] })).status).toBe(400);
  });

  it("serves the list with Cache-Control from its ttl, an ETag, 304, and the JWT when asked", async () => {
    const issuer = await custodialIssuer();
    const [c] = await issue(issuer, { revocable: true }, 1);
    const { url } = statusEntryOf(c);
    const path = new URL(url).pathname;

    const json = await api("GET", path, undefined, { auth: null });
    expect(json.status).toBe(200);
    expect(json.headers.get("content-type")).toMatch(/^application\/json/);
    expect(json.headers.get("cache-control")).toBe("public, max-age=300");
    expect(listCredentialOf(json.body.credentialJwt).credentialSubject.ttl).toBe(300_000);
    expect(json.body.id).toBe(path.split("/").pop());
    const etag = json.headers.get("etag")!;
    expect(etag).toMatch(/^".+"$/);
    const notModified = await api("GET", path, undefined, { auth: null, headers: { "if-none-match": etag } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get("cache-control")).toBe("public, max-age=300");

    const jwt = await api("GET", path, undefined, { auth: null, headers: { accept: "application/vc+jwt" } });
    expect(jwt.status).toBe(200);
    expect(jwt.headers.get("content-type")).toBe("application/vc+jwt");
    expect(jwt.body).toBe(json.body.credentialJwt);
    expect(jwt.headers.get("etag")).not.toBe(etag);
    const plainJwt = await api("GET", path, undefined, { auth: null, headers: { accept: "application/jwt" } });
    expect(plainJwt.body).toBe(json.body.credentialJwt);

    // A change publishes a new revision: a new ETag, so the old one no longer matches.
    await api("PUT", `/v1/credentials/${c.id}/status`, { revoked: true });
    const changed = await api("GET", path, undefined, { auth: null, headers: { "if-none-match": etag } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).not.toBe(etag);

    const missing = await api("GET", "/v1/credentials/status/00000000-0000-0000-0000-000000000000", undefined, { auth: null });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe("not_found");
    // The status API itself needs auth; the list does not.
    expect((await api("GET", `/v1/credentials/${c.id}/status`, undefined, { auth: null })).status).toBe(401);
  });

  it("vc+jwt credentials point at a VC 2.0 list of their own", async () => {
    const issuer = await custodialIssuer();
    const [v1] = await issue(issuer, { revocable: true }, 1);
    const [v2] = await issue(issuer, { revocable: true, format: "vc+jwt" }, 1);
    expect(statusEntryOf(v2).url).not.toBe(statusEntryOf(v1).url);
    const list = await published(statusEntryOf(v2).url);
    expect(list.credential["@context"]).toEqual(["https://www.w3.org/ns/credentials/v2"]);
    expect(list.credential.vc).toBeUndefined();
    expect(list.credential.validFrom).toBeDefined();
    expect(await verify(v2.credentialJwt)).toEqual({ verified: true });
    await api("PUT", `/v1/credentials/${v2.id}/status`, { revoked: true });
    expect((await published(statusEntryOf(v2).url)).bits).toEqual([statusEntryOf(v2).index]);
    expect((await verify(v2.credentialJwt)).reason).toMatch(/revoked/);
    expect(await verify(v1.credentialJwt)).toEqual({ verified: true });
  });
});
