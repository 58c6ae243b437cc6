import type { IssuerKey } from "../../src/keys/model";
import type { JobKind } from "../../src/signjobs/model";
import type { JobRow } from "../jobs";
import type { D1Write } from "../outbox";

export type StatusPurpose = "revocation" | "suspension";

/** What a route asks the issuer object to sign: one JWT for one operation. */
export interface JobSpec {
  kind: JobKind;
  operationId: string;
  /** Header members besides alg and kid, which come from the key (e.g. typ). */
  header: Record<string, unknown>;
  /** The JWT claims. */
  payload: Record<string, unknown>;
  /** Whatever the kind's finaliser needs to write the artifact, as JSON. */
  context: Record<string, unknown>;
}

/** A status entry allocated for a credential inside the creating transaction. */
export interface StatusAllocation {
  listId: string;
  index: number;
  purpose: StatusPurpose;
  /** The URL of the list's credential. */
  listCredential: string;
}

/** What a kind's hooks may touch. They run inside the object's SQLite transaction and must not await. */
export interface KindContext {
  now: number;
  did: string;
  origin: string;
  key: IssuerKey;
  /** Records an idempotent D1 write to deliver after the transaction. */
  write(key: string, write: D1Write): void;
  /** Allocates a status entry in the issuer's open list for a purpose and credential format. */
  allocateStatus(purpose: StatusPurpose, credentialId: string, format: "jwt_vc" | "vc+jwt"): StatusAllocation;
  /** A credential's current status flags (all false without a status entry). */
  statusOf(credentialId: string): { revoked: boolean; suspended: boolean; version: number };
}

export interface Prepared {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  context: Record<string, unknown>;
  /** What the pending operation shows as `result.response` before the job is signed. */
  pendingResponse?: unknown;
}

/** The only per-kind code: how an artifact is prepared before signing and completed after. */
export interface KindHandler {
  /** Inside the creating transaction: finish the claims and record the pending artifact. */
  prepare(ctx: KindContext, spec: JobSpec): Prepared;
  /** Inside the signing transaction: record the signed artifact; returns the operation's response. */
  finalise(ctx: KindContext, job: JobRow, jwt: string): unknown;
  /** Inside the transaction that ended the job without a signature (rejected, cancelled, expired). */
  failed?(ctx: KindContext, job: JobRow): void;
  /**
   * The response as stored (job and operation rows): without what `expand` derives from the job
   * again (the claims, the JWT), so the claims are stored once, in the signing input.
   */
  compact?(response: unknown): unknown;
  /** The stored response made whole from the job's signing input and signature (unless purged). */
  expand?(stored: unknown, job: JobRow): unknown;
}
