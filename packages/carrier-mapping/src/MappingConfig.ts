/**
 * The declarative description of a partner (carrier, aggregator, warehouse): where its events
 * are in the payload, which fields carry what, how its codes map to the canonical vocabulary,
 * what its timestamps mean and how it signs its webhooks.
 *
 * A config is plain JSON (or YAML parsed to JSON); {@link decode} validates it and fails with a
 * core `ValidationError` that names every offending key and the rule it broke. Unknown keys are
 * errors too, so a typo never silently disables a field.
 *
 * @since 0.1.0
 */
import { ShipmentEvent, Status, TimePolicy, Validation, WebhookSignature } from "@waybill/core"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as FieldPath from "./FieldPath.js"

const MODULE = "@waybill/carrier-mapping/MappingConfig"

const actual = (issue: ParseResult.ParseIssue): string => {
  const a = (issue as { readonly actual?: unknown }).actual
  return a === undefined ? "nothing" : JSON.stringify(a) ?? String(a)
}

const checkPath = (p: unknown): string | undefined => {
  if (typeof p !== "string") return `expected a path (a string), found ${JSON.stringify(p) ?? String(p)}`
  return Either.match(FieldPath.parse(p), {
    onLeft: (why) => `malformed path "${p}": ${why}`,
    onRight: (parsed) =>
      FieldPath.wildcards(parsed) > 0 ? `path "${p}" selects many values; [*] is only allowed in "events"` : undefined
  })
}

// The decoded side re-checks the paths too, so `validate` catches a malformed path in a config
// edited in code.
const ValidPath = Schema.String.pipe(Schema.filter((p) => checkPath(p)))

/**
 * Where to read a field: one path (see {@link FieldPath}: relative to the event, `$…` from the
 * payload root, `^…` from an enclosing element; no `[*]`), or several tried in order (the first
 * present, non-empty value wins).
 *
 * @since 0.1.0
 */
export const FieldSpec: Schema.Schema<FieldSpec, string | ReadonlyArray<string>> = Schema.transformOrFail(
  Schema.Unknown,
  Schema.Union(ValidPath, Schema.NonEmptyArray(ValidPath)),
  {
    strict: true,
    decode: (input, _, ast) => {
      const check = checkPath
      if (typeof input === "string") {
        const why = check(input)
        return why === undefined ? ParseResult.succeed(input) : ParseResult.fail(new ParseResult.Type(ast, input, why))
      }
      if (Array.isArray(input)) {
        if (input.length === 0 || input.length > 8) {
          return ParseResult.fail(new ParseResult.Type(ast, input, "a list of alternative paths has 1 to 8 entries"))
        }
        const issues: Array<ParseResult.ParseIssue> = []
        input.forEach((p, i) => {
          const why = check(p)
          if (why !== undefined) issues.push(new ParseResult.Pointer(i, input, new ParseResult.Type(ast, p, why)))
        })
        return issues.length === 0
          ? ParseResult.succeed(input as unknown as readonly [string, ...Array<string>])
          : ParseResult.fail(new ParseResult.Composite(ast, input, issues as [ParseResult.ParseIssue, ...Array<ParseResult.ParseIssue>]))
      }
      return ParseResult.fail(
        new ParseResult.Type(ast, input, `expected a path or a list of paths, found ${JSON.stringify(input) ?? String(input)}`)
      )
    },
    encode: ParseResult.succeed
  }
).annotations({ identifier: "FieldSpec" }) as unknown as Schema.Schema<FieldSpec, string | ReadonlyArray<string>>
// (The encoded side is declared as what a config author writes; decoding accepts any input and
// explains what is wrong with it in one message instead of one per union member.)
/**
 * A path, or alternative paths tried in order.
 *
 * @since 0.1.0
 */
export type FieldSpec = string | readonly [string, ...Array<string>]

/**
 * The path that selects the events, from the payload root; `[*]` iterates an array.
 *
 * @since 0.1.0
 */
export const EventsPath = Schema.String.pipe(
  Schema.filter((s) =>
    Either.match(FieldPath.parse(s), {
      onLeft: (why) => `malformed path "${s}": ${why}`,
      onRight: (p) => (p.scope._tag === "Up" ? `the events path "${s}" starts at the payload root; "^" is for field paths` : undefined)
    })
  )
).annotations({ identifier: "EventsPath" })

const canonicalStatuses = [...Status.forwardStatuses, ...Status.returnStatuses, "cancelled"] as const

/**
 * A status a code may map to: forward, return, or `cancelled`. `unknown` is not allowed: it is
 * what an unmapped code becomes on its own (kept, counted, never dropped).
 *
 * @since 0.1.0
 */
export const MappedStatus = Schema.Literal(...canonicalStatuses).annotations({
  message: (issue) => ({
    message:
      actual(issue) === '"unknown"'
        ? `"unknown" is what unmapped codes become on their own; remove the rule instead`
        : `${actual(issue)} is not a canonical status; use one of ${canonicalStatuses.join(", ")}`,
    override: true
  })
})

/**
 * An exception kind a code may map to.
 *
 * @since 0.1.0
 */
export const MappedException = Schema.Literal(...Status.exceptionKinds).annotations({
  message: (issue) => ({
    message: `${actual(issue)} is not an exception kind; use one of ${Status.exceptionKinds.join(", ")}`,
    override: true
  })
})

/**
 * One row of the code table: a partner code (optionally with a subcode) and what it means —
 * exactly one of a `status`, an `exception`, `clears` (exceptions resolved: `"all"` or a list)
 * or `retracts: true` (the event withdraws the events named by `fields.retracts`).
 *
 * A rule with a subcode wins over the rule for the same code without one; it needs
 * `fields.subcode` (without it no event has a subcode, and the config is rejected).
 *
 * @since 0.1.0
 */
export const CodeRule = Schema.Struct({
  code: Schema.String.pipe(Schema.minLength(1, { message: () => "a code must not be empty" }), Schema.maxLength(200)),
  subcode: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)), { exact: true }),
  status: Schema.optionalWith(MappedStatus, { exact: true }),
  exception: Schema.optionalWith(MappedException, { exact: true }),
  clears: Schema.optionalWith(
    Schema.Union(Schema.Literal("all"), Schema.NonEmptyArray(MappedException)).annotations({
      message: (issue) => ({ message: `clears is "all" or a list of exception kinds, not ${actual(issue)}`, override: true })
    }),
    { exact: true }
  ),
  retracts: Schema.optionalWith(Schema.Literal(true), { exact: true }),
  note: Schema.optionalWith(Schema.String.pipe(Schema.maxLength(500)), { exact: true })
}).pipe(
  Schema.filter((rule) => {
    const n = [rule.status, rule.exception, rule.clears, rule.retracts].filter((x) => x !== undefined).length
    return n === 1 || `the rule for code "${rule.code}" needs exactly one of status, exception, clears or retracts (has ${n})`
  })
)
/**
 * A validated code rule.
 *
 * @since 0.1.0
 */
export type CodeRule = typeof CodeRule.Type

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/

/** Shortest accepted signing secret, in characters. @since 0.1.0 */
export const minSecretLength = 16

/**
 * A signing secret: the secret itself (a string, held as `Redacted` once decoded), or
 * `{ "env": "NAME" }` to read it from the environment (Effect `Config.redacted`) when the
 * adapter is made. Shipped configs use `env`, so no secret is ever written in a file.
 *
 * @since 0.1.0
 */
export const Secret: Schema.Schema<Secret, string | { readonly env: string }> = Schema.transformOrFail(
  Schema.Unknown,
  Schema.Union(Schema.RedactedFromSelf(Schema.String), Schema.Struct({ env: Schema.String })),
  {
    strict: true,
    decode: (input, _, ast) => {
      if (typeof input === "string") {
        return input.length >= minSecretLength
          ? ParseResult.succeed(Redacted.make(input))
          : ParseResult.fail(new ParseResult.Type(ast, "<redacted>", `a signature secret must be at least ${minSecretLength} characters`))
      }
      if (typeof input === "object" && input !== null && !Array.isArray(input) && Object.keys(input).length === 1) {
        const env = (input as { readonly env?: unknown }).env
        if (typeof env === "string" && ENV_NAME.test(env)) return ParseResult.succeed({ env })
        if (typeof env === "string") {
          return ParseResult.fail(
            new ParseResult.Type(ast, input, `"${env}" is not an environment variable name (letters, digits and _)`)
          )
        }
      }
      return ParseResult.fail(
        new ParseResult.Type(
          ast,
          typeof input === "object" ? input : "<redacted>",
          `a signature secret is a string of at least ${minSecretLength} characters or { "env": "NAME" }`
        )
      )
    },
    encode: (secret) => ParseResult.succeed(Redacted.isRedacted(secret) ? Redacted.value(secret) : secret)
  }
).annotations({ identifier: "Secret" }) as unknown as Schema.Schema<Secret, string | { readonly env: string }>
/**
 * A decoded secret: the value (redacted) or an environment variable name.
 *
 * @since 0.1.0
 */
export type Secret = Redacted.Redacted<string> | { readonly env: string }

const HeaderName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, { message: () => "a header name is an HTTP token, e.g. x-signature" }),
  // Worker.publish drops these before a request is stored: a signature there would never be seen.
  Schema.filter((name) =>
    WebhookSignature.isCredentialHeader(name)
      ? `${name} carries credentials and is dropped before a request is stored; sign in another header, e.g. x-signature`
      : undefined
  )
)

/**
 * What is signed when a timestamp is signed too: `{timestamp}` (the raw header value) and
 * `{body}` (the raw body bytes), each exactly once, with any literal text around them.
 *
 * @since 0.1.0
 */
export const SignedPayload = Schema.String.pipe(
  Schema.maxLength(200),
  Schema.filter((t) => {
    const count = (needle: string) => t.split(needle).length - 1
    if (count("{body}") !== 1) return `signedPayload must contain {body} exactly once, e.g. "{timestamp}.{body}"`
    if (count("{timestamp}") !== 1) return `signedPayload must contain {timestamp} exactly once, e.g. "{timestamp}.{body}"`
    return undefined
  })
)

/**
 * A signed timestamp: where it is, its format, how far from the request's arrival it may be,
 * and how it is combined with the body before signing.
 *
 * @since 0.1.0
 */
export const SignedTimestamp = Schema.Struct({
  header: HeaderName,
  format: Schema.Literal("unix-seconds", "unix-millis", "iso").annotations({
    message: (issue) => ({
      message: `${actual(issue)} is not a timestamp format; use "unix-seconds", "unix-millis" or "iso"`,
      override: true
    })
  }),
  toleranceSeconds: Schema.Int.pipe(
    Schema.between(1, 86_400, { message: () => "toleranceSeconds is a whole number of seconds between 1 and 86400" })
  ),
  signedPayload: Schema.optionalWith(SignedPayload, { default: () => "{timestamp}.{body}", exact: true })
})

/**
 * How the partner signs: HMAC-SHA256 over the raw body (or over `signedPayload` when a
 * timestamp is signed), hex or base64, in `header`, after an optional `prefix` (e.g.
 * `sha256=`). A header may carry several signatures separated by commas or spaces (secret
 * rotation on the partner's side); one match is enough.
 *
 * @since 0.1.0
 */
export const Signature = Schema.Struct({
  algorithm: Schema.Literal("hmac-sha256").annotations({
    message: (issue) => ({ message: `${actual(issue)} is not a supported algorithm; use "hmac-sha256"`, override: true })
  }),
  encoding: Schema.Literal("hex", "base64").annotations({
    message: (issue) => ({ message: `${actual(issue)} is not a signature encoding; use "hex" or "base64"`, override: true })
  }),
  header: HeaderName,
  prefix: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64)), { exact: true }),
  secret: Schema.propertySignature(Secret).annotations({
    missingMessage: () => `missing signature secret: give the secret (at least ${minSecretLength} characters) or { "env": "NAME" }`
  }),
  timestamp: Schema.optionalWith(SignedTimestamp, { exact: true })
})
/**
 * A validated signature scheme.
 *
 * @since 0.1.0
 */
export type Signature = typeof Signature.Type

/**
 * How a zone-less time finds its zone from a country: `country` reads the event's country (the
 * scan's own location), `zones` maps ISO 3166-1 alpha-2 codes to IANA zones.
 *
 * `domesticCountry` (optional, at least two paths, e.g. the shipment's origin and destination
 * country) is used only when `country` finds nothing: when every one of its paths is present and
 * they all name the same country, the shipment is domestic and its events are in that country.
 * When they name different countries whose zones read the time as the same instant (DE→AT: one
 * civil time on both sides, daylight saving included), that instant is used: nothing is guessed.
 * When one is missing or their zones differ (DE→GB), no country is guessed and the time falls to
 * `policy` (with `RequireZone`, the event is refused as `Invalid`).
 *
 * Do not list a shipment-level country (the origin's) as an alternative in `country`: it is then
 * used for every event without a country, on cross-border shipments too, where it is a guess.
 *
 * @since 0.2.0
 */
export const ZoneByCountry = Schema.Struct({
  country: FieldSpec,
  domesticCountry: Schema.optionalWith(
    FieldSpec.pipe(
      Schema.filter((spec) =>
        typeof spec !== "string" && spec.length >= 2
          ? undefined
          : "domesticCountry lists at least two paths that must name the same country (e.g. the shipment's origin and destination country)"
      )
    ),
    { exact: true }
  ),
  zones: Schema.Record({ key: Schema.String, value: TimePolicy.ZoneName }).pipe(
    Schema.filter((zones) =>
      Object.keys(zones)
        .filter((k) => !/^[A-Z]{2}$/.test(k))
        .map((k) => ({ path: [k], message: `"${k}" is not a country key; use an ISO 3166-1 alpha-2 code, e.g. DE` }))
    )
  )
})

/**
 * The event time: where it is, its format (`iso` strings through core `TimePolicy`, or epoch
 * `unix-seconds` / `unix-millis`), and the explicit policy for times without a zone. With
 * `zoneByCountry`, a zone-less time is read in the zone of the event's country (or, with
 * `domesticCountry`, of a domestic shipment's country) when the table has it, else under
 * `policy`.
 *
 * @since 0.1.0
 */
export const OccurredAt = Schema.Struct({
  path: FieldSpec,
  format: Schema.optionalWith(
    Schema.Literal("iso", "unix-seconds", "unix-millis").annotations({
      message: (issue) => ({
        message: `${actual(issue)} is not a time format; use "iso", "unix-seconds" or "unix-millis"`,
        override: true
      })
    }),
    { default: () => "iso" as const, exact: true }
  ),
  policy: TimePolicy.TimePolicy,
  zoneByCountry: Schema.optionalWith(ZoneByCountry, { exact: true })
})

/**
 * Where the scan happened.
 *
 * @since 0.1.0
 */
export const LocationFields = Schema.Struct({
  facility: Schema.optionalWith(FieldSpec, { exact: true }),
  city: Schema.optionalWith(FieldSpec, { exact: true }),
  region: Schema.optionalWith(FieldSpec, { exact: true }),
  postalCode: Schema.optionalWith(FieldSpec, { exact: true }),
  country: Schema.optionalWith(FieldSpec, { exact: true })
})

/**
 * A weight unit `defaultUnit` may name.
 *
 * @since 0.1.0
 */
export const WeightUnit = Schema.Literal("g", "kg", "lb", "oz").annotations({
  message: (issue) => ({ message: `${actual(issue)} is not a weight unit; use "g", "kg", "lb" or "oz"`, override: true })
})

/**
 * A weight: its value (number or numeric string) and its unit, read from `unit` (g, kg, lb,
 * lbs, oz, gram(s), kilogram(s), pound(s), ounce(s); any case) or fixed by `defaultUnit`.
 * Converted to whole grams with core `Weight.fromUnit`; attached to status events.
 *
 * @since 0.1.0
 */
export const WeightFields = Schema.Struct({
  value: FieldSpec,
  unit: Schema.optionalWith(FieldSpec, { exact: true }),
  defaultUnit: Schema.optionalWith(WeightUnit, { exact: true })
}).pipe(Schema.filter((w) => w.unit !== undefined || w.defaultUnit !== undefined || "a weight needs unit or defaultUnit"))

/**
 * Which payload fields carry what. Only `trackingNumber`, `occurredAt` and `code` are required.
 * Without `id`, each event gets a deterministic content hash (sha256 of source, tracking
 * number, code, subcode, UTC time and location) so a repeated webhook dedupes.
 *
 * @since 0.1.0
 */
export const Fields = Schema.Struct({
  id: Schema.optionalWith(FieldSpec, { exact: true }),
  trackingNumber: FieldSpec,
  carrier: Schema.optionalWith(FieldSpec, { exact: true }),
  occurredAt: OccurredAt,
  code: FieldSpec,
  subcode: Schema.optionalWith(FieldSpec, { exact: true }),
  description: Schema.optionalWith(FieldSpec, { exact: true }),
  location: Schema.optionalWith(LocationFields, { exact: true }),
  weight: Schema.optionalWith(WeightFields, { exact: true }),
  pod: Schema.optionalWith(
    Schema.Struct({
      signedBy: Schema.optionalWith(FieldSpec, { exact: true }),
      evidenceUrl: Schema.optionalWith(FieldSpec, { exact: true })
    }),
    { exact: true }
  ),
  retracts: Schema.optionalWith(FieldSpec, { exact: true }),
  /**
   * A flag saying the shipment is a return to its sender (DHL's `returnFlag`): `true` (or the
   * text `"true"`) turns a `delivered` event into `returned`, the parcel delivered back to the
   * sender, never the consignee's delivery (no POD). `false` or nothing there changes nothing;
   * any other value makes the event unreadable.
   *
   * @since 0.2.0
   */
  returnFlag: Schema.optionalWith(FieldSpec, { exact: true })
})

/**
 * Guards against oversized or runaway payloads.
 *
 * @since 0.1.0
 */
export const Limits = Schema.Struct({
  maxBodyBytes: Schema.optionalWith(
    Schema.Int.pipe(Schema.between(1, 16 * 1024 * 1024, { message: () => "maxBodyBytes is between 1 and 16777216" })),
    { default: () => 1024 * 1024, exact: true }
  ),
  maxEvents: Schema.optionalWith(
    Schema.Int.pipe(Schema.between(1, 10_000, { message: () => "maxEvents is between 1 and 10000" })),
    { default: () => 1000, exact: true }
  )
})

const fieldSpecs = (
  fields: typeof Fields.Type
): ReadonlyArray<readonly [ReadonlyArray<string | number>, FieldSpec]> => {
  const out: Array<readonly [ReadonlyArray<string | number>, FieldSpec]> = []
  const add = (path: ReadonlyArray<string | number>, spec: FieldSpec | undefined) => {
    if (spec !== undefined) out.push([path, spec])
  }
  add(["fields", "id"], fields.id)
  add(["fields", "trackingNumber"], fields.trackingNumber)
  add(["fields", "carrier"], fields.carrier)
  add(["fields", "occurredAt", "path"], fields.occurredAt.path)
  add(["fields", "occurredAt", "zoneByCountry", "country"], fields.occurredAt.zoneByCountry?.country)
  add(["fields", "occurredAt", "zoneByCountry", "domesticCountry"], fields.occurredAt.zoneByCountry?.domesticCountry)
  add(["fields", "code"], fields.code)
  add(["fields", "subcode"], fields.subcode)
  add(["fields", "description"], fields.description)
  for (const k of ["facility", "city", "region", "postalCode", "country"] as const) {
    add(["fields", "location", k], fields.location?.[k])
  }
  add(["fields", "weight", "value"], fields.weight?.value)
  add(["fields", "weight", "unit"], fields.weight?.unit)
  add(["fields", "pod", "signedBy"], fields.pod?.signedBy)
  add(["fields", "pod", "evidenceUrl"], fields.pod?.evidenceUrl)
  add(["fields", "retracts"], fields.retracts)
  add(["fields", "returnFlag"], fields.returnFlag)
  return out
}

const ruleKey = (code: string, subcode: string | undefined, caseInsensitive: boolean): string => {
  const norm = (s: string) => (caseInsensitive ? s.trim().toLowerCase() : s.trim())
  return subcode === undefined ? `${norm(code)}\u0000` : `${norm(code)}\u0000${norm(subcode)}`
}

/**
 * A partner mapping config. See the package README and `docs/guides/onboarding-a-carrier.md`.
 *
 * @since 0.1.0
 */
export const MappingConfig = Schema.Struct({
  version: Schema.Literal(1).annotations({
    message: (issue) => ({ message: `version must be 1, not ${actual(issue)}`, override: true })
  }),
  /** The `source` of every event, e.g. `wms:acme`, `dhl`. */
  source: ShipmentEvent.Source,
  /** The carrier put on every observation (unless `fields.carrier` reads one from the payload). */
  carrier: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)), { exact: true }),
  description: Schema.optionalWith(Schema.String.pipe(Schema.maxLength(2000)), { exact: true }),
  limits: Schema.optionalWith(Limits, { default: () => ({ maxBodyBytes: 1024 * 1024, maxEvents: 1000 }), exact: true }),
  signature: Signature,
  events: EventsPath,
  fields: Fields,
  codeMatching: Schema.optionalWith(
    Schema.Literal("exact", "case-insensitive").annotations({
      message: (issue) => ({ message: `${actual(issue)} is not a code matching; use "exact" or "case-insensitive"`, override: true })
    }),
    { default: () => "exact" as const, exact: true }
  ),
  codes: Schema.Array(CodeRule).pipe(Schema.maxItems(5000))
}).pipe(
  Schema.filter((config) => {
    const issues: Array<Schema.FilterIssue> = []
    // `^` levels must exist above the event.
    const levels = Either.match(FieldPath.parse(config.events), {
      onLeft: () => 0,
      onRight: FieldPath.enclosingLevels
    })
    for (const [where, spec] of fieldSpecs(config.fields)) {
      const paths = typeof spec === "string" ? [spec] : spec
      paths.forEach((p, n) => {
        const parsed = FieldPath.parse(p)
        if (Either.isRight(parsed) && parsed.right.scope._tag === "Up" && parsed.right.scope.levels > levels) {
          issues.push({
            path: typeof spec === "string" ? where : [...where, n],
            message: `path "${p}" goes up ${parsed.right.scope.levels} level(s) but events "${config.events}" has only ${levels} enclosing level(s)`
          })
        }
      })
    }
    // One rule per code (+ subcode); a subcode rule needs a subcode to match.
    const seen = new Map<string, number>()
    config.codes.forEach((rule, i) => {
      const key = ruleKey(rule.code, rule.subcode, config.codeMatching === "case-insensitive")
      const first = seen.get(key)
      if (first !== undefined) {
        issues.push({
          path: ["codes", i, "code"],
          message: `duplicate rule for code "${rule.code}"${rule.subcode !== undefined ? ` subcode "${rule.subcode}"` : ""} (first at codes.${first})`
        })
      } else seen.set(key, i)
      if (rule.subcode !== undefined && config.fields.subcode === undefined) {
        issues.push({
          path: ["codes", i, "subcode"],
          message: `the rule for code "${rule.code}" subcode "${rule.subcode}" can never match: set fields.subcode (where the payload has the subcode)`
        })
      }
      if (rule.retracts === true && (config.fields.id === undefined || config.fields.retracts === undefined)) {
        issues.push({
          path: ["codes", i, "retracts"],
          message:
            "a retraction needs fields.id (the partner's event ids) and fields.retracts (the ids it withdraws)"
        })
      }
    })
    return issues
  })
).annotations({ identifier: "MappingConfig" })

/**
 * A validated mapping config.
 *
 * @since 0.1.0
 */
export type MappingConfig = typeof MappingConfig.Type

/**
 * A mapping config as written in JSON (the input of {@link decode}).
 *
 * @since 0.1.0
 */
export type Encoded = typeof MappingConfig.Encoded

const options = { errors: "all", onExcessProperty: "error" } as const

const toValidationError = (method: string) => (error: ParseResult.ParseError) =>
  Validation.ValidationError.fromParseError(error, { schema: "MappingConfig", module: MODULE, method })

/**
 * Validates a config loaded from JSON or YAML. Fails with a `ValidationError` naming every
 * offending key (`fields.occurredAt.policy.zone: unknown time zone "Mars/Olympus"`).
 *
 * @example
 * ```ts
 * import { MappingConfig } from "@waybill/carrier-mapping"
 * const config = yield* MappingConfig.decode(JSON.parse(await readFile("acme.json", "utf8")))
 * ```
 *
 * @since 0.1.0
 */
export const decode = (input: unknown): Effect.Effect<MappingConfig, Validation.ValidationError> =>
  Effect.mapError(Schema.decodeUnknown(MappingConfig, options)(input), toValidationError("decode"))

/**
 * {@link decode} as an `Either`.
 *
 * @since 0.1.0
 */
export const decodeEither = (input: unknown): Either.Either<MappingConfig, Validation.ValidationError> =>
  Either.mapLeft(Schema.decodeUnknownEither(MappingConfig, options)(input), toValidationError("decode"))

/**
 * Parses and validates a config from JSON text.
 *
 * @since 0.1.0
 */
export const decodeJson = (text: string): Effect.Effect<MappingConfig, Validation.ValidationError> =>
  Effect.suspend(() => {
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch (e) {
      return Effect.fail(
        new Validation.ValidationError({
          reason: "Invalid",
          module: MODULE,
          method: "decodeJson",
          schema: "MappingConfig",
          issues: [new Validation.Issue({ path: "", message: `not valid JSON: ${e instanceof Error ? e.message : String(e)}` })]
        })
      )
    }
    return decode(json)
  })

/**
 * Re-checks a config value built in code (a `MappingConfig` literal, or a shipped config edited
 * with a spread) against every rule.
 *
 * @since 0.1.0
 */
export const validate = (config: MappingConfig): Effect.Effect<MappingConfig, Validation.ValidationError> =>
  Effect.mapError(Schema.validate(MappingConfig, { errors: "all" })(config), toValidationError("validate"))

/**
 * The JSON form of a config (secrets given as values are written out; prefer `env`).
 *
 * @since 0.1.0
 */
export const encode = (config: MappingConfig): Encoded => Schema.encodeSync(MappingConfig)(config)

/**
 * A copy of the config with the signing secret given directly (tests, or secrets the host
 * reads itself).
 *
 * @since 0.1.0
 */
export const withSecret = (config: MappingConfig, secret: string | Redacted.Redacted<string>): MappingConfig => ({
  ...config,
  signature: { ...config.signature, secret: typeof secret === "string" ? Redacted.make(secret) : secret }
})

/**
 * The signing secret: the value itself, or the environment variable named by `env`, read with
 * Effect `Config.redacted` (so a test `ConfigProvider` can supply it). Fails with a
 * `ValidationError` at `signature.secret` when it is missing or too short, made only of white
 * space (anyone could sign), or starts or ends with white space (a trailing newline read from a
 * file: the partner keys with the exact secret, so every genuine webhook would be refused; it is
 * not trimmed), as `WebhookSignature.secretProblem` says; never naming the secret.
 *
 * @since 0.1.0
 */
export const resolveSecret = (config: MappingConfig): Effect.Effect<Redacted.Redacted<string>, Validation.ValidationError> => {
  const fail = (path: string, message: string) =>
    new Validation.ValidationError({
      reason: "Invalid",
      module: MODULE,
      method: "resolveSecret",
      schema: "MappingConfig",
      issues: [new Validation.Issue({ path, message })]
    })
  /** The one check of a secret, given or read: no white space at its ends, long enough. */
  const checked = (r: Redacted.Redacted<string>, path: string, what: string, tooShort: string) => {
    const value = Redacted.value(r)
    const problem = WebhookSignature.secretProblem(value)
    return problem !== undefined
      ? Effect.fail(fail(path, `${what} ${problem}`))
      : value.length >= minSecretLength
      ? Effect.succeed(r)
      : Effect.fail(fail(path, tooShort))
  }
  const secret = config.signature.secret
  if (Redacted.isRedacted(secret)) {
    return checked(secret, "signature.secret", "the signature secret", `a signature secret must be at least ${minSecretLength} characters`)
  }
  const what = `the signature secret in ${secret.env}`
  return Config.redacted(secret.env).pipe(
    Effect.mapError(() => fail("signature.secret.env", `missing signature secret: environment variable ${secret.env} is not set`)),
    Effect.flatMap((r) => checked(r, "signature.secret.env", what, `${what} must be at least ${minSecretLength} characters`))
  )
}
