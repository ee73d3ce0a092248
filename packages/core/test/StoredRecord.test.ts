/**
 * The stored record form (0.2): the record keeps the business state and an event count; the
 * events live in the shipment's event log. Reading back must give the very state the pipeline
 * built, for any history, and a pipeline that must decode every record (a store that keeps
 * nothing in memory, a cache of one) ends where the batch-fold oracle ends.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { MemoryStore, Pipeline, ShipmentRecord, ShipmentState, Store } from "../src/index.js"
import { Histories } from "../src/testing/index.js"

const encodeState = Schema.encodeSync(ShipmentState.ShipmentState)

/** Applies a history the way the pipeline does, returning the state and the event log it writes. */
const ingestLikePipeline = (history: Histories.History) => {
  let state = ShipmentState.empty(history.shipmentId, history.companyId)
  const log: Array<string> = []
  for (const event of history.events) {
    const outcome = ShipmentState.apply(state, event)
    if (outcome._tag === "Duplicate") continue
    state = outcome.state
    log.push(ShipmentRecord.eventJson(event))
  }
  return { state, log }
}

const record = (state: ShipmentState.ShipmentState, caseKey?: string, reference?: string) =>
  new ShipmentRecord.ShipmentRecord(
    {
      state,
      billing: new ShipmentRecord.Billing({ status: "held", holds: ["open_damage"], approvals: ["pod"] }),
      ...(caseKey !== undefined ? { caseKey } : {}),
      ...(reference !== undefined ? { reference } : {}),
      audit: { seq: 7, hash: "ab".repeat(32) }
    },
    true
  )

describe("stored record", () => {
  it("round-trips any history through the record head and the event log", () =>
    FastCheck.assert(
      FastCheck.property(Histories.arbitrary(), FastCheck.boolean(), FastCheck.option(FastCheck.hexaString({ minLength: 16, maxLength: 16 }), { nil: undefined }), (history, withCase, reference) => {
        const { log, state } = ingestLikePipeline(history)
        const stored = ShipmentRecord.toJson(record(state, withCase ? `${history.shipmentId}:case` : undefined, reference))
        expect(stored).not.toContain('"events"')
        // Entries after the record's count (a later commit's events) are not read.
        const back = ShipmentRecord.fromJson(stored, [...log, "{not read: a later commit's event"])
        if (Either.isLeft(back)) throw back.left
        expect(encodeState(back.right.state)).toEqual(encodeState(state))
        expect(back.right.billing).toEqual(record(state).billing)
        expect(back.right.caseKey).toBe(withCase ? `${history.shipmentId}:case` : undefined)
        expect(back.right.reference).toBe(reference)
        expect(back.right.audit).toEqual({ seq: 7, hash: "ab".repeat(32) })
      }),
      { numRuns: 500 }
    ))

  it("still reads records stored by 0.1 (events inside the record)", () => {
    const { state } = ingestLikePipeline(Histories.generate(42))
    const old = JSON.stringify({
      shipmentId: state.shipmentId,
      companyId: state.companyId,
      events: state.events.map((e) => JSON.parse(ShipmentRecord.eventJson(e))),
      variants: state.variants.map((e) => JSON.parse(ShipmentRecord.eventJson(e))),
      billing: { status: "waiting", holds: [], approvals: [] },
      audit: { seq: 3, hash: "h" }
    })
    const back = ShipmentRecord.fromJson(old)
    if (Either.isLeft(back)) throw back.left
    expect(encodeState(back.right.state)).toEqual(encodeState(state))
  })

  it("names what is wrong with a record whose log is short or corrupt", () => {
    const seed = Array.from({ length: 50 }, (_, i) => i).find((i) => ingestLikePipeline(Histories.generate(i)).log.length > 3)!
    const { log, state } = ingestLikePipeline(Histories.generate(seed))
    const stored = ShipmentRecord.toJson(record(state))
    const short = ShipmentRecord.fromJson(stored, log.slice(0, 2))
    expect(Either.isLeft(short) && short.left.message).toBe(
      `the record names ${log.length} events but the event log holds 2`
    )
    const broken = ShipmentRecord.fromJson(stored, ["{not json", ...log.slice(1)])
    expect(Either.isLeft(broken) && broken.left.message).toMatch(/^event 0 of the log is not JSON/)
    const invalid = ShipmentRecord.fromJson(stored, ['{"_tag":"StatusReported"}', ...log.slice(1)])
    expect(Either.isLeft(invalid)).toBe(true)
    expect(Either.isLeft(ShipmentRecord.fromJson('{"shipmentId":1}', log))).toBe(true)
  })

  it.effect("pipelines that must decode every record end where the fold oracle ends", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryStore.make
      // A store that keeps nothing in memory for the runtime: every load decodes body + log.
      const serializing: Store.StoreShape = {
        ...memory,
        commit: ({ value: _value, ...commit }) => memory.commit(commit),
        commitMany: (commits) => memory.commitMany(commits.map(({ value: _value, ...commit }) => commit))
      }
      const histories = Array.from({ length: 40 }, (_, i) => Histories.generate(1000 + i, {}, i))
      const make = Pipeline.make({ cacheSize: 1 }).pipe(Effect.provideService(Store.Store, serializing))
      const first = yield* make
      const second = yield* make
      for (const [i, h] of histories.entries()) yield* first.register(Histories.intake(h, i))
      // Interleave all events; alternate the two pipelines batch by batch.
      const events = histories.flatMap((h) => h.events.map((e, k) => ({ e, k: k * 97 + h.events.length })))
      events.sort((a, b) => a.k - b.k)
      for (let i = 0; i < events.length; i += 16) {
        const pipeline = (i / 16) % 2 === 0 ? first : second
        const { rejected } = yield* pipeline.ingestMany(events.slice(i, i + 16).map((x) => x.e))
        expect(rejected).toEqual([])
      }
      for (const h of histories) {
        const oracle = ShipmentState.fold(h.shipmentId, h.companyId, h.events)
        const stored = yield* Effect.orDie(memory.load(h.shipmentId))
        const log = (yield* Effect.orDie(memory.events(h.shipmentId))).map((e) => e.body)
        const decoded = ShipmentRecord.fromJson(stored!.body, log)
        if (Either.isLeft(decoded)) throw decoded.left
        expect(ShipmentState.sameFacts(decoded.right.state, oracle)).toBe(true)
        const viaPipeline = yield* second.record(h.shipmentId)
        expect(ShipmentState.sameFacts(viaPipeline!.state, oracle)).toBe(true)
      }
    })
  )
})
