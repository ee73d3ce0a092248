/**
 * Every recorded EasyPost payload in shared/fixtures/carriers/easypost maps to the expected
 * canonical events (the FedEx webhook is covered in EasyPostWebhook.test.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { EasyPostTracking } from "../src/index.js"
import * as Fixtures from "./fixtures.js"
import { summarize } from "./fixtures.js"

const options: EasyPostTracking.Options = {
  source: "easypost",
  timePolicy: { _tag: "AssumeUtc" },
  receivedAt: Fixtures.receivedAt
}

// The two USPS scans of the API reference's test tracker EZ1000000001.
const uspsScans = (description: string | undefined) => [
  {
    trackingNumber: "EZ1000000001",
    carrier: "USPS",
    tag: "StatusReported",
    meaning: "label_created",
    occurredAt: "2025-04-09T20:40:17.000Z",
    city: undefined,
    region: undefined,
    postalCode: undefined,
    country: undefined,
    code: "pre_transit",
    detail: "status_update",
    description: description === undefined ? "Pre-Shipment Info Sent to USPS" : description
  },
  {
    trackingNumber: "EZ1000000001",
    carrier: "USPS",
    tag: "StatusReported",
    meaning: "label_created",
    occurredAt: "2025-04-10T09:17:17.000Z",
    city: "HOUSTON",
    region: "TX",
    postalCode: "77063",
    country: undefined,
    code: "pre_transit",
    detail: "status_update",
    description: "Shipping Label Created"
  }
]

describe("EasyPostTracking on the recorded fixtures", () => {
  it.effect("tracker-create.json: two pre_transit scans → label_created (null carrier codes)", () =>
    Effect.gen(function*() {
      const out = yield* EasyPostTracking.fromPayload(Fixtures.json("tracker-create.json"), options)
      expect(out.map(summarize)).toEqual(uspsScans(undefined))
      for (const o of out) expect(o.event.id).toMatch(/^trk_9135862729734d96ad2f9ed0f0565a27:[0-9a-f]{32}$/)
    }))

  it.effect("tracker-retrieve.json: the same tracker with empty carrier codes gives the same events and ids", () =>
    Effect.gen(function*() {
      const created = yield* EasyPostTracking.fromPayload(Fixtures.json("tracker-create.json"), options)
      const retrieved = yield* EasyPostTracking.fromPayload(Fixtures.json("tracker-retrieve.json"), options)
      expect(retrieved.map(summarize)).toEqual(uspsScans(undefined))
      expect(retrieved.map((o) => o.event.id)).toEqual(created.map((o) => o.event.id))
    }))

  it.effect("trackers-list.json: the list envelope yields the trackers' scans", () =>
    Effect.gen(function*() {
      const out = yield* EasyPostTracking.fromPayload(Fixtures.json("trackers-list.json"), options)
      expect(out.map(summarize)).toEqual(uspsScans(undefined))
    }))

  it.effect("event-retrieve.json: a tracker.created event without its Tracker is Invalid, naming result", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(EasyPostTracking.fromPayload(Fixtures.json("event-retrieve.json"), options))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit) && exit.cause._tag === "Fail") {
        expect(exit.cause.error.reason).toBe("Invalid")
        expect(exit.cause.error.description).toBe("result: a tracker.created event must carry the Tracker")
      }
    }))

  it.effect("a tracker without scans reports its own status at updated_at; an unknown one reports nothing", () =>
    Effect.gen(function*() {
      const base = Fixtures.json("tracker-create.json") as Record<string, unknown>
      const delivered = { ...base, status: "delivered", status_detail: "arrived_at_destination", signed_by: "J DOE", tracking_details: [] }
      const all = yield* EasyPostTracking.fromPayload(delivered, options)
      const [one] = Fixtures.scansOf(all)
      expect(summarize(one!)).toMatchObject({ meaning: "delivered", occurredAt: "2025-05-09T20:40:17.000Z", code: "delivered" })
      expect(Fixtures.podOf(all)).toBe("J DOE")
      const fresh = { ...base, status: "unknown", status_detail: "unknown", tracking_details: [] }
      expect(yield* EasyPostTracking.fromPayload(fresh, options)).toEqual([])
    }))

  it.effect("a scan's datetime in its local zone (EasyPost's geocoded offsets) is read as the same instant as in UTC", () =>
    Effect.gen(function*() {
      // EasyPost's own example: a Denver scan at 07:03 -07:00, or 14:03Z when the location is
      // too vague to place; both carry a zone, so the time policy never applies to them.
      const base = Fixtures.json("tracker-create.json") as { readonly tracking_details: ReadonlyArray<Record<string, unknown>> }
      const at = (datetime: string) => ({ ...base, tracking_details: [{ ...base.tracking_details[0]!, datetime }] })
      const [local] = yield* EasyPostTracking.fromPayload(at("2025-01-12T07:03:00-07:00"), options)
      const [utc] = yield* EasyPostTracking.fromPayload(at("2025-01-12T14:03:00Z"), options)
      expect(summarize(local!).occurredAt).toBe("2025-01-12T14:03:00.000Z")
      expect(local!.event.id).toBe(utc!.event.id)
      // A time without a zone (never seen from EasyPost) follows the host's policy.
      const bare = yield* Effect.exit(EasyPostTracking.fromPayload(at("2025-01-12T07:03:00"), { ...options, timePolicy: { _tag: "RequireZone" } }))
      expect(Exit.isFailure(bare)).toBe(true)
    }))

  it.effect("a scan's malformed fields are named with their path", () =>
    Effect.gen(function*() {
      const base = Fixtures.json("tracker-create.json") as Record<string, any>
      const broken = structuredClone(base)
      broken.tracking_details[1].status = 42
      const exit = yield* Effect.exit(EasyPostTracking.fromPayload(broken, options))
      if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") throw new Error("expected Invalid")
      expect(exit.cause.error.description).toMatch(/^tracking_details\.1\.status: Expected string, actual 42/)
    }))
})

describe("EasyPostTracking.fromPayloadEach", () => {
  const fixtures = ["tracker-create.json", "tracker-retrieve.json", "trackers-list.json", "event-tracker-updated-webhook.json"]

  it.effect("reads every recorded payload as fromPayload does, with nothing unreadable", () =>
    Effect.gen(function*() {
      for (const name of fixtures) {
        const whole = yield* EasyPostTracking.fromPayload(Fixtures.json(name), options)
        const each = yield* EasyPostTracking.fromPayloadEach(Fixtures.json(name), options)
        expect(each.unreadable).toEqual([])
        expect(each.observations.map(summarize)).toEqual(whole.map(summarize))
        expect(each.observations.map((o) => o.event.id)).toEqual(whole.map((o) => o.event.id))
      }
    }))

  it.effect("a tracker list keeps every readable scan and names each scan or tracker it cannot read", () =>
    Effect.gen(function*() {
      const list = Fixtures.json("trackers-list.json") as { trackers: Array<Record<string, any>> }
      const good = list.trackers[0]!
      const badScan = structuredClone(good)
      badScan.tracking_code = "EZ2000000002"
      badScan.tracking_details[1].datetime = "yesterday"
      const noCode = { ...structuredClone(good), tracking_code: undefined }
      const payload = { trackers: [good, badScan, noCode] }
      // The whole payload is refused by fromPayload …
      expect(Exit.isFailure(yield* Effect.exit(EasyPostTracking.fromPayload(payload, options)))).toBe(true)
      // … while fromPayloadEach keeps the first tracker's two scans and the second's first.
      const each = yield* EasyPostTracking.fromPayloadEach(payload, options)
      expect(each.observations.map((o) => [o.trackingNumber, summarize(o).occurredAt])).toEqual([
        ["EZ1000000001", "2025-04-09T20:40:17.000Z"],
        ["EZ1000000001", "2025-04-10T09:17:17.000Z"],
        ["EZ2000000002", "2025-04-09T20:40:17.000Z"]
      ])
      expect(each.unreadable).toHaveLength(2)
      expect(each.unreadable[0]).toMatch(/^trackers\.1\.tracking_details\.1\.datetime/)
      expect(each.unreadable[1]).toMatch(/^trackers\.2\.tracking_code/)
    }))

  it.effect("a single tracker keeps its readable scans; what is none of the three still fails as Invalid", () =>
    Effect.gen(function*() {
      const broken = structuredClone(Fixtures.json("tracker-create.json")) as Record<string, any>
      broken.tracking_details[0].status = 42
      const each = yield* EasyPostTracking.fromPayloadEach(broken, options)
      expect(each.observations.map((o) => summarize(o).occurredAt)).toEqual(["2025-04-10T09:17:17.000Z"])
      expect(each.unreadable).toHaveLength(1)
      expect(each.unreadable[0]).toMatch(/tracking_details\.0\.status: Expected string, actual 42/)
      for (const nonsense of [[], "x", null, { object: "Tracker" }]) {
        const exit = yield* Effect.exit(EasyPostTracking.fromPayloadEach(nonsense, options))
        if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") throw new Error(`expected Invalid for ${JSON.stringify(nonsense)}`)
        expect(exit.cause.error.reason).toBe("Invalid")
      }
    }))
})
