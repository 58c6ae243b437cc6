import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { base64url } from "jose";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { parseKek, unwrapPrivateKey } from "../src/crypto";
import { KEY_TYPES, expectNoPrivateMaterial, expectProblem, externalJwk, type KeyType } from "./support/contract";
import { ORIGIN, TOKEN, api, enc } from "./support/api";

/** Calls the Worker's fetch handler directly with a modified environment. */
async function fetchWith(overrides: Partial<Env>, method: string, path: string, body?: unknown) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`${ORIGIN}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    }),
    { ...env, ...overrides } as Env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

describe("service endpoints", () => {
  it("GET /health", async () => {
    const res = await api("GET", "/health", undefined, { auth: null });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "OK" });
  });

  it("GET /readiness checks D1 and the configuration", async () => {
    const res = await api("GET", "/readiness", undefined, { auth: null });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      status: "ready",
      checks: { d1: { ok: true }, keyEncryption: { ok: true }, apiTokens: { ok: true }, deadLetters: { ok: true, count: 0 } },
    });
  });

  it("GET /readiness is 503 when D1 does not answer, without echoing D1's error text", async () => {
    const broken = {
      prepare: () => {
        throw new Error("D1_ERROR: no such table: dids (internal path /var/db/secret-shard-7)");
      },
    } as unknown as D1Database;
    const res = await fetchWith({ DB: broken }, "GET", "/readiness");
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ status: "not_ready", checks: { d1: { ok: false, detail: expect.stringContaining("D1") } } });
    expect(JSON.stringify(res.body)).not.toMatch(/no such table|secret-shard|D1_ERROR/);
  });

  it("GET /readiness probes D1 with a read of at most one row, however many DIDs exist", async () => {
    for (let i = 0; i < 3; i++) expect((await api("PUT", "/v1/dids/key", { keyType: "Ed25519" })).status).toBe(201);
    const statements: string[] = [];
    const recording = new Proxy(env.DB, {
      get: (target, prop) =>
        prop === "prepare"
          ? (sql: string) => {
              statements.push(sql);
              return target.prepare(sql);
            }
          : Reflect.get(target, prop, target),
    });
    expect((await fetchWith({ DB: recording }, "GET", "/readiness")).status).toBe(200);
    expect(statements.length).toBeGreaterThan(0);
    for (const sql of statements) {
      const { meta } = await env.DB.prepare(sql).all();
      expect(meta.rows_read, sql).toBeLessThanOrEqual(1);
    }
  });

  for (const [name, kek] of [
    ["not base64url", "not*base64url*at*all*but*long*enough*to*look*like*a*key"],
    ["16 bytes", base64url.encode(new Uint8Array(16))],
    ["33 bytes", base64url.encode(new Uint8Array(33).fill(7))],
    ["padded base64", `${btoa(String.fromCharCode(...new Uint8Array(32).fill(9)))}`],
  ] as const) {
    it(`GET /readiness is 503 for a KEY_ENCRYPTION_KEY that is set but malformed (${name}), and does not echo it`, async () => {
      const res = await fetchWith({ KEY_ENCRYPTION_KEY: kek }, "GET", "/readiness");
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({
        status: "not_ready",
        checks: { keyEncryption: { ok: false, detail: expect.stringMatching(/32 bytes/) } },
      });
      expect(JSON.stringify(res.body)).not.toContain(kek);
    });
  }

  it("GET /openapi.json is OpenAPI 3.1 with the main paths", async () => {
    const res = await api("GET", "/openapi.json", undefined, { auth: null });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.body.openapi).toMatch(/^3\.1\./);
    expect(res.body.info).toMatchObject({ title: "ssi-edge", version: expect.any(String) });
    const paths = Object.keys(res.body.paths);
    for (const path of [
      "/v1/dids/{method}",
      "/v1/dids/{method}/{did}",
      "/v1/dids/resolver/{did}",
      "/v1/keys/{id}",
      "/v1/credentials",
      "/v1/signjobs",
      "/v1/operations/{id}",
      "/health",
    ]) {
      expect(paths).toContain(path);
    }
    // Generated from the same schemas that validate requests.
    const put = res.body.paths["/v1/dids/{method}"].put;
    expect(put.requestBody.content["application/json"].schema).toBeDefined();
    expect(res.body.components.schemas.CreateDidRequest.properties.keyType.enum).toEqual(["Ed25519", "secp256k1", "P-256"]);
    expect(res.body.components.securitySchemes).toHaveProperty("bearer");
  });

  it("an unknown route is a 404 problem", async () => {
    expectProblem(await api("GET", "/v1/nothing-here"), 404, "not_found");
    expectProblem(await api("GET", "/nothing-here", undefined, { auth: null }), 404, "not_found");
    expectProblem(await api("PATCH", "/v1/dids/key"), 404, "not_found");
  });

  it("a body over 1 MiB is a 413 problem", async () => {
    const raw = JSON.stringify({ keyType: "Ed25519", pad: "x".repeat(1024 * 1024) });
    expectProblem(await api("PUT", "/v1/dids/key", undefined, { raw }), 413, "payload_too_large");
    // Just under the limit is read, then refused for what it says.
    const under = JSON.stringify({ keyType: "Ed25519", pad: "x".repeat(1024 * 1024 - 64) });
    expectProblem(await api("PUT", "/v1/dids/key", undefined, { raw: under }), 400, "validation_failed");
  });

  it("odd input is a 4xx problem, never a 500", async () => {
    const b64 = (s: string) => base64url.encode(s);
    const requests: [string, string, unknown?, { raw?: string; auth?: null }?][] = [
      ["GET", "/%E0%A4%A/did.json", undefined, { auth: null }],
      ["GET", "/a%2F..%2Fb/did.json", undefined, { auth: null }],
      ["GET", "/v1/dids/key/%E0%A4%A"],
      ["GET", "/v1/keys/%E0%A4%A"],
      ["GET", "/v1/operations/%E0%A4%A"],
      ["GET", "/v1/dids/resolver/%E0%A4%A"],
      ["GET", `/v1/dids/resolver/${enc("did:jwk:eyJ")}`],
      ["GET", `/v1/dids/resolver/${enc("did:web:localhost%3A1")}`],
      ["GET", "/v1/dids/key?pageSize=99999999999999999999"],
      ["GET", "/v1/dids/key?pageSize=2&pageSize=3"],
      ["GET", `/v1/dids/key?pageToken=${b64('[1e400,"x"]')}`],
      ["GET", `/v1/dids/key?pageToken=${b64("{}")}`],
      ["DELETE", `/v1/dids/key/${enc(`did:key:${"z".repeat(3000)}`)}`],
      ["PUT", "/v1/dids/web", { keyType: "Ed25519", options: { didWebId: `did:web:${"a".repeat(600)}.com` } }],
      ["PUT", "/v1/dids/key", { keyType: "Ed25519", custody: "external", publicKeyJwk: { kty: "OKP", crv: "Ed25519", x: "A".repeat(43) } }],
      ["PUT", "/v1/dids/key", undefined, { raw: '{"keyType":"Ed25519","__proto__":{"custody":"external"}}' }],
      ["PUT", "/v1/dids/key", undefined, { raw: '"\\ud800"' }],
      ["PUT", "/v1/dids/key", undefined, { raw: "[".repeat(5000) }],
      ["GET", "/v1/signjobs"],
      ["GET", "/v1/signjobs?did=x"],
    ];
    for (const [method, path, body, opts] of requests) {
      const res = await api(method, path, body, opts);
      expect(res.status, `${method} ${path} ${JSON.stringify(res.body)}`).toBeLessThan(500);
      if (res.status >= 400) expectProblem(res, res.status);
    }
  });

  it("every response carries a request id", async () => {
    const res = await api("GET", "/health", undefined, { auth: null });
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });
});

describe("GET /docs", () => {
  it("serves an HTML page that loads Swagger UI from this service only", async () => {
    const res = await api("GET", "/docs", undefined, { auth: null });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = res.body as string;
    const srcs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(srcs.some((s) => s.startsWith("/docs/swagger-ui-bundle.js"))).toBe(true);
    expect(srcs.some((s) => s.startsWith("/docs/swagger-ui.css"))).toBe(true);
    expect(srcs.every((s) => s.startsWith("/"))).toBe(true); // no CDN
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");

    for (const src of srcs) {
      const asset = await api("GET", src, undefined, { auth: null });
      expect(asset.status, src).toBe(200);
      expect(asset.headers.get("cache-control")).toMatch(/max-age=31536000/);
    }
    const init = await api(
      "GET",
      srcs.find((s) => s.includes("initializer"))!,
      undefined,
      { auth: null },
    );
    expect(init.body).toContain("/openapi.json");
  });

  it("serves the bundled Swagger UI script and stylesheet with their content types", async () => {
    const js = await api("GET", "/docs/swagger-ui-bundle.js", undefined, { auth: null });
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toMatch(/^text\/javascript/);
    expect((js.body as string).length).toBeGreaterThan(1_000_000);
    expect(js.body as string).toContain("SwaggerUIBundle");
    const css = await api("GET", "/docs/swagger-ui.css", undefined, { auth: null });
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toMatch(/^text\/css/);
    expect(css.body as string).toContain(".swagger-ui");
  });
});

describe("private keys", () => {
  const publicOf: Record<KeyType, (sk: Uint8Array) => Uint8Array> = {
    Ed25519: (sk) => ed25519.getPublicKey(sk),
    secp256k1: (sk) => secp256k1.getPublicKey(sk, false).slice(1, 33),
    "P-256": (sk) => p256.getPublicKey(sk, false).slice(1, 33),
  };

  for (const keyType of KEY_TYPES) {
    it(`a custodial ${keyType} key never leaves the service, and D1 holds it only encrypted`, async () => {
      const created = await api("PUT", "/v1/dids/jwk", { keyType });
      expect(created.status).toBe(201);
      const doc = created.body.did;
      const vmId: string = doc.verificationMethod[0].id;
      const reads = [
        created,
        await api("GET", `/v1/dids/jwk/${enc(doc.id)}`),
        await api("GET", `/v1/keys/${enc(vmId)}`),
        await api("GET", "/v1/dids/jwk?pageSize=1000"),
        await api("GET", `/v1/dids/resolver/${enc(doc.id)}`),
      ];
      for (const r of reads) {
        expect(r.status).toBe(200 + (r === created ? 1 : 0));
        expectNoPrivateMaterial(r.body);
      }

      const row = await env.DB.prepare("SELECT * FROM keys WHERE id = ?").bind(vmId).first<Record<string, unknown>>();
      const wrapped = row!.encrypted_private_key as string;
      expect(wrapped).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{64}$/); // 12-byte IV; 32-byte key + 16-byte tag

      const kek = parseKek(env.KEY_ENCRYPTION_KEY)!;
      const sk = await unwrapPrivateKey(kek, vmId, wrapped);
      expect(sk).toHaveLength(32);
      // It is this DID's key...
      expect(base64url.encode(publicOf[keyType](sk))).toBe(doc.verificationMethod[0].publicKeyJwk.x);
      // ...and no column of the row holds it in any usual encoding.
      const rowText = JSON.stringify(row);
      for (const encoding of [bytesToHex(sk), bytesToHex(sk).toUpperCase(), base64url.encode(sk), btoa(String.fromCharCode(...sk))]) {
        expect(rowText).not.toContain(encoding);
        for (const r of reads) expect(JSON.stringify(r.body)).not.toContain(encoding);
      }
      // It opens only with the KEK and under its own key id.
      await expect(unwrapPrivateKey(kek, `${doc.id}#1`, wrapped)).rejects.toThrow(/authentication failed/);
      await expect(unwrapPrivateKey(crypto.getRandomValues(new Uint8Array(32)), vmId, wrapped)).rejects.toThrow(/authentication failed/);
    });
  }

  it("an external key stores no private material at all", async () => {
    const created = await api("PUT", "/v1/dids/key", {
      keyType: "Ed25519",
      custody: "external",
      publicKeyJwk: await externalJwk("Ed25519"),
    });
    const row = await env.DB.prepare("SELECT encrypted_private_key FROM keys WHERE id = ?")
      .bind(created.body.did.verificationMethod[0].id)
      .first<{ encrypted_private_key: string | null }>();
    expect(row).toEqual({ encrypted_private_key: null });
  });

  it("no stored key row holds plaintext private material", async () => {
    const rows = (await env.DB.prepare("SELECT encrypted_private_key AS k FROM keys").all<{ k: string | null }>()).results;
    expect(rows.length).toBeGreaterThan(3);
    for (const { k } of rows) if (k !== null) expect(k).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  });
});

describe("without KEY_ENCRYPTION_KEY", () => {
  for (const kek of [undefined, "", "too-short", base64url.encode(new Uint8Array(16))]) {
    it(`custodial DIDs are refused with a clear problem (KEK ${JSON.stringify(kek)}), external DIDs work`, async () => {
      const custodial = await fetchWith({ KEY_ENCRYPTION_KEY: kek }, "PUT", "/v1/dids/key", { keyType: "Ed25519" });
      expect(custodial.status).toBe(503);
      expect(custodial.headers.get("content-type")).toBe("application/problem+json");
      expect(custodial.body).toMatchObject({
        status: 503,
        code: "custody_unavailable",
        detail: expect.stringContaining("KEY_ENCRYPTION_KEY"),
      });

      const external = await fetchWith({ KEY_ENCRYPTION_KEY: kek }, "PUT", "/v1/dids/key", {
        keyType: "P-256",
        custody: "external",
        publicKeyJwk: await externalJwk("P-256"),
      });
      expect(external.status, JSON.stringify(external.body)).toBe(201);
      expect(external.body.did.id).toMatch(/^did:key:zDn/);
    });
  }
});
