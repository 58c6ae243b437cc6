/** A holder made in the test: a key of its own, a DID (did:key, did:jwk, or did:web hosted here with an external key), VP JWTs it signs. */
import { expect } from "vitest";
import { didJwkFromJwk, didKeyFromJwk } from "../../src/crypto";
import type { PublicJwk } from "../../src/crypto/types";
import { api } from "../support/api";
import { b64, externalKey, type ExternalKey, type KeyType } from "../support/keys";

export type HolderMethod = "key" | "jwk" | "web";

export interface Holder {
  did: string;
  kid: string;
  key: ExternalKey;
  /** A VP JWT: `vp` holds the presentation (type, holder and `extra` filled in). */
  present(extra: Record<string, unknown>, claims?: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
}

export async function makeHolder(keyType: KeyType, method: HolderMethod): Promise<Holder> {
  const key = await externalKey(keyType);
  let did: string;
  let kid: string;
  if (method === "key") {
    did = didKeyFromJwk(key.publicKeyJwk as unknown as PublicJwk);
    kid = `${did}#${did.slice("did:key:".length)}`;
  } else if (method === "jwk") {
    did = didJwkFromJwk(key.publicKeyJwk as unknown as PublicJwk);
    kid = `${did}#0`;
  } else {
    const res = await api("PUT", "/v1/dids/web", {
      keyType,
      custody: "external",
      publicKeyJwk: key.publicKeyJwk,
      options: { didWebId: `did:web:ssi.test:holders:${crypto.randomUUID()}` },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    did = res.body.did.id;
    kid = res.body.did.verificationMethod[0].id;
  }
  const present = async (extra: Record<string, unknown>, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) => {
    const now = Math.floor(Date.now() / 1000);
    const payload = {
      iss: did,
      iat: now,
      exp: now + 300,
      jti: crypto.randomUUID(),
      vp: { "@context": ["https://www.w3.org/2018/credentials/v1"], type: ["VerifiablePresentation"], holder: did, ...extra },
      ...claims,
    };
    const input = `${b64.encode(JSON.stringify({ alg: key.alg, kid, typ: "JWT", ...header }))}.${b64.encode(JSON.stringify(payload))}`;
    return `${input}.${await key.sign(input)}`;
  };
  return { did, kid, key, present };
}
