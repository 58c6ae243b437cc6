/**
 * Holder-signed VP JWTs checked as a relying party would (did:key, did:jwk, did:web holders with each
 * key type), with credentials the service issued embedded in them: signatures, status, and the
 * submission evaluated against its definition.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { PresentationDefinition } from "../../src/presentations/definition";
import { checkSubmissionJwt, verifyPresentationJwt } from "../../src/presentations/verify";
import { api, ORIGIN } from "../support/api";
import { b64, custodialDid, KEY_TYPES, type Issuer } from "../support/keys";
import { makeHolder, type HolderMethod } from "./holder";

async function issue(issuer: Issuer, subject: string, data: Record<string, unknown>, type: string) {
  const res = await api("PUT", "/v1/credentials", {
    issuer: issuer.did,
    verificationMethodId: issuer.vmId,
    subject,
    data,
    type: [type],
    revocable: true,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.result.response.id as string, jwt: res.body.result.response.credentialJwt as string };
}

const definition: PresentationDefinition = {
  id: "employment-and-degree",
  input_descriptors: [
    {
      id: "employment",
      group: ["A"],
      constraints: { fields: [{ path: ["$.vc.credentialSubject.role"], filter: { type: "string", const: "engineer" } }] },
    },
    {
      id: "degree",
      group: ["A"],
      constraints: { fields: [{ path: ["$.vc.credentialSubject.degree"], filter: { type: "string", enum: ["BSc", "MSc"] } }] },
    },
  ],
  submission_requirements: [{ rule: "pick", min: 2, from: "A" }],
};
const load = async (id: string) => (id === definition.id ? definition : undefined);
const submission = {
  id: "s1",
  definition_id: definition.id,
  descriptor_map: [
    { id: "employment", format: "jwt_vc", path: "$.verifiableCredential[0]" },
    { id: "degree", format: "jwt_vc", path: "$.verifiableCredential[1]" },
  ],
};

describe("holder-signed presentations", () => {
  for (const method of ["key", "jwk", "web"] as HolderMethod[]) {
    for (const keyType of KEY_TYPES) {
      it(`verifies a did:${method} ${keyType} holder's VP and refuses it tampered or signed by another key`, async () => {
        const holder = await makeHolder(keyType, method);
        const vp = await holder.present({});
        expect(await verifyPresentationJwt(env, vp, ORIGIN)).toEqual({ verified: true });

        const [h, p, s] = vp.split(".");
        const claims = JSON.parse(new TextDecoder().decode(b64.decode(p!)));
        claims.exp += 1;
        expect(await verifyPresentationJwt(env, `${h}.${b64.encode(JSON.stringify(claims))}.${s}`, ORIGIN)).toEqual({
          verified: false,
          reason: "the holder's signature does not verify",
        });
        const other = await makeHolder(keyType, "key");
        const forged = await other.present({ holder: holder.did }, { iss: holder.did }, { kid: holder.kid });
        expect((await verifyPresentationJwt(env, forged, ORIGIN)).reason).toBe("the holder's signature does not verify");
      });
    }
  }

  it("refuses a kid of another DID, an expired VP and a payload without a presentation", async () => {
    const holder = await makeHolder("Ed25519", "key");
    const other = await makeHolder("Ed25519", "key");
    expect((await verifyPresentationJwt(env, await holder.present({}, {}, { kid: other.kid }), ORIGIN)).reason).toMatch(
      /kid is not a verification method of the holder/,
    );
    const now = Math.floor(Date.now() / 1000);
    expect((await verifyPresentationJwt(env, await holder.present({}, { exp: now - 3600 }), ORIGIN)).reason).toMatch(/expired/);
    expect((await verifyPresentationJwt(env, await holder.present({}, { vp: { type: ["Other"] } }), ORIGIN)).reason).toMatch(
      /VerifiablePresentation/,
    );
    expect((await verifyPresentationJwt(env, "not.a.jwt", ORIGIN)).verified).toBe(false);
  });

  it("accepts a holder's two issued credentials against a pick; refuses one revoked naming its status, and an unmet filter naming the descriptor", async () => {
    const issuer = await custodialDid("P-256");
    const holder = await makeHolder("Ed25519", "jwk");
    const job = await issue(issuer, holder.did, { role: "engineer" }, "EmployeeCredential");
    const degree = await issue(issuer, holder.did, { degree: "MSc" }, "DegreeCredential");

    const ok = await checkSubmissionJwt(
      env,
      await holder.present({ verifiableCredential: [job.jwt, degree.jwt], presentation_submission: submission }),
      ORIGIN,
      load,
    );
    expect(ok.ok ? ok.satisfied : ok.errors).toEqual(["employment", "degree"]);
    expect(ok.ok && ok.holder).toBe(holder.did);

    const intern = await issue(issuer, holder.did, { role: "intern" }, "EmployeeCredential");
    const unmet = await checkSubmissionJwt(
      env,
      await holder.present({ verifiableCredential: [intern.jwt, degree.jwt], presentation_submission: submission }),
      ORIGIN,
      load,
    );
    expect(unmet.ok).toBe(false);
    if (!unmet.ok) {
      expect(unmet.errors).toHaveLength(1);
      expect(unmet.errors[0]).toMatchObject({
        path: "presentation_submission.descriptor_map.0",
        message: expect.stringMatching(/^input descriptor "employment": .*does not satisfy the filter/),
      });
    }

    const revoke = await api("PUT", `/v1/credentials/${encodeURIComponent(degree.id)}/status`, { revoked: true });
    expect(revoke.status, JSON.stringify(revoke.body)).toBe(200);
    const revoked = await checkSubmissionJwt(
      env,
      await holder.present({ verifiableCredential: [job.jwt, degree.jwt], presentation_submission: submission }),
      ORIGIN,
      load,
    );
    expect(revoked.ok).toBe(false);
    if (!revoked.ok)
      expect(revoked.errors).toEqual([{ path: "verifiableCredential.1", message: "credential 1: the credential has been revoked" }]);
  });

  it("refuses a submission for an unknown definition, without one, or with an embedded object credential", async () => {
    const holder = await makeHolder("secp256k1", "key");
    const unknown = await checkSubmissionJwt(
      env,
      await holder.present({ presentation_submission: { ...submission, definition_id: "nope" } }),
      ORIGIN,
      load,
    );
    expect(!unknown.ok && unknown.errors[0]!.path).toBe("presentation_submission.definition_id");
    const none = await checkSubmissionJwt(env, await holder.present({}), ORIGIN, load);
    expect(!none.ok && none.errors[0]!.message).toMatch(/no presentation_submission/);
    const ldp = await checkSubmissionJwt(
      env,
      await holder.present({ verifiableCredential: [{ type: ["VerifiableCredential"] }], presentation_submission: submission }),
      ORIGIN,
      load,
    );
    expect(!ldp.ok && ldp.errors[0]).toEqual({
      path: "verifiableCredential.0",
      message: "only JWT credentials (compact JWS strings) can be verified",
    });
  });
});
