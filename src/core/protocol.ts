/** The Worker ↔ issuer object protocol: names both sides use. A leaf module. */
import type { ProblemCode, Result } from "./errors";
import type { JobStatus, SignJob } from "./models";

/**
 * Headers of ours on the Worker → object hop. The Worker deletes every header with this prefix
 * from a client's request before forwarding it, and the object trusts none of them on its own:
 * the admission header is only a one-time ticket the object itself issued over RPC.
 */
export const INTERNAL_HEADER_PREFIX = "x-ssi-edge-";
export const ADMISSION_HEADER = `${INTERNAL_HEADER_PREFIX}admission`;

/** Copies a client's headers without any of ours, so nothing a client sends can pose as the Worker. */
export function withoutInternalHeaders(headers: Headers): Headers {
  const out = new Headers();
  headers.forEach((value, name) => {
    if (!name.toLowerCase().startsWith(INTERNAL_HEADER_PREFIX)) out.set(name, value);
  });
  return out;
}

/** A job id names its issuer object: `<object id hex>.<random>`, so no lookup is needed to route it. */
export const JOB_ID = /^([0-9a-f]{64})\.([A-Za-z0-9_-]{16})$/;

/** How one signature or rejection ended, as the batch API and the signer socket both report it. */
export type SignOutcome = { id: string; status: JobStatus | "unknown"; code?: ProblemCode; detail?: string };

export function signOutcome(id: string, result: Result<SignJob>): SignOutcome {
  if (result.ok) return { id, status: result.value.status };
  return { id, status: result.job?.status ?? "unknown", code: result.code, detail: result.detail };
}
