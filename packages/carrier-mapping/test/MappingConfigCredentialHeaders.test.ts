/**
 * A signature header that waybill does not store cannot be the one a config reads.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { MappingConfig } from "../src/index.js"

const minimal = {
  version: 1,
  source: "wms:acme",
  signature: { algorithm: "hmac-sha256", encoding: "hex", header: "x-signature", secret: "0123456789abcdef" },
  events: "events[*]",
  fields: {
    trackingNumber: "shipment.reference",
    occurredAt: { path: "at", policy: { _tag: "AssumeUtc" } },
    code: "type"
  },
  codes: [{ code: "picked", status: "picked" }]
} as const

const rejection = (input: unknown): string =>
  Either.match(MappingConfig.decodeEither(input), { onLeft: (e) => e.message, onRight: () => "accepted" })

describe("MappingConfig credential headers", () => {
  it("refuses a credential header (dropped before a request is stored) as the signature or timestamp header", () => {
    expect(rejection({ ...minimal, signature: { ...minimal.signature, header: "Authorization" } })).toBe(
      "invalid MappingConfig: signature.header: Authorization carries credentials and is dropped before a request is stored; sign in another header, e.g. x-signature"
    )
    expect(
      rejection({
        ...minimal,
        signature: { ...minimal.signature, timestamp: { header: "cookie", format: "unix-seconds", toleranceSeconds: 300 } }
      })
    ).toBe(
      "invalid MappingConfig: signature.timestamp.header: cookie carries credentials and is dropped before a request is stored; sign in another header, e.g. x-signature"
    )
    expect(rejection(minimal)).toBe("accepted")
  })
})
