/**
 * The declarative carrier adapter: given a {@link MappingConfig.MappingConfig}, it verifies a
 * partner's signed webhooks and turns their payloads into canonical observations, with no
 * partner-specific code.
 *
 * **Nothing is parsed unverified.** The port's `parse` is `verifyAndParse`: it checks the body
 * size and the signature (and the signed timestamp) before it reads a byte of JSON, so a
 * caller that forgets to call `verify` first still cannot get observations out of a forged or
 * stale request. Internally the payload reader only accepts a `VerifiedBody`, a value that
 * only the verifier can construct.
 *
 * Unknown codes are never dropped: they become `StatusReported` with status `unknown` and the
 * raw code, and count in `waybill_carrier_unmapped_codes_total{source,code}`. Rejected requests
 * count in `waybill_carrier_rejected_requests_total{source,reason}` and are logged (without
 * the body or any secret).
 *
 * @since 0.1.0
 */
import { CarrierAdapter, CarrierPort, Instant, PortError, TimePolicy, Validation, Weight, WebhookSignature } from "@waybill/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import * as FieldPath from "./FieldPath.js"
import * as MappingConfig from "./MappingConfig.js"

const MODULE = "@waybill/carrier-mapping/MappingCarrier"

/**
 * Counts events whose code no rule maps, tagged `source` and `code` (`(none)` when the event
 * has no code at all).
 *
 * @since 0.1.0
 */
export const unmappedCodes = Metric.counter("waybill_carrier_unmapped_codes_total", {
  description: "Inbound events whose partner code no mapping rule knows; kept as status unknown",
  incremental: true
})

/**
 * Counts inbound requests rejected before or while parsing, tagged `source` and `reason`
 * (`Unauthorized` for signatures and timestamps, `Invalid` for oversized or malformed bodies).
 *
 * @since 0.1.0
 */
export const rejectedRequests = Metric.counter("waybill_carrier_rejected_requests_total", {
  description: "Inbound partner requests rejected by signature, size or shape checks",
  incremental: true
})

/**
 * The mapping adapter: core's carrier port plus the config it runs and the explicit
 * `verifyAndParse` entry point (the port's `parse` is the same function).
 *
 * @since 0.1.0
 */
export interface MappingCarrierShape extends CarrierPort.CarrierPortShape {
  readonly config: MappingConfig.MappingConfig
  /** Verifies size, signature and signed timestamp, then maps the payload. */
  readonly verifyAndParse: (
    request: CarrierPort.InboundRequest
  ) => Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError>
  /**
   * `verifyAndParse` event by event: the events that can be read, and one line naming each that
   * cannot (`CarrierPort.Parsed`), where `verifyAndParse` refuses the whole request. The
   * pipeline uses it (`parseEach`): one event a config cannot read yet (a DHL time without a
   * zone on a cross-border lane) no longer holds back the rest of the shipment's history.
   */
  readonly verifyAndParseEach: (request: CarrierPort.InboundRequest) => Effect.Effect<CarrierPort.Parsed, PortError.CarrierError>
  readonly parseEach: (request: CarrierPort.InboundRequest) => Effect.Effect<CarrierPort.Parsed, PortError.CarrierError>
}

/**
 * The specific tag of a mapping adapter (the layer also provides core's `CarrierPort`).
 *
 * @since 0.1.0
 */
export class MappingCarrier extends Context.Tag("@waybill/carrier-mapping/MappingCarrier")<
  MappingCarrier,
  MappingCarrierShape
>() {}

// ---------------------------------------------------------------------------------------------
// Compilation

type Spec = ReadonlyArray<FieldPath.FieldPath>

type Target =
  | { readonly _tag: "Status"; readonly status: MappingConfig.CodeRule["status"] & string }
  | { readonly _tag: "Exception"; readonly kind: MappingConfig.CodeRule["exception"] & string }
  | { readonly _tag: "Clears"; readonly kinds: ReadonlyArray<string> | undefined }
  | { readonly _tag: "Retracts" }

type Token = { readonly _tag: "Body" } | { readonly _tag: "Timestamp" } | { readonly _tag: "Text"; readonly text: Buffer }

interface Compiled {
  readonly source: string
  readonly carrier: string | undefined
  readonly maxBodyBytes: number
  readonly maxEvents: number
  readonly events: FieldPath.FieldPath
  readonly firstKey: string | undefined
  readonly fields: {
    readonly id: Spec | undefined
    readonly trackingNumber: Spec
    readonly carrier: Spec | undefined
    readonly time: Spec
    readonly timeFormat: "iso" | "unix-seconds" | "unix-millis"
    readonly policy: TimePolicy.TimePolicy
    readonly zoneCountry: Spec | undefined
    readonly domesticCountry: Spec | undefined
    readonly zones: ReadonlyMap<string, string>
    readonly code: Spec
    readonly subcode: Spec | undefined
    readonly description: Spec | undefined
    readonly location: ReadonlyArray<readonly ["facility" | "city" | "region" | "postalCode" | "country", Spec]>
    readonly weight: { readonly value: Spec; readonly unit: Spec | undefined; readonly defaultUnit: string | undefined } | undefined
    readonly signedBy: Spec | undefined
    readonly evidenceUrl: Spec | undefined
    /** The weight is its own event, not a field of each status event (see `detached`). */
    readonly weightDetached: boolean
    /** The proof of delivery is its own event, not a field of each delivered event. */
    readonly podDetached: boolean
    readonly retracts: Spec | undefined
    readonly returnFlag: Spec | undefined
  }
  readonly caseInsensitive: boolean
  readonly rules: ReadonlyMap<string, Target>
  readonly signature: {
    readonly encoding: "hex" | "base64"
    readonly header: string
    readonly prefix: string | undefined
    readonly scheme: WebhookSignature.Scheme
    readonly secret: Redacted.Redacted<Buffer>
    readonly timestamp:
      | {
          readonly header: string
          readonly format: "unix-seconds" | "unix-millis" | "iso"
          readonly toleranceMillis: number
          readonly tokens: ReadonlyArray<Token>
        }
      | undefined
  }
}

const key = (caseInsensitive: boolean, code: string, subcode: string | undefined): string => {
  const norm = (s: string) => (caseInsensitive ? s.trim().toLowerCase() : s.trim())
  return subcode === undefined ? `${norm(code)}\u0000` : `${norm(code)}\u0000${norm(subcode)}`
}

const compilePath = (source: string): FieldPath.FieldPath =>
  Either.getOrThrowWith(FieldPath.parse(source), (why) => new Error(`malformed path "${source}": ${why}`))

const compileSpec = (spec: MappingConfig.FieldSpec): Spec =>
  (typeof spec === "string" ? [spec] : spec).map(compilePath)

const compileOptional = (spec: MappingConfig.FieldSpec | undefined): Spec | undefined =>
  spec === undefined ? undefined : compileSpec(spec)

const compileTemplate = (template: string): ReadonlyArray<Token> => {
  const tokens: Array<Token> = []
  for (const part of template.split(/(\{body\}|\{timestamp\})/)) {
    if (part === "{body}") tokens.push({ _tag: "Body" })
    else if (part === "{timestamp}") tokens.push({ _tag: "Timestamp" })
    else if (part.length > 0) tokens.push({ _tag: "Text", text: Buffer.from(part, "utf8") })
  }
  return tokens
}

/**
 * Whether a field read for each event (the weight, the proof of delivery) becomes its own
 * event instead: when any of its paths reads outside the event (`^…` the shipment, `$…` the
 * payload), or the config has no `id` (each event's id is then a content hash that leaves these
 * fields out). In both cases a value that changes between two deliveries of the same event (a
 * re-weigh, a signer added after the delivery scan) would give the same id other content: a
 * conflicting duplicate, the stored copy chosen by content order. As its own event, with an id
 * that names the value, a change is a new event, and the state machine picks between the values
 * by its own order-independent rule. A value inside an event with a partner id stays on it: the
 * partner's id names that event, content and all.
 *
 * So does any value, wherever read, when the partner has ids and can withdraw events
 * (`retracts`): a retraction names the scan, and a detached copy of it (a status event under an
 * id of its own) would survive it, keeping a withdrawn dispatch or delivery reached (a delivery
 * the partner took back would still release the invoice). There a re-weigh between two
 * deliveries of the same event stays a conflicting duplicate, recorded as an anomaly: the lesser
 * harm, and the partner's own id is what it corrects by.
 */
const detached = (
  id: MappingConfig.FieldSpec | undefined,
  retracts: MappingConfig.FieldSpec | undefined,
  specs: ReadonlyArray<Spec | undefined>
): boolean =>
  id === undefined ||
  (retracts === undefined && specs.some((spec) => spec !== undefined && spec.some((p) => p.scope._tag !== "Event")))

// Runs only on a validated config, so the paths parse; a failure here is a bug.
const compile = (config: MappingConfig.MappingConfig, secret: Redacted.Redacted<string>): Compiled => {
  const rules = new Map<string, Target>()
  const ci = config.codeMatching === "case-insensitive"
  for (const rule of config.codes) {
    const target: Target =
      rule.status !== undefined
        ? { _tag: "Status", status: rule.status }
        : rule.exception !== undefined
          ? { _tag: "Exception", kind: rule.exception }
          : rule.clears !== undefined
            ? { _tag: "Clears", kinds: rule.clears === "all" ? undefined : rule.clears }
            : { _tag: "Retracts" }
    rules.set(key(ci, rule.code, rule.subcode), target)
  }
  const events = compilePath(config.events)
  const first = events.steps[0]
  const f = config.fields
  const location: Array<readonly ["facility" | "city" | "region" | "postalCode" | "country", Spec]> = []
  for (const k of ["facility", "city", "region", "postalCode", "country"] as const) {
    const spec = f.location?.[k]
    if (spec !== undefined) location.push([k, compileSpec(spec)])
  }
  const ts = config.signature.timestamp
  const weight =
    f.weight === undefined
      ? undefined
      : { value: compileSpec(f.weight.value), unit: compileOptional(f.weight.unit), defaultUnit: f.weight.defaultUnit }
  const signedBy = compileOptional(f.pod?.signedBy)
  const evidenceUrl = compileOptional(f.pod?.evidenceUrl)
  return {
    source: config.source,
    carrier: config.carrier,
    maxBodyBytes: config.limits.maxBodyBytes,
    maxEvents: config.limits.maxEvents,
    events,
    firstKey: first?._tag === "Key" ? first.key : undefined,
    fields: {
      id: compileOptional(f.id),
      trackingNumber: compileSpec(f.trackingNumber),
      carrier: compileOptional(f.carrier),
      time: compileSpec(f.occurredAt.path),
      timeFormat: f.occurredAt.format,
      policy: f.occurredAt.policy,
      zoneCountry: compileOptional(f.occurredAt.zoneByCountry?.country),
      domesticCountry: compileOptional(f.occurredAt.zoneByCountry?.domesticCountry),
      zones: new Map(Object.entries(f.occurredAt.zoneByCountry?.zones ?? {})),
      code: compileSpec(f.code),
      subcode: compileOptional(f.subcode),
      description: compileOptional(f.description),
      location,
      weight,
      signedBy,
      evidenceUrl,
      weightDetached: detached(f.id, f.retracts, [weight?.value, weight?.unit]),
      podDetached: detached(f.id, f.retracts, [signedBy, evidenceUrl]),
      retracts: compileOptional(f.retracts),
      returnFlag: compileOptional(f.returnFlag)
    },
    caseInsensitive: ci,
    rules,
    signature: {
      encoding: config.signature.encoding,
      header: config.signature.header.toLowerCase(),
      prefix: config.signature.prefix,
      // Several signatures per header (secret rotation); base64 in either alphabet, padded or not.
      scheme: { encoding: config.signature.encoding, prefix: config.signature.prefix, several: true, base64: "lenient" },
      secret: Redacted.make(Buffer.from(Redacted.value(secret), "utf8")),
      timestamp:
        ts === undefined
          ? undefined
          : {
              header: ts.header.toLowerCase(),
              format: ts.format,
              toleranceMillis: ts.toleranceSeconds * 1000,
              tokens: compileTemplate(ts.signedPayload)
            }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Verification

const VerifiedTypeId: unique symbol = Symbol.for("@waybill/carrier-mapping/VerifiedBody")

/** A body whose size and signature were checked; only `verifyRequest` makes one. */
class VerifiedBody {
  readonly [VerifiedTypeId] = VerifiedTypeId
  private constructor(readonly body: Uint8Array) {}
  /** @internal */
  static unsafeMake(body: Uint8Array): VerifiedBody {
    return new VerifiedBody(body)
  }
}

const own = (record: object, key: string): boolean => Object.prototype.hasOwnProperty.call(record, key)

const parseTimestamp = (raw: string, format: "unix-seconds" | "unix-millis" | "iso"): number | string => {
  const v = raw.trim()
  switch (format) {
    case "unix-seconds":
      return /^\d{1,11}(\.\d{1,9})?$/.test(v) ? Math.round(Number(v) * 1000) : `is not a unix time in seconds`
    case "unix-millis":
      return /^\d{1,14}$/.test(v) ? Number(v) : `is not a unix time in milliseconds`
    case "iso": {
      const parsed = Instant.parseIsoInstant(v)
      return typeof parsed === "number" ? parsed : `is not an ISO-8601 instant with a zone`
    }
  }
}

const verifyRequest = (
  c: Compiled,
  request: CarrierPort.InboundRequest
): Either.Either<VerifiedBody, { readonly reason: "Unauthorized" | "Invalid"; readonly description: string }> => {
  const unauthorized = (description: string) => Either.left({ reason: "Unauthorized" as const, description })
  const body = request.body
  if (!(body instanceof Uint8Array)) return Either.left({ reason: "Invalid", description: "the body is not bytes" })
  const oversized = WebhookSignature.tooLarge(body, c.maxBodyBytes)
  if (oversized !== undefined) return Either.left({ reason: "Invalid", description: `the ${oversized} (limits.maxBodyBytes)` })
  const sig = c.signature
  const provided = WebhookSignature.header(request.headers, sig.header)
  if (provided === undefined || provided.trim() === "") return unauthorized(`missing signature header ${sig.header}`)
  if (provided.length > 4096) return unauthorized(`signature header ${sig.header} is too long`)
  let timestampRaw: string | undefined
  let timestampMillis: number | undefined
  if (sig.timestamp !== undefined) {
    timestampRaw = WebhookSignature.header(request.headers, sig.timestamp.header)
    if (timestampRaw === undefined || timestampRaw.trim() === "") {
      return unauthorized(`missing signed timestamp header ${sig.timestamp.header}`)
    }
    if (timestampRaw.length > 64) return unauthorized(`signed timestamp header ${sig.timestamp.header} is too long`)
    const parsed = parseTimestamp(timestampRaw, sig.timestamp.format)
    if (typeof parsed === "string") return unauthorized(`signed timestamp header ${sig.timestamp.header} ${parsed}`)
    timestampMillis = parsed
  }
  // What the partner signed: the body, or the signed-payload template filled in.
  const message: WebhookSignature.Message = sig.timestamp === undefined
    ? body
    : sig.timestamp.tokens.map((token) =>
      token._tag === "Body" ? body : token._tag === "Timestamp" ? timestampRaw! : token.text
    )
  switch (WebhookSignature.check(provided, message, Redacted.value(sig.secret), sig.scheme)) {
    case "Valid":
      break
    case "NoPrefix":
      return unauthorized(`signature header ${sig.header} does not start with "${sig.prefix}"`)
    case "Malformed":
      return unauthorized(
        `signature in ${sig.header} is not a ${sig.encoding} HMAC-SHA256 (${sig.encoding === "hex" ? "64 hex characters" : "32 bytes in base64"})`
      )
    default:
      return unauthorized(
        sig.timestamp === undefined
          ? `signature in ${sig.header} does not match the body (HMAC-SHA256, ${sig.encoding})`
          : `signature in ${sig.header} does not match the signed timestamp and body (HMAC-SHA256, ${sig.encoding})`
      )
  }
  if (sig.timestamp !== undefined && timestampMillis !== undefined) {
    const arrival = Instant.toMillis(request.receivedAt)
    const skew = arrival - timestampMillis
    if (Math.abs(skew) > sig.timestamp.toleranceMillis) {
      const seconds = Math.round(Math.abs(skew) / 1000)
      return unauthorized(
        `signed timestamp ${timestampRaw!.trim()} is ${seconds} s ${skew > 0 ? "before" : "after"} the request arrived; ` +
          `the tolerance is ${sig.timestamp.toleranceMillis / 1000} s`
      )
    }
  }
  return Either.right(VerifiedBody.unsafeMake(body))
}

// ---------------------------------------------------------------------------------------------
// Reading the payload

const describe = (u: unknown): string =>
  u === null ? "null" : Array.isArray(u) ? "an array" : typeof u === "object" ? "an object" : `a ${typeof u}`

interface Found<A> {
  readonly value: A
  readonly path: string
}

type Read<A> = Either.Either<Found<A> | undefined, string>

const firstPresent = (spec: Spec, root: unknown, ev: FieldPath.Located): { value: unknown; path: string } | undefined => {
  for (const p of spec) {
    const v = FieldPath.get(p, root, ev)
    if (v === undefined || v === null) continue
    if (typeof v === "string" && v.trim() === "") continue
    return { value: v, path: p.source }
  }
  return undefined
}

// JSON.parse rounds an integer beyond 2^53 to a neighbour: distinct partner ids (64-bit event
// ids, 20-digit shipment numbers) would come out equal and dedupe, so they are refused instead.
const inexact = (v: number): boolean => Number.isInteger(v) && !Number.isSafeInteger(v)
const unreadableNumber = (path: string): string => `the number at "${path}" is too large to read exactly; send it as a string`

const readText = (spec: Spec | undefined, root: unknown, ev: FieldPath.Located): Read<string> => {
  if (spec === undefined) return Either.right(undefined)
  const hit = firstPresent(spec, root, ev)
  if (hit === undefined) return Either.right(undefined)
  const v = hit.value
  if (typeof v === "string") return Either.right({ value: v.trim(), path: hit.path })
  if (typeof v === "number" && Number.isFinite(v)) {
    return inexact(v) ? Either.left(unreadableNumber(hit.path)) : Either.right({ value: String(v), path: hit.path })
  }
  return Either.left(`expected text or a number at "${hit.path}", found ${describe(v)}`)
}

const readNumber = (spec: Spec, root: unknown, ev: FieldPath.Located): Read<number> => {
  const hit = firstPresent(spec, root, ev)
  if (hit === undefined) return Either.right(undefined)
  const v = hit.value
  if (typeof v === "number" && Number.isFinite(v)) return Either.right({ value: v, path: hit.path })
  if (typeof v === "string" && /^\s*-?\d+(\.\d+)?\s*$/.test(v)) return Either.right({ value: Number(v), path: hit.path })
  return Either.left(`expected a number at "${hit.path}", found ${typeof v === "string" ? JSON.stringify(v) : describe(v)}`)
}

/** A yes/no flag: `true`/`false` or the text `"true"`/`"false"` (any case); absent is `false`. */
const readFlag = (spec: Spec | undefined, root: unknown, ev: FieldPath.Located): Either.Either<boolean, string> => {
  if (spec === undefined) return Either.right(false)
  const hit = firstPresent(spec, root, ev)
  if (hit === undefined) return Either.right(false)
  const v = hit.value
  if (typeof v === "boolean") return Either.right(v)
  if (typeof v === "string" && /^\s*(true|false)\s*$/i.test(v)) return Either.right(v.trim().toLowerCase() === "true")
  return Either.left(`expected true or false at "${hit.path}", found ${typeof v === "string" ? JSON.stringify(v) : describe(v)}`)
}

const readIds = (spec: Spec, root: unknown, ev: FieldPath.Located): Either.Either<Array<string>, string> => {
  const hit = firstPresent(spec, root, ev)
  if (hit === undefined) return Either.left(`nothing at ${spec.map((p) => `"${p.source}"`).join(" or ")}`)
  const values = Array.isArray(hit.value) ? hit.value : [hit.value]
  const ids: Array<string> = []
  for (const v of values) {
    if (typeof v === "string" && v.trim() !== "") ids.push(v.trim())
    else if (typeof v === "number" && Number.isFinite(v)) {
      if (inexact(v)) return Either.left(unreadableNumber(hit.path))
      ids.push(String(v))
    } else return Either.left(`expected event ids at "${hit.path}", found ${describe(v)}`)
  }
  if (ids.length === 0) return Either.left(`no event ids at "${hit.path}"`)
  return Either.right(ids)
}

const UNITS: Record<string, "g" | "kg" | "lb" | "oz"> = {
  g: "g", gr: "g", gram: "g", grams: "g",
  kg: "kg", kgs: "kg", kilo: "kg", kilos: "kg", kilogram: "kg", kilograms: "kg",
  lb: "lb", lbs: "lb", pound: "lb", pounds: "lb",
  oz: "oz", ounce: "oz", ounces: "oz"
}
const FACTOR = { g: 1, kg: 1000, lb: 453.59237, oz: 28.349523125 } as const

const MAX_MILLIS = Date.UTC(2200, 0, 1)

type Domestic =
  | { readonly _tag: "Domestic"; readonly country: string }
  | {
    readonly _tag: "NotDomestic"
    readonly found: ReadonlyArray<readonly [string, string]>
    /** The countries, when every path named one (a cross-border shipment whose lane is known). */
    readonly countries: ReadonlyArray<string> | undefined
  }

const COUNTRY = /^[A-Z]{2}$/

// Every path is read on its own (not the first present): the shipment is domestic only when all
// of them name one country. A missing or unreadable one is not taken as agreement, and is no
// error either: only a zone-less time needs the answer, and then `policy` decides.
const readDomesticCountry = (spec: Spec, root: unknown, ev: FieldPath.Located): Domestic => {
  const found: Array<readonly [string, string]> = []
  for (const p of spec) {
    const read = readText([p], root, ev)
    const value = Either.isRight(read) ? read.right?.value.toUpperCase() : ""
    // Only a country code vouches; anything else is not echoed (it may be free text).
    found.push([p.source, value === undefined ? "missing" : COUNTRY.test(value) ? value : "not a country code"])
  }
  const first = found[0]?.[1]
  const named = found.every(([, c]) => COUNTRY.test(c))
  return first !== undefined && named && found.every(([, c]) => c === first)
    ? { _tag: "Domestic", country: first }
    : { _tag: "NotDomestic", found, countries: named ? found.map(([, c]) => c) : undefined }
}

/**
 * A zone-less time on a cross-border lane, when it reads the same in the zone of every country
 * of the lane (DE→AT, FR→ES: one civil time on both sides, daylight saving included): that
 * instant, for there is nothing to guess. `undefined` when a country has no single zone in the
 * table, or the zones read it differently (DE→GB, DE→PT), or it cannot be read.
 */
const sameOnBothSides = (
  text: string,
  countries: ReadonlyArray<string>,
  zones: ReadonlyMap<string, string>
): Instant.Instant | undefined => {
  let agreed: Instant.Instant | undefined
  for (const country of countries) {
    const zone = zones.get(country)
    if (zone === undefined) return undefined
    let read: Either.Either<Instant.Instant, string>
    try {
      read = TimePolicy.parse(text, { _tag: "AssumeZone", zone })
    } catch {
      return undefined
    }
    if (Either.isLeft(read)) return undefined
    if (agreed !== undefined && Instant.toMillis(agreed) !== Instant.toMillis(read.right)) return undefined
    agreed = read.right
  }
  return agreed
}

const readTime = (c: Compiled, root: unknown, ev: FieldPath.Located): Either.Either<Instant.Instant, string> => {
  const f = c.fields
  const hit = firstPresent(f.time, root, ev)
  if (hit === undefined) return Either.left(`occurredAt: nothing at ${f.time.map((p) => `"${p.source}"`).join(" or ")}`)
  const v = hit.value
  if (f.timeFormat === "iso") {
    if (typeof v !== "string") return Either.left(`occurredAt: expected a date-time string at "${hit.path}", found ${describe(v)}`)
    let policy = f.policy
    // Why no country zone applies, when that is the domestic check's doing (added to a refusal).
    let because = ""
    if (f.zoneCountry !== undefined) {
      const country = readText(f.zoneCountry, root, ev)
      if (Either.isLeft(country)) return Either.left(`occurredAt.zoneByCountry: ${country.left}`)
      let code = country.right?.value.toUpperCase()
      if (code === undefined && f.domesticCountry !== undefined) {
        const domestic = readDomesticCountry(f.domesticCountry, root, ev)
        if (domestic._tag === "Domestic") code = domestic.country
        else {
          const agreed = domestic.countries === undefined ? undefined : sameOnBothSides(v, domestic.countries, f.zones)
          if (agreed !== undefined) return Either.right(agreed)
          because =
            ` (no country at ${f.zoneCountry.map((p) => `"${p.source}"`).join(" or ")}, and the shipment is not known to be domestic: ` +
            `${domestic.found.map(([p, c]) => `"${p}" is ${c}`).join(", ")})`
        }
      }
      const zone = code === undefined ? undefined : f.zones.get(code)
      if (zone !== undefined) policy = { _tag: "AssumeZone", zone }
    }
    try {
      return Either.mapLeft(TimePolicy.parse(v, policy), (why) => `occurredAt ("${hit.path}"): ${why}${because}`)
    } catch (e) {
      return Either.left(`occurredAt ("${hit.path}"): cannot read ${JSON.stringify(v)}: ${String(e)}`)
    }
  }
  const n =
    typeof v === "number"
      ? v
      : typeof v === "string" && /^\s*\d+(\.\d+)?\s*$/.test(v)
        ? Number(v)
        : Number.NaN
  if (!Number.isFinite(n)) {
    const found = typeof v === "string" ? JSON.stringify(v) : describe(v)
    return Either.left(`occurredAt: expected a ${f.timeFormat} number at "${hit.path}", found ${found}`)
  }
  const millis = Math.round(f.timeFormat === "unix-seconds" ? n * 1000 : n)
  if (millis < 0 || millis > MAX_MILLIS) return Either.left(`occurredAt: ${v} at "${hit.path}" is not a plausible ${f.timeFormat} time`)
  return Either.right(Instant.fromMillis(millis))
}

const truncate = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, max - 1)}…`)

/** What one event became: its observation, and its code if no rule mapped it. */
interface Mapped {
  readonly observation: CarrierPort.Observation
  readonly unmapped: string | undefined
  /** A status event's detached weight (grams) and proof of delivery, with the event as sent. */
  readonly detached?: {
    readonly event: Record<string, unknown>
    readonly weight: number | undefined
    readonly pod: Record<string, string> | undefined
  }
}

// A personal field's value (an over-long signer's name or postal code) is withheld: the text
// ends in the adapter's error, and so in dead letters and logs.
const formatIssues = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(Validation.redact(error))
    .slice(0, 3)
    .map((i) => `${i.path.length === 0 ? "" : `${i.path.join(".")}: `}${i.message}`)
    .join("; ")

const decodeObservation = Schema.decodeUnknownEither(CarrierPort.Observation, { errors: "all" })

const mapEvent = (c: Compiled, root: unknown, ev: FieldPath.Located, receivedAt: string): Either.Either<Mapped, string> => {
  const f = c.fields
  if (typeof ev.value !== "object" || ev.value === null || Array.isArray(ev.value)) {
    return Either.left(`expected an object, found ${describe(ev.value)}`)
  }
  return Either.gen(function* () {
    const tracking = yield* readText(f.trackingNumber, root, ev).pipe(Either.mapLeft((w) => `trackingNumber: ${w}`))
    if (tracking === undefined) {
      return yield* Either.left(`trackingNumber: nothing at ${f.trackingNumber.map((p) => `"${p.source}"`).join(" or ")}`)
    }
    const carrier = yield* readText(f.carrier, root, ev).pipe(Either.mapLeft((w) => `carrier: ${w}`))
    const occurredAt = yield* readTime(c, root, ev)
    const code = (yield* readText(f.code, root, ev).pipe(Either.mapLeft((w) => `code: ${w}`)))?.value ?? ""
    const subcode = (yield* readText(f.subcode, root, ev).pipe(Either.mapLeft((w) => `subcode: ${w}`)))?.value
    const description = (yield* readText(f.description, root, ev).pipe(Either.mapLeft((w) => `description: ${w}`)))?.value
    if (code.length > 200) return yield* Either.left(`code: longer than 200 characters`)
    if (subcode !== undefined && subcode.length > 200) return yield* Either.left(`subcode: longer than 200 characters`)

    const location: Record<string, string> = {}
    for (const [k, spec] of f.location) {
      const v = yield* readText(spec, root, ev).pipe(Either.mapLeft((w) => `location.${k}: ${w}`))
      if (v !== undefined) location[k] = k === "country" ? v.value.toUpperCase() : v.value
    }
    const hasLocation = Object.keys(location).length > 0

    const target =
      code === ""
        ? undefined
        : (subcode !== undefined ? c.rules.get(key(c.caseInsensitive, code, subcode)) : undefined) ??
          c.rules.get(key(c.caseInsensitive, code, undefined))

    const occurredIso = Schema.encodeSync(Instant.Instant)(occurredAt)
    let id: string
    if (f.id !== undefined) {
      const found = yield* readText(f.id, root, ev).pipe(Either.mapLeft((w) => `id: ${w}`))
      if (found === undefined) return yield* Either.left(`id: nothing at ${f.id.map((p) => `"${p.source}"`).join(" or ")}`)
      id = found.value
    } else {
      const canonical = JSON.stringify([
        1,
        c.source,
        tracking.value,
        code,
        subcode ?? null,
        occurredIso,
        hasLocation
          ? [location.facility ?? null, location.city ?? null, location.region ?? null, location.postalCode ?? null, location.country ?? null]
          : null
      ])
      id = `sha256:${createHash("sha256").update(canonical, "utf8").digest("hex")}`
    }

    const base = {
      id,
      source: c.source,
      occurredAt: occurredIso,
      receivedAt,
      raw: {
        code,
        ...(subcode !== undefined ? { detail: subcode } : {}),
        ...(description !== undefined ? { description: truncate(description, 2000) } : {})
      }
    }
    const withLocation = hasLocation ? { location } : {}

    let event: Record<string, unknown>
    let split: Mapped["detached"]
    if (target === undefined || target._tag === "Status") {
      // On a return shipment the delivery is the parcel back at its sender, not the consignee's.
      const returning = yield* readFlag(f.returnFlag, root, ev).pipe(Either.mapLeft((w) => `returnFlag: ${w}`))
      const mappedStatus = target === undefined ? "unknown" : target.status
      const status = returning && mappedStatus === "delivered" ? "returned" : mappedStatus
      let weight: number | undefined
      if (f.weight !== undefined) {
        const value = yield* readNumber(f.weight.value, root, ev).pipe(Either.mapLeft((w) => `weight: ${w}`))
        if (value !== undefined) {
          const unitRead = yield* readText(f.weight.unit, root, ev).pipe(Either.mapLeft((w) => `weight.unit: ${w}`))
          const unitName = unitRead?.value ?? f.weight.defaultUnit
          const unitKey = unitName?.toLowerCase()
          const unit = unitKey !== undefined && own(UNITS, unitKey) ? UNITS[unitKey] : undefined
          if (unit === undefined) {
            return yield* Either.left(
              unitName === undefined
                ? `weight: no unit for ${value.value} at "${value.path}"`
                : `weight.unit: "${unitName}" is not a weight unit (g, kg, lb, oz)`
            )
          }
          const grams = Math.round(value.value * FACTOR[unit])
          if (!(grams >= 0 && grams <= 100_000_000)) {
            return yield* Either.left(`weight: ${value.value} ${unit} at "${value.path}" is not between 0 and 100 t`)
          }
          weight = yield* Either.try({
            try: () => Weight.fromUnit(value.value, unit),
            catch: () => `weight: ${value.value} ${unit} is not a weight`
          })
        }
      }
      let pod: Record<string, string> | undefined
      if (status === "delivered") {
        const signedBy = yield* readText(f.signedBy, root, ev).pipe(Either.mapLeft((w) => `pod.signedBy: ${w}`))
        const evidenceUrl = yield* readText(f.evidenceUrl, root, ev).pipe(Either.mapLeft((w) => `pod.evidenceUrl: ${w}`))
        if (signedBy !== undefined || evidenceUrl !== undefined) {
          pod = {
            ...(signedBy !== undefined ? { signedBy: signedBy.value } : {}),
            ...(evidenceUrl !== undefined ? { evidenceUrl: evidenceUrl.value } : {})
          }
        }
      }
      event = {
        _tag: "StatusReported",
        ...base,
        status,
        ...withLocation,
        ...(pod !== undefined && !f.podDetached ? { pod } : {}),
        ...(weight !== undefined && !f.weightDetached ? { weight } : {})
      }
      if ((weight !== undefined && f.weightDetached) || (pod !== undefined && f.podDetached)) {
        split = {
          event,
          weight: f.weightDetached ? weight : undefined,
          pod: f.podDetached ? pod : undefined
        }
      }
    } else if (target._tag === "Exception") {
      event = { _tag: "ExceptionReported", ...base, kind: target.kind, ...withLocation }
    } else if (target._tag === "Clears") {
      event = { _tag: "ExceptionCleared", ...base, ...(target.kinds !== undefined ? { kinds: target.kinds } : {}) }
    } else {
      const ids = yield* readIds(f.retracts!, root, ev).pipe(Either.mapLeft((w) => `retracts: ${w}`))
      event = { _tag: "Retraction", ...base, retracts: ids }
    }
    const carrierName = carrier?.value ?? c.carrier
    const observation = yield* decodeObservation({
      trackingNumber: tracking.value,
      ...(carrierName !== undefined ? { carrier: carrierName } : {}),
      event
    }).pipe(Either.mapLeft(formatIssues))
    return { observation, unmapped: target === undefined ? code : undefined, ...(split !== undefined ? { detached: split } : {}) }
  })
}

const millisOf = (event: Record<string, unknown>): number => Date.parse(event["occurredAt"] as string)

/** Whether `a` is after `b`: by time, then by id (the state machine's tie-break). */
const after = (a: Record<string, unknown>, b: Record<string, unknown>): boolean =>
  millisOf(a) > millisOf(b) || (millisOf(a) === millisOf(b) && (a["id"] as string) > (b["id"] as string))

const digest = (parts: ReadonlyArray<unknown>, length: number): string =>
  createHash("sha256").update(JSON.stringify(parts), "utf8").digest("hex").slice(0, length)

/** The parcel an id names: the source and the tracking number, as `CarrierAdapter.eventId` keys. */
const parcelKey = (source: string, tracking: string): string => `${source}/${tracking}`.replace(/[^A-Za-z0-9_./-]/g, "_").slice(0, 80)

/**
 * The event id of a detached weight: `weight:<source>/<tracking>:<time of the event it rides
 * on>:<grams, zero-padded to 9 digits>:<16 hex of that event's id>`. It starts with `weight:`
 * so that it sorts after the content-hash ids (`sha256:…`): a copy stored before 0.2.0 that still
 * carries an old weight loses the same-time tie to it. The state machine takes the
 * measured weight from the newest weighted event, then the greatest id; this id makes that "the
 * newest event the weight rides on, then the heavier": two measurements on the same event (a
 * re-weigh between two polls that saw no new event, when the partner gives no update time to
 * order them by) resolve to the heavier, whatever order the polls arrive in.
 *
 * @since 0.2.0
 */
export const weightEventId = (source: string, tracking: string, anchor: { readonly id: string; readonly occurredAt: string }, grams: number): string =>
  `weight:${parcelKey(source, tracking)}:${anchor.occurredAt}:${String(grams).padStart(9, "0")}:${digest([anchor.id], 16)}`

/**
 * The event id of a detached proof of delivery: `<source>/<tracking>:pod:<32 hex of the SHA-256
 * of the delivered event's id, the signer and the evidence URL>`. The same proof in a later poll
 * is the same event; a different one (a corrected signer, another URL) is another proof, never a
 * rewrite. Hashed: the signer's name does not appear in the id (ids reach logs and audits).
 *
 * @since 0.2.0
 */
export const podEventId = (source: string, tracking: string, anchor: { readonly id: string }, pod: Record<string, string>): string =>
  `${parcelKey(source, tracking)}:pod:${digest([anchor.id, pod["signedBy"] ?? null, pod["evidenceUrl"] ?? null], 32)}`

/**
 * The detached weights and proofs of delivery of a payload's events, each as one event per
 * parcel and value: a copy of one of the parcel's status events (status, time, place: it moves
 * nothing else) carrying the value. A weight rides on the parcel's newest event that reads it
 * (a forward or return one if there is one; never a cancellation, whose weight the state ignores),
 * so the newest measurement wins; a proof of delivery on the earliest delivered event, as the
 * `PodReceived` milestone dates the proof.
 */
const detachedEvents = (c: Compiled, mapped: ReadonlyArray<Mapped>): Array<Mapped> => {
  const weights = new Map<string, { readonly m: Mapped; readonly grams: number }>()
  const pods = new Map<string, { readonly m: Mapped; readonly pod: Record<string, string> }>()
  const rank = (e: Record<string, unknown>) => (e["status"] === "unknown" ? 0 : 1)
  for (const m of mapped) {
    const d = m.detached
    if (d === undefined) continue
    const parcel = [m.observation.trackingNumber, m.observation.carrier ?? null]
    if (d.weight !== undefined && d.weight > 0 && d.event["status"] !== "cancelled") {
      const k = JSON.stringify([...parcel, d.weight])
      const seen = weights.get(k)?.m.detached?.event
      if (seen === undefined || rank(d.event) > rank(seen) || (rank(d.event) === rank(seen) && after(d.event, seen))) {
        weights.set(k, { m, grams: d.weight })
      }
    }
    if (d.pod !== undefined) {
      const k = JSON.stringify([...parcel, d.pod["signedBy"] ?? null, d.pod["evidenceUrl"] ?? null])
      const seen = pods.get(k)?.m.detached?.event
      if (seen === undefined || after(seen, d.event)) pods.set(k, { m, pod: d.pod })
    }
  }
  const out: Array<Mapped> = []
  const copy = (m: Mapped, id: string, extra: Record<string, unknown>) => {
    const e = m.detached!.event
    const raw = e["raw"] as { code: string; detail?: string }
    const event = {
      _tag: "StatusReported",
      id,
      source: e["source"],
      occurredAt: e["occurredAt"],
      receivedAt: e["receivedAt"],
      raw: { code: raw.code, ...(raw.detail !== undefined ? { detail: raw.detail } : {}) },
      status: e["status"],
      ...(e["location"] !== undefined ? { location: e["location"] } : {}),
      ...extra
    }
    const o = m.observation
    // Built from an event that decoded, so it decodes; skipped (never a failure) if not.
    const decoded = decodeObservation({ trackingNumber: o.trackingNumber, ...(o.carrier !== undefined ? { carrier: o.carrier } : {}), event })
    if (Either.isRight(decoded)) out.push({ observation: decoded.right, unmapped: undefined })
  }
  for (const { m, grams } of weights.values()) {
    const e = m.detached!.event
    copy(m, weightEventId(c.source, m.observation.trackingNumber, { id: e["id"] as string, occurredAt: e["occurredAt"] as string }, grams), { weight: grams })
  }
  for (const { m, pod } of pods.values()) {
    copy(m, podEventId(c.source, m.observation.trackingNumber, { id: m.detached!.event["id"] as string }, pod), { pod })
  }
  return out
}

const decoder = new TextDecoder("utf-8", { fatal: true })

const readPayload = (
  c: Compiled,
  verified: VerifiedBody,
  receivedAt: Instant.Instant
): Either.Either<{ readonly mapped: ReadonlyArray<Mapped>; readonly problems: ReadonlyArray<string>; readonly total: number }, string> => {
  const bytes = verified.body
  if (bytes.byteLength === 0) return Either.left("the body is empty")
  let text: string
  try {
    text = decoder.decode(bytes)
  } catch {
    return Either.left("the body is not UTF-8 text")
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  let root: unknown
  try {
    root = JSON.parse(text)
  } catch (e) {
    return Either.left(`the body is not JSON: ${WebhookSignature.jsonProblem(e)}`)
  }
  if (c.firstKey !== undefined) {
    if (typeof root !== "object" || root === null || Array.isArray(root)) {
      return Either.left(`the body is ${describe(root)}, expected an object with "${c.firstKey}" (events path ${c.events.source})`)
    }
    if (!Object.prototype.hasOwnProperty.call(root, c.firstKey)) {
      return Either.left(`the body has no "${c.firstKey}" (events path ${c.events.source})`)
    }
  }
  const located = FieldPath.select(c.events, root, c.maxEvents)
  if (Either.isLeft(located)) {
    return Either.left(
      located.left.startsWith("more than")
        ? `the body has ${located.left} (limits.maxEvents)`
        : `the body does not have the configured shape: ${located.left} (events path ${c.events.source})`
    )
  }
  const receivedIso = Schema.encodeSync(Instant.Instant)(receivedAt)
  const mapped: Array<Mapped> = []
  const problems: Array<string> = []
  located.right.forEach((ev, n) => {
    const result = mapEvent(c, root, ev, receivedIso)
    if (Either.isRight(result)) mapped.push(result.right)
    else problems.push(`event ${n} (${ev.at}): ${result.left}`)
  })
  // The detached proofs of delivery come before the events, the weights after: the pipeline
  // plans `erp.validateDelivery` (with the view's POD, the signer) once, on the event that reaches
  // `delivered`, over the state after it. A proof after its delivered event left the validation
  // without the signer the same payload names; first, the proof (a copy of that event, same time)
  // reaches `delivered` with it.
  const detached = detachedEvents(c, mapped)
  const proofs = detached.filter((m) => m.observation.event._tag === "StatusReported" && m.observation.event.pod !== undefined)
  mapped.unshift(...proofs)
  mapped.push(...detached.filter((m) => !proofs.includes(m)))
  return Either.right({ mapped, problems, total: located.right.length })
}

/** The whole request refused because some of its events cannot be read (`verifyAndParse`). */
const unreadable = (problems: ReadonlyArray<string>, total: number): string => {
  const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : ""
  return `${problems.length} of ${total} event(s) cannot be read: ${problems.slice(0, 3).join("; ")}${more}`
}

// ---------------------------------------------------------------------------------------------
// The adapter

const unsupported = (method: string) =>
  Effect.fail(
    new PortError.CarrierError({
      reason: "Invalid",
      module: MODULE,
      method,
      description: `${method} is not supported by a mapping adapter (it only verifies and maps inbound webhooks)`
    })
  )

const fromCompiled = (config: MappingConfig.MappingConfig, c: Compiled): MappingCarrierShape => {
  const error = (method: string, reason: "Unauthorized" | "Invalid", description: string) =>
    // Built from literals and strings, so valid by construction: skip re-validation on this
    // path, which a flood of forged requests makes hot.
    new PortError.CarrierError({ reason, module: MODULE, method, description: `${c.source}: ${description}` }, true)

  const record = <A>(method: string, effect: Effect.Effect<A, PortError.CarrierError>) =>
    effect.pipe(
      Effect.tapError((e) =>
        Effect.zipRight(
          Metric.increment(Metric.tagged(Metric.tagged(rejectedRequests, "source", c.source), "reason", e.reason)),
          Effect.logWarning("inbound request rejected").pipe(
            Effect.annotateLogs({ source: c.source, method, reason: e.reason, description: e.description })
          )
        )
      ),
      PortError.withSpan(`MappingCarrier.${method}`, { attributes: { "waybill.source": c.source }, captureStackTrace: false })
    )

  const verifyOnly = (method: string, request: CarrierPort.InboundRequest) =>
    Effect.suspend(() =>
      Either.match(verifyRequest(c, request), {
        onLeft: (e) => Effect.fail(error(method, e.reason, e.description)),
        onRight: Effect.succeed
      })
    )

  /** The request verified and read event by event; `whole`: an unreadable event fails it all. */
  const read = (method: string, request: CarrierPort.InboundRequest, whole: boolean) =>
    Effect.flatMap(verifyOnly(method, request), (verified) =>
      Either.match(readPayload(c, verified, request.receivedAt), {
        onLeft: (description) => Effect.fail(error(method, "Invalid", description)),
        onRight: ({ mapped, problems, total }) =>
          whole && problems.length > 0
            ? Effect.fail(error(method, "Invalid", unreadable(problems, total)))
            : Effect.as(
              Effect.forEach(
                mapped,
                (m) =>
                  m.unmapped === undefined
                    ? Effect.void
                    : Metric.increment(
                      Metric.tagged(
                        Metric.tagged(unmappedCodes, "source", c.source),
                        "code",
                        m.unmapped === "" ? "(none)" : truncate(m.unmapped, 100)
                      )
                    ),
                { discard: true }
              ),
              { observations: mapped.map((m) => m.observation), unreadable: problems.map((p) => `${c.source}: ${p}`) }
            )
      })
    )

  const verifyAndParse = (request: CarrierPort.InboundRequest) =>
    record("verifyAndParse", Effect.map(read("verifyAndParse", request, true), (parsed) => parsed.observations))

  const verifyAndParseEach = (request: CarrierPort.InboundRequest) =>
    record(
      "verifyAndParseEach",
      Effect.tap(read("verifyAndParseEach", request, false), ({ unreadable }) =>
        unreadable.length === 0
          ? Effect.void
          : Effect.logWarning("events of an inbound request cannot be read; the others go in").pipe(
            Effect.annotateLogs({ source: c.source, unreadable: unreadable.length, first: unreadable[0] })
          ))
    )

  return {
    source: c.source,
    config,
    verify: (request) => record("verify", Effect.asVoid(verifyOnly("verify", request))),
    parse: verifyAndParse,
    parseEach: verifyAndParseEach,
    verifyAndParse,
    verifyAndParseEach,
    createTracker: () => unsupported("createTracker"),
    buyLabel: () => unsupported("buyLabel")
  }
}

/**
 * Makes a mapping adapter from a config: re-validates it, resolves the signing secret (from
 * the config or the environment) and compiles paths and the code table once.
 *
 * @example
 * ```ts
 * import { MappingCarrier, GenericWarehouse } from "@waybill/carrier-mapping"
 * const warehouse = yield* MappingCarrier.make(GenericWarehouse.config) // reads WAYBILL_WMS_WEBHOOK_SECRET
 * const observations = yield* warehouse.verifyAndParse(request)
 * ```
 *
 * @since 0.1.0
 */
export const make = (
  config: MappingConfig.MappingConfig
): Effect.Effect<MappingCarrierShape, Validation.ValidationError> =>
  Effect.gen(function* () {
    const valid = yield* MappingConfig.validate(config)
    const secret = yield* MappingConfig.resolveSecret(valid)
    // `validate` has checked every path, so compiling cannot fail; if it ever did, say so as a
    // config error rather than a defect.
    const compiled = yield* Either.try({
      try: () => compile(valid, secret),
      catch: (e) =>
        new Validation.ValidationError({
          reason: "Invalid",
          module: MODULE,
          method: "make",
          schema: "MappingConfig",
          issues: [new Validation.Issue({ path: "", message: e instanceof Error ? e.message : String(e) })]
        })
    })
    return fromCompiled(valid, compiled)
  })

/**
 * A layer providing {@link MappingCarrier} and core's `CarrierPort` from a config.
 *
 * @since 0.1.0
 */
export const layer = (
  config: MappingConfig.MappingConfig
): Layer.Layer<MappingCarrier | CarrierPort.CarrierPort, Validation.ValidationError> =>
  CarrierAdapter.layer(MappingCarrier, make(config))

/**
 * {@link layer} from a config in its JSON form (decoded with `MappingConfig.decode`).
 *
 * @since 0.1.0
 */
export const layerFromJson = (
  json: unknown
): Layer.Layer<MappingCarrier | CarrierPort.CarrierPort, Validation.ValidationError> =>
  Layer.unwrapEffect(Effect.map(MappingConfig.decode(json), layer))
