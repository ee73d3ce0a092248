/**
 * The fuzzing harness itself: its mutations make JSON, never a cycle, and leave the values they
 * put in untouched (CI once failed on a cycle the harness built, not the parser under test).
 */
import { describe, expect, it } from "vitest"
import { awkwardValues, mutate } from "../src/testing/ParserFuzz.js"

describe("ParserFuzz.mutate", () => {
  it("the same value put in twice, one inside the other, is a copy each time: no cycle", () => {
    const shared = { value: [1] }
    // slot 0 is `a`; then slot 1 is `a.value` (inside the first copy of `shared`)
    const out = mutate({ a: 1 }, [
      { kind: "replace", at: 0, value: shared },
      { kind: "replace", at: 1, value: shared }
    ])
    expect(JSON.stringify(out)).toBe('{"a":{"value":{"value":[1]}}}')
    expect(shared).toEqual({ value: [1] })
  })

  it("a mutation inside a value put in leaves the harness's own values as they were", () => {
    const before = JSON.stringify(awkwardValues)
    const objectValue = awkwardValues.find((v) => JSON.stringify(v) === '{"value":1}')!
    const out = mutate({ a: 1 }, [
      { kind: "replace", at: 0, value: objectValue },
      { kind: "duplicate", at: 1 },
      { kind: "wrap", at: 1 },
      { kind: "stringify", at: 2 }
    ])
    expect(() => JSON.stringify(out)).not.toThrow()
    expect(JSON.stringify(awkwardValues)).toBe(before)
  })
})
