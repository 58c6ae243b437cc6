/**
 * The issuer object's clockwork: the one alarm that runs everything due, the re-arm after every
 * change, and the outbox delivery that follows a change. Kept apart from the RPC surface
 * (issuer.ts), which only calls `afterChange` when its state moved and `alarm` when the runtime
 * fires it.
 */
import { earliest, type AlarmClock } from "./alarm-clock";
import type { Archive } from "./archive";
import type { DidAuth } from "./auth";
import type { CustodialSigner } from "./custodial-signer";
import type { DueTimes } from "./due";
import type { Engine } from "./engine";
import type { IdempotencyStore } from "./idempotency";
import type { IonAnchors } from "./ion-anchors";
import type { Issuance } from "./issuance";
import type { Leases } from "./leases";
import type { IssuerMeta } from "./meta";
import type { Outbox } from "./outbox";
import type { Rotations } from "./rotations";
import type { SignerSockets } from "./signer-sockets";
import type { StatusLists } from "./status-lists";

export interface UpkeepParts {
  env: Env;
  objectId: string;
  meta: IssuerMeta;
  clock: AlarmClock;
  due: DueTimes;
  engine: Engine;
  sockets: SignerSockets;
  leases: Leases;
  didAuth: DidAuth;
  archive: Archive;
  idempotency: IdempotencyStore;
  anchors: IonAnchors;
  custodial: CustodialSigner;
  rotations: Rotations;
  statusLists: StatusLists;
  outbox: Outbox;
  issuance: () => Issuance;
}

export class Upkeep {
  /** The hot limit as the alarm last read it: the re-arm after every change must not read meta each time. */
  private hotLimitNow: number | null = null;
  /** Likewise the retention: read by every alarm run, kept for the re-arms between them. */
  private retentionNow: number | null = null;

  constructor(private readonly p: UpkeepParts) {}

  /**
   * One alarm for everything due: outbox retries, job expiry, leases, auth deadlines, jti pruning,
   * retention. Idempotent. Due means due by the time the alarm was armed for (see AlarmClock).
   */
  async alarm(): Promise<void> {
    const p = this.p;
    const now = p.clock.begin();
    try {
      for (let batch = p.engine.jobs.expiredBy(now); batch.length > 0; batch = p.engine.jobs.expiredBy(now)) {
        p.engine.expire(batch);
      }
      p.sockets.closeOverdue(now);
      p.leases.expire(now);
      p.didAuth.prune(now);
      // Ended jobs past retention or past the hot limit: signed ones to R2, then dropped here.
      this.hotLimitNow = this.hotLimit();
      this.retentionNow = this.retentionMs();
      await p.archive.run(now - this.retentionNow, this.hotLimitNow, now);
      p.idempotency.prune(now);
      await p.anchors.run(p.env.ION_NODE_URL || undefined, now);
      await p.custodial.backlog();
      await p.rotations.run(
        (key, jobs) => p.issuance().dispatch([{ key, jobs }], ""),
        async () => {
          p.leases.topUp();
          await p.outbox.drain();
        },
      );
      p.statusLists.reviveUnsigned(now);
      try {
        await p.issuance().dispatch(p.statusLists.publish(p.engine, "", p.objectId), "");
      } catch (err) {
        // A custodial key that cannot be unlocked (KEK changed) leaves its list's job pending for
        // the backlog signer; it must not cost the outbox delivery and the re-arm below.
        console.error(JSON.stringify({ level: "error", event: "status.publish_failed", error: String(err) }));
      }
      // The alarm is the outbox's retry: it waits for its delivery round, and re-arms after it.
      p.leases.topUp();
      p.outbox.alarmDue();
      await p.outbox.drain();
      this.rearm();
    } finally {
      p.clock.end();
    }
  }

  /**
   * Re-arms and starts the outbox's delivery; every state-changing entry point ends here. Nothing
   * waits for D1: reads of one id and of this issuer's lists are answered by this object (api.md
   * "Consistency"), so the answer goes out while the rows travel. The rows were committed with the
   * change and the alarm is armed for them before the answer, so a delivery that fails, or an
   * object that goes away meanwhile, leaves them to the alarm's retries.
   */
  async afterChange(): Promise<void> {
    this.p.leases.topUp();
    // A did:ion operation that became due (created, or its did-operation job just signed) is posted now.
    await this.p.anchors.runIfTouched(this.p.env.ION_NODE_URL || undefined, Date.now());
    this.rearm();
    this.deliver();
  }

  /**
   * One delivery round in the background; rounds coalesce (Outbox.drain). A round that only
   * delivered rows deleted due times, which can only leave the alarm early (AlarmClock.arm keeps it):
   * it re-arms only when it backed rows off or moved some to the dead letters (`Outbox.retries`).
   */
  private deliver(): void {
    const retries = this.p.outbox.retries;
    this.p.outbox.drain().then(
      () => {
        if (this.p.outbox.retries !== retries) this.rearm();
      },
      (err: unknown) => {
        console.error(JSON.stringify({ level: "error", event: "outbox.drain_failed", error: String(err) }));
        this.rearm();
      },
    );
  }

  /**
   * Arms the alarm for the earliest due time: one statement for everything stored (DueTimes), the
   * rest from memory (sockets' auth deadlines, the hot-limit count, a running rotation).
   *
   * `written`, when given, is the earliest due time of everything stored since the last re-arm of
   * this instance by the caller's change (null: none; Engine.create computes it for a create's
   * transaction). The alarm this instance armed then was no later than everything due, so the
   * earlier of the two is armed without the query (AlarmClock.lower); after a wake or during an
   * alarm run that is not known and the query runs.
   */
  rearm(written?: number | null): void {
    const p = this.p;
    if (written !== undefined && p.clock.lower(earliest([written, ...this.memoryDue()]))) return;
    p.clock.arm(earliest([p.due.next((this.retentionNow ??= this.retentionMs())), ...this.memoryDue()]));
  }

  /** The due times kept in memory, not in a table. */
  private memoryDue(): (number | null)[] {
    const p = this.p;
    return [
      p.sockets.nextDue(),
      // More ended jobs hold their claims than the hot limit allows: archive now.
      p.archive.overLimit((this.hotLimitNow ??= this.hotLimit())) ? Date.now() : null,
      p.rotations.nextDue(Date.now()),
    ];
  }

  /**
   * How long an ended job keeps its signing input: SIGNJOB_RETENTION_DAYS (default 30). Tests
   * shorten it with the meta row `signjob_retention_ms` (set through SQL); no API reaches it.
   */
  private retentionMs(): number {
    const override = this.p.meta.override("signjob_retention_ms");
    if (Number.isFinite(override) && override >= 0) return override;
    const days = Number(this.p.env.SIGNJOB_RETENTION_DAYS ?? "30");
    return (Number.isFinite(days) && days > 0 ? days : 30) * 86_400_000;
  }

  /**
   * How many ended jobs keep their claims in the object, past retention or not: SIGNJOB_HOT_LIMIT
   * (default 750,000, about 4 GB at the measured 5.3 KB per credential); the oldest beyond it go
   * to R2. Tests set the meta row `signjob_hot_limit`.
   */
  private hotLimit(): number {
    const override = this.p.meta.override("signjob_hot_limit");
    if (Number.isFinite(override) && override >= 0) return override;
    const limit = Number(this.p.env.SIGNJOB_HOT_LIMIT ?? "750000");
    return Number.isFinite(limit) && limit > 0 ? limit : 750_000;
  }
}
