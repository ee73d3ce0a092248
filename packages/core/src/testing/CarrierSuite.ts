/**
 * The promises every HTTP carrier adapter must keep, checked against its vendor fake (an
 * `HttpFake`, so the adapter's real HTTP client runs). It registers vitest tests; an adapter
 * package runs it from one of its own test files:
 *
 * ```ts
 * import { CarrierSuite } from "@waybill/core/testing"
 * CarrierSuite.run("AcmeCarrier", setup) // setup: a fake, and a port built against it
 * ```
 *
 * The cases: the port's `source`; `createTracker` registers a number and registering it again
 * returns the same tracker; 429 is `RateLimited` with `retryAfterMillis` from `Retry-After`,
 * 5xx is `Unavailable`, both retryable, and the next call succeeds; a call left hanging fails
 * with `Timeout` when the clock passes the port's timeout, not before; a webhook the fake signs
 * and posts to a host's ingress is parsed (202), one signed with another secret is refused
 * (401); a tampered or unsigned one never parses (`Unauthorized`).
 *
 * `setup` runs once per test, in the test's scope. Build the port the way hosts will (e.g.
 * with the adapter's `layerConfig`), so the suite covers that path too.
 *
 * @since 0.1.0
 */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import type * as CarrierPort from "../CarrierPort.js"
import * as Instant from "../Instant.js"
import * as PortError from "../PortError.js"
import * as HttpFake from "../simulation/HttpFake.js"

/**
 * The faults the suite injects: every vendor fake answers these in the vendor's own error shape.
 *
 * @since 0.1.0
 */
export type Fault =
  | { readonly _tag: "RateLimited"; readonly retryAfter?: string | undefined }
  | { readonly _tag: "ServerError"; readonly status?: number | undefined }
  | HttpFake.Fault

/**
 * What the suite needs for one test.
 *
 * @since 0.1.0
 */
export interface Setup {
  /** The port, talking to `fake`. */
  readonly port: CarrierPort.CarrierPortShape
  /** The vendor fake the port talks to. */
  readonly fake: HttpFake.HttpFake<Fault>
  /** The port's expected `source`. */
  readonly source: string
  /** The port's per-call timeout. */
  readonly timeout: Duration.DurationInput
  /** A tracker request the fake accepts. */
  readonly tracker: CarrierPort.CreateTracker
  /** The webhook body the vendor would send about a tracker it holds (by its external id). */
  readonly webhook: (externalId: string) => string
  /** How many observations that webhook about a new tracker yields (at least one). */
  readonly observations: number
  /** The signature headers the vendor sends with a body, for a secret. */
  readonly sign: (body: string, secret: string) => Readonly<Record<string, string>>
  /** POSTs a webhook signed with a secret to a URL as the vendor does (the fake's sender). */
  readonly send: (url: string, body: string, secret: string) => Effect.Effect<{ readonly status: number }, Error>
  /** The webhook secret the port was configured with. */
  readonly secret: string
}

/**
 * The typed failure of an exit; throws (failing the test) on a success, a defect or an
 * interruption.
 *
 * @since 0.1.0
 */
export const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`expected a typed failure: ${Cause.pretty(exit.cause)}`)
  return failure.value
}

/**
 * Registers the suite.
 *
 * @since 0.1.0
 */
export const run = <E>(name: string, setup: Effect.Effect<Setup, E, Scope.Scope>): void => {
  const test = (title: string, body: (s: Setup) => Effect.Effect<void, unknown, Scope.Scope>) =>
    it.scoped(title, () => Effect.flatMap(setup, body).pipe(Effect.orDie))

  const receivedAt = Instant.fromMillis(Date.UTC(2025, 0, 2, 12, 0, 0))
  const request = (body: string, headers: Readonly<Record<string, string>>): CarrierPort.InboundRequest => ({
    headers,
    body: new TextEncoder().encode(body),
    receivedAt
  })

  describe(`${name} conforms to CarrierPort`, () => {
    test("has its source; createTracker registers a number, and registering it again returns the same tracker", (s) =>
      Effect.gen(function*() {
        expect(s.port.source).toBe(s.source)
        const tracker = yield* s.port.createTracker(s.tracker)
        expect(tracker.trackingNumber).toBe(s.tracker.trackingNumber)
        expect(tracker.externalId.length).toBeGreaterThan(0)
        const again = yield* s.port.createTracker(s.tracker)
        expect(again.externalId).toBe(tracker.externalId)
        expect(s.fake.calls().length).toBeGreaterThanOrEqual(2)
        expect(s.fake.calls().every((c) => c.authorized)).toBe(true)
      }))

    test("429 is RateLimited with retryAfterMillis from Retry-After; 5xx is Unavailable; the next call succeeds", (s) =>
      Effect.gen(function*() {
        s.fake.failNext({ _tag: "RateLimited", retryAfter: "7" })
        const limited = failureOf(yield* Effect.exit(s.port.createTracker(s.tracker)))
        expect(limited).toBeInstanceOf(PortError.CarrierError)
        expect(limited).toMatchObject({ reason: "RateLimited", status: 429, retryAfterMillis: 7000 })
        expect(PortError.isRetryable(limited.reason)).toBe(true)
        for (const status of [500, 503]) {
          s.fake.failNext({ _tag: "ServerError", status })
          const down = failureOf(yield* Effect.exit(s.port.createTracker(s.tracker)))
          expect(down).toMatchObject({ reason: "Unavailable", status })
          expect(down.description.length).toBeGreaterThan(0)
        }
        const tracker = yield* s.port.createTracker(s.tracker)
        expect(tracker.trackingNumber).toBe(s.tracker.trackingNumber)
      }))

    test("a call left hanging fails with Timeout when the clock passes the timeout, not before", (s) =>
      Effect.gen(function*() {
        const timeout = Duration.decode(s.timeout)
        s.fake.failNext({ _tag: "Hang" })
        const fiber = yield* Effect.fork(Effect.exit(s.port.createTracker(s.tracker)))
        yield* s.fake.awaitCalls(1)
        yield* TestClock.adjust(Duration.subtract(timeout, Duration.millis(1)))
        expect(fiber.unsafePoll()).toBeNull()
        yield* TestClock.adjust(Duration.millis(1))
        const error = failureOf(yield* Fiber.join(fiber))
        expect(error).toMatchObject({ reason: "Timeout", description: `no answer within ${Duration.format(timeout)}` })
      }))

    test("a webhook the fake signs and posts to an ingress is parsed (202); one signed with another secret is refused (401)", (s) =>
      Effect.gen(function*() {
        const tracker = yield* s.port.createTracker(s.tracker)
        const received: Array<ReadonlyArray<CarrierPort.Observation>> = []
        const url = yield* HttpFake.ingress(
          (inbound) => Effect.map(s.port.parse(inbound), (observations) => received.push(observations)),
          { receivedAt: () => receivedAt }
        )
        const body = s.webhook(tracker.externalId)
        expect((yield* s.send(url, body, s.secret)).status).toBe(202)
        expect((yield* s.send(url, body, `not-${s.secret}`)).status).toBe(401)
        expect(received).toHaveLength(1)
        expect(received[0]).toHaveLength(s.observations)
        for (const o of received[0]!) {
          expect(o.trackingNumber).toBe(tracker.trackingNumber)
          expect(o.event.source).toBe(s.source)
        }
      }))

    test("a tampered or unsigned webhook never parses: Unauthorized from verify and from parse", (s) =>
      Effect.gen(function*() {
        const tracker = yield* s.port.createTracker(s.tracker)
        const body = s.webhook(tracker.externalId)
        const signed = request(body, s.sign(body, s.secret))
        yield* s.port.verify(signed)
        const tampered = request(`${body} `, signed.headers)
        for (const bad of [tampered, request(body, {})]) {
          expect(failureOf(yield* Effect.exit(s.port.verify(bad))).reason).toBe("Unauthorized")
          expect(failureOf(yield* Effect.exit(s.port.parse(bad))).reason).toBe("Unauthorized")
        }
      }))
  })
}
