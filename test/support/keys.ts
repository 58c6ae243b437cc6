/**
 * What the sign job and credential tests share: keys held "outside" the service (made here, only
 * the public JWK is sent), DID and credential creation through the API, and peeks at the issuer
 * object and D1 for the things a user cannot see through HTTP (audit rows, outbox).
 */
import { objectOfOperation } from "../../src/core/ids";
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { p256 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { base64url } from "jose";
import { expect } from "vitest";
import { ORIGIN, api, enc } from "./api";

export type KeyType = "Ed25519" | "P-256" | "secp256k1";
export const KEY_TYPES: KeyType[] = ["Ed25519", "P-256", "secp256k1"];
export const ALG: Record<KeyType, "EdDSA" | "ES256" | "ES256K"> = { Ed25519: "EdDSA", "P-256": "ES256", secp256k1: "ES256K" };

const utf8 = (s: string) => new TextEncoder().encode(s);

export interface ExternalKey {
  keyType: KeyType;
  alg: "EdDSA" | "ES256" | "ES256K";
  publicKeyJwk: Record<string, string>;
  /** The JOSE signature (base64url) of the ASCII bytes of a signing input. */
  sign(input: string): Promise<string>;
  /** ECDSA keys only: the raw secret scalar, for noble (DER, high-S, extra entropy). */
  secret?: Uint8Array;
  /** WebCrypto private key, where WebCrypto supports the curve (for jose). */
  privateKey?: CryptoKey;
}

/** A key made in the test, as a signer next to an HSM would hold it: Ed25519 and P-256 via WebCrypto, secp256k1 via noble. */
export async function externalKey(keyType: KeyType): Promise<ExternalKey> {
  if (keyType === "Ed25519") {
    const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const jwk = (await crypto.subtle.exportKey("jwk", pair.publicKey)) as JsonWebKey;
    return {
      keyType,
      alg: "EdDSA",
      publicKeyJwk: { kty: "OKP", crv: "Ed25519", x: jwk.x! },
      privateKey: pair.privateKey,
      sign: async (input) => base64url.encode(new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, utf8(input)))),
    };
  }
  if (keyType === "P-256") {
    const pair = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const jwk = (await crypto.subtle.exportKey("jwk", pair.privateKey)) as JsonWebKey;
    return {
      keyType,
      alg: "ES256",
      publicKeyJwk: { kty: "EC", crv: "P-256", x: jwk.x!, y: jwk.y! },
      privateKey: pair.privateKey,
      secret: base64url.decode(jwk.d!),
      // WebCrypto ECDSA signatures are IEEE P1363, which is JOSE's r||s.
      sign: async (input) =>
        base64url.encode(new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, utf8(input)))),
    };
  }
  const secret = secp256k1.utils.randomSecretKey();
  const point = secp256k1.getPublicKey(secret, false);
  return {
    keyType,
    alg: "ES256K",
    publicKeyJwk: {
      kty: "EC",
      crv: "secp256k1",
      x: base64url.encode(point.slice(1, 33)),
      y: base64url.encode(point.slice(33, 65)),
    },
    secret,
    sign: async (input) => base64url.encode(secp256k1.sign(utf8(input), secret, { prehash: true, lowS: true })),
  };
}

/** An ECDSA signature made with noble: fresh randomness each time unless `deterministic`. */
export function nobleSign(
  key: ExternalKey,
  input: string,
  opts: { format?: "compact" | "der"; deterministic?: boolean; lowS?: boolean } = {},
): Uint8Array {
  const curve = key.keyType === "P-256" ? p256 : key.keyType === "secp256k1" ? secp256k1 : null;
  if (!curve || !key.secret) throw new Error(`${key.keyType} is not an ECDSA key`);
  return curve.sign(utf8(input), key.secret, {
    prehash: true,
    lowS: opts.lowS ?? true,
    format: opts.format ?? "compact",
    extraEntropy: !opts.deterministic,
  });
}

export interface Issuer {
  did: string;
  vmId: string;
  doc: { id: string; verificationMethod: { id: string; publicKeyJwk: Record<string, string> }[] };
}

/** Registers an external key as a DID: only the public JWK crosses. */
export async function externalDid(key: ExternalKey, method: "key" | "jwk" = "key", keyRef?: string): Promise<Issuer> {
  const res = await api("PUT", `/v1/dids/${method}`, {
    keyType: key.keyType,
    custody: "external",
    publicKeyJwk: key.publicKeyJwk,
    ...(keyRef ? { keyRef } : {}),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const doc = res.body.did;
  return { did: doc.id, vmId: doc.verificationMethod[0].id, doc };
}

/**
 * An external did:ion issuer (api.md "did:ion"): its signing, update and recovery keys are all
 * secp256k1 and held here; only their public JWKs (and any `keyRef`s) are sent.
 */
export async function externalIonDid(refs: { updateKeyRef?: string; recoveryKeyRef?: string } = {}) {
  const [signing, update, recovery] = [await externalKey("secp256k1"), await externalKey("secp256k1"), await externalKey("secp256k1")];
  const created = await api("PUT", "/v1/dids/ion", {
    keyType: "secp256k1",
    custody: "external",
    publicKeyJwk: signing.publicKeyJwk,
    updateKeyJwk: update.publicKeyJwk,
    recoveryKeyJwk: recovery.publicKeyJwk,
    ...refs,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return { did: created.body.did.id as string, created, signing, update, recovery };
}

export async function custodialDid(keyType: KeyType, method: "key" | "jwk" = "key"): Promise<Issuer> {
  const res = await api("PUT", `/v1/dids/${method}`, { keyType });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const doc = res.body.did;
  return { did: doc.id, vmId: doc.verificationMethod[0].id, doc };
}

export function credentialRequest(issuer: Issuer, extra: Record<string, unknown> = {}) {
  return {
    issuer: issuer.did,
    verificationMethodId: issuer.vmId,
    subject: "did:example:alice",
    data: { name: "Alice", degree: "BSc" },
    ...extra,
  };
}

/** A custodial issuer's batch of `n` credentials (`data: { i }`), signed at once: the 201 answer's operations. */
export async function issueSignedBatch(
  did: string,
  vm: string,
  n: number,
  extra: Record<string, unknown> = {},
): Promise<{ id: string; signJobs: string[]; result: { response: { id: string } & Record<string, unknown> } }[]> {
  const requests = Array.from({ length: n }, (_, i) => ({
    issuer: did,
    verificationMethodId: vm,
    subject: "did:example:s",
    data: { i },
    ...extra,
  }));
  const res = await api("PUT", "/v1/credentials/batch", { requests });
  expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(201);
  return res.body.operations;
}

/** Issues one credential for an external issuer and returns its 202 operation and the one job. */
export async function issuePending(issuer: Issuer, extra: Record<string, unknown> = {}) {
  const res = await api("PUT", "/v1/credentials", credentialRequest(issuer, extra));
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  expect(res.body.signJobs).toHaveLength(1);
  const job = await api("GET", `/v1/signjobs/${res.body.signJobs[0]}`);
  expect(job.status).toBe(200);
  return { operation: res.body, job: job.body };
}

export async function pendingJobs(did: string) {
  const res = await api("GET", `/v1/signjobs?did=${enc(did)}&status=pending`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.signJobs as any[];
}

export const stubOf = (did: string) => env.ISSUER.getByName(did);

/**
 * Waits until the issuer's object has delivered what its outbox holds to D1: no answer waits for
 * D1 (api.md "Consistency"), so a test reading D1 directly waits for this event first.
 */
export const delivered = (did: string): Promise<void> => stubOf(did).flush();

/** Rows of the issuer object's SQLite (audit, outbox, jobs): what a user cannot see through HTTP. */
export function objectQuery<T extends Record<string, SqlStorageValue>>(did: string, query: string, ...params: SqlStorageValue[]) {
  return runInDurableObject(stubOf(did), (_instance, state) => state.storage.sql.exec<T>(query, ...params).toArray());
}

export async function auditEvents(did: string, jobId: string, event: string): Promise<number> {
  // Repeats of the same event and detail collapse into one row with a count.
  const rows = await objectQuery<{ n: number }>(
    did,
    "SELECT coalesce(sum(count), 0) AS n FROM audit WHERE job_id = ? AND event = ?",
    jobId,
    event,
  );
  return rows[0]!.n;
}

/**
 * The credential index rows (D1, one shard in tests) of a `credentials/<id>` operation, once the
 * issuer's object named by the operation id has delivered: a credential's one D1 row.
 */
export async function indexRows(operationId: string) {
  const hex = objectOfOperation(operationId);
  if (hex) await env.ISSUER.get(env.ISSUER.idFromString(hex)).flush();
  const id = operationId.replace(/^credentials\//, "");
  return (await env.DB.prepare("SELECT * FROM credential_index WHERE id = ?").bind(id).all<Record<string, any>>()).results;
}

/** What a DID-auth JWT says; every member can be overridden to break it. */
export interface DidAuthClaims {
  iss: string;
  kid: string;
  aud?: string;
  iat?: number;
  exp?: number;
  jti?: string;
  /** The header's alg, when it should not be the key's. */
  alg?: string;
  /** Signs with this key instead (a forgery). */
  signer?: ExternalKey;
}

/**
 * The one DID-auth JWT minter (api.md "Authentication"): header { alg, kid, typ: JWT }, claims
 * { iss, aud, iat, exp, jti }, signed by the signer's own key (by hand, so secp256k1 works too).
 */
export async function didAuthJwt(key: ExternalKey, c: DidAuthClaims): Promise<string> {
  const iat = c.iat ?? Math.floor(Date.now() / 1000);
  const claims = { iss: c.iss, aud: c.aud ?? ORIGIN, iat, exp: c.exp ?? iat + 120, jti: c.jti ?? crypto.randomUUID() };
  const header = { alg: c.alg ?? key.alg, kid: c.kid, typ: "JWT" };
  const input = `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(claims))}`;
  return `${input}.${await (c.signer ?? key).sign(input)}`;
}

/** An `Authorization` value for an issuer's signer. */
export const didAuth = async (key: ExternalKey, issuer: Issuer) => `DID ${await didAuthJwt(key, { iss: issuer.did, kid: issuer.vmId })}`;

export const b64 = base64url;
