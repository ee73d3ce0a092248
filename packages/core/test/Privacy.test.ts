/**
 * Minimization in place (`Privacy.minimizeFresh`, used by the flows on payloads they have just
 * built) gives exactly what `Privacy.minimize` gives, for any payload and any policy.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { ErpPort, HelpdeskPort, Notifier, Privacy } from "../src/index.js"

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
