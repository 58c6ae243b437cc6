/**
 * Random, never-repeating status indexes without storing a shuffled pool: a keyed permutation
 * of [0, size) applied to a counter. The issuer keeps only the key and the next counter.
 *
 * The mapping is part of stored state (issued indexes depend on it), so changing ROUNDS or the
 * round-function encoding would make new indexes collide with old ones. test/status pins it.
 */
import { type _HMAC, hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";

/** Feistel rounds. Four is the Luby–Rackoff minimum; the extra rounds are cheap margin on a domain this small. */
export const ROUNDS = 8;
/** Largest supported domain: halves stay within 16 bits, so all arithmetic is exact uint32. */
export const MAX_PERMUTATION_SIZE = 2 ** 32;

type Mac = _HMAC<ReturnType<typeof sha256.create>>;

/**
 * A keyed bijection on [0, size): a balanced Feistel network over the smallest even bit width
 * w with 2^w ≥ size (w ≥ 2), round function F_r(x) = first 4 bytes of
 * HMAC-SHA256(key, r as 1 byte ‖ x as 4 bytes big-endian) masked to w/2 bits, and cycle-walking
 * to stay inside [0, size). Synchronous, so it can run inside a Durable Object transaction.
 */
export class IndexPermutation {
  readonly size: number;
  readonly #half: number;
  readonly #mask: number;
  /** HMAC state with the key and the round byte already absorbed; cloned per call. */
  readonly #rounds: Mac[];
  readonly #scratch: Mac;
  readonly #msg = new Uint8Array(4);
  readonly #msgView = new DataView(this.#msg.buffer);
  readonly #out = new Uint8Array(32);
  /**
   * Round outputs, masked, plus one (0 = not yet computed): a round function only ever sees
   * 2^(w/2) inputs, so each is computed once per permutation instead of once per call.
   */
  readonly #memo: Uint32Array[];

  /** @param key at least 16 bytes of secret, random key; @param size domain size, 1 ≤ size ≤ 2^32. */
  constructor(key: Uint8Array, size: number) {
    if (key.length < 16) throw new RangeError("permutation key must be at least 16 bytes");
    if (!Number.isSafeInteger(size) || size < 1 || size > MAX_PERMUTATION_SIZE) {
      throw new RangeError(`permutation size must be an integer in [1, 2^32], got ${size}`);
    }
    let width = 2;
    while (2 ** width < size) width += 2;
    this.size = size;
    this.#half = width / 2;
    this.#mask = 2 ** this.#half - 1;
    const base = hmac.create(sha256, key);
    this.#rounds = Array.from({ length: ROUNDS }, (_, r) => base.clone().update(Uint8Array.of(r)));
    this.#scratch = base.clone();
    this.#memo = Array.from({ length: ROUNDS }, () => new Uint32Array(2 ** this.#half));
  }

  /** The index for `counter`; distinct counters in [0, size) give distinct indexes in [0, size). */
  at(counter: number): number {
    if (!Number.isInteger(counter) || counter < 0 || counter >= this.size) {
      throw new RangeError(`counter ${counter} is outside [0, ${this.size})`);
    }
    let x = this.#encrypt(counter);
    // Cycle-walking: x's cycle under the permutation of [0, 2^w) returns to counter < size,
    // so this ends, and restricting to [0, size) stays a bijection.
    while (x >= this.size) x = this.#encrypt(x);
    return x;
  }

  #encrypt(x: number): number {
    const half = this.#half;
    let left = Math.floor(x / 2 ** half);
    let right = x & this.#mask;
    for (let r = 0; r < ROUNDS; r++) {
      const memo = this.#memo[r]!;
      let f = memo[right]!;
      if (f === 0) memo[right] = f = (this.#f(r, right) & this.#mask) + 1;
      const next = (left ^ (f - 1)) & this.#mask;
      left = right;
      right = next;
    }
    return left * 2 ** half + right;
  }

  #f(round: number, x: number): number {
    const mac = this.#rounds[round]!._cloneInto(this.#scratch);
    this.#msgView.setUint32(0, x);
    mac.update(this.#msg).digestInto(this.#out);
    const o = this.#out;
    return ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
  }
}
