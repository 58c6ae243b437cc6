/**
 * A real alarm fires at its time, give or take the skew between the runtime's alarm scheduler
 * and the clock an event reads. A run further ahead of its armed time than this was started by
 * hand (tests' runDurableObjectAlarm) and judges by the clock.
 */
export const EARLY_FIRE_TOLERANCE_MS = 1_000;

/**
 * The object's one alarm, and the time an alarm run judges "due" by.
 *
 * The alarm is armed for the earliest due time (an auth deadline, a lease's end, an outbox retry,
 * a job's expiry). The runtime's clock inside the handler can read earlier than the time the
 * alarm was armed for (workerd's `Date.now()` is the time the event started, on another clock
 * than the alarm scheduler's). Comparing deadlines with that clock then finds nothing due, and
 * re-arming for the very time that was firing was skipped (the in-memory armed time) or may be
 * dropped by the runtime, so the deadline would wait for whatever armed the alarm next.
 *
 * So a run that starts within EARLY_FIRE_TOLERANCE_MS before its armed time judges by the armed
 * time (everything the alarm was armed for is due when it fires), and a run never re-arms at or
 * before the time it judged by. The armed time is kept in storage, so a run that wakes a
 * hibernated or restarted object still knows it.
 *
 * Measured under `wrangler dev`: the alarm fires 20-35 ms after a silent socket's deadline and
 * the Close frame (4401) reaches the client 10.0 s after it connected. A Node client's `close`
 * event still comes about 10 s later: the runtime keeps the connection open after the closing
 * handshake, outside anything this object does.
 */
export class AlarmClock {
  /** What storage holds, as far as this instance knows; undefined until it first arms. */
  private armedAt: number | null | undefined = undefined;
  /** While an alarm run is in progress: the time it judges by. */
  private handling: number | null = null;

  constructor(private readonly storage: DurableObjectStorage) {}

  private get sql(): SqlStorage {
    return this.storage.sql;
  }

  /** Starts an alarm run; returns the time everything is judged due by. */
  begin(): number {
    const row = this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'alarm_at'").toArray()[0];
    const armedFor = row ? Number(row.v) : NaN;
    const now = Date.now();
    this.armedAt = undefined;
    this.handling = Number.isFinite(armedFor) && armedFor > now && armedFor - now <= EARLY_FIRE_TOLERANCE_MS ? armedFor : now;
    return this.handling;
  }

  end(): void {
    this.handling = null;
  }

  /**
   * Arms for `t` (null: nothing) without asking storage what else is due: right when this
   * instance's alarm was armed for the earliest due time then (or earlier; null when nothing was
   * due) and `t` is the earliest due time written since. False, with nothing done, when that is
   * not known here (after a wake, during an alarm run): the caller re-arms in full then.
   */
  lower(t: number | null): boolean {
    if (this.handling !== null || this.armedAt === undefined) return false;
    if (t !== null && (this.armedAt === null || t < this.armedAt)) this.arm(t);
    return true;
  }

  /**
   * Arms the alarm for `next`, the earliest due time (null: nothing due). Outside an alarm run an
   * alarm this instance armed earlier is kept: early is safe (the run finds little due and re-arms
   * exactly), and it spares the `alarm_at` write that moving it on every request cost (the earliest
   * due time of a busy object is its newest outbox row's, a few seconds on, so it moved each time).
   * Only the alarm's run, or the first arm of an instance, moves it later.
   */
  arm(next: number | null): void {
    // Work still due at the time being handled (a bounded round left some) runs just after it.
    if (next !== null && this.handling !== null && next <= this.handling) next = this.handling + 1;
    if (next === this.armedAt) return;
    if (this.handling === null && typeof this.armedAt === "number" && (next === null || this.armedAt <= next)) return;
    this.armedAt = next;
    if (next === null) {
      this.sql.exec("DELETE FROM meta WHERE k = 'alarm_at'");
      void this.storage.deleteAlarm();
    } else {
      this.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('alarm_at', ?)", String(next));
      void this.storage.setAlarm(next);
    }
  }
}

/** The earliest of due times, null when there is none. */
export function earliest(times: (number | null)[]): number | null {
  let min: number | null = null;
  for (const t of times) if (t !== null && (min === null || t < min)) min = t;
  return min;
}
