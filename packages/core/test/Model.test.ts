/**
 * The canonical model: untrusted input is rejected with the path and the rule, values
 * round-trip through their encoded form, personal data is marked.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import {
  Charge,
  ErpPort,
  HelpdeskPort,
  Notifier,
  ShipmentRecord,
  Instant,
  Invoice,
  Milestone,
  Money,
  Order,
  Party,
  Payment,
  Pii,
  ServiceCase,
  Shipment,
  ShipmentEvent,
  ShipmentState,
  Validation,
  Weight
} from "../src/index.js"

const validOrder = {
  id: "SO042",
  companyId: "co-1",
  refs: { odoo: { model: "sale.order", id: 42 } },
  customer: {
    id: "partner-7",
    companyId: "co-1",
    refs: {},
    name: "Ada Lovelace",
    email: "ada@example.com",
    phone: "+44 20 7946 0000",
    address: { street: "12 St James's Square", postalCode: "SW1Y 4LB", city: "London", country: "GB" }
  },
  shipTo: { street: "12 St James's Square", city: "London", country: "GB" },
  currency: "EUR",
  lines: [{ id: "l1", sku: "WIDGET", description: "Widget", quantity: 3, unitPrice: { amountMinor: 1250, currency: "EUR" } }],
  confirmedAt: "2024-07-31T15:00:00+02:00"
}

describe("decoding untrusted input", () => {
  it("accepts a valid order and normalises its time to UTC", () => {
    const order = Validation.decodeUnknownEither(Order.Order)(validOrder)
    expect(Either.isRight(order)).toBe(true)
    if (Either.isRight(order)) {
      expect(Schema.encodeSync(Instant.Instant)(order.right.confirmedAt)).toBe("2024-07-31T13:00:00.000Z")
      expect(Order.total(order.right)).toEqual(new Money.Money({ amountMinor: 3750, currency: order.right.currency }))
    }
  })

  it("names the path and the rule of every problem", () => {
    const bad = {
      ...validOrder,
      customer: { ...validOrder.customer, email: "not-an-email" },
      lines: [{ ...validOrder.lines[0], quantity: 0, unitPrice: { amountMinor: 12.5, currency: "eur" } }],
      confirmedAt: "2024-07-31 15:00"
    }
    const result = Validation.decodeUnknownEither(Order.Order)(bad)
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) {
      const error = result.left
      expect(error._tag).toBe("ValidationError")
      expect(error.reason).toBe("Invalid")
      expect(error.schema).toBe("Order")
      const byPath = Object.fromEntries(error.issues.map((i) => [i.path, i.message]))
      expect(byPath["customer.email"]).toBe("an email looks like name@example.com")
      expect(byPath["lines.0.quantity"]).toBe("a quantity is a number greater than 0 and at most 1,000,000")
      expect(byPath["lines.0.unitPrice.currency"]).toBe("a currency must be an ISO 4217 code of three upper-case letters")
      expect(byPath["lines.0.unitPrice.amountMinor"]).toMatch(/integer/)
      expect(byPath["confirmedAt"]).toBe("expected an ISO-8601 instant with a zone, e.g. 2024-07-31T15:00:00Z")
      expect(error.message).toMatch(/^invalid Order: /)
      expect(error.message).toContain("customer.email: an email looks like name@example.com")
    }
  })

  it("checks rules across fields: every line in the order currency", () => {
    const result = Validation.decodeUnknownEither(Order.Order)({
      ...validOrder,
      lines: [{ ...validOrder.lines[0], unitPrice: { amountMinor: 100, currency: "USD" } }]
    })
    expect(Either.isLeft(result) && result.left.issues.map((i) => [i.path, i.message])).toEqual([
      ["lines", "every line must be priced in the order currency EUR"]
    ])
  })

  it("rejects an event with an unknown status, naming the field", async () => {
    const error = await Effect.runPromise(
      Effect.flip(
        Validation.decodeUnknown(ShipmentEvent.ShipmentEvent)({
          _tag: "StatusReported",
          id: "e1",
          shipmentId: "s1",
          companyId: "c1",
          source: "easypost",
          occurredAt: "2024-07-31T15:00:00Z",
          receivedAt: "2024-07-31T15:00:01Z",
          raw: { code: "XX" },
          status: "teleported"
        })
      )
    )
    expect(error.issues.some((i) => i.path === "status" && i.message.includes('"teleported"'))).toBe(true)
  })

  it("is a serializable error: it round-trips through its encoded form", () => {
    const result = Validation.decodeUnknownEither(Money.Money)({ amountMinor: 1.5, currency: "EUR" })
    if (Either.isRight(result)) throw new Error("expected a failure")
    const encoded = Schema.encodeSync(Validation.ValidationError)(result.left)
    const decoded = Schema.decodeUnknownSync(Validation.ValidationError)(JSON.parse(JSON.stringify(encoded)))
    expect(decoded.message).toBe(result.left.message)
  })
})

describe("Instant", () => {
  const decode = Schema.decodeUnknownEither(Instant.Instant)
  it.each([
    ["2024-07-31T15:00:00Z", "2024-07-31T15:00:00.000Z"],
    ["2024-07-31T15:00:00.5+02:00", "2024-07-31T13:00:00.500Z"],
    ["2024-07-31T15:00-0530", "2024-07-31T20:30:00.000Z"],
    ["2024-02-29T23:59:59.999999Z", "2024-02-29T23:59:59.999Z"]
  ])("decodes %s to %s", (input, expected) => {
    const result = decode(input)
    expect(Either.isRight(result) && Schema.encodeSync(Instant.Instant)(result.right)).toBe(expected)
  })
  it.each([
    ["2024-07-31T15:00:00", "zone"],
    ["2023-02-29T10:00:00Z", "does not exist"],
    ["2024-07-31T24:00:00Z", "out of range"],
    ["2024-07-31T10:00:00+15:00", "offset"],
    ["yesterday", "ISO-8601"]
  ])("rejects %s", (input, reason) => {
    const result = decode(input)
    expect(Either.isLeft(result) && result.left.message).toContain(reason)
  })
  it("accepts exactly the calendar's days (leap years included) and agrees with Date", () => {
    const pad = (n: number, w: number) => String(n).padStart(w, "0")
    FastCheck.assert(
      FastCheck.property(
        FastCheck.integer({ min: 1, max: 9999 }),
        FastCheck.integer({ min: 1, max: 12 }),
        FastCheck.integer({ min: 1, max: 31 }),
        (year, month, day) => {
          const date = new Date(0)
          date.setUTCFullYear(year, month - 1, day)
          const exists = date.getUTCDate() === day
          const parsed = Instant.parseIsoInstant(`${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T00:00:00Z`)
          expect(typeof parsed === "number").toBe(exists)
          if (exists) expect(parsed).toBe(date.setUTCHours(0, 0, 0, 0))
        }
      ),
      { numRuns: 5000, examples: [[2000, 2, 29], [1900, 2, 29], [2024, 2, 29], [2023, 2, 29], [2100, 2, 29], [2024, 4, 31]] }
    )
  })
  it("writes every instant as Date#toISOString does", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.oneof(
          FastCheck.integer({ min: -62_167_219_200_000, max: 253_402_300_799_999 }),
          FastCheck.integer({ min: -8_640_000_000_000_000, max: 8_640_000_000_000_000 }),
          FastCheck.constantFrom(-62_167_219_200_000, -62_167_219_200_001, 253_402_300_799_999, 253_402_300_800_000, 0, -1, 951_782_400_000)
        ),
        (millis) => {
          expect(Instant.formatMillis(millis)).toBe(new Date(millis).toISOString())
        }
      ),
      { numRuns: 10_000 }
    )
  })
  it("writes instants that share a cache slot correctly, in any order", () => {
    // The formatter caches by the low 12 bits: these all land in the same few slots.
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(FastCheck.tuple(FastCheck.integer({ min: 0, max: 3 }), FastCheck.integer({ min: 0, max: 50 })), { minLength: 1, maxLength: 60 }),
        (picks) => {
          for (const [low, high] of picks) {
            const millis = 1_700_000_000_000 - (1_700_000_000_000 % 4096) + high * 4096 + low
            expect(Instant.formatMillis(millis)).toBe(new Date(millis).toISOString())
          }
        }
      ),
      { numRuns: 2_000 }
    )
  })
  it("writes an event's JSON as JSON.stringify does, whichever path built it", () => {
    const shipmentId = "shp-1" as ShipmentEvent.ShipmentEvent["shipmentId"]
    const companyId = "co-1" as ShipmentEvent.ShipmentEvent["companyId"]
    FastCheck.assert(
      FastCheck.property(Arbitrary.make(ShipmentEvent.ShipmentEvent), Arbitrary.make(ShipmentEvent.Draft), (event, draft) => {
        expect(ShipmentRecord.eventJson(event)).toBe(JSON.stringify(event))
        expect(JSON.parse(ShipmentRecord.eventJson(event))).toEqual(Schema.encodeSync(ShipmentEvent.ShipmentEvent)(event))
        const routed = ShipmentEvent.fromDraft(draft, shipmentId, companyId)
        expect(ShipmentRecord.eventJson(routed)).toBe(JSON.stringify(routed))
      }),
      { numRuns: 1000 }
    )
  })
  it("reads the canonical forms (…SSZ, …SS.sssZ) exactly, whatever character sits where", () => {
    // The canonical forms are read without the regex; any other character at any place, or any
    // value out of range, must give the same answer as the general reader: an error, or Date's.
    const canonical = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/
    const chars = FastCheck.constantFrom(..."0123456789-T:.Z+ x9".split(""))
    FastCheck.assert(
      FastCheck.property(
        FastCheck.date({ min: new Date("0000-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59.999Z"), noInvalidDate: true }),
        FastCheck.boolean(),
        FastCheck.array(FastCheck.tuple(FastCheck.nat(23), chars), { maxLength: 3 }),
        (date, withMillis, edits) => {
          const iso = date.toISOString()
          const chars = [...(withMillis ? iso : `${iso.slice(0, 19)}Z`)]
          // No sign in the zone's place: "…SS-0000" would be another valid form (an offset), read by
          // the general reader and checked by the tests above.
          for (const [at, c] of edits) if (at < chars.length) chars[at] = at >= 19 && (c === "+" || c === "-") ? "x" : c
          const input = chars.join("")
          const millis = Date.parse(input)
          const valid =
            canonical.test(input) &&
            !Number.isNaN(millis) &&
            Instant.formatMillis(millis) === (input.length === 20 ? `${input.slice(0, 19)}.000Z` : input)
          const parsed = Instant.parseIsoInstant(input)
          if (valid) expect(parsed).toBe(millis)
          else expect(typeof parsed).toBe("string")
        }
      ),
      { numRuns: 20_000 }
    )
  })
  it("reads any valid instant with any zone offset as Date.parse does", () => {
    const pad = (n: number, w: number) => String(n).padStart(w, "0")
    FastCheck.assert(
      FastCheck.property(
        FastCheck.date({ min: new Date("0001-01-02T00:00:00Z"), max: new Date("9999-12-30T00:00:00Z"), noInvalidDate: true }),
        FastCheck.integer({ min: -14 * 60, max: 14 * 60 }),
        (date, offset) => {
          const local = new Date(date.getTime() + offset * 60_000).toISOString().slice(0, 23)
          const zone = `${offset < 0 ? "-" : "+"}${pad(Math.floor(Math.abs(offset) / 60), 2)}:${pad(Math.abs(offset) % 60, 2)}`
          expect(Instant.parseIsoInstant(`${local}${zone}`)).toBe(date.getTime())
          expect(Instant.parseIsoInstant(`${local}${zone}`)).toBe(Date.parse(`${local}${zone}`))
        }
      ),
      { numRuns: 5000 }
    )
  })
})

describe("Money and Weight", () => {
  it("adds only amounts of the same currency", () => {
    const eur = (n: number) => new Money.Money({ amountMinor: n, currency: Money.CurrencyCode.make("EUR") })
    const usd = new Money.Money({ amountMinor: 1, currency: Money.CurrencyCode.make("USD") })
    expect(Money.add(eur(150), eur(250))).toEqual(Either.right(eur(400)))
    const mismatch = Money.add(eur(1), usd)
    expect(Either.isLeft(mismatch) && mismatch.left.message).toBe("cannot combine EUR with USD")
  })
  it("refuses a sum or difference beyond exact minor units with a typed error instead of throwing", () =>
    FastCheck.assert(
      FastCheck.property(
        FastCheck.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
        FastCheck.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
        FastCheck.constantFrom("JPY", "EUR", "KWD"),
        (a, b, c) => {
          const money = (n: number) => new Money.Money({ amountMinor: n, currency: Money.CurrencyCode.make(c) })
          for (const [op, exact] of [[Money.add, BigInt(a) + BigInt(b)], [Money.subtract, BigInt(a) - BigInt(b)]] as const) {
            const result = op(money(a), money(b))
            if (exact >= -BigInt(Number.MAX_SAFE_INTEGER) && exact <= BigInt(Number.MAX_SAFE_INTEGER)) {
              expect(result).toEqual(Either.right(money(Number(exact))))
            } else {
              expect(Either.isLeft(result) && result.left._tag).toBe("AmountOutOfRange")
              expect(Either.isLeft(result) && result.left.message).toMatch(/beyond/)
            }
          }
        }
      ),
      { numRuns: 2000 }
    ))
  it("converts carrier units to grams and measures deviation", () => {
    expect(Weight.fromUnit(614.4, "oz")).toBe(17418)
    expect(Weight.fromUnit(1.2, "kg")).toBe(1200)
    expect(Weight.deviationPerMille(Weight.Grams.make(1000), Weight.Grams.make(1100))).toBe(100)
  })
})

describe("Order.total", () => {
  const eur = (amountMinor: number) => ({ amountMinor, currency: "EUR" })
  const orderOf = (lines: ReadonlyArray<{ readonly quantity: number; readonly unitMinor: number }>) =>
    Schema.decodeUnknownSync(Order.Order)({
      ...validOrder,
      lines: lines.map((l, i) => ({ id: `l${i}`, sku: "SKU", description: "", quantity: l.quantity, unitPrice: eur(l.unitMinor) }))
    })
  /** `unitMinor × digits / 10^scale` in integers, rounded half away from zero (the ERP's half-up). */
  const exactLine = (unitMinor: number, digits: number, scale: number): bigint => {
    const product = BigInt(unitMinor) * BigInt(digits)
    const divisor = 10n ** BigInt(scale)
    const magnitude = product < 0n ? -product : product
    const rounded = (magnitude * 2n + divisor) / (divisor * 2n)
    return product < 0n ? -rounded : rounded
  }

  it("prices a fractional quantity exactly: 0.145 kg at 1.00 EUR is 0.15 EUR, not 0.14", () => {
    expect(Order.total(orderOf([{ quantity: 0.145, unitMinor: 100 }])).amountMinor).toBe(15)
    expect(Order.total(orderOf([{ quantity: 1.015, unitMinor: 100 }])).amountMinor).toBe(102)
  })

  it("rounds a line quantity × unit price once, half away from zero, as if in decimals", () =>
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(
          FastCheck.record({
            digits: FastCheck.integer({ min: 1, max: 1_000_000 }),
            scale: FastCheck.integer({ min: 0, max: 4 }),
            unitMinor: FastCheck.integer({ min: -10_000_000, max: 10_000_000 })
          }),
          { minLength: 1, maxLength: 20 }
        ),
        (lines) => {
          const order = orderOf(lines.map((l) => ({ quantity: l.digits / 10 ** l.scale, unitMinor: l.unitMinor })))
          const expected = lines.reduce((sum, l) => sum + exactLine(l.unitMinor, l.digits, l.scale), 0n)
          expect(Order.total(order).amountMinor).toBe(Number(expected))
        }
      ),
      { numRuns: 2000 }
    ))

  it("a credit line totals the negation of the same charge (no rounding toward +infinity)", () => {
    // 0.5 × 0.05 EUR is 0.025 EUR: 3 cents charged, so 3 cents credited.
    expect(Order.total(orderOf([{ quantity: 0.5, unitMinor: 5 }])).amountMinor).toBe(3)
    expect(Order.total(orderOf([{ quantity: 0.5, unitMinor: -5 }])).amountMinor).toBe(-3)
  })

  it("refuses an order whose total is beyond exact minor units, naming the lines", () => {
    const result = Validation.decodeUnknownEither(Order.Order)({
      ...validOrder,
      lines: [{ ...validOrder.lines[0], quantity: 1_000_000, unitPrice: { amountMinor: 10_000_000_000_000, currency: "EUR" } }]
    })
    expect(Either.isLeft(result) && result.left.issues.map((i) => i.path)).toEqual(["lines"])
    // A total that fits is taken.
    const fits = Validation.decodeUnknownEither(Order.Order)({
      ...validOrder,
      lines: [{ ...validOrder.lines[0], quantity: 900, unitPrice: { amountMinor: 10_000_000_000_000, currency: "EUR" } }]
    })
    expect(Either.isRight(fits) && Order.total(fits.right).amountMinor).toBe(9_000_000_000_000_000)
  })
})

describe("round trips", () => {
  const roundTrip = <A, I>(schema: Schema.Schema<A, I, never>) => {
    const encode = Schema.encodeSync(schema)
    const decode = Schema.decodeUnknownSync(schema)
    return FastCheck.assert(
      FastCheck.asyncProperty(Arbitrary.make(schema), async (value) => {
        await new Promise<void>((resolve) => setImmediate(resolve))
        const encoded = encode(value)
        const again = encode(decode(JSON.parse(JSON.stringify(encoded))))
        expect(again).toEqual(encoded)
        // JSON.stringify of the value is its encoding (the pipeline relies on it).
        expect(JSON.parse(JSON.stringify(value))).toEqual(encoded)
      }),
      { numRuns: 1000 }
    )
  }
  const schemas = {
    Order: Order.Order,
    Shipment: Shipment.Shipment,
    ShipmentEvent: ShipmentEvent.ShipmentEvent,
    Charge: Charge.Charge,
    Invoice: Invoice.Invoice,
    Payment: Payment.Payment,
    ServiceCase: ServiceCase.ServiceCase,
    Party: Party.Party,
    Milestone: Milestone.Milestone,
    Outcome: ShipmentState.Outcome,
    WriteTracking: ErpPort.WriteTracking,
    PostNote: ErpPort.PostNote,
    ValidateDelivery: ErpPort.ValidateDelivery,
    ReleaseInvoice: ErpPort.ReleaseInvoice,
    OpenCase: HelpdeskPort.OpenCase,
    UpdateCase: HelpdeskPort.UpdateCase,
    Notify: Notifier.Notify,
    ShipmentRecord: ShipmentRecord.ShipmentRecord
  } as const
  for (const [name, schema] of Object.entries(schemas)) {
    it(`${name} encodes and decodes to the same value`, () => roundTrip(schema as Schema.Schema<unknown, unknown, never>))
  }
})

describe("personal data", () => {
  it("marks names, contacts, street lines and free text, and nothing support needs", () => {
    const order = Pii.paths(Order.Order).map((p) => `${p.path.join(".")}:${p.kind}`)
    expect(order).toEqual([
      "customer.name:name",
      "customer.email:email",
      "customer.phone:phone",
      "customer.address.street:street",
      "customer.address.street2:street",
      "customer.address.postalCode:postal_code",
      "shipTo.street:street",
      "shipTo.street2:street",
      "shipTo.postalCode:postal_code",
      "note:free_text"
    ])
    const event = Pii.paths(ShipmentEvent.ShipmentEvent).map((p) => p.path.join("."))
    // the vendor's free text (a status description, a free-text location) may name or locate a person
    expect(event).toEqual(["raw.description", "location.facility", "location.postalCode", "pod.signedBy", "pod.evidenceUrl"])
    expect(Pii.paths(ServiceCase.ServiceCase).map((p) => p.path.join("."))).toEqual(["summary"])
  })
})
