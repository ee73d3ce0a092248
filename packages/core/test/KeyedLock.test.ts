import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scheduler from "effect/Scheduler"
import * as TestClock from "effect/TestClock"
import { KeyedLock } from "../src/index.js"

/** A scheduler that makes its fiber yield once, at its `at`-th step, and holds every task until flushed. */
class YieldOnce implements Scheduler.Scheduler {
  private steps = 0
  private readonly parked: Array<() => void> = []
  constructor(private readonly at: number) {}
  shouldYield(): number | false {
    return ++this.steps === this.at ? 0 : false
  }
  scheduleTask(task: () => void): void {
    this.parked.push(task)
  }
  flush(): void {
    while (this.parked.length > 0) this.parked.shift()!()
  }
}

describe("KeyedLock", () => {
  it.effect("runs work on one key one at a time, in order, and other keys in parallel", () =>
    Effect.gen(function* () {
      const lock = KeyedLock.make()
      const log: Array<string> = []
      const job = (key: string, name: string) =>
        lock.withLock(
          key,
          Effect.gen(function* () {
            log.push(`${name}+`)
            yield* Effect.sleep("10 millis")
            log.push(`${name}-`)
          })
        )
      const fiber = yield* Effect.fork(
        Effect.all([job("a", "a1"), job("a", "a2"), job("b", "b1"), job("a", "a3")], { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(fiber)
      expect(log.filter((l) => l.startsWith("a"))).toEqual(["a1+", "a1-", "a2+", "a2-", "a3+", "a3-"])
      expect(log.indexOf("b1+")).toBeLessThan(log.indexOf("a1-"))
      expect(lock.size()).toBe(0)
    })
  )

  it.effect("an interrupted waiter leaves the queue; a failing holder releases the lock", () =>
    Effect.gen(function* () {
      const lock = KeyedLock.make()
      const holder = yield* Effect.fork(lock.withLock("k", Effect.sleep("50 millis")))
      yield* Effect.yieldNow()
      const waiter = yield* Effect.fork(lock.withLock("k", Effect.succeed("never")))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(waiter)
      yield* TestClock.adjust("60 millis")
      yield* Fiber.join(holder)
      expect(lock.size()).toBe(0)
      const failed = yield* Effect.either(lock.withLock("k", Effect.fail("boom")))
      expect(failed._tag).toBe("Left")
      expect(yield* lock.withLock("k", Effect.succeed(42))).toBe(42)
      expect(lock.size()).toBe(0)
    })
  )

  it.effect("a waiter interrupted while the lock is handed to it passes the lock on", () =>
    Effect.gen(function* () {
      // The holder releases after the waiter's interruption is already on its way: the lock is
      // handed to a fiber that then dies before it runs. It must pass the lock on, or the key
      // stays held forever (a Dispatcher stalled this way after a storage failure interrupted
      // its batch).
      for (const lock of [KeyedLock.make(), KeyedLock.make()]) {
        const self = yield* Effect.fiberId
        let waiter: Fiber.RuntimeFiber<void> | undefined
        yield* lock.withLock(
          "k",
          Effect.gen(function* () {
            waiter = yield* Effect.fork(lock.withLock("k", Effect.void))
            yield* Effect.yieldNow()
            waiter.unsafeInterruptAsFork(self)
          })
        )
        const exit = yield* Fiber.await(waiter!)
        expect(exit._tag).toBe("Failure")
        expect(lock.size()).toBe(0)
        expect(yield* lock.withLock("k", Effect.succeed(42))).toBe(42)
        // The same through withLocks.
        let waiters: Fiber.RuntimeFiber<void> | undefined
        yield* lock.withLocks(
          ["k", "j"],
          Effect.gen(function* () {
            waiters = yield* Effect.fork(lock.withLocks(["j", "k"], Effect.void))
            yield* Effect.yieldNow()
            waiters.unsafeInterruptAsFork(self)
          })
        )
        yield* Fiber.await(waiters!)
        expect(lock.size()).toBe(0)
      }
    })
  )

  it.effect("withLocks holds several keys at once, in sorted order, without deadlock", () =>
    Effect.gen(function* () {
      const lock = KeyedLock.make()
      const holding = new Set<string>()
      let overlaps = 0
      const job = (keys: ReadonlyArray<string>) =>
        lock.withLocks(
          keys,
          Effect.gen(function* () {
            for (const k of keys) if (holding.has(k)) overlaps++
            for (const k of keys) holding.add(k)
            yield* Effect.sleep("10 millis")
            for (const k of keys) holding.delete(k)
          })
        )
      // Opposite orders and overlapping sets: with unordered acquisition these would deadlock.
      const jobs = [["a", "b"], ["b", "a"], ["c", "a"], ["b", "c"], ["d"], ["a", "a", "d"], ["c", "b", "a"]]
      const fiber = yield* Effect.fork(Effect.all(jobs.map(job), { concurrency: "unbounded" }))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      expect(overlaps).toBe(0)
      expect(lock.size()).toBe(0)
      // Single-key and multi-key callers exclude each other.
      const log: Array<string> = []
      const a = yield* Effect.fork(lock.withLocks(["x", "y"], Effect.zipRight(Effect.sleep("10 millis"), Effect.sync(() => log.push("xy")))))
      yield* Effect.yieldNow()
      const b = yield* Effect.fork(lock.withLock("y", Effect.sync(() => log.push("y"))))
      yield* TestClock.adjust("20 millis")
      yield* Fiber.join(a)
      yield* Fiber.join(b)
      expect(log).toEqual(["xy", "y"])
      expect(lock.size()).toBe(0)
    })
  )

  it.effect("withLocks: an interrupted waiter gives back the keys it already took", () =>
    Effect.gen(function* () {
      const lock = KeyedLock.make()
      const holder = yield* Effect.fork(lock.withLock("b", Effect.sleep("50 millis")))
      yield* Effect.yieldNow()
      // Takes "a", then waits for "b".
      const waiter = yield* Effect.fork(lock.withLocks(["b", "a"], Effect.succeed("never")))
      yield* Effect.yieldNow()
      expect(lock.size()).toBe(2)
      yield* Fiber.interrupt(waiter)
      // "a" is free again at once.
      expect(yield* lock.withLock("a", Effect.succeed(1))).toBe(1)
      yield* TestClock.adjust("60 millis")
      yield* Fiber.join(holder)
      expect(lock.size()).toBe(0)
      expect(yield* lock.withLocks([], Effect.succeed(2))).toBe(2)
    })
  )

  it.effect("a waiter interrupted at a yield between joining the queue and its canceler leaves the queue", () =>
    Effect.gen(function* () {
      // `Effect.async` registers the waiter before its canceler is in place; a fiber that yields
      // there (every 2048 steps by default) and is interrupted meanwhile never runs the canceler.
      // Its entry must not stay in the queue: the key would be handed to a fiber that is gone, and
      // stay held forever. Every step of the waiter is tried as the yield point.
      const self = yield* Effect.fiberId
      const leaked: Array<string> = []
      for (const keys of [["k"], ["j", "k"]]) {
        for (let at = 1; at <= 80; at++) {
          const lock = KeyedLock.make()
          let release!: () => void
          const holder = yield* Effect.fork(lock.withLock("k", Effect.async<void>((resume) => void (release = () => resume(Effect.void)))))
          yield* Effect.yieldNow()
          const scheduler = new YieldOnce(at)
          const waiter = yield* Effect.fork(Effect.withScheduler(lock.withLocks(keys, Effect.void), scheduler))
          for (let i = 0; i < 3; i++) yield* Effect.yieldNow()
          waiter.unsafeInterruptAsFork(self)
          while ((yield* Fiber.poll(waiter))._tag === "None") {
            scheduler.flush()
            yield* Effect.yieldNow()
          }
          release()
          yield* Fiber.join(holder)
          const next = yield* Effect.fork(lock.withLocks(keys, Effect.void))
          yield* Effect.yieldNow()
          if ((yield* Fiber.poll(next))._tag === "None" || lock.size() !== 0) {
            leaked.push(`${keys.join("+")} at step ${at}`)
            yield* Fiber.interrupt(next)
          }
        }
      }
      expect(leaked).toEqual([])
    })
  )

  it.effect("a holder interrupted while it holds its keys hands each to the next waiter, in order; nothing stays held", () =>
    Effect.gen(function* () {
      const lock = KeyedLock.make()
      const log: Array<string> = []
      const job = (keys: ReadonlyArray<string>, name: string) =>
        lock.withLocks(keys, Effect.zipRight(Effect.sync(() => log.push(name)), Effect.sleep("10 millis")))
      // Holds both keys and never finishes by itself (a shipment whose commit hangs at stop()).
      const holder = yield* Effect.fork(lock.withLocks(["a", "b"], Effect.never))
      yield* Effect.yieldNow()
      const waiters = yield* Effect.fork(
        Effect.all([job(["a"], "a1"), job(["b", "a"], "ab"), job(["b"], "b1"), job(["a"], "a2")], { concurrency: "unbounded" })
      )
      yield* Effect.yieldNow()
      expect(log).toEqual([])
      yield* Fiber.interrupt(holder)
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(waiters)
      // a1 and b1 get their keys at once; ab (queued for "a", then "b") after both; a2 last.
      expect(log).toEqual(["a1", "b1", "ab", "a2"])
      expect(lock.size()).toBe(0)
    })
  )
})
