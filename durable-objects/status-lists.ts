import { gzipSync } from "node:zlib";
import { credentialIndexStatusKey, indexStatusUpdate } from "../src/shards/index-writes";
import { routedId } from "../src/core/ids";
import { base64url } from "jose";
import type { StatusAllocation, StatusFlags, StatusPurpose } from "../src/core/kinds";
import type { CredentialFormat, IssuerKey } from "../src/core/models";
import { PUBLISH_MAX_ATTEMPTS, PUBLISH_RETRY_BASE_MS, type ListPublication, type Publication } from "../src/core/publication";
import { Bitstring, MIN_LIST_SIZE } from "../src/status/bitstring";
import { IndexPermutation } from "../src/status/permutation";
import { OUTBOX_GRACE_MS, type Engine } from "./engine";
import type { JobRow } from "./jobs";
import type { KeyStore } from "./keys";
import type { IssuerMeta } from "./meta";
import type { Outbox } from "./outbox";
import { StatusEntries, type EntryRow } from "./status-entries";

/** How long verifiers may cache a list (the credential's `ttl`, and the HTTP max-age). */
export const STATUS_LIST_TTL_MS = 300_000;

type ListRow = {
  id: string;
  purpose: StatusPurpose;
  format: CredentialFormat;
  url: string;
  size: number;
  capacity: number;
  perm_key: ArrayBuffer;
  next_counter: number;
  open: number;
  vm_id: string;
  revision: number;
  job_revision: number;
  created_at: number;
  publish_attempts: number;
  /** The list's newest status-list job. */
  job_id: string | null;
};

/** One requested change; an absent flag is left as it is. */
export type StatusChange = { id: string; revoked?: boolean; suspended?: boolean };

export interface StatusChangeResult {
  id: string;
  revoked: boolean;
  suspended: boolean;
  /** Set when this change was refused; the credential's status is then unchanged. */
  code?: "status_not_enabled" | "revocation_permanent" | "no_signing_key";
  detail?: string;
  /** The list whose bit changed, when one did. */
  listId?: string;
}

/** A status-list job per re-signed list, grouped by the key that signs them. */
export interface PublishedGroup {
  key: IssuerKey;
  jobs: JobRow[];
  /** listId → the operation of its newest job. */
  operations: Map<string, string>;
}

const flagsOf = (e: Pick<EntryRow, "purpose" | "bit" | "version"> | undefined): StatusFlags => ({
  revoked: e?.purpose === "revocation" && e.bit === 1,
  suspended: e?.purpose === "suspension" && e.bit === 1,
  version: e?.version ?? 0,
});

const NEWEST_JOB = `jobs.id = status_lists.job_id`;
// The issuer can still sign: its DID is not deleted and it has a key that is not revoked.
const CAN_SIGN = `NOT EXISTS (SELECT 1 FROM meta WHERE k = 'deactivated') AND EXISTS (SELECT 1 FROM keys WHERE revoked = 0)`;
// The list's newest job ended without a signature,
// the issuer could sign a new one (nothing is revived for a deleted DID or a revoked key), and the
// bound on attempts is not reached.
const UNSIGNED = `job_revision > 0 AND revision = job_revision AND NOT EXISTS (
  SELECT 1 FROM jobs WHERE ${NEWEST_JOB} AND jobs.status IN ('pending', 'signed'))
  AND publish_attempts < ${PUBLISH_MAX_ATTEMPTS} AND ${CAN_SIGN}`;
// When such a list is offered again: its newest job's end, plus the backoff for the attempts so far.
const RETRY_AT = `(SELECT max(jobs.ended_at) FROM jobs WHERE ${NEWEST_JOB})
  + ${PUBLISH_RETRY_BASE_MS} * (1 << (max(status_lists.publish_attempts, 1) - 1))`;

/**
 * The issuer's Bitstring Status Lists. One open list per (purpose, credential format) — a
 * `jwt_vc` credential points at a VC 1.1 JWT list and a `vc+jwt` one at a VC 2.0 list, so a
 * verifier of either family can read the list. Indexes come from a keyed permutation of
 * [0, size) applied to a counter: random, never repeated, never reused. Each entry keeps its own
 * bit, so a change touches one row and a list is re-encoded from all of its entries' bits.
 */
export class StatusLists {
  private readonly permutations = new Map<string, IndexPermutation>();

  constructor(
    private readonly sql: SqlStorage,
    private readonly outbox: Outbox,
    private readonly meta: IssuerMeta,
    private readonly keys: KeyStore,
    /** This object's id (hex): a list's id names it, so its publication is read through this object. */
    private readonly objectId: string = "",
  ) {
    this.entries = new StatusEntries(sql, objectId);
  }

  private readonly entries: StatusEntries;

  /**
   * Whether a list may have bits newer than its newest job (`revision > job_revision`): true after
   * a wake and after every write that gives a list a new revision (here, and a rotation's:
   * `changed`), false once `publish` found none. Looking for them was a statement of every create.
   */
  private mayBeDirty = true;

  /** Another module gave lists a new revision (a rotation). */
  changed(): void {
    this.mayBeDirty = true;
  }

  /** Inside the creating transaction: the next index of the open list, opening one when none is. */
  allocate(
    purpose: StatusPurpose,
    credentialId: string,
    format: CredentialFormat,
    { origin, now, vmId }: { origin: string; now: number; vmId: string },
  ): StatusAllocation {
    const list =
      this.sql.exec<ListRow>("SELECT * FROM status_lists WHERE purpose = ? AND format = ? AND open = 1", purpose, format).toArray()[0] ??
      this.open(purpose, format, origin, vmId, now);
    const index = this.permutation(list).at(list.next_counter);
    const next = list.next_counter + 1;
    this.sql.exec("UPDATE status_lists SET next_counter = ?, open = ? WHERE id = ?", next, next < list.capacity ? 1 : 0, list.id);
    this.entries.insert(credentialId, list.id, index);
    return { listId: list.id, index, purpose, listCredential: list.url };
  }

  /** A new list: revision 1 with no job yet, so `publish` signs its first version. */
  private open(purpose: StatusPurpose, format: CredentialFormat, origin: string, vmId: string, now: number): ListRow {
    // Named for this object (src/core/ids.ts), so a read of the published list can have it delivered first.
    const id = this.objectId ? routedId(this.objectId) : crypto.randomUUID();
    this.mayBeDirty = true;
    // Tests shrink lists with this meta row (set through SQL); no API reaches it.
    const override = this.meta.override("status_list_capacity");
    const capacity = Number.isInteger(override) && override > 0 ? Math.min(override, MIN_LIST_SIZE) : MIN_LIST_SIZE;
    this.sql.exec(
      `INSERT INTO status_lists (id, purpose, format, url, size, capacity, perm_key, next_counter, open, vm_id, revision, job_revision, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 0, 1, ?, 1, 0, ?)`,
      id,
      purpose,
      format,
      `${origin}/v1/credentials/status/${id}`,
      MIN_LIST_SIZE,
      capacity,
      crypto.getRandomValues(new Uint8Array(32)),
      vmId,
      now,
    );
    return this.sql.exec<ListRow>("SELECT * FROM status_lists WHERE id = ?", id).one();
  }

  private permutation(list: ListRow): IndexPermutation {
    let p = this.permutations.get(list.id);
    if (!p) this.permutations.set(list.id, (p = new IndexPermutation(new Uint8Array(list.perm_key), list.size)));
    return p;
  }

  /** The credential's current flags in this object (the source of truth); all false without a status entry. */
  flags(credentialId: string): StatusFlags {
    return flagsOf(this.entries.get(credentialId));
  }

  /**
   * Applies changes in order, each on its own: a refused one leaves its credential as it was.
   * Revocation is permanent; suspension toggles; a flag of a purpose the credential was not
   * issued with may only be asked to be false. Call inside a transaction.
   */
  apply(changes: StatusChange[], now: number): StatusChangeResult[] {
    return changes.map((change) => {
      // Whether D1's `credentials` table has a row to update comes with the entry, in the same statement:
      // only credentials created before that table left the write path do (kinds/credential.ts).
      const entry = this.entries.withLegacyRow(change.id);
      const flags = flagsOf(entry);
      const refuse = (code: StatusChangeResult["code"], detail: string) => ({
        id: change.id,
        revoked: flags.revoked,
        suspended: flags.suspended,
        code,
        detail,
      });
      const purpose = entry?.purpose ?? null;
      if (change.revoked === true && purpose !== "revocation") {
        return refuse("status_not_enabled", `credential ${change.id} was not issued revocable`);
      }
      if (change.suspended === true && purpose !== "suspension") {
        return refuse("status_not_enabled", `credential ${change.id} was not issued suspendable`);
      }
      if (change.revoked === false && flags.revoked) {
        return refuse("revocation_permanent", `credential ${change.id} is revoked, and revocation is permanent`);
      }
      const want = purpose === "revocation" ? change.revoked : purpose === "suspension" ? change.suspended : undefined;
      if (!entry || want === undefined || want === (entry.bit === 1)) {
        return { id: change.id, revoked: flags.revoked, suspended: flags.suspended };
      }
      // A bit nobody can sign would never be published: refuse it before it is written.
      if (!this.keyForList(entry.list_id)) {
        return refuse("no_signing_key", `no usable signing key for credential ${change.id}'s status list: its key is revoked`);
      }
      const version = entry.version + 1;
      this.entries.setBit(entry, want ? 1 : 0, version);
      // New bits: publication starts over (a list that had failed is offered again).
      this.sql.exec("UPDATE status_lists SET revision = revision + 1, publish_attempts = 0 WHERE id = ?", entry.list_id);
      this.mayBeDirty = true;
      const after = flagsOf({ ...entry, bit: want ? 1 : 0, version });
      if (entry.legacy_row === 1) {
        this.outbox.put(
          `credential-status:${change.id}`,
          {
            sql: "UPDATE credentials SET revoked = ?, suspended = ?, status_version = ? WHERE id = ? AND status_version < ?",
            params: [after.revoked ? 1 : 0, after.suspended ? 1 : 0, version, change.id, version],
          },
          now + OUTBOX_GRACE_MS,
        );
      }
      this.outbox.put(credentialIndexStatusKey(change.id), indexStatusUpdate(change.id, after, now), now + OUTBOX_GRACE_MS);
      return { id: change.id, revoked: after.revoked, suspended: after.suspended, listId: entry.list_id };
    });
  }

  /**
   * Creates one status-list job for every list whose bits are newer than its newest job, and
   * supersedes that list's older pending job: pending changes fold into one newer job, and a
   * signed job is never touched. Synchronous, so the bits read are the bits signed.
   */
  publish(engine: Engine, origin: string, objectId: string): PublishedGroup[] {
    // A deleted DID signs nothing more, status lists included.
    if (this.meta.deactivated() || !this.mayBeDirty) return [];
    const dirty = this.sql.exec<ListRow>("SELECT * FROM status_lists WHERE revision > job_revision ORDER BY created_at").toArray();
    // Lists left dirty for want of a usable key keep it true: a key registered later signs them.
    if (dirty.length === 0) this.mayBeDirty = false;
    const groups = new Map<string, { key: IssuerKey; lists: ListRow[] }>();
    for (const list of dirty) {
      const key = this.signingKey(list.vm_id);
      if (!key) continue; // no usable key: the list stays dirty until one is registered
      const g = groups.get(key.id) ?? { key, lists: [] };
      g.lists.push(list);
      groups.set(key.id, g);
    }
    return [...groups.values()].map(({ key, lists }) => {
      const revisions = lists.map((l) => ({ kind: "status-list", input: this.revision(l) }));
      const { jobs } = engine.create(key, origin, revisions, objectId);
      const operations = new Map<string, string>();
      lists.forEach((list, i) => {
        const job = jobs[i]!;
        operations.set(list.id, job.operation_id);
        this.sql.exec(
          "UPDATE status_lists SET job_revision = ?, job_id = ?, vm_id = ?, publish_attempts = publish_attempts + 1 WHERE id = ?",
          list.revision,
          job.id,
          key.id,
          list.id,
        );
        const older = list.job_id === null ? null : engine.jobs.get(list.job_id);
        if (older?.status === "pending") {
          engine.end([older], { to: "cancelled", code: "superseded", reason: "superseded by a newer status list job" }, origin);
        }
      });
      return { key, jobs, operations };
    });
  }

  /**
   * Lists whose newest job ended without a signature (rejected, expired, cancelled by an operator)
   * and whose backoff has run out: a new revision makes `publish` offer them again, under a fresh
   * operation. Runs from the alarm, so a list does not stay unpublished for want of a new change.
   */
  reviveUnsigned(now: number): number {
    this.mayBeDirty = true;
    return this.sql.exec(`UPDATE status_lists SET revision = revision + 1 WHERE ${UNSIGNED} AND ${RETRY_AT} <= ?`, now).rowsWritten;
  }

  /** When the alarm should next try `reviveUnsigned`, or null when no list waits for a retry. */
  /**
   * When a list whose newest job ended unsigned is offered again (due.ts). Counted from when that
   * job ended, so re-arming on every request does not push it back.
   */
  static readonly DUE = [`SELECT min(${RETRY_AT}) AS t FROM status_lists WHERE ${UNSIGNED}`];

  /** Where a list's publication stands, or null when this issuer has no such list. */
  publication(listId: string): ListPublication | null {
    const list = this.sql.exec<ListRow>("SELECT * FROM status_lists WHERE id = ?", listId).toArray()[0];
    if (!list) return null;
    type Newest = { status: string; reason: string | null; ended_at: number | null };
    const job = this.sql.exec<Newest>("SELECT status, reason, ended_at FROM jobs WHERE id = ?", list.job_id).toArray()[0];
    const canSign = this.sql.exec(`SELECT 1 WHERE ${CAN_SIGN}`).toArray().length > 0;
    const attempts = list.publish_attempts;
    const lastError = job?.reason ? { lastError: job.reason } : {};
    const current = list.revision === list.job_revision;
    let publication: Publication;
    if (current && job?.status === "signed") publication = { state: "published", attempts };
    else if (current && job?.status === "pending") publication = { state: "pending", attempts };
    else if (!canSign) publication = { state: "stopped", attempts, ...lastError };
    else if (!current) publication = { state: "pending", attempts }; // its new job is being created
    else if (attempts >= PUBLISH_MAX_ATTEMPTS) publication = { state: "failed", attempts, ...lastError };
    else {
      const at = (job?.ended_at ?? list.created_at) + PUBLISH_RETRY_BASE_MS * 2 ** (Math.max(attempts, 1) - 1);
      publication = { state: "retrying", attempts, nextAttemptAt: new Date(at).toISOString(), ...lastError };
    }
    const { id, purpose, format, url: statusListCredential, revision } = list;
    return { id, purpose, format, statusListCredential, revision, publication };
  }

  /** The key that would sign a list's next revision, or null when none can. */
  keyForList(listId: string): IssuerKey | null {
    const list = this.sql.exec<{ vm_id: string }>("SELECT vm_id FROM status_lists WHERE id = ?", listId).toArray()[0];
    return list ? this.signingKey(list.vm_id) : null;
  }

  /** Whether a list of these credentials has no key to sign its next revision. */
  unsignable(credentialIds: string[]): boolean {
    return credentialIds.some((id) => {
      const e = this.entries.get(id);
      return e !== undefined && this.keyForList(e.list_id) === null;
    });
  }

  /** The keys that would sign the lists of these credentials, should their bits change. */
  keysForCredentials(credentialIds: string[]): IssuerKey[] {
    const out = new Map<string, IssuerKey>();
    const listIds = new Set<string>();
    for (const id of credentialIds) {
      const e = this.entries.get(id);
      if (e) listIds.add(e.list_id);
    }
    for (const listId of listIds) {
      const key = this.keyForList(listId);
      if (key) out.set(key.id, key);
    }
    return [...out.values()];
  }

  /** The list's key, or another usable key of the issuer when that one was revoked. */
  private signingKey(vmId: string): IssuerKey | null {
    const key = this.keys.local(vmId);
    return key && !key.revoked ? key : this.keys.anyUsable();
  }

  /** The status-list kind's input for the list's current bits. */
  private revision(list: ListRow) {
    const bits = new Bitstring(list.size);
    for (const idx of this.entries.setIndexes(list.id)) bits.set(idx, true);
    const { id: listId, revision, purpose, format, url } = list;
    return { listId, revision, purpose, format, url, ttlMs: STATUS_LIST_TTL_MS, encodedList: "u" + base64url.encode(gzipSync(bits.bytes)) };
  }
}
