/**
 * Creates that live in D1 alone (unsigned schemas, presentation definitions, submissions) made safe
 * to retry: the first answer is recorded under the caller's Idempotency-Key in the same D1 batch as
 * the rows it created, as DIDs do (src/did/store.ts).
 */
import type { IdempotencyClaim } from "../core/idempotency";
import { findAnswer, idempotencyWrites, type StoredAnswer } from "../did/store";
import { ProblemError } from "../http/errors";

/**
 * Runs `statements` and records `answer` under `claim` (when the client sent a key) in one batch.
 * A replay of the same request returns the recorded answer; the same key with another body is 422.
 */
export async function createOnce(
  db: D1Database,
  claim: (IdempotencyClaim & { fromClient: boolean }) | null,
  make: () => { statements: D1PreparedStatement[]; answer: StoredAnswer },
): Promise<StoredAnswer> {
  const keyed = claim?.fromClient ? claim : null;
  const earlier = async () => {
    const found = keyed ? await findAnswer(db, keyed, Date.now()) : null;
    if (found?.kind === "reused")
      throw new ProblemError(422, "idempotency_key_reused", "this Idempotency-Key was already used with a different request");
    return found?.answer ?? null;
  };
  const replay = await earlier();
  if (replay) return replay;
  const { statements, answer } = make();
  try {
    await db.batch([...statements, ...(keyed ? idempotencyWrites(db, keyed, answer, Date.now()) : [])]);
  } catch (err) {
    // A concurrent request with the same key won the record: answer as it did.
    const winner = await earlier();
    if (winner) return winner;
    throw err;
  }
  return answer;
}
