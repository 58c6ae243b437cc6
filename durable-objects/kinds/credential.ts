import { z } from "zod";
import { freeFormObject } from "../../src/core/json-depth";
import { defineKind, insertRow, type D1Write, type KindJob, type StatusFlags } from "../../src/core/kinds";
import { routedId, uuidOf } from "../../src/core/ids";
import { CREDENTIAL_FORMATS } from "../../src/core/models";
import { BSL_V1_CONTEXT, credentialIn, credentialJwt } from "../../src/vc/claims";
import { credentialIndexKey, indexSnapshot } from "../../src/shards/index-writes";

const Json = z.record(z.string(), z.unknown());

const Did = z
  .string()
  .min(8)
  .max(2048)
  .regex(/^did:[a-z0-9]+:\S+$/, "must be a DID");

/** What a route asks for: the body of `PUT /v1/credentials` (the route adds the checks across fields). */
export const CredentialInput = z.object({
  issuer: Did.meta({ example: "did:key:z6Mk..." }),
  verificationMethodId: z.string().min(1).max(2100).meta({ example: "did:key:z6Mk...#z6Mk..." }),
  subject: z.string().min(1).max(2048).meta({ example: "did:key:z6MkSubject..." }),
  "@context": z
    .array(z.union([z.string().min(1), freeFormObject()]))
    .max(32)
    .optional(),
  type: z.array(z.string().min(1).max(256)).max(32).optional(),
  schemaId: z.string().min(1).max(2048).optional(),
  data: freeFormObject(),
  expiry: z.iso.datetime({ offset: true }).optional(),
  revocable: z.boolean().optional(),
  suspendable: z.boolean().optional(),
  evidence: z.array(freeFormObject()).max(64).optional(),
  format: z.enum(CREDENTIAL_FORMATS).default("jwt_vc"),
});
export type CredentialInput = z.infer<typeof CredentialInput>;

/** What the job keeps besides its claims: where the credential goes. */
const CredentialContext = z.object({
  credentialId: z.string(),
  format: z.enum(CREDENTIAL_FORMATS),
  issuer: z.string(),
  subject: z.string(),
  schemaId: z.string().nullable(),
  verificationMethodId: z.string(),
  statusPurpose: z.enum(["revocation", "suspension"]).nullable(),
  statusListId: z.string().nullish(),
  statusIndex: z.number().nullish(),
  /** Only jobs stored before the claims became the one copy kept the credential here too. */
  credential: Json.optional(),
  /**
   * True for credentials created since D1's `credentials` table left the write path: they have
   * only their credential index row. Absent on older jobs, whose D1 row (body-free since 0013, or
   * with its body before) is kept up to date as it always was.
   */
  indexOnly: z.literal(true).optional(),
  /**
   * True for credentials in an operation of their own (`credentials/<id>`) created since that
   * operation's D1 row left the write path too (migrations/0014): the credential index row stands
   * for it, and `GET /v1/operations` lists it from there. Absent on older jobs, whose D1 operation
   * row is kept up to date as before, and on credentials issued inside another operation.
   */
  operationInIndex: z.literal(true).optional(),
});
type CredentialContext = z.infer<typeof CredentialContext>;

/** The container as stored with the job and operation: the credential and its JWT come from the job. */
const StoredContainer = z.object({
  id: z.string(),
  fullyQualifiedVerificationMethodId: z.string(),
  revoked: z.boolean(),
  suspended: z.boolean(),
  operationId: z.string(),
});

const NO_STATUS: StatusFlags = { revoked: false, suspended: false, version: 0 };

function container(c: CredentialContext, credential: Record<string, unknown>, operationId: string, jwt?: string, flags = NO_STATUS) {
  return {
    id: c.credentialId,
    fullyQualifiedVerificationMethodId: c.verificationMethodId,
    credential,
    ...(jwt ? { credentialJwt: jwt } : {}),
    revoked: flags.revoked,
    suspended: flags.suspended,
    operationId,
  };
}

/** A row written before 0013 that changes now loses its body too: the object answers for it from here on. */
const BODY_FREE = "credential = '', jwt = NULL";

/** Whether a credential has a row in D1's `credentials` table (created before that table left the write path). */
export const hasLegacyRow = (c: { indexOnly?: true | undefined }): boolean => c.indexOnly !== true;

/**
 * Upsert of a legacy credential's D1 row (one created before the table left the write path; new
 * credentials have only their credential index row, docs/SCALE.md): without a body (migrations/0013),
 * so a pending legacy credential signed now, or re-signed by a rotation, keeps its row current. The
 * status flags ride along for the case where a status update reached D1 before the row did.
 */
function legacyCredentialWrite(
  c: CredentialContext,
  operationId: string,
  createdAt: number,
  signed: { at: number; flags: StatusFlags; vmId?: string },
): D1Write {
  const flags = signed.flags;
  const row = {
    id: c.credentialId,
    issuer: c.issuer,
    subject: c.subject,
    schema_id: c.schemaId,
    verification_method_id: signed.vmId ?? c.verificationMethodId,
    operation_id: operationId,
    format: c.format,
    // NOT NULL since 0001; empty says "the body is in the issuer's object", as for every row since 0013.
    credential: "",
    jwt: null,
    status_list_id: c.statusListId ?? null,
    status_index: c.statusIndex ?? null,
    status_purpose: c.statusPurpose,
    created_at: createdAt,
    signed_at: signed.at,
    revoked: flags.revoked ? 1 : 0,
    suspended: flags.suspended ? 1 : 0,
    status_version: flags.version,
  };
  const onConflict = signed.vmId
    ? // Re-signed by a rotation's new key: the row names the key that signed last.
      `ON CONFLICT(id) DO UPDATE SET verification_method_id = excluded.verification_method_id, signed_at = excluded.signed_at, ${BODY_FREE} WHERE coalesce(credentials.signed_at, 0) <= excluded.signed_at`
    : `ON CONFLICT(id) DO UPDATE SET signed_at = excluded.signed_at, ${BODY_FREE} WHERE credentials.signed_at IS NULL AND excluded.signed_at IS NOT NULL`;
  return insertRow("credentials", row, onConflict);
}

/** The credential of a job: in its claims (older jobs kept a copy in the context). */
const credentialOf = (c: CredentialContext, payload: Record<string, unknown> | null) =>
  c.credential ?? (payload ? credentialIn(c.format, payload) : null) ?? {};

export type CredentialJob = KindJob<CredentialContext>;

/**
 * A credential's container as `GET /v1/credentials/{id}` answers it, from its job in the issuer's
 * object (archived claims read back first), or null when its claims are gone.
 */
export function credentialContainer(job: CredentialJob, flags: StatusFlags) {
  if (job.payload === null && !job.context.credential) return null;
  return container(job.context, credentialOf(job.context, job.payload), job.operationId, job.jwt ?? undefined, flags);
}

/** The issuer a credential job names (its context). */
export const issuerOfCredential = (job: CredentialJob): string => job.context.issuer;

/** A verifiable credential (`PUT /v1/credentials`), with a Bitstring Status List entry when revocable or suspendable. */
export const credentialKind = defineKind({
  kind: "credential",
  input: CredentialInput,
  context: CredentialContext,

  prepare(ctx, input) {
    // The id names this object, so reads of it are answered here at once (src/core/ids.ts).
    const credentialId = routedId(ctx.objectId);
    const operationId = ctx.operationId ?? `credentials/${credentialId}`;
    const statusPurpose = input.revocable ? "revocation" : input.suspendable ? "suspension" : null;
    const status = statusPurpose ? ctx.status.allocate(statusPurpose, credentialId, input.format) : null;
    const contexts = [...(input["@context"] ?? [])];
    // VC 1.1 does not define the Bitstring Status List terms; VC 2.0's context does.
    if (status && input.format === "jwt_vc" && !contexts.includes(BSL_V1_CONTEXT)) contexts.push(BSL_V1_CONTEXT);
    const entry = status && {
      id: `${status.listCredential}#${status.index}`,
      type: "BitstringStatusListEntry",
      statusPurpose: status.purpose,
      statusListIndex: String(status.index),
      statusListCredential: status.listCredential,
    };
    const { header, payload } = credentialJwt(input.format, {
      contexts,
      id: `urn:uuid:${uuidOf(credentialId)}`,
      types: input.type,
      issuer: input.issuer,
      subject: { ...input.data, id: input.subject },
      issuedAt: ctx.now,
      expiresAt: input.expiry === undefined ? undefined : Date.parse(input.expiry),
      extra: {
        ...(input.schemaId ? { credentialSchema: { id: input.schemaId, type: "JsonSchema" } } : {}),
        ...(input.evidence ? { evidence: input.evidence } : {}),
        ...(entry ? { credentialStatus: entry } : {}),
      },
    });
    const context: CredentialContext = {
      credentialId,
      format: input.format,
      issuer: input.issuer,
      subject: input.subject,
      schemaId: input.schemaId ?? null,
      // The key that signs it: the one asked for, or its successor when that key was rotated away.
      verificationMethodId: ctx.key.id,
      statusPurpose,
      statusListId: status?.listId ?? null,
      statusIndex: status?.index ?? null,
      indexOnly: true,
      // Only an operation of its own is the credential's to stand for (a manifest's response owns several).
      ...(ctx.operationId === undefined ? { operationInIndex: true as const } : {}),
    };
    const credential = credentialOf(context, payload);
    // The credential index row is its one D1 row: D1's `credentials` table grew with every credential
    // and stayed in shard 0 whatever the shard count (docs/SCALE.md); reads by id ask this object.
    ctx.write(credentialIndexKey(credentialId), indexSnapshot(context, { createdAt: ctx.now, now: ctx.now, state: "pending" }));
    return { operationId, header, payload, context, pending: container(context, credential, operationId), artifactId: credentialId };
  },

  finalise(ctx, job, jwt) {
    const c = job.context;
    const credential = credentialOf(c, job.payload);
    // Only a credential issued with a status purpose has flags to read.
    const flags = c.statusPurpose ? ctx.status.flags(c.credentialId) : NO_STATUS;
    if (hasLegacyRow(c))
      ctx.write(`credential:${c.credentialId}`, legacyCredentialWrite(c, job.operationId, job.createdAt, { at: ctx.now, flags }));
    ctx.write(credentialIndexKey(c.credentialId), indexSnapshot(c, { createdAt: job.createdAt, now: ctx.now, state: "signed", flags }));
    return container(c, credential, job.operationId, jwt, flags);
  },

  failed(ctx, job) {
    const c = job.context;
    const state = { createdAt: job.createdAt, now: ctx.now, state: "failed" as const, code: job.status };
    ctx.write(credentialIndexKey(c.credentialId), indexSnapshot(c, state));
  },

  compact: (response) => StoredContainer.parse(response),

  operationInIndex: (c) => c.operationInIndex === true,

  resign: {
    artifact: (c) => ({ id: c.credentialId, table: "credentials" }),
    // A revoked credential stays revoked and is not signed again; a suspended one may come back.
    live: (ctx, job) => !ctx.status.flags(job.context.credentialId).revoked,
    // The new JWT is the re-sign job's own: the object keeps it and the ones before it (jwtHistory).
    swap(ctx, job) {
      const c = job.context;
      const signed = { at: ctx.now, flags: ctx.status.flags(c.credentialId), vmId: ctx.key.id };
      if (hasLegacyRow(c)) ctx.write(`credential:${c.credentialId}`, legacyCredentialWrite(c, job.operationId, job.createdAt, signed));
      return { id: c.credentialId, verificationMethodId: ctx.key.id };
    },
  },

  expand(stored, job) {
    const r = StoredContainer.parse(stored);
    if (job.payload === null) return r;
    return container(job.context, credentialOf(job.context, job.payload), r.operationId, job.jwt ?? undefined, { ...r, version: 0 });
  },
});
