/**
 * The write coalescer under interruption: the fiber writing a merged batch writes for every
 * caller that joined it, so its interruption must not end the others as interrupted (a
 * dispatcher's action fiber would stop without a retry); and a joiner that is interrupted must not
 * disturb the write of the others.
 */
import { describe, expect, it } from "@effect/vitest"
import { KeyedLock } from "@waybill/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Coalescer from "../src/internal/Coalescer.js"

type Values = Readonly<Record<string, unknown>>

/**
 * A coalescer whose flushes are recorded and park until released: `calls[i]` is the i-th
 * flush's values, `release(i)` lets it succeed.
 */
const setup = Effect.gen(function*() {
  const lock = KeyedLock.make()
  const calls: Array<Values> = []
  const gates: Array<Deferred.Deferred<void>> = []
  const gate = (i: number) =>
    Effect.suspend(() => {
      while (gates.length <= i) gates.push(Deferred.unsafeMake<void>(FiberId.none))
      return Effect.succeed(gates[i]!)
    })
  const writes = Coalescer.coalescer<string>(lock, (_key, values) =>
    Effect.suspend(() => {
      const i = calls.length
      calls.push({ ...values })
      return Effect.flatMap(gate(i), Deferred.await)
    }))
  const release = (i: number) => Effect.flatMap(gate(i), (g) => Deferred.succeed(g, undefined))
  /** Yields until `calls` has `n` entries. */
  const flushes = (n: number) =>
    Effect.gen(function*() {
      for (let spins = 0; calls.length < n; spins++) {
        if (spins > 1_000) return yield* Effect.dieMessage(`expected ${n} flushes, saw ${calls.length}`)
        yield* Effect.yieldNow()
      }
    })
  /** Holds `key`'s lock until the returned effect runs, so writes queued meanwhile merge into one batch. */
  const hold = (key: string) =>
    Effect.gen(function*() {
      const open = yield* Deferred.make<void>()
      const taken = yield* Deferred.make<void>()
      yield* Effect.fork(lock.withLock(key, Effect.zipRight(Deferred.succeed(taken, undefined), Deferred.await(open))))
      yield* Deferred.await(taken)
      return Deferred.succeed(open, undefined)
    })
  return { writes, calls, release, flushes, hold }
})

const settle = Effect.repeatN(Effect.yieldNow(), 50)

describe("Coalescer under interruption", () => {
  it.effect("a joiner of a merged batch whose writer is interrupted mid-write gets its write done", () =>
    Effect.gen(function*() {
      const { calls, flushes, hold, release, writes } = yield* setup
      const unhold = yield* hold("r")
      const a = yield* Effect.fork(writes.write("r", { a: 1, x: "A" }))
      yield* settle
      const b = yield* Effect.fork(writes.write("r", { b: 2, x: "B" }))
      yield* settle
      yield* unhold
      yield* flushes(1)
      expect(calls[0]).toEqual({ a: 1, b: 2, x: "B" }) // A writes A's and B's values in one call

      yield* Fiber.interrupt(a) // A is stopped while the server has not answered
      yield* settle
      expect(yield* Fiber.poll(b)).toEqual(Option.none()) // B is still on its write, not ended
      yield* flushes(2) // B takes the batch over
      expect(calls[1]).toEqual({ a: 1, b: 2, x: "B" })
      yield* release(1)
      const exit = yield* Fiber.await(b)
      expect(Exit.isInterrupted(exit)).toBe(false)
      expect(exit).toEqual(Exit.void)
      yield* release(0)
      yield* settle
      expect(calls).toHaveLength(2)
    }))

  it.effect("the taken-over batch merges with writes queued meanwhile, later values winning", () =>
    Effect.gen(function*() {
      const { calls, flushes, hold, release, writes } = yield* setup
      const unhold = yield* hold("r")
      const a = yield* Effect.fork(writes.write("r", { x: "A", a: 1 }))
      yield* settle
      const b = yield* Effect.fork(writes.write("r", { x: "B", b: 2 }))
      yield* settle
      yield* unhold
      yield* flushes(1)
      const c = yield* Effect.fork(writes.write("r", { x: "C", c: 3 })) // queued behind A's write
      yield* settle
      yield* Fiber.interrupt(a)
      yield* flushes(2)
      expect(calls[1]).toEqual({ x: "C", a: 1, b: 2, c: 3 })
      yield* release(1)
      expect(yield* Fiber.await(b)).toEqual(Exit.void)
      expect(yield* Fiber.await(c)).toEqual(Exit.void)
      yield* settle
      expect(calls).toHaveLength(2)
    }))

  it.effect("a taker-over interrupted in turn hands the batch on to the caller still waiting", () =>
    Effect.gen(function*() {
      const { calls, flushes, hold, release, writes } = yield* setup
      const unhold = yield* hold("r")
      const fibers = []
      for (const [i, name] of ["a", "b", "c"].entries()) {
        fibers.push(yield* Effect.fork(writes.write("r", { [name]: i })))
        yield* settle
      }
      const [a, b, c] = fibers as [typeof fibers[0], typeof fibers[0], typeof fibers[0]]
      yield* unhold
      yield* flushes(1)
      yield* Fiber.interrupt(a)
      yield* flushes(2)
      yield* Fiber.interrupt(b) // B (first in the lock's queue) took over; C takes over from B
      yield* flushes(3)
      yield* release(2)
      expect(yield* Fiber.await(c)).toEqual(Exit.void)
      expect(calls).toEqual([{ a: 0, b: 1, c: 2 }, { a: 0, b: 1, c: 2 }, { a: 0, b: 1, c: 2 }])
    }))

  it.effect("a writer interrupted after every joiner left leaves nothing behind for the next write", () =>
    Effect.gen(function*() {
      const { calls, flushes, hold, release, writes } = yield* setup
      const unhold = yield* hold("r")
      const a = yield* Effect.fork(writes.write("r", { a: 1 }))
      yield* settle
      const b = yield* Effect.fork(writes.write("r", { b: 2 }))
      yield* settle
      yield* unhold
      yield* flushes(1)
      yield* Fiber.interrupt(b)
      yield* Fiber.interrupt(a)
      const d = yield* Effect.fork(writes.write("r", { d: 4 }))
      yield* flushes(2)
      yield* release(1)
      expect(yield* Fiber.await(d)).toEqual(Exit.void)
      expect(calls).toEqual([{ a: 1, b: 2 }, { d: 4 }])
    }))

  it.effect("a joiner interrupted while the writer writes does not disturb the write", () =>
    Effect.gen(function*() {
      const { calls, flushes, hold, release, writes } = yield* setup
      const unhold = yield* hold("r")
      const a = yield* Effect.fork(writes.write("r", { a: 1 }))
      yield* settle
      const b = yield* Effect.fork(writes.write("r", { b: 2 }))
      yield* settle
      yield* unhold
      yield* flushes(1)
      expect(Exit.isInterrupted(yield* Fiber.interrupt(b))).toBe(true)
      yield* release(0)
      expect(yield* Fiber.await(a)).toEqual(Exit.void)
      expect(calls).toEqual([{ a: 1, b: 2 }])
      // the next write is a batch of its own
      const d = yield* Effect.fork(writes.write("r", { d: 4 }))
      yield* flushes(2)
      yield* release(1)
      expect(yield* Fiber.await(d)).toEqual(Exit.void)
      expect(calls[1]).toEqual({ d: 4 })
    }))

  it.effect("a lone writer interrupted mid-write leaves nothing behind for the next write", () =>
    Effect.gen(function*() {
      const { calls, flushes, release, writes } = yield* setup
      const a = yield* Effect.fork(writes.write("r", { a: 1 }))
      yield* flushes(1)
      yield* Fiber.interrupt(a)
      const d = yield* Effect.fork(writes.write("r", { d: 4 }))
      yield* flushes(2)
      yield* release(1)
      expect(yield* Fiber.await(d)).toEqual(Exit.void)
      expect(calls).toEqual([{ a: 1 }, { d: 4 }])
    }))

  it.effect("a writer's failure reaches every joiner, once", () =>
    Effect.gen(function*() {
      const lock = KeyedLock.make()
      let flushCount = 0
      const writes = Coalescer.coalescer<string>(lock, () => Effect.suspend(() => (flushCount++, Effect.fail("Conflict"))))
      const open = yield* Deferred.make<void>()
      yield* Effect.fork(lock.withLock("r", Deferred.await(open)))
      yield* settle
      const a = yield* Effect.fork(writes.write("r", { a: 1 }))
      const b = yield* Effect.fork(writes.write("r", { b: 2 }))
      yield* settle
      yield* Deferred.succeed(open, undefined)
      expect(yield* Fiber.await(a)).toEqual(Exit.fail("Conflict"))
      expect(yield* Fiber.await(b)).toEqual(Exit.fail("Conflict"))
      expect(flushCount).toBe(1)
    }))
})
