/**
 * The kind contract: what one kind of signed artifact (credential, status list, schema, ...)
 * supplies, and what the engine hands it. A kind is one file in durable-objects/kinds/ made with
 * `defineKind`, plus one line in the registry there; the engine has no per-kind code.
 */
import type { z } from "zod";
import type { CredentialFormat, IssuerKey, JobStatus } from "./models";

/** One idempotent D1 statement. Replaying it any number of times leaves D1 as one run would. */
export type D1Write = { sql: string; params: (string | number | null)[] };

/** An INSERT of one row whose columns are `row`'s keys, then `rest` (the ON CONFLICT that makes it idempotent). */
export function insertRow(table: string, row: Record<string, string | number | null>, rest: string): D1Write {
  const columns = Object.keys(row);
  return {
    sql: `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")}) ${rest}`,
    params: Object.values(row),
  };
}

/**
 * The D1 row of a signed artifact, written when its job is created (`jwt` null) and again once
 * signed. The signed write replaces a pending row (its `jwt`, and `signed_at` where the table has
 * one); nothing replaces a signed row, so a late pending write that is delivered after it is a no-op.
 */
export function insertSignedRow(table: string, row: { id: string; jwt: string | null } & Record<string, string | number | null>): D1Write {
  const set = "signed_at" in row ? "jwt = excluded.jwt, signed_at = excluded.signed_at" : "jwt = excluded.jwt";
  return insertRow(table, row, `ON CONFLICT(id) DO UPDATE SET ${set} WHERE ${table}.jwt IS NULL AND excluded.jwt IS NOT NULL`);
}

export type StatusPurpose = "revocation" | "suspension";

/** A credential's flags; `version` is bumped by every change of its bit and orders D1 writes. */
export type StatusFlags = { revoked: boolean; suspended: boolean; version: number };

/** A status entry allocated for a credential inside the creating transaction; `listCredential` is the list's URL. */
export type StatusAllocation = { listId: string; index: number; purpose: StatusPurpose; listCredential: string };

/** The issuer's status lists as the engine hands them to kinds (durable-objects/status-lists.ts). */
export interface StatusService {
  /** Inside the creating transaction: an entry in the open list of a purpose and format, opening one when none is. */
  allocate(
    purpose: StatusPurpose,
    credentialId: string,
    format: CredentialFormat,
    at: { origin: string; now: number; vmId: string },
  ): StatusAllocation;
  /** A credential's current flags; all false without a status entry. */
  flags(credentialId: string): StatusFlags;
}

/** What a kind's hooks may touch. They run inside the object's SQLite transaction and must not await. */
export interface KindContext {
  readonly now: number;
  readonly did: string;
  /** The service origin, for URLs inside artifacts; the key the jobs are signed with. */
  readonly origin: string;
  readonly key: IssuerKey;
  /** The issuer object's id (hex): artifacts read by id from the object carry it (src/core/ids.ts routedId). */
  readonly objectId: string;
  /** Set when the caller groups several jobs under one operation: `prepare` uses it instead of making its own. */
  readonly operationId?: string;
  /** Records an idempotent D1 write for an entity, delivered after the transaction (the outbox). */
  write(entity: string, write: D1Write): void;
  /**
   * did:ion operations waiting to be anchored (durable-objects/ion-anchors.ts): a signed Sidetree
   * request is handed over to be posted, or the anchoring fails when its signature never came.
   */
  readonly anchors: {
    submit(operationId: string, request: unknown): void;
    fail(operationId: string, error: string, code: string): void;
  };
  /** The issuer's status lists: allocate an entry, read a credential's flags. */
  readonly status: {
    allocate(purpose: StatusPurpose, credentialId: string, format: CredentialFormat): StatusAllocation;
    flags(credentialId: string): StatusFlags;
  };
}

/**
 * A job as its kind sees it: the context parsed by the kind's schema, the claims (null once
 * retention purged the signing input) and the compact JWS once signed (null before, and once purged).
 */
export interface KindJob<C> {
  id: string;
  operationId: string;
  createdAt: number;
  status: JobStatus;
  context: C;
  payload: Record<string, unknown> | null;
  jwt: string | null;
}

/**
 * What `prepare` makes of an input: one JWT to sign for one operation. `header` holds the members
 * besides alg and kid (which come from the key), `context` what the later hooks need (stored as
 * JSON), `pending` what the operation shows as `result.response` until it is signed.
 */
export interface Prepared<C> {
  operationId: string;
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  context: C;
  pending?: unknown;
  /** The artifact's own id when the object answers reads of it (a credential's id): indexed with the job. */
  artifactId?: string;
}

/** One kind of signed artifact. I: what a route asks for; C: what the job keeps. */
export interface KindDefinition<K extends string, I, C> {
  kind: K;
  /** Validates what a route sends (it crosses RPC into the object). */
  input: z.ZodType<I>;
  /** Parses the stored context of a job of this kind: no casts anywhere. */
  context: z.ZodType<C>;
  /**
   * The JWS header is exactly `{ alg }` (plus the kind's own members), without the key's `kid`:
   * Sidetree refuses any other header member in an operation's signedData.
   */
  bareHeader?: boolean;
  /** Inside the creating transaction: build the claims, record the pending artifact. */
  prepare(ctx: KindContext, input: I): Prepared<C>;
  /** Inside the signing transaction: record the signed artifact; returns the operation's response. */
  finalise(ctx: KindContext, job: KindJob<C>, jwt: string): unknown;
  /** Inside the transaction that ended the job unsigned (rejected, cancelled, expired). */
  failed?(ctx: KindContext, job: KindJob<C>): void;
  /**
   * Whether this kind's own D1 index row stands for the operation of a job with this context (its
   * one job's operation), so the engine writes no D1 `operations` row for it (a credential's,
   * migrations/0014). Without it every operation has its D1 row.
   */
  operationInIndex?(context: C): boolean;
  /** The response as stored: without what `expand` derives from the job again (claims, JWT). */
  compact?(response: unknown): unknown;
  /** The stored response made whole from the job (unless purged). */
  expand?(stored: unknown, job: KindJob<C>): unknown;
  /**
   * The result of a done operation of several jobs whose last job is of this kind (a credential
   * response after the credentials it answers), from each job's response in job order. Without
   * it the result is `{ results: [...] }`.
   */
  combine?(responses: unknown[]): unknown;
  /**
   * Key rotation: how an artifact of this kind is signed again by the DID's new key. The re-sign
   * job is a job of this same kind with the same claims and context (only the header's alg and
   * kid change), so signers judge it as they judge the artifact. Kinds without it (a Sidetree
   * operation, say) are not re-signed.
   */
  resign?: ResignHooks<C>;
}

/** What a kind supplies to have its artifacts re-signed by a new key (durable-objects/rotations.ts). */
export interface ResignHooks<C> {
  /** The artifact's id (what a failed rotation lists) and, where its JWT is kept in D1, its table (with `id` and `jwt` columns). */
  artifact(context: C): { id: string; table: string };
  /** Whether the artifact still needs a valid signature (a revoked credential does not). Past its `exp` it never does. */
  live?(ctx: KindContext, job: KindJob<C>): boolean;
  /** Inside the signing transaction: the artifact's JWT becomes `jwt` (same id, same claims). Returns the job's response. */
  swap(ctx: KindContext, job: KindJob<C>, jwt: string): unknown;
}

/**
 * The re-sign hooks of a kind whose artifact is a row of `table` (columns `id`, `jwt`): the swap
 * replaces the JWT of a row already signed. It is keyed apart from the kind's own writes, so it
 * never replaces an undelivered insert of the row.
 */
export function resignInTable<C>(table: string, idOf: (context: C) => string, live?: ResignHooks<C>["live"]): ResignHooks<C> {
  return {
    artifact: (context) => ({ id: idOf(context), table }),
    ...(live ? { live } : {}),
    swap(ctx, job, jwt) {
      const id = idOf(job.context);
      ctx.write(`resign:${table}:${id}`, { sql: `UPDATE ${table} SET jwt = ? WHERE id = ? AND jwt IS NOT NULL`, params: [jwt, id] });
      return { id, verificationMethodId: ctx.key.id };
    },
  };
}

/** Any kind, as the engine holds them (method parameters are bivariant, so every kind fits). */
export type AnyKind = KindDefinition<string, unknown, unknown>;

export function defineKind<K extends string, I, C>(definition: KindDefinition<K, I, C>): KindDefinition<K, I, C> {
  return definition;
}

/** A registry maps each kind name to the definition of that very kind (checked when it is made). */
export type KindRegistry<R> = { readonly [K in keyof R]: KindDefinition<K & string, unknown, unknown> };

export function defineRegistry<R extends KindRegistry<R>>(kinds: R): R {
  return kinds;
}

/** Input of one registered kind. */
export type InputOf<D> = D extends KindDefinition<string, infer I, unknown> ? I : never;
