/**
 * The shared rate limit: the memory driver against the conformance suite, and dispatchers that
 * share it (on the TestClock) against a fake far side.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { Dispatcher, MemoryStore, Notifier, PortError, RateLimit, Store } from "../src/index.js"
import { RateLimitSuite } from "../src/testing/index.js"

RateLimitSuite.run("RateLimit memory driver", Effect.map(RateLimit.makeMemory, (m) => [m, m] as const))

const notify = (key: string, shipmentId: string) =>
  JSON.stringify({
    key,
    companyId: "co-1",
    shipmentId,
    template: "dispatched",
    status: "dispatched",
    at: "2024-07-01T10:00:00.000Z"
  })

/** One `notifier` action for each shipment `s1`…`sN`, keyed `sI:notify`. */
const enqueue = (store: Store.StoreShape, n: number) =>
  Effect.forEach(Array.from({ length: n }, (_, i) => `s${i + 1}`), (shipmentId) =>
    store.commit({
      shipmentId,
      expectedVersion: 0,
      body: "{}",
      idempotencyKeys: [],
      events: [],
      audit: [],
      outbox: [
        {
          key: `${shipmentId}:notify`,
          shipmentId,
          target: "notifier",
          kind: "notifier.notify",
          payload: notify(`${shipmentId}:notify`, shipmentId),
          createdAt: 0,
          availableAt: 0,
          attempts: 0
        }
      ]
    }))

/** A far side that answers every call and records which key it got when. */
const farSide = () => {
  const calls: Array<{ readonly key: string; readonly at: number }> = []
  const notifier: Notifier.NotifierShape = {
    notify: (request) => Effect.flatMap(Clock.currentTimeMillis, (at) => Effect.sync(() => void calls.push({ key: request.key, at })))
  }
  return { calls, layer: Layer.succeed(Notifier.Notifier, notifier) }
}

/** The most calls that started in any span of `intervalMillis`. */
const busiest = (calls: ReadonlyArray<{ readonly at: number }>, intervalMillis: number) =>
  Math.max(0, ...calls.map((c) => calls.filter((d) => d.at >= c.at && d.at < c.at + intervalMillis).length))

const withStore = <A, E>(
  far: Layer.Layer<Notifier.Notifier>,
  body: (store: Store.StoreShape) => Effect.Effect<A, E, Store.Store | Notifier.Notifier | Scope.Scope>
) =>
  Effect.gen(function* () {
    const store = yield* MemoryStore.make
    return yield* body(store).pipe(Effect.provide(Layer.merge(Layer.succeed(Store.Store, store), far)), Effect.scoped)
  })

const limit = { notifier: { limit: 2, interval: "1 second" } } as const

/** Two dispatchers, each claiming half of 12 actions, working at once until both are done. */
const twoDispatchers = (sharedRateLimit: RateLimit.SharedRateLimitShape | undefined) => {
  const far = farSide()
  return Effect.map(
    withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, 12)
        const options: Dispatcher.Options = {
          batch: 6,
          rateLimits: limit,
          ...(sharedRateLimit === undefined ? {} : { sharedRateLimit })
        }
        const a = yield* Dispatcher.make({ ...options, owner: "a" })
        const b = yield* Dispatcher.make({ ...options, owner: "b" })
        const ticks = yield* Effect.fork(Effect.all([a.tick, b.tick], { concurrency: 2 }))
        for (let i = 0; i < 100; i++) yield* TestClock.adjust("100 millis")
        expect(yield* Fiber.join(ticks)).toEqual([6, 6])
        const done = yield* Effect.forEach(far.calls, (c) => store.isDone(c.key))
        expect(done.every(Boolean)).toBe(true)
        expect(yield* store.outboxSize()).toBe(0)
      })
    ),
    () => far.calls
  )
}

describe("dispatcher shared rate limit", () => {
  it.effect("two dispatchers sharing one driver make at most limit calls per interval together, each action once", () =>
    Effect.gen(function* () {
      const calls = yield* twoDispatchers(yield* RateLimit.makeMemory)
      expect(new Set(calls.map((c) => c.key)).size).toBe(12)
      expect(calls).toHaveLength(12)
      expect(busiest(calls, 1000)).toBe(2)
      // Two calls a second between them: the twelfth starts after five seconds.
      expect(calls.map((c) => c.at)).toEqual([0, 0, 1000, 1000, 2000, 2000, 3000, 3000, 4000, 4000, 5000, 5000])
    }))

  it.effect("without a shared driver each dispatcher has its own budget: together they make twice as many", () =>
    Effect.gen(function* () {
      const calls = yield* twoDispatchers(undefined)
      expect(new Set(calls.map((c) => c.key)).size).toBe(12)
      expect(calls).toHaveLength(12)
      expect(calls.filter((c) => c.at === 0)).toHaveLength(4)
      expect(busiest(calls, 1000)).toBeGreaterThan(2)
    }))

  it.effect("a driver failure makes no call: the action stays leased, logged with its key, then is claimed again and done once", () => {
    const far = farSide()
    const logged: Array<string> = []
    return withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, 3)
        const memory = yield* RateLimit.makeMemory
        let failures = 1
        const flaky: RateLimit.SharedRateLimitShape = {
          take: (target, n, interval) =>
            failures-- > 0
              ? Effect.fail(
                new PortError.StorageError({ reason: "Unavailable", module: "test", method: "take", description: "failover" })
              )
              : memory.take(target, n, interval)
        }
        const dispatcher = yield* Dispatcher.make({
          concurrency: 1,
          leaseMillis: 10_000,
          rateLimits: { notifier: { limit: 10, interval: "1 second" } },
          sharedRateLimit: flaky
        })
        expect(yield* Effect.either(dispatcher.tick)).toEqual(Either.right(3))
        expect(far.calls.map((c) => c.key)).toEqual(["s2:notify", "s3:notify"])
        expect(yield* store.isDone("s1:notify")).toBe(false)
        expect(logged.filter((l) => l.includes("s1:notify") && l.includes("shared rate limit"))).toHaveLength(1)
        // Still leased: nobody claims it before its lease ends…
        expect(yield* dispatcher.tick).toBe(0)
        yield* TestClock.adjust("10 seconds")
        // …then it is claimed again and called once, as its first attempt.
        yield* dispatcher.drain()
        expect(far.calls.map((c) => c.key)).toEqual(["s2:notify", "s3:notify", "s1:notify"])
        expect(yield* store.isDone("s1:notify")).toBe(true)
        const pending = yield* store.outboxSize()
        expect(pending).toBe(0)
      }).pipe(
        Effect.provide(
          Logger.add(
            Logger.make(({ annotations: _a, logLevel, message }) => {
              if (logLevel._tag === "Warning") logged.push(JSON.stringify(message))
            })
          )
        )
      ))
  })

  it.effect("an action whose lease ends while it waits for a shared permit is not called, and takes no permit", () => {
    const far = farSide()
    return withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, 2)
        const memory = yield* RateLimit.makeMemory
        const takes: Array<number> = []
        const counting: RateLimit.SharedRateLimitShape = {
          take: (target, n, interval) => Effect.tap(memory.take(target, n, interval), (wait) => Effect.sync(() => void takes.push(wait)))
        }
        const options: Dispatcher.Options = {
          leaseMillis: 2000,
          retry: { maxWaitInLease: "1 minute" },
          rateLimits: { notifier: { limit: 1, interval: "10 seconds" } },
          sharedRateLimit: counting
        }
        const a = yield* Dispatcher.make({ ...options, owner: "a" })
        const first = yield* Effect.fork(a.tick)
        for (let i = 0; i < 30; i++) yield* TestClock.adjust("100 millis")
        yield* Fiber.join(first)
        // s1 got the permit at 0; s2 was told to wait 10 s, past its lease (its renewals do not
        // get through): not called, no permit taken.
        expect(far.calls.map((c) => c.key)).toEqual(["s1:notify"])
        expect(takes.filter((w) => w === 0)).toHaveLength(1)
        expect(yield* store.isDone("s2:notify")).toBe(false)
        // Once the window has room, a later claim calls it.
        yield* TestClock.adjust("10 seconds")
        yield* a.drain({ maxIdleMillis: 60_000 })
        expect(far.calls.map((c) => c.key)).toEqual(["s1:notify", "s2:notify"])
        expect(far.calls[1]!.at).toBeGreaterThanOrEqual(10_000)
      }).pipe(Effect.provideService(Store.Store, {
        ...store,
        extend: () => Effect.fail(new PortError.StorageError({ reason: "Timeout", module: "test", method: "extend", description: "cut off" }))
      })))
  })

  it.effect("refuses rate limits that are not valid, naming the target and what is wrong", () =>
    withStore(farSide().layer, () =>
      Effect.gen(function* () {
        const shared = yield* RateLimit.makeMemory
        const cases = [
          [{ limit: 0, interval: "1 second" }, "limit must be a positive integer, got 0"],
          [{ limit: 2.5, interval: "1 second" }, "limit must be a positive integer, got 2.5"],
          [{ limit: 2, interval: "0 millis" }, "interval must be a positive, finite duration"],
          [{ limit: 2, interval: Duration.infinity }, "interval must be a positive, finite duration"]
        ] as const
        for (const [erp, wanted] of cases) {
          for (const sharedRateLimit of [undefined, shared]) {
            const made = yield* Effect.either(
              Dispatcher.make({ rateLimits: { erp }, ...(sharedRateLimit === undefined ? {} : { sharedRateLimit }) })
            )
            expect(Either.isLeft(made)).toBe(true)
            if (Either.isLeft(made)) {
              expect(made.left).toMatchObject({ _tag: "StorageError", reason: "Invalid", method: "make" })
              expect(made.left.description).toContain(`rateLimits.erp: ${wanted}`)
            }
          }
        }
      })
    ))
})
