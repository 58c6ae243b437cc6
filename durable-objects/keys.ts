import type { IssuerKey } from "../src/core/models";
import { importSigner, parseKek, unwrapPrivateKey, type SignFn } from "../src/crypto";
import { keyFromRow, loadKey, type KeyRow } from "../src/keys/model";

/**
 * The issuer's keys, kept in the object's own SQLite so issuing and verifying need no D1 read.
 * D1 stays the record of keys; this is a write-through copy filled on first use.
 */
export class KeyStore {
  /** Custodial keys decrypted and imported, by key id. */
  private readonly unlocked = new Map<string, Promise<SignFn>>();

  constructor(
    private readonly sql: SqlStorage,
    private readonly env: Env,
    private readonly did: () => string,
  ) {}

  /**
   * Moved by every write of the keys table: here, and a rotation's (`changed`). What is kept from
   * the table in memory (Issuance's usable key per verification method) is good while it stands.
   */
  version = 0;

  /** Another module wrote the keys table (a rotation's `rotated_to`, `retired`). */
  changed(): void {
    this.version++;
  }

  put(key: IssuerKey): void {
    this.version++;
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

  /**
   * Copies every key D1 records for this DID: a key can reach D1 without this object hearing of
   * it (a did:ion key lands when the node accepts the update that adds it).
   */
  async refresh(): Promise<void> {
    const rows = await this.env.DB.prepare("SELECT * FROM keys WHERE did = ?").bind(this.did()).all<KeyRow>();
    for (const row of rows.results) this.put(keyFromRow(row));
  }

  local(id: string): IssuerKey | null {
    // The same columns as D1's keys row, less what only D1 keeps (the DID is this object's).
    const row = this.sql.exec<Omit<KeyRow, "did" | "created_at" | "revoked_at">>("SELECT * FROM keys WHERE id = ?", id).toArray()[0];
    return row ? keyFromRow({ ...row, did: this.did(), created_at: 0, revoked_at: null }) : null;
  }

  /** Keys that may no longer act for the issuer: revoked, or retired by a completed rotation. */
  barredIds(): string[] {
    return this.sql
      .exec<{ id: string }>("SELECT id FROM keys WHERE revoked = 1 OR retired = 1")
      .toArray()
      .map((r) => r.id);
  }

  /** Whether a completed rotation retired the key (it stays in D1's record, out of the document). */
  retired(id: string): boolean {
    return this.sql.exec<{ retired: number }>("SELECT retired FROM keys WHERE id = ?", id).toArray()[0]?.retired === 1;
  }

  /**
   * A key of the issuer that is not revoked (for a list whose own key was), or null. Only a key of
   * the document: never one a rotation retired, nor a did:ion update or recovery key (`#ion-…`).
   */
  anyUsable(): IssuerKey | null {
    const row = this.sql
      .exec<{ id: string }>(
        "SELECT id FROM keys WHERE revoked = 0 AND retired = 0 AND instr(id, '#ion-') = 0 ORDER BY rotated_to IS NOT NULL, id LIMIT 1",
      )
      .toArray()[0];
    return row ? this.local(row.id) : null;
  }

  revoke(id: string): void {
    this.version++;
    this.sql.exec("UPDATE keys SET revoked = 1 WHERE id = ?", id);
    this.unlocked.delete(id);
  }

  /** The in-process signing function of a custodial key: decrypted once, then held as a non-extractable key. */
  unlock(key: IssuerKey): Promise<SignFn> {
    let signer = this.unlocked.get(key.id);
    if (!signer) {
      signer = (async () => {
        const kek = parseKek(this.env.KEY_ENCRYPTION_KEY);
        if (!kek || !key.encryptedPrivateKey)
          throw new Error("custodial key cannot be decrypted: KEY_ENCRYPTION_KEY missing or key not custodial");
        const raw = await unwrapPrivateKey(kek, key.id, key.encryptedPrivateKey);
        try {
          return await importSigner(key.keyType, raw.slice(), key.publicJwk);
        } finally {
          raw.fill(0);
        }
      })();
      signer.catch(() => this.unlocked.delete(key.id));
      this.unlocked.set(key.id, signer);
    }
    return signer;
  }
}
