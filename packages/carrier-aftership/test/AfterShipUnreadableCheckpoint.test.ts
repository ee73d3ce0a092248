/**
 * One checkpoint of an AfterShip `tracking_update` that cannot be read (a zone-less time in a
 * country of several zones under the default `RequireZone`, a time that is no time, no time at
 * all, a checkpoint of the wrong shape) no longer holds back the tracking's other checkpoints:
 * `verifyAndParseEach` (the port's `parseEach`) gives them and names the checkpoint by its path,
 * `verifyAndParse` still refuses the whole request, and the pipeline ingests the readable
 * checkpoints while keeping the request as one inbound dead letter, whose replay once a zone is
 * configured ingests the rest.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { DeadLetters, ErpPort, type Ids, MemoryStore, Pipeline, Shipment, Store, type TimePolicy } from "@waybill/core"
import { CarrierSuite, Histories } from "@waybill/core/testing"
import { AfterShipCarrier, AfterShipWebhook } from "../src/index.js"
import * as Payloads from "./payloads.js"

const secretText = "as-webhook-secret-7f3a"
const secret = Redacted.make(secretText)
const encoder = new TextEncoder()
const failureOf = CarrierSuite.failureOf

const signed = (payload: unknown) => {
  const body = encoder.encode(JSON.stringify(payload))
  return Payloads.request(body, { "aftership-hmac-sha256": AfterShipWebhook.sign(body, secretText) })
}

/** The DHL history with checkpoint `index` replaced by `fields` over it. */
const withCheckpoint = (index: number, fields: Record<string, unknown>) =>
  Payloads.dhlWebhook(Payloads.dhlCheckpoints.map((c, i) => (i === index ? { ...c, ...fields } : c)))

/** The Leipzig arrival scan as if it had been in Memphis: a zone-less time in a country of several zones. */
const memphis = withCheckpoint(2, {
  checkpoint_time: "2024-07-30T06:12:00",
  location: "MEMPHIS, TN - USA",
  city: "MEMPHIS",
  state: "TN",
  zip: "38118",
  country_iso3: "USA",
  country_name: "United States",
  message: "Arrived at DHL Sort Facility MEMPHIS, TN - USA"
})

describe("AfterShipWebhook.verifyAndParseEach", () => {
  it.effect("a zone-less US checkpoint under RequireZone is named by its path; the others come out as verifyAndParse reads them", () =>
    Effect.gen(function*() {
      const all = yield* AfterShipWebhook.verifyAndParse(signed(Payloads.dhlWebhook()), { secret })
      expect(all).toHaveLength(Payloads.dhlCheckpoints.length)
      const parsed = yield* AfterShipWebhook.verifyAndParseEach(signed(memphis), { secret })
      const others = [...all.slice(0, 2), ...all.slice(3)]
      expect(parsed.observations.map(Payloads.summarize)).toEqual(others.map(Payloads.summarize))
      expect(parsed.observations.map((o) => o.event.id)).toEqual(others.map((o) => o.event.id))
      expect(parsed.unreadable).toEqual([
        "msg.checkpoints.2.checkpoint_time: \"2024-07-30T06:12:00\" has no time zone and the policy requires one" +
        " (no single time zone is known for the checkpoint's country US; set timePolicy to the zone of such checkpoints)"
      ])
      // Never the checkpoint's place, postal code or carrier text.
      for (const text of ["MEMPHIS", "38118", "Sort Facility"]) expect(parsed.unreadable[0]).not.toContain(text)
      // The whole-request reading is unchanged: the same checkpoint refuses the request.
      const whole = failureOf(yield* Effect.exit(AfterShipWebhook.verifyAndParse(signed(memphis), { secret })))
      expect(whole).toMatchObject({ reason: "Invalid", status: 400, module: "AfterShipWebhook", method: "parse" })
      expect(whole.description).toBe(parsed.unreadable[0])
    }))

  it.effect("a time that is no time, no time at all and a checkpoint of the wrong shape: one line each, the others kept", () =>
    Effect.gen(function*() {
      const checkpoints = Payloads.dhlCheckpoints.map((c, i) =>
        i === 1
          ? { ...c, checkpoint_time: "29/07/2024 21:45" }
          : i === 3
          ? { ...c, checkpoint_time: null, created_at: null }
          : i === 5
          ? { ...c, tag: 5 }
          : c
      )
      const payload = Payloads.dhlWebhook(checkpoints)
      const parsed = yield* AfterShipWebhook.verifyAndParseEach(signed(payload), { secret })
      expect(parsed.observations.map((o) => Payloads.summarize(o).code)).toEqual(["InfoReceived", "InTransit", "InTransit", "Delivered"])
      expect(parsed.unreadable).toEqual([
        expect.stringMatching(/^msg\.checkpoints\.1\.checkpoint_time: "29\/07\/2024 21:45" is not a date and time/),
        "msg.checkpoints.3.checkpoint_time: missing (and no created_at to fall back on)",
        expect.stringMatching(/^msg\.checkpoints\.5\.tag: Expected string, actual 5/)
      ])
      // verifyAndParse refuses the whole request, as before: schema issues first.
      const whole = failureOf(yield* Effect.exit(AfterShipWebhook.verifyAndParse(signed(payload), { secret })))
      expect(whole.description).toMatch(/^msg\.checkpoints\.5\.tag: Expected string, actual 5/)
    }))

  it.effect("a date-only checkpoint is still skipped, not unreadable", () =>
    Effect.gen(function*() {
      const parsed = yield* AfterShipWebhook.verifyAndParseEach(signed(withCheckpoint(4, { checkpoint_time: "2024-07-30" })), { secret })
      expect(parsed.observations).toHaveLength(Payloads.dhlCheckpoints.length - 1)
      expect(parsed.unreadable).toEqual([])
    }))

  it.effect("what concerns the whole request still fails: the signature, a body that is not JSON, a tracking of the wrong shape", () =>
    Effect.gen(function*() {
      const body = encoder.encode(JSON.stringify(memphis))
      const unsigned = failureOf(yield* Effect.exit(AfterShipWebhook.verifyAndParseEach(Payloads.request(body, {}), { secret })))
      expect(unsigned).toMatchObject({ reason: "Unauthorized", status: 401 })
      const notJson = encoder.encode("{\"event\":")
      const broken = failureOf(
        yield* Effect.exit(
          AfterShipWebhook.verifyAndParseEach(
            Payloads.request(notJson, { "aftership-hmac-sha256": AfterShipWebhook.sign(notJson, secretText) }),
            { secret }
          )
        )
      )
      expect(broken.description).toMatch(/^body is not UTF-8 JSON/)
      const noNumber = Payloads.dhlWebhook() as { msg: Record<string, unknown> }
      delete noNumber.msg["tracking_number"]
      const missing = failureOf(yield* Effect.exit(AfterShipWebhook.verifyAndParseEach(signed(noNumber), { secret })))
      expect(missing).toMatchObject({ reason: "Invalid", status: 400, description: "msg.tracking_number: is missing" })
      const notList = { ...Payloads.dhlWebhook(), msg: { ...Payloads.dhlWebhook().msg, checkpoints: "none" } }
      const shape = failureOf(yield* Effect.exit(AfterShipWebhook.verifyAndParseEach(signed(notList), { secret })))
      expect(shape.description).toMatch(/^msg\.checkpoints: /)
      const edd = yield* AfterShipWebhook.verifyAndParseEach(signed({ event: "edd_revise", event_id: "x", msg: { tracking_number: "1" }, ts: 1 }), {
        secret
      })
      expect(edd).toEqual({ observations: [], unreadable: [] })
    }))
})

describe("AfterShipCarrier parseEach in the pipeline", () => {
  it.effect("the readable checkpoints are ingested, one inbound dead letter names the US one, and its replay with a zone ingests it", () =>
    Effect.gen(function*() {
      const carrierWith = (timePolicy?: TimePolicy.TimePolicy) =>
        AfterShipCarrier.make({
          apiKey: Redacted.make("as-api-key"),
          webhookSecret: secret,
          ...(timePolicy !== undefined ? { timePolicy } : {})
        }).pipe(Effect.provide(FetchHttpClient.layer))
      const store = yield* MemoryStore.make
      const pipelineWith = (carrier: AfterShipCarrier.AfterShipCarrierShape) =>
        Pipeline.make({ carriers: [carrier] }).pipe(Effect.provideService(Store.Store, store))
      const carrier = yield* carrierWith()
      expect(carrier.parseEach).toBeDefined()
      const pipeline = yield* pipelineWith(carrier)
      const intake = Histories.intake({ shipmentId: "shp-as-1" as Ids.ShipmentId, companyId: "co-1" as Ids.CompanyId, events: [] }, 1)
      const shipment = new Shipment.Shipment({ ...intake.shipments[0]!, trackingNumber: "1234567890" })
      yield* pipeline.register(new ErpPort.OrderIntake({ order: intake.order, shipments: [shipment] }))
      const received = yield* pipeline.receive({ _tag: "Request", source: "aftership", ...signed(memphis) })
      expect(received.rejected.map((e) => e.reason)).toEqual(["Invalid"])
      expect(received.rejected[0]!.description).toMatch(
        /^1 event\(s\) of this aftership request cannot be read: msg\.checkpoints\.2\.checkpoint_time: "2024-07-30T06:12:00" has no time zone/
      )
      const before = (yield* pipeline.record(shipment.id))!
      expect(before.state.events).toHaveLength(Payloads.dhlCheckpoints.length - 1)
      expect(before.state.view.status).toBe("delivered")
      const letters = yield* Effect.provideService(DeadLetters.list({ kind: "inbound" }), Store.Store, store)
      expect(letters).toHaveLength(1)
      expect(JSON.parse(letters[0]!.error).description).toMatch(
        /msg\.checkpoints\.2\.checkpoint_time: .*; the 6 observation\(s\) read from the others were ingested/
      )
      // The host names the zone of its US checkpoints and replays: the Memphis scan goes in, the
      // others are duplicates.
      const fixed = yield* pipelineWith(yield* carrierWith({ _tag: "AssumeZone", zone: "America/Chicago" }))
      const report = yield* DeadLetters.replay({ kind: "inbound" }, "ops@example.com").pipe(
        Effect.provideService(Store.Store, store),
        Effect.provideService(Pipeline.Pipeline, fixed)
      )
      expect(report).toEqual({ requeued: 0, reingested: 1, failedAgain: 0 })
      const after = (yield* fixed.record(shipment.id))!
      expect(after.state.events).toHaveLength(Payloads.dhlCheckpoints.length)
    }))
})
