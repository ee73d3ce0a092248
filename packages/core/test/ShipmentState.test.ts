/**
 * Table tests of realistic sequences, including a real EasyPost tracker replayed in every order.
 */
import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Ids, Instant, Milestone, ShipmentEvent, ShipmentState, Status } from "../src/index.js"
import { cleared, companyId, exception, retraction, scan, shipmentId, t } from "./builders.js"

type Event = ShipmentEvent.ShipmentEvent

const runAll = (events: ReadonlyArray<Event>) => {
  let state = ShipmentState.empty(shipmentId, companyId)
  const outcomes: Array<ShipmentState.Outcome> = []
  for (const e of events) {
    const outcome = ShipmentState.apply(state, e)
    outcomes.push(outcome)
    state = outcome.state
  }
  return { state, outcomes }
}

const keys = (ms: ReadonlyArray<Milestone.Milestone>) => ms.map(Milestone.key)
const reachedKeys = (o: ShipmentState.Outcome) => (o._tag === "Accepted" || o._tag === "Anomaly" ? keys(o.reached) : [])
const retractedKeys = (o: ShipmentState.Outcome) =>
  o._tag === "Accepted" || o._tag === "Anomaly" ? o.retracted.map((r) => `${Milestone.key(r.milestone)}(${r.reason})`) : []

describe("ShipmentState sequences", () => {
  it("a clean history in order reaches every milestone once", () => {
    const { state, outcomes } = runAll([
      scan("c", "created", 0),
      scan("p", "picked", 30),
      scan("k", "packed", 60),
      scan("l", "label_created", 70),
      scan("d", "dispatched", 120),
      scan("i", "in_transit", 300, { city: "Venlo" }),
      scan("o", "out_for_delivery", 900),
      scan("v", "delivered", 1000, { pod: true, city: "Cologne" })
    ])
    expect(outcomes.map((o) => o._tag)).toEqual(Array(8).fill("Accepted"))
    expect(outcomes.map(reachedKeys)).toEqual([
      ["reached:created"],
      ["reached:picked"],
      ["reached:packed"],
      ["reached:label_created"],
      ["reached:dispatched"],
      ["reached:in_transit"],
      ["reached:out_for_delivery"],
      ["pod", "reached:delivered"]
    ])
    expect(state.view.status).toBe("delivered")
    expect(state.view.lastScan?.location?.city).toBe("Cologne")
    expect(state.view.pod?.signedBy).toBe("M. MUSTER")
  })

  it("delivery reported first implies the spine, not the branches; earlier scans refine times", () => {
    const { state, outcomes } = runAll([
      scan("v", "delivered", 1000),
      scan("i", "in_transit", 300),
      scan("d", "dispatched", 120),
      scan("o", "out_for_delivery", 900)
    ])
    expect(reachedKeys(outcomes[0]!)).toEqual([
      "reached:created",
      "reached:delivered",
      "reached:dispatched",
      "reached:in_transit",
      "reached:label_created",
      "reached:packed",
      "reached:picked"
    ])
    expect(outcomes[1]!._tag).toBe("Accepted") // in_transit is now known to have happened at 300
    expect(reachedKeys(outcomes[1]!)).toEqual([])
    expect(reachedKeys(outcomes[3]!)).toEqual(["reached:out_for_delivery"])
    const inTransit = state.view.milestones.find((m) => Milestone.key(m) === "reached:in_transit")
    expect(inTransit?._tag === "Reached" && Instant.toMillis(inTransit.at)).toBe(Instant.toMillis(t(300)))
    const dispatched = state.view.milestones.find((m) => Milestone.key(m) === "reached:dispatched")
    expect(dispatched?._tag === "Reached" && Instant.toMillis(dispatched.at)).toBe(Instant.toMillis(t(120)))
  })

  it("a transit scan stamped after delivery is Stale and changes nothing", () => {
    const { state, outcomes } = runAll([scan("i", "in_transit", 300), scan("v", "delivered", 1000), scan("x", "in_transit", 1100)])
    expect(outcomes[2]!._tag).toBe("Stale")
    expect(state.view.status).toBe("delivered")
    expect(state.view.lastScan?.eventId).toBe("v")
    expect(state.events.map((e) => e.id)).toContain("x")
  })

  it("a repeated event is a Duplicate, even when received later", () => {
    const first = scan("i", "in_transit", 300)
    const again = new ShipmentEvent.StatusReported({ ...first, receivedAt: t(999) })
    const { outcomes } = runAll([first, again, first])
    expect(outcomes.map((o) => o._tag)).toEqual(["Accepted", "Duplicate", "Duplicate"])
  })

  it("a delay opens an exception over the progress; later movement resolves it", () => {
    const { state, outcomes } = runAll([
      scan("i1", "in_transit", 300),
      exception("x", "delayed", 400),
      scan("i2", "in_transit", 800)
    ])
    expect(reachedKeys(outcomes[1]!)).toEqual(["exception_opened:x"])
    expect(outcomes[1]!.state.view.status).toBe("delayed")
    expect(outcomes[1]!.state.view.progress).toBe("in_transit")
    expect(reachedKeys(outcomes[2]!)).toEqual(["exception_resolved:x"])
    expect(state.view.status).toBe("in_transit")
    expect(ShipmentState.openExceptions(state.view)).toEqual([])
  })

  it("an exception reported late, after the movement that resolves it, is opened and resolved at once", () => {
    const { outcomes } = runAll([scan("i1", "in_transit", 300), scan("i2", "in_transit", 800), exception("x", "failed_attempt", 400)])
    expect(reachedKeys(outcomes[2]!)).toEqual(["exception_opened:x", "exception_resolved:x"])
  })

  it("damage reported after delivery stays open under the delivered status until cleared", () => {
    const { state, outcomes } = runAll([
      scan("v", "delivered", 1000, { pod: true }),
      exception("dmg", "damaged", 1200),
      cleared("ok", 1300, ["delayed"]),
      cleared("ok2", 1400, ["damaged"])
    ])
    expect(outcomes[1]!.state.view.status).toBe("delivered")
    expect(ShipmentState.openExceptions(outcomes[1]!.state.view).map((e) => e.kind)).toEqual(["damaged"])
    expect(outcomes[2]!._tag).toBe("Stale") // a clearance of another kind resolves nothing
    expect(reachedKeys(outcomes[3]!)).toEqual(["exception_resolved:dmg"])
    expect(ShipmentState.openExceptions(state.view)).toEqual([])
  })

  it("a retracted mis-scan delivery withdraws its milestones; the real delivery reaches them again", () => {
    const { state, outcomes } = runAll([
      scan("o", "out_for_delivery", 900),
      scan("bad", "delivered", 950, { pod: true }),
      retraction("fix", 960, "bad"),
      scan("v", "delivered", 1200, { pod: true })
    ])
    expect(outcomes[2]!._tag).toBe("Accepted")
    expect(retractedKeys(outcomes[2]!)).toEqual(["pod(retracted)", "reached:delivered(retracted)"])
    expect(outcomes[2]!.state.view.status).toBe("out_for_delivery")
    expect(reachedKeys(outcomes[3]!)).toEqual(["pod", "reached:delivered"])
    expect(state.retracted).toEqual(["bad"])
    // Same set, other order: the retraction first, the mis-scan after it.
    const other = runAll([
      retraction("fix", 960, "bad"),
      scan("v", "delivered", 1200, { pod: true }),
      scan("bad", "delivered", 950, { pod: true }),
      scan("o", "out_for_delivery", 900)
    ])
    expect(other.outcomes[0]!._tag).toBe("Stale")
    expect(other.outcomes[2]!._tag).toBe("Stale")
    expect(JSON.stringify(Schema.encodeSync(ShipmentState.ShipmentState)(other.state))).toBe(
      JSON.stringify(Schema.encodeSync(ShipmentState.ShipmentState)(state))
    )
  })

  it("a retracted exception withdraws its opening; a retraction cannot be retracted", () => {
    const { state, outcomes } = runAll([
      scan("i", "in_transit", 300),
      exception("x", "lost", 500),
      retraction("r1", 600, "x"),
      retraction("r2", 700, "r1")
    ])
    expect(retractedKeys(outcomes[2]!)).toEqual(["exception_opened:x(retracted)"])
    expect(outcomes[3]!._tag).toBe("Anomaly")
    expect(outcomes[3]!._tag === "Anomaly" && outcomes[3]!.anomaly.reason).toBe("retraction_of_retraction")
    expect(state.view.status).toBe("in_transit")
  })

  it("cancellation: valid before dispatch, an Anomaly after, withdrawn when an earlier dispatch shows up", () => {
    const before = runAll([scan("k", "packed", 60), scan("c", "cancelled", 100)])
    expect(before.state.view.status).toBe("cancelled")
    expect(reachedKeys(before.outcomes[1]!)).toEqual(["cancelled"])

    const after = runAll([scan("d", "dispatched", 120), scan("c", "cancelled", 150)])
    const anomaly = after.outcomes[1]!
    expect(anomaly._tag).toBe("Anomaly")
    expect(anomaly._tag === "Anomaly" && anomaly.anomaly.reason).toBe("cancel_after_dispatch")
    expect(after.state.view.status).toBe("dispatched")

    const contradicted = runAll([scan("c", "cancelled", 150), scan("d", "dispatched", 120)])
    expect(reachedKeys(contradicted.outcomes[0]!)).toEqual(["cancelled"])
    expect(retractedKeys(contradicted.outcomes[1]!)).toEqual(["cancelled(contradicted)"])
    expect(contradicted.state.view.anomalies.map((a) => a.reason)).toEqual(["cancel_after_dispatch"])
    expect(contradicted.state.view.status).toBe(after.state.view.status)

    const moved = runAll([scan("c", "cancelled", 100), scan("d", "dispatched", 120)])
    expect(moved.outcomes[1]!._tag).toBe("Anomaly")
    expect(moved.state.view.status).toBe("cancelled")
    expect(moved.state.view.anomalies.map((a) => a.reason)).toEqual(["progress_after_cancel"])
  })

  it("a refused delivery attempt turns into a return", () => {
    const { state } = runAll([
      scan("o", "out_for_delivery", 900),
      exception("ref", "refused", 950),
      scan("ri", "return_initiated", 1000),
      scan("rd", "returned", 3000)
    ])
    expect(state.view.status).toBe("returned")
    expect(state.view.exceptions.map((e) => [e.kind, e.resolvedAt !== undefined])).toEqual([["refused", true]])
  })

  it("two copies of one id that disagree are an Anomaly, resolved the same in any order", () => {
    const a = scan("i", "in_transit", 300)
    const b = scan("i", "out_for_delivery", 300)
    const ab = runAll([a, b])
    const ba = runAll([b, a])
    expect(ab.outcomes[1]!._tag).toBe("Anomaly")
    expect(ba.outcomes[1]!._tag).toBe("Anomaly")
    expect(ab.state.conflicts).toEqual(["i"])
    const enc = Schema.encodeSync(ShipmentState.ShipmentState)
    expect(JSON.stringify(enc(ab.state))).toBe(JSON.stringify(enc(ba.state)))
    expect(runAll([a, b, a]).outcomes[2]!._tag).toBe("Duplicate")
  })

  it("an event of another shipment is an Anomaly and is not recorded", () => {
    const foreign = new ShipmentEvent.StatusReported({ ...scan("z", "delivered", 10), shipmentId: Ids.ShipmentId.make("shp-2") })
    const outcome = ShipmentState.apply(ShipmentState.empty(shipmentId, companyId), foreign)
    expect(outcome._tag === "Anomaly" && outcome.anomaly.reason).toBe("foreign_event")
    expect(outcome.state.events).toEqual([])
  })

  it("unmapped codes are kept and counted, and change no status", () => {
    const { state } = runAll([scan("i", "in_transit", 300), scan("u", "unknown", 400)])
    expect(state.view.unmapped).toEqual(["u"])
    expect(state.view.status).toBe("in_transit")
  })
})

// ---------------------------------------------------------------------------------------------
// A real EasyPost tracker (FedEx), its tracking_details replayed in every order
// ---------------------------------------------------------------------------------------------

const fixture = JSON.parse(
  readFileSync(
    fileURLToPath(new URL("../../../../shared/fixtures/carriers/easypost/event-tracker-updated-webhook.json", import.meta.url)),
    "utf8"
  )
) as {
  result: {
    tracking_details: ReadonlyArray<{
      status: string
      status_detail: string
      datetime: string
      carrier_code: string
      message: string
      tracking_location: { city: string | null; state: string | null; country: string | null }
    }>
  }
}

/** Just enough of the EasyPost mapping for this test; the adapter owns the full table. */
const easyPostStatus = (status: string): Status.ReportedStatus =>
  status === "pre_transit" ? "label_created" : status === "in_transit" ? "in_transit" : "unknown"

const fedexEvents: ReadonlyArray<Event> = fixture.result.tracking_details.map(
  (d) =>
    new ShipmentEvent.StatusReported({
      id: Ids.EventId.make(`easypost:trk_1:${d.datetime}:${d.carrier_code}`),
      shipmentId,
      companyId,
      source: "easypost",
      occurredAt: Schema.decodeSync(Instant.Instant)(d.datetime),
      receivedAt: Schema.decodeSync(Instant.Instant)("2024-08-02T19:26:52Z"),
      raw: new ShipmentEvent.RawCode({ code: d.carrier_code, detail: d.status_detail, description: d.message }),
      status: easyPostStatus(d.status),
      location: new ShipmentEvent.Location({
        ...(d.tracking_location.city !== null ? { city: d.tracking_location.city } : {}),
        ...(d.tracking_location.country !== null ? { country: d.tracking_location.country } : {})
      })
    })
)

describe("EasyPost tracker replayed in any order", () => {
  it("resolves to in transit at EDISON, label created first, whatever the order and repetition", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.shuffledSubarray([...fedexEvents, ...fedexEvents], {
          minLength: fedexEvents.length * 2,
          maxLength: fedexEvents.length * 2
        }),
        (arrival) => {
          const { state, outcomes } = runAll(arrival)
          const reached = outcomes.flatMap(reachedKeys)
          return (
            state.view.status === "in_transit" &&
            state.view.lastScan?.location?.city === "EDISON" &&
            reached.filter((k) => k === "reached:label_created").length === 1 &&
            reached.filter((k) => k === "reached:in_transit").length === 1 &&
            outcomes.filter((o) => o._tag === "Duplicate").length === fedexEvents.length
          )
        }
      ),
      { numRuns: 1000 }
    )
    const state = ShipmentState.fold(shipmentId, companyId, fedexEvents)
    const inTransit = state.view.milestones.find((m) => Milestone.key(m) === "reached:in_transit")
    expect(inTransit?._tag === "Reached" && Instant.toMillis(inTransit.at)).toBe(Date.parse("2024-07-31T19:27:00Z"))
    expect(state.events.every((e) => e.raw.code.length > 0)).toBe(true)
  })
})
