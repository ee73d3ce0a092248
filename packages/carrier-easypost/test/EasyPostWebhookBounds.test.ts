/**
 * Signed EasyPost payloads of a hostile shape: what is read from them stays bounded, and they
 * fail as typed `Invalid`s, never as a crash.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { CarrierSuite } from "@waybill/core/testing"
import { EasyPostWebhook } from "../src/index.js"
import * as Fixtures from "./fixtures.js"

const secretText = "whsec-bounds-test"
const secret = Redacted.make(secretText)

const signed = (text: string) => {
  const body = new TextEncoder().encode(text)
  return Fixtures.request(body, { "x-hmac-signature": EasyPostWebhook.sign(body, secretText) })
}

const event = (trackingCode: string) =>
  `{"id":"evt_1","object":"Event","description":"tracker.updated","result":{"tracking_code":${trackingCode},"tracking_details":[]}}`

describe("EasyPostWebhook.verifyAndParse bounds", () => {
  it.effect("a deeply nested body is a typed Invalid, not a crash", () =>
    Effect.gen(function*() {
      const depth = 100_000
      const request = signed(event(`${"[".repeat(depth)}${"]".repeat(depth)}`))
      expect(request.body.byteLength).toBeLessThan(EasyPostWebhook.defaultMaxBodyBytes)
      const error = CarrierSuite.failureOf(yield* Effect.exit(EasyPostWebhook.verifyAndParse(request, { secret })))
      expect(error.reason).toBe("Invalid")
      expect(error.status).toBe(400)
      expect(error.description).toBe("body is nested more than 64 levels deep")
    }))

  it.effect("a wrong field of a huge value is named in a bounded description", () =>
    Effect.gen(function*() {
      const request = signed(event(JSON.stringify(Array.from({ length: 100_000 }, (_, i) => i))))
      const error = CarrierSuite.failureOf(yield* Effect.exit(EasyPostWebhook.verifyAndParse(request, { secret })))
      expect(error.reason).toBe("Invalid")
      expect(error.description).toMatch(/^result\.tracking_code: Expected string, actual \[0,1,2,/)
      expect(error.description.length).toBeLessThanOrEqual(500)
    }))
})
