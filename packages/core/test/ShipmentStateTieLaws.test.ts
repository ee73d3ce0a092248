/**
 * Order-independence laws of the shipment state machine over a generator aimed at where
 * `Histories` is thin: a handful of instants (most events tie on `occurredAt`), a small pool of
 * ids (so copies of one id with different content are common, of any kind: a scan and a
 * retraction may share an id), retractions naming any id of the pool (retractions, themselves,
 * ids with conflicting copies), clearances of some or all kinds, cancellations between scans,
 * unknown codes, weights (0 g too) and proofs of delivery on any scan, `receivedAt` skewed
 * either way, retransmissions, and events of another company or shipment.
 */
import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { Ids, Instant, Milestone, ShipmentEvent, ShipmentState, Status, Weight } from "../src/index.js"
import { companyId, shipmentId } from "./builders.js"

type Event = ShipmentEvent.ShipmentEvent

const BASE = Date.UTC(2024, 6, 1, 8, 0)
const MINUTE = 60_000
const POOL = ["e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7"] as const

const encodeState = Schema.encodeSync(ShipmentState.ShipmentState)
const canonical = (state: ShipmentState.ShipmentState): string => JSON.stringify(encodeState(state))

const idArb = FastCheck.constantFrom(...POOL).map((id) => Ids.EventId.make(id))
/** Four instants, so that most events tie. */
const minutesArb = FastCheck.integer({ min: 0, max: 3 })
const ownerArb = FastCheck.oneof(
  { weight: 12, arbitrary: FastCheck.constant({ shipmentId, companyId }) },
  { weight: 1, arbitrary: FastCheck.constant({ shipmentId, companyId: Ids.CompanyId.make("co-b") }) },
  { weight: 1, arbitrary: FastCheck.constant({ shipmentId: Ids.ShipmentId.make("shp-other"), companyId }) }
)
const commonArb = FastCheck.record({
  id: idArb,
  owner: ownerArb,
  source: FastCheck.constantFrom("carrier", "wms:acme"),
  minutes: minutesArb,
  // receivedAt before or long after occurredAt (clock skew, late batches)
  receivedSkew: FastCheck.integer({ min: -120, max: 600 }),
  code: FastCheck.constantFrom("A", "B")
}).map(({ code, id, minutes, owner, receivedSkew, source }) => ({
  id,
  ...owner,
  source,
  occurredAt: Instant.fromMillis(BASE + minutes * MINUTE),
  receivedAt: Instant.fromMillis(BASE + (minutes + receivedSkew) * MINUTE),
  raw: new ShipmentEvent.RawCode({ code })
}))

const statusArb: FastCheck.Arbitrary<Event> = FastCheck.record({
  common: commonArb,
  status: FastCheck.constantFrom<Status.ReportedStatus>(...Status.forwardStatuses, ...Status.returnStatuses, "cancelled", "unknown", "delivered", "dispatched"),
  pod: FastCheck.constantFrom(undefined, undefined, "J. DOE", "M. MUSTER"),
  weight: FastCheck.constantFrom(undefined, undefined, 0, 1200, 5000),
  city: FastCheck.constantFrom(undefined, "Venlo", "Lyon")
}).map(({ city, common, pod, status, weight }) =>
  new ShipmentEvent.StatusReported({
    ...common,
    status,
    ...(pod !== undefined ? { pod: new ShipmentEvent.ProofOfDelivery({ signedBy: pod }) } : {}),
    ...(weight !== undefined ? { weight: Weight.Grams.make(weight) } : {}),
    ...(city !== undefined ? { location: new ShipmentEvent.Location({ city }) } : {})
  })
)
const exceptionArb: FastCheck.Arbitrary<Event> = FastCheck.record({
  common: commonArb,
  kind: FastCheck.constantFrom<Status.ExceptionKind>(...Status.exceptionKinds, "damaged", "delayed")
}).map(({ common, kind }) => new ShipmentEvent.ExceptionReported({ ...common, kind }))
const clearanceArb: FastCheck.Arbitrary<Event> = FastCheck.record({
  common: commonArb,
  kinds: FastCheck.option(
    FastCheck.uniqueArray(FastCheck.constantFrom<Status.ExceptionKind>("damaged", "delayed", "lost", "refused"), { minLength: 1, maxLength: 2 }),
    { nil: undefined }
  )
}).map(({ common, kinds }) =>
  new ShipmentEvent.ExceptionCleared({
    ...common,
    ...(kinds !== undefined ? { kinds: kinds as unknown as readonly [Status.ExceptionKind, ...Array<Status.ExceptionKind>] } : {})
  })
)
const retractionArb: FastCheck.Arbitrary<Event> = FastCheck.record({
  common: commonArb,
  retracts: FastCheck.array(idArb, { minLength: 1, maxLength: 3 })
}).map(({ common, retracts }) =>
  new ShipmentEvent.Retraction({
    ...common,
    retracts: retracts as unknown as readonly [Ids.EventId, ...Array<Ids.EventId>]
  })
)
const eventArb: FastCheck.Arbitrary<Event> = FastCheck.oneof(
  { weight: 5, arbitrary: statusArb },
  { weight: 3, arbitrary: exceptionArb },
  { weight: 2, arbitrary: clearanceArb },
  { weight: 2, arbitrary: retractionArb }
)

const retransmit = (event: Event, minutes: number): Event => {
  const receivedAt = Instant.fromMillis(Instant.toMillis(event.receivedAt) + minutes * MINUTE)
  switch (event._tag) {
    case "StatusReported":
      return new ShipmentEvent.StatusReported({ ...event, receivedAt })
    case "ExceptionReported":
      return new ShipmentEvent.ExceptionReported({ ...event, receivedAt })
    case "ExceptionCleared":
      return new ShipmentEvent.ExceptionCleared({ ...event, receivedAt })
    case "Retraction":
      return new ShipmentEvent.Retraction({ ...event, receivedAt })
  }
}

/** An event multiset (with retransmissions, some received earlier than the original) in two arrival orders. */
const multisetArb = FastCheck.array(eventArb, { minLength: 1, maxLength: 14 })
  .chain((events) =>
    FastCheck.array(FastCheck.tuple(FastCheck.nat({ max: events.length - 1 }), FastCheck.integer({ min: -60, max: 60 })), {
      maxLength: 3
    }).map((copies) => [...events, ...copies.map(([i, m]) => retransmit(events[i]!, m))])
  )
  .chain((events) =>
    FastCheck.tuple(
      FastCheck.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }),
      FastCheck.shuffledSubarray(events, { minLength: events.length, maxLength: events.length })
    ).map(([a, b]) => ({ a, b }))
  )

const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

describe("ShipmentState laws on tied instants, shared ids and cross-kind copies", () => {
  it("a state restored from its stored set in any order goes on as the fold of all events", async () => {
    await FastCheck.assert(
      FastCheck.asyncProperty(
        multisetArb.chain(({ a, b }) =>
          FastCheck.nat({ max: a.length }).chain((cut) => {
            const stored = ShipmentState.fold(shipmentId, companyId, a.slice(0, cut))
            return FastCheck.tuple(
              FastCheck.shuffledSubarray([...stored.events], { minLength: stored.events.length, maxLength: stored.events.length }),
              FastCheck.shuffledSubarray([...stored.variants], { minLength: stored.variants.length, maxLength: stored.variants.length })
            ).map(([events, variants]) => ({ a, b, cut, events, variants }))
          })
        ),
        async ({ a, cut, events, variants }) => {
          await tick()
          // A host's store gives the stored set back in its own order (by arrival, say).
          let state = ShipmentState.restore(shipmentId, companyId, events, variants)
          const outcomes: Array<ShipmentState.Outcome> = []
          for (const event of a.slice(cut)) {
            const outcome = ShipmentState.apply(state, event)
            outcomes.push(outcome)
            state = outcome.state
          }
          const batch = ShipmentState.fold(shipmentId, companyId, a)
          expect(canonical(state)).toBe(canonical(batch))
          // No milestone reported reached twice without a withdrawal between (a retransmission stays a Duplicate).
          for (const outcome of outcomes) {
            if (outcome._tag !== "Accepted" && outcome._tag !== "Anomaly") continue
            const keys = outcome.reached.map(Milestone.key)
            expect(new Set(keys).size).toBe(keys.length)
          }
          const keys = state.view.milestones.map(Milestone.key)
          expect(new Set(keys).size).toBe(keys.length)
        }
      ),
      { numRuns: 1000 }
    )
  }, 60_000)
})
