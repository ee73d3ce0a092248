/**
 * Minimization in place (`Privacy.minimizeFresh`, used by the flows on payloads they have just
 * built) gives exactly what `Privacy.minimize` gives, for any payload and any policy; `Pii.paths`
 * finds a field's annotation under its refinements.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { ErpPort, HelpdeskPort, Notifier, Pii, Privacy, ShipmentEvent, ShipmentState } from "../src/index.js"

const policies = Arbitrary.make(Privacy.Policy)

const sameAsMinimize = <A, I>(name: string, schema: Schema.Schema<A, I, never>) =>
  it(`${name}: the same payload as minimize, for any policy`, () => {
    const encoded = Arbitrary.make(schema).map((a) => Schema.encodeSync(schema)(a))
    FastCheck.assert(
      FastCheck.property(encoded, policies, (value, policy) => {
        const before = JSON.stringify(value)
        const copied = Privacy.minimize(schema, value, policy)
        expect(JSON.stringify(value)).toBe(before) // minimize leaves its input alone
        const edited = Privacy.minimizeFresh(schema, structuredClone(value), policy)
        expect(JSON.stringify(edited)).toBe(JSON.stringify(copied))
        expect(edited).toEqual(copied)
      }),
      { numRuns: 1000 }
    )
  })

describe("Privacy.minimizeFresh", () => {
  sameAsMinimize("OpenCase", HelpdeskPort.OpenCase)
  sameAsMinimize("UpdateCase", HelpdeskPort.UpdateCase)
  sameAsMinimize("Notify", Notifier.Notify)
  sameAsMinimize("ReleaseInvoice", ErpPort.ReleaseInvoice)

  it("masks a required field a policy drops, and drops an optional one", () => {
    const request = {
      key: "k",
      companyId: "co-1",
      shipmentId: "shp-1",
      template: "delivered" as const,
      recipientName: "Ada Lovelace",
      recipientEmail: "ada@example.com",
      status: "delivered" as const,
      at: "2024-07-02T08:41:00.000Z"
    }
    const out = Privacy.minimizeFresh(Notifier.Notify, { ...request }, { name: "mask" })
    expect(out.recipientName).toBe("A. L.")
    expect("recipientEmail" in out).toBe(false)
  })
})

describe("Pii.paths", () => {
  it("finds personal data annotated under a refinement", () => {
    const Contact = Schema.Struct({
      email: Schema.String.pipe(Pii.pii("email"), Schema.maxLength(254)),
      phone: Schema.optionalWith(Schema.String.pipe(Pii.pii("phone"), Schema.minLength(4)), { exact: true })
    })
    expect(Pii.paths(Contact).map((p) => [p.path.join("."), p.kind])).toEqual([
      ["email", "email"],
      ["phone", "phone"]
    ])
    const out = Privacy.minimize(Contact, { email: "ada@example.com", phone: "+44 20 7946 0000" }, {})
    expect(out).toEqual({ email: "a***@example.com" })
  })
})

describe("personal data in arrays, records and encodings", () => {
  const Contacts = Schema.Struct({
    cc: Schema.Array(Schema.String.pipe(Pii.pii("email"))),
    phones: Schema.Record({ key: Schema.String, value: Schema.String.pipe(Pii.pii("phone")) }),
    signer: Schema.OptionFromNullOr(Schema.String.pipe(Pii.pii("name")))
  })
  const value = {
    cc: ["ada@example.com", "bob@example.org"],
    phones: { home: "+44 20 7946 0000" },
    signer: "Jane Smith"
  }

  it("finds an annotated array element, record value and encoded option", () => {
    expect(Pii.paths(Contacts).map((p) => [p.path.join("."), p.kind])).toEqual([
      ["cc.*", "email"],
      ["phones.*", "phone"],
      ["signer", "name"]
    ])
  })

  it("masks or drops them like any other field, in place or not", () => {
    const policy: Privacy.Policy = { email: "mask" }
    const expected = { cc: ["a***@example.com", "b***@example.org"], signer: "J. S." }
    expect(Privacy.minimize(Contacts, value, policy)).toEqual({ ...expected, phones: {} })
    expect(Privacy.minimizeFresh(Contacts, structuredClone(value), policy)).toEqual({ ...expected, phones: {} })
  })

  sameAsMinimize("a schema with arrays, records and encodings", Contacts)

  const destinations = [
    ["OpenCase", HelpdeskPort.OpenCase, Privacy.defaults.helpdesk],
    ["UpdateCase", HelpdeskPort.UpdateCase, Privacy.defaults.helpdesk],
    ["Notify", Notifier.Notify, Privacy.defaults.notifier],
    ["ReleaseInvoice", ErpPort.ReleaseInvoice, Privacy.defaults.finance],
    ["a schema with arrays, records and encodings", Contacts, Privacy.defaults.helpdesk]
  ] as const

  /** The values at a personal-data path of an encoded value. */
  const valuesAt = (value: unknown, path: ReadonlyArray<string>): Array<unknown> => {
    if (path.length === 0) return [value]
    if (value === null || typeof value !== "object") return []
    const [head, ...rest] = path
    const next = head === "*" ? Object.values(value) : head! in value ? [(value as any)[head!]] : []
    return next.flatMap((v) => valuesAt(v, rest))
  }
  /** The value without what lies at `path` (another copy of a personal value may lie elsewhere). */
  const without = (value: unknown, path: ReadonlyArray<string>): unknown => {
    if (value === null || typeof value !== "object" || path.length === 0) return value
    const [head, ...rest] = path
    const out: any = Array.isArray(value) ? [...value] : { ...value }
    for (const k of head === "*" ? Object.keys(out) : head! in out ? [head!] : []) {
      if (rest.length === 0) out[k] = null
      else out[k] = without(out[k], rest)
    }
    return out
  }
  const strings = (value: unknown): Array<string> =>
    typeof value === "string"
      ? [value]
      : value !== null && typeof value === "object"
      ? Object.values(value).flatMap(strings)
      : []

  for (const [name, schema, policy] of destinations) {
    it(`${name}: no personal data the default policy does not allow leaves verbatim`, () => {
      const encoded = Arbitrary.make(schema as Schema.Schema<any, any, never>).map((a) =>
        Schema.encodeSync(schema as Schema.Schema<any, any, never>)(a)
      )
      FastCheck.assert(
        FastCheck.property(encoded, (value) => {
          // The fields the policy does not keep; a kept one may hold the same text, and may leave.
          const guarded = Pii.paths(schema).filter((p) => (policy[p.kind] ?? "drop") !== "keep")
          const personal = guarded.flatMap((p) =>
            valuesAt(value, p.path).flatMap((v) =>
              // a value its own mask leaves unchanged (`***`, `A.`) or too short to be told apart
              typeof v === "string" && v.trim().length >= 4 && Privacy.mask(p.kind, v) !== v ? [v] : []
            )
          )
          const elsewhere = new Set(strings(guarded.reduce((v, p) => without(v, p.path), value as unknown)))
          const out = new Set(strings(Privacy.minimize(schema as Schema.Schema<any, any, never>, value, policy)))
          for (const v of personal) if (!elsewhere.has(v)) expect(out.has(v), v).toBe(false)
        }),
        { numRuns: 500 }
      )
    })
  }
})

describe("a carrier's free text", () => {
  it("RawCode.description and Location.facility are personal data (free text); the codes are not", () => {
    expect(Pii.paths(ShipmentEvent.RawCode).map((p) => [p.path.join("."), p.kind])).toEqual([["description", "free_text"]])
    expect(Pii.paths(ShipmentEvent.Location).map((p) => [p.path.join("."), p.kind])).toEqual([
      ["facility", "free_text"],
      ["postalCode", "postal_code"]
    ])
  })

  it("an exception's description leaves for the helpdesk only when its policy keeps free text", () => {
    const entry = Schema.encodeSync(ShipmentState.ExceptionEntry)({
      eventId: "evt-1" as never,
      kind: "failed_attempt",
      occurredAt: Schema.decodeSync(ShipmentEvent.StatusReported.fields.occurredAt)("2024-07-02T08:41:00.000Z"),
      raw: new ShipmentEvent.RawCode({ code: "NH", description: "Left with neighbour J. Smith at no. 12" })
    })
    const helpdesk = Privacy.minimize(ShipmentState.ExceptionEntry, entry, Privacy.defaults.helpdesk)
    expect(helpdesk.raw).toEqual({ code: "NH" })
    for (const policy of Object.values(Privacy.defaults)) {
      expect(JSON.stringify(Privacy.minimize(ShipmentState.ExceptionEntry, entry, policy))).not.toContain("Smith")
    }
    const kept = Privacy.minimize(ShipmentState.ExceptionEntry, entry, { ...Privacy.defaults.helpdesk, free_text: "keep" })
    expect(kept.raw.description).toBe("Left with neighbour J. Smith at no. 12")
  })

  it("a scan's facility is dropped with it, its city and country stay", () => {
    const scan = Schema.encodeSync(ShipmentState.LastScan)({
      eventId: "evt-1" as never,
      status: "delivered",
      at: Schema.decodeSync(ShipmentEvent.StatusReported.fields.occurredAt)("2024-07-02T08:41:00.000Z"),
      location: new ShipmentEvent.Location({ facility: "Porch of 12 Privet Drive", city: "Little Whinging", country: "GB" })
    })
    expect(Privacy.minimize(ShipmentState.LastScan, scan, Privacy.defaults.helpdesk).location).toEqual({
      city: "Little Whinging",
      country: "GB"
    })
  })
})

describe("Privacy.scrub", () => {
  const values = ["Flat 3, 12 Privet Drive", "petunia@example.com"]

  it("withholds a value a text already cut short ends in the middle of", () => {
    expect(Privacy.scrub("street 'Flat 3, 12 Pri…", values)).toBe("street '<redacted>…")
    expect(Privacy.scrub("shp-1: Flat 3, 12 Privet Drive; mail petu…", values)).toBe("shp-1: <redacted>; mail <redacted>…")
  })

  // A far side quotes what it was sent as it keeps it: an e-mail address lower-cased, a phone
  // number in its own format (E.164, say), and the description is logged and kept.
  it("withholds a value the far side quotes in other letter case, and a phone number it writes with other separators", () => {
    expect(Privacy.scrub("user petunia.dursley@example.com is suspended", ["Petunia.Dursley@Example.com"])).toBe(
      "user <redacted> is suspended"
    )
    expect(Privacy.scrub("The 'To' number +4917012345678 is not a valid mobile number", ["+49 170 1234 5678"])).toBe(
      "The 'To' number <redacted> is not a valid mobile number"
    )
    expect(Privacy.scrub("no route to (0049) 170-1234-5678.", ["+49 170 1234 5678"])).not.toContain("1234")
    // A short run of digits (a postal code, a house number) is only withheld as written.
    expect(Privacy.scrub("street 12 is closed until 2025", ["2025"])).toBe("street 12 is closed until <redacted>")
    expect(Privacy.scrub("error 12-345 at 12345", ["12 345"])).toBe("error 12-345 at 12345")
  })

  it("withholds a value the far side quotes in another Unicode normal form", () => {
    // Sent decomposed (u + combining diaeresis, as some systems store it), quoted composed.
    const sent = "Jürgen Müller".normalize("NFD")
    expect(Privacy.scrub(`customer ${"Jürgen Müller".normalize("NFC")} is blocked`, [sent])).toBe("customer <redacted> is blocked")
    expect(Privacy.scrub(`customer ${sent} is blocked`, ["Jürgen Müller".normalize("NFC")])).toBe("customer <redacted> is blocked")
  })

  it("leaves a cut text alone when its end is no value's beginning, or fewer than four of its characters", () => {
    expect(Privacy.scrub("shipment shp-1 is not deliverable…", values)).toBe("shipment shp-1 is not deliverable…")
    expect(Privacy.scrub("street 'Fla…", values)).toBe("street 'Fla…")
    expect(Privacy.scrub("street 'Flat 3, 12 Pri", values)).toBe("street 'Flat 3, 12 Pri")
  })
})
