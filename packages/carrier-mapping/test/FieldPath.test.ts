import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { FieldPath } from "../src/index.js"

const parse = (s: string) => Either.getOrThrow(FieldPath.parse(s))
const error = (s: string) => Either.match(FieldPath.parse(s), { onLeft: (e) => e, onRight: () => "parsed" })

describe("FieldPath", () => {
  it("parses the documented syntax", () => {
    expect(parse("shipments[*].events[*]")).toEqual({
      source: "shipments[*].events[*]",
      scope: { _tag: "Event" },
      steps: [{ _tag: "Key", key: "shipments" }, { _tag: "Each" }, { _tag: "Key", key: "events" }, { _tag: "Each" }]
    })
    expect(parse("^^.origin.address.countryCode").scope).toEqual({ _tag: "Up", levels: 2 })
    expect(parse("$").steps).toEqual([])
    expect(parse("$.warehouse.code").scope).toEqual({ _tag: "Root" })
    expect(parse('details["dgf:routes"][0]["weight (kg)"].@type').steps).toEqual([
      { _tag: "Key", key: "details" },
      { _tag: "Key", key: "dgf:routes" },
      { _tag: "Index", index: 0 },
      { _tag: "Key", key: "weight (kg)" },
      { _tag: "Key", key: "@type" }
    ])
    expect(parse('["a.b"]').steps).toEqual([{ _tag: "Key", key: "a.b" }])
  })

  it("explains malformed paths", () => {
    expect(error("")).toBe("a path must not be empty")
    expect(error("a..b")).toBe('unexpected "." at position 3 (expected a property name)')
    expect(error("a[")).toBe('unclosed "[" at position 2')
    expect(error("a[1")).toBe('expected "]" at position 4')
    expect(error('a["x]')).toBe("unterminated quoted name opened at position 3")
    expect(error('a[""]')).toBe("a quoted name must not be empty at position 3")
    expect(error("a b")).toBe('unexpected " " at position 2 (expected "." or "[")')
    expect(error("$x")).toBe('unexpected "x" at position 2 (expected "." or "[")')
    expect(error("a.")).toBe("expected a property name at the end")
    expect(error("x".repeat(501))).toBe("a path is at most 500 characters")
    expect(error(Array.from({ length: 33 }, () => "a").join("."))).toBe("a path has at most 32 steps")
  })

  it("selects events with their enclosing elements and reads fields relative to them", () => {
    const root = {
      batch: "B1",
      shipments: [
        { id: "S1", events: [{ code: "a" }, { code: "b" }] },
        { id: "S2", events: null },
        { id: "S3" },
        { id: "S4", events: [{ code: "c" }] }
      ]
    }
    const events = parse("shipments[*].events[*]")
    expect(FieldPath.enclosingLevels(events)).toBe(2)
    const found = Either.getOrThrow(FieldPath.select(events, root, 100))
    expect(found.map((e) => e.at)).toEqual(["shipments[0].events[0]", "shipments[0].events[1]", "shipments[3].events[0]"])
    const id = parse("^.id")
    const batch = parse("^^.batch")
    const fromRoot = parse("$.shipments[1].id")
    expect(found.map((e) => [FieldPath.get(parse("code"), root, e), FieldPath.get(id, root, e), FieldPath.get(batch, root, e)])).toEqual([
      ["a", "S1", "B1"],
      ["b", "S1", "B1"],
      ["c", "S4", "B1"]
    ])
    expect(FieldPath.get(fromRoot, root, found[0]!)).toBe("S2")
    expect(FieldPath.get(parse("code.deeper"), root, found[0]!)).toBeUndefined()
  })

  it("counts enclosing levels for every events-path shape", () => {
    expect(FieldPath.enclosingLevels(parse("$"))).toBe(0)
    expect(FieldPath.enclosingLevels(parse("data.event"))).toBe(1)
    expect(FieldPath.enclosingLevels(parse("events[*]"))).toBe(1)
    expect(FieldPath.enclosingLevels(parse("a[*].b"))).toBe(2)
    // A batch sent as a bare array.
    expect(Either.getOrThrow(FieldPath.select(parse("[*]"), [{ code: "a" }, { code: "b" }], 10)).map((e) => e.at)).toEqual([
      "[0]",
      "[1]"
    ])
    // The single-object webhook: the root is the event.
    const single = Either.getOrThrow(FieldPath.select(parse("$"), { code: "x" }, 10))
    expect(single).toEqual([{ value: { code: "x" }, enclosing: [], at: "$" }])
  })

  it("reports shape mismatches and stops at the limit", () => {
    expect(FieldPath.select(parse("a[*]"), { a: "text" }, 10)).toEqual(Either.left("expected an array at a, found a string"))
    expect(FieldPath.select(parse("a.b[*]"), { a: [1] }, 10)).toEqual(Either.left("expected an object at a, found an array"))
    expect(FieldPath.select(parse("a[*]"), { a: [1, 2, 3] }, 2)).toEqual(Either.left("more than 2 events"))
  })
})
