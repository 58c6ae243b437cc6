/**
 * D1 reads of the Credential Manifest records (migrations/0006_manifests.sql). Lists are keyset
 * pages on (created_at, id), so a page costs the same whatever the table's size.
 */
import type { CredentialApplication, CredentialManifest, CredentialResponse, TemplateCredential } from "./model";

export interface ManifestRow {
  id: string;
  issuer: string;
  verification_method_id: string;
  operation_id: string;
  manifest: string;
  jwt: string | null;
  created_at: number;
  deleted_at: number | null;
}
export interface RequestRow {
  id: string;
  manifest_id: string;
  issuer: string;
  operation_id: string;
  audience: string | null;
  expires_at: number;
  callback_url: string | null;
  jwt: string | null;
  created_at: number;
  deleted_at: number | null;
}
export interface TemplateRow {
  id: string;
  manifest_id: string;
  issuer: string;
  verification_method_id: string;
  credentials: string;
  created_at: number;
  deleted_at: number | null;
}
export interface ApplicationRow {
  id: string;
  manifest_id: string;
  issuer: string;
  applicant: string;
  operation_id: string;
  application: string;
  application_jwt: string;
  created_at: number;
  deleted_at: number | null;
}
export interface ResponseRow {
  id: string;
  application_id: string;
  manifest_id: string;
  issuer: string;
  applicant: string;
  operation_id: string;
  response: string;
  jwt: string | null;
  created_at: number;
  deleted_at: number | null;
}

export type Table = "manifests" | "manifest_requests" | "issuance_templates" | "credential_applications" | "credential_responses";

/** One live row by id. (A read right after a create has the object deliver first: src/http/routed.ts.) */
export function getLive<T>(db: D1Database, table: Table, id: string): Promise<T | null> {
  return db.prepare(`SELECT * FROM ${table} WHERE id = ? AND deleted_at IS NULL`).bind(id).first<T>();
}

/** A page of live rows, oldest first, after the (created_at, id) key. `limit` is pageSize + 1. */
export async function pageOf<T>(db: D1Database, table: Table, after: [number, string] | null, limit: number): Promise<T[]> {
  const where = after ? "WHERE (created_at, id) > (?, ?) AND deleted_at IS NULL" : "WHERE deleted_at IS NULL";
  const stmt = db.prepare(`SELECT * FROM ${table} ${where} ORDER BY created_at, id LIMIT ?`);
  return (await (after ? stmt.bind(after[0], after[1], limit) : stmt.bind(limit)).all<T>()).results;
}

export const softDelete = (db: D1Database, table: Table, id: string) =>
  db.prepare(`UPDATE ${table} SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`).bind(Date.now(), id).run();

export const templateForManifest = (db: D1Database, manifestId: string) =>
  db.prepare("SELECT * FROM issuance_templates WHERE manifest_id = ? AND deleted_at IS NULL").bind(manifestId).first<TemplateRow>();

export const manifestOf = (row: ManifestRow) => JSON.parse(row.manifest) as CredentialManifest;
export const applicationOf = (row: ApplicationRow) => JSON.parse(row.application) as CredentialApplication;
export const responseOf = (row: ResponseRow) => JSON.parse(row.response) as CredentialResponse;
export const templateCredentialsOf = (row: TemplateRow) => JSON.parse(row.credentials) as TemplateCredential[];
