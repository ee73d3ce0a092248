/**
 * A rate limit shared by every process: the port the dispatcher's `sharedRateLimit` option takes,
 * so that `rateLimits` (say 50 calls a second to Odoo) hold for all the worker processes together
 * instead of for each of them.
 *
 * The driver only answers, atomically, one question: "may a call to this target start now?" —
 * `0` when it may (a permit was taken), or how many milliseconds to wait before asking again.
 * The dispatcher does the waiting (with Effect's `Clock`, so `TestClock` drives it), keeps it
 * within the action's lease, and queues the actions of one process for one target so that only
 * one of them asks the driver at a time.
 *
 * The window is sliding: at most `limit` permits are handed out in any span of `intervalMillis`,
 * bursts included. (The per-process limiter without a driver is a token bucket, which lets up to
 * about twice `limit` through in the first interval.) Every process must give one target the same
 * `limit` and `intervalMillis`.
 *
 * Drivers: {@link layerMemory} (one process: several dispatchers, tests) and
 * `@waybill/store-redis`'s `RedisRateLimit` (many processes; Redis's clock decides). A driver is
 * checked by `RateLimitSuite` of `@waybill/core/testing`.
 *
 * @since 0.2.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PortError from "./PortError.js"

/**
 * What a driver does.
 *
 * @since 0.2.0
 */
export interface SharedRateLimitShape {
  /**
   * Takes a permit for a call to `target` if fewer than `limit` were taken in the last
   * `intervalMillis`, atomically for every caller of the shared state. Answers `0` when the
   * permit was taken (the call may start), or a positive number of milliseconds after which one
   * may be free (none was taken). `limit` and `intervalMillis` are positive integers; anything
   * else fails with `StorageError` `Invalid` naming what is wrong (see {@link problem}).
   */
  readonly take: (target: string, limit: number, intervalMillis: number) => Effect.Effect<number, PortError.StorageError>
}

/**
 * The port. No default: the host provides a driver, or the dispatcher limits each process alone.
 *
 * @since 0.2.0
 */
export class SharedRateLimit extends Context.Tag("@waybill/core/RateLimit/SharedRateLimit")<
  SharedRateLimit,
  SharedRateLimitShape
>() {}

/**
 * What is wrong with a limit, or `undefined` when `limit` is a positive integer and
 * `intervalMillis` a positive integer (both safe integers).
 *
 * @since 0.2.0
 */
export const problem = (limit: number, intervalMillis: number): string | undefined =>
  !Number.isSafeInteger(limit) || limit < 1
    ? `limit must be a positive integer, got ${String(limit)}`
    : !Number.isSafeInteger(intervalMillis) || intervalMillis < 1
      ? `intervalMillis must be a positive integer, got ${String(intervalMillis)}`
      : undefined

/**
 * Fails with `StorageError` `Invalid` (from `module`.`method`, naming the target and what is
 * wrong) unless {@link problem} finds nothing: for drivers, before they take anything.
 *
 * @since 0.2.0
 */
export const check = (
  module: string,
  method: string,
  target: string,
  limit: number,
  intervalMillis: number
): Effect.Effect<void, PortError.StorageError> => {
  const wrong = problem(limit, intervalMillis)
  return wrong === undefined
    ? Effect.void
    : Effect.fail(
        new PortError.StorageError({
          reason: "Invalid",
          module,
          method,
          description: `rate limit of ${JSON.stringify(target)}: ${wrong}`
        })
      )
}

/**
 * An in-memory driver: one sliding window per target, on Effect's `Clock`. Shared by every
 * dispatcher given the same instance (several in one process, or tests on the `TestClock`);
 * not across processes.
 *
 * @since 0.2.0
 */
export const makeMemory: Effect.Effect<SharedRateLimitShape> = Effect.sync(() => {
  /** By target: when the permits of the window were taken, oldest first. */
  const windows = new Map<string, Array<number>>()
  return {
    take: (target, limit, intervalMillis) =>
      Effect.zipRight(
        check("@waybill/core/RateLimit", "take", target, limit, intervalMillis),
        Effect.map(Clock.currentTimeMillis, (now) => {
          let taken = windows.get(target)
          if (taken === undefined) windows.set(target, (taken = []))
          // A permit taken at `t` counts while `now < t + intervalMillis`.
          let gone = 0
          while (gone < taken.length && taken[gone]! <= now - intervalMillis) gone++
          if (gone > 0) taken.splice(0, gone)
          if (taken.length < limit) {
            // Kept in order even if the clock stepped back.
            let at = taken.length
            while (at > 0 && taken[at - 1]! > now) at--
            taken.splice(at, 0, now)
            return 0
          }
          // The oldest permits beyond `limit - 1` must leave the window (more than `limit` are
          // held when this caller lowered the limit).
          const frees = taken[taken.length - limit]!
          return Math.min(intervalMillis, Math.max(1, Math.ceil(frees + intervalMillis - now)))
        })
      )
  }
})

/**
 * A layer providing a fresh in-memory driver.
 *
 * @since 0.2.0
 */
export const layerMemory: Layer.Layer<SharedRateLimit> = Layer.effect(SharedRateLimit, makeMemory)
