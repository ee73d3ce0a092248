/**
 * Minimization in place (`Privacy.minimizeFresh`, used by the flows on payloads they have just
 * built) gives exactly what `Privacy.minimize` gives, for any payload and any policy; `Pii.paths`
 * finds a field's annotation under its refinements.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { ErpPort, HelpdeskPort, Notifier, Pii, Privacy } from "../src/index.js"

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
