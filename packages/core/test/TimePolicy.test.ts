import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { Instant, TimePolicy } from "../src/index.js"

const iso = (e: Either.Either<Instant.Instant, string>) =>
  Either.isRight(e) ? Schema.encodeSync(Instant.Instant)(e.right) : `error: ${e.left}`

describe("TimePolicy", () => {
  it("keeps explicit zones whatever the policy", () => {
    expect(iso(TimePolicy.parse("2024-07-31T15:00:00+02:00", { _tag: "RequireZone" }))).toBe("2024-07-31T13:00:00.000Z")
    expect(iso(TimePolicy.parse("2024-07-31 15:00:00Z", { _tag: "AssumeOffset", minutes: 60 }))).toBe("2024-07-31T15:00:00.000Z")
  })
  it("applies the policy to bare local times", () => {
    expect(iso(TimePolicy.parse("2024-07-31 15:00", { _tag: "RequireZone" }))).toMatch(/^error: .*requires one/)
    expect(iso(TimePolicy.parse("2024-07-31T15:00:00", { _tag: "AssumeUtc" }))).toBe("2024-07-31T15:00:00.000Z")
    expect(iso(TimePolicy.parse("2024-07-31T15:00:00", { _tag: "AssumeOffset", minutes: -300 }))).toBe("2024-07-31T20:00:00.000Z")
    // Summer and winter time in Berlin.
    expect(iso(TimePolicy.parse("2024-07-31T15:00:00", { _tag: "AssumeZone", zone: "Europe/Berlin" }))).toBe("2024-07-31T13:00:00.000Z")
    expect(iso(TimePolicy.parse("2024-01-15T15:00:00", { _tag: "AssumeZone", zone: "Europe/Berlin" }))).toBe("2024-01-15T14:00:00.000Z")
    // The repeated hour when clocks go back resolves to the earlier instant.
    expect(iso(TimePolicy.parse("2024-10-27T02:30:00", { _tag: "AssumeZone", zone: "Europe/Berlin" }))).toBe("2024-10-27T00:30:00.000Z")
  })
  it("rejects impossible dates and unknown zones", () => {
    expect(iso(TimePolicy.parse("2024-02-30T10:00:00", { _tag: "AssumeUtc" }))).toMatch(/does not exist/)
    expect(Either.isLeft(Schema.decodeUnknownEither(TimePolicy.TimePolicy)({ _tag: "AssumeZone", zone: "Mars/Olympus" }))).toBe(true)
  })
})
