import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import { readFileSync } from "node:fs"
import { DhlUnified, GenericWarehouse, MappingCarrier, MappingConfig } from "../src/index.js"

const minimal = {
  version: 1,
  source: "wms:acme",
  signature: { algorithm: "hmac-sha256", encoding: "hex", header: "x-signature", secret: "0123456789abcdef" },
  events: "events[*]",
  fields: {
    trackingNumber: "shipment.reference",
    occurredAt: { path: "at", policy: { _tag: "AssumeZone", zone: "Europe/Berlin" } },
    code: "type"
  },
  codes: [{ code: "picked", status: "picked" }]
} as const

/** The readable message of a rejected config. */
const rejection = (input: unknown): string =>
  Either.match(MappingConfig.decodeEither(input), {
    onLeft: (e) => e.message,
    onRight: () => "accepted"
  })

describe("MappingConfig", () => {
  it("accepts a minimal config and fills the defaults", () => {
    const config = Either.getOrThrow(MappingConfig.decodeEither(minimal))
    expect(config.limits).toEqual({ maxBodyBytes: 1048576, maxEvents: 1000 })
    expect(config.codeMatching).toBe("exact")
    expect(config.fields.occurredAt.format).toBe("iso")
    expect(Redacted.isRedacted(config.signature.secret)).toBe(true)
    // The secret never shows in logs or errors.
    expect(String(config.signature.secret)).not.toContain("0123456789abcdef")
  })

  it("rejects unknown canonical statuses and exception kinds, naming the rule", () => {
    expect(rejection({ ...minimal, codes: [{ code: "SHP", status: "shipped" }] })).toBe(
      'invalid MappingConfig: codes.0.status: "shipped" is not a canonical status; use one of created, picked, packed, label_created, dispatched, in_transit, out_for_delivery, available_for_pickup, delivered, return_initiated, returned, cancelled'
    )
    expect(rejection({ ...minimal, codes: [{ code: "X", status: "unknown" }] })).toBe(
      'invalid MappingConfig: codes.0.status: "unknown" is what unmapped codes become on their own; remove the rule instead'
    )
    expect(rejection({ ...minimal, codes: [{ code: "X", exception: "stolen" }] })).toBe(
      'invalid MappingConfig: codes.0.exception: "stolen" is not an exception kind; use one of delayed, failed_attempt, damaged, address_issue, customs_hold, refused, lost'
    )
    expect(rejection({ ...minimal, codes: [{ code: "X" }, { code: "Y", status: "picked", exception: "lost" }] })).toBe(
      'invalid MappingConfig: codes.0: the rule for code "X" needs exactly one of status, exception, clears or retracts (has 0); codes.1: the rule for code "Y" needs exactly one of status, exception, clears or retracts (has 2)'
    )
    expect(rejection({ ...minimal, codes: [{ code: "A", status: "picked" }, { code: " A ", status: "packed" }] })).toBe(
      'invalid MappingConfig: codes.1.code: duplicate rule for code " A " (first at codes.0)'
    )
    expect(
      rejection({
        ...minimal,
        fields: { ...minimal.fields, subcode: "sub" },
        codeMatching: "case-insensitive",
        codes: [{ code: "dex", subcode: "03", exception: "address_issue" }, { code: "DEX", subcode: "03", exception: "refused" }]
      })
    ).toBe('invalid MappingConfig: codes.1.code: duplicate rule for code "DEX" subcode "03" (first at codes.0)')
    expect(rejection({ ...minimal, codes: [{ code: "V", retracts: true }] })).toBe(
      "invalid MappingConfig: codes.0.retracts: a retraction needs fields.id (the partner's event ids) and fields.retracts (the ids it withdraws)"
    )
  })

  it("rejects a rule with a subcode when no fields.subcode reads one (it could never match)", () => {
    // Without fields.subcode every event has no subcode: DEX/03 would silently map as plain DEX
    // (delayed, not address_issue), and a subcode-only code would be unmapped.
    const codes = [{ code: "DEX", exception: "delayed" }, { code: "DEX", subcode: "03", exception: "address_issue" }]
    expect(rejection({ ...minimal, codes })).toBe(
      'invalid MappingConfig: codes.1.subcode: the rule for code "DEX" subcode "03" can never match: set fields.subcode (where the payload has the subcode)'
    )
    expect(rejection({ ...minimal, fields: { ...minimal.fields, subcode: "reason" }, codes })).toBe("accepted")
  })

  it("rejects malformed paths with the position of the mistake", () => {
    expect(rejection({ ...minimal, events: "events[*" })).toBe(
      'invalid MappingConfig: events: malformed path "events[*": expected "]" after "*" at position 9'
    )
    expect(rejection({ ...minimal, fields: { ...minimal.fields, trackingNumber: "shipment..reference" } })).toBe(
      'invalid MappingConfig: fields.trackingNumber: malformed path "shipment..reference": unexpected "." at position 10 (expected a property name)'
    )
    expect(rejection({ ...minimal, fields: { ...minimal.fields, code: ["type", "kind[x]"] } })).toBe(
      'invalid MappingConfig: fields.code.1: malformed path "kind[x]": unexpected "x" at position 6 (expected an index, * or a quoted name)'
    )
    expect(rejection({ ...minimal, fields: { ...minimal.fields, code: "lines[*].code" } })).toBe(
      'invalid MappingConfig: fields.code: path "lines[*].code" selects many values; [*] is only allowed in "events"'
    )
    expect(rejection({ ...minimal, fields: { ...minimal.fields, trackingNumber: "^^.id" } })).toBe(
      'invalid MappingConfig: fields.trackingNumber: path "^^.id" goes up 2 level(s) but events "events[*]" has only 1 enclosing level(s)'
    )
    expect(rejection({ ...minimal, events: "^.events[*]" })).toBe(
      'invalid MappingConfig: events: the events path "^.events[*]" starts at the payload root; "^" is for field paths'
    )
    expect(rejection({ ...minimal, fields: { ...minimal.fields, code: 42 } })).toBe(
      "invalid MappingConfig: fields.code: expected a path or a list of paths, found 42"
    )
  })

  it("rejects bad zones, policies and time formats", () => {
    const at = (occurredAt: unknown) => rejection({ ...minimal, fields: { ...minimal.fields, occurredAt } })
    expect(at({ path: "at", policy: { _tag: "AssumeZone", zone: "Mars/Olympus" } })).toBe(
      'invalid MappingConfig: fields.occurredAt.policy.zone: unknown time zone "Mars/Olympus"'
    )
    expect(at({ path: "at", policy: { _tag: "AssumeOffset", minutes: 900 } })).toBe(
      "invalid MappingConfig: fields.occurredAt.policy.minutes: an offset is between -14:00 and +14:00"
    )
    expect(at({ path: "at" })).toBe("invalid MappingConfig: fields.occurredAt.policy: is missing")
    expect(at({ path: "at", format: "epoch", policy: { _tag: "AssumeUtc" } })).toBe(
      'invalid MappingConfig: fields.occurredAt.format: "epoch" is not a time format; use "iso", "unix-seconds" or "unix-millis"'
    )
    expect(
      at({ path: "at", policy: { _tag: "RequireZone" }, zoneByCountry: { country: "c", zones: { de: "Europe/Berlin", FR: "Europe/Pariss" } } })
    ).toBe(
      'invalid MappingConfig: fields.occurredAt.zoneByCountry.zones.FR: unknown time zone "Europe/Pariss"'
    )
    expect(at({ path: "at", policy: { _tag: "RequireZone" }, zoneByCountry: { country: "c", zones: { de: "Europe/Berlin" } } })).toBe(
      'invalid MappingConfig: fields.occurredAt.zoneByCountry.zones.de: "de" is not a country key; use an ISO 3166-1 alpha-2 code, e.g. DE'
    )
    // One path cannot tell a domestic shipment from a cross-border one.
    const domestic = (domesticCountry: unknown) =>
      at({ path: "at", policy: { _tag: "RequireZone" }, zoneByCountry: { country: "c", domesticCountry, zones: { DE: "Europe/Berlin" } } })
    expect(domestic("origin")).toBe(
      "invalid MappingConfig: fields.occurredAt.zoneByCountry.domesticCountry: domesticCountry lists at least two paths that must name the same country (e.g. the shipment's origin and destination country)"
    )
    expect(domestic(["origin"])).toBe(
      "invalid MappingConfig: fields.occurredAt.zoneByCountry.domesticCountry: domesticCountry lists at least two paths that must name the same country (e.g. the shipment's origin and destination country)"
    )
    expect(domestic(["^^.origin", "^.destination"])).toBe(
      'invalid MappingConfig: fields.occurredAt.zoneByCountry.domesticCountry.0: path "^^.origin" goes up 2 level(s) but events "events[*]" has only 1 enclosing level(s)'
    )
    expect(domestic(["origin", "destination"])).toBe("accepted")
  })

  it("rejects a missing or weak signature secret and malformed signature settings", () => {
    const { secret: _, ...noSecret } = minimal.signature
    expect(rejection({ ...minimal, signature: noSecret })).toBe(
      'invalid MappingConfig: signature.secret: missing signature secret: give the secret (at least 16 characters) or { "env": "NAME" }'
    )
    expect(rejection({ ...minimal, signature: { ...minimal.signature, secret: "hunter2" } })).toBe(
      "invalid MappingConfig: signature.secret: a signature secret must be at least 16 characters"
    )
    expect(rejection({ ...minimal, signature: { ...minimal.signature, secret: { env: "MY SECRET" } } })).toBe(
      'invalid MappingConfig: signature.secret: "MY SECRET" is not an environment variable name (letters, digits and _)'
    )
    expect(rejection({ ...minimal, signature: { ...minimal.signature, encoding: "base32", algorithm: "md5" } })).toBe(
      'invalid MappingConfig: signature.algorithm: "md5" is not a supported algorithm; use "hmac-sha256"; signature.encoding: "base32" is not a signature encoding; use "hex" or "base64"'
    )
    expect(
      rejection({
        ...minimal,
        signature: { ...minimal.signature, timestamp: { header: "x-ts", format: "unix-seconds", toleranceSeconds: 0, signedPayload: "{body}" } }
      })
    ).toBe(
      "invalid MappingConfig: signature.timestamp.toleranceSeconds: toleranceSeconds is a whole number of seconds between 1 and 86400; signature.timestamp.signedPayload: signedPayload must contain {timestamp} exactly once, e.g. \"{timestamp}.{body}\""
    )
    expect(rejection({ ...minimal, signature: { ...minimal.signature, header: "x signature" } })).toBe(
      "invalid MappingConfig: signature.header: a header name is an HTTP token, e.g. x-signature"
    )
  })

  it("rejects unknown keys (a typo never silently disables a field), bad sources and weights without units", () => {
    expect(rejection({ ...minimal, fields: { ...minimal.fields, trackingNumbr: "x" } })).toMatch(
      /^invalid MappingConfig: fields\.trackingNumbr: is unexpected, expected: /
    )
    expect(rejection({ ...minimal, source: "WMS ACME" })).toBe(
      "invalid MappingConfig: source: a source is 1-64 lower-case letters, digits or . _ : - (e.g. easypost, wms:acme)"
    )
    expect(rejection({ ...minimal, fields: { ...minimal.fields, weight: { value: "w" } } })).toBe(
      "invalid MappingConfig: fields.weight: a weight needs unit or defaultUnit"
    )
    expect(rejection({ ...minimal, version: 2 })).toBe("invalid MappingConfig: version: version must be 1, not 2")
    expect(rejection("not a config")).toMatch(/^invalid MappingConfig: .*Expected/)
  })

  it.effect("decodeJson explains unparsable JSON; validate re-checks a config edited in code", () =>
    Effect.gen(function* () {
      const notJson = yield* Effect.flip(MappingConfig.decodeJson("{ version: 1 "))
      expect(notJson.message).toMatch(/^invalid MappingConfig: \(root\): not valid JSON: /)
      const edited = { ...GenericWarehouse.config, events: "events[*" }
      const invalid = yield* Effect.flip(MappingCarrier.make(edited))
      expect(invalid.message).toBe('invalid MappingConfig: events: malformed path "events[*": expected "]" after "*" at position 9')
      const badField = yield* Effect.flip(
        MappingCarrier.make({ ...GenericWarehouse.config, fields: { ...GenericWarehouse.config.fields, code: "type..x" } })
      )
      expect(badField._tag).toBe("ValidationError")
      expect(badField.message).toContain('fields.code: malformed path "type..x": unexpected "." at position 6')
    })
  )

  it.effect("the shipped JSON files are the exported constants and decode cleanly", () =>
    Effect.gen(function* () {
      for (const [file, shipped] of [
        ["generic-warehouse.json", GenericWarehouse],
        ["dhl-unified.json", DhlUnified]
      ] as const) {
        const text = readFileSync(new URL(`../configs/${file}`, import.meta.url), "utf8")
        expect(JSON.parse(text), `configs/${file} differs from the exported constant`).toEqual(shipped.json)
        const decoded = yield* MappingConfig.decodeJson(text)
        expect(decoded).toEqual(shipped.config)
        expect(MappingConfig.encode(decoded)).toEqual(shipped.json)
      }
    })
  )

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
