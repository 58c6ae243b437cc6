import type { Custody, IssuerKey, KeyType, PublicJwk } from "../core/models";
import { ALG_BY_KEY_TYPE } from "../crypto/types";

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

export async function loadKey(db: D1Database, id: string): Promise<IssuerKey | null> {
  const row = await db.prepare("SELECT * FROM keys WHERE id = ?").bind(id).first<KeyRow>();
  return row ? keyFromRow(row) : null;
}
