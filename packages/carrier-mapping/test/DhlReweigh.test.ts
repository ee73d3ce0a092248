/**
 * DHL's weight (`details.weight`) and proof of delivery (`details.proofOfDelivery`) belong to
 * the shipment, not to an event: a re-weigh, or a signer DHL adds after the delivery scan, must
 * not rewrite events already seen (same content-hash id, other content: a conflicting duplicate
 * whose stored copy is chosen by content order), and what the billing holds read (the measured
 * weight, the POD) must not depend on the order or repetition of the polls.
 */
import { describe, expect, it } from "@effect/vitest"
import { type CarrierPort, type Ids, ShipmentEvent, ShipmentState, Weight } from "@waybill/core"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import { readFileSync } from "node:fs"
import { DhlUnified, MappingCarrier, MappingConfig } from "../src/index.js"
import { MappingTestKit } from "../src/testing/index.js"

const SECRET = "dhl-relay-secret-5d1c0b9e"
const shipmentId = "shp-1" as Ids.ShipmentId
const companyId = "co-1" as Ids.CompanyId

/** The recorded parcel-de shipment (five events, newest first, delivered, signed, 2.4 kg). */
const recorded = (): Record<string, any> =>
  (JSON.parse(readFileSync(new URL("./fixtures/dhl-unified.json", import.meta.url), "utf8")) as { shipments: Array<Record<string, any>> })
    .shipments[0]!

/** One poll: the oldest `events` events (5 = delivered), weighing `kg`, signed by `signer` (or not yet). */
const poll = (events: number, kg: number | null, signer: string | null) => {
  const shipment = recorded()
  shipment.events = shipment.events.slice(shipment.events.length - events)
  if (kg === null) delete shipment.details.weight
  else shipment.details.weight = { value: kg, unitText: "kg" }
  if (signer === null) delete shipment.details.proofOfDelivery
  else shipment.details.proofOfDelivery.signed.name = signer
  return { shipments: [shipment] }
}

const carrier = Effect.runSync(MappingCarrier.make(MappingConfig.withSecret(DhlUnified.config, SECRET)))
const observe = (body: unknown): ReadonlyArray<CarrierPort.Observation> =>
  Effect.runSync(carrier.verifyAndParse(MappingTestKit.signRequest(DhlUnified.config, body, { secret: SECRET, receivedAt: "2024-08-01T10:00:00Z" })))
const eventsOf = (bodies: ReadonlyArray<unknown>) =>
  bodies.flatMap((b) => observe(b).map((o) => ShipmentEvent.fromDraft(o.event, shipmentId, companyId)))
const folded = (bodies: ReadonlyArray<unknown>) => ShipmentState.fold(shipmentId, companyId, eventsOf(bodies))
const applied = (bodies: ReadonlyArray<unknown>) => {
  let state = ShipmentState.empty(shipmentId, companyId)
  for (const e of eventsOf(bodies)) state = ShipmentState.apply(state, e).state
  return state
}
const conflicts = (state: ShipmentState.ShipmentState) => state.view.anomalies.filter((a) => a.reason === "conflicting_duplicate")

describe("DhlUnified: the shipment's weight and proof of delivery", () => {
  it("a re-weigh between two polls of the same events conflicts with nothing; the heavier wins, in any order", () => {
    const first = poll(4, 2.4, null)
    const reweighed = poll(4, 2.65, null)
    for (const order of [[first, reweighed], [reweighed, first], [first, reweighed, first]]) {
      for (const state of [folded(order), applied(order)]) {
        expect(conflicts(state)).toEqual([])
        expect(state.view.measuredWeight).toBe(Weight.fromUnit(2.65, "kg"))
      }
    }
  })

  it("a re-weigh that comes with a newer event wins whatever its weight", () => {
    const state = applied([poll(4, 2.4, null), poll(3, 2.65, null)].reverse())
    expect(state.view.measuredWeight).toBe(Weight.fromUnit(2.4, "kg"))
    expect(conflicts(state)).toEqual([])
  })

  it("a signer DHL adds after the delivery event conflicts with nothing; the POD is kept in any order", () => {
    const unsigned = poll(5, 2.4, null)
    const signed = poll(5, 2.4, "M. Keller")
    for (const order of [[unsigned, signed], [signed, unsigned], [unsigned, signed, unsigned]]) {
      for (const state of [folded(order), applied(order)]) {
        expect(conflicts(state)).toEqual([])
        expect(state.view.pod?.signedBy).toBe("M. Keller")
        expect(ShipmentState.has(state.view, "pod")).toBe(true)
      }
    }
  })

  it("after the upgrade, a re-weigh reaches a shipment whose stored events carry the old weight", () => {
    // the events as stored before: the shipment's 2.4 kg on every status event
    const stored = eventsOf([poll(4, 2.4, null)])
      .filter((e) => e.id.startsWith("sha256:"))
      .map((e) => (e._tag === "StatusReported" ? new ShipmentEvent.StatusReported({ ...e, weight: Weight.fromUnit(2.4, "kg") }) : e))
    let state = ShipmentState.fold(shipmentId, companyId, stored)
    for (const e of eventsOf([poll(4, 2.0, null)])) state = ShipmentState.apply(state, e).state
    expect(state.view.measuredWeight).toBe(Weight.fromUnit(2.0, "kg"))
    // the one-time spike: one conflicting duplicate per stored event that carried the weight
    expect(conflicts(state)).toHaveLength(4)
  })

  it("law: the measured weight and the POD do not depend on the order or repetition of the polls", () => {
    const polls = fc.array(
      fc.record({
        events: fc.integer({ min: 1, max: 5 }),
        kg: fc.option(fc.integer({ min: 1, max: 400 }).map((n) => n / 100), { nil: null }),
        signer: fc.option(fc.constantFrom("M. Keller", "Keller", "Nachbar"), { nil: null })
      }),
      { minLength: 1, maxLength: 4 }
    )
    const scenario = polls.chain((ps) =>
      fc.tuple(fc.constant(ps), fc.array(fc.integer({ min: 0, max: ps.length - 1 }), { minLength: 1, maxLength: 8 }))
    )
    fc.assert(
      fc.property(scenario, ([ps, sent]) => {
        const bodies = ps.map((p) => poll(p.events, p.kg, p.signer))
        const state = applied(sent.map((i) => bodies[i]!))
        expect(conflicts(state)).toEqual([])
        // the weight of the polls that saw the most events; among them, the heaviest
        const weighed = [...new Set(sent)].map((i) => ps[i]!).filter((p) => p.kg !== null)
        const newest = Math.max(...weighed.map((p) => p.events))
        const expected = weighed.length === 0
          ? undefined
          : Math.max(...weighed.filter((p) => p.events === newest).map((p) => Weight.fromUnit(p.kg!, "kg")))
        expect(state.view.measuredWeight).toBe(expected)
        // a POD once any poll with the delivery event named a signer
        expect(ShipmentState.has(state.view, "pod")).toBe(sent.some((i) => ps[i]!.events === 5 && ps[i]!.signer !== null))
        const again = folded([...sent].reverse().flatMap((i) => [bodies[i]!, bodies[i]!]))
        expect(ShipmentState.sameFacts(again, state)).toBe(true)
      }),
      { numRuns: 300 }
    )
  })
})

describe("DhlUnified: the signer reaches the ERP's delivery validation", () => {
  it("a poll that reports the delivery with its signer reaches `delivered` with the POD in the view", () => {
    // `erp.validateDelivery` carries `view.pod` as of the event that reaches `delivered`: the
    // detached proof must come no later than the delivered event it rides on.
    let state = ShipmentState.empty(shipmentId, companyId)
    for (const e of eventsOf([poll(5, 2.4, "M. Keller")])) {
      const before = ShipmentState.has(state.view, "reached:delivered")
      state = ShipmentState.apply(state, e).state
      if (!before && ShipmentState.has(state.view, "reached:delivered")) expect(state.view.pod?.signedBy).toBe("M. Keller")
    }
    expect(ShipmentState.has(state.view, "reached:delivered")).toBe(true)
  })
})
