/**
 * Normalizing EasyPost `Tracker` objects (from webhooks or API responses) into canonical
 * observations: one event per `tracking_details` entry, with that entry's own time, location
 * and raw codes, and a deterministic event id so that a webhook repeating the history dedupes.
 *
 * {@link fromEvent} refuses the whole payload when one entry cannot be read (a `datetime` that
 * is no time, an entry of the wrong shape); {@link fromEventEach} reads entry by entry instead:
 * the other entries' observations, and one line naming each unreadable entry by its path
 * (`result.tracking_details.3.datetime: …`), as the webhook's `verifyAndParseEach` (the carrier
 * port's `parseEach`) gives them to the pipeline.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { CarrierAdapter, type CarrierPort, Ids, Instant, PortError, ShipmentEvent, TimePolicy, Weight } from "@waybill/core"
import * as EasyPostMapping from "./EasyPostMapping.js"

const NullableString = Schema.optional(Schema.NullOr(Schema.String))

/**
 * Where EasyPost says a scan happened.
 *
 * @since 0.1.0
 */
export const TrackingLocation = Schema.Struct({
  city: NullableString,
  state: NullableString,
  country: NullableString,
  zip: NullableString
})

/**
 * One scan in a tracker's history.
 *
 * @since 0.1.0
 */
export const TrackingDetail = Schema.Struct({
  message: NullableString,
  description: NullableString,
  status: Schema.String,
  status_detail: NullableString,
  datetime: Schema.String,
  source: NullableString,
  carrier_code: NullableString,
  tracking_location: Schema.optional(Schema.NullOr(TrackingLocation))
})

/** @since 0.1.0 */
export type TrackingDetail = typeof TrackingDetail.Type

/**
 * The fields of an EasyPost `Tracker` that waybill reads (others are ignored).
 *
 * @since 0.1.0
 */
export const Tracker = Schema.Struct({
  id: NullableString,
  tracking_code: Schema.String.pipe(
    Schema.minLength(1, { message: () => "a tracking code must not be empty" }),
    Schema.maxLength(100, { message: () => "a tracking code must be at most 100 characters" })
  ),
  carrier: NullableString,
  status: NullableString,
  status_detail: NullableString,
  signed_by: NullableString,
  weight: Schema.optional(Schema.NullOr(Schema.Number)),
  /** The tracker follows a return label: its `delivered` is the parcel back at the shipper. */
  is_return: Schema.optional(Schema.NullOr(Schema.Boolean)),
  updated_at: NullableString,
  tracking_details: Schema.Array(TrackingDetail)
})

/** @since 0.1.0 */
export type Tracker = typeof Tracker.Type

/** A Tracker whose `tracking_details` entries are left to decode one by one ({@link fromEventEach}). */
const TrackerEntries = Schema.Struct({ ...Tracker.fields, tracking_details: Schema.Array(Schema.Unknown) })

/** What of a Tracker its scans' events are built from: all but the scans. */
type TrackerHead = Omit<Tracker, "tracking_details">

/**
 * The fields of an EasyPost `Event` envelope that waybill reads.
 *
 * @since 0.1.0
 */
export const Event = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("Event"),
  description: Schema.String,
  result: Schema.optional(Schema.Unknown)
})

/** @since 0.1.0 */
export type Event = typeof Event.Type

/**
 * How to normalize: the event `source`, the policy for times without a zone (EasyPost sends a
 * zone with every scan time, the scan's local offset or `Z`; the policy only matters if that
 * ever changes) and when the payload arrived.
 *
 * @since 0.1.0
 */
export interface Options {
  readonly source: string
  readonly timePolicy: TimePolicy.TimePolicy
  readonly receivedAt: Instant.Instant
}

const MODULE = "EasyPostTracking"

const invalid = (method: string, description: string, cause?: unknown): PortError.CarrierError =>
  new PortError.CarrierError({
    reason: "Invalid",
    module: MODULE,
    method,
    description,
    ...(cause !== undefined ? { cause } : {})
  })

/**
 * Renders a schema failure as `path: message; …` (first five issues).
 *
 * @since 0.1.0
 */
export const formatParseError: (error: ParseResult.ParseError, prefix: string) => string = CarrierAdapter.formatParseError

const clean = CarrierAdapter.cleanText

const toLocation = (loc: typeof TrackingLocation.Type | null | undefined): ShipmentEvent.Location | undefined => {
  if (loc === null || loc === undefined) return undefined
  const city = clean(loc.city, 120)
  const region = clean(loc.state, 120)
  const postalCode = clean(loc.zip, 20)
  const countryRaw = clean(loc.country, 10)?.toUpperCase()
  const country = countryRaw !== undefined && /^[A-Z]{2}$/.test(countryRaw) ? countryRaw : undefined
  if (city === undefined && region === undefined && postalCode === undefined && country === undefined) return undefined
  return new ShipmentEvent.Location({
    ...(city !== undefined ? { city } : {}),
    ...(region !== undefined ? { region } : {}),
    ...(postalCode !== undefined ? { postalCode } : {}),
    ...(country !== undefined ? { country } : {})
  })
}

const toGrams = (ounces: number | null | undefined): Weight.Grams | undefined => {
  if (ounces === null || ounces === undefined || !Number.isFinite(ounces) || ounces <= 0) return undefined
  const grams = Math.round(ounces * 28.349523125)
  return grams <= 100_000_000 ? Weight.fromUnit(ounces, "oz") : undefined
}

/**
 * The deterministic event id of one scan: the tracker (its id, else carrier and tracking code)
 * plus a hash of the scan's UTC time, status, status_detail and carrier code. The webhook's
 * own event id is deliberately not used: EasyPost sends the whole history on every update, so
 * the same scan arrives under many webhook ids.
 *
 * @since 0.1.0
 */
export const eventId = (
  tracker: Pick<Tracker, "id" | "carrier" | "tracking_code">,
  parts: {
    readonly occurredAtMillis: number | undefined
    readonly status: string
    readonly statusDetail: string | undefined
    readonly carrierCode: string | undefined
    /** Set for the second event of a scan that reports two things (delivered and damaged). */
    readonly also?: string | undefined
  }
): Ids.EventId => {
  const trackerKey = clean(tracker.id, 1000) ?? `${clean(tracker.carrier, 100) ?? ""}/${clean(tracker.tracking_code, 100) ?? ""}`
  return CarrierAdapter.eventId(trackerKey, [
    parts.occurredAtMillis ?? null,
    parts.status,
    parts.statusDetail ?? "",
    parts.carrierCode ?? "",
    ...(parts.also !== undefined ? [parts.also] : [])
  ])
}

interface Scan {
  readonly path: string
  readonly status: string
  readonly statusDetail: string | undefined
  readonly carrierCode: string | undefined
  readonly message: string | undefined
  readonly datetime: string | undefined
  readonly location: typeof TrackingLocation.Type | null | undefined
}

const buildObservation = (
  tracker: TrackerHead,
  scan: Scan,
  options: Options,
  method: string,
  returnFrom: number | undefined = undefined
): Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError> =>
  Effect.gen(function*() {
    let occurredAt: Instant.Instant
    if (scan.datetime === undefined) {
      occurredAt = options.receivedAt
    } else {
      const parsed = TimePolicy.parse(scan.datetime, options.timePolicy)
      if (Either.isLeft(parsed)) return yield* Effect.fail(invalid(method, `${scan.path}.datetime: ${parsed.left}`))
      occurredAt = parsed.right
    }
    const classification = EasyPostMapping.classify(scan.status, scan.statusDetail, {
      isReturn: tracker.is_return === true,
      returnLeg: returnFrom !== undefined && Instant.toMillis(occurredAt) >= returnFrom
    })
    for (const u of classification.unmapped) {
      yield* EasyPostMapping.countUnmapped(options.source, u.field, u.code)
      yield* Effect.logWarning(`EasyPost ${u.field} "${u.code}" is not mapped; kept as ${describe(classification.canonical)}`)
    }
    const meanings = classification.also === undefined
      ? [classification.canonical]
      : [classification.canonical, classification.also]
    return yield* Effect.forEach(meanings, (canonical, n) => {
      const built = CarrierAdapter.observation(scan.path, () => {
        const id = eventId(tracker, {
          occurredAtMillis: scan.datetime === undefined ? undefined : Instant.toMillis(occurredAt),
          status: scan.status,
          statusDetail: scan.statusDetail,
          carrierCode: scan.carrierCode,
          also: n === 0 ? undefined : describe(canonical)
        })
        const message = clean(scan.message, 1900)
        const description =
          scan.carrierCode !== undefined ? `[${scan.carrierCode.slice(0, 50)}] ${message ?? ""}`.trim() : message
        const statusDetail = clean(scan.statusDetail, 200)
        const raw = new ShipmentEvent.RawCode({
          code: scan.status.slice(0, 200),
          ...(statusDetail !== undefined ? { detail: statusDetail } : {}),
          ...(description !== undefined ? { description } : {})
        })
        const location = toLocation(scan.location)
        const common = { id, source: options.source, occurredAt, receivedAt: options.receivedAt, raw }
        let event: ShipmentEvent.Draft
        if (canonical._tag === "Exception") {
          event = {
            _tag: "ExceptionReported",
            ...common,
            kind: canonical.kind,
            ...(location !== undefined ? { location } : {})
          }
        } else {
          // The tracker's weight and signer are not the scan's: each is its own observation
          // (weightObservation, podObservation), so a later webhook never rewrites this scan.
          event = {
            _tag: "StatusReported",
            ...common,
            status: canonical.status,
            ...(location !== undefined ? { location } : {})
          }
        }
        // The tracking number was validated by the payload schema.
        return { trackingNumber: tracker.tracking_code, carrier: clean(tracker.carrier, 100), event }
      })
      return Either.isLeft(built)
        ? Effect.fail(invalid(method, built.left.description, built.left.cause))
        : Effect.succeed(built.right)
    })
  })

const describe = (c: EasyPostMapping.Canonical): string => (c._tag === "Status" ? `status ${c.status}` : `exception ${c.kind}`)

/** A status that moves the shipment along (forward or return track): what a weight may ride on. */
const carriesWeight = (status: string): boolean => status !== "unknown" && status !== "cancelled"

/** The tracker an event id names: its id, else carrier/tracking code, in id-safe characters. */
const trackerKey = (tracker: Pick<Tracker, "id" | "carrier" | "tracking_code">): string =>
  (clean(tracker.id, 1000) ?? `${clean(tracker.carrier, 100) ?? ""}/${clean(tracker.tracking_code, 100) ?? ""}`)
    .replace(/[^A-Za-z0-9_./-]/g, "_")
    .slice(0, 80)

/** The accepted observation of `scans` that `first` puts before all the others (`undefined` when none is accepted). */
const pick = (
  scans: ReadonlyArray<CarrierPort.Observation>,
  accept: (event: CarrierPort.Observation["event"]) => boolean,
  first: (a: CarrierPort.Observation["event"], b: CarrierPort.Observation["event"]) => boolean
): CarrierPort.Observation | undefined => {
  let picked: CarrierPort.Observation | undefined
  for (const o of scans) if (accept(o.event) && (picked === undefined || first(o.event, picked.event))) picked = o
  return picked
}

/** Whether `a` comes after `b`: by time, then by id (the state machine's tie-break). */
const later = (a: CarrierPort.Observation["event"], b: CarrierPort.Observation["event"]): boolean => {
  const ta = Instant.toMillis(a.occurredAt), tb = Instant.toMillis(b.occurredAt)
  return ta > tb || (ta === tb && a.id > b.id)
}

/**
 * A copy of a scan (status, time, place: it moves nothing else) under its own id, carrying what
 * the tracker says of the parcel as a whole (its weight, its signer); named `field` when it
 * cannot be built.
 */
const copyOfScan = (
  anchor: CarrierPort.Observation,
  field: string,
  id: Ids.EventId,
  extra: { readonly weight: Weight.Grams } | { readonly pod: ShipmentEvent.ProofOfDelivery }
): CarrierPort.Observation | undefined => {
  const scan = anchor.event
  if (scan._tag !== "StatusReported") return undefined
  const built = CarrierAdapter.observation(field, () => ({
    trackingNumber: anchor.trackingNumber,
    carrier: anchor.carrier,
    event: {
      _tag: "StatusReported",
      id,
      source: scan.source,
      occurredAt: scan.occurredAt,
      receivedAt: scan.receivedAt,
      raw: new ShipmentEvent.RawCode({ code: scan.raw.code, ...(scan.raw.detail !== undefined ? { detail: scan.raw.detail } : {}) }),
      status: scan.status,
      ...(scan.location !== undefined ? { location: scan.location } : {}),
      ...extra
    }
  }))
  return Either.isRight(built) ? built.right : undefined
}

/**
 * The event id of the tracker's weight as one tracker update reports it: the tracker, the
 * update's time (`updated_at`, else the time of the scan it rides on) and the measured grams,
 * zero-padded so that, between two measurements on the same scan, the later update's id sorts
 * last and wins the state machine's tie-break (newest time, then greatest id).
 *
 * @since 0.2.0
 */
export const weightEventId = (
  tracker: Pick<Tracker, "id" | "carrier" | "tracking_code">,
  reportedAt: Instant.Instant,
  grams: Weight.Grams
): Ids.EventId =>
  `${trackerKey(tracker)}:weight:${Instant.formatIso(reportedAt)}:${String(grams).padStart(9, "0")}` as Ids.EventId

/**
 * The tracker's `weight` as its own observation. EasyPost gives one weight per tracker, not per
 * scan; copied onto every scan, a re-weigh rewrote the content of scans already seen (the same
 * event ids with other content: conflicting duplicates, the stored copy chosen by content order,
 * so the weight the billing hold used could be the old one). Instead the weight is one event:
 * a copy of the newest forward or return scan of the payload (its status, time and location, so
 * it changes no progress, exception or last scan) that carries the weight, with an id naming the
 * tracker update and the grams ({@link weightEventId}). A re-weigh is a new event; the state's
 * measured weight is the newest such event (by its scan's time, then by update time), whatever
 * order the webhooks arrive in. No weight (or 0, or a tracker with no such scan): no event.
 */
const weightObservation = (
  tracker: TrackerHead,
  observations: ReadonlyArray<CarrierPort.Observation>,
  options: Options
): CarrierPort.Observation | undefined => {
  const grams = toGrams(tracker.weight)
  if (grams === undefined) return undefined
  // The newest scan that moves the parcel along.
  const anchor = pick(observations, (e) => e._tag === "StatusReported" && carriesWeight(e.status), later)
  if (anchor === undefined) return undefined
  const updated = clean(tracker.updated_at, 100)
  const parsed = updated === undefined ? undefined : TimePolicy.parse(updated, options.timePolicy)
  const reportedAt = parsed !== undefined && Either.isRight(parsed) ? parsed.right : anchor.event.occurredAt
  return copyOfScan(anchor, "weight", weightEventId(tracker, reportedAt, grams), { weight: grams })
}

/**
 * The event id of the tracker's proof of delivery: the tracker, then `:pod:` and 32 hex
 * characters of the SHA-256 of the `delivered` scan it rides on (its event id) and the signer.
 * The same signer on the same scan, in any later webhook, is the same event (a duplicate); a
 * corrected signer is another proof, never a rewrite of the first. The signer's name is hashed,
 * not spelled out: event ids end up in logs, anomalies and audit entries.
 *
 * @since 0.2.0
 */
export const podEventId = (
  tracker: Pick<Tracker, "id" | "carrier" | "tracking_code">,
  deliveredScan: Ids.EventId,
  signedBy: string
): Ids.EventId => {
  const key = trackerKey(tracker)
  const digest = createHash("sha256").update(JSON.stringify([key, "pod", deliveredScan, signedBy]), "utf8").digest("hex")
  return `${key}:pod:${digest.slice(0, 32)}` as Ids.EventId
}

/**
 * The tracker's `signed_by` as its own observation. EasyPost gives one signer per tracker, and
 * often only in a webhook after the one that first reports the delivery; copied onto the
 * `delivered` scan, it rewrote a scan already seen (a conflicting duplicate per delivered scan,
 * and a corrected signer chosen by content order). Instead the proof is one event: a copy of the
 * payload's earliest `delivered` scan (status, time, place: it moves nothing else) carrying the
 * signer, with the id {@link podEventId}. Scans carry no POD, so the POD the `requirePod` hold
 * reads is there as soon as any webhook named a signer, whatever the arrival order; with two
 * signers (a correction) both proofs are kept and the view shows one of them by the state
 * machine's rule (earliest scan, then smallest id), not by arrival. No signer, or no `delivered`
 * scan (a return tracker's delivery is `returned`): no event.
 */
const podObservation = (
  tracker: TrackerHead,
  scans: ReadonlyArray<CarrierPort.Observation>
): CarrierPort.Observation | undefined => {
  const signedBy = clean(tracker.signed_by, 200)
  if (signedBy === undefined) return undefined
  // The earliest delivered scan.
  const anchor = pick(scans, (e) => e._tag === "StatusReported" && e.status === "delivered", (a, b) => later(b, a))
  if (anchor === undefined) return undefined
  return copyOfScan(anchor, "signed_by", podEventId(tracker, anchor.event.id, signedBy), {
    pod: new ShipmentEvent.ProofOfDelivery({ signedBy })
  })
}

/**
 * The tracker's proof of delivery, the scans' observations, then the tracker's weight (each when
 * it has one). The proof comes first: the pipeline plans `erp.validateDelivery` (which carries
 * the view's POD, the signer) once, on the event that reaches `delivered`, over the state after
 * that event. After the scan, the delivery was validated without the signer the same webhook
 * names; first, the proof (a `delivered` copy of the scan, same time) reaches it with the POD.
 */
const withTrackerFacts = (
  tracker: TrackerHead,
  observations: ReadonlyArray<CarrierPort.Observation>,
  options: Options
): ReadonlyArray<CarrierPort.Observation> => {
  const weight = weightObservation(tracker, observations, options)
  const pod = podObservation(tracker, observations)
  if (weight === undefined && pod === undefined) return observations
  return [...(pod !== undefined ? [pod] : []), ...observations, ...(weight !== undefined ? [weight] : [])]
}

/**
 * One observation per `tracking_details` entry (two for a scan that reports two things: a
 * `delivered` / `damaged` scan is a delivery and a damage exception). A tracker without details yields one event for
 * its own status (timed at `updated_at`), unless that status is `unknown`: a new tracker the
 * carrier knows nothing about has nothing to report yet. Scans at or after the earliest one that
 * started the way back to the shipper are read as the return leg (a `delivered` there is
 * `returned`, never the consignee's delivery).
 *
 * @since 0.1.0
 */
export const fromTracker = (
  tracker: Tracker,
  options: Options,
  path = "tracker"
): Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError> => {
  if (tracker.tracking_details.length === 0) return Effect.map(ownStatus(tracker, options, path), (o) => withTrackerFacts(tracker, o, options))
  const returnFrom = returnSince(tracker.tracking_details, options)
  const perScan = Effect.forEach(tracker.tracking_details, (detail, i) =>
    fromDetail(tracker, detail, options, `${path}.tracking_details.${i}`, returnFrom))
  return Effect.map(perScan, (nested) => withTrackerFacts(tracker, nested.flat(), options))
}

/** A tracker without scans: one event for its own status at `updated_at`, none while `unknown`. */
const ownStatus = (
  tracker: TrackerHead,
  options: Options,
  path: string
): Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError> => {
  const status = tracker.status ?? "unknown"
  if (status === "unknown") return Effect.succeed([])
  return buildObservation(
    tracker,
    {
      path,
      status,
      statusDetail: clean(tracker.status_detail, 200),
      carrierCode: undefined,
      message: undefined,
      datetime: clean(tracker.updated_at, 100),
      location: undefined
    },
    options,
    "fromTracker"
  )
}

/**
 * When the way back to the shipper began: the earliest time of a scan that starts it (one
 * classified `return_initiated` or `returned`: `return_to_sender`, `delivered` / `return`, …),
 * among the scans whose time can be read; `undefined` when none does. Scans at or after it are on
 * the return leg, so the carrier's `delivered` at the end of it is the parcel back at the shipper,
 * not the consignee's delivery. Found by time, since EasyPost resends the whole history with each
 * update and its order in the list is not its order in time.
 */
const returnSince = (details: ReadonlyArray<TrackingDetail | undefined>, options: Options): number | undefined => {
  let since: number | undefined
  for (const detail of details) {
    if (detail === undefined) continue
    const meaning = EasyPostMapping.classify(detail.status, clean(detail.status_detail, 200)).canonical
    if (!EasyPostMapping.startsReturn(meaning)) continue
    const parsed = TimePolicy.parse(detail.datetime, options.timePolicy)
    if (Either.isLeft(parsed)) continue
    const millis = Instant.toMillis(parsed.right)
    if (since === undefined || millis < since) since = millis
  }
  return since
}

const decodeDetail = Schema.decodeUnknownEither(TrackingDetail)

/** The events of one `tracking_details` entry (at `path`). */
const fromDetail = (
  tracker: TrackerHead,
  detail: TrackingDetail,
  options: Options,
  path: string,
  returnFrom: number | undefined
): Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError> =>
  buildObservation(
    tracker,
    {
      path,
      status: detail.status,
      statusDetail: clean(detail.status_detail, 200),
      carrierCode: clean(detail.carrier_code, 100),
      message: detail.message ?? detail.description ?? undefined,
      datetime: detail.datetime,
      location: detail.tracking_location
    },
    options,
    "fromTracker",
    returnFrom
  )

/**
 * {@link fromTracker} entry by entry, for a Tracker whose entries are still undecoded: each
 * entry is decoded and built on its own, and one that cannot be (the wrong shape, a `datetime`
 * that is no time, an event that does not validate) is named in `unreadable` with the
 * description `fromTracker` would fail with, while the others' observations are kept.
 */
const fromTrackerEach = (
  tracker: typeof TrackerEntries.Type,
  options: Options,
  path: string
): Effect.Effect<CarrierPort.Parsed> => {
  // Each entry decoded once; the return leg is read from every entry that decodes, as
  // fromTracker does. One that does not is decoded again only to describe why.
  const details = tracker.tracking_details.map((entry) => Either.getOrUndefined(decodeDetail(entry)))
  const returnFrom = returnSince(details, options)
  return Effect.map(CarrierAdapter.eachEvent(
    tracker.tracking_details.length === 0
      ? [ownStatus(tracker, options, path)]
      : tracker.tracking_details.map((entry, i) => {
        const at = `${path}.tracking_details.${i}`
        const detail = details[i]
        return detail !== undefined
          ? fromDetail(tracker, detail, options, at, returnFrom)
          : Effect.flatMap(decode(TrackingDetail, entry, at, "fromTracker"), (decoded) => fromDetail(tracker, decoded, options, at, returnFrom))
      })
  ), (parsed) => ({ ...parsed, observations: withTrackerFacts(tracker, parsed.observations, options) }))
}

const decode = <A, I>(schema: Schema.Schema<A, I>, input: unknown, path: string, method: string) =>
  CarrierAdapter.decode(schema, input, path, (description, cause) => invalid(method, description, cause))

/**
 * Normalizes an EasyPost `Event` (as a webhook delivers it). `tracker.*` events must carry the
 * Tracker in `result`; events about other objects (batches, shipments, payments …) carry no
 * tracking and yield no observations.
 *
 * @since 0.1.0
 */
export const fromEvent = (
  json: unknown,
  options: Options
): Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError> =>
  Effect.gen(function*() {
    const result = yield* trackerResult(json)
    if (result === undefined) return []
    const tracker = yield* decode(Tracker, result, "result", "fromEvent")
    return yield* fromTracker(tracker, options, "result")
  })

/** The undecoded Tracker a `tracker.*` Event carries in `result`; `undefined` for other events. */
const trackerResult = (json: unknown): Effect.Effect<unknown, PortError.CarrierError> =>
  Effect.gen(function*() {
    const event = yield* decode(Event, json, "", "fromEvent")
    if (!event.description.startsWith("tracker.")) {
      yield* Effect.logDebug(`EasyPost event ${event.id} (${event.description}) carries no tracking; ignored`)
      return undefined
    }
    if (event.result === undefined || event.result === null) {
      return yield* Effect.fail(invalid("fromEvent", `result: a ${event.description} event must carry the Tracker`))
    }
    return event.result
  })

/**
 * {@link fromEvent}, entry by entry: the observations of the `tracking_details` entries that
 * can be read, and one line for each that cannot (`CarrierPort.Parsed`), naming it by its path
 * (`result.tracking_details.3.datetime: "yesterday" is not a date and time …`) with the
 * description {@link fromEvent} would refuse the whole payload with, which never shows a
 * personal value. What concerns the payload as a whole still fails as in {@link fromEvent}: an
 * envelope or Tracker of the wrong shape (no `tracking_code`, `tracking_details` not a list), a
 * `tracker.*` event without its Tracker.
 *
 * @since 0.2.0
 */
export const fromEventEach = (
  json: unknown,
  options: Options
): Effect.Effect<CarrierPort.Parsed, PortError.CarrierError> =>
  Effect.gen(function*() {
    const result = yield* trackerResult(json)
    if (result === undefined) return { observations: [], unreadable: [] }
    const tracker = yield* decode(TrackerEntries, result, "result", "fromEvent")
    return yield* fromTrackerEach(tracker, options, "result")
  })

/**
 * {@link fromPayload}, entry by entry, for what a host polls (`GET /trackers`, `GET
 * /trackers/:id`) as well as for webhooks: the observations of every scan that can be read, and
 * one line for each that cannot (`CarrierPort.Parsed`), naming it by its path and what is wrong
 * with it (`trackers.2.tracking_details.0.datetime: "yesterday" is not a date and time …`; never a
 * personal value). In a tracker list, a tracker whose own fields are of the wrong
 * shape (no `tracking_code`, `tracking_details` not a list) is one unreadable line and the other
 * trackers are still read: they are other shipments. A payload that is none of the three, or an
 * `Event` or single Tracker of the wrong shape, still fails as in {@link fromPayload}.
 *
 * Hand `unreadable` to the pipeline as the request's unreadable part (`CarrierPort.parseEach`)
 * or keep it as a dead letter: nothing of it may be dropped silently.
 *
 * @since 0.2.0
 */
export const fromPayloadEach = (
  json: unknown,
  options: Options
): Effect.Effect<CarrierPort.Parsed, PortError.CarrierError> => {
  if (typeof json === "object" && json !== null && !Array.isArray(json)) {
    const record = json as Record<string, unknown>
    if (record["object"] === "Event") return fromEventEach(json, options)
    const trackers = record["trackers"]
    if (Array.isArray(trackers)) {
      return Effect.map(
        Effect.forEach(trackers, (t, i) =>
          decode(TrackerEntries, t, `trackers.${i}`, "fromPayload").pipe(
            Effect.matchEffect({
              // This tracker alone cannot be read: the list's other trackers still are.
              onFailure: (e) => Effect.succeed<CarrierPort.Parsed>({ observations: [], unreadable: [e.description] }),
              onSuccess: (tracker) => fromTrackerEach(tracker, options, `trackers.${i}`)
            })
          )),
        (parts) => ({ observations: parts.flatMap((p) => p.observations), unreadable: parts.flatMap((p) => p.unreadable) })
      )
    }
    return Effect.flatMap(decode(TrackerEntries, json, "", "fromPayload"), (tracker) => fromTrackerEach(tracker, options, "tracker"))
  }
  return Effect.fail(invalid("fromPayload", "(root): expected an EasyPost Event, Tracker or tracker list object"))
}

/**
 * Normalizes any EasyPost tracking payload: an `Event`, a `Tracker`, or a tracker list
 * (`{ "trackers": [...] }`, as `GET /trackers` answers).
 *
 * @since 0.1.0
 */
export const fromPayload = (
  json: unknown,
  options: Options
): Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError> => {
  if (typeof json === "object" && json !== null && !Array.isArray(json)) {
    const record = json as Record<string, unknown>
    if (record["object"] === "Event") return fromEvent(json, options)
    if (Array.isArray(record["trackers"])) {
      return Effect.map(
        Effect.forEach(record["trackers"], (t, i) =>
          Effect.flatMap(decode(Tracker, t, `trackers.${i}`, "fromPayload"), (tracker) =>
            fromTracker(tracker, options, `trackers.${i}`)
          )
        ),
        (nested) => nested.flat()
      )
    }
    return Effect.flatMap(decode(Tracker, json, "", "fromPayload"), (tracker) => fromTracker(tracker, options))
  }
  return Effect.fail(invalid("fromPayload", "(root): expected an EasyPost Event, Tracker or tracker list object"))
}
