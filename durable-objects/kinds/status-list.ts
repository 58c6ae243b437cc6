import { z } from "zod";
import { defineKind, insertRow, type D1Write } from "../../src/core/kinds";
import { CREDENTIAL_FORMATS } from "../../src/core/models";
import { BSL_V1_CONTEXT, credentialIn, credentialJwt } from "../../src/vc/claims";

/** One revision of one list: which list, which revision of its bits, and the bits themselves. */
const StatusListRevision = z.object({
  listId: z.string(),
  revision: z.number().int(),
  purpose: z.enum(["revocation", "suspension"]),
  format: z.enum(CREDENTIAL_FORMATS),
  /** The list credential's URL (its `id`). */
  url: z.string(),
  /** How long verifiers may cache it (the credential's `ttl`). */
  ttlMs: z.number(),
  /** The bits: multibase base64url of the gzipped bitstring. */
  encodedList: z.string(),
});
/** The job keeps everything but the bits, which are in its claims. */
const StatusListContext = StatusListRevision.omit({ encodedList: true });
type StatusListContext = z.infer<typeof StatusListContext>;

/** The operation's response; `credentialJwt` once signed. */
const StoredResponse = z.object({ id: z.string(), revision: z.number(), statusListCredential: z.string() });
const response = (c: StatusListContext) => ({ id: c.listId, revision: c.revision, statusListCredential: c.url });

/**
 * The published list in D1. Only a newer revision replaces an older one, so a replayed or
 * late delivery of an older signed revision never rolls the published list back.
 */
function publishWrite(did: string, now: number, c: StatusListContext, credential: Record<string, unknown>, jwt: string): D1Write {
  const row = { id: c.listId, issuer: did, purpose: c.purpose, format: c.format, credential: JSON.stringify(credential), jwt };
  const update =
    "credential = excluded.credential, jwt = excluded.jwt, ttl_ms = excluded.ttl_ms, version = excluded.version, updated_at = excluded.updated_at";
  const onConflict = `ON CONFLICT(id) DO UPDATE SET ${update} WHERE status_lists.version < excluded.version`;
  return insertRow("status_lists", { ...row, ttl_ms: c.ttlMs, version: c.revision, updated_at: now }, onConflict);
}

/** A Bitstring Status List credential: one job per revision of a list's bits (durable-objects/status-lists.ts). */
export const statusListKind = defineKind({
  kind: "status-list",
  input: StatusListRevision,
  context: StatusListContext,

  prepare(ctx, { encodedList, ...context }) {
    const subject = {
      id: `${context.url}#list`,
      type: "BitstringStatusList",
      statusPurpose: context.purpose,
      encodedList,
      ttl: context.ttlMs,
    };
    const { header, payload } = credentialJwt(context.format, {
      contexts: context.format === "jwt_vc" ? [BSL_V1_CONTEXT] : [],
      id: context.url,
      types: ["BitstringStatusListCredential"],
      issuer: ctx.did,
      subject,
      issuedAt: ctx.now,
    });
    const operationId = ctx.operationId ?? `status-lists/${context.listId}.${context.revision}`;
    return { operationId, header, payload, context, pending: response(context) };
  },

  finalise(ctx, job, jwt) {
    const c = job.context;
    ctx.write(`status-list:${c.listId}`, publishWrite(ctx.did, ctx.now, c, credentialIn(c.format, job.payload ?? {}) ?? {}, jwt));
    return { ...response(c), credentialJwt: jwt };
  },

  compact: (r) => StoredResponse.parse(r),

  expand(stored, job) {
    const r = StoredResponse.parse(stored);
    return job.jwt === null ? r : { ...r, credentialJwt: job.jwt };
  },
});
