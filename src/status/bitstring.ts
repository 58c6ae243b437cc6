/**
 * W3C Bitstring Status List v1.0: the bitstring and its `encodedList` form.
 * @see https://www.w3.org/TR/vc-bitstring-status-list/
 */
import { base64url } from "jose";
import { concatBytes } from "@noble/hashes/utils.js";

/** The spec's minimum list length (16 KiB uncompressed): below it, a status index says too much about its holder. */
export const MIN_LIST_SIZE = 131_072;

/** Refuse to inflate more than this (128 Mi entries), so a hostile list cannot exhaust memory. */
export const MAX_DECODED_BYTES = 16 * 1024 * 1024;

export type StatusListErrorCode = "invalid_encoding" | "invalid_gzip" | "list_too_large";

/** Thrown by {@link decodeList} when an `encodedList` cannot be read. */
export class StatusListError extends Error {
  override name = "StatusListError";
  constructor(
    readonly code: StatusListErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A fixed-size bitstring; bit 0 is the leftmost (most significant) bit of byte 0, as the spec requires. */
export class Bitstring {
  readonly #length: number;
  readonly #bytes: Uint8Array;

  /**
   * @param lengthBits a positive multiple of 8, so that encoding and decoding round-trip exactly.
   * @param bytes initial contents, copied; must be exactly `lengthBits / 8` bytes.
   */
  constructor(lengthBits: number, bytes?: Uint8Array) {
    if (!Number.isSafeInteger(lengthBits) || lengthBits <= 0 || lengthBits % 8 !== 0) {
      throw new RangeError(`bitstring length must be a positive multiple of 8, got ${lengthBits}`);
    }
    if (bytes !== undefined && bytes.length * 8 !== lengthBits) {
      throw new RangeError(`expected ${lengthBits / 8} bytes for ${lengthBits} bits, got ${bytes.length}`);
    }
    this.#length = lengthBits;
    this.#bytes = bytes ? bytes.slice() : new Uint8Array(lengthBits / 8);
  }

  get length(): number {
    return this.#length;
  }

  get(index: number): boolean {
    this.#check(index);
    return ((this.#bytes[index >>> 3]! >>> (7 - (index & 7))) & 1) === 1;
  }

  set(index: number, value: boolean): void {
    this.#check(index);
    const mask = 0x80 >>> (index & 7);
    const i = index >>> 3;
    this.#bytes[i] = value ? this.#bytes[i]! | mask : this.#bytes[i]! & ~mask;
  }

  /** The underlying bytes, not a copy: writes to it change the bitstring. */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** Indexes of the bits that are set, ascending. */
  setIndexes(): number[] {
    const out: number[] = [];
    const bytes = this.#bytes;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (b === 0) continue;
      for (let bit = 0; bit < 8; bit++) if (b & (0x80 >>> bit)) out.push(i * 8 + bit);
    }
    return out;
  }

  #check(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.#length) {
      throw new RangeError(`status index ${index} is outside [0, ${this.#length})`);
    }
  }
}

/** `"u"` + base64url (no padding) of GZIP(bitstring bytes): the spec's `encodedList`. */
export async function encodeList(bits: Bitstring): Promise<string> {
  const stream = new Blob([bits.bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  const gz = new Uint8Array(await new Response(stream).arrayBuffer());
  return "u" + base64url.encode(gz);
}

/**
 * Inverse of {@link encodeList}. Accepts the multibase `"u"` prefix, or none (as older
 * StatusList2021 lists were written).
 * @throws {StatusListError} on bad base64url, data that is not gzip, or a list over {@link MAX_DECODED_BYTES}.
 */
export async function decodeList(encodedList: string): Promise<Bitstring> {
  const text = encodedList.startsWith("u") ? encodedList.slice(1) : encodedList;
  if (!/^[A-Za-z0-9_-]+$/.test(text)) {
    throw new StatusListError("invalid_encoding", "encodedList is not multibase base64url ('u' prefix)");
  }
  let gz: Uint8Array;
  try {
    gz = base64url.decode(text);
  } catch (cause) {
    throw new StatusListError("invalid_encoding", "encodedList is not valid base64url", { cause });
  }
  if (gz.length < 18 || gz[0] !== 0x1f || gz[1] !== 0x8b) {
    throw new StatusListError("invalid_gzip", "encodedList does not hold GZIP data");
  }
  const bytes = await gunzip(gz);
  if (bytes.length === 0) throw new StatusListError("invalid_gzip", "encodedList inflates to an empty bitstring");
  return new Bitstring(bytes.length * 8, bytes);
}

async function gunzip(gz: Uint8Array): Promise<Uint8Array> {
  const reader = new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip")).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > MAX_DECODED_BYTES) {
        throw new StatusListError("list_too_large", `encodedList inflates past ${MAX_DECODED_BYTES} bytes`);
      }
      chunks.push(value);
    }
  } catch (cause) {
    await reader.cancel().catch(() => {});
    if (cause instanceof StatusListError) throw cause;
    throw new StatusListError("invalid_gzip", "encodedList holds corrupt GZIP data", { cause });
  }
  return concatBytes(...chunks);
}
