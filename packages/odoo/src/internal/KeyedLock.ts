/**
 * One writer per key (an Odoo record), and coalescing of pending writes to the same record.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"

export interface KeyedLock {
  /** Runs `effect` while holding the lock of `key` (FIFO per key; different keys run in parallel). */
  readonly withLock: (key: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Keys currently held or waited for (for tests). */
  readonly size: () => number
}

export const make = (): KeyedLock => {
  const locks = new Map<string, { readonly semaphore: Effect.Semaphore; users: number }>()
  return {
    withLock: (key) => (effect) =>
      Effect.suspend(() => {
        let entry = locks.get(key)
        if (entry === undefined) {
          entry = { semaphore: Effect.unsafeMakeSemaphore(1), users: 0 }
          locks.set(key, entry)
        }
        entry.users += 1
        const held = entry
        return held.semaphore.withPermits(1)(effect).pipe(
          Effect.ensuring(
            Effect.sync(() => {
              held.users -= 1
              if (held.users === 0 && locks.get(key) === held) locks.delete(key)
            })
          )
        )
      }),
    size: () => locks.size
  }
}

export interface Coalescer<E> {
  /**
   * Queues `values` for the record `key` and returns when they are written. Values queued while
   * the record's lock is held are merged (later values win) and written in one call.
   */
  readonly write: (key: string, values: Readonly<Record<string, unknown>>) => Effect.Effect<void, E>
}

export const coalescer = <E>(
  lock: KeyedLock,
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
        return lock.withLock(key)(run).pipe(Effect.zipRight(Deferred.await(mine.done)))
      })
  }
}
