import { gzipSync } from "node:zlib";
import { base64url } from "jose";
import type { IssuerKey } from "../src/keys/model";
import { Bitstring, MIN_LIST_SIZE } from "../src/status/bitstring";
import { IndexPermutation } from "../src/status/permutation";
import type { Engine } from "./engine";
import type { JobRow } from "./jobs";
import type { KeyStore } from "./keys";
import type { JobSpec, StatusAllocation, StatusPurpose } from "./kinds";
import { BSL_V1_CONTEXT, type StatusListJobContext } from "./kinds/status-list";
import { SUPERSEDED_REASON } from "./operations";
import type { Outbox } from "./outbox";
import { PUBLISH_MAX_ATTEMPTS, PUBLISH_RETRY_BASE_MS, type Publication } from "../src/core/publication";

export type CredentialFormat = "jwt_vc" | "vc+jwt";

/** How long verifiers may cache a list (the credential's `ttl`, and the HTTP max-age). */
export const STATUS_LIST_TTL_MS = 300_000;
/** As the engine's: the inline drain normally delivers before the alarm would. */
const OUTBOX_GRACE_MS = 5_000;

const VC1_CONTEXT = "https://www.w3.org/2018/credentials/v1";
const VC2_CONTEXT = "https://www.w3.org/ns/credentials/v2";

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
};

type EntryRow = { credential_id: string; list_id: string; idx: number; purpose: StatusPurpose; bit: number; version: number };

export interface StatusFlags {
  revoked: boolean;
  suspended: boolean;
  /** Bumped by every change of the credential's bit; orders D1 writes. */
  version: number;
}

/** One requested change; an absent flag is left as it is. */
export interface StatusChange {
  id: string;
  revoked?: boolean;
  suspended?: boolean;
}

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

const flagsOf = (e: EntryRow | undefined): StatusFlags => ({
  revoked: e?.purpose === "revocation" && e.bit === 1,
  suspended: e?.purpose === "suspension" && e.bit === 1,
  version: e?.version ?? 0,
});

export interface ListPublication {
  id: string;
  purpose: StatusPurpose;
  format: CredentialFormat;
  statusListCredential: string;
  /** The revision of the list's bits; it is published when its job is signed. */
  revision: number;
  publication: Publication;
}

const NEWEST_JOB = `jobs.operation_id = 'status-lists/' || status_lists.id || '.' || status_lists.job_revision`;
// The issuer can still sign: its DID is not deleted and it has a key that is not revoked.
const CAN_SIGN = `NOT EXISTS (SELECT 1 FROM meta WHERE k = 'deactivated') AND EXISTS (SELECT 1 FROM keys WHERE revoked = 0)`;
// The list's newest job (its operation is status-lists/<id>.<job_revision>) ended without a signature,
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
    private readonly did: () => string,
  ) {}

  /** Inside the creating transaction: the next index of the open list, opening one when none is. */
  allocate(
    purpose: StatusPurpose,
    credentialId: string,
    origin: string,
    now: number,
    format: CredentialFormat,
    vmId: string,
  ): StatusAllocation {
    const list =
      this.sql
        .exec<ListRow>("SELECT * FROM status_lists WHERE purpose = ? AND format = ? AND open = 1", purpose, format)
        .toArray()[0] ?? this.open(purpose, format, origin, vmId, now);
    const index = this.permutation(list).at(list.next_counter);
    const next = list.next_counter + 1;
    this.sql.exec(
      "UPDATE status_lists SET next_counter = ?, open = ? WHERE id = ?",
      next,
      next < list.capacity ? 1 : 0,
      list.id,
    );
    this.sql.exec(
      "INSERT INTO status_entries (credential_id, list_id, idx, purpose) VALUES (?, ?, ?, ?)",
      credentialId,
      list.id,
      index,
      purpose,
    );
    return { listId: list.id, index, purpose, listCredential: list.url };
  }

  /** A new list: revision 1 with no job yet, so `publish` signs its first version. */
  private open(purpose: StatusPurpose, format: CredentialFormat, origin: string, vmId: string, now: number): ListRow {
    const id = crypto.randomUUID();
    // Tests shrink lists with this meta row (set through SQL); no API reaches it.
    const override = Number(this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'status_list_capacity'").toArray()[0]?.v);
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

  /** The credential's current flags in this object (the source of truth), or null without a status entry. */
  flags(credentialId: string): StatusFlags | null {
    const e = this.sql.exec<EntryRow>("SELECT * FROM status_entries WHERE credential_id = ?", credentialId).toArray()[0];
    return e ? flagsOf(e) : null;
  }

  /**
   * Applies changes in order, each on its own: a refused one leaves its credential as it was.
   * Revocation is permanent; suspension toggles; a flag of a purpose the credential was not
   * issued with may only be asked to be false. Call inside a transaction.
   */
  apply(changes: StatusChange[], now: number, keys: KeyStore): StatusChangeResult[] {
    return changes.map((change) => {
      const entry = this.sql.exec<EntryRow>("SELECT * FROM status_entries WHERE credential_id = ?", change.id).toArray()[0];
      const flags = flagsOf(entry);
      const refuse = (code: StatusChangeResult["code"], detail: string): StatusChangeResult => ({
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
      if (!this.keyForList(keys, entry.list_id)) {
        return refuse("no_signing_key", `no usable signing key for credential ${change.id}'s status list: its key is revoked`);
      }
      const version = entry.version + 1;
      this.sql.exec("UPDATE status_entries SET bit = ?, version = ? WHERE credential_id = ?", want ? 1 : 0, version, change.id);
      // New bits: publication starts over (a list that had failed is offered again).
      this.sql.exec("UPDATE status_lists SET revision = revision + 1, publish_attempts = 0 WHERE id = ?", entry.list_id);
      const after = flagsOf({ ...entry, bit: want ? 1 : 0, version });
      this.outbox.put(
        `credential-status:${change.id}`,
        {
          sql: "UPDATE credentials SET revoked = ?, suspended = ?, status_version = ? WHERE id = ? AND status_version < ?",
          params: [after.revoked ? 1 : 0, after.suspended ? 1 : 0, version, change.id, version],
        },
        now + OUTBOX_GRACE_MS,
      );
      return { id: change.id, revoked: after.revoked, suspended: after.suspended, listId: entry.list_id };
    });
  }

  /**
   * Creates one status-list job for every list whose bits are newer than its newest job, and
   * supersedes that list's older pending job: pending changes fold into one newer job, and a
   * signed job is never touched. Synchronous, so the bits read are the bits signed.
   */
  publish(engine: Engine, keys: KeyStore, origin: string, objectId: string): PublishedGroup[] {
    // A deleted DID signs nothing more, status lists included.
    if (this.sql.exec("SELECT 1 FROM meta WHERE k = 'deactivated'").toArray().length > 0) return [];
    const dirty = this.sql.exec<ListRow>("SELECT * FROM status_lists WHERE revision > job_revision ORDER BY created_at").toArray();
    const groups = new Map<string, { key: IssuerKey; lists: ListRow[] }>();
    for (const list of dirty) {
      const key = this.signingKey(keys, list.vm_id);
      if (!key) continue; // no usable key: the list stays dirty until one is registered
      const g = groups.get(key.id) ?? { key, lists: [] };
      g.lists.push(list);
      groups.set(key.id, g);
    }
    const now = Date.now();
    return [...groups.values()].map(({ key, lists }) => {
      const { jobs } = engine.create(key, origin, lists.map((l) => this.spec(l, now)), objectId);
      const operations = new Map<string, string>();
      lists.forEach((list, i) => {
        operations.set(list.id, jobs[i]!.operation_id);
        this.sql.exec(
          "UPDATE status_lists SET job_revision = ?, vm_id = ?, publish_attempts = publish_attempts + 1 WHERE id = ?",
          list.revision,
          key.id,
          list.id,
        );
        const older = this.sql
          .exec<JobRow>(
            `SELECT * FROM jobs WHERE kind = 'status-list' AND status = 'pending'
               AND json_extract(context, '$.listId') = ? AND json_extract(context, '$.revision') < ?`,
            list.id,
            list.revision,
          )
          .toArray();
        if (older.length > 0) engine.endJobs(older, { to: "cancelled", reason: SUPERSEDED_REASON }, origin);
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
    return this.sql.exec(`UPDATE status_lists SET revision = revision + 1 WHERE ${UNSIGNED} AND ${RETRY_AT} <= ?`, now).rowsWritten;
  }

  /** When the alarm should next try `reviveUnsigned`, or null when no list waits for a retry. */
  nextRevive(): number | null {
    // Counted from when that job ended, so re-arming on every request does not push it back.
    return this.sql.exec<{ t: number | null }>(`SELECT min(${RETRY_AT}) AS t FROM status_lists WHERE ${UNSIGNED}`).one().t;
  }

  /** Where a list's publication stands, or null when this issuer has no such list. */
  publication(listId: string): ListPublication | null {
    const list = this.sql.exec<ListRow>("SELECT * FROM status_lists WHERE id = ?", listId).toArray()[0];
    if (!list) return null;
    const job = this.sql
      .exec<{ status: string; reason: string | null; ended_at: number | null }>(
        `SELECT jobs.status, jobs.reason, jobs.ended_at FROM status_lists JOIN jobs ON ${NEWEST_JOB} WHERE status_lists.id = ?`,
        listId,
      )
      .toArray()[0];
    const canSign = this.sql.exec(`SELECT 1 WHERE ${CAN_SIGN}`).toArray().length > 0;
    const attempts = list.publish_attempts;
    let publication: Publication;
    if (list.revision === list.job_revision && job?.status === "signed") {
      publication = { state: "published", attempts };
    } else if (list.revision === list.job_revision && job?.status === "pending") {
      publication = { state: "pending", attempts };
    } else if (!canSign) {
      publication = { state: "stopped", attempts, ...(job?.reason ? { lastError: job.reason } : {}) };
    } else if (list.revision > list.job_revision) {
      publication = { state: "pending", attempts }; // its new job is being created
    } else if (attempts >= PUBLISH_MAX_ATTEMPTS) {
      publication = { state: "failed", attempts, ...(job?.reason ? { lastError: job.reason } : {}) };
    } else {
      const at = (job?.ended_at ?? list.created_at) + PUBLISH_RETRY_BASE_MS * 2 ** (Math.max(attempts, 1) - 1);
      publication = {
        state: "retrying",
        attempts,
        nextAttemptAt: new Date(at).toISOString(),
        ...(job?.reason ? { lastError: job.reason } : {}),
      };
    }
    return {
      id: list.id,
      purpose: list.purpose,
      format: list.format,
      statusListCredential: list.url,
      revision: list.revision,
      publication,
    };
  }

  /** The key that would sign a list's next revision, or null when none can. */
  keyForList(keys: KeyStore, listId: string): IssuerKey | null {
    const list = this.sql.exec<{ vm_id: string }>("SELECT vm_id FROM status_lists WHERE id = ?", listId).toArray()[0];
    return list ? this.signingKey(keys, list.vm_id) : null;
  }

  /** The keys that would sign the lists of these credentials, should their bits change. */
  keysForCredentials(keys: KeyStore, credentialIds: string[]): IssuerKey[] {
    const out = new Map<string, IssuerKey>();
    const listIds = new Set<string>();
    for (const id of credentialIds) {
      const e = this.sql.exec<{ list_id: string }>("SELECT list_id FROM status_entries WHERE credential_id = ?", id).toArray()[0];
      if (e) listIds.add(e.list_id);
    }
    for (const listId of listIds) {
      const key = this.keyForList(keys, listId);
      if (key) out.set(key.id, key);
    }
    return [...out.values()];
  }

  /** The list's key, or another usable key of the issuer when that one was revoked. */
  private signingKey(keys: KeyStore, vmId: string): IssuerKey | null {
    const key = keys.local(vmId);
    if (key && !key.revoked) return key;
    const other = this.sql.exec<{ id: string }>("SELECT id FROM keys WHERE revoked = 0 ORDER BY id LIMIT 1").toArray()[0];
    return other ? keys.local(other.id) : null;
  }

  /** The list credential for the list's current bits, as a sign job spec. */
  private spec(list: ListRow, now: number): JobSpec {
    const bits = new Bitstring(list.size);
    for (const { idx } of this.sql.exec<{ idx: number }>("SELECT idx FROM status_entries WHERE list_id = ? AND bit = 1", list.id)) {
      bits.set(idx, true);
    }
    const encodedList = "u" + base64url.encode(gzipSync(bits.bytes));
    const did = this.did();
    const subject = {
      id: `${list.url}#list`,
      type: "BitstringStatusList",
      statusPurpose: list.purpose,
      encodedList,
      ttl: STATUS_LIST_TTL_MS,
    };
    const type = ["VerifiableCredential", "BitstringStatusListCredential"];
    const seconds = Math.floor(now / 1000);
    const issued = new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
    const context: StatusListJobContext = {
      listId: list.id,
      revision: list.revision,
      purpose: list.purpose,
      format: list.format,
      url: list.url,
      ttlMs: STATUS_LIST_TTL_MS,
    };
    const operationId = `status-lists/${list.id}.${list.revision}`;
    if (list.format === "vc+jwt") {
      return {
        kind: "status-list",
        operationId,
        header: { typ: "vc+jwt", cty: "vc" },
        payload: { "@context": [VC2_CONTEXT], id: list.url, type, issuer: did, validFrom: issued, credentialSubject: subject },
        context: { ...context },
      };
    }
    const vc = { "@context": [VC1_CONTEXT, BSL_V1_CONTEXT], id: list.url, type, issuer: did, issuanceDate: issued, credentialSubject: subject };
    return {
      kind: "status-list",
      operationId,
      header: { typ: "JWT" },
      payload: { iss: did, sub: subject.id, nbf: seconds, jti: list.url, vc },
      context: { ...context },
    };
  }
}
