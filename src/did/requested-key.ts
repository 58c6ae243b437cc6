/**
 * The key a DID create or a key add asks for, before it has an id: an external key's public JWK,
 * checked against its key type, or a custodial key generated here. Both requests refuse alike: 400
 * for a JWK that does not fit the custody, 503 `custody_unavailable` when no KEK can wrap the key.
 */
import type { Custody, KeyType } from "../core/models";
import { generateKeyPair, parseKek, validatePublicJwk } from "../crypto";
import { ProblemError, badRequest } from "../http/errors";
import type { NewIssuerKey } from "../keys/model";

/** The refusal of a custodial key without a KEY_ENCRYPTION_KEY; a new DID's names the way out. */
export const NO_KEK = "custodial keys need KEY_ENCRYPTION_KEY";
export const NO_KEK_FOR_NEW_DID = `${NO_KEK} (base64url of 32 bytes); create an external DID, or configure it`;

/** The KEK custodial keys are wrapped under, or 503 `custody_unavailable` with `detail`. */
export function custodyKek(env: Env, detail: string = NO_KEK): Uint8Array {
  const kek = parseKek(env.KEY_ENCRYPTION_KEY);
  if (!kek) throw new ProblemError(503, "custody_unavailable", detail);
  return kek;
}

export async function requestedKey(
  env: Env,
  request: { keyType: KeyType; custody: Custody; publicKeyJwk?: unknown },
  noKek: string,
): Promise<Pick<NewIssuerKey, "publicJwk" | "privateKey">> {
  if (request.custody === "external") {
    if (request.publicKeyJwk === undefined) throw badRequest("publicKeyJwk", "required when custody is external");
    const checked = validatePublicJwk(request.keyType, request.publicKeyJwk);
    if (!checked.ok) {
      throw new ProblemError(400, "invalid_public_key", checked.detail, [
        { path: checked.path ?? "publicKeyJwk", message: checked.detail },
      ]);
    }
    return { publicJwk: checked.value };
  }
  if (request.publicKeyJwk !== undefined) throw badRequest("publicKeyJwk", "only external custody takes a public key");
  const kek = custodyKek(env, noKek);
  const pair = await generateKeyPair(request.keyType);
  return { publicJwk: pair.publicJwk, privateKey: { bytes: pair.privateKey, kek } };
}
