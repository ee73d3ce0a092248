/**
 * A small client for the AfterShip Tracking API (`https://api.aftership.com/tracking/2025-04`):
 * create a tracking, find a tracking by number.
 *
 * Requests carry the `as-api-key` header; answers are wrapped in `{ meta: { code, message,
 * type }, data }`. Failures are `CarrierError`s with the retry `reason`: 429 → `RateLimited`
 * (`retryAfterMillis` from `Retry-After`, else `X-RateLimit-Reset`), 5xx → `Unavailable`,
 * 401 → `Unauthorized`, 403 → `Forbidden`, 404 → `NotFound`, other 4xx → `Invalid`, a timeout →
 * `Timeout`, a connection failure → `Transport`. One attempt per call.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { PortError } from "@waybill/core"
import * as AfterShipTracking from "./AfterShipTracking.js"

/**
 * The production API root (API version 2025-04).
 *
 * @since 0.1.0
 */
export const defaultBaseUrl = "https://api.aftership.com/tracking/2025-04"

/**
 * Client options.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The AfterShip API key (`as-api-key`). */
  readonly apiKey: Redacted.Redacted<string>
  /** The API root (default {@link defaultBaseUrl}); tests point it at `AfterShipFake`. */
  readonly baseUrl?: string | undefined
  /** How long one call may take (default 30 seconds). */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * A tracking as the API returns it (its id is always present).
 *
 * @since 0.1.0
 */
export const ApiTracking = Schema.extend(AfterShipTracking.Tracking.omit("id"), Schema.Struct({ id: Schema.String }))

/** @since 0.1.0 */
export type ApiTracking = typeof ApiTracking.Type

/**
 * The AfterShip API calls waybill uses.
 *
 * @since 0.1.0
 */
export interface AfterShipClient {
  /**
   * `POST /trackings`. When AfterShip answers 4003 ("Tracking already exists"), reads the
   * existing tracking back instead of failing, so a retried create is harmless.
   */
  readonly createTracking: (request: {
    readonly trackingNumber: string
    readonly slug?: string | undefined
    readonly title?: string | undefined
    readonly orderNumber?: string | undefined
  }) => Effect.Effect<ApiTracking, PortError.CarrierError>
  /** `GET /trackings?tracking_numbers=…[&slug=…]`: the first match, if any. */
  readonly findTracking: (request: {
    readonly trackingNumber: string
    readonly slug?: string | undefined
  }) => Effect.Effect<ApiTracking | undefined, PortError.CarrierError>
}

const MODULE = "AfterShipClient"

const Meta = Schema.Struct({
  code: Schema.optional(Schema.NullOr(Schema.Number)),
  message: Schema.optional(Schema.NullOr(Schema.String)),
  type: Schema.optional(Schema.NullOr(Schema.String))
})

const Envelope = Schema.Struct({ meta: Meta, data: Schema.optional(Schema.NullOr(Schema.Unknown)) })

/**
 * How many milliseconds to wait, from `Retry-After` (seconds or HTTP date) or from
 * `X-RateLimit-Reset` (epoch seconds).
 *
 * @since 0.1.0
 */
export const retryAfterMillis = (headers: Readonly<Record<string, string>>, nowMillis: number): number | undefined => {
  const retryAfter = headers["retry-after"]?.trim()
  if (retryAfter !== undefined && retryAfter !== "") {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) return Math.round(Number(retryAfter) * 1000)
    const date = Date.parse(retryAfter)
    if (!Number.isNaN(date)) return Math.max(0, date - nowMillis)
  }
  const reset = headers["x-ratelimit-reset"]?.trim()
  if (reset !== undefined && /^\d+$/.test(reset)) return Math.max(0, Number(reset) * 1000 - nowMillis)
  return undefined
}

/**
 * The retry `reason` of an HTTP status.
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
  if (status >= 500) return "Unavailable"
  if (status >= 400) return "Invalid"
  return "Bug"
}

/**
 * Translates an AfterShip error answer into a `CarrierError` naming `meta.code`, `meta.type`
 * and `meta.message`.
 *
 * @since 0.1.0
 */
export const fromErrorResponse = (
  method: string,
  response: { readonly status: number; readonly headers: Readonly<Record<string, string>>; readonly body: string },
  nowMillis: number
): PortError.CarrierError => {
  let description = `HTTP ${response.status}`
  let metaCode: number | undefined
  try {
    const decoded = Schema.decodeUnknownEither(Envelope)(JSON.parse(response.body))
    if (decoded._tag === "Right") {
      const m = decoded.right.meta
      metaCode = m.code ?? undefined
      description = [m.code, m.type, m.message].filter((x) => x !== null && x !== undefined && x !== "").join(" ") || description
    } else if (response.body.trim() !== "") description += `: ${response.body.slice(0, 300)}`
  } catch {
    if (response.body.trim() !== "") description += `: ${response.body.slice(0, 300)}`
  }
  const reason = reasonOfStatus(response.status)
  const retryAfter = reason === "RateLimited" || reason === "Unavailable" ? retryAfterMillis(response.headers, nowMillis) : undefined
  return new PortError.CarrierError({
    reason,
    module: MODULE,
    method,
    description,
    status: response.status,
    ...(retryAfter !== undefined ? { retryAfterMillis: retryAfter } : {}),
    ...(metaCode !== undefined ? { cause: { metaCode } } : {})
  })
}

const trackingIn = (data: unknown): unknown =>
  typeof data === "object" && data !== null && "tracking" in data ? (data as { tracking: unknown }).tracking : data

/**
 * Makes a client. Requires an `HttpClient`.
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<AfterShipClient, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const baseUrl = (options.baseUrl ?? defaultBaseUrl).replace(/\/+$/, "")
    const timeout = Duration.decode(options.timeout ?? Duration.seconds(30))

    const unexpected = (method: string, status: number, description: string) =>
      new PortError.CarrierError({ reason: "Invalid", module: MODULE, method, description: `unexpected answer: ${description}`, status })

    /** Sends a request; the answer's `data`, or the translated failure (with `meta.code`). */
    const call = (method: string, request: HttpClientRequest.HttpClientRequest) =>
      Effect.gen(function*() {
        const response = yield* http.execute(
          request.pipe(
            HttpClientRequest.setHeader("as-api-key", Redacted.value(options.apiKey)),
            HttpClientRequest.acceptJson
          )
        )
        const body = yield* response.text
        if (response.status < 200 || response.status >= 300) {
          const now = yield* Clock.currentTimeMillis
          return yield* Effect.fail(fromErrorResponse(method, { status: response.status, headers: response.headers, body }, now))
        }
        let json: unknown
        try {
          json = JSON.parse(body)
        } catch {
          return yield* Effect.fail(unexpected(method, response.status, `not JSON: ${body.slice(0, 200)}`))
        }
        const envelope = yield* Effect.mapError(
          Schema.decodeUnknown(Envelope)(json),
          (e) => unexpected(method, response.status, AfterShipTracking.formatParseError(e, ""))
        )
        return { status: response.status, data: envelope.data }
      }).pipe(
        Effect.catchTags({
          RequestError: (error) =>
            Effect.fail(
              new PortError.CarrierError({
                reason: "Transport",
                module: MODULE,
                method,
                description: `${error.reason}: ${error.description ?? error.message}`,
                cause: error
              })
            ),
          ResponseError: (error) =>
            Effect.fail(
              new PortError.CarrierError({
                reason: "Transport",
                module: MODULE,
                method,
                description: `${error.reason}: ${error.description ?? error.message}`,
                status: error.response.status,
                cause: error
              })
            )
        }),
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            new PortError.CarrierError({ reason: "Timeout", module: MODULE, method, description: `no answer within ${Duration.format(timeout)}` })
        }),
        Effect.withSpan(`AfterShipClient.${method}`)
      )

    const decodeTracking = (method: string, status: number, data: unknown) =>
      Effect.mapError(
        Schema.decodeUnknown(ApiTracking, { onExcessProperty: "ignore" })(trackingIn(data)),
        (e) => unexpected(method, status, AfterShipTracking.formatParseError(e, "data"))
      )

    const findTracking: AfterShipClient["findTracking"] = (request) =>
      Effect.gen(function*() {
        const url = new URL(`${baseUrl}/trackings`)
        url.searchParams.set("tracking_numbers", request.trackingNumber)
        if (request.slug !== undefined) url.searchParams.set("slug", request.slug)
        const { data, status } = yield* call("findTracking", HttpClientRequest.get(url.toString()))
        const list = typeof data === "object" && data !== null ? (data as { trackings?: unknown }).trackings : undefined
        if (!Array.isArray(list) || list.length === 0) return undefined
        return yield* decodeTracking("findTracking", status, list[0])
      })

    const createTracking: AfterShipClient["createTracking"] = (request) =>
      Effect.gen(function*() {
        const body = Object.fromEntries(
          Object.entries({
            tracking_number: request.trackingNumber,
            slug: request.slug,
            title: request.title,
            order_number: request.orderNumber
          }).filter(([, v]) => v !== undefined)
        )
        const { data, status } = yield* call(
          "createTracking",
          HttpClientRequest.post(`${baseUrl}/trackings`).pipe(HttpClientRequest.bodyUnsafeJson(body))
        )
        return yield* decodeTracking("createTracking", status, data)
      }).pipe(
        Effect.catchIf(
          (e) => (e.cause as { metaCode?: number } | undefined)?.metaCode === 4003,
          (exists) =>
            Effect.flatMap(findTracking(request), (found) => (found === undefined ? Effect.fail(exists) : Effect.succeed(found)))
        )
      )

    return { createTracking, findTracking }
  })
