import { z } from "zod";
import type { ProblemCode, Result } from "../src/core/errors";
import { MAX_FREE_FORM_DEPTH, dottedPath, findTooDeepInText } from "../src/core/json-depth";
import { requireOneSignature, submissionFields, type SignJob } from "../src/core/models";
import { signOutcome, type SignOutcome } from "../src/core/protocol";

/** A socket that has not authenticated by then is closed with 4401 (api.md "Signer WebSocket"). */
export const AUTH_TIMEOUT_MS = 10_000;
/** How long a job stays with one signer before it is offered again. */
export const LEASE_MS = 60_000;
/** Jobs per backlog frame. */
export const PAGE_SIZE = 100;
/** Ids per `cancelled` frame. */
export const CANCELLED_PAGE = 1_000;
/** Not (or no longer) authenticated: no auth in time, refused credentials, a removed token or revoked key. */
export const CLOSE_UNAUTHORIZED = 4401;
/** Authenticated, but no longer allowed: the issuer DID was deleted. */
export const CLOSE_FORBIDDEN = 4403;
/**
 * Sockets of one object still waiting for their first-message auth. Each costs the object memory
 * and a deadline until it speaks; past this many, more are refused until some authenticate or time out.
 */
export const MAX_UNAUTHENTICATED = 16;
/** How long the one-time ticket of an admitted upgrade stays good: the Worker uses it at once. */
export const ADMISSION_TTL_MS = 30_000;

/**
 * Who a socket authenticated as, small enough for its attachment: an operator by the fingerprint
 * of its token (re-checked against `API_TOKENS` on every state-changing frame), a signer by the
 * fingerprint of its key (re-checked when the object's auth epoch moves). A `did` principal is
 * always this object's DID (anything else is refused before it gets here), so it is not repeated.
 */
export const SocketPrincipalSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("operator"), tokenId: z.string().min(1).max(64) }),
  z.object({ kind: z.literal("did"), keyId: z.string().min(1).max(64) }),
]);
export type SocketPrincipal = z.infer<typeof SocketPrincipalSchema>;

/**
 * What a hibernated socket remembers about itself. Small (it must stay far under 2 KiB) and
 * validated on every read. `principal` null means not yet authenticated.
 */
export const AttachmentSchema = z.object({
  v: z.literal(2),
  signer: z.string().min(1).max(64),
  principal: SocketPrincipalSchema.nullable(),
  /** The object's auth epoch when the principal was last checked; a revocation or deletion moves it. */
  epoch: z.number().int(),
  connectedAt: z.number().int(),
  /** Until when first-message auth may arrive; null once authenticated. */
  authDeadline: z.number().int().nullable(),
  /** The service origin: the DID-auth audience and the origin artifacts are finalised with. */
  origin: z.string().max(512),
});
export type Attachment = z.infer<typeof AttachmentSchema>;

const JobId = z.string().min(1).max(200);

/** Signer → server frames. Unknown fields are ignored so newer signers still talk to us. */
export const SignerMessageSchema = z
  .discriminatedUnion("type", [
    z.object({ type: z.literal("auth"), token: z.string().min(1).max(16_384) }),
    z.object({ type: z.literal("sign"), id: JobId, ...submissionFields }),
    z.object({ type: z.literal("reject"), id: JobId, reason: z.string().min(1).max(1000) }),
  ])
  .superRefine((m, ctx) => {
    if (m.type === "sign") requireOneSignature(m, ctx);
  });

/** Signatures per batched `sign` frame at most, as in a `PUT /v1/signjobs` batch. */
export const MAX_SIGN_BATCH = 1000;

/** `{ type: "sign", signatures: [...] }`: many signatures, answered by one `results` frame. */
export const SignBatchSchema = z.object({
  type: z.literal("sign"),
  signatures: z
    .array(z.object({ id: JobId, ...submissionFields }).superRefine((s, ctx) => requireOneSignature(s, ctx)))
    .min(1)
    .max(MAX_SIGN_BATCH),
});

/** What a frame asks, once parsed; a batched `sign` frame is told apart from a single one here. */
export type SignerMessage =
  | z.infer<typeof SignerMessageSchema>
  | { type: "sign-batch"; signatures: z.infer<typeof SignBatchSchema>["signatures"] };

/** Server → signer frames. */
export type ServerFrame =
  | { type: "ready"; did: string; pending: number }
  | { type: "jobs"; jobs: SignJob[] }
  | ({ type: "result" } & SignOutcome)
  | { type: "results"; results: SignOutcome[] }
  | { type: "cancelled"; ids: string[] }
  | { type: "error"; code: ProblemCode | "already_authenticated"; detail: string };

/** The answer to a `sign` or `reject`, with the same codes as `PUT /v1/signjobs` batch results. */
export function resultFrame(id: string, result: Result<SignJob>): ServerFrame {
  return { type: "result", ...signOutcome(id, result) };
}

/** Parses one text frame; the error frame to answer with when it is not a valid message. */
export function parseMessage(raw: string | ArrayBuffer): { ok: true; message: SignerMessage } | { ok: false; frame: ServerFrame } {
  if (typeof raw !== "string") {
    return { ok: false, frame: { type: "error", code: "validation_failed", detail: "frames must be JSON text, not binary" } };
  }
  // No frame is more than a few levels deep; a deep one is refused before JSON.parse sees it.
  const deep = findTooDeepInText(raw, MAX_FREE_FORM_DEPTH);
  if (deep) {
    return {
      ok: false,
      frame: { type: "error", code: "validation_failed", detail: `${dottedPath(deep)}: nested deeper than ${MAX_FREE_FORM_DEPTH} levels` },
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return {
      ok: false,
      frame: { type: "error", code: "malformed_json", detail: "the frame is not JSON (keep-alive is the bare text ping)" },
    };
  }
  if (typeof json === "object" && json !== null && (json as { type?: unknown }).type === "sign" && "signatures" in json) {
    const batch = SignBatchSchema.safeParse(json);
    return batch.success
      ? { ok: true, message: { type: "sign-batch", signatures: batch.data.signatures } }
      : { ok: false, frame: { type: "error", code: "validation_failed", detail: z.prettifyError(batch.error) } };
  }
  const parsed = SignerMessageSchema.safeParse(json);
  return parsed.success
    ? { ok: true, message: parsed.data }
    : { ok: false, frame: { type: "error", code: "validation_failed", detail: z.prettifyError(parsed.error) } };
}

/** WebSocket close reasons are limited to 123 UTF-8 bytes. */
export function closeReason(reason: string): string {
  const bytes = new TextEncoder();
  if (bytes.encode(reason).length <= 123) return reason;
  let cut = reason.slice(0, 120);
  while (bytes.encode(`${cut}...`).length > 123) cut = cut.slice(0, -1);
  return `${cut}...`;
}
