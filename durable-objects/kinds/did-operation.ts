import { z } from "zod";
import { defineKind } from "../../src/core/kinds";
import { decodeB64uString } from "../../src/did/ion/hashing";

/**
 * A Sidetree operation (did:ion update, recover, deactivate) whose update or recovery key is
 * external: the signer signs the operation's JWS (`{ alg: ES256K }` only, no kid, as Sidetree
 * requires) over the exact bytes the ION SDK prepared (src/did/ion/operations.ts), and the signed
 * request is handed to the object's anchoring, which posts it to the ION node. A job that ends
 * unsigned fails the anchoring operation and the DID stays as it was.
 */
const DidOperationInput = z.object({
  /** The operation the client follows: done when the node accepted the signed request. */
  anchorOperationId: z.string().min(1),
  /** This job's own operation. */
  operationId: z.string().min(1),
  /** The request without `signedData`. */
  unsigned: z.record(z.string(), z.unknown()),
  /** `base64url({"alg":"ES256K"}).base64url(payload)` as the SDK built it. */
  signingInput: z.string().regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/),
});
const DidOperationContext = DidOperationInput.omit({ signingInput: true });

export const didOperationKind = defineKind({
  kind: "did-operation",
  input: DidOperationInput,
  context: DidOperationContext,
  bareHeader: true,

  prepare(ctx, input) {
    const [headerText, payloadText] = input.signingInput.split(".") as [string, string];
    const header = JSON.parse(decodeB64uString(headerText, "header")) as Record<string, unknown>;
    if (JSON.stringify(header) !== JSON.stringify({ alg: ctx.key.alg })) throw new Error("a Sidetree JWS header is { alg: ES256K } alone");
    // JSON.parse then JSON.stringify gives back the SDK's bytes (it serialised with JSON.stringify).
    const payload = JSON.parse(decodeB64uString(payloadText, "payload")) as Record<string, unknown>;
    const { signingInput: _bytes, ...context } = input;
    return {
      operationId: ctx.operationId ?? input.operationId,
      header: {},
      payload,
      context,
      pending: { anchorOperationId: input.anchorOperationId },
    };
  },

  finalise(ctx, job, jwt) {
    ctx.anchors.submit(job.context.anchorOperationId, { ...job.context.unsigned, signedData: jwt });
    return { anchorOperationId: job.context.anchorOperationId };
  },

  failed(ctx, job) {
    ctx.anchors.fail(
      job.context.anchorOperationId,
      `the did-operation sign job ended ${job.status}`,
      job.status === "rejected" ? "rejected_by_signer" : job.status,
    );
  },
});
