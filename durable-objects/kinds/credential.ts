import type { JobRow } from "../jobs";
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

export function container(c: CredentialContext, operationId: string, jwt?: string): CredentialContainer {
  return {
    id: c.credentialId,
    fullyQualifiedVerificationMethodId: c.verificationMethodId,
    credential: c.credential ?? {},
    ...(jwt ? { credentialJwt: jwt } : {}),
    revoked: false,
    suspended: false,
    operationId,
  };
}

/** Upsert of the whole row: it may land before or after the pending one, and only the first JWT sticks. */
function credentialWrite(c: CredentialContext, operationId: string, createdAt: number, jwt: string | null, signedAt: number | null) {
  return {
    sql: `INSERT INTO credentials (id, issuer, subject, schema_id, verification_method_id, operation_id, format, credential,
            jwt, status_list_id, status_index, status_purpose, created_at, signed_at)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
    ],
  };
}

export const credentialKind: KindHandler = {
  prepare(ctx: KindContext, spec) {
    const c = spec.context as unknown as CredentialContext;
    const payload = structuredClone(spec.payload);
    const credential = credentialIn(c.format, payload);
    if (c.statusPurpose) {
      const s = ctx.allocateStatus(c.statusPurpose, c.credentialId);
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
    return { header: spec.header, payload, context: { ...context }, pendingResponse: container(context, spec.operationId) };
  },

  finalise(ctx: KindContext, job: JobRow, jwt: string) {
    const c = JSON.parse(job.context) as CredentialContext;
    ctx.write(`credential:${c.credentialId}`, credentialWrite(c, job.operation_id, job.created_at, jwt, ctx.now));
    return container(c, job.operation_id, jwt);
  },
};
