/**
 * UTC instants.
 *
 * Every timestamp in the canonical model is an `Instant`: on the wire an ISO-8601 string that
 * names its zone (`Z` or `±hh:mm`), in memory a `DateTime.Utc`. Strings without a zone are
 * rejected here on purpose: the adapter that receives a zone-less carrier time must apply an
 * explicit timezone policy before the value enters the core.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

const ISO_INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|([+-])(\d{2}):?(\d{2}))$/

const monthDays = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
const daysInMonth = (year: number, month: number): number =>
  month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : monthDays[month - 1]!

/**
 * Parses a strict ISO-8601 instant with a zone into epoch milliseconds, or returns a reason.
 *
 * @since 0.1.0
 */
export const parseIsoInstant = (input: string): number | string => {
  const fast = parseCanonical(input)
  return fast >= 0 ? fast : parseGeneral(input)
}

/** The digit at `i`, or -1. */
const digitAt = (s: string, i: number): number => {
  const c = s.charCodeAt(i) - 48
  return c >= 0 && c <= 9 ? c : -1
}
const two = (s: string, i: number): number => {
  const a = digitAt(s, i), b = digitAt(s, i + 1)
  return a < 0 || b < 0 ? -1 : a * 10 + b
}

/**
 * The two forms nearly every instant arrives in, `YYYY-MM-DDTHH:MM:SSZ` and
 * `YYYY-MM-DDTHH:MM:SS.sssZ` (what `formatIso` writes), read without a regex or any
 * allocation. -1 for anything else, or anything out of range: `parseGeneral` then gives the
 * answer (and the message). Same results as `parseGeneral` on these forms (tested).
 */
const parseCanonical = (s: string): number => {
  const n = s.length
  if (n !== 20 && n !== 24) return -1
  if (s.charCodeAt(n - 1) !== 90 /* Z */ || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84) return -1
  if (s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return -1
  const yh = two(s, 0), yl = two(s, 2), month = two(s, 5), day = two(s, 8)
  const hour = two(s, 11), minute = two(s, 14), second = two(s, 17)
  if (yh < 0 || yl < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59) return -1
  if (second < 0 || second > 59) return -1
  let millis = 0
  if (n === 24) {
    if (s.charCodeAt(19) !== 46 /* . */) return -1
    const a = digitAt(s, 20), b = digitAt(s, 21), c = digitAt(s, 22)
    if (a < 0 || b < 0 || c < 0) return -1
    millis = a * 100 + b * 10 + c
  }
  const year = yh * 100 + yl
  if (day > daysInMonth(year, month)) return -1
  return daysFromCivil(year, month, day) * 86_400_000 + ((hour * 60 + minute) * 60 + second) * 1000 + millis
}

const parseGeneral = (input: string): number | string => {
  const m = ISO_INSTANT.exec(input)
  if (m === null) return "expected an ISO-8601 instant with a zone, e.g. 2024-07-31T15:00:00Z"
  const [, y, mo, d, h, mi, s, frac, z, sign, oh, om] = m
  const year = Number(y), month = Number(mo), day = Number(d)
  const hour = Number(h), minute = Number(mi), second = s === undefined ? 0 : Number(s)
  if (month < 1 || month > 12) return `month ${mo} is out of range`
  if (day < 1 || day > daysInMonth(year, month)) return `day ${d} does not exist in ${y}-${mo}`
  if (hour > 23 || minute > 59 || second > 59) return `time ${h}:${mi}:${s ?? "00"} is out of range`
  let offsetMinutes = 0
  if (z !== "Z") {
    const ohn = Number(oh), omn = Number(om)
    if (ohn > 14 || omn > 59) return `zone offset ${z} is out of range`
    offsetMinutes = (sign === "-" ? -1 : 1) * (ohn * 60 + omn)
  }
  const millis = frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000)
  return daysFromCivil(year, month, day) * 86_400_000 + ((hour * 60 + minute - offsetMinutes) * 60 + second) * 1000 + millis
}

/**
 * Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `days_from_civil`): exact
 * for every year, where `Date.UTC` reads years 0-99 as 1900-1999, and arithmetic only.
 */
const daysFromCivil = (year: number, month: number, day: number): number => {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yearOfEra = y - era * 400
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear
  return era * 146_097 + dayOfEra - 719_468
}

const MIN_ARB = Date.UTC(1990, 0, 1)
const MAX_ARB = Date.UTC(2100, 0, 1)

/**
 * A UTC instant: an ISO-8601 string with a zone on the wire, a `DateTime.Utc` in memory.
 * Encoding always produces `YYYY-MM-DDTHH:mm:ss.sssZ`.
 *
 * @since 0.1.0
 */
export const Instant = Schema.transformOrFail(Schema.String, Schema.DateTimeUtcFromSelf, {
  strict: true,
  decode: (input, _options, ast) => {
    const parsed = parseIsoInstant(input)
    return typeof parsed === "number"
      ? ParseResult.succeed(DateTime.unsafeMake(parsed))
      : ParseResult.fail(new ParseResult.Type(ast, input, parsed))
  },
  encode: (dt) => ParseResult.succeed(formatIso(dt))
}).annotations({
  identifier: "Instant",
  description: "an ISO-8601 instant with a zone (Z or ±hh:mm)",
  arbitrary: () => (fc) => fc.integer({ min: MIN_ARB, max: MAX_ARB }).map((ms) => DateTime.unsafeMake(ms))
})

/**
 * The in-memory type of {@link Instant}.
 *
 * @since 0.1.0
 */
export type Instant = DateTime.Utc

/**
 * Milliseconds since the epoch of an instant.
 *
 * @since 0.1.0
 */
export const toMillis = (instant: Instant): number => DateTime.toEpochMillis(instant)

/**
 * Builds an instant from epoch milliseconds.
 *
 * @since 0.1.0
 */
export const fromMillis = (millis: number): Instant => DateTime.unsafeMake(millis)

const pad2 = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, "0"))
const pad3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, "0"))
const FAST_FROM = -62_167_219_200_000 // 0000-01-01T00:00:00.000Z
const FAST_UNTIL = 253_402_300_800_000 // 10000-01-01T00:00:00.000Z

/**
 * The wire form of an instant given in epoch milliseconds: `YYYY-MM-DDTHH:mm:ss.sssZ`, exactly
 * what `Date.prototype.toISOString` (and so the {@link Instant} schema) writes, computed by
 * arithmetic (several times faster; events carry two instants each). Years outside 0000-9999
 * are left to `Date`.
 *
 * @example
 * ```ts
 * import { Instant } from "@waybill/core"
 *
 * Instant.formatMillis(Date.UTC(2024, 6, 31, 15)) // "2024-07-31T15:00:00.000Z"
 * ```
 *
 * @since 0.2.0
 */
export const formatMillis = (millis: number): string => {
  // The same instants are written many times over (a batch's commit time, a shipment's event
  // times in each payload that lists its history): a small direct-mapped cache keeps them.
  const slot = millis & FORMATTED_MASK
  if (formattedMillis[slot] === millis) return formattedIso[slot]!
  const iso = formatArithmetic(millis)
  formattedMillis[slot] = millis
  formattedIso[slot] = iso
  return iso
}
const FORMATTED_MASK = 4095
const formattedMillis = new Float64Array(FORMATTED_MASK + 1).fill(Number.NaN)
const formattedIso: Array<string | undefined> = new Array(FORMATTED_MASK + 1).fill(undefined)

const formatArithmetic = (millis: number): string => {
  if (!(millis >= FAST_FROM && millis < FAST_UNTIL) || !Number.isInteger(millis)) return new Date(millis).toISOString()
  const days = Math.floor(millis / 86_400_000)
  let rest = millis - days * 86_400_000
  // H. Hinnant's civil_from_days.
  const z = days + 719_468
  const era = Math.floor(z / 146_097)
  const dayOfEra = z - era * 146_097
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365)
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100))
  const mp = Math.floor((5 * dayOfYear + 2) / 153)
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
  const ms = rest % 1000
  rest = (rest - ms) / 1000
  const second = rest % 60
  rest = (rest - second) / 60
  const minute = rest % 60
  const hour = (rest - minute) / 60
  return `${pad2[Math.floor(year / 100)]}${pad2[year % 100]}-${pad2[month]}-${pad2[day]}T${pad2[hour]}:${pad2[minute]}:${pad2[second]}.${pad3[ms]}Z`
}

/**
 * The wire form of an instant (see {@link formatMillis}): what encoding with {@link Instant} gives.
 *
 * @example
 * ```ts
 * import { Instant } from "@waybill/core"
 *
 * Instant.formatIso(Instant.fromMillis(0)) // "1970-01-01T00:00:00.000Z"
 * ```
 *
 * @since 0.2.0
 */
export const formatIso = (instant: Instant): string => formatMillis(instant.epochMillis)
