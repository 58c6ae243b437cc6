export * from "./types";
export { decodeBase64urlStrict, parseJsonSegment } from "./encoding";
export { generateKeyPair, jwkFromPublicKeyBytes, keyTypeOfJwk, publicKeyBytes, validatePublicJwk } from "./keys";
export { didJwkFromJwk, didKeyFromJwk, parseDidJwk, parseDidKey } from "./did-key";
export { kekState, parseKek, unwrapPrivateKey, wrapPrivateKey, type KekState } from "./wrap";
export { decodeSignature, splitCompactJws, verifySignature, type SignatureFormat } from "./signature";
export { importSigner, type SignFn } from "./signer";
