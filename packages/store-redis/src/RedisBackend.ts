/**
 * The Redis store, transport and shared rate limit for a host without Effect: one `open` that
 * resolves to the three drivers, ready for `Waybill.create`, and one `close` that releases their
 * connection.
 *
 * ```ts
 * import { Waybill } from "@waybill/core"
 * import { RedisBackend } from "@waybill/store-redis"
 *
 * const redis = await RedisBackend.open({ url: process.env.REDIS_URL, prefix: "acme" })
 * const waybill = await Waybill.create({
 *   erp,
 *   store: redis.store,
 *   transport: redis.transport,
 *   dispatcher: { rateLimits: { erp: { limit: 20, interval: "1 second" } }, sharedRateLimit: redis.rateLimit }
 * })
 * await waybill.start()
 * // …
 * await waybill.stop()
 * await redis.close() // after stop: the workers no longer use it
 * ```
 *
 * `open` rejects with a `StorageError` naming what is wrong (an invalid URL or prefix, Redis not
 * answering: `Unavailable`); nothing is left connected then. The password of a URL never appears
 * in an error or a log.
 *
 * @since 0.2.0
 */
import type { PortError } from "@waybill/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { RedisOptions } from "ioredis"
import type * as Redacted from "effect/Redacted"
import type * as Internal from "./internal/redis.js"
import * as RedisRateLimit from "./RedisRateLimit.js"
import * as RedisStore from "./RedisStore.js"
import * as RedisTransport from "./RedisTransport.js"

/**
 * Where Redis is and how each driver is set up. The three drivers share one connection (auto
 * pipelined; the transport does not block it) and one key prefix.
 *
 * @since 0.2.0
 */
export interface Options {
  /** `redis://…` (pass it `Redacted` when it carries a password). Default `redis://127.0.0.1:6379`. Ignored when `client` is given. */
  readonly url?: string | Redacted.Redacted<string> | undefined
  /** A client the host owns (standalone, Sentinel or Cluster); `close` leaves it open. */
  readonly client?: Internal.Client | undefined
  /** Options for the client `open` creates. */
  readonly redisOptions?: RedisOptions | undefined
  /** Every key starts with `{<prefix>:`. No braces. Default `waybill`. Processes that work together share it. */
  readonly prefix?: string | undefined
  /** The store's other options (`RedisStore.Options`). */
  readonly store?: Omit<RedisStore.Options, "url" | "client" | "redisOptions" | "prefix"> | undefined
  /** The transport's other options (`RedisTransport.Options`). */
  readonly transport?: Omit<RedisTransport.Options, "url" | "client" | "redisOptions" | "prefix"> | undefined
}

/**
 * The opened drivers. Pass `store` and `transport` to `Waybill.create`, and `rateLimit` as the
 * dispatcher's `sharedRateLimit` so that `rateLimits` hold for all processes together.
 *
 * @since 0.2.0
 */
export interface RedisBackend {
  readonly store: RedisStore.RedisStoreShape
  readonly transport: RedisTransport.RedisTransportShape
  readonly rateLimit: RedisRateLimit.RedisRateLimitShape
  /** Releases the connection `open` made (once; later calls resolve at once). Call it after `Waybill.stop()`. */
  readonly close: () => Promise<void>
}

/**
 * Connects and sets up the store, the transport and the rate limit on one connection.
 *
 * @since 0.2.0
 */
export const open = (options: Options = {}): Promise<RedisBackend> => Effect.runPromise(Effect.either(make(options))).then(
  (opened) => {
    if (opened._tag === "Left") throw opened.left
    return opened.right
  }
)

/**
 * `open` as an Effect, for hosts that hold the result outside a scope (the scope is `close`).
 *
 * @since 0.2.0
 */
export const make = (options: Options = {}): Effect.Effect<RedisBackend, PortError.StorageError> =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    // What opened before a failure is closed again: nothing is left connected.
    const opened = yield* Scope.extend(
      Effect.gen(function* () {
        const store = yield* RedisStore.make({
          ...options.store,
          ...(options.url !== undefined ? { url: options.url } : {}),
          ...(options.client !== undefined ? { client: options.client } : {}),
          ...(options.redisOptions !== undefined ? { redisOptions: options.redisOptions } : {}),
          ...(options.prefix !== undefined ? { prefix: options.prefix } : {})
        })
        // The store's client, whether the host's or the one the store opened (and closes).
        const shared = { client: store.client, ...(options.prefix !== undefined ? { prefix: options.prefix } : {}) }
        const transport = yield* RedisTransport.make({ ...options.transport, ...shared })
        const rateLimit = yield* RedisRateLimit.make(shared)
        return { store, transport, rateLimit }
      }),
      scope
    ).pipe(Effect.onExit((exit) => (Exit.isFailure(exit) ? Scope.close(scope, exit) : Effect.void)))
    let closing: Promise<void> | undefined
    return {
      ...opened,
      close: () => (closing ??= Effect.runPromise(Scope.close(scope, Exit.void)))
    } satisfies RedisBackend
  })
