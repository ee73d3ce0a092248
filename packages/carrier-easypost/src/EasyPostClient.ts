/**
 * A small client for the EasyPost HTTP API (`https://api.easypost.com/v2`): create trackers,
 * create shipments, buy a rate, retrieve a shipment.
 *
 * Authentication is HTTP Basic with the API key as the user name and an empty password. Every
 * failure is a `CarrierError` whose `reason` the retry policy keys off: 429 → `RateLimited`
 * (with `retryAfterMillis` from `Retry-After`), 5xx → `Unavailable`, 401 → `Unauthorized`,
 * 403 → `Forbidden`, 404 → `NotFound`, 409 → `Conflict`, other 4xx → `Invalid`, a timeout →
 * `Timeout`, a connection failure → `Transport`. The client makes one attempt per call:
 * retrying is the dispatcher's job.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { HttpFailure, PortError } from "@waybill/core"
import * as EasyPostTracking from "./EasyPostTracking.js"

/**
 * The production API root.
 *
 * @since 0.1.0
 */
export const defaultBaseUrl = "https://api.easypost.com/v2"

/**
 * Client options.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The EasyPost API key (test or production). */
  readonly apiKey: Redacted.Redacted<string>
  /** The API root (default {@link defaultBaseUrl}); tests point it at `EasyPostFake`. */
  readonly baseUrl?: string | undefined
  /** How long one call may take before it fails with `Timeout` (default 30 seconds). */
  readonly timeout?: Duration.DurationInput | undefined
}

const NullableString = Schema.optional(Schema.NullOr(Schema.String))

/**
 * A rate offered for a shipment.
 *
 * @since 0.1.0
 */
export const Rate = Schema.Struct({
  id: Schema.String,
  carrier: Schema.String,
  service: Schema.String,
  rate: Schema.String,
  currency: Schema.String
})

/** @since 0.1.0 */
export type Rate = typeof Rate.Type

/**
 * The fields of an EasyPost `Shipment` waybill reads.
 *
 * @since 0.1.0
 */
export const Shipment = Schema.Struct({
  id: Schema.String,
  reference: NullableString,
  tracking_code: NullableString,
  rates: Schema.optional(Schema.NullOr(Schema.Array(Rate))),
  selected_rate: Schema.optional(Schema.NullOr(Rate)),
  postage_label: Schema.optional(
    Schema.NullOr(
      Schema.Struct({ label_url: NullableString, label_pdf_url: NullableString, label_zpl_url: NullableString })
    )
  ),
  tracker: Schema.optional(Schema.NullOr(Schema.Struct({ id: NullableString })))
})

/** @since 0.1.0 */
export type Shipment = typeof Shipment.Type

/**
 * An EasyPost tracker as the API returns it (the id is always present there).
 *
 * @since 0.1.0
 */
export const ApiTracker = Schema.extend(EasyPostTracking.Tracker.omit("id"), Schema.Struct({ id: Schema.String }))

/** @since 0.1.0 */
export type ApiTracker = typeof ApiTracker.Type

/**
 * An EasyPost address (the subset waybill sends).
 *
 * @since 0.1.0
 */
export interface Address {
  readonly name?: string | undefined
  readonly company?: string | undefined
  readonly street1: string
  readonly street2?: string | undefined
  readonly city: string
  readonly state?: string | undefined
  readonly zip?: string | undefined
  readonly country: string
  readonly phone?: string | undefined
  readonly email?: string | undefined
}

/**
 * A parcel: dimensions in inches, weight in ounces (EasyPost's units).
 *
 * @since 0.1.0
 */
export interface Parcel {
  readonly length?: number | undefined
  readonly width?: number | undefined
  readonly height?: number | undefined
  readonly weight: number
}

/**
 * What `POST /shipments` needs.
 *
 * @since 0.1.0
 */
export interface CreateShipment {
  readonly toAddress: Address
  readonly fromAddress: Address
  readonly parcel: Parcel
  readonly reference?: string | undefined
  readonly labelFormat?: string | undefined
}

/**
 * The EasyPost API calls waybill uses.
 *
 * @since 0.1.0
 */
export interface EasyPostClient {
  /** `POST /trackers`. EasyPost returns the existing tracker for a code it already tracks. */
  readonly createTracker: (request: {
    readonly trackingCode: string
    readonly carrier?: string | undefined
  }) => Effect.Effect<ApiTracker, PortError.CarrierError>
  /** `POST /shipments`: creates a shipment and rates it. */
  readonly createShipment: (request: CreateShipment) => Effect.Effect<Shipment, PortError.CarrierError>
  /** `POST /shipments/:id/buy`: buys one of the shipment's rates (label, tracking code). */
  readonly buyShipment: (shipmentId: string, rateId: string) => Effect.Effect<Shipment, PortError.CarrierError>
  /**
   * `GET /shipments/:id`. EasyPost also takes the shipment's `reference` in place of the id;
   * an unknown one fails with `NotFound`.
   */
  readonly retrieveShipment: (shipmentId: string) => Effect.Effect<Shipment, PortError.CarrierError>
}

const MODULE = "EasyPostClient"

const ErrorBody = Schema.Struct({
  error: Schema.Struct({
    code: NullableString,
    message: NullableString,
    errors: Schema.optional(
      Schema.NullOr(
        Schema.Array(
          Schema.Union(Schema.String, Schema.Struct({ field: NullableString, message: NullableString }))
        )
      )
    )
  })
})

/**
 * How many milliseconds a `Retry-After` value (seconds, or an HTTP date) asks to wait.
 *
 * @since 0.1.0
 */
export const retryAfterMillis: (value: string | undefined, nowMillis: number) => number | undefined =
  HttpFailure.retryAfterMillis

/**
 * The retry `reason` of an HTTP status.
 *
 * @since 0.1.0
 */
export const reasonOfStatus: (status: number) => PortError.Reason = HttpFailure.reasonOfStatus

/** EasyPost's `{ error: { code, message, errors } }` as `CODE: message (field: message; …)`. */
const describe = (json: unknown, status: number): HttpFailure.Detail | undefined => {
  const decoded = Schema.decodeUnknownEither(ErrorBody)(json)
  if (decoded._tag === "Left") return undefined
  const e = decoded.right.error
  const fields = (e.errors ?? []).map((f) =>
    typeof f === "string" ? f : [f.field, f.message].filter((x) => x !== null && x !== undefined).join(": ")
  )
  const summary = [e.code, e.message].filter((x) => x !== null && x !== undefined && x !== "").join(": ") || `HTTP ${status}`
  return {
    description: fields.length > 0 ? `${summary} (${fields.join("; ")})` : summary,
    ...(e.code !== null && e.code !== undefined ? { cause: { code: e.code } } : {})
  }
}

/**
 * Translates an EasyPost error response into a `CarrierError`, naming EasyPost's error code,
 * message and field errors.
 *
 * @since 0.1.0
 */
export const fromErrorResponse = (
  method: string,
  response: HttpFailure.Response,
  nowMillis: number
): PortError.CarrierError =>
  new PortError.CarrierError(HttpFailure.fromResponse(response, { module: MODULE, method, nowMillis, describe }))

const compact = <A extends Record<string, unknown>>(record: A): Partial<A> =>
  Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as Partial<A>

/**
 * Makes a client. Requires an `HttpClient` (the host picks the transport).
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<EasyPostClient, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const baseUrl = (options.baseUrl ?? defaultBaseUrl).replace(/\/+$/, "")
    const timeout = Duration.decode(options.timeout ?? Duration.seconds(30))

    const call = <A, I>(
      method: string,
      request: HttpClientRequest.HttpClientRequest,
      schema: Schema.Schema<A, I>
    ): Effect.Effect<A, PortError.CarrierError> =>
      Effect.gen(function*() {
        const response = yield* http.execute(
          request.pipe(
            HttpClientRequest.basicAuth(Redacted.value(options.apiKey), ""),
            HttpClientRequest.acceptJson
          )
        )
        const { body } = yield* HttpFailure.readOk(response, (answer, now) => fromErrorResponse(method, answer, now))
        let json: unknown
        try {
          json = JSON.parse(body)
        } catch {
          return yield* Effect.fail(
            new PortError.CarrierError({
              reason: "Invalid",
              module: MODULE,
              method,
              description: `HTTP ${response.status} answer is not JSON: ${body.slice(0, 200)}`,
              status: response.status
            })
          )
        }
        return yield* Effect.mapError(
          Schema.decodeUnknown(schema, { onExcessProperty: "ignore" })(json),
          (error) =>
            new PortError.CarrierError({
              reason: "Invalid",
              module: MODULE,
              method,
              description: `unexpected answer: ${EasyPostTracking.formatParseError(error, "")}`,
              status: response.status
            })
        )
      }).pipe((effect) => HttpFailure.guard(effect, { error: PortError.CarrierError, module: MODULE, method, timeout }))

    const address = (a: Address) =>
      compact({
        name: a.name,
        company: a.company,
        street1: a.street1,
        street2: a.street2,
        city: a.city,
        state: a.state,
        zip: a.zip,
        country: a.country,
        phone: a.phone,
        email: a.email
      })

    return {
      createTracker: (request) =>
        call(
          "createTracker",
          HttpClientRequest.post(`${baseUrl}/trackers`).pipe(
            HttpClientRequest.bodyUnsafeJson({
              tracker: compact({ tracking_code: request.trackingCode, carrier: request.carrier })
            })
          ),
          ApiTracker
        ),
      createShipment: (request) =>
        call(
          "createShipment",
          HttpClientRequest.post(`${baseUrl}/shipments`).pipe(
            HttpClientRequest.bodyUnsafeJson({
              shipment: compact({
                to_address: address(request.toAddress),
                from_address: address(request.fromAddress),
                parcel: compact({ ...request.parcel }),
                reference: request.reference,
                options: request.labelFormat !== undefined ? { label_format: request.labelFormat } : undefined
              })
            })
          ),
          Shipment
        ),
      buyShipment: (shipmentId, rateId) =>
        call(
          "buyShipment",
          HttpClientRequest.post(`${baseUrl}/shipments/${encodeURIComponent(shipmentId)}/buy`).pipe(
            HttpClientRequest.bodyUnsafeJson({ rate: { id: rateId } })
          ),
          Shipment
        ),
      retrieveShipment: (shipmentId) =>
        call("retrieveShipment", HttpClientRequest.get(`${baseUrl}/shipments/${encodeURIComponent(shipmentId)}`), Shipment)
    }
  })
