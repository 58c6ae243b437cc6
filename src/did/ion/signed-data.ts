/**
 * Reads and verifies the `signedData` JWS of an update, recover or deactivate: ES256K, header
 * `{ alg }` only (Sidetree allows no `kid` or `crit`), signed by the key the payload names.
 */
import type { z } from "zod";
import { splitCompactJws, verifySignature } from "../../crypto";
import { decodeB64uString } from "./hashing";
import { DeactivateSignedData, RecoverSignedData, UpdateSignedData } from "./model";

const SCHEMAS = { update: UpdateSignedData, recover: RecoverSignedData, deactivate: DeactivateSignedData } as const;
type Payload<T extends keyof typeof SCHEMAS> = z.infer<(typeof SCHEMAS)[T]>;

export async function verifySignedData<T extends keyof typeof SCHEMAS>(
  type: T,
  jws: string,
): Promise<{ ok: true; payload: Payload<T>; key: unknown } | { ok: false; reason: string }> {
  const split = splitCompactJws("ES256K", jws);
  if (!split.ok) return { ok: false, reason: `signedData: ${split.detail}` };
  const [headerText, payloadText] = jws.split(".") as [string, string];
  let header: unknown;
  let payload: unknown;
  try {
    header = JSON.parse(decodeB64uString(headerText, "signedData header"));
    payload = JSON.parse(decodeB64uString(payloadText, "signedData payload"));
  } catch {
    return { ok: false, reason: "signedData is not a JWS of JSON" };
  }
  if (typeof header !== "object" || header === null || Object.keys(header).some((k) => k !== "alg")) {
    return { ok: false, reason: "signedData header must be { alg: ES256K } only" };
  }
  const parsed = SCHEMAS[type].safeParse(payload);
  if (!parsed.success) return { ok: false, reason: `signedData payload is not a ${type} payload` };
  const data = parsed.data as Record<string, unknown>;
  const key = (type === "update" ? data.updateKey : data.recoveryKey) as Parameters<typeof verifySignature>[1];
  const valid = await verifySignature("ES256K", key, new TextEncoder().encode(split.value.signingInput), split.value.signature);
  if (!valid) return { ok: false, reason: "signedData signature does not verify with its key" };
  return { ok: true, payload: parsed.data as Payload<T>, key };
}
