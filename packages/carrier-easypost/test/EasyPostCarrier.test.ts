/**
 * The EasyPost carrier port against EasyPostFake (a real HTTP server on 127.0.0.1): trackers,
 * labels, idempotency, and every failure mapped to the retry reason the dispatcher keys off.
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { CarrierPort, ErpPort, HttpFailure, Instant, Money, PortError, Shipment } from "@waybill/core"
import { CarrierSuite } from "@waybill/core/testing"
import { EasyPostCarrier, EasyPostClient } from "../src/index.js"
import { EasyPostFake } from "../src/testing/index.js"
import { podOf, scansOf, summarize } from "./fixtures.js"

const webhookSecret = "whsec-sécret"

const fromAddress: EasyPostClient.Address = {
  company: "Acme Distribution",
  street1: "417 Montgomery Street",
  street2: "5th Floor",
  city: "San Francisco",
  state: "CA",
  zip: "94104",
  country: "US",
  phone: "4153334445"
}

const shipment = Schema.decodeUnknownSync(Shipment.Shipment)({
  id: "shp-1",
  companyId: "co-1",
  orderId: "SO042",
  refs: {},
  shipTo: { street: "179 N Harbor Dr", postalCode: "90277", city: "Redondo Beach", region: "CA", country: "US" },
  packages: [{ id: "pkg-1", weight: 1500, lengthMm: 300, widthMm: 200, heightMm: 100 }],
  declaredWeight: 1500,
  createdAt: "2024-07-31T12:00:00Z"
})

const key = (k: string) => Schema.decodeSync(ErpPort.IdempotencyKey)(k)

const withCarrier = <A, E>(
  body: (carrier: EasyPostCarrier.EasyPostCarrierShape, fake: EasyPostFake.EasyPostFake) => Effect.Effect<A, E>,
  overrides: Partial<EasyPostCarrier.Options> = {},
  fakeOptions: EasyPostFake.Options = {}
) =>
  Effect.gen(function*() {
    const fake = yield* EasyPostFake.make({ now: () => new Date(Date.UTC(2025, 4, 9, 20, 40, 17)), ...fakeOptions })
    const carrier = yield* EasyPostCarrier.make({
      apiKey: Redacted.make(fake.apiKey),
      webhookSecret: Redacted.make(webhookSecret),
      baseUrl: fake.url,
      fromAddress,
      timeout: Duration.seconds(10),
      ...overrides
    }).pipe(Effect.provide(FetchHttpClient.layer))
    return yield* body(carrier, fake)
  })

const failureOf = CarrierSuite.failureOf

describe("EasyPostCarrier.make", () => {
  it.effect("refuses a blank or white-space-edged webhook secret with a typed Invalid naming webhookSecret", () =>
    Effect.gen(function*() {
      for (const [secret, problem] of [
        ["", "is empty"],
        [" ", "is only white space"],
        ["\n", "is only white space"],
        [`${webhookSecret}\n`, "starts or ends with white space"]
      ] as const) {
        const error = yield* Effect.flip(
          EasyPostCarrier.make({ apiKey: Redacted.make("k"), webhookSecret: Redacted.make(secret) }).pipe(
            Effect.provide(FetchHttpClient.layer)
          )
        )
        expect(error).toBeInstanceOf(PortError.CarrierError)
        expect(error).toMatchObject({ reason: "Invalid", module: "EasyPostCarrier", method: "make" })
        expect(error.description.startsWith(`webhookSecret ${problem}`)).toBe(true)
        expect(JSON.stringify(error)).not.toContain("sécret")
      }
    }))
})

describe("EasyPostCarrier.createTracker", () => {
  it.scoped("creates a tracker over Basic auth and gets the same tracker back for the same code", () =>
    withCarrier((carrier, fake) =>
      Effect.gen(function*() {
        const request = new CarrierPort.CreateTracker({ key: key("shp-1:tracker"), trackingNumber: "EZ4000000004", carrier: "USPS" })
        const tracker = yield* carrier.createTracker(request)
        expect(tracker.trackingNumber).toBe("EZ4000000004")
        expect(tracker.carrier).toBe("USPS")
        expect(tracker.externalId).toMatch(/^trk_[0-9a-f]{32}$/)
        const again = yield* carrier.createTracker(request)
        expect(again.externalId).toBe(tracker.externalId)
        expect(fake.count("POST", "/v2/trackers")).toBe(2)
        expect(fake.calls().every((c) => c.authorized)).toBe(true)
        expect(fake.calls()[0]!.body).toEqual({ tracker: { tracking_code: "EZ4000000004", carrier: "USPS" } })
      })
    ))

  it.scoped("a validation error is Invalid, naming EasyPost's code and the field", () =>
    withCarrier((carrier) =>
      Effect.gen(function*() {
        const error = failureOf(
          yield* Effect.exit(carrier.createTracker(new CarrierPort.CreateTracker({ key: key("k"), trackingNumber: "  " })))
        )
        expect(error.reason).toBe("Invalid")
        expect(error.status).toBe(422)
        expect(error.description).toBe("PARAMETER.REQUIRED: Missing required parameter. (tracker.tracking_code: cannot be blank)")
        expect(PortError.isRetryable(error.reason)).toBe(false)
      })
    ))

  it.scoped("a wrong API key is Unauthorized (401)", () =>
    Effect.gen(function*() {
      const fake = yield* EasyPostFake.make()
      const carrier = yield* EasyPostCarrier.make({
        apiKey: Redacted.make("EZAK_wrong"),
        webhookSecret: Redacted.make(webhookSecret),
        baseUrl: fake.url
      }).pipe(Effect.provide(FetchHttpClient.layer))
      const error = failureOf(
        yield* Effect.exit(carrier.createTracker(new CarrierPort.CreateTracker({ key: key("k"), trackingNumber: "EZ1000000001" })))
      )
      expect(error.reason).toBe("Unauthorized")
      expect(error.status).toBe(401)
      expect(error.description).toMatch(/^APIKEY.INACTIVE/)
      expect(fake.calls()[0]!.authorized).toBe(false)
    }))

  it.scoped("429 is RateLimited with retryAfterMillis from Retry-After; 500 and 503 are Unavailable", () =>
    withCarrier((carrier, fake) =>
      Effect.gen(function*() {
        const request = new CarrierPort.CreateTracker({ key: key("k"), trackingNumber: "EZ2000000002" })
        fake.failNext({ _tag: "RateLimited", retryAfter: "7" }, { route: "POST /v2/trackers" })
        const limited = failureOf(yield* Effect.exit(carrier.createTracker(request)))
        expect(limited.reason).toBe("RateLimited")
        expect(limited.status).toBe(429)
        expect(limited.retryAfterMillis).toBe(7000)
        expect(PortError.isRetryable(limited.reason)).toBe(true)

        fake.failNext({ _tag: "ServerError" })
        const down = failureOf(yield* Effect.exit(carrier.createTracker(request)))
        expect(down.reason).toBe("Unavailable")
        expect(down.status).toBe(500)
        expect(down.description).toMatch(/^INTERNAL_SERVER_ERROR/)

        fake.failNext({ _tag: "ServerError", status: 503 })
        expect(failureOf(yield* Effect.exit(carrier.createTracker(request))).reason).toBe("Unavailable")

        // The faults were consumed: the fourth call succeeds.
        const tracker = yield* carrier.createTracker(request)
        expect(tracker.trackingNumber).toBe("EZ2000000002")
        expect(fake.count("POST", "/v2/trackers")).toBe(4)
      })
    ))

  it.effect("a refused connection is a Transport failure", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(
        () =>
          new Promise<number>((resolve) => {
            const s = Http.createServer()
            s.listen(0, "127.0.0.1", () => {
              const p = (s.address() as AddressInfo).port
              s.close(() => resolve(p))
            })
          })
      )
      const carrier = yield* EasyPostCarrier.make({
        apiKey: Redacted.make("k"),
        webhookSecret: Redacted.make("s"),
        baseUrl: `http://127.0.0.1:${port}/v2`
      }).pipe(Effect.provide(FetchHttpClient.layer))
      const error = failureOf(
        yield* Effect.exit(carrier.createTracker(new CarrierPort.CreateTracker({ key: key("k"), trackingNumber: "EZ1000000001" })))
      )
      expect(error.reason).toBe("Transport")
      expect(PortError.isRetryable(error.reason)).toBe(true)
    }))
})

describe("EasyPostCarrier.toMinorUnits", () => {
  it("reads EasyPost's decimal strings exactly, in the currency's minor unit, rounding extra digits half up", () => {
    expect(EasyPostCarrier.toMinorUnits("7.58", "USD")).toBe(758)
    expect(EasyPostCarrier.toMinorUnits("7.47000", "USD")).toBe(747)
    expect(EasyPostCarrier.toMinorUnits("1300", "JPY")).toBe(1300)
    expect(EasyPostCarrier.toMinorUnits("1.250", "KWD")).toBe(1250)
    expect(EasyPostCarrier.toMinorUnits("7.585", "USD")).toBe(759)
    expect(EasyPostCarrier.toMinorUnits("-7.585", "USD")).toBe(-759)
    expect(EasyPostCarrier.toMinorUnits("7,58", "USD")).toBeUndefined()
  })

  it("agrees with Money on every currency's minor unit: reading a formatted amount gives it back", () => {
    const currencies = ["USD", "EUR", "JPY", "KRW", "KWD", "BHD", "CLF", "UYW"] as const
    FastCheck.assert(
      FastCheck.property(
        FastCheck.integer({ min: -1_000_000_000, max: 1_000_000_000 }),
        FastCheck.constantFrom(...currencies),
        (amountMinor, currency) => {
          const money = new Money.Money({ amountMinor, currency: Money.CurrencyCode.make(currency) })
          const [major] = Money.format(money).split(" ")
          expect(EasyPostCarrier.toMinorUnits(major!, currency)).toBe(amountMinor)
        }
      ),
      { numRuns: 500 }
    )
  })
})

describe("EasyPostCarrier.buyLabel", () => {
  it.scoped("creates the shipment, buys the cheapest rate and returns label, rate and tracking code", () =>
    withCarrier((carrier, fake) =>
      Effect.gen(function*() {
        const label = yield* carrier.buyLabel(new CarrierPort.BuyLabel({ key: key("shp-1:label"), shipment }))
        expect(label.carrier).toBe("USPS")
        expect(label.service).toBe("Priority")
        expect(label.rate.amountMinor).toBe(747)
        expect(label.rate.currency).toBe("USD")
        expect(label.trackingNumber).toMatch(/^9405500\d{15}$/)
        expect(label.externalId).toMatch(/^shp_[0-9a-f]{32}$/)
        expect(label.labelUrl).toBe(`${fake.url.replace(/\/v2$/, "")}/files/postage_label/${label.externalId}.png`)
        expect(fake.count("POST", "/v2/shipments")).toBe(2)
        // First the lookup by reference (nothing yet), then the create, then the buy.
        expect(fake.calls()[0]!.path).toBe("/v2/shipments/shp-1%3Alabel")
        const created = fake.calls()[1]!.body as { shipment: Record<string, any> }
        expect(created.shipment["reference"]).toBe("shp-1:label")
        expect(created.shipment["to_address"]).toEqual({
          street1: "179 N Harbor Dr",
          city: "Redondo Beach",
          state: "CA",
          zip: "90277",
          country: "US"
        })
        // 1,500 g = 52.91 oz; 300 × 200 × 100 mm = 11.81 × 7.87 × 3.94 in: each rounded up to
        // EasyPost's tenth, never declaring less than the parcel weighs or measures.
        expect(created.shipment["parcel"]).toEqual({ weight: 53, length: 11.9, width: 7.9, height: 4 })
        expect(fake.calls()[2]!.path).toBe(`/v2/shipments/${label.externalId}/buy`)
        // The bought shipment carries a tracker for the label's tracking code.
        expect((fake.shipment(label.externalId)!["tracker"] as { tracking_code: string }).tracking_code).toBe(label.trackingNumber)
      })
    ))

  it.scoped("buys the requested service, and the same key returns the same label without calling again", () =>
    withCarrier((carrier, fake) =>
      Effect.gen(function*() {
        const request = new CarrierPort.BuyLabel({ key: key("shp-1:label:express"), shipment, service: "Express" })
        const label = yield* carrier.buyLabel(request)
        expect(label.service).toBe("Express")
        expect(label.rate.amountMinor).toBe(4685)
        const calls = fake.calls().length
        const again = yield* carrier.buyLabel(request)
        expect(again).toEqual(label)
        expect(fake.calls().length).toBe(calls)
      })
    ))

  it.scoped("retries after a failed create create again; a retry after a failed buy reuses the shipment", () =>
    withCarrier((carrier, fake) =>
      Effect.gen(function*() {
        const request = new CarrierPort.BuyLabel({ key: key("shp-1:label:retry"), shipment })
        fake.failNext({ _tag: "ServerError", status: 502 }, { route: "POST /v2/shipments" })
        fake.failNext({ _tag: "RateLimited", retryAfter: "2" }, { route: "POST /v2/shipments" })
        // First attempt: the create answers 502; second: 429; third succeeds.
        expect(failureOf(yield* Effect.exit(carrier.buyLabel(request))).reason).toBe("Unavailable")
        expect(failureOf(yield* Effect.exit(carrier.buyLabel(request))).retryAfterMillis).toBe(2000)
        const label = yield* carrier.buyLabel(request)
        expect(label.rate.amountMinor).toBe(747)
        expect(fake.calls().filter((c) => c.method === "POST" && c.path === "/v2/shipments")).toHaveLength(3)
        expect(fake.count("POST", /^\/v2\/shipments\/[^/]+\/buy$/)).toBe(1)

        // Now the buy itself fails once: the retry buys the shipment created by the first attempt.
        const second = new CarrierPort.BuyLabel({ key: key("shp-1:label:retry-buy"), shipment })
        fake.failNext({ _tag: "ServerError", status: 503 }, { route: /^POST \/v2\/shipments\/[^/]+\/buy$/ })
        const creates = () => fake.calls().filter((c) => c.method === "POST" && c.path === "/v2/shipments").length
        const createsBefore = creates()
        expect(failureOf(yield* Effect.exit(carrier.buyLabel(second))).reason).toBe("Unavailable")
        const bought = yield* carrier.buyLabel(second)
        expect(creates() - createsBefore).toBe(1)
        expect(fake.count("GET", `/v2/shipments/${bought.externalId}`)).toBe(1)
        expect(bought.trackingNumber).not.toBe(label.trackingNumber)
      })
    ))

  it.scoped("a buy whose answer was lost times out; the retry finds the label already bought (no second buy)", () =>
    withCarrier((carrier, fake) =>
      Effect.gen(function*() {
        const request = new CarrierPort.BuyLabel({ key: key("shp-3:label"), shipment })
        fake.failNext({ _tag: "LoseAnswer" }, { route: /^POST \/v2\/shipments\/[^/]+\/buy$/ })
        const fiber = yield* Effect.fork(Effect.exit(carrier.buyLabel(request)))
        yield* fake.awaitCalls(3)
        yield* TestClock.adjust(Duration.seconds(11))
        expect(failureOf(yield* Fiber.join(fiber)).reason).toBe("Timeout")
        const label = yield* carrier.buyLabel(request)
        expect(fake.count("POST", /^\/v2\/shipments\/[^/]+\/buy$/)).toBe(1)
        expect(fake.count("GET", `/v2/shipments/${label.externalId}`)).toBe(1)
        expect(label.trackingNumber).toBe(fake.shipment(label.externalId)!["tracking_code"])
      })
    ))

  /** A new process's carrier against the fake: what a restarted worker builds. */
  const processOf = (fake: EasyPostFake.EasyPostFake) => () =>
    EasyPostCarrier.make({
      apiKey: Redacted.make(fake.apiKey),
      webhookSecret: Redacted.make(webhookSecret),
      baseUrl: fake.url,
      fromAddress,
      timeout: Duration.seconds(10)
    }).pipe(Effect.provide(FetchHttpClient.layer))

  it.scoped("a retry by a restarted process (same key) finds the label the first one bought: no second purchase", () =>
    Effect.gen(function*() {
      const fake = yield* EasyPostFake.make({ now: () => new Date(Date.UTC(2025, 4, 9, 20, 40, 17)) })
      const process = processOf(fake)
      const request = new CarrierPort.BuyLabel({ key: key("shp-4:label"), shipment })
      // The first process buys the label, then crashes before its outbox ack.
      const label = yield* Effect.flatMap(process(), (carrier) => carrier.buyLabel(request))
      // The restarted process carries out the same action again.
      const again = yield* Effect.flatMap(process(), (carrier) => carrier.buyLabel(request))
      expect(again).toEqual(label)
      expect(fake.count("POST", /^\/v2\/shipments\/[^/]+\/buy$/)).toBe(1)
      expect(fake.count("POST", /^\/v2\/shipments$/)).toBe(1)
    }))

  it.scoped("a restarted process whose first create was carried out (answer lost) buys that shipment, not a new one", () =>
    Effect.gen(function*() {
      const fake = yield* EasyPostFake.make({ now: () => new Date(Date.UTC(2025, 4, 9, 20, 40, 17)) })
      const process = processOf(fake)
      const request = new CarrierPort.BuyLabel({ key: key("shp-5:label"), shipment })
      fake.failNext({ _tag: "LoseAnswer" }, { route: "POST /v2/shipments" })
      const first = yield* process()
      const fiber = yield* Effect.fork(Effect.exit(first.buyLabel(request)))
      yield* fake.awaitCalls(fake.calls().length + 1)
      yield* TestClock.adjust(Duration.seconds(11))
      expect(failureOf(yield* Fiber.join(fiber)).reason).toBe("Timeout")
      const label = yield* Effect.flatMap(process(), (carrier) => carrier.buyLabel(request))
      expect(fake.count("POST", /^\/v2\/shipments$/)).toBe(1)
      expect(fake.count("POST", /^\/v2\/shipments\/[^/]+\/buy$/)).toBe(1)
      expect(fake.shipment(label.externalId)!["reference"]).toBe("shp-5:label")
    }))

  it.scoped("no matching rate, several packages, or no sender address: Invalid, naming why", () =>
    withCarrier((carrier) =>
      Effect.gen(function*() {
        const noRate = failureOf(
          yield* Effect.exit(carrier.buyLabel(new CarrierPort.BuyLabel({ key: key("a"), shipment, service: "Teleport" })))
        )
        expect(noRate.reason).toBe("Invalid")
        expect(noRate.description).toBe(
          "no rate for Teleport (offered: USPS Priority, USPS GroundAdvantage, USPS Express, UPS Ground)"
        )
        const twoPackages = Schema.decodeUnknownSync(Shipment.Shipment)({
          ...Schema.encodeSync(Shipment.Shipment)(shipment),
          packages: [{ id: "p1", weight: 100 }, { id: "p2", weight: 200 }]
        })
        const multi = failureOf(yield* Effect.exit(carrier.buyLabel(new CarrierPort.BuyLabel({ key: key("b"), shipment: twoPackages }))))
        expect(multi.description).toBe("an EasyPost shipment carries one parcel; shipment shp-1 has 2 packages")
      })
    ))
})

// The port's generic promises (source, idempotent trackers, 429/5xx, timeouts, signed webhooks
// through an ingress at 202/401, tampered webhooks refused), with the port built by layerConfig
// from Config (credentials redacted, the API root), so that path is covered too.
CarrierSuite.run(
  "EasyPostCarrier (layerConfig)",
  Effect.gen(function*() {
    const fake = yield* EasyPostFake.make({ now: () => new Date(Date.UTC(2025, 4, 9, 20, 40, 17)) })
    const layer = EasyPostCarrier.layerConfig({
      apiKey: Config.redacted("EASYPOST_API_KEY"),
      webhookSecret: Config.redacted("EASYPOST_WEBHOOK_SECRET"),
      baseUrl: Config.string("EASYPOST_BASE_URL")
    }).pipe(Layer.provide(FetchHttpClient.layer))
    const port = yield* Effect.provide(CarrierPort.CarrierPort, layer).pipe(
      Effect.withConfigProvider(
        ConfigProvider.fromMap(
          new Map([
            ["EASYPOST_API_KEY", fake.apiKey],
            ["EASYPOST_WEBHOOK_SECRET", webhookSecret],
            ["EASYPOST_BASE_URL", fake.url]
          ])
        )
      )
    )
    return {
      port,
      fake,
      source: "easypost",
      // The default timeout.
      timeout: Duration.seconds(30),
      // A test-mode code whose tracker starts with three scans.
      tracker: new CarrierPort.CreateTracker({ key: key("shp-9:tracker"), trackingNumber: "EZ3000000003", carrier: "USPS" }),
      webhook: (id: string) => fake.trackerEvent(id),
      observations: 3,
      sign: (body: string, secret: string) => fake.signedRequest(body, secret).headers,
      send: fake.sendWebhook,
      secret: webhookSecret
    }
  })
)

describe("EasyPostCarrier as the CarrierPort", () => {
  it.scoped("parses the fake's tracker.updated webhook into the tracker's scans, the new delivery last", () =>
    Effect.gen(function*() {
      const fake = yield* EasyPostFake.make({ now: () => new Date(Date.UTC(2025, 4, 9, 20, 40, 17)) })
      const layer = EasyPostCarrier.layer({
        apiKey: Redacted.make(fake.apiKey),
        webhookSecret: Redacted.make(webhookSecret),
        baseUrl: fake.url
      }).pipe(Layer.provide(FetchHttpClient.layer))
      const port = yield* Effect.provide(CarrierPort.CarrierPort, layer)
      expect(port.source).toBe("easypost")

      const tracker = yield* port.createTracker(
        new CarrierPort.CreateTracker({ key: key("shp-9:tracker"), trackingNumber: "EZ3000000003", carrier: "USPS" })
      )
      fake.advanceTracker(tracker.externalId, {
        status: "delivered",
        status_detail: "arrived_at_destination",
        message: "Delivered, Front Door/Porch",
        datetime: "2025-05-09T21:05:00Z",
        city: "CHARLESTON",
        state: "SC",
        zip: "29401",
        country: "US"
      })

      const receivedAt = Instant.fromMillis(Date.UTC(2025, 4, 9, 21, 6, 0))
      const parsed = yield* port.parse(fake.signedRequest(fake.trackerEvent(tracker.externalId), webhookSecret, receivedAt))
      const observations = scansOf(parsed)
      const events = observations.map(summarize)
      expect(events.map((e) => e.meaning)).toEqual(["label_created", "in_transit", "out_for_delivery", "delivered"])
      expect(events[3]).toMatchObject({
        trackingNumber: "EZ3000000003",
        carrier: "USPS",
        occurredAt: "2025-05-09T21:05:00.000Z",
        city: "CHARLESTON",
        code: "delivered",
        detail: "arrived_at_destination"
      })
      // The signer is the tracker's proof of delivery, its own event riding on the delivery.
      const delivered = observations[3]!.event
      expect(delivered._tag === "StatusReported" ? delivered.pod : "not a status").toBeUndefined()
      expect(podOf(parsed)).toBe("John Tester")
    }))
})

describe("EasyPostClient.fromErrorResponse", () => {
  it("maps every status to its retry reason (HttpFailure.reasonOfStatus, whose table core tests)", () => {
    for (let status = 400; status < 600; status++) {
      const reason = EasyPostClient.fromErrorResponse("m", { status, headers: {}, body: "" }, 0).reason
      expect({ status, reason }).toEqual({ status, reason: HttpFailure.reasonOfStatus(status) })
    }
    expect(EasyPostClient.reasonOfStatus).toBe(HttpFailure.reasonOfStatus)
  })

  it("reads Retry-After as seconds or as an HTTP date", () => {
    const now = Date.UTC(2025, 0, 1, 12, 0, 0)
    const date = new Date(now + 90_000).toUTCString()
    expect(
      EasyPostClient.fromErrorResponse("m", { status: 429, headers: { "retry-after": date }, body: "{}" }, now).retryAfterMillis
    ).toBe(90_000)
    expect(
      EasyPostClient.fromErrorResponse("m", { status: 429, headers: { "retry-after": "3" }, body: "{}" }, now).retryAfterMillis
    ).toBe(3000)
    expect(EasyPostClient.fromErrorResponse("m", { status: 429, headers: {}, body: "{}" }, now).retryAfterMillis).toBeUndefined()
  })
})

describe("EasyPostCarrier rates in several currencies", () => {
  // EasyPost rates each carrier account in its own currency: a Canada Post account quotes CAD
  // next to USPS in USD. 6.10 CAD is fewer minor units than 7.47 USD, but not cheaper in any
  // sense waybill can know: rates are compared in one currency, never converted.
  const mixed: ReadonlyArray<EasyPostFake.RateCardEntry> = [
    { carrier: "USPS", service: "Priority", rate: "7.47", currency: "USD" },
    { carrier: "CanadaPost", service: "Expedited", rate: "6.10", currency: "CAD" },
    { carrier: "UPS", service: "Ground", rate: "11.20", currency: "USD" }
  ]
  const rate = (carrier: string, service: string, amount: string, currency: string): EasyPostClient.Rate => ({
    id: `rate_${carrier}_${service}`,
    carrier,
    service,
    rate: amount,
    currency
  })

  it("chooseRate compares only rates in the wanted currency, and without one refuses to compare across currencies", () => {
    const rates = [rate("USPS", "Priority", "7.47", "USD"), rate("CanadaPost", "Expedited", "6.10", "CAD"), rate("UPS", "Ground", "11.20", "USD")]
    expect(EasyPostCarrier.chooseRate(rates, { currency: "USD" })?.id).toBe("rate_USPS_Priority")
    expect(EasyPostCarrier.chooseRate(rates, { currency: "CAD" })?.id).toBe("rate_CanadaPost_Expedited")
    expect(EasyPostCarrier.chooseRate(rates, { currency: "EUR" })).toBeUndefined()
    // No currency given and the candidates span two: no choice rather than a wrong one.
    expect(EasyPostCarrier.chooseRate(rates, {})).toBeUndefined()
    // No currency given and the candidates share one: the cheapest of them.
    expect(EasyPostCarrier.chooseRate(rates, { carrier: "UPS" })?.id).toBe("rate_UPS_Ground")
  })

  it.scoped("with currency USD, buys the cheapest USD rate, not the CAD rate with the smaller number", () =>
    withCarrier((carrier) =>
      Effect.gen(function*() {
        const label = yield* carrier.buyLabel(new CarrierPort.BuyLabel({ key: key("shp-cur:label"), shipment }))
        expect({ carrier: label.carrier, service: label.service, rate: Money.format(label.rate) }).toEqual({
          carrier: "USPS",
          service: "Priority",
          rate: "7.47 USD"
        })
      }), { currency: "USD" }, { rates: mixed }))

  it.scoped("no rate in the configured currency: Invalid naming the currency and what was offered, nothing bought", () =>
    withCarrier((carrier, fake) =>
      Effect.gen(function*() {
        const error = failureOf(
          yield* Effect.exit(carrier.buyLabel(new CarrierPort.BuyLabel({ key: key("shp-eur:label"), shipment })))
        )
        expect(error.reason).toBe("Invalid")
        expect(error.description).toBe(
          "no rate in EUR for the shipment (offered: USPS Priority 7.47 USD, CanadaPost Expedited 6.10 CAD, UPS Ground 11.20 USD)"
        )
        expect(fake.count("POST", /^\/v2\/shipments\/[^/]+\/buy$/)).toBe(0)
      }), { currency: "EUR" }, { rates: mixed }))

  it.scoped("no currency configured and the matching rates span several: Invalid naming them, nothing bought", () =>
    withCarrier((carrier, fake) => Effect.gen(function*() {
      const error = failureOf(
        yield* Effect.exit(carrier.buyLabel(new CarrierPort.BuyLabel({ key: key("shp-mixed:label"), shipment })))
      )
      expect(error.reason).toBe("Invalid")
      expect(error.description).toBe(
        "the rates for the shipment are in several currencies (CAD, USD) and are never converted: set the currency option to choose in one"
      )
      expect(fake.count("POST", /^\/v2\/shipments\/[^/]+\/buy$/)).toBe(0)
      // A requested service whose rates share one currency is still bought without the option.
      const label = yield* carrier.buyLabel(new CarrierPort.BuyLabel({ key: key("shp-mixed:label:ups"), shipment, service: "Ground" }))
      expect(Money.format(label.rate)).toBe("11.20 USD")
    }), {}, { rates: mixed }))
})

describe("EasyPostCarrier parcel units", () => {
  it.scoped("declares a 454 g parcel as 16.1 oz, not 16.0 oz (one pound, the tier below its real weight)", () =>
    withCarrier((carrier, fake) =>
      Effect.gen(function*() {
        const onePound = Schema.decodeUnknownSync(Shipment.Shipment)({
          ...Schema.encodeSync(Shipment.Shipment)(shipment),
          packages: [{ id: "pkg-1", weight: 454, lengthMm: 300, widthMm: 200, heightMm: 100 }],
          declaredWeight: 454
        })
        yield* carrier.buyLabel(new CarrierPort.BuyLabel({ key: key("shp-lb:label"), shipment: onePound }))
        const created = fake.calls().find((c) => c.method === "POST" && c.path === "/v2/shipments")!.body as {
          shipment: Record<string, any>
        }
        expect(created.shipment["parcel"]).toEqual({ weight: 16.1, length: 11.9, width: 7.9, height: 4 })
      })
    ))

  it("toOunces and toInches round up to EasyPost's tenth: never less than the grams and millimetres given", () => {
    expect(EasyPostCarrier.toOunces(454)).toBe(16.1)
    expect(EasyPostCarrier.toOunces(1)).toBe(0.1)
    expect(EasyPostCarrier.toOunces(2835)).toBe(100.1)
    expect(EasyPostCarrier.toInches(254)).toBe(10)
    expect(EasyPostCarrier.toInches(255)).toBe(10.1)
    FastCheck.assert(
      FastCheck.property(FastCheck.integer({ min: 1, max: 100_000_000 }), (grams) => {
        const oz = EasyPostCarrier.toOunces(grams)
        expect(Math.round(oz * 10)).toBe(oz * 10)
        // At least the real weight, and less than a tenth of an ounce more.
        expect(oz * 28.349523125).toBeGreaterThanOrEqual(grams - 1e-6)
        expect((oz - 0.1) * 28.349523125).toBeLessThan(grams)
      }),
      { numRuns: 2000 }
    )
    FastCheck.assert(
      FastCheck.property(FastCheck.integer({ min: 1, max: 100_000 }), (mm) => {
        const inches = EasyPostCarrier.toInches(mm)
        expect(inches * 25.4).toBeGreaterThanOrEqual(mm - 1e-6)
        expect((inches - 0.1) * 25.4).toBeLessThan(mm)
      }),
      { numRuns: 2000 }
    )
  })
})
