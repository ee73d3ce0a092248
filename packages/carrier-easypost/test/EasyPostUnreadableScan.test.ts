/**
 * One `tracking_details` entry EasyPost's Tracker carries that cannot be read (a scan time that
 * is no time, a scan of the wrong shape) no longer holds back the tracker's other scans:
 * `verifyAndParseEach` (the port's `parseEach`) gives them and names the entry by its path,
 * `verifyAndParse` still refuses the whole request, and the pipeline ingests the readable scans
 * while keeping the request as one inbound dead letter naming the unreadable one.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { DeadLetters, ErpPort, type Ids, MemoryStore, Pipeline, Shipment, Store } from "@waybill/core"
import { CarrierSuite, Histories } from "@waybill/core/testing"
import { EasyPostCarrier, EasyPostWebhook } from "../src/index.js"
import * as Fixtures from "./fixtures.js"
import { summarize } from "./fixtures.js"

const secret = "whsec-sécret"
const failureOf = CarrierSuite.failureOf

/** The recorded FedEx `tracker.updated` event, changed by `edit` and signed again. */
const signedEvent = (edit: (payload: any) => void) => {
  const payload = JSON.parse(new TextDecoder().decode(Fixtures.signedEventBody()))
  edit(payload)
  const text = JSON.stringify(payload)
  return Fixtures.request(new TextEncoder().encode(text), { "x-hmac-signature": EasyPostWebhook.sign(text, secret) })
}

const badTime = (payload: any) => {
  payload.result.tracking_details[3].datetime = "yesterday"
}

describe("EasyPostWebhook.verifyAndParseEach", () => {
  it.effect("a scan whose time is no time is named by its path; the six other scans come out as verifyAndParse reads them", () =>
    Effect.gen(function*() {
      const options = { secret: Redacted.make(secret) }
      const all = yield* EasyPostWebhook.verifyAndParse(signedEvent(() => {}), options)
      expect(all).toHaveLength(8) // seven scans and the tracker's weight
      const parsed = yield* EasyPostWebhook.verifyAndParseEach(signedEvent(badTime), options)
      expect(parsed.observations.map(summarize)).toEqual([...all.slice(0, 3), ...all.slice(4)].map(summarize))
      expect(parsed.observations.map((o) => o.event.id)).toEqual([...all.slice(0, 3), ...all.slice(4)].map((o) => o.event.id))
      expect(parsed.unreadable).toHaveLength(1)
      expect(parsed.unreadable[0]).toMatch(/^result\.tracking_details\.3\.datetime: "yesterday" is not a date and time/)
      // The whole-request reading is unchanged: the same entry refuses the request.
      const whole = failureOf(yield* Effect.exit(EasyPostWebhook.verifyAndParse(signedEvent(badTime), options)))
      expect(whole).toMatchObject({ reason: "Invalid", status: 400, module: "EasyPostWebhook", method: "parse" })
      expect(whole.description).toBe(parsed.unreadable[0])
    }))

  it.effect("a scan of the wrong shape is one unreadable entry, not a wrong request; verifyAndParse still refuses it whole", () =>
    Effect.gen(function*() {
      const options = { secret: Redacted.make(secret) }
      const wrongShape = (payload: any) => {
        payload.result.tracking_details[1].status = 42
      }
      const parsed = yield* EasyPostWebhook.verifyAndParseEach(signedEvent(wrongShape), options)
      expect(Fixtures.scansOf(parsed.observations)).toHaveLength(6)
      expect(parsed.unreadable).toEqual(["result.tracking_details.1.status: Expected string, actual 42"])
      const whole = failureOf(yield* Effect.exit(EasyPostWebhook.verifyAndParse(signedEvent(wrongShape), options)))
      expect(whole.description).toBe("result.tracking_details.1.status: Expected string, actual 42")
    }))

  it.effect("an unreadable line never quotes the scan's place, postal code or carrier text", () =>
    Effect.gen(function*() {
      const parsed = yield* EasyPostWebhook.verifyAndParseEach(
        signedEvent((payload) => {
          const scan = payload.result.tracking_details[5]
          scan.datetime = "2024-08-02T18:35:20"
          scan.message = "Left with J. Smith, 12 Elm Street"
          scan.tracking_location = { city: "EDISON TWP", state: "NJ", country: "US", zip: "08817" }
        }),
        { secret: Redacted.make(secret), timePolicy: { _tag: "RequireZone" } }
      )
      expect(Fixtures.scansOf(parsed.observations)).toHaveLength(6)
      expect(parsed.unreadable).toEqual([
        expect.stringMatching(/^result\.tracking_details\.5\.datetime: .*has no time zone and the policy requires one/)
      ])
      for (const text of ["Smith", "Elm", "08817", "EDISON"]) expect(parsed.unreadable[0]).not.toContain(text)
    }))

  it.effect("what concerns the whole request still fails: the signature, a body that is not JSON, a Tracker of the wrong shape", () =>
    Effect.gen(function*() {
      const options = { secret: Redacted.make(secret) }
      const unsigned = failureOf(yield* Effect.exit(EasyPostWebhook.verifyAndParseEach(Fixtures.request(Fixtures.signedEventBody(), {}), options)))
      expect(unsigned).toMatchObject({ reason: "Unauthorized", description: "missing x-hmac-signature header" })
      const text = "{\"object\":\"Event\","
      const notJson = failureOf(
        yield* Effect.exit(
          EasyPostWebhook.verifyAndParseEach(
            Fixtures.request(new TextEncoder().encode(text), { "x-hmac-signature": EasyPostWebhook.sign(text, secret) }),
            options
          )
        )
      )
      expect(notJson.description).toMatch(/^body is not UTF-8 JSON/)
      const noCode = failureOf(
        yield* Effect.exit(EasyPostWebhook.verifyAndParseEach(signedEvent((payload) => delete payload.result.tracking_code), options))
      )
      expect(noCode).toMatchObject({ reason: "Invalid", status: 400, description: "result.tracking_code: is missing" })
      const noList = failureOf(
        yield* Effect.exit(EasyPostWebhook.verifyAndParseEach(signedEvent((payload) => (payload.result.tracking_details = "none")), options))
      )
      expect(noList.description).toMatch(/^result\.tracking_details: Expected ReadonlyArray<unknown>, actual "none"/)
    }))
})

describe("EasyPostCarrier parseEach in the pipeline", () => {
  it.effect("the readable scans are ingested, and one inbound dead letter names the unreadable one", () =>
    Effect.gen(function*() {
      const carrier = yield* EasyPostCarrier.make({ apiKey: Redacted.make("EZAK-test"), webhookSecret: Redacted.make(secret) }).pipe(
        Effect.provide(FetchHttpClient.layer)
      )
      expect(carrier.parseEach).toBeDefined()
      const store = yield* MemoryStore.make
      const pipeline = yield* Pipeline.make({ carriers: [carrier] }).pipe(Effect.provideService(Store.Store, store))
      const intake = Histories.intake({ shipmentId: "shp-ep-1" as Ids.ShipmentId, companyId: "co-1" as Ids.CompanyId, events: [] }, 1)
      // The recorded FedEx tracker's tracking code is "1".
      const shipment = new Shipment.Shipment({ ...intake.shipments[0]!, trackingNumber: "1" })
      yield* pipeline.register(new ErpPort.OrderIntake({ order: intake.order, shipments: [shipment] }))
      const message: Pipeline.InboundMessage = { _tag: "Request", source: "easypost", ...signedEvent(badTime) }
      const received = yield* pipeline.receive(message)
      expect(received.rejected.map((e) => e.reason)).toEqual(["Invalid"])
      expect(received.rejected[0]!.description).toMatch(
        /^1 event\(s\) of this easypost request cannot be read: result\.tracking_details\.3\.datetime: "yesterday" is not a date and time/
      )
      const record = (yield* pipeline.record(shipment.id))!
      expect(record.state.events).toHaveLength(7) // six readable scans and the tracker's weight
      expect(record.state.view.status).toBe("in_transit")
      const letters = yield* Effect.provideService(DeadLetters.list({ kind: "inbound" }), Store.Store, store)
      expect(letters).toHaveLength(1)
      expect(JSON.parse(letters[0]!.error).description).toMatch(
        /^1 event\(s\) of this easypost request cannot be read: result\.tracking_details\.3\.datetime: .*the 7 observation\(s\) read from the others were ingested/ // six scans and the weight
      )
    }))
})
