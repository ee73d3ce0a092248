/**
 * Normalizing AfterShip trackings (the `msg` of a `tracking_update` webhook, or a tracking from
 * the API) into canonical observations: one event per checkpoint, with its own time, location
 * and raw codes, and a deterministic id so that a webhook repeating the history dedupes.
 *
 * Payload shape: AfterShip Tracking docs ("Webhook Specifications", the Tracking and Checkpoint
 * models) and AfterShip's generated SDK (`@aftership/tracking-sdk`, `model/Checkpoint.ts`):
 * `{ event, event_id, is_tracking_first_tag, msg: { id, tracking_number, slug, tag, subtag,
 * subtag_message, signed_by, checkpoints: [{ checkpoint_time, created_at, slug, tag, subtag,
 * subtag_message, message, raw_tag, location, city, state, zip | postal_code, country_iso3 |
 * country_region, country_name | country_region_name }] }, ts }`.
 *
 * `checkpoint_time` "uses the timezone of the checkpoint" and comes as `YYYY-MM-DDTHH:mm:ss`
 * (no zone) or with an offset. A time with an offset or `Z` is taken as is. A zone-less one is
 * read in the zone of the checkpoint's country (`country_region`, else `country_iso3`) when that
 * country has a single zone (core's `CountryZones`, daylight saving included), else by the
 * configured `TimePolicy` (see {@link Options}). `created_at` and `updated_at` are AfterShip's
 * own times, documented in UTC: a zone-less one is read as UTC.
 *
 * AfterShip's SDKs also document a date-only `checkpoint_time` (`YYYY-MM-DD`). Such a checkpoint
 * is skipped, counted in {@link skippedCheckpoints} and logged; the others are kept (see
 * {@link fromTracking}).
 *
 * {@link fromWebhook} refuses the whole payload when one checkpoint cannot be read (a zone-less
 * time `RequireZone` refuses, a time that is no time, none at all, a checkpoint of the wrong
 * shape); {@link fromWebhookEach} reads checkpoint by checkpoint instead: the others'
 * observations, and one line naming each unreadable checkpoint by its path
 * (`msg.checkpoints.2.checkpoint_time: …`), as the webhook's `verifyAndParseEach` (the carrier
 * port's `parseEach`) gives them to the pipeline.
 *
 * @since 0.1.0
 */
import * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import {
  CarrierAdapter,
  type CarrierPort,
  CountryZones,
  Ids,
  Instant,
  PortError,
  ShipmentEvent,
  TimePolicy
} from "@waybill/core"
import * as AfterShipMapping from "./AfterShipMapping.js"
import { toAlpha2 } from "./internal/countries.js"

const NullableString = Schema.optional(Schema.NullOr(Schema.String))

/**
 * One checkpoint (the fields waybill reads; both the pre-2024 and the current field names).
 *
 * @since 0.1.0
 */
export const Checkpoint = Schema.Struct({
  checkpoint_time: NullableString,
  created_at: NullableString,
  slug: NullableString,
  tag: NullableString,
  subtag: NullableString,
  subtag_message: NullableString,
  message: NullableString,
  raw_tag: NullableString,
  location: NullableString,
  city: NullableString,
  state: NullableString,
  zip: NullableString,
  postal_code: NullableString,
  country_iso3: NullableString,
  country_region: NullableString,
  country_name: NullableString,
  country_region_name: NullableString
})

/** @since 0.1.0 */
export type Checkpoint = typeof Checkpoint.Type

/**
 * A tracking (the fields waybill reads).
 *
 * @since 0.1.0
 */
export const Tracking = Schema.Struct({
  id: NullableString,
  tracking_number: Schema.String.pipe(
    Schema.minLength(1, { message: () => "a tracking number must not be empty" }),
    Schema.maxLength(100, { message: () => "a tracking number must be at most 100 characters" })
  ),
  slug: NullableString,
  tag: NullableString,
  subtag: NullableString,
  subtag_message: NullableString,
  signed_by: NullableString,
  updated_at: NullableString,
  checkpoints: Schema.optional(Schema.NullOr(Schema.Array(Checkpoint)))
})

/** @since 0.1.0 */
export type Tracking = typeof Tracking.Type

/** A tracking whose checkpoints are left to decode one by one ({@link fromWebhookEach}). */
const TrackingEntries = Schema.Struct({ ...Tracking.fields, checkpoints: Schema.optional(Schema.NullOr(Schema.Array(Schema.Unknown))) })

/** What of a tracking its checkpoints' events are built from: all but the checkpoints. */
type TrackingHead = Omit<Tracking, "checkpoints">

/**
 * The webhook envelope.
 *
 * @since 0.1.0
 */
export const Webhook = Schema.Struct({
  event: Schema.String,
  event_id: NullableString,
  msg: Schema.optional(Schema.Unknown),
  ts: Schema.optional(Schema.NullOr(Schema.Number))
})

/**
 * How to normalize: the event `source`, how to read zone-less checkpoint times, and when the
 * payload arrived.
 *
 * A zone-less `checkpoint_time` is read in the zone of the checkpoint's country when that
 * country has a single zone and `zoneByCountry` is not `false`; otherwise by `timePolicy`
 * (`RequireZone` refuses the checkpoint as `Invalid`, naming it and its country: the whole
 * payload in {@link fromWebhook}, that checkpoint alone in {@link fromWebhookEach}).
 *
 * @since 0.1.0
 */
export interface Options {
  readonly source: string
  /** Zone-less checkpoint times the country does not settle (no country, several zones). */
  readonly timePolicy: TimePolicy.TimePolicy
  /**
   * Read a zone-less checkpoint time in the single zone of its country (default `true`).
   *
   * @since 0.2.0
   */
  readonly zoneByCountry?: boolean | undefined
  readonly receivedAt: Instant.Instant
}

const MODULE = "AfterShipTracking"

const invalid = (method: string, description: string, cause?: unknown): PortError.CarrierError =>
  new PortError.CarrierError({ reason: "Invalid", module: MODULE, method, description, ...(cause !== undefined ? { cause } : {}) })

/**
 * Renders a schema failure as `path: message; …` (first five issues).
 *
 * @since 0.1.0
 */
export const formatParseError: (error: ParseResult.ParseError, prefix: string) => string = CarrierAdapter.formatParseError

const clean = CarrierAdapter.cleanText

/**
 * The deterministic event id of a checkpoint: the tracking (slug and number) plus a hash of the
 * checkpoint's time as sent, tag, subtag and message. The webhook's `event_id` is not used:
 * every webhook repeats all checkpoints.
 *
 * @since 0.1.0
 */
export const eventId = (
  tracking: Pick<Tracking, "slug" | "tracking_number">,
  parts: ReadonlyArray<string | undefined>
): Ids.EventId => {
  const key = `${clean(tracking.slug, 100) ?? ""}/${clean(tracking.tracking_number, 100) ?? ""}`
  return CarrierAdapter.eventId(key, parts.map((p) => p ?? ""))
}

const countryOf = (c: Checkpoint): string | undefined => toAlpha2(c.country_region ?? c.country_iso3)

const toLocation = (c: Checkpoint): ShipmentEvent.Location | undefined => {
  const city = clean(c.city, 120)
  const region = clean(c.state, 120)
  const postalCode = clean(c.postal_code ?? c.zip, 20)
  const country = countryOf(c)
  // The free-text location may be a street address: kept only when nothing structured is given.
  const facility = city === undefined && region === undefined ? clean(c.location, 200) : undefined
  if ([city, region, postalCode, country, facility].every((x) => x === undefined)) return undefined
  return new ShipmentEvent.Location({
    ...(facility !== undefined ? { facility } : {}),
    ...(city !== undefined ? { city } : {}),
    ...(region !== undefined ? { region } : {}),
    ...(postalCode !== undefined ? { postalCode } : {}),
    ...(country !== undefined ? { country } : {})
  })
}

const describe = (c: AfterShipMapping.Canonical): string =>
  c._tag === "Status" ? `status ${c.status}` : c._tag === "Exception" ? `exception ${c.kind}` : "exception cleared"

interface Point {
  readonly path: string
  readonly tag: string | undefined
  readonly subtag: string | undefined
  readonly message: string | undefined
  readonly rawTag: string | undefined
  readonly slug: string | undefined
  /** `local`: the checkpoint's local time (`checkpoint_time`); `utc`: AfterShip's own time (`created_at`, `updated_at`). */
  readonly time:
    | { readonly text: string; readonly field: string; readonly clock: "local" | "utc" }
    | { readonly millis: number }
    | undefined
  readonly idParts: ReadonlyArray<string | undefined>
  readonly checkpoint: Checkpoint | undefined
}

const assumeUtc: TimePolicy.TimePolicy = { _tag: "AssumeUtc" }

/**
 * How a checkpoint's zone-less local time is read: in its country's single zone, else by the
 * configured policy; and what to add to a refusal so that it says why the zone is unknown.
 */
const localPolicy = (
  checkpoint: Checkpoint | undefined,
  options: Options
): { readonly policy: TimePolicy.TimePolicy; readonly why: string } => {
  if (options.zoneByCountry === false) return { policy: options.timePolicy, why: "" }
  const country = checkpoint === undefined ? undefined : countryOf(checkpoint)
  const zone = CountryZones.zoneOf(country)
  if (zone !== undefined) return { policy: { _tag: "AssumeZone", zone }, why: "" }
  const where = country === undefined
    ? "the checkpoint names no country"
    : `no single time zone is known for the checkpoint's country ${country}`
  return { policy: options.timePolicy, why: ` (${where}; set timePolicy to the zone of such checkpoints)` }
}

/** When a point happened, or why its time cannot be read (`<path>.<field>: …`). */
const occurredAtOf = (
  point: Pick<Point, "path" | "time" | "checkpoint">,
  options: Options
): Either.Either<Instant.Instant, string> => {
  if (point.time === undefined) return Either.right(options.receivedAt)
  if (!("text" in point.time)) return Either.right(Instant.fromMillis(point.time.millis))
  const { policy, why } = point.time.clock === "utc" ? { policy: assumeUtc, why: "" } : localPolicy(point.checkpoint, options)
  const parsed = TimePolicy.parse(point.time.text, policy)
  if (Either.isRight(parsed)) return parsed
  // Only a missing zone is explained by the country; a malformed time is not.
  const explained = policy._tag === "RequireZone" && /has no time zone/.test(parsed.left) ? `${parsed.left}${why}` : parsed.left
  return Either.left(`${point.path}.${point.time.field}: ${explained}`)
}

/** A checkpoint's time: `checkpoint_time` (local), else `created_at` (AfterShip's, UTC). */
const checkpointTime = (c: Checkpoint): Point["time"] => {
  const local = clean(c.checkpoint_time, 100)
  if (local !== undefined) return { text: local, field: "checkpoint_time", clock: "local" }
  const created = clean(c.created_at, 100)
  return created !== undefined ? { text: created, field: "created_at", clock: "utc" } : undefined
}

/** The earliest offset a local time can have (+14:00): a zone-less time read there is the earliest instant it can be. */
const earliestOffset: TimePolicy.TimePolicy = { _tag: "AssumeOffset", minutes: 840 }

/**
 * When the way back to the shipper began: the earliest time of a checkpoint that starts it
 * (Exception_010, Exception_011); `undefined` when none does. Checkpoints at or after it are on
 * the return leg. Found by time, since AfterShip resends every checkpoint with each update and
 * their order in the list is not their order in time.
 *
 * A return start whose own time is not exact still starts the return, from the earliest instant
 * it can be: a date-only `checkpoint_time` (the checkpoint itself is skipped) from the start of
 * that day at +14:00, a zone-less local time that no zone settles (the checkpoint itself is
 * unreadable) as read at +14:00. Left out, the parcel's `Delivered` back at the shipper read as
 * the customer's delivery and released the invoice. Only a time that is no time at all (or none)
 * is left out.
 */
const returnSince = (checkpoints: ReadonlyArray<Checkpoint>, options: Options): number | undefined => {
  let since: number | undefined
  checkpoints.forEach((c, i) => {
    if (!AfterShipMapping.startsReturn(AfterShipMapping.classify(clean(c.tag, 100), clean(c.subtag, 100)).canonical)) return
    const time = checkpointTime(c)
    if (time === undefined) return
    let read: Either.Either<Instant.Instant, string>
    if ("text" in time && time.clock === "local" && isDateOnly(time.text)) {
      read = TimePolicy.parse(`${time.text.trim()}T00:00:00`, earliestOffset)
    } else {
      read = occurredAtOf({ path: `checkpoints.${i}`, time, checkpoint: c }, options)
      if (Either.isLeft(read) && "text" in time && time.clock === "local") read = TimePolicy.parse(time.text, earliestOffset)
    }
    if (Either.isLeft(read)) return
    const millis = Instant.toMillis(read.right)
    if (since === undefined || millis < since) since = millis
  })
  return since
}

const build = (
  tracking: TrackingHead,
  point: Point,
  options: Options,
  returnFrom: number | undefined
): Effect.Effect<CarrierPort.Observation, PortError.CarrierError> =>
  Effect.gen(function*() {
    const read = occurredAtOf(point, options)
    if (Either.isLeft(read)) return yield* Effect.fail(invalid("fromTracking", read.left))
    const occurredAt = read.right
    const classification = AfterShipMapping.classify(point.tag, point.subtag, {
      returnLeg: returnFrom !== undefined && Instant.toMillis(occurredAt) >= returnFrom
    })
    for (const u of classification.unmapped) {
      yield* AfterShipMapping.countUnmapped(options.source, u.field, u.code)
      yield* Effect.logWarning(`AfterShip ${u.field} "${u.code}" is not mapped; kept as ${describe(classification.canonical)}`)
    }
    const built = CarrierAdapter.observation(point.path, () => {
      const id = eventId(tracking, point.idParts)
      const message = clean(point.message, 1900)
      const rawTag = clean(point.rawTag, 50)
      const description = rawTag !== undefined ? `[${rawTag}] ${message ?? ""}`.trim() : message
      const subtag = clean(point.subtag, 200)
      const raw = new ShipmentEvent.RawCode({
        code: (point.tag ?? "").slice(0, 200),
        ...(subtag !== undefined ? { detail: subtag } : {}),
        ...(description !== undefined ? { description } : {})
      })
      const location = point.checkpoint !== undefined ? toLocation(point.checkpoint) : undefined
      const common = { id, source: options.source, occurredAt, receivedAt: options.receivedAt, raw }
      const canonical = classification.canonical
      let event: ShipmentEvent.Draft
      switch (canonical._tag) {
        case "Exception":
          event = { _tag: "ExceptionReported", ...common, kind: canonical.kind, ...(location !== undefined ? { location } : {}) }
          break
        case "ExceptionCleared":
          event = { _tag: "ExceptionCleared", ...common }
          break
        case "Status": {
          const signedBy = canonical.status === "delivered" ? clean(tracking.signed_by, 200) : undefined
          event = {
            _tag: "StatusReported",
            ...common,
            status: canonical.status,
            ...(location !== undefined ? { location } : {}),
            ...(signedBy !== undefined ? { pod: new ShipmentEvent.ProofOfDelivery({ signedBy }) } : {})
          }
        }
      }
      // The tracking number was validated by the payload schema.
      return { trackingNumber: tracking.tracking_number, carrier: clean(point.slug ?? tracking.slug, 100), event }
    })
    if (Either.isLeft(built)) return yield* Effect.fail(invalid("fromTracking", built.left.description, built.left.cause))
    return built.right
  })

/**
 * One observation per checkpoint. A tracking without checkpoints yields one event for its own
 * tag/subtag (timed at `updated_at`, else `fallbackMillis`, else arrival), whose id includes
 * `updated_at` as sent, so the same tag reported again later is a new event.
 *
 * A checkpoint whose `checkpoint_time` is a date without a time of day (`YYYY-MM-DD`) yields no
 * event: it is counted in {@link skippedCheckpoints} (reason `date_only`) and logged as a
 * warning, and the other checkpoints are kept. Such a date cannot be ordered against the same
 * day's scans, and the state machine orders by `occurredAt` (an exception is open when it comes
 * after the latest progress): any instant chosen for it (the start of the day, its end) would
 * open or close an exception by guesswork, and could never be corrected, since the id hashes the
 * time as sent. Skipped, nothing wrong is stored: once AfterShip sends the scan with its time
 * (every webhook resends the full list), it is ingested like any other.
 *
 * @since 0.1.0
 */
export const fromTracking = (
  tracking: Tracking,
  options: Options,
  path = "msg",
  fallbackMillis?: number
): Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError> => {
  const checkpoints = tracking.checkpoints ?? []
  if (checkpoints.length === 0) return Effect.map(ownTag(tracking, options, path, fallbackMillis), (o) => [o])
  const returnFrom = returnSince(checkpoints, options)
  const observations = Effect.forEach(checkpoints, (c, i) => fromCheckpoint(tracking, c, options, `${path}.checkpoints.${i}`, returnFrom))
  return Effect.map(observations, Arr.getSomes)
}

/** A tracking without checkpoints: one event for its own tag and subtag. */
const ownTag = (
  tracking: TrackingHead,
  options: Options,
  path: string,
  fallbackMillis: number | undefined
): Effect.Effect<CarrierPort.Observation, PortError.CarrierError> => {
  const updated = clean(tracking.updated_at, 100)
  return build(
    tracking,
    {
      path,
      tag: clean(tracking.tag, 100),
      subtag: clean(tracking.subtag, 100),
      message: tracking.subtag_message ?? undefined,
      rawTag: undefined,
      slug: undefined,
      time: updated !== undefined
        ? { text: updated, field: "updated_at", clock: "utc" }
        : fallbackMillis !== undefined
        ? { millis: fallbackMillis }
        : undefined,
      // `updated_at` belongs in the id: the same tag reported again later (delayed, moving
      // on, delayed again) is a new event, not a duplicate of the first report. (The webhook's
      // `ts` does not: it changes with every delivery of the same report.)
      idParts: ["tracking", updated, clean(tracking.tag, 100), clean(tracking.subtag, 100)],
      checkpoint: undefined
    },
    options,
    undefined
  )
}

/** The event of one checkpoint (at `at`), or none for a date-only one (skipped and counted). */
const fromCheckpoint = (
  tracking: TrackingHead,
  c: Checkpoint,
  options: Options,
  at: string,
  returnFrom: number | undefined
): Effect.Effect<Option.Option<CarrierPort.Observation>, PortError.CarrierError> => {
  const localTime = clean(c.checkpoint_time, 100)
  const createdAt = clean(c.created_at, 100)
  if (localTime === undefined && createdAt === undefined) {
    return Effect.fail(invalid("fromTracking", `${at}.checkpoint_time: missing (and no created_at to fall back on)`))
  }
  const tag = clean(c.tag, 100)
  const subtag = clean(c.subtag, 100)
  if (localTime !== undefined && isDateOnly(localTime)) {
    return skipDateOnly(at, localTime, tag, subtag, options)
  }
  const message = c.message ?? c.subtag_message ?? undefined
  return Effect.map(build(
    tracking,
    {
      path: at,
      tag,
      subtag,
      message,
      rawTag: c.raw_tag ?? undefined,
      slug: c.slug ?? undefined,
      time: checkpointTime(c),
      idParts: [localTime ?? createdAt, tag, subtag, clean(message, 1900)],
      checkpoint: c
    },
    options,
    returnFrom
  ), Option.some)
}

/**
 * {@link fromTracking} checkpoint by checkpoint, for a tracking whose checkpoints are still
 * undecoded: each is decoded and built on its own, and one that cannot be (the wrong shape, no
 * time, a time that is no time or that the policy refuses) is named in `unreadable` with the
 * description `fromTracking` would fail with, while the others' observations are kept. A
 * date-only checkpoint is skipped as in `fromTracking`, not unreadable.
 */
const fromTrackingEach = (
  tracking: typeof TrackingEntries.Type,
  options: Options,
  path: string,
  fallbackMillis: number | undefined
): Effect.Effect<CarrierPort.Parsed> => {
  const checkpoints = tracking.checkpoints ?? []
  // The return leg is read from every checkpoint that can be decoded, as fromTracking does.
  const readable = checkpoints.flatMap((entry) => Either.getOrUndefined(decodeCheckpoint(entry)) ?? [])
  const returnFrom = returnSince(readable, options)
  return CarrierAdapter.eachEvent(
    checkpoints.length === 0
      ? [Effect.map(ownTag(tracking, options, path, fallbackMillis), (o) => [o])]
      : checkpoints.map((entry, i) => {
        const at = `${path}.checkpoints.${i}`
        return Effect.map(
          Effect.flatMap(decode(Checkpoint, entry, at, "fromTracking"), (c) => fromCheckpoint(tracking, c, options, at, returnFrom)),
          Option.toArray
        )
      })
  )
}

/**
 * Checkpoints left out of the canonical events, tagged with `source`, `reason` and the
 * checkpoint's AfterShip `tag`. The one reason today is `date_only`: a `checkpoint_time` with a
 * date but no time of day (see {@link fromTracking}).
 *
 * @since 0.2.0
 */
export const skippedCheckpoints = Metric.counter("waybill_carrier_skipped_checkpoints_total", {
  description: "carrier checkpoints not turned into events (e.g. a date without a time of day), by reason",
  incremental: true
})

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/

/**
 * Whether a `checkpoint_time` is a calendar date without a time of day (`YYYY-MM-DD`, one of
 * AfterShip's documented forms). Anything else that is not a date and time (`2024-02-30`,
 * `2024-7-30`) is malformed: that checkpoint is refused as before (the whole payload in
 * {@link fromWebhook}, the checkpoint alone in {@link fromWebhookEach}).
 *
 * @example
 * ```ts
 * AfterShipTracking.isDateOnly("2024-07-30") // true: skipped, counted
 * AfterShipTracking.isDateOnly("2024-07-30T08:15:00") // false: a time of day
 * AfterShipTracking.isDateOnly("2024-02-30") // false: not a date, refused
 * ```
 *
 * @since 0.2.0
 */
export const isDateOnly = (text: string): boolean => {
  const trimmed = text.trim()
  return DATE_ONLY.test(trimmed) && typeof Instant.parseIsoInstant(`${trimmed}T00:00:00Z`) === "number"
}

const skipDateOnly = (
  at: string,
  text: string,
  tag: string | undefined,
  subtag: string | undefined,
  options: Options
): Effect.Effect<Option.Option<CarrierPort.Observation>> =>
  Effect.zipRight(
    Metric.increment(
      Metric.tagged(
        Metric.tagged(Metric.tagged(skippedCheckpoints, "source", options.source), "reason", "date_only"),
        "tag",
        (tag ?? "").slice(0, 100)
      )
    ),
    Effect.as(
      // The tag and subtag are AfterShip's codes; the carrier's message (free text) is not logged.
      Effect.logWarning(
        `AfterShip ${at}.checkpoint_time "${text}" is a date without a time of day: checkpoint skipped` +
          ` (tag ${tag ?? "none"}, subtag ${subtag ?? "none"}); the other checkpoints are kept`
      ),
      Option.none()
    )
  )

const decodeCheckpoint = Schema.decodeUnknownEither(Checkpoint, { onExcessProperty: "ignore" })

const decode = <A, I>(schema: Schema.Schema<A, I>, input: unknown, path: string, method: string) =>
  CarrierAdapter.decode(schema, input, path, (description, cause) => invalid(method, description, cause))

/**
 * Normalizes a webhook body. `tracking_update` must carry the tracking in `msg`; the other
 * events (`edd_revise`, `tracking_pending_time`) say nothing about the parcel's progress and
 * yield no observations.
 *
 * @since 0.1.0
 */
export const fromWebhook = (
  json: unknown,
  options: Options
): Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError> =>
  Effect.gen(function*() {
    const update = yield* trackingUpdate(json)
    if (update === undefined) return []
    const tracking = yield* decode(Tracking, update.msg, "msg", "fromWebhook")
    return yield* fromTracking(tracking, options, "msg", update.fallbackMillis)
  })

/**
 * The undecoded tracking a `tracking_update` webhook carries in `msg`, and the webhook's `ts`
 * as a time to fall back on; `undefined` for the other events.
 */
const trackingUpdate = (
  json: unknown
): Effect.Effect<{ readonly msg: unknown; readonly fallbackMillis: number | undefined } | undefined, PortError.CarrierError> =>
  Effect.gen(function*() {
    const webhook = yield* decode(Webhook, json, "", "fromWebhook")
    if (webhook.event !== "tracking_update") {
      yield* Effect.logDebug(`AfterShip ${webhook.event} webhook carries no checkpoint; ignored`)
      return undefined
    }
    if (webhook.msg === undefined || webhook.msg === null) {
      return yield* Effect.fail(invalid("fromWebhook", "msg: a tracking_update webhook must carry the tracking"))
    }
    const ts = webhook.ts
    const fallbackMillis = typeof ts === "number" && Number.isFinite(ts) && ts > 0 && ts < 4_102_444_800 ? ts * 1000 : undefined
    return { msg: webhook.msg, fallbackMillis }
  })

/**
 * {@link fromWebhook}, checkpoint by checkpoint: the observations of the checkpoints that can be
 * read, and one line for each that cannot (`CarrierPort.Parsed`), naming it by its path
 * (`msg.checkpoints.2.checkpoint_time: "2024-07-30T06:12:00" has no time zone …`) with the
 * description {@link fromWebhook} would refuse the whole payload with, which never shows a
 * personal value. A date-only checkpoint is skipped and counted as in {@link fromTracking}, not
 * unreadable. What concerns the payload as a whole still fails as in {@link fromWebhook}: an
 * envelope or tracking of the wrong shape (no `tracking_number`, `checkpoints` not a list), a
 * `tracking_update` without its tracking.
 *
 * @since 0.2.0
 */
export const fromWebhookEach = (
  json: unknown,
  options: Options
): Effect.Effect<CarrierPort.Parsed, PortError.CarrierError> =>
  Effect.gen(function*() {
    const update = yield* trackingUpdate(json)
    if (update === undefined) return { observations: [], unreadable: [] }
    const tracking = yield* decode(TrackingEntries, update.msg, "msg", "fromWebhook")
    return yield* fromTrackingEach(tracking, options, "msg", update.fallbackMillis)
  })
