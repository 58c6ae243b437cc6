/**
 * Fuzzing every route in /openapi.json with requests generated from its own schemas, then
 * mutated the way careless and hostile clients mutate them. Deterministic (fixed seed), no
 * timing: each request is judged on its answer alone.
 *
 * For every answer: never a 5xx; every 4xx is `application/problem+json` with a `code`. For every
 * refused request: nothing changed (D1 rows and the fixture issuers' jobs, compared between
 * refusals; a success re-baselines after its writes have settled).
 */
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import fc from "fast-check";
import { base64url } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { ORIGIN, api } from "../support/api";
import { externalKey } from "../support/keys";
import { makeHolder } from "../presentations/holder";
import { type JsonSchema, type Known, type Operation, type RouteRequest, arbitraryFor, mutations, operationsOf, render } from "./generate";

const SEED = 20_261_201;
const b64 = (s: string) => base64url.encode(s);
/** Requests per route: generated from the schema, then mutated. */
const VALID_RUNS = 12;
const MUTATED_RUNS = 28;

type Snapshot = string;

/** What a refused request must not change: D1 rows and the fixture issuers' job states. */
async function snapshot(issuers: string[]): Promise<Snapshot> {
  const d1 = await env.DB.prepare(
    `SELECT
       (SELECT count(*) FROM dids) AS dids, (SELECT count(*) FROM dids WHERE deleted_at IS NOT NULL) AS deleted_dids,
       (SELECT count(*) FROM keys) AS keys, (SELECT count(*) FROM keys WHERE revoked = 1) AS revoked_keys,
       (SELECT count(*) FROM credential_index) AS credentials,
       (SELECT count(*) FROM credential_index WHERE deleted_at IS NOT NULL OR revoked = 1 OR suspended = 1) AS changed_credentials,
       (SELECT count(*) FROM credential_index WHERE state <> 0) AS done_credentials,
       (SELECT count(*) FROM operations) AS operations, (SELECT count(*) FROM operations WHERE done = 1) AS done_operations,
       (SELECT count(*) FROM status_lists) AS status_lists,
       (SELECT count(*) FROM schemas) AS schemas, (SELECT count(*) FROM schemas WHERE deleted_at IS NOT NULL) AS deleted_schemas,
       (SELECT count(*) FROM presentation_definitions) AS definitions,
       (SELECT count(*) FROM presentation_requests) AS requests, (SELECT count(*) FROM presentation_requests WHERE deleted_at IS NOT NULL) AS deleted_requests,
       (SELECT count(*) FROM presentation_submissions) AS submissions, (SELECT count(*) FROM presentation_submissions WHERE status <> 'pending') AS reviewed`,
  ).first();
  const objects = await Promise.all(
    issuers.map((did) =>
      runInDurableObject(env.ISSUER.getByName(did), (_o, state) =>
        state.storage.sql.exec("SELECT status, count(*) AS n FROM jobs GROUP BY status ORDER BY status").toArray(),
      ),
    ),
  );
  return JSON.stringify({ d1, objects });
}

/** Waits until the fixture issuers have delivered everything to D1, so a snapshot is stable. */
async function settled(issuers: string[]): Promise<Snapshot> {
  for (let i = 0; i < 500; i++) {
    const pending = await Promise.all(
      issuers.map((did) =>
        runInDurableObject(
          env.ISSUER.getByName(did),
          (_o, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n,
        ),
      ),
    );
    if (pending.every((n) => n === 0)) return snapshot(issuers);
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("the fixture issuers' outboxes never drained");
}

async function send(req: RouteRequest): Promise<{ status: number; type: string; body: string }> {
  const res = await exports.default.fetch(
    new Request(`${ORIGIN}${req.path}`, {
      method: req.method,
      headers: req.headers,
      ...(req.body !== undefined ? { body: req.body } : {}),
    }),
  );
  return { status: res.status, type: res.headers.get("content-type") ?? "", body: await res.text() };
}

function judge(req: RouteRequest, res: { status: number; type: string; body: string }): string | null {
  const what = `${req.method} ${req.path.slice(0, 300)} [${req.label}] → ${res.status} ${res.body.slice(0, 300)}`;
  if (res.status >= 500) return `5xx: ${what}`;
  if (res.status >= 400) {
    if (res.type !== "application/problem+json") return `4xx without problem+json (${res.type}): ${what}`;
    let code: unknown;
    try {
      code = (JSON.parse(res.body) as { code?: unknown }).code;
    } catch {
      return `4xx body is not JSON: ${what}`;
    }
    if (typeof code !== "string" || !/^[a-z_]+$/.test(code)) return `4xx without a code: ${what}`;
  }
  return null;
}

const stats = { requests: 0, refused: 0, byStatus: new Map<number, number>(), routes: 0 };

describe("fuzzing every route in /openapi.json", () => {
  let operations: Operation[] = [];
  let known: Known = {} as Known;
  let issuers: string[] = [];

  beforeAll(async () => {
    const spec = (await api("GET", "/openapi.json", undefined, { auth: null })).body as {
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, JsonSchema> };
    };
    operations = operationsOf(spec);

    // Values that name real things, so generated requests reach past "not found".
    const custodial = (await api("PUT", "/v1/dids/key", { keyType: "Ed25519" })).body.did;
    const key = await externalKey("Ed25519");
    const external = (await api("PUT", "/v1/dids/jwk", { keyType: "Ed25519", custody: "external", publicKeyJwk: key.publicKeyJwk })).body
      .did;
    const web = (await api("PUT", "/v1/dids/web", { keyType: "P-256", options: { didWebId: "did:web:ssi.test:fuzz" } })).body.did;
    const base = (issuer: { id: string; verificationMethod: { id: string }[] }) => ({
      issuer: issuer.id,
      verificationMethodId: issuer.verificationMethod[0]!.id,
      subject: "did:example:holder",
      data: { name: "Alice" },
    });
    const signed = await api("PUT", "/v1/credentials", { ...base(custodial), revocable: true });
    const pending = await api("PUT", "/v1/credentials", base(external));
    expect([signed.status, pending.status]).toEqual([201, 202]);
    const list = await env.DB.prepare("SELECT id FROM status_lists LIMIT 1").first<{ id: string }>();
    // A signed manifest (and its shape) so the manifest routes are reached past "not found".
    const manifestBody = (issuer: { id: string; verificationMethod: { id: string }[] }) => ({
      issuerDid: issuer.id,
      verificationMethodId: issuer.verificationMethod[0]!.id,
      format: { jwt_vc: { alg: ["EdDSA"] } },
      outputDescriptors: [{ id: "out", schema: "https://example.com/s" }],
      presentationDefinition: {
        id: "d",
        input_descriptors: [{ id: "in", constraints: { fields: [{ path: ["$.credentialSubject.name"] }] } }],
      },
    });
    const manifest = await api("PUT", "/v1/manifests", manifestBody(custodial));
    expect(manifest.status).toBe(201);
    const manifestId = manifest.body.result.response.credential_manifest.id as string;
    issuers = [custodial.id, external.id, web.id];

    // Schemas and Presentation Exchange: a schema, a definition, a request and a holder's submission.
    const schemaBody = { name: "person", schema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] } };
    const schema = (await api("PUT", "/v1/schemas", schemaBody)).body;
    const definitionBody = {
      name: "fuzz",
      inputDescriptors: [{ id: "any", constraints: { fields: [{ path: ["$.vc.credentialSubject.name"], filter: { type: "string" } }] } }],
    };
    const definition = (await api("PUT", "/v1/presentations/definitions", definitionBody)).body.presentation_definition;
    const requestBody = {
      issuerId: custodial.id,
      verificationMethodId: custodial.verificationMethod[0].id,
      presentationDefinitionId: definition.id,
    };
    const request = (await api("PUT", "/v1/presentations/requests", requestBody)).body;
    const holder = await makeHolder("Ed25519", "key");
    const vp = (credentialJwt: string) =>
      holder.present({
        verifiableCredential: [credentialJwt],
        presentation_submission: {
          id: "s",
          definition_id: definition.id,
          descriptor_map: [{ id: "any", format: "jwt_vc", path: "$.verifiableCredential[0]" }],
        },
      });
    const submissionJwt = await vp(signed.body.result.response.credentialJwt);
    const submission = (await api("PUT", "/v1/presentations/submissions", { submissionJwt })).body;
    expect([schema.id, definition.id, request.done, submission.done]).toEqual([expect.any(String), expect.any(String), true, false]);
    known = {
      did: issuers,
      issuer: issuers,
      verificationMethodId: [custodial, external, web].map((d) => d.verificationMethod[0].id),
      subject: ["did:example:holder"],
      method: ["key", "jwk", "web"],
      id: [
        signed.body.result.response.id,
        pending.body.result?.response?.id ?? pending.body.id,
        pending.body.signJobs[0],
        signed.body.id,
        pending.body.id,
        custodial.verificationMethod[0].id,
        manifestId,
        schema.id,
        definition.id,
        request.result?.response?.presentationRequest?.id,
        typeof submission.id === "string" ? submission.id.split("/").pop() : undefined,
        submission.id,
      ].filter((v): v is string => typeof v === "string"),
      listId: list ? [list.id] : [],
      credentialJwt: [signed.body.result.response.credentialJwt],
      keyType: ["Ed25519", "secp256k1", "P-256"],
      // Page tokens of both shapes the lists use: a (time, id) key and a sequence number.
      pageToken: [b64(JSON.stringify([Date.now() - 3_600_000, "a"])), b64(JSON.stringify([1]))],
      custody: ["custodial", "external"],
      "PUT /v1/credentials": [
        { ...base(custodial), revocable: true, expiry: "2099-01-01T00:00:00Z" },
        base(external),
        { ...base(custodial), format: "vc+jwt", evidence: [{ id: "e1" }] },
      ],
      "PUT /v1/credentials/batch": [{ requests: [base(custodial), base(external)] }],
      "PUT /v1/credentials/verification": [{ credentialJwt: signed.body.result.response.credentialJwt }],
      "PUT /v1/credentials/{id}/status": [{ suspended: false }, { revoked: false }],
      "PUT /v1/credentials/status/batch": [{ requests: [{ id: signed.body.result.response.id, revoked: false }] }],
      "PUT /v1/dids/{method}": [
        { keyType: "Ed25519" },
        { keyType: "P-256", custody: "external", publicKeyJwk: (await externalKey("P-256")).publicKeyJwk },
        { keyType: "secp256k1", options: { didWebId: "did:web:ssi.test:fuzz2" } },
      ],
      "PUT /v1/signjobs": [{ id: pending.body.signJobs[0], signature: "A".repeat(86) }],
      "PUT /v1/signjobs/{id}": [{ signature: "A".repeat(86) }],
      "PUT /v1/signjobs/{id}/reject": [{ reason: "policy says no" }],
      "PUT /v1/manifests": [manifestBody(custodial), manifestBody(external)],
      "PUT /v1/manifests/requests": [
        {
          credentialManifestId: manifestId,
          issuerId: custodial.id,
          verificationMethodId: custodial.verificationMethod[0].id,
          audience: ["did:example:wallet"],
        },
      ],
      "PUT /v1/issuancetemplates": [
        {
          credentialManifest: manifestId,
          issuer: custodial.id,
          verificationMethodId: custodial.verificationMethod[0].id,
          credentials: [{ id: "out", data: { name: "$.verifiableCredential[0].credentialSubject.name" } }],
        },
      ],
      "PUT /v1/manifests/applications/{id}/review": [
        { approved: true, credentialOverrides: { out: { data: { a: 1 } } } },
        { approved: false },
      ],
      schemaId: [schema.id],
      issuerId: issuers,
      presentationDefinitionId: [definition.id],
      "PUT /v1/schemas": [schemaBody, { ...schemaBody, issuer: custodial.id, verificationMethodId: custodial.verificationMethod[0].id }],
      "PUT /v1/presentations/definitions": [definitionBody],
      "PUT /v1/presentations/requests": [
        requestBody,
        { ...requestBody, issuerId: external.id, verificationMethodId: external.verificationMethod[0].id, audience: ["did:example:a"] },
      ],
      "PUT /v1/presentations/submissions": [{ submissionJwt }],
      "PUT /v1/presentations/submissions/{id}/review": [{ approved: true }, { approved: false, reason: "no" }],
      "PUT /v1/presentations/verification": [{ presentationJwt: submissionJwt }],
    };
  });

  it("never answers 5xx; every 4xx is a problem with a code; a refusal changes nothing", { timeout: 300_000 }, async () => {
    const failures: string[] = [];
    const perRoute = new Map<string, Record<number, number>>();
    // Destructive routes last, so earlier routes still meet the fixtures alive.
    const ordered = [...operations].sort((a, b) => Number(a.method === "DELETE") - Number(b.method === "DELETE"));
    // The state after each request is the state before the next: a refusal must leave it as it was.
    let before = await settled(issuers);
    for (const op of ordered) {
      stats.routes++;
      const generated = fc.sample(arbitraryFor(op, known), { seed: SEED, numRuns: VALID_RUNS });
      const mutated = fc.sample(
        fc.tuple(arbitraryFor(op, known), mutations(op)).map(([req, mutate]) => mutate(req)),
        { seed: SEED + 1, numRuns: MUTATED_RUNS },
      );
      for (const draft of [...generated, ...mutated]) {
        const req = render(op, draft);
        const res = await send(req);
        stats.requests++;
        stats.byStatus.set(res.status, (stats.byStatus.get(res.status) ?? 0) + 1);
        const route = `${op.method} ${op.path}`;
        perRoute.set(route, { ...perRoute.get(route), [res.status]: (perRoute.get(route)?.[res.status] ?? 0) + 1 });
        const failure = judge(req, res);
        if (failure) failures.push(failure);
        if (res.status >= 400) {
          stats.refused++;
          const after = await snapshot(issuers);
          if (after !== before) {
            failures.push(
              `state changed by a refused request: ${req.method} ${req.path.slice(0, 200)} [${req.label}] → ${res.status}\n  before ${before}\n  after  ${after}`,
            );
          }
          before = after;
        } else {
          before = await settled(issuers);
        }
      }
    }
    console.log(
      `fuzz: ${stats.routes} routes, ${stats.requests} requests (${stats.refused} refused), statuses ${JSON.stringify(Object.fromEntries(stats.byStatus))}, seed ${SEED}`,
    );
    for (const [route, counts] of perRoute) console.log(`  ${route} ${JSON.stringify(counts)}`);
    expect(failures.slice(0, 20), `${failures.length} failures`).toEqual([]);
    expect(stats.routes).toBe(operations.length);
  });
});
