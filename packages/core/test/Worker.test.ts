/**
 * Ingest workers on the memory store and transport: riding out storage failures.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"
import { CarrierPort, DeadLetters, Ids, Instant, MemoryStore, MemoryTransport, Metrics, Pipeline, PortError, ShipmentEvent, Store, Transport, Worker } from "../src/index.js"
import { Histories } from "../src/simulation/index.js"
import { scan } from "./builders.js"
import * as signed from "./signedCarrier.js"

const unavailable = (method: string) =>
  new PortError.StorageError({ reason: "Unavailable", module: "test", method, description: "failover" })

/**
 * A memory store that is unreachable (`seen` fails) while `down`, with a pipeline and a memory
 * transport over it. `rideOut` keeps it down for ten visibility timeouts of 1 s (the batch in
 * hand runs out of its 3 deliveries), brings it back, waits until the topic drained, and gives
 * the worker time to sweep the transport's dead letters (once per visibility timeout).
 */
const outage = Effect.gen(function* () {
  const transport = yield* MemoryTransport.make
  const memory = yield* MemoryStore.make
  let down = true
  const store: Store.StoreShape = { ...memory, seen: (keys) => (down ? Effect.fail(unavailable("seen")) : memory.seen(keys)) }
  const layer = Layer.provideMerge(
    Pipeline.layer({}),
    Layer.merge(Layer.succeed(Store.Store, store), Layer.succeed(Transport.Transport, transport))
  )
  const rideOut = Effect.gen(function* () {
    for (let i = 0; i < 100; i++) yield* TestClock.adjust("100 millis")
    down = false
    for (let i = 0; i < 600 && (yield* transport.pending(Worker.TOPIC, Worker.GROUP)) > 0; i++) {
      yield* TestClock.adjust("100 millis")
    }
    for (let i = 0; i < 30; i++) yield* TestClock.adjust("100 millis")
    expect(yield* transport.pending(Worker.TOPIC, Worker.GROUP)).toBe(0)
  })
  return { layer, memory, transport, rideOut }
})

/**
 * A memory transport and a pipeline over a memory store whose `n`-th dead letter write fails
 * (`Unavailable`): a batch that fails while writing its dead letters, after the others were kept.
 */
const failingDeadLetter = (n: number, options: Pipeline.Options) =>
  Effect.gen(function* () {
    const transport = yield* MemoryTransport.make
    const memory = yield* MemoryStore.make
    let puts = 0
    const store: Store.StoreShape = {
      ...memory,
      putDeadLetter: (letter) => (++puts === n ? Effect.fail(unavailable("putDeadLetter")) : memory.putDeadLetter(letter))
    }
    const layer = Layer.provideMerge(
      Pipeline.layer(options),
      Layer.merge(Layer.succeed(Store.Store, store), Layer.succeed(Transport.Transport, transport))
    )
    return { layer, transport }
  })

describe("Worker", () => {
  it.effect("gives every storage outage the whole retry schedule, not what earlier outages left of it", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTransport.make
      let receives = 0
      // Every other receive fails: many short outages, each over after one retry.
      const flaky: Transport.TransportShape = {
        ...memory,
        receive: (...args) =>
          ++receives % 2 === 1
            ? Effect.fail(unavailable("receive"))
            : memory.receive(...args)
      }
      const layer = Layer.provideMerge(
        Pipeline.layer({}),
        Layer.merge(Layer.effect(Store.Store, MemoryStore.make), Layer.succeed(Transport.Transport, flaky))
      )
      const worker = yield* Effect.provide(Worker.make({ waitMillis: 100, storageRetry: Schedule.recurs(1) }), layer)
      const fiber = yield* Effect.fork(worker.run)
      yield* TestClock.adjust("1 second")
      expect(receives).toBeGreaterThan(10)
      expect(fiber.unsafePoll()).toBeNull()
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("backs off while the store is down instead of running the backlog into the dead letters", () =>
    Effect.gen(function* () {
      const { layer, memory, transport, rideOut } = yield* outage
      yield* Effect.gen(function* () {
        yield* Worker.publish(Array.from({ length: 2000 }, (_, i) => ({ _tag: "Event" as const, event: scan(`e${i}`, "in_transit", i) })))
        const worker = yield* Worker.make({ batch: 50, visibilityMillis: 1000, maxDeliveries: 3 })
        const fiber = yield* Effect.fork(worker.run)
        yield* rideOut
        // Only what the worker held while it backed off was given up (wherever it is kept now),
        // not the backlog.
        const givenUp = (yield* transport.deadLetters(Worker.TOPIC, Worker.GROUP, 5000)).length +
          (yield* memory.deadLetters({ limit: 5000 })).filter((l) => JSON.parse(l.error).reason === "Unavailable").length
        expect(givenUp).toBeGreaterThan(0)
        expect(givenUp).toBeLessThanOrEqual(200)
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a message the transport gave up on during an outage lands in the store's dead letters, and replay ingests it", () =>
    Effect.gen(function* () {
      const { layer, memory, transport, rideOut } = yield* outage
      yield* Effect.gen(function* () {
        const pipeline = yield* Pipeline.Pipeline
        const histories = Array.from({ length: 40 }, (_, i) => Histories.generate(i + 1, {}, i))
        for (const [i, h] of histories.entries()) yield* pipeline.register(Histories.intake(h, i))
        const events = histories.flatMap((h) => h.events)
        yield* Worker.publish(events.map((event) => ({ _tag: "Event" as const, event })))
        const worker = yield* Worker.make({ batch: 50, visibilityMillis: 1000, maxDeliveries: 3 })
        const fiber = yield* Effect.fork(worker.run)
        yield* rideOut
        expect(yield* transport.deadLetters(Worker.TOPIC, Worker.GROUP, 5000)).toEqual([])
        const letters = yield* DeadLetters.list({ kind: "inbound" })
        expect(letters.length).toBeGreaterThan(0)
        expect(letters.every((l) => JSON.parse(l.error).reason === "Unavailable")).toBe(true)
        const keys = events.map(Pipeline.idempotencyKey)
        expect((yield* memory.seen(keys)).filter((s) => !s).length).toBeGreaterThan(0)
        // After the fix (here: Redis is back), replay ingests them: every event is in.
        const report = yield* DeadLetters.replay({ kind: "inbound" }, "ops@example.com")
        expect(report.reingested).toBe(letters.length)
        expect(yield* DeadLetters.list({ kind: "inbound" })).toEqual([])
        expect((yield* memory.seen(keys)).every((s) => s)).toBe(true)
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("raw requests of one carrier are spread over the partitions by their content", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTransport.make
      const keys: Array<string> = []
      const recording: Transport.TransportShape = {
        ...memory,
        publish: (topic, messages) => {
          for (const m of messages) keys.push(m.key)
          return memory.publish(topic, messages)
        }
      }
      const request = (n: number) => ({
        _tag: "Request" as const,
        source: "easypost",
        headers: {},
        body: new TextEncoder().encode(`{"n":${n}}`),
        receivedAt: Instant.fromMillis(0)
      })
      yield* Worker.publish([...Array.from({ length: 32 }, (_, n) => request(n)), request(0)]).pipe(
        Effect.provideService(Transport.Transport, recording)
      )
      // Not one key (one partition, one process) for all of a carrier's webhooks...
      expect(new Set(keys).size).toBe(32)
      // ...and a retransmission goes where the first copy went.
      expect(keys[32]).toBe(keys[0])
    }))
  it.effect("an adapter that crashes on a request dead-letters that request as a Bug; the worker goes on", () =>
    Effect.gen(function* () {
      const crashing: CarrierPort.CarrierPortShape = {
        source: "flaky",
        verify: () => Effect.void,
        parse: (request) =>
          Effect.sync(() => {
            const text = new TextDecoder().decode(request.body)
            // An adapter bug: it throws on a payload it did not expect.
            if (text.includes("boom")) throw new TypeError("Cannot read properties of undefined (reading 'status')")
            return []
          }),
        createTracker: () => Effect.die("not used"),
        buyLabel: () => Effect.die("not used")
      }
      const transport = yield* MemoryTransport.make
      const store = yield* MemoryStore.make
      const layer = Layer.provideMerge(
        Pipeline.layer({ carriers: [crashing] }),
        Layer.merge(Layer.succeed(Store.Store, store), Layer.succeed(Transport.Transport, transport))
      )
      yield* Effect.gen(function* () {
        const request = (text: string) => ({
          _tag: "Request" as const,
          source: "flaky",
          headers: {},
          body: new TextEncoder().encode(text),
          receivedAt: Instant.fromMillis(0)
        })
        yield* Worker.publish([request("{\"boom\":1}")])
        const worker = yield* Worker.make({ waitMillis: 10 })
        const fiber = yield* Effect.fork(worker.run)
        yield* TestClock.adjust("1 second")
        // The worker is still running, the crash is kept as a dead letter with its reason.
        expect(fiber.unsafePoll()).toBeNull()
        yield* Worker.publish([request("{\"fine\":1}")])
        yield* TestClock.adjust("1 second")
        expect(yield* transport.pending(Worker.TOPIC, Worker.GROUP)).toBe(0)
        const letters = yield* DeadLetters.list({ kind: "inbound" })
        expect(letters.map((l) => JSON.parse(l.error).reason)).toEqual(["Bug"])
        expect(letters[0]!.error).toMatch(/reading 'status'/)
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(layer))
    }))
  it.effect("a message that crashes the pipeline is found by ingesting the batch one by one and dead-lettered; its batch-mates are ingested", () =>
    Effect.gen(function* () {
      const transport = yield* MemoryTransport.make
      const memory = yield* MemoryStore.make
      const poison = "ev-poison"
      // A bug somewhere below the pipeline, triggered by one event only.
      const store: Store.StoreShape = {
        ...memory,
        seen: (keys) =>
          keys.some((k) => k.includes(poison)) ? Effect.die(new RangeError("Invalid array length")) : memory.seen(keys)
      }
      const layer = Layer.provideMerge(
        Pipeline.layer({}),
        Layer.merge(Layer.succeed(Store.Store, store), Layer.succeed(Transport.Transport, transport))
      )
      yield* Effect.gen(function* () {
        const pipeline = yield* Pipeline.Pipeline
        const h = Histories.generate(3, { duplicates: false, conflicts: false }, 0)
        yield* pipeline.register(Histories.intake(h, 0))
        const bad = ShipmentEvent.StatusReported.make({ ...(h.events[0] as ShipmentEvent.StatusReported), id: Ids.EventId.make(poison) })
        yield* Worker.publish([...h.events, bad].map((event) => ({ _tag: "Event" as const, event })))
        const counted = Metric.tagged(Metric.tagged(Metrics.deadLetters, "target", "ingest"), "reason", "Bug")
        const before = (yield* Metric.value(counted)).count
        const worker = yield* Worker.make({ waitMillis: 10, batch: 64 })
        const fiber = yield* Effect.fork(worker.run)
        yield* TestClock.adjust("1 second")
        expect(fiber.unsafePoll()).toBeNull()
        expect(yield* transport.pending(Worker.TOPIC, Worker.GROUP)).toBe(0)
        // Counted where alerts look: waybill_dead_letters_total{target="ingest",reason="Bug"}.
        expect((yield* Metric.value(counted)).count - before).toBe(1)
        // Every other event is in; the poison is kept with the crash as its reason.
        expect((yield* memory.seen(h.events.map(Pipeline.idempotencyKey))).every((s) => s)).toBe(true)
        const letters = yield* DeadLetters.list({ kind: "inbound" })
        expect(letters.length).toBe(1)
        expect(JSON.parse(letters[0]!.error)).toMatchObject({ reason: "Bug" })
        expect(letters[0]!.error).toMatch(/RangeError: Invalid array length/)
        expect(letters[0]!.payload).toContain(poison)
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(layer))
    }))

  /**
   * A memory store whose `seen` times out for the event `ev-stuck` only (a hot key, a value the
   * store chokes on), with `overrides` on top, and a pipeline over it with a memory transport;
   * `stuck(h)` is that event, a copy of the history's first one.
   */
  const stuckSetup = (description: string, overrides: (memory: MemoryStore.MemoryStore) => Partial<Store.StoreShape> = () => ({})) =>
    Effect.gen(function* () {
      const transport = yield* MemoryTransport.make
      const memory = yield* MemoryStore.make
      const store: Store.StoreShape = {
        ...memory,
        seen: (keys) =>
          keys.some((k) => k.includes("ev-stuck"))
            ? Effect.fail(new PortError.StorageError({ reason: "Timeout", module: "test", method: "seen", description }))
            : memory.seen(keys),
        ...overrides(memory)
      }
      const layer = Layer.provideMerge(
        Pipeline.layer({}),
        Layer.merge(Layer.succeed(Store.Store, store), Layer.succeed(Transport.Transport, transport))
      )
      const stuck = (h: Histories.History) =>
        ShipmentEvent.StatusReported.make({ ...(h.events[0] as ShipmentEvent.StatusReported), id: Ids.EventId.make("ev-stuck") })
      return { transport, memory, layer, stuck }
    })

  it.effect("a message that always fails for a retryable reason does not hold its batch-mates: they are committed and acknowledged, it alone is redelivered and given up", () =>
    Effect.gen(function* () {
      const poison = "ev-stuck"
      // The store times out for this one event only.
      const { layer, memory, stuck, transport } = yield* stuckSetup("timed out")
      yield* Effect.gen(function* () {
        const pipeline = yield* Pipeline.Pipeline
        const h = Histories.generate(3, { duplicates: false, conflicts: false }, 0)
        yield* pipeline.register(Histories.intake(h, 0))
        const bad = stuck(h)
        yield* Worker.publish([...h.events, bad].map((event) => ({ _tag: "Event" as const, event })))
        const worker = yield* Worker.make({ waitMillis: 10, batch: 64, visibilityMillis: 1000, maxDeliveries: 3 })
        // The first poll commits and acknowledges the healthy messages at once; only the stuck one stays.
        yield* Effect.either(worker.poll)
        expect((yield* memory.seen(h.events.map(Pipeline.idempotencyKey))).every((s) => s)).toBe(true)
        expect(yield* transport.pending(Worker.TOPIC, Worker.GROUP)).toBe(1)
        const fiber = yield* Effect.fork(worker.run)
        for (let i = 0; i < 60; i++) yield* TestClock.adjust("100 millis")
        expect(fiber.unsafePoll()).toBeNull()
        expect(yield* transport.pending(Worker.TOPIC, Worker.GROUP)).toBe(0)
        // Only the stuck message waits for an operator.
        const letters = yield* DeadLetters.list({ kind: "inbound" })
        expect(letters.length).toBe(1)
        expect(letters[0]!.payload).toContain(poison)
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a message nested too deep to describe is dead-lettered as Invalid; the worker goes on", () =>
    Effect.gen(function* () {
      const transport = yield* MemoryTransport.make
      const layer = Layer.provideMerge(
        Pipeline.layer({}),
        Layer.merge(Layer.effect(Store.Store, MemoryStore.make), Layer.succeed(Transport.Transport, transport))
      )
      yield* Effect.gen(function* () {
        // Put on the topic by another producer (or corrupt): not what `publish` writes.
        const deep = "[".repeat(5000) + "]".repeat(5000)
        const bodies = [`{"_tag":"Request","source":"x","headers":${deep}}`, `{"_tag":"Event","event":{"raw":${deep}}}`]
        yield* transport.publish(Worker.TOPIC, bodies.map((body) => ({ key: "k", body })))
        // Its failure is readable, and says why without quoting the value.
        for (const body of bodies) {
          const decoded = Worker.decodeMessage(body)
          expect(decoded._tag).toBe("Left")
          if (decoded._tag === "Left") expect(decoded.left.message).toMatch(/nested more than \d+ levels deep/)
        }
        yield* Worker.publish([{ _tag: "Event" as const, event: scan("e1", "in_transit", 1) }])
        const worker = yield* Worker.make({ waitMillis: 10, batch: 64 })
        const fiber = yield* Effect.fork(worker.run)
        yield* TestClock.adjust("1 second")
        expect(fiber.unsafePoll()).toBeNull()
        expect(yield* transport.pending(Worker.TOPIC, Worker.GROUP)).toBe(0)
        const letters = yield* DeadLetters.list({ kind: "inbound" })
        expect(letters.filter((l) => JSON.parse(l.error).reason === "Invalid").length).toBe(2)
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a message given up after failing for a retryable reason is dead-lettered with that failure, not as Unavailable", () =>
    Effect.gen(function* () {
      const poison = "ev-stuck"
      const { layer, stuck, transport } = yield* stuckSetup("the hot key timed out")
      yield* Effect.gen(function* () {
        const pipeline = yield* Pipeline.Pipeline
        const h = Histories.generate(3, { duplicates: false, conflicts: false }, 0)
        yield* pipeline.register(Histories.intake(h, 0))
        const bad = stuck(h)
        yield* Worker.publish([...h.events, bad].map((event) => ({ _tag: "Event" as const, event })))
        const counted = Metric.tagged(Metric.tagged(Metrics.deadLetters, "target", "ingest"), "reason", "Timeout")
        const before = (yield* Metric.value(counted)).count
        const worker = yield* Worker.make({ waitMillis: 10, batch: 64, visibilityMillis: 1000, maxDeliveries: 3 })
        const fiber = yield* Effect.fork(worker.run)
        for (let i = 0; i < 60; i++) yield* TestClock.adjust("100 millis")
        expect(yield* transport.pending(Worker.TOPIC, Worker.GROUP)).toBe(0)
        const letters = yield* DeadLetters.list({ kind: "inbound" })
        expect(letters.length).toBe(1)
        expect(letters[0]!.payload).toContain(poison)
        expect(letters[0]!.attempts).toBe(3)
        // Its own reason, where an operator filters and alerts look, and what happened.
        const error = JSON.parse(letters[0]!.error)
        expect(error.reason).toBe("Timeout")
        expect(error.description).toMatch(/3 deliveries/)
        expect(error.description).toMatch(/the hot key timed out/)
        expect((yield* Metric.value(counted)).count - before).toBe(1)
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a message given up that could not be kept at once is swept from the transport's dead letters with its last failure", () =>
    Effect.gen(function* () {
      let keeps = 0
      const { layer, stuck, transport } = yield* stuckSetup("the hot key timed out", (memory) => ({
        // The first attempt to keep it fails: the transport's dead letters hold it until the sweep.
        putDeadLetter: (letter) => (++keeps === 1 ? Effect.fail(unavailable("putDeadLetter")) : memory.putDeadLetter(letter))
      }))
      yield* Effect.gen(function* () {
        const pipeline = yield* Pipeline.Pipeline
        const h = Histories.generate(3, { duplicates: false, conflicts: false }, 0)
        yield* pipeline.register(Histories.intake(h, 0))
        const bad = stuck(h)
        yield* Worker.publish([{ _tag: "Event" as const, event: bad }])
        const worker = yield* Worker.make({ waitMillis: 10, visibilityMillis: 1000, maxDeliveries: 2 })
        const fiber = yield* Effect.fork(worker.run)
        for (let i = 0; i < 60; i++) yield* TestClock.adjust("100 millis")
        expect(yield* transport.pending(Worker.TOPIC, Worker.GROUP)).toBe(0)
        expect(yield* transport.deadLetters(Worker.TOPIC, Worker.GROUP, 10)).toEqual([])
        const letters = yield* DeadLetters.list({ kind: "inbound" })
        expect(letters.length).toBe(1)
        const error = JSON.parse(letters[0]!.error)
        expect(error.reason).toBe("Timeout")
        expect(error.description).toMatch(/the hot key timed out/)
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a batch that fails on a store that is down is not tried message by message: three failures in a row are an outage", () =>
    Effect.gen(function* () {
      const transport = yield* MemoryTransport.make
      const memory = yield* MemoryStore.make
      let calls = 0
      const store: Store.StoreShape = { ...memory, seen: () => Effect.sync(() => calls++).pipe(Effect.zipRight(Effect.fail(unavailable("seen")))) }
      const layer = Layer.provideMerge(
        Pipeline.layer({}),
        Layer.merge(Layer.succeed(Store.Store, store), Layer.succeed(Transport.Transport, transport))
      )
      yield* Effect.gen(function* () {
        yield* Worker.publish(Array.from({ length: 50 }, (_, i) => ({ _tag: "Event" as const, event: scan(`e${i}`, "in_transit", i) })))
        const worker = yield* Worker.make({ batch: 50, waitMillis: 10 })
        const failed = yield* Effect.flip(worker.poll)
        expect(failed.reason).toBe("Unavailable")
        // The batch, then three messages on their own.
        expect(calls).toBe(4)
        expect(yield* transport.pending(Worker.TOPIC, Worker.GROUP)).toBe(50)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a request an adapter always answers Unavailable for does not hold the other requests of its batch", () =>
    Effect.gen(function* () {
      const stuck: CarrierPort.CarrierPortShape = {
        source: "stuck",
        verify: () => Effect.void,
        parse: (request) =>
          new TextDecoder().decode(request.body).includes("stuck")
            ? Effect.fail(new PortError.CarrierError({ reason: "Unavailable", module: "test", method: "parse", description: "lookup down for this one" }))
            : Effect.succeed([]),
        createTracker: () => Effect.die("not used"),
        buyLabel: () => Effect.die("not used")
      }
      const transport = yield* MemoryTransport.make
      const store = yield* MemoryStore.make
      const layer = Layer.provideMerge(
        Pipeline.layer({ carriers: [stuck] }),
        Layer.merge(Layer.succeed(Store.Store, store), Layer.succeed(Transport.Transport, transport))
      )
      yield* Effect.gen(function* () {
        const request = (text: string) => ({
          _tag: "Request" as const,
          source: "stuck",
          headers: {},
          body: new TextEncoder().encode(text),
          receivedAt: Instant.fromMillis(0)
        })
        yield* Worker.publish([request("{\"n\":1}"), request("{\"stuck\":1}"), request("{\"n\":2}")])
        const worker = yield* Worker.make({ waitMillis: 10, visibilityMillis: 1000, maxDeliveries: 3 })
        yield* Effect.either(worker.poll)
        expect(yield* transport.pending(Worker.TOPIC, Worker.GROUP)).toBe(1)
        const fiber = yield* Effect.fork(worker.run)
        for (let i = 0; i < 60; i++) yield* TestClock.adjust("100 millis")
        expect(yield* transport.pending(Worker.TOPIC, Worker.GROUP)).toBe(0)
        const letters = yield* DeadLetters.list({ kind: "inbound" })
        expect(letters.length).toBe(1)
        expect(letters[0]!.payload).toContain(Buffer.from("{\"stuck\":1}").toString("base64"))
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a permanent failure the pipeline lets out is dead-lettered with its own reason and acknowledged; its batch-mates are ingested", () =>
    Effect.gen(function* () {
      const transport = yield* MemoryTransport.make
      const memory = yield* MemoryStore.make
      const poison = "ev-refused"
      const base = Layer.merge(Layer.succeed(Store.Store, memory), Layer.succeed(Transport.Transport, transport))
      // A pipeline that fails (instead of dead-lettering) a message it refuses for good.
      const refusing = Layer.effect(
        Pipeline.Pipeline,
        Effect.map(Pipeline.Pipeline, (real): Pipeline.PipelineShape => {
          const refused = (messages: ReadonlyArray<Pipeline.InboundMessage>) =>
            messages.some((m) => m._tag === "Event" && m.event.id === poison)
          const error = new Pipeline.IngestError({ reason: "Invalid", module: "test", method: "receive", description: "refused for good" })
          return {
            ...real,
            receive: (m) => (refused([m]) ? Effect.fail(error) : real.receive(m)),
            receiveMany: (ms) => (refused(ms) ? Effect.fail(error) : real.receiveMany(ms))
          }
        })
      ).pipe(Layer.provide(Layer.provide(Pipeline.layer({}), base)))
      yield* Effect.gen(function* () {
        const pipeline = yield* Pipeline.Pipeline
        const h = Histories.generate(3, { duplicates: false, conflicts: false }, 0)
        yield* pipeline.register(Histories.intake(h, 0))
        const bad = ShipmentEvent.StatusReported.make({ ...(h.events[0] as ShipmentEvent.StatusReported), id: Ids.EventId.make(poison) })
        yield* Worker.publish([...h.events, bad].map((event) => ({ _tag: "Event" as const, event })))
        const worker = yield* Worker.make({ waitMillis: 10, batch: 64, visibilityMillis: 1000, maxDeliveries: 3 })
        expect(yield* worker.poll).toBe(h.events.length + 1)
        expect(yield* transport.pending(Worker.TOPIC, Worker.GROUP)).toBe(0)
        expect((yield* memory.seen(h.events.map(Pipeline.idempotencyKey))).every((s) => s)).toBe(true)
        const letters = yield* DeadLetters.list({ kind: "inbound" })
        expect(letters.length).toBe(1)
        expect(JSON.parse(letters[0]!.error)).toMatchObject({ reason: "Invalid", description: "refused for good" })
        expect(letters[0]!.payload).toContain(poison)
      }).pipe(Effect.provide(Layer.merge(refusing, base)))
    }))

  it.effect("a message its failed batch already dead-lettered is counted once, not again when the batch is ingested one message at a time", () =>
    Effect.gen(function* () {
      // The store drops out while the batch's second dead letter is written (the first is kept).
      const { layer, transport } = yield* failingDeadLetter(2, {})
      yield* Effect.gen(function* () {
        // Three events of a shipment nobody registered: each is dead-lettered (NotFound).
        yield* Worker.publish(["e1", "e2", "e3"].map((id, i) => ({ _tag: "Event" as const, event: scan(id, "in_transit", i) })))
        const counted = Metric.tagged(Metric.tagged(Metrics.deadLetters, "target", "ingest"), "reason", "NotFound")
        const before = (yield* Metric.value(counted)).count
        const worker = yield* Worker.make({ waitMillis: 10, batch: 64 })
        expect(yield* worker.poll).toBe(3)
        expect(yield* transport.pending(Worker.TOPIC, Worker.GROUP)).toBe(0)
        const letters = yield* DeadLetters.list({ kind: "inbound" })
        expect(letters.map((l) => JSON.parse(l.error).reason)).toEqual(["NotFound", "NotFound", "NotFound"])
        // Three letters, three counted: e1's letter, kept before the batch failed, is not written
        // (and counted) a second time.
        expect((yield* Metric.value(counted)).count - before).toBe(3)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a webhook whose observations its failed batch already dead-lettered is counted once, not again when the batch is ingested one message at a time", () =>
    Effect.gen(function* () {
      // The store drops out while the batch's third dead letter is written (two are kept).
      const { layer, transport } = yield* failingDeadLetter(3, { carriers: [signed.carrier] })
      yield* Effect.gen(function* () {
        // A webhook with two observations of tracking numbers nobody registered (each kept as a
        // letter of its own, NotFound), and an event of a shipment nobody registered.
        const webhook = signed.request([signed.observation("TRK-NOPE-1", "o1", "in_transit", 1), signed.observation("TRK-NOPE-2", "o2", "in_transit", 2)])
        yield* Worker.publish([webhook, { _tag: "Event" as const, event: scan("e3", "in_transit", 3) }])
        const counted = Metric.tagged(Metric.tagged(Metrics.deadLetters, "target", "ingest"), "reason", "NotFound")
        const before = (yield* Metric.value(counted)).count
        const worker = yield* Worker.make({ waitMillis: 10, batch: 64 })
        expect(yield* worker.poll).toBe(2)
        expect(yield* transport.pending(Worker.TOPIC, Worker.GROUP)).toBe(0)
        const letters = yield* DeadLetters.list({ kind: "inbound" })
        expect(letters.map((l) => JSON.parse(l.error).reason)).toEqual(["NotFound", "NotFound", "NotFound"])
        // Three letters, three counted: the webhook's two, kept before the batch failed, are not
        // written (and counted) a second time.
        expect((yield* Metric.value(counted)).count - before).toBe(3)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a poll interrupted after its batch was committed (before or during the ack) has it delivered again and deduplicated: nothing applied or planned twice", () =>
    Effect.gen(function* () {
      for (const cut of ["after commit", "in ack"] as const) {
        const memoryTransport = yield* MemoryTransport.make
        const memory = yield* MemoryStore.make
        // The far side of the cut call parks the poll there until it is interrupted.
        const parked = yield* Deferred.make<void>()
        const park = Effect.zipRight(Deferred.succeed(parked, undefined), Effect.never)
        let commits = 0
        let acks = 0
        const store: Store.StoreShape = {
          ...memory,
          commitMany: (c) => Effect.zipLeft(memory.commitMany(c), cut === "after commit" && ++commits === 1 ? park : Effect.void)
        }
        const transport: Transport.TransportShape = {
          ...memoryTransport,
          ack: (...args) => cut === "in ack" && ++acks === 1 ? park : memoryTransport.ack(...args)
        }
        const layer = Layer.provideMerge(
          Pipeline.layer({}),
          Layer.merge(Layer.succeed(Store.Store, store), Layer.succeed(Transport.Transport, transport))
        )
        yield* Effect.gen(function* () {
          const pipeline = yield* Pipeline.Pipeline
          const h = Histories.generate(2, { cancellations: false }, 0)
          yield* pipeline.register(Histories.intake(h, 0))
          yield* Worker.publish(h.events.map((event) => ({ _tag: "Event" as const, event })))
          const options = { visibilityMillis: 1000, waitMillis: 10 }
          const fiber = yield* Effect.fork((yield* Worker.make(options)).poll)
          yield* Deferred.await(parked)
          yield* Fiber.interrupt(fiber)
          const committed = (yield* pipeline.record(h.shipmentId))!
          const outbox = yield* memory.outboxSize()
          expect(committed.state.events.length).toBeGreaterThan(0)
          expect(outbox).toBeGreaterThan(0)
          // Not acknowledged: delivered again after the visibility timeout, to another worker.
          yield* TestClock.adjust("2 seconds")
          expect(yield* (yield* Worker.make(options)).poll).toBe(h.events.length)
          expect(yield* memoryTransport.pending(Worker.TOPIC, Worker.GROUP)).toBe(0)
          const after = (yield* pipeline.record(h.shipmentId))!
          expect(after.state.events.length, cut).toBe(committed.state.events.length)
          expect(after.audit.seq, cut).toBe(committed.audit.seq)
          expect(yield* memory.outboxSize(), cut).toBe(outbox)
        }).pipe(Effect.provide(layer))
      }
    }))
  it.effect("a batch that takes longer than the visibility timeout keeps its lease: no other worker gets it meanwhile", () =>
    Effect.gen(function* () {
      const transport = yield* MemoryTransport.make
      const memory = yield* MemoryStore.make
      // The store answers a commit after five visibility timeouts (a slow failover, a big batch).
      const store: Store.StoreShape = { ...memory, commitMany: (c) => Effect.zipRight(Effect.sleep("5 seconds"), memory.commitMany(c)) }
      const layer = Layer.provideMerge(
        Pipeline.layer({}),
        Layer.merge(Layer.succeed(Store.Store, store), Layer.succeed(Transport.Transport, transport))
      )
      yield* Effect.gen(function* () {
        const pipeline = yield* Pipeline.Pipeline
        const h = Histories.generate(2, { cancellations: false }, 0)
        yield* pipeline.register(Histories.intake(h, 0))
        yield* Worker.publish(h.events.map((event) => ({ _tag: "Event" as const, event })))
        const slow = yield* Effect.fork((yield* Worker.make({ visibilityMillis: 1000, waitMillis: 0, consumer: "a" })).poll)
        // Another worker polls all along: it must not be handed the batch still in hand.
        const taken: Array<Transport.Delivery> = []
        for (let i = 0; i < 45; i++) {
          yield* TestClock.adjust("100 millis")
          taken.push(...(yield* transport.receive(Worker.TOPIC, Worker.GROUP, "b", {
            max: 64,
            visibilityMillis: 1000,
            waitMillis: 0,
            maxDeliveries: 10
          })))
        }
        expect(taken.map((d) => [d.id, d.deliveries])).toEqual([])
        yield* TestClock.adjust("1 second")
        expect(yield* Fiber.join(slow)).toBe(h.events.length)
        expect(yield* transport.pending(Worker.TOPIC, Worker.GROUP)).toBe(0)
        // The lease, once the batch is done, is no longer extended: nothing lingers.
        yield* TestClock.adjust("5 seconds")
        expect(yield* transport.deadLetters(Worker.TOPIC, Worker.GROUP, 10)).toEqual([])
      }).pipe(Effect.provide(layer))
    }))
  it.effect("a worker hung on a batch renews its lease only up to maxLeaseMillis; then the batch goes to another worker", () =>
    Effect.gen(function* () {
      const transport = yield* MemoryTransport.make
      const memory = yield* MemoryStore.make
      const store: Store.StoreShape = { ...memory, commitMany: () => Effect.never }
      const layer = Layer.provideMerge(
        Pipeline.layer({}),
        Layer.merge(Layer.succeed(Store.Store, store), Layer.succeed(Transport.Transport, transport))
      )
      yield* Effect.gen(function* () {
        const pipeline = yield* Pipeline.Pipeline
        const h = Histories.generate(2, { cancellations: false }, 0)
        yield* pipeline.register(Histories.intake(h, 0))
        yield* Worker.publish(h.events.map((event) => ({ _tag: "Event" as const, event })))
        const hung = yield* Effect.fork(
          (yield* Worker.make({ visibilityMillis: 1000, maxLeaseMillis: 3000, waitMillis: 0, consumer: "a" })).poll
        )
        const receive = transport.receive(Worker.TOPIC, Worker.GROUP, "b", { max: 64, visibilityMillis: 1000, waitMillis: 0, maxDeliveries: 10 })
        for (let i = 0; i < 25; i++) {
          yield* TestClock.adjust("100 millis")
          expect(yield* receive).toEqual([])
        }
        yield* TestClock.adjust("2 seconds")
        expect((yield* receive).map((d) => d.deliveries)).toEqual(h.events.map(() => 2))
        yield* Fiber.interrupt(hung)
      }).pipe(Effect.provide(layer))
    }))
  it.effect("workers sweeping the transport's dead letters at once count each letter once", () =>
    Effect.gen(function* () {
      const memoryTransport = yield* MemoryTransport.make
      // A transport across the network (Redis): every call waits for its answer, so the sweeps of
      // two workers started together (the facade's, or two processes') interleave.
      const remote: Transport.TransportShape = {
        ...memoryTransport,
        deadLetters: (...args) => Effect.zipRight(Effect.sleep("1 millis"), memoryTransport.deadLetters(...args)),
        dropDeadLetters: (...args) => Effect.zipRight(Effect.sleep("1 millis"), memoryTransport.dropDeadLetters(...args))
      }
      const memory = yield* MemoryStore.make
      const layer = Layer.provideMerge(
        Pipeline.layer({}),
        Layer.merge(Layer.succeed(Store.Store, memory), Layer.succeed(Transport.Transport, remote))
      )
      yield* Effect.gen(function* () {
        // Three messages a crashed process held until the transport gave up on them.
        yield* memoryTransport.publish(Worker.TOPIC, [0, 1, 2].map((i) => ({ key: `k${i}`, body: `{"n":${i}}` })))
        const o = { max: 10, visibilityMillis: 1000, waitMillis: 0, maxDeliveries: 1 }
        expect((yield* memoryTransport.receive(Worker.TOPIC, Worker.GROUP, "crashed", o)).length).toBe(3)
        yield* TestClock.adjust("1 second")
        expect(yield* memoryTransport.receive(Worker.TOPIC, Worker.GROUP, "other", o)).toEqual([])
        const counted = Metric.tagged(Metric.tagged(Metrics.deadLetters, "target", "ingest"), "reason", "Unavailable")
        const before = (yield* Metric.value(counted)).count
        const options = { visibilityMillis: 1000, waitMillis: 0, maxDeliveries: 1 }
        const workers = [yield* Worker.make(options), yield* Worker.make(options)]
        const polls = yield* Effect.fork(Effect.all(workers.map((w) => w.poll), { concurrency: "unbounded" }))
        for (let i = 0; i < 10; i++) yield* TestClock.adjust("1 millis")
        yield* Fiber.join(polls)
        expect(yield* memoryTransport.deadLetters(Worker.TOPIC, Worker.GROUP, 10)).toEqual([])
        expect((yield* memory.deadLetters({ limit: 10 })).length).toBe(3)
        // Three letters moved, three counted: not once per worker that swept them.
        expect((yield* Metric.value(counted)).count - before).toBe(3)
      }).pipe(Effect.provide(layer))
    }))
  it.effect("moves every dead letter the transport holds to the store, not a hundred per visibility timeout", () =>
    Effect.gen(function* () {
      const transport = yield* MemoryTransport.make
      const memory = yield* MemoryStore.make
      const layer = Layer.provideMerge(
        Pipeline.layer({}),
        Layer.merge(Layer.succeed(Store.Store, memory), Layer.succeed(Transport.Transport, transport))
      )
      yield* Effect.gen(function* () {
        // 250 messages a crashed process held until the transport gave up on them.
        yield* transport.publish(Worker.TOPIC, Array.from({ length: 250 }, (_, i) => ({ key: `k${i}`, body: `{"n":${i}}` })))
        const o = { max: 1000, visibilityMillis: 1000, waitMillis: 0, maxDeliveries: 1 }
        expect((yield* transport.receive(Worker.TOPIC, Worker.GROUP, "crashed", o)).length).toBe(250)
        yield* TestClock.adjust("1 second")
        expect(yield* transport.receive(Worker.TOPIC, Worker.GROUP, "other", o)).toEqual([])
        expect((yield* transport.deadLetters(Worker.TOPIC, Worker.GROUP, 1000)).length).toBe(250)
        const worker = yield* Worker.make({ visibilityMillis: 1000, waitMillis: 0, maxDeliveries: 1 })
        // A few idle polls, well within one visibility timeout.
        for (let i = 0; i < 5; i++) {
          yield* worker.poll
          yield* TestClock.adjust("10 millis")
        }
        expect((yield* transport.deadLetters(Worker.TOPIC, Worker.GROUP, 1000)).length).toBe(0)
        const letters = yield* memory.deadLetters({ limit: 1000 })
        expect(letters.length).toBe(250)
        expect(letters.every((l) => l.payload.startsWith("{\"n\":"))).toBe(true)
        // Nothing better is known of a message a crashed process held: Unavailable.
        expect(letters.every((l) => JSON.parse(l.error).reason === "Unavailable")).toBe(true)
      }).pipe(Effect.provide(layer))
    }))
})
