/**
 * A holder's answer is used once (migration 0012). A relying party that accepts the same VP twice
 * lets anyone who saw it once present it again as if the holder had; a request's `nonce` is a
 * challenge, so each holder answers it once. D1's unique indexes decide, so two racing copies
 * cannot both land; this module turns their refusal into the answer a client can act on.
 */
import { ProblemError } from "../http/errors";

export async function jwtDigest(jwt: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(jwt)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Which unique index refused an insert (`table.column` as SQLite names the first column), or null for any other error. */
export function uniqueViolation(err: unknown): string | null {
  const m = /UNIQUE constraint failed: ([\w.]+)/.exec(String((err as { message?: unknown })?.message ?? err));
  return m ? m[1]! : null;
}

export const alreadySubmitted = (what: string, existing: string | undefined) =>
  new ProblemError(
    409,
    "already_submitted",
    `this ${what} was submitted before${existing ? ` (${existing})` : ""}; a holder's JWT is accepted once`,
  );

export const requestAnswered = (kind: string, requestId: string, holder: string) =>
  new ProblemError(409, "request_answered", `${holder} already answered ${kind} ${requestId}; its nonce is accepted once per holder`);
