/**
 * The submission check an application gets against its manifest's definition: the same
 * Presentation Exchange evaluator as `PUT /v1/presentations/submissions` (paths, filters,
 * formats, holder binding, submission requirements), so an application and a submission to the
 * same definition are judged alike. It returns the credential JWTs it relied on; the caller
 * verifies each (signature, dates, status).
 */
import type { SchemaFieldError } from "../schemas/json-schema";
import { checkPresentationDefinition } from "../presentations/definition";
import { evaluateSubmission } from "../presentations/evaluate";
import type { PresentationSubmission } from "./model";

export type SubmissionVerdict = { ok: true; credentials: string[] } | { ok: false; reason: string; errors: SchemaFieldError[] };

export function checkSubmission(
  definition: Record<string, unknown>,
  submission: PresentationSubmission,
  presentation: unknown,
  holder: string,
): SubmissionVerdict {
  const checked = checkPresentationDefinition(definition, "presentation_definition");
  if (!checked.ok)
    return { ok: false, reason: "the manifest's presentation_definition is not a valid PE v2 definition", errors: checked.errors };
  const evaluation = evaluateSubmission(checked.value, submission, presentation, holder);
  if (!evaluation.ok) return { ok: false, reason: evaluation.errors.map((e) => e.message).join("; "), errors: evaluation.errors };
  return { ok: true, credentials: evaluation.credentials };
}
