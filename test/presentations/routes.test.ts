/**
 * The Schemas and Presentation Exchange routes as a client uses them: schemas (unsigned), credentials
 * validated against a schema before any job exists, definitions, submissions with review, verification.
 */
import { describe, expect, it } from "vitest";
import { api, enc, ORIGIN } from "../support/api";
import { errorPaths, expectProblem } from "../support/contract";
import { custodialDid } from "../support/keys";
import { makeHolder } from "./holder";

const PERSON = {
  $schema: "http://json-schema.org/draft-07/schema#",
  type: "object",
  required: ["name", "age"],
  properties: { name: { type: "string", minLength: 1 }, age: { type: "integer", minimum: 18 } },
};

describe("schemas", () => {
  it("stores an unsigned schema: 201, GET, list, DELETE", async () => {
    const created = await api("PUT", "/v1/schemas", { name: "person", description: "a person", schema: PERSON });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ id: expect.any(String), name: "person", schema: PERSON, dialect: "draft-07" });
    expect(created.body.credentialSchemaJwt).toBeUndefined();
    const id = created.body.id as string;
    expect((await api("GET", `/v1/schemas/${id}`)).body).toEqual(created.body);
    const listed = await api("GET", "/v1/schemas?pageSize=1000");
    expect(listed.body.schemas.map((s: { id: string }) => s.id)).toContain(id);
    expect((await api("DELETE", `/v1/schemas/${id}`)).status).toBe(204);
    expectProblem(await api("GET", `/v1/schemas/${id}`), 404, "not_found");
    expectProblem(await api("DELETE", `/v1/schemas/${id}`), 404, "not_found");
  });

  it("refuses an invalid schema with 400 naming the keyword, and an unknown dialect", async () => {
    const bad = await api("PUT", "/v1/schemas", { name: "x", schema: { type: "object", properties: { a: { type: "strnig" } } } });
    expectProblem(bad, 400, "validation_failed");
    expect(errorPaths(bad).some((p) => p.startsWith("schema.properties.a"))).toBe(true);
    const draft4 = await api("PUT", "/v1/schemas", { name: "x", schema: { $schema: "http://json-schema.org/draft-04/schema#" } });
    expectProblem(draft4, 400, "validation_failed");
    expect(errorPaths(draft4)).toEqual(["schema.$schema"]);
    expectProblem(await api("PUT", "/v1/schemas", { name: "x", schema: PERSON, issuer: "did:key:z6Mk" }), 400, "validation_failed");
  });

  it("validates credentialSubject against schemaId before any job exists: each failing path named; batch per item", async () => {
    const schema = await api("PUT", "/v1/schemas", { name: "person", schema: PERSON });
    const issuer = await custodialDid("Ed25519");
    const base = { issuer: issuer.did, verificationMethodId: issuer.vmId, subject: "did:example:alice", schemaId: schema.body.id };
    const ok = await api("PUT", "/v1/credentials", { ...base, data: { name: "Alice", age: 30 } });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);

    const before = (await api("GET", `/v1/credentials?issuer=${enc(issuer.did)}&pageSize=1000`)).body.credentials.length;
    const bad = await api("PUT", "/v1/credentials", { ...base, data: { name: "", age: 12.5 } });
    expectProblem(bad, 400, "schema_validation_failed");
    expect(errorPaths(bad)).toContain("credentialSubject.name");
    expect(errorPaths(bad)).toContain("credentialSubject.age");

    const batch = await api("PUT", "/v1/credentials/batch", {
      requests: [
        { ...base, data: { name: "Bob", age: 40 } },
        { ...base, data: { age: 20 } },
        { ...base, data: { name: "Carol", age: "old" } },
      ],
    });
    expectProblem(batch, 400, "schema_validation_failed");
    expect(errorPaths(batch)).toEqual(["requests.1.credentialSubject", "requests.2.credentialSubject.age"]);
    // The schema's URL here names it too.
    const byUrl = await api("PUT", "/v1/credentials", {
      ...base,
      schemaId: `${ORIGIN}/v1/schemas/${schema.body.id}`,
      data: { name: "Dan" },
    });
    expectProblem(byUrl, 400, "schema_validation_failed");
    expect(errorPaths(byUrl)).toEqual(["credentialSubject"]);
    // Nothing was created by the refusals.
    expect((await api("GET", `/v1/credentials?issuer=${enc(issuer.did)}&pageSize=1000`)).body.credentials.length).toBe(before);
    // A schemaId naming no schema here (another service's URL) is carried, not validated: nothing is fetched.
    const foreign = await api("PUT", "/v1/credentials", {
      ...base,
      schemaId: "https://example.com/schemas/person",
      data: { anything: true },
    });
    expect(foreign.status, JSON.stringify(foreign.body)).toBe(201);
  });
});

describe("presentation definitions", () => {
  it("stores a definition in DIF's shape; GET, list, DELETE; an invalid one names the request field", async () => {
    const created = await api("PUT", "/v1/presentations/definitions", {
      name: "kyc",
      purpose: "know your customer",
      inputDescriptors: [{ id: "id-card", constraints: { fields: [{ path: ["$.vc.credentialSubject.name"] }] } }],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const def = created.body.presentation_definition;
    expect(def).toMatchObject({
      id: expect.any(String),
      name: "kyc",
      purpose: "know your customer",
      input_descriptors: [{ id: "id-card" }],
    });
    expect((await api("GET", `/v1/presentations/definitions/${def.id}`)).body).toEqual(created.body);
    expect(
      (await api("GET", "/v1/presentations/definitions?pageSize=1000")).body.definitions.map((d: any) => d.presentation_definition.id),
    ).toContain(def.id);
    expect((await api("DELETE", `/v1/presentations/definitions/${def.id}`)).status).toBe(204);
    expectProblem(await api("GET", `/v1/presentations/definitions/${def.id}`), 404, "not_found");

    const missing = await api("PUT", "/v1/presentations/definitions", { inputDescriptors: [{ id: "a" }] });
    expectProblem(missing, 400, "validation_failed");
    expect(missing.body.errors).toContainEqual({ path: "inputDescriptors.0", message: expect.stringContaining('"constraints"') });
  });
});

describe("presentation submissions", () => {
  async function setup() {
    const issuer = await custodialDid("Ed25519");
    const holder = await makeHolder("P-256", "key");
    const issue = async (data: Record<string, unknown>) =>
      (
        await api("PUT", "/v1/credentials", {
          issuer: issuer.did,
          verificationMethodId: issuer.vmId,
          subject: holder.did,
          data,
          revocable: true,
        })
      ).body.result.response;
    const def = await api("PUT", "/v1/presentations/definitions", {
      inputDescriptors: [
        {
          id: "employment",
          group: ["A"],
          constraints: { fields: [{ path: ["$.vc.credentialSubject.role"], filter: { type: "string", const: "engineer" } }] },
        },
        { id: "degree", group: ["A"], constraints: { fields: [{ path: ["$.vc.credentialSubject.degree"], filter: { type: "string" } }] } },
      ],
      submissionRequirements: [{ rule: "pick", count: 2, from: "A" }],
    });
    expect(def.status, JSON.stringify(def.body)).toBe(201);
    const definitionId = def.body.presentation_definition.id as string;
    const submit = (credentials: string[]) =>
      holder.present({
        verifiableCredential: credentials,
        presentation_submission: {
          id: crypto.randomUUID(),
          definition_id: definitionId,
          descriptor_map: credentials.map((_, i) => ({
            id: i === 0 ? "employment" : "degree",
            format: "jwt_vc",
            path: `$.verifiableCredential[${i}]`,
          })),
        },
      });
    return { holder, issue, definitionId, submit };
  }

  it("accepts a holder's submission pending review; approve completes the operation; list by status; a second review is 409", async () => {
    const { holder, issue, definitionId, submit } = await setup();
    const job = await issue({ role: "engineer" });
    const degree = await issue({ degree: "MSc" });
    const vp = await submit([job.credentialJwt, degree.credentialJwt]);
    const res = await api("PUT", "/v1/presentations/submissions", { submissionJwt: vp });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ id: expect.stringMatching(/^presentations\/submissions\//), done: false, signJobs: [] });
    const id = (res.body.id as string).split("/").pop()!;
    expect((await api("GET", `/v1/operations/${res.body.id}`)).body.done).toBe(false);
    const got = await api("GET", `/v1/presentations/submissions/${id}`);
    expect(got.body).toMatchObject({ id, status: "pending", holder: holder.did, presentationDefinitionId: definitionId });
    expect(
      (await api("GET", "/v1/presentations/submissions?status=pending&pageSize=1000")).body.submissions.map((s: any) => s.id),
    ).toContain(id);

    const approved = await api("PUT", `/v1/presentations/submissions/${id}/review`, { approved: true, reason: "looks good" });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    expect(approved.body).toMatchObject({ done: true, result: { response: { status: "approved", reason: "looks good" } } });
    expect((await api("GET", `/v1/operations/${res.body.id}`)).body).toMatchObject({
      done: true,
      result: { response: { status: "approved" } },
    });
    expect(
      (await api("GET", "/v1/presentations/submissions?status=approved&pageSize=1000")).body.submissions.map((s: any) => s.id),
    ).toContain(id);
    expect(
      (await api("GET", "/v1/presentations/submissions?status=pending&pageSize=1000")).body.submissions.map((s: any) => s.id),
    ).not.toContain(id);
    expectProblem(await api("PUT", `/v1/presentations/submissions/${id}/review`, { approved: false }), 409, "operation_done");
    expectProblem(await api("PUT", "/v1/presentations/submissions/nope/review", { approved: false }), 404, "not_found");
  });

  it("refuses with 400 naming the status of a revoked credential, and the descriptor of an unmet filter; denial completes the operation", async () => {
    const { issue, submit } = await setup();
    const job = await issue({ role: "engineer" });
    const degree = await issue({ degree: "MSc" });
    const intern = await issue({ role: "intern" });
    const unmet = await api("PUT", "/v1/presentations/submissions", {
      submissionJwt: await submit([intern.credentialJwt, degree.credentialJwt]),
    });
    expectProblem(unmet, 400, "presentation_rejected");
    expect(unmet.body.errors).toEqual([
      { path: "presentation_submission.descriptor_map.0", message: expect.stringMatching(/^input descriptor "employment": /) },
    ]);

    expect((await api("PUT", `/v1/credentials/${degree.id}/status`, { revoked: true })).status).toBe(200);
    const revoked = await api("PUT", "/v1/presentations/submissions", {
      submissionJwt: await submit([job.credentialJwt, degree.credentialJwt]),
    });
    expectProblem(revoked, 400, "presentation_rejected");
    expect(revoked.body.errors).toEqual([{ path: "verifiableCredential.1", message: "credential 1: the credential has been revoked" }]);

    const fresh = await issue({ degree: "BSc" });
    const accepted = await api("PUT", "/v1/presentations/submissions", {
      submissionJwt: await submit([job.credentialJwt, fresh.credentialJwt]),
    });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    const id = (accepted.body.id as string).split("/").pop()!;
    const denied = await api("PUT", `/v1/presentations/submissions/${id}/review`, { approved: false, reason: "not now" });
    expect(denied.body).toMatchObject({ done: true, result: { response: { status: "denied", reason: "not now" } } });
  });

  it("PUT /v1/presentations/verification answers verified or the reason", async () => {
    const { holder, issue } = await setup();
    const job = await issue({ role: "engineer" });
    expect(
      (
        await api("PUT", "/v1/presentations/verification", {
          presentationJwt: await holder.present({ verifiableCredential: [job.credentialJwt] }),
        })
      ).body,
    ).toEqual({ verified: true });
    const other = await makeHolder("Ed25519", "jwk");
    const forged = await other.present({ holder: holder.did }, { iss: holder.did }, { kid: holder.kid });
    expect((await api("PUT", "/v1/presentations/verification", { presentationJwt: forged })).body).toEqual({
      verified: false,
      reason: "the holder's signature does not verify",
    });
    expectProblem(await api("PUT", "/v1/presentations/verification", {}), 400, "validation_failed");
  });
});
