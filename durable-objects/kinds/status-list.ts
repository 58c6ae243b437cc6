import { payloadOf, type JobRow } from "../jobs";
import type { D1Write } from "../outbox";
import type { KindContext, KindHandler, StatusPurpose } from "./types";

/** Bitstring Status List terms for VC 1.1 documents; VC 2.0's own context already defines them. */
export const BSL_V1_CONTEXT = "https://www.w3.org/ns/credentials/status/v1";

/** What a status-list job carries besides its claims: which list, and which revision of its bits. */
export interface StatusListJobContext {
  listId: string;
  revision: number;
  purpose: StatusPurpose;
  format: "jwt_vc" | "vc+jwt";
  /** The list credential's URL (its `id`). */
  url: string;
  ttlMs: number;
}

/** The operation's response once a list revision is signed. */
export interface StatusListResponse {
  id: string;
  revision: number;
  statusListCredential: string;
  credentialJwt?: string;
}

/** The credential object inside the claims: `vc` for VC 1.1 JWTs, the payload itself for VC 2.0. */
function credentialOf(c: StatusListJobContext, payload: Record<string, unknown>): Record<string, unknown> {
  return c.format === "jwt_vc" ? (payload.vc as Record<string, unknown>) : payload;
}

/**
 * The published list in D1. Only a newer revision replaces an older one, so a replayed or
 * late delivery of an older signed revision never rolls the published list back.
 */
function publishWrite(ctx: KindContext, c: StatusListJobContext, credential: Record<string, unknown>, jwt: string): D1Write {
  return {
    sql: `INSERT INTO status_lists (id, issuer, purpose, format, credential, jwt, ttl_ms, version, updated_at)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT(id) DO UPDATE SET credential = excluded.credential, jwt = excluded.jwt, ttl_ms = excluded.ttl_ms,
            version = excluded.version, updated_at = excluded.updated_at
          WHERE status_lists.version < excluded.version`,
    params: [c.listId, ctx.did, c.purpose, c.format, JSON.stringify(credential), jwt, c.ttlMs, c.revision, ctx.now],
  };
}

/** A Bitstring Status List credential: one job per list revision; the claims are built by StatusLists. */
export const statusListKind: KindHandler = {
  prepare(_ctx, spec) {
    const c = spec.context as unknown as StatusListJobContext;
    const pending: StatusListResponse = { id: c.listId, revision: c.revision, statusListCredential: c.url };
    return { header: spec.header, payload: spec.payload, context: spec.context, pendingResponse: pending };
  },

  finalise(ctx: KindContext, job: JobRow, jwt: string): StatusListResponse {
    const c = JSON.parse(job.context) as StatusListJobContext;
    const credential = credentialOf(c, payloadOf(job));
    ctx.write(`status-list:${c.listId}`, publishWrite(ctx, c, credential, jwt));
    return { id: c.listId, revision: c.revision, statusListCredential: c.url, credentialJwt: jwt };
  },

  compact(response) {
    const { credentialJwt: _jwt, ...rest } = response as StatusListResponse;
    return rest;
  },

  expand(stored, job) {
    const r = stored as StatusListResponse;
    if (job.status !== "signed" || job.purged_at !== null || job.signature === null) return r;
    return { ...r, credentialJwt: `${job.signing_input}.${job.signature}` };
  },
};
