/**
 * A parcel EasyPost reports as `return_to_sender` is on its way back to the shipper, whatever
 * the scan's `status_detail` says about the step: an "out for delivery" or "arrived at pickup
 * location" scan on that leg is the return travelling, never the consignee's delivery getting
 * close (which would tell the customer their parcel is about to arrive).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
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
