/**
 * What may read as "delivered" (and so release an invoice): the documented Delivered_001..005
 * (delivered, picked up by the customer, signed by the customer, cash on delivery, neighbour),
 * and a bare `Delivered` tag; never a Delivered sub-status nobody has mapped.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { AfterShipMapping, AfterShipTracking } from "../src/index.js"
import * as Payloads from "./payloads.js"

const show = (c: AfterShipMapping.Canonical) =>
  c._tag === "Status" ? `status:${c.status}` : c._tag === "Exception" ? `exception:${c.kind}` : "cleared"

describe("AfterShip: what counts as delivered", () => {
  it("an unmapped Delivered sub-status is unknown and reported, never a delivery", () => {
    const c = AfterShipMapping.classify("Delivered", "Delivered_006")
    expect(show(c.canonical)).toBe("status:unknown")
    expect(c.unmapped).toEqual([{ field: "subtag", code: "Delivered_006" }])
    // The documented ones stay deliveries; a bare Delivered tag too.
    for (const code of ["Delivered_001", "Delivered_002", "Delivered_003", "Delivered_004", "Delivered_005"]) {
      expect(show(AfterShipMapping.classify("Delivered", code).canonical)).toBe("status:delivered")
    }
    expect(show(AfterShipMapping.classify("Delivered", undefined).canonical)).toBe("status:delivered")
    // Other tags still fall back to their own meaning.
    expect(show(AfterShipMapping.classify("InTransit", "InTransit_077").canonical)).toBe("status:in_transit")
  })

  it.effect("a checkpoint with an unmapped Delivered sub-status is kept as unknown, without POD, and counted", () =>
    Effect.gen(function*() {
      const counter = Metric.tagged(
        Metric.tagged(Metric.tagged(AfterShipMapping.unmappedCodes, "source", "aftership"), "field", "subtag"),
        "code",
        "Delivered_009"
      )
      const before = (yield* Metric.value(counter)).count
      const odd = { ...Payloads.dhlCheckpoints.at(-1)!, tag: "Delivered", subtag: "Delivered_009", subtag_message: "Delivered to parcel locker" }
      const out = yield* AfterShipTracking.fromWebhook(Payloads.dhlWebhook([odd]), {
        source: "aftership",
        timePolicy: { _tag: "AssumeUtc" },
        receivedAt: Payloads.receivedAt
      })
      expect(out).toHaveLength(1)
      const e = out[0]!.event
      expect(Payloads.summarize(out[0]!)).toMatchObject({ tag: "StatusReported", meaning: "unknown", code: "Delivered", detail: "Delivered_009" })
      expect(e._tag === "StatusReported" ? e.pod : "not a status").toBeUndefined()
      expect((yield* Metric.value(counter)).count - before).toBe(1)
    }))
})
