/**
 * The index layout: how many D1 shards hold the credential index, and where a 1 → N migration
 * stands. Pure: which shards an issuer's rows are written to, which one answers for them, and which
 * shards a cross-issuer list reads.
 *
 * A migration moves through three phases (docs/SCALE.md "Moving from 1 to N shards"):
 * - `copying`: writers write an issuer's rows to its old and its new shard; reads use the old layout
 *   (complete, since every write still lands there); the migrator copies the rows that move.
 * - `switched`: reads use the new layout; writers still write both, so a reader that still has the
 *   old layout cached stays correct.
 * - `cleaning`: writers write the new shard only; the migrator deletes the moved rows from their old
 *   shards (no write can bring them back now).
 * - `steady` again with `shards = next`.
 * Each phase waits a grace period (longer than any cached layout and any in-flight write) before
 * the migrator relies on it.
 */
import { shardOf } from "./hash";

export type Phase = "steady" | "copying" | "switched" | "cleaning";

export interface Layout {
  shards: number;
  /** The shard count being migrated to (copying, switched); null when steady. */
  next: number | null;
  phase: Phase;
  /** When the phase began (ms): the migrator waits a grace period from here before it relies on it. */
  since: number;
}

export const steady = (shards: number, since = 0): Layout => ({ shards, next: null, phase: "steady", since });

const readsNew = (layout: Layout) => (layout.phase === "switched" || layout.phase === "cleaning") && layout.next !== null;

/** The shard that answers for an issuer's rows. */
export function readShard(layout: Layout, issuer: string): number {
  return readsNew(layout) ? shardOf(issuer, layout.next!) : shardOf(issuer, layout.shards);
}

/** Every shard an issuer's rows are written to (its reading shard first). */
export function writeShards(layout: Layout, issuer: string): number[] {
  const old = shardOf(issuer, layout.shards);
  if (layout.phase === "steady" || layout.next === null) return [old];
  const next = shardOf(issuer, layout.next);
  if (next === old || layout.phase === "cleaning") return [next];
  return layout.phase === "switched" ? [next, old] : [old, next];
}

/** How many shards a cross-issuer list reads (0 .. n − 1). */
export function readShardCount(layout: Layout): number {
  return readsNew(layout) ? layout.next! : layout.shards;
}

/**
 * Whether a row found in `shard` is the answer for its issuer: after the switch, old shards still hold
 * copies of moved rows until the cleanup removes them; a list skips those.
 */
export function owns(layout: Layout, shard: number, issuer: string): boolean {
  return readShard(layout, issuer) === shard;
}

/** The shards whose bindings a layout needs. */
export function shardsNeeded(layout: Layout): number {
  return Math.max(layout.shards, layout.next ?? 0);
}
