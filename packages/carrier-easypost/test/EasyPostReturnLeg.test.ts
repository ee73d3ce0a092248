/**
 * A parcel EasyPost reports as `return_to_sender` is on its way back to the shipper, whatever
 * the scan's `status_detail` says about the step: an "out for delivery" or "arrived at pickup
 * location" scan on that leg is the return travelling, never the consignee's delivery getting
 * close (which would tell the customer their parcel is about to arrive).
 */
import { describe, expect, it } from "@effect/vitest"
import { type Ids, ShipmentEvent, ShipmentState } from "@waybill/core"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import { EasyPostMapping, EasyPostTracking } from "../src/index.js"
import * as Fixtures from "./fixtures.js"

const show = (c: EasyPostMapping.Canonical | undefined) =>
  c === undefined ? undefined : c._tag === "Status" ? `status:${c.status}` : `exception:${c.kind}`

const options: EasyPostTracking.Options = {
  source: "easypost",
  timePolicy: { _tag: "AssumeUtc" },
  receivedAt: Fixtures.receivedAt
}

describe("EasyPost: the way back to the sender", () => {
  it("return_to_sender with a forward step detail is the return in progress, not the forward step", () => {
    expect(show(EasyPostMapping.classify("return_to_sender", "out_for_delivery").canonical)).toBe("status:return_initiated")
    expect(show(EasyPostMapping.classify("return_to_sender", "arrived_at_pickup_location").canonical)).toBe(
      "status:return_initiated"
    )
    // Unchanged: the arrival back is returned, a reason stays an exception.
    expect(show(EasyPostMapping.classify("return_to_sender", "arrived_at_destination").canonical)).toBe("status:returned")
    expect(show(EasyPostMapping.classify("return_to_sender", "refused").canonical)).toBe("exception:refused")
    expect(show(EasyPostMapping.classify("return_to_sender", "in_transit").canonical)).toBe("status:return_initiated")
  })

  it.effect("a return_to_sender / out_for_delivery scan never reports out_for_delivery", () =>
    Effect.gen(function*() {
      const base = structuredClone(Fixtures.json("tracker-create.json")) as Record<string, any>
      const tracker = {
        ...base,
        status: "return_to_sender",
        status_detail: "out_for_delivery",
        tracking_details: [
          ...base.tracking_details,
          {
            object: "TrackingDetail",
            message: "Out for Delivery (return to sender)",
            status: "return_to_sender",
            status_detail: "out_for_delivery",
            datetime: "2025-04-14T08:00:00Z",
            source: "USPS",
            carrier_code: "OF",
            tracking_location: { object: "TrackingLocation", city: "HOUSTON", state: "TX", country: "US", zip: "77063" }
          }
        ]
      }
      const observations = yield* EasyPostTracking.fromPayload(tracker, options)
      const last = observations[observations.length - 1]!.event
      expect(last._tag).toBe("StatusReported")
      expect(last._tag === "StatusReported" ? last.status : undefined).toBe("return_initiated")
      expect(observations.some((o) => o.event._tag === "StatusReported" && o.event.status === "out_for_delivery")).toBe(false)
    }))
})

describe("EasyPost: a delivered scan after the way back began", () => {
  const shipmentId = "shp-1" as Ids.ShipmentId
  const companyId = "co-1" as Ids.CompanyId
  const scan = (status: string, detail: string, datetime: string, message: string) => ({
    object: "TrackingDetail",
    message,
    description: null,
    status,
    status_detail: detail,
    datetime,
    source: "FedEx",
    carrier_code: null,
    tracking_location: { object: "TrackingLocation", city: "MEMPHIS", state: "TN", country: "US", zip: null }
  })
  const history = [
    scan("in_transit", "arrived_at_facility", "2025-04-11T10:00:00Z", "Arrived at FedEx location"),
    scan("return_to_sender", "return", "2025-04-12T09:00:00Z", "Returning package to shipper"),
    scan("in_transit", "departed_facility", "2025-04-13T07:00:00Z", "Departed FedEx location"),
    scan("delivered", "arrived_at_destination", "2025-04-14T15:00:00Z", "Delivered")
  ]
  const trackerOf = (details: ReadonlyArray<unknown>) => {
    const base = structuredClone(Fixtures.json("tracker-create.json")) as Record<string, any>
    return { ...base, carrier: "FedEx", status: "return_to_sender", status_detail: "return", tracking_details: details }
  }
  const statusesOf = (observations: ReadonlyArray<{ readonly event: { readonly _tag: string } }>) =>
    observations.flatMap((o) => {
      const e = o.event as { _tag: string; status?: string }
      return e._tag === "StatusReported" ? [e.status] : []
    })

  it.effect("the carrier's delivered scan at the end of the way back is returned, never the consignee's delivery", () =>
    Effect.gen(function*() {
      const observations = yield* EasyPostTracking.fromPayload(trackerOf(history), options)
      const statuses = statusesOf(observations)
      expect(statuses).not.toContain("delivered")
      expect(statuses).toEqual(["in_transit", "return_initiated", "return_initiated", "returned"])
    }))

  it("law: whatever order the history is listed in and the webhooks arrive in, the shipment is returned, never delivered", () => {
    // Webhook n carries the first n scans (EasyPost resends the whole history), listed in any order.
    const webhooks = fc.array(
      fc.tuple(fc.integer({ min: 1, max: history.length }), fc.shuffledSubarray([0, 1, 2, 3], { minLength: 4, maxLength: 4 })),
      { minLength: 1, maxLength: 6 }
    )
    fc.assert(
      fc.property(webhooks, (sent) => {
        let state = ShipmentState.empty(shipmentId, companyId)
        for (const [n, order] of sent) {
          const details = order.filter((i) => i < n).map((i) => history[i]!)
          const observations = Effect.runSync(EasyPostTracking.fromPayload(trackerOf(details), options))
          for (const o of observations) {
            state = ShipmentState.apply(state, ShipmentEvent.fromDraft(o.event, shipmentId, companyId)).state
          }
        }
        expect(ShipmentState.has(state.view, "reached:delivered")).toBe(false)
        expect(state.view.anomalies.filter((a) => a.reason === "conflicting_duplicate")).toEqual([])
        const full = sent.some(([n]) => n === history.length)
        expect(state.view.returnProgress).toBe(full ? "returned" : sent.some(([n]) => n >= 2) ? "return_initiated" : undefined)
      }),
      { numRuns: 500 }
    )
  })

  it.effect("a delivered scan before the way back began stays the consignee's delivery", () =>
    Effect.gen(function*() {
      const observations = yield* EasyPostTracking.fromPayload(
        trackerOf([
          scan("delivered", "arrived_at_destination", "2025-04-11T10:00:00Z", "Delivered"),
          scan("return_to_sender", "return", "2025-04-12T09:00:00Z", "Returning package to shipper")
        ]),
        options
      )
      expect(statusesOf(observations)).toEqual(["delivered", "return_initiated"])
    }))
})
