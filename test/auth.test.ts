import { listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { base64url } from "jose";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { expectProblem } from "./support/contract";
import { api, enc } from "./support/api";
import { didAuthJwt, externalDid, externalKey, type DidAuthClaims, type ExternalKey } from "./support/keys";

interface Signer {
  did: string;
  kid: string;
  key: ExternalKey;
}

/** An external DID whose private key the test holds, like a signer next to its HSM. */
async function externalSigner(keyType: "Ed25519" | "P-256" = "Ed25519", register = true): Promise<Signer> {
  const key = await externalKey(keyType);
  if (!register) {
    // A well-formed did:jwk the service has never heard of.
    const did = `did:jwk:${base64url.encode(JSON.stringify(key.publicKeyJwk))}`;
    return { did, kid: `${did}#0`, key };
  }
  const issuer = await externalDid(key);
  return { did: issuer.did, kid: issuer.vmId, key };
}

const now = () => Math.floor(Date.now() / 1000);

/** A DID-auth JWT; every claim and header member can be overridden to break it. */
const didJwt = (s: Signer, o: Partial<DidAuthClaims> = {}) => didAuthJwt(s.key, { iss: s.did, kid: s.kid, ...o });

const jobsOf = (did: string) => `/v1/signjobs?did=${enc(did)}&status=pending`;

describe("authentication", () => {
  let alice: Signer;
  let bob: Signer;
  beforeAll(async () => {
    alice = await externalSigner("Ed25519");
    bob = await externalSigner("P-256");
  });

  describe("operator bearer tokens", () => {
    it("no Authorization header is 401", async () => {
      for (const path of [
        "/v1/dids/key",
        "/v1/dids",
        "/v1/keys/did%3Akey%3Ax%23y",
        "/v1/operations",
        "/v1/credentials",
        jobsOf("did:key:x"),
      ]) {
        expectProblem(await api("GET", path, undefined, { auth: null }), 401, "unauthorized");
      }
      expectProblem(await api("PUT", "/v1/dids/key", { keyType: "Ed25519" }, { auth: null }), 401, "unauthorized");
    });

    it("a wrong bearer token is 401", async () => {
      expectProblem(await api("GET", "/v1/dids/key", undefined, { auth: "Bearer not-the-token" }), 401, "unauthorized");
      expectProblem(await api("GET", "/v1/dids/key", undefined, { auth: "Bearer test-operator-token-and-more" }), 401, "unauthorized");
    });

    it("every configured token works, the scheme is case-insensitive", async () => {
      expect((await api("GET", "/v1/dids/key", undefined, { auth: "Bearer second-token" })).status).toBe(200);
      expect((await api("GET", "/v1/dids/key", undefined, { auth: "bearer test-operator-token" })).status).toBe(200);
    });

    it("malformed Authorization headers are 401", async () => {
      for (const auth of [
        "Bearer",
        "test-operator-token",
        "Bearer  ",
        "Bearer a b",
        "Basic dGVzdDp0ZXN0",
        "Token test-operator-token",
        "DID",
        "DID not-a-jwt",
        "DID a.b.c",
        "DID e30.e30.e30",
      ]) {
        const res = await api("GET", "/v1/dids/key", undefined, { auth });
        expectProblem(res, 401, "unauthorized");
      }
    });
  });

  describe("DID-auth JWTs", () => {
    it("a valid token reaches its own DID's sign jobs", async () => {
      const res = await api("GET", jobsOf(alice.did), undefined, { auth: `DID ${await didJwt(alice)}` });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toEqual({ signJobs: [] });
      // ES256 works the same way.
      const b = await api("GET", jobsOf(bob.did), undefined, { auth: `DID ${await didJwt(bob)}` });
      expect(b.status, JSON.stringify(b.body)).toBe(200);
    });

    it("a valid token asking for another DID's sign jobs is 403", async () => {
      const res = await api("GET", jobsOf(bob.did), undefined, { auth: `DID ${await didJwt(alice)}` });
      expectProblem(res, 403, "forbidden");
      expect(JSON.stringify(res.body)).not.toContain("signJobs");
    });

    it("a valid token on an operator route is 403", async () => {
      for (const [method, path, body] of [
        ["GET", "/v1/dids/key"],
        ["GET", "/v1/dids"],
        ["GET", `/v1/keys/${enc(alice.kid)}`],
        ["GET", "/v1/operations"],
        ["PUT", "/v1/dids/key", { keyType: "Ed25519" }],
        ["DELETE", `/v1/dids/key/${enc(alice.did)}`],
      ] as [string, string, unknown?][]) {
        const res = await api(method, path, body, { auth: `DID ${await didJwt(alice)}` });
        expectProblem(res, 403, "forbidden");
      }
      // The operator still sees alice untouched.
      expect((await api("GET", `/v1/dids/key/${enc(alice.did)}`)).status).toBe(200);
    });

    // Each token is refused for its own reason, not an earlier, unrelated one; the client reads the
    // same words every time (no oracle for "key exists", "revoked", "alg"), the log the reason.
    afterEach(() => vi.restoreAllMocks());
    const refusalLogged = () => {
      const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
      return () =>
        warn.mock.calls
          .map((args) => String(args[0]))
          .filter((line) => line.includes("auth.did_refused"))
          .map((line) => JSON.parse(line).reason as string);
    };
    const refused: [string, RegExp, (s: Signer, other: Signer) => Promise<string>][] = [
      ["has expired", /expired/, (s) => didJwt(s, { iat: now() - 280, exp: now() - 120 })],
      ["names another audience", /audience/, (s) => didJwt(s, { aud: "https://elsewhere.example" })],
      ["lives longer than 300 s", /lifetime/, (s) => didJwt(s, { exp: now() + 301, iat: now() })],
      ["is issued in the future", /future/, (s) => didJwt(s, { iat: now() + 600, exp: now() + 700 })],
      ["is signed by another key", /signature/, async (s) => didJwt(s, { signer: await externalKey("Ed25519") })],
      [
        "names another DID in iss than in kid",
        /kid is not a verification method of the issuing DID/,
        async (s, other) => didJwt(s, { iss: other.did }),
      ],
      [
        "names a kid of another DID",
        /kid is not a verification method of the issuing DID/,
        async (s, other) => didJwt(s, { kid: other.kid }),
      ],
      ["names a kid that is not a key of the DID", /no key/, async (s) => didJwt(s, { kid: `${s.did}#other` })],
      ["comes from a DID the service does not know", /unknown DID/, async () => didJwt(await externalSigner("Ed25519", false))],
      ["names a DID in iss that is not a DID", /iss/, (s) => didJwt(s, { iss: "alice" })],
      ["names the key's alg wrongly", /ES256|signature/, async (s) => didJwt(s, { alg: "ES256", signer: await externalKey("P-256") })],
    ];
    for (const [name, reason, make] of refused) {
      it(`a token that ${name} is 401, with the same detail as every other refusal`, async () => {
        const jwt = await make(alice, bob);
        const reasons = refusalLogged();
        const res = await api("GET", jobsOf(alice.did), undefined, { auth: `DID ${jwt}` });
        expect(expectProblem(res, 401, "unauthorized").detail).toBe("DID-auth token refused");
        expect(reasons()).toEqual([expect.stringMatching(reason)]);
      });
    }

    it("a token of a DID the service does not know starts no issuer object", async () => {
      const stranger = await externalSigner("Ed25519", false);
      const res = await api("GET", jobsOf(stranger.did), undefined, { auth: `DID ${await didJwt(stranger)}` });
      expectProblem(res, 401, "unauthorized");
      const id = env.ISSUER.idFromName(stranger.did);
      expect((await listDurableObjectIds(env.ISSUER)).some((o) => o.equals(id))).toBe(false);
    });

    it("a token of a deleted DID is 401, like any other refusal", async () => {
      const dave = await externalSigner("Ed25519");
      expect((await api("GET", jobsOf(dave.did), undefined, { auth: `DID ${await didJwt(dave)}` })).status).toBe(200);
      expect((await api("DELETE", `/v1/dids/key/${enc(dave.did)}`)).status).toBe(204);
      const reasons = refusalLogged();
      const res = await api("GET", jobsOf(dave.did), undefined, { auth: `DID ${await didJwt(dave)}` });
      expect(expectProblem(res, 401, "unauthorized").detail).toBe("DID-auth token refused");
      expect(reasons()).toEqual([expect.stringMatching(/deleted/)]);
    });

    it("a replayed jti is 401, even in another token", async () => {
      const jwt = await didJwt(alice);
      expect((await api("GET", jobsOf(alice.did), undefined, { auth: `DID ${jwt}` })).status).toBe(200);
      expectProblem(await api("GET", jobsOf(alice.did), undefined, { auth: `DID ${jwt}` }), 401, "unauthorized");
      const jti = crypto.randomUUID();
      expect((await api("GET", jobsOf(alice.did), undefined, { auth: `DID ${await didJwt(alice, { jti })}` })).status).toBe(200);
      expectProblem(await api("GET", jobsOf(alice.did), undefined, { auth: `DID ${await didJwt(alice, { jti })}` }), 401, "unauthorized");
    });

    it("a token of a revoked key is 401, like any other refusal", async () => {
      const carol = await externalSigner("Ed25519");
      expect((await api("DELETE", `/v1/keys/${enc(carol.kid)}`)).status).toBe(204);
      const res = await api("GET", jobsOf(carol.did), undefined, { auth: `DID ${await didJwt(carol)}` });
      expect(expectProblem(res, 401, "unauthorized").detail).toBe("DID-auth token refused");
    });
  });

  describe("Upgrade: websocket is no way around authentication", () => {
    // Only GET /v1/signjobs/connect may authenticate after the upgrade (with its first message).
    it("every other /v1 route answers 401 to an upgrade request without Authorization", async () => {
      const upgrade = { auth: null, headers: { Upgrade: "websocket" } };
      const jobId = `${"0".repeat(64)}.AAAAAAAAAAAAAAAA`;
      for (const [method, path, body] of [
        ["GET", jobsOf(alice.did)],
        ["PUT", "/v1/signjobs", { signatures: [{ id: jobId, signature: "AAAA" }] }],
        ["PUT", "/v1/signjobs", { id: jobId, signature: "AAAA" }],
        ["GET", `/v1/signjobs/${jobId}`],
        ["PUT", `/v1/signjobs/${jobId}/reject`, { reason: "no" }],
        ["GET", "/v1/dids/key"],
        ["PUT", "/v1/dids/key", { keyType: "Ed25519" }],
        ["GET", "/v1/operations"],
        ["GET", "/v1/credentials"],
        ["GET", "/v1/signjobs/connect/"],
      ] as [string, string, unknown?][]) {
        const res = await api(method, path, body, upgrade);
        expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(401);
        expectProblem(res, 401, "unauthorized");
      }
    });
  });

  describe("public routes need no auth", () => {
    for (const path of ["/health", "/readiness", "/openapi.json", "/docs"]) {
      it(`GET ${path}`, async () => {
        expect((await api("GET", path, undefined, { auth: null })).status).toBe(200);
      });
    }
    it("an invalid Authorization header does not break public routes", async () => {
      expect((await api("GET", "/health", undefined, { auth: "Bearer nope" })).status).toBe(200);
    });
  });
});
