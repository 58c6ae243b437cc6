import { readFile } from "node:fs/promises";
import { z } from "zod";

/**
 * What this signer agrees to sign. Every list is an allow-list; a missing list allows anything.
 * `subjects` and `schemaIds` constrain credentials (kind `credential`) only: status lists,
 * manifests and the like have neither, and refusing them would silently stop revocation.
 * Strict, so a typo like `"subject"` is an error instead of an open door.
 */
export const PolicySchema = z
  .object({
    kinds: z.array(z.string()).optional(),
    schemaIds: z.array(z.string()).optional(),
    subjects: z.array(z.string()).optional(),
  })
  .strict();
export type Policy = z.infer<typeof PolicySchema>;

export async function loadPolicy(path: string): Promise<Policy> {
  const r = PolicySchema.safeParse(JSON.parse(await readFile(path, "utf8")));
  if (!r.success) throw new Error(`${path}: ${z.prettifyError(r.error)}`);
  return r.data;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);
const ids = (v: unknown): string[] =>
  list(v).flatMap((x) => (isObj(x) && typeof x.id === "string" ? [x.id] : []));

/** Subjects of a JWT-VC payload: `sub`, else the credential subject ids (VCDM 2.0 or the `vc` claim). */
export function subjectsOf(payload: Obj): string[] {
  if (typeof payload.sub === "string") return [payload.sub];
  const vc = isObj(payload.vc) ? payload.vc : payload;
  return ids(vc.credentialSubject);
}

/** Schema ids from `vc.credentialSchema` (jwt_vc) or `credentialSchema` (vc+jwt); object or array. */
export function schemaIdsOf(payload: Obj): string[] {
  return [
    ...ids(isObj(payload.vc) ? payload.vc.credentialSchema : undefined),
    ...ids(payload.credentialSchema),
  ];
}

/** Returns why a job is refused, or undefined when the policy allows it. */
export function checkPolicy(policy: Policy, kind: string, payload: Obj): string | undefined {
  if (policy.kinds && !policy.kinds.includes(kind))
    return `kind "${kind}" not allowed by signer policy`;
  if (kind !== "credential") return undefined;
  if (policy.subjects) {
    const subs = subjectsOf(payload);
    if (subs.length === 0) return "credential has no subject; signer policy requires one";
    const bad = subs.find((s) => !policy.subjects!.includes(s));
    if (bad) return `subject "${bad}" not allowed by signer policy`;
  }
  if (policy.schemaIds) {
    const schemas = schemaIdsOf(payload);
    if (schemas.length === 0)
      return "credential has no credentialSchema; signer policy requires one";
    const bad = schemas.find((s) => !policy.schemaIds!.includes(s));
    if (bad) return `schema "${bad}" not allowed by signer policy`;
  }
  return undefined;
}
