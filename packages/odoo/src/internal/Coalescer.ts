/**
 * Coalescing of pending writes to the same Odoo record, over core's `KeyedLock` (one writer per
 * record).
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import type { KeyedLock } from "@waybill/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"

export interface Coalescer<E> {
  /**
   * Queues `values` for the record `key` and returns when they are written. Values queued while
   * the record's lock is held are merged (later values win) and written in one call.
   */
  readonly write: (key: string, values: Readonly<Record<string, unknown>>) => Effect.Effect<void, E>
}

export const coalescer = <E>(
  lock: KeyedLock.KeyedLock,
  flush: (key: string, values: Readonly<Record<string, unknown>>) => Effect.Effect<void, E>
): Coalescer<E> => {
  interface Batch {
    readonly values: Record<string, unknown>
    readonly done: Deferred.Deferred<void, E>
  }
  const open = new Map<string, Batch>()
  return {
    write: (key, values) =>
      Effect.suspend(() => {
        let batch = open.get(key)
        if (batch === undefined) {
          batch = { values: {}, done: Deferred.unsafeMake<void, E>(FiberId.none) }
          open.set(key, batch)
        }
        Object.assign(batch.values, values)
        const mine = batch
        const run = Effect.suspend(() => {
          if (open.get(key) !== mine) return Effect.void // an earlier holder already wrote this batch
          open.delete(key)
          return flush(key, mine.values).pipe(
            Effect.exit,
            Effect.flatMap((exit) => Deferred.done(mine.done, exit)),
            Effect.onInterrupt(() => Deferred.done(mine.done, Exit.interrupt(FiberId.none)))
          )
        })
        return lock.withLock(key, run).pipe(Effect.zipRight(Deferred.await(mine.done)))
      })
  }
}
