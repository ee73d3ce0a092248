/**
 * Every AfterShip tag (9) and sub-status (Delivered_001–005, Exception_001–018,
 * AttemptFail_001–003, InTransit_001–009, OutForDelivery_001–004, AvailableForPickup_001,
 * InfoReceived_001, Pending_001–006, Expired_001) has an explicit canonical meaning; unknown
 * codes fall back, keep their raw code and are counted.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { AfterShipMapping, AfterShipTracking } from "../src/index.js"
import * as Payloads from "./payloads.js"

const show = (c: AfterShipMapping.Canonical) =>
  c._tag === "Status" ? `status:${c.status}` : c._tag === "Exception" ? `exception:${c.kind}` : "cleared"

const tagCases: ReadonlyArray<readonly [AfterShipMapping.Tag, string]> = [
  ["Pending", "status:created"],
  ["InfoReceived", "status:label_created"],
  ["InTransit", "status:in_transit"],
  ["OutForDelivery", "status:out_for_delivery"],
  ["AttemptFail", "exception:failed_attempt"],
  ["Delivered", "status:delivered"],
  ["AvailableForPickup", "status:available_for_pickup"],
  ["Exception", "exception:delayed"],
  ["Expired", "status:unknown"]
]

const subtagCases: ReadonlyArray<readonly [string, string]> = [
  ["Delivered_001", "status:delivered"],
  ["Delivered_002", "status:delivered"],
  ["Delivered_003", "status:delivered"],
  ["Delivered_004", "status:delivered"],
  ["Delivered_005", "status:delivered"],
  ["AvailableForPickup_001", "status:available_for_pickup"],
  ["Exception_001", "exception:delayed"],
  ["Exception_002", "exception:address_issue"],
  ["Exception_003", "exception:refused"],
  ["Exception_004", "exception:customs_hold"],
  ["Exception_005", "exception:delayed"],
  ["Exception_006", "exception:customs_hold"],
  ["Exception_007", "exception:address_issue"],
  ["Exception_008", "exception:failed_attempt"],
  ["Exception_009", "exception:refused"],
  ["Exception_010", "status:return_initiated"],
  ["Exception_011", "status:returned"],
  ["Exception_012", "exception:damaged"],
  ["Exception_013", "exception:lost"],
  ["Exception_014", "exception:delayed"],
  ["Exception_015", "exception:delayed"],
  ["Exception_016", "exception:delayed"],
  ["Exception_017", "exception:delayed"],
  ["Exception_018", "exception:customs_hold"],
  ["AttemptFail_001", "exception:failed_attempt"],
  ["AttemptFail_002", "exception:failed_attempt"],
  ["AttemptFail_003", "exception:failed_attempt"],
  ["InTransit_001", "status:in_transit"],
  ["InTransit_002", "status:dispatched"],
  ["InTransit_003", "status:in_transit"],
  ["InTransit_004", "status:in_transit"],
  ["InTransit_005", "status:in_transit"],
  ["InTransit_006", "status:in_transit"],
  ["InTransit_007", "status:in_transit"],
  ["InTransit_008", "cleared"],
  ["InTransit_009", "status:in_transit"],
  ["InfoReceived_001", "status:label_created"],
  ["OutForDelivery_001", "status:out_for_delivery"],
  ["OutForDelivery_002", "status:available_for_pickup"],
  ["OutForDelivery_003", "status:out_for_delivery"],
  ["OutForDelivery_004", "status:in_transit"],
  ["Pending_001", "status:created"],
  ["Pending_002", "status:created"],
  ["Pending_003", "status:created"],
  ["Pending_004", "status:created"],
  ["Pending_005", "status:created"],
  ["Pending_006", "status:created"],
  ["Expired_001", "status:unknown"]
]

const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}_${String(i + 1).padStart(3, "0")}`)

describe("AfterShipMapping", () => {
  it("covers exactly the documented tags and sub-statuses", () => {
    const expected = [
      ...range("Delivered", 5),
      ...range("Exception", 18),
      ...range("AttemptFail", 3),
      ...range("InTransit", 9),
      ...range("OutForDelivery", 4),
      "AvailableForPickup_001",
      "InfoReceived_001",
      ...range("Pending", 6),
      "Expired_001"
    ].sort()
    expect(AfterShipMapping.subtags.map((s) => s.code).sort()).toEqual(expected)
    expect(subtagCases.map(([c]) => c).sort()).toEqual(expected)
    expect(AfterShipMapping.tags).toHaveLength(9)
    expect(tagCases.map(([t]) => t).sort()).toEqual([...AfterShipMapping.tags].sort())
    // Every sub-status belongs to the tag its code names.
    for (const s of AfterShipMapping.subtags) expect(s.code.startsWith(`${s.tag}_`)).toBe(true)
  })

  it.each(tagCases)("tag %s (no subtag) → %s", (tag, expected) => {
    const c = AfterShipMapping.classify(tag, undefined)
    expect(show(c.canonical)).toBe(expected)
    expect(c.unmapped).toEqual([])
  })

  it.each(subtagCases)("subtag %s → %s", (subtag, expected) => {
    const tag = subtag.slice(0, subtag.indexOf("_"))
    const c = AfterShipMapping.classify(tag, subtag)
    expect(show(c.canonical)).toBe(expected)
    expect(c.unmapped).toEqual([])
  })

  it("an unknown subtag falls back to its tag; an unknown tag is unknown; both are reported", () => {
    const sub = AfterShipMapping.classify("Exception", "Exception_021")
    expect(show(sub.canonical)).toBe("exception:delayed")
    expect(sub.unmapped).toEqual([{ field: "subtag", code: "Exception_021" }])
    const both = AfterShipMapping.classify("Teleported", "Teleported_001")
    expect(show(both.canonical)).toBe("status:unknown")
    expect(both.unmapped).toEqual([
      { field: "tag", code: "Teleported" },
      { field: "subtag", code: "Teleported_001" }
    ])
  })

  it.effect("an unknown tag becomes an unknown event with its raw codes, counted in the metric", () =>
    Effect.gen(function*() {
      const counter = Metric.tagged(
        Metric.tagged(Metric.tagged(AfterShipMapping.unmappedCodes, "source", "aftership"), "field", "tag"),
        "code",
        "Teleported"
      )
      const before = (yield* Metric.value(counter)).count
      const odd = { ...Payloads.dhlCheckpoints[2]!, tag: "Teleported", subtag: "Teleported_001" }
      const out = yield* AfterShipTracking.fromWebhook(Payloads.dhlWebhook([odd]), {
        source: "aftership",
        timePolicy: { _tag: "AssumeUtc" },
        receivedAt: Payloads.receivedAt
      })
      expect(out).toHaveLength(1)
      const e = out[0]!.event
      expect(e._tag === "StatusReported" ? e.status : e._tag).toBe("unknown")
      expect(e.raw.code).toBe("Teleported")
      expect(e.raw.detail).toBe("Teleported_001")
      expect((yield* Metric.value(counter)).count - before).toBe(1)
    }))
})
