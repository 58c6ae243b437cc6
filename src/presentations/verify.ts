/**
 * Verifiable presentations as JWTs: the holder's signature (did:key, did:jwk and did:web holders,
 * resolved like any DID here), the embedded credentials (signature, validity dates, status list),
 * and, for a submission, the `presentation_submission` against its definition.
 */
import { verifyCredentialJwt } from "../vc/verify";
import type { SchemaFieldError } from "../schemas/json-schema";
import { checkPresentationSubmission, type PresentationDefinition, type PresentationSubmission } from "./definition";
import { evaluateSubmission } from "./evaluate";
import { bindToRequest, verifyHolderJwt, type AnsweredRequest } from "./holder";

/** Credentials one presentation may carry: each costs a DID resolution and a status list read. */
export const MAX_EMBEDDED_CREDENTIALS = 50;

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

export interface VerifiedPresentation {
  ok: true;
  holder: string;
  claims: Record<string, unknown>;
  /** The presentation: the `vp` claim (VP 1.1 JWT), or the claims themselves (VP 2.0, `vp+jwt`). */
  presentation: Record<string, unknown>;
  verificationMethodId: string;
}

type Refusal = { ok: false; reason: string };

const presentationOf = (claims: Record<string, unknown>) => (isObject(claims.vp) ? claims.vp : claims);

/**
 * Checks a VP JWT's signature as a relying party would (`verifyHolderJwt`): the holder is `iss` or
 * the presentation's `holder`, and the payload must carry a VerifiablePresentation.
 */
export async function verifyPresentationSignature(
  env: Env,
  jwt: string,
  ownOrigin: string,
  now = Date.now(),
): Promise<VerifiedPresentation | Refusal> {
  const verified = await verifyHolderJwt(env, jwt, ownOrigin, {
    now,
    shape: (claims) => {
      const presentation = presentationOf(claims);
      const typed = Array.isArray(presentation.type) ? presentation.type : [presentation.type];
      return typed.includes("VerifiablePresentation")
        ? null
        : "the JWT carries no VerifiablePresentation (a `vp` claim or a VP 2.0 payload)";
    },
    holderOf: (claims) => {
      const holder = presentationOf(claims).holder;
      return isObject(holder) ? holder.id : holder;
    },
  });
  if (!verified.ok) return { ok: false, reason: verified.reason };
  const claims = verified.payload;
  return {
    ok: true,
    holder: verified.holder,
    claims,
    presentation: presentationOf(claims),
    verificationMethodId: verified.verificationMethodId,
  };
}

/** The presentation's `verifiableCredential`, which must all be JWT strings here. */
function embeddedJwts(presentation: Record<string, unknown>): { ok: true; jwts: string[] } | { ok: false; errors: SchemaFieldError[] } {
  const raw = presentation.verifiableCredential;
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  if (list.length > MAX_EMBEDDED_CREDENTIALS)
    return { ok: false, errors: [{ path: "verifiableCredential", message: `more than ${MAX_EMBEDDED_CREDENTIALS} credentials` }] };
  const errors = list.flatMap((c, i) =>
    typeof c === "string"
      ? []
      : [{ path: `verifiableCredential.${i}`, message: "only JWT credentials (compact JWS strings) can be verified" }],
  );
  return errors.length > 0 ? { ok: false, errors } : { ok: true, jwts: list as string[] };
}

/** Verifies each credential JWT (signature, dates, status); each failure names its index and reason. */
async function verifyCredentials(
  env: Env,
  jwts: readonly string[],
  ownOrigin: string,
  at: (i: number) => string,
): Promise<SchemaFieldError[]> {
  const verdicts = await Promise.all(jwts.map((jwt) => verifyCredentialJwt(env, jwt, ownOrigin)));
  return verdicts.flatMap((v, i) => (v.ok ? [] : [{ path: at(i), message: `credential ${i}: ${v.detail}` }]));
}

/** `PUT /v1/presentations/verification`: the holder's signature and every embedded credential. */
export async function verifyPresentationJwt(env: Env, jwt: string, ownOrigin: string): Promise<{ verified: boolean; reason?: string }> {
  const vp = await verifyPresentationSignature(env, jwt, ownOrigin);
  if (!vp.ok) return { verified: false, reason: vp.reason };
  const embedded = embeddedJwts(vp.presentation);
  if (!embedded.ok) return { verified: false, reason: embedded.errors.map((e) => `${e.path}: ${e.message}`).join("; ") };
  const failures = await verifyCredentials(env, embedded.jwts, ownOrigin, (i) => `verifiableCredential.${i}`);
  if (failures.length > 0) return { verified: false, reason: failures.map((e) => e.message).join("; ") };
  return { verified: true };
}

export type CheckedSubmission =
  | {
      ok: true;
      holder: string;
      /** The presentation request this answers (its nonce), if any. */
      requestId: string | undefined;
      submission: PresentationSubmission;
      definition: PresentationDefinition;
      satisfied: string[];
      claims: Record<string, unknown>;
    }
  | { ok: false; errors: SchemaFieldError[]; /** The definition id the submission named, when it got that far. */ definitionId?: string };

/**
 * Everything checked before a submission is stored: the holder's signature, the submission's
 * shape (DIF's schema), its definition (looked up by `definition_id`), every embedded credential
 * (signature, dates, status), and the evaluation against the definition. Errors name the reason:
 * the credential index and its status, or the input descriptor and what it missed.
 */
export async function checkSubmissionJwt(
  env: Env,
  jwt: string,
  ownOrigin: string,
  loadDefinition: (id: string) => Promise<PresentationDefinition | undefined>,
  /** A live presentation request by id, with the definition it asks for; none by default, so any nonce is refused. */
  loadRequest: (id: string) => Promise<(AnsweredRequest & { definitionId: string }) | null> = async () => null,
): Promise<CheckedSubmission> {
  const vp = await verifyPresentationSignature(env, jwt, ownOrigin);
  if (!vp.ok) return { ok: false, errors: [{ path: "submissionJwt", message: vp.reason }] };
  // Which request this answers (nonce) and for whom (aud), before anything else is read for it.
  const binding = await bindToRequest(vp.claims, "submissionJwt", "presentation request", loadRequest);
  if (!binding.ok) return { ok: false, errors: binding.errors };
  const rawSubmission = vp.presentation.presentation_submission ?? vp.claims.presentation_submission;
  if (rawSubmission === undefined)
    return { ok: false, errors: [{ path: "submissionJwt", message: "the presentation carries no presentation_submission" }] };
  const submission = checkPresentationSubmission(rawSubmission);
  if (!submission.ok) return { ok: false, errors: submission.errors };
  const definitionId = submission.value.definition_id;
  const asked = binding.request?.definitionId;
  if (asked !== undefined && asked !== definitionId)
    return {
      ok: false,
      definitionId,
      errors: [
        {
          path: "presentation_submission.definition_id",
          message: `${JSON.stringify(definitionId)} is not the definition ${JSON.stringify(asked)} of presentation request ${binding.request!.id}`,
        },
      ],
    };
  const definition = await loadDefinition(definitionId);
  if (!definition)
    return {
      ok: false,
      definitionId,
      errors: [{ path: "presentation_submission.definition_id", message: `no presentation definition ${JSON.stringify(definitionId)}` }],
    };

  const embedded = embeddedJwts(vp.presentation);
  if (!embedded.ok) return { ok: false, definitionId, errors: embedded.errors };
  const credentialErrors = await verifyCredentials(env, embedded.jwts, ownOrigin, (i) => `verifiableCredential.${i}`);
  if (credentialErrors.length > 0) return { ok: false, definitionId, errors: credentialErrors };

  const evaluation = evaluateSubmission(definition, submission.value, vp.presentation, vp.holder);
  if (!evaluation.ok) return { ok: false, definitionId, errors: evaluation.errors };
  // A descriptor may point outside verifiableCredential (path_nested into another claim): verify those too.
  const verified = new Set(embedded.jwts);
  const extra = evaluation.credentials.filter((c) => !verified.has(c));
  const extraErrors = await verifyCredentials(env, extra, ownOrigin, () => "presentation_submission.descriptor_map");
  if (extraErrors.length > 0) return { ok: false, definitionId, errors: extraErrors };
  return {
    ok: true,
    holder: vp.holder,
    requestId: binding.request?.id,
    submission: submission.value,
    definition,
    satisfied: evaluation.satisfied,
    claims: vp.claims,
  };
}
