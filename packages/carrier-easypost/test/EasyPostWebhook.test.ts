/**
 * EasyPost webhooks: the golden HMAC vector from EasyPost's own client-library fixtures, every
 * way a signature can be wrong, size and syntax limits, and the recorded FedEx `tracker.updated`
 * event normalized into its seven canonical scans.
 */
import { createHmac } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import { CarrierSuite } from "@waybill/core/testing"
import { EasyPostWebhook } from "../src/index.js"
import * as Fixtures from "./fixtures.js"
import { summarize } from "./fixtures.js"

const secret = Redacted.make(Fixtures.golden.webhooks.secret)
const signature = Fixtures.golden.webhooks.hmac_signature
const body = Fixtures.signedEventBody()

const failureOf = CarrierSuite.failureOf

describe("EasyPostWebhook.verify", () => {
  it("the signed body is the fixture without its final newline: 3550 bytes", () => {
    expect(body.byteLength).toBe(3550)
  })

  it.effect("accepts EasyPost's golden vector (secret sécret, NFKD-normalized)", () =>
    Effect.gen(function*() {
      const verified = yield* EasyPostWebhook.verify(Fixtures.request(body, { "x-hmac-signature": signature }), { secret })
      expect(verified.request.body.byteLength).toBe(3550)
      expect(EasyPostWebhook.sign(body, "sécret")).toBe(signature)
    }))

  it.effect("accepts the secret whether it is given composed (NFC) or decomposed (NFKD)", () =>
    Effect.gen(function*() {
      const nfc = "sécret".normalize("NFC")
      const nfkd = "sécret".normalize("NFKD")
      expect(nfc).not.toBe(nfkd)
      for (const s of [nfc, nfkd]) {
        const exit = yield* Effect.exit(
          EasyPostWebhook.verify(Fixtures.request(body, { "x-hmac-signature": signature }), { secret: Redacted.make(s) })
        )
        expect(Exit.isSuccess(exit)).toBe(true)
      }
    }))

  it.effect("rejects a one-byte change of the body", () =>
    Effect.gen(function*() {
      const tampered = new Uint8Array(body)
      tampered[100] = tampered[100]! ^ 0x01
      const error = failureOf(
        yield* Effect.exit(EasyPostWebhook.verify(Fixtures.request(tampered, { "x-hmac-signature": signature }), { secret }))
      )
      expect(error.reason).toBe("Unauthorized")
      expect(error.status).toBe(401)
      expect(error.description).toMatch(/does not match/)
    }))

  it.effect("rejects the body with its trailing newline (the file as stored)", () =>
    Effect.gen(function*() {
      const withNewline = Fixtures.bytes("event-tracker-updated-webhook.json")
      expect(withNewline.byteLength).toBe(3551)
      const error = failureOf(
        yield* Effect.exit(EasyPostWebhook.verify(Fixtures.request(withNewline, { "x-hmac-signature": signature }), { secret }))
      )
      expect(error.reason).toBe("Unauthorized")
    }))

  it.effect("rejects a wrong secret, a missing header, a wrong prefix and a key that was not NFKD-normalized", () =>
    Effect.gen(function*() {
      const wrongSecret = failureOf(
        yield* Effect.exit(
          EasyPostWebhook.verify(Fixtures.request(body, { "x-hmac-signature": signature }), { secret: Redacted.make("secret") })
        )
      )
      expect(wrongSecret.reason).toBe("Unauthorized")

      const missing = failureOf(yield* Effect.exit(EasyPostWebhook.verify(Fixtures.request(body, {}), { secret })))
      expect(missing.reason).toBe("Unauthorized")
      expect(missing.description).toBe("missing x-hmac-signature header")

      const hexOnly = signature.slice("hmac-sha256-hex=".length)
      const noPrefix = failureOf(
        yield* Effect.exit(EasyPostWebhook.verify(Fixtures.request(body, { "x-hmac-signature": hexOnly }), { secret }))
      )
      expect(noPrefix.description).toMatch(/does not start with hmac-sha256-hex=/)

      // A sender that keys the HMAC with the composed (NFC) bytes of the secret produces a
      // different signature, which must not verify.
      const nfcKeyed = "hmac-sha256-hex=" +
        createHmac("sha256", Buffer.from("sécret".normalize("NFC"), "utf8")).update(body).digest("hex")
      expect(nfcKeyed).not.toBe(signature)
      const notNfkd = failureOf(
        yield* Effect.exit(EasyPostWebhook.verify(Fixtures.request(body, { "x-hmac-signature": nfcKeyed }), { secret }))
      )
      expect(notNfkd.reason).toBe("Unauthorized")
    }))

  it.effect("finds the header whatever its case, and accepts upper-case hex", () =>
    Effect.gen(function*() {
      const upper = "hmac-sha256-hex=" + signature.slice("hmac-sha256-hex=".length).toUpperCase()
      const exit = yield* Effect.exit(EasyPostWebhook.verify(Fixtures.request(body, { "X-Hmac-Signature": upper }), { secret }))
      expect(Exit.isSuccess(exit)).toBe(true)
    }))

  it.effect("refuses an oversized body before computing anything, naming sizes; the error carries evidence, not the body", () =>
    Effect.gen(function*() {
      const error = failureOf(
        yield* Effect.exit(
          EasyPostWebhook.verify(Fixtures.request(body, { "x-hmac-signature": signature }), { secret, maxBodyBytes: 1000 })
        )
      )
      expect(error.reason).toBe("Invalid")
      expect(error.status).toBe(413)
      expect(error.description).toBe("body is 3550 bytes, more than the 1000 allowed")
      expect(error.cause).toMatchObject({ source: "easypost", bodyBytes: 3550, headers: ["x-hmac-signature"] })
      expect((error.cause as { bodySha256: string }).bodySha256).toMatch(/^[0-9a-f]{64}$/)
      expect(JSON.stringify(error.cause)).not.toContain("FedEx")
    }))
})

describe("EasyPostWebhook.parse", () => {
  it("cannot be handed a request that verify did not check", () => {
    expect(() => new EasyPostWebhook.Verified(Symbol("forged"), Fixtures.request(body, {}))).toThrow(/made only by/)
  })

  it.effect("verifyAndParse refuses an unsigned request before reading it", () =>
    Effect.gen(function*() {
      const error = failureOf(yield* Effect.exit(EasyPostWebhook.verifyAndParse(Fixtures.request(body, {}), { secret })))
      expect(error.reason).toBe("Unauthorized")
      expect(error.method).toBe("verify")
    }))

  it.effect("turns the FedEx tracker.updated event into 7 events: label_created then in_transit scans, UTC times and cities", () =>
    Effect.gen(function*() {
      const observations = yield* EasyPostWebhook.verifyAndParse(
        Fixtures.request(body, { "x-hmac-signature": signature }),
        { secret }
      )
      const common = { trackingNumber: "1", carrier: "FedEx", tag: "StatusReported", country: "US" }
      const weights = observations.filter(Fixtures.isWeight)
      const scans = Fixtures.scansOf(observations)
      expect(scans.map(summarize)).toEqual([
        {
          ...common,
          meaning: "label_created",
          occurredAt: "2024-07-31T15:00:00.000Z",
          city: undefined,
          region: undefined,
          postalCode: "32837",
          code: "pre_transit",
          detail: "label_created",
          description: "[OC] Shipment information sent to FedEx"
        },
        {
          ...common,
          meaning: "in_transit",
          occurredAt: "2024-07-31T19:27:00.000Z",
          city: "ORLANDO",
          region: "FL",
          postalCode: "32809",
          code: "in_transit",
          detail: "arrived_at_facility",
          description: "[PU] Picked up"
        },
        {
          ...common,
          meaning: "in_transit",
          occurredAt: "2024-07-31T22:35:00.000Z",
          city: "ORLANDO",
          region: "FL",
          postalCode: "32809",
          code: "in_transit",
          detail: "arrived_at_facility",
          description: "[AR] Arrived at FedEx location"
        },
        {
          ...common,
          meaning: "in_transit",
          occurredAt: "2024-08-01T14:42:13.000Z",
          city: "ORLANDO",
          region: "FL",
          postalCode: "32809",
          code: "in_transit",
          detail: "departed_facility",
          description: "[DP] Departed FedEx location"
        },
        {
          ...common,
          meaning: "in_transit",
          occurredAt: "2024-08-02T02:46:19.000Z",
          city: "KENLY",
          region: "NC",
          postalCode: "27542",
          code: "in_transit",
          detail: "unknown",
          description: "[IT] On the way"
        },
        {
          ...common,
          meaning: "in_transit",
          occurredAt: "2024-08-02T18:35:20.000Z",
          city: "EDISON TWP",
          region: "NJ",
          postalCode: "08817",
          code: "in_transit",
          detail: "unknown",
          description: "[IT] On the way"
        },
        {
          ...common,
          meaning: "in_transit",
          occurredAt: "2024-08-02T18:50:00.000Z",
          city: "EDISON",
          region: "NJ",
          postalCode: "08817",
          code: "in_transit",
          detail: "arrived_at_facility",
          description: "[AR] Arrived at FedEx location"
        }
      ])
      for (const o of observations) {
        expect(o.event.source).toBe("easypost")
        expect(DateTime.formatIso(o.event.receivedAt)).toBe("2024-08-02T19:27:00.000Z")
      }
      // The tracker weighs 614.4 oz: 17,418 g, one event of its own riding on the newest scan, none on the scans.
      expect(weights.map((o) => [o.event.id, o.event._tag === "StatusReported" ? o.event.weight : undefined])).toEqual([
        ["trk_1:weight:2024-08-02T19:26:51.000Z:000017418", 17418]
      ])
      expect(summarize(weights[0]!)).toEqual({ ...summarize(scans[6]!), description: undefined })
      // Seven distinct, deterministic ids, derived from the tracker, never from the webhook id.
      const ids = scans.map((o) => o.event.id)
      expect(new Set(ids).size).toBe(7)
      for (const id of ids) expect(id).toMatch(/^trk_1:[0-9a-f]{32}$/)
      expect(ids.join()).not.toContain("evt_1")
    }))

  it.effect("a webhook that repeats the history yields the same event ids (it dedupes)", () =>
    Effect.gen(function*() {
      const first = JSON.parse(new TextDecoder().decode(body))
      // The next webhook from EasyPost: a new event id, the same seven scans plus an eighth.
      const next = structuredClone(first)
      next.id = "evt_2"
      next.created_at = "2024-08-03T08:00:00.000Z"
      next.result.tracking_details.push({
        object: "TrackingDetail",
        message: "On FedEx vehicle for delivery",
        description: "On FedEx vehicle for delivery",
        status: "out_for_delivery",
        status_detail: "out_for_delivery",
        datetime: "2024-08-03T07:12:00-04:00",
        source: "FedEx",
        carrier_code: "OD",
        tracking_location: { object: "TrackingLocation", city: "BROOKLYN", state: "NY", country: "US", zip: "11201" }
      })
      const s = "sécret"
      const parse = (payload: unknown) => {
        const text = JSON.stringify(payload)
        return EasyPostWebhook.verifyAndParse(
          Fixtures.request(new TextEncoder().encode(text), { "x-hmac-signature": EasyPostWebhook.sign(text, s) }),
          { secret: Redacted.make(s) }
        )
      }
      const a = Fixtures.scansOf(yield* parse(first))
      const b = Fixtures.scansOf(yield* parse(next))
      expect(b.slice(0, 7).map((o) => o.event.id)).toEqual(a.map((o) => o.event.id))
      expect(b).toHaveLength(8)
      const last = summarize(b[7]!)
      expect(last.meaning).toBe("out_for_delivery")
      // -04:00 normalized to UTC.
      expect(last.occurredAt).toBe("2024-08-03T11:12:00.000Z")
      expect(a.map((o) => o.event.id)).not.toContain(b[7]!.event.id)
    }))

  it.effect("a body that is not JSON is Invalid (HTTP 400), naming the problem", () =>
    Effect.gen(function*() {
      const bad = new TextEncoder().encode("{\"object\":\"Event\",")
      const error = failureOf(
        yield* Effect.exit(
          EasyPostWebhook.verifyAndParse(Fixtures.request(bad, { "x-hmac-signature": EasyPostWebhook.sign(bad, "s") }), {
            secret: Redacted.make("s")
          })
        )
      )
      expect(error.reason).toBe("Invalid")
      expect(error.status).toBe(400)
      expect(error.description).toMatch(/^body is not UTF-8 JSON/)
    }))

  it.effect("a tracker event with a bad scan time names the field", () =>
    Effect.gen(function*() {
      const payload = JSON.parse(new TextDecoder().decode(body))
      payload.result.tracking_details[3].datetime = "yesterday"
      const text = JSON.stringify(payload)
      const error = failureOf(
        yield* Effect.exit(
          EasyPostWebhook.verifyAndParse(Fixtures.request(new TextEncoder().encode(text), { "x-hmac-signature": EasyPostWebhook.sign(text, "s") }), {
            secret: Redacted.make("s")
          })
        )
      )
      expect(error.reason).toBe("Invalid")
      expect(error.description).toMatch(/^result\.tracking_details\.3\.datetime: "yesterday" is not a date and time/)
    }))

  it.effect("zone-less scan times follow the configured policy", () =>
    Effect.gen(function*() {
      const payload = JSON.parse(new TextDecoder().decode(body))
      payload.result.tracking_details = [payload.result.tracking_details[1]]
      payload.result.tracking_details[0].datetime = "2024-07-31T15:27:00"
      const text = JSON.stringify(payload)
      const req = Fixtures.request(new TextEncoder().encode(text), { "x-hmac-signature": EasyPostWebhook.sign(text, "s") })
      const utc = yield* EasyPostWebhook.verifyAndParse(req, { secret: Redacted.make("s") })
      expect(summarize(utc[0]!).occurredAt).toBe("2024-07-31T15:27:00.000Z")
      const ny = yield* EasyPostWebhook.verifyAndParse(req, {
        secret: Redacted.make("s"),
        timePolicy: { _tag: "AssumeZone", zone: "America/New_York" }
      })
      expect(summarize(ny[0]!).occurredAt).toBe("2024-07-31T19:27:00.000Z")
      const strict = failureOf(
        yield* Effect.exit(EasyPostWebhook.verifyAndParse(req, { secret: Redacted.make("s"), timePolicy: { _tag: "RequireZone" } }))
      )
      expect(strict.description).toMatch(/has no time zone and the policy requires one/)
    }))

  it.effect("events about other objects carry no tracking and yield nothing", () =>
    Effect.gen(function*() {
      const text = JSON.stringify({ id: "evt_9", object: "Event", description: "batch.updated", result: { object: "Batch" } })
      const out = yield* EasyPostWebhook.verifyAndParse(
        Fixtures.request(new TextEncoder().encode(text), { "x-hmac-signature": EasyPostWebhook.sign(text, "s") }),
        { secret: Redacted.make("s") }
      )
      expect(out).toEqual([])
    }))
})
