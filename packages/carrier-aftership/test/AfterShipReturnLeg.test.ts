/**
 * After AfterShip reports a parcel "Returning to sender" (Exception_010), the checkpoints that
 * follow are the way back: the carrier's "Delivered" at the end of it is the parcel handed back
 * to the shipper, not to the customer, and must never read as the customer's delivery (which
 * releases the invoice and tells the customer it arrived). AfterShip's `return_to_sender` is
 * documented as true once a checkpoint has Exception_010 or Exception_011.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { AfterShipMapping, AfterShipTracking } from "../src/index.js"
import * as Payloads from "./payloads.js"

const options: AfterShipTracking.Options = {
  source: "aftership",
  timePolicy: { _tag: "AssumeUtc" },
  receivedAt: Payloads.receivedAt
}

const at = (checkpoint_time: string, fields: Record<string, unknown>) => ({
  ...Payloads.dhlCheckpoints[0]!,
  checkpoint_time,
  location: "BERLIN - GERMANY",
  city: "BERLIN",
  country_iso3: "DEU",
  raw_tag: null,
  ...fields
})

const pickup = at("2024-07-29T21:45:00+02:00", { tag: "InTransit", subtag: "InTransit_002", message: "Shipment picked up" })
const outForDelivery = at("2024-07-31T08:00:00+02:00", { tag: "OutForDelivery", subtag: "OutForDelivery_001", message: "Out for delivery" })
const attempt = at("2024-07-31T12:00:00+02:00", { tag: "AttemptFail", subtag: "AttemptFail_002", message: "Addressee not available" })
const returning = at("2024-08-07T09:00:00+02:00", { tag: "Exception", subtag: "Exception_010", message: "Returning to shipper" })
const backInTransit = at("2024-08-07T18:00:00+02:00", { tag: "InTransit", subtag: "InTransit_007", message: "Departed facility" })
const backOut = at("2024-08-09T07:30:00+02:00", { tag: "OutForDelivery", subtag: "OutForDelivery_001", message: "Out for delivery" })
const backDelivered = at("2024-08-09T11:00:00+02:00", { tag: "Delivered", subtag: "Delivered_001", message: "Delivered" })

const meanings = (observations: ReadonlyArray<Parameters<typeof Payloads.summarize>[0]>) =>
  observations.map((o) => Payloads.summarize(o).meaning)

describe("AfterShip: the way back to the sender", () => {
  it.effect("a Delivered checkpoint after Exception_010 is the return delivered back, never the customer's delivery", () =>
    Effect.gen(function*() {
      const body = Payloads.dhlWebhook([pickup, outForDelivery, attempt, returning, backInTransit, backOut, backDelivered])
      const out = yield* AfterShipTracking.fromWebhook(body, options)
      expect(meanings(out)).toEqual([
        "dispatched",
        "out_for_delivery",
        "failed_attempt",
        "return_initiated",
        "return_initiated",
        "return_initiated",
        "returned"
      ])
      // No POD either: the tracking's signed_by is the shipper's signature for the return.
      const last = out.at(-1)!.event
      expect(last._tag === "StatusReported" ? last.pod : "not a status").toBeUndefined()
      // The checkpoint-by-checkpoint reading the pipeline uses says the same.
      const each = yield* AfterShipTracking.fromWebhookEach(body, options)
      expect(each.unreadable).toEqual([])
      expect(meanings(each.observations)).toEqual(meanings(out))
    }))

  it.effect("the return leg is found by time, not by the order AfterShip lists the checkpoints in", () =>
    Effect.gen(function*() {
      const out = yield* AfterShipTracking.fromWebhook(Payloads.dhlWebhook([backDelivered, returning, pickup]), options)
      expect(meanings(out)).toEqual(["returned", "return_initiated", "dispatched"])
    }))

  it.effect("a delivery before the return started stays a delivery", () =>
    Effect.gen(function*() {
      const delivered = at("2024-07-31T12:00:00+02:00", { tag: "Delivered", subtag: "Delivered_001", message: "Delivered" })
      const out = yield* AfterShipTracking.fromWebhook(Payloads.dhlWebhook([pickup, delivered, returning]), options)
      expect(meanings(out)).toEqual(["dispatched", "delivered", "return_initiated"])
    }))

  it("classify on the return leg: forward steps are the return travelling, the delivery is returned", () => {
    const show = (tag: string, subtag: string) => {
      const c = AfterShipMapping.classify(tag, subtag, { returnLeg: true }).canonical
      return c._tag === "Status" ? `status:${c.status}` : c._tag === "Exception" ? `exception:${c.kind}` : "cleared"
    }
    expect(show("Delivered", "Delivered_003")).toBe("status:returned")
    expect(show("AvailableForPickup", "AvailableForPickup_001")).toBe("status:return_initiated")
    expect(show("InTransit", "InTransit_002")).toBe("status:return_initiated")
    // Exceptions stay what they are.
    expect(show("Exception", "Exception_012")).toBe("exception:damaged")
    expect(show("Exception", "Exception_011")).toBe("status:returned")
  })
})

describe("AfterShip: a return start whose time is not exact still starts the return leg", () => {
  // A Delivered checkpoint after a "Returning to sender" is the parcel back at the shipper even
  // when the Exception_010 checkpoint's own time cannot be read exactly: it is bounded below
  // (the earliest instant its date, or its local time in any zone, can be).
  const strictOptions: AfterShipTracking.Options = { ...options, timePolicy: { _tag: "RequireZone" } }
  const usAt = (checkpoint_time: string, fields: Record<string, unknown>) =>
    at(checkpoint_time, { city: "MEMPHIS", country_iso3: "USA", location: "MEMPHIS, TN", ...fields })

  it.effect("a date-only Exception_010 (skipped itself) still makes a later Delivered the return delivered back", () =>
    Effect.gen(function*() {
      const returningOn = at("2024-08-07", { tag: "Exception", subtag: "Exception_010", message: "Returning to shipper" })
      const body = Payloads.dhlWebhook([pickup, returningOn, backInTransit, backDelivered])
      const out = yield* AfterShipTracking.fromWebhook(body, options)
      expect(meanings(out)).toEqual(["dispatched", "return_initiated", "returned"])
      const each = yield* AfterShipTracking.fromWebhookEach(body, options)
      expect(meanings(each.observations)).toEqual(meanings(out))
    }))

  it.effect("an Exception_010 whose zone-less time no zone settles (unreadable itself) still makes a later Delivered returned", () =>
    Effect.gen(function*() {
      const returningUs = usAt("2024-08-07T09:00:00", { tag: "Exception", subtag: "Exception_010", message: "Returning to shipper" })
      const deliveredUs = usAt("2024-08-09T11:00:00-05:00", { tag: "Delivered", subtag: "Delivered_001", message: "Delivered" })
      const each = yield* AfterShipTracking.fromWebhookEach(
        Payloads.dhlWebhook([pickup, returningUs, deliveredUs]),
        strictOptions
      )
      expect(each.unreadable.length).toBe(1)
      expect(meanings(each.observations)).toEqual(["dispatched", "returned"])
    }))

  it.effect("a delivery on a day before the date-only return start stays a delivery", () =>
    Effect.gen(function*() {
      const delivered = at("2024-07-31T12:00:00+02:00", { tag: "Delivered", subtag: "Delivered_001", message: "Delivered" })
      const returningOn = at("2024-08-07", { tag: "Exception", subtag: "Exception_010", message: "Returning to shipper" })
      const out = yield* AfterShipTracking.fromWebhook(Payloads.dhlWebhook([pickup, delivered, returningOn]), options)
      expect(meanings(out)).toEqual(["dispatched", "delivered"])
    }))
})
