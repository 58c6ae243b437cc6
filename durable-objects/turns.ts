/**
 * Bounding the issuer object's uninterrupted work. The object runs one thing at a time, and a
 * request that arrives while it works waits for the object's next real yield: a synchronous
 * transaction, and an await of anything that completes without I/O (a resolved promise, WebCrypto
 * in workerd, a storage call: storage keeps the input gate closed), let nothing in. Long runs of
 * work (a signer's batch of 1,000 signatures, a rotation's re-signing) are therefore cut into turns
 * of at most TURN_JOBS jobs, with `yieldTurn()` between them.
 */

/** Jobs one turn applies at most: a few milliseconds of the object's time (bench/RESULTS.md). */
export const TURN_JOBS = 10;

/**
 * Gives the object's event loop a real turn: a timer is I/O, so the input gate opens and a request
 * waiting on the object runs before the caller carries on.
 */
export function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
