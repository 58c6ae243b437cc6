import { fail, type Result } from "../core/errors";
import { loadKey } from "../keys/model";
import { secondsOf, verifyCredentialSignature } from "./jwt";
import { CLOCK_SKEW_S, checkCredentialStatus } from "./status";

/**
 * Verifies a credential JWT the way a relying party would: resolve the issuer DID, check the
 * signature with the named verification method, the validity window, whether we know the key
 * to be revoked, and the credential's status list entry. Fails (`not_verified`) with the reason.
 */
export async function verifyCredentialJwt(env: Env, jwt: string, ownOrigin: string): Promise<Result<void>> {
  const signed = await verifyCredentialSignature(env, jwt, ownOrigin);
  if (!signed.ok) return signed;
  const { payload, credential, v2, issuer, verificationMethodId } = signed.value;

  const known = await loadKey(env.DB, verificationMethodId);
  if (known?.revoked) return fail("not_verified", "the issuer's signing key is revoked");

  const now = Date.now() / 1000;
  const notBefore = secondsOf(v2 ? credential.validFrom : (payload.nbf ?? credential.issuanceDate));
  const notAfter = secondsOf(v2 ? credential.validUntil : (payload.exp ?? credential.expirationDate));
  if (notBefore !== null && notBefore > now + CLOCK_SKEW_S) return fail("not_verified", "the credential is not valid yet");
  if (notAfter !== null && notAfter <= now - CLOCK_SKEW_S) return fail("not_verified", "the credential has expired");

  return checkCredentialStatus(env, ownOrigin, credential, issuer);
}
