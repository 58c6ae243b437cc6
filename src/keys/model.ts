import type { Alg, KeyType, PublicJwk } from "../crypto/types";

export type Custody = "custodial" | "external";

/** A verification method's key as the service stores it. Private material only ever encrypted. */
export interface IssuerKey {
  id: string; // the verification method id
  did: string;
  keyType: KeyType;
  alg: Alg;
  custody: Custody;
  keyRef?: string;
  publicJwk: PublicJwk;
  encryptedPrivateKey?: string;
  createdAt: number;
  revoked: boolean;
  revokedAt?: number;
}

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

const ALG: Record<KeyType, Alg> = { Ed25519: "EdDSA", secp256k1: "ES256K", "P-256": "ES256" };

export function keyFromRow(row: KeyRow): IssuerKey {
  const keyType = row.key_type as KeyType;
  return {
    id: row.id,
    did: row.did,
    keyType,
    alg: ALG[keyType],
    custody: row.custody as Custody,
    ...(row.key_ref !== null ? { keyRef: row.key_ref } : {}),
    publicJwk: JSON.parse(row.public_jwk) as PublicJwk,
    ...(row.encrypted_private_key !== null ? { encryptedPrivateKey: row.encrypted_private_key } : {}),
    createdAt: row.created_at,
    revoked: row.revoked === 1,
    ...(row.revoked_at !== null ? { revokedAt: row.revoked_at } : {}),
  };
}

export async function loadKey(db: D1Database, id: string): Promise<IssuerKey | null> {
  const row = await db.prepare("SELECT * FROM keys WHERE id = ?").bind(id).first<KeyRow>();
  return row ? keyFromRow(row) : null;
}
