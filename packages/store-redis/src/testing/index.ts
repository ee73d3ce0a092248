/**
 * Throwaway Redis servers for tests and benchmarks: a Cluster with replicas, or a master with a
 * replica, started from `redis-server` on free ports and killed afterwards.
 *
 * @since 0.2.0
 */
export * as RedisServers from "./RedisServers.js"
