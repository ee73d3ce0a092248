/**
 * One mutex per key, created on demand and dropped when nobody holds or waits for it.
 */
import * as Effect from "effect/Effect"

export interface KeyedLock {
  readonly withLock: <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly size: () => number
}

export const make = (): KeyedLock => {
  const locks = new Map<string, { readonly semaphore: Effect.Semaphore; users: number }>()
  return {
    withLock: (key, effect) =>
      Effect.suspend(() => {
        let entry = locks.get(key)
        if (entry === undefined) locks.set(key, (entry = { semaphore: Effect.unsafeMakeSemaphore(1), users: 0 }))
        entry.users++
        const held = entry
        return held.semaphore.withPermits(1)(effect).pipe(
          Effect.ensuring(
            Effect.sync(() => {
              if (--held.users === 0 && locks.get(key) === held) locks.delete(key)
            })
          )
        )
      }),
    size: () => locks.size
  }
}
