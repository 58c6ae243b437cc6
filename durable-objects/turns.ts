/**
 * Bounding the issuer object's uninterrupted work. The object runs one thing at a time, and a
 * request that arrives while it works waits for the object's next real yield: a synchronous
 * transaction, and an await of anything that completes without I/O (a resolved promise, WebCrypto
 * in workerd, a storage call: storage keeps the input gate closed), let nothing in. Long runs of
 * work (a signer's batch of 1,000 signatures, a rotation's re-signing) are therefore cut into turns,
 * with `yieldTurn()` between them.
 *
 * Every turn costs a transaction, its bookkeeping rows (outbox, audit, leases) and a yield, so a turn
 * should carry as much as the bound allows. A batch of signatures is cut by its work (`turnsOf`,
 * counted in SQLite statements plus an allowance for each signature's verification): 25 EdDSA or
 * ES256 signatures a turn, where a count of 10 jobs paid the per-turn cost two and a half times as
 * often (P2, bench/RESULTS.md). The rotation's scan keeps TURN_JOBS: sizing its turns by work made
 * a custodial rotation slower, not faster (bench/RESULTS.md, 2026-12-02 12:14).
 */

/** Jobs one turn of the rotation's scan takes: a few milliseconds of the object's time (bench/RESULTS.md). */
export const TURN_JOBS = 10;

/**
 * The work of one turn, in statements. A turn of 10 rotation jobs ran about 100 statements and held
 * the object for a few milliseconds (bench/RESULTS.md): the same budget keeps that bound.
 */
export const TURN_WORK = 100;

/** At most this many items in one turn, whatever their cost: a bound should a cost estimate be wrong. */
export const TURN_MAX_ITEMS = 40;

/**
 * Cuts `items` into turns of at most TURN_WORK (and TURN_MAX_ITEMS items); an item costlier than a
 * whole turn gets a turn of its own.
 */
export function turnsOf<T>(items: readonly T[], cost: (item: T) => number): T[][] {
  const turns: T[][] = [];
  let turn: T[] = [];
  let work = 0;
  for (const item of items) {
    const c = cost(item);
    if (turn.length > 0 && (work + c > TURN_WORK || turn.length >= TURN_MAX_ITEMS)) {
      turns.push(turn);
      turn = [];
      work = 0;
    }
    turn.push(item);
    work += c;
  }
  if (turn.length > 0) turns.push(turn);
  return turns;
}

/**
 * Gives the object's event loop a real turn: a timer is I/O, so the input gate opens and a request
 * waiting on the object runs before the caller carries on.
 */
export function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
