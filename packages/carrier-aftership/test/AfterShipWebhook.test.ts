/**
 * AfterShip webhooks: both signature headers, every way a signature can be wrong, size and
 * syntax limits, and a documented-shape tracking_update normalized into one canonical event per
 * checkpoint, with deterministic ids and zone-less times read in the zone of the checkpoint's country,
 * else by the configured policy.
 */
import { createHmac } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import { CarrierSuite } from "@waybill/core/testing"
import { AfterShipWebhook } from "../src/index.js"
import * as Payloads from "./payloads.js"

const secretText = "as-webhook-secret-7f3a"
const secret = Redacted.make(secretText)
const encoder = new TextEncoder()

const failureOf = CarrierSuite.failureOf

const bodyOf = (payload: unknown = Payloads.dhlWebhook()) => encoder.encode(JSON.stringify(payload))
const signed = (body: Uint8Array, s = secretText) => Payloads.request(body, { "aftership-hmac-sha256": AfterShipWebhook.sign(body, s) })

describe("AfterShipWebhook.verify", () => {
  it("signs as AfterShip documents: base64 HMAC-SHA256 of the raw body, keyed with the secret's UTF-8 bytes", () => {
    const body = bodyOf()
    const expected = createHmac("sha256", secretText).update(body).digest("base64")
    expect(AfterShipWebhook.sign(body, secretText)).toBe(expected)
    expect(expected).toMatch(/^[A-Za-z0-9+/]{43}=$/)
  })

  it.effect("accepts aftership-hmac-sha256 and the legacy am-webhook-signature (with or without hmac-sha256=)", () =>
    Effect.gen(function*() {
      const body = bodyOf()
      const digest = AfterShipWebhook.sign(body, secretText)
      for (
        const headers of [
          { "aftership-hmac-sha256": digest },
          { "am-webhook-signature": `hmac-sha256=${digest}` },
          { "am-webhook-signature": digest },
          { "Aftership-Hmac-Sha256": digest }
        ]
      ) {
        const exit = yield* Effect.exit(AfterShipWebhook.verify(Payloads.request(body, headers), { secret }))
        expect(Exit.isSuccess(exit)).toBe(true)
      }
    }))

  it.effect("rejects a one-byte change, a wrong secret, a hex digest, a missing header", () =>
    Effect.gen(function*() {
      const body = bodyOf()
      const digest = AfterShipWebhook.sign(body, secretText)
      const tampered = new Uint8Array(body)
      tampered[42] = tampered[42]! ^ 0x20
      const changed = failureOf(
        yield* Effect.exit(AfterShipWebhook.verify(Payloads.request(tampered, { "aftership-hmac-sha256": digest }), { secret }))
      )
      expect(changed.reason).toBe("Unauthorized")
      expect(changed.status).toBe(401)
      expect(changed.description).toBe("aftership-hmac-sha256 does not match the body and the webhook secret")

      const wrong = failureOf(yield* Effect.exit(AfterShipWebhook.verify(signed(body, "another-secret"), { secret })))
      expect(wrong.reason).toBe("Unauthorized")

      const hex = createHmac("sha256", secretText).update(body).digest("hex")
      const hexDigest = failureOf(
        yield* Effect.exit(AfterShipWebhook.verify(Payloads.request(body, { "aftership-hmac-sha256": hex }), { secret }))
      )
      expect(hexDigest.reason).toBe("Unauthorized")

      const legacyWrong = failureOf(
        yield* Effect.exit(
          AfterShipWebhook.verify(Payloads.request(tampered, { "am-webhook-signature": `hmac-sha256=${digest}` }), { secret })
        )
      )
      expect(legacyWrong.description).toBe("am-webhook-signature does not match the body and the webhook secret")

      const missing = failureOf(yield* Effect.exit(AfterShipWebhook.verify(Payloads.request(body, {}), { secret })))
      expect(missing.reason).toBe("Unauthorized")
      expect(missing.description).toBe("missing aftership-hmac-sha256 (or am-webhook-signature) header")
    }))

  it.effect("refuses an oversized body (configurable) before checking the signature", () =>
    Effect.gen(function*() {
      const body = bodyOf()
      const error = failureOf(yield* Effect.exit(AfterShipWebhook.verify(signed(body), { secret, maxBodyBytes: 512 })))
      expect(error.reason).toBe("Invalid")
      expect(error.status).toBe(413)
      expect(error.description).toBe(`body is ${body.byteLength} bytes, more than the 512 allowed`)
      expect(error.cause).toMatchObject({ source: "aftership", bodyBytes: body.byteLength })
    }))
})

describe("AfterShipWebhook.parse", () => {
  it("cannot be handed a request that verify did not check", () => {
    expect(() => new AfterShipWebhook.Verified(Symbol("forged"), signed(bodyOf()))).toThrow(/made only by/)
  })

  it.effect("verifyAndParse refuses an unsigned request", () =>
    Effect.gen(function*() {
      const error = failureOf(yield* Effect.exit(AfterShipWebhook.verifyAndParse(Payloads.request(bodyOf(), {}), { secret })))
      expect(error.reason).toBe("Unauthorized")
    }))

  it.effect("one canonical event per checkpoint, with UTC times, places and raw codes", () =>
    Effect.gen(function*() {
      const out = yield* AfterShipWebhook.verifyAndParse(signed(bodyOf()), { secret })
      const common = { trackingNumber: "1234567890", carrier: "dhl" }
      expect(out.map(Payloads.summarize)).toEqual([
        {
          ...common,
          tag: "StatusReported",
          meaning: "label_created",
          // Zone-less "2024-07-29T15:30:00" in Hong Kong: read in Hong Kong time (UTC+8), so it
          // precedes the pickup at 21:45+08:00 below (read as UTC it came 1h45 after it).
          occurredAt: "2024-07-29T07:30:00.000Z",
          city: "HONG KONG",
          postalCode: undefined,
          country: "HK",
          code: "InfoReceived",
          detail: "InfoReceived_001",
          description: "Shipment information received"
        },
        {
          ...common,
          tag: "StatusReported",
          meaning: "dispatched",
          occurredAt: "2024-07-29T13:45:00.000Z",
          city: "HONG KONG",
          postalCode: undefined,
          country: "HK",
          code: "InTransit",
          detail: "InTransit_002",
          description: "[PU] Shipment picked up"
        },
        {
          ...common,
          tag: "StatusReported",
          meaning: "in_transit",
          occurredAt: "2024-07-30T04:12:00.000Z",
          city: "LEIPZIG",
          postalCode: "04435",
          country: "DE",
          code: "InTransit",
          detail: "InTransit_003",
          description: "[AF] Arrived at DHL Sort Facility LEIPZIG - GERMANY"
        },
        {
          ...common,
          tag: "ExceptionReported",
          meaning: "customs_hold",
          occurredAt: "2024-07-30T07:40:00.000Z",
          city: "LEIPZIG",
          postalCode: undefined,
          country: "DE",
          code: "Exception",
          detail: "Exception_004",
          description: "[CR] Customs status updated"
        },
        {
          ...common,
          tag: "StatusReported",
          meaning: "in_transit",
          occurredAt: "2024-07-30T16:02:00.000Z",
          city: "LEIPZIG",
          postalCode: undefined,
          country: "DE",
          code: "InTransit",
          detail: "InTransit_005",
          description: "[CC] Clearance processing complete at LEIPZIG - GERMANY"
        },
        {
          ...common,
          tag: "StatusReported",
          meaning: "out_for_delivery",
          occurredAt: "2024-08-01T05:58:00.000Z",
          city: "BERLIN",
          postalCode: "10115",
          country: "DE",
          code: "OutForDelivery",
          detail: "OutForDelivery_001",
          description: "[WC] Shipment is out with courier for delivery"
        },
        {
          ...common,
          tag: "StatusReported",
          meaning: "delivered",
          occurredAt: "2024-08-01T09:58:00.000Z",
          city: "BERLIN",
          postalCode: "10115",
          country: "DE",
          code: "Delivered",
          detail: "Delivered_003",
          description: "[OK] Delivered - Signed for by: M. MUSTERMANN"
        }
      ])
      const delivered = out[6]!.event
      expect(delivered._tag === "StatusReported" ? delivered.pod?.signedBy : undefined).toBe("M. MUSTERMANN")
      for (const o of out) {
        expect(o.event.source).toBe("aftership")
        expect(o.event.id).toMatch(/^dhl\/1234567890:[0-9a-f]{32}$/)
      }
      expect(new Set(out.map((o) => o.event.id)).size).toBe(7)
    }))

  it.effect("a webhook repeating the history (new event_id, one more checkpoint) yields the same ids", () =>
    Effect.gen(function*() {
      const first = yield* AfterShipWebhook.verifyAndParse(signed(bodyOf(Payloads.dhlWebhook(Payloads.dhlCheckpoints.slice(0, 4)))), {
        secret
      })
      const second = yield* AfterShipWebhook.verifyAndParse(
        signed(bodyOf(Payloads.dhlWebhook(Payloads.dhlCheckpoints.slice(0, 5), "0d7b6a2e-4d1c-4f3a-9b1e-2f3c4d5e6f70"))),
        { secret }
      )
      expect(second.slice(0, 4).map((o) => o.event.id)).toEqual(first.map((o) => o.event.id))
      expect(second).toHaveLength(5)
      expect(first.map((o) => o.event.id)).not.toContain(second[4]!.event.id)
    }))

  it.effect("zone-less checkpoint times the country does not settle follow the configured policy", () =>
    Effect.gen(function*() {
      // Without its country (Hong Kong settles the zone whatever the policy: see AfterShipCheckpointZone.test.ts).
      const nowhere = { ...Payloads.dhlCheckpoints[0]!, country_iso3: null, country_name: null }
      const req = signed(bodyOf(Payloads.dhlWebhook([nowhere])))
      const hk = yield* AfterShipWebhook.verifyAndParse(req, { secret, timePolicy: { _tag: "AssumeZone", zone: "Asia/Hong_Kong" } })
      expect(Payloads.summarize(hk[0]!).occurredAt).toBe("2024-07-29T07:30:00.000Z")
      const offset = yield* AfterShipWebhook.verifyAndParse(req, { secret, timePolicy: { _tag: "AssumeOffset", minutes: 480 } })
      expect(Payloads.summarize(offset[0]!).occurredAt).toBe("2024-07-29T07:30:00.000Z")
      // Ids do not depend on the policy: they hash the time as sent.
      expect(offset[0]!.event.id).toBe(hk[0]!.event.id)
      const strict = failureOf(yield* Effect.exit(AfterShipWebhook.verifyAndParse(req, { secret, timePolicy: { _tag: "RequireZone" } })))
      expect(strict.reason).toBe("Invalid")
      expect(strict.description).toBe(
        "msg.checkpoints.0.checkpoint_time: \"2024-07-29T15:30:00\" has no time zone and the policy requires one" +
          " (the checkpoint names no country; set timePolicy to the zone of such checkpoints)"
      )
      // The default: refused, not guessed.
      const byDefault = failureOf(yield* Effect.exit(AfterShipWebhook.verifyAndParse(req, { secret })))
      expect(byDefault.description).toBe(strict.description)
    }))

  it.effect("'problem resolved' clears exceptions; an unknown subtag falls back to its tag", () =>
    Effect.gen(function*() {
      const resolved = { ...Payloads.dhlCheckpoints[4]!, subtag: "InTransit_008", subtag_message: "Problem resolved" }
      const future = { ...Payloads.dhlCheckpoints[5]!, tag: "Exception", subtag: "Exception_019", message: "Flight delayed" }
      const out = yield* AfterShipWebhook.verifyAndParse(
        signed(bodyOf(Payloads.dhlWebhook([Payloads.dhlCheckpoints[3], resolved, future]))),
        { secret }
      )
      expect(out.map((o) => o.event._tag)).toEqual(["ExceptionReported", "ExceptionCleared", "ExceptionReported"])
      const last = out[2]!.event
      expect(last._tag === "ExceptionReported" ? last.kind : undefined).toBe("delayed")
      expect(last.raw.detail).toBe("Exception_019")
    }))

  it.effect("a tracking with no checkpoint reports its own tag at updated_at", () =>
    Effect.gen(function*() {
      const payload = Payloads.dhlWebhook([])
      payload.msg.tag = "Pending"
      payload.msg.subtag = "Pending_001"
      payload.msg.subtag_message = "Pending"
      const [one] = yield* AfterShipWebhook.verifyAndParse(signed(bodyOf(payload)), { secret })
      expect(Payloads.summarize(one!)).toMatchObject({ meaning: "created", occurredAt: "2024-08-01T10:05:00.000Z", code: "Pending" })
    }))

  it.effect("a tracking with no checkpoint: the same report dedupes, the same tag reported again later is a new event", () =>
    Effect.gen(function*() {
      const report = (tag: string, subtag: string, updatedAt: string) => {
        const payload = Payloads.dhlWebhook([])
        payload.msg.tag = tag
        payload.msg.subtag = subtag
        payload.msg.updated_at = updatedAt
        return Effect.map(AfterShipWebhook.verifyAndParse(signed(bodyOf(payload)), { secret }), ([one]) => one!.event)
      }
      const delayed = yield* report("Exception", "Exception_005", "2024-08-01T10:05:00+00:00")
      const again = yield* report("Exception", "Exception_005", "2024-08-01T10:05:00+00:00")
      const moving = yield* report("InTransit", "InTransit_001", "2024-08-02T09:00:00+00:00")
      const delayedAgain = yield* report("Exception", "Exception_005", "2024-08-03T07:30:00+00:00")
      // A webhook repeating the same report is the same event.
      expect(again.id).toBe(delayed.id)
      // The parcel delayed a second time, after moving on, is a second exception: if it took
      // the first one's id it would be dropped as a duplicate and the exception never reopen.
      expect(delayedAgain.id).not.toBe(delayed.id)
      expect([delayed, moving, delayedAgain].map((e) => [e._tag, DateTime.formatIso(e.occurredAt)])).toEqual([
        ["ExceptionReported", "2024-08-01T10:05:00.000Z"],
        ["StatusReported", "2024-08-02T09:00:00.000Z"],
        ["ExceptionReported", "2024-08-03T07:30:00.000Z"]
      ])
    }))

  it.effect("other webhook events carry no checkpoint; malformed bodies are Invalid, naming the field", () =>
    Effect.gen(function*() {
      const edd = yield* AfterShipWebhook.verifyAndParse(
        signed(bodyOf({ event: "edd_revise", event_id: "x", msg: { tracking_number: "1" }, ts: 1 })),
        { secret }
      )
      expect(edd).toEqual([])
      const notJson = failureOf(yield* Effect.exit(AfterShipWebhook.verifyAndParse(signed(encoder.encode("{\"event\":")), { secret })))
      expect(notJson.status).toBe(400)
      expect(notJson.description).toMatch(/^body is not UTF-8 JSON/)
      const noNumber = Payloads.dhlWebhook() as { msg: Record<string, unknown> }
      delete noNumber.msg["tracking_number"]
      const missing = failureOf(yield* Effect.exit(AfterShipWebhook.verifyAndParse(signed(bodyOf(noNumber)), { secret })))
      expect(missing.description).toBe("msg.tracking_number: is missing")
      const badTime = Payloads.dhlWebhook([{ ...Payloads.dhlCheckpoints[0]!, checkpoint_time: "29/07/2024 15:30" }])
      const time = failureOf(yield* Effect.exit(AfterShipWebhook.verifyAndParse(signed(bodyOf(badTime)), { secret })))
      expect(time.description).toMatch(/^msg\.checkpoints\.0\.checkpoint_time: "29\/07\/2024 15:30" is not a date and time/)
    }))
})
