/**
 * Turning carrier timestamps into UTC instants by an explicit policy.
 *
 * Carriers send times with an offset, with `Z`, or as bare local times ("2024-07-31 15:00").
 * A bare time is ambiguous, so every adapter states what it means: reject it, read it as UTC,
 * at a fixed offset, or in an IANA time zone (daylight saving handled; a time that falls in a
 * DST gap or overlap resolves to the earlier instant).
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Instant from "./Instant.js"

/**
 * An IANA time zone name the runtime knows, e.g. `Europe/Berlin`.
 *
 * @since 0.1.0
 */
export const ZoneName = Schema.String.pipe(
  Schema.filter((name) => Option.isSome(DateTime.zoneMakeNamed(name)) || `unknown time zone "${name}"`)
).annotations({ identifier: "ZoneName" })

/**
 * What a timestamp without a zone means.
 *
 * @since 0.1.0
 */
export const TimePolicy = Schema.Union(
  Schema.TaggedStruct("RequireZone", {}),
  Schema.TaggedStruct("AssumeUtc", {}),
  Schema.TaggedStruct("AssumeOffset", {
    minutes: Schema.Int.pipe(Schema.between(-840, 840, { message: () => "an offset is between -14:00 and +14:00" }))
  }),
  Schema.TaggedStruct("AssumeZone", { zone: ZoneName })
).annotations({ identifier: "TimePolicy" })

/** @since 0.1.0 */
export type TimePolicy = typeof TimePolicy.Type

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i

/**
 * Parses a carrier timestamp under a policy into a UTC instant, or returns why it cannot.
 *
 * @example
 * ```ts
 * import { TimePolicy } from "@waybill/core"
 * TimePolicy.parse("2024-07-31 15:00", { _tag: "AssumeZone", zone: "Europe/Berlin" }) // Right(13:00Z)
 * ```
 *
 * @since 0.1.0
 */
export const parse = (input: string, policy: TimePolicy): Either.Either<Instant.Instant, string> => {
  const m = LOCAL.exec(input.trim())
  if (m === null) return Either.left(`"${input}" is not a date and time (expected YYYY-MM-DDTHH:mm[:ss][zone])`)
  const [, y, mo, d, h, mi, s, frac, zone] = m
  const seconds = s ?? "00"
  const fraction = frac === undefined ? "" : `.${frac}`
  if (zone !== undefined) {
    const iso = `${y}-${mo}-${d}T${h}:${mi}:${seconds}${fraction}${zone.toUpperCase()}`
    const parsed = Instant.parseIsoInstant(iso)
    return typeof parsed === "number" ? Either.right(Instant.fromMillis(parsed)) : Either.left(parsed)
  }
  const asUtc = Instant.parseIsoInstant(`${y}-${mo}-${d}T${h}:${mi}:${seconds}${fraction}Z`)
  if (typeof asUtc !== "number") return Either.left(asUtc)
  switch (policy._tag) {
    case "RequireZone":
      return Either.left(`"${input}" has no time zone and the policy requires one`)
    case "AssumeUtc":
      return Either.right(Instant.fromMillis(asUtc))
    case "AssumeOffset":
      return Either.right(Instant.fromMillis(asUtc - policy.minutes * 60_000))
    case "AssumeZone": {
      const zoned = DateTime.makeZoned(asUtc, { timeZone: policy.zone, adjustForTimeZone: true, disambiguation: "earlier" })
      return Option.match(zoned, {
        onNone: () => Either.left(`cannot place "${input}" in time zone ${policy.zone}`),
        onSome: (z) => Either.right(DateTime.toUtc(z))
      })
    }
  }
}
