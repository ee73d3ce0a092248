/**
 * Spans around a far side's call that record a failure by where and why it happened, not by
 * what the far side wrote: a vendor's error text can quote the personal data it was sent, and a
 * tracer (e.g. `@effect/opentelemetry`) records the span's failure as it is.
 */
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type * as Tracer from "effect/Tracer"

const original: unique symbol = Symbol.for("@waybill/core/SpanFailure/original")

const isString = (u: unknown): u is string => typeof u === "string"

/** A port failure's place and reason, the HTTP status when there was one; never its description. */
const summary = (error: unknown, span: string): { readonly name: string; readonly message: string } => {
  if (typeof error === "object" && error !== null) {
    const e = error as Record<string, unknown>
    const tag = isString(e._tag) ? e._tag : undefined
    if (isString(e.reason) && isString(e.module) && isString(e.method)) {
      const status = typeof e.status === "number" ? ` (HTTP ${e.status})` : ""
      return { name: tag ?? "Error", message: `${e.module}.${e.method}: ${e.reason}${status}` }
    }
    if (tag !== undefined) return { name: tag, message: `${span}: ${tag}` }
  }
  return { name: "Error", message: `${span}: failed` }
}

/**
 * What a span records in place of a failure: an `Error` whose message is
 * `<module>.<method>: <reason> (HTTP <status>)` (for a failure that is not a port error: the
 * span's name and the failure's `_tag`). The failure itself is kept under a symbol that is not
 * enumerable, so no rendering of the cause reaches it.
 */
export class SpanFailure extends Error {
  declare readonly [original]: unknown

  constructor(error: unknown, span: string) {
    const { message, name } = summary(error, span)
    const limit = Error.stackTraceLimit
    // the stack would be this module's, of no use in a trace: skip capturing it
    Error.stackTraceLimit = 0
    super(message)
    Error.stackTraceLimit = limit
    this.name = name
    Object.defineProperty(this, original, { value: error, enumerable: false, writable: false, configurable: false })
  }
}

/**
 * Runs `self` in the span `name`, which on failure records a {@link SpanFailure} (reason,
 * status, module and method, no description) and so still ends with an error status; the
 * caller gets the original failure unchanged. Defects and interruptions are recorded as they
 * are.
 */
export const withSpan: {
  (
    name: string,
    options?: Tracer.SpanOptions | undefined
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, Exclude<R, Tracer.ParentSpan>>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    name: string,
    options?: Tracer.SpanOptions | undefined
  ): Effect.Effect<A, E, Exclude<R, Tracer.ParentSpan>>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    name: string,
    options?: Tracer.SpanOptions | undefined
  ): Effect.Effect<A, E, Exclude<R, Tracer.ParentSpan>> =>
    self.pipe(
      Effect.mapError((error) => new SpanFailure(error, name)),
      Effect.withSpan(name, options),
      Effect.mapError((standIn) => standIn[original] as E)
    )
)
