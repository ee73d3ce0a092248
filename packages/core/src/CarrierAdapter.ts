/**
 * Building blocks for carrier adapters, the parts every adapter writes the same way:
 *
 * - {@link layer}: one layer providing the adapter's own tag and the generic `CarrierPort`, and
 *   {@link layerConfig}: the same from `Config`;
 * - {@link inbound}: the port's `verify` and `parse` from a webhook module, and
 *   {@link requireWebhookSecret}: its secret checked when the adapter is made;
 * - {@link tracker}: a `CarrierPort.Tracker` from an API answer, or a typed `Invalid`;
 * - {@link countUnmapped}: the `waybill_carrier_unmapped_codes_total` metric every adapter
 *   counts its unknown vendor codes in;
 * - normalizing vendor payloads into `CarrierPort.Observation`s: {@link decode} (schema
 *   failures as `path: message` text), {@link cleanText} (control characters out, trimmed,
 *   bounded), {@link eventId} (a deterministic, dedupable event id) and {@link observation}
 *   (validates the event draft once, never throws).
 *
 * @example
 * ```ts
 * import { CarrierAdapter } from "@waybill/core"
 *
 * const tracking = yield* CarrierAdapter.decode(Tracking, json, "msg", (description, cause) =>
 *   new PortError.CarrierError({ reason: "Invalid", module: "AcmeTracking", method: "fromWebhook", description, cause })
 * )
 * const built = CarrierAdapter.observation("msg.checkpoints.0", () => ({
 *   trackingNumber: tracking.number,
 *   carrier: CarrierAdapter.cleanText(tracking.carrier, 100),
 *   event: { _tag: "StatusReported", id: CarrierAdapter.eventId(`acme/${tracking.number}`, [time, code]), … }
 * }))
 * ```
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as CarrierPort from "./CarrierPort.js"
import type * as Ids from "./Ids.js"
import * as PortError from "./PortError.js"
import * as ShipmentEvent from "./ShipmentEvent.js"
import * as Validation from "./Validation.js"
import * as WebhookSignature from "./WebhookSignature.js"

/**
 * A layer providing an adapter's own tag (e.g. `EasyPostCarrier`) and the generic
 * `CarrierPort`, both with the service `make` builds.
 *
 * @example
 * ```ts
 * export const layer = (options: Options) => CarrierAdapter.layer(AcmeCarrier, make(options))
 * ```
 *
 * @since 0.1.0
 */
export const layer = <I, S extends CarrierPort.CarrierPortShape, E, R>(
  tag: Context.Tag<I, S>,
  make: Effect.Effect<S, E, R>
): Layer.Layer<I | CarrierPort.CarrierPort, E, R> =>
  Layer.effectContext(Effect.map(make, (service) => Context.make(tag, service).pipe(Context.add(CarrierPort.CarrierPort, service))))

/**
 * An adapter's `layerConfig`: its options read from `Config` (credentials with
 * `Config.redacted`), then its `layer`.
 *
 * @example
 * ```ts
 * export const layerConfig = (config: Config.Config.Wrap<Options>) => CarrierAdapter.layerConfig(config, layer)
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = <A, I, E, R>(
  config: Config.Config.Wrap<A>,
  layer: (options: A) => Layer.Layer<I, E, R>
): Layer.Layer<I, E | ConfigError.ConfigError, R> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))

/**
 * The inbound half of a carrier port from a webhook module: `verify` checks a request (its
 * result discarded), `parse` is `verifyAndParse`, so nothing reaches the state machine
 * unverified even when a caller skips `verify`.
 *
 * @example
 * ```ts
 * return { source, ...CarrierAdapter.inbound(AcmeWebhook, { secret, source }), createTracker, buyLabel }
 * ```
 *
 * @since 0.1.0
 */
export const inbound = <O>(
  webhook: {
    readonly verify: (request: CarrierPort.InboundRequest, options: O) => Effect.Effect<unknown, PortError.CarrierError>
    readonly verifyAndParse: (
      request: CarrierPort.InboundRequest,
      options: O
    ) => Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError>
    /** When the module reads a request event by event: the port's `parseEach`. */
    readonly verifyAndParseEach?: (
      request: CarrierPort.InboundRequest,
      options: O
    ) => Effect.Effect<CarrierPort.Parsed, PortError.CarrierError>
  },
  options: O
): Pick<CarrierPort.CarrierPortShape, "verify" | "parse" | "parseEach"> => {
  const each = webhook.verifyAndParseEach
  return {
    verify: (request) => Effect.asVoid(webhook.verify(request, options)),
    parse: (request) => webhook.verifyAndParse(request, options),
    ...(each !== undefined ? { parseEach: (request: CarrierPort.InboundRequest) => each(request, options) } : {})
  }
}

/**
 * Checks an adapter's webhook secret when the adapter is made, so a bad one fails the layer at
 * start-up instead of every webhook later: an `Invalid` `CarrierError` (method `make`) naming
 * the setting and what is wrong (see `WebhookSignature.secretProblem`), never the secret. An
 * empty or white-space-only secret is refused because anyone could sign with it; one with white
 * space at an end (a trailing newline read from a file) because the sender keys with its exact
 * bytes, so it would fail every genuine webhook: it is not trimmed.
 *
 * @example
 * ```ts
 * yield* CarrierAdapter.requireWebhookSecret(options.webhookSecret, { module: "AcmeCarrier", setting: "webhookSecret" })
 * ```
 *
 * @since 0.2.0
 */
export const requireWebhookSecret = (
  secret: Redacted.Redacted<string>,
  where: { readonly module: string; readonly setting: string }
): Effect.Effect<void, PortError.CarrierError> =>
  Effect.suspend(() => {
    const problem = WebhookSignature.secretProblem(Redacted.value(secret))
    if (problem === undefined) return Effect.void
    const consequence = problem === "is empty" || problem === "is only white space" || problem === "is not set"
      ? "anyone could sign a webhook"
      : "remove it where the secret is configured; it is not trimmed, since the sender keys with the exact secret"
    return Effect.fail(
      new PortError.CarrierError({
        reason: "Invalid",
        module: where.module,
        method: "make",
        description: `${where.setting} ${problem}: ${consequence}`
      })
    )
  })

/**
 * Counts vendor codes that no table maps, tagged with `source`, `field` and `code`. Every
 * waybill carrier adapter counts in this one metric, so one monitor sees them all.
 *
 * @since 0.1.0
 */
export const unmappedCodes = Metric.counter("waybill_carrier_unmapped_codes_total", {
  description: "carrier codes no mapping table knows (kept as unknown/fallback events, never dropped)",
  incremental: true
})

/**
 * Increments {@link unmappedCodes} for one code (`field` names where it was, e.g. `status`;
 * the code is cut to 100 characters).
 *
 * @since 0.1.0
 */
export const countUnmapped = (source: string, field: string, code: string): Effect.Effect<void> =>
  Metric.increment(
    Metric.tagged(Metric.tagged(Metric.tagged(unmappedCodes, "source", source), "field", field), "code", code.slice(0, 100))
  )

/**
 * A `CarrierPort.Tracker` from what the carrier's API answered (a `null` carrier is left
 * out), or an `Invalid` `CarrierError` saying `cannot read the <noun>: …` (noun default
 * `tracker`).
 *
 * @since 0.1.0
 */
export const tracker = (
  fields: {
    readonly externalId: string
    readonly trackingNumber: string
    readonly carrier?: string | null | undefined
  },
  where: { readonly module: string; readonly method: string; readonly noun?: string | undefined }
): Effect.Effect<CarrierPort.Tracker, PortError.CarrierError> =>
  Effect.try({
    try: () =>
      new CarrierPort.Tracker({
        externalId: fields.externalId,
        trackingNumber: fields.trackingNumber,
        ...(fields.carrier !== null && fields.carrier !== undefined ? { carrier: fields.carrier } : {})
      }),
    catch: (error) =>
      new PortError.CarrierError({
        reason: "Invalid",
        module: where.module,
        method: where.method,
        description: `cannot read the ${where.noun ?? "tracker"}: ${String(error)}`
      })
  })

/**
 * Renders a schema failure as `path: message; …`: the first five issues, each path prefixed
 * with `prefix` (`(root)` for the root) and its message cut to 200 characters (it shows the
 * value, which may be the better part of a body), then `(and N more)`. The value of a field
 * annotated as personal data is never shown, only its size (see `Validation.redact`).
 *
 * @example
 * ```ts
 * CarrierAdapter.formatParseError(error, "msg") // "msg.tracking_number: is missing"
 * ```
 *
 * @since 0.1.0
 */
export const formatParseError = (error: ParseResult.ParseError, prefix: string): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(Validation.redact(error))
  const shown = issues.slice(0, 5).map((i) => {
    const path = [prefix, ...i.path.map(String)].filter((p) => p !== "").join(".")
    return `${path === "" ? "(root)" : path}: ${i.message.length > 200 ? `${i.message.slice(0, 199)}…` : i.message}`
  })
  return shown.join("; ") + (issues.length > 5 ? ` (and ${issues.length - 5} more)` : "")
}

/**
 * Decodes an untrusted payload (every issue collected, unknown fields ignored); a failure is
 * handed to `onError` as {@link formatParseError} text under `path`, with the `ParseError`.
 *
 * @since 0.1.0
 */
export const decode = <A, I, E>(
  schema: Schema.Schema<A, I>,
  input: unknown,
  path: string,
  onError: (description: string, cause: ParseResult.ParseError) => E
): Effect.Effect<A, E> =>
  Effect.mapError(
    Schema.decodeUnknown(schema, { errors: "all", onExcessProperty: "ignore" })(input),
    (error) => {
      const safe = Validation.redact(error)
      return onError(formatParseError(safe, path), safe)
    }
  )

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/g

/**
 * Vendor text made safe to keep: control characters become spaces, the result is trimmed and
 * cut to `max` characters; `null`, `undefined` and blank text are `undefined`.
 *
 * @since 0.1.0
 */
export const cleanText = (value: string | null | undefined, max: number): string | undefined => {
  if (value === null || value === undefined) return undefined
  const trimmed = value.replace(CONTROL, " ").trim()
  return trimmed === "" ? undefined : trimmed.slice(0, max)
}

/**
 * A deterministic event id: `key` (characters outside `A-Za-z0-9_./-` replaced by `_`, at
 * most 80) then `:` and 32 hex characters of the SHA-256 of `JSON.stringify([key, ...parts])`.
 * The same scan sent again, in any later webhook, gets the same id, so it dedupes; `key`
 * names the parcel (e.g. `dhl/1234567890` or a tracker id), `parts` what distinguishes one of
 * its scans (time as sent, codes, message).
 *
 * @since 0.1.0
 */
export const eventId = (key: string, parts: ReadonlyArray<unknown>): Ids.EventId => {
  const digest = createHash("sha256").update(JSON.stringify([key, ...parts]), "utf8").digest("hex").slice(0, 32)
  return `${key.replace(/[^A-Za-z0-9_./-]/g, "_").slice(0, 80)}:${digest}` as Ids.EventId
}

// Compiled once: a Schema.Class constructor recompiles its validator on every call, ten times
// the cost on the hot path of a webhook with many scans.
const validateDraft = ParseResult.validateEither(ShipmentEvent.Draft)

/**
 * Why {@link observation} could not build an observation.
 *
 * @since 0.1.0
 */
export interface Unbuildable {
  readonly description: string
  readonly cause: unknown
}

/**
 * Builds one observation: runs `build` (which may construct schema classes such as
 * `ShipmentEvent.Location`, and so throw), validates the event draft with a validator compiled
 * once, and makes the `CarrierPort.Observation` without validating again. Anything that throws
 * or does not validate is a `Left` saying `cannot build a canonical event from <path>: …`.
 * The tracking number must have been validated by the payload schema (1 to 100 characters).
 *
 * @since 0.1.0
 */
export const observation = (
  path: string,
  build: () => {
    readonly trackingNumber: string
    readonly carrier: string | undefined
    readonly event: ShipmentEvent.Draft
  }
): Either.Either<CarrierPort.Observation, Unbuildable> => {
  const built = Either.try({
    try: () => {
      const { carrier, event, trackingNumber } = build()
      const checked = validateDraft(event)
      if (Either.isLeft(checked)) throw ParseResult.parseError(checked.left)
      return new CarrierPort.Observation(
        { trackingNumber, ...(carrier !== undefined ? { carrier } : {}), event: checked.right },
        true
      )
    },
    catch: (error) => error
  })
  return Either.mapLeft(built, (cause) => {
    // The draft's personal fields (a signer's name, a postal code) are withheld from the text and
    // from the cause: both end in the adapter's error, and so in dead letters and logs.
    const safe = ParseResult.isParseError(cause) ? Validation.redact(cause) : cause
    const text = ParseResult.isParseError(safe) ? formatParseError(safe, path) : String(safe)
    return { description: `cannot build a canonical event from ${path}: ${text}`, cause: safe }
  })
}

/**
 * Reads a request event by event, for a port's `parseEach`: runs each event's effect, keeps the
 * observations of those that succeed (an event may give none or several), and names each one
 * that fails by its error's description, which should say where in the body it is.
 *
 * @example
 * ```ts
 * const parsed = yield* CarrierAdapter.eachEvent(
 *   body.scans.map((scan, i) => Effect.flatMap(decodeScan(scan, `scans.${i}`), toObservations))
 * )
 * ```
 *
 * @since 0.2.0
 */
export const eachEvent = (
  events: ReadonlyArray<Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError>>
): Effect.Effect<CarrierPort.Parsed> =>
  Effect.map(Effect.all(events.map(Effect.either)), (results) => {
    const observations: Array<CarrierPort.Observation> = []
    const unreadable: Array<string> = []
    for (const result of results) {
      if (Either.isRight(result)) observations.push(...result.right)
      else unreadable.push(result.left.description)
    }
    return { observations, unreadable }
  })
