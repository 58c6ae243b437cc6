import { decodeBase64urlStrict, encodeBase64url } from "./encoding";

const KEK_BYTES = 32;
const IV_BYTES = 12;
const VERSION = "v1";

/** Parses KEY_ENCRYPTION_KEY: base64url of exactly 32 bytes, else null (custodial keys disabled). */
export function parseKek(value: string | undefined): Uint8Array | null {
  if (value === undefined) return null;
  const bytes = decodeBase64urlStrict(value.trim());
  return bytes && bytes.length === KEK_BYTES ? bytes : null;
}

/** What KEY_ENCRYPTION_KEY holds, for readiness: never the key itself. */
export type KekState = "unset" | "malformed" | "unusable" | "ok";

export async function kekState(value: string | undefined): Promise<KekState> {
  if (value === undefined || value.trim() === "") return "unset";
  const kek = parseKek(value);
  if (!kek) return "malformed";
  try {
    await importKek(kek, "encrypt");
    return "ok";
  } catch {
    return "unusable";
  }
}

function importKek(kek: Uint8Array, usage: "encrypt" | "decrypt"): Promise<CryptoKey> {
  if (kek.length !== KEK_BYTES) throw new TypeError("KEK must be 32 bytes");
  return crypto.subtle.importKey("raw", kek, { name: "AES-GCM" }, false, [usage]);
}

/**
 * Encrypts a custodial private key with AES-256-GCM under a random 12-byte IV. `keyId` is bound
 * as additional authenticated data, so a wrapped key copied onto another key's row will not
 * unwrap. Output: `v1.<b64url iv>.<b64url ciphertext+tag>`; the version leaves room to rotate
 * the scheme.
 */
export async function wrapPrivateKey(kek: Uint8Array, keyId: string, privateKey: Uint8Array): Promise<string> {
  const key = await importKek(kek, "encrypt");
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const additionalData = new TextEncoder().encode(keyId);
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData }, key, privateKey);
  return `${VERSION}.${encodeBase64url(iv)}.${encodeBase64url(new Uint8Array(sealed))}`;
}

/** Reverses {@link wrapPrivateKey}. Throws on a malformed value, tampering, wrong KEK or wrong keyId. */
export async function unwrapPrivateKey(kek: Uint8Array, keyId: string, wrapped: string): Promise<Uint8Array> {
  const [version, ivText, sealedText, ...rest] = wrapped.split(".");
  if (version !== VERSION || ivText === undefined || sealedText === undefined || rest.length > 0) {
    throw new Error("unwrapPrivateKey: unsupported wrapped key format");
  }
  const iv = decodeBase64urlStrict(ivText);
  const sealed = decodeBase64urlStrict(sealedText);
  if (!iv || iv.length !== IV_BYTES || !sealed) throw new Error("unwrapPrivateKey: malformed wrapped key");
  const key = await importKek(kek, "decrypt");
  const additionalData = new TextEncoder().encode(keyId);
  try {
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData }, key, sealed);
    return new Uint8Array(plain);
  } catch {
    // WebCrypto's OperationError says nothing useful; name the likely causes instead.
    throw new Error("unwrapPrivateKey: authentication failed (wrong KEK, wrong keyId or tampered data)");
  }
}
