/**
 * Zone-less `checkpoint_time`s: AfterShip documents `checkpoint_time` as the checkpoint's local
 * time ("It uses the timezone of the checkpoint"), sent as `YYYY-MM-DDTHH:mm:ss` or with an
 * offset, and the checkpoint's country as ISO alpha-3 (`country_region`, formerly
 * `country_iso3`). A time with an offset or `Z` is taken as is; a zone-less one is read in the
 * zone of the checkpoint's country when that country has a single zone (daylight saving
 * included), else by the configured `timePolicy`, else refused as `Invalid` (a misread time
 * could never be corrected: ids hash the time as sent, so a replay would dedupe against it).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { CarrierSuite } from "@waybill/core/testing"
import { AfterShipWebhook } from "../src/index.js"
import * as Payloads from "./payloads.js"
import { releasedDhlIds } from "./releasedIds.js"

const secretText = "as-webhook-secret-7f3a"
const secret = Redacted.make(secretText)
const encoder = new TextEncoder()
const failureOf = CarrierSuite.failureOf

const signed = (payload: unknown) => {
  const body = encoder.encode(JSON.stringify(payload))
  return Payloads.request(body, { "aftership-hmac-sha256": AfterShipWebhook.sign(body, secretText) })
}

const [hkInfo, hkPickup, leipzigArrived] = Payloads.dhlCheckpoints

/** One checkpoint at `checkpoint_time`, in a country given as alpha-3 (`country_iso3` or the current `country_region`). */
const at = (checkpoint_time: string, country: Record<string, unknown>) => ({
  ...leipzigArrived!,
  city: null,
  zip: null,
  country_iso3: null,
  country_name: null,
  checkpoint_time,
  ...country
})

const occurredAt = (options: Omit<AfterShipWebhook.Options, "secret">, ...checkpoints: ReadonlyArray<unknown>) =>
  Effect.map(
    AfterShipWebhook.verifyAndParse(signed(Payloads.dhlWebhook(checkpoints)), { secret, ...options }),
    (out) => out.map((o) => Payloads.summarize(o).occurredAt)
  )

const refusal = (options: Omit<AfterShipWebhook.Options, "secret">, ...checkpoints: ReadonlyArray<unknown>) =>
  Effect.map(
    Effect.exit(AfterShipWebhook.verifyAndParse(signed(Payloads.dhlWebhook(checkpoints)), { secret, ...options })),
    failureOf
  )

describe("AfterShip zone-less checkpoint_time", () => {
  it.effect("a Hong Kong checkpoint is read in Hong Kong time (UTC+8), so it precedes the pickup scan", () =>
    Effect.gen(function*() {
      // 15:30 local in Hong Kong; the pickup scan that follows says 21:45+08:00.
      expect(yield* occurredAt({}, hkInfo, hkPickup)).toEqual(["2024-07-29T07:30:00.000Z", "2024-07-29T13:45:00.000Z"])
      // Whatever fallback is configured: the country settles the zone.
      for (
        const timePolicy of [
          { _tag: "AssumeUtc" },
          { _tag: "RequireZone" },
          { _tag: "AssumeZone", zone: "Europe/Berlin" },
          { _tag: "AssumeOffset", minutes: -300 }
        ] as const
      ) {
        expect(yield* occurredAt({ timePolicy }, hkInfo)).toEqual(["2024-07-29T07:30:00.000Z"])
      }
      // The current field name, any case.
      expect(yield* occurredAt({}, at("2024-07-29T15:30:00", { country_region: "hkg" }))).toEqual(["2024-07-29T07:30:00.000Z"])
    }))

  it.effect("a Berlin checkpoint follows daylight saving: +02:00 in July, +01:00 in January", () =>
    Effect.gen(function*() {
      expect(
        yield* occurredAt(
          {},
          at("2024-07-30T06:12:00", { country_iso3: "DEU" }),
          at("2024-01-15T06:12:00", { country_region: "DEU" }),
          // The repeated hour when clocks go back resolves to the earlier instant.
          at("2024-10-27T02:30:00", { country_region: "DEU" })
        )
      ).toEqual(["2024-07-30T04:12:00.000Z", "2024-01-15T05:12:00.000Z", "2024-10-27T00:30:00.000Z"])
    }))

  it.effect("a US checkpoint (several zones) is refused without a configured zone, read in it with one", () =>
    Effect.gen(function*() {
      const la = at("2024-07-29T08:00:00", { country_region: "USA", city: "LOS ANGELES", state: "CA" })
      const error = yield* refusal({}, hkPickup, la)
      expect(error.reason).toBe("Invalid")
      expect(error.status).toBe(400)
      expect(error.description).toBe(
        "msg.checkpoints.1.checkpoint_time: \"2024-07-29T08:00:00\" has no time zone and the policy requires one" +
          " (no single time zone is known for the checkpoint's country US; set timePolicy to the zone of such checkpoints)"
      )
      const pacific = { _tag: "AssumeZone", zone: "America/Los_Angeles" } as const
      expect(yield* occurredAt({ timePolicy: pacific }, la)).toEqual(["2024-07-29T15:00:00.000Z"])
      expect(yield* occurredAt({ timePolicy: pacific }, { ...la, checkpoint_time: "2024-01-15T08:00:00" })).toEqual([
        "2024-01-15T16:00:00.000Z"
      ])
      // Reading it as UTC stays possible, but only when asked for.
      expect(yield* occurredAt({ timePolicy: { _tag: "AssumeUtc" } }, la)).toEqual(["2024-07-29T08:00:00.000Z"])
    }))

  it.effect("a Taiwan, Thailand, Vietnam or South Africa checkpoint (one zone each) is read in it, not refused", () =>
    Effect.gen(function*() {
      const checkpoints = [
        at("2024-07-29T15:30:00", { country_region: "TWN" }),
        at("2024-07-29T15:30:00", { country_iso3: "THA" }),
        at("2024-07-29T15:30:00", { country_region: "VNM" }),
        at("2024-07-29T15:30:00", { country_region: "ZAF" })
      ]
      const expected = ["2024-07-29T07:30:00.000Z", "2024-07-29T08:30:00.000Z", "2024-07-29T08:30:00.000Z", "2024-07-29T13:30:00.000Z"]
      for (const timePolicy of [{ _tag: "RequireZone" }, { _tag: "AssumeUtc" }] as const) {
        expect(yield* occurredAt({ timePolicy }, ...checkpoints)).toEqual(expected)
      }
      expect(yield* occurredAt({}, ...checkpoints)).toEqual(expected)
    }))

  it.effect("a checkpoint without a country, or in a country not in the table, follows the configured policy", () =>
    Effect.gen(function*() {
      const nowhere = at("2024-07-29T15:30:00", {})
      const unknown = at("2024-07-29T15:30:00", { country_region: "ZZZ" })
      // Mongolia: Ulaanbaatar +08:00, Hovd +07:00.
      const mongolia = at("2024-07-29T15:30:00", { country_region: "MNG" })
      expect((yield* refusal({}, nowhere)).description).toBe(
        "msg.checkpoints.0.checkpoint_time: \"2024-07-29T15:30:00\" has no time zone and the policy requires one" +
          " (the checkpoint names no country; set timePolicy to the zone of such checkpoints)"
      )
      expect((yield* refusal({}, unknown)).reason).toBe("Invalid")
      expect((yield* refusal({}, mongolia)).description).toContain("the checkpoint's country MN")
      expect(yield* occurredAt({ timePolicy: { _tag: "AssumeZone", zone: "Asia/Ulaanbaatar" } }, nowhere, unknown, mongolia)).toEqual([
        "2024-07-29T07:30:00.000Z",
        "2024-07-29T07:30:00.000Z",
        "2024-07-29T07:30:00.000Z"
      ])
    }))

  it.effect("zoneByCountry: false applies the configured policy to every zone-less time (the former reading)", () =>
    Effect.gen(function*() {
      expect(yield* occurredAt({ zoneByCountry: false, timePolicy: { _tag: "AssumeUtc" } }, hkInfo)).toEqual([
        "2024-07-29T15:30:00.000Z"
      ])
      expect(
        yield* occurredAt({ zoneByCountry: false, timePolicy: { _tag: "AssumeZone", zone: "Europe/Berlin" } }, hkInfo)
      ).toEqual(["2024-07-29T13:30:00.000Z"])
      expect((yield* refusal({ zoneByCountry: false, timePolicy: { _tag: "RequireZone" } }, hkInfo)).description).toBe(
        "msg.checkpoints.0.checkpoint_time: \"2024-07-29T15:30:00\" has no time zone and the policy requires one"
      )
    }))

  it.effect("a time with an offset or Z is taken as is, whatever the country and the options", () =>
    Effect.gen(function*() {
      const checkpoints = [
        hkPickup,
        at("2024-07-29T13:45:00Z", { country_region: "HKG" }),
        at("2024-07-29T08:00:00-07:00", { country_region: "USA" }),
        at("2024-07-29T15:30:00+00:00", { country_region: "DEU" })
      ]
      const expected = ["2024-07-29T13:45:00.000Z", "2024-07-29T13:45:00.000Z", "2024-07-29T15:00:00.000Z", "2024-07-29T15:30:00.000Z"]
      for (
        const options of [
          {},
          { timePolicy: { _tag: "RequireZone" } },
          { timePolicy: { _tag: "AssumeUtc" } },
          { timePolicy: { _tag: "AssumeZone", zone: "Asia/Tokyo" } },
          { zoneByCountry: false },
          { zoneByCountry: false, timePolicy: { _tag: "AssumeOffset", minutes: 600 } }
        ] as const
      ) {
        expect(yield* occurredAt(options, ...checkpoints)).toEqual(expected)
      }
    }))

  it.effect("event ids do not move: they hash the time as sent, so the corrected reading changes no id", () =>
    Effect.gen(function*() {
      const released = releasedDhlIds
      for (const options of [{}, { timePolicy: { _tag: "AssumeUtc" } }, { zoneByCountry: false, timePolicy: { _tag: "AssumeUtc" } }] as const) {
        const out = yield* AfterShipWebhook.verifyAndParse(signed(Payloads.dhlWebhook()), { secret, ...options })
        expect(out.map((o) => o.event.id)).toEqual(released)
      }
      // Checkpoints with offsets: the same instants and ids under the former reading and the new one.
      const withOffsets = Payloads.dhlCheckpoints.slice(1)
      const before = yield* AfterShipWebhook.verifyAndParse(signed(Payloads.dhlWebhook(withOffsets)), {
        secret,
        zoneByCountry: false,
        timePolicy: { _tag: "AssumeUtc" }
      })
      const after = yield* AfterShipWebhook.verifyAndParse(signed(Payloads.dhlWebhook(withOffsets)), { secret })
      expect(after.map((o) => [o.event.id, Payloads.summarize(o).occurredAt])).toEqual(
        before.map((o) => [o.event.id, Payloads.summarize(o).occurredAt])
      )
      expect(after.map((o) => o.event.id)).toEqual(released.slice(1))
    }))

  it.effect("created_at and updated_at are AfterShip's own UTC times, never read in the checkpoint's zone", () =>
    Effect.gen(function*() {
      // No checkpoint_time: the checkpoint falls back on created_at (documented as GMT+0).
      const noTime = { ...hkInfo, checkpoint_time: null, created_at: "2024-07-29T08:00:00" }
      expect(yield* occurredAt({}, noTime)).toEqual(["2024-07-29T08:00:00.000Z"])
      expect(yield* occurredAt({ timePolicy: { _tag: "AssumeZone", zone: "Asia/Tokyo" } }, noTime)).toEqual([
        "2024-07-29T08:00:00.000Z"
      ])
      // No checkpoint: the tracking's own tag at updated_at.
      const payload = Payloads.dhlWebhook([])
      payload.msg.updated_at = "2024-08-01T10:05:00"
      const [one] = yield* AfterShipWebhook.verifyAndParse(signed(payload), { secret })
      expect(Payloads.summarize(one!).occurredAt).toBe("2024-08-01T10:05:00.000Z")
    }))
})
