import { payloadOf, type JobRow } from "../jobs";
import { BSL_V1_CONTEXT } from "./status-list";
import type { KindContext, KindHandler, StatusPurpose } from "./types";

/** What the credential route hands the issuer object besides the claims. */
export interface CredentialContext {
  credentialId: string;
  format: "jwt_vc" | "vc+jwt";
  issuer: string;
  subject: string;
  schemaId: string | null;
  verificationMethodId: string;
  statusPurpose: StatusPurpose | null;
  /** Filled in by prepare: the credential as signed, status entry included. */
  credential?: Record<string, unknown>;
  statusListId?: string | null;
  statusIndex?: number | null;
}

export interface CredentialContainer {
  id: string;
  fullyQualifiedVerificationMethodId: string;
  credential: Record<string, unknown>;
  credentialJwt?: string;
  revoked: boolean;
  suspended: boolean;
  operationId: string;
}

/** The credential object inside the claims: `vc` for VC 1.1 JWTs, the payload itself for VC 2.0. */
function credentialIn(format: CredentialContext["format"], payload: Record<string, unknown>): Record<string, unknown> {
  return format === "jwt_vc" ? (payload.vc as Record<string, unknown>) : payload;
}

type Flags = { revoked: boolean; suspended: boolean; version: number };
const NO_STATUS: Flags = { revoked: false, suspended: false, version: 0 };

export function container(c: CredentialContext, operationId: string, jwt?: string, flags: Flags = NO_STATUS): CredentialContainer {
  return {
    id: c.credentialId,
    fullyQualifiedVerificationMethodId: c.verificationMethodId,
    credential: c.credential ?? {},
    ...(jwt ? { credentialJwt: jwt } : {}),
    revoked: flags.revoked,
    suspended: flags.suspended,
    operationId,
  };
}

/**
 * Upsert of the whole row: it may land before or after the pending one, and only the first JWT sticks.
 * The status flags ride along for the case where a status update reached D1 before the row did.
 */
function credentialWrite(
  c: CredentialContext,
  operationId: string,
  createdAt: number,
  jwt: string | null,
  signedAt: number | null,
  flags: Flags = NO_STATUS,
) {
  return {
    sql: `INSERT INTO credentials (id, issuer, subject, schema_id, verification_method_id, operation_id, format, credential,
            jwt, status_list_id, status_index, status_purpose, created_at, signed_at, revoked, suspended, status_version)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT(id) DO UPDATE SET jwt = excluded.jwt, signed_at = excluded.signed_at
          WHERE credentials.jwt IS NULL AND excluded.jwt IS NOT NULL`,
    params: [
      c.credentialId,
      c.issuer,
      c.subject,
      c.schemaId,
      c.verificationMethodId,
      operationId,
      c.format,
      JSON.stringify(c.credential ?? {}),
      jwt,
      c.statusListId ?? null,
      c.statusIndex ?? null,
      c.statusPurpose,
      createdAt,
      signedAt,
      flags.revoked ? 1 : 0,
      flags.suspended ? 1 : 0,
      flags.version,
    ],
  };
}

export const credentialKind: KindHandler = {
  prepare(ctx: KindContext, spec) {
    const c = spec.context as unknown as CredentialContext;
    const payload = structuredClone(spec.payload);
    const credential = credentialIn(c.format, payload);
    if (c.statusPurpose) {
      const s = ctx.allocateStatus(c.statusPurpose, c.credentialId, c.format);
      // VC 1.1 does not define the Bitstring Status List terms; VC 2.0's context does.
      const contexts = credential["@context"];
      if (c.format === "jwt_vc" && Array.isArray(contexts) && !contexts.includes(BSL_V1_CONTEXT)) contexts.push(BSL_V1_CONTEXT);
      credential.credentialStatus = {
        id: `${s.listCredential}#${s.index}`,
        type: "BitstringStatusListEntry",
        statusPurpose: s.purpose,
        statusListIndex: String(s.index),
        statusListCredential: s.listCredential,
      };
      c.statusListId = s.listId;
      c.statusIndex = s.index;
    }
    const context: CredentialContext = { ...c, credential };
    ctx.write(`credential:${c.credentialId}`, credentialWrite(context, spec.operationId, ctx.now, null, null));
    // The job keeps the credential once, inside its claims; its stored context only says where.
    const { credential: _inClaims, ...stored } = context;
    return { header: spec.header, payload, context: { ...stored }, pendingResponse: container(context, spec.operationId) };
  },

  finalise(ctx: KindContext, job: JobRow, jwt: string) {
    const c = withCredential(job);
    const flags = ctx.statusOf(c.credentialId);
    ctx.write(`credential:${c.credentialId}`, credentialWrite(c, job.operation_id, job.created_at, jwt, ctx.now, flags));
    return container(c, job.operation_id, jwt, flags);
  },

  compact(response) {
    const { credential: _credential, credentialJwt: _jwt, ...rest } = response as CredentialContainer;
    return rest;
  },

  expand(stored, job) {
    const r = stored as Omit<CredentialContainer, "credential"> & { credential?: Record<string, unknown> };
    if (job.purged_at !== null) return r;
    const c = withCredential(job);
    const signed = job.status === "signed" && job.signature !== null;
    return {
      id: r.id,
      fullyQualifiedVerificationMethodId: r.fullyQualifiedVerificationMethodId,
      credential: c.credential ?? {},
      ...(signed ? { credentialJwt: `${job.signing_input}.${job.signature}` } : {}),
      revoked: r.revoked,
      suspended: r.suspended,
      operationId: r.operationId,
    };
  },
};

/** The job's context with its credential, read from the claims (jobs stored before that kept a copy). */
function withCredential(job: JobRow): CredentialContext {
  const c = JSON.parse(job.context) as CredentialContext;
  return c.credential ? c : { ...c, credential: credentialIn(c.format, payloadOf(job)) };
}
