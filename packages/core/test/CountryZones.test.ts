import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { CountryZones, Instant, TimePolicy } from "../src/index.js"

const local = (text: string, country: string) => {
  const zone = CountryZones.zoneOf(country)
  if (zone === undefined) return "no zone"
  const parsed = TimePolicy.parse(text, { _tag: "AssumeZone", zone })
  return Either.isRight(parsed) ? Schema.encodeSync(Instant.Instant)(parsed.right) : `error: ${parsed.left}`
}

describe("CountryZones", () => {
  it("every zone of the table is a zone the runtime knows", () => {
    for (const [country, zone] of Object.entries(CountryZones.singleZone)) {
      expect(country).toMatch(/^[A-Z]{2}$/)
      expect(Option.isSome(DateTime.zoneMakeNamed(zone)), `${country}: ${zone}`).toBe(true)
    }
  })

  it("finds a country's single zone in any case, and none for countries with several", () => {
    expect(CountryZones.zoneOf("HK")).toBe("Asia/Hong_Kong")
    expect(CountryZones.zoneOf(" de ")).toBe("Europe/Berlin")
    for (const several of ["US", "CA", "AU", "BR", "RU", "MX", "ID", "ES", "PT", "NZ"]) {
      expect(CountryZones.zoneOf(several), several).toBeUndefined()
    }
    expect(CountryZones.zoneOf("DEU")).toBeUndefined() // alpha-2 only
    expect(CountryZones.zoneOf(undefined)).toBeUndefined()
    expect(CountryZones.zoneOf(null)).toBeUndefined()
  })

  it("local times keep daylight saving: Berlin +02:00 in July, +01:00 in January; Hong Kong +08:00", () => {
    expect(local("2024-07-30T06:12:00", "DE")).toBe("2024-07-30T04:12:00.000Z")
    expect(local("2024-01-15T06:12:00", "DE")).toBe("2024-01-15T05:12:00.000Z")
    expect(local("2024-07-29T15:30:00", "HK")).toBe("2024-07-29T07:30:00.000Z")
    expect(local("2024-07-29T15:30:00", "US")).toBe("no zone")
  })
})
