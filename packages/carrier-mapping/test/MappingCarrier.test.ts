import { describe, expect, it } from "@effect/vitest"
import { CarrierPort, ErpPort, Instant, type PortError } from "@waybill/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { GenericWarehouse, MappingCarrier, MappingConfig } from "../src/index.js"
import { MappingTestKit } from "../src/testing/index.js"

// A partner the package has never seen: a freight forwarder with its own payload shape,
// base64 signatures over "{timestamp}\n{body}" with an ISO timestamp header and a two-minute
// tolerance, local times in America/Chicago (the sample crosses the DST change of 2024-03-10),
// codes with subcodes, weights in LBS, a numeric postal code, lower-case countries, and voids.
const ACME_SECRET = "acme-freight-signing-key-2024"
const acmeJson = {
  version: 1,
  source: "acme-freight",
  carrier: "acme",
  signature: {
    algorithm: "hmac-sha256",
    encoding: "base64",
    header: "X-Acme-Signature",
    secret: ACME_SECRET,
    timestamp: { header: "X-Acme-Date", format: "iso", toleranceSeconds: 120, signedPayload: "{timestamp}\n{body}" }
  },
  events: "data.consignments[*].checkpoints[*]",
  fields: {
    id: "ref",
    trackingNumber: "^.awb",
    occurredAt: { path: "when", policy: { _tag: "AssumeZone", zone: "America/Chicago" } },
    code: "code",
    subcode: "sub",
    description: "text",
    location: { facility: "hub.name", city: "hub.city", region: "hub.state", postalCode: "hub.zip", country: "hub.ctry" },
    weight: { value: "wt", unit: "wt_uom" },
    pod: { signedBy: "signatory" },
    retracts: "voids"
  },
  codeMatching: "case-insensitive",
  codes: [
    { code: "dep", status: "in_transit" },
    { code: "arr", status: "in_transit" },
    { code: "ofd", status: "out_for_delivery" },
    { code: "pod", status: "delivered" },
    { code: "dex", exception: "delayed" },
    { code: "dex", subcode: "03", exception: "address_issue" },
    { code: "dex", subcode: "07", exception: "refused" },
    { code: "void", retracts: true }
  ]
} as const

const ord = { name: "ORD Hub 2", city: "Chicago", state: "IL", zip: 60666, ctry: "us" }
const acmePayload = {
  meta: { sent: "2024-03-10T18:11:00Z", partner: "ACME" },
  data: {
    consignments: [
      {
        awb: "ACME-4471902",
        service: "LTL",
        checkpoints: [
          { ref: 90001, when: "2024-03-09 22:15", code: "DEP", sub: null, hub: ord, text: "Departed facility" },
          { ref: 90002, when: "2024-03-10 01:30", code: "DEX", sub: "03", hub: ord, text: "Consignee address incomplete" },
          { ref: 90003, when: "2024-03-10 03:30", code: "DEX", sub: "07", hub: ord, text: "Refused by consignee" },
          { ref: 90004, when: "2024-03-10 08:05", code: "OFD", hub: ord },
          { ref: 90005, when: "2024-03-10 11:47", code: "POD", signatory: "J. RIVERA", wt: "12.5", wt_uom: "LBS", hub: ord },
          { ref: 90006, when: "2024-03-10 12:02", code: "VOID", voids: [90003], text: "refusal scanned in error" },
          { ref: 90007, when: "2024-03-10 12:10", code: "ZZT" }
        ]
      }
    ]
  }
}
const arrival = "2024-03-10T18:11:30Z"

const chicago = { facility: "ORD Hub 2", city: "Chicago", region: "IL", postalCode: "60666", country: "US" }

const decodeAcme = MappingConfig.decode(acmeJson)

const rejectedCount = (source: string, reason: string) =>
  Effect.map(
    Metric.value(Metric.tagged(Metric.tagged(MappingCarrier.rejectedRequests, "source", source), "reason", reason)),
    (s) => s.count
  )

const expectCarrierError = (e: PortError.CarrierError, reason: string, description: RegExp) => {
  expect(e._tag).toBe("CarrierError")
  expect(e.reason).toBe(reason)
  expect(e.description).toMatch(description)
}

describe("MappingCarrier", () => {
  it.effect("ingests a partner it has never seen, from its config alone", () =>
    Effect.gen(function* () {
      const config = yield* decodeAcme
      const before = yield* Metric.value(
        Metric.tagged(Metric.tagged(MappingCarrier.unmappedCodes, "source", "acme-freight"), "code", "ZZT")
      )
      const observations = yield* MappingTestKit.ingest(config, acmePayload, { receivedAt: arrival })
      const common = { source: "acme-freight", receivedAt: "2024-03-10T18:11:30.000Z" }
      const obs = (event: Record<string, unknown>) => ({ trackingNumber: "ACME-4471902", carrier: "acme", event })
      expect(MappingTestKit.toPlain(observations)).toEqual([
        obs({
          _tag: "StatusReported",
          id: "90001",
          ...common,
          occurredAt: "2024-03-10T04:15:00.000Z", // 22:15 CST (UTC-6)
          raw: { code: "DEP", description: "Departed facility" },
          status: "in_transit",
          location: chicago
        }),
        obs({
          _tag: "ExceptionReported",
          id: "90002",
          ...common,
          occurredAt: "2024-03-10T07:30:00.000Z", // 01:30 CST, before the 02:00 switch
          raw: { code: "DEX", detail: "03", description: "Consignee address incomplete" },
          kind: "address_issue",
          location: chicago
        }),
        obs({
          _tag: "ExceptionReported",
          id: "90003",
          ...common,
          occurredAt: "2024-03-10T08:30:00.000Z", // 03:30 CDT (UTC-5)
          raw: { code: "DEX", detail: "07", description: "Refused by consignee" },
          kind: "refused",
          location: chicago
        }),
        obs({
          _tag: "StatusReported",
          id: "90004",
          ...common,
          occurredAt: "2024-03-10T13:05:00.000Z",
          raw: { code: "OFD" },
          status: "out_for_delivery",
          location: chicago
        }),
        obs({
          _tag: "StatusReported",
          id: "90005",
          ...common,
          occurredAt: "2024-03-10T16:47:00.000Z",
          raw: { code: "POD" },
          status: "delivered",
          location: chicago,
          pod: { signedBy: "J. RIVERA" },
          weight: 5670 // 12.5 lb = 5669.90 g
        }),
        obs({
          _tag: "Retraction",
          id: "90006",
          ...common,
          occurredAt: "2024-03-10T17:02:00.000Z",
          raw: { code: "VOID", description: "refusal scanned in error" },
          retracts: ["90003"]
        }),
        obs({
          _tag: "StatusReported",
          id: "90007",
          ...common,
          occurredAt: "2024-03-10T17:10:00.000Z",
          raw: { code: "ZZT" },
          status: "unknown"
        })
      ])
      const after = yield* Metric.value(
        Metric.tagged(Metric.tagged(MappingCarrier.unmappedCodes, "source", "acme-freight"), "code", "ZZT")
      )
      expect(after.count - before.count).toBe(1)
    })
  )

  describe("signatures", () => {
    const setup = Effect.gen(function* () {
      const config = yield* decodeAcme
      const carrier = yield* MappingCarrier.make(config)
      const signed = MappingTestKit.signRequest(config, acmePayload, { receivedAt: arrival })
      return { config, carrier, signed }
    })

    it.effect("accepts the partner's signature and rejects a tampered body, a wrong secret or a missing header", () =>
      Effect.gen(function* () {
        const { carrier, config, signed } = yield* setup
        yield* carrier.verify(signed)
        expect(yield* carrier.parse(signed)).toHaveLength(7)

        const tampered = { ...signed, body: MappingTestKit.bodyBytes(JSON.stringify(acmePayload).replace("J. RIVERA", "J. RIVERO")) }
        expectCarrierError(
          yield* Effect.flip(carrier.verifyAndParse(tampered)),
          "Unauthorized",
          /^acme-freight: signature in x-acme-signature does not match the signed timestamp and body \(HMAC-SHA256, base64\)$/
        )
        const wrongSecret = MappingTestKit.signRequest(config, acmePayload, { receivedAt: arrival, secret: "another-secret-of-enough-length" })
        expectCarrierError(yield* Effect.flip(carrier.verify(wrongSecret)), "Unauthorized", /does not match/)

        const { ["x-acme-signature"]: _, ...withoutSignature } = signed.headers
        expectCarrierError(
          yield* Effect.flip(carrier.parse({ ...signed, headers: withoutSignature })),
          "Unauthorized",
          /missing signature header x-acme-signature$/
        )
        const garbage = { ...signed, headers: { ...signed.headers, "x-acme-signature": "not-base64!" } }
        expectCarrierError(
          yield* Effect.flip(carrier.parse(garbage)),
          "Unauthorized",
          /signature in x-acme-signature is not a base64 HMAC-SHA256 \(32 bytes in base64\)$/
        )
      })
    )

    it.effect("parse alone verifies: an unsigned request never becomes observations", () =>
      Effect.gen(function* () {
        const { carrier } = yield* setup
        const unsigned: CarrierPort.InboundRequest = {
          headers: { "content-type": "application/json" },
          body: MappingTestKit.bodyBytes(acmePayload),
          receivedAt: Schema.decodeSync(Instant.Instant)(arrival)
        }
        expectCarrierError(yield* Effect.flip(carrier.parse(unsigned)), "Unauthorized", /missing signature header/)
      })
    )

    it.effect("accepts several signatures in one header (partner-side key rotation)", () =>
      Effect.gen(function* () {
        const { carrier, config, signed } = yield* setup
        const old = MappingTestKit.signRequest(config, acmePayload, { receivedAt: arrival, secret: "the-previous-acme-secret-key" })
        const both = {
          ...signed,
          headers: { ...signed.headers, "x-acme-signature": `${old.headers["x-acme-signature"]}, ${signed.headers["x-acme-signature"]}` }
        }
        expect(yield* carrier.parse(both)).toHaveLength(7)
      })
    )

    it.effect("rejects a signed timestamp outside the tolerance, either way, and accepts one at the edge", () =>
      Effect.gen(function* () {
        const { carrier, config } = yield* setup
        const at = (signedAt: string, arrivedAt: string) =>
          MappingTestKit.signRequest(config, acmePayload, { receivedAt: arrivedAt, timestamp: signedAt })
        expect(yield* carrier.parse(at("2024-03-10T18:11:30Z", "2024-03-10T18:13:30Z"))).toHaveLength(7)
        expectCarrierError(
          yield* Effect.flip(carrier.parse(at("2024-03-10T18:11:30Z", "2024-03-10T18:13:31Z"))),
          "Unauthorized",
          /^acme-freight: signed timestamp 2024-03-10T18:11:30Z is 121 s before the request arrived; the tolerance is 120 s$/
        )
        expectCarrierError(
          yield* Effect.flip(carrier.parse(at("2024-03-10T18:20:00Z", "2024-03-10T18:11:30Z"))),
          "Unauthorized",
          /is 510 s after the request arrived/
        )
        const { ["x-acme-date"]: _, ...noDate } = at("2024-03-10T18:11:30Z", arrival).headers
        expectCarrierError(
          yield* Effect.flip(carrier.parse({ ...at("2024-03-10T18:11:30Z", arrival), headers: noDate })),
          "Unauthorized",
          /missing signed timestamp header x-acme-date$/
        )
        expectCarrierError(
          yield* Effect.flip(carrier.parse(at("yesterday", arrival))),
          "Unauthorized",
          /signed timestamp header x-acme-date is not an ISO-8601 instant with a zone$/
        )
      })
    )

    it.effect("judges staleness by the arrival time the ingress stamps from its Clock (TestClock)", () =>
      Effect.gen(function* () {
        const config = yield* MappingConfig.decode({ ...GenericWarehouse.json, signature: { ...GenericWarehouse.json.signature, secret: "warehouse-secret-0123456789" } })
        const carrier = yield* MappingCarrier.make(config)
        const body = { events: [] }
        yield* TestClock.setTime(Date.parse("2024-07-31T12:00:00Z"))
        // The partner signs now …
        const signedAt = MappingTestKit.formatTimestamp(config, yield* DateTime.now)
        // … and the ingress stamps the arrival with its clock: 4 minutes later it is fine,
        yield* TestClock.adjust("4 minutes")
        const onTime = MappingTestKit.signRequest(config, body, { timestamp: signedAt, receivedAt: yield* DateTime.now })
        expect(yield* carrier.parse(onTime)).toEqual([])
        // 6 minutes later it is a replay.
        yield* TestClock.adjust("2 minutes")
        const late = MappingTestKit.signRequest(config, body, { timestamp: signedAt, receivedAt: yield* DateTime.now })
        expectCarrierError(
          yield* Effect.flip(carrier.parse(late)),
          "Unauthorized",
          /^wms:generic: signed timestamp 1722427200 is 360 s before the request arrived; the tolerance is 300 s$/
        )
      })
    )

    it.effect("hex signatures need their prefix and 64 hex characters", () =>
      Effect.gen(function* () {
        const config = MappingConfig.withSecret(GenericWarehouse.config, "warehouse-secret-0123456789")
        const carrier = yield* MappingCarrier.make(config)
        const signed = MappingTestKit.signRequest(config, { events: [] }, { receivedAt: "2024-07-31T12:00:00Z" })
        expect(signed.headers["x-wms-signature"]).toMatch(/^sha256=[0-9a-f]{64}$/)
        expect(yield* carrier.parse(signed)).toEqual([])
        const bare = { ...signed, headers: { ...signed.headers, "x-wms-signature": signed.headers["x-wms-signature"]!.slice(7) } }
        expectCarrierError(
          yield* Effect.flip(carrier.parse(bare)),
          "Unauthorized",
          /signature header x-wms-signature does not start with "sha256="$/
        )
        const short = { ...signed, headers: { ...signed.headers, "x-wms-signature": "sha256=abc123" } }
        expectCarrierError(
          yield* Effect.flip(carrier.parse(short)),
          "Unauthorized",
          /is not a hex HMAC-SHA256 \(64 hex characters\)$/
        )
      })
    )
  })

  describe("bodies", () => {
    const setup = Effect.gen(function* () {
      const config = yield* MappingConfig.decode({ ...acmeJson, limits: { maxBodyBytes: 4096, maxEvents: 5 } })
      const carrier = yield* MappingCarrier.make(config)
      const send = (body: unknown) => carrier.parse(MappingTestKit.signRequest(config, body, { receivedAt: arrival }))
      return { config, carrier, send }
    })

    it.effect("an oversized body is rejected before its signature is even checked, and recorded", () =>
      Effect.gen(function* () {
        const { carrier } = yield* setup
        const before = yield* rejectedCount("acme-freight", "Invalid")
        const huge: CarrierPort.InboundRequest = {
          headers: {},
          body: new Uint8Array(4097),
          receivedAt: Schema.decodeSync(Instant.Instant)(arrival)
        }
        expectCarrierError(
          yield* Effect.flip(carrier.verifyAndParse(huge)),
          "Invalid",
          /^acme-freight: the body is 4097 bytes, more than the 4096 allowed \(limits\.maxBodyBytes\)$/
        )
        expect((yield* rejectedCount("acme-freight", "Invalid")) - before).toBe(1)
      })
    )

    it.effect("malformed bodies get typed Invalid errors that say what is wrong", () =>
      Effect.gen(function* () {
        const { send } = yield* setup
        const cases: ReadonlyArray<readonly [unknown, RegExp]> = [
          [new Uint8Array(0), /the body is empty$/],
          [new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), /the body is not UTF-8 text$/],
          ['{"data": {', /the body is not JSON: /],
          // Node's own message would quote the body's first characters (a name): not kept
          ["Jane Doe, 12 Privet Drive", /the body is not JSON: Unexpected token \(not valid JSON\)$/],
          ["[1, 2, 3]", /the body is an array, expected an object with "data"/],
          [{ meta: {} }, /the body has no "data" \(events path data\.consignments\[\*\]\.checkpoints\[\*\]\)$/],
          [{ data: { consignments: "none" } }, /expected an array at data\.consignments, found a string/],
          [{ data: { consignments: [{ awb: "A1", checkpoints: [42] }] } }, /event 0 \(data\.consignments\[0\]\.checkpoints\[0\]\): expected an object, found a number$/],
          [
            { data: { consignments: [{ checkpoints: [{ ref: 1, when: "2024-03-10 10:00", code: "DEP" }] }] } },
            /event 0 \(data\.consignments\[0\]\.checkpoints\[0\]\): trackingNumber: nothing at "\^\.awb"$/
          ],
          [
            { data: { consignments: [{ awb: "A1", checkpoints: [{ ref: 1, when: "10/03/2024", code: "DEP" }] }] } },
            /occurredAt \("when"\): "10\/03\/2024" is not a date and time/
          ],
          [
            { data: { consignments: [{ awb: "A1", checkpoints: [{ ref: 1, when: "2024-03-10 10:00", code: { x: 1 } }] }] } },
            /code: expected text or a number at "code", found an object$/
          ],
          [
            { data: { consignments: [{ awb: "A1", checkpoints: [{ ref: 1, when: "2024-03-10 10:00", code: "POD", wt: 3, wt_uom: "stone" }] }] } },
            /weight\.unit: "stone" is not a weight unit/
          ],
          [
            { data: { consignments: [{ awb: "A1", checkpoints: [{ ref: 1, when: "2024-03-10 10:00", code: "DEP", hub: { ctry: "Germany" } }] }] } },
            /event\.location\.country: a country is an ISO 3166-1 alpha-2 code$/
          ],
          [
            { data: { consignments: [{ awb: "A1", checkpoints: [{ ref: 1, when: "2024-03-10 10:00", code: "VOID" }] }] } },
            /retracts: nothing at "voids"$/
          ],
          [
            { data: { consignments: [{ awb: "A1", checkpoints: Array.from({ length: 6 }, (_, i) => ({ ref: i, when: "2024-03-10 10:00", code: "DEP" })) }] } },
            /the body has more than 5 events \(limits\.maxEvents\)$/
          ]
        ]
        for (const [body, expected] of cases) {
          const error = yield* Effect.flip(send(body))
          expectCarrierError(error, "Invalid", expected)
        }
      })
    )

    it.effect("numbers JSON cannot hold exactly (ids, tracking numbers beyond 2^53) are Invalid, never rounded", () =>
      Effect.gen(function* () {
        const { send } = yield* setup
        const checkpoint = (ref: string) => `{ "ref": ${ref}, "when": "2024-03-10 10:00", "code": "DEP" }`
        // Two distinct partner ids that JSON.parse reads as the same number: rounded, the second
        // would dedupe as a repeat of the first and be lost.
        const twoIds = `{ "data": { "consignments": [{ "awb": "A1", "checkpoints": [${checkpoint("9007199254740993")}, ${checkpoint("9007199254740992")}] }] } }`
        expectCarrierError(
          yield* Effect.flip(send(twoIds)),
          "Invalid",
          /event 0 \(data\.consignments\[0\]\.checkpoints\[0\]\): id: the number at "ref" is too large to read exactly; send it as a string/
        )
        const bigAwb = `{ "data": { "consignments": [{ "awb": 340434292135100186, "checkpoints": [${checkpoint("1")}] }] } }`
        expectCarrierError(
          yield* Effect.flip(send(bigAwb)),
          "Invalid",
          /trackingNumber: the number at "\^\.awb" is too large to read exactly; send it as a string/
        )
        const bigVoid = `{ "data": { "consignments": [{ "awb": "A1", "checkpoints": [{ "ref": 2, "when": "2024-03-10 10:00", "code": "VOID", "voids": [12345678901234567890] }] }] } }`
        expectCarrierError(
          yield* Effect.flip(send(bigVoid)),
          "Invalid",
          /retracts: the number at "voids" is too large to read exactly; send it as a string/
        )
        // Safe integers are still read as text.
        const ok = yield* send(`{ "data": { "consignments": [{ "awb": 9007199254740991, "checkpoints": [${checkpoint("9007199254740991")}] }] } }`)
        expect(ok.map((o) => [o.trackingNumber, o.event.id])).toEqual([["9007199254740991", "9007199254740991"]])
      })
    )

    it.effect("a null event in the event list is malformed like any other non-object: Invalid, not skipped", () =>
      Effect.gen(function* () {
        const { send } = yield* setup
        const departed = { ref: 1, when: "2024-03-10 10:00", code: "DEP" }
        expectCarrierError(
          yield* Effect.flip(send({ data: { consignments: [{ awb: "A1", checkpoints: [departed, null] }] } })),
          "Invalid",
          /1 of 2 event\(s\) cannot be read: event 1 \(data\.consignments\[0\]\.checkpoints\[1\]\): expected an object, found null$/
        )
        expectCarrierError(
          yield* Effect.flip(send({ data: { consignments: [{ awb: "A1", checkpoints: [null] }] } })),
          "Invalid",
          /event 0 \(data\.consignments\[0\]\.checkpoints\[0\]\): expected an object, found null$/
        )
      })
    )

    it.effect("an empty event list, or missing arrays below the first key, are fine: no events", () =>
      Effect.gen(function* () {
        const { send } = yield* setup
        expect(yield* send({ data: { consignments: [] } })).toEqual([])
        expect(yield* send({ data: { consignments: [{ awb: "A1" }, { awb: "A2", checkpoints: null }] } })).toEqual([])
      })
    )
  })

  it.effect("createTracker and buyLabel are not supported by a mapping adapter (typed Invalid)", () =>
    Effect.gen(function* () {
      const carrier = yield* MappingCarrier.make(yield* decodeAcme)
      const e1 = yield* Effect.flip(
        carrier.createTracker(new CarrierPort.CreateTracker({ key: ErpPort.IdempotencyKey.make("t:1"), trackingNumber: "ACME-1" }))
      )
      expect(e1.reason).toBe("Invalid")
      expect(e1.message).toBe(
        "@waybill/carrier-mapping/MappingCarrier.createTracker: Invalid: createTracker is not supported by a mapping adapter (it only verifies and maps inbound webhooks)"
      )
      const e2 = yield* Effect.flip(carrier.buyLabel(undefined as never))
      expect(e2.description).toMatch(/^buyLabel is not supported by a mapping adapter/)
    })
  )

  it.effect("layer provides core's CarrierPort and the MappingCarrier tag", () =>
    Effect.gen(function* () {
      const port = yield* CarrierPort.CarrierPort
      const specific = yield* MappingCarrier.MappingCarrier
      expect(port.source).toBe("acme-freight")
      expect(specific.config.carrier).toBe("acme")
      const observations = yield* port.parse(MappingTestKit.signRequest(specific.config, acmePayload, { receivedAt: arrival }))
      expect(observations.map((o) => o.event.id)).toEqual(["90001", "90002", "90003", "90004", "90005", "90006", "90007"])
    }).pipe(Effect.provide(MappingCarrier.layerFromJson(acmeJson)))
  )

  it.effect("layerFromJson fails with the config's ValidationError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Effect.provide(CarrierPort.CarrierPort, MappingCarrier.layerFromJson({ ...acmeJson, events: "data..x" }))
      )
      expect(error._tag).toBe("ValidationError")
      expect(error.message).toBe(
        'invalid MappingConfig: events: malformed path "data..x": unexpected "." at position 6 (expected a property name)'
      )
    })
  )
})
