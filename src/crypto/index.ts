export * from "./types";
export { decodeBase64urlStrict } from "./encoding";
export {
  generateKeyPair,
  jwkFromPublicKeyBytes,
  keyTypeOfJwk,
  publicKeyBytes,
  validatePublicJwk,
} from "./keys";
export { didJwkFromJwk, didKeyFromJwk, parseDidJwk, parseDidKey } from "./did-key";
export { parseKek, unwrapPrivateKey, wrapPrivateKey } from "./wrap";
export {
  decodeSignature,
  splitCompactJws,
  verifySignature,
  type SignatureFormat,
} from "./signature";
export { importSigner, type SignFn } from "./signer";
