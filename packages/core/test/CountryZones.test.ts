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

const formats = new Map<string, Intl.DateTimeFormat>()

/** The UTC offset of `zone` at `millis`, as Intl names it (`GMT+08:00`). */
const offsetAt = (zone: string, millis: number) => {
  let format = formats.get(zone)
  if (format === undefined) {
    format = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longOffset" })
    formats.set(zone, format)
  }
  return format.formatToParts(millis).find((part) => part.type === "timeZoneName")?.value
}

describe("CountryZones", () => {
  it("every zone of the table is a zone the runtime's Intl and Effect know", () => {
    expect(Object.keys(CountryZones.singleZone).length).toBeGreaterThan(200)
    for (const [country, zone] of Object.entries(CountryZones.singleZone)) {
      expect(country).toMatch(/^[A-Z]{2}$/)
      expect(() => new Intl.DateTimeFormat("en-US", { timeZone: zone }), `${country}: ${zone}`).not.toThrow()
      expect(Option.isSome(DateTime.zoneMakeNamed(zone)), `${country}: ${zone}`).toBe(true)
    }
  })

  it("countries with one zone beyond Europe and East Asia are in the table", () => {
    const expected = {
      TW: "Asia/Taipei",
      TH: "Asia/Bangkok",
      VN: "Asia/Ho_Chi_Minh",
      ZA: "Africa/Johannesburg",
      IL: "Asia/Jerusalem",
      SA: "Asia/Riyadh",
      EG: "Africa/Cairo",
      NG: "Africa/Lagos",
      CO: "America/Bogota",
      PE: "America/Lima",
      PH: "Asia/Manila",
      PK: "Asia/Karachi",
      BD: "Asia/Dhaka",
      CN: "Asia/Shanghai", // Beijing time, China's one official time (tzdata adds Xinjiang's unofficial one)
      XK: "Europe/Belgrade", // Kosovo: not in zone.tab
      ES: undefined, // the Canaries keep another offset
      TF: undefined // tzdata lists one zone, its islands keep UTC+3 to +5
    } as const
    for (const [country, zone] of Object.entries(expected)) {
      expect(CountryZones.zoneOf(country), country).toBe(zone)
    }
    expect(local("2024-07-29T15:30:00", "TW")).toBe("2024-07-29T07:30:00.000Z")
    expect(local("2024-07-29T15:30:00", "VN")).toBe("2024-07-29T08:30:00.000Z")
    expect(local("2024-07-29T15:30:00", "ZA")).toBe("2024-07-29T13:30:00.000Z")
    expect(local("2024-01-15T15:30:00", "CL")).toBe("no zone") // Easter Island
  })

  it("a country tzdata splits for history only is in, read in a zone all its zones agree with since 2020", () => {
    // zone.tab lists these countries under several zones that have had one offset since before 2020.
    const sameSince2020 = {
      AR: [
        ...["Cordoba", "Salta", "Jujuy", "Tucuman", "Catamarca", "La_Rioja", "San_Juan", "Mendoza", "San_Luis"],
        ...["Rio_Gallegos", "Ushuaia"]
      ].map((city) => `America/Argentina/${city}`),
      CY: ["Asia/Famagusta"],
      DE: ["Europe/Busingen"],
      MH: ["Pacific/Kwajalein"],
      MY: ["Asia/Kuching"],
      PS: ["Asia/Hebron"],
      UZ: ["Asia/Tashkent"]
    }
    for (const [country, others] of Object.entries(sameSince2020)) {
      const zone = CountryZones.zoneOf(country)
      expect(zone, country).toBeDefined()
      if (zone === undefined) continue
      const differences: Array<string> = []
      for (let millis = Date.UTC(2020, 0, 1); millis < Date.UTC(2031, 0, 1); millis += 6 * 3_600_000) {
        for (const other of others) {
          if (offsetAt(other, millis) !== offsetAt(zone, millis)) differences.push(`${other} ${new Date(millis).toISOString()}`)
        }
      }
      expect(differences, country).toEqual([])
    }
  })

  it("finds a country's single zone in any case, and none for countries with several", () => {
    expect(CountryZones.zoneOf("HK")).toBe("Asia/Hong_Kong")
    expect(CountryZones.zoneOf(" de ")).toBe("Europe/Berlin")
    const severalZones = [
      ...["US", "CA", "AU", "BR", "RU", "MX", "ID", "KZ", "MN", "CD", "CL", "EC", "ES", "PT", "NZ"],
      ...["UA", "GL", "PF", "PG", "KI", "FM", "UM", "AQ"]
    ]
    for (const several of severalZones) {
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
