/**
 * Every EasyPost status (10) and status_detail (28) listed in the fixtures' SOURCES.md has an
 * explicit canonical meaning; unknown codes fall back, keep their raw code and are counted.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import { EasyPostMapping, EasyPostWebhook } from "../src/index.js"
import * as Fixtures from "./fixtures.js"

const show = (c: EasyPostMapping.Canonical) => (c._tag === "Status" ? `status:${c.status}` : `exception:${c.kind}`)

// Each status on its own (no detail).
const statusCases: ReadonlyArray<readonly [EasyPostMapping.EasyPostStatus, string]> = [
  ["unknown", "status:unknown"],
  ["pre_transit", "status:label_created"],
  ["in_transit", "status:in_transit"],
  ["out_for_delivery", "status:out_for_delivery"],
  ["delivered", "status:delivered"],
  ["available_for_pickup", "status:available_for_pickup"],
  ["return_to_sender", "status:return_initiated"],
  ["failure", "exception:failed_attempt"],
  ["cancelled", "status:cancelled"],
  ["error", "status:unknown"]
]

// Each detail on an in_transit scan.
const detailCases: ReadonlyArray<readonly [EasyPostMapping.EasyPostStatusDetail, string]> = [
  ["address_correction", "exception:address_issue"],
  ["arrived_at_destination", "status:in_transit"],
  ["arrived_at_facility", "status:in_transit"],
  ["arrived_at_pickup_location", "status:available_for_pickup"],
  ["awaiting_information", "status:in_transit"],
  ["cancelled", "status:cancelled"],
  ["damaged", "exception:damaged"],
  ["delayed", "exception:delayed"],
  ["delivery_exception", "exception:failed_attempt"],
  ["departed_facility", "status:in_transit"],
  ["departed_origin_facility", "status:in_transit"],
  ["expired", "status:unknown"],
  ["failure", "exception:failed_attempt"],
  // EasyPost's `held` names no cause (held at a facility, at the customer's request, for
  // pickup, for customs): a generic hold, not a customs case.
  ["held", "exception:delayed"],
  ["in_transit", "status:in_transit"],
  ["label_created", "status:label_created"],
  ["lost", "exception:lost"],
  ["missorted", "exception:delayed"],
  ["out_for_delivery", "status:out_for_delivery"],
  ["received_at_destination_facility", "status:in_transit"],
  ["received_at_origin_facility", "status:in_transit"],
  ["refused", "exception:refused"],
  ["return", "status:return_initiated"],
  ["status_update", "status:in_transit"],
  ["transferred_to_destination_carrier", "status:in_transit"],
  ["transit_exception", "exception:delayed"],
  ["unknown", "status:in_transit"],
  ["weather_delay", "exception:delayed"]
]

describe("EasyPostMapping", () => {
  it("knows exactly the 10 statuses and 28 status_details of SOURCES.md", () => {
    const sources = Fixtures.text("SOURCES.md")
    const statusLine = /Tracker `status`: ([^.]+)\./.exec(sources.replace(/\n/g, " "))![1]!
    const detailLine = /`status_detail` \(28\):([^.]+)\./.exec(sources.replace(/\n/g, " "))![1]!
    const listed = (line: string) => line.split(",").map((s) => s.trim()).filter((s) => s !== "").sort()
    expect(listed(statusLine)).toEqual([...EasyPostMapping.statuses].sort())
    expect(listed(detailLine)).toEqual([...EasyPostMapping.statusDetails].sort())
    expect(EasyPostMapping.statuses).toHaveLength(10)
    expect(EasyPostMapping.statusDetails).toHaveLength(28)
    expect(statusCases.map(([s]) => s).sort()).toEqual([...EasyPostMapping.statuses].sort())
    expect(detailCases.map(([d]) => d).sort()).toEqual([...EasyPostMapping.statusDetails].sort())
  })

  it.each(statusCases)("status %s → %s", (status, expected) => {
    const c = EasyPostMapping.classify(status, undefined)
    expect(show(c.canonical)).toBe(expected)
    expect(c.unmapped).toEqual([])
  })

  it.each(detailCases)("in_transit / %s → %s", (detail, expected) => {
    const c = EasyPostMapping.classify("in_transit", detail)
    expect(show(c.canonical)).toBe(expected)
    expect(c.unmapped).toEqual([])
  })

  it("applies the pair rules: delivered stays delivered, held for pickup, a return arriving", () => {
    expect(show(EasyPostMapping.classify("delivered", "damaged").canonical)).toBe("status:delivered")
    expect(show(EasyPostMapping.classify("available_for_pickup", "held").canonical)).toBe("status:available_for_pickup")
    expect(show(EasyPostMapping.classify("in_transit", "held").canonical)).toBe("exception:delayed")
    expect(show(EasyPostMapping.classify("failure", "held").canonical)).toBe("exception:delayed")
    expect(show(EasyPostMapping.classify("return_to_sender", "held").canonical)).toBe("exception:delayed")
    // `held` is a status_detail only: as a status it is not EasyPost's, so unknown and counted.
    expect(EasyPostMapping.classify("held", undefined)).toEqual({
      canonical: { _tag: "Status", status: "unknown" },
      unmapped: [{ field: "status", code: "held" }]
    })
    // No EasyPost code opens a customs case on its own: none of them names customs.
    for (const detail of EasyPostMapping.statusDetails) {
      for (const status of EasyPostMapping.statuses) {
        const c = EasyPostMapping.classify(status, detail)
        for (const meaning of [c.canonical, c.also]) {
          if (meaning !== undefined) expect(show(meaning)).not.toBe("exception:customs_hold")
        }
      }
    }
    expect(show(EasyPostMapping.classify("return_to_sender", "arrived_at_destination").canonical)).toBe("status:returned")
    expect(show(EasyPostMapping.classify("return_to_sender", "return").canonical)).toBe("status:return_initiated")
    expect(show(EasyPostMapping.classify("failure", "lost").canonical)).toBe("exception:lost")
    expect(show(EasyPostMapping.classify("failure", "status_update").canonical)).toBe("exception:failed_attempt")
    expect(show(EasyPostMapping.classify("pre_transit", "status_update").canonical)).toBe("status:label_created")
  })

  it("an unknown detail falls back to the status and is reported; an unknown status is unknown", () => {
    const detail = EasyPostMapping.classify("out_for_delivery", "drone_launched")
    expect(show(detail.canonical)).toBe("status:out_for_delivery")
    expect(detail.unmapped).toEqual([{ field: "status_detail", code: "drone_launched" }])
    const both = EasyPostMapping.classify("teleported", "beamed")
    expect(show(both.canonical)).toBe("status:unknown")
    expect(both.unmapped).toEqual([
      { field: "status", code: "teleported" },
      { field: "status_detail", code: "beamed" }
    ])
  })

  it.effect("an unknown code is kept as an unknown event with its raw code and counted in the metric", () =>
    Effect.gen(function*() {
      const counter = Metric.tagged(
        Metric.tagged(Metric.tagged(EasyPostMapping.unmappedCodes, "source", "easypost"), "field", "status"),
        "code",
        "teleported"
      )
      const before = (yield* Metric.value(counter)).count
      const payload = JSON.parse(new TextDecoder().decode(Fixtures.signedEventBody()))
      payload.result.tracking_details[2].status = "teleported"
      const text = JSON.stringify(payload)
      const observations = yield* EasyPostWebhook.verifyAndParse(
        Fixtures.request(new TextEncoder().encode(text), { "x-hmac-signature": EasyPostWebhook.sign(text, "k") }),
        { secret: Redacted.make("k") }
      )
      expect(Fixtures.scansOf(observations)).toHaveLength(7)
      const kept = observations[2]!.event
      expect(kept._tag).toBe("StatusReported")
      expect(kept._tag === "StatusReported" ? kept.status : undefined).toBe("unknown")
      expect(kept.raw.code).toBe("teleported")
      expect(kept.raw.detail).toBe("arrived_at_facility")
      const after = (yield* Metric.value(counter)).count
      expect(after - before).toBe(1)
    }))
})
