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
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { HttpFailure, PortError } from "@waybill/core"
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
export const retryAfterMillis = (headers: Readonly<Record<string, string>>, nowMillis: number): number | undefined =>
  HttpFailure.waitMillis(headers, nowMillis, { resetHeader: "x-ratelimit-reset" })

/**
 * The retry `reason` of an HTTP status.
 *
 * @since 0.1.0
 */
export const reasonOfStatus: (status: number) => PortError.Reason = HttpFailure.reasonOfStatus

/** AfterShip's `{ meta: { code, type, message } }` as `code type message`, keeping `meta.code`. */
const describe = (json: unknown, status: number): HttpFailure.Detail | undefined => {
  const decoded = Schema.decodeUnknownEither(Envelope)(json)
  if (decoded._tag === "Left") return undefined
  const m = decoded.right.meta
  return {
    description: [m.code, m.type, m.message].filter((x) => x !== null && x !== undefined && x !== "").join(" ") || `HTTP ${status}`,
    ...(m.code !== null && m.code !== undefined ? { cause: { metaCode: m.code } } : {})
  }
}

/**
 * Translates an AfterShip error answer into a `CarrierError` naming `meta.code`, `meta.type`
 * and `meta.message`.
 *
 * @since 0.1.0
 */
export const fromErrorResponse = (
  method: string,
  response: HttpFailure.Response,
  nowMillis: number
): PortError.CarrierError =>
  new PortError.CarrierError(
    HttpFailure.fromResponse(response, { module: MODULE, method, nowMillis, describe, resetHeader: "x-ratelimit-reset" })
  )

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
        const { body } = yield* HttpFailure.readOk(response, (answer, now) => fromErrorResponse(method, answer, now))
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
        (effect) => HttpFailure.guard(effect, { error: PortError.CarrierError, module: MODULE, method, timeout }),
        // The HTTP client records request headers on its span; the key must show as redacted.
        Effect.locallyWith(Headers.currentRedactedNames, (names) => [...names, "as-api-key"])
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
