/**
 * Flow rules and the billing policy, through the pipeline over the memory store: which actions
 * each milestone causes, with which keys, and that every payload decodes with its schema.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import {
  DeadLetters,
  Dispatcher,
  ErpPort,
  Flows,
  HelpdeskPort,
  Ids,
  MemoryStore,
  Metrics,
  Notifier,
  Pipeline,
  Shipment,
  ShipmentEvent,
  ShipmentState,
  Store,
  Weight
} from "../src/index.js"
import type * as MemoryStoreType from "../src/MemoryStore.js"
import { FakePorts, Histories } from "../src/testing/index.js"
import { cleared, exception, intakeWith, retraction, scan, shipmentId } from "./builders.js"

const schemas: Record<string, Schema.Schema<any, any, never>> = Dispatcher.requests

/** One registered shipment (`shp-1`) with a customer, and a pipeline over a memory store. */
const setup = (flows?: Flows.FlowConfig, declaredWeight = 2000, parcels = 0) =>
  Effect.gen(function* () {
    const store = (yield* MemoryStore.make) as MemoryStoreType.MemoryStore
    const pipeline = yield* Pipeline.make({ ...(flows !== undefined ? { flows } : {}) }).pipe(
      Effect.provide(Layer.succeed(Store.Store, store))
    )
    yield* pipeline.register(intakeWith(declaredWeight, parcels))
    const outbox = () => [...store.internals.outbox.values()].map((e) => e.action)
    const keys = () => outbox().map((a) => a.key.replace(`${shipmentId}:`, ""))
    return { store, pipeline, outbox, keys }
  })

const ingestAll = (pipeline: Pipeline.PipelineShape, events: ReadonlyArray<ShipmentEvent.ShipmentEvent>) =>
  Effect.forEach(events, (e) => pipeline.ingest(e))

/** Every note category on: each reach and each withdrawal of a noted milestone gets a note. */
const allNotes = new Flows.FlowConfig({
  notes: ["dispatched", "delivered", "exceptions", "returns", "cancelled", "withdrawals"]
})

/** Milestones that get a note when reached under {@link allNotes} (`in_transit`, `pod`, … do not). */
const notedOnReach = (key: string) =>
  key === "cancelled" ||
  key.startsWith("exception_opened:") ||
  key.startsWith("exception_resolved:") ||
  ["reached:dispatched", "reached:delivered", "reached:return_initiated", "reached:returned"].includes(key)

/** A copy of event `id` with its own raw code: copies of one id with different codes conflict (the smallest content is kept). */
const copyOf = (id: string, code: string, status: "return_initiated" | "returned" | "in_transit", minutes: number) =>
  new ShipmentEvent.StatusReported({ ...scan(id, status, minutes), raw: new ShipmentEvent.RawCode({ code }) })

/** Ingests `events` in batches of the given sizes (the last size repeats), in order. */
const ingestInBatches = (
  pipeline: Pipeline.PipelineShape,
  events: ReadonlyArray<ShipmentEvent.ShipmentEvent>,
  sizes: ReadonlyArray<number>
) =>
  Effect.gen(function* () {
    // The property runs that call this go on for seconds without waiting on anything: let the
    // worker's event loop turn once per run (see vitest.setup.ts).
    yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
    const results: Array<Pipeline.IngestResult> = []
    for (let at = 0, i = 0; at < events.length; i++) {
      const size = sizes[Math.min(i, sizes.length - 1)] ?? 1
      const batch = yield* pipeline.ingestMany(events.slice(at, at + size))
      expect(batch.rejected).toEqual([])
      results.push(...batch.results)
      at += size
    }
    return results
  })

/**
 * The ERP notes of a run against what the state machine reported: every reach and every
 * withdrawal of a noted milestone enqueued a note of its own (none dropped as a key seen
 * before), the outbox holds as many reach notes of a milestone as it was reached, and the last
 * note about each milestone, reach or withdrawal, agrees with the final state. Returns the
 * number of milestones reached more than once.
 */
const checkReachNotes = (
  shipment: string,
  results: ReadonlyArray<Pipeline.IngestResult>,
  outboxKeys: ReadonlyArray<string>,
  final: ReadonlySet<string>
): number => {
  // The reach notes of a milestone in any key format: the key alone, or followed by `:<event id>`.
  const reachNote = (m: string) => (k: string) =>
    k === `${shipment}:erp.postNote:${m}` || k.startsWith(`${shipment}:erp.postNote:${m}:`)
  const withdrawalNote = (m: string) => (k: string) => k.startsWith(`${shipment}:erp.postNote:withdrawn:${m}:`)
  const position = new Map(outboxKeys.map((k, i) => [k, i]))
  const reaches = new Map<string, number>()
  const last = new Map<string, { readonly at: number; readonly reached: boolean }>()
  const see = (m: string, r: Pipeline.IngestResult, reached: boolean) => {
    const key = r.enqueued.find(reached ? reachNote(m) : withdrawalNote(m))
    expect(key, `note of ${m} ${reached ? "reached" : "withdrawn"} by ${r.eventId} enqueued`).toBeDefined()
    const at = position.get(key!)!
    const previous = last.get(m)
    if (previous === undefined || previous.at < at) last.set(m, { at, reached })
  }
  for (const r of results) {
    for (const m of r.reached) {
      if (!notedOnReach(m)) continue
      see(m, r, true)
      reaches.set(m, (reaches.get(m) ?? 0) + 1)
    }
    for (const m of r.retracted) if (notedOnReach(m)) see(m, r, false)
  }
  for (const [m, n] of reaches) expect(outboxKeys.filter(reachNote(m)), `reach notes of ${m}`).toHaveLength(n)
  for (const [m, { reached }] of last) expect(reached, `last note about ${m}`).toBe(final.has(m))
  for (const m of final) if (notedOnReach(m)) expect(last.get(m)?.reached, `last note about ${m}`).toBe(true)
  return [...reaches.values()].filter((n) => n > 1).length
}

describe("flows", () => {
  it.effect("dispatch writes tracking back and notifies the customer; notes only where configured", () =>
    Effect.gen(function* () {
      const { pipeline, keys } = yield* setup()
      yield* ingestAll(pipeline, [scan("p", "packed", 10), scan("d", "dispatched", 60)])
      expect(keys()).toEqual(["erp.writeTracking", "notifier.notify:dispatched"])
      const noted = yield* setup(new Flows.FlowConfig({ notes: ["dispatched"] }))
      yield* ingestAll(noted.pipeline, [scan("d", "dispatched", 60)])
      // The note is keyed by the milestone and the event that reached it.
      expect(noted.keys()).toEqual(["erp.postNote:reached:dispatched:d", "erp.writeTracking", "notifier.notify:dispatched"])
    })
  )

  it.effect("a dispatch or out-for-delivery first seen once the shipment is delivered is not notified; the delivery is", () =>
    Effect.gen(function* () {
      const notified = (keys: ReadonlyArray<string>) => keys.filter((k) => k.startsWith("notifier.notify:"))
      // The carrier's only scan is the delivery; its out-for-delivery scan of the morning comes after.
      const late = yield* setup()
      yield* ingestAll(late.pipeline, [scan("v", "delivered", 600), scan("o", "out_for_delivery", 500)])
      expect(notified(late.keys())).toEqual(["notifier.notify:delivered"])
      // The tracking is still written back.
      expect(late.keys()).toContain("erp.writeTracking")
      // In one batch, in time order, each is notified as it was then.
      const batched = yield* setup()
      yield* batched.pipeline.ingestMany([scan("d", "dispatched", 60), scan("o", "out_for_delivery", 500), scan("v", "delivered", 600)])
      expect(notified(batched.keys())).toEqual(["notifier.notify:dispatched", "notifier.notify:out_for_delivery", "notifier.notify:delivered"])
    })
  )

  it.effect("a tracking number registered after the dispatch is written back then, once", () =>
    Effect.gen(function* () {
      const base = intakeWith(2000)
      const { carrier: _carrier, trackingNumber: _tracking, ...untracked } = base.shipments[0]!
      const withoutTracking = new ErpPort.OrderIntake({ order: base.order, shipments: [new Shipment.Shipment(untracked)] })
      const store = (yield* MemoryStore.make) as MemoryStoreType.MemoryStore
      const pipeline = yield* Pipeline.make().pipe(Effect.provide(Layer.succeed(Store.Store, store)))
      const outbox = () => [...store.internals.outbox.values()].map((e) => e.action)
      const keys = () => outbox().map((a) => a.key.replace(`${shipmentId}:`, ""))
      // The warehouse knew the delivery by its reference only; its dispatch scan came first.
      yield* pipeline.register(withoutTracking)
      yield* ingestAll(pipeline, [scan("d", "dispatched", 60)])
      expect(keys()).not.toContain("erp.writeTracking")
      // The label is registered: its tracking number goes to the ERP delivery now.
      yield* pipeline.register(intakeWith(2000))
      const write = outbox().find((a) => a.kind === "erp.writeTracking")
      expect(write, "the tracking write-back").toBeDefined()
      expect(JSON.parse(write!.payload)).toMatchObject({ trackingNumber: base.shipments[0]!.trackingNumber })
      const settled = keys()
      yield* pipeline.register(intakeWith(2000))
      yield* ingestAll(pipeline, [scan("i", "in_transit", 100)])
      expect(keys().filter((k) => k === "erp.writeTracking")).toHaveLength(1)
      expect(settled.filter((k) => k === "erp.writeTracking")).toHaveLength(1)
    })
  )

  it.effect("a return is notified once when FlowConfig.notify lists `returned`, and not by default", () =>
    Effect.gen(function* () {
      const history = [scan("d", "dispatched", 60), exception("x", "refused", 300), scan("r1", "return_initiated", 320), scan("r2", "returned", 600)]
      const listed = yield* setup(new Flows.FlowConfig({ notify: ["dispatched", "exception", "returned"] }))
      yield* ingestAll(listed.pipeline, [...history, scan("r3", "returned", 610)])
      expect(listed.keys().filter((k) => k.startsWith("notifier.notify:"))).toEqual([
        "notifier.notify:dispatched",
        "notifier.notify:exception:x",
        "notifier.notify:returned"
      ])
      const request = listed.outbox().find((a) => a.key.endsWith(":notifier.notify:returned"))!
      expect(Schema.decodeUnknownSync(schemas[request.kind]!)(JSON.parse(request.payload))).toMatchObject({ template: "returned", status: "returned" })
      const byDefault = yield* setup()
      yield* ingestAll(byDefault.pipeline, history)
      expect(byDefault.keys()).not.toContain("notifier.notify:returned")
    })
  )

  it.effect("delivery validates, releases the invoice after the validation, and notifies", () =>
    Effect.gen(function* () {
      const { pipeline, outbox, keys } = yield* setup()
      yield* ingestAll(pipeline, [scan("d", "dispatched", 60), scan("v", "delivered", 600, { pod: true })])
      expect(keys()).toContain("erp.validateDelivery")
      const release = outbox().find((a) => a.kind === "erp.releaseInvoice")
      expect(release?.after).toBe(`${shipmentId}:erp.validateDelivery`)
      expect((yield* pipeline.record(shipmentId))?.billing.status).toBe("released")
      // Every payload decodes with the schema of its kind.
      for (const action of outbox()) {
        expect(() => Schema.decodeUnknownSync(schemas[action.kind]!)(JSON.parse(action.payload))).not.toThrow()
      }
    })
  )

  it.effect("billing is settled once per commit, over the final state: damage in the delivery's batch holds", () =>
    Effect.gen(function* () {
      // One webhook (one batch) reports the delivery and, after it, damage: the invoice is held.
      const batch = [scan("d", "dispatched", 60), scan("v", "delivered", 600, { pod: true }), exception("x", "damaged", 605)]
      const together = yield* setup()
      const { results } = yield* together.pipeline.ingestMany(batch)
      expect(results.map((r) => r.outcome)).toEqual(["Accepted", "Accepted", "Accepted"])
      expect(together.keys()).not.toContain("erp.releaseInvoice")
      expect((yield* together.pipeline.record(shipmentId))?.billing).toMatchObject({ status: "held", holds: ["open_damage"] })
      // One by one, the delivery's commit released it before the damage arrived (compensated by the case).
      const apart = yield* setup()
      yield* ingestAll(apart.pipeline, batch)
      expect(apart.keys()).toContain("erp.releaseInvoice")
      // In one batch the trigger reached and withdrawn again leaves nothing released and nothing held.
      const withdrawn = yield* setup()
      yield* withdrawn.pipeline.ingestMany([scan("v", "delivered", 600, { pod: true }), retraction("r", 620, "v")])
      expect(withdrawn.keys()).not.toContain("erp.releaseInvoice")
      expect((yield* withdrawn.pipeline.record(shipmentId))?.billing.status).toBe("waiting")
    })
  )

  it.effect("the same milestone reached again (other order, redelivery) enqueues nothing new", () =>
    Effect.gen(function* () {
      const { pipeline, keys } = yield* setup()
      yield* ingestAll(pipeline, [scan("v", "delivered", 600), scan("v2", "delivered", 610)])
      const first = keys()
      yield* ingestAll(pipeline, [scan("v", "delivered", 600)])
      expect(keys()).toEqual(first)
      expect(first.filter((k) => k === "erp.releaseInvoice")).toHaveLength(1)
    })
  )

  it.effect("an exception opens the case; a second one enriches it after the first; resolution updates it", () =>
    Effect.gen(function* () {
      const { pipeline, outbox } = yield* setup()
      yield* ingestAll(pipeline, [
        scan("i", "in_transit", 60),
        exception("x1", "delayed", 100),
        exception("x2", "address_issue", 120),
        scan("i2", "in_transit", 200)
      ])
      const cases = outbox().filter((a) => a.target === "helpdesk")
      expect(cases.map((a) => [a.kind, a.key.split(":").slice(2).join(":"), a.after?.split(":").slice(2).join(":")])).toEqual([
        ["helpdesk.openOrEnrich", "carrier:x1".replace("carrier:", ""), undefined],
        ["helpdesk.openOrEnrich", "x2", "x1"],
        ["helpdesk.update", "resolved:x1:i2", "x1"],
        ["helpdesk.update", "resolved:x2:i2", "x1"]
      ])
    })
  )

  it.effect("the customer is notified of an exception only while it is open: not one already resolved when it arrives", () =>
    Effect.gen(function* () {
      // The carrier's "delayed" scan of 9:00 arrives after the delivery of 18:00 was notified.
      const late = yield* setup()
      yield* ingestAll(late.pipeline, [scan("i", "in_transit", 100), scan("v", "delivered", 600), exception("x", "delayed", 300)])
      expect(late.keys()).toContain("notifier.notify:delivered")
      expect(late.keys()).not.toContain("notifier.notify:exception:x")
      // Support still hears of it (opened and resolved in one go).
      expect(late.keys()).toContain("helpdesk.openOrEnrich:x")
      // Batched the same way: the next scan came first.
      const batched = yield* setup()
      yield* batched.pipeline.ingestMany([scan("i", "in_transit", 400), exception("x", "delayed", 300)])
      expect(batched.keys()).not.toContain("notifier.notify:exception:x")
      // In its time it is notified, once.
      const inOrder = yield* setup()
      yield* ingestAll(inOrder.pipeline, [exception("x", "delayed", 300), scan("i", "in_transit", 400), exception("x", "delayed", 300)])
      expect(inOrder.keys().filter((k) => k.startsWith("notifier.notify:exception"))).toEqual(["notifier.notify:exception:x"])
    })
  )

  it.effect("no exception is notified on a shipment cancelled or on its way back to the sender; the case still hears of it", () =>
    Effect.gen(function* () {
      const notified = (keys: ReadonlyArray<string>) => keys.filter((k) => k.startsWith("notifier.notify:exception"))
      // Refused at the door (notified), then a delay on the return leg.
      const returning = yield* setup()
      yield* ingestAll(returning.pipeline, [
        scan("d", "dispatched", 60),
        exception("x", "refused", 300),
        scan("r", "return_initiated", 320),
        exception("y", "delayed", 400)
      ])
      expect(notified(returning.keys())).toEqual(["notifier.notify:exception:x"])
      expect(returning.keys()).toContain("helpdesk.openOrEnrich:y")
      // Cancelled before its dispatch, and then an exception scan.
      const cancelled = yield* setup()
      yield* ingestAll(cancelled.pipeline, [scan("c", "cancelled", 50), exception("y", "address_issue", 70)])
      expect(notified(cancelled.keys())).toEqual([])
      expect(cancelled.keys()).toContain("helpdesk.openOrEnrich:y")
    })
  )

  it.effect("the case ends resolved whatever the order of the delivery and exceptions resolved after it", () =>
    Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(
          // A delay resolved by the delivery, and a damage reported after the delivery, then cleared.
          Histories.permutation([
            scan("i", "in_transit", 60),
            exception("x1", "delayed", 100),
            scan("v", "delivered", 600),
            exception("x2", "damaged", 700),
            cleared("c", 800)
          ]),
          (events) =>
            Effect.runPromise(
              Effect.gen(function* () {
                const { outbox, pipeline } = yield* setup()
                yield* ingestAll(pipeline, events)
                // The helpdesk as the dispatcher drives it: an open (re)opens, a resolving update closes.
                let open: boolean | undefined
                for (const action of outbox()) {
                  if (action.kind === "helpdesk.openOrEnrich") open = true
                  if (action.kind === "helpdesk.update" && JSON.parse(action.payload).resolve === true) open = false
                }
                expect(open).toBe(false)
              })
            )
        ),
        { numRuns: 40 }
      )
    )
  )

  /** The helpdesk as the dispatcher drives it: an open (re)opens, a resolving update closes; undefined: no case. */
  const caseOpen = (actions: ReadonlyArray<{ readonly kind: string; readonly payload: string }>) => {
    let open: boolean | undefined
    for (const action of actions) {
      if (action.kind === "helpdesk.openOrEnrich") open = true
      if (action.kind === "helpdesk.update" && JSON.parse(action.payload).resolve === true) open = false
    }
    return open
  }

  it.effect("a delivered shipment's case closes when the carrier withdraws its only open exception", () =>
    Effect.gen(function* () {
      // Delivered, then a damage reported after the delivery (open), then withdrawn by the carrier.
      const { outbox, pipeline } = yield* setup()
      yield* ingestAll(pipeline, [scan("v", "delivered", 600), exception("x", "damaged", 700), retraction("r", 710, "x")])
      expect(caseOpen(outbox())).toBe(false)
    })
  )

  it.effect("the case of a withdrawn exception ends as the state says whatever the arrival order", () =>
    Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(
          Histories.permutation([
            scan("i", "in_transit", 60),
            scan("v", "delivered", 600),
            exception("x", "damaged", 700),
            retraction("r", 710, "x")
          ]),
          (events) =>
            Effect.runPromise(
              Effect.gen(function* () {
                const { outbox, pipeline } = yield* setup()
                yield* ingestAll(pipeline, events)
                // Nothing is open at the end: a case, if one was opened, is closed.
                expect(caseOpen(outbox())).not.toBe(true)
              })
            )
        ),
        { numRuns: 60 }
      )
    )
  )

  it.effect("a withdrawn clearance reopens the case of a delivered shipment whatever the arrival order", () =>
    Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(
          // A damage after the delivery, cleared (the case closes), then the clearance withdrawn.
          Histories.permutation([
            scan("v", "delivered", 600),
            exception("x", "damaged", 700),
            cleared("c", 800),
            retraction("r", 810, "c")
          ]),
          (events) =>
            Effect.runPromise(
              Effect.gen(function* () {
                const { outbox, pipeline } = yield* setup()
                yield* ingestAll(pipeline, events)
                const record = yield* pipeline.record(shipmentId)
                expect(ShipmentState.openExceptions(record!.state.view).map((e) => e.eventId)).toEqual(["x"])
                expect(caseOpen(outbox())).toBe(true)
              })
            )
        ),
        { numRuns: 60 }
      )
    )
  )

  it.effect("an exception whose withdrawal is displaced by a conflicting copy of its id reopens the closed case", () =>
    Effect.gen(function* () {
      // The retraction `r` closes the case (nothing open on a delivered shipment); then a copy of
      // `r` with other content, a clearance of delays only, arrives: its content sorts first, so
      // it is kept and `r` withdraws nothing. The damage holds again, and its case must be open.
      const history = [scan("v", "delivered", 600), exception("x", "damaged", 700), retraction("r", 710, "x"), cleared("r", 710, ["delayed"])]
      const { keys, outbox, pipeline } = yield* setup()
      yield* ingestAll(pipeline, history)
      const record = yield* pipeline.record(shipmentId)
      expect(ShipmentState.openExceptions(record!.state.view).map((e) => e.eventId)).toEqual(["x"])
      expect(caseOpen(outbox())).toBe(true)
      // The second opening is keyed by the exception and the copy that made it hold again.
      const opened = keys().filter((k) => k.startsWith("helpdesk.openOrEnrich:"))
      expect(opened).toHaveLength(2)
      expect(opened[0]).toBe("helpdesk.openOrEnrich:x")
      expect(opened[1]).toMatch(/^helpdesk\.openOrEnrich:x:r~[0-9a-f]+$/)
      // The other order: the clearance is kept first and the retraction never withdraws the damage.
      const other = yield* setup()
      yield* ingestAll(other.pipeline, [history[0]!, history[1]!, history[3]!, history[2]!])
      expect(caseOpen(other.outbox())).toBe(true)
      expect(other.keys().filter((k) => k.startsWith("helpdesk."))).toEqual(["helpdesk.openOrEnrich:x"])
    })
  )

  it.effect("the case follows the state whatever the order of a retraction and conflicting copies of its id", () =>
    Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(
          // A damage after the delivery, withdrawn by `r`; other copies of `r` with other content
          // (an exception or a clearance sorts before the retraction and displaces it, a scan sorts
          // after it and is only recorded); maybe a retraction of `r` (it withdraws the copy kept as
          // `r`, unless that is the retraction itself), and redeliveries of any event.
          FastCheck.record({
            copies: FastCheck.subarray([
              exception("r", "delayed", 710),
              exception("r", "lost", 705),
              cleared("r", 710, ["delayed"]),
              cleared("r", 720),
              scan("r", "in_transit", 710),
              scan("r", "out_for_delivery", 620)
            ], { minLength: 1 }),
            retractsRetraction: FastCheck.boolean(),
            duplicates: FastCheck.array(FastCheck.nat(7), { maxLength: 3 }),
            // Webhooks of this many events (the last size repeats): one commit plans each in turn.
            sizes: FastCheck.array(FastCheck.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 })
          }).chain(({ copies, duplicates, retractsRetraction, sizes }) => {
            const events: Array<ShipmentEvent.ShipmentEvent> = [
              scan("v", "delivered", 600),
              exception("x", "damaged", 700),
              retraction("r", 710, "x"),
              ...copies,
              ...(retractsRetraction ? [retraction("rr", 730, "r")] : [])
            ]
            return Histories.permutation([...events, ...duplicates.map((i) => events[i % events.length]!)]).map((events) => ({
              events,
              sizes
            }))
          }),
          ({ events, sizes }) =>
            Effect.runPromise(
              Effect.gen(function* () {
                const { outbox, pipeline, store } = yield* setup()
                yield* ingestInBatches(pipeline, events, sizes)
                const record = yield* pipeline.record(shipmentId)
                const open = ShipmentState.openExceptions(record!.state.view).length > 0
                // A delivered shipment's case is open exactly while an exception is.
                expect(caseOpen(outbox()) === true).toBe(open)
                // At the far side too, with every effect carried out once, even when every event
                // is delivered again after the outbox drained.
                const fakes = FakePorts.make()
                const drain = Effect.gen(function* () {
                  const dispatcher = yield* Dispatcher.make({ concurrency: 1 })
                  yield* dispatcher.drain()
                }).pipe(Effect.scoped, Effect.provide(Layer.merge(Layer.succeed(Store.Store, store), fakes.layer)))
                yield* drain
                const effects = fakes.effects.length
                yield* ingestAll(pipeline, events)
                yield* drain
                expect(fakes.effects).toHaveLength(effects)
                const keys = fakes.effects.map((e) => e.key)
                expect(new Set(keys).size).toBe(keys.length)
                expect(fakes.cases.get(shipmentId)?.resolved === false).toBe(open)
              })
            )
        ),
        { numRuns: 200 }
      )
    )
  )

  it.effect("a case payload carries no street, postal code, full phone or email under the default policy", () =>
    Effect.gen(function* () {
      const { pipeline, outbox } = yield* setup()
      yield* ingestAll(pipeline, [scan("i", "in_transit", 60), exception("x", "damaged", 100)])
      const open = outbox().find((a) => a.kind === "helpdesk.openOrEnrich")!
      const context = JSON.parse(open.payload).context
      const info = yield* pipeline.info(shipmentId)
      const customer = info!.customer!
      expect(context.customerName).toBe(customer.name)
      expect(context.customerEmail).toMatch(/^.\*\*\*@example\.com$/)
      expect(context.customerEmail).not.toBe(customer.email)
      expect(context.customerPhone).toMatch(/^\+\*\*\* \*\*\*\d\d$/)
      expect(context.shipToStreet).toBeUndefined()
      expect(context.shipToPostalCode).toBeUndefined()
      expect(context.shipToCity).toBe(info!.shipment.shipTo.city)
      expect(open.payload).not.toContain(customer.email!)
      expect(open.payload).not.toContain(info!.shipment.shipTo.street)
      expect(open.payload).not.toContain(info!.shipment.shipTo.postalCode!)
      // A policy that allows them passes them on.
      const open2 = yield* setup(
        new Flows.FlowConfig({
          privacy: {
            helpdesk: { name: "keep", email: "keep", phone: "keep", street: "keep", postal_code: "keep" },
            notifier: {},
            finance: {}
          }
        })
      ).pipe(
        Effect.tap(({ pipeline }) => ingestAll(pipeline, [scan("i", "in_transit", 60), exception("x", "damaged", 100)])),
        Effect.map(({ outbox }) => JSON.parse(outbox().find((a) => a.kind === "helpdesk.openOrEnrich")!.payload).context)
      )
      expect(open2.customerEmail).toBe(customer.email)
      expect(open2.shipToStreet).toBe(info!.shipment.shipTo.street)
    })
  )

  it.effect("Flows.caseContext is minimized: the helpdesk default policy, or the one given", () =>
    Effect.gen(function* () {
      const { pipeline } = yield* setup()
      yield* ingestAll(pipeline, [scan("i", "in_transit", 60), exception("x", "damaged", 100)])
      const info = (yield* pipeline.info(shipmentId))!
      const state = (yield* pipeline.record(shipmentId))!.state
      const customer = info.customer!
      const context = Flows.caseContext(info, state)
      expect(context.customerName).toBe(customer.name)
      expect(context.customerEmail).toMatch(/^.\*\*\*@example\.com$/)
      expect(context.customerPhone).toMatch(/^\+\*\*\* \*\*\*\d\d$/)
      expect(context.shipToStreet).toBeUndefined()
      expect(context.shipToPostalCode).toBeUndefined()
      expect(JSON.stringify(context)).not.toContain(customer.email!)
      expect(JSON.stringify(context)).not.toContain(info.shipment.shipTo.street)
      const open = Flows.caseContext(info, state, { email: "keep", street: "keep" })
      expect(open.customerEmail).toBe(customer.email)
      expect(open.shipToStreet).toContain(info.shipment.shipTo.street)
      expect(open.customerName).toBeUndefined() // a kind the policy does not list is dropped
    })
  )

  it.effect("a carrier's free-text description and facility (personal data) never reach the helpdesk case", () =>
    Effect.gen(function* () {
      const { outbox, pipeline } = yield* setup()
      const { _tag, ...damaged } = exception("x", "damaged", 100)
      const said = "Left with neighbour Jonathan Smithers at no. 12"
      const where = "Porch of 12 Privet Drive"
      yield* ingestAll(pipeline, [
        scan("i", "in_transit", 60),
        new ShipmentEvent.ExceptionReported({
          ...damaged,
          raw: new ShipmentEvent.RawCode({ code: "DMG", description: said }),
          location: new ShipmentEvent.Location({ facility: where, city: "Little Whinging", country: "GB" })
        })
      ])
      const info = (yield* pipeline.info(shipmentId))!
      const state = (yield* pipeline.record(shipmentId))!.state
      const payloads = outbox().filter((a) => a.target === "helpdesk").map((a) => a.payload)
      expect(payloads.length).toBeGreaterThan(0)
      for (const text of [...payloads, JSON.stringify(Flows.caseContext(info, state))]) {
        expect(text).not.toContain("Smithers")
        expect(text).not.toContain("Privet")
      }
      // what support still sees: the exception, its vendor code, where it was last scanned
      const context = Flows.caseContext(info, state)
      expect(context.exceptions).toEqual([expect.objectContaining({ kind: "damaged", code: "DMG", open: true })])
      expect(context.lastCity).toBe("Little Whinging")
      expect(context.nextAction).toMatch(/damage claim/)
    })
  )

  it.effect("generated histories: no personal data leaves for a helpdesk, notifier or finance system outside the default policy", () => {
    // What each destination may see of the customer and the delivery address (Privacy.defaults):
    // the helpdesk masked contacts and no address lines, the notifier contacts and no address,
    // finance the address and no contacts.
    const flows = new Flows.FlowConfig({
      notify: ["dispatched", "out_for_delivery", "delivered", "exception", "returned"],
      targets: { helpdesk: true, notifier: true, finance: true },
      billing: new Flows.BillingPolicy({ target: "finance" })
    })
    const seen = new Set<string>()
    return Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(Histories.arbitrary(), (history) =>
          Effect.runPromise(
            Effect.gen(function* () {
              const store = (yield* MemoryStore.make) as MemoryStoreType.MemoryStore
              const pipeline = yield* Pipeline.make({ flows }).pipe(Effect.provide(Layer.succeed(Store.Store, store)))
              yield* pipeline.register(Histories.intake(history, 1))
              yield* Effect.forEach(history.events, (e) => Effect.either(pipeline.ingest(e)))
              const info = (yield* pipeline.info(history.shipmentId))!
              const customer = info.customer!
              const shipTo = info.shipment.shipTo
              const contacts = [customer.email!, customer.phone!]
              const address = [shipTo.street, ...(shipTo.street2 !== undefined ? [shipTo.street2] : []), shipTo.postalCode!]
              const forbidden: Record<string, ReadonlyArray<string>> = {
                helpdesk: [...contacts, ...address],
                notifier: address,
                finance: contacts
              }
              for (const action of store.internals.outbox.values()) {
                const { target, payload } = action.action
                if (target === "erp" || target === "carrier") continue
                seen.add(target)
                for (const value of forbidden[target]!) expect(payload, `${action.action.kind}: ${value}`).not.toContain(value)
              }
            })
          )),
        { numRuns: 100 }
      )
    ).pipe(Effect.tap(() => expect([...seen].sort()).toEqual(["finance", "helpdesk", "notifier"])))
  })

  it.effect("billing target finance with no finance port wired: never invoiced in the ERP; dead-lettered, released once by replay with the port", () =>
    Effect.gen(function* () {
      // An Effect host that chose finance billing and forgot `targets.finance` (or the port).
      const flows = new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ target: "finance" }) })
      const { keys, store } = yield* setup(flows)
      const pipeline = yield* Pipeline.make({ flows }).pipe(Effect.provide(Layer.succeed(Store.Store, store)))
      yield* ingestAll(pipeline, [scan("d", "dispatched", 100), scan("v", "delivered", 600)])
      expect(keys()).toContain("finance.releaseInvoice")
      expect(keys()).not.toContain("erp.releaseInvoice")
      const fakes = FakePorts.make()
      const { erp, helpdesk, notifier } = fakes
      const withoutFinance = Layer.mergeAll(
        Layer.succeed(Store.Store, store),
        Layer.succeed(ErpPort.ErpPort, erp),
        Layer.succeed(HelpdeskPort.HelpdeskPort, helpdesk),
        Layer.succeed(Notifier.Notifier, notifier)
      )
      yield* Effect.scoped(Effect.flatMap(Dispatcher.make({ idleMillis: 1 }), (d) => d.drain())).pipe(Effect.provide(withoutFinance))
      const letters = (yield* store.deadLetters({ limit: 100 })).filter((l) => l.target === "finance")
      expect(letters.map((l) => l.id)).toEqual([`${shipmentId}:finance.releaseInvoice`])
      expect(letters[0]!.error).toMatch(/no FinancePort is wired/)
      expect(fakes.effects.filter((e) => e.operation === "releaseInvoice")).toEqual([])
      // The host wires the port and replays: released once, in the finance system.
      const wired = Layer.mergeAll(withoutFinance, fakes.layer, Layer.succeed(Pipeline.Pipeline, pipeline))
      yield* DeadLetters.replay({ target: "finance" }, "ops@example.com").pipe(Effect.provide(wired))
      yield* Effect.scoped(Effect.flatMap(Dispatcher.make({ idleMillis: 1 }), (d) => d.drain())).pipe(Effect.provide(wired))
      expect(fakes.effects.filter((e) => e.operation === "releaseInvoice").map((e) => e.port)).toEqual(["finance"])
    })
  )

  it.effect("billing holds for a missing POD, releases when it arrives", () =>
    Effect.gen(function* () {
      const { pipeline, keys } = yield* setup(
        new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ requirePod: true }) })
      )
      yield* ingestAll(pipeline, [scan("v", "delivered", 600)])
      expect((yield* pipeline.record(shipmentId))?.billing).toMatchObject({ status: "held", holds: ["missing_pod"] })
      expect(keys()).toContain("erp.postNote:hold:missing_pod")
      expect(keys()).not.toContain("erp.releaseInvoice")
      yield* ingestAll(pipeline, [scan("v2", "delivered", 650, { pod: true })])
      expect((yield* pipeline.record(shipmentId))?.billing.status).toBe("released")
      expect(keys()).toContain("erp.releaseInvoice")
    })
  )

  it.effect("billing holds on weight out of tolerance and on damage until approved", () =>
    Effect.gen(function* () {
      const { pipeline, keys } = yield* setup(
        new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ weightTolerancePerMille: 50 }) }),
        2000
      )
      const packed = new ShipmentEvent.StatusReported({ ...scan("k", "packed", 10), weight: Weight.Grams.make(2300) })
      yield* ingestAll(pipeline, [packed, scan("v", "delivered", 600), exception("dmg", "damaged", 700)])
      expect((yield* pipeline.record(shipmentId))?.billing.holds).toEqual(["weight_out_of_tolerance", "open_damage"])
      yield* pipeline.approve(shipmentId, "weight", "ops@example.com")
      // The damage reported after delivery is still open: it still holds.
      expect((yield* pipeline.record(shipmentId))?.billing).toMatchObject({ status: "held", holds: ["open_damage"] })
      expect(keys()).not.toContain("erp.releaseInvoice")
      const billing = yield* pipeline.approve(shipmentId, "damage", "ops@example.com")
      expect(billing.status).toBe("released")
      expect(keys()).toContain("erp.releaseInvoice")
    })
  )

  it.effect("a shipment of several parcels is held on weight only when one parcel alone outweighs the whole declared weight", () =>
    Effect.gen(function* () {
      // Two parcels declared 10 kg in all: a carrier weighs each parcel, and one parcel's 5.2 kg is
      // no deviation from the shipment's 10 kg.
      const policy = new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ weightTolerancePerMille: 50 }) })
      const light = yield* setup(policy, 10_000, 2)
      const parcel = new ShipmentEvent.StatusReported({ ...scan("k", "in_transit", 10), weight: Weight.Grams.make(5200) })
      yield* ingestAll(light.pipeline, [parcel, scan("v", "delivered", 600)])
      expect((yield* light.pipeline.record(shipmentId))?.billing.status).toBe("released")
      // One parcel weighing more than the whole declared shipment is certainly over: held.
      const heavy = yield* setup(policy, 10_000, 2)
      const over = new ShipmentEvent.StatusReported({ ...scan("k", "in_transit", 10), weight: Weight.Grams.make(10_600) })
      yield* ingestAll(heavy.pipeline, [over, scan("v", "delivered", 600)])
      expect((yield* heavy.pipeline.record(shipmentId))?.billing).toMatchObject({ status: "held", holds: ["weight_out_of_tolerance"] })
    })
  )

  it.effect("no declared weight (0 g) is nothing to compare with; a 0 g scan is no measurement", () =>
    Effect.gen(function* () {
      const policy = new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ weightTolerancePerMille: 50 }) })
      // Odoo declares 0 for a delivery whose products have no weight: released, not held forever.
      const undeclared = yield* setup(policy, 0)
      const weighed = new ShipmentEvent.StatusReported({ ...scan("k", "in_transit", 10), weight: Weight.Grams.make(2300) })
      yield* ingestAll(undeclared.pipeline, [weighed, scan("v", "delivered", 600)])
      expect((yield* undeclared.pipeline.record(shipmentId))?.billing.status).toBe("released")
      // A later scan reporting 0 g does not replace the 2,300 g measured: still out of tolerance.
      const declared = yield* setup(policy, 2000)
      const zero = new ShipmentEvent.StatusReported({ ...scan("z", "out_for_delivery", 300), weight: Weight.Grams.make(0) })
      yield* ingestAll(declared.pipeline, [weighed, zero, scan("v", "delivered", 600)])
      const record = yield* declared.pipeline.record(shipmentId)
      expect(record?.state.view.measuredWeight).toBe(2300)
      expect(record?.billing).toMatchObject({ status: "held", holds: ["weight_out_of_tolerance"] })
    })
  )

  it.effect("a deviation just above the weight tolerance holds (no rounding down to the tolerance)", () =>
    Effect.gen(function* () {
      // 151 g on 3,000 g is 50.33 per mille: more than a tolerance of 50.
      const { pipeline, keys } = yield* setup(
        new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ weightTolerancePerMille: 50 }) }),
        3000
      )
      const packed = new ShipmentEvent.StatusReported({ ...scan("k", "packed", 10), weight: Weight.Grams.make(3151) })
      yield* ingestAll(pipeline, [packed, scan("v", "delivered", 600)])
      expect((yield* pipeline.record(shipmentId))?.billing).toMatchObject({ status: "held", holds: ["weight_out_of_tolerance"] })
      expect(keys()).not.toContain("erp.releaseInvoice")
    })
  )

  it.effect("weight holds exactly when the deviation exceeds the tolerance", () =>
    Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(
          FastCheck.integer({ min: 1, max: 200_000 }),
          FastCheck.integer({ min: 0, max: 1000 }),
          // Mostly around the boundary, where the limit is exact or just crossed, above and below.
          FastCheck.oneof(
            FastCheck.record({ near: FastCheck.constant(true), delta: FastCheck.integer({ min: -2, max: 2 }), up: FastCheck.boolean() }),
            FastCheck.record({ near: FastCheck.constant(false), delta: FastCheck.integer({ min: 0, max: 400_000 }), up: FastCheck.boolean() })
          ),
          (declared, tolerance, { delta, near, up }) => {
            const limit = Math.floor((tolerance * declared) / 1000)
            const measured = near ? Math.max(0, declared + (up ? 1 : -1) * Math.max(0, limit + delta)) : delta
            return Effect.runPromise(
              Effect.gen(function* () {
                const { pipeline } = yield* setup(
                  new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ weightTolerancePerMille: tolerance }) }),
                  declared
                )
                const packed = new ShipmentEvent.StatusReported({ ...scan("k", "packed", 10), weight: Weight.Grams.make(measured) })
                yield* ingestAll(pipeline, [packed, scan("v", "delivered", 600)])
                // A 0 g scan is no measurement.
                const held = measured > 0 && Math.abs(measured - declared) * 1000 > tolerance * declared
                expect((yield* pipeline.record(shipmentId))?.billing.status).toBe(held ? "held" : "released")
              })
            )
          }
        ),
        { numRuns: 200 }
      )
    )
  )

  it.effect("a withdrawn POD after a release that required it opens a case", () =>
    Effect.gen(function* () {
      const { pipeline, keys } = yield* setup(new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ requirePod: true }) }))
      yield* ingestAll(pipeline, [scan("v", "delivered", 600), scan("v2", "delivered", 650, { pod: true })])
      expect((yield* pipeline.record(shipmentId))?.billing.status).toBe("released")
      const result = yield* pipeline.ingest(retraction("fix", 660, "v2"))
      expect(result.retracted).toEqual(["pod"])
      // The invoice was released on the POD, which no longer holds: checked through a case.
      expect(keys()).toContain("helpdesk.openOrEnrich:withdrawn:pod:fix")
      expect((yield* pipeline.record(shipmentId))?.billing.status).toBe("released")
    })
  )

  it.effect("an approval given while its hold is not raised does not lift a later hold", () =>
    Effect.gen(function* () {
      const { pipeline, keys } = yield* setup(new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ requirePod: true }) }))
      yield* ingestAll(pipeline, [scan("v", "delivered", 600)])
      expect((yield* pipeline.record(shipmentId))?.billing).toMatchObject({ status: "held", holds: ["missing_pod"] })
      // Nothing is damaged yet: there is no damage hold to approve.
      yield* pipeline.approve(shipmentId, "damage", "ops@example.com")
      // Damage reported after the delivery, then the POD (of a scan before the damage) arrives.
      yield* ingestAll(pipeline, [exception("dmg", "damaged", 620), scan("v2", "delivered", 610, { pod: true })])
      expect((yield* pipeline.record(shipmentId))?.billing).toMatchObject({ status: "held", holds: ["open_damage"] })
      expect(keys()).not.toContain("erp.releaseInvoice")
      // Approving the raised hold releases.
      expect((yield* pipeline.approve(shipmentId, "damage", "ops@example.com")).status).toBe("released")
      expect(keys()).toContain("erp.releaseInvoice")
    })
  )

  it.effect("a damage approval covers the damage it was given for, not one reported after it", () =>
    Effect.gen(function* () {
      const { pipeline, keys } = yield* setup(new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ requirePod: true }) }))
      yield* ingestAll(pipeline, [scan("v", "delivered", 600), exception("dmg1", "damaged", 605)])
      expect((yield* pipeline.record(shipmentId))?.billing).toMatchObject({ status: "held", holds: ["missing_pod", "open_damage"] })
      // The operator approves the first damage; the POD is still missing.
      expect(yield* pipeline.approve(shipmentId, "damage", "ops@example.com")).toMatchObject({ status: "held", holds: ["missing_pod"] })
      // A second damage, then the POD: the second damage was never approved.
      yield* ingestAll(pipeline, [exception("dmg2", "damaged", 615), scan("v2", "delivered", 610, { pod: true })])
      expect((yield* pipeline.record(shipmentId))?.billing).toMatchObject({ status: "held", holds: ["open_damage"] })
      expect(keys()).not.toContain("erp.releaseInvoice")
      // Approving it releases.
      expect((yield* pipeline.approve(shipmentId, "damage", "ops@example.com")).status).toBe("released")
      expect(keys()).toContain("erp.releaseInvoice")
    })
  )

  it.effect("a weight approval covers the weight it was given for, not a later measurement", () =>
    Effect.gen(function* () {
      const weighed = (id: string, minutes: number, grams: number, pod = false) =>
        new ShipmentEvent.StatusReported({ ...scan(id, "delivered", minutes, { pod }), weight: Weight.Grams.make(grams) })
      const { pipeline, keys } = yield* setup(
        new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ requirePod: true, weightTolerancePerMille: 50 }) })
      )
      yield* ingestAll(pipeline, [weighed("v", 600, 2200)])
      expect((yield* pipeline.record(shipmentId))?.billing).toMatchObject({
        status: "held",
        holds: ["missing_pod", "weight_out_of_tolerance"]
      })
      // The operator accepts 2,200 g against the declared 2,000 g.
      expect(yield* pipeline.approve(shipmentId, "weight", "ops@example.com")).toMatchObject({ holds: ["missing_pod"] })
      // A re-weigh at 2,600 g arrives with the POD: that weight was never approved.
      yield* ingestAll(pipeline, [weighed("v2", 620, 2600, true)])
      expect((yield* pipeline.record(shipmentId))?.billing).toMatchObject({ status: "held", holds: ["weight_out_of_tolerance"] })
      expect(keys()).not.toContain("erp.releaseInvoice")
      expect((yield* pipeline.approve(shipmentId, "weight", "ops@example.com")).status).toBe("released")
      expect(keys()).toContain("erp.releaseInvoice")
    })
  )

  it.effect("a withdrawn delivery after the invoice was released opens a case; never undone silently", () =>
    Effect.gen(function* () {
      const { pipeline, keys } = yield* setup()
      yield* ingestAll(pipeline, [scan("o", "out_for_delivery", 500), scan("bad", "delivered", 600)])
      expect((yield* pipeline.record(shipmentId))?.billing.status).toBe("released")
      const result = yield* pipeline.ingest(retraction("fix", 610, "bad"))
      expect(result.retracted).toEqual(["reached:delivered"])
      expect(keys()).toContain("erp.postNote:withdrawn:reached:delivered:fix")
      expect(keys()).toContain("helpdesk.openOrEnrich:withdrawn:reached:delivered:fix")
      // The invoice is not taken back.
      expect((yield* pipeline.record(shipmentId))?.billing.status).toBe("released")
    })
  )

  it.effect("a withdrawn delivery the customer was notified of opens the case for support; nothing sent to the customer", () =>
    Effect.gen(function* () {
      const caseNotes = (actions: ReadonlyArray<{ readonly kind: string; readonly key: string; readonly payload: string }>) =>
        actions
          .filter((a) => a.kind === "helpdesk.openOrEnrich")
          .map((a) => [a.key.replace(`${shipmentId}:`, ""), JSON.parse(a.payload).note as string] as const)
      const history = [scan("o", "out_for_delivery", 500), scan("bad", "delivered", 600)]
      // (1) Notified of the delivery, invoice not released (a POD is required): the case says so.
      const podPolicy = new Flows.BillingPolicy({ requirePod: true })
      const told = yield* setup(new Flows.FlowConfig({ billing: podPolicy }))
      yield* ingestAll(told.pipeline, history)
      expect(told.keys()).toContain("notifier.notify:delivered")
      expect((yield* told.pipeline.record(shipmentId))?.billing.status).toBe("held")
      const before = told.keys()
      const result = yield* told.pipeline.ingest(retraction("fix", 610, "bad"))
      expect(result.retracted).toEqual(["reached:delivered"])
      const cases = caseNotes(told.outbox())
      expect(cases.map(([k]) => k)).toEqual(["helpdesk.openOrEnrich:withdrawn:reached:delivered:fix"])
      expect(cases[0]![1]).toMatch(/customer was notified that the parcel was delivered/)
      expect(cases[0]![1]).not.toMatch(/invoice/i)
      // Nothing goes to the customer on the withdrawal; it is no billing compensation.
      const added = told.keys().filter((k) => !before.includes(k))
      expect(added.some((k) => k.startsWith("notifier."))).toBe(false)
      // (4) The retraction delivered again enqueues nothing new.
      const settled = told.keys()
      yield* ingestAll(told.pipeline, [retraction("fix", 610, "bad"), ...history])
      expect(told.keys()).toEqual(settled)

      // (2) The invoice was released on the delivery too: one case action that names both facts.
      const both = yield* setup()
      yield* ingestAll(both.pipeline, [...history, retraction("fix", 610, "bad")])
      const bothCases = caseNotes(both.outbox())
      expect(bothCases.map(([k]) => k)).toEqual(["helpdesk.openOrEnrich:withdrawn:reached:delivered:fix"])
      expect(bothCases[0]![1]).toMatch(/invoice was released/)
      expect(bothCases[0]![1]).toMatch(/customer was notified that the parcel was delivered/)

      // (3) No notifier wired, or delivered notifications off: no customer case (the invoice's alone when released).
      for (const config of [
        new Flows.FlowConfig({ billing: podPolicy, targets: { helpdesk: true, notifier: false, finance: false } }),
        new Flows.FlowConfig({ billing: podPolicy, notify: ["dispatched", "out_for_delivery", "exception"] })
      ]) {
        const quiet = yield* setup(config)
        yield* ingestAll(quiet.pipeline, [...history, retraction("fix", 610, "bad")])
        expect(quiet.keys()).not.toContain("notifier.notify:delivered")
        expect(caseNotes(quiet.outbox())).toEqual([])
      }
      const silentReleased = yield* setup(new Flows.FlowConfig({ targets: { helpdesk: true, notifier: false, finance: false } }))
      yield* ingestAll(silentReleased.pipeline, [...history, retraction("fix", 610, "bad")])
      const invoiceOnly = caseNotes(silentReleased.outbox())
      expect(invoiceOnly).toHaveLength(1)
      expect(invoiceOnly[0]![1]).not.toMatch(/customer/)
      // A withdrawn "out for delivery" opens no case (see `Flows.plan`).
      const ofd = yield* setup(new Flows.FlowConfig({ billing: podPolicy }))
      yield* ingestAll(ofd.pipeline, [history[0]!, retraction("fix", 510, "o")])
      expect(ofd.keys()).toContain("notifier.notify:out_for_delivery")
      expect(caseNotes(ofd.outbox())).toEqual([])
    })
  )

  it.effect("a withdrawn notified delivery: one case action per withdrawal, whatever the arrival order or batching", () =>
    Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(
          FastCheck.record({
            events: Histories.permutation([scan("o", "out_for_delivery", 500), scan("bad", "delivered", 600), retraction("fix", 610, "bad")]),
            sizes: FastCheck.array(FastCheck.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 })
          }),
          ({ events, sizes }) =>
            Effect.runPromise(
              Effect.gen(function* () {
                const { keys, pipeline } = yield* setup(new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ requirePod: true }) }))
                const results = yield* ingestInBatches(pipeline, events, sizes)
                const withdrew = results.some((r) => r.retracted.includes("reached:delivered"))
                const notified = keys().includes("notifier.notify:delivered")
                const cases = keys().filter((k) => k.startsWith("helpdesk.openOrEnrich:"))
                // A case exactly when the customer was told of the delivery and it was withdrawn.
                expect(cases).toEqual(withdrew && notified ? ["helpdesk.openOrEnrich:withdrawn:reached:delivered:fix"] : [])
                const settled = keys()
                yield* ingestAll(pipeline, events)
                expect(keys()).toEqual(settled)
              })
            )
        ),
        { numRuns: 40 }
      )
    )
  )

  /** A carrier scan of `status` that carries a measured weight. */
  const weighedScan = (id: string, status: "packed" | "in_transit" | "delivered", minutes: number, grams: number, pod = false) =>
    new ShipmentEvent.StatusReported({ ...scan(id, status, minutes, { pod }), weight: Weight.Grams.make(grams) })
  const tolerance50 = new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ weightTolerancePerMille: 50 }) })

  it.effect("a weight out of tolerance measured after the invoice was released opens the case with the figures; never undone, no notification", () =>
    Effect.gen(function* () {
      const { keys, outbox, pipeline } = yield* setup(tolerance50, 2000)
      yield* ingestAll(pipeline, [scan("d", "dispatched", 60), scan("v", "delivered", 600, { pod: true })])
      expect((yield* pipeline.record(shipmentId))?.billing.status).toBe("released")
      const before = keys()
      const counted = Metric.tagged(Metrics.compensations, "reason", "weight_out_of_tolerance")
      const countedBefore = (yield* Metric.value(counted)).count
      // The carrier's re-weigh arrives after the release: 2,300 g against 2,000 g declared (150 ‰).
      const result = yield* pipeline.ingest(weighedScan("w", "delivered", 610, 2300))
      // Counted once, also when the same measurement comes again.
      yield* pipeline.ingest(weighedScan("w", "delivered", 610, 2300))
      expect((yield* Metric.value(counted)).count - countedBefore).toBe(1)
      expect(result.reached).toEqual([])
      const added = keys().filter((k) => !before.includes(k))
      expect(added).toEqual(["helpdesk.openOrEnrich:weight:w:2300"])
      expect(result.enqueued).toEqual([`${shipmentId}:helpdesk.openOrEnrich:weight:w:2300`])
      const open = outbox().find((a) => a.key === `${shipmentId}:helpdesk.openOrEnrich:weight:w:2300`)!
      expect(open.kind).toBe("helpdesk.openOrEnrich")
      const request = Schema.decodeUnknownSync(HelpdeskPort.OpenCase)(JSON.parse(open.payload))
      expect(request.subject).toMatch(/weight out of tolerance after the invoice was released/)
      expect(request.note).toContain("measured 2300 g against 2000 g declared (+300 g)")
      expect(request.note).toContain("tolerance of 50 ‰")
      expect(request.note).toContain("(event w)")
      expect(request.note).toMatch(/surcharge/)
      // The release stands; the customer is not told.
      expect((yield* pipeline.record(shipmentId))?.billing).toMatchObject({ status: "released", holds: [] })
      expect(added.some((k) => k.startsWith("notifier."))).toBe(false)
    })
  )

  it.effect("a case reporting a problem with the released invoice is not closed by the delivery or a resolved exception", () =>
    Effect.gen(function* () {
      const resolves = (outbox: ReadonlyArray<{ readonly kind: string; readonly key: string; readonly payload: string }>) =>
        outbox
          .filter((a) => a.kind === "helpdesk.update")
          .map((a) => [a.key.replace(`${shipmentId}:`, ""), JSON.parse(a.payload).resolve as boolean] as const)
      const onDispatch = { trigger: "dispatched", weightTolerancePerMille: 50 } as const
      // Released on the dispatch; the hub re-weighs 2,600 g against 2,000 g declared: the case
      // says to bill the surcharge. The delivery, and a late delay resolved on arrival, add notes
      // to it but leave it open.
      const weight = yield* setup(new Flows.FlowConfig({ billing: new Flows.BillingPolicy(onDispatch) }))
      yield* ingestAll(weight.pipeline, [scan("d", "dispatched", 100), weighedScan("w", "in_transit", 200, 2600)])
      expect(weight.keys()).toContain("helpdesk.openOrEnrich:weight:w:2600")
      yield* ingestAll(weight.pipeline, [scan("v", "delivered", 600), exception("x", "delayed", 300)])
      expect(resolves(weight.outbox())).toEqual([["helpdesk.update:delivered:v", false], ["helpdesk.update:resolved:x:x", false]])
      // A cancellation dated before the dispatch, arriving after the release: the same.
      const cancelled = yield* setup(new Flows.FlowConfig({ billing: new Flows.BillingPolicy(onDispatch) }))
      yield* ingestAll(cancelled.pipeline, [scan("d", "dispatched", 100), scan("c", "cancelled", 50), scan("v", "delivered", 600)])
      expect(cancelled.keys()).toContain("helpdesk.openOrEnrich:cancelled:c")
      expect(resolves(cancelled.outbox())).toEqual([["helpdesk.update:delivered:v", false]])
      // Without such a problem the delivery closes the case, as before.
      const fine = yield* setup(new Flows.FlowConfig({ billing: new Flows.BillingPolicy(onDispatch) }))
      yield* ingestAll(fine.pipeline, [scan("d", "dispatched", 100), exception("x", "delayed", 150), weighedScan("w", "in_transit", 200, 2050), scan("v", "delivered", 600)])
      expect(resolves(fine.outbox())).toEqual([["helpdesk.update:resolved:x:w", false], ["helpdesk.update:delivered:v", true]])
    })
  )

  it.effect("a compensation case is never closed after it opens, whatever the arrival order or batching", () =>
    Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(
          FastCheck.boolean().chain((cancel) =>
            FastCheck.record({
              events: Histories.permutation([
                scan("d", "dispatched", 100),
                exception("x", "delayed", 150),
                weighedScan("w", "in_transit", 200, 2600),
                scan("v", "delivered", 600),
                ...(cancel ? [scan("c", "cancelled", 50)] : [])
              ]),
              sizes: FastCheck.array(FastCheck.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 })
            })
          ),
          ({ events, sizes }) =>
            Effect.runPromise(
              Effect.gen(function* () {
                const { outbox, pipeline } = yield* setup(
                  new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ trigger: "dispatched", weightTolerancePerMille: 50 }) })
                )
                yield* ingestInBatches(pipeline, events, sizes)
                const actions = outbox().map((a) => ({ key: a.key.replace(`${shipmentId}:`, ""), kind: a.kind, payload: JSON.parse(a.payload) }))
                const compensation = actions.findIndex((a) => /^helpdesk\.openOrEnrich:(weight|cancelled):/.test(a.key))
                if (compensation < 0) return
                // the weight and the cancellation still hold: the case must stay open
                const closing = actions.slice(compensation).filter((a) => a.kind === "helpdesk.update" && a.payload.resolve === true)
                expect(closing.map((a) => a.key)).toEqual([])
              })
            )
        ),
        { numRuns: 80 }
      )
    )
  )

  it.effect("a registration that corrects the declared weight re-evaluates a held invoice: released, with no event to wait for", () =>
    Effect.gen(function* () {
      const { keys, pipeline, store } = yield* setup(tolerance50, 2000)
      // Delivered with its POD; the carrier weighed 2,600 g against 2,000 g declared: held.
      yield* ingestAll(pipeline, [scan("d", "dispatched", 60), weighedScan("v", "delivered", 600, 2600, true)])
      expect((yield* pipeline.record(shipmentId))?.billing).toMatchObject({ status: "held", holds: ["weight_out_of_tolerance"] })
      // The warehouse corrects the weight in the ERP (2,550 g); the poller registers the shipment
      // again. No carrier event will come any more: the registration's commit settles the invoice.
      yield* pipeline.register(intakeWith(2550))
      expect((yield* pipeline.record(shipmentId))?.billing.status).toBe("released")
      expect(keys().filter((k) => k === "erp.releaseInvoice")).toHaveLength(1)
      // The registration's audit entry names the release it planned.
      const registered = (yield* store.readAudit(shipmentId, 1, 100)).filter((e) => e.kind === "registered")
      expect(JSON.parse(registered[registered.length - 1]!.body).actions).toEqual([`${shipmentId}:erp.releaseInvoice`])
      // Registered again with the same data: nothing new.
      const settled = keys()
      yield* pipeline.register(intakeWith(2550))
      expect(keys()).toEqual(settled)
      // A correction the other way holds a waiting invoice's release no earlier than its trigger.
      const other = yield* setup(tolerance50, 2000)
      yield* other.pipeline.register(intakeWith(2600))
      expect((yield* other.pipeline.record(shipmentId))?.billing.status).toBe("waiting")
    })
  )

  it.effect("a weight within the tolerance measured after the release does nothing", () =>
    Effect.gen(function* () {
      const { keys, pipeline } = yield* setup(tolerance50, 2000)
      yield* ingestAll(pipeline, [scan("v", "delivered", 600, { pod: true })])
      const before = keys()
      // 2,100 g on 2,000 g is exactly 50 ‰: within the tolerance.
      yield* ingestAll(pipeline, [weighedScan("w", "delivered", 610, 2100)])
      expect((yield* pipeline.record(shipmentId))?.state.view.measuredWeight).toBe(2100)
      expect(keys()).toEqual(before)
      // Without a tolerance in the policy, no weight is judged at all.
      const untoleranced = yield* setup(undefined, 2000)
      yield* ingestAll(untoleranced.pipeline, [scan("v", "delivered", 600, { pod: true })])
      const released = untoleranced.keys()
      yield* ingestAll(untoleranced.pipeline, [weighedScan("w", "delivered", 610, 5000)])
      expect(untoleranced.keys()).toEqual(released)
    })
  )

  it.effect("a weight measured after the release opens the case once: redelivered, or measured again after a withdrawn re-weigh", () =>
    Effect.gen(function* () {
      const { keys, pipeline } = yield* setup(tolerance50, 2000)
      const weighed = weighedScan("w", "delivered", 610, 2300)
      yield* ingestAll(pipeline, [scan("v", "delivered", 600, { pod: true }), weighed])
      const once = keys()
      expect(once.filter((k) => k.startsWith("helpdesk.openOrEnrich:weight:"))).toEqual(["helpdesk.openOrEnrich:weight:w:2300"])
      // Redelivered alone and in a batch.
      expect((yield* pipeline.ingest(weighed)).outcome).toBe("Duplicate")
      yield* pipeline.ingestMany([weighed, scan("v", "delivered", 600, { pod: true })])
      expect(keys()).toEqual(once)
      // A newer re-weigh within the tolerance, then withdrawn: the 2,300 g measurement holds
      // again, and its case was already opened.
      yield* ingestAll(pipeline, [weighedScan("w2", "delivered", 620, 2050), retraction("fix", 630, "w2")])
      expect((yield* pipeline.record(shipmentId))?.state.view.measuredWeight).toBe(2300)
      expect(keys()).toEqual(once)
      // Another measurement out of tolerance is a case enrichment of its own, after the first.
      yield* ingestAll(pipeline, [weighedScan("w3", "delivered", 640, 1500)])
      expect(keys().filter((k) => k.startsWith("helpdesk.openOrEnrich:weight:"))).toEqual([
        "helpdesk.openOrEnrich:weight:w:2300",
        "helpdesk.openOrEnrich:weight:w3:1500"
      ])
    })
  )

  it.effect("a weight the billing approval already covers opens no case after the release", () =>
    Effect.gen(function* () {
      const { keys, pipeline } = yield* setup(tolerance50, 2000)
      // Packed at 2,300 g: held on delivery, then the operator accepts 2,300 g and the invoice is released.
      yield* ingestAll(pipeline, [weighedScan("k", "packed", 10, 2300), scan("v", "delivered", 600, { pod: true })])
      expect((yield* pipeline.record(shipmentId))?.billing).toMatchObject({ status: "held", holds: ["weight_out_of_tolerance"] })
      expect((yield* pipeline.approve(shipmentId, "weight", "ops@example.com")).status).toBe("released")
      const before = keys()
      // A re-weigh within the tolerance, withdrawn: the approved 2,300 g is the measurement again.
      yield* ingestAll(pipeline, [weighedScan("w", "delivered", 610, 2020)])
      yield* ingestAll(pipeline, [retraction("fix", 620, "w")])
      expect((yield* pipeline.record(shipmentId))?.state.view.measuredWeight).toBe(2300)
      expect(keys()).toEqual(before)
    })
  )

  it.effect("Flows.plan reports the compensations it plans (for a counter), none when the helpdesk is off", () =>
    Effect.gen(function* () {
      const { pipeline } = yield* setup(tolerance50, 2000)
      yield* ingestAll(pipeline, [scan("v", "delivered", 600, { pod: true })])
      const record = (yield* pipeline.record(shipmentId))!
      const info = (yield* pipeline.info(shipmentId))!
      const planFor = (config: Flows.FlowConfig, event: ShipmentEvent.ShipmentEvent) => {
        const outcome = ShipmentState.apply(record.state, event)
        if (outcome._tag === "Duplicate") throw new Error("unexpected duplicate")
        return Flows.plan({
          config,
          info,
          record,
          state: outcome.state,
          reached: outcome._tag === "Stale" ? [] : outcome.reached,
          retracted: outcome._tag === "Stale" ? [] : outcome.retracted,
          now: record.state.view.lastScan!.at,
          cause: event.id
        })
      }
      const weighed = planFor(tolerance50, weighedScan("w", "delivered", 610, 2300))
      expect(weighed.compensations).toEqual([
        { reason: "weight_out_of_tolerance", key: `${shipmentId}:helpdesk.openOrEnrich:weight:w:2300` }
      ])
      expect(weighed.actions.map((a) => a.key)).toEqual([`${shipmentId}:helpdesk.openOrEnrich:weight:w:2300`])
      expect(weighed.record.billing.status).toBe("released")
      const withdrawn = planFor(tolerance50, retraction("fix", 610, "v"))
      expect(withdrawn.compensations).toEqual([
        { reason: "milestone_withdrawn", key: `${shipmentId}:helpdesk.openOrEnrich:withdrawn:reached:delivered:fix` }
      ])
      // Without cases, nothing is planned and nothing is counted.
      const noCases = new Flows.FlowConfig({ billing: tolerance50.billing, cases: false })
      const quiet = planFor(noCases, weighedScan("w", "delivered", 610, 2300))
      expect(quiet.actions).toEqual([])
      expect(quiet.compensations).toEqual([])
    })
  )

  it.effect("a weight out of tolerance holds before the release and opens a case after it, once, whatever the arrival order", () =>
    Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(
          FastCheck.record({
            duplicates: FastCheck.array(FastCheck.nat(2), { maxLength: 2 }),
            sizes: FastCheck.array(FastCheck.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 })
          }).chain(({ duplicates, sizes }) => {
            const events = [scan("d", "dispatched", 60), scan("v", "delivered", 600, { pod: true }), weighedScan("w", "delivered", 610, 2300)]
            return Histories.permutation([...events, ...duplicates.map((i) => events[i]!)]).map((events) => ({ events, sizes }))
          }),
          ({ events, sizes }) =>
            Effect.runPromise(
              Effect.gen(function* () {
                const { keys, pipeline } = yield* setup(tolerance50, 2000)
                yield* ingestInBatches(pipeline, events, sizes)
                const billing = (yield* pipeline.record(shipmentId))!.billing
                const cases = keys().filter((k) => k.startsWith("helpdesk.openOrEnrich:weight:"))
                // Released before the measurement: one case. Otherwise held, and no case.
                if (billing.status === "released") expect(cases).toEqual(["helpdesk.openOrEnrich:weight:w:2300"])
                else {
                  expect(billing.holds).toEqual(["weight_out_of_tolerance"])
                  expect(cases).toEqual([])
                }
                // Everything delivered again changes nothing.
                const settled = keys()
                yield* ingestAll(pipeline, events)
                expect(keys()).toEqual(settled)
              })
            )
        ),
        { numRuns: 60 }
      )
    )
  )

  it.effect("a shipment cancelled before its dispatch is not invoiced when the parcel moves anyway; held until the cancellation is withdrawn", () =>
    Effect.gen(function* () {
      for (const trigger of ["dispatched", "delivered"] as const) {
        const { keys, pipeline } = yield* setup(new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ trigger }) }))
        // Cancelled at 8:50; the carrier scans the parcel anyway (a `progress_after_cancel` anomaly).
        yield* ingestAll(pipeline, [scan("c", "cancelled", 50), scan("d", "dispatched", 100), scan("v", "delivered", 600)])
        const record = (yield* pipeline.record(shipmentId))!
        expect(record.state.view.status).toBe("cancelled")
        expect(record.billing).toMatchObject({ status: "held", holds: ["cancelled"] })
        expect(keys()).not.toContain("erp.releaseInvoice")
        expect(keys()).toContain("erp.postNote:hold:cancelled")
        // The cancellation was a mistake and is withdrawn: the invoice goes out, once.
        yield* ingestAll(pipeline, [retraction("fix", 700, "c")])
        expect((yield* pipeline.record(shipmentId))?.billing.status).toBe("released")
        expect(keys().filter((k) => k === "erp.releaseInvoice")).toHaveLength(1)
      }
    })
  )

  it.effect("a cancellation that arrives after the invoice was released opens a case, counted as a compensation", () =>
    Effect.gen(function* () {
      const { keys, outbox, pipeline } = yield* setup(new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ trigger: "dispatched" }) }))
      yield* ingestAll(pipeline, [scan("d", "dispatched", 100)])
      expect((yield* pipeline.record(shipmentId))?.billing.status).toBe("released")
      const counted = Metric.tagged(Metrics.compensations, "reason", "cancelled")
      const before = (yield* Metric.value(counted)).count
      // The ERP's cancellation, dated before the dispatch scan, arrives after the release.
      yield* ingestAll(pipeline, [scan("c", "cancelled", 50), scan("c", "cancelled", 50)])
      expect((yield* pipeline.record(shipmentId))?.state.view.status).toBe("cancelled")
      expect((yield* pipeline.record(shipmentId))?.billing.status).toBe("released")
      const opened = outbox().filter((a) => a.kind === "helpdesk.openOrEnrich")
      expect(opened.map((a) => a.key.replace(`${shipmentId}:`, ""))).toEqual(["helpdesk.openOrEnrich:cancelled:c"])
      expect(JSON.parse(opened[0]!.payload).note).toMatch(/cancelled .* the invoice was released/)
      expect((yield* Metric.value(counted)).count - before).toBe(1)
      expect(keys().filter((k) => k === "erp.releaseInvoice")).toHaveLength(1)
    })
  )

  it.effect("a cancelled shipment whose parcel moved: never released without a case, whatever the arrival order or batching", () =>
    Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(
          FastCheck.record({
            trigger: FastCheck.constantFrom("dispatched" as const, "delivered" as const, "pod" as const),
            events: Histories.permutation([
              scan("c", "cancelled", 50),
              scan("d", "dispatched", 100),
              scan("v", "delivered", 600, { pod: true })
            ]),
            sizes: FastCheck.array(FastCheck.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 })
          }),
          ({ events, sizes, trigger }) =>
            Effect.runPromise(
              Effect.gen(function* () {
                const { keys, pipeline } = yield* setup(new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ trigger }) }))
                yield* ingestInBatches(pipeline, events, sizes)
                const billing = (yield* pipeline.record(shipmentId))!.billing
                const cases = keys().filter((k) => k.startsWith("helpdesk.openOrEnrich:cancelled:"))
                if (billing.status === "released") expect(cases).toEqual(["helpdesk.openOrEnrich:cancelled:c"])
                else expect([billing, cases]).toEqual([{ ...billing, status: "held", holds: ["cancelled"] }, []])
              })
            )
        ),
        { numRuns: 60 }
      )
    )
  )

  it.effect("a withdrawn delivery before release holds the invoice until delivery is reached again", () =>
    Effect.gen(function* () {
      const { pipeline, keys } = yield* setup(
        new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ requirePod: true }) })
      )
      yield* ingestAll(pipeline, [scan("bad", "delivered", 600), retraction("fix", 610, "bad")])
      expect((yield* pipeline.record(shipmentId))?.billing).toMatchObject({ status: "held", holds: ["milestone_withdrawn"] })
      yield* ingestAll(pipeline, [scan("v", "delivered", 700, { pod: true })])
      expect((yield* pipeline.record(shipmentId))?.billing.status).toBe("released")
      expect(keys().filter((k) => k === "erp.releaseInvoice")).toHaveLength(1)
    })
  )

  it.effect("a milestone withdrawn and reached again gets a note for each reach; the ERP's last word is the reach", () =>
    Effect.gen(function* () {
      const history = [
        scan("v", "delivered", 600),
        scan("ri1", "return_initiated", 700),
        retraction("x1", 710, "ri1"),
        scan("ri2", "return_initiated", 720)
      ]
      const notes = (keys: ReadonlyArray<string>) => keys.filter((k) => k.startsWith("erp.postNote:"))
      const expected = [
        "erp.postNote:reached:return_initiated:ri1",
        "erp.postNote:withdrawn:reached:return_initiated:x1",
        "erp.postNote:reached:return_initiated:ri2"
      ]
      // One event at a time, and all in one batch (planned event by event): the same notes.
      const apart = yield* setup()
      yield* ingestAll(apart.pipeline, history)
      expect((yield* apart.pipeline.record(shipmentId))?.state.view.status).toBe("return_initiated")
      expect(notes(apart.keys())).toEqual(expected)
      const last = apart.outbox().filter((a) => a.kind === "erp.postNote").at(-1)!
      expect(JSON.parse(last.payload).subject).toBe("Shipment reached return initiated")
      const together = yield* setup()
      yield* together.pipeline.ingestMany(history)
      expect(notes(together.keys())).toEqual(expected)

      // At the far side: three notes, each once.
      const fakes = FakePorts.make()
      yield* Effect.gen(function* () {
        const dispatcher = yield* Dispatcher.make({ concurrency: 1 })
        yield* dispatcher.drain()
      }).pipe(Effect.scoped, Effect.provide(Layer.merge(Layer.succeed(Store.Store, apart.store), fakes.layer)))
      const posted = fakes.effects.filter((e) => e.operation === "postNote").map((e) => e.key.replace(`${shipmentId}:`, ""))
      expect(posted).toEqual(expected)

      // A single reach gets exactly one note; a retraction that arrives before the event it names
      // leaves one reach (the second) and nothing to withdraw.
      const once = yield* setup()
      yield* ingestAll(once.pipeline, history.slice(0, 2))
      expect(notes(once.keys())).toEqual(["erp.postNote:reached:return_initiated:ri1"])
      const early = yield* setup()
      yield* ingestAll(early.pipeline, [history[0]!, history[2]!, history[1]!, history[3]!])
      expect(notes(early.keys())).toEqual(["erp.postNote:reached:return_initiated:ri2"])
      // A redelivery of a reaching event enqueues nothing new.
      yield* ingestAll(early.pipeline, [history[3]!])
      expect(notes(early.keys())).toEqual(["erp.postNote:reached:return_initiated:ri2"])
    })
  )

  it.effect("a milestone reached again by a third copy of one event id gets its own note", () =>
    Effect.gen(function* () {
      // Three copies of event "d" with different content: the smallest content is canonical. The
      // second copy withdraws the return the first reached; the third reaches it again.
      const history = [
        scan("v", "delivered", 600),
        copyOf("d", "C3", "return_initiated", 700),
        copyOf("d", "C2", "in_transit", 700),
        copyOf("d", "C1", "return_initiated", 700)
      ]
      const { keys, outbox, pipeline } = yield* setup()
      yield* ingestAll(pipeline, history)
      expect((yield* pipeline.record(shipmentId))?.state.view.status).toBe("return_initiated")
      const notes = keys().filter((k) => k.startsWith("erp.postNote:"))
      // Each reach and the withdrawal between them have a note of their own: none was dropped
      // as a key seen before, and the ERP's last word on the return is its reach.
      expect(notes).toHaveLength(3)
      expect(new Set(notes).size).toBe(3)
      const last = outbox().filter((a) => a.kind === "erp.postNote").at(-1)!
      expect(JSON.parse(last.payload).subject).toBe("Shipment reached return initiated")
    })
  )

  it.effect("a delivery withdrawn and reached again updates (and resolves) the case again; one notification", () =>
    Effect.gen(function* () {
      const { pipeline, keys, outbox } = yield* setup()
      yield* ingestAll(pipeline, [
        scan("i", "in_transit", 60),
        exception("x", "delayed", 100),
        scan("v1", "delivered", 600),
        retraction("r", 610, "v1"),
        scan("v2", "delivered", 700)
      ])
      const updates = outbox().filter((a) => a.kind === "helpdesk.update")
      expect(updates.map((a) => [a.key.replace(`${shipmentId}:`, ""), JSON.parse(a.payload).resolve])).toEqual([
        ["helpdesk.update:resolved:x:v1", false],
        ["helpdesk.update:delivered:v1", true],
        ["helpdesk.update:resolved:x:v2", false],
        ["helpdesk.update:delivered:v2", true]
      ])
      expect(updates.every((a) => a.after === `${shipmentId}:helpdesk.openOrEnrich:x`)).toBe(true)
      // The customer hears of the delivery once; the delivery is validated and invoiced once.
      expect(keys().filter((k) => k === "notifier.notify:delivered")).toHaveLength(1)
      expect(keys().filter((k) => k === "erp.validateDelivery")).toHaveLength(1)
      expect(keys().filter((k) => k === "erp.releaseInvoice")).toHaveLength(1)
    })
  )

  it.effect("every reach gets its own note and the ERP's last note agrees with the state, in any arrival order", () => {
    let rereached = 0
    return Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(
          // A mis-scanned delivery and two withdrawn return scans, some of them missing, in any
          // order and any batching.
          FastCheck.subarray([
            scan("i", "in_transit", 60),
            exception("late", "delayed", 100),
            scan("v1", "delivered", 600),
            retraction("y1", 610, "v1"),
            scan("v2", "delivered", 650),
            scan("ri1", "return_initiated", 700),
            retraction("x1", 710, "ri1"),
            scan("ri2", "return_initiated", 720),
            retraction("x2", 730, "ri2"),
            scan("ri3", "return_initiated", 740),
            // Three conflicting copies of one id: in some orders the second withdraws the first's
            // return and the third reaches it again.
            copyOf("rc", "C3", "returned", 745),
            copyOf("rc", "C2", "in_transit", 745),
            copyOf("rc", "C1", "returned", 745)
          ]).chain((events) => Histories.permutation(events)),
          FastCheck.array(FastCheck.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 6 }),
          (events, sizes) =>
            Effect.runPromise(
              Effect.gen(function* () {
                const { outbox, pipeline } = yield* setup(allNotes)
                const results = yield* ingestInBatches(pipeline, events, sizes)
                const record = yield* pipeline.record(shipmentId)
                const final = ShipmentState.milestoneKeys(record!.state)
                rereached += checkReachNotes(shipmentId, results, outbox().map((a) => a.key), final)
              })
            )
        ),
        { numRuns: 200 }
      )
    ).pipe(Effect.tap(() => expect(rereached).toBeGreaterThan(0)))
  })

  it.effect("generated histories: every reach gets its own note and the last note agrees with the state", () => {
    // Histories with retractions, conflicting copies, duplicates and clock skew (one shipment).
    let rereached = 0
    return Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(
          Histories.arbitrary(),
          FastCheck.array(FastCheck.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 6 }),
          (history, sizes) =>
            Effect.runPromise(
              Effect.gen(function* () {
                const store = (yield* MemoryStore.make) as MemoryStoreType.MemoryStore
                const pipeline = yield* Pipeline.make({ flows: allNotes }).pipe(Effect.provide(Layer.succeed(Store.Store, store)))
                yield* pipeline.register(Histories.intake(history, 1))
                const results = yield* ingestInBatches(pipeline, history.events, sizes)
                const record = yield* pipeline.record(history.shipmentId)
                const final = ShipmentState.milestoneKeys(record!.state)
                const keys = [...store.internals.outbox.values()].map((e) => e.action.key)
                rereached += checkReachNotes(history.shipmentId, results, keys, final)
              })
            )
        ),
        { numRuns: 300 }
      )
    ).pipe(Effect.tap(() => expect(rereached).toBeGreaterThan(0)))
  })

  it.effect("events of unregistered shipments are refused with NotFound", () =>
    Effect.gen(function* () {
      const { pipeline } = yield* setup()
      const stray = new ShipmentEvent.StatusReported({ ...scan("z", "delivered", 1), shipmentId: Ids.ShipmentId.make("nobody") })
      const error = yield* Effect.flip(pipeline.ingest(stray))
      expect(error.reason).toBe("NotFound")
      expect(error.message).toContain("nobody")
    })
  )
})

describe("damage and the return track in billing", () => {
  const onDispatch = new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ trigger: "dispatched" }) })
  const billingOf = (pipeline: Pipeline.PipelineShape) => Effect.map(pipeline.record(shipmentId), (r) => r!.billing)

  it.effect("a damage scan holds the invoice through the later delivery, until the carrier clears the damage", () =>
    Effect.gen(function* () {
      const { keys, pipeline } = yield* setup()
      // Damaged in transit, then delivered: the delivery passes the damage (the status shows it
      // delivered), but nobody said the damage was fine.
      yield* ingestAll(pipeline, [scan("d", "dispatched", 100), exception("dmg", "damaged", 500), scan("v", "delivered", 600)])
      const record = (yield* pipeline.record(shipmentId))!
      expect(record.state.view.status).toBe("delivered")
      expect(record.billing).toMatchObject({ status: "held", holds: ["open_damage"] })
      expect(keys()).not.toContain("erp.releaseInvoice")
      // A later transit scan or a POD upload changes nothing.
      yield* ingestAll(pipeline, [scan("v2", "delivered", 650, { pod: true })])
      expect(yield* billingOf(pipeline)).toMatchObject({ status: "held", holds: ["open_damage"] })
      // A clearance of another kind does not clear it; one of damage does, after the delivery too.
      yield* ingestAll(pipeline, [cleared("c1", 700, ["delayed"])])
      expect(yield* billingOf(pipeline)).toMatchObject({ status: "held", holds: ["open_damage"] })
      yield* ingestAll(pipeline, [cleared("c2", 710, ["damaged"])])
      expect((yield* billingOf(pipeline)).status).toBe("released")
      expect(keys().filter((k) => k === "erp.releaseInvoice")).toHaveLength(1)
    })
  )

  it.effect("a damage passed by movement is released by a damage approval, which covers exactly the damage that holds", () =>
    Effect.gen(function* () {
      const { keys, pipeline } = yield* setup()
      yield* ingestAll(pipeline, [exception("dmg", "damaged", 500), scan("it", "in_transit", 550), exception("late", "delayed", 560), scan("v", "delivered", 600)])
      expect(yield* billingOf(pipeline)).toMatchObject({ status: "held", holds: ["open_damage"] })
      const billing = yield* pipeline.approve(shipmentId, "damage", "ops@example.com")
      expect(billing).toMatchObject({ status: "released", approvedDamage: ["dmg"] })
      expect(keys()).toContain("erp.releaseInvoice")
    })
  )

  it.effect("a damage cleared before the movement holds nothing; a withdrawn damage holds nothing", () =>
    Effect.gen(function* () {
      const clearedFirst = yield* setup()
      yield* ingestAll(clearedFirst.pipeline, [exception("dmg", "damaged", 500), cleared("c", 520), scan("v", "delivered", 600)])
      expect((yield* billingOf(clearedFirst.pipeline)).status).toBe("released")
      const withdrawn = yield* setup()
      yield* ingestAll(withdrawn.pipeline, [exception("dmg", "damaged", 500), scan("v", "delivered", 600), retraction("fix", 610, "dmg")])
      expect((yield* billingOf(withdrawn.pipeline)).status).toBe("released")
    })
  )

  it.effect("the view says which exceptions the carrier cleared, whatever moved before the clearance", () =>
    Effect.gen(function* () {
      const state = ShipmentState.fold(shipmentId, Ids.CompanyId.make("co-1"), [
        exception("a", "damaged", 500),
        scan("v", "delivered", 600),
        exception("b", "damaged", 800),
        cleared("c", 700, ["damaged"])
      ])
      const entries = state.view.exceptions.map((e) => [e.eventId, e.resolvedAt !== undefined, e.clearedAt !== undefined])
      expect(entries).toEqual([["a", true, true], ["b", false, false]])
      expect(ShipmentState.unclearedDamage(state.view).map((e) => e.eventId)).toEqual(["b"])
    })
  )

  it.effect("a damage holds the invoice until cleared or withdrawn, whatever moves after it, in any arrival order or batching", () =>
    Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(
          FastCheck.record({
            trigger: FastCheck.constantFrom("delivered" as const, "pod" as const, "dispatched" as const),
            // a clearance: none, before the damage (clears nothing), before the next movement, after the delivery
            clearance: FastCheck.option(
              FastCheck.record({
                at: FastCheck.constantFrom(450, 520, 700),
                kinds: FastCheck.constantFrom(undefined, ["damaged"] as const, ["delayed"] as const)
              }),
              { nil: undefined }
            ),
            withdrawn: FastCheck.boolean(),
            lateTransit: FastCheck.boolean()
          }).chain((facts) =>
            FastCheck.record({
              facts: FastCheck.constant(facts),
              events: Histories.permutation([
                scan("d", "dispatched", 100),
                exception("dmg", "damaged", 500),
                scan("it", "in_transit", 550),
                scan("v", "delivered", 600, { pod: true }),
                ...(facts.lateTransit ? [scan("it2", "in_transit", 800)] : []),
                ...(facts.clearance !== undefined ? [cleared("c", facts.clearance.at, facts.clearance.kinds as any)] : []),
                ...(facts.withdrawn ? [retraction("fix", 900, "dmg")] : [])
              ]),
              sizes: FastCheck.array(FastCheck.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 4 })
            })
          ),
          ({ events, facts, sizes }) =>
            Effect.runPromise(
              Effect.gen(function* () {
                const { keys, pipeline } = yield* setup(new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ trigger: facts.trigger }) }))
                // The test's own reading of the rule: the damage holds unless withdrawn or cleared at or after it.
                const c = facts.clearance
                const holds = !facts.withdrawn && !(c !== undefined && c.at >= 500 && (c.kinds === undefined || c.kinds.includes("damaged" as never)))
                let damageSeen = false
                let releasedBeforeDamage = false
                for (let at = 0, i = 0; at < events.length; i++) {
                  const batch = events.slice(at, at + sizes[Math.min(i, sizes.length - 1)]!)
                  at += batch.length
                  const before = keys().includes("erp.releaseInvoice")
                  expect((yield* pipeline.ingestMany(batch)).rejected).toEqual([])
                  damageSeen ||= batch.some((e) => e.id === "dmg")
                  const record = (yield* pipeline.record(shipmentId))!
                  if (!before && keys().includes("erp.releaseInvoice")) {
                    // a release never rests on a state with a damage the carrier did not clear
                    expect(ShipmentState.unclearedDamage(record.state.view)).toEqual([])
                    releasedBeforeDamage = !damageSeen
                  }
                }
                const billing = (yield* pipeline.record(shipmentId))!.billing
                expect(keys().filter((k) => k === "erp.releaseInvoice").length).toBeLessThanOrEqual(1)
                if (!holds) expect(billing.status).toBe("released")
                else if (releasedBeforeDamage) {
                  // released before the damage arrived: never taken back, the damage went to the case
                  expect(billing.status).toBe("released")
                  expect(keys()).toContain("helpdesk.openOrEnrich:dmg")
                } else {
                  expect(billing).toMatchObject({ status: "held", holds: ["open_damage"] })
                  expect(keys()).not.toContain("erp.releaseInvoice")
                }
              })
            )
        ),
        { numRuns: 200 }
      )
    )
  )

  it.effect("a parcel refused and sent back after the release on dispatch opens a compensation case, once", () =>
    Effect.gen(function* () {
      const { keys, outbox, pipeline } = yield* setup(onDispatch)
      yield* ingestAll(pipeline, [scan("d", "dispatched", 100)])
      expect((yield* billingOf(pipeline)).status).toBe("released")
      const counted = Metric.tagged(Metrics.compensations, "reason", "return_to_sender")
      const before = (yield* Metric.value(counted)).count
      yield* ingestAll(pipeline, [exception("ref", "refused", 300), scan("ri", "return_initiated", 400), scan("rt", "returned", 900)])
      expect((yield* billingOf(pipeline)).status).toBe("released")
      const cases = keys().filter((k) => k.startsWith("helpdesk.openOrEnrich:return_to_sender"))
      expect(cases).toEqual(["helpdesk.openOrEnrich:return_to_sender"])
      const payload = JSON.parse(outbox().find((a) => a.key.endsWith(cases[0]!))!.payload)
      expect(payload.note).toMatch(/invoice was released/)
      expect((yield* Metric.value(counted)).count - before).toBe(1)
      expect(keys().filter((k) => k === "erp.releaseInvoice")).toHaveLength(1)
    })
  )

  it.effect("a shipment sent back to the sender before its release is held (return_to_sender), never released", () =>
    Effect.gen(function* () {
      const { keys, pipeline } = yield* setup(
        new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ trigger: "dispatched", requirePod: true }) })
      )
      yield* ingestAll(pipeline, [scan("d", "dispatched", 100)])
      expect(yield* billingOf(pipeline)).toMatchObject({ status: "held", holds: ["missing_pod"] })
      yield* ingestAll(pipeline, [scan("ri", "return_initiated", 400)])
      expect(yield* billingOf(pipeline)).toMatchObject({ status: "held", holds: ["missing_pod", "return_to_sender"] })
      expect(keys()).toContain("erp.postNote:hold:return_to_sender")
      expect((yield* pipeline.approve(shipmentId, "pod", "ops@example.com"))).toMatchObject({ status: "held", holds: ["return_to_sender"] })
      expect(keys()).not.toContain("erp.releaseInvoice")
      // One batch with the dispatch and the return: held at once.
      const batch = yield* setup(onDispatch)
      yield* batch.pipeline.ingestMany([scan("d", "dispatched", 100), scan("rt", "returned", 900)])
      expect(yield* billingOf(batch.pipeline)).toMatchObject({ status: "held", holds: ["return_to_sender"] })
      expect(batch.keys()).not.toContain("erp.releaseInvoice")
    })
  )

  it.effect("sent back undelivered: never released over it; released before it, one compensation case; any arrival order or batching", () =>
    Effect.promise(() =>
      FastCheck.assert(
        FastCheck.asyncProperty(
          FastCheck.record({
            trigger: FastCheck.constantFrom("delivered" as const, "pod" as const, "dispatched" as const),
            // a delivery: none, before the return (the customer's goods come back), after it (the return leg reported as a delivery)
            delivered: FastCheck.constantFrom(undefined, 200, 1000),
            withdrawn: FastCheck.boolean(),
            returned: FastCheck.boolean()
          }).chain((facts) =>
            FastCheck.record({
              facts: FastCheck.constant(facts),
              events: Histories.permutation([
                scan("d", "dispatched", 100),
                exception("ref", "refused", 300),
                scan("ri", "return_initiated", 400),
                ...(facts.returned ? [scan("rt", "returned", 900)] : []),
                ...(facts.delivered !== undefined ? [scan("v", "delivered", facts.delivered, { pod: true })] : []),
                ...(facts.delivered !== undefined && facts.withdrawn ? [retraction("fix", 1100, "v")] : [])
              ]),
              sizes: FastCheck.array(FastCheck.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 4 })
            })
          ),
          ({ events, facts, sizes }) =>
            Effect.runPromise(
              Effect.gen(function* () {
                const { keys, pipeline } = yield* setup(new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ trigger: facts.trigger }) }))
                // The test's own reading: sent back unless a delivery (not withdrawn) came before the return.
                const sentBack = !(facts.delivered === 200 && !facts.withdrawn)
                const caseKey = "helpdesk.openOrEnrich:return_to_sender"
                for (let at = 0, i = 0; at < events.length; i++) {
                  const batch = events.slice(at, at + sizes[Math.min(i, sizes.length - 1)]!)
                  at += batch.length
                  const before = (yield* pipeline.record(shipmentId))!
                  const keysBefore = new Set(keys())
                  expect((yield* pipeline.ingestMany(batch)).rejected).toEqual([])
                  const record = (yield* pipeline.record(shipmentId))!
                  const added = keys().filter((k) => !keysBefore.has(k))
                  // the release never rests on a shipment on its way back undelivered
                  if (added.includes("erp.releaseInvoice")) expect(record.billing.holds).toEqual([])
                  if (added.includes("erp.releaseInvoice")) {
                    const view = record.state.view
                    const back = view.milestones.find((m) => m._tag === "Reached" && m.status === "return_initiated")
                    const delivered = view.milestones.find((m) => m._tag === "Reached" && m.status === "delivered")
                    expect(back === undefined || (delivered !== undefined && delivered.at.epochMillis < back.at.epochMillis)).toBe(true)
                  }
                  // the compensation case only for an invoice already released
                  if (added.includes(caseKey)) expect(before.billing.status).toBe("released")
                }
                const billing = (yield* pipeline.record(shipmentId))!.billing
                expect(keys().filter((k) => k === "erp.releaseInvoice").length).toBeLessThanOrEqual(1)
                expect(keys().filter((k) => k === caseKey).length).toBeLessThanOrEqual(1)
                if (sentBack) {
                  if (billing.status === "released") expect(keys()).toContain(caseKey)
                  else {
                    expect(keys()).not.toContain("erp.releaseInvoice")
                    const triggered = facts.trigger === "dispatched" || (facts.delivered !== undefined && !facts.withdrawn)
                    if (triggered) expect(billing).toMatchObject({ status: "held", holds: ["return_to_sender"] })
                  }
                } else {
                  expect(billing.holds).not.toContain("return_to_sender")
                  expect(billing.status).toBe("released")
                }
              })
            )
        ),
        { numRuns: 200 }
      )
    )
  )

  it.effect("goods the customer sends back after the delivery: the invoice stands, no hold and no compensation case", () =>
    Effect.gen(function* () {
      const { keys, pipeline } = yield* setup(onDispatch)
      yield* ingestAll(pipeline, [scan("d", "dispatched", 100), scan("v", "delivered", 600), scan("ri", "return_initiated", 2000)])
      expect((yield* billingOf(pipeline)).status).toBe("released")
      expect(keys().filter((k) => k.startsWith("helpdesk.openOrEnrich"))).toEqual([])
      const held = yield* setup(new Flows.FlowConfig({ billing: new Flows.BillingPolicy({ requirePod: true }) }))
      yield* ingestAll(held.pipeline, [scan("v", "delivered", 600), scan("ri", "return_initiated", 2000)])
      expect(yield* billingOf(held.pipeline)).toMatchObject({ status: "held", holds: ["missing_pod"] })
    })
  )

  it.effect("sent back, then delivered after all: held until an operator approves the return, then released once", () =>
    Effect.gen(function* () {
      const { keys, pipeline } = yield* setup()
      // Refused and sent back; the carrier re-attempted on the customer's call and delivered.
      yield* ingestAll(pipeline, [scan("d", "dispatched", 100), scan("ri", "return_initiated", 400), scan("v", "delivered", 900)])
      expect(yield* billingOf(pipeline)).toMatchObject({ status: "held", holds: ["return_to_sender"] })
      // Approving another hold changes nothing; the return approval releases.
      expect(yield* pipeline.approve(shipmentId, "pod", "ops@example.com")).toMatchObject({ status: "held", holds: ["return_to_sender"] })
      expect(keys()).not.toContain("erp.releaseInvoice")
      const billing = yield* pipeline.approve(shipmentId, "return", "ops@example.com")
      expect(billing).toMatchObject({ status: "released", holds: [], approvals: ["return"] })
      expect(keys().filter((k) => k === "erp.releaseInvoice")).toHaveLength(1)
      // a return the operator approved is settled: no compensation case for it afterwards
      yield* ingestAll(pipeline, [scan("rt", "returned", 1200)])
      expect(keys().filter((k) => k.startsWith("helpdesk.openOrEnrich"))).toEqual([])
      // Approved before any return: not raised, so a later return still holds.
      const ahead = yield* setup()
      yield* ingestAll(ahead.pipeline, [scan("d", "dispatched", 100)])
      expect(yield* ahead.pipeline.approve(shipmentId, "return", "ops@example.com")).toMatchObject({ status: "waiting", approvals: [] })
      yield* ingestAll(ahead.pipeline, [scan("ri", "return_initiated", 400), scan("v", "delivered", 900)])
      expect(yield* billingOf(ahead.pipeline)).toMatchObject({ status: "held", holds: ["return_to_sender"] })
    })
  )
})
