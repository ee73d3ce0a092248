/**
 * Dead letter listing and replay: a store that fails part way, malformed filters, listings that
 * race with removals, inbound letters that fail again or were ingested meanwhile.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Metric from "effect/Metric"
import { Audit, DeadLetters, Ids, MemoryStore, Metrics, Pipeline, PortError, ShipmentEvent, Store } from "../src/index.js"
import * as Inbound from "../src/internal/inbound.js"
import { Histories } from "../src/testing/index.js"
import { companyId, shipmentId } from "./builders.js"
import { carrier, observation, request } from "./signedCarrier.js"

const letter = (id: string): Store.DeadLetter => ({
  id,
  kind: "action",
  target: "notifier",
  shipmentId: "shp-1",
  failedAt: 0,
  attempts: 8,
  error: JSON.stringify({ _tag: "NotifierError", reason: "Unavailable" }),
  payload: JSON.stringify({
    key: id,
    shipmentId: "shp-1",
    target: "notifier",
    kind: "notifier.notify",
    payload: "{}",
    createdAt: 0,
    availableAt: 0,
    attempts: 8
  })
})

describe("DeadLetters.replay", () => {
  it.effect("a requeue the store stops part way is recorded in the ops audit stream", () =>
    Effect.gen(function* () {
      const store = yield* MemoryStore.make
      yield* store.putDeadLetter(letter("k1"))
      yield* store.putDeadLetter(letter("k2"))
      // The store requeues the first letter, then fails over.
      const flaky: Store.StoreShape = {
        ...store,
        requeue: (ids, now) =>
          Effect.zipRight(
            store.requeue(ids.slice(0, 1), now),
            Effect.fail(
              new PortError.StorageError({ reason: "Unavailable", module: "test", method: "requeue", description: "failover" })
            )
          )
      }
      const exit = yield* Effect.gen(function* () {
        const pipeline = yield* Pipeline.make()
        return yield* DeadLetters.replay({ target: "notifier" }, "ops@example.com").pipe(
          Effect.provideService(Pipeline.Pipeline, pipeline)
        )
      }).pipe(Effect.provideService(Store.Store, flaky), Effect.exit)
      expect(Exit.isFailure(exit)).toBe(true)
      expect((yield* store.deadLetters({ limit: 10 })).map((l) => l.id)).toEqual(["k2"])
      // k1 is back in the outbox: the replay that put it there is on record, and where it stopped.
      const entries = yield* store.readAudit("ops", 1, 10)
      expect(entries.map((e) => [e.kind, JSON.parse(e.body)])).toEqual([
        ["replay", { by: "ops@example.com", filter: { target: "notifier" }, ids: ["k1", "k2"] }],
        ["replayed", { by: "ops@example.com", replay: 1, requeued: 0, reingested: 0, failedAgain: 0, stopped: "Unavailable" }]
      ])
    }))
})

const encodeMessage = Schema.encodeSync(Schema.parseJson(Pipeline.InboundMessage))

const setup = Effect.gen(function* () {
  const store = yield* MemoryStore.make
  const layer = Layer.provideMerge(Pipeline.layer({ carriers: [carrier] }), Layer.succeed(Store.Store, store))
  const intake = Histories.intake({ shipmentId, companyId, events: [] }, 1)
  return { store, layer, intake, tracking: intake.shipments[0]!.trackingNumber! }
})

describe("DeadLetters filters", () => {
  it.effect("a misspelt or mistyped filter, or a replay naming nobody, is refused with a typed error; nothing is replayed", () =>
    Effect.gen(function* () {
      const { layer, store } = yield* setup
      yield* store.putDeadLetter(letter("k1"))
      yield* store.putDeadLetter(letter("k12"))
      yield* Effect.gen(function* () {
        // `reson` would match every letter, `ids: "k12"` would match `k1` too (a substring).
        const filters: ReadonlyArray<unknown> = [{ reson: "Invalid" }, { ids: "k12" }, { kind: "bogus" }, null, { ids: [null] }]
        for (const filter of filters) {
          const refused = { _tag: "StorageError", reason: "Invalid", module: "@waybill/core/DeadLetters" }
          expect(yield* Effect.flip(DeadLetters.list(filter as DeadLetters.Filter))).toMatchObject(refused)
          expect(yield* Effect.flip(DeadLetters.replay(filter as DeadLetters.Filter, "ops@example.com"))).toMatchObject(refused)
        }
        expect(yield* Effect.flip(DeadLetters.replay({ ids: ["k1"] }, " "))).toMatchObject({ _tag: "StorageError", reason: "Invalid" })
        // A filter that matches nothing replays nothing, and says so in the ops stream.
        expect(yield* DeadLetters.replay({ ids: ["nope"] }, "ops@example.com")).toEqual({ requeued: 0, reingested: 0, failedAgain: 0 })
        expect((yield* DeadLetters.list()).map((l) => l.id)).toEqual(["k1", "k12"])
        expect(yield* store.outboxSize()).toBe(0)
        expect((yield* store.readAudit("ops", 1, 10)).map((e) => [e.kind, JSON.parse(e.body)])).toEqual([
          ["replay", expect.objectContaining({ ids: [] })],
          ["replayed", expect.objectContaining({ replay: 1, requeued: 0 })]
        ])
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a filter whose criteria are not its own fields (a Map, a class with getters, inherited ones) is refused; nothing is replayed", () =>
    Effect.gen(function* () {
      const { layer, store } = yield* setup
      yield* store.putDeadLetter(letter("k1"))
      yield* store.putDeadLetter(letter("k2"))
      yield* Effect.gen(function* () {
        // Each means `ids: ["k1"]`, but the decoder sees no criterion in it: read as `{}`, it
        // would select (and replay) every letter.
        class ByIds {
          get ids() {
            return ["k1"]
          }
        }
        const filters: ReadonlyArray<unknown> = [new ByIds(), new Map([["ids", ["k1"]]]), Object.create({ ids: ["k1"] }), new Date()]
        for (const filter of filters) {
          const refused = { _tag: "StorageError", reason: "Invalid", module: "@waybill/core/DeadLetters" }
          expect(yield* Effect.flip(DeadLetters.list(filter as DeadLetters.Filter))).toMatchObject(refused)
          expect(yield* Effect.flip(DeadLetters.replay(filter as DeadLetters.Filter, "ops@example.com"))).toMatchObject(refused)
        }
        expect((yield* DeadLetters.list()).map((l) => l.id)).toEqual(["k1", "k2"])
        expect(yield* store.outboxSize()).toBe(0)
        expect(yield* store.readAudit("ops", 1, 10)).toEqual([])
        // A plain object (also one without a prototype) is taken as before.
        expect((yield* DeadLetters.list(Object.assign(Object.create(null), { ids: ["k2"] }))).map((l) => l.id)).toEqual(["k2"])
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a listing sees every letter once though a page comes back short while another replay removes letters", () =>
    Effect.gen(function* () {
      const store = yield* MemoryStore.make
      const ids = Array.from({ length: 1200 }, (_, i) => `k${String(i).padStart(5, "0")}`)
      for (const id of ids) yield* store.putDeadLetter(letter(id))
      // Another operator requeues k00100 while this listing reads the first page: a shared store
      // (Redis) reads the page's ids, then the letters, and leaves out the one gone in between.
      let raced = false
      const racing: Store.StoreShape = {
        ...store,
        deadLetters: (options) =>
          Effect.flatMap(store.deadLetters(options), (page) =>
            raced
              ? Effect.succeed(page)
              : Effect.as(store.requeue(["k00100"], 0), ((raced = true), page.filter((l) => l.id !== "k00100")))
          )
      }
      const listed = yield* DeadLetters.list({ target: "notifier" }).pipe(Effect.provideService(Store.Store, racing))
      expect(listed.map((l) => l.id)).toEqual(ids.filter((id) => id !== "k00100"))
    }))
})

describe("DeadLetters.replay of inbound letters", () => {
  it.effect("a letter that fails again is kept once, with the new reason and the attempts counted on", () =>
    Effect.gen(function* () {
      const { layer, store, intake, tracking } = yield* setup
      yield* Effect.gen(function* () {
        const pipeline = yield* Pipeline.Pipeline
        // Moved from the transport by the worker (10 deliveries while the store was down): the
        // raw request as delivered.
        const body = encodeMessage(request([observation(tracking, "u1", "in_transit", 5)]))
        const id = Inbound.letterId(body)
        yield* store.putDeadLetter({
          id,
          kind: "inbound",
          target: "waybill.ingest",
          failedAt: 0,
          attempts: 10,
          error: JSON.stringify({ _tag: "IngestError", reason: "Unavailable", module: "w", method: "poll", description: "x" }),
          payload: body
        })
        // The store is back, but the shipment is not registered yet: the request parses, its
        // observation fails and is kept; it stands for the request, not beside it.
        expect(yield* DeadLetters.replay({ kind: "inbound" }, "ops@example.com")).toEqual({ requeued: 0, reingested: 0, failedAgain: 1 })
        const [kept, ...others] = yield* DeadLetters.list()
        expect(others).toEqual([])
        expect(kept).toMatchObject({ attempts: 11 })
        expect(JSON.parse(kept!.error)).toMatchObject({ reason: "NotFound", eventId: "u1" })
        // The pipeline's own letters count attempts too.
        yield* store.removeDeadLetters([kept!.id])
        yield* pipeline.receive(request([observation(tracking, "u2", "in_transit", 6)]))
        yield* DeadLetters.replay({ kind: "inbound" }, "ops@example.com")
        expect((yield* DeadLetters.list()).map((l) => l.attempts)).toEqual([2])
        // After the fix it is ingested and gone.
        yield* pipeline.register(intake)
        expect(yield* DeadLetters.replay({ kind: "inbound" }, "ops@example.com")).toEqual({ requeued: 0, reingested: 1, failedAgain: 0 })
        expect(yield* DeadLetters.list()).toEqual([])
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a webhook whose events were ingested meanwhile from another copy replays as duplicates: no second effect", () =>
    Effect.gen(function* () {
      const { layer, store, intake, tracking } = yield* setup
      yield* Effect.gen(function* () {
        const pipeline = yield* Pipeline.Pipeline
        const early = yield* pipeline.receive(request([observation(tracking, "d1", "delivered", 50)]))
        expect(early.rejected.map((e) => e.reason)).toEqual(["NotFound"])
        yield* pipeline.register(intake)
        // The carrier's retransmission (another body: it carries one more event) gets in first.
        yield* pipeline.receive(request([observation(tracking, "t1", "in_transit", 10), observation(tracking, "d1", "delivered", 50)]))
        const outbox = yield* store.outboxSize()
        const events = (yield* pipeline.record(shipmentId))!.state.events.map((e) => e.id)
        expect(yield* DeadLetters.replay({ kind: "inbound" }, "ops@example.com")).toEqual({ requeued: 0, reingested: 1, failedAgain: 0 })
        expect(yield* DeadLetters.list()).toEqual([])
        expect(yield* store.outboxSize()).toBe(outbox)
        expect((yield* pipeline.record(shipmentId))!.state.events.map((e) => e.id)).toEqual(events)
      }).pipe(Effect.provide(layer))
    }))
})

describe("DeadLetters.replay of a letter that still crashes the pipeline", () => {
  it.effect("keeps it with the crash as a Bug and its attempts counted on, and replays the other letters", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryStore.make
      const poison = "ev-poison"
      // A bug below the pipeline, triggered by one event only (the worker kept it as a Bug).
      const store: Store.StoreShape = {
        ...memory,
        seen: (keys) => (keys.some((k) => k.includes(poison)) ? Effect.die(new RangeError("Invalid array length")) : memory.seen(keys))
      }
      const layer = Layer.provideMerge(Pipeline.layer({}), Layer.succeed(Store.Store, store))
      yield* Effect.gen(function* () {
        const pipeline = yield* Pipeline.Pipeline
        const h = Histories.generate(3, { duplicates: false, conflicts: false }, 0)
        yield* pipeline.register(Histories.intake(h, 0))
        const keep = (id: string, attempts: number) =>
          Effect.gen(function* () {
            const event = ShipmentEvent.StatusReported.make({ ...(h.events[0] as ShipmentEvent.StatusReported), id: Ids.EventId.make(id) })
            const payload = encodeMessage({ _tag: "Event", event })
            const letterId = Inbound.letterId(payload)
            yield* memory.putDeadLetter({
              id: letterId,
              kind: "inbound",
              target: "waybill.ingest",
              failedAt: 0,
              attempts,
              error: JSON.stringify({ _tag: "IngestError", reason: "Bug", module: "w", method: "poll", description: "crashed" }),
              payload
            })
            return letterId
          })
        // Letters are replayed in id order: each case puts the healthy one before and after the poison.
        for (const healthy of ["ev-healthy-1", "ev-healthy-2", "ev-healthy-3", "ev-healthy-4"]) {
          const bad = yield* keep(poison, 3)
          yield* keep(healthy, 1)
          const counted = Metric.tagged(Metric.tagged(Metrics.deadLetters, "target", "ingest"), "reason", "Bug")
          const before = (yield* Metric.value(counted)).count
          const report = yield* DeadLetters.replay({ kind: "inbound" }, "ops@example.com")
          expect(report).toEqual({ requeued: 0, reingested: 1, failedAgain: 1 })
          const letters = yield* DeadLetters.list({ kind: "inbound" })
          expect(letters.map((l) => l.id)).toEqual([bad])
          expect(letters[0]!.attempts).toBe(4)
          expect(JSON.parse(letters[0]!.error)).toMatchObject({ _tag: "IngestError", reason: "Bug" })
          expect(letters[0]!.error).toMatch(/RangeError: Invalid array length/)
          expect((yield* Metric.value(counted)).count - before).toBe(1)
          // The replay is on record with what it did.
          const entries = yield* memory.readAudit("ops", 1, 1000)
          expect(JSON.parse(entries[entries.length - 1]!.body)).toMatchObject({ reingested: 1, failedAgain: 1 })
          expect(JSON.parse(entries[entries.length - 1]!.body).stopped).toBeUndefined()
          yield* memory.removeDeadLetters([bad])
        }
      }).pipe(Effect.provide(layer))
    }))
})

/**
 * A store whose process dies right after `method` first succeeds once armed: from then on nothing
 * reaches the store (not even the replay's own handlers), as after a crash.
 */
const crashingAfter = (store: Store.StoreShape, methods: ReadonlyArray<keyof Store.StoreShape>) => {
  let armed = false
  let crashed = false
  const gone = new PortError.StorageError({ reason: "Unavailable", module: "test", method: "crash", description: "process died" })
  const wrapped = Object.fromEntries(
    Object.entries(store).map(([name, value]) => [
      name,
      typeof value !== "function"
        ? value
        : (...args: Array<unknown>) =>
          Effect.suspend(() =>
            crashed
              ? Effect.fail(gone)
              : Effect.tap((value as (...a: Array<unknown>) => Effect.Effect<unknown, PortError.StorageError>)(...args), () => {
                if (armed && methods.includes(name as keyof Store.StoreShape)) crashed = true
              })
          )
    ])
  ) as unknown as Store.StoreShape
  return {
    store: wrapped,
    arm: () => {
      armed = true
    },
    restart: () => {
      armed = false
      crashed = false
    }
  }
}

describe("DeadLetters.replay and crashes", () => {
  it.effect("a replay whose entry cannot be written replays nothing", () =>
    Effect.gen(function* () {
      const store = yield* MemoryStore.make
      yield* store.putDeadLetter(letter("k1"))
      const full: Store.StoreShape = {
        ...store,
        appendAudit: () =>
          Effect.fail(new PortError.StorageError({ reason: "Unavailable", module: "test", method: "appendAudit", description: "down" }))
      }
      const exit = yield* Effect.gen(function* () {
        const pipeline = yield* Pipeline.make()
        return yield* DeadLetters.replay({ ids: ["k1"] }, "ops@example.com").pipe(Effect.provideService(Pipeline.Pipeline, pipeline))
      }).pipe(Effect.provideService(Store.Store, full), Effect.exit)
      expect(Exit.isFailure(exit)).toBe(true)
      expect((yield* store.deadLetters({ limit: 10 })).map((l) => l.id)).toEqual(["k1"])
      expect(yield* store.outboxSize()).toBe(0)
    }))

  it.effect("a crash right after the requeue leaves the replay on record; replayed again, nothing is requeued twice", () =>
    Effect.gen(function* () {
      const store = yield* MemoryStore.make
      yield* store.putDeadLetter(letter("k1"))
      const crashing = crashingAfter(store, ["requeue"])
      const replay = Effect.gen(function* () {
        const pipeline = yield* Pipeline.make()
        return yield* DeadLetters.replay({ target: "notifier" }, "ops@example.com").pipe(
          Effect.provideService(Pipeline.Pipeline, pipeline)
        )
      }).pipe(Effect.provideService(Store.Store, crashing.store))
      crashing.arm()
      // Whatever it answers: the process is gone, nothing it writes after the requeue arrives.
      yield* Effect.exit(replay)
      // k1 is back in the outbox and will run again: the replay that put it there is on record.
      expect(yield* store.outboxSize()).toBe(1)
      const before = (yield* store.readAudit("ops", 1, 10)).map((e) => [e.kind, JSON.parse(e.body)])
      expect(before).toEqual([["replay", expect.objectContaining({ by: "ops@example.com", ids: ["k1"] })]])
      // The operator replays again after the restart: k1 is not requeued a second time, and the
      // first entry is not contradicted (the second replay names no letter).
      crashing.restart()
      expect(yield* replay).toEqual({ requeued: 0, reingested: 0, failedAgain: 0 })
      expect(yield* store.outboxSize()).toBe(1)
      const after = (yield* store.readAudit("ops", 1, 10)).map((e) => [e.kind, JSON.parse(e.body)])
      expect(after.slice(0, 1)).toEqual(before)
      expect(after.slice(1)).toEqual([
        ["replay", expect.objectContaining({ by: "ops@example.com", ids: [] })],
        ["replayed", expect.objectContaining({ by: "ops@example.com", requeued: 0, replay: 2 })]
      ])
      expect((yield* Audit.verify.pipe(Effect.provideService(Store.Store, store))).problems).toEqual([])
    }))

  it.effect("a crash right after an inbound letter is reingested leaves the replay on record; replayed again, no second effect", () =>
    Effect.gen(function* () {
      const store = yield* MemoryStore.make
      const crashing = crashingAfter(store, ["commit", "commitMany"])
      const layer = Layer.provideMerge(Pipeline.layer({ carriers: [carrier] }), Layer.succeed(Store.Store, crashing.store))
      const intake = Histories.intake({ shipmentId, companyId, events: [] }, 1)
      const tracking = intake.shipments[0]!.trackingNumber!
      yield* Effect.gen(function* () {
        const pipeline = yield* Pipeline.Pipeline
        const early = yield* pipeline.receive(request([observation(tracking, "u1", "delivered", 5)]))
        expect(early.rejected.map((e) => e.reason)).toEqual(["NotFound"])
        yield* pipeline.register(intake)
        const [kept] = yield* DeadLetters.list({ kind: "inbound" })
        const outbox = yield* store.outboxSize()
        crashing.arm()
        yield* Effect.exit(DeadLetters.replay({ kind: "inbound" }, "ops@example.com"))
        // The delivery is in the record (and its effects in the outbox): the replay is on record.
        expect(yield* store.outboxSize()).toBeGreaterThan(outbox)
        const effects = yield* store.outboxSize()
        const before = (yield* store.readAudit("ops", 1, 10)).map((e) => [e.kind, JSON.parse(e.body)])
        expect(before).toEqual([["replay", expect.objectContaining({ by: "ops@example.com", ids: [kept!.id] })]])
        crashing.restart()
        // The letter is still there (the crash came before its removal): replayed again, it is a
        // duplicate, no second effect, and it is gone.
        expect(yield* DeadLetters.replay({ kind: "inbound" }, "ops@example.com")).toEqual({ requeued: 0, reingested: 1, failedAgain: 0 })
        expect(yield* DeadLetters.list()).toEqual([])
        expect(yield* store.outboxSize()).toBe(effects)
        const after = (yield* store.readAudit("ops", 1, 10)).map((e) => [e.kind, JSON.parse(e.body)])
        expect(after.slice(0, 1)).toEqual(before)
        expect(after.slice(1)).toEqual([
          ["replay", expect.objectContaining({ ids: [kept!.id] })],
          ["replayed", expect.objectContaining({ reingested: 1, replay: 2 })]
        ])
        expect((yield* Audit.verify).problems).toEqual([])
      }).pipe(Effect.provide(layer))
    }))
})

describe("DeadLetters.replay and a shipment called ops", () => {
  // Shipment ids are opaque (any non-empty text without control characters), and a shipment's
  // audit stream is named by its id: a shipment called "ops" would share the operators' stream
  // (its head and its entries), and after a replay no event of it could ever be committed.
  it.effect("a shipment called ops is refused at registration; replays keep the ops stream theirs and the trail intact", () =>
    Effect.gen(function* () {
      const store = yield* MemoryStore.make
      const layer = Layer.provideMerge(Pipeline.layer({ carriers: [carrier] }), Layer.succeed(Store.Store, store))
      const ops = Ids.ShipmentId.make(Audit.OPS)
      const intake = Histories.intake({ shipmentId: ops, companyId, events: [] }, 1)
      const other = Histories.intake({ shipmentId, companyId, events: [] }, 2)
      yield* Effect.gen(function* () {
        const pipeline = yield* Pipeline.Pipeline
        yield* DeadLetters.replay({}, "ops@example.com")
        const refused = yield* Effect.flip(pipeline.register(intake))
        expect(refused).toMatchObject({ reason: "Invalid", method: "register", shipmentId: "ops" })
        // Nothing of it was written: no record, no reference data, no audit entry.
        expect(yield* pipeline.record(ops)).toBeUndefined()
        expect(yield* store.getShipment("ops")).toBeUndefined()
        yield* DeadLetters.replay({}, "ops@example.com")
        expect((yield* store.readAudit(Audit.OPS, 1, 100)).map((e) => e.kind)).toEqual(["replay", "replayed", "replay", "replayed"])
        // Other shipments register as before.
        expect(yield* pipeline.register(other)).toEqual([shipmentId])
        expect((yield* Audit.verify).problems).toEqual([])
      }).pipe(Effect.provide(layer))
    }))
})
