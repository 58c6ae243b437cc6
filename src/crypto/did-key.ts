import { base58btc } from "multiformats/bases/base58";
import { varint } from "multiformats";
import { decodeBase64urlStrict, encodeBase64url, parseJsonBytes } from "./encoding";
import { jwkFromPublicKeyBytes, keyTypeOfJwk, publicKeyBytes, validatePublicJwk } from "./keys";
import { KEY_TYPES, type KeyType, type PublicJwk } from "./types";

/** Multicodec codes (https://github.com/multiformats/multicodec) for the public keys we support. */
const MULTICODEC: Record<KeyType, number> = {
  Ed25519: 0xed, // ed25519-pub
  secp256k1: 0xe7, // secp256k1-pub
  "P-256": 0x1200, // p256-pub
};

/** did:key carries compressed points, so each code implies one exact key length. */
const KEY_LENGTH: Record<KeyType, number> = { Ed25519: 32, secp256k1: 33, "P-256": 33 };

const KEY_TYPE_BY_CODE = new Map<number, KeyType>(Object.entries(MULTICODEC).map(([keyType, code]) => [code, keyType as KeyType]));

const DID_KEY_PREFIX = "did:key:";
const DID_JWK_PREFIX = "did:jwk:";

/** did:key for a public key: base58btc multibase ('z') of varint(multicodec) || raw key bytes. */
export function didKeyFromJwk(jwk: PublicJwk): string {
  const keyType = keyTypeOfJwk(jwk);
  const key = publicKeyBytes(jwk);
  const code = MULTICODEC[keyType];
  const prefixLength = varint.encodingLength(code);
  const bytes = new Uint8Array(prefixLength + key.length);
  varint.encodeTo(code, bytes, 0);
  bytes.set(key, prefixLength);
  return DID_KEY_PREFIX + base58btc.encode(bytes);
}

/**
 * Parses a bare did:key (no path, query or fragment). `fragment` is the multibase value, so the
 * verification method id is `did + "#" + fragment`. Null for other methods, unsupported
 * multicodecs, wrong key lengths and points that are not on the curve.
 */
export function parseDidKey(did: string): { keyType: KeyType; jwk: PublicJwk; fragment: string } | null {
  if (!did.startsWith(DID_KEY_PREFIX)) return null;
  const multibase = did.slice(DID_KEY_PREFIX.length);
  // base58btc's alphabet excludes '#', '/', '?' and ':', so this also rejects DID URLs.
  if (!/^z[1-9A-HJ-NP-Za-km-z]+$/.test(multibase)) return null;
  try {
    const bytes = base58btc.decode(multibase);
    const [code, prefixLength] = varint.decode(bytes);
    const keyType = KEY_TYPE_BY_CODE.get(code);
    if (!keyType) return null;
    const key = bytes.subarray(prefixLength);
    if (key.length !== KEY_LENGTH[keyType]) return null;
    const jwk = jwkFromPublicKeyBytes(keyType, key);
    // Round trip guards against non-minimal varints or other alternate spellings of one key.
    if (didKeyFromJwk(jwk) !== did) return null;
    return { keyType, jwk, fragment: multibase };
  } catch {
    return null;
  }
}

/**
 * did:jwk for a public key. Members are serialised in lexicographic order (crv, kty, x, y), the
 * RFC 7638 / did:jwk example ordering, so a key always yields the same DID.
 */
export function didJwkFromJwk(jwk: PublicJwk): string {
  const ordered = jwk.y === undefined ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return DID_JWK_PREFIX + encodeBase64url(JSON.stringify(ordered));
}

/**
 * Parses a bare did:jwk. The embedded JWK is validated as a public key (a private `d` is
 * refused) and normalised; member order inside the DID is not enforced since other
 * implementations order differently. Null when invalid or for unsupported curves.
 */
export function parseDidJwk(did: string): { keyType: KeyType; jwk: PublicJwk } | null {
  if (!did.startsWith(DID_JWK_PREFIX)) return null;
  const bytes = decodeBase64urlStrict(did.slice(DID_JWK_PREFIX.length));
  if (!bytes || bytes.length === 0) return null;
  const parsed = parseJsonBytes(bytes);
  if (typeof parsed !== "object" || parsed === null) return null;
  const crv = (parsed as { crv?: unknown }).crv;
  const keyType = KEY_TYPES.find((t) => t === crv);
  if (!keyType) return null;
  const result = validatePublicJwk(keyType, parsed);
  return result.ok ? { keyType, jwk: result.value } : null;
}
