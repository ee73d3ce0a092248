/**
 * The laws of the shipment state machine (DESIGN §3), as fast-check properties over generated
 * histories that mix every status, exceptions, clearances, returns, cancellations, retractions,
 * duplicates, conflicting copies and clock skew.
 *
 * The same laws run against a "last event wins" machine at the end: they must catch it.
 */
import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { Instant, Milestone, ShipmentEvent, ShipmentState, Status } from "../src/index.js"
import { Histories } from "../src/testing/index.js"
import { type Machine, realMachine, lastEventWins, reportsAlternate } from "./machines.js"

const RUNS = 1000
const params = { numRuns: RUNS }

/**
 * Properties run asynchronously and give the event loop a turn before each run, so a long
 * suite never starves the test runner's own messages on a busy machine.
 */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve))
const law = <A>(arbitrary: FastCheck.Arbitrary<A>, predicate: (a: A) => boolean) =>
  FastCheck.asyncProperty(arbitrary, async (a) => {
    await tick()
    return predicate(a)
  })

type Event = ShipmentEvent.ShipmentEvent

const encodeState = Schema.encodeSync(ShipmentState.ShipmentState)
const decodeState = Schema.decodeUnknownSync(ShipmentState.ShipmentState)
const canonical = (state: ShipmentState.ShipmentState): string => JSON.stringify(encodeState(state))

const run = (machine: Machine, history: Histories.History, events: ReadonlyArray<Event>) => {
  let state = machine.empty(history.shipmentId, history.companyId)
  const outcomes: Array<ShipmentState.Outcome> = []
  for (const event of events) {
    const outcome = machine.apply(state, event)
    outcomes.push(outcome)
    state = outcome.state
  }
  return { state, outcomes }
}

const historyWithTwoOrders = (options?: Histories.Options) =>
  Histories.arbitrary(options).chain((history) =>
    Histories.permutation(history.events).map((other) => ({ history, other }))
  )

// --- the laws, each parameterised by the machine so that a broken machine can be shown to fail

const permutationLaw = (machine: Machine) =>
  law(historyWithTwoOrders(), ({ history, other }) => {
    const a = run(machine, history, history.events).state
    const b = run(machine, history, other).state
    return (
      canonical(a) === canonical(b) &&
      [...ShipmentState.milestoneKeys(a)].join() === [...ShipmentState.milestoneKeys(b)].join()
    )
  })

const incrementalEqualsBatchLaw = (machine: Machine) =>
  law(Histories.arbitrary(), (history) => {
    const incremental = run(machine, history, history.events).state
    const batch = ShipmentState.fold(history.shipmentId, history.companyId, history.events)
    return canonical(incremental) === canonical(batch)
  })

const exactlyOnceLaw = (machine: Machine) =>
  law(Histories.arbitrary(), (history) => {
    const { state, outcomes } = run(machine, history, history.events)
    // Per key, reports must alternate reached / withdrawn, start with reached, and end in the
    // final membership: a milestone is never reported twice without a withdrawal in between.
    return reportsAlternate(outcomes, state)
  })

describe("ShipmentState laws", () => {
  it("1. any permutation of an event multiset yields the same state and milestones", async () => {
    await FastCheck.assert(permutationLaw(realMachine), params)
  })

  it("2. applying an event twice equals applying it once", async () => {
    await FastCheck.assert(
      law(
        Histories.arbitrary().chain((h) =>
          FastCheck.nat({ max: Math.max(0, h.events.length - 1) }).map((cut) => ({ h, cut }))
        ),
        ({ h, cut }) => {
          if (h.events.length === 0) return true
          const before = run(realMachine, h, h.events.slice(0, cut)).state
          const event = h.events[cut]!
          const once = ShipmentState.apply(before, event)
          const twice = ShipmentState.apply(once.state, event)
          return twice._tag === "Duplicate" && canonical(twice.state) === canonical(once.state)
        }
      ),
      params
    )
  })

  it("3. incremental application equals the batch fold", async () => {
    await FastCheck.assert(incrementalEqualsBatchLaw(realMachine), params)
  })

  it("4. without retractions, progress never decreases and milestones only grow", async () => {
    let contradictedCancellations = 0
    await FastCheck.assert(
      law(Histories.arbitrary({ retractions: false, conflicts: false }), (history) => {
        let state = ShipmentState.empty(history.shipmentId, history.companyId)
        for (const event of history.events) {
          const outcome = ShipmentState.apply(state, event)
          const rankBefore = state.view.progress === undefined ? 0 : Status.forwardRank(state.view.progress)
          const rankAfter = outcome.state.view.progress === undefined ? 0 : Status.forwardRank(outcome.state.view.progress)
          if (rankAfter < rankBefore) return false
          const after = ShipmentState.milestoneKeys(outcome.state)
          for (const key of ShipmentState.milestoneKeys(state)) {
            if (after.has(key)) continue
            // The one documented exception: a cancellation contradicted by a dispatch scan from
            // before it, arriving late. It must be reported as withdrawn, never silently lost.
            if (key !== "cancelled") return false
            if (outcome._tag !== "Accepted" && outcome._tag !== "Anomaly") return false
            if (!outcome.retracted.some((r) => Milestone.key(r.milestone) === key && r.reason === "contradicted")) {
              return false
            }
            contradictedCancellations++
          }
          state = outcome.state
        }
        return true
      }),
      params
    )
    // The generator does produce the contradicted case, so the exception above is exercised.
    expect(contradictedCancellations).toBeGreaterThan(0)
  })

  it("5. across an incremental run every milestone is reported exactly once", async () => {
    await FastCheck.assert(exactlyOnceLaw(realMachine), params)
    // Without retractions, conflicts or cancellations nothing is ever withdrawn: exactly once.
    await FastCheck.assert(
      law(
        Histories.arbitrary({ retractions: false, conflicts: false, cancellations: false }),
        (history) => {
          const { state, outcomes } = run(realMachine, history, history.events)
          const counts = new Map<string, number>()
          for (const o of outcomes) {
            if (o._tag === "Accepted" || o._tag === "Anomaly") {
              if (o.retracted.length > 0) return false
              for (const m of o.reached) counts.set(Milestone.key(m), (counts.get(Milestone.key(m)) ?? 0) + 1)
            }
          }
          const final = ShipmentState.milestoneKeys(state)
          return counts.size === final.size && [...counts].every(([k, c]) => c === 1 && final.has(k))
        }
      ),
      params
    )
  })

  it("6a. a stale event changes nothing", async () => {
    let stale = 0
    await FastCheck.assert(
      law(Histories.arbitrary(), (history) => {
        let state = ShipmentState.empty(history.shipmentId, history.companyId)
        for (const event of history.events) {
          const outcome = ShipmentState.apply(state, event)
          if (outcome._tag === "Stale") {
            stale++
            const before = JSON.stringify(Schema.encodeSync(ShipmentState.ShipmentView)(state.view))
            const after = JSON.stringify(Schema.encodeSync(ShipmentState.ShipmentView)(outcome.state.view))
            if (before !== after) return false
            // ...but it is recorded.
            if (!outcome.state.events.some((e) => e.id === event.id)) return false
          }
          state = outcome.state
        }
        return true
      }),
      params
    )
    expect(stale).toBeGreaterThan(0)
  })

  it("6b. a scan behind the progress, after everything else, is Stale", async () => {
    await FastCheck.assert(
      law(
        FastCheck.tuple(
          Histories.arbitrary({ retractions: false, cancellations: false, conflicts: false }),
          FastCheck.constantFrom(...Status.forwardStatuses)
        ),
        ([history, status]) => {
          const state = ShipmentState.fold(history.shipmentId, history.companyId, history.events)
          const progress = state.view.progress
          if (progress === undefined || Status.forwardRank(status) >= Status.forwardRank(progress)) return true
          if (ShipmentState.openExceptions(state.view).length > 0 || Status.branchStatuses.has(status)) return true
          const latestMs = Math.max(...state.events.map((e) => Instant.toMillis(e.occurredAt)))
          const event = new ShipmentEvent.StatusReported({
            id: "late-scan" as Event["id"],
            shipmentId: history.shipmentId,
            companyId: history.companyId,
            source: "carrier",
            occurredAt: Instant.fromMillis(latestMs + 60_000),
            receivedAt: Instant.fromMillis(latestMs + 120_000),
            raw: new ShipmentEvent.RawCode({ code: "IT" }),
            status
          })
          return ShipmentState.apply(state, event)._tag === "Stale"
        }
      ),
      params
    )
  })

  it("6c. a cancellation after dispatch is an Anomaly and does not cancel", async () => {
    await FastCheck.assert(
      law(
        FastCheck.tuple(
          Histories.arbitrary({ retractions: false, cancellations: false, conflicts: false }),
          FastCheck.integer({ min: 0, max: 10 * 24 * 60 })
        ),
        ([history, minutesAfter]) => {
          const state = ShipmentState.fold(history.shipmentId, history.companyId, history.events)
          const dispatched = state.view.milestones.find((m) => Milestone.key(m) === "reached:dispatched")
          if (dispatched === undefined || dispatched._tag !== "Reached") return true
          const at = Instant.toMillis(dispatched.at) + minutesAfter * 60_000
          const cancel = new ShipmentEvent.StatusReported({
            id: "late-cancel" as Event["id"],
            shipmentId: history.shipmentId,
            companyId: history.companyId,
            source: "odoo",
            occurredAt: Instant.fromMillis(at),
            receivedAt: Instant.fromMillis(at),
            raw: new ShipmentEvent.RawCode({ code: "cancel" }),
            status: "cancelled"
          })
          const outcome = ShipmentState.apply(state, cancel)
          return (
            outcome._tag === "Anomaly" &&
            outcome.anomaly.reason === "cancel_after_dispatch" &&
            outcome.reached.length === 0 &&
            outcome.state.view.status !== "cancelled" &&
            outcome.state.events.some((e) => e.id === cancel.id)
          )
        }
      ),
      params
    )
  })

  it("7. state encode/decode round-trips", async () => {
    await FastCheck.assert(
      law(Histories.arbitrary(), (history) => {
        const state = run(realMachine, history, history.events).state
        const encoded = encodeState(state)
        const decoded = decodeState(JSON.parse(JSON.stringify(encoded)))
        return canonical(decoded) === JSON.stringify(encoded)
      }),
      params
    )
  })

  it("the laws catch a machine where the last event wins", async () => {
    const failures = (
      await Promise.all([
        FastCheck.check(permutationLaw(lastEventWins), { numRuns: 200 }),
        FastCheck.check(incrementalEqualsBatchLaw(lastEventWins), { numRuns: 200 }),
        FastCheck.check(exactlyOnceLaw(lastEventWins), { numRuns: 200 })
      ])
    ).map((details) => details.failed)
    expect(failures).toEqual([true, true, true])
  })
})
