/**
 * Coalescing of pending writes to the same Odoo record, over core's `KeyedLock` (one writer per
 * record).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import type { KeyedLock } from "@waybill/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"

export interface Coalescer<E> {
  /**
   * Queues `values` for the record `key` and returns when they are written. Values queued while
   * the record's lock is held are merged (later values win) and written in one call. A caller
   * interrupted while its batch is written does not stop the write of the others in the batch:
   * if it was the one writing, the batch is written again by a caller still waiting for it.
   */
  readonly write: (key: string, values: Readonly<Record<string, unknown>>) => Effect.Effect<void, E>
}

export const coalescer = <E>(
  lock: KeyedLock.KeyedLock,
  flush: (key: string, values: Readonly<Record<string, unknown>>) => Effect.Effect<void, E>
): Coalescer<E> => {
  interface Batch {
    values: Record<string, unknown>
    /**
     * Callers waiting for these values (the writer too), so that an interrupted writer knows
     * whether anyone is left to write them; they move with the values.
     */
    waiting: number
    /** Set when the write was interrupted and the values moved to a later batch, for the waiters to write. */
    movedTo: Batch | undefined
    /** Completed with the write's outcome, or once the values moved. */
    readonly done: Deferred.Deferred<void, E>
  }
  const open = new Map<string, Batch>()
  const openBatch = (key: string): Batch => {
    let batch = open.get(key)
    if (batch === undefined) {
      batch = { values: {}, waiting: 0, movedTo: undefined, done: Deferred.unsafeMake<void, E>(FiberId.none) }
      open.set(key, batch)
    }
    return batch
  }

  /**
   * Writes `batch` (holding the record's lock) unless an earlier holder already did. A write
   * interrupted while others still wait for its values moves them in front of the batch now open
   * (whose values win), while still holding the lock so nothing is written in between, and the
   * waiters write that batch instead.
   */
  const run = (key: string, batch: Batch) =>
    Effect.suspend(() => {
      if (open.get(key) !== batch) return Effect.void
      open.delete(key)
      return Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(Effect.exit(restore(flush(key, batch.values))), (exit) => {
          if (Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause) && batch.waiting > 1) {
            const next = openBatch(key)
            next.values = { ...batch.values, ...next.values }
            next.waiting += batch.waiting
            batch.waiting = 0
            batch.movedTo = next
            return Deferred.succeed(batch.done, undefined)
          }
          return Deferred.done(batch.done, exit)
        })
      )
    })

  /** Writes `batch`, or the batch its values moved to, and waits until written. */
  const settle = (key: string, batch: Batch): Effect.Effect<void, E> =>
    lock.withLock(key, run(key, batch)).pipe(
      Effect.zipRight(Deferred.await(batch.done)),
      Effect.flatMap(() => batch.movedTo === undefined ? Effect.void : settle(key, batch.movedTo))
    )

  return {
    write: (key, values) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          const batch = openBatch(key)
          Object.assign(batch.values, values)
          batch.waiting++
          const leave = Effect.sync(() => {
            let last = batch
            while (last.movedTo !== undefined) last = last.movedTo
            last.waiting--
          })
          return Effect.ensuring(restore(settle(key, batch)), leave)
        })
      )
  }
}
