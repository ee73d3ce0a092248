/**
 * waybill on Redis: a `Store` (atomic Lua commits, leases, dead letters, hash-chained audit), a
 * `Transport` (Streams with consumer groups) and a shared rate limit (the dispatcher's
 * `rateLimits` for all processes together) that many worker processes share.
 *
 * @since 0.1.0
 */

/** @since 0.2.0 */
export * as RedisBackend from "./RedisBackend.js"
/** @since 0.2.0 */
export * as RedisRateLimit from "./RedisRateLimit.js"
/** @since 0.1.0 */
export * as RedisStore from "./RedisStore.js"
/** @since 0.1.0 */
export * as RedisTransport from "./RedisTransport.js"
