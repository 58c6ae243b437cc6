/**
 * Bounding the issuer object's uninterrupted work. The object runs one thing at a time, and a
 * request that arrives while it works waits for the object's next real yield: a synchronous
 * transaction, and an await of anything that completes without I/O (a resolved promise, WebCrypto
 * in workerd, a storage call: storage keeps the input gate closed), let nothing in. Long runs of
 * work (a signer's batch of 1,000 signatures, a rotation's re-signing) are therefore cut into turns
 * of about TURN_WORK, with `yieldTurn()` between them.
 *
 * A turn is sized by its work, not by a count of jobs: every turn costs a transaction, its
 * bookkeeping rows and a yield (the yield commits what the turn wrote), so a turn should carry as
 * much as the bound allows. Work is counted in SQLite statements (what test/cost/turns.test.ts
 * counts, deterministically), plus an allowance for the crypto a job needs.
 */

/**
 * The work of one turn, in statements. A turn of 10 rotation jobs ran about 100 statements (10.2
 * per job, measured 2026-12-02) and held the object for a few milliseconds (bench/RESULTS.md): the
 * same budget keeps that bound whatever a job now costs.
 */
export const TURN_WORK = 100;

/** At most this many jobs in one turn, whatever their cost: a bound if a cost estimate is wrong. */
export const TURN_JOBS = 40;

/**
 * Cuts `items` into turns of at most TURN_WORK (and TURN_JOBS items); an item costlier than a whole
 * turn gets a turn of its own.
 */
export function turnsOf<T>(items: readonly T[], cost: (item: T) => number): T[][] {
  const turns: T[][] = [];
  let turn: T[] = [];
  let work = 0;
  for (const item of items) {
    const c = cost(item);
    if (turn.length > 0 && (work + c > TURN_WORK || turn.length >= TURN_JOBS)) {
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
