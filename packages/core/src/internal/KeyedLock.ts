/**
 * One mutex per key, without allocating anything for a key nobody else holds: the holder
 * marks the key, waiters queue behind it and are handed the lock in order. Waiting is
 * interruptible (an interrupted waiter leaves the queue); holding is released on any exit.
 */
import * as Effect from "effect/Effect"

export interface KeyedLock {
  readonly withLock: <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly size: () => number
}

export const make = (): KeyedLock => {
  const queues = new Map<string, Array<() => void>>()

  const release = (key: string) =>
    Effect.sync(() => {
      const waiters = queues.get(key)
      const next = waiters?.shift()
      if (next === undefined) queues.delete(key)
      else next()
    })

  const acquire = (key: string): Effect.Effect<void> =>
    Effect.suspend(() => {
      const waiters = queues.get(key)
      if (waiters === undefined) {
        queues.set(key, [])
        return Effect.void
      }
      return Effect.async<void>((resume) => {
        const wake = () => resume(Effect.void)
        waiters.push(wake)
        return Effect.sync(() => {
          const i = waiters.indexOf(wake)
          if (i >= 0) waiters.splice(i, 1)
        })
      })
    })

  return {
    withLock: (key, effect) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.zipRight(restore(acquire(key)), Effect.ensuring(restore(effect), release(key)))
      ),
    size: () => queues.size
  }
}
