/**
 * A `RateLimit.SharedRateLimit` on Redis: the dispatcher's `rateLimits` held for every worker
 * process together (`Dispatcher.Options.sharedRateLimit`).
 *
 * - **One script per take.** A sliding window per target: a sorted set of the permits handed out
 *   in the last interval. The script drops the ones that left the window, hands out a permit
 *   when fewer than the limit are held, else answers how long until one is free; atomically, so
 *   any number of processes never get more than `limit` permits in any span of the interval.
 * - **Redis's clock.** The window is measured with the server's `TIME`, so the workers' clocks
 *   (and their drift) do not matter.
 * - **Keys.** `{<prefix>:rl:<target>}:w` and `:n`, one hash tag per target (one Cluster slot
 *   each); both expire an interval after the last permit, so an idle target leaves nothing.
 * - **Failover.** Permits are not waited on replicas: a failover may lose the last ones, which
 *   lets at most one window's worth of extra calls through.
 *
 * @since 0.2.0
 */
import { PortError, RateLimit } from "@waybill/core"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { RedisOptions } from "ioredis"
import * as Lua from "./internal/lua.js"
import * as Internal from "./internal/redis.js"

const MODULE = "@waybill/store-redis/RedisRateLimit"

/**
 * Options of the Redis rate limit.
 *
 * @since 0.2.0
 */
export interface Options {
  /** `redis://…` (use `Redacted` when it carries a password). Ignored when `client` is given. Default `redis://127.0.0.1:6379`. */
  readonly url?: string | Redacted.Redacted<string>
  /** A client the host owns (standalone, Sentinel or Cluster), e.g. the store's; it is not closed. */
  readonly client?: Internal.Client
  /** Options for the client it creates. */
  readonly redisOptions?: RedisOptions
  /** Every key starts with `{<prefix>:rl:`. No braces. Default `waybill`. Processes that share a limit share the prefix. */
  readonly prefix?: string
}

/**
 * The Redis rate limit: the driver plus its client and key names for operators.
 *
 * @since 0.2.0
 */
export interface RedisRateLimitShape extends RateLimit.SharedRateLimitShape {
  readonly client: Internal.Client
  readonly prefix: string
  /** The sorted set holding a target's window. */
  readonly windowKey: (target: string) => string
}

/**
 * The tag of the Redis rate limit (layers also provide the generic `RateLimit.SharedRateLimit`).
 *
 * @since 0.2.0
 */
export class RedisRateLimit extends Context.Tag("@waybill/store-redis/RedisRateLimit")<
  RedisRateLimit,
  RedisRateLimitShape
>() {}

/**
 * Creates the rate limit (connecting when it owns the client).
 *
 * @since 0.2.0
 */
export const make = (options: Options = {}): Effect.Effect<RedisRateLimitShape, PortError.StorageError, Scope.Scope> =>
  Effect.gen(function* () {
    const prefix = yield* Internal.checkPrefix(MODULE, options.prefix ?? "waybill")
    const client = yield* Internal.acquire(MODULE, options)
    const run = Internal.call(MODULE, client)
    const script = Internal.defineScripts(client, { takePermit: { lua: Lua.takePermit, keys: 2 } })
    const tag = (target: string) => `{${prefix}:rl:${target}}:`
    const windowKey = (target: string) => `${tag(target)}w`
    return {
      client,
      prefix,
      windowKey,
      take: (target, limit, intervalMillis) =>
        Effect.zipRight(
          RateLimit.check(MODULE, "take", target, limit, intervalMillis),
          Effect.flatMap(
            run("take", () => script.takePermit([windowKey(target), `${tag(target)}n`], [limit, intervalMillis])),
            (answer) =>
              typeof answer === "number" && Number.isSafeInteger(answer) && answer >= 0
                ? Effect.succeed(answer)
                : Effect.fail(
                    new PortError.StorageError({
                      reason: "Bug",
                      module: MODULE,
                      method: "take",
                      description: `the take script answered ${JSON.stringify(answer)}, not a wait in milliseconds`
                    })
                  )
          )
        )
    } satisfies RedisRateLimitShape
  })

const context = (limit: RedisRateLimitShape) =>
  Context.make(RedisRateLimit, limit).pipe(Context.add(RateLimit.SharedRateLimit, limit))

/**
 * A layer providing the Redis rate limit and the generic `RateLimit.SharedRateLimit`, with a
 * client of its own.
 *
 * @since 0.2.0
 */
export const layer = (
  options: Omit<Options, "client"> = {}
): Layer.Layer<RedisRateLimit | RateLimit.SharedRateLimit, PortError.StorageError> =>
  Layer.scopedContext(Effect.map(make(options), context))

/**
 * A layer over a client the host owns (and closes), e.g. the one `RedisStore` uses.
 *
 * @since 0.2.0
 */
export const layerFromClient = (
  client: Internal.Client,
  options: Omit<Options, "client" | "url" | "redisOptions"> = {}
): Layer.Layer<RedisRateLimit | RateLimit.SharedRateLimit, PortError.StorageError> =>
  Layer.scopedContext(Effect.map(make({ ...options, client }), context))

/**
 * A layer reading its options from config, e.g.
 * `layerConfig({ url: Config.redacted("REDIS_URL"), prefix: Config.string("WAYBILL_PREFIX") })`.
 *
 * @since 0.2.0
 */
export const layerConfig = (
  config: Config.Config.Wrap<Omit<Options, "client" | "redisOptions">>
): Layer.Layer<RedisRateLimit | RateLimit.SharedRateLimit, PortError.StorageError | ConfigError.ConfigError> =>
  Layer.scopedContext(Effect.flatMap(Config.unwrap(config), (options) => Effect.map(make(options), context)))
