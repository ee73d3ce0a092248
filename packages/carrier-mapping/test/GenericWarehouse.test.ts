import { describe, expect, it } from "@effect/vitest"
import { Ids, ShipmentEvent, ShipmentState } from "@waybill/core"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import { readFileSync } from "node:fs"
import { GenericWarehouse, MappingCarrier, MappingConfig } from "../src/index.js"
import { MappingTestKit } from "../src/testing/index.js"

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8"))

const SECRET = "wms-test-secret-7f3a9c1e"
const receivedAt = "2024-07-31T12:20:05Z"
const withEnv = Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["WAYBILL_WMS_WEBHOOK_SECRET", SECRET]])))

const frankfurt = { facility: "FRA-1", city: "Frankfurt am Main", postalCode: "60549", country: "DE" }
const common = { source: "wms:generic", receivedAt: "2024-07-31T12:20:05.000Z" }

/**
 * Parcel WH/OUT/00042's state folded from the sample batch (`before`), then from the batch and
 * the corrections that void its dispatch (`after`), both bodies passed through `body` first.
 */
const foldWithCorrections = (config: typeof GenericWarehouse.config, body: (b: unknown) => unknown = (b) => b) =>
  Effect.gen(function* () {
    const batch = yield* MappingTestKit.ingest(config, body(fixture("warehouse-batch.json")), { secret: SECRET, receivedAt })
    const corrections = yield* MappingTestKit.ingest(config, body(fixture("warehouse-corrections.json")), {
      secret: SECRET,
      receivedAt: "2024-07-31T14:00:30Z"
    })
    const shipmentId = Ids.ShipmentId.make("WH/OUT/00042")
    const companyId = Ids.CompanyId.make("acme")
    const events = (obs: typeof batch) =>
      obs.filter((o) => o.trackingNumber === "WH/OUT/00042").map((o) => ShipmentEvent.fromDraft(o.event, shipmentId, companyId))
    return {
      before: ShipmentState.fold(shipmentId, companyId, events(batch)),
      after: ShipmentState.fold(shipmentId, companyId, [...events(batch), ...events(corrections)])
    }
  })

describe("GenericWarehouse", () => {
  it.effect("maps a realistic batch: pick, pack (kg), label, dispatch (string kg), hold with subcode, pack (lb), unmapped", () =>
    Effect.gen(function* () {
      const observations = yield* MappingTestKit.ingest(GenericWarehouse.config, fixture("warehouse-batch.json"), {
        receivedAt
      }).pipe(withEnv)
      expect(MappingTestKit.toPlain(observations)).toEqual([
        {
          trackingNumber: "WH/OUT/00042",
          carrier: "dhl",
          event: {
            _tag: "StatusReported",
            id: "evt_000912",
            ...common,
            occurredAt: "2024-07-31T11:02:11.000Z",
            raw: { code: "order.picked", description: "3 lines picked" },
            status: "picked",
            location: frankfurt
          }
        },
        {
          trackingNumber: "WH/OUT/00042",
          carrier: "dhl",
          event: {
            _tag: "StatusReported",
            id: "evt_000913",
            ...common,
            occurredAt: "2024-07-31T11:20:45.000Z",
            raw: { code: "order.packed", description: "1 carton" },
            status: "packed",
            location: frankfurt,
            weight: 2350
          }
        },
        {
          trackingNumber: "WH/OUT/00042",
          carrier: "dhl",
          event: {
            _tag: "StatusReported",
            id: "evt_000914",
            ...common,
            occurredAt: "2024-07-31T11:24:02.000Z",
            raw: { code: "label.printed" },
            status: "label_created",
            location: frankfurt
          }
        },
        {
          trackingNumber: "WH/OUT/00042",
          carrier: "dhl",
          event: {
            _tag: "StatusReported",
            id: "evt_000915",
            ...common,
            occurredAt: "2024-07-31T12:15:00.000Z",
            raw: { code: "order.dispatched" },
            status: "dispatched",
            // The event's own facility wins over the warehouse's; the rest comes from the warehouse.
            location: { ...frankfurt, facility: "FRA-1 dock 4" },
            weight: 2410
          }
        },
        {
          trackingNumber: "WH/OUT/00043",
          carrier: "ups",
          event: {
            _tag: "ExceptionReported",
            id: "evt_000916",
            ...common,
            occurredAt: "2024-07-31T12:01:30.000Z",
            raw: { code: "order.on_hold", detail: "address", description: "street number missing" },
            kind: "address_issue",
            location: frankfurt
          }
        },
        {
          trackingNumber: "WH/OUT/00044",
          event: {
            _tag: "StatusReported",
            id: "evt_000917",
            ...common,
            occurredAt: "2024-07-31T11:45:00.000Z",
            raw: { code: "order.packed" },
            status: "packed",
            location: { facility: "EWR-2", city: "Newark", postalCode: "07114", country: "US" },
            // 5.2 lb = 2358.68 g
            weight: 2359
          }
        },
        {
          trackingNumber: "WH/OUT/00045",
          event: {
            _tag: "StatusReported",
            id: "evt_000918",
            ...common,
            occurredAt: "2024-07-31T09:00:00.000Z",
            raw: { code: "order.wave_assigned", description: "wave 12" },
            status: "unknown",
            location: frankfurt
          }
        }
      ])
    })
  )

  it.effect("maps corrections: a void becomes a retraction, a release clears, damage is an exception", () =>
    Effect.gen(function* () {
      const observations = yield* MappingTestKit.ingest(GenericWarehouse.config, fixture("warehouse-corrections.json"), {
        secret: SECRET,
        receivedAt: "2024-07-31T14:00:30Z"
      })
      const received = { source: "wms:generic", receivedAt: "2024-07-31T14:00:30.000Z" }
      expect(MappingTestKit.toPlain(observations)).toEqual([
        {
          trackingNumber: "WH/OUT/00042",
          event: {
            _tag: "Retraction",
            id: "evt_000930",
            ...received,
            occurredAt: "2024-07-31T13:40:00.000Z",
            raw: { code: "event.voided", description: "dispatch scanned on the wrong pallet" },
            retracts: ["evt_000915"]
          }
        },
        {
          trackingNumber: "WH/OUT/00043",
          event: {
            _tag: "ExceptionCleared",
            id: "evt_000931",
            ...received,
            occurredAt: "2024-07-31T13:45:00.000Z",
            raw: { code: "order.released", description: "address completed by customer service" }
          }
        },
        {
          trackingNumber: "WH/OUT/00046",
          event: {
            _tag: "ExceptionReported",
            id: "evt_000932",
            ...received,
            occurredAt: "2024-07-31T13:50:00.000Z",
            raw: { code: "package.damaged" },
            kind: "damaged",
            location: { facility: "FRA-1 returns desk", city: "Frankfurt am Main", postalCode: "60549", country: "DE" }
          }
        }
      ])
    })
  )

  it.effect("feeds core's state machine: the dispatch is withdrawn by the void, the weight is measured", () =>
    Effect.gen(function* () {
      const { after, before } = yield* foldWithCorrections(GenericWarehouse.config)
      expect(before.view.progress).toBe("dispatched")
      expect(before.view.measuredWeight).toBe(2410)
      expect(after.view.progress).toBe("label_created")
    })
  )

  it.effect("a payload-level weight on a config with retractions stays on the events: a void withdraws the scan and its weight", () =>
    Effect.gen(function* () {
      // The parcel's weight read outside the event (`$.parcel`) would otherwise be its own event,
      // a copy of the newest scan (the dispatch) under an id of its own that the void does not
      // name: the dispatch would stay reached through the copy.
      const config = yield* MappingCarrier.make({
        ...GenericWarehouse.json,
        fields: { ...GenericWarehouse.json.fields, weight: { value: "$.parcel.weight", unit: "$.parcel.unit" } }
      }).pipe(withEnv)
      const withParcel = (body: unknown) => ({ ...(body as object), parcel: { weight: 2.5, unit: "kg" } })
      const { after, before } = yield* foldWithCorrections(config.config, withParcel)
      expect(before.view.progress).toBe("dispatched")
      expect(after.view.progress).toBe("label_created")
      expect(after.view.measuredWeight).toBe(2500)
    })
  )

  it.effect("is a template: spread it under a warehouse's own source (the README example)", () =>
    Effect.gen(function* () {
      const acme = yield* MappingCarrier.make({ ...GenericWarehouse.config, source: "wms:acme" }).pipe(withEnv)
      const request = MappingTestKit.signRequest(acme.config, fixture("warehouse-corrections.json"), {
        secret: SECRET,
        receivedAt: "2024-07-31T14:00:30Z"
      })
      const observations = yield* acme.parse(request)
      expect(observations.map((o) => [o.event.source, o.event._tag])).toEqual([
        ["wms:acme", "Retraction"],
        ["wms:acme", "ExceptionCleared"],
        ["wms:acme", "ExceptionReported"]
      ])
      const invalid = yield* Effect.flip(MappingCarrier.make({ ...GenericWarehouse.config, source: "WMS Acme" }).pipe(withEnv))
      expect(invalid.message).toMatch(/^invalid MappingConfig: source: a source is 1-64 lower-case letters/)
    })
  )

  it.effect("an over-long postal code is refused naming the field and the rule, never quoting it", () =>
    Effect.gen(function* () {
      const batch = fixture("warehouse-batch.json") as { warehouse: Record<string, unknown> }
      const postal = `60549 Hinterhof Margarethe Musterfrau ${"9".repeat(40)}`
      const error = yield* MappingTestKit.ingest(
        GenericWarehouse.config,
        { ...batch, warehouse: { ...batch.warehouse, postal_code: postal } },
        { receivedAt }
      ).pipe(withEnv, Effect.flip)
      const text = JSON.stringify(error)
      expect(text).toContain("postalCode")
      expect(text).toContain(`<redacted, ${postal.length} characters>`)
      for (const part of ["Margarethe", "Musterfrau", "9999"]) expect(text).not.toContain(part)
    })
  )

  it.effect("reads its secret from WAYBILL_WMS_WEBHOOK_SECRET and says so when it is missing", () =>
    Effect.gen(function* () {
      const carrier = yield* MappingCarrier.make(GenericWarehouse.config).pipe(withEnv)
      expect(carrier.source).toBe("wms:generic")
      const missing = yield* Effect.flip(
        MappingCarrier.make(GenericWarehouse.config).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map())))
      )
      expect(missing._tag).toBe("ValidationError")
      expect(missing.message).toBe(
        "invalid MappingConfig: signature.secret.env: missing signature secret: environment variable WAYBILL_WMS_WEBHOOK_SECRET is not set"
      )
    })
  )

  it.effect("refuses at start-up a secret with white space at an end or made only of white space, never naming it", () =>
    Effect.gen(function* () {
      // A secret file's trailing newline: the warehouse keys with the exact secret, so every genuine
      // webhook would be refused as Unauthorized (and dropped once the warehouse gives up retrying).
      // Sixteen spaces: anyone could sign.
      for (const [secret, problem] of [
        [`${SECRET}\n`, "starts or ends with white space (a trailing newline from a file?)"],
        [" ".repeat(20), "is only white space"]
      ] as const) {
        // The outcome as text: a carrier made by mistake is shown as "made", not printed whole.
        const outcome = (made: Effect.Effect<unknown, { readonly _tag: string; readonly message: string }>) =>
          Effect.map(Effect.either(made), (r) => (r._tag === "Left" ? `${r.left._tag}: ${r.left.message}` : "made"))
        const fromEnv = yield* outcome(
          MappingCarrier.make(GenericWarehouse.config).pipe(
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["WAYBILL_WMS_WEBHOOK_SECRET", secret]])))
          )
        )
        expect(fromEnv).toBe(
          `ValidationError: invalid MappingConfig: signature.secret.env: the signature secret in WAYBILL_WMS_WEBHOOK_SECRET ${problem}`
        )
        const given = yield* outcome(MappingCarrier.make(MappingConfig.withSecret(GenericWarehouse.config, secret)))
        expect(given).toBe(`ValidationError: invalid MappingConfig: signature.secret: the signature secret ${problem}`)
        if (secret.trim() !== "") expect(`${fromEnv} ${given}`).not.toContain(SECRET)
      }
    })
  )
})
