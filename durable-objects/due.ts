import { DidAuth } from "./auth";
import { IdempotencyStore } from "./idempotency";
import { IonAnchors } from "./ion-anchors";
import { JobStore } from "./jobs";
import { Leases } from "./leases";
import { Outbox } from "./outbox";
import { StatusLists } from "./status-lists";

/** Far beyond any due time (year 2286 in ms); never a real one. */
const NONE = 9_999_999_999_999;

/**
 * The earliest time anything stored in the object is due (outbox retries and dead-letter reports,
 * job expiry, retention, leases, jti pruning, status-list revival, idempotency expiry, did:ion
 * anchoring), as ONE statement. The alarm is re-armed after every change, up to three times per
 * single create; as one `min()` query per module that was 27 of a single create's 51 statements.
 * Each module owns its part (its `DUE` selects, each `SELECT min(...) AS t ...` answered from an
 * index in one step, test/cost/due-plan.test.ts); this only joins them.
 */
export class DueTimes {
  private readonly query: string;

  constructor(
    private readonly sql: SqlStorage,
    options: { ion: boolean; archive?: boolean },
  ) {
    this.query = DueTimes.compose(DueTimes.parts(options.ion, options.archive ?? true));
  }

  /**
   * Each part as a scalar subquery inside one multi-argument `min()`: the object's SQLite allows
   * only a few terms in a compound SELECT, so not a UNION ALL. A part with nothing due (NULL)
   * counts as NONE, which `next` reads as null.
   */
  static compose(parts: string[]): string {
    return `SELECT min(${[...parts.map((p) => `ifnull((${p}), ${NONE})`), String(NONE)].join(", ")}) AS t`;
  }

  /** Every part of the query, for plan checks. */
  static parts(ion: boolean, archive = true): string[] {
    return [
      ...Outbox.DUE,
      ...(archive ? JobStore.DUE : JobStore.DUE_WITHOUT_ARCHIVE),
      ...Leases.DUE,
      ...DidAuth.DUE,
      ...StatusLists.DUE,
      ...IdempotencyStore.DUE,
      ...(ion ? IonAnchors.DUE : []),
    ];
  }

  /** The earliest due time, or null; `retentionMs` is how long an ended job keeps its claims. */
  next(retentionMs: number): number | null {
    const t = this.sql.exec<{ t: number }>(this.query, retentionMs).one().t;
    return t >= NONE ? null : t;
  }
}
