/**
 * What may read as "delivered" (and so release an invoice): only a delivery to the consignee.
 * A return delivered back to the shipper, a parcel left at a pickup point, a return label's
 * tracker and an undocumented detail are not; a parcel delivered damaged is delivered *and*
 * damaged, so the damage holds the invoice and opens a case.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { EasyPostMapping, EasyPostTracking } from "../src/index.js"
import * as Fixtures from "./fixtures.js"
import { summarize } from "./fixtures.js"

const show = (c: EasyPostMapping.Canonical | undefined) =>
  c === undefined ? undefined : c._tag === "Status" ? `status:${c.status}` : `exception:${c.kind}`

const options: EasyPostTracking.Options = {
  source: "easypost",
  timePolicy: { _tag: "AssumeUtc" },
  receivedAt: Fixtures.receivedAt
}

/** The API reference's test tracker with one final scan and a signer. */
const trackerWith = (status: string, detail: string, extra: Record<string, unknown> = {}) => {
  const base = structuredClone(Fixtures.json("tracker-create.json")) as Record<string, any>
  return {
    ...base,
    status,
    status_detail: detail,
    signed_by: "R SENDER",
    weight: 16,
    ...extra,
    tracking_details: [
      ...base.tracking_details,
      {
        object: "TrackingDetail",
        message: "Delivered",
        description: "Delivered",
        status,
        status_detail: detail,
        datetime: "2025-04-12T15:04:00-05:00",
        source: "USPS",
        carrier_code: "01",
        tracking_location: { object: "TrackingLocation", city: "HOUSTON", state: "TX", country: "US", zip: "77063" }
      }
    ]
  }
}

describe("EasyPost: what counts as delivered", () => {
  it("delivered / return is the return delivered back to the shipper: returned, never delivered", () => {
    const c = EasyPostMapping.classify("delivered", "return")
    expect(show(c.canonical)).toBe("status:returned")
    expect(c.also).toBeUndefined()
    expect(c.unmapped).toEqual([])
  })

  it("delivered / arrived_at_pickup_location is a parcel at a pickup point or locker: available_for_pickup", () => {
    const c = EasyPostMapping.classify("delivered", "arrived_at_pickup_location")
    expect(show(c.canonical)).toBe("status:available_for_pickup")
    expect(c.unmapped).toEqual([])
  })

  it("delivered with an undocumented detail is unknown and counted, never a delivery", () => {
    const c = EasyPostMapping.classify("delivered", "delivered_to_sender")
    expect(show(c.canonical)).toBe("status:unknown")
    expect(c.unmapped).toEqual([{ field: "status_detail", code: "delivered_to_sender" }])
    // A documented detail that adds nothing keeps the delivery.
    expect(show(EasyPostMapping.classify("delivered", "arrived_at_destination").canonical)).toBe("status:delivered")
    expect(show(EasyPostMapping.classify("delivered", "status_update").canonical)).toBe("status:delivered")
  })

  it("delivered / damaged is delivered and also a damaged exception", () => {
    const c = EasyPostMapping.classify("delivered", "damaged")
    expect(show(c.canonical)).toBe("status:delivered")
    expect(show(c.also)).toBe("exception:damaged")
  })

  it("on a return label's tracker (is_return) delivered is returned and the way back is return_initiated", () => {
    const ret = { isReturn: true }
    expect(show(EasyPostMapping.classify("delivered", undefined, ret).canonical)).toBe("status:returned")
    expect(show(EasyPostMapping.classify("delivered", "arrived_at_destination", ret).canonical)).toBe("status:returned")
    expect(show(EasyPostMapping.classify("in_transit", "arrived_at_facility", ret).canonical)).toBe("status:return_initiated")
    expect(show(EasyPostMapping.classify("out_for_delivery", undefined, ret).canonical)).toBe("status:return_initiated")
    expect(show(EasyPostMapping.classify("in_transit", "damaged", ret).canonical)).toBe("exception:damaged")
    expect(show(EasyPostMapping.classify("delivered", undefined, { isReturn: false }).canonical)).toBe("status:delivered")
  })

  it.effect("a delivered / return scan is returned, without the sender's signature as POD", () =>
    Effect.gen(function*() {
      const out = Fixtures.scansOf(yield* EasyPostTracking.fromPayload(trackerWith("delivered", "return"), options))
      const last = out[out.length - 1]!
      expect(summarize(last)).toMatchObject({ meaning: "returned", code: "delivered", detail: "return" })
      expect(out.some((o) => o.event._tag === "StatusReported" && o.event.status === "delivered")).toBe(false)
      expect(last.event._tag === "StatusReported" ? last.event.pod : "not a status").toBeUndefined()
    }))

  it.effect("a tracker with is_return: true never reports delivered; its final scan is returned", () =>
    Effect.gen(function*() {
      const out = Fixtures.scansOf(yield* EasyPostTracking.fromPayload(trackerWith("delivered", "arrived_at_destination", { is_return: true }), options))
      expect(out.map((o) => summarize(o).meaning)).toEqual(["label_created", "label_created", "returned"])
      const last = out[out.length - 1]!
      expect(last.event._tag === "StatusReported" ? last.event.pod : "not a status").toBeUndefined()
    }))

  it.effect("a delivered / damaged scan yields the delivery (with POD) and a damage exception, each with its own stable id", () =>
    Effect.gen(function*() {
      const all = yield* EasyPostTracking.fromPayload(trackerWith("delivered", "damaged"), options)
      const out = Fixtures.scansOf(all)
      expect(out).toHaveLength(4)
      const [delivered, damaged] = out.slice(2)
      expect(summarize(delivered!)).toMatchObject({
        tag: "StatusReported",
        meaning: "delivered",
        occurredAt: "2025-04-12T20:04:00.000Z",
        code: "delivered",
        detail: "damaged"
      })
      // The signer is the tracker's proof of delivery: its own event on this delivery.
      expect(Fixtures.podOf(all)).toBe("R SENDER")
      const pod = all.find(Fixtures.isPod)!.event
      expect([pod.occurredAt, pod.id]).toEqual([delivered!.event.occurredAt, EasyPostTracking.podEventId(
        { id: "trk_9135862729734d96ad2f9ed0f0565a27", carrier: "USPS", tracking_code: "EZ1000000001" },
        delivered!.event.id,
        "R SENDER"
      )])
      expect(summarize(damaged!)).toMatchObject({
        tag: "ExceptionReported",
        meaning: "damaged",
        occurredAt: "2025-04-12T20:04:00.000Z",
        city: "HOUSTON",
        code: "delivered",
        detail: "damaged"
      })
      expect(damaged!.event.id).not.toBe(delivered!.event.id)
      // The delivery keeps the id it had before (a redelivered webhook still dedupes against it).
      expect(delivered!.event.id).toBe(
        EasyPostTracking.eventId(
          { id: "trk_9135862729734d96ad2f9ed0f0565a27", carrier: "USPS", tracking_code: "EZ1000000001" },
          { occurredAtMillis: Date.UTC(2025, 3, 12, 20, 4), status: "delivered", statusDetail: "damaged", carrierCode: "01" }
        )
      )
      const again = Fixtures.scansOf(yield* EasyPostTracking.fromPayload(trackerWith("delivered", "damaged"), options))
      expect(again.map((o) => o.event.id)).toEqual(out.map((o) => o.event.id))
    }))

  it.effect("a delivered scan with an undocumented detail is kept as unknown with its raw codes and counted", () =>
    Effect.gen(function*() {
      const counter = Metric.tagged(
        Metric.tagged(Metric.tagged(EasyPostMapping.unmappedCodes, "source", "easypost"), "field", "status_detail"),
        "code",
        "left_in_shed"
      )
      const before = (yield* Metric.value(counter)).count
      const out = Fixtures.scansOf(yield* EasyPostTracking.fromPayload(trackerWith("delivered", "left_in_shed"), options))
      const last = out[out.length - 1]!
      expect(summarize(last)).toMatchObject({ tag: "StatusReported", meaning: "unknown", code: "delivered", detail: "left_in_shed" })
      expect(last.event._tag === "StatusReported" ? last.event.pod : "not a status").toBeUndefined()
      expect((yield* Metric.value(counter)).count - before).toBe(1)
    }))
})
