import { z } from "zod";
import { CREDENTIAL_FORMATS } from "./models";

/**
 * How a status list's publication is retried, shared by the issuer object (which schedules the
 * retries) and the HTTP layer (which documents and shows them).
 *
 * A list whose newest sign job ended unsigned (a signer rejected it, it expired, an operator
 * cancelled it) is offered again after 30 s, then 60 s, 120 s, ... and not after its 8th job for
 * the same bits: a signer that refuses a list does not get a new job every 30 s forever. A change
 * of the list's bits starts over at one attempt.
 */
export const PUBLISH_RETRY_BASE_MS = 30_000;
export const PUBLISH_MAX_ATTEMPTS = 8;

/** Where a status list's publication stands (GET /v1/credentials/status/{listId}/publication). */
export const ListPublication = z.object({
  id: z.string(),
  purpose: z.enum(["revocation", "suspension"]),
  format: z.enum(CREDENTIAL_FORMATS),
  statusListCredential: z.string(),
  revision: z.number().int().describe("The revision of the list's bits; published once its sign job is signed."),
  publication: z.object({
    state: z
      .enum(["published", "pending", "retrying", "failed", "stopped"])
      .describe(
        "published: the newest revision is signed. pending: its sign job waits for a signer. retrying: the newest job ended " +
          "unsigned (rejected, expired, cancelled) and another is offered at nextAttemptAt (30 s, then 60 s, 120 s, ...). " +
          `failed: ${PUBLISH_MAX_ATTEMPTS} jobs in a row ended unsigned; none is offered until a status change restarts publication. ` +
          "stopped: the issuer can no longer sign (DID deleted, keys revoked).",
      ),
    attempts: z.number().int().describe("Sign jobs offered for the list's current bits"),
    nextAttemptAt: z.string().optional(),
    lastError: z.string().optional().describe("Why the newest job ended unsigned"),
  }),
});
export type ListPublication = z.infer<typeof ListPublication>;
export type Publication = ListPublication["publication"];
