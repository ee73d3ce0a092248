/**
 * The IANA time zone of a country that has only one, for carriers that send a local time
 * without a zone but say in which country the event happened (DHL's unified tracking,
 * AfterShip checkpoints).
 *
 * The table is deliberately small and conservative: a country is in it only when all of its
 * territory keeps one civil time (daylight saving included), so a zone-less local time there
 * names exactly one instant. Countries with several zones (US, CA, AU, BR, RU, MX, ID, …) or
 * with overseas/island zones under the same code (ES with the Canaries, PT with the Azores, NZ
 * with the Chathams) are left out on purpose: their times need an explicit policy. Territories
 * with their own ISO code (GL, FO, RE, …) are not covered by their parent's entry.
 *
 * Read a local time with `TimePolicy.parse(text, { _tag: "AssumeZone", zone })`: daylight
 * saving comes from the runtime's time zone data, never from a fixed offset.
 *
 * @since 0.2.0
 */

/**
 * ISO 3166-1 alpha-2 code → the country's single IANA time zone.
 *
 * @since 0.2.0
 */
export const singleZone = {
  AT: "Europe/Vienna",
  BE: "Europe/Brussels",
  BG: "Europe/Sofia",
  CH: "Europe/Zurich",
  CN: "Asia/Shanghai",
  CZ: "Europe/Prague",
  DE: "Europe/Berlin",
  DK: "Europe/Copenhagen",
  EE: "Europe/Tallinn",
  FI: "Europe/Helsinki",
  FR: "Europe/Paris",
  GB: "Europe/London",
  GR: "Europe/Athens",
  HK: "Asia/Hong_Kong",
  HR: "Europe/Zagreb",
  HU: "Europe/Budapest",
  IE: "Europe/Dublin",
  IN: "Asia/Kolkata",
  IT: "Europe/Rome",
  JP: "Asia/Tokyo",
  KR: "Asia/Seoul",
  LT: "Europe/Vilnius",
  LU: "Europe/Luxembourg",
  LV: "Europe/Riga",
  NL: "Europe/Amsterdam",
  NO: "Europe/Oslo",
  PL: "Europe/Warsaw",
  RO: "Europe/Bucharest",
  SE: "Europe/Stockholm",
  SG: "Asia/Singapore",
  SI: "Europe/Ljubljana",
  SK: "Europe/Bratislava",
  TR: "Europe/Istanbul",
  AE: "Asia/Dubai"
} as const

/**
 * A country code of {@link singleZone}.
 *
 * @since 0.2.0
 */
export type SingleZoneCountry = keyof typeof singleZone

const zones: ReadonlyMap<string, string> = new Map(Object.entries(singleZone))

/**
 * The single IANA zone of a country (ISO 3166-1 alpha-2, any case, surrounding spaces
 * ignored), or `undefined` when the country has several zones or is not in {@link singleZone}.
 *
 * @example
 * ```ts
 * import { CountryZones, TimePolicy } from "@waybill/core"
 * const zone = CountryZones.zoneOf("hk") // "Asia/Hong_Kong"
 * TimePolicy.parse("2024-07-29T15:30:00", { _tag: "AssumeZone", zone: zone! }) // Right(07:30Z)
 * CountryZones.zoneOf("US") // undefined: several zones
 * ```
 *
 * @since 0.2.0
 */
export const zoneOf = (country: string | null | undefined): string | undefined =>
  typeof country === "string" ? zones.get(country.trim().toUpperCase()) : undefined
