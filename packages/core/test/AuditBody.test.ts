/**
 * The pipeline's per-event audit body is built as text; it must be exactly what
 * `JSON.stringify` gives for the same object, whatever the strings hold.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "effect/FastCheck"
import { eventAuditBody } from "../src/internal/auditBody.js"

const text = fc.string({ unit: "binary", maxLength: 12 })
const keys = fc.array(text, { maxLength: 4 })

describe("eventAuditBody", () => {
  it("is the JSON.stringify of the audit object", () => {
    fc.assert(
      fc.property(text, text, text, fc.option(text, { nil: undefined }), keys, keys, keys, text, (id, source, outcome, anomaly, reached, retracted, actions, billing) => {
        const expected = JSON.stringify({
          eventId: id,
          source,
          outcome,
          ...(anomaly !== undefined ? { anomaly } : {}),
          reached,
          retracted,
          actions,
          billing
        })
        expect(eventAuditBody({ id, source }, outcome, anomaly, reached, retracted, actions, billing)).toBe(expected)
      }),
      { numRuns: 2000 }
    )
  })
})
