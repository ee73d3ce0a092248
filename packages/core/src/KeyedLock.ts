/**
 * One mutex per key (a shipment, a far-side record): work on one key runs one at a time in
 * arrival order, other keys in parallel. Nothing is allocated for a key nobody else holds: the
 * holder marks the key, waiters queue behind it and are handed the lock in order. Waiting is
 * interruptible (an interrupted waiter leaves the queue); the lock is released on any exit.
 * Adapters use it for "one writer per far-side record".
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"

/**
 * @since 0.1.0
 */
export interface KeyedLock {
  readonly withLock: <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /**
   * Runs the effect holding every one of the keys. Keys are taken in sorted order (so two
   * callers never deadlock); when none is held they are all taken in one step.
   *
   * @since 0.2.0
   */
  readonly withLocks: <A, E, R>(keys: Iterable<string>, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Keys currently held or waited for. */
  readonly size: () => number
}

/**
 * Creates a keyed lock.
 *
 * @since 0.1.0
 */
export const make = (): KeyedLock => {
  const queues = new Map<string, Array<() => void>>()

  /** One call's keys: those it holds, and its place in a key's queue while it waits for it. */
  interface Claim {
    readonly held: Array<string>
    waiting: { readonly queue: Array<() => void>; readonly wake: () => void } | undefined
  }

  /** Leaves the queue the claim waits in, if it still does. */
  const leave = (claim: Claim) => {
    const waiting = claim.waiting
    if (waiting === undefined) return
    claim.waiting = undefined
    const at = waiting.queue.indexOf(waiting.wake)
    if (at >= 0) waiting.queue.splice(at, 1)
  }

  /**
   * Gives back what the claim holds and leaves the queue it waits in. `Effect.async` registers a
   * waiter before its canceler is in place, so a fiber interrupted in between (at a cooperative
   * yield) never runs the canceler: its place in the queue is left here, or the key would later
   * be handed to a fiber that is gone.
   */
  const release = (claim: Claim) =>
    Effect.sync(() => {
      leave(claim)
      for (const key of claim.held) {
        const waiters = queues.get(key)
        const next = waiters?.shift()
        if (next === undefined) queues.delete(key)
        else next()
      }
      claim.held.length = 0
    })

  /** Takes keys[i..] in order; a key handed over by its previous holder is recorded in `held` when handed. */
  const acquireFrom = (keys: ReadonlyArray<string>, i: number, claim: Claim): Effect.Effect<void> =>
    Effect.suspend(() => {
      while (i < keys.length) {
        const key = keys[i]!
        const waiters = queues.get(key)
        if (waiters !== undefined) {
          const wait = Effect.async<void>((resume) => {
            const wake = () => {
              claim.waiting = undefined
              claim.held.push(key)
              resume(Effect.void)
            }
            waiters.push(wake)
            claim.waiting = { queue: waiters, wake }
            return Effect.sync(() => leave(claim))
          })
          return Effect.zipRight(wait, acquireFrom(keys, i + 1, claim))
        }
        queues.set(key, [])
        claim.held.push(key)
        i++
      }
      return Effect.void
    })

  /**
   * Runs the effect holding `keys` (distinct, in order). The release covers the wait too: a key
   * handed to a waiter is in `held` from the moment it is handed, so a waiter interrupted after
   * the hand-over (before it ran) passes the key on, and one interrupted before it leaves the queue.
   */
  const holding = <A, E, R>(keys: ReadonlyArray<string>, effect: Effect.Effect<A, E, R>) =>
    Effect.suspend(() => {
      const claim: Claim = { held: [], waiting: undefined }
      return Effect.uninterruptibleMask((restore) =>
        Effect.ensuring(Effect.zipRight(restore(acquireFrom(keys, 0, claim)), restore(effect)), release(claim))
      )
    })

  return {
    withLock: (key, effect) => holding([key], effect),
    withLocks: (keys, effect) => Effect.suspend(() => holding([...new Set(keys)].sort(), effect)),
    size: () => queues.size
  }
}
