/**
 * The conformance suite every `Transport` driver must pass. It registers vitest tests; a
 * driver package runs it from one of its own test files:
 *
 * ```ts
 * import { TransportSuite } from "@waybill/core/testing"
 * TransportSuite.run("RedisTransport", RedisTransport.make({ url, prefix: `test:${crypto.randomUUID()}` }))
 * ```
 *
 * `make` is run once per test in the test's scope. Visibility timeouts are exercised with real
 * (short) waits, because a server-side transport measures idle time with its own clock.
 *
 * @since 0.1.0
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Transport from "../Transport.js"

const options = (extra: Partial<Transport.ReceiveOptions> = {}): Transport.ReceiveOptions => ({
  max: 100,
  visibilityMillis: 10_000,
  waitMillis: 0,
  maxDeliveries: 5,
  ...extra
})

/**
 * Registers the suite.
 *
 * @since 0.1.0
 */
export const run = <E>(name: string, make: Effect.Effect<Transport.TransportShape, E, Scope.Scope>): void => {
  const test = (title: string, body: (transport: Transport.TransportShape) => Effect.Effect<void, unknown>) =>
    it.live(title, () => Effect.scoped(Effect.flatMap(make, body)).pipe(Effect.orDie), 30_000)

  describe(`${name} conforms to Transport`, () => {
    test("delivers every published message once to a group until acknowledged", (t) =>
      Effect.gen(function* () {
        const ids = yield* t.publish("orders", [
          { key: "s1", body: "{\"n\":1}" },
          { key: "s2", body: "{\"n\":2}" },
          { key: "s1", body: "{\"n\":3}" }
        ])
        expect(new Set(ids).size).toBe(3)
        const got = yield* t.receive("orders", "g", "c1", options())
        expect(got.map((d) => [d.key, d.body, d.deliveries])).toEqual([
          ["s1", "{\"n\":1}", 1],
          ["s2", "{\"n\":2}", 1],
          ["s1", "{\"n\":3}", 1]
        ])
        expect(got.map((d) => d.id)).toEqual(ids)
        expect(yield* t.receive("orders", "g", "c2", options())).toEqual([])
        expect(yield* t.pending("orders", "g")).toBe(3)
        yield* t.ack("orders", "g", ids)
        yield* t.ack("orders", "g", ids) // again: no-op
        yield* t.ack("orders", "g", ["unknown-id"])
        expect(yield* t.pending("orders", "g")).toBe(0)
      }))

    test("every group gets every message", (t) =>
      Effect.gen(function* () {
        yield* t.receive("events", "a", "c", options()) // group a exists before publishing
        yield* t.publish("events", [{ key: "k", body: "1" }, { key: "k", body: "2" }])
        const a = yield* t.receive("events", "a", "c", options())
        const b = yield* t.receive("events", "b", "c", options())
        expect(a.map((d) => d.body)).toEqual(["1", "2"])
        expect(b.map((d) => d.body)).toEqual(["1", "2"])
      }))

    test("redelivers what was not acknowledged within the visibility timeout", (t) =>
      Effect.gen(function* () {
        yield* t.publish("jobs", [{ key: "k", body: "x" }, { key: "k", body: "y" }])
        const first = yield* t.receive("jobs", "g", "c1", options({ visibilityMillis: 300 }))
        expect(first.map((d) => d.deliveries)).toEqual([1, 1])
        yield* t.ack("jobs", "g", [first[0]!.id])
        expect(yield* t.receive("jobs", "g", "c2", options({ visibilityMillis: 300 }))).toEqual([])
        yield* Effect.sleep("450 millis")
        const again = yield* t.receive("jobs", "g", "c2", options({ visibilityMillis: 300 }))
        expect(again.map((d) => [d.id, d.body, d.deliveries])).toEqual([[first[1]!.id, "y", 2]])
      }))

    test("moves a message delivered too often to the dead letters", (t) =>
      Effect.gen(function* () {
        yield* t.publish("poison", [{ key: "k", body: "bad" }])
        for (let i = 1; i <= 2; i++) {
          const got = yield* t.receive("poison", "g", "c", options({ visibilityMillis: 100, maxDeliveries: 2 }))
          expect(got.map((d) => d.deliveries)).toEqual([i])
          yield* Effect.sleep("180 millis")
        }
        expect(yield* t.receive("poison", "g", "c", options({ visibilityMillis: 100, maxDeliveries: 2 }))).toEqual([])
        const dead = yield* t.deadLetters("poison", "g", 10)
        expect(dead.map((d) => [d.body, d.deliveries])).toEqual([["bad", 2]])
        expect(yield* t.pending("poison", "g")).toBe(0)
        // Kept elsewhere, a dead letter is dropped by its message id; again, nothing happens.
        expect(yield* t.dropDeadLetters("poison", "g", [dead[0]!.id, "no-such-id"])).toBe(1)
        expect(yield* t.deadLetters("poison", "g", 10)).toEqual([])
        expect(yield* t.dropDeadLetters("poison", "g", [dead[0]!.id])).toBe(0)
      }))

    test("an ack after the message was moved to the dead letters changes nothing; one before keeps it out of them", (t) =>
      Effect.gen(function* () {
        const o = options({ visibilityMillis: 100, maxDeliveries: 1 })
        const [late, early] = yield* t.publish("given-up", [{ key: "k", body: "late" }, { key: "k", body: "early" }])
        expect((yield* t.receive("given-up", "g", "c1", o)).map((d) => [d.id, d.deliveries])).toEqual([[late, 1], [early, 1]])
        // Acknowledged within its lease: never dead-lettered, however long one waits.
        yield* t.ack("given-up", "g", [early!])
        yield* Effect.sleep("180 millis")
        // The other one's lease ran out on its last delivery: the next receive gives it up.
        expect(yield* t.receive("given-up", "g", "c2", o)).toEqual([])
        expect((yield* t.deadLetters("given-up", "g", 10)).map((d) => [d.id, d.body, d.deliveries])).toEqual([[late, "late", 1]])
        // Its first consumer finishes late and acknowledges it: a no-op. The dead letter stays
        // (it is dropped by whoever keeps it elsewhere) and the message is not delivered again.
        yield* t.ack("given-up", "g", [late!])
        yield* Effect.sleep("180 millis")
        expect(yield* t.receive("given-up", "g", "c1", o)).toEqual([])
        expect((yield* t.deadLetters("given-up", "g", 10)).map((d) => d.id)).toEqual([late])
        expect(yield* t.pending("given-up", "g")).toBe(0)
        expect(yield* t.dropDeadLetters("given-up", "g", [late!])).toBe(1)
        yield* t.ack("given-up", "g", [late!])
        expect(yield* t.deadLetters("given-up", "g", 10)).toEqual([])
        expect(yield* t.receive("given-up", "g", "c1", o)).toEqual([])
      }))

    test("a consumer that renews its lease keeps its message, with no delivery counted (drivers with extend)", (t) =>
      Effect.gen(function* () {
        const extend = t.extend
        if (extend === undefined) return
        const o = options({ visibilityMillis: 300 })
        yield* t.publish("lease", [{ key: "k", body: "x" }])
        const [first] = yield* t.receive("lease", "g", "c1", o)
        for (let i = 0; i < 3; i++) {
          yield* Effect.sleep("150 millis")
          yield* extend("lease", "g", "c1", [first!.id], 300)
        }
        // Longer than the visibility timeout since it was handed out, but renewed all along.
        expect(yield* t.receive("lease", "g", "c2", o)).toEqual([])
        yield* Effect.sleep("450 millis")
        // No longer renewed: delivered again, and the renewals counted no delivery.
        const again = yield* t.receive("lease", "g", "c2", o)
        expect(again.map((d) => [d.id, d.body, d.deliveries])).toEqual([[first!.id, "x", 2]])
        // c1 no longer holds it: its renewal changes nothing (nor does one of an unknown id).
        yield* extend("lease", "g", "c1", [first!.id, "no-such-id"], 10_000)
        yield* Effect.sleep("450 millis")
        const third = yield* t.receive("lease", "g", "c3", o)
        expect(third.map((d) => [d.id, d.deliveries])).toEqual([[first!.id, 3]])
        yield* t.ack("lease", "g", [first!.id])
        yield* extend("lease", "g", "c3", [first!.id], 10_000) // acknowledged: nothing to renew
        expect(yield* t.pending("lease", "g")).toBe(0)
      }))

    test("concurrent consumers of a group never hold the same message at once", (t) =>
      Effect.gen(function* () {
        const messages = Array.from({ length: 200 }, (_, i) => ({ key: `k${i % 7}`, body: `${i}` }))
        yield* t.publish("work", messages)
        const seen: Array<string> = []
        yield* Effect.forEach(
          ["c1", "c2", "c3", "c4"],
          (consumer) =>
            Effect.gen(function* () {
              while (true) {
                const got = yield* t.receive("work", "g", consumer, options({ max: 13 }))
                if (got.length === 0) return
                for (const d of got) seen.push(d.body)
                yield* t.ack("work", "g", got.map((d) => d.id))
              }
            }),
          { concurrency: "unbounded", discard: true }
        )
        expect(seen.length).toBe(200)
        expect(new Set(seen).size).toBe(200)
      }))
  })
}
