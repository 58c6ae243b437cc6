/**
 * Status entries: one per credential with a status, its list, index and bit. Kept hot (revocation
 * and suspension update them in place) for every credential, cold ones included, so their bytes are
 * most of what a cold credential costs its object (docs/SCALE.md): new entries go to `status_bits`,
 * a WITHOUT ROWID table keyed by the credential id without the object id every id here starts with,
 * naming its list by rowid (≈ 50 bytes a row, no second index but the set bits'), instead of
 * `status_entries` (two 101-character ids, each also in an index: ≈ 490 bytes of file). Entries
 * written before stay where they are; every read and update looks in both.
 */
import type { StatusPurpose } from "../src/core/kinds";
import { shortId } from "./cold-jobs";

export type EntryRow = {
  credential_id: string;
  list_id: string;
  idx: number;
  purpose: StatusPurpose;
  bit: number;
  version: number;
  /** 1 when the entry is in `status_bits`. */
  compact: number;
};

/** The entry of credential ?1 (?2: its id as `status_bits` keys it), from either table. */
const ENTRY = `SELECT ?1 AS credential_id, l.id AS list_id, b.idx, l.purpose, b.bit, b.version, 1 AS compact
  FROM status_bits b JOIN status_lists l ON l.rowid = b.list WHERE b.credential = ?2
  UNION ALL SELECT credential_id, list_id, idx, purpose, bit, version, 0 AS compact FROM status_entries WHERE credential_id = ?1`;

// The entry, and whether its credential has a D1 `credentials` row (its first job's context has no
// `indexOnly`, or its cold row says so: durable-objects/cold-jobs.ts, which keys ids as ?2 does); a
// credential whose job is unknown here is treated as having one, as all once did. One statement:
// a status change's cost is counted in statements (test/cost).
const ENTRY_WITH_LEGACY_ROW = `SELECT e.*, coalesce((SELECT json_extract(j.context, '$.indexOnly') IS NULL FROM jobs j INDEXED BY jobs_by_artifact
  WHERE j.artifact_id = ?1 ORDER BY j.seq LIMIT 1), (SELECT c.legacy FROM cold_jobs c INDEXED BY cold_jobs_by_artifact
  WHERE c.artifact IS NOT NULL AND c.artifact = ?2 ORDER BY c.seq LIMIT 1), 1) AS legacy_row FROM (${ENTRY}) e LIMIT 1`;

export class StatusEntries {
  constructor(
    private readonly sql: SqlStorage,
    private readonly objectId: string,
  ) {}

  /** A new entry (its list's rowid names the list: lists are never deleted). */
  insert(credentialId: string, listId: string, idx: number): void {
    this.sql.exec(
      "INSERT INTO status_bits (credential, list, idx) VALUES (?, (SELECT rowid FROM status_lists WHERE id = ?), ?)",
      shortId(this.objectId, credentialId),
      listId,
      idx,
    );
  }

  get(credentialId: string): EntryRow | undefined {
    return this.sql.exec<EntryRow>(`${ENTRY} LIMIT 1`, credentialId, shortId(this.objectId, credentialId)).toArray()[0];
  }

  withLegacyRow(credentialId: string): (EntryRow & { legacy_row: number }) | undefined {
    return this.sql
      .exec<EntryRow & { legacy_row: number }>(ENTRY_WITH_LEGACY_ROW, credentialId, shortId(this.objectId, credentialId))
      .toArray()[0];
  }

  setBit(entry: EntryRow, bit: number, version: number): void {
    if (entry.compact === 1) {
      this.sql.exec(
        "UPDATE status_bits SET bit = ?, version = ? WHERE credential = ?",
        bit,
        version,
        shortId(this.objectId, entry.credential_id),
      );
    } else {
      this.sql.exec("UPDATE status_entries SET bit = ?, version = ? WHERE credential_id = ?", bit, version, entry.credential_id);
    }
  }

  /** The indexes whose bit is set in a list. */
  setIndexes(listId: string): number[] {
    return this.sql
      .exec<{ idx: number }>(
        `SELECT idx FROM status_entries WHERE list_id = ?1 AND bit = 1
         UNION ALL SELECT idx FROM status_bits WHERE bit = 1 AND list = (SELECT rowid FROM status_lists WHERE id = ?1)`,
        listId,
      )
      .toArray()
      .map((r) => r.idx);
  }
}
