/**
 * Sidetree's hashing rules, taken from the ION SDK itself so the service and the network can
 * never disagree on a commitment: JCS canonicalisation, SHA-256 multihash, base64url.
 * The SDK's canonicaliser deletes `undefined` members in place, so it is handed a copy.
 */
import JsonCanonicalizer from "@decentralized-identity/ion-sdk/dist/lib/JsonCanonicalizer.js";
import Multihash from "@decentralized-identity/ion-sdk/dist/lib/Multihash.js";
import Encoder from "@decentralized-identity/ion-sdk/dist/lib/Encoder.js";

/** Multihash code of SHA-256, the only hash ION accepts. */
export const SHA256 = 0x12;

export const canonicalBytes = (value: unknown): Uint8Array => JsonCanonicalizer.canonicalizeAsBytes(structuredClone(value) as object);

/** The hash of a JSON value (deltaHash, reveal value, DID suffix). */
export const hashOf = (value: unknown): Promise<string> => Multihash.hashThenEncode(canonicalBytes(value), SHA256);

/** The commitment to a key: the multihash of its SHA-256 (a double hash), as in every Sidetree commit. */
export const commitmentOf = (jwk: unknown): Promise<string> =>
  Multihash.canonicalizeThenDoubleHashThenEncode(structuredClone(jwk) as object, SHA256);

/** The reveal value of a key: the multihash of its canonical form (Sidetree ≥ 1.0). */
export const revealValueOf = (jwk: unknown): Promise<string> =>
  Multihash.canonicalizeThenHashThenEncode(structuredClone(jwk) as object, SHA256);

export const encodeB64u = (bytes: Uint8Array): string => Encoder.encode(bytes);
export const decodeB64uString = (text: string, what: string): string => Encoder.decodeAsString(text, what);
