import type { Context } from "hono";
import { z } from "@hono/zod-openapi";
import {
  IDEMPOTENCY_KEY_MAX,
  IDEMPOTENCY_TTL_MS,
  INTERNAL_IDEMPOTENCY_TTL_MS,
  INTERNAL_SCOPE,
  type IdempotencyClaim,
} from "../core/idempotency";
import type { AppEnv } from "./router";

// The draft sends the key as a structured-field string ("..."); a bare token is accepted too.
const unquote = (v: string) => (v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v);
const PRINTABLE = /^[\x20-\x7E]+$/;

/** The `Idempotency-Key` request header of every create route (validated, and documented in OpenAPI). */
export const IdempotencyHeaders = z.object({
  "idempotency-key": z
    .string()
    .refine((v) => {
      const key = unquote(v);
      return key.length >= 1 && key.length <= IDEMPOTENCY_KEY_MAX && PRINTABLE.test(key);
    }, `must be 1 to ${IDEMPOTENCY_KEY_MAX} printable ASCII characters`)
    .optional()
    .openapi({
      param: { name: "idempotency-key", in: "header" },
      description:
        "Makes the create safe to retry: a retry with the same key and the same body (byte for byte) returns the " +
        "first answer and creates nothing; the same key with another body is 422 `idempotency_key_reused`. " +
        "Keys are kept 24 hours, per caller.",
      example: "8e03978e-40d5-43e8-bc93-6894a57f9324",
    }),
});

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));
const hex = (bytes: ArrayBuffer) => {
  let out = "";
  for (const b of new Uint8Array(bytes)) out += HEX[b];
  return out;
};
const sha256 = async (text: string) => hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));

/**
 * Who a key belongs to. Operators are told apart by their token's fingerprint (never the token),
 * so two operators' keys never collide; a signer by its DID.
 */
function callerScope(c: Context<AppEnv>): string {
  const principal = c.get("principal");
  return principal.kind === "did" ? `did:${principal.did}` : `operator:${principal.tokenId}`;
}

/**
 * The idempotency claim of a create: the caller's key, or, without one, a key of the service's
 * own for this request alone (so that the route's retry of a failed object call creates nothing
 * twice). The fingerprint covers method, path and the body's exact bytes.
 */
export async function idempotencyClaim(c: Context<AppEnv>): Promise<IdempotencyClaim & { fromClient: boolean }> {
  const header = c.req.header("idempotency-key");
  const url = new URL(c.req.url);
  const fingerprint = await sha256(`${c.req.method} ${url.pathname}\n${await c.req.text()}`);
  if (header === undefined) {
    return { scope: INTERNAL_SCOPE, key: crypto.randomUUID(), fingerprint, ttlMs: INTERNAL_IDEMPOTENCY_TTL_MS, fromClient: false };
  }
  return { scope: callerScope(c), key: unquote(header), fingerprint, ttlMs: IDEMPOTENCY_TTL_MS, fromClient: true };
}
