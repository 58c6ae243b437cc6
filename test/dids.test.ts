import { base64url } from "jose";
import { describe, expect, it } from "vitest";
import { KEY_TYPES, errorPaths, expectNoPrivateMaterial, expectProblem, externalJwk, type KeyType } from "./support/contract";
import { api, enc } from "./support/api";

const DID_KEY_PREFIX: Record<KeyType, string> = { Ed25519: "did:key:z6Mk", secp256k1: "did:key:zQ3s", "P-256": "did:key:zDn" };
const KTY: Record<KeyType, string> = { Ed25519: "OKP", secp256k1: "EC", "P-256": "EC" };
let webCounter = 0;
const PRIVATE_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"; // RFC 8037 example

/** The request body for a DID of this method; did:web gets a fresh path on the test host. */
async function createBody(method: string, keyType: KeyType, custody: "custodial" | "external") {
  return {
    keyType,
    ...(custody === "external" ? { custody, publicKeyJwk: await externalJwk(keyType), keyRef: `kms:${keyType}` } : {}),
    ...(method === "web" ? { options: { didWebId: `did:web:ssi.test:create:${custody}:${++webCounter}` } } : {}),
  };
}

function expectDocument(doc: any, did: string) {
  const vm = doc.verificationMethod[0];
  expect(doc).toEqual({
    "@context": expect.arrayContaining(["https://www.w3.org/ns/did/v1"]),
    id: did,
    verificationMethod: [{ id: vm.id, type: "JsonWebKey2020", controller: did, publicKeyJwk: vm.publicKeyJwk }],
    authentication: [vm.id],
    assertionMethod: [vm.id],
    capabilityInvocation: [vm.id],
    capabilityDelegation: [vm.id],
  });
  expect(vm.id.startsWith(`${did}#`)).toBe(true);
}

describe("PUT /v1/dids/{method}", () => {
  for (const method of ["key", "jwk", "web"]) {
    for (const keyType of KEY_TYPES) {
      for (const custody of ["custodial", "external"] as const) {
        it(`creates a ${custody} did:${method} with a ${keyType} key`, async () => {
          const body = await createBody(method, keyType, custody);
          const res = await api("PUT", `/v1/dids/${method}`, body);
          expect(res.status, JSON.stringify(res.body)).toBe(201);
          expect(res.headers.get("content-type")).toMatch(/^application\/json/);
          expect(Object.keys(res.body)).toEqual(["did"]);
          const doc = res.body.did;
          expectDocument(doc, doc.id);
          expectNoPrivateMaterial(res.body);
          const vm = doc.verificationMethod[0];
          expect(vm.publicKeyJwk).toMatchObject({ kty: KTY[keyType], crv: keyType });
          if (custody === "external") expect(vm.publicKeyJwk).toEqual(body.publicKeyJwk);

          if (method === "key") {
            expect(doc.id.startsWith(DID_KEY_PREFIX[keyType])).toBe(true);
            expect(vm.id).toBe(`${doc.id}#${doc.id.slice("did:key:".length)}`);
          } else if (method === "jwk") {
            const decoded = JSON.parse(new TextDecoder().decode(base64url.decode(doc.id.slice("did:jwk:".length))));
            expect(decoded).toEqual(vm.publicKeyJwk);
            expect(vm.id).toBe(`${doc.id}#0`);
          } else {
            expect(doc.id).toBe(body.options!.didWebId);
          }

          const key = await api("GET", `/v1/keys/${enc(vm.id)}`);
          expect(key.status, JSON.stringify(key.body)).toBe(200);
          expect(key.body).toEqual({
            id: vm.id,
            type: keyType,
            controller: doc.id,
            custody,
            ...(custody === "external" ? { keyRef: `kms:${keyType}` } : {}),
            publicKeyJwk: vm.publicKeyJwk,
            createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
            revoked: false,
          });
          expect(Date.now() - Date.parse(key.body.createdAt)).toBeLessThan(60_000);

          const got = await api("GET", `/v1/dids/${method}/${enc(doc.id)}`);
          expect(got.status).toBe(200);
          expect(got.body).toEqual({ did: doc });
        });
      }
    }
  }

  it("accepts POST as an alias of PUT", async () => {
    const res = await api("POST", "/v1/dids/key", { keyType: "Ed25519" });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.did.id).toMatch(/^did:key:z6Mk/);
  });

  it("keeps a keyRef for custodial keys too, and custody defaults to custodial", async () => {
    const res = await api("PUT", "/v1/dids/jwk", { keyType: "P-256", keyRef: "label:signing" });
    expect(res.status).toBe(201);
    const key = await api("GET", `/v1/keys/${enc(res.body.did.verificationMethod[0].id)}`);
    expect(key.body).toMatchObject({ custody: "custodial", keyRef: "label:signing", type: "P-256" });
  });

  it("creating the same external key twice is a 409 conflict", async () => {
    const publicKeyJwk = await externalJwk("Ed25519");
    const first = await api("PUT", "/v1/dids/key", { keyType: "Ed25519", custody: "external", publicKeyJwk });
    expect(first.status).toBe(201);
    const again = await api("PUT", "/v1/dids/key", { keyType: "Ed25519", custody: "external", publicKeyJwk });
    expectProblem(again, 409, "conflict");
  });
});

describe("PUT /v1/dids/{method} validation", () => {
  const ed = () => externalJwk("Ed25519");
  const p256 = () => externalJwk("P-256");

  const cases: [string, string, () => Promise<unknown>, string, string?][] = [
    ["missing keyType", "key", async () => ({}), "keyType"],
    ["unknown keyType", "key", async () => ({ keyType: "RSA" }), "keyType"],
    ["keyType of the wrong case", "key", async () => ({ keyType: "ed25519" }), "keyType"],
    ["unknown custody", "key", async () => ({ keyType: "Ed25519", custody: "shared" }), "custody"],
    ["external without publicKeyJwk", "key", async () => ({ keyType: "Ed25519", custody: "external" }), "publicKeyJwk"],
    [
      "a JWK of the wrong curve",
      "key",
      async () => ({ keyType: "Ed25519", custody: "external", publicKeyJwk: await p256() }),
      "publicKeyJwk.kty",
      "invalid_public_key",
    ],
    [
      "a secp256k1 keyType with a P-256 JWK",
      "jwk",
      async () => ({ keyType: "secp256k1", custody: "external", publicKeyJwk: await p256() }),
      "publicKeyJwk.crv",
      "invalid_public_key",
    ],
    [
      "an off-curve point",
      "key",
      async () => {
        const jwk = await p256();
        return { keyType: "P-256", custody: "external", publicKeyJwk: { ...jwk, y: jwk.x } };
      },
      "publicKeyJwk",
      "invalid_public_key",
    ],
    [
      "a coordinate of the wrong length",
      "key",
      async () => ({ keyType: "Ed25519", custody: "external", publicKeyJwk: { kty: "OKP", crv: "Ed25519", x: "AAAA" } }),
      "publicKeyJwk.x",
      "invalid_public_key",
    ],
    [
      "a private d member",
      "key",
      async () => ({ keyType: "Ed25519", custody: "external", publicKeyJwk: { ...(await ed()), d: PRIVATE_D } }),
      "publicKeyJwk.d",
      "invalid_public_key",
    ],
    [
      "a publicKeyJwk that is not an object",
      "key",
      async () => ({ keyType: "Ed25519", custody: "external", publicKeyJwk: "abc" }),
      "publicKeyJwk",
    ],
    ["a publicKeyJwk for a custodial key", "key", async () => ({ keyType: "Ed25519", publicKeyJwk: await ed() }), "publicKeyJwk"],
    ["a malformed didWebId", "web", async () => ({ keyType: "Ed25519", options: { didWebId: "did:web:Not A Host" } }), "options.didWebId"],
    [
      "a didWebId of another method",
      "web",
      async () => ({ keyType: "Ed25519", options: { didWebId: "did:key:z6Mkabc" } }),
      "options.didWebId",
    ],
    [
      "a didWebId with a .. segment",
      "web",
      async () => ({ keyType: "Ed25519", options: { didWebId: "did:web:ssi.test:..:x" } }),
      "options.didWebId",
    ],
    [
      "a did:web under the API's /v1 path",
      "web",
      async () => ({ keyType: "Ed25519", options: { didWebId: "did:web:ssi.test:v1:x" } }),
      "options.didWebId",
    ],
    ["did:web without didWebId", "web", async () => ({ keyType: "Ed25519" }), "options.didWebId"],
    ["a didWebId on did:key", "key", async () => ({ keyType: "Ed25519", options: { didWebId: "did:web:ssi.test:x" } }), "options.didWebId"],
    ["keyType of the wrong type", "key", async () => ({ keyType: 25519 }), "keyType"],
    ["custody of the wrong type", "key", async () => ({ keyType: "Ed25519", custody: true }), "custody"],
    ["keyRef of the wrong type", "key", async () => ({ keyType: "Ed25519", keyRef: 7 }), "keyRef"],
    ["options of the wrong type", "web", async () => ({ keyType: "Ed25519", options: "did:web:ssi.test" }), "options"],
    ["an empty keyRef", "key", async () => ({ keyType: "Ed25519", keyRef: "" }), "keyRef"],
    ["a keyRef over 512 characters", "key", async () => ({ keyType: "Ed25519", keyRef: "k".repeat(513) }), "keyRef"],
    ["an unknown top-level field", "key", async () => ({ keyType: "Ed25519", controller: "did:example:x" }), "controller"],
    [
      "an unknown option",
      "web",
      async () => ({ keyType: "Ed25519", options: { didWebId: "did:web:ssi.test:o", port: 1 } }),
      "options.port",
    ],
    ["a body that is an array", "key", async () => [{ keyType: "Ed25519" }], "(body)"],
    ["a body that is null", "key", async () => null, "(body)"],
  ];

  for (const [name, method, body, path, code] of cases) {
    it(`refuses ${name} with 400 naming ${path}`, async () => {
      const res = await api("PUT", `/v1/dids/${method}`, await body());
      const problem = expectProblem(res, 400, code ?? "validation_failed");
      expect(errorPaths(res), JSON.stringify(problem)).toContain(path);
      expect(JSON.stringify(res.body)).not.toContain(PRIVATE_D);
    });
  }

  it("accepts a keyRef of exactly 512 characters", async () => {
    const res = await api("PUT", "/v1/dids/key", { keyType: "Ed25519", keyRef: "k".repeat(512) });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  });

  it("refuses an unknown method with 400 naming method", async () => {
    const res = await api("PUT", "/v1/dids/peer", { keyType: "Ed25519" });
    expectProblem(res, 400, "validation_failed");
    expect(errorPaths(res).some((p) => /(^|\.)method$/.test(p))).toBe(true);
  });

  it("refuses malformed JSON with 400 malformed_json", async () => {
    for (const raw of ["{", '{"keyType": "Ed25519",}', "keyType=Ed25519", ""]) {
      const res = await api("PUT", "/v1/dids/key", undefined, { raw });
      expectProblem(res, 400, "malformed_json");
      expect(errorPaths(res)).toEqual(["(body)"]);
    }
  });

  it("refuses a body that is not JSON with 415", async () => {
    const res = await api("PUT", "/v1/dids/key", undefined, { raw: "keyType=Ed25519", headers: { "content-type": "text/plain" } });
    expectProblem(res, 415, "unsupported_media_type");
  });

  it("lists every failing field at once", async () => {
    const res = await api("PUT", "/v1/dids/key", { keyType: "DSA", custody: "both", keyRef: 1, extra: true });
    expectProblem(res, 400, "validation_failed");
    expect(errorPaths(res)).toEqual(expect.arrayContaining(["keyType", "custody", "keyRef", "extra"]));
  });
});

describe("did:web", () => {
  it("serves a path did:web document, without auth, exactly as stored", async () => {
    const created = await api("PUT", "/v1/dids/web", { keyType: "Ed25519", options: { didWebId: "did:web:ssi.test:issuers:acme" } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const res = await api("GET", "/issuers/acme/did.json", undefined, { auth: null });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/did+json");
    expect(res.body).toEqual(created.body.did);

    const resolved = await api("GET", `/v1/dids/resolver/${enc("did:web:ssi.test:issuers:acme")}`);
    expect(resolved.status, JSON.stringify(resolved.body)).toBe(200);
    expect(resolved.body.didDocument).toEqual(created.body.did);
    expect(resolved.body.didResolutionMetadata).toMatchObject({ contentType: "application/did+json" });
    expect(resolved.body.didDocumentMetadata).toEqual(expect.any(Object));

    const duplicate = await api("PUT", "/v1/dids/web", { keyType: "P-256", options: { didWebId: "did:web:ssi.test:issuers:acme" } });
    expectProblem(duplicate, 409, "conflict");
  });

  it("serves a host-only did:web at /.well-known/did.json", async () => {
    const created = await api("PUT", "/v1/dids/web", {
      keyType: "secp256k1",
      custody: "external",
      publicKeyJwk: await externalJwk("secp256k1"),
      options: { didWebId: "did:web:ssi.test" },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const res = await api("GET", "/.well-known/did.json", undefined, { auth: null });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(created.body.did);
    expect(created.body.did.verificationMethod[0].id).toBe("did:web:ssi.test#key-1");
  });

  it("serves nothing for a path no DID lives at, and nothing for another host's DID", async () => {
    expectProblem(await api("GET", "/issuers/nobody/did.json", undefined, { auth: null }), 404, "not_found");
    const other = await api("PUT", "/v1/dids/web", { keyType: "Ed25519", options: { didWebId: "did:web:other.example:team" } });
    expect(other.status).toBe(201);
    expectProblem(await api("GET", "/team/did.json", undefined, { auth: null }), 404, "not_found");
  });

  it("resolving an unknown did:web elsewhere fails cleanly (no network in tests) with 404", async () => {
    const res = await api("GET", `/v1/dids/resolver/${enc("did:web:unknown.example:nobody")}`);
    expectProblem(res, 404, "not_found");
  });
});

describe("GET /v1/dids/resolver/{did}", () => {
  it("resolves any did:key and did:jwk locally, managed or not", async () => {
    const vector = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
    const res = await api("GET", `/v1/dids/resolver/${enc(vector)}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.didDocument.id).toBe(vector);
    expect(res.body.didDocument.verificationMethod[0]).toMatchObject({
      id: `${vector}#z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK`,
      publicKeyJwk: { kty: "OKP", crv: "Ed25519" },
    });

    const jwk = await externalJwk("P-256");
    const didJwk = `did:jwk:${base64url.encode(JSON.stringify(jwk))}`;
    const j = await api("GET", `/v1/dids/resolver/${enc(didJwk)}`);
    expect(j.status, JSON.stringify(j.body)).toBe(200);
    expect(j.body.didDocument.verificationMethod[0]).toMatchObject({ id: `${didJwk}#0`, publicKeyJwk: jwk });
  });

  it("refuses a malformed did:key and an unsupported method with 400", async () => {
    expectProblem(await api("GET", `/v1/dids/resolver/${enc("did:key:z6Mkinvalid0")}`), 400);
    expectProblem(await api("GET", `/v1/dids/resolver/${enc("did:example:123")}`), 400);
    expectProblem(await api("GET", "/v1/dids/resolver/not-a-did"), 400, "validation_failed");
  });

  it("marks a deleted managed did:key deactivated", async () => {
    const did = (await api("PUT", "/v1/dids/key", { keyType: "Ed25519" })).body.did.id;
    expect((await api("DELETE", `/v1/dids/key/${enc(did)}`)).status).toBe(204);
    const res = await api("GET", `/v1/dids/resolver/${enc(did)}`);
    expect(res.status).toBe(200);
    expect(res.body.didDocumentMetadata).toMatchObject({ deactivated: true });
  });
});

describe("reading, deleting and revoking", () => {
  it("GET /v1/dids lists the methods", async () => {
    const res = await api("GET", "/v1/dids");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ method: ["key", "jwk", "web", "ion"] });
  });

  it("GET of an unknown DID, or of a DID under the wrong method, is 404", async () => {
    expectProblem(await api("GET", `/v1/dids/key/${enc("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")}`), 404, "not_found");
    const did = (await api("PUT", "/v1/dids/jwk", { keyType: "Ed25519" })).body.did.id;
    expectProblem(await api("GET", `/v1/dids/key/${enc(did)}`), 404, "not_found");
    expectProblem(await api("GET", `/v1/keys/${enc(`${did}#1`)}`), 404, "not_found");
  });

  it("soft-deletes a DID: 204, then 404, then listed with ?deleted=true", async () => {
    const did = (await api("PUT", "/v1/dids/web", { keyType: "Ed25519", options: { didWebId: "did:web:ssi.test:issuers:gone" } })).body.did
      .id;
    expect((await api("GET", "/issuers/gone/did.json", undefined, { auth: null })).status).toBe(200);
    const del = await api("DELETE", `/v1/dids/web/${enc(did)}`);
    expect(del.status).toBe(204);
    expect(del.body).toBeNull();
    expectProblem(await api("GET", `/v1/dids/web/${enc(did)}`), 404, "not_found");
    expectProblem(await api("DELETE", `/v1/dids/web/${enc(did)}`), 404, "not_found");
    expectProblem(await api("GET", "/issuers/gone/did.json", undefined, { auth: null }), 404, "not_found");

    const live = await api("GET", "/v1/dids/web?pageSize=1000");
    expect(live.body.dids.map((d: { id: string }) => d.id)).not.toContain(did);
    const deleted = await api("GET", "/v1/dids/web?deleted=true&pageSize=1000");
    expect(deleted.status).toBe(200);
    expect(deleted.body.dids.map((d: { id: string }) => d.id)).toContain(did);
  });

  it("revokes a key: 204, then GET shows revoked and revokedAt", async () => {
    const doc = (await api("PUT", "/v1/dids/key", { keyType: "secp256k1" })).body.did;
    const id = doc.verificationMethod[0].id;
    const before = Date.now();
    const del = await api("DELETE", `/v1/keys/${enc(id)}`);
    expect(del.status, JSON.stringify(del.body)).toBe(204);
    const key = await api("GET", `/v1/keys/${enc(id)}`);
    expect(key.status).toBe(200);
    expect(key.body).toMatchObject({ id, revoked: true, revokedAt: expect.stringMatching(/Z$/) });
    expect(Date.parse(key.body.revokedAt)).toBeGreaterThanOrEqual(before - 1000);
    expectNoPrivateMaterial(key.body);
    // Revoking twice changes nothing.
    expect((await api("DELETE", `/v1/keys/${enc(id)}`)).status).toBe(204);
    expect((await api("GET", `/v1/keys/${enc(id)}`)).body.revokedAt).toBe(key.body.revokedAt);
    expectProblem(await api("DELETE", `/v1/keys/${enc(`${doc.id}#nope`)}`), 404, "not_found");
  });

  it("refuses a malformed key id with 400", async () => {
    expectProblem(await api("GET", "/v1/keys/not-a-key"), 400, "validation_failed");
  });
});
