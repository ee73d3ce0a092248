/**
 * CarrierAdapter's building blocks, then a whole (small) webhook adapter built from them and
 * WebhookSignature, run through the shared ParserFuzz properties: what a third-party adapter
 * author would write.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import {
  CarrierAdapter,
  CarrierPort,
  Instant,
  PortError,
  ShipmentEvent,
  TimePolicy,
  WebhookSignature
} from "@waybill/core"
import { ParserFuzz } from "@waybill/core/testing"

const receivedAt = Instant.fromMillis(Date.UTC(2024, 7, 1, 10, 0, 0))

describe("CarrierAdapter.formatParseError and decode", () => {
  const Payload = Schema.Struct({ a: Schema.String, b: Schema.Number, c: Schema.Boolean, d: Schema.String, e: Schema.String, f: Schema.String })

  it.effect("names each issue under the path, five at most", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        CarrierAdapter.decode(Payload, { b: "x" }, "msg", (description, cause) => ({ description, cause }))
      )
      expect(error.description).toBe(
        "msg.a: is missing; msg.b: Expected number, actual \"x\"; msg.c: is missing; msg.d: is missing; msg.e: is missing (and 1 more)"
      )
      expect(error.cause._tag).toBe("ParseError")
      const root = yield* Effect.flip(CarrierAdapter.decode(Payload, 7, "", (description) => description))
      expect(root).toMatch(/^\(root\): Expected/)
      // Unknown fields are ignored.
      const ok = yield* CarrierAdapter.decode(Payload, { a: "", b: 1, c: true, d: "", e: "", f: "", extra: 1 }, "", (d) => d)
      expect(ok).toEqual({ a: "", b: 1, c: true, d: "", e: "", f: "" })
    }))
})

describe("CarrierAdapter.cleanText and eventId", () => {
  it("cleans vendor text: control characters out, trimmed, bounded; blank is undefined", () => {
    expect(CarrierAdapter.cleanText("  Arrived\u0000 at\nfacility\t", 100)).toBe("Arrived  at facility")
    expect(CarrierAdapter.cleanText("abcdef", 3)).toBe("abc")
    expect(CarrierAdapter.cleanText(" \u0007 ", 10)).toBeUndefined()
    expect(CarrierAdapter.cleanText(null, 10)).toBeUndefined()
    expect(CarrierAdapter.cleanText(undefined, 10)).toBeUndefined()
  })

  it("event ids are deterministic, keyed by the parcel and differ by part", () => {
    const a = CarrierAdapter.eventId("dhl/1234567890", ["2024-07-29T15:30:00", "InTransit"])
    expect(a).toMatch(/^dhl\/1234567890:[0-9a-f]{32}$/)
    expect(CarrierAdapter.eventId("dhl/1234567890", ["2024-07-29T15:30:00", "InTransit"])).toBe(a)
    expect(CarrierAdapter.eventId("dhl/1234567890", ["2024-07-29T15:30:01", "InTransit"])).not.toBe(a)
    expect(CarrierAdapter.eventId("tracker #1 (ü)", [])).toMatch(/^tracker__1____:[0-9a-f]{32}$/)
    expect(CarrierAdapter.eventId("k".repeat(200), []).split(":")[0]).toHaveLength(80)
  })
})

describe("CarrierAdapter.observation", () => {
  const draft = (status: string): ShipmentEvent.Draft =>
    ({
      _tag: "StatusReported",
      id: CarrierAdapter.eventId("acme/1", [status]),
      source: "acme",
      occurredAt: receivedAt,
      receivedAt,
      raw: new ShipmentEvent.RawCode({ code: status }),
      status
    }) as ShipmentEvent.Draft

  it("builds a validated observation, leaving out an undefined carrier", () => {
    const built = CarrierAdapter.observation("scans.0", () => ({ trackingNumber: "1", carrier: undefined, event: draft("delivered") }))
    expect(Either.isRight(built)).toBe(true)
    if (Either.isRight(built)) {
      expect(built.right).toBeInstanceOf(CarrierPort.Observation)
      expect("carrier" in built.right).toBe(false)
      expect(Schema.is(CarrierPort.Observation)(built.right)).toBe(true)
    }
  })

  it("an invalid draft or a throwing build is a Left naming the path, never a throw", () => {
    const invalid = CarrierAdapter.observation("scans.3", () => ({ trackingNumber: "1", carrier: "acme", event: draft("teleported") }))
    expect(Either.isLeft(invalid) && invalid.left.description).toMatch(/^cannot build a canonical event from scans\.3: scans\.3\.status: /)
    const throwing = CarrierAdapter.observation("scans.4", () => {
      throw new Error("bad location")
    })
    expect(Either.isLeft(throwing) && throwing.left.description).toBe("cannot build a canonical event from scans.4: Error: bad location")
  })
})

describe("CarrierAdapter.eachEvent", () => {
  it.effect("keeps every observation of the events that read, in order, and names each that does not", () =>
    Effect.gen(function* () {
      const observation = (n: number) =>
        new CarrierPort.Observation({
          trackingNumber: "1",
          event: {
            _tag: "StatusReported",
            id: CarrierAdapter.eventId("acme/1", [n]),
            source: "acme",
            occurredAt: receivedAt,
            receivedAt,
            raw: new ShipmentEvent.RawCode({ code: "transit" }),
            status: "in_transit"
          } as ShipmentEvent.Draft
        })
      const unreadable = (path: string) =>
        Effect.fail(new PortError.CarrierError({ reason: "Invalid", module: "acme", method: "parse", description: `${path}: no time` }))
      const parsed = yield* CarrierAdapter.eachEvent([
        Effect.succeed([observation(0), observation(1)]),
        unreadable("scans.1"),
        Effect.succeed([]),
        Effect.succeed([observation(3)]),
        unreadable("scans.4")
      ])
      expect(parsed.observations.map((o) => o.event.id)).toEqual([0, 1, 3].map((n) => CarrierAdapter.eventId("acme/1", [n])))
      expect(parsed.unreadable).toEqual(["scans.1: no time", "scans.4: no time"])
      expect(yield* CarrierAdapter.eachEvent([])).toEqual({ observations: [], unreadable: [] })
    }))
})

describe("CarrierAdapter.tracker and layer", () => {
  it.effect("a tracker from the API answer, or a typed Invalid naming what could not be read", () =>
    Effect.gen(function*() {
      const where = { module: "AcmeCarrier", method: "createTracker" }
      const t = yield* CarrierAdapter.tracker({ externalId: "trk_1", trackingNumber: "1", carrier: null }, where)
      expect(t).toEqual(new CarrierPort.Tracker({ externalId: "trk_1", trackingNumber: "1" }))
      const withCarrier = yield* CarrierAdapter.tracker({ externalId: "trk_1", trackingNumber: "1", carrier: "UPS" }, where)
      expect(withCarrier.carrier).toBe("UPS")
      const bad = yield* Effect.flip(
        CarrierAdapter.tracker({ externalId: 7 as unknown as string, trackingNumber: "1" }, { ...where, noun: "tracking" })
      )
      expect(bad).toMatchObject({ reason: "Invalid", module: "AcmeCarrier", method: "createTracker" })
      expect(bad.description).toMatch(/^cannot read the tracking: /)
    }))

  class AcmeCarrier extends Context.Tag("test/AcmeCarrier")<AcmeCarrier, CarrierPort.CarrierPortShape>() {}

  it.effect("the layer provides the adapter's tag and the generic CarrierPort, both the same service", () =>
    Effect.gen(function*() {
      const service: CarrierPort.CarrierPortShape = {
        source: "acme",
        verify: () => Effect.void,
        parse: () => Effect.succeed([]),
        createTracker: () => Effect.die("unused"),
        buyLabel: () => Effect.die("unused")
      }
      const [own, port] = yield* Effect.all([AcmeCarrier, CarrierPort.CarrierPort]).pipe(
        Effect.provide(CarrierAdapter.layer(AcmeCarrier, Effect.succeed(service)))
      )
      expect(own).toBe(service)
      expect(port).toBe(service)
      const failed = yield* Effect.exit(Effect.provide(CarrierPort.CarrierPort, CarrierAdapter.layer(AcmeCarrier, Effect.fail("no config"))))
      expect(Exit.isFailure(failed)).toBe(true)
    }))
})

describe("CarrierAdapter.requireWebhookSecret", () => {
  it.effect("refuses an empty, blank or white-space-edged secret at construction, naming the setting, never the secret", () =>
    Effect.gen(function*() {
      yield* CarrierAdapter.requireWebhookSecret(Redacted.make("whsec-123"), { module: "AcmeCarrier", setting: "webhookSecret" })
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["", "webhookSecret is empty: anyone could sign a webhook"],
        ["  ", "webhookSecret is only white space: anyone could sign a webhook"],
        ["\n", "webhookSecret is only white space: anyone could sign a webhook"],
        [
          "whsec-123\n",
          "webhookSecret starts or ends with white space (a trailing newline from a file?): remove it where the secret is configured; it is not trimmed, since the sender keys with the exact secret"
        ]
      ]
      for (const [value, description] of cases) {
        const error = yield* Effect.flip(
          CarrierAdapter.requireWebhookSecret(Redacted.make(value), { module: "AcmeCarrier", setting: "webhookSecret" })
        )
        expect(error).toBeInstanceOf(PortError.CarrierError)
        expect(error).toMatchObject({ reason: "Invalid", module: "AcmeCarrier", method: "make", description })
        if (value.trim() !== "") expect(JSON.stringify(error)).not.toContain(value.trim())
      }
    }))
})

describe("CarrierAdapter.layerConfig, inbound and countUnmapped", () => {
  class Echo extends Context.Tag("test/Echo")<Echo, { readonly url: string }>() {}

  it.effect("layerConfig reads the options from Config, then builds the layer; a missing value is a ConfigError", () =>
    Effect.gen(function*() {
      const layer = CarrierAdapter.layerConfig({ url: Config.string("ACME_URL") }, (options) => Layer.succeed(Echo, options))
      const echo = yield* Effect.provide(Echo, layer).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["ACME_URL", "http://x"]]))))
      expect(echo.url).toBe("http://x")
      const missing = yield* Effect.exit(Effect.provide(Echo, layer).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))))
      expect(Exit.isFailure(missing)).toBe(true)
    }))

  it.effect("inbound: verify discards the verified request; parse is verifyAndParse", () =>
    Effect.gen(function*() {
      const calls: Array<string> = []
      const webhook = {
        verify: (_: CarrierPort.InboundRequest, options: { readonly secret: string }) =>
          Effect.sync(() => calls.push(`verify:${options.secret}`)),
        verifyAndParse: (_: CarrierPort.InboundRequest, options: { readonly secret: string }) =>
          Effect.sync(() => {
            calls.push(`verifyAndParse:${options.secret}`)
            return []
          })
      }
      const port = CarrierAdapter.inbound(webhook, { secret: "s" })
      const req = { headers: {}, body: new Uint8Array(), receivedAt }
      expect(yield* port.verify(req)).toBeUndefined()
      expect(yield* port.parse(req)).toEqual([])
      expect(calls).toEqual(["verify:s", "verifyAndParse:s"])
    }))

  it.effect("countUnmapped counts in waybill_carrier_unmapped_codes_total by source, field and code (cut to 100)", () =>
    Effect.gen(function*() {
      const counter = (code: string) =>
        Metric.tagged(Metric.tagged(Metric.tagged(CarrierAdapter.unmappedCodes, "source", "acme"), "field", "status"), "code", code)
      const before = (yield* Metric.value(counter("ZZ"))).count
      yield* CarrierAdapter.countUnmapped("acme", "status", "ZZ")
      yield* CarrierAdapter.countUnmapped("acme", "status", "ZZ")
      expect((yield* Metric.value(counter("ZZ"))).count - before).toBe(2)
      yield* CarrierAdapter.countUnmapped("acme", "status", "y".repeat(150))
      expect((yield* Metric.value(counter("y".repeat(100)))).count).toBeGreaterThanOrEqual(1)
    }))
})

// A whole webhook adapter for an imaginary carrier, written with the shared modules:
// `x-acme-signature: sha256=<hex>` over the raw body, `{ number, scans: [{ at, code, city }] }`.
const Scan = Schema.Struct({
  at: Schema.String,
  code: Schema.String,
  city: Schema.optional(Schema.NullOr(Schema.String))
})
const Payload = Schema.Struct({ number: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)), scans: Schema.Array(Scan) })
const statuses: Record<string, "delivered" | "in_transit"> = { D: "delivered", T: "in_transit" }

const MODULE = "AcmeWebhook"
const scheme: WebhookSignature.Scheme = { encoding: "hex", prefix: "sha256=" }
const Acme = WebhookSignature.verifiedFor(MODULE)
const secret = "acme-secret-0123456789"
const invalid = (method: string, description: string, cause?: unknown) =>
  new PortError.CarrierError({ reason: "Invalid", module: "AcmeTracking", method, description, ...(cause !== undefined ? { cause } : {}) })

const fromPayload = (json: unknown, at: Instant.Instant) =>
  Effect.gen(function*() {
    const payload = yield* CarrierAdapter.decode(Payload, json, "", (d, cause) => invalid("fromPayload", d, cause))
    return yield* Effect.forEach(payload.scans, (scan, i) => {
      const path = `scans.${i}`
      const time = TimePolicy.parse(scan.at, { _tag: "RequireZone" })
      if (Either.isLeft(time)) return Effect.fail(invalid("fromPayload", `${path}.at: ${time.left}`))
      const city = CarrierAdapter.cleanText(scan.city, 120)
      const built = CarrierAdapter.observation(path, () => ({
        trackingNumber: payload.number,
        carrier: "acme",
        event: {
          _tag: "StatusReported",
          id: CarrierAdapter.eventId(`acme/${payload.number}`, [scan.at, scan.code]),
          source: "acme",
          occurredAt: time.right,
          receivedAt: at,
          raw: new ShipmentEvent.RawCode({ code: scan.code.slice(0, 200) }),
          status: statuses[scan.code] ?? "unknown",
          ...(city !== undefined ? { location: new ShipmentEvent.Location({ city }) } : {})
        }
      }))
      return Either.isLeft(built) ? Effect.fail(invalid("fromPayload", built.left.description, built.left.cause)) : Effect.succeed(built.right)
    })
  })

const verifyAndParse = (request: CarrierPort.InboundRequest) =>
  WebhookSignature.verify(request, {
    module: MODULE,
    source: "acme",
    secret: Redacted.make(secret),
    maxBodyBytes: 64 * 1024,
    headers: [{ name: "x-acme-signature", scheme }]
  }).pipe(
    Effect.as(request),
    Effect.map(Acme.make),
    Effect.flatMap((verified) =>
      WebhookSignature.parseJson(verified.request, { module: MODULE, source: "acme" }, (json) => fromPayload(json, verified.request.receivedAt))
    )
  )

const sample = {
  number: "ACME-0001",
  scans: [
    { at: "2024-07-31T08:00:00+02:00", code: "T", city: "Lyon" },
    { at: "2024-07-31T12:30:00Z", code: "X", city: null },
    { at: "2024-07-31T15:45:00Z", code: "D", city: "Paris" }
  ]
}
const request = (body: Uint8Array, headers: Readonly<Record<string, string>>): CarrierPort.InboundRequest => ({
  headers,
  body,
  receivedAt
})

describe("an adapter built from the shared modules", () => {
  it.effect("verifies, then parses the sample into three observations", () =>
    Effect.gen(function*() {
      const body = new TextEncoder().encode(JSON.stringify(sample))
      const out = yield* verifyAndParse(request(body, { "x-acme-signature": WebhookSignature.sign(body, secret, scheme) }))
      expect(out.map((o) => o.event._tag === "StatusReported" ? o.event.status : o.event._tag)).toEqual(["in_transit", "unknown", "delivered"])
      const unsigned = yield* Effect.flip(verifyAndParse(request(body, {})))
      expect(unsigned).toMatchObject({ reason: "Unauthorized", method: "verify", description: "missing x-acme-signature header" })
    }))
})

ParserFuzz.run({
  name: "AcmeWebhook (built from CarrierAdapter and WebhookSignature)",
  verifyAndParse,
  signed: (body) => request(body, { "x-acme-signature": WebhookSignature.sign(body, secret, scheme) }),
  unsigned: request,
  sample,
  signatureHeaders: ["x-acme-signature"],
  signaturePrefixes: ["sha256="],
  values: ["D", "T", "2024-07-31T15:45:00"],
  decoders: [{ name: "fromPayload", decode: (value) => fromPayload(value, receivedAt) }],
  source: "acme"
})

describe("ParserFuzz.outcome", () => {
  it("accepts valid observations and allowed typed failures; rejects defects and other reasons", () => {
    expect(ParserFuzz.outcome(Exit.succeed([]), ["Invalid"])).toBe("ok")
    const invalidError = new PortError.CarrierError({ reason: "Invalid", module: "m", method: "p", description: "bad" })
    expect(ParserFuzz.outcome(Exit.fail(invalidError), ["Invalid"])).toBe("Invalid")
    expect(() => ParserFuzz.outcome(Exit.die(new Error("boom")), ["Invalid"])).toThrow(/not a typed failure/)
    expect(() => ParserFuzz.outcome(Exit.fail(invalidError), ["Unauthorized"])).toThrow()
    const observation = new CarrierPort.Observation({
      trackingNumber: "1",
      event: {
        _tag: "StatusReported",
        id: CarrierAdapter.eventId("acme/1", []),
        source: "acme",
        occurredAt: receivedAt,
        receivedAt,
        raw: new ShipmentEvent.RawCode({ code: "D" }),
        status: "delivered"
      }
    })
    expect(ParserFuzz.outcome(Exit.succeed([observation]), ["Invalid"], "acme")).toBe("ok")
    expect(() => ParserFuzz.outcome(Exit.succeed([observation]), ["Invalid"], "other")).toThrow(/wrong source/)
  })
})
