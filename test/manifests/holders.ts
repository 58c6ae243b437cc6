import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from "jose";
import type { PublicJwk } from "../../src/crypto";
import { createDocument, type DidDocument } from "../../src/did/documents";
import { CONTROL } from "../outbound/mock";

type Alg = "EdDSA" | "ES256";
const CURVE: Record<Alg, string> = { EdDSA: "Ed25519", ES256: "P-256" };

export interface Holder {
  did: string;
  kid: string;
  document: DidDocument;
  /** A compact JWS of `claims` with `iss` = this DID, signed by this holder's key. */
  sign(claims: JWTPayload, header?: Record<string, unknown>): Promise<string>;
}

/** A holder made in the test: its key never leaves the test. did:web documents are served by the outbound mock. */
export async function makeHolder(method: "key" | "jwk" | "web" = "key", alg: Alg = "EdDSA"): Promise<Holder> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { crv: CURVE[alg], extractable: true });
  const jwk = await exportJWK(publicKey);
  const pub = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, ...(jwk.y ? { y: jwk.y } : {}) } as PublicJwk;
  const host = `holder-${crypto.randomUUID().slice(0, 8)}.example`;
  const { did, document } = createDocument(method, pub, method === "web" ? `did:web:${host}` : undefined);
  if (method === "web") {
    const res = await fetch(`${CONTROL}/routes`, {
      method: "PUT",
      body: JSON.stringify({
        url: `https://${host}/.well-known/did.json`,
        body: JSON.stringify(document),
        headers: { "content-type": "application/did+json" },
      }),
    });
    if (res.status !== 204) throw new Error(`could not script did:web: ${res.status}`);
  }
  const kid = document.verificationMethod[0]!.id;
  return {
    did,
    kid,
    document,
    sign: (claims, header = {}) =>
      new SignJWT({ iss: did, ...claims })
        .setProtectedHeader({ alg, kid, typ: "JWT", ...header })
        .setIssuedAt()
        .sign(privateKey),
  };
}
