/**
 * Spans around a far side's call (`HttpFailure.guard`, `PortError.withSpan`) record a failure by
 * its reason, status and place, never the vendor's text, which can quote personal data; they
 * still end with a failure, and the caller gets the original error. Checked with a tracer that
 * keeps every span's end exit, as an exporter would see it.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import { HttpFailure, PortError } from "@waybill/core"

const street = "Flat 3, 12 Privet Drive"
const where = { module: "AcmeClient", method: "createTracker" }

interface Ended {
  readonly name: string
  readonly exit: Exit.Exit<unknown, unknown>
}

/** Runs `effect` with a tracer that records the end exit of every span. */
const traced = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const native = yield* Effect.tracer
    const ended: Array<Ended> = []
    const tracer = Tracer.make({
      span: (...args) => {
        const span = native.span(...args)
        const end = span.end.bind(span)
        span.end = (endTime, exit) => {
          ended.push({ name: span.name, exit })
          end(endTime, exit)
        }
        return span
      },
      context: (f, fiber) => native.context(f, fiber)
    })
    const exit = yield* Effect.exit(Effect.withTracer(effect, tracer))
    return { exit, ended }
  })

/** Everything an exporter could render of a span's failure. */
const rendered = (cause: Cause.Cause<unknown>): string =>
  [
    Cause.pretty(cause, { renderErrorCause: true }),
    ...Cause.prettyErrors(cause).map((e) =>
      `${e.name}: ${e.message}\n${e.stack ?? ""}\n${JSON.stringify(e, (k, v) => (k === "span" ? undefined : v))}`
    ),
    JSON.stringify(Cause.squash(cause))
  ].join("\n")

const vendorError = () =>
  new PortError.CarrierError(
    HttpFailure.fromResponse(
      { status: 422, headers: {}, body: JSON.stringify({ error: { message: `street '${street}' is not deliverable` } }) },
      { ...where, nowMillis: 0 }
    )
  )

describe("spans around a far side's call", () => {
  it.effect("HttpFailure.guard: the span records reason and status, not the vendor's text; the caller gets the error", () =>
    Effect.gen(function*() {
      const error = vendorError()
      expect(error.description).toContain(street)
      const { ended, exit } = yield* traced(
        HttpFailure.guard(Effect.fail(error), { ...where, error: PortError.CarrierError, timeout: "10 seconds" })
      )
      const span = ended.find((s) => s.name === "AcmeClient.createTracker")
      expect(span).toBeDefined()
      expect(Exit.isFailure(span!.exit)).toBe(true)
      if (Exit.isFailure(span!.exit)) {
        const text = rendered(span!.exit.cause)
        expect(text).toContain("AcmeClient.createTracker: Invalid (HTTP 422)")
        expect(text).not.toContain(street)
        expect(text).not.toContain("Privet")
      }
      // the caller's error is the original one
      expect(Exit.isFailure(exit)).toBe(true)
      const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : undefined
      const got = failure?._tag === "Some" ? failure.value : undefined
      expect(got).toBeInstanceOf(PortError.CarrierError)
      expect(got).toMatchObject({ _tag: "CarrierError", reason: "Invalid", status: 422, description: error.description })
    }))

  it.effect("HttpFailure.guard: a timeout is recorded as Timeout; a success ends the span with a success", () =>
    Effect.gen(function*() {
      const options = { ...where, error: PortError.CarrierError, timeout: Duration.seconds(10) }
      const fiber = yield* Effect.fork(traced(HttpFailure.guard(Effect.never, options)))
      yield* Effect.yieldNow()
      yield* TestClock.adjust(Duration.seconds(11))
      const { ended, exit } = yield* Fiber.join(fiber)
      const span = ended.find((s) => s.name === "AcmeClient.createTracker")!
      expect(Exit.isFailure(span.exit) && rendered(span.exit.cause)).toContain("AcmeClient.createTracker: Timeout")
      expect(Exit.isFailure(exit) && Cause.failureOption(exit.cause)).toMatchObject({
        value: { _tag: "CarrierError", reason: "Timeout", description: "no answer within 10s" }
      })
      const ok = yield* traced(HttpFailure.guard(Effect.succeed(42), options))
      expect(ok.exit).toEqual(Exit.succeed(42))
      expect(Exit.isSuccess(ok.ended[0]!.exit)).toBe(true)
    }))

  it.effect("PortError.withSpan: defects and interruptions are recorded as they are; other failures by their tag", () =>
    Effect.gen(function*() {
      const boom = new Error("boom")
      const died = yield* traced(Effect.die(boom).pipe(PortError.withSpan("Acme.call")))
      // (a defect raised in a span is a proxy of it that knows the span)
      for (const exit of [died.ended[0]!.exit, died.exit]) {
        const defect = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.dieOption(exit.cause)) : undefined
        expect(defect).toBeInstanceOf(Error)
        expect(defect).toMatchObject({ message: "boom" })
      }

      const interrupted = yield* traced(Effect.interrupt.pipe(PortError.withSpan("Acme.call")))
      expect(Exit.isFailure(interrupted.ended[0]!.exit) && Cause.isInterruptedOnly(interrupted.ended[0]!.exit.cause)).toBe(true)

      const other = { _tag: "ParseError", message: `street '${street}'` } as const
      const failed = yield* traced(Effect.fail(other).pipe(PortError.withSpan("Acme.call")))
      const text = Exit.isFailure(failed.ended[0]!.exit) ? rendered(failed.ended[0]!.exit.cause) : ""
      expect(text).toContain("Acme.call: ParseError")
      expect(text).not.toContain("Privet")
      expect(Exit.isFailure(failed.exit) && Cause.failureOption(failed.exit.cause)).toMatchObject({ value: other })
    }))
})
