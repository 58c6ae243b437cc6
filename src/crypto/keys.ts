import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { decodeBase64urlStrict, encodeBase64url } from "./encoding";
import { fail, type Failure, type Result } from "../core/errors";
import type { KeyType, PublicJwk } from "./types";

type EcKeyType = Exclude<KeyType, "Ed25519">;

/** noble curve per EC key type; used for point validation and (de)compression only. */
export const EC_CURVES = { secp256k1, "P-256": p256 } as const satisfies Record<EcKeyType, unknown>;

const isEc = (keyType: KeyType): keyType is EcKeyType => keyType !== "Ed25519";

/** Coordinate length in bytes: every supported curve uses 32-byte field elements. */
const COORD_BYTES = 32;

const invalid = (path: string, message: string): Failure => fail("invalid_public_key", message, { path });

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The decoded coordinate, or a message saying what is wrong with it. */
function decodeCoord(jwk: Record<string, unknown>, name: "x" | "y"): Uint8Array | string {
  const value = jwk[name];
  if (typeof value !== "string") return `${name} must be a base64url string`;
  const bytes = decodeBase64urlStrict(value);
  if (!bytes) return `${name} is not valid unpadded base64url`;
  if (bytes.length !== COORD_BYTES) return `${name} must encode ${COORD_BYTES} bytes, got ${bytes.length}`;
  return bytes;
}

function uncompressed(x: Uint8Array, y: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + x.length + y.length);
  out[0] = 0x04;
  out.set(x, 1);
  out.set(y, 1 + x.length);
  return out;
}

/**
 * Validates an untrusted public JWK for `keyType`: right kty/crv, x (and y for EC) decode to
 * 32 bytes, the point is on the curve (and, for Ed25519, not of small order), and no private
 * `d`. Returns a normalised JWK holding only kty, crv, x and (for EC) y; other members such as
 * `kid` or `use` are dropped. Errors have code `invalid_public_key` and a path under
 * `pathPrefix` (default `publicKeyJwk`), e.g. `publicKeyJwk.crv`.
 */
export function validatePublicJwk(keyType: KeyType, jwk: unknown, pathPrefix = "publicKeyJwk"): Result<PublicJwk> {
  const at = (member: string) => `${pathPrefix}.${member}`;
  if (!isRecord(jwk)) return invalid(pathPrefix, "must be a JWK object");
  if ("d" in jwk) {
    return invalid(at("d"), "private key material (d) is refused: send only the public key");
  }
  const kty = isEc(keyType) ? "EC" : "OKP";
  if (jwk.kty !== kty) return invalid(at("kty"), `kty must be "${kty}" for keyType ${keyType}`);
  if (jwk.crv !== keyType) return invalid(at("crv"), `crv must be "${keyType}" for keyType ${keyType}`);

  const x = decodeCoord(jwk, "x");
  if (typeof x === "string") return invalid(at("x"), x);

  if (!isEc(keyType)) {
    if ("y" in jwk) return invalid(at("y"), "an OKP key has no y member");
    try {
      // Small-order points would let anyone produce signatures that verify for many messages.
      if (ed25519.Point.fromBytes(x).isSmallOrder()) return invalid(at("x"), "x is a small-order point");
    } catch {
      return invalid(at("x"), "x is not a valid Ed25519 point");
    }
    return { ok: true, value: { kty: "OKP", crv: "Ed25519", x: encodeBase64url(x) } };
  }

  const y = decodeCoord(jwk, "y");
  if (typeof y === "string") return invalid(at("y"), y);
  try {
    // fromBytes checks the point satisfies the curve equation and is not the identity.
    EC_CURVES[keyType].Point.fromBytes(uncompressed(x, y));
  } catch {
    return invalid(pathPrefix, `(x, y) is not a point on ${keyType}`);
  }
  return {
    ok: true,
    value: { kty: "EC", crv: keyType, x: encodeBase64url(x), y: encodeBase64url(y) },
  };
}

/** Generates a custodial key pair. `privateKey` is 32 raw bytes (Ed25519 seed, or EC scalar d). */
export async function generateKeyPair(keyType: KeyType): Promise<{ publicJwk: PublicJwk; privateKey: Uint8Array }> {
  // noble's randomSecretKey draws from crypto.getRandomValues and, for EC, reduces into [1, n).
  if (!isEc(keyType)) {
    const privateKey = ed25519.utils.randomSecretKey();
    return {
      publicJwk: jwkFromPublicKeyBytes(keyType, ed25519.getPublicKey(privateKey)),
      privateKey,
    };
  }
  const curve = EC_CURVES[keyType];
  const privateKey = curve.utils.randomSecretKey();
  return {
    publicJwk: jwkFromPublicKeyBytes(keyType, curve.getPublicKey(privateKey, true)),
    privateKey,
  };
}

/** The key type a (validated) public JWK belongs to; crv names coincide with KeyType. */
export function keyTypeOfJwk(jwk: PublicJwk): KeyType {
  return jwk.crv;
}

/** Raw public key bytes: 32 bytes for Ed25519, 33-byte compressed SEC1 point for EC. Throws on invalid. */
export function publicKeyBytes(jwk: PublicJwk): Uint8Array {
  const keyType = keyTypeOfJwk(jwk);
  const x = decodeBase64urlStrict(jwk.x);
  if (!x || x.length !== COORD_BYTES) throw new TypeError("invalid JWK x");
  if (!isEc(keyType)) return x;
  const y = jwk.y === undefined ? null : decodeBase64urlStrict(jwk.y);
  if (!y || y.length !== COORD_BYTES) throw new TypeError("invalid JWK y");
  return EC_CURVES[keyType].Point.fromBytes(uncompressed(x, y)).toBytes(true);
}

/**
 * Builds a public JWK from raw bytes: 32 bytes for Ed25519; a compressed (33) or uncompressed (65)
 * SEC1 point for EC, which is decompressed. Throws if the bytes are not a valid point.
 */
export function jwkFromPublicKeyBytes(keyType: KeyType, bytes: Uint8Array): PublicJwk {
  if (!isEc(keyType)) {
    if (bytes.length !== COORD_BYTES) throw new TypeError("Ed25519 public key must be 32 bytes");
    ed25519.Point.fromBytes(bytes); // throws if not a point
    return { kty: "OKP", crv: "Ed25519", x: encodeBase64url(bytes) };
  }
  if (bytes.length !== 1 + COORD_BYTES && bytes.length !== 1 + 2 * COORD_BYTES) {
    throw new TypeError(`${keyType} public key must be a 33- or 65-byte SEC1 point`);
  }
  const point = EC_CURVES[keyType].Point.fromBytes(bytes).toBytes(false);
  return {
    kty: "EC",
    crv: keyType,
    x: encodeBase64url(point.subarray(1, 1 + COORD_BYTES)),
    y: encodeBase64url(point.subarray(1 + COORD_BYTES)),
  };
}
