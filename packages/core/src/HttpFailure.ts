/**
 * Translating HTTP failures into port errors, the same way for every HTTP adapter: the retry
 * `reason` of a status, how long `Retry-After` (seconds or an HTTP date) or a rate-limit reset
 * header asks to wait, and the fields of a port error for an error answer, a transport failure
 * or a call that got no answer in time.
 *
 * It is port-agnostic: every function returns {@link Fields}, the constructor argument of any
 * `PortError` class (`new PortError.CarrierError(fields)`, `new PortError.ErpError(fields)`).
 * It does not depend on `@effect/platform`: a transport failure is recognized by its shape
 * (`HttpClientError`'s `RequestError` and `ResponseError`).
 *
 * @example
 * ```ts
 * import { HttpFailure, PortError } from "@waybill/core"
 *
 * // One HTTP call: transport failures become `Transport`, no answer in 30 s `Timeout`.
 * const call = HttpFailure.guard(send(request), {
 *   error: PortError.CarrierError,
 *   module: "AcmeClient",
 *   method: "createTracker",
 *   timeout: "30 seconds"
 * })
 * // An error answer: 429 → RateLimited with retryAfterMillis, 503 → Unavailable, …
 * const error = new PortError.CarrierError(
 *   HttpFailure.fromResponse({ status, headers, body }, { module: "AcmeClient", method: "createTracker", nowMillis })
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as PortError from "./PortError.js"
import * as Spans from "./internal/spans.js"
import * as Privacy from "./Privacy.js"

const bound = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text)

/**
 * The fields of a port error (the constructor argument of every `PortError` class).
 *
 * @since 0.1.0
 */
export interface Fields {
  readonly reason: PortError.Reason
  readonly module: string
  readonly method: string
  readonly description: string
  readonly status?: number
  readonly retryAfterMillis?: number
  readonly cause?: unknown
}

/**
 * Where a failure happened: the adapter module and its method.
 *
 * @since 0.1.0
 */
export interface Where {
  readonly module: string
  readonly method: string
}

/**
 * An HTTP answer as an adapter read it: status, headers (names in lower case, as
 * `HttpClientResponse.headers` has them) and the body as text.
 *
 * @since 0.1.0
 */
export interface Response {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/**
 * The retry `reason` of an HTTP status: 429 → `RateLimited`, 401 → `Unauthorized`,
 * 403 → `Forbidden`, 404 → `NotFound`, 408 → `Timeout`, 409 → `Conflict`, 501 (Not
 * Implemented) and 505 (HTTP Version Not Supported) → `Invalid` (the server will not do the
 * request however often it is asked), other 5xx → `Unavailable`, other 4xx → `Invalid`; anything
 * else (a 1xx, 2xx or 3xx treated as a failure) is a `Bug`.
 *
 * @since 0.1.0
 */
export const reasonOfStatus = (status: number): PortError.Reason => {
  if (status === 429) return "RateLimited"
  if (status === 401) return "Unauthorized"
  if (status === 403) return "Forbidden"
  if (status === 404) return "NotFound"
  if (status === 408) return "Timeout"
  if (status === 409) return "Conflict"
  if (status === 501 || status === 505) return "Invalid"
  if (status >= 500) return "Unavailable"
  if (status >= 400) return "Invalid"
  return "Bug"
}

// A port error's `retryAfterMillis` is a safe integer; an absurd header must not make the
// error's constructor throw.
const clamp = (millis: number): number => Math.min(Math.max(0, millis), Number.MAX_SAFE_INTEGER)

const dayName = "(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*"
const monthName = "(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
const clockTime = "\\d{2}:\\d{2}:\\d{2}"
/** IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) and RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`); a numeric zone is kept. */
const zonedDate = new RegExp(
  `^${dayName},?\\s+\\d{1,2}[\\s-]${monthName}[\\s-](?:\\d{2}|\\d{4})\\s+${clockTime}\\s+(?:gmt|utc|ut|z|[+-]\\d{4})$`,
  "i"
)
/** asctime (`Sun Nov  6 08:49:37 1994`), which names no zone. */
const asctimeDate = new RegExp(`^${dayName}\\s+${monthName}\\s+\\d{1,2}\\s+${clockTime}\\s+\\d{4}$`, "i")

/**
 * How many milliseconds a `Retry-After` value asks to wait: delay-seconds (`"120"`, also
 * `"1.5"`) or an HTTP date in any of its three forms, read as GMT (a date in the past is 0).
 * `undefined` when the value is missing or unreadable.
 *
 * @since 0.1.0
 */
export const retryAfterMillis = (value: string | undefined, nowMillis: number): number | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return clamp(Math.round(Number(trimmed) * 1000))
  // Only the HTTP-date forms are read as dates: `Date.parse` reads almost anything as some day
  // ("-5" and "Soon 5" as days of 2001, "a 2030" as 2030). They are GMT: the asctime form
  // ("Sun Nov  6 08:49:37 1994") does not say so, and `Date.parse` would read it in the host's
  // time zone.
  const date = httpDate(trimmed)
  return date === undefined ? undefined : clamp(date - nowMillis)
}

/** An HTTP-date in any of its three forms, in epoch milliseconds (`undefined`: not one). */
const httpDate = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  const asctime = asctimeDate.test(trimmed)
  if (!asctime && !zonedDate.test(trimmed)) return undefined
  const date = Date.parse(asctime ? `${trimmed} GMT` : trimmed)
  return Number.isNaN(date) ? undefined : date
}

/**
 * The far side's clock when it answered: its `Date` header (an HTTP-date) when it sent a valid
 * one, else `nowMillis`. A `Retry-After` date or a reset time is a time on the far side's clock,
 * so it is counted from this: a local clock minutes off neither stretches nor cuts the wait.
 *
 * @since 0.2.0
 */
export const farSideNow = (headers: Readonly<Record<string, string | undefined>>, nowMillis: number): number =>
  httpDate(headers["date"]) ?? nowMillis

/**
 * How many milliseconds until a rate-limit reset given in epoch seconds (as AfterShip's and
 * GitHub's `X-RateLimit-Reset` are); `undefined` when the value is missing or not a number.
 *
 * @since 0.1.0
 */
export const resetMillis = (value: string | undefined, nowMillis: number): number | undefined => {
  const trimmed = value?.trim()
  return trimmed !== undefined && /^\d+$/.test(trimmed) ? clamp(Number(trimmed) * 1000 - nowMillis) : undefined
}

/**
 * How long the far side asked to wait: `Retry-After`, else (when `resetHeader` names one, e.g.
 * `x-ratelimit-reset`) the epoch-seconds reset header. A date or a reset time is counted from
 * the far side's own `Date` header when it sent one ({@link farSideNow}), else from `nowMillis`.
 *
 * @since 0.1.0
 */
export const waitMillis = (
  headers: Readonly<Record<string, string>>,
  nowMillis: number,
  options: { readonly resetHeader?: string | undefined } = {}
): number | undefined => {
  const now = farSideNow(headers, nowMillis)
  return retryAfterMillis(headers["retry-after"], now) ??
    (options.resetHeader !== undefined ? resetMillis(headers[options.resetHeader], now) : undefined)
}

/**
 * What a vendor's error body says: the description (its error code and message) and, in
 * `cause`, anything the adapter wants to act on later (e.g. `{ metaCode: 4003 }`).
 *
 * @since 0.1.0
 */
export interface Detail {
  readonly description: string
  readonly cause?: unknown
}

/**
 * The fields of the port error for an error answer. The `reason` comes from the status; for
 * `RateLimited` and `Unavailable` answers `retryAfterMillis` from {@link waitMillis}. The
 * description is what `describe` reads from the JSON body (it returns `undefined` for a body
 * that is not the vendor's error shape), cut to 500 characters, else `HTTP <status>` followed by
 * the first 300 characters of a non-blank body (then `…` if there is more).
 *
 * The description is logged and kept in dead letters, and a vendor's validation error may quote
 * what it was sent ("street 'Flat 3, 12 Privet Drive' is not deliverable"): pass the request's
 * personal values as `withhold` (`Privacy.personalValues(schema, encoded)`) and each occurrence
 * becomes `<redacted>`.
 *
 * @since 0.1.0
 */
export const fromResponse = (
  response: Response,
  options: Where & {
    readonly nowMillis: number
    readonly describe?: ((json: unknown, status: number) => Detail | undefined) | undefined
    readonly resetHeader?: string | undefined
    readonly withhold?: ReadonlyArray<string> | undefined
  }
): Fields => {
  const fallback = `HTTP ${response.status}`
  const body = Privacy.scrub(response.body, options.withhold ?? [])
  // A cut body ends in `…`, so a personal value it was cut in the middle of is still recognized
  // (`Privacy.scrub`, which the dispatcher applies to the descriptions it logs and keeps).
  const excerpt = body.trim() !== "" ? `${fallback}: ${body.length > 300 ? `${body.slice(0, 300)}…` : body}` : fallback
  let detail: Detail | undefined
  try {
    detail = options.describe?.(JSON.parse(response.body), response.status)
  } catch {
    detail = undefined
  }
  const reason = reasonOfStatus(response.status)
  const retryAfter = reason === "RateLimited" || reason === "Unavailable"
    ? waitMillis(response.headers, options.nowMillis, { resetHeader: options.resetHeader })
    : undefined
  return {
    reason,
    module: options.module,
    method: options.method,
    description: detail === undefined
      ? excerpt
      : detail.description !== ""
      ? bound(Privacy.scrub(detail.description, options.withhold ?? []), 500)
      : fallback,
    status: response.status,
    ...(retryAfter !== undefined ? { retryAfterMillis: retryAfter } : {}),
    ...(detail?.cause !== undefined ? { cause: detail.cause } : {})
  }
}

/**
 * Reads an answer's text (`HttpClientResponse` fits): a 2xx answer is returned as a
 * {@link Response}; any other fails with what `onError` makes of it and the clock's time (for
 * `Retry-After` dates), typically `new PortError.CarrierError(fromResponse(…))`.
 *
 * @since 0.1.0
 */
export const readOk = <E, P>(
  response: {
    readonly status: number
    readonly headers: Readonly<Record<string, string>>
    readonly text: Effect.Effect<string, E>
  },
  onError: (response: Response, nowMillis: number) => P
): Effect.Effect<Response, E | P> =>
  Effect.flatMap(response.text, (body) => {
    const answer: Response = { status: response.status, headers: response.headers, body }
    return response.status >= 200 && response.status < 300
      ? Effect.succeed(answer)
      : Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.fail(onError(answer, now)))
  })

/**
 * A failure to send a request or to read its answer, by shape: `@effect/platform`'s
 * `RequestError` and `ResponseError` (the `HttpClientError` union) are both.
 *
 * @since 0.1.0
 */
export interface TransportFailure {
  readonly _tag: "RequestError" | "ResponseError"
  readonly reason: string
  readonly description?: string | undefined
  readonly message: string
  readonly response?: { readonly status: number } | undefined
}

/**
 * Whether a value is a {@link TransportFailure}.
 *
 * @since 0.1.0
 */
export const isTransportFailure = (u: unknown): u is TransportFailure =>
  typeof u === "object" && u !== null && "_tag" in u && (u._tag === "RequestError" || u._tag === "ResponseError")

/**
 * The fields of the `Transport` port error for a transport failure (with the answer's status
 * when there was one). The `cause` is a plain copy of the failure's `_tag`, `reason`,
 * `description` and `message`: never the request itself, whose headers carry credentials
 * (`Authorization`, `as-api-key`, …) and would be printed wherever the error is logged.
 *
 * @since 0.1.0
 */
export const fromTransport = (error: TransportFailure, where: Where): Fields => ({
  reason: "Transport",
  module: where.module,
  method: where.method,
  description: `${error.reason}: ${error.description ?? error.message}`,
  ...(error.response !== undefined ? { status: error.response.status } : {}),
  cause: {
    _tag: error._tag,
    reason: error.reason,
    ...(error.description !== undefined ? { description: error.description } : {}),
    message: error.message
  }
})

/**
 * The fields of the `Timeout` port error for a call that got no answer within `timeout`.
 *
 * @since 0.1.0
 */
export const fromTimeout = (timeout: Duration.DurationInput, where: Where): Fields => ({
  reason: "Timeout",
  module: where.module,
  method: where.method,
  description: `no answer within ${Duration.format(Duration.decode(timeout))}`
})

/**
 * Guards one HTTP call: a {@link TransportFailure} becomes a `Transport` port error, a call
 * without an answer within `timeout` a `Timeout` one (both built with `error`, e.g.
 * `PortError.CarrierError`), and the call runs in a span named `span` (default
 * `<module>.<method>`), which records a failure by its reason, status and place, not its
 * description (see `PortError.withSpan`). Other failures pass through.
 *
 * @since 0.1.0
 */
export const guard = <A, E, R, P>(
  effect: Effect.Effect<A, E, R>,
  options: Where & {
    readonly error: new(fields: Fields) => P
    readonly timeout: Duration.DurationInput
    readonly span?: string | undefined
  }
): Effect.Effect<A, Exclude<E, TransportFailure> | P, R> => {
  const where: Where = { module: options.module, method: options.method }
  const translated = Effect.catchIf(
    effect,
    (e): e is Extract<E, TransportFailure> => isTransportFailure(e),
    (e) => Effect.fail(new options.error(fromTransport(e, where)))
  ) as Effect.Effect<A, Exclude<E, TransportFailure> | P, R>
  return translated.pipe(
    Effect.timeoutFail({ duration: options.timeout, onTimeout: () => new options.error(fromTimeout(options.timeout, where)) }),
    Spans.withSpan(options.span ?? `${options.module}.${options.method}`)
  )
}
