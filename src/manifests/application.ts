/**
 * A credential application, read from the claims of a JWT whose holder signature has already
 * been verified (holder.ts). Two envelopes are accepted:
 *
 * - a VP JWT: `{ iss, vp: { verifiableCredential, presentation_submission? }, credential_application }`
 *   (the application may also sit inside `vp`), as PE submissions are sent;
 * - DIF's JWT appendix / ssi-sdk's wrapper: `{ iss, credential_application, verifiableCredentials }`.
 *
 * Descriptor paths (`$.verifiableCredential[0]`) are read against the presentation: the `vp`
 * object, or the claim set, with the credentials under both `verifiableCredential` and
 * `verifiableCredentials` (DIF's own example names one and points into the other).
 */
import { validateDif, type SchemaError } from "./dif-schemas";
import type { CredentialApplication, CredentialManifest, PresentationSubmission } from "./model";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

export interface ParsedApplication {
  holder: string;
  application: CredentialApplication;
  submission?: PresentationSubmission;
  /** The document descriptor paths are evaluated against. */
  presentation: Obj;
  /** The submitted credentials as sent (JWT strings or objects), in order. */
  credentials: unknown[];
}

/** Why an application is refused: `reason` is the sentence the 400 carries. */
export type Refusal = { ok: false; code: ApplicationRefusalCode; reason: string; errors?: SchemaError[]; inputDescriptors?: string[] };
export type ApplicationRefusalCode =
  | "validation_failed"
  | "invalid_signature"
  | "manifest_not_found"
  | "submission_invalid"
  | "credential_invalid";

const refuse = (code: ApplicationRefusalCode, reason: string, extra: Partial<Refusal> = {}): Refusal => ({
  ok: false,
  code,
  reason,
  ...extra,
});

/** The application, its submission and credentials out of verified claims; DIF's schema applied. */
export function parseApplication(holder: string, claims: Obj): { ok: true; value: ParsedApplication } | Refusal {
  const vp = isObj(claims.vp) ? claims.vp : undefined;
  const application = claims.credential_application ?? vp?.credential_application;
  if (application === undefined) return refuse("validation_failed", "the JWT has no credential_application claim");
  const schema = validateDif("credential-application", application, "credential_application");
  if (!schema.ok)
    return refuse(
      "validation_failed",
      `credential_application is not valid against DIF's schema: ${schema.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`,
      {
        errors: schema.errors,
      },
    );
  const app = application as unknown as CredentialApplication;

  const looseSubmission = claims.presentation_submission ?? vp?.presentation_submission;
  let submission = app.presentation_submission;
  if (submission === undefined && looseSubmission !== undefined) {
    // Outside the application the submission is PE's, so DIF's application schema checks it in place.
    const check = validateDif("credential-application", { ...app, presentation_submission: looseSubmission }, "credential_application");
    if (!check.ok)
      return refuse(
        "validation_failed",
        `presentation_submission is malformed: ${check.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`,
        {
          errors: check.errors,
        },
      );
    submission = looseSubmission as PresentationSubmission;
  }

  if (app.applicant !== undefined && app.applicant !== holder)
    return refuse("invalid_signature", `applicant ${app.applicant} is not the JWT's signer ${holder}`);
  if (vp && vp.holder !== undefined && vp.holder !== holder)
    return refuse("invalid_signature", `vp.holder is not the JWT's signer ${holder}`);

  const raw = vp ? vp.verifiableCredential : (claims.verifiableCredentials ?? claims.verifiableCredential);
  const credentials = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const presentation: Obj = { ...(vp ?? claims), verifiableCredential: credentials, verifiableCredentials: credentials };
  return { ok: true, value: { holder, application: app, ...(submission ? { submission } : {}), presentation, credentials } };
}

/**
 * What the manifest itself demands of an application: its id, formats it offers, and a
 * submission for its definition when it has one. The submission's content is the evaluator's.
 */
export function checkAgainstManifest(parsed: ParsedApplication, manifest: CredentialManifest): { ok: true } | Refusal {
  const { application, submission } = parsed;
  if (application.manifest_id !== manifest.id)
    return refuse("manifest_not_found", `manifest ${application.manifest_id} is not this manifest`);
  if (manifest.format !== undefined) {
    const offered = Object.keys(manifest.format);
    const extra = Object.keys(application.format).find((f) => !offered.includes(f));
    if (extra !== undefined) return refuse("validation_failed", `format ${extra} is not one the manifest offers (${offered.join(", ")})`);
  }
  const definition = manifest.presentation_definition;
  if (definition === undefined) return { ok: true };
  if (submission === undefined)
    return refuse("submission_invalid", "the manifest has a presentation definition and the application has no presentation_submission");
  if (submission.definition_id !== definition.id)
    return refuse(
      "submission_invalid",
      `presentation_submission.definition_id ${submission.definition_id} is not the manifest's definition ${String(definition.id)}`,
    );
  return { ok: true };
}
