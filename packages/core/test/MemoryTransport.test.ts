/**
 * What the memory transport adds to the conformance suite: it lets go of the messages every
 * group has read, and never of one a group still needs.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import * as MemoryTransport from "../src/MemoryTransport.js"
import type * as Transport from "../src/Transport.js"

const receive = (extra: Partial<Transport.ReceiveOptions> = {}): Transport.ReceiveOptions => ({
  max: 10_000,
  visibilityMillis: 10_000,
  waitMillis: 0,
  maxDeliveries: 5,
  ...extra
})

const messages = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ key: `k${(from + i) % 13}`, body: `${from + i}` }))

describe("MemoryTransport", () => {
  it.effect("lets go of the messages every group has read, never of one a group still needs", () =>
    Effect.gen(function* () {
      const t = yield* MemoryTransport.make
      yield* t.receive("orders", "fast", "c", receive())
      yield* t.receive("orders", "slow", "c", receive())
      yield* t.publish("orders", messages(0, 3000))
      const fast = yield* t.receive("orders", "fast", "c", receive())
      yield* t.ack("orders", "fast", fast.slice(10).map((d) => d.id))
      // The slow group holds everything back.
      const slow = yield* t.receive("orders", "slow", "c", receive({ max: 1500 }))
      yield* t.ack("orders", "slow", slow.map((d) => d.id))
      expect((yield* t.receive("orders", "slow", "c", receive())).map((d) => d.body)).toEqual(
        messages(1500, 1500).map((m) => m.body)
      )
      expect(yield* t.pending("orders", "fast")).toBe(10)
      expect(yield* t.pending("orders", "slow")).toBe(1500)
      // Both groups have read everything: a group created now finds nothing kept of it (a
      // long-running process does not keep every message it ever carried).
      expect(yield* t.receive("orders", "late", "c", receive())).toEqual([])
      yield* t.publish("orders", messages(3000, 5))
      expect((yield* t.receive("orders", "late", "c", receive())).map((d) => d.body)).toEqual(
        messages(3000, 5).map((m) => m.body)
      )
      // What a group has not acknowledged is still delivered again.
      yield* TestClock.adjust("11 seconds")
      expect((yield* t.receive("orders", "fast", "c", receive())).map((d) => [d.body, d.deliveries])).toEqual([
        ...fast.slice(0, 10).map((d) => [d.body, 2]),
        ...messages(3000, 5).map((m) => [m.body, 1])
      ])
    }))

  it.effect("a waiting receive wakes on a publish, and on a lease running out, not by polling", () =>
    Effect.gen(function* () {
      const t = yield* MemoryTransport.make
      const waiting = yield* Effect.fork(t.receive("orders", "g", "c", receive({ waitMillis: 60_000 })))
      yield* Effect.yieldNow()
      // No time passes: the publish itself hands the message over.
      yield* t.publish("orders", messages(0, 1))
      expect((yield* Fiber.join(waiting)).map((d) => d.body)).toEqual(["0"])
      // Unacknowledged, it is delivered again when its lease ends (10 s), not at the end of the
      // wait (60 s): the clock is moved only to the lease's end.
      const again = yield* Effect.fork(t.receive("orders", "g", "c", receive({ waitMillis: 60_000, visibilityMillis: 1_000 })))
      yield* Effect.yieldNow()
      yield* TestClock.adjust("10 seconds")
      const redelivered = yield* Fiber.join(again)
      expect(redelivered.map((d) => [d.body, d.deliveries])).toEqual([["0", 2]])
    }))
})
