import { z } from "zod";

/** A sign job as the service sends it (api.md "Sign jobs"); unknown fields are ignored. */
export const SignJobSchema = z.object({
  id: z.string().min(1),
  did: z.string(),
  verificationMethodId: z.string(),
  keyRef: z.string().optional(),
  alg: z.enum(["EdDSA", "ES256", "ES256K"]),
  // Kept open: a newer service may add kinds, and the policy file decides what to sign.
  kind: z.string(),
  operationId: z.string().optional(),
  // Checked by inspect.ts, which answers a bad one with a reason instead of dropping the job.
  signingInput: z.string().min(1),
  digest: z.string().optional(),
  payload: z.record(z.string(), z.unknown()).optional(),
  status: z.string().optional(),
  expiresAt: z.string().optional(),
});
export type SignJob = z.infer<typeof SignJobSchema>;

/**
 * Server-to-signer frames. `jobs` is kept as unknown[] so that one malformed job is dropped on
 * its own instead of taking the rest of the batch with it.
 */
export const ServerFrameSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready"), did: z.string(), pending: z.number().int().nonnegative() }),
  z.object({ type: z.literal("jobs"), jobs: z.array(z.unknown()) }),
  z.object({
    type: z.literal("result"),
    id: z.string(),
    status: z.string(),
    code: z.string().optional(),
  }),
  z.object({
    type: z.literal("results"),
    results: z.array(z.object({ id: z.string(), status: z.string(), code: z.string().optional() })),
  }),
  z.object({ type: z.literal("cancelled"), ids: z.array(z.string()) }),
  z.object({ type: z.literal("error"), code: z.string(), detail: z.string().optional() }),
]);
export type ServerFrame = z.infer<typeof ServerFrameSchema>;

/** What the signer answers a job with, over the socket or HTTP. */
export type Answer = { type: "sign"; id: string; signature: string } | { type: "reject"; id: string; reason: string };

/** `PUT /v1/signjobs` batch response. */
export const BatchResultSchema = z.object({
  results: z.array(z.object({ id: z.string(), status: z.string(), code: z.string().optional() })),
});

/** `GET /v1/signjobs` response. */
export const JobListSchema = z.object({
  signJobs: z.array(z.unknown()),
  nextPageToken: z.string().optional(),
});

/** Parses one text frame; `pong` is the server's answer to our keep-alive `ping`, not JSON. */
export function parseFrame(raw: string): { ok: true; frame: ServerFrame | "pong" } | { ok: false; error: string } {
  if (raw === "pong") return { ok: true, frame: "pong" };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, error: "not JSON" };
  }
  const r = ServerFrameSchema.safeParse(json);
  return r.success ? { ok: true, frame: r.data } : { ok: false, error: z.prettifyError(r.error) };
}
