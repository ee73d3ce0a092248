/**
 * The hot path's SHA-256 helper gives what `createHash` gives, for any string: idempotency keys
 * and audit hashes written before and after the change are the same.
 */
import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import { createHash } from "node:crypto"
import { sha256Hex } from "../src/internal/sha256.js"

describe("sha256Hex", () => {
  it("equals createHash('sha256') over UTF-8, for any string", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.oneof(FastCheck.string(), FastCheck.fullUnicodeString(), FastCheck.string16bits()), (s) => {
        expect(sha256Hex(s)).toBe(createHash("sha256").update(s).digest("hex"))
      }),
      { numRuns: 2000, examples: [[""], ["\ud800"], ["é"], ["😀"]] }
    )
  })
})
