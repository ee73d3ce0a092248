/**
 * The dispatcher's retry timing (on the TestClock), dead letters, replay and circuit breaker.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"
import {
  Audit,
  DeadLetters,
  Dispatcher,
  HelpdeskPort,
  MemoryStore,
  Metrics,
  Notifier,
  Pipeline,
  PortError,
  Store
} from "../src/index.js"
import type * as MemoryStoreType from "../src/MemoryStore.js"

const notify = (key: string) =>
  JSON.stringify({
    key,
    companyId: "co-1",
    shipmentId: "shp-1",
    template: "dispatched",
    status: "dispatched",
    at: "2024-07-01T10:00:00.000Z"
  })

const enqueue = (store: Store.StoreShape, keys: ReadonlyArray<string>, version = 0) =>
  store.commit({
    shipmentId: "shp-1",
    expectedVersion: version,
    body: "{}",
    idempotencyKeys: [],
    events: [],
    audit: [],
    outbox: keys.map((key) => ({
      key,
      shipmentId: "shp-1",
      target: "notifier",
      kind: "notifier.notify",
      payload: notify(key),
      createdAt: 0,
      availableAt: 0,
      attempts: 0
    }))
  })

/** A notifier whose every call notes when it started (TestClock time) and never answers. */
const hangingNotifier = (calls: Array<number>): Notifier.NotifierShape => ({
  notify: () => Effect.zipRight(Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => calls.push(t))), Effect.never)
})

const failure = (reason: PortError.Reason, extra: { retryAfterMillis?: number } = {}) =>
  new PortError.NotifierError({ reason, module: "test", method: "notify", description: reason, ...extra })

/** A notifier that answers from a script of outcomes and records when it was called. */
const scripted = (script: Array<PortError.NotifierError | "ok">) => {
  const calls: Array<number> = []
  const notifier: Notifier.NotifierShape = {
    notify: () =>
      Effect.gen(function* () {
        calls.push(yield* Clock.currentTimeMillis)
        const next = script.shift() ?? "ok"
        if (next !== "ok") return yield* Effect.fail(next)
      })
  }
  return { calls, layer: Layer.succeed(Notifier.Notifier, notifier) }
}

const withStore = <A, E>(
  notifierLayer: Layer.Layer<Notifier.Notifier>,
  body: (store: MemoryStoreType.MemoryStore) => Effect.Effect<A, E, Store.Store | Notifier.Notifier | import("effect/Scope").Scope>,
  /** `false`: lease renewals do not get through (a worker cut off from the store), so leases run out. */
  options: { readonly renewals?: boolean } = {}
) =>
  Effect.gen(function* () {
    const store = (yield* MemoryStore.make) as MemoryStoreType.MemoryStore
    const seen: Store.StoreShape = options.renewals === false
      ? {
        ...store,
        extend: () => Effect.fail(new PortError.StorageError({ reason: "Timeout", module: "test", method: "extend", description: "cut off" }))
      }
      : store
    return yield* body(store).pipe(
      Effect.provide(Layer.merge(Layer.succeed(Store.Store, seen), notifierLayer)),
      Effect.scoped
    )
  })

describe("dispatcher", () => {
  it.effect("retries with exponential backoff and jitter, honouring Retry-After", () => {
    const far = scripted([failure("RateLimited", { retryAfterMillis: 3000 }), failure("Unavailable"), "ok"])
    return withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, ["k1"])
        const dispatcher = yield* Dispatcher.make({ retry: { base: "1 second", factor: 2, cap: "10 seconds" } })
        const fiber = yield* Effect.fork(dispatcher.tick)
        for (let i = 0; i < 10; i++) yield* TestClock.adjust("1 second")
        yield* Fiber.join(fiber)
        expect(far.calls.length).toBe(3)
        const [t0, t1, t2] = far.calls as [number, number, number]
        // Backoff would be ~1 s; the far side asked for 3 s: at least 3 s.
        expect(t1 - t0).toBeGreaterThanOrEqual(3000)
        expect(t1 - t0).toBeLessThanOrEqual(4000)
        // Second retry: 2 s ± 20% jitter (in whole seconds on this clock: 2 or 3 s).
        expect(t2 - t1).toBeGreaterThanOrEqual(1000)
        expect(t2 - t1).toBeLessThanOrEqual(3000)
        expect(yield* store.isDone("k1")).toBe(true)
      })
    )
  })

  it.effect("a Retry-After longer than the lease allows gives the action back, due after it", () => {
    const far = scripted([failure("RateLimited", { retryAfterMillis: 60_000 }), "ok"])
    return withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, ["k1"])
        const dispatcher = yield* Dispatcher.make({ retry: { base: "1 second", maxWaitInLease: "10 seconds" } })
        yield* dispatcher.tick
        expect(far.calls.length).toBe(1)
        const pending = [...store.internals.outbox.values()][0]!.action
        expect(pending.availableAt).toBe(60_000)
        expect(pending.attempts).toBe(1)
        expect(JSON.parse(pending.lastError!).reason).toBe("RateLimited")
        yield* TestClock.adjust("59 seconds")
        expect(yield* dispatcher.tick).toBe(0)
        yield* TestClock.adjust("1 second")
        expect(yield* dispatcher.tick).toBe(1)
        expect(far.calls).toEqual([0, 60_000])
        expect(yield* store.isDone("k1")).toBe(true)
      })
    )
  })

  /** Collects the warnings logged while `effect` runs, with their annotations and message. */
  const warnings = <A, E, R>(effect: Effect.Effect<A, E, R>, into: Array<string>) =>
    Effect.provide(
      effect,
      Logger.add(
        Logger.make(({ logLevel, message }) => {
          if (logLevel._tag === "Warning") into.push(JSON.stringify(message))
        })
      )
    )

  it.effect("a Retry-After of days waits maxRetryAfter (default 1 hour), with one warning", () => {
    const threeDays = 3 * 24 * 3_600_000
    const far = scripted([failure("RateLimited", { retryAfterMillis: threeDays }), "ok"])
    const logged: Array<string> = []
    return withStore(far.layer, (store) =>
      warnings(
        Effect.gen(function* () {
          yield* enqueue(store, ["k1"])
          const dispatcher = yield* Dispatcher.make({ retry: { base: "1 second" } })
          yield* dispatcher.tick
          const pending = [...store.internals.outbox.values()][0]!.action
          expect(pending.availableAt).toBe(3_600_000)
          // what the far side asked for stays in the error
          expect(JSON.parse(pending.lastError!).retryAfterMillis).toBe(threeDays)
          yield* TestClock.adjust("1 hour")
          expect(yield* dispatcher.tick).toBe(1)
          expect(far.calls).toEqual([0, 3_600_000])
          expect(yield* store.isDone("k1")).toBe(true)
          expect(logged).toHaveLength(1)
          expect(logged[0]).toContain("notifier")
          expect(logged[0]).toContain(String(threeDays))
        }),
        logged
      )
    )
  })

  it.effect("retry.maxRetryAfter caps the Retry-After waited within the lease too, warning once per action", () => {
    const far = scripted([
      failure("Unavailable", { retryAfterMillis: 86_400_000 }),
      failure("RateLimited", { retryAfterMillis: 86_400_000 }),
      "ok"
    ])
    const logged: Array<string> = []
    return withStore(far.layer, (store) =>
      warnings(
        Effect.gen(function* () {
          yield* enqueue(store, ["k1"])
          const dispatcher = yield* Dispatcher.make({ retry: { base: "100 millis", cap: "100 millis", maxRetryAfter: "2 seconds" } })
          const fiber = yield* Effect.fork(dispatcher.tick)
          for (let i = 0; i < 8; i++) yield* TestClock.adjust("1 second")
          yield* Fiber.join(fiber)
          expect(far.calls).toEqual([0, 2_000, 4_000])
          expect(yield* store.isDone("k1")).toBe(true)
          expect(logged).toHaveLength(1)
        }),
        logged
      )
    )
  })

  it.effect("a permanent failure is dead-lettered at once with the error and the action", () => {
    const far = scripted([failure("Invalid")])
    return withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, ["k1"])
        const dispatcher = yield* Dispatcher.make()
        yield* dispatcher.tick
        expect(far.calls.length).toBe(1)
        const [letter] = yield* DeadLetters.list()
        expect(letter).toMatchObject({ id: "k1", kind: "action", target: "notifier", attempts: 1 })
        expect(JSON.parse(letter!.error)).toMatchObject({ _tag: "NotifierError", reason: "Invalid" })
        expect(JSON.parse(letter!.payload)).toMatchObject({ key: "k1", kind: "notifier.notify" })
      })
    )
  })

  it.effect("retries are exhausted after maxAttempts across claims, then dead-lettered; replay drains", () => {
    const far = scripted(Array.from({ length: 5 }, () => failure("Timeout")))
    return withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, ["k1"])
        const dispatcher = yield* Dispatcher.make({
          retry: { base: "100 millis", cap: "100 millis", maxAttempts: 5, attemptsPerClaim: 2 }
        })
        const fiber = yield* Effect.fork(Effect.forever(Effect.zipRight(dispatcher.tick, Effect.sleep("50 millis"))))
        for (let i = 0; i < 40; i++) yield* TestClock.adjust("50 millis")
        yield* Fiber.interrupt(fiber)
        expect(far.calls.length).toBe(5)
        const [letter] = yield* DeadLetters.list({ reason: "Timeout" })
        expect(letter?.attempts).toBe(5)
        // Replay after the fault is gone (the script is exhausted: the far side answers ok now).
        const pipeline = yield* Pipeline.make()
        const report = yield* DeadLetters.replay({ target: "notifier" }, "ops@example.com").pipe(
          Effect.provideService(Pipeline.Pipeline, pipeline)
        )
        expect(report).toEqual({ requeued: 1, reingested: 0, failedAgain: 0 })
        yield* dispatcher.drain()
        expect(far.calls.length).toBe(6)
        expect(yield* store.isDone("k1")).toBe(true)
        expect(yield* DeadLetters.list()).toEqual([])
        // The replay is in the ops audit stream: what was replayed (before), then what it did.
        const [intent, outcome] = yield* store.readAudit("ops", 1, 10)
        expect([intent!.kind, JSON.parse(intent!.body)]).toEqual(["replay", expect.objectContaining({ by: "ops@example.com", ids: ["k1"] })])
        expect([outcome!.kind, JSON.parse(outcome!.body)]).toEqual(["replayed", expect.objectContaining({ replay: 1, requeued: 1 })])
        expect((yield* Audit.verify).problems).toEqual([])
      })
    )
  })

  it.effect("run rides out retryable storage failures instead of stopping", () => {
    const far = scripted(["ok"])
    return withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, ["k1"])
        let failures = 3
        const flaky: Store.StoreShape = {
          ...store,
          claim: (options) =>
            failures-- > 0
              ? Effect.fail(new PortError.StorageError({ reason: "Unavailable", module: "test", method: "claim", description: "failover" }))
              : store.claim(options)
        }
        const dispatcher = yield* Dispatcher.make({ idleMillis: 10 }).pipe(Effect.provideService(Store.Store, flaky))
        const fiber = yield* Effect.fork(dispatcher.run)
        for (let i = 0; i < 20; i++) yield* TestClock.adjust("100 millis")
        expect(far.calls.length).toBe(1)
        expect(yield* store.isDone("k1")).toBe(true)
        expect(fiber.unsafePoll()).toBeNull() // still running
        yield* Fiber.interrupt(fiber)
      })
    )
  })

  it.effect("the circuit breaker stops calling a failing target and lets its actions wait", () => {
    const far = scripted(Array.from({ length: 100 }, () => failure("Unavailable")))
    return withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, ["k1", "k2", "k3", "k4", "k5"])
        const dispatcher = yield* Dispatcher.make({
          concurrency: 1,
          breaker: { threshold: 3, openMillis: 30_000 },
          retry: { base: "10 millis", cap: "10 millis", attemptsPerClaim: 1, maxAttempts: 50 }
        })
        yield* dispatcher.tick
        // Three calls fail and open the breaker; the other actions are not even tried.
        expect(far.calls.length).toBe(3)
        const due = [...store.internals.outbox.values()].map((e) => e.action)
        expect(due.filter((a) => a.availableAt >= 30_000).map((a) => a.key).sort()).toEqual(["k4", "k5"])
        expect(due.find((a) => a.key === "k4")!.attempts).toBe(0)
      })
    )
  })
})

describe("dispatcher leases", () => {
  it.effect("does not wait out a retry past its lease: it gives the action back instead of calling again", () => {
    const far = scripted([failure("RateLimited", { retryAfterMillis: 5000 }), "ok", "ok"])
    return withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, ["k1"])
        const options = { leaseMillis: 2000, retry: { base: "100 millis", maxWaitInLease: "10 seconds" } } as const
        const a = yield* Dispatcher.make({ ...options, owner: "a" })
        const b = yield* Dispatcher.make({ ...options, owner: "b" })
        const first = yield* Effect.fork(a.tick)
        yield* TestClock.adjust("3 seconds")
        // A's lease expired at 2 s; B may claim the action from then on.
        const second = yield* Effect.fork(b.tick)
        for (let i = 0; i < 10; i++) yield* TestClock.adjust("1 second")
        yield* Fiber.join(first)
        yield* Fiber.join(second)
        yield* b.tick
        expect(yield* store.isDone("k1")).toBe(true)
        // One failed call and one successful one: nobody called again over another worker's lease.
        expect(far.calls.length).toBe(2)
        expect(far.calls[1]).toBeGreaterThanOrEqual(5000)
      })
    )
  })

  it.effect("does not call again within a claim once a renewal was refused: the action is another worker's now", () => {
    const far = scripted([failure("Unavailable"), "ok", "ok"])
    return withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, ["k1"])
        const a = yield* Dispatcher.make({
          owner: "a",
          leaseMillis: 3000,
          retry: { base: "2 seconds", factor: 1, cap: "2 seconds", maxWaitInLease: "10 seconds" }
        })
        const first = yield* Effect.fork(a.tick)
        yield* TestClock.adjust("500 millis")
        expect(far.calls).toEqual([0])
        // A's first call failed and it waits ~2 s to retry, within its lease (until 3 s by its
        // clock). The store judges otherwise (a shared store's own clock, ahead of A's): the
        // lease ran out, and worker B claims the action.
        const [taken] = yield* store.claim({ now: 3000, leaseMillis: 60_000, limit: 1, owner: "b" })
        expect(taken?.key).toBe("k1")
        // A's renewal at 1 s is refused: A must not call the far side again over B's lease.
        for (let i = 0; i < 5; i++) yield* TestClock.adjust("1 second")
        yield* Fiber.join(first)
        expect(far.calls).toEqual([0])
        expect(yield* store.isDone("k1")).toBe(false)
        // B's lease stands: A neither called nor gave the action back over it.
        expect(yield* store.claim({ now: 5000, leaseMillis: 1000, limit: 1, owner: "c" })).toEqual([])
        expect(yield* store.ack("k1", taken!.leaseToken)).toBe(true)
      })
    )
  })

  it.effect("does not start an action whose lease expired while it waited for its record", () => {
    const calls: Array<string> = []
    const notifier: Notifier.NotifierShape = {
      notify: (request) =>
        Effect.gen(function* () {
          calls.push(request.key)
          // The first call of k1 is slow: longer than the lease.
          if (request.key === "k1" && calls.filter((k) => k === "k1").length === 1) yield* Effect.sleep("5 seconds")
        })
    }
    return withStore(Layer.succeed(Notifier.Notifier, notifier), (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, ["k1", "k2"])
        const a = yield* Dispatcher.make({ owner: "a", leaseMillis: 2000 })
        const b = yield* Dispatcher.make({ owner: "b", leaseMillis: 2000 })
        // A holds both; k2 waits behind k1 (same shipment, same target).
        const first = yield* Effect.fork(a.tick)
        yield* TestClock.adjust("3 seconds")
        // Both leases expired: B takes both and carries them out.
        expect(yield* b.tick).toBe(2)
        yield* TestClock.adjust("3 seconds")
        yield* Fiber.join(first)
        expect(yield* store.isDone("k2")).toBe(true)
        // k1's slow call could not be helped (it outlived its lease), but A must not start k2 again.
        expect(calls.filter((k) => k === "k2")).toEqual(["k2"])
      }),
      { renewals: false }
    )
  })
})

const enqueueMany = (store: Store.StoreShape, shipments: ReadonlyArray<string>) =>
    Effect.forEach(shipments, (shipmentId) =>
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
            payload: notify(`${shipmentId}:notify`),
            createdAt: 0,
            availableAt: 0,
            attempts: 0
          }
        ]
      })
    )

describe("dispatcher circuit breaker", () => {
  it.effect("an open breaker also stops the retries already under way", () => {
    const far = scripted(Array.from({ length: 100 }, () => failure("Unavailable")))
    return withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueueMany(store, ["s1", "s2"])
        const dispatcher = yield* Dispatcher.make({
          concurrency: 2,
          breaker: { threshold: 2, openMillis: 30_000 },
          retry: { base: "100 millis", cap: "100 millis", attemptsPerClaim: 4, maxAttempts: 50 }
        })
        const fiber = yield* Effect.fork(dispatcher.tick)
        for (let i = 0; i < 20; i++) yield* TestClock.adjust("100 millis")
        yield* Fiber.join(fiber)
        // Both first calls fail and open the breaker; nothing is called while it is open.
        expect(far.calls).toEqual([0, 0])
        const due = [...store.internals.outbox.values()].map((e) => e.action)
        expect(due.map((a) => [a.key, a.attempts, a.availableAt >= 30_000]).sort()).toEqual([
          ["s1:notify", 1, true],
          ["s2:notify", 1, true]
        ])
      })
    )
  })

  it.effect("after the open period one failing call opens the breaker again", () => {
    const far = scripted(Array.from({ length: 100 }, () => failure("Unavailable")))
    return withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueueMany(store, ["s1", "s2", "s3", "s4", "s5", "s6"])
        const dispatcher = yield* Dispatcher.make({
          concurrency: 1,
          breaker: { threshold: 3, openMillis: 30_000 },
          retry: { base: "10 millis", cap: "10 millis", attemptsPerClaim: 1, maxAttempts: 50 }
        })
        yield* dispatcher.tick
        expect(far.calls.length).toBe(3)
        yield* TestClock.adjust("30 seconds")
        yield* dispatcher.tick
        // Half open: one trial call; it fails, so the target is left alone for another period.
        expect(far.calls.length).toBe(4)
      })
    )
  })
})

describe("dispatcher rate limits", () => {
  it.effect("does not make a call the rate limiter held back past the lease", () => {
    const far = scripted(["ok", "ok", "ok", "ok"])
    return withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueueMany(store, ["s1", "s2"])
        const options = { leaseMillis: 2000, rateLimits: { notifier: { limit: 1, interval: "10 seconds" } } } as const
        const a = yield* Dispatcher.make({ ...options, owner: "a" })
        const b = yield* Dispatcher.make({ ...options, owner: "b" })
        const first = yield* Effect.fork(a.tick)
        yield* TestClock.adjust("3 seconds")
        // A's second action still waits for a permit; its lease expired: B claims it and calls.
        expect(yield* b.tick).toBe(1)
        yield* TestClock.adjust("20 seconds")
        yield* Fiber.join(first)
        expect(yield* store.isDone("s1:notify")).toBe(true)
        expect(yield* store.isDone("s2:notify")).toBe(true)
        expect(far.calls.length).toBe(2)
      }),
      { renewals: false }
    )
  })
})

describe("dispatcher attempts across claims", () => {
  it.effect("calls made before the lease ran out count, so an action whose claims all run out of lease is dead-lettered", () => {
    const far = scripted(Array.from({ length: 100 }, () => failure("Unavailable")))
    return withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, ["k1"])
        // A permit every 3 s, a lease of 2.5 s: each claim makes its calls, then waits for the
        // next permit past its lease and gives the action up without calling.
        const dispatcher = yield* Dispatcher.make({
          leaseMillis: 2500,
          rateLimits: { notifier: { limit: 2, interval: "6 seconds" } },
          retry: { base: "100 millis", cap: "100 millis", attemptsPerClaim: 4, maxAttempts: 3 }
        })
        const fiber = yield* Effect.fork(Effect.forever(Effect.zipRight(dispatcher.tick, Effect.sleep("1 second"))))
        for (let i = 0; i < 120; i++) yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(fiber)
        expect(far.calls.length).toBe(3)
        const [letter] = yield* DeadLetters.list()
        expect(letter).toMatchObject({ id: "k1", attempts: 3 })
        expect(JSON.parse(letter!.error)).toMatchObject({ reason: "Unavailable" })
      }),
      { renewals: false }
    )
  })
})

describe("dispatcher calls given up at the end of the lease", () => {
  it.effect("a far side that never answers: each call given up counts, and after maxAttempts of them the action is dead-lettered, not called forever", () => {
    const calls: Array<number> = []
    const notifier = hangingNotifier(calls)
    return withStore(Layer.succeed(Notifier.Notifier, notifier), (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, ["k1"])
        // Each call hangs: it is given up once the renewals stop (ten lease times), claim after claim.
        const dispatcher = yield* Dispatcher.make({ leaseMillis: 1000, retry: { maxAttempts: 3 } })
        const fiber = yield* Effect.fork(Effect.forever(Effect.zipRight(dispatcher.tick, Effect.sleep("100 millis"))))
        for (let i = 0; i < 60; i++) yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(fiber)
        expect(calls.length).toBe(3)
        expect(store.internals.outbox.size).toBe(0)
        const [letter, ...others] = yield* DeadLetters.list()
        expect(others).toEqual([])
        expect(letter).toMatchObject({ id: "k1", kind: "action", target: "notifier", attempts: 3 })
        expect(JSON.parse(letter!.error)).toMatchObject({ reason: "Timeout", method: "notifier.notify" })
        // The letter keeps the action as it was claimed, and a replay puts it back.
        expect(JSON.parse(letter!.payload)).toMatchObject({ key: "k1", kind: "notifier.notify", attempts: 3 })
      })
    )
  })

  it.effect("a call given up after an earlier failure of the claim is dead-lettered with the later reason once attempts are spent", () => {
    let n = 0
    const calls: Array<number> = []
    const notifier: Notifier.NotifierShape = {
      notify: () =>
        Effect.gen(function* () {
          calls.push(yield* Clock.currentTimeMillis)
          // The first call of every claim fails at once; the retry within the claim hangs.
          if (n++ % 2 === 0) return yield* Effect.fail(failure("Unavailable"))
          return yield* Effect.never
        })
    }
    return withStore(Layer.succeed(Notifier.Notifier, notifier), (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, ["k1"])
        const dispatcher = yield* Dispatcher.make({
          leaseMillis: 1000,
          retry: { base: "10 millis", cap: "10 millis", maxAttempts: 4, attemptsPerClaim: 4 }
        })
        const fiber = yield* Effect.fork(Effect.forever(Effect.zipRight(dispatcher.tick, Effect.sleep("100 millis"))))
        for (let i = 0; i < 60; i++) yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(fiber)
        expect(calls.length).toBe(4)
        const [letter] = yield* DeadLetters.list()
        expect(letter).toMatchObject({ id: "k1", attempts: 4 })
        expect(JSON.parse(letter!.error)).toMatchObject({ reason: "Timeout" })
      })
    )
  })
})

describe("dispatcher metrics", () => {
  it.effect("far-side latency does not include the wait for the rate limiter", () => {
    const far = scripted(["ok", "ok"])
    return withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueueMany(store, ["s1", "s2"])
        const latency = Metric.tagged(Metrics.actionLatency, "target", "notifier")
        const before = yield* Metric.value(latency)
        const dispatcher = yield* Dispatcher.make({ rateLimits: { notifier: { limit: 1, interval: "10 seconds" } } })
        const fiber = yield* Effect.fork(dispatcher.tick)
        for (let i = 0; i < 20; i++) yield* TestClock.adjust("1 second")
        yield* Fiber.join(fiber)
        expect(far.calls).toEqual([0, 10_000])
        const after = yield* Metric.value(latency)
        expect(after.count - before.count).toBe(2)
        // Both calls answered at once; the second one's 10 s in the rate limiter is not latency.
        expect(after.sum - before.sum).toBe(0)
      })
    )
  })

  it.effect("an action whose lease was lost is not counted as dead-lettered by the worker that lost it", () => {
    let calls = 0
    const notifier: Notifier.NotifierShape = {
      notify: () =>
        Effect.gen(function* () {
          // The first call is slow (longer than the lease); every call fails for good.
          if (++calls === 1) yield* Effect.sleep("5 seconds")
          return yield* Effect.fail(failure("Invalid"))
        })
    }
    return withStore(Layer.succeed(Notifier.Notifier, notifier), (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, ["k1"])
        const dead = Metric.tagged(Metric.tagged(Metrics.deadLetters, "target", "notifier"), "reason", "Invalid")
        const before = (yield* Metric.value(dead)).count
        const a = yield* Dispatcher.make({ owner: "a", leaseMillis: 2000 })
        const b = yield* Dispatcher.make({ owner: "b", leaseMillis: 2000 })
        const first = yield* Effect.fork(a.tick)
        yield* TestClock.adjust("3 seconds")
        // A's lease expired: B claims the action and dead-letters it.
        expect(yield* b.tick).toBe(1)
        yield* TestClock.adjust("3 seconds")
        yield* Fiber.join(first)
        expect((yield* DeadLetters.list()).map((l) => l.id)).toEqual(["k1"])
        // One dead letter, counted once: A's refused write is not a dead letter.
        expect((yield* Metric.value(dead)).count - before).toBe(1)
      }),
      { renewals: false }
    )
  })
})

describe("dispatcher metrics after a lost lease", () => {
  it.effect("a retry the store refused (lease lost) is not counted as a retry", () => {
    let calls = 0
    const notifier: Notifier.NotifierShape = {
      notify: () =>
        Effect.gen(function* () {
          // The first call is slow (longer than the lease) and fails; the next one succeeds.
          if (++calls === 1) {
            yield* Effect.sleep("5 seconds")
            return yield* Effect.fail(failure("Unavailable"))
          }
        })
    }
    return withStore(Layer.succeed(Notifier.Notifier, notifier), (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, ["k1"])
        const retried = Metric.tagged(Metric.tagged(Metrics.actions, "kind", "notifier.notify"), "result", "retry")
        const before = (yield* Metric.value(retried)).count
        const a = yield* Dispatcher.make({ owner: "a", leaseMillis: 2000, retry: { attemptsPerClaim: 1 } })
        const b = yield* Dispatcher.make({ owner: "b", leaseMillis: 2000 })
        const first = yield* Effect.fork(a.tick)
        yield* TestClock.adjust("3 seconds")
        expect(yield* b.tick).toBe(1)
        expect(yield* store.isDone("k1")).toBe(true)
        yield* TestClock.adjust("3 seconds")
        yield* Fiber.join(first)
        expect((yield* Metric.value(retried)).count - before).toBe(0)
      }),
      { renewals: false }
    )
  })
})

describe("dispatcher long backoff", () => {
  it.effect("a backoff delay longer than maxWaitInLease gives the lease back instead of waiting in it", () => {
    const far = scripted([failure("Unavailable"), "ok"])
    return withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, ["k1"])
        const dispatcher = yield* Dispatcher.make({
          retry: { base: "15 seconds", cap: "30 seconds", maxWaitInLease: "10 seconds" }
        })
        const fiber = yield* Effect.fork(dispatcher.tick)
        for (let i = 0; i < 30; i++) yield* TestClock.adjust("1 second")
        yield* Fiber.join(fiber)
        // One call; the ~15 s wait was not spent holding the lease, a slot and the record.
        expect(far.calls).toEqual([0])
        const pending = [...store.internals.outbox.values()][0]!.action
        expect(pending.attempts).toBe(1)
        expect(pending.availableAt).toBeGreaterThan(10_000)
      })
    )
  })
})

describe("dispatcher run", () => {
  it.effect("gives every storage outage the whole retry schedule, not what earlier outages left of it", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryStore.make
      let claims = 0
      // Every other claim fails: many short outages, each over after one retry.
      const flaky: Store.StoreShape = {
        ...memory,
        claim: (options) =>
          ++claims % 2 === 1
            ? Effect.fail(new PortError.StorageError({ reason: "Unavailable", module: "test", method: "claim", description: "failover" }))
            : memory.claim(options)
      }
      const far = scripted([])
      const fiber = yield* Effect.gen(function* () {
        const dispatcher = yield* Dispatcher.make({ idleMillis: 100, storageRetry: Schedule.recurs(1) })
        return yield* Effect.fork(dispatcher.run)
      }).pipe(Effect.provide(Layer.merge(Layer.succeed(Store.Store, flaky), far.layer)), Effect.scoped)
      yield* TestClock.adjust("2 seconds")
      expect(claims).toBeGreaterThan(10)
      expect(fiber.unsafePoll()).toBeNull()
      yield* Fiber.interrupt(fiber)
    }))
})

describe("dispatcher lease renewal", () => {
  it.effect("a far-side call longer than the lease keeps its lease: no other worker runs the action meanwhile", () => {
    let calls = 0
    const notifier: Notifier.NotifierShape = {
      notify: () =>
        Effect.gen(function* () {
          calls++
          yield* Effect.sleep("5 seconds") // slower than the 2 s lease
        })
    }
    return withStore(Layer.succeed(Notifier.Notifier, notifier), (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, ["k1"])
        const a = yield* Dispatcher.make({ owner: "a", leaseMillis: 2000 })
        const b = yield* Dispatcher.make({ owner: "b", leaseMillis: 2000 })
        const first = yield* Effect.fork(a.tick)
        for (let i = 0; i < 4; i++) {
          yield* TestClock.adjust("1 second")
          // A renews while its call runs: B finds nothing to claim.
          expect(yield* b.tick).toBe(0)
        }
        yield* TestClock.adjust("2 seconds")
        yield* Fiber.join(first)
        expect(yield* store.isDone("k1")).toBe(true)
        expect(calls).toBe(1)
      })
    )
  })

  it.effect("renewals stop after ten lease times, so a call that hangs does not keep the action forever", () => {
    const calls: Array<number> = []
    const notifier = hangingNotifier(calls)
    return withStore(Layer.succeed(Notifier.Notifier, notifier), (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, ["k1"])
        const a = yield* Dispatcher.make({ owner: "a", leaseMillis: 1000 })
        const b = yield* Dispatcher.make({ owner: "b", leaseMillis: 60_000 })
        yield* Effect.fork(a.tick)
        for (let i = 0; i < 15; i++) {
          yield* TestClock.adjust("1 second")
          yield* Effect.fork(b.tick)
        }
        // A's call hangs; B takes the action over once A's renewals stopped, ten leases in.
        expect(calls.length).toBe(2)
        expect(calls[1]).toBeGreaterThanOrEqual(10_000)
        expect(calls[1]).toBeLessThanOrEqual(12_000)
      })
    )
  })

  it.effect("a dispatcher interrupted in a far-side call leaves the action leased, not done: its renewals stop, another dispatcher runs it again after the lease as a later claim, and the interrupted one's record lock, rate limiter and breaker are as before", () => {
    const calls: Array<{ readonly key: string; readonly claim: number; readonly call: number }> = []
    let extensions = 0
    return Effect.gen(function* () {
      const inCall = yield* Deferred.make<void>()
      const notifier: Notifier.NotifierShape = {
        notify: (request) =>
          Effect.gen(function* () {
            const attempt = Option.getOrThrow(yield* Effect.serviceOption(Dispatcher.Attempt))
            calls.push({ key: request.key, claim: attempt.claim, call: attempt.call })
            // The first call hangs at the far side (a host is stopped meanwhile).
            if (calls.length === 1) yield* Effect.zipRight(Deferred.succeed(inCall, undefined), Effect.never)
          })
      }
      yield* withStore(Layer.succeed(Notifier.Notifier, notifier), (memory) =>
        Effect.gen(function* () {
          yield* enqueue(memory, ["k1"])
          const store: Store.StoreShape = { ...memory, extend: (...args) => (extensions++, memory.extend(...args)) }
          yield* Effect.gen(function* () {
            // One transport-level failure would open the breaker: the interrupted call must not count as one.
            const options: Dispatcher.Options = {
              leaseMillis: 3000,
              idleMillis: 10,
              rateLimits: { notifier: { limit: 1, interval: "1 second" } },
              breaker: { threshold: 1, openMillis: 3_600_000 }
            }
            const a = yield* Dispatcher.make({ ...options, owner: "a" })
            const b = yield* Dispatcher.make({ ...options, owner: "b" })
            const running = yield* Effect.fork(a.run)
            yield* Deferred.await(inCall)
            yield* TestClock.adjust("2 seconds")
            expect(extensions).toBeGreaterThan(0)
            yield* Fiber.interrupt(running)
            const renewed = extensions
            // Not acknowledged, and no longer renewed: free again once the lease ran out.
            expect(yield* memory.isDone("k1")).toBe(false)
            expect(yield* b.tick).toBe(0)
            yield* TestClock.adjust("60 seconds")
            expect(extensions).toBe(renewed)
            expect(yield* b.tick).toBe(1)
            expect(yield* memory.isDone("k1")).toBe(true)
            // The same key again, as a later claim: the port looks the first call up, and does
            // not skip the lookup as it may for a first call.
            expect(calls).toEqual([{ key: "k1", claim: 1, call: 1 }, { key: "k1", claim: 2, call: 1 }])
            // A goes on with the next action of the same record and target: lock free, a permit,
            // breaker closed.
            yield* enqueue(memory, ["k2"], 1)
            const next = yield* Effect.fork(a.tick)
            yield* TestClock.adjust("1 second")
            expect(yield* Fiber.join(next)).toBe(1)
            expect(yield* memory.isDone("k2")).toBe(true)
          }).pipe(Effect.provideService(Store.Store, store))
        })
      )
    })
  })
})


describe("dispatcher error text", () => {
  const street = "Flat 3, 12 Privet Drive"
  const email = "petunia.dursley@example.com"
  /** A helpdesk case for shipment shp-1, with the customer's street and e-mail (as the policy may keep them). */
  const openCase = (key: string) =>
    JSON.stringify({
      key,
      companyId: "co-1",
      shipmentId: "shp-1",
      subject: "Delivery exception",
      note: "the carrier reports a delivery exception",
      context: {
        shipmentId: "shp-1",
        orderId: "so-1",
        status: "pending",
        exceptions: [],
        nextAction: "contact the carrier",
        customerName: "Petunia Dursley",
        customerEmail: email,
        shipToStreet: street,
        shipToPostalCode: "GU4 7XX",
        shipToCity: "Little Whinging",
        shipToCountry: "GB"
      }
    })

  /** A far side whose validation error quotes what it was sent, and the shipment id. */
  const quoting = (reason: PortError.Reason, description: string) => {
    const calls: Array<number> = []
    const helpdesk: HelpdeskPort.HelpdeskPortShape = {
      openOrEnrich: () =>
        Effect.sync(() => calls.push(1)).pipe(
          Effect.zipRight(Effect.fail(new PortError.HelpdeskError({ reason, module: "test", method: "openOrEnrich", description })))
        ),
      update: () => Effect.die("not called")
    }
    return { calls, layer: Layer.succeed(HelpdeskPort.HelpdeskPort, helpdesk) }
  }

  const run = <A, E>(
    layer: Layer.Layer<HelpdeskPort.HelpdeskPort>,
    body: (store: MemoryStoreType.MemoryStore) => Effect.Effect<A, E, Store.Store | HelpdeskPort.HelpdeskPort | import("effect/Scope").Scope>
  ) =>
    Effect.gen(function* () {
      const store = (yield* MemoryStore.make) as MemoryStoreType.MemoryStore
      yield* store.commit({
        shipmentId: "shp-1",
        expectedVersion: 0,
        body: "{}",
        idempotencyKeys: [],
        events: [],
        audit: [],
        outbox: [{
          key: "k1",
          shipmentId: "shp-1",
          target: "helpdesk",
          kind: "helpdesk.openOrEnrich",
          payload: openCase("k1"),
          createdAt: 0,
          availableAt: 0,
          attempts: 0
        }]
      })
      return yield* body(store).pipe(Effect.provide(Layer.merge(Layer.succeed(Store.Store, store), layer)), Effect.scoped)
    })

  /** Collects every line logged while `effect` runs, with its annotations and message. */
  const logging = <A, E, R>(effect: Effect.Effect<A, E, R>, into: Array<string>) =>
    Effect.provide(
      effect,
      Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ annotations, logLevel, message }) => {
          into.push(`${logLevel.label} ${JSON.stringify(message)} ${JSON.stringify(Object.fromEntries(annotations))}`)
        })
      )
    )

  it.effect("a dead letter's error and the warning withhold the personal values the far side quotes back", () => {
    const far = quoting(
      "Invalid",
      `shipment shp-1: street '${street}' is not deliverable; contact ${email} or "${JSON.stringify(email).slice(1, -1)}"`
    )
    const logged: Array<string> = []
    return run(far.layer, () =>
      logging(
        Effect.gen(function* () {
          const dispatcher = yield* Dispatcher.make()
          yield* dispatcher.tick
          expect(far.calls.length).toBe(1)
          const [letter] = yield* DeadLetters.list()
          const error = JSON.parse(letter!.error) as { description: string }
          expect(error.description).toBe(
            `shipment shp-1: street '<redacted>' is not deliverable; contact <redacted> or "<redacted>"`
          )
          expect(letter!.error).not.toContain(street)
          expect(letter!.error).not.toContain(email)
          // the payload keeps the request for replay, its copy of the error does not quote it
          const payload = JSON.parse(letter!.payload) as { payload: string; lastError: string }
          expect(payload.payload).toContain(street)
          expect(payload.lastError).toBe(letter!.error)
          const warning = logged.find((line) => line.includes("action dead-lettered"))
          expect(warning).toBeDefined()
          expect(warning).toContain("shipment shp-1")
          for (const line of logged) {
            expect(line).not.toContain(street)
            expect(line).not.toContain(email)
          }
        }),
        logged
      )
    )
  })

  it.effect("the error kept for the next attempt withholds them too", () => {
    const far = quoting("Unavailable", `cannot reach ${email} now (shipment shp-1)`)
    const logged: Array<string> = []
    return run(far.layer, (store) =>
      logging(
        Effect.gen(function* () {
          const dispatcher = yield* Dispatcher.make({ retry: { base: "10 millis", attemptsPerClaim: 1, maxAttempts: 3 } })
          yield* dispatcher.tick
          const pending = [...store.internals.outbox.values()][0]!.action
          expect(JSON.parse(pending.lastError!).description).toBe("cannot reach <redacted> now (shipment shp-1)")
          for (const line of logged) expect(line).not.toContain(email)
        }),
        logged
      )
    )
  })

  it.effect("a value the far side quotes back in other letter case is withheld too", () => {
    const far = quoting("Invalid", `user ${email.toUpperCase()} is suspended (shipment shp-1)`)
    const logged: Array<string> = []
    return run(far.layer, () =>
      logging(
        Effect.gen(function* () {
          const dispatcher = yield* Dispatcher.make()
          yield* dispatcher.tick
          const [letter] = yield* DeadLetters.list()
          expect(JSON.parse(letter!.error).description).toBe("user <redacted> is suspended (shipment shp-1)")
          for (const line of logged) expect(line.toLowerCase()).not.toContain(email)
        }),
        logged
      )
    )
  })

  it.effect("a value the far side's error text was cut in the middle of is withheld too", () => {
    const far = quoting("Invalid", `ValidationError: shipment shp-1, street '${street.slice(0, 10)}…`)
    return run(far.layer, () =>
      Effect.gen(function* () {
        const dispatcher = yield* Dispatcher.make()
        yield* dispatcher.tick
        const [letter] = yield* DeadLetters.list()
        expect(JSON.parse(letter!.error).description).toBe("ValidationError: shipment shp-1, street '<redacted>…")
      })
    )
  })
})

describe("dispatcher half-open breaker", () => {
  it.effect("after the open period one call probes the target; the waiting actions spend no attempt, and one outage is one opening", () => {
    const calls: Array<number> = []
    const notifier: Notifier.NotifierShape = {
      notify: () =>
        Effect.gen(function* () {
          calls.push(yield* Clock.currentTimeMillis)
          // Each call takes a second: a whole batch is at the far side at once.
          yield* Effect.sleep("1 second")
          return yield* Effect.fail(failure("Unavailable"))
        })
    }
    return withStore(Layer.succeed(Notifier.Notifier, notifier), (store) =>
      Effect.gen(function* () {
        yield* enqueueMany(store, ["s1", "s2", "s3", "s4", "s5", "s6"])
        const openings = Metric.tagged(Metrics.breakerOpenings, "target", "notifier")
        const before = (yield* Metric.value(openings)).count
        const dispatcher = yield* Dispatcher.make({
          concurrency: 6,
          breaker: { threshold: 2, openMillis: 30_000 },
          retry: { base: "10 millis", cap: "10 millis", attemptsPerClaim: 1, maxAttempts: 50 }
        })
        const fiber = yield* Effect.fork(Effect.forever(Effect.zipRight(dispatcher.tick, Effect.sleep("100 millis"))))
        for (let i = 0; i < 20; i++) yield* TestClock.adjust("100 millis")
        // All six were under way when the breaker opened: one opening, not one per failure after it.
        expect(calls.length).toBe(6)
        expect((yield* Metric.value(openings)).count - before).toBe(1)
        for (let i = 0; i < 30; i++) yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(fiber)
        // Half open: one probe, not the whole backlog; it fails and opens the breaker again.
        expect(calls.filter((t) => t >= 30_000).length).toBe(1)
        expect((yield* Metric.value(openings)).count - before).toBe(2)
        const attempts = [...store.internals.outbox.values()].map((e) => e.action.attempts).sort()
        expect(attempts).toEqual([1, 1, 1, 1, 1, 2])
      })
    )
  })
})

describe("dispatcher calls bounded by the lease", () => {
  it.effect("a call still running when the lease ends is given up, so the same action never runs twice at once", () => {
    let inFlight = 0
    let most = 0
    let calls = 0
    const notifier: Notifier.NotifierShape = {
      notify: () =>
        Effect.gen(function* () {
          calls++
          most = Math.max(most, ++inFlight)
          yield* Effect.sleep("5 seconds") // slower than the 2 s lease, which cannot be renewed
        }).pipe(Effect.ensuring(Effect.sync(() => inFlight--)))
    }
    return withStore(Layer.succeed(Notifier.Notifier, notifier), (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, ["k1"])
        const a = yield* Dispatcher.make({ owner: "a", leaseMillis: 2000 })
        const b = yield* Dispatcher.make({ owner: "b", leaseMillis: 60_000 })
        const first = yield* Effect.fork(a.tick)
        yield* TestClock.adjust("3 seconds")
        // A's lease ran out at 2 s: B claims the action and calls.
        const second = yield* Effect.fork(b.tick)
        yield* TestClock.adjust("6 seconds")
        yield* Fiber.join(first)
        yield* Fiber.join(second)
        expect(yield* store.isDone("k1")).toBe(true)
        expect(calls).toBe(2)
        expect(most).toBe(1)
      }),
      { renewals: false }
    )
  })

  it.effect("a call that hangs does not stop the dispatcher: once its renewals end it is given up and the next actions run", () => {
    const calls: Array<string> = []
    const notifier: Notifier.NotifierShape = {
      notify: (request) =>
        Effect.gen(function* () {
          calls.push(request.key)
          if (request.key === "s1:notify" && calls.length === 1) yield* Effect.never
        })
    }
    return withStore(Layer.succeed(Notifier.Notifier, notifier), (store) =>
      Effect.gen(function* () {
        yield* enqueueMany(store, ["s1"])
        const dispatcher = yield* Dispatcher.make({ leaseMillis: 1000, idleMillis: 100 })
        const fiber = yield* Effect.fork(dispatcher.run)
        yield* TestClock.adjust("1 second")
        yield* enqueueMany(store, ["s2"])
        for (let i = 0; i < 30; i++) yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(fiber)
        expect(yield* store.isDone("s2:notify")).toBe(true)
        expect(yield* store.isDone("s1:notify")).toBe(true)
      })
    )
  })
})

describe("dispatcher retry metric", () => {
  it.effect("counts calls that are retried, not failures that end the claim", () => {
    const far = scripted([failure("Unavailable"), failure("Unavailable"), failure("Invalid")])
    return withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueue(store, ["k1"])
        const retried = Metric.tagged(Metrics.retries, "target", "notifier")
        const before = (yield* Metric.value(retried)).count
        const dispatcher = yield* Dispatcher.make({ retry: { base: "10 millis", cap: "10 millis", attemptsPerClaim: 4 } })
        const fiber = yield* Effect.fork(dispatcher.tick)
        for (let i = 0; i < 10; i++) yield* TestClock.adjust("100 millis")
        yield* Fiber.join(fiber)
        expect(far.calls.length).toBe(3)
        // Two retries; the permanent failure after them is not retried.
        expect((yield* Metric.value(retried)).count - before).toBe(2)
        expect((yield* DeadLetters.list()).map((l) => l.id)).toEqual(["k1"])
      })
    )
  })
})

/** Notifier actions of shipment `shp-1`, each `[key, after?]`, committed together. */
const enqueueChain = (store: Store.StoreShape, actions: ReadonlyArray<readonly [string, string?]>) =>
  store.commit({
    shipmentId: "shp-1",
    expectedVersion: 0,
    body: "{}",
    idempotencyKeys: [],
    events: [],
    audit: [],
    outbox: actions.map(([key, after]) => ({
      key,
      shipmentId: "shp-1",
      target: "notifier",
      kind: "notifier.notify",
      payload: notify(key),
      createdAt: 0,
      availableAt: 0,
      attempts: 0,
      ...(after !== undefined ? { after } : {})
    }))
  })

describe("dispatcher dependent actions", () => {
  it.effect("the dependents of an action whose dead letter was removed are dead-lettered, naming it, not run; a replay of them runs them", () => {
    const keys: Array<string> = []
    const notifier: Notifier.NotifierShape = {
      notify: (request) =>
        Effect.suspend(() => {
          keys.push(request.key)
          return request.key === "validate" && keys.length === 1 ? Effect.fail(failure("Invalid")) : Effect.void
        })
    }
    return withStore(Layer.succeed(Notifier.Notifier, notifier), (store) =>
      Effect.gen(function* () {
        // `invoice` must run only after `validate` succeeded; `note` only after `invoice`.
        yield* enqueueChain(store, [["validate"], ["invoice", "validate"], ["note", "invoice"]])
        const dispatcher = yield* Dispatcher.make()
        yield* dispatcher.drain()
        expect(keys).toEqual(["validate"])
        expect((yield* DeadLetters.list()).map((l) => l.id)).toEqual(["validate"])
        // The operator discards the predecessor instead of replaying it.
        expect(yield* store.removeDeadLetters(["validate"])).toBe(1)
        yield* dispatcher.drain()
        // Never run: `validate` never succeeded.
        expect(keys).toEqual(["validate"])
        expect(yield* store.isDone("invoice")).toBe(false)
        const [letter] = yield* DeadLetters.list()
        expect(letter).toMatchObject({ id: "invoice", kind: "action", target: "notifier", attempts: 0 })
        const error = JSON.parse(letter!.error)
        expect(error).toMatchObject({ _tag: "PredecessorNotDone", reason: "Invalid", predecessor: "validate" })
        expect(error.description).toContain("validate")
        // Discarding `invoice` as well holds back what follows it the same way.
        expect(yield* store.removeDeadLetters(["invoice"])).toBe(1)
        yield* dispatcher.drain()
        expect(keys).toEqual(["validate"])
        const [next] = yield* DeadLetters.list()
        expect(next?.id).toBe("note")
        expect(JSON.parse(next!.error)).toMatchObject({ predecessor: "invoice" })
        // The operator replays it knowingly: it runs, without waiting for the discarded predecessor.
        const pipeline = yield* Pipeline.make()
        const report = yield* DeadLetters.replay({ ids: ["note"] }, "ops@example.com").pipe(
          Effect.provideService(Pipeline.Pipeline, pipeline)
        )
        expect(report.requeued).toBe(1)
        yield* dispatcher.drain()
        expect(keys).toEqual(["validate", "note"])
        expect(yield* store.isDone("note")).toBe(true)
        expect(yield* DeadLetters.list()).toEqual([])
      })
    )
  })

  it.effect("the dependent of an action that was done runs", () => {
    const far = scripted(["ok", "ok"])
    return withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueueChain(store, [["validate"], ["invoice", "validate"]])
        const dispatcher = yield* Dispatcher.make()
        yield* dispatcher.drain()
        expect(far.calls.length).toBe(2)
        expect(yield* store.isDone("invoice")).toBe(true)
        expect(yield* DeadLetters.list()).toEqual([])
      })
    )
  })
})

describe("dispatcher storage failures of one action", () => {
  const down = (method: string) =>
    Effect.fail(new PortError.StorageError({ reason: "Unavailable", module: "test", method, description: "failover" }))
  // How `s1:notify` is settled (its far side answers so), and the store call that fails for it once.
  const cases = [
    { method: "ack", answer: "ok" },
    { method: "retry", answer: "Unavailable" },
    { method: "deadLetter", answer: "Invalid" }
  ] as const
  for (const { answer, method } of cases) {
    it.effect(`a failing ${method} of one action leaves it leased, logged with its key; the tick settles the others`, () => {
      const calls: Array<string> = []
      const notifier: Notifier.NotifierShape = {
        notify: (request) =>
          Effect.suspend(() => {
            calls.push(request.key)
            // Unavailable the first time only; Invalid every time.
            const fails = answer === "Invalid" || (answer === "Unavailable" && calls.length === 1)
            return request.key === "s1:notify" && fails ? Effect.fail(failure(answer)) : Effect.void
          })
      }
      const logged: Array<string> = []
      return withStore(Layer.succeed(Notifier.Notifier, notifier), (store) =>
        Effect.gen(function* () {
          yield* enqueueMany(store, ["s1", "s2", "s3"])
          let failures = 1
          const flaky: Store.StoreShape = {
            ...store,
            [method]: (key: string, ...rest: Array<any>) =>
              key === "s1:notify" && failures-- > 0 ? down(method) : (store[method] as any)(key, ...rest)
          }
          const dispatcher = yield* Dispatcher.make({
            concurrency: 1,
            leaseMillis: 10_000,
            retry: { attemptsPerClaim: 1 }
          }).pipe(Effect.provideService(Store.Store, flaky))
          expect(yield* Effect.either(dispatcher.tick)).toEqual(Either.right(3))
          expect(calls).toEqual(["s1:notify", "s2:notify", "s3:notify"])
          expect(yield* store.isDone("s2:notify")).toBe(true)
          expect(yield* store.isDone("s3:notify")).toBe(true)
          // Not settled: still leased, so nobody claims it before its lease ends…
          expect(yield* store.isDone("s1:notify")).toBe(false)
          expect(yield* DeadLetters.list()).toEqual([])
          expect(logged.filter((l) => l.includes("s1:notify"))).toHaveLength(1)
          expect(yield* dispatcher.tick).toBe(0)
          // …then it is claimed again and settled.
          yield* TestClock.adjust("10 seconds")
          yield* dispatcher.drain({ maxIdleMillis: 60_000 })
          if (answer === "Invalid") {
            expect((yield* DeadLetters.list()).map((l) => l.id)).toEqual(["s1:notify"])
          } else {
            expect(yield* store.isDone("s1:notify")).toBe(true)
          }
        }).pipe(
          Effect.provide(
            Logger.add(
              Logger.make(({ logLevel, message }) => {
                if (logLevel._tag === "Warning") logged.push(JSON.stringify(message))
              })
            )
          )
        )
      )
    })
  }
})

describe("dispatcher waits for the half-open trial call", () => {
  const down = () => failure("Transport")
  const claimOf = Effect.map(Effect.serviceOption(Dispatcher.Attempt), Option.match({ onNone: () => 0, onSome: (a) => a.claim }))
  const claimsOf = (store: MemoryStoreType.MemoryStore) =>
    Object.fromEntries([...store.internals.outbox.values()].map((e) => [e.action.key, [e.action.attempts, e.action.claims]]))

  it.effect("the actions waiting for the trial call are not given back and claimed again: they call once it answers, on their first claim", () => {
    const calls: Array<[number, string, number]> = []
    const notifier: Notifier.NotifierShape = {
      notify: (request) =>
        Effect.gen(function* () {
          calls.push([yield* Clock.currentTimeMillis, request.key, yield* claimOf])
          yield* Effect.sleep("1 second")
          // The target is down for the first call only.
          if (calls.length === 1) return yield* Effect.fail(down())
        })
    }
    return withStore(Layer.succeed(Notifier.Notifier, notifier), (store) =>
      Effect.gen(function* () {
        yield* enqueueMany(store, ["s0"])
        const dispatcher = yield* Dispatcher.make({
          concurrency: 4,
          breaker: { threshold: 1, openMillis: 5000 },
          retry: { base: "10 millis", cap: "10 millis", attemptsPerClaim: 1 }
        })
        const first = yield* Effect.fork(dispatcher.tick)
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(first)
        // Open from 1 s to 6 s; three more actions come in when it is over.
        yield* TestClock.adjust("5 seconds")
        yield* enqueueMany(store, ["s1", "s2", "s3"])
        const second = yield* Effect.fork(dispatcher.tick)
        for (let i = 0; i < 4; i++) yield* TestClock.adjust("1 second")
        expect(yield* Fiber.join(second)).toBe(4)
        // s0 tries the target at 6 s; the others wait in their lease for its answer and call at 7 s.
        expect(calls).toEqual([
          [0, "s0:notify", 1],
          [6000, "s0:notify", 2],
          [7000, "s1:notify", 1],
          [7000, "s2:notify", 1],
          [7000, "s3:notify", 1]
        ])
        for (const s of ["s0", "s1", "s2", "s3"]) expect(yield* store.isDone(`${s}:notify`)).toBe(true)
      })
    )
  })

  it.effect("with openMillis 0 and a target that fails at once, the waiting actions are not claimed over and over", () => {
    const far = scripted(Array.from({ length: 10_000 }, () => down()))
    return withStore(far.layer, (store) =>
      Effect.gen(function* () {
        yield* enqueueMany(store, ["s1", "s2", "s3", "s4", "s5", "s6"])
        const dispatcher = yield* Dispatcher.make({
          concurrency: 6,
          breaker: { threshold: 2, openMillis: 0 },
          retry: { base: "100 millis", cap: "100 millis", attemptsPerClaim: 1, maxAttempts: 1000 }
        })
        const fiber = yield* Effect.fork(dispatcher.run)
        for (let i = 0; i < 20; i++) yield* TestClock.adjust("100 millis")
        yield* Fiber.interrupt(fiber)
        // Every claim made a call: none was spent on waiting for another action's trial call.
        for (const [key, [attempts, claims]] of Object.entries(claimsOf(store))) {
          expect({ key, claims }).toEqual({ key, claims: attempts })
        }
        expect(far.calls.length).toBeLessThanOrEqual(6 * 21)
      })
    )
  })

  it.effect("an action waits for the trial call at most maxWaitInLease, then gives its lease back", () => {
    const calls: Array<[number, string]> = []
    const notifier: Notifier.NotifierShape = {
      notify: (request) =>
        Effect.gen(function* () {
          calls.push([yield* Clock.currentTimeMillis, request.key])
          // The trial call hangs for 30 s.
          yield* Effect.sleep(calls.length === 2 ? "30 seconds" : "1 second")
          return yield* Effect.fail(down())
        })
    }
    return withStore(Layer.succeed(Notifier.Notifier, notifier), (store) =>
      Effect.gen(function* () {
        yield* enqueueMany(store, ["s0"])
        const dispatcher = yield* Dispatcher.make({
          concurrency: 4,
          breaker: { threshold: 1, openMillis: 5000 },
          retry: { base: "10 millis", cap: "10 millis", attemptsPerClaim: 1, maxWaitInLease: "2 seconds" }
        })
        const first = yield* Effect.fork(dispatcher.tick)
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(first)
        yield* TestClock.adjust("5 seconds")
        yield* enqueueMany(store, ["s1"])
        const second = yield* Effect.fork(dispatcher.tick)
        yield* TestClock.adjust("3 seconds")
        // s0's trial call is still under way at 9 s; s1 stopped waiting at 8 s and is due again a moment later.
        const s1 = store.internals.outbox.get("s1:notify")!.action
        expect(s1).toMatchObject({ attempts: 0, claims: 1 })
        expect(s1.availableAt).toBe(9000)
        expect(calls).toEqual([[0, "s0:notify"], [6000, "s0:notify"]])
        yield* TestClock.adjust("30 seconds")
        yield* Fiber.join(second)
      })
    )
  })
})
