/**
 * The tracker's weight is one measurement of the tracker, not a copy on every scan: a re-weigh
 * (the weight changes between webhooks) must not rewrite scans already seen, and the weight the
 * billing tolerance hold reads is the newest measurement whatever order the webhooks arrive in.
 */
import { describe, expect, it } from "@effect/vitest"
import { type CarrierPort, type Ids, Instant, ShipmentEvent, ShipmentState, Weight } from "@waybill/core"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import { EasyPostTracking } from "../src/index.js"
import * as Fixtures from "./fixtures.js"

const options: EasyPostTracking.Options = { source: "easypost", timePolicy: { _tag: "AssumeUtc" }, receivedAt: Fixtures.receivedAt }
const shipmentId = "shp-1" as Ids.ShipmentId
const companyId = "co-1" as Ids.CompanyId

/** The recorded FedEx tracker.updated webhook (7 scans, 614.4 oz, updated 2024-08-02T19:26:51Z). */
const recorded = () => Fixtures.json("event-tracker-updated-webhook.json") as { result: Record<string, any> } & Record<string, any>

/** Later scans FedEx could add, each after the recorded ones. */
const extraScan = (k: number) => ({
  object: "TrackingDetail",
  message: `Scan ${k}`,
  status: "in_transit",
  status_detail: "arrived_at_facility",
  datetime: new Date(Date.UTC(2024, 7, 3, 8 + k, 0)).toISOString(),
  source: "FedEx",
  carrier_code: "AR",
  tracking_location: { object: "TrackingLocation", city: "EDISON", state: "NJ", country: "US", zip: "08817" }
})

/** The webhook of tracker update `n`: the recorded history plus `extra` later scans, weighing `ounces`. */
const webhook = (n: number, extra: number, ounces: number | null) => {
  const body = structuredClone(recorded())
  body.id = `evt_${n}`
  body.result.weight = ounces
  body.result.updated_at = new Date(Date.UTC(2024, 7, 2, 19, 26, 51) + n * 60_000).toISOString()
  body.result.tracking_details = [...body.result.tracking_details, ...Array.from({ length: extra }, (_, k) => extraScan(k))]
  return body
}

const observe = (body: unknown) => Effect.runSync(EasyPostTracking.fromPayload(body, options))
const eventsOf = (observations: ReadonlyArray<CarrierPort.Observation>) =>
  observations.map((o) => ShipmentEvent.fromDraft(o.event, shipmentId, companyId))
const stateOf = (bodies: ReadonlyArray<unknown>) => ShipmentState.fold(shipmentId, companyId, bodies.flatMap((b) => eventsOf(observe(b))))
const conflicts = (state: ShipmentState.ShipmentState) => state.view.anomalies.filter((a) => a.reason === "conflicting_duplicate")

describe("EasyPost: the tracker's weight", () => {
  it("is one observation, not a copy on every scan; scans keep their ids", () => {
    const observations = observe(recorded())
    const scans = observations.filter((o) => !(o.event._tag === "StatusReported" && o.event.weight !== undefined))
    expect(scans).toHaveLength(7)
    const weights = observations.filter((o) => o.event._tag === "StatusReported" && o.event.weight !== undefined)
    expect(weights).toHaveLength(1)
    const w = weights[0]!.event
    expect(w._tag === "StatusReported" ? w.weight : undefined).toBe(17418) // 614.4 oz
    expect(w.id).toBe("trk_1:weight:2024-08-02T19:26:51.000Z:000017418")
    // It rides on the newest scan: same status, time and place, so it moves nothing else.
    const newest = scans[scans.length - 1]!.event
    expect(w._tag === "StatusReported" && newest._tag === "StatusReported" ? [w.status, w.occurredAt, w.location] : [])
      .toEqual(newest._tag === "StatusReported" ? [newest.status, newest.occurredAt, newest.location] : [])
    // The scans' ids are those of before (the id never included the weight).
    expect(scans[0]!.event.id).toBe(
      EasyPostTracking.eventId(
        { id: "trk_1", carrier: "FedEx", tracking_code: "1" },
        { occurredAtMillis: Date.UTC(2024, 6, 31, 15), status: "pre_transit", statusDetail: "label_created", carrierCode: "OC" }
      )
    )
  })

  it("a tracker without a weight (or 0) gives no weight event", () => {
    for (const ounces of [null, 0]) {
      const observations = observe(webhook(1, 0, ounces))
      expect(observations.some((o) => o.event._tag === "StatusReported" && o.event.weight !== undefined)).toBe(false)
    }
  })

  it("a re-weigh between webhooks conflicts with nothing and wins, in either arrival order", () => {
    const first = webhook(1, 0, 614.4)
    const reweighed = webhook(2, 0, 640) // the same seven scans, a new weight
    for (const order of [[first, reweighed], [reweighed, first], [first, reweighed, first]]) {
      const state = stateOf(order)
      expect(conflicts(state)).toEqual([])
      expect(state.view.measuredWeight).toBe(Weight.fromUnit(640, "oz"))
    }
    // the state shown is what the scans alone give
    const scansOnly = ShipmentState.fold(
      shipmentId,
      companyId,
      eventsOf(observe(first)).filter((e) => !(e._tag === "StatusReported" && e.weight !== undefined))
    )
    const both = stateOf([first, reweighed])
    expect([both.view.status, both.view.progress, both.view.lastScan?.at, both.view.lastScan?.location, both.view.milestones])
      .toEqual([scansOnly.view.status, scansOnly.view.progress, scansOnly.view.lastScan?.at, scansOnly.view.lastScan?.location, scansOnly.view.milestones])
  })

  it("law: the measured weight is the newest update's, whatever the order and repetition of the webhooks", () => {
    // A tracker's updates: each adds 0-2 scans and weighs something (or nothing).
    const updates = fc.array(
      fc.record({ adds: fc.integer({ min: 0, max: 2 }), ounces: fc.option(fc.integer({ min: 1, max: 20_000 }).map((t) => t / 10), { nil: null }) }),
      { minLength: 1, maxLength: 5 }
    )
    const scenario = updates.chain((us) => {
      let scans = 0
      const bodies = us.map((u, n) => webhook(n + 1, (scans += u.adds), u.ounces))
      return fc.tuple(
        fc.constant(bodies),
        fc.constant(us),
        fc.array(fc.integer({ min: 0, max: us.length - 1 }), { minLength: 1, maxLength: 10 })
      )
    })
    fc.assert(
      fc.property(scenario, ([bodies, us, delivered]) => {
        const state = stateOf(delivered.map((i) => bodies[i]!))
        expect(conflicts(state)).toEqual([])
        // the latest update delivered that carries a weight
        const latest = [...new Set(delivered)].sort((a, b) => b - a).find((i) => us[i]!.ounces !== null)
        const expected = latest === undefined ? undefined : Weight.fromUnit(us[latest]!.ounces!, "oz")
        expect(state.view.measuredWeight).toBe(expected)
        // and the same set in another order and with repeats gives the same state
        const again = stateOf([...delivered].reverse().flatMap((i) => [bodies[i]!, bodies[i]!]))
        expect(ShipmentState.sameFacts(again, state)).toBe(true)
      }),
      { numRuns: 300 }
    )
  })

  it("a tracker list with one weighed tracker: one weight event for it, at its own newest scan", () => {
    const body = webhook(1, 1, 32)
    const list = { trackers: [body.result] }
    const observations = observe(list)
    const weights = observations.filter((o) => o.event._tag === "StatusReported" && o.event.weight !== undefined)
    expect(weights.map((o) => [o.event.id, Instant.formatIso(o.event.occurredAt)])).toEqual([
      ["trk_1:weight:2024-08-02T19:27:51.000Z:000000907", "2024-08-03T08:00:00.000Z"]
    ])
  })
})
