/**
 * A submission as the answer to a presentation request (its `nonce` names the request, its `aud` the
 * verifier), and a submission's operation cancelled like any other operation.
 */
import { describe, expect, it } from "vitest";
import { api } from "../support/api";
import { expectProblem } from "../support/contract";
import { custodialDid } from "../support/keys";
import { makeHolder } from "./holder";

async function setup() {
  const verifier = await custodialDid("Ed25519");
  const issuer = await custodialDid("P-256");
  const holder = await makeHolder("Ed25519", "jwk");
  const definition = async () => {
    const res = await api("PUT", "/v1/presentations/definitions", {
      inputDescriptors: [{ id: "role", constraints: { fields: [{ path: ["$.vc.credentialSubject.role"], filter: { type: "string" } }] } }],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.presentation_definition.id as string;
  };
  const definitionId = await definition();
  const credential = await api("PUT", "/v1/credentials", {
    issuer: issuer.did,
    verificationMethodId: issuer.vmId,
    subject: holder.did,
    data: { role: "engineer" },
  });
  expect(credential.status, JSON.stringify(credential.body)).toBe(201);
  const credentialJwt = credential.body.result.response.credentialJwt as string;
  const request = async (defId = definitionId) => {
    const res = await api("PUT", "/v1/presentations/requests", {
      issuerId: verifier.did,
      verificationMethodId: verifier.vmId,
      presentationDefinitionId: defId,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.result.response.presentationRequest.id as string;
  };
  /** A VP JWT for the definition by `who`; `claims` go beside `vp` (aud, nonce). */
  const vpOf = (who: Awaited<ReturnType<typeof makeHolder>>, claims: Record<string, unknown> = {}, defId = definitionId) =>
    who.present(
      {
        verifiableCredential: [credentialJwt],
        presentation_submission: {
          id: crypto.randomUUID(),
          definition_id: defId,
          descriptor_map: [{ id: "role", format: "jwt_vc", path: "$.verifiableCredential[0]" }],
        },
      },
      claims,
    );
  const vp = (claims: Record<string, unknown> = {}, defId = definitionId) => vpOf(holder, claims, defId);
  const submit = async (claims: Record<string, unknown> = {}, defId = definitionId) =>
    api("PUT", "/v1/presentations/submissions", { submissionJwt: await vp(claims, defId) });
  return { verifier, holder, definitionId, definition, request, submit, vp, vpOf };
}

const refusedAt = (res: { body: { errors?: { path: string }[] } }) => (res.body.errors ?? []).map((e) => e.path);

describe("a submission answering a presentation request", () => {
  it("is accepted when its nonce names the request and its aud the request's verifier", async () => {
    const { verifier, request, submit } = await setup();
    const requestId = await request();
    const res = await submit({ aud: verifier.did, nonce: requestId });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const alsoArray = await submit({ aud: [verifier.did, "did:example:other"], nonce: await request() });
    expect(alsoArray.status, JSON.stringify(alsoArray.body)).toBe(202);
  });

  it("is answered once per holder: a second VP from the same holder to the same request is 409 request_answered, another holder's is accepted", async () => {
    const { verifier, request, submit, vpOf } = await setup();
    const requestId = await request();
    expect((await submit({ aud: verifier.did, nonce: requestId })).status).toBe(202);
    const count = async () => (await api("GET", "/v1/presentations/submissions?pageSize=1000")).body.submissions.length;
    const before = await count();
    expectProblem(await submit({ aud: verifier.did, nonce: requestId }), 409, "request_answered");
    expect(await count()).toBe(before);
    const other = await vpOf(await makeHolder("P-256", "key"), { aud: verifier.did, nonce: requestId });
    expect((await api("PUT", "/v1/presentations/submissions", { submissionJwt: other })).status).toBe(202);
  });
});

describe("a VP JWT is one submission", () => {
  it("sent again it is 409 already_submitted naming the first, and nothing more is stored", async () => {
    const { vp } = await setup();
    const jwt = await vp();
    const first = await api("PUT", "/v1/presentations/submissions", { submissionJwt: jwt });
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    const firstId = (first.body.id as string).split("/").pop()!;
    const again = await api("PUT", "/v1/presentations/submissions", { submissionJwt: jwt });
    expectProblem(again, 409, "already_submitted");
    expect(again.body.detail).toContain(firstId);
    const mine = (await api("GET", "/v1/presentations/submissions?pageSize=1000")).body.submissions.filter(
      (s: { submissionJwt: string }) => s.submissionJwt === jwt,
    );
    expect(mine).toHaveLength(1);
  });

  it("concurrent copies: exactly one is accepted; a retry with an Idempotency-Key gets the first answer", async () => {
    const { vp } = await setup();
    const jwt = await vp();
    const answers = await Promise.all(Array.from({ length: 4 }, () => api("PUT", "/v1/presentations/submissions", { submissionJwt: jwt })));
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409, 409, 409]);
    const keyed = await vp();
    const headers = { headers: { "idempotency-key": `vp-${crypto.randomUUID()}` } };
    const first = await api("PUT", "/v1/presentations/submissions", { submissionJwt: keyed }, headers);
    const retry = await api("PUT", "/v1/presentations/submissions", { submissionJwt: keyed }, headers);
    expect(first.status).toBe(202);
    expect(retry.status).toBe(202);
    expect(retry.body).toEqual(first.body);
  });

  it("is refused (400, nothing stored) when aud is not the request's verifier, missing, or given without a nonce", async () => {
    const { request, submit } = await setup();
    const requestId = await request();
    const before = (await api("GET", "/v1/presentations/submissions?pageSize=1000")).body.submissions.length;
    const other = await custodialDid("Ed25519");
    const wrongAud = await submit({ aud: other.did, nonce: requestId });
    expectProblem(wrongAud, 400, "presentation_rejected");
    expect(refusedAt(wrongAud)).toEqual(["submissionJwt.aud"]);
    const noAud = await submit({ nonce: requestId });
    expectProblem(noAud, 400, "presentation_rejected");
    expect(refusedAt(noAud)).toEqual(["submissionJwt.aud"]);
    const audOnly = await submit({ aud: other.did });
    expectProblem(audOnly, 400, "presentation_rejected");
    expect(refusedAt(audOnly)).toEqual(["submissionJwt.nonce"]);
    expect((await api("GET", "/v1/presentations/submissions?pageSize=1000")).body.submissions.length).toBe(before);
  });

  it("is refused when the nonce names no live request, or a request for another definition", async () => {
    const { verifier, request, definition, submit } = await setup();
    const unknown = await submit({ aud: verifier.did, nonce: crypto.randomUUID() });
    expectProblem(unknown, 400, "presentation_rejected");
    expect(refusedAt(unknown)).toEqual(["submissionJwt.nonce"]);

    const otherRequest = await request(await definition());
    const mismatch = await submit({ aud: verifier.did, nonce: otherRequest });
    expectProblem(mismatch, 400, "presentation_rejected");
    expect(refusedAt(mismatch)).toEqual(["presentation_submission.definition_id"]);

    const deleted = await request();
    expect((await api("DELETE", `/v1/presentations/requests/${deleted}`)).status).toBe(204);
    const gone = await submit({ aud: verifier.did, nonce: deleted });
    expectProblem(gone, 400, "presentation_rejected");
    expect(refusedAt(gone)).toEqual(["submissionJwt.nonce"]);
  });
});

describe("cancelling a submission's operation", () => {
  it("ends it as any operation ends (done, code cancelled); the submission is no longer reviewable; again is 409", async () => {
    const { submit } = await setup();
    const res = await submit();
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const opId = res.body.id as string;
    const id = opId.split("/").pop()!;

    const cancelled = await api("PUT", `/v1/operations/cancel/${opId}`);
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body).toMatchObject({ id: opId, done: true, result: { code: "cancelled" } });
    expect((await api("GET", `/v1/operations/${opId}`)).body).toMatchObject({ done: true, result: { code: "cancelled" } });
    expect((await api("GET", `/v1/presentations/submissions/${id}`)).body).toMatchObject({ status: "denied", reason: "cancelled" });

    expectProblem(await api("PUT", `/v1/operations/cancel/${opId}`), 409, "operation_done");
    expectProblem(await api("PUT", `/v1/presentations/submissions/${id}/review`, { approved: true }), 409, "operation_done");
  });

  it("a reviewed submission's operation cannot be cancelled (409)", async () => {
    const { submit } = await setup();
    const res = await submit();
    const opId = res.body.id as string;
    const id = opId.split("/").pop()!;
    expect((await api("PUT", `/v1/presentations/submissions/${id}/review`, { approved: true })).status).toBe(200);
    expectProblem(await api("PUT", `/v1/operations/cancel/${opId}`), 409, "operation_done");
    expect((await api("GET", `/v1/operations/${opId}`)).body).toMatchObject({ result: { response: { status: "approved" } } });
  });
});

describe("a presentation request's audience", () => {
  it("is DIDs only, as a manifest request's is: an origin as audience would make its JWT pass for a DID-auth token there", async () => {
    const { verifier, definitionId } = await setup();
    const res = await api("PUT", "/v1/presentations/requests", {
      issuerId: verifier.did,
      verificationMethodId: verifier.vmId,
      presentationDefinitionId: definitionId,
      audience: ["http://ssi.test"],
      expiration: new Date(Date.now() + 240_000).toISOString(),
    });
    expectProblem(res, 400, "validation_failed");
    expect(refusedAt(res)).toEqual(["audience.0"]);
  });
});
