/**
 * The conformance suite every `RateLimit.SharedRateLimit` driver must pass. It registers vitest
 * tests; a driver package runs it from one of its own test files, with two handles on one shared
 * state (two clients, as two processes have; the memory driver may give one instance twice):
 *
 * ```ts
 * import { RateLimitSuite } from "@waybill/core/testing"
 * RateLimitSuite.run("RedisRateLimit", Effect.all([RedisRateLimit.make({ url, prefix }), RedisRateLimit.make({ url, prefix })]))
 * ```
 *
 * `make` is run once per test in the test's scope. Windows are exercised with real (short)
 * waits, because a server-side driver measures time with its own clock; nothing asserts how fast
 * anything is, only what is admitted and what is refused.
 *
 * @since 0.2.0
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Scope from "effect/Scope"
import type * as RateLimit from "../RateLimit.js"

/**
 * Registers the suite.
 *
 * @since 0.2.0
 */
export const run = <E>(
  name: string,
  make: Effect.Effect<readonly [RateLimit.SharedRateLimitShape, RateLimit.SharedRateLimitShape], E, Scope.Scope>
): void => {
  const test = (
    title: string,
    body: (a: RateLimit.SharedRateLimitShape, b: RateLimit.SharedRateLimitShape) => Effect.Effect<void, unknown>
  ) => it.live(title, () => Effect.scoped(Effect.flatMap(make, ([a, b]) => body(a, b))).pipe(Effect.orDie), 30_000)

  // Long enough that a slow machine does not see a window slide between the takes of a test.
  const long = 60_000

  describe(`${name} conforms to SharedRateLimit`, () => {
    test("admits limit permits per window across both handles, then tells a wait within the interval", (a, b) =>
      Effect.gen(function* () {
        const answers = [
          yield* a.take("erp", 3, long),
          yield* b.take("erp", 3, long),
          yield* a.take("erp", 3, long),
          yield* b.take("erp", 3, long),
          yield* a.take("erp", 3, long)
        ]
        expect(answers.slice(0, 3)).toEqual([0, 0, 0])
        for (const wait of answers.slice(3)) {
          expect(Number.isInteger(wait)).toBe(true)
          expect(wait).toBeGreaterThan(0)
          expect(wait).toBeLessThanOrEqual(long)
        }
      }))

    test("concurrent takes from both handles admit exactly limit", (a, b) =>
      Effect.gen(function* () {
        const answers = yield* Effect.all(
          Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).take("helpdesk", 7, long)),
          { concurrency: "unbounded" }
        )
        expect(answers.filter((w) => w === 0)).toHaveLength(7)
        expect(answers.filter((w) => w > 0)).toHaveLength(33)
      }))

    test("targets have their own windows", (a, b) =>
      Effect.gen(function* () {
        expect(yield* a.take("erp", 1, long)).toBe(0)
        expect(yield* b.take("erp", 1, long)).toBeGreaterThan(0)
        expect(yield* b.take("notifier", 1, long)).toBe(0)
        expect(yield* a.take("notifier", 1, long)).toBeGreaterThan(0)
        expect(yield* a.take("erp:other", 1, long)).toBe(0)
      }))

    test("after the wait it tells, a take is admitted; the window slides permit by permit", (a, b) =>
      Effect.gen(function* () {
        const interval = 600
        expect(yield* a.take("erp", 2, interval)).toBe(0)
        yield* Effect.sleep("300 millis")
        expect(yield* b.take("erp", 2, interval)).toBe(0)
        const wait = yield* b.take("erp", 2, interval)
        // The first permit is at least 300 ms old: it leaves the window in at most 300 ms.
        expect(wait).toBeGreaterThan(0)
        expect(wait).toBeLessThanOrEqual(300)
        yield* Effect.sleep(`${wait + 5} millis`)
        // The first permit left the window, the second not yet (it was taken 300 ms later).
        expect(yield* a.take("erp", 2, interval)).toBe(0)
        const again = yield* b.take("erp", 2, interval)
        expect(again).toBeGreaterThan(0)
        expect(again).toBeLessThanOrEqual(interval)
      }))

    test("refuses a limit or an interval that is not a positive integer, naming which, and takes nothing", (a) =>
      Effect.gen(function* () {
        const cases: ReadonlyArray<readonly [number, number, string]> = [
          [0, 1000, "limit"],
          [-1, 1000, "limit"],
          [1.5, 1000, "limit"],
          [Number.NaN, 1000, "limit"],
          [Number.POSITIVE_INFINITY, 1000, "limit"],
          [1, 0, "intervalMillis"],
          [1, -5, "intervalMillis"],
          [1, 0.5, "intervalMillis"],
          [1, Number.NaN, "intervalMillis"],
          [1, Number.POSITIVE_INFINITY, "intervalMillis"]
        ]
        for (const [limit, interval, named] of cases) {
          const answer = yield* Effect.either(a.take("erp", limit, interval))
          expect(Either.isLeft(answer)).toBe(true)
          if (Either.isLeft(answer)) {
            expect(answer.left).toMatchObject({ _tag: "StorageError", reason: "Invalid" })
            expect(answer.left.description).toContain(named)
          }
        }
        // Nothing was taken: the window is whole.
        expect(yield* a.take("erp", 1, long)).toBe(0)
      }))

    test("a caller that lowers the limit waits until enough permits left the window", (a, b) =>
      Effect.gen(function* () {
        for (let i = 0; i < 4; i++) expect(yield* a.take("erp", 4, long)).toBe(0)
        const wait = yield* b.take("erp", 2, long)
        expect(wait).toBeGreaterThan(0)
        expect(wait).toBeLessThanOrEqual(long)
      }))
  })
}
