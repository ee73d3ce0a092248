import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { DeadLetters, ErpPort, type Ids, MemoryStore, Pipeline, Shipment, Store } from "@waybill/core"
import { Histories } from "@waybill/core/testing"
import { DhlUnified, MappingCarrier, MappingConfig } from "../src/index.js"
import { MappingTestKit } from "../src/testing/index.js"

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8"))

const SECRET = "dhl-relay-secret-5d1c0b9e"
const receivedAt = "2024-07-31T10:00:00Z"
const common = { source: "dhl", receivedAt: "2024-07-31T10:00:00.000Z" }

type Loc = { facility?: string; city?: string; region?: string; postalCode?: string; country?: string }

/** The documented content hash: sha256 of [1, source, tracking number, code, subcode, UTC time, location]. */
const contentId = (tracking: string, code: string, subcode: string | null, occurredAt: string, loc: Loc | null): string =>
  "sha256:" +
  createHash("sha256")
    .update(
      JSON.stringify([
        1,
        "dhl",
        tracking,
        code,
        subcode,
        occurredAt,
        loc === null ? null : [loc.facility ?? null, loc.city ?? null, loc.region ?? null, loc.postalCode ?? null, loc.country ?? null]
      ])
    )
    .digest("hex")

/** The partner's events, without the shipment's weight and proof of delivery (their own events). */
const scansOf = <A extends { readonly event: { readonly id: string } }>(observations: ReadonlyArray<A>): ReadonlyArray<A> =>
  observations.filter((o) => o.event.id.startsWith("sha256:"))

const unmappedCount = (code: string) =>
  Effect.map(
    Metric.value(Metric.tagged(Metric.tagged(MappingCarrier.unmappedCodes, "source", "dhl"), "code", code)),
    (state) => state.count
  )

describe("DhlUnified", () => {
  it.effect("maps a unified tracking response: local times by country, Z and offsets, POD, weight, unmapped codes", () =>
    Effect.gen(function* () {
      const unknownBefore = yield* unmappedCount("unknown")
      const noneBefore = yield* unmappedCount("(none)")
      const observations = yield* MappingTestKit.ingest(DhlUnified.config, fixture("dhl-unified.json"), {
        secret: SECRET,
        receivedAt
      })
      const parcel = "00340434292135100186"
      const hamburg = (postalCode?: string): Loc => ({
        city: "Hamburg",
        ...(postalCode !== undefined ? { postalCode } : {}),
        country: "DE"
      })
      const text = (s: string) => ({ detail: s, description: s })
      const plain = MappingTestKit.toPlain(observations) as ReadonlyArray<{ event: Record<string, unknown> }>
      expect(plain.filter((o) => (o.event.id as string).startsWith("sha256:"))).toEqual([
        // parcel-de: bare local times in Germany (CEST, UTC+2). The shipment's weight and proof
        // of delivery are on none of the events: each is its own event (below).
        {
          trackingNumber: parcel,
          carrier: "dhl",
          event: {
            _tag: "StatusReported",
            id: contentId(parcel, "delivered", "The shipment has been successfully delivered", "2024-07-31T09:42:00.000Z", hamburg("20095")),
            ...common,
            occurredAt: "2024-07-31T09:42:00.000Z",
            raw: { code: "delivered", ...text("The shipment has been successfully delivered") },
            status: "delivered",
            location: hamburg("20095")
          }
        },
        {
          trackingNumber: parcel,
          carrier: "dhl",
          event: {
            _tag: "StatusReported",
            id: contentId(parcel, "transit", "The shipment has been loaded onto the delivery vehicle", "2024-07-31T06:10:00.000Z", hamburg()),
            ...common,
            occurredAt: "2024-07-31T06:10:00.000Z",
            raw: { code: "transit", ...text("The shipment has been loaded onto the delivery vehicle") },
            status: "in_transit",
            location: hamburg()
          }
        },
        {
          trackingNumber: parcel,
          carrier: "dhl",
          event: {
            _tag: "StatusReported",
            id: contentId(parcel, "transit", "The shipment has been processed in the destination parcel center", "2024-07-30T21:55:00.000Z", hamburg()),
            ...common,
            occurredAt: "2024-07-30T21:55:00.000Z",
            raw: { code: "transit", ...text("The shipment has been processed in the destination parcel center") },
            status: "in_transit",
            location: hamburg()
          }
        },
        {
          trackingNumber: parcel,
          carrier: "dhl",
          event: {
            _tag: "StatusReported",
            id: contentId(parcel, "transit", "The shipment has been processed in the parcel center of origin", "2024-07-30T16:05:00.000Z", {
              city: "Frankfurt am Main",
              country: "DE"
            }),
            ...common,
            occurredAt: "2024-07-30T16:05:00.000Z",
            raw: { code: "transit", ...text("The shipment has been processed in the parcel center of origin") },
            status: "in_transit",
            location: { city: "Frankfurt am Main", country: "DE" }
          }
        },
        {
          // No location: a domestic shipment (origin and destination DE), so the zone is Germany's.
          trackingNumber: parcel,
          carrier: "dhl",
          event: {
            _tag: "StatusReported",
            id: contentId(
              parcel,
              "pre-transit",
              "The instruction data for this shipment have been provided by the sender to DHL electronically",
              "2024-07-30T12:31:00.000Z",
              null
            ),
            ...common,
            occurredAt: "2024-07-30T12:31:00.000Z",
            raw: {
              code: "pre-transit",
              ...text("The instruction data for this shipment have been provided by the sender to DHL electronically")
            },
            status: "label_created"
          }
        },
        // express: a numeric id, times with Z and an offset, a failure, an unknown code and an
        // event without any code.
        {
          trackingNumber: "7777777770",
          carrier: "dhl",
          event: {
            _tag: "ExceptionReported",
            id: contentId("7777777770", "failure", "Delivery attempted", "2024-07-31T09:15:00.000Z", {
              city: "LONDON - UNITED KINGDOM",
              country: "GB"
            }),
            ...common,
            occurredAt: "2024-07-31T09:15:00.000Z",
            raw: { code: "failure", detail: "Delivery attempted", description: "Delivery attempted; recipient not available" },
            kind: "failed_attempt",
            location: { city: "LONDON - UNITED KINGDOM", country: "GB" }
          }
        },
        {
          trackingNumber: "7777777770",
          carrier: "dhl",
          event: {
            _tag: "StatusReported",
            id: contentId("7777777770", "transit", "Processed", "2024-07-30T21:00:00.000Z", {
              city: "LEIPZIG - GERMANY",
              country: "DE"
            }),
            ...common,
            occurredAt: "2024-07-30T21:00:00.000Z",
            raw: { code: "transit", detail: "Processed", description: "Processed at LEIPZIG - GERMANY" },
            status: "in_transit",
            location: { city: "LEIPZIG - GERMANY", country: "DE" }
          }
        },
        {
          trackingNumber: "7777777770",
          carrier: "dhl",
          event: {
            _tag: "StatusReported",
            id: contentId("7777777770", "unknown", "CLOSE BAG", "2024-07-30T15:02:00.000Z", {
              city: "AMSTERDAM - NETHERLANDS",
              country: "NL"
            }),
            ...common,
            occurredAt: "2024-07-30T15:02:00.000Z",
            raw: { code: "unknown", detail: "CLOSE BAG" },
            status: "unknown",
            location: { city: "AMSTERDAM - NETHERLANDS", country: "NL" }
          }
        },
        {
          // No statusCode at all: kept as unknown with an empty raw code. No countryCode on a
          // cross-border shipment (NL -> GB), but the time carries its zone, so none is needed.
          trackingNumber: "7777777770",
          carrier: "dhl",
          event: {
            _tag: "StatusReported",
            id: contentId("7777777770", "", null, "2024-07-30T13:30:00.000Z", { city: "AMSTERDAM - NETHERLANDS" }),
            ...common,
            occurredAt: "2024-07-30T13:30:00.000Z",
            raw: { code: "", description: "Please contact DHL" },
            status: "unknown",
            location: { city: "AMSTERDAM - NETHERLANDS" }
          }
        },
        {
          trackingNumber: "7777777770",
          carrier: "dhl",
          event: {
            _tag: "StatusReported",
            id: contentId("7777777770", "pre-transit", "Shipment information received", "2024-07-30T13:00:00.000Z", null),
            ...common,
            occurredAt: "2024-07-30T13:00:00.000Z",
            raw: { code: "pre-transit", ...text("Shipment information received") },
            status: "label_created"
          }
        }
      ])
      // The weight rides on the newest event (the delivery), the POD on the earliest delivery.
      const delivered = contentId(parcel, "delivered", "The shipment has been successfully delivered", "2024-07-31T09:42:00.000Z", hamburg("20095"))
      const ride = {
        ...common,
        occurredAt: "2024-07-31T09:42:00.000Z",
        raw: { code: "delivered", detail: "The shipment has been successfully delivered" },
        status: "delivered",
        location: hamburg("20095")
      }
      const pod = { signedBy: "M. Keller", evidenceUrl: "https://www.dhl.de/int-verfolgen/data/pod?piececode=00340434292135100186" }
      expect(plain.filter((o) => !(o.event.id as string).startsWith("sha256:"))).toEqual([
        {
          trackingNumber: parcel,
          carrier: "dhl",
          event: { _tag: "StatusReported", id: MappingCarrier.podEventId("dhl", parcel, { id: delivered }, pod), ...ride, pod }
        },
        {
          trackingNumber: parcel,
          carrier: "dhl",
          event: {
            _tag: "StatusReported",
            id: MappingCarrier.weightEventId("dhl", parcel, { id: delivered, occurredAt: "2024-07-31T09:42:00.000Z" }, 2400),
            ...ride,
            weight: 2400
          }
        }
      ])
      expect(plain.filter((o) => !(o.event.id as string).startsWith("sha256:")).map((o) => o.event.id)).toEqual([
        expect.stringMatching(new RegExp(`^dhl/${parcel}:pod:[0-9a-f]{32}$`)),
        `weight:dhl/${parcel}:2024-07-31T09:42:00.000Z:000002400:${createHash("sha256").update(JSON.stringify([delivered])).digest("hex").slice(0, 16)}`
      ])
      expect((yield* unmappedCount("unknown")) - unknownBefore).toBe(1)
      expect((yield* unmappedCount("(none)")) - noneBefore).toBe(1)
    })
  )

  it.effect("the same response polled twice yields the same event ids; a different time yields a new id", () =>
    Effect.gen(function* () {
      const payload = fixture("dhl-unified.json") as { shipments: Array<{ events: Array<{ timestamp: string }> }> }
      const first = yield* MappingTestKit.ingest(DhlUnified.config, payload, { secret: SECRET, receivedAt })
      const second = yield* MappingTestKit.ingest(DhlUnified.config, payload, {
        secret: SECRET,
        receivedAt: "2024-07-31T10:05:00Z"
      })
      expect(second.map((o) => o.event.id)).toEqual(first.map((o) => o.event.id))
      expect(new Set(first.map((o) => o.event.id)).size).toBe(first.length)
      payload.shipments[0]!.events[1]!.timestamp = "2024-07-31T08:11:00"
      const moved = yield* MappingTestKit.ingest(DhlUnified.config, payload, { secret: SECRET, receivedAt })
      expect(moved.map((o) => o.event.id).filter((id, i) => id !== first[i]!.event.id)).toHaveLength(1)
    })
  )

  it.effect("the pipeline ingests a cross-border history but its zone-less event, keeps the request, and ingests the rest once a policy is set", () =>
    Effect.gen(function* () {
      const store = yield* MemoryStore.make
      const intake = Histories.intake({ shipmentId: "shp-dhl-1" as Ids.ShipmentId, companyId: "co-1" as Ids.CompanyId, events: [] }, 1)
      const shipment = new Shipment.Shipment({ ...intake.shipments[0]!, trackingNumber: "00340434292135100193" })
      const registered = new ErpPort.OrderIntake({ order: intake.order, shipments: [shipment] })
      const request = MappingTestKit.signRequest(DhlUnified.config, fixture("dhl-cross-border.json"), { secret: SECRET, receivedAt })
      const message: Pipeline.InboundMessage = { _tag: "Request", source: "dhl", ...request }
      const withCarrier = (config: MappingConfig.MappingConfig) =>
        Effect.flatMap(MappingCarrier.make(MappingConfig.withSecret(config, SECRET)), (carrier) =>
          Pipeline.make({ carriers: [carrier] }).pipe(Effect.provideService(Store.Store, store))
        )
      const pipeline = yield* withCarrier(DhlUnified.config)
      yield* pipeline.register(registered)
      // The Leipzig scan (its country names its zone) goes in; the London delivery (no country,
      // cross-border) cannot be read without a policy, so the request is kept for it.
      const first = yield* pipeline.receive(message)
      // the scan, and the shipment's weight riding on it
      expect(first.results.map((r) => r.outcome)).toEqual(["Accepted", "Accepted"])
      expect(first.rejected.map((e) => [e.reason, e.description.slice(0, 60)])).toEqual([
        ["Invalid", "1 event(s) of this dhl request cannot be read: dhl: event 0 "]
      ])
      expect((yield* pipeline.record(shipment.id))!.state.view.status).toBe("in_transit")
      const letters = yield* Effect.provideService(DeadLetters.list({ kind: "inbound" }), Store.Store, store)
      expect(letters.map((l) => JSON.parse(l.error).description)).toEqual([expect.stringContaining("has no time zone and the policy requires one")])
      // The host sets the zone of its one lane and replays: the delivery goes in.
      const json = DhlUnified.json
      const london = yield* MappingConfig.decode({
        ...json,
        fields: { ...json.fields, occurredAt: { ...json.fields.occurredAt, policy: { _tag: "AssumeZone", zone: "Europe/London" } } }
      })
      const fixed = yield* withCarrier(london)
      const report = yield* DeadLetters.replay({ kind: "inbound" }, "ops@example.com").pipe(
        Effect.provideService(Store.Store, store),
        Effect.provideService(Pipeline.Pipeline, fixed)
      )
      expect(report).toEqual({ requeued: 0, reingested: 1, failedAgain: 0 })
      const record = (yield* fixed.record(shipment.id))!
      expect(record.state.view.status).toBe("delivered")
      // the two scans, and the shipment's weight as each request saw it (on its newest scan)
      expect(record.state.events.filter((e) => e.id.startsWith("sha256:"))).toHaveLength(2)
      expect(record.state.events.filter((e) => e.id.startsWith("weight:"))).toHaveLength(2)
      expect(record.state.view.anomalies.filter((a) => a.reason === "conflicting_duplicate")).toEqual([])
    })
  )

  it.effect("reads a country-less zone-less time on a cross-border lane whose countries keep the same civil time (DE→AT, DE→CH)", () =>
    Effect.gen(function* () {
      const lane = (destination: string) => {
        const payload = fixture("dhl-cross-border.json") as { shipments: Array<{ destination: { address: Record<string, unknown> } }> }
        payload.shipments[0]!.destination.address.countryCode = destination
        return payload
      }
      for (const destination of ["AT", "CH"]) {
        const observations = yield* MappingTestKit.ingest(DhlUnified.config, lane(destination), { secret: SECRET, receivedAt })
        // 10:00 in Vienna or Zurich is 10:00 in Berlin: 08:00Z in summer, whichever is meant.
        expect(MappingTestKit.toPlain(scansOf(observations)).map((o) => (o as { event: { occurredAt: string } }).event.occurredAt)).toEqual([
          "2024-07-31T08:00:00.000Z",
          "2024-07-30T16:05:00.000Z"
        ])
      }
      // Not where the two sides differ (GB, PT: an hour apart) or one side has several zones (US).
      for (const destination of ["GB", "PT", "US"]) {
        const refused = yield* Effect.flip(MappingTestKit.ingest(DhlUnified.config, lane(destination), { secret: SECRET, receivedAt }))
        expect(refused.message).toContain(`"^.destination.address.countryCode" is ${destination})`)
      }
      // A winter time in the hour Europe repeats when clocks go back reads the same on both
      // sides too (the earlier instant, by the policy's rule).
      const repeated = lane("AT")
      ;(repeated.shipments[0] as unknown as { events: Array<{ timestamp: string }> }).events[0]!.timestamp = "2024-10-27T02:30:00"
      const [delivered] = yield* MappingTestKit.ingest(DhlUnified.config, repeated, { secret: SECRET, receivedAt })
      expect((MappingTestKit.toPlain([delivered!])[0] as { event: { occurredAt: string } }).event.occurredAt).toBe("2024-10-27T00:30:00.000Z")
    })
  )

  it.effect("refuses a zone-less time without a country on a cross-border shipment instead of reading it in the origin's zone", () =>
    Effect.gen(function* () {
      // DE -> GB, delivered in London at 10:00 BST (09:00Z); the event has no countryCode.
      // Berlin's zone would make it 08:00Z: a guess that the content-hash id would freeze.
      const rejected = yield* Effect.flip(
        MappingTestKit.ingest(DhlUnified.config, fixture("dhl-cross-border.json"), { secret: SECRET, receivedAt })
      )
      expect(rejected._tag).toBe("CarrierError")
      expect(rejected.reason).toBe("Invalid")
      expect(rejected.message).toBe(
        '@waybill/carrier-mapping/MappingCarrier.verifyAndParse: Invalid: dhl: 1 of 2 event(s) cannot be read: event 0 (shipments[0].events[0]): occurredAt ("timestamp"): "2024-07-31T10:00:00" has no time zone and the policy requires one (no country at "location.address.countryCode", and the shipment is not known to be domestic: "^.origin.address.countryCode" is DE, "^.destination.address.countryCode" is GB)'
      )

      // A missing destination is no evidence of a domestic shipment either.
      const payload = fixture("dhl-cross-border.json") as { shipments: Array<Record<string, unknown>> }
      const { destination: _, ...noDestination } = payload.shipments[0]!
      const unknownLane = yield* Effect.flip(
        MappingTestKit.ingest(DhlUnified.config, { shipments: [noDestination] }, { secret: SECRET, receivedAt })
      )
      expect(unknownLane.message).toContain(
        '"^.origin.address.countryCode" is DE, "^.destination.address.countryCode" is missing)'
      )

      // The host whose account ships only DE -> GB names the zone of its country-less scans.
      const json = DhlUnified.json
      const london = yield* MappingConfig.decode({
        ...json,
        fields: { ...json.fields, occurredAt: { ...json.fields.occurredAt, policy: { _tag: "AssumeZone", zone: "Europe/London" } } }
      })
      const observations = yield* MappingTestKit.ingest(london, fixture("dhl-cross-border.json"), { secret: SECRET, receivedAt })
      expect(
        MappingTestKit.toPlain(scansOf(observations)).map((o) => {
          const { event } = o as { event: { occurredAt: string; status: string } }
          return [event.occurredAt, event.status]
        })
      ).toEqual([
        ["2024-07-31T09:00:00.000Z", "delivered"],
        // A scan with its countryCode keeps its country's zone (Leipzig, CEST).
        ["2024-07-30T16:05:00.000Z", "in_transit"]
      ])
    })
  )

  it.effect("a zone-less time without a country is read in the shipment's country only when origin and destination agree on the time", () =>
    Effect.gen(function* () {
      const at = (origin: string | undefined, destination: string | undefined) =>
        MappingTestKit.ingest(
          DhlUnified.config,
          {
            shipments: [
              {
                id: "00340434292135100209",
                ...(origin !== undefined ? { origin: { address: { countryCode: origin } } } : {}),
                ...(destination !== undefined ? { destination: { address: { countryCode: destination } } } : {}),
                events: [{ timestamp: "2024-01-15T10:00:00", statusCode: "transit", status: "Processed" }]
              }
            ]
          },
          { secret: SECRET, receivedAt }
        ).pipe(
          Effect.map((obs) => (MappingTestKit.toPlain(obs)[0] as { event: { occurredAt: string } }).event.occurredAt),
          Effect.catchAll((e) => Effect.succeed(e.reason))
        )
      expect(yield* at("DE", "DE")).toBe("2024-01-15T09:00:00.000Z") // CET in January
      expect(yield* at("gb", "GB")).toBe("2024-01-15T10:00:00.000Z") // codes compare in any case
      expect(yield* at("DE", "AT")).toBe("2024-01-15T09:00:00.000Z") // two countries, one civil time: nothing to guess
      expect(yield* at("DE", "GB")).toBe("Invalid") // an hour apart: which side was it?
      expect(yield* at("DE", undefined)).toBe("Invalid")
      expect(yield* at(undefined, undefined)).toBe("Invalid")
      expect(yield* at("US", "US")).toBe("Invalid") // domestic, but several zones
    })
  )

  it.effect("refuses to guess a zone for a multi-zone country, and maps once the host names the zone of its lane", () =>
    Effect.gen(function* () {
      const rejected = yield* Effect.flip(
        MappingTestKit.ingest(DhlUnified.config, fixture("dhl-ecommerce-us.json"), { secret: SECRET, receivedAt })
      )
      expect(rejected._tag).toBe("CarrierError")
      expect(rejected.message).toBe(
        '@waybill/carrier-mapping/MappingCarrier.verifyAndParse: Invalid: dhl: 3 of 3 event(s) cannot be read: event 0 (shipments[0].events[0]): occurredAt ("timestamp"): "2023-05-02T19:25:28" has no time zone and the policy requires one; event 1 (shipments[0].events[1]): occurredAt ("timestamp"): "2023-05-01T14:11:21" has no time zone and the policy requires one; event 2 (shipments[0].events[2]): occurredAt ("timestamp"): "2023-05-01T10:02:48" has no time zone and the policy requires one'
      )

      // The host's lane runs through Hebron, KY: Eastern time.
      const json = DhlUnified.json
      const eastern = yield* MappingConfig.decode({
        ...json,
        fields: {
          ...json.fields,
          occurredAt: {
            ...json.fields.occurredAt,
            zoneByCountry: { ...json.fields.occurredAt.zoneByCountry, zones: { ...DhlUnified.singleZoneCountries, US: "America/New_York" } }
          }
        }
      })
      const observations = yield* MappingTestKit.ingest(eastern, fixture("dhl-ecommerce-us.json"), { secret: SECRET, receivedAt })
      expect(
        MappingTestKit.toPlain(scansOf(observations)).map((o) => {
          const { event } = o as { event: { occurredAt: string; status: string; raw: { code: string; detail?: string } } }
          return [event.occurredAt, event.status, event.raw.code, event.raw.detail]
        })
      ).toEqual([
        ["2023-05-02T23:25:28.000Z", "in_transit", "transit", "PACKAGE RECEIVED AT DHL ECOMMERCE DISTRIBUTION CENTER"],
        ["2023-05-01T18:11:21.000Z", "label_created", "pre-transit", "EN ROUTE TO DHL ECOMMERCE OR AWAITING PROCESSING"],
        // code + subcode: DHL eCommerce's "unknown" / "LABEL CREATED" is a label, not an unknown.
        ["2023-05-01T14:02:48.000Z", "label_created", "unknown", "LABEL CREATED"]
      ])
      // the shipment's 399 g, once, on its newest event
      expect(
        MappingTestKit.toPlain(observations).flatMap((o) => {
          const { event } = o as { event: { occurredAt: string; weight?: number } }
          return event.weight === undefined ? [] : [[event.occurredAt, event.weight]]
        })
      ).toEqual([["2023-05-02T23:25:28.000Z", 399]])
    })
  )
})
