/** D1 rows of Presentation Exchange (migrations/0006): definitions, requests, submissions. */
import type { OperationResult } from "../core/models";
import type { PresentationDefinition, PresentationSubmission } from "./definition";
import type { AnsweredRequest } from "./holder";

export interface RequestRow {
  id: string;
  definition_id: string;
  issuer: string;
  verification_method_id: string;
  operation_id: string;
  jwt: string | null;
  expires_at: number;
  created_at: number;
  deleted_at: number | null;
}

export interface SubmissionRow {
  id: string;
  definition_id: string;
  holder: string;
  status: "pending" | "approved" | "denied";
  reason: string | null;
  submission: string;
  jwt: string;
  created_at: number;
  updated_at: number;
}

/** Keyset page over (created_at, id), optionally under one more equality. */
async function page<T>(
  db: D1Database,
  table: string,
  where: string[],
  params: (string | number)[],
  after: [number, string] | null,
  limit: number,
): Promise<T[]> {
  const clauses = [...where, ...(after ? ["(created_at, id) > (?, ?)"] : [])];
  const sql = `SELECT * FROM ${table}${clauses.length ? ` WHERE ${clauses.join(" AND ")}` : ""} ORDER BY created_at, id LIMIT ?`;
  return (
    await db
      .prepare(sql)
      .bind(...params, ...(after ?? []), limit)
      .all<T>()
  ).results;
}

export async function getDefinition(db: D1Database, id: string): Promise<PresentationDefinition | undefined> {
  const row = await db.prepare("SELECT definition FROM presentation_definitions WHERE id = ?").bind(id).first<{ definition: string }>();
  return row ? (JSON.parse(row.definition) as PresentationDefinition) : undefined;
}

export async function listDefinitions(db: D1Database, after: [number, string] | null, limit: number) {
  return page<{ id: string; definition: string; created_at: number }>(db, "presentation_definitions", [], [], after, limit);
}

export async function deleteDefinition(db: D1Database, id: string): Promise<boolean> {
  return (await db.prepare("DELETE FROM presentation_definitions WHERE id = ?").bind(id).run()).meta.changes > 0;
}

export const getRequest = (db: D1Database, id: string) =>
  db.prepare("SELECT * FROM presentation_requests WHERE id = ? AND deleted_at IS NULL").bind(id).first<RequestRow>();

/** Soft delete: the signed request's outbox upsert arriving later must not bring it back. */
export async function deleteRequest(db: D1Database, id: string, now: number): Promise<boolean> {
  return (
    (await db.prepare("UPDATE presentation_requests SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL").bind(now, id).run()).meta
      .changes > 0
  );
}

/** A live presentation request as the submissions answering it see it: its verifier, expiry and definition. */
export async function requestAnswered(db: D1Database, id: string): Promise<(AnsweredRequest & { definitionId: string }) | null> {
  const row = await getRequest(db, id);
  return row ? { id: row.id, verifier: row.issuer, expiresAt: row.expires_at, definitionId: row.definition_id } : null;
}

export function requestOf(row: RequestRow) {
  return {
    id: row.id,
    presentationDefinitionId: row.definition_id,
    issuerId: row.issuer,
    verificationMethodId: row.verification_method_id,
    operationId: row.operation_id,
    ...(row.jwt !== null ? { presentationRequestJwt: row.jwt } : {}),
    expiresAt: new Date(row.expires_at).toISOString(),
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/** A submission's operation lives in D1 alone (no sign job, no issuer object): `presentations/submissions/{id}`. */
export const SUBMISSIONS_PARENT = "presentations/submissions";
export const submissionOperationId = (id: string) => `${SUBMISSIONS_PARENT}/${id}`;

/**
 * Moves a pending submission to its verdict and ends its operation with `result`, in one D1
 * transaction. False when the submission was not pending: the status guard makes the second of
 * two racing moves (reviews, a review and a cancel) change nothing.
 */
export async function settleSubmission(
  db: D1Database,
  id: string,
  verdict: { status: "approved" | "denied"; reason: string | null },
  result: OperationResult,
  now: number,
): Promise<boolean> {
  const [moved] = await db.batch([
    db
      .prepare("UPDATE presentation_submissions SET status = ?, reason = ?, updated_at = ? WHERE id = ? AND status = 'pending'")
      .bind(verdict.status, verdict.reason, now, id),
    // Done only by the move that changed the submission (its status and this very time).
    db
      .prepare(
        "UPDATE operations SET done = 1, result = ?, code = ?, updated_at = ? WHERE id = ? AND done = 0 AND EXISTS (SELECT 1 FROM presentation_submissions WHERE id = ? AND status = ? AND updated_at = ?)",
      )
      .bind(JSON.stringify(result), result.code ?? null, now, submissionOperationId(id), id, verdict.status, now),
  ]);
  return !!moved && moved.meta.changes > 0;
}

/**
 * `PUT /v1/operations/cancel/presentations/submissions/{id}`: a pending submission ends as any
 * cancelled operation does (`code: "cancelled"`); the submission itself is denied with reason
 * `cancelled`, so it can no longer be reviewed. False when it was no longer pending.
 */
export const cancelSubmission = (db: D1Database, id: string, now: number) =>
  settleSubmission(db, id, { status: "denied", reason: "cancelled" }, { error: "cancelled by operator", code: "cancelled" }, now);

export const getSubmission = (db: D1Database, id: string) =>
  db.prepare("SELECT * FROM presentation_submissions WHERE id = ?").bind(id).first<SubmissionRow>();

export async function listSubmissions(db: D1Database, status: string | undefined, after: [number, string] | null, limit: number) {
  return page<SubmissionRow>(db, "presentation_submissions", status ? ["status = ?"] : [], status ? [status] : [], after, limit);
}

export function submissionOf(row: SubmissionRow) {
  return {
    id: row.id,
    presentationDefinitionId: row.definition_id,
    holder: row.holder,
    status: row.status,
    ...(row.reason !== null ? { reason: row.reason } : {}),
    presentationSubmission: JSON.parse(row.submission) as PresentationSubmission,
    submissionJwt: row.jwt,
    operationId: submissionOperationId(row.id),
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}
