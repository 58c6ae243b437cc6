export * from "./types.js";
export { decodeBase64urlStrict } from "./encoding.js";
export { generateKeyPair, jwkFromPublicKeyBytes, keyTypeOfJwk, publicKeyBytes, validatePublicJwk } from "./keys.js";
export { didJwkFromJwk, didKeyFromJwk, parseDidJwk, parseDidKey } from "./did-key.js";
export { parseKek, unwrapPrivateKey, wrapPrivateKey } from "./wrap.js";
export { decodeSignature, splitCompactJws, verifySignature, type SignatureFormat } from "./signature.js";
export { importSigner, type SignFn } from "./signer.js";
