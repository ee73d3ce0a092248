import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import { KeyedLock } from "../src/index.js"

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
})
