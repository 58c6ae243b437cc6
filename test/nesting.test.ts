import { env } from "cloudflare:workers";
import { base64url } from "jose";
import { describe, expect, it } from "vitest";
import { MAX_DOCUMENT_DEPTH, findTooDeep, findTooDeepInText, pathTooDeep } from "../src/core/json-depth";
import { errorPaths, expectProblem } from "./support/contract";
import { api } from "./support/api";
import { connected, externalIssuer } from "./signer-socket/client";
import { externalKey } from "./support/keys";

/** `levels` objects nested in one another under the key `a`, innermost holding 1: `{"a":{"a":1}}` is 2 levels. */
function nestedText(levels: number): string {
  return `${'{"a":'.repeat(levels - 1)}{"a":1}${"}".repeat(levels - 1)}`;
}
const nested = (levels: number): unknown => JSON.parse(nestedText(levels));

async function custodialIssuer() {
  const res = await api("PUT", "/v1/dids/key", { keyType: "Ed25519" });
  expect(res.status).toBe(201);
  return { did: res.body.did.id as string, vm: res.body.did.verificationMethod[0].id as string };
}

const credentialRows = async () => (await env.DB.prepare("SELECT count(*) AS n FROM credential_index").first<{ n: number }>())!.n;

describe("JSON nesting limits (api.md Conventions: free-form JSON deeper than 32 levels is 400)", () => {
  it("6,000 levels in data is a 400 naming data, not a 500, and creates nothing", async () => {
    const { did, vm } = await custodialIssuer();
    const before = await credentialRows();
    const raw = `{"issuer":"${did}","verificationMethodId":"${vm}","subject":"did:example:1","data":${nestedText(6000)}}`;
    expect(raw.length).toBeLessThan(40_000);
    const res = await api("PUT", "/v1/credentials", undefined, { raw });
    expectProblem(res, 400, "validation_failed");
    expect(errorPaths(res)[0]).toMatch(/^data\.a\.a/);
    expect(await credentialRows()).toBe(before);
  });

  it("data, evidence and @context are free-form up to 32 levels, and refused at 33 naming the member", async () => {
    const { did, vm } = await custodialIssuer();
    const base = { issuer: did, verificationMethodId: vm, subject: "did:example:1" };
    const ok = await api("PUT", "/v1/credentials", { ...base, data: nested(32), evidence: [nested(32)] });
    expect(ok.status, JSON.stringify(ok.body).slice(0, 300)).toBe(201);

    const deepData = await api("PUT", "/v1/credentials", { ...base, data: nested(33) });
    expectProblem(deepData, 400, "validation_failed");
    expect(errorPaths(deepData)).toEqual([`data${".a".repeat(32)}`]);

    const deepEvidence = await api("PUT", "/v1/credentials", { ...base, data: {}, evidence: [{ ok: 1 }, nested(33)] });
    expectProblem(deepEvidence, 400, "validation_failed");
    expect(errorPaths(deepEvidence)[0]).toMatch(/^evidence\.1\.a/);

    const deepContext = await api("PUT", "/v1/credentials", {
      ...base,
      data: {},
      "@context": ["https://www.w3.org/2018/credentials/v1", nested(40)],
    });
    expectProblem(deepContext, 400, "validation_failed");
    expect(errorPaths(deepContext)[0]).toMatch(/^@context\.1\.a/);

    // The same member inside a batch is named with its place in the batch.
    const batch = await api("PUT", "/v1/credentials/batch", {
      requests: [
        { ...base, data: {} },
        { ...base, data: nested(33) },
      ],
    });
    expectProblem(batch, 400, "validation_failed");
    expect(errorPaths(batch)).toEqual([`requests.1.data${".a".repeat(32)}`]);
  });

  it("a deep publicKeyJwk is a 400, and arrays count as levels too", async () => {
    const res = await api("PUT", "/v1/dids/key", { keyType: "Ed25519", custody: "external", publicKeyJwk: { kty: "OKP", x: nested(40) } });
    expectProblem(res, 400, "validation_failed");
    expect(errorPaths(res)[0]).toMatch(/^publicKeyJwk\.x\.a/);
    const arrays = await api("PUT", "/v1/credentials/batch", undefined, { raw: `{"requests":${"[".repeat(100_000)}` });
    expectProblem(arrays, 400, "validation_failed");
    expect(errorPaths(arrays)[0]).toMatch(/^requests\.0\.0\.0/);
  });

  it("every JSON body is scanned before it is parsed, whatever the route", async () => {
    const deep = nestedText(10_000);
    for (const [method, path] of [
      ["PUT", "/v1/signjobs"],
      ["PUT", "/v1/credentials/verification"],
      ["PUT", "/v1/credentials/status/batch"],
      ["PUT", "/v1/dids/web"],
      ["POST", "/v1/credentials"],
    ] as const) {
      const res = await api(method, path, undefined, {
        raw: deep,
        headers: { "content-type": "application/merge-patch+json; charset=utf-8" },
      });
      expect(res.status, `${method} ${path}`).toBeLessThan(500);
      expectProblem(res, res.status);
    }
    // With the media type routes parse, the scan names where it stopped.
    const res = await api("PUT", "/v1/signjobs", undefined, { raw: deep });
    expectProblem(res, 400, "validation_failed");
    expect(errorPaths(res)[0]!.split(".")).toHaveLength(MAX_DOCUMENT_DEPTH);
  });

  it("a deep credential JWT payload is a verification failure, not a 500", async () => {
    const key = await externalKey("Ed25519");
    const header = base64url.encode(JSON.stringify({ alg: "EdDSA", typ: "JWT" }));
    const payload = base64url.encode(`{"iss":"did:example:x","vc":${nestedText(20_000)}}`);
    const sig = await key.sign(`${header}.${payload}`);
    const res = await api("PUT", "/v1/credentials/verification", { credentialJwt: `${header}.${payload}.${sig}` });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ verified: false, reason: expect.stringMatching(/nested deeper than/) });
  });

  it("a deep DID-auth token is refused as unauthorized", async () => {
    const issuer = await externalIssuer();
    const key = await externalKey("Ed25519");
    const now = Math.floor(Date.now() / 1000);
    const header = base64url.encode(JSON.stringify({ alg: "EdDSA", kid: issuer.vm, typ: "JWT" }));
    const claims = `{"iss":"${issuer.did}","aud":"http://ssi.test","iat":${now},"exp":${now + 60},"jti":"${crypto.randomUUID()}","deep":${nestedText(5000)}}`;
    const payload = base64url.encode(claims);
    const jwt = `${header}.${payload}.${await key.sign(`${header}.${payload}`)}`;
    expectProblem(
      await api("GET", `/v1/signjobs?did=${encodeURIComponent(issuer.did)}`, undefined, { auth: `DID ${jwt}` }),
      401,
      "unauthorized",
    );
  });

  it("a deep WebSocket frame is answered with a validation error and the socket stays open", async () => {
    const issuer = await externalIssuer();
    const { client } = await connected(issuer);
    client.send(`{"type":"sign","id":"x","signature":"AA","extra":${nestedText(5000)}}`);
    const error = await client.next("error");
    expect(error).toMatchObject({ code: "validation_failed", detail: expect.stringMatching(/nested deeper than 32/) });
    client.send("ping");
    expect(await client.next("pong")).toBe("pong");
    client.close();
  });
});

describe("depth scanners", () => {
  it("the text scan skips strings and escapes and names keys and indexes", () => {
    expect(findTooDeepInText(`{"a":"[[[[[[\\"[[[[","b":[1,{"c":[[]]}]}`, 3)).toEqual(["b", 1, "c"]);
    expect(findTooDeepInText(`{"a":"[[[[[[\\"[[[[","b":[1,{"c":[[]]}]}`, 5)).toBeNull();
    expect(findTooDeepInText(`{"k\\"ey":{"x":[[{}]]}}`, 4)).toEqual(['k\\"ey', "x", 0, 0]);
    expect(findTooDeepInText("[".repeat(1_000_000), 64)).toHaveLength(64);
  });

  it("the depth count that runs first agrees with the path-naming scan, on any text", () => {
    // Random text from the characters that matter (brackets, quotes, escapes, separators), valid or not.
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    const alphabet = ["{", "}", "[", "]", '"', "\\", "a", ",", ":"];
    for (let n = 0; n < 3000; n++) {
      const text = Array.from({ length: next() % 40 }, () => alphabet[next() % alphabet.length]).join("");
      for (const max of [1, 2, 3, 5]) expect(findTooDeepInText(text, max), `${text} at ${max}`).toEqual(pathTooDeep(text, max));
    }
  });

  it("the value walk agrees with the text scan", () => {
    for (const text of [`{"b":[1,{"c":[[]]}]}`, nestedText(5), "[[[],[[[]]]]]", '{"a":[{"b":{}}],"c":{"d":[[1]]}}']) {
      for (let max = 1; max <= 6; max++) {
        expect(findTooDeep(JSON.parse(text), max) === null, `${text} at ${max}`).toBe(findTooDeepInText(text, max) === null);
      }
    }
  });
});
