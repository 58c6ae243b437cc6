import { z } from "zod";
import { defineKind, insertSignedRow, resignInTable, type D1Write } from "../../src/core/kinds";
import { responseClaims } from "../../src/manifests/build";
import type { CredentialResponse } from "../../src/manifests/model";

const ResponseInput = z.object({
  applicationId: z.string(),
  /** The DIF credential_response (fulfilment or denial), built by the route. */
  response: z.record(z.string(), z.unknown()).and(z.object({ id: z.string(), manifest_id: z.string(), applicant: z.string() })),
});
const ResponseContext = z.object({ responseId: z.string(), applicationId: z.string(), manifestId: z.string(), applicant: z.string() });
type ResponseContext = z.infer<typeof ResponseContext>;

function responseWrite(
  did: string,
  c: ResponseContext,
  response: unknown,
  operationId: string,
  createdAt: number,
  signed: { jwt: string; at: number } | null,
): D1Write {
  return insertSignedRow("credential_responses", {
    id: c.responseId,
    application_id: c.applicationId,
    manifest_id: c.manifestId,
    issuer: did,
    applicant: c.applicant,
    operation_id: operationId,
    response: JSON.stringify(response),
    jwt: signed?.jwt ?? null,
    created_at: createdAt,
    signed_at: signed?.at ?? null,
  });
}

const responseOf = (payload: Record<string, unknown> | null) => (payload?.credential_response ?? null) as CredentialResponse | null;

/** A credential container as the credential kind answers it. */
const Container = z.object({ credentialJwt: z.string().optional() }).passthrough();

/**
 * The issuer's signed DIF credential_response to an application. With an approval it is the last
 * job of an operation whose other jobs are the credentials; `combine` shapes that operation's result.
 */
export const credentialResponseKind = defineKind({
  kind: "credential-response",
  input: ResponseInput,
  context: ResponseContext,
  resign: resignInTable("credential_responses", (c: ResponseContext) => c.responseId),

  prepare(ctx, input) {
    const response = input.response as unknown as CredentialResponse;
    const context: ResponseContext = {
      responseId: response.id,
      applicationId: input.applicationId,
      manifestId: response.manifest_id,
      applicant: input.response.applicant,
    };
    const operationId = ctx.operationId ?? `credentials/responses/${input.applicationId}`;
    ctx.write(`credential-response:${response.id}`, responseWrite(ctx.did, context, response, operationId, ctx.now, null));
    return {
      operationId,
      header: { typ: "JWT" },
      payload: responseClaims(ctx.did, response, ctx.now),
      context,
      pending: { credential_response: response },
    };
  },

  finalise(ctx, job, jwt) {
    const response = responseOf(job.payload);
    ctx.write(
      `credential-response:${job.context.responseId}`,
      responseWrite(ctx.did, job.context, response, job.operationId, job.createdAt, { jwt, at: ctx.now }),
    );
    // A denial is the operation's only job: this is its whole result.
    return { credential_response: response, verifiableCredentials: [], responseJwt: jwt };
  },

  compact: () => ({}),
  expand: (_stored, job) => ({
    credential_response: responseOf(job.payload) ?? { id: job.context.responseId },
    verifiableCredentials: [],
    ...(job.jwt ? { responseJwt: job.jwt } : {}),
  }),

  /** The approved application's result: the credentials' JWTs in output descriptor order, and the response. */
  combine(responses: unknown[]) {
    const last = responses[responses.length - 1] as { credential_response?: unknown; responseJwt?: string };
    const credentials = responses.slice(0, -1).map((r) => Container.parse(r).credentialJwt);
    return { credential_response: last.credential_response, verifiableCredentials: credentials, responseJwt: last.responseJwt };
  },
});
