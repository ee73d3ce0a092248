/**
 * The Redis rate limit against a real Redis: the conformance suite over two clients (as two
 * processes have), its keys, and two dispatchers that share it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Dispatcher, MemoryStore, Notifier, PortError, Store } from "@waybill/core"
import { RateLimitSuite } from "@waybill/core/testing"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as RedisRateLimit from "../src/RedisRateLimit.js"
import { cleanupOnClose, freshPrefix, requireRedis, url } from "./helpers.js"

await requireRedis()

/** Two rate limits on one prefix, each with a client of its own; the prefix's keys go with the scope. */
const pair = Effect.gen(function* () {
  const prefix = freshPrefix()
  const a = yield* RedisRateLimit.make({ url, prefix })
  const b = yield* RedisRateLimit.make({ url, prefix })
  yield* cleanupOnClose(a.client, prefix)
  return [a, b] as const
})

RateLimitSuite.run("RedisRateLimit (two clients)", pair)

describe("RedisRateLimit", () => {
  it.live("keeps a target's window under one hash tag, expiring an interval after the last permit", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const [a] = yield* pair
        expect(yield* a.take("erp", 2, 5000)).toBe(0)
        const keys = (yield* Effect.promise(() => a.client.keys(`{${a.prefix}:rl:*`))).sort()
        expect(keys).toEqual([`{${a.prefix}:rl:erp}:n`, `{${a.prefix}:rl:erp}:w`])
        expect(a.windowKey("erp")).toBe(`{${a.prefix}:rl:erp}:w`)
        for (const key of keys) {
          const ttl = yield* Effect.promise(() => a.client.pttl(key))
          expect(ttl).toBeGreaterThan(0)
          expect(ttl).toBeLessThanOrEqual(5000)
        }
        // A refusal writes nothing.
        expect(yield* a.take("erp", 1, 5000)).toBeGreaterThan(0)
        expect(yield* Effect.promise(() => a.client.zcard(a.windowKey("erp")))).toBe(1)
      })
    ))

  it.live("refuses a prefix that would break the hash tags", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const made = yield* Effect.either(RedisRateLimit.make({ url, prefix: "a{b}" }))
        expect(Either.isLeft(made) && made.left).toMatchObject({ _tag: "StorageError", reason: "Invalid" })
      })
    ))

  it.live("two dispatchers, each with its own client, make at most limit calls in the window between them, each action once", () => {
    const calls: Array<string> = []
    const notifier: Notifier.NotifierShape = { notify: (request) => Effect.sync(() => void calls.push(request.key)) }
    return Effect.scoped(
      Effect.gen(function* () {
        const [a, b] = yield* pair
        const memory = yield* MemoryStore.make
        // Leases that cannot be renewed: an action still waiting for a permit when its one second
        // is over is not called, and the tick ends.
        const store: Store.StoreShape = {
          ...memory,
          extend: () =>
            Effect.fail(new PortError.StorageError({ reason: "Timeout", module: "test", method: "extend", description: "cut off" }))
        }
        const shipments = Array.from({ length: 8 }, (_, i) => `s${i + 1}`)
        yield* Effect.forEach(shipments, (shipmentId) =>
          memory.commit({
            shipmentId,
            expectedVersion: 0,
            body: "{}",
            idempotencyKeys: [],
            events: [],
            audit: [],
            outbox: [{
              key: `${shipmentId}:notify`,
              shipmentId,
              target: "notifier",
              kind: "notifier.notify",
              payload: JSON.stringify({
                key: `${shipmentId}:notify`,
                companyId: "co-1",
                shipmentId,
                template: "dispatched",
                status: "dispatched",
                at: "2024-07-01T10:00:00.000Z"
              }),
              createdAt: 0,
              availableAt: 0,
              attempts: 0
            }]
          }))
        const options = { batch: 4, leaseMillis: 1000, rateLimits: { notifier: { limit: 3, interval: "1 minute" } } } as const
        const layer = Layer.merge(Layer.succeed(Store.Store, store), Layer.succeed(Notifier.Notifier, notifier))
        const claimed = yield* Effect.all([
          Effect.flatMap(Dispatcher.make({ ...options, owner: "a", sharedRateLimit: a }), (d) => d.tick),
          Effect.flatMap(Dispatcher.make({ ...options, owner: "b", sharedRateLimit: b }), (d) => d.tick)
        ], { concurrency: 2 }).pipe(Effect.provide(layer))
        expect(claimed).toEqual([4, 4])
        expect(calls).toHaveLength(3)
        expect(new Set(calls).size).toBe(3)
        const done = yield* Effect.forEach(shipments, (s) => memory.isDone(`${s}:notify`))
        expect(done.filter(Boolean)).toHaveLength(3)
        expect(yield* memory.outboxSize()).toBe(5)
      })
    )
  })
})
