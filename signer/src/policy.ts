import { readFile } from "node:fs/promises";
import { z } from "zod";

/**
 * What this signer agrees to sign, on top of the shapes `inspect.ts` accepts. Every list is an
 * allow-list. A missing `kinds` allows credentials and status lists, the two kinds ssi-edge
 * builds; any other kind is signed only when `kinds` names it. `subjects` and `schemaIds`
 * constrain credentials only: a status list has the list's own subject and no schema, and
 * refusing it would silently stop revocation. Strict, so a typo like `"subject"` is an error
 * instead of an open door.
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
// An entry without an id counts as "", which no policy lists: it cannot slip past an allow-list.
const ids = (v: unknown): string[] => list(v).map((x) => (isObj(x) && typeof x.id === "string" ? x.id : ""));

/**
 * Every subject a JWT-VC payload names: `sub` and each credential subject id (VCDM 2.0 or the
 * `vc` claim). All of them, because a verifier may read either; a subject without an id counts
 * as the empty string, which no policy lists.
 */
export function subjectsOf(payload: Obj): string[] {
  const vc = isObj(payload.vc) ? payload.vc : payload;
  return [...(payload.sub !== undefined ? [String(payload.sub)] : []), ...ids(vc.credentialSubject)];
}

/** Schema ids from `vc.credentialSchema` (jwt_vc) or `credentialSchema` (vc+jwt); object or array. */
export function schemaIdsOf(payload: Obj): string[] {
  return [...ids(isObj(payload.vc) ? payload.vc.credentialSchema : undefined), ...ids(payload.credentialSchema)];
}

/** Returns why a job is refused, or undefined when the policy allows it. */
export function checkPolicy(policy: Policy, kind: string, payload: Obj): string | undefined {
  if (policy.kinds && !policy.kinds.includes(kind)) return `kind "${kind}" not allowed by signer policy`;
  if (kind !== "credential") return undefined;
  if (policy.subjects) {
    const subs = subjectsOf(payload);
    if (subs.length === 0) return "credential has no subject; signer policy requires one";
    const bad = subs.find((s) => !policy.subjects!.includes(s));
    if (bad !== undefined) return `subject "${bad}" not allowed by signer policy`;
  }
  if (policy.schemaIds) {
    const schemas = schemaIdsOf(payload);
    if (schemas.length === 0) return "credential has no credentialSchema; signer policy requires one";
    const bad = schemas.find((s) => !policy.schemaIds!.includes(s));
    if (bad !== undefined) return `schema "${bad}" not allowed by signer policy`;
  }
  return undefined;
}
