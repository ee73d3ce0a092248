/**
 * Hand-compiled decoders for shipment events, drafts and observations, with the Schema
 * decoders as the fallback.
 *
 * Why: `Schema.decodeUnknownEither(ShipmentEvent.Draft)` costs ~13.5 µs for a small event, most
 * of it in the generic parser and in the Schema class constructors (copies, `delete _tag`, the
 * defaults merge). That is the single biggest cost of the ingest hot path (see
 * `bench/src/pipeline.ts`). The decoders here check the same rules by hand and build the same
 * values directly.
 *
 * The contract that makes this safe:
 * - The fast path accepts only input that passes every rule of the schemas: the type of every
 *   field, lengths, patterns (`Source`, `country`), the id rules of `Ids`, the literals of
 *   `Status`, the range of `Weight.Grams`, non-empty arrays and `maxItems`, and `exact` optional
 *   fields (a key present with `undefined` is invalid, as in Schema).
 * - It builds exactly what Schema builds: instances of the same classes (made without running
 *   their constructors), plain objects for the draft structs, own keys in Schema's order (a
 *   tagged class holds `_tag` last, a draft first), excess properties dropped, every instant a
 *   `DateTime.Utc` made by `DateTime.unsafeMake` as `Instant.Instant` makes it.
 * - On anything else (a failed rule, a shape it does not know) it returns the Schema decoder's
 *   result: failures carry Schema's exact error, and a fast path stricter than the schema is
 *   only slower, never wrong. A fast path *looser* than the schema would be wrong, so a schema
 *   change in ShipmentEvent, CarrierPort, Ids, Status, Weight or Instant must be mirrored here;
 *   if the classes' fields are no longer those listed below, the fast path switches itself off.
 *
 * `test/FastDecode.test.ts` checks the equivalence on generated and on mutated input.
 *
 * @internal
 */
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as CarrierPort from "../CarrierPort.js"
import type * as Ids from "../Ids.js"
import * as Instant from "../Instant.js"
import * as ShipmentEvent from "../ShipmentEvent.js"
import * as Status from "../Status.js"
import type * as Weight from "../Weight.js"

// --- shared helpers ------------------------------------------------------------------------------

/** A non-array object: what a Schema struct or class accepts as input. */
type Input = { readonly [key: string]: unknown }

/** `A` with its fields writable, to fill a value in field order. */
type Mutable<A> = { -readonly [K in keyof A]: A[K] }

/** Whether `u` is an object a Schema struct accepts (`Predicate.isRecord`). */
const isRecord = (u: unknown): u is Input => typeof u === "object" && u !== null && !Array.isArray(u)

/** Marks an optional field that is present but invalid (absent is `undefined`). */
const INVALID: unique symbol = Symbol("fastDecode/invalid")

/**
 * An `optionalWith(..., { exact: true })` field: absent (`undefined`) unless it is an own key,
 * and then it must decode (so a present `undefined` is {@link INVALID}, as in Schema).
 */
const optional = <A>(
  input: Input,
  key: string,
  decode: (u: unknown) => A | undefined
): A | undefined | typeof INVALID => {
  if (!Object.hasOwn(input, key)) return undefined
  const a = decode(input[key])
  return a === undefined ? INVALID : a
}

/** A bare instance of a Schema class, to be filled in field order (no constructor run). */
const bare = <A>(Cls: { readonly prototype: A }): Mutable<A> => Object.create(Cls.prototype as object)

// --- leaves --------------------------------------------------------------------------------------

// eslint-disable-next-line no-control-regex
const ID_CHARS = /^[^\u0000-\u001f\u007f]+$/
const SOURCE = /^[a-z0-9][a-z0-9._:-]{0,63}$/
const COUNTRY = /^[A-Z]{2}$/

/** An id of `Ids`: 1 to 200 characters, no control characters (the brand is a type only). */
const id = <B extends string>(u: unknown): B | undefined =>
  typeof u === "string" && u.length >= 1 && u.length <= 200 && ID_CHARS.test(u) ? (u as B) : undefined

/** `ShipmentEvent.Source`. */
const source = (u: unknown): string | undefined => (typeof u === "string" && SOURCE.test(u) ? u : undefined)

/** `Instant.Instant`: a strict ISO-8601 string with a zone, as the same `DateTime.Utc`. */
const instant = (u: unknown): DateTime.Utc | undefined => {
  if (typeof u !== "string") return undefined
  const millis = Instant.parseIsoInstant(u)
  return typeof millis === "number" ? DateTime.unsafeMake(millis) : undefined
}

/** `Weight.Grams`: a safe integer from 0 to 100,000,000. */
const grams = (u: unknown): Weight.Grams | undefined =>
  typeof u === "number" && Number.isSafeInteger(u) && u >= 0 && u <= 100_000_000 ? (u as Weight.Grams) : undefined

/** A plain `Schema.String`. */
const string = (u: unknown): string | undefined => (typeof u === "string" ? u : undefined)

/** A `Schema.Literal` of strings, read from the schema itself. */
const oneOf = <L extends string>(literals: ReadonlyArray<L>) => {
  const set: ReadonlySet<unknown> = new Set(literals)
  return (u: unknown): L | undefined => (set.has(u) ? (u as L) : undefined)
}
const reportedStatus = oneOf(Status.ReportedStatus.literals)
const exceptionKind = oneOf(Status.ExceptionKind.literals)

/** `Schema.NonEmptyArray(item)`, at most `maxItems` long: a new array of the decoded items. */
const nonEmptyArray = <A>(item: (u: unknown) => A | undefined, maxItems: number) =>
(u: unknown): readonly [A, ...Array<A>] | undefined => {
  if (!Array.isArray(u) || u.length === 0 || u.length > maxItems) return undefined
  const items: ReadonlyArray<unknown> = u
  const out: Array<A> = []
  for (let i = 0; i < items.length; i++) {
    const a = item(items[i])
    if (a === undefined) return undefined
    out.push(a)
  }
  return out as unknown as readonly [A, ...Array<A>]
}
const kinds = nonEmptyArray(exceptionKind, Infinity)
const retracts = nonEmptyArray(id<Ids.EventId>, 100)

// --- the string-only classes: RawCode, Location, ProofOfDelivery ---------------------------------

/** A string field of a Schema class, in field order: its name, whether it may be absent, its rule. */
interface StringField {
  readonly key: string
  readonly optional: boolean
  readonly valid: (s: string) => boolean
}
const maxLength = (key: string, max: number, optional = true): StringField => ({
  key,
  optional,
  valid: (s) => s.length <= max
})

/** A Schema class whose fields are all strings: each own key checked, written in field order. */
const stringClass = <A>(Cls: { readonly prototype: A }, fields: ReadonlyArray<StringField>) =>
(u: unknown): A | undefined => {
  if (!isRecord(u)) return undefined
  const out: Record<string, string> = Object.create(Cls.prototype as object)
  for (const field of fields) {
    if (field.optional && !Object.hasOwn(u, field.key)) continue
    const value = u[field.key]
    if (typeof value !== "string" || !field.valid(value)) return undefined
    out[field.key] = value
  }
  return out as unknown as A
}

const rawCode = stringClass(ShipmentEvent.RawCode, [
  maxLength("code", 200, false),
  maxLength("detail", 200),
  maxLength("description", 2000)
])
const location = stringClass(ShipmentEvent.Location, [
  maxLength("facility", 200),
  maxLength("city", 120),
  maxLength("region", 120),
  maxLength("postalCode", 20),
  { key: "country", optional: true, valid: (s) => COUNTRY.test(s) }
])
const proofOfDelivery = stringClass(ShipmentEvent.ProofOfDelivery, [
  maxLength("signedBy", 200),
  maxLength("evidenceUrl", 2000)
])

// --- drafts --------------------------------------------------------------------------------------

type DraftOf<T extends ShipmentEvent.Draft["_tag"]> = Extract<ShipmentEvent.Draft, { readonly _tag: T }>

/** The fields every event has (but the routing ids), in field order (drafts spread it so). */
interface Head {
  readonly id: Ids.EventId
  readonly source: string
  readonly occurredAt: DateTime.Utc
  readonly receivedAt: DateTime.Utc
  readonly raw: ShipmentEvent.RawCode
}

/** Reads the {@link Head} fields, all required. */
const head = (input: Input): Head | undefined => {
  const eventId = id<Ids.EventId>(input.id)
  const src = source(input.source)
  const occurredAt = instant(input.occurredAt)
  const receivedAt = instant(input.receivedAt)
  const raw = rawCode(input.raw)
  return eventId === undefined || src === undefined || occurredAt === undefined || receivedAt === undefined ||
      raw === undefined
    ? undefined
    : { id: eventId, source: src, occurredAt, receivedAt, raw }
}

/** A `StatusReported` draft: the head, a status, optional location, proof of delivery, weight. */
const statusReported = (input: Input): DraftOf<"StatusReported"> | undefined => {
  const h = head(input)
  const status = reportedStatus(input.status)
  const loc = optional(input, "location", location)
  const pod = optional(input, "pod", proofOfDelivery)
  const weight = optional(input, "weight", grams)
  if (h === undefined || status === undefined || loc === INVALID || pod === INVALID || weight === INVALID) {
    return undefined
  }
  const out: Mutable<DraftOf<"StatusReported">> = { _tag: "StatusReported", ...h, status }
  if (loc !== undefined) out.location = loc
  if (pod !== undefined) out.pod = pod
  if (weight !== undefined) out.weight = weight
  return out
}

/** An `ExceptionReported` draft: the head, a kind, an optional location. */
const exceptionReported = (input: Input): DraftOf<"ExceptionReported"> | undefined => {
  const h = head(input)
  const kind = exceptionKind(input.kind)
  const loc = optional(input, "location", location)
  if (h === undefined || kind === undefined || loc === INVALID) return undefined
  const out: Mutable<DraftOf<"ExceptionReported">> = { _tag: "ExceptionReported", ...h, kind }
  if (loc !== undefined) out.location = loc
  return out
}

/** An `ExceptionCleared` draft: the head, optional non-empty kinds. */
const exceptionCleared = (input: Input): DraftOf<"ExceptionCleared"> | undefined => {
  const h = head(input)
  const cleared = optional(input, "kinds", kinds)
  if (h === undefined || cleared === INVALID) return undefined
  const out: Mutable<DraftOf<"ExceptionCleared">> = { _tag: "ExceptionCleared", ...h }
  if (cleared !== undefined) out.kinds = cleared
  return out
}

/** A `Retraction` draft: the head, 1 to 100 retracted event ids. */
const retraction = (input: Input): DraftOf<"Retraction"> | undefined => {
  const h = head(input)
  const retracted = retracts(input.retracts)
  if (h === undefined || retracted === undefined) return undefined
  return { _tag: "Retraction", ...h, retracts: retracted }
}

/** `ShipmentEvent.Draft`: the variant named by an own `_tag`, as a plain object. */
const draft = (u: unknown): ShipmentEvent.Draft | undefined => {
  if (!isRecord(u) || !Object.hasOwn(u, "_tag")) return undefined
  switch (u._tag) {
    case "StatusReported":
      return statusReported(u)
    case "ExceptionReported":
      return exceptionReported(u)
    case "ExceptionCleared":
      return exceptionCleared(u)
    case "Retraction":
      return retraction(u)
    default:
      return undefined
  }
}

// --- events and observations ---------------------------------------------------------------------

const eventClasses = {
  StatusReported: ShipmentEvent.StatusReported,
  ExceptionReported: ShipmentEvent.ExceptionReported,
  ExceptionCleared: ShipmentEvent.ExceptionCleared,
  Retraction: ShipmentEvent.Retraction
} as const

/**
 * `ShipmentEvent.ShipmentEvent`: a draft plus valid routing ids, as an instance of the tagged
 * class with Schema's key order: `id`, `shipmentId`, `companyId`, the draft's other fields,
 * `_tag` last (the class constructor re-adds its tag as a default).
 */
const event = (u: unknown): ShipmentEvent.ShipmentEvent | undefined => {
  const d = draft(u)
  if (d === undefined || !isRecord(u)) return undefined
  const shipmentId = id<Ids.ShipmentId>(u.shipmentId)
  const companyId = id<Ids.CompanyId>(u.companyId)
  if (shipmentId === undefined || companyId === undefined) return undefined
  const fields: Input = d
  const out: Record<string, unknown> = Object.create(eventClasses[d._tag].prototype)
  out.id = d.id
  out.shipmentId = shipmentId
  out.companyId = companyId
  for (const key of Object.keys(fields)) if (key !== "_tag" && key !== "id") out[key] = fields[key]
  out._tag = d._tag
  return out as unknown as ShipmentEvent.ShipmentEvent
}

/** `CarrierPort.Observation`: a tracking number of 1-100 characters, an optional carrier, a draft. */
const observation = (u: unknown): CarrierPort.Observation | undefined => {
  if (!isRecord(u)) return undefined
  const trackingNumber = u.trackingNumber
  const carrier = optional(u, "carrier", string)
  const d = draft(u.event)
  if (
    typeof trackingNumber !== "string" || trackingNumber.length < 1 || trackingNumber.length > 100 ||
    carrier === INVALID || d === undefined
  ) return undefined
  const out = bare(CarrierPort.Observation)
  out.trackingNumber = trackingNumber
  if (carrier !== undefined) out.carrier = carrier
  out.event = d
  return out
}

// --- the guard and the exported decoders ---------------------------------------------------------

/** Whether a class's (or struct's) fields are exactly `keys`, in order. */
const hasFields = (fields: object, keys: ReadonlyArray<string>): boolean => {
  const actual = Reflect.ownKeys(fields)
  return actual.length === keys.length && keys.every((key, i) => actual[i] === key)
}
const HEAD = ["id", "source", "occurredAt", "receivedAt", "raw"]
const variants: ReadonlyArray<readonly [{ readonly fields: object }, ReadonlyArray<string>]> = [
  [ShipmentEvent.StatusReported, ["status", "location", "pod", "weight"]],
  [ShipmentEvent.ExceptionReported, ["kind", "location"]],
  [ShipmentEvent.ExceptionCleared, ["kinds"]],
  [ShipmentEvent.Retraction, ["retracts"]]
]

/**
 * Whether the schemas still have the fields this module was written for (names and order only;
 * the rules are checked by the tests). If not, every decode goes through Schema.
 */
const enabled = hasFields(ShipmentEvent.RawCode.fields, ["code", "detail", "description"]) &&
  hasFields(ShipmentEvent.Location.fields, ["facility", "city", "region", "postalCode", "country"]) &&
  hasFields(ShipmentEvent.ProofOfDelivery.fields, ["signedBy", "evidenceUrl"]) &&
  hasFields(CarrierPort.Observation.fields, ["trackingNumber", "carrier", "event"]) &&
  ShipmentEvent.ShipmentEvent.members.length === variants.length &&
  ShipmentEvent.Draft.members.length === variants.length &&
  variants.every(([Cls, own], i) =>
    ShipmentEvent.ShipmentEvent.members[i] === Cls &&
    hasFields(Cls.fields, ["_tag", "id", "shipmentId", "companyId", ...HEAD.slice(1), ...own]) &&
    hasFields(ShipmentEvent.Draft.members[i]!.fields, ["_tag", ...HEAD, ...own])
  )

/**
 * How many decodes each path answered: a test hook (proves the fast path is on and taken).
 *
 * @internal
 */
export const counts = { fast: 0, schema: 0 }

/** The fast decoder when it accepts the input, otherwise the Schema decoder. */
const withFallback = <A>(
  fast: (u: unknown) => A | undefined,
  schema: (u: unknown) => Either.Either<A, ParseResult.ParseError>
) =>
(u: unknown): Either.Either<A, ParseResult.ParseError> => {
  const a = enabled ? fast(u) : undefined
  if (a !== undefined) {
    counts.fast++
    return Either.right(a)
  }
  counts.schema++
  return schema(u)
}

/**
 * `Schema.decodeUnknownEither(ShipmentEvent.ShipmentEvent)`, fast on valid input.
 *
 * @internal
 */
export const decodeEvent: (u: unknown) => Either.Either<ShipmentEvent.ShipmentEvent, ParseResult.ParseError> =
  withFallback(event, Schema.decodeUnknownEither(ShipmentEvent.ShipmentEvent))

/**
 * `Schema.decodeUnknownEither(ShipmentEvent.Draft)`, fast on valid input.
 *
 * @internal
 */
export const decodeDraft: (u: unknown) => Either.Either<ShipmentEvent.Draft, ParseResult.ParseError> = withFallback(
  draft,
  Schema.decodeUnknownEither(ShipmentEvent.Draft)
)

/**
 * `Schema.decodeUnknownEither(CarrierPort.Observation)`, fast on valid input.
 *
 * @internal
 */
export const decodeObservation: (u: unknown) => Either.Either<CarrierPort.Observation, ParseResult.ParseError> =
  withFallback(observation, Schema.decodeUnknownEither(CarrierPort.Observation))
