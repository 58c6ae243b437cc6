import { z } from "zod";
import { defineKind, insertSignedRow, resignInTable, type D1Write } from "../../src/core/kinds";
import { seconds } from "../../src/vc/claims";

/** What `PUT /v1/presentations/requests` asks the verifier's DID to sign; the route has loaded the definition. */
const RequestInput = z.object({
  id: z.string(),
  issuer: z.string(),
  verificationMethodId: z.string(),
  definitionId: z.string(),
  definition: z.record(z.string(), z.unknown()),
  audience: z.array(z.string()),
  /** Milliseconds since the epoch. */
  expiresAt: z.number(),
  callbackUrl: z.string().optional(),
});
export type PresentationRequestInput = z.infer<typeof RequestInput>;

const RequestContext = z.object({
  id: z.string(),
  issuer: z.string(),
  verificationMethodId: z.string(),
  definitionId: z.string(),
  expiresAt: z.number(),
});
type RequestContext = z.infer<typeof RequestContext>;

const StoredResponse = z.object({ presentationRequest: z.object({ id: z.string(), presentationDefinitionId: z.string() }) });

function requestWrite(c: RequestContext, operationId: string, createdAt: number, jwt: string | null): D1Write {
  return insertSignedRow("presentation_requests", {
    id: c.id,
    definition_id: c.definitionId,
    issuer: c.issuer,
    verification_method_id: c.verificationMethodId,
    operation_id: operationId,
    jwt,
    expires_at: c.expiresAt,
    created_at: createdAt,
  });
}

const response = (c: { id: string; definitionId: string }, jwt?: string | null) => ({
  presentationRequest: { id: c.id, presentationDefinitionId: c.definitionId, ...(jwt ? { presentationRequestJwt: jwt } : {}) },
});

/**
 * A presentation request: a JWT signed by the verifier's DID carrying the presentation definition
 * (claims `iss`, `aud`, `iat`, `exp`, `jti`, `presentation_definition`, `callbackUrl`?).
 */
export const presentationRequestKind = defineKind({
  kind: "presentation-request",
  input: RequestInput,
  context: RequestContext,
  resign: resignInTable("presentation_requests", (c: RequestContext) => c.id),

  prepare(ctx, input) {
    const operationId = ctx.operationId ?? `presentations/requests/${input.id}`;
    const payload = {
      iss: input.issuer,
      aud: input.audience,
      iat: seconds(ctx.now),
      exp: seconds(input.expiresAt),
      jti: input.id,
      presentation_definition: input.definition,
      ...(input.callbackUrl ? { callbackUrl: input.callbackUrl } : {}),
    };
    const context: RequestContext = {
      id: input.id,
      issuer: input.issuer,
      // The key that signs it: the one asked for, or its successor when that key was rotated away.
      verificationMethodId: ctx.key.id,
      definitionId: input.definitionId,
      expiresAt: input.expiresAt,
    };
    ctx.write(`presentation-request:${input.id}`, requestWrite(context, operationId, ctx.now, null));
    return { operationId, header: { typ: "JWT" }, payload, context, pending: response(context) };
  },

  finalise(ctx, job, jwt) {
    ctx.write(`presentation-request:${job.context.id}`, requestWrite(job.context, job.operationId, job.createdAt, jwt));
    return response(job.context, jwt);
  },

  compact: (stored) => StoredResponse.parse(stored),
  expand: (stored, job) => {
    const r = StoredResponse.parse(stored);
    return response({ id: r.presentationRequest.id, definitionId: r.presentationRequest.presentationDefinitionId }, job.jwt);
  },
});
