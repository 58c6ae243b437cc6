import { importSigner, parseKek, unwrapPrivateKey, type SignFn } from "../src/crypto";
import type { PublicJwk } from "../src/crypto/types";
import { loadKey, type IssuerKey } from "../src/keys/model";

type LocalKeyRow = {
  id: string;
  key_type: string;
  alg: string;
  custody: string;
  key_ref: string | null;
  public_jwk: string;
  encrypted_private_key: string | null;
  revoked: number;
};

/**
 * The issuer's keys, kept in the object's own SQLite so issuing and verifying need no D1 read.
 * D1 stays the record of keys; this is a write-through copy filled on first use.
 */
export class KeyStore {
  private readonly signers = new Map<string, Promise<SignFn>>();

  constructor(
    private readonly sql: SqlStorage,
    private readonly env: Env,
    private readonly did: () => string,
  ) {}

  put(key: IssuerKey): void {
    this.sql.exec(
      `INSERT INTO keys (id, key_type, alg, custody, key_ref, public_jwk, encrypted_private_key, revoked)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET revoked = max(keys.revoked, excluded.revoked)`,
      key.id,
      key.keyType,
      key.alg,
      key.custody,
      key.keyRef ?? null,
      JSON.stringify(key.publicJwk),
      key.encryptedPrivateKey ?? null,
      key.revoked ? 1 : 0,
    );
  }

  /** The key of one verification method of this issuer, or null when it has none by that id. */
  async get(id: string): Promise<IssuerKey | null> {
    const local = this.local(id);
    if (local) return local;
    const key = await loadKey(this.env.DB, id);
    if (!key || key.did !== this.did()) return null;
    this.put(key);
    return this.local(id);
  }

  local(id: string): IssuerKey | null {
    const row = this.sql.exec<LocalKeyRow>("SELECT * FROM keys WHERE id = ?", id).toArray()[0];
    if (!row) return null;
    return {
      id: row.id,
      did: this.did(),
      keyType: row.key_type as IssuerKey["keyType"],
      alg: row.alg as IssuerKey["alg"],
      custody: row.custody as IssuerKey["custody"],
      ...(row.key_ref !== null ? { keyRef: row.key_ref } : {}),
      publicJwk: JSON.parse(row.public_jwk) as PublicJwk,
      ...(row.encrypted_private_key !== null ? { encryptedPrivateKey: row.encrypted_private_key } : {}),
      createdAt: 0,
      revoked: row.revoked === 1,
    };
  }

  revoke(id: string): void {
    this.sql.exec("UPDATE keys SET revoked = 1 WHERE id = ?", id);
    this.signers.delete(id);
  }

  /** The in-process signer of a custodial key: decrypted once, then held as a non-extractable key. */
  signer(key: IssuerKey): Promise<SignFn> {
    let signer = this.signers.get(key.id);
    if (!signer) {
      signer = (async () => {
        const kek = parseKek(this.env.KEY_ENCRYPTION_KEY);
        if (!kek || !key.encryptedPrivateKey) throw new Error("custodial key cannot be decrypted: KEY_ENCRYPTION_KEY missing or key not custodial");
        const raw = await unwrapPrivateKey(kek, key.id, key.encryptedPrivateKey);
        try {
          return await importSigner(key.keyType, raw.slice(), key.publicJwk);
        } finally {
          raw.fill(0);
        }
      })();
      signer.catch(() => this.signers.delete(key.id));
      this.signers.set(key.id, signer);
    }
    return signer;
  }
}
