/**
 * What an application becomes: an approval (one credential job per output descriptor plus the
 * response job) or a denial (the response job alone), all under the application's one operation
 * `credentials/responses/{applicationId}`, signed by the manifest's issuer key.
 */
import type { IdempotencyClaim } from "../core/idempotency";
import type { Operation } from "../core/models";
import { createArtifacts, type ArtifactOrder } from "../http/artifacts";
import { idFor } from "../http/routed";
import { denial, fulfillment } from "./build";
import type { CredentialManifest, CredentialOverride } from "./model";

export const applicationOperationId = (applicationId: string) => `credentials/responses/${applicationId}`;

export interface Applied {
  applicationId: string;
  applicant: string;
  manifest: CredentialManifest;
  /** The key that signs the credentials and the response. */
  issuer: string;
  verificationMethodId: string;
}

/** One output credential: its subject data and options. */
export interface OutputCredential {
  descriptorId: string;
  data: Record<string, unknown>;
  expiry?: CredentialOverride["expiry"];
  revocable?: boolean | undefined;
  schemaId?: string | undefined;
}

/** An `expiry` as the credential kind takes it: an ISO date-time. */
export function expiryOf(expiry: CredentialOverride["expiry"], now = Date.now()): string | undefined {
  if (expiry === undefined) return undefined;
  return typeof expiry === "string" ? expiry : new Date(now + expiry.duration * 1000).toISOString();
}

const ids = (env: Env, a: Applied) => ({
  // Names the issuer's object, so a read of the response right after sees it (src/http/routed.ts).
  responseId: idFor(env, a.issuer),
  manifestId: a.manifest.id,
  applicationId: a.applicationId,
  applicant: a.applicant,
});

type Claim = IdempotencyClaim & { fromClient: boolean };

async function issue(
  env: Env,
  origin: string,
  a: Applied,
  orders: ArtifactOrder[],
  claim: Claim,
): Promise<{ operation: Operation; custodial: boolean }> {
  const issued = await createArtifacts(env, origin, orders, claim, applicationOperationId(a.applicationId));
  return { operation: issued.operations[0]!, custodial: issued.allCustodial };
}

/** Approval: the credentials in output descriptor order, then the response that lists them. */
export function fulfil(env: Env, origin: string, a: Applied, outputs: OutputCredential[], claim: Claim) {
  const key = { issuer: a.issuer, verificationMethodId: a.verificationMethodId };
  const orders: ArtifactOrder[] = outputs.map((o) => {
    const expiry = expiryOf(o.expiry);
    return {
      ...key,
      artifact: {
        kind: "credential",
        input: {
          ...key,
          subject: a.applicant,
          data: o.data,
          format: "jwt_vc",
          ...(expiry !== undefined ? { expiry } : {}),
          ...(o.revocable ? { revocable: true } : {}),
          ...(o.schemaId !== undefined ? { schemaId: o.schemaId } : {}),
        },
      },
    };
  });
  const response = fulfillment(
    ids(env, a),
    outputs.map((o) => o.descriptorId),
  );
  orders.push({ ...key, artifact: { kind: "credential-response", input: { applicationId: a.applicationId, response } } });
  return issue(env, origin, a, orders, claim);
}

/** Denial: the signed response alone. */
export function deny(env: Env, origin: string, a: Applied, reason: string, inputDescriptors: string[] | undefined, claim: Claim) {
  const response = denial(ids(env, a), reason, inputDescriptors);
  return issue(
    env,
    origin,
    a,
    [
      {
        issuer: a.issuer,
        verificationMethodId: a.verificationMethodId,
        artifact: { kind: "credential-response", input: { applicationId: a.applicationId, response } },
      },
    ],
    claim,
  );
}
