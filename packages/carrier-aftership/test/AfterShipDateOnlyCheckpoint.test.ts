/**
 * Date-only `checkpoint_time`s: AfterShip documents the value as `YYYY-MM-DD`,
 * `YYYY-MM-DDTHH:MM:SS` or `YYYY-MM-DDTHH:MM:SS+TIMEZONE` (the Checkpoint model of its SDKs).
 * A date without a time of day cannot be ordered against the same day's scans, and an event
 * stored at a guessed instant can never be moved (ids hash the time as sent), so such a
 * checkpoint is skipped: counted in `waybill_carrier_skipped_checkpoints_total` and logged,
 * while every other checkpoint of the webhook is ingested as if it were not there. Before,
 * the whole webhook was refused as `Invalid` (a dead letter), on every update, forever.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import { CarrierSuite } from "@waybill/core/testing"
import { AfterShipTracking, AfterShipWebhook } from "../src/index.js"
import * as Payloads from "./payloads.js"
import { releasedDhlIds } from "./releasedIds.js"

const secretText = "as-webhook-secret-7f3a"
const secret = Redacted.make(secretText)
const encoder = new TextEncoder()

const signed = (payload: unknown) => {
  const body = encoder.encode(JSON.stringify(payload))
  return Payloads.request(body, { "aftership-hmac-sha256": AfterShipWebhook.sign(body, secretText) })
}

type Options = Omit<AfterShipWebhook.Options, "secret">

const parse = (options: Options, checkpoints: ReadonlyArray<unknown>, eventId?: string) =>
  AfterShipWebhook.verifyAndParse(signed(Payloads.dhlWebhook(checkpoints, eventId)), { secret, ...options })

const idsAndTimes = (out: ReadonlyArray<Parameters<typeof Payloads.summarize>[0]>) =>
  out.map((o) => [o.event.id, Payloads.summarize(o).occurredAt, Payloads.summarize(o).meaning])

const skipped = (tag: string) =>
  Metric.value(
    Metric.tagged(
      Metric.tagged(Metric.tagged(AfterShipTracking.skippedCheckpoints, "source", "aftership"), "reason", "date_only"),
      "tag",
      tag
    )
  ).pipe(Effect.map((s) => s.count))

const timed = Payloads.dhlCheckpoints
const [hkInfo, hkPickup, leipzigArrived, customsDelay, customsCleared] = timed

/** A date-only checkpoint, as some carriers report it: the day of the scan and nothing else. */
const dateOnly = (checkpoint_time: string, fields: Record<string, unknown> = {}) => ({
  ...leipzigArrived!,
  checkpoint_time,
  message: "Processed at LEIPZIG - GERMANY",
  tag: "InTransit",
  subtag: "InTransit_001",
  subtag_message: "In Transit",
  raw_tag: "PL",
  ...fields
})

/** The timed ones with a date-only checkpoint of 30 July among them (between the arrival scan and the customs delay). */
const mixed = [hkInfo, hkPickup, leipzigArrived, dateOnly("2024-07-30"), customsDelay, ...timed.slice(4)]

describe("AfterShip date-only checkpoint_time", () => {
  it.effect("the timed checkpoints are ingested exactly as without it; the date-only one is skipped", () =>
    Effect.gen(function*() {
      const without = yield* parse({}, timed)
      const out = yield* parse({}, mixed)
      expect(out).toHaveLength(timed.length)
      expect(idsAndTimes(out)).toEqual(idsAndTimes(without))
      // Nothing is placed at a guessed instant of 30 July (midnight, noon or end of day).
      expect(out.map((o) => Payloads.summarize(o).description)).not.toContain("[PL] Processed at LEIPZIG - GERMANY")
    }))

  it.effect("whatever the zone options and whatever the country: skipped, never refused, never placed", () =>
    Effect.gen(function*() {
      const variants = [
        dateOnly("2024-07-30"), // Germany: a single zone
        dateOnly("2024-07-30", { country_iso3: null, country_region: "USA", city: "MEMPHIS" }), // several zones
        dateOnly("2024-07-30", { country_iso3: null, country_name: null, city: null, zip: null }), // no country
        dateOnly(" 2024-07-30 ") // padded
      ]
      for (
        const options of [
          {},
          { timePolicy: { _tag: "RequireZone" } },
          { timePolicy: { _tag: "AssumeUtc" } },
          { timePolicy: { _tag: "AssumeZone", zone: "America/Chicago" } },
          { zoneByCountry: false, timePolicy: { _tag: "AssumeOffset", minutes: 120 } }
        ] as const
      ) {
        // The same events as the timed checkpoints alone, under the same options.
        const expected = idsAndTimes(yield* parse(options, timed))
        for (const variant of variants) {
          const out = yield* parse(options, [hkInfo, hkPickup, leipzigArrived, variant, ...timed.slice(3)])
          expect(idsAndTimes(out)).toEqual(expected)
        }
      }
    }))

  it.effect("ids are stable across redeliveries, and the scan is ingested once AfterShip sends its time", () =>
    Effect.gen(function*() {
      const released = releasedDhlIds
      // First delivery: up to the customs clearance, the date-only scan among them.
      const first = yield* parse({}, mixed.slice(0, 6), "first-delivery")
      expect(first.map((o) => o.event.id)).toEqual(released.slice(0, 5))
      // Redelivered with the full history (AfterShip resends every checkpoint): the same ids.
      const again = yield* parse({}, mixed, "second-delivery")
      expect(again.map((o) => o.event.id)).toEqual(released)
      expect(idsAndTimes(again).slice(0, 5)).toEqual(idsAndTimes(first))
      // The carrier later gives the scan its time: a new event, at its real instant (Leipzig, +02:00).
      const withTime = mixed.map((c) => c === mixed[3] ? { ...c, checkpoint_time: "2024-07-30T07:20:00" } : c)
      const third = yield* parse({}, withTime, "third-delivery")
      expect(third).toHaveLength(released.length + 1)
      expect(third.map((o) => o.event.id).filter((id) => !released.includes(id))).toHaveLength(1)
      expect(Payloads.summarize(third[3]!).occurredAt).toBe("2024-07-30T05:20:00.000Z")
    }))

  it.effect("it is counted by source, reason and tag, and logged without the carrier's text", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        logs.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
      })
      const delivered = dateOnly("2024-08-01", {
        tag: "Delivered",
        subtag: "Delivered_001",
        message: "Delivered to M. MUSTERMANN, Invalidenstr. 1"
      })
      const inTransitBefore = yield* skipped("InTransit")
      const deliveredBefore = yield* skipped("Delivered")
      const out = yield* parse({}, [...mixed.slice(0, 6), delivered]).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      expect(out.map((o) => o.event.id)).toEqual((yield* parse({}, timed.slice(0, 5))).map((o) => o.event.id))
      expect((yield* skipped("InTransit")) - inTransitBefore).toBe(1)
      expect((yield* skipped("Delivered")) - deliveredBefore).toBe(1)
      const warnings = logs.filter((l) => l.startsWith("WARN"))
      expect(warnings).toEqual([
        "WARN AfterShip msg.checkpoints.3.checkpoint_time \"2024-07-30\" is a date without a time of day:" +
          " checkpoint skipped (tag InTransit, subtag InTransit_001); the other checkpoints are kept",
        "WARN AfterShip msg.checkpoints.6.checkpoint_time \"2024-08-01\" is a date without a time of day:" +
          " checkpoint skipped (tag Delivered, subtag Delivered_001); the other checkpoints are kept"
      ])
      expect(logs.join("\n")).not.toContain("MUSTERMANN")
    }))

  it.effect("a tracking whose only checkpoints are date-only yields no event and is not refused", () =>
    Effect.gen(function*() {
      expect(yield* parse({}, [dateOnly("2024-07-30"), dateOnly("2024-07-31", { tag: "OutForDelivery", subtag: null })])).toEqual([])
    }))

  it.effect("a malformed time is still refused: only a real calendar date in the documented shape is skipped", () =>
    Effect.gen(function*() {
      for (const text of ["2024-02-30", "2024-7-30", "30.07.2024", "2024-07-30T", "2024-13-01"]) {
        const exit = yield* Effect.exit(parse({}, [hkPickup, dateOnly(text)]))
        const error = CarrierSuite.failureOf(exit)
        expect(error.reason).toBe("Invalid")
        expect(error.description).toContain(`msg.checkpoints.1.checkpoint_time: "${text}" is not a date and time`)
      }
      // A leap day is a date.
      expect(yield* parse({}, [hkPickup, dateOnly("2024-02-29")])).toHaveLength(1)
    }))

  it.effect("the tracking's own tag still stands in only when there are no checkpoints at all", () =>
    Effect.gen(function*() {
      expect(yield* parse({}, [customsCleared, dateOnly("2024-07-31")])).toHaveLength(1)
    }))
})
