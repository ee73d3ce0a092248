/**
 * The tracker's `signed_by` is one proof of delivery of the tracker, not a copy on every
 * `delivered` scan: a signer that appears (or is corrected) in a later webhook must not rewrite a
 * scan already seen, and the proof the `requirePod` billing hold reads must not depend on the
 * order the webhooks arrive in.
 */
import { describe, expect, it } from "@effect/vitest"
import { type CarrierPort, type Ids, ShipmentEvent, ShipmentState } from "@waybill/core"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import { EasyPostTracking } from "../src/index.js"
import * as Fixtures from "./fixtures.js"

const options: EasyPostTracking.Options = { source: "easypost", timePolicy: { _tag: "AssumeUtc" }, receivedAt: Fixtures.receivedAt }
const shipmentId = "shp-1" as Ids.ShipmentId
const companyId = "co-1" as Ids.CompanyId

/** The recorded FedEx tracker.updated webhook (7 scans, in transit, no signer). */
const recorded = () => Fixtures.json("event-tracker-updated-webhook.json") as { result: Record<string, any> } & Record<string, any>

const delivered = {
  object: "TrackingDetail",
  message: "Delivered",
  status: "delivered",
  status_detail: "arrived_at_destination",
  datetime: "2024-08-05T14:12:00Z",
  source: "FedEx",
  carrier_code: "DL",
  tracking_location: { object: "TrackingLocation", city: "BROOKLYN", state: "NY", country: "US", zip: "11201" }
}

/** Tracker update `n`: the recorded history, delivered, signed by `signer` (or not yet). */
const webhook = (n: number, signer: string | null) => {
  const body = structuredClone(recorded())
  body.id = `evt_${n}`
  body.result.status = "delivered"
  body.result.status_detail = "arrived_at_destination"
  body.result.signed_by = signer
  body.result.updated_at = new Date(Date.UTC(2024, 7, 5, 14, 30) + n * 60_000).toISOString()
  body.result.tracking_details = [...body.result.tracking_details, delivered]
  return body
}

const observe = (body: unknown) => Effect.runSync(EasyPostTracking.fromPayload(body, options))
const eventsOf = (observations: ReadonlyArray<CarrierPort.Observation>) =>
  observations.map((o) => ShipmentEvent.fromDraft(o.event, shipmentId, companyId))
const stateOf = (bodies: ReadonlyArray<unknown>) => ShipmentState.fold(shipmentId, companyId, bodies.flatMap((b) => eventsOf(observe(b))))
/** One by one, as the pipeline applies them. */
const appliedOf = (bodies: ReadonlyArray<unknown>) => {
  let state = ShipmentState.empty(shipmentId, companyId)
  for (const e of bodies.flatMap((b) => eventsOf(observe(b)))) state = ShipmentState.apply(state, e).state
  return state
}
const conflicts = (state: ShipmentState.ShipmentState) => state.view.anomalies.filter((a) => a.reason === "conflicting_duplicate")

describe("EasyPost: the tracker's signer", () => {
  it("a signer that only a later webhook names conflicts with nothing, and the POD is kept, in any arrival order", () => {
    const unsigned = webhook(1, null)
    const signed = webhook(2, "J. KOWALSKI")
    for (const order of [[unsigned, signed], [signed, unsigned], [unsigned, signed, unsigned]]) {
      for (const state of [stateOf(order), appliedOf(order)]) {
        expect(conflicts(state)).toEqual([])
        expect(state.view.pod?.signedBy).toBe("J. KOWALSKI")
        expect(ShipmentState.has(state.view, "pod")).toBe(true)
        expect(state.view.status).toBe("delivered")
      }
    }
  })

  it("a corrected signer is a second proof, not a rewrite of the first: no conflict, the same POD in any order", () => {
    const first = webhook(1, "J KOWALSKI")
    const corrected = webhook(2, "JAN KOWALSKI")
    const a = stateOf([first, corrected])
    const b = appliedOf([corrected, first, corrected])
    expect(conflicts(a)).toEqual([])
    expect(conflicts(b)).toEqual([])
    expect(a.view.pod).toBeDefined()
    expect(b.view.pod?.signedBy).toBe(a.view.pod?.signedBy)
  })

  it("law: the POD does not depend on the order or repetition of the webhooks", () => {
    const signers = fc.array(fc.option(fc.constantFrom("J. KOWALSKI", "JAN KOWALSKI", "FRONT DESK", "A"), { nil: null }), {
      minLength: 1,
      maxLength: 4
    })
    const scenario = signers.chain((ss) =>
      fc.tuple(fc.constant(ss), fc.array(fc.integer({ min: 0, max: ss.length - 1 }), { minLength: 1, maxLength: 8 }))
    )
    fc.assert(
      fc.property(scenario, ([ss, sent]) => {
        const bodies = ss.map((s, n) => webhook(n + 1, s))
        const state = appliedOf(sent.map((i) => bodies[i]!))
        expect(conflicts(state)).toEqual([])
        const anySigner = sent.some((i) => ss[i] !== null)
        expect(ShipmentState.has(state.view, "pod")).toBe(anySigner)
        const again = stateOf([...sent].reverse().flatMap((i) => [bodies[i]!, bodies[i]!]))
        expect(ShipmentState.sameFacts(again, state)).toBe(true)
      }),
      { numRuns: 300 }
    )
  })
})

describe("EasyPost: the signer reaches the ERP's delivery validation", () => {
  it("a webhook that reports the delivery with its signer reaches `delivered` with the POD in the view", () => {
    // The pipeline plans `erp.validateDelivery` (with `view.pod`, the signer Odoo writes on the
    // delivery) once, on the event that reaches `delivered`, over the state after that event. The
    // proof rides on the delivered scan as an event of its own: applied after the scan, the
    // validation had no signer (before 0.3.0 it was on the scan, so it had).
    let state = ShipmentState.empty(shipmentId, companyId)
    for (const e of eventsOf(observe(webhook(1, "J. KOWALSKI")))) {
      const before = ShipmentState.has(state.view, "reached:delivered")
      state = ShipmentState.apply(state, e).state
      if (!before && ShipmentState.has(state.view, "reached:delivered")) expect(state.view.pod?.signedBy).toBe("J. KOWALSKI")
    }
    expect(ShipmentState.has(state.view, "reached:delivered")).toBe(true)
  })
})
