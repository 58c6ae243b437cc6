import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { SPEC_VERSION } from "../../src/manifests/build";
import { validateDif } from "../../src/manifests/dif-schemas";
import { api, enc } from "../support/api";
import { custodialDid, externalDid, externalKey, pendingJobs, type ExternalKey, type Issuer } from "../support/keys";
import { makeHolder, type Holder } from "./holders";

const definition = {
  id: "licence-check",
  input_descriptors: [{ id: "licence", constraints: { fields: [{ path: ["$.credentialSubject.licence"] }] } }],
};
const outputDescriptors = [
  { id: "driver", schema: "https://example.com/schemas/driver" },
  { id: "insurance", schema: "https://example.com/schemas/insurance" },
];

async function makeManifest(issuer: Issuer, extra: Record<string, unknown> = {}) {
  const res = await api("PUT", "/v1/manifests", {
    name: "Driver",
    issuerDid: issuer.did,
    issuerName: "DMV",
    verificationMethodId: issuer.vmId,
    format: { jwt_vc: { alg: ["EdDSA", "ES256"] } },
    outputDescriptors,
    presentationDefinition: definition,
    ...extra,
  });
  expect([201, 202], JSON.stringify(res.body)).toContain(res.status);
  return { operation: res.body, manifestId: res.body.id.slice("manifests/".length) as string };
}

/** A licence credential for the holder, from a custodial authority. */
async function licenceFor(holder: Holder): Promise<string> {
  const authority = await custodialDid("Ed25519");
  const res = await api("PUT", "/v1/credentials", {
    issuer: authority.did,
    verificationMethodId: authority.vmId,
    subject: holder.did,
    data: { licence: "A-123", name: "Alice" },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.result.response.credentialJwt;
}

async function applicationJwt(
  holder: Holder,
  manifestId: string,
  credentials: string[],
  descriptorMap = [{ id: "licence", format: "jwt_vc", path: "$.verifiableCredential[0]" }],
  claims: Record<string, unknown> = {},
) {
  const applicationId = crypto.randomUUID();
  const jwt = await holder.sign({
    credential_application: {
      id: applicationId,
      spec_version: SPEC_VERSION,
      manifest_id: manifestId,
      format: { jwt_vc: { alg: ["EdDSA"] } },
      presentation_submission: { id: crypto.randomUUID(), definition_id: definition.id, descriptor_map: descriptorMap },
    },
    vp: { "@context": ["https://www.w3.org/2018/credentials/v1"], type: ["VerifiablePresentation"], verifiableCredential: credentials },
    ...claims,
  });
  return { applicationId, jwt };
}

async function signAll(key: ExternalKey, did: string) {
  const jobs = await pendingJobs(did);
  for (const job of jobs) {
    const res = await api("PUT", "/v1/signjobs", { id: job.id, signature: await key.sign(job.signingInput) });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  }
  return jobs;
}

async function verifiedBy(issuer: Issuer, jwt: string) {
  const key = await importJWK(issuer.doc.verificationMethod[0]!.publicKeyJwk, decodeProtectedHeader(jwt).alg);
  return (await jwtVerify(jwt, key)).payload;
}

describe("credential manifests, applications and review through sign jobs", () => {
  it("custodial issuer: manifest, application, approval → done at once with two credentials and a signed response", async () => {
    const issuer = await custodialDid("Ed25519");
    const { operation, manifestId } = await makeManifest(issuer);
    expect(operation.done).toBe(true);
    const manifestJwt = operation.result.response.credentialManifestJwt;
    expect((await verifiedBy(issuer, manifestJwt)).credential_manifest).toMatchObject({ id: manifestId, issuer: { id: issuer.did } });
    expect(validateDif("credential-manifest", (await api("GET", `/v1/manifests/${manifestId}`)).body.credential_manifest)).toEqual({
      ok: true,
    });

    const holder = await makeHolder("key");
    const { applicationId, jwt } = await applicationJwt(holder, manifestId, [await licenceFor(holder)]);
    const submitted = await api("PUT", "/v1/manifests/applications", { applicationJwt: jwt });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    expect(submitted.body).toMatchObject({ id: `credentials/responses/${applicationId}`, done: false, signJobs: [] });

    const reviewed = await api("PUT", `/v1/manifests/applications/${applicationId}/review`, {
      approved: true,
      credentialOverrides: { driver: { data: { class: "B" } }, insurance: { data: { insurer: "Acme" } } },
    });
    expect(reviewed.status, JSON.stringify(reviewed.body)).toBe(201);
    expect(reviewed.body.done).toBe(true);
    expect(reviewed.body.signJobs).toHaveLength(3);
    const { credential_response, verifiableCredentials, responseJwt } = reviewed.body.result.response;
    expect(validateDif("credential-response", credential_response)).toEqual({ ok: true });
    expect(credential_response.fulfillment.descriptor_map.map((d: { id: string }) => d.id)).toEqual(["driver", "insurance"]);
    expect(verifiableCredentials).toHaveLength(2);
    expect((await verifiedBy(issuer, responseJwt)).credential_response).toEqual(credential_response);
    for (const [i, vc] of verifiableCredentials.entries()) {
      const verdict = await api("PUT", "/v1/credentials/verification", { credentialJwt: vc });
      expect(verdict.body, vc).toEqual({ verified: true });
      expect(decodeJwt(vc)).toMatchObject({ sub: holder.did, vc: { credentialSubject: i === 0 ? { class: "B" } : { insurer: "Acme" } } });
    }
    const stored = await api("GET", `/v1/manifests/responses/${credential_response.id}`);
    expect(stored.body).toMatchObject({ applicationId, responseJwt, verifiableCredentials });
    // Reviewed once: a second review changes nothing.
    const again = await api("PUT", `/v1/manifests/applications/${applicationId}/review`, { approved: false });
    expect(again.status).toBe(409);
  });

  it("external issuer: 3 jobs under one operation; done only when all are signed", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const { operation, manifestId } = await makeManifest(issuer);
    expect(operation.done).toBe(false);
    await signAll(key, issuer.did);
    expect((await api("GET", `/v1/manifests/${manifestId}`)).body.credentialManifestJwt).toBeTypeOf("string");

    const holder = await makeHolder("jwk", "ES256");
    const { applicationId, jwt } = await applicationJwt(holder, manifestId, [await licenceFor(holder)]);
    expect((await api("PUT", "/v1/manifests/applications", { applicationJwt: jwt })).status).toBe(202);
    const reviewed = await api("PUT", `/v1/manifests/applications/${applicationId}/review`, { approved: true });
    expect(reviewed.status, JSON.stringify(reviewed.body)).toBe(202);
    expect(reviewed.body.signJobs).toHaveLength(3);
    const jobs = await pendingJobs(issuer.did);
    expect(jobs.map((j) => j.kind)).toEqual(["credential", "credential", "credential-response"]);
    // Two of three signed: still pending.
    for (const job of jobs.slice(0, 2))
      expect((await api("PUT", "/v1/signjobs", { id: job.id, signature: await key.sign(job.signingInput) })).status).toBe(200);
    expect((await api("GET", `/v1/operations/${reviewed.body.id}`)).body.done).toBe(false);
    await signAll(key, issuer.did);
    const done = (await api("GET", `/v1/operations/${reviewed.body.id}`)).body;
    expect(done.done).toBe(true);
    expect(done.result.response.verifiableCredentials).toHaveLength(2);
    expect((await verifiedBy(issuer, done.result.response.responseJwt)).credential_response).toMatchObject({
      application_id: applicationId,
    });
  });

  it("one job rejected by the signer → the operation fails rejected_by_signer, the other two are cancelled, no credential is issued", async () => {
    const key = await externalKey("P-256");
    const issuer = await externalDid(key);
    const { manifestId } = await makeManifest(issuer);
    await signAll(key, issuer.did);
    const holder = await makeHolder("key");
    const { applicationId, jwt } = await applicationJwt(holder, manifestId, [await licenceFor(holder)]);
    await api("PUT", "/v1/manifests/applications", { applicationJwt: jwt });
    const reviewed = await api("PUT", `/v1/manifests/applications/${applicationId}/review`, { approved: true });
    const [first, second, response] = await pendingJobs(issuer.did);
    const rejected = await api("PUT", `/v1/signjobs/${second.id}/reject`, { reason: "not this subject" });
    expect(rejected.status, JSON.stringify(rejected.body)).toBe(200);
    const op = (await api("GET", `/v1/operations/${reviewed.body.id}`)).body;
    expect(op).toMatchObject({ done: true, result: { code: "rejected_by_signer" } });
    for (const job of [first, response]) expect((await api("GET", `/v1/signjobs/${job.id}`)).body.status).toBe("cancelled");
    expect((await api("PUT", "/v1/signjobs", { id: first.id, signature: await key.sign(first.signingInput) })).status).toBe(409);
    const issued = await api("GET", `/v1/credentials?issuer=${enc(issuer.did)}`);
    expect(issued.body.credentials.filter((c: { credentialJwt?: string }) => c.credentialJwt)).toEqual([]);
  });

  it("an issuance template answers at once with JSONPath data; a missing path is a signed denial naming it", async () => {
    const issuer = await custodialDid("P-256");
    const { manifestId } = await makeManifest(issuer);
    const template = await api("PUT", "/v1/issuancetemplates", {
      credentialManifest: manifestId,
      issuer: issuer.did,
      verificationMethodId: issuer.vmId,
      credentials: [
        { id: "driver", credentialInputDescriptor: "licence", data: { licence: "$.credentialSubject.licence", class: "B" } },
        { id: "insurance", data: { holderName: "$.verifiableCredential[0].credentialSubject.name" }, expiry: { duration: 3600 } },
      ],
    });
    expect(template.status, JSON.stringify(template.body)).toBe(201);
    const holder = await makeHolder("key");
    const { jwt } = await applicationJwt(holder, manifestId, [await licenceFor(holder)]);
    const answered = await api("PUT", "/v1/manifests/applications", { applicationJwt: jwt });
    expect(answered.status, JSON.stringify(answered.body)).toBe(201);
    const [driver, insurance] = answered.body.result.response.verifiableCredentials.map((vc: string) => decodeJwt(vc));
    expect(driver).toMatchObject({ vc: { credentialSubject: { id: holder.did, licence: "A-123", class: "B" } } });
    expect(insurance).toMatchObject({ vc: { credentialSubject: { holderName: "Alice" } }, exp: expect.any(Number) });

    // A second manifest whose template reads a claim the licence does not have.
    const other = await makeManifest(issuer);
    await api("PUT", "/v1/issuancetemplates", {
      credentialManifest: other.manifestId,
      issuer: issuer.did,
      verificationMethodId: issuer.vmId,
      credentials: outputDescriptors.map((d) => ({
        id: d.id,
        credentialInputDescriptor: "licence",
        data: { dob: "$.credentialSubject.birthDate" },
      })),
    });
    const denied = await api("PUT", "/v1/manifests/applications", {
      applicationJwt: (await applicationJwt(holder, other.manifestId, [await licenceFor(holder)])).jwt,
    });
    expect(denied.status, JSON.stringify(denied.body)).toBe(201);
    expect(denied.body.result.response.verifiableCredentials).toEqual([]);
    expect(denied.body.result.response.credential_response.denial.reason).toMatch(/\$\.credentialSubject\.birthDate/);
    expect((await verifiedBy(issuer, denied.body.result.response.responseJwt)).credential_response).toMatchObject({
      denial: expect.any(Object),
    });
  });

  it("refusals are 400s naming their reason: missing descriptor, forged holder signature, unknown manifest; a bad template expression too", async () => {
    const issuer = await custodialDid("Ed25519");
    const { manifestId } = await makeManifest(issuer);
    const holder = await makeHolder("key");
    const licence = await licenceFor(holder);

    const missing = await api("PUT", "/v1/manifests/applications", {
      applicationJwt: (await applicationJwt(holder, manifestId, [licence], [])).jwt,
    });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ code: "submission_invalid", detail: expect.stringMatching(/"licence"/) });

    const { jwt } = await applicationJwt(holder, manifestId, [licence]);
    const [h, p] = jwt.split(".");
    const forger = await makeHolder("key");
    const forged = `${h}.${p}.${(await forger.sign({})).split(".")[2]}`;
    const refused = await api("PUT", "/v1/manifests/applications", { applicationJwt: forged });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ code: "invalid_signature", detail: expect.stringMatching(/signature does not verify/) });

    const unknown = await api("PUT", "/v1/manifests/applications", {
      applicationJwt: (await applicationJwt(holder, "no-such-manifest", [licence])).jwt,
    });
    expect(unknown.body).toMatchObject({ status: 400, code: "manifest_not_found" });

    // A definition that is not PE v2 is refused when the manifest is made, not at every application.
    const loose = await api("PUT", "/v1/manifests", {
      issuerDid: issuer.did,
      verificationMethodId: issuer.vmId,
      format: { jwt_vc: { alg: ["EdDSA"] } },
      outputDescriptors,
      presentationDefinition: { id: "loose", input_descriptors: [{ id: "licence" }] },
    });
    expect(loose.body).toMatchObject({ status: 400, code: "validation_failed" });
    expect(loose.body.errors.map((e: { path: string }) => e.path)).toEqual([
      "credential_manifest.presentation_definition.input_descriptors.0",
    ]);

    const badTemplate = await api("PUT", "/v1/issuancetemplates", {
      credentialManifest: manifestId,
      issuer: issuer.did,
      verificationMethodId: issuer.vmId,
      credentials: outputDescriptors.map((d) => ({ id: d.id, data: { x: "$[" } })),
    });
    expect(badTemplate.status).toBe(400);
    expect(badTemplate.body.errors[0].path).toBe("credentials.0.data.x");
  });

  it("an application answering a manifest request: its nonce names the request and its aud the issuer; otherwise 400", async () => {
    const issuer = await custodialDid("Ed25519");
    const { manifestId } = await makeManifest(issuer);
    const holder = await makeHolder("key");
    const licence = await licenceFor(holder);
    const request = await api("PUT", "/v1/manifests/requests", {
      credentialManifestId: manifestId,
      issuerId: issuer.did,
      verificationMethodId: issuer.vmId,
    });
    expect(request.status, JSON.stringify(request.body)).toBe(201);
    const requestId = request.body.id.split("/").pop() as string;
    const apply = async (claims: Record<string, unknown>) =>
      api("PUT", "/v1/manifests/applications", {
        applicationJwt: (await applicationJwt(holder, manifestId, [licence], undefined, claims)).jwt,
      });
    const paths = (res: { body: { errors?: { path: string }[] } }) => (res.body.errors ?? []).map((e) => e.path);

    const other = await custodialDid("Ed25519");
    const wrongAud = await apply({ aud: other.did, nonce: requestId });
    expect(wrongAud.body).toMatchObject({ status: 400, code: "validation_failed" });
    expect(paths(wrongAud)).toEqual(["applicationJwt.aud"]);
    const unknown = await apply({ aud: issuer.did, nonce: crypto.randomUUID() });
    expect(paths(unknown)).toEqual(["applicationJwt.nonce"]);
    const audOnly = await apply({ aud: issuer.did });
    expect(paths(audOnly)).toEqual(["applicationJwt.nonce"]);
    const { manifestId: otherManifest } = await makeManifest(issuer);
    const elsewhere = await api("PUT", "/v1/manifests/applications", {
      applicationJwt: (await applicationJwt(holder, otherManifest, [licence], undefined, { aud: issuer.did, nonce: requestId })).jwt,
    });
    expect(paths(elsewhere)).toEqual(["credential_application.manifest_id"]);

    const signed = await applicationJwt(holder, manifestId, [licence], undefined, { aud: issuer.did, nonce: requestId });
    const answered = await api("PUT", "/v1/manifests/applications", { applicationJwt: signed.jwt });
    expect(answered.status, JSON.stringify(answered.body)).toBe(202);
    // The same JWT again is the same application; another one by this holder to this request is refused.
    const resent = await api("PUT", "/v1/manifests/applications", { applicationJwt: signed.jwt });
    expect(resent.status).toBe(202);
    expect(resent.body.id).toBe(answered.body.id);
    const second = await apply({ aud: issuer.did, nonce: requestId });
    expect(second.body).toMatchObject({ status: 409, code: "request_answered" });
    const applications = (await api("GET", "/v1/manifests/applications?pageSize=1000")).body.applications;
    expect(
      applications.filter((a: { applicant: string; manifestId: string }) => a.applicant === holder.did && a.manifestId === manifestId),
    ).toHaveLength(1);
  });

  it("an application is judged by the Presentation Exchange evaluator: a credential failing the definition's filter is refused naming the descriptor", async () => {
    const issuer = await custodialDid("Ed25519");
    const strict = {
      id: definition.id,
      input_descriptors: [
        { id: "licence", constraints: { fields: [{ path: ["$.credentialSubject.licence"], filter: { type: "string", pattern: "^B-" } }] } },
      ],
    };
    const { manifestId } = await makeManifest(issuer, { presentationDefinition: strict });
    const holder = await makeHolder("key");
    const res = await api("PUT", "/v1/manifests/applications", {
      applicationJwt: (await applicationJwt(holder, manifestId, [await licenceFor(holder)])).jwt,
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "submission_invalid", detail: expect.stringMatching(/input descriptor "licence".*filter/) });
    expect(res.body.errors[0].path).toBe("presentation_submission.descriptor_map.0");
  });

  it("cancelling an application waiting for review ends it; a review after that is 409", async () => {
    const issuer = await custodialDid("Ed25519");
    const { manifestId } = await makeManifest(issuer);
    const holder = await makeHolder("key");
    const { applicationId, jwt } = await applicationJwt(holder, manifestId, [await licenceFor(holder)]);
    const op = (await api("PUT", "/v1/manifests/applications", { applicationJwt: jwt })).body;
    const cancelled = await api("PUT", `/v1/operations/cancel/${op.id}`);
    expect(cancelled.body).toMatchObject({ done: true, result: { code: "cancelled" } });
    expect((await api("PUT", `/v1/manifests/applications/${applicationId}/review`, { approved: true })).status).toBe(409);
  });
});
