/**
 * What the issuer object knows about itself, in its `meta` table: which DID it serves, whether
 * that DID was deleted, and the auth epoch (a version stamp of who may act for the issuer).
 */
export class IssuerMeta {
  private didValue: string | null = null;
  private epochValue: number | null = null;
  /** Only `deactivate` writes the row, so once read it is known (every create asks). */
  private deactivatedValue: boolean | null = null;

  constructor(private readonly sql: SqlStorage) {}

  private read(k: string): string | undefined {
    return this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = ?", k).toArray()[0]?.v;
  }

  private write(k: string, v: string): void {
    this.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", k, v);
  }

  did(): string {
    this.didValue ??= this.read("did") ?? null;
    if (this.didValue === null) throw new Error("issuer object used before it was bound to a DID");
    return this.didValue;
  }

  /** The DID this object serves, or null for an object no DID was ever bound to. */
  boundDid(): string | null {
    this.didValue ??= this.read("did") ?? null;
    return this.didValue;
  }

  /** Remembers which DID this object serves (its name); every entry point that knows the DID calls it. */
  bind(did: string): void {
    if (this.didValue === did) return;
    const bound = this.read("did");
    if (bound !== undefined && bound !== did) throw new Error(`issuer object of ${bound} addressed as ${did}`);
    if (bound === undefined) this.write("did", did);
    this.didValue = did;
  }

  deactivated(): boolean {
    this.deactivatedValue ??= this.read("deactivated") !== undefined;
    return this.deactivatedValue;
  }

  /** Why a deactivated issuer refuses: deleted through the API, or its did:ion deactivated at the node. */
  deactivatedDetail(did = this.did()): string {
    return `${did} is deleted or deactivated: it signs nothing more`;
  }

  deactivate(now: number): void {
    this.write("deactivated", String(now));
    this.deactivatedValue = true;
    this.bumpAuthEpoch();
  }

  /**
   * Moved by every key revocation and by the DID's deletion. Open sockets remember the epoch they
   * were checked at, so re-checking them on every frame costs one comparison until something is revoked.
   */
  authEpoch(): number {
    this.epochValue ??= Number(this.read("auth_epoch") ?? "0");
    return this.epochValue;
  }

  bumpAuthEpoch(): void {
    this.epochValue = this.authEpoch() + 1;
    this.write("auth_epoch", String(this.epochValue));
  }

  /** A number tests set through SQL (retention, list capacity); no API reaches these rows. */
  override(k: "signjob_retention_ms" | "signjob_hot_limit" | "status_list_capacity"): number {
    return Number(this.read(k));
  }
}
