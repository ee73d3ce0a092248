/**
 * Trusted construction (`internal/construct`) builds exactly what the Schema class constructor
 * builds: same prototype, same own keys in the same order, equal values. The hot path relies on
 * it for events, states, records and billing.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Equal from "effect/Equal"
import * as FastCheck from "effect/FastCheck"
import { Ids, ShipmentEvent, ShipmentRecord, ShipmentState } from "../src/index.js"
import * as Construct from "../src/internal/construct.js"

const same = (fast: object, slow: object) => {
  expect(Object.getPrototypeOf(fast)).toBe(Object.getPrototypeOf(slow))
  expect(Object.keys(fast)).toEqual(Object.keys(slow))
  expect(JSON.stringify(fast)).toBe(JSON.stringify(slow))
  expect(Equal.equals(fast, slow)).toBe(true)
}

const drafts = Arbitrary.make(ShipmentEvent.Draft)
const events = Arbitrary.make(ShipmentEvent.ShipmentEvent)
const billing = Arbitrary.make(ShipmentRecord.Billing)

describe("trusted construction", () => {
  it("fromDraft equals the class constructor over the routed draft", () => {
    const shipmentId = Ids.ShipmentId.make("shp-1")
    const companyId = Ids.CompanyId.make("co-1")
    const classes = {
      StatusReported: ShipmentEvent.StatusReported,
      ExceptionReported: ShipmentEvent.ExceptionReported,
      ExceptionCleared: ShipmentEvent.ExceptionCleared,
      Retraction: ShipmentEvent.Retraction
    } as const
    FastCheck.assert(
      FastCheck.property(drafts, (draft) => {
        const Cls = classes[draft._tag] as unknown as new (props: object, validate: boolean) => object
        same(ShipmentEvent.fromDraft(draft, shipmentId, companyId), new Cls({ ...draft, shipmentId, companyId }, true))
      }),
      { numRuns: 1000 }
    )
  })

  it("records, billing and states equal the class constructor", () => {
    FastCheck.assert(
      FastCheck.property(events, billing, FastCheck.option(FastCheck.string(), { nil: undefined }), (event, b, caseKey) => {
        const state = ShipmentState.apply(ShipmentState.empty(event.shipmentId, event.companyId), event).state
        const props = { state, billing: b, ...(caseKey !== undefined ? { caseKey } : {}), audit: { seq: 3, hash: "h" } }
        same(Construct.trusted(ShipmentRecord.ShipmentRecord, props), new ShipmentRecord.ShipmentRecord(props, true))
        const billingProps = { ...b, status: "held" as const, holds: ["open_damage" as const] }
        same(Construct.trusted(ShipmentRecord.Billing, billingProps), new ShipmentRecord.Billing(billingProps, true))
        const stateProps = { ...state }
        same(Construct.trusted(ShipmentState.ShipmentState, stateProps), new ShipmentState.ShipmentState(stateProps, true))
      }),
      { numRuns: 1000 }
    )
  })

  it("a tagged class gets its tag last, whatever the sources hold", () => {
    const e = Construct.trustedTagged(ShipmentEvent.Retraction, "Retraction", { _tag: "x", id: "a" }, { shipmentId: "s" })
    expect(Object.keys(e)).toEqual(["id", "shipmentId", "_tag"])
    expect(e._tag).toBe("Retraction")
    expect(e).toBeInstanceOf(ShipmentEvent.Retraction)
  })
})
