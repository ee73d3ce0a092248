/**
 * A failure to decode a field annotated as personal data names the field and the rule it broke,
 * never the value: in `ValidationError`, in an adapter's `CarrierError` (and so its dead letter),
 * and in the worker's dead letter for an undecodable message.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import {
  CarrierAdapter,
  DeadLetters,
  MemoryStore,
  MemoryTransport,
  Party,
  Pipeline,
  PortError,
  ShipmentEvent,
  Store,
  Transport,
  Validation,
  Worker
} from "../src/index.js"

// Distinctive text in each personal value: none of it may show up in an error.
const signer = `Jane Quintessa Publicover ${"Q".repeat(287)}` // 313 characters, more than 200
const postal = `SW1A 1AA ${"7".repeat(30)}` // 39 characters, more than 20
const note = `left with neighbour Jonathan Smithers ${"N".repeat(2000)}` // more than 2000
const secrets = ["Jane", "Quintessa", "Publicover", "QQQQ", "SW1A", "7777", "Jonathan", "Smithers", "NNNN"]

const leaks = (text: string): Array<string> => secrets.filter((s) => text.includes(s))

const event = {
  _tag: "StatusReported",
  id: "evt-1",
  shipmentId: "shp-1",
  companyId: "co-1",
  source: "carrier",
  occurredAt: "2024-07-02T08:41:00.000Z",
  receivedAt: "2024-07-02T08:42:00.000Z",
  raw: { code: "DL", description: note },
  status: "delivered",
  location: { city: "London", postalCode: postal },
  pod: { signedBy: signer }
}

describe("ValidationError", () => {
  it("names an over-long signedBy, postalCode and description and the rule, never the value", () => {
    const result = Validation.decodeUnknownEither(ShipmentEvent.ShipmentEvent)(event)
    if (Either.isRight(result)) throw new Error("decoded")
    const error = result.left
    expect(error.issues.map((i) => [i.path, i.message])).toEqual([
      ["raw.description", `Expected a string at most 2000 character(s) long, actual <redacted, ${note.length} characters>`],
      ["location.postalCode", `Expected a string at most 20 character(s) long, actual <redacted, ${postal.length} characters>`],
      ["pod.signedBy", `Expected a string at most 200 character(s) long, actual <redacted, ${signer.length} characters>`]
    ])
    expect(leaks(error.message)).toEqual([])
    // what a dead letter keeps of it
    expect(leaks(JSON.stringify(Schema.encodeSync(Validation.ValidationError)(error)))).toEqual([])
  })

  it("does the same for a party's name, email, street and postal code", () => {
    const result = Validation.decodeUnknownEither(Party.Party)({
      id: "p-1",
      companyId: "co-1",
      refs: {},
      name: signer,
      email: `${signer.replace(/ /g, ".")}@example.com`,
      address: { street: signer, postalCode: postal, city: "London", country: "GB" }
    })
    if (Either.isRight(result)) throw new Error("decoded")
    expect(result.left.issues.map((i) => i.path)).toEqual(["name", "email", "address.street", "address.postalCode"])
    expect(leaks(result.left.message)).toEqual([])
  })

  it("still quotes the values of fields that are not personal data", () => {
    const result = Validation.decodeUnknownEither(ShipmentEvent.ShipmentEvent)({ ...event, status: "teleported", raw: { code: "DL" }, location: { city: "London" }, pod: {} })
    if (Either.isRight(result)) throw new Error("decoded")
    expect(result.left.message).toContain(`actual "teleported"`)
  })

  it("withholds a value of a schema holding personal data wherever a union quotes it whole", () => {
    const result = Validation.decodeUnknownEither(Schema.Union(Schema.Number, Party.Address))({ street: signer, city: 5, country: "GB" })
    if (Either.isRight(result)) throw new Error("decoded")
    expect(result.left.message).toContain("actual <redacted object>")
    expect(leaks(result.left.message)).toEqual([])
  })
})

describe("adapter and worker errors", () => {
  it("an event an adapter cannot build: the CarrierError kept as a dead letter quotes no personal value", () => {
    const built = CarrierAdapter.observation("tracker.tracking_details.0", () => ({
      trackingNumber: "1Z999",
      carrier: "ups",
      event: {
        _tag: "StatusReported",
        id: "evt-1",
        source: "carrier",
        occurredAt: event.occurredAt,
        receivedAt: event.receivedAt,
        raw: new ShipmentEvent.RawCode({ code: "DL" }),
        status: "delivered",
        location: new ShipmentEvent.Location({ city: "London", postalCode: postal })
      } as never
    }))
    if (Either.isRight(built)) throw new Error("built")
    // the Location constructor throws first: the path is the field's within it
    expect(built.left.description).toContain("postalCode: Expected a string at most 20 character(s) long")
    expect(built.left.description).toContain(`<redacted, ${postal.length} characters>`)
    const error = new PortError.CarrierError({
      reason: "Invalid",
      module: "test",
      method: "parse",
      description: built.left.description,
      cause: built.left.cause
    })
    expect(leaks(JSON.stringify(Schema.encodeSync(PortError.CarrierError)(error)))).toEqual([])
  })

  it.effect("a message the worker cannot decode is dead-lettered with a reason that quotes no personal value", () =>
    Effect.gen(function* () {
      const transport = yield* MemoryTransport.make
      const store = yield* MemoryStore.make
      const layer = Layer.provideMerge(
        Pipeline.layer({}),
        Layer.merge(Layer.succeed(Store.Store, store), Layer.succeed(Transport.Transport, transport))
      )
      yield* Effect.gen(function* () {
        const body = JSON.stringify({ _tag: "Event", event })
        expect(Either.isLeft(Worker.decodeMessage(body))).toBe(true)
        yield* transport.publish(Worker.TOPIC, [{ key: "shp-1", body }])
        const worker = yield* Worker.make({ waitMillis: 10 })
        const fiber = yield* Effect.fork(worker.run)
        yield* TestClock.adjust("1 second")
        const letters = yield* DeadLetters.list({ kind: "inbound" })
        expect(letters.map((l) => JSON.parse(l.error).reason)).toEqual(["Invalid"])
        expect(letters[0]!.error).toContain("redacted")
        expect(leaks(letters[0]!.error)).toEqual([])
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(layer))
    }))
})
