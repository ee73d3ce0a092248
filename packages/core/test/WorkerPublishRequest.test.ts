/**
 * What `Worker.publish` (and so `Waybill.webhook`) keeps of a raw carrier request before it is
 * stored on the transport and, if it fails, in the dead letters.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { CarrierPort, DeadLetters, Instant, MemoryStore, MemoryTransport, Pipeline, PortError, Store, Transport, Worker } from "../src/index.js"

const request = (headers: Record<string, string>, body = "{\"n\":1}") => ({
  _tag: "Request" as const,
  source: "acme",
  headers,
  body: new TextEncoder().encode(body),
  receivedAt: Instant.fromMillis(0)
})

// What a host forwards when it hands over every header it received: the carrier's signature,
// and the credentials of the host's own endpoint (EasyPost `custom_headers`, a gateway, a proxy).
const forwarded = {
  "x-hmac-signature": "hmac-sha256-hex=00",
  "content-type": "application/json",
  authorization: "Basic aG9zdDpzM2NyM3QtcGFzc3dvcmQ=",
  "proxy-authorization": "Bearer proxy-s3cr3t",
  cookie: "session=s3cr3t-cookie",
  "x-api-key": "s3cr3t-api-key"
}

/** A carrier that refuses every request's signature: the request is dead-lettered as it was stored. */
const refusing: CarrierPort.CarrierPortShape = {
  source: "acme",
  verify: () => Effect.fail(new PortError.CarrierError({ reason: "Unauthorized", module: "test", method: "verify", description: "bad signature" })),
  parse: () => Effect.succeed([]),
  createTracker: () => Effect.die("not used"),
  buyLabel: () => Effect.die("not used")
}

describe("Worker.publish (raw requests)", () => {
  it.effect("does not store the credential headers a host forwards with a webhook", () =>
    Effect.gen(function* () {
      const transport = yield* MemoryTransport.make
      yield* Worker.publish([request(forwarded)]).pipe(Effect.provideService(Transport.Transport, transport))
      const [delivery] = yield* transport.receive(Worker.TOPIC, Worker.GROUP, "c", { max: 10, visibilityMillis: 1000, maxDeliveries: 3, waitMillis: 0 })
      expect(delivery).toBeDefined()
      expect(delivery!.body).not.toMatch(/s3cr3t|aG9zdDpzM2NyM3Qt/)
      const message = Worker.decodeMessage(delivery!.body)
      expect(Either.isRight(message)).toBe(true)
      if (Either.isRight(message) && message.right._tag === "Request") {
        // What adapters read is kept as it was.
        expect(message.right.headers).toEqual({ "x-hmac-signature": "hmac-sha256-hex=00", "content-type": "application/json" })
      }
    }))

  it.effect("a rejected webhook's dead letter carries no credential header", () =>
    Effect.gen(function* () {
      const transport = yield* MemoryTransport.make
      const store = yield* MemoryStore.make
      const layer = Layer.provideMerge(
        Pipeline.layer({ carriers: [refusing] }),
        Layer.merge(Layer.succeed(Store.Store, store), Layer.succeed(Transport.Transport, transport))
      )
      yield* Effect.gen(function* () {
        yield* Worker.publish([request({ ...forwarded, Authorization: "Bearer s3cr3t-mixed-case" })])
        const worker = yield* Worker.make({ waitMillis: 10 })
        const fiber = yield* Effect.fork(worker.run)
        yield* TestClock.adjust("1 second")
        const letters = yield* DeadLetters.list({ kind: "inbound" })
        expect(letters.map((l) => JSON.parse(l.error).reason)).toEqual(["Unauthorized"])
        expect(letters[0]!.payload).toMatch(/x-hmac-signature/)
        expect(letters[0]!.payload).not.toMatch(/s3cr3t|aG9zdDpzM2NyM3Qt/)
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a request handed to the pipeline directly (ingestNow) is dead-lettered without its credential headers", () =>
    Effect.gen(function* () {
      const store = yield* MemoryStore.make
      yield* Effect.gen(function* () {
        const pipeline = yield* Pipeline.Pipeline
        yield* pipeline.receive(request(forwarded))
        const letters = yield* DeadLetters.list({ kind: "inbound" })
        expect(letters.length).toBe(1)
        expect(letters[0]!.payload).toMatch(/x-hmac-signature/)
        expect(letters[0]!.payload).not.toMatch(/s3cr3t|aG9zdDpzM2NyM3Qt/)
      }).pipe(Effect.provide(Layer.provideMerge(Pipeline.layer({ carriers: [refusing] }), Layer.succeed(Store.Store, store))))
    }))

  it.effect("a request on the transport with its credential headers (stored by 0.1) that the worker gives up on is kept without them", () =>
    Effect.gen(function* () {
      const transport = yield* MemoryTransport.make
      const store = yield* MemoryStore.make
      // The carrier's lookup is down for good: the worker gives the request up after its deliveries.
      const down: CarrierPort.CarrierPortShape = {
        ...refusing,
        verify: () => Effect.fail(new PortError.CarrierError({ reason: "Unavailable", module: "test", method: "verify", description: "key lookup down" }))
      }
      const layer = Layer.provideMerge(
        Pipeline.layer({ carriers: [down] }),
        Layer.merge(Layer.succeed(Store.Store, store), Layer.succeed(Transport.Transport, transport))
      )
      yield* Effect.gen(function* () {
        // Published before `publish` dropped credential headers: as it was received.
        const body = Schema.encodeSync(Schema.parseJson(Pipeline.InboundMessage))(request(forwarded))
        expect(body).toMatch(/s3cr3t/)
        yield* transport.publish(Worker.TOPIC, [{ key: "acme:1", body }])
        const worker = yield* Worker.make({ waitMillis: 10, visibilityMillis: 1000, maxDeliveries: 2 })
        const fiber = yield* Effect.fork(worker.run)
        for (let i = 0; i < 40; i++) yield* TestClock.adjust("100 millis")
        expect(yield* transport.pending(Worker.TOPIC, Worker.GROUP)).toBe(0)
        const letters = yield* DeadLetters.list({ kind: "inbound" })
        expect(letters.map((l) => JSON.parse(l.error).reason)).toEqual(["Unavailable"])
        expect(letters[0]!.payload).toMatch(/x-hmac-signature/)
        expect(letters[0]!.payload).not.toMatch(/s3cr3t|aG9zdDpzM2NyM3Qt/)
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("refuses a request body too large for any adapter before storing it, as a typed Invalid", () =>
    Effect.gen(function* () {
      const transport = yield* MemoryTransport.make
      const huge = { ...request({}), body: new Uint8Array(16 * 1024 * 1024 + 1) }
      const error = yield* Effect.flip(Worker.publish([huge]).pipe(Effect.provideService(Transport.Transport, transport)))
      expect(error._tag).toBe("StorageError")
      expect(error.reason).toBe("Invalid")
      expect(error.description).toBe("the acme request body is 16777217 bytes, more than the 16777216 allowed: not stored")
      // A host's own bound (here 1 KiB) is honoured the same way.
      const small = { ...request({}), body: new Uint8Array(1025) }
      const refused = yield* Effect.flip(
        Worker.publish([small], Worker.TOPIC, { maxBodyBytes: 1024 }).pipe(Effect.provideService(Transport.Transport, transport))
      )
      expect(refused.description).toBe("the acme request body is 1025 bytes, more than the 1024 allowed: not stored")
      // Nothing of either reached the transport; a body within the bound is stored.
      expect(yield* transport.pending(Worker.TOPIC, Worker.GROUP)).toBe(0)
      yield* Worker.publish([{ ...request({}), body: new Uint8Array(1024) }], Worker.TOPIC, { maxBodyBytes: 1024 }).pipe(
        Effect.provideService(Transport.Transport, transport)
      )
      const received = yield* transport.receive(Worker.TOPIC, Worker.GROUP, "c", { max: 10, visibilityMillis: 1000, maxDeliveries: 3, waitMillis: 0 })
      expect(received.length).toBe(1)
    }))
})
