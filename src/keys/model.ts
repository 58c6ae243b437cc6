import type { Custody, IssuerKey, KeyType, PublicJwk } from "../core/models";
import { ALG_BY_KEY_TYPE } from "../crypto/types";
import { wrapPrivateKey } from "../crypto/wrap";

export interface KeyRow {
  id: string;
  did: string;
  key_type: string;
  custody: string;
  key_ref: string | null;
  public_jwk: string;
  encrypted_private_key: string | null;
  created_at: number;
  revoked: number;
  revoked_at: number | null;
}

export function keyFromRow(row: KeyRow): IssuerKey {
  const keyType = row.key_type as KeyType;
  return {
    id: row.id,
    did: row.did,
    keyType,
    alg: ALG_BY_KEY_TYPE[keyType],
    custody: row.custody as Custody,
    ...(row.key_ref !== null ? { keyRef: row.key_ref } : {}),
    publicJwk: JSON.parse(row.public_jwk) as PublicJwk,
    ...(row.encrypted_private_key !== null ? { encryptedPrivateKey: row.encrypted_private_key } : {}),
    createdAt: row.created_at,
    revoked: row.revoked === 1,
    ...(row.revoked_at !== null ? { revokedAt: row.revoked_at } : {}),
  };
}

/** What a new key of an issuer is made of; `privateKey` (custodial keys only) goes in clear and comes out wrapped. */
export interface NewIssuerKey {
  /** The verification method id. */
  id: string;
  did: string;
  keyType: KeyType;
  custody: Custody;
  keyRef?: string | undefined;
  publicJwk: PublicJwk;
  privateKey?: { bytes: Uint8Array; kek: Uint8Array } | undefined;
  createdAt: number;
}

/**
 * The record of a new key of an issuer, as D1 stores it and the issuer object holds it. The private
 * half is wrapped with the verification method id bound in, so it unwraps only as this key, and then
 * zeroed: nothing needs it in the clear once it is wrapped.
 */
export async function newIssuerKey(key: NewIssuerKey): Promise<IssuerKey> {
  let encryptedPrivateKey: string | undefined;
  if (key.privateKey) {
    try {
      encryptedPrivateKey = await wrapPrivateKey(key.privateKey.kek, key.id, key.privateKey.bytes);
    } finally {
      key.privateKey.bytes.fill(0);
    }
  }
  return {
    id: key.id,
    did: key.did,
    keyType: key.keyType,
    alg: ALG_BY_KEY_TYPE[key.keyType],
    custody: key.custody,
    ...(key.keyRef !== undefined ? { keyRef: key.keyRef } : {}),
    publicJwk: key.publicJwk,
    ...(encryptedPrivateKey !== undefined ? { encryptedPrivateKey } : {}),
    createdAt: key.createdAt,
    revoked: false,
  };
}

export async function loadKey(db: D1Database, id: string): Promise<IssuerKey | null> {
  const row = await db.prepare("SELECT * FROM keys WHERE id = ?").bind(id).first<KeyRow>();
  return row ? keyFromRow(row) : null;
}
