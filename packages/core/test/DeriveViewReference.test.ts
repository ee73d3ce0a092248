/**
 * The optimized view derivation of `ShipmentState` against the straightforward reference it
 * replaced (`reference/deriveView.ts`): for every state reached while applying generated
 * histories in random orders, the view (encoded, including key order) is the reference's, and
 * milestones are listed in key order.
 */
import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { Milestone, ShipmentState } from "../src/index.js"
import { Histories } from "../src/testing/index.js"
import { referenceDeriveView } from "./reference/deriveView.js"

const encodeView = Schema.encodeSync(ShipmentState.ShipmentView)
const json = (view: ShipmentState.ShipmentView) => JSON.stringify(encodeView(view))

describe("deriveView", () => {
  // Async only to let the worker's event loop turn between runs (see vitest.setup.ts).
  it("equals the reference derivation at every step of any arrival order", () =>
    FastCheck.assert(
      FastCheck.asyncProperty(
        Histories.arbitrary().chain((h) => Histories.permutation(h.events).map((events) => ({ h, events }))),
        async ({ events, h }) => {
          await new Promise<void>((resolve) => setImmediate(resolve))
          let state = ShipmentState.empty(h.shipmentId, h.companyId)
          for (const event of events) {
            state = ShipmentState.apply(state, event).state
            expect(json(state.view)).toBe(json(referenceDeriveView(state.events, state.conflicts)))
            expect(json(ShipmentState.deriveView(state.events, state.conflicts))).toBe(json(state.view))
            const keys = state.view.milestones.map(Milestone.key)
            expect(keys).toEqual([...keys].sort())
            expect([...ShipmentState.milestoneKeys(state)]).toEqual(keys)
          }
          const folded = ShipmentState.fold(h.shipmentId, h.companyId, events)
          expect(json(folded.view)).toBe(json(referenceDeriveView(folded.events, folded.conflicts)))
        }
      ),
      { numRuns: 1000 }
    ))
})
