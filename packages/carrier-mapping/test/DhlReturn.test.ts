/**
 * DHL's Unified API reports an undeliverable parcel that went back to its sender with
 * `returnFlag: true` on the shipment and a final `statusCode: delivered` event: the sender "ends
 * up becoming the final recipient" (DHL developer support, "How does the response body look for
 * an Undeliverable/Return shipment?"). That delivery is the return arriving back, `returned`:
 * read as `delivered` it released the customer's invoice for a parcel they never received, with
 * the sender's signature as proof of delivery.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { readFileSync } from "node:fs"
import { DhlUnified, MappingConfig } from "../src/index.js"
import { MappingTestKit } from "../src/testing/index.js"

const fixture = (name: string): any => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8"))

const SECRET = "dhl-relay-secret-5d1c0b9e"
const receivedAt = "2024-08-09T13:00:00Z"

const meanings = (observations: ReadonlyArray<unknown>) =>
  (MappingTestKit.toPlain(observations as any) as ReadonlyArray<{ event: any }>).map((o) => ({
    at: o.event.occurredAt,
    meaning: o.event.status ?? o.event.kind,
    pod: o.event.pod
  }))

describe("DhlUnified: a return shipment (returnFlag)", () => {
  it.effect("the delivered event of a returnFlag shipment is the parcel back at the sender: returned, no POD", () =>
    Effect.gen(function* () {
      const observations = yield* MappingTestKit.ingest(DhlUnified.config, fixture("dhl-return.json"), { secret: SECRET, receivedAt })
      expect(meanings(observations)).toEqual([
        { at: "2024-08-09T10:08:00.000Z", meaning: "returned", pod: undefined },
        { at: "2024-08-07T07:12:00.000Z", meaning: "failed_attempt", pod: undefined },
        { at: "2024-07-31T06:10:00.000Z", meaning: "in_transit", pod: undefined }
      ])
    })
  )

  it.effect("without returnFlag (or with it false) the same event is the consignee's delivery, with its POD", () =>
    Effect.gen(function* () {
      for (const flag of [undefined, false]) {
        const body = fixture("dhl-return.json")
        if (flag === undefined) delete body.shipments[0].returnFlag
        else body.shipments[0].returnFlag = flag
        const observations = yield* MappingTestKit.ingest(DhlUnified.config, body, { secret: SECRET, receivedAt })
        // the delivery, and its POD as its own event riding on it (first, so it reaches the delivery)
        expect(meanings(observations)[0]?.pod).toEqual({ signedBy: "Versandhaus Nord GmbH" })
        expect(meanings(observations)[1]).toEqual({ at: "2024-08-09T10:08:00.000Z", meaning: "delivered", pod: undefined })
        expect(meanings(observations).filter((m) => m.pod !== undefined)).toEqual([
          { at: "2024-08-09T10:08:00.000Z", meaning: "delivered", pod: { signedBy: "Versandhaus Nord GmbH" } }
        ])
      }
    })
  )

  it.effect("a config's returnFlag field: true or \"true\" turns delivered into returned, other values are refused", () =>
    Effect.gen(function* () {
      const config = yield* MappingConfig.decode({
        version: 1,
        source: "acme",
        signature: { algorithm: "hmac-sha256", encoding: "hex", header: "x-sig", secret: { env: "ACME_SECRET" } },
        events: "events[*]",
        fields: {
          trackingNumber: "tracking",
          occurredAt: { path: "at", policy: { _tag: "RequireZone" } },
          code: "code",
          returnFlag: "return"
        },
        codes: [{ code: "DLV", status: "delivered" }, { code: "TRN", status: "in_transit" }]
      })
      const event = (extra: Record<string, unknown>) => ({ tracking: "T1", at: "2024-08-09T10:00:00Z", code: "DLV", ...extra })
      const observations = yield* MappingTestKit.ingest(
        config,
        { events: [event({ return: true }), event({ return: "true", at: "2024-08-09T11:00:00Z" }), event({ return: false, at: "2024-08-09T12:00:00Z" }), event({})] },
        { secret: "test-secret-0123456789", receivedAt }
      )
      expect(meanings(observations).map((m) => m.meaning)).toEqual(["returned", "returned", "delivered", "delivered"])
      const refused = yield* Effect.either(
        MappingTestKit.ingest(config, { events: [event({ return: "maybe" })] }, { secret: "test-secret-0123456789", receivedAt })
      )
      expect(refused._tag).toBe("Left")
    })
  )
})
