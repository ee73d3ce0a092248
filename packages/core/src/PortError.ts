/**
 * Typed failures of the ports, one class per family, all with the same shape: a `reason`
 * literal the retry policy keys off, where it happened (`module`, `method`), a readable
 * `description`, the HTTP status when there was one, `retryAfterMillis` when the far side asked
 * to wait, and the `cause`. They serialize, because they are stored with dead letters.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Tracer from "effect/Tracer"
import * as Spans from "./internal/spans.js"

/**
 * Why a call failed. `RateLimited`, `Timeout`, `Transport`, `Conflict` and `Unavailable` are
 * worth retrying; `Invalid`, `Unauthorized`, `Forbidden`, `NotFound` and `Bug` are not.
 *
 * @since 0.1.0
 */
export const Reason = Schema.Literal(
  "RateLimited",
  "Timeout",
  "Transport",
  "Conflict",
  "Unavailable",
  "Invalid",
  "Unauthorized",
  "Forbidden",
  "NotFound",
  "Bug"
)
/** @since 0.1.0 */
export type Reason = typeof Reason.Type

const retryable: ReadonlySet<Reason> = new Set(["RateLimited", "Timeout", "Transport", "Conflict", "Unavailable"])

/**
 * Whether a failure with this reason may succeed when tried again.
 *
 * @since 0.1.0
 */
export const isRetryable = (reason: Reason): boolean => retryable.has(reason)

/**
 * The fields every port error has.
 *
 * @since 0.1.0
 */
export const fields = {
  reason: Reason,
  module: Schema.String,
  method: Schema.String,
  description: Schema.String,
  status: Schema.optionalWith(Schema.Int, { exact: true }),
  retryAfterMillis: Schema.optionalWith(Schema.NonNegativeInt, { exact: true }),
  cause: Schema.optionalWith(Schema.Defect, { exact: true })
}

/**
 * What the runtime needs to know about any port error.
 *
 * @since 0.1.0
 */
export interface PortFailure {
  readonly _tag: string
  readonly reason: Reason
  readonly module: string
  readonly method: string
  readonly description: string
  readonly status?: number
  readonly retryAfterMillis?: number
}

const render = (e: PortFailure): string =>
  `${e.module}.${e.method}: ${e.reason}${e.status !== undefined ? ` (HTTP ${e.status})` : ""}: ${e.description}${
    e.retryAfterMillis !== undefined ? ` (retry after ${e.retryAfterMillis} ms)` : ""
  }`

/**
 * A failure of the ERP (Odoo) port.
 *
 * @since 0.1.0
 */
export class ErpError extends Schema.TaggedError<ErpError>("@waybill/core/ErpError")("ErpError", fields) {
  override get message(): string {
    return render(this)
  }
}

/**
 * A failure of a carrier port: an API call, or an inbound webhook that could not be verified
 * or parsed.
 *
 * @since 0.1.0
 */
export class CarrierError extends Schema.TaggedError<CarrierError>("@waybill/core/CarrierError")("CarrierError", fields) {
  override get message(): string {
    return render(this)
  }
}

/**
 * A failure of the helpdesk port.
 *
 * @since 0.1.0
 */
export class HelpdeskError extends Schema.TaggedError<HelpdeskError>("@waybill/core/HelpdeskError")(
  "HelpdeskError",
  fields
) {
  override get message(): string {
    return render(this)
  }
}

/**
 * A failure of the customer notification port.
 *
 * @since 0.1.0
 */
export class NotifierError extends Schema.TaggedError<NotifierError>("@waybill/core/NotifierError")(
  "NotifierError",
  fields
) {
  override get message(): string {
    return render(this)
  }
}

/**
 * A failure of the external finance port.
 *
 * @since 0.1.0
 */
export class FinanceError extends Schema.TaggedError<FinanceError>("@waybill/core/FinanceError")("FinanceError", fields) {
  override get message(): string {
    return render(this)
  }
}

/**
 * A failure of the store or the transport (connection lost, script error, corrupt record).
 *
 * @since 0.1.0
 */
export class StorageError extends Schema.TaggedError<StorageError>("@waybill/core/StorageError")("StorageError", fields) {
  override get message(): string {
    return render(this)
  }
}

/**
 * Any port failure.
 *
 * @since 0.1.0
 */
export const AnyPortError = Schema.Union(ErpError, CarrierError, HelpdeskError, NotifierError, FinanceError, StorageError)
/** @since 0.1.0 */
export type AnyPortError = typeof AnyPortError.Type

/**
 * Runs a call to a far side in a span named `name` (`options` as `Effect.withSpan`'s) that
 * records a failure by its place and reason, not its description: a port error is recorded as an
 * `Error` whose message is `<module>.<method>: <reason> (HTTP <status>)`, named after its
 * `_tag`, any other failure by the span's name and its `_tag`. A vendor's error text can quote the
 * personal data it was sent, and a tracer (e.g. `@effect/opentelemetry`) exports the failure a
 * span ends with. The span still ends with an error status, defects and interruptions are
 * recorded as they are, and the caller gets the original failure unchanged.
 *
 * @example
 * ```ts
 * import { PortError } from "@waybill/core"
 *
 * const createTracker = (request: CreateTracker) =>
 *   client.createTracker(request).pipe(PortError.withSpan("AcmeCarrier.createTracker"))
 * ```
 *
 * @since 0.2.0
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
} = Spans.withSpan
