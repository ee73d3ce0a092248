/**
 * The AfterShip carrier port against AfterShipFake (a real HTTP server on 127.0.0.1): tracker
 * creation (idempotent through meta code 4003), the unsupported label API, error mapping, and a
 * signed webhook from the fake through an ingress into the port.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { CarrierPort, ErpPort, HttpFailure, Instant, PortError, Shipment } from "@waybill/core"
import { CarrierSuite } from "@waybill/core/testing"
import { AfterShipCarrier, AfterShipClient } from "../src/index.js"
import { AfterShipFake } from "../src/testing/index.js"
import * as Payloads from "./payloads.js"

const webhookSecret = "as-webhook-secret"
const key = (k: string) => Schema.decodeSync(ErpPort.IdempotencyKey)(k)
const fixedNow = () => new Date(Date.UTC(2024, 6, 29, 8, 0, 0))

const withCarrier = <A, E>(
  body: (carrier: AfterShipCarrier.AfterShipCarrierShape, fake: AfterShipFake.AfterShipFake) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const fake = yield* AfterShipFake.make({ now: fixedNow })
    const carrier = yield* AfterShipCarrier.make({
      apiKey: Redacted.make(fake.apiKey),
      webhookSecret: Redacted.make(webhookSecret),
      baseUrl: fake.url,
      timeout: Duration.seconds(5)
    }).pipe(Effect.provide(FetchHttpClient.layer))
    return yield* body(carrier, fake)
  })

const failureOf = CarrierSuite.failureOf

describe("AfterShipCarrier.createTracker", () => {
  it.scoped("registers the tracking number with as-api-key, and a second registration reads the existing one", () =>
    withCarrier((carrier, fake) =>
      Effect.gen(function*() {
        const request = new CarrierPort.CreateTracker({ key: key("shp-1:tracker"), trackingNumber: "1234567890", carrier: "DHL" })
        const tracker = yield* carrier.createTracker(request)
        expect(tracker.trackingNumber).toBe("1234567890")
        expect(tracker.carrier).toBe("dhl")
        expect(tracker.externalId).toMatch(/^[0-9a-f]{32}$/)
        expect(fake.calls()[0]).toMatchObject({
          method: "POST",
          path: "/tracking/2025-04/trackings",
          body: { tracking_number: "1234567890", slug: "dhl" },
          authorized: true
        })
        // AfterShip answers 4003 "Tracking already exists"; the client looks it up instead.
        const again = yield* carrier.createTracker(request)
        expect(again.externalId).toBe(tracker.externalId)
        expect(fake.count("POST", "/tracking/2025-04/trackings")).toBe(2)
        expect(fake.calls()[2]).toMatchObject({
          method: "GET",
          path: "/tracking/2025-04/trackings",
          query: { tracking_numbers: "1234567890", slug: "dhl" }
        })
      })
    ))

  it.scoped("maps 429 (Retry-After or X-RateLimit-Reset), 5xx, 4xx validation and 401", () =>
    withCarrier((carrier, fake) =>
      Effect.gen(function*() {
        const request = new CarrierPort.CreateTracker({ key: key("k"), trackingNumber: "JD014600003828392110" })
        fake.failNext({ _tag: "RateLimited", retryAfter: "3" })
        const limited = failureOf(yield* Effect.exit(carrier.createTracker(request)))
        expect(limited).toMatchObject({ reason: "RateLimited", status: 429, retryAfterMillis: 3000 })
        expect(limited.description).toBe(
          "429 TooManyRequests You have exceeded the API call rate limit. The default limit is 10 requests per second."
        )

        // A reset 12 s after the server's clock (its Date header) is 12 s away, whatever this
        // host's clock says (the test clock is at 0, the fake's in 2024).
        fake.failNext({ _tag: "RateLimited", rateLimitReset: fixedNow().getTime() / 1000 + 12 })
        expect(failureOf(yield* Effect.exit(carrier.createTracker(request))).retryAfterMillis).toBe(12_000)

        fake.failNext({ _tag: "ServerError", status: 503 })
        expect(failureOf(yield* Effect.exit(carrier.createTracker(request)))).toMatchObject({ reason: "Unavailable", status: 503 })

        const blank = failureOf(
          yield* Effect.exit(carrier.createTracker(new CarrierPort.CreateTracker({ key: key("k"), trackingNumber: " " })))
        )
        expect(blank).toMatchObject({ reason: "Invalid", status: 400, description: "4007 BadRequest tracking_number is required." })

        const tracker = yield* carrier.createTracker(request)
        expect(tracker.trackingNumber).toBe("JD014600003828392110")
      })
    ))

  it.scoped("a wrong API key is Unauthorized", () =>
    Effect.gen(function*() {
      const fake = yield* AfterShipFake.make()
      const carrier = yield* AfterShipCarrier.make({
        apiKey: Redacted.make("wrong"),
        webhookSecret: Redacted.make(webhookSecret),
        baseUrl: fake.url
      }).pipe(Effect.provide(FetchHttpClient.layer))
      const error = failureOf(
        yield* Effect.exit(carrier.createTracker(new CarrierPort.CreateTracker({ key: key("k"), trackingNumber: "1234567890" })))
      )
      expect(error).toMatchObject({ reason: "Unauthorized", status: 401, description: "401 Unauthorized Invalid API key." })
    }))
})

describe("AfterShipCarrier.buyLabel", () => {
  it.scoped("is not supported: a typed, permanent Invalid", () =>
    withCarrier((carrier, fake) =>
      Effect.gen(function*() {
        const shipment = Schema.decodeUnknownSync(Shipment.Shipment)({
          id: "shp-1",
          companyId: "co-1",
          orderId: "SO042",
          refs: {},
          shipTo: { street: "Invalidenstr. 116", city: "Berlin", country: "DE" },
          packages: [],
          declaredWeight: 1200,
          createdAt: "2024-07-31T12:00:00Z"
        })
        const error = failureOf(yield* Effect.exit(carrier.buyLabel(new CarrierPort.BuyLabel({ key: key("l"), shipment }))))
        expect(error.reason).toBe("Invalid")
        expect(error.description).toMatch(/^not supported: AfterShip Tracking has no label API/)
        expect(PortError.isRetryable(error.reason)).toBe(false)
        expect(fake.calls()).toHaveLength(0)
      })
    ))
})

// The port's generic promises (source, idempotent trackers, 429/5xx, timeouts, signed webhooks
// through an ingress at 202/401, tampered webhooks refused), with the port built by layerConfig
// from Config (credentials redacted, the API root, the timeout).
CarrierSuite.run(
  "AfterShipCarrier (layerConfig)",
  Effect.gen(function*() {
    const fake = yield* AfterShipFake.make({ now: fixedNow })
    const layer = AfterShipCarrier.layerConfig({
      apiKey: Config.redacted("AFTERSHIP_API_KEY"),
      webhookSecret: Config.redacted("AFTERSHIP_WEBHOOK_SECRET"),
      baseUrl: Config.string("AFTERSHIP_BASE_URL"),
      timeout: Config.duration("AFTERSHIP_TIMEOUT")
    }).pipe(Layer.provide(FetchHttpClient.layer))
    const port = yield* Effect.provide(CarrierPort.CarrierPort, layer).pipe(
      Effect.withConfigProvider(
        ConfigProvider.fromMap(
          new Map([
            ["AFTERSHIP_API_KEY", fake.apiKey],
            ["AFTERSHIP_WEBHOOK_SECRET", webhookSecret],
            ["AFTERSHIP_BASE_URL", fake.url],
            ["AFTERSHIP_TIMEOUT", "5 seconds"]
          ])
        )
      )
    )
    return {
      port,
      fake,
      source: "aftership",
      timeout: Duration.seconds(5),
      tracker: new CarrierPort.CreateTracker({ key: key("shp-1:tracker"), trackingNumber: "1234567890", carrier: "DHL" }),
      // A new tracking has no checkpoint yet: one event for its own tag.
      webhook: (id: string) => fake.webhookBody(id),
      observations: 1,
      sign: (body: string, secret: string) => fake.signedRequest(body, secret).headers,
      send: fake.sendWebhook,
      secret: webhookSecret
    }
  })
)

describe("AfterShipCarrier as the CarrierPort", () => {
  it.scoped("parses the fake's tracking_update webhooks (current and legacy signature header)", () =>
    Effect.gen(function*() {
      const fake = yield* AfterShipFake.make({ now: fixedNow })
      const layer = AfterShipCarrier.layer({
        apiKey: Redacted.make(fake.apiKey),
        webhookSecret: Redacted.make(webhookSecret),
        baseUrl: fake.url,
        timePolicy: { _tag: "AssumeZone", zone: "Europe/Berlin" }
      }).pipe(Layer.provide(FetchHttpClient.layer))
      const port = yield* Effect.provide(CarrierPort.CarrierPort, layer)
      expect(port.source).toBe("aftership")
      const tracker = yield* port.createTracker(
        new CarrierPort.CreateTracker({ key: key("shp-5:tracker"), trackingNumber: "00340434161094042557", carrier: "dhl" })
      )
      fake.addCheckpoint(tracker.externalId, {
        checkpoint_time: "2024-07-30T06:12:00",
        tag: "InTransit",
        subtag: "InTransit_003",
        message: "Die Sendung wurde im Start-Paketzentrum bearbeitet.",
        city: "Leipzig",
        zip: "04435",
        country_iso3: "DEU"
      })
      fake.addCheckpoint(tracker.externalId, {
        checkpoint_time: "2024-07-31T10:02:00",
        tag: "AttemptFail",
        subtag: "AttemptFail_002",
        message: "Der Empfänger wurde nicht angetroffen.",
        city: "Berlin",
        country_iso3: "DEU"
      })

      const receivedAt = Instant.fromMillis(Date.UTC(2024, 6, 31, 9, 0, 0))
      const observations = yield* port.parse(fake.signedRequest(fake.webhookBody(tracker.externalId), webhookSecret, { receivedAt }))
      expect(observations.map(Payloads.summarize)).toEqual([
        {
          trackingNumber: "00340434161094042557",
          carrier: "dhl",
          tag: "StatusReported",
          meaning: "in_transit",
          occurredAt: "2024-07-30T04:12:00.000Z",
          city: "Leipzig",
          postalCode: "04435",
          country: "DE",
          code: "InTransit",
          detail: "InTransit_003",
          description: "Die Sendung wurde im Start-Paketzentrum bearbeitet."
        },
        {
          trackingNumber: "00340434161094042557",
          carrier: "dhl",
          tag: "ExceptionReported",
          meaning: "failed_attempt",
          occurredAt: "2024-07-31T08:02:00.000Z",
          city: "Berlin",
          postalCode: undefined,
          country: "DE",
          code: "AttemptFail",
          detail: "AttemptFail_002",
          description: "Der Empfänger wurde nicht angetroffen."
        }
      ])
      // The legacy header is accepted too.
      const legacy = fake.signedRequest(fake.webhookBody(tracker.externalId), webhookSecret, { legacy: true })
      expect(legacy.headers["am-webhook-signature"]).toMatch(/^hmac-sha256=/)
      expect(yield* port.parse(legacy)).toHaveLength(2)
    }))
})

describe("AfterShipClient.fromErrorResponse", () => {
  it("maps statuses to retry reasons and keeps meta.code", () => {
    // The status table itself is core's (HttpFailure.reasonOfStatus, tested there).
    for (let status = 400; status < 600; status++) {
      const reason = AfterShipClient.fromErrorResponse("m", { status, headers: {}, body: "" }, 0).reason
      expect({ status, reason }).toEqual({ status, reason: HttpFailure.reasonOfStatus(status) })
    }
    const exists = AfterShipClient.fromErrorResponse(
      "m",
      { status: 400, headers: {}, body: JSON.stringify({ meta: { code: 4003, type: "BadRequest", message: "Tracking already exists." } }) },
      0
    )
    expect(exists.cause).toEqual({ metaCode: 4003 })
    expect(exists.description).toBe("4003 BadRequest Tracking already exists.")
  })
})

describe("AfterShipCarrier.make", () => {
  it.effect("refuses a blank or white-space-edged webhook secret with a typed Invalid naming webhookSecret", () =>
    Effect.gen(function*() {
      for (const [secret, problem] of [
        ["", "is empty"],
        [" ", "is only white space"],
        ["\n", "is only white space"],
        ["s3cret-from-a-file\n", "starts or ends with white space"]
      ] as const) {
        const error = yield* Effect.flip(
          AfterShipCarrier.make({ apiKey: Redacted.make("k"), webhookSecret: Redacted.make(secret) }).pipe(
            Effect.provide(FetchHttpClient.layer)
          )
        )
        expect(error).toBeInstanceOf(PortError.CarrierError)
        expect(error).toMatchObject({ reason: "Invalid", module: "AfterShipCarrier", method: "make" })
        expect(error.description.startsWith(`webhookSecret ${problem}`)).toBe(true)
        expect(JSON.stringify(error)).not.toContain("s3cret-from-a-file")
      }
    }))
})
