/**
 * waybill on Redis: a `Store` (atomic Lua commits, leases, dead letters, hash-chained audit) and
 * a `Transport` (Streams with consumer groups) that many worker processes share.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as RedisStore from "./RedisStore.js"
/** @since 0.1.0 */
export * as RedisTransport from "./RedisTransport.js"
