/**
 * Verifying signed webhooks: HMAC-SHA256 over the raw body bytes (or over several parts, such
 * as a signed timestamp and the body), sent hex- or base64-encoded in a header, optionally
 * after a prefix (`sha256=`, `hmac-sha256-hex=`), compared in constant time.
 *
 * Four levels, from the most to the least packaged:
 *
 * - {@link webhook}: a vendor's whole webhook module (`verify`, `parse`, `verifyAndParse` and
 *   its `Verified` requests) from its signature headers and a payload decoder; with a decoder
 *   that reads event by event (`decodeEach`), also `parseEach` and `verifyAndParseEach`, which
 *   `CarrierAdapter.inbound` passes on as the port's `parseEach`.
 * - {@link verify}: the whole check of one request (body size, the first signature header
 *   present, its signature), failing with a `CarrierError` that names what is wrong and carries
 *   {@link evidence} (the body's size and SHA-256, the header names: never the body or the
 *   secret). With {@link verifiedFor} and {@link parseJson} it is what `webhook` is made of.
 * - {@link check}: one header value against a message and a secret, as an {@link Outcome}
 *   (`Valid`, `Missing`, `TooLong`, `NoPrefix`, `Malformed`, `Mismatch`) for adapters that word
 *   their own errors or check more (a signed timestamp).
 * - {@link digest}, {@link sign}, {@link header}, {@link tooLarge}: the pieces.
 *
 * @example
 * ```ts
 * import { WebhookSignature } from "@waybill/core"
 *
 * const scheme: WebhookSignature.Scheme = { encoding: "hex", prefix: "sha256=" }
 * const AcmeWebhook = WebhookSignature.webhook({
 *   module: "AcmeWebhook",
 *   source: "acme",
 *   headers: [{ name: "x-acme-signature", scheme }],
 *   decode: (json, options) => AcmeTracking.fromPayload(json, options)
 * })
 * const observations = yield* AcmeWebhook.verifyAndParse(request, { secret: Redacted.make("…") })
 * // A sender (or a test) signs the same way:
 * const headers = { "x-acme-signature": WebhookSignature.sign(body, "the-secret", scheme) }
 * ```
 *
 * @since 0.1.0
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as CarrierPort from "./CarrierPort.js"
import type * as Instant from "./Instant.js"
import { nestedDeeperThan } from "./internal/jsonDepth.js"
import * as PortError from "./PortError.js"
import type * as TimePolicy from "./TimePolicy.js"

/**
 * How the digest is written in the header.
 *
 * @since 0.1.0
 */
export type Encoding = "hex" | "base64"

/**
 * A signature scheme: how the sender keys the HMAC and writes the digest.
 *
 * @since 0.1.0
 */
export interface Scheme {
  /** `hex` (64 characters, either case) or `base64` (32 bytes). */
  readonly encoding: Encoding
  /** Text before the digest, e.g. `sha256=`; required when given unless `prefixOptional`. */
  readonly prefix?: string | undefined
  /** Accept the prefix in any letter case (default: exactly as given). */
  readonly ignorePrefixCase?: boolean | undefined
  /** Accept the digest with or without the prefix (default: the prefix is required). */
  readonly prefixOptional?: boolean | undefined
  /**
   * `canonical` (default): base64 exactly as the sender's library writes it (standard alphabet,
   * `=` padding); `lenient`: also the URL-safe alphabet and a missing `=`.
   */
  readonly base64?: "canonical" | "lenient" | undefined
  /**
   * The header may carry several signatures separated by commas or white space (a sender
   * rotating its secret signs with both); one matching is enough. Default: one signature, the
   * whole trimmed header value.
   */
  readonly several?: boolean | undefined
  /** Unicode-normalize a text secret before keying with its UTF-8 bytes (EasyPost: `NFKD`). */
  readonly normalizeSecret?: "NFC" | "NFD" | "NFKC" | "NFKD" | undefined
  /** Longer header values are refused unread (default 4096 characters). */
  readonly maxLength?: number | undefined
}

/**
 * What is signed: the raw body, or parts hashed one after the other (e.g. a timestamp, `.`,
 * the body). Text is hashed as UTF-8.
 *
 * @since 0.1.0
 */
export type Message = Uint8Array | string | ReadonlyArray<Uint8Array | string>

/**
 * The secret: text (keyed with its UTF-8 bytes, after `normalizeSecret`) or raw bytes.
 *
 * @since 0.1.0
 */
export type Secret = string | Uint8Array

const partsOf = (message: Message): ReadonlyArray<Uint8Array | string> =>
  typeof message === "string" || message instanceof Uint8Array ? [message] : message

/**
 * The raw HMAC-SHA256 (32 bytes) of a message.
 *
 * @since 0.1.0
 */
export const digest = (
  message: Message,
  secret: Secret,
  scheme: Pick<Scheme, "normalizeSecret"> = {}
): Buffer => {
  const key = typeof secret === "string"
    ? Buffer.from(scheme.normalizeSecret !== undefined ? secret.normalize(scheme.normalizeSecret) : secret, "utf8")
    : secret
  const mac = createHmac("sha256", key)
  for (const part of partsOf(message)) {
    if (typeof part === "string") mac.update(part, "utf8")
    else mac.update(part)
  }
  return mac.digest()
}

/**
 * The header value a sender writes: the prefix (if any) and the encoded digest.
 *
 * @example
 * ```ts
 * WebhookSignature.sign(body, "sécret", { encoding: "hex", prefix: "hmac-sha256-hex=", normalizeSecret: "NFKD" })
 * // "hmac-sha256-hex=e4e7…"
 * ```
 *
 * @since 0.1.0
 */
export const sign = (message: Message, secret: Secret, scheme: Scheme): string =>
  `${scheme.prefix ?? ""}${digest(message, secret, scheme).toString(scheme.encoding)}`

/**
 * The result of {@link check}: `Valid`, or why not. `Missing`: no value or a blank one;
 * `TooLong`: longer than `maxLength`; `NoPrefix`: no signature carries the required prefix;
 * `Malformed`: none is an encoded 32-byte digest; `Mismatch`: none matches.
 *
 * @since 0.1.0
 */
export type Outcome = "Valid" | "Missing" | "TooLong" | "NoPrefix" | "Malformed" | "Mismatch"

const HEX = /^[0-9a-fA-F]{64}$/
const BASE64_LENIENT = /^[A-Za-z0-9+/_-]{43}={0,1}$/

const startsWith = (text: string, prefix: string, ignoreCase: boolean): boolean =>
  ignoreCase ? text.slice(0, prefix.length).toLowerCase() === prefix.toLowerCase() : text.startsWith(prefix)

/** The digest text of one signature once its prefix is taken off, or undefined if it lacks one. */
const withoutPrefix = (token: string, scheme: Scheme): string | undefined => {
  const prefix = scheme.prefix
  if (prefix === undefined || prefix === "") return token
  if (startsWith(token, prefix, scheme.ignorePrefixCase === true)) return token.slice(prefix.length)
  return scheme.prefixOptional === true ? token : undefined
}

const decodeDigest = (text: string, scheme: Scheme): Buffer | undefined => {
  if (scheme.encoding === "hex") return HEX.test(text) ? Buffer.from(text, "hex") : undefined
  if (scheme.base64 === "lenient") {
    if (!BASE64_LENIENT.test(text)) return undefined
    const bytes = Buffer.from(text, "base64")
    return bytes.length === 32 ? bytes : undefined
  }
  const bytes = Buffer.from(text, "base64")
  return bytes.length === 32 && bytes.toString("base64") === text ? bytes : undefined
}

/**
 * Checks one header value: that it carries a well-formed signature (see {@link Scheme}) equal
 * to the HMAC-SHA256 of `message` keyed with `secret`. The comparison of digests is constant
 * time; the digest is computed only for a well-formed signature.
 *
 * @since 0.1.0
 */
export const check = (value: string | undefined, message: Message, secret: Secret, scheme: Scheme): Outcome => {
  if (value === undefined || value.trim() === "") return "Missing"
  if (value.length > (scheme.maxLength ?? 4096)) return "TooLong"
  const tokens = scheme.several === true ? value.split(/[\s,]+/).filter((t) => t.length > 0) : [value.trim()]
  const candidates: Array<string> = []
  for (const token of tokens) {
    const rest = withoutPrefix(token, scheme)
    if (rest !== undefined) candidates.push(rest)
  }
  if (candidates.length === 0) return "NoPrefix"
  const decoded: Array<Buffer> = []
  for (const candidate of candidates) {
    const bytes = decodeDigest(candidate, scheme)
    if (bytes !== undefined) decoded.push(bytes)
  }
  if (decoded.length === 0) return "Malformed"
  const expected = digest(message, secret, scheme)
  let valid = false
  for (const bytes of decoded) if (timingSafeEqual(bytes, expected)) valid = true
  return valid ? "Valid" : "Mismatch"
}

const own = (record: object, key: string): boolean => Object.prototype.hasOwnProperty.call(record, key)

/**
 * A header's value, whatever the case of its name in `headers` (an `InboundRequest` has them
 * in lower case; hand-built requests may not). Only own, text-valued entries count.
 *
 * @since 0.1.0
 */
export const header = (headers: Readonly<Record<string, string>>, name: string): string | undefined => {
  if (own(headers, name)) {
    const direct: unknown = headers[name]
    return typeof direct === "string" ? direct : undefined
  }
  const lower = name.toLowerCase()
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === lower && typeof v === "string") return v
  return undefined
}

/**
 * Request headers that carry the credentials of the receiving endpoint rather than a webhook
 * signature (basic auth set as an EasyPost custom header, a gateway's API key, a session
 * cookie), in lower case. No adapter reads them, so `Worker.publish` drops them before a raw
 * request is stored (on the transport, then in the dead letters), and a mapping config may not
 * name one as its signature or timestamp header.
 *
 * @since 0.2.0
 */
export const credentialHeaders: ReadonlySet<string> = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "x-api-key",
  "api-key",
  "x-auth-token"
])

/**
 * Whether a header name (in any case) is one of the {@link credentialHeaders}.
 *
 * @since 0.2.0
 */
export const isCredentialHeader = (name: string): boolean => credentialHeaders.has(name.toLowerCase())

/**
 * The headers without the {@link credentialHeaders}.
 *
 * @since 0.2.0
 */
export const withoutCredentials = (headers: Readonly<Record<string, string>>): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => !isCredentialHeader(name)))

/**
 * `body is N bytes, more than the M allowed` when the body is larger than `maxBodyBytes`
 * (checked before any other work), else `undefined`.
 *
 * @since 0.1.0
 */
export const tooLarge = (body: Uint8Array, maxBodyBytes: number): string | undefined =>
  body.byteLength > maxBodyBytes ? `body is ${body.byteLength} bytes, more than the ${maxBodyBytes} allowed` : undefined

/**
 * What a rejected request leaves in its error's `cause`, enough to find it in logs and match
 * it with the sender's records without keeping its content: the source, the body's size and
 * SHA-256, and the header names (sorted). Never the body, a header value or the secret.
 *
 * @since 0.1.0
 */
export const evidence = (
  request: CarrierPort.InboundRequest,
  source: string
): {
  readonly source: string
  readonly bodyBytes: number
  readonly bodySha256: string
  readonly headers: ReadonlyArray<string>
} => ({
  source,
  bodyBytes: request.body.byteLength,
  bodySha256: createHash("sha256").update(request.body).digest("hex"),
  headers: Object.keys(request.headers).sort()
})

/**
 * A `CarrierError` about an inbound request, with its {@link evidence} as `cause`.
 *
 * @since 0.1.0
 */
export const failure = (
  request: CarrierPort.InboundRequest,
  options: {
    readonly module: string
    readonly method: string
    readonly source: string
    readonly reason: PortError.Reason
    readonly status: number
    readonly description: string
  }
): PortError.CarrierError =>
  new PortError.CarrierError({
    reason: options.reason,
    module: options.module,
    method: options.method,
    description: options.description,
    status: options.status,
    cause: evidence(request, options.source)
  })

/**
 * A signature header an adapter reads, and its scheme.
 *
 * @since 0.1.0
 */
export interface SignatureHeader {
  /** The header name, in lower case. */
  readonly name: string
  readonly scheme: Scheme
}

/**
 * What {@link verify} checks a request against.
 *
 * @since 0.1.0
 */
export interface Spec {
  /** The adapter module named in errors, e.g. `EasyPostWebhook`. */
  readonly module: string
  /** The event source, for the evidence. */
  readonly source: string
  readonly secret: Redacted.Redacted<string>
  readonly maxBodyBytes: number
  /**
   * The signature headers, preferred first: the first one present (not blank, and not just its
   * optional prefix) is checked, e.g. a vendor's current header and then its legacy one.
   */
  readonly headers: readonly [SignatureHeader, ...Array<SignatureHeader>]
}

const isPresent = (value: string | undefined, scheme: Scheme): value is string => {
  if (value === undefined) return false
  const trimmed = value.trim()
  if (trimmed === "") return false
  if (scheme.prefixOptional === true && scheme.prefix !== undefined) {
    return withoutPrefix(trimmed, scheme) !== ""
  }
  return true
}

/**
 * What is wrong with a configured webhook secret, or `undefined` when nothing is: `is not set`
 * (not text, e.g. `Redacted.make(process.env.UNSET!)`), `is empty`, `is only white space` (as
 * guessable as an empty key: anyone could sign), or `starts or ends with white space (a
 * trailing newline from a file?)`. The last is refused rather than trimmed: EasyPost and
 * AfterShip key the HMAC with the secret's exact UTF-8 bytes and document no trimming, so a
 * silent trim could turn a working key into another. Never shows the secret.
 *
 * @since 0.2.0
 */
export const secretProblem = (secret: unknown): string | undefined => {
  if (typeof secret !== "string") return "is not set"
  if (secret === "") return "is empty"
  const trimmed = secret.trim()
  if (trimmed === "") return "is only white space"
  if (trimmed !== secret) return "starts or ends with white space (a trailing newline from a file?)"
  return undefined
}

/**
 * Checks a request: the body size (`Invalid`, HTTP 413, `body is N bytes, more than the M
 * allowed`), that a secret is configured (an empty one refuses every request: `Unauthorized`,
 * HTTP 401, `no webhook secret is configured: every request is refused`; so does one that is
 * only white space or starts or ends with it, `the webhook secret <problem>: every request is
 * refused`, see {@link secretProblem}), then the first
 * signature header present (`Unauthorized`, HTTP 401: `missing <h>
 * header`, `missing <h> (or <h2>) header`, `<h> header does not start with <prefix>`, or
 * `<h> does not match the body and the webhook secret`). Errors carry the request's
 * {@link evidence}; the method is `verify`.
 *
 * @since 0.1.0
 */
export const verify = (request: CarrierPort.InboundRequest, spec: Spec): Effect.Effect<void, PortError.CarrierError> =>
  Effect.suspend(() => {
    const fail = (reason: "Invalid" | "Unauthorized", status: number, description: string) =>
      Effect.fail(failure(request, { module: spec.module, method: "verify", source: spec.source, reason, status, description }))
    const oversized = tooLarge(request.body, spec.maxBodyBytes)
    if (oversized !== undefined) return fail("Invalid", 413, oversized)
    // An empty key is public: with it, anyone could sign a request. Fail closed, also on a
    // secret that is not text at all (`Redacted.make(process.env.UNSET!)`), on one of only white
    // space (as guessable), and on one with white space at an end (a newline read with it from
    // a file: never trimmed, as the vendors key with the exact bytes; refused, saying why).
    const secret: unknown = Redacted.value(spec.secret)
    const problem = secretProblem(secret)
    if (problem !== undefined || typeof secret !== "string") {
      return fail(
        "Unauthorized",
        401,
        problem === "is empty" || problem === "is not set"
          ? "no webhook secret is configured: every request is refused"
          : `the webhook secret ${problem}: every request is refused`
      )
    }
    let chosen: { readonly header: SignatureHeader; readonly value: string } | undefined
    for (const h of spec.headers) {
      const value = header(request.headers, h.name)
      if (isPresent(value, h.scheme)) {
        chosen = { header: h, value }
        break
      }
    }
    if (chosen === undefined) {
      const [first, ...rest] = spec.headers
      return fail("Unauthorized", 401, `missing ${first.name}${rest.length > 0 ? ` (or ${rest.map((h) => h.name).join(", ")})` : ""} header`)
    }
    const { name, scheme } = chosen.header
    switch (check(chosen.value, request.body, secret, scheme)) {
      case "Valid":
        return Effect.void
      case "NoPrefix":
        return fail("Unauthorized", 401, `${name} header does not start with ${scheme.prefix ?? ""}`)
      default:
        return fail("Unauthorized", 401, `${name} does not match the body and the webhook secret`)
    }
  })

declare const VerifiedTypeId: unique symbol

/**
 * A request that an adapter's `verify` checked. Only that adapter's {@link VerifiedKind.make}
 * makes one (its constructor refuses any other caller), so a parser taking `Verified` cannot
 * be handed an unverified request; `Owner` keeps one adapter's proof from passing for
 * another's.
 *
 * @since 0.1.0
 */
export interface Verified<Owner extends string> {
  readonly [VerifiedTypeId]: Owner
  readonly request: CarrierPort.InboundRequest
}

/**
 * The constructor of an adapter's {@link Verified} requests: it throws unless called with the
 * adapter's private key, i.e. by {@link VerifiedKind.make}.
 *
 * @since 0.1.0
 */
export interface VerifiedConstructor<Owner extends string> {
  new(key: symbol, request: CarrierPort.InboundRequest): Verified<Owner>
}

/**
 * An adapter's kind of {@link Verified} request: the class (to export, e.g. as
 * `EasyPostWebhook.Verified`) and the only way to make one.
 *
 * @since 0.1.0
 */
export interface VerifiedKind<Owner extends string> {
  readonly Verified: VerifiedConstructor<Owner>
  /** Call only after the request was verified. */
  readonly make: (request: CarrierPort.InboundRequest) => Verified<Owner>
}

/**
 * Makes an adapter's kind of {@link Verified} request; `owner` names the adapter module in the
 * error a forged construction throws (`<owner>.Verified is made only by <owner>.verify`).
 *
 * @since 0.1.0
 */
export const verifiedFor = <Owner extends string>(owner: Owner): VerifiedKind<Owner> => {
  const key = Symbol(`${owner}/Verified`)
  class VerifiedRequest {
    constructor(token: symbol, readonly request: CarrierPort.InboundRequest) {
      if (token !== key) throw new Error(`${owner}.Verified is made only by ${owner}.verify`)
    }
  }
  const Verified = VerifiedRequest as unknown as VerifiedConstructor<Owner>
  return { Verified, make: (request) => new Verified(key, request) }
}

/**
 * The deepest nesting of arrays and objects {@link parseJson} reads. Vendor payloads nest a
 * handful of levels; a deeper body is refused before it is parsed, since describing what is
 * wrong in it (a schema error showing the value) would overflow the stack.
 *
 * @since 0.2.0
 */
export const maxJsonDepth = 64

/**
 * Parses a verified request's body as UTF-8 JSON and hands it to `decode`. A body that is not
 * UTF-8 JSON fails with `Invalid`, HTTP 400, `body is not UTF-8 JSON: …`, one nested deeper
 * than {@link maxJsonDepth} with `body is nested more than 64 levels deep`; a failure of
 * `decode` keeps its reason and description and gets HTTP 400, this module and method `parse`,
 * and the request's {@link evidence}.
 *
 * @since 0.1.0
 */
export const parseJson = <A>(
  request: CarrierPort.InboundRequest,
  where: { readonly module: string; readonly source: string },
  decode: (json: unknown) => Effect.Effect<A, PortError.CarrierError>
): Effect.Effect<A, PortError.CarrierError> =>
  Effect.suspend(() => {
    const invalid = (description: string) =>
      Effect.fail(failure(request, { ...where, method: "parse", reason: "Invalid", status: 400, description }))
    let json: unknown
    try {
      const text = new TextDecoder("utf-8", { fatal: true }).decode(request.body)
      if (nestedDeeperThan(text, maxJsonDepth)) return invalid(`body is nested more than ${maxJsonDepth} levels deep`)
      json = JSON.parse(text)
    } catch (error) {
      return invalid(`body is not UTF-8 JSON: ${jsonProblem(error)}`)
    }
    return Effect.mapError(decode(json), (e) =>
      failure(request, { ...where, method: "parse", reason: e.reason, status: 400, description: e.description }))
  })

/**
 * What is wrong with text that is not JSON (or not UTF-8), without quoting it: Node's
 * `JSON.parse` message quotes the text's first characters (`Unexpected token 'J', "Jane Doe,
 * "... is not valid JSON`), which in a webhook body may be a name or an address, and the
 * description goes to logs and dead-letter reasons. The quoted part (and the offending
 * character) is left out; messages that quote nothing (a position, an early end) are kept.
 *
 * @example
 * ```ts
 * import { WebhookSignature } from "@waybill/core"
 * try {
 *   JSON.parse("Jane Doe, 12 Privet Drive")
 * } catch (e) {
 *   WebhookSignature.jsonProblem(e) // "Unexpected token (not valid JSON)"
 * }
 * ```
 *
 * @since 0.2.0
 */
export const jsonProblem = (error: unknown): string => {
  const message = error instanceof Error ? error.message : String(error)
  const quoting = /^(Unexpected (?:token|non-whitespace character after JSON))\b.*is not valid JSON$/s.exec(message)
  if (quoting !== null) return `${quoting[1]} (not valid JSON)`
  // Any other message that quotes text: only its first words, before the quote.
  const quote = message.search(/["']/)
  return quote < 0 ? message : `${message.slice(0, quote).replace(/[\s,:]+$/, "")} (not valid JSON)`
}

/**
 * The largest body a webhook accepts unless told otherwise: 1 MiB.
 *
 * @since 0.1.0
 */
export const defaultMaxBodyBytes = 1024 * 1024

/**
 * What a host tells a vendor's webhook module.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The webhook secret configured at the vendor. */
  readonly secret: Redacted.Redacted<string>
  /** The `source` of the events (default: the vendor's, e.g. `easypost`). */
  readonly source?: string | undefined
  /** Bodies larger than this are refused before any work (default 1 MiB). */
  readonly maxBodyBytes?: number | undefined
  /** What a time without a zone means (default `AssumeUtc`). */
  readonly timePolicy?: TimePolicy.TimePolicy | undefined
}

/**
 * What a payload decoder is told: the event source, the time policy and when the request
 * arrived.
 *
 * @since 0.1.0
 */
export interface PayloadOptions {
  readonly source: string
  readonly timePolicy: TimePolicy.TimePolicy
  readonly receivedAt: Instant.Instant
}

/**
 * A vendor's webhook: how it signs and how its payload reads.
 *
 * @since 0.1.0
 */
export interface WebhookSpec<Owner extends string, O extends Options = Options> {
  /** The module named in errors and in the `Verified` token, e.g. `EasyPostWebhook`. */
  readonly module: Owner
  /** The default event source, e.g. `easypost`. */
  readonly source: string
  /** The signature headers, preferred first (see {@link Spec}). */
  readonly headers: readonly [SignatureHeader, ...Array<SignatureHeader>]
  /**
   * What a time without a zone means when the host's options say nothing (default `AssumeUtc`).
   *
   * @since 0.2.0
   */
  readonly timePolicy?: TimePolicy.TimePolicy | undefined
  /**
   * Turns the JSON body into observations; fails with a typed `CarrierError`. Besides the
   * payload options it gets the vendor's own options (`O` beyond {@link Options}) as the host
   * gave them.
   */
  readonly decode: (
    json: unknown,
    options: PayloadOptions & Omit<O, keyof Options>
  ) => Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError>
  /**
   * `decode`, event by event (optional): the observations of the events that can be read, and
   * one line naming each event that cannot, by its path in the body, never quoting a personal
   * value (`CarrierPort.Parsed`). It fails, as `decode` does, only for what concerns the payload
   * as a whole (not the expected shape, no tracking number). Given it, the module also has
   * `parseEach` and `verifyAndParseEach` ({@link WebhookEach}).
   *
   * @since 0.2.0
   */
  readonly decodeEach?: (
    json: unknown,
    options: PayloadOptions & Omit<O, keyof Options>
  ) => Effect.Effect<CarrierPort.Parsed, PortError.CarrierError>
}

/**
 * A vendor's webhook module.
 *
 * @since 0.1.0
 */
export interface Webhook<Owner extends string, O extends Options = Options> {
  /** The class of this vendor's verified requests (only `verify` makes one). */
  readonly Verified: VerifiedConstructor<Owner>
  /** Checks the body size and the signature (see {@link verify}). */
  readonly verify: (
    request: CarrierPort.InboundRequest,
    options: O
  ) => Effect.Effect<Verified<Owner>, PortError.CarrierError>
  /** Parses a verified request's JSON body (see {@link parseJson}). */
  readonly parse: (
    verified: Verified<Owner>,
    options: Omit<O, "secret">
  ) => Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError>
  /** Verifies, then parses: the only way a carrier port should read a webhook. */
  readonly verifyAndParse: (
    request: CarrierPort.InboundRequest,
    options: O
  ) => Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError>
}

/**
 * A vendor's webhook module that also reads a request event by event (its spec has
 * `decodeEach`): `parseEach` and `verifyAndParseEach` give the events that can be read and name
 * the others (`CarrierPort.Parsed`) where `parse` and `verifyAndParse` refuse the whole request.
 * They fail as those do for what concerns the request as a whole: the size and the signature
 * (`verify`, unchanged), a body that is not JSON and a payload of the wrong shape (method
 * `parse`, HTTP 400, with the request's {@link evidence}).
 *
 * @since 0.2.0
 */
export interface WebhookEach<Owner extends string, O extends Options = Options> extends Webhook<Owner, O> {
  /** Parses a verified request's JSON body event by event (see {@link WebhookSpec.decodeEach}). */
  readonly parseEach: (
    verified: Verified<Owner>,
    options: Omit<O, "secret">
  ) => Effect.Effect<CarrierPort.Parsed, PortError.CarrierError>
  /** Verifies, then parses event by event: what `CarrierAdapter.inbound` makes the port's `parseEach`. */
  readonly verifyAndParseEach: (
    request: CarrierPort.InboundRequest,
    options: O
  ) => Effect.Effect<CarrierPort.Parsed, PortError.CarrierError>
}

/**
 * Makes a vendor's webhook module: `verify` checks the size and the signature and returns a
 * `Verified` request, `parse` takes only such a request and hands its JSON to `decode` (time
 * policy: the host's, else the spec's, else `AssumeUtc`; with the vendor's own options), and
 * `verifyAndParse` does both. With `decodeEach` the module is a {@link WebhookEach}:
 * `parseEach` and `verifyAndParseEach` do the same with `decodeEach`, and log a warning when
 * some events cannot be read (their count and the first line).
 *
 * @since 0.1.0
 */
export function webhook<Owner extends string, O extends Options = Options>(
  spec: WebhookSpec<Owner, O> & { readonly decodeEach: NonNullable<WebhookSpec<Owner, O>["decodeEach"]> }
): WebhookEach<Owner, O>
export function webhook<Owner extends string, O extends Options = Options>(spec: WebhookSpec<Owner, O>): Webhook<Owner, O>
export function webhook<Owner extends string, O extends Options = Options>(
  spec: WebhookSpec<Owner, O>
): Webhook<Owner, O> | WebhookEach<Owner, O> {
  const kind = verifiedFor(spec.module)
  const verifyRequest: Webhook<Owner, O>["verify"] = (request, options) =>
    Effect.map(
      verify(request, {
        module: spec.module,
        source: options.source ?? spec.source,
        secret: options.secret,
        maxBodyBytes: options.maxBodyBytes ?? defaultMaxBodyBytes,
        headers: spec.headers
      }),
      () => kind.make(request)
    )
  /** The verified request's JSON handed to a decoder with the payload options. */
  const decodeWith = <A>(
    decode: (json: unknown, options: PayloadOptions & Omit<O, keyof Options>) => Effect.Effect<A, PortError.CarrierError>
  ) =>
  (verified: Verified<Owner>, options: Omit<O, "secret">): Effect.Effect<A, PortError.CarrierError> => {
    const { maxBodyBytes: _m, secret: _s, source: _source, timePolicy, ...own } = options as Omit<O, "secret"> & Partial<Options>
    const source = options.source ?? spec.source
    return parseJson(verified.request, { module: spec.module, source }, (json) =>
      decode(json, {
        ...(own as Omit<O, keyof Options>),
        source,
        timePolicy: timePolicy ?? spec.timePolicy ?? { _tag: "AssumeUtc" },
        receivedAt: verified.request.receivedAt
      }))
  }
  const parse: Webhook<Owner, O>["parse"] = decodeWith(spec.decode)
  const module: Webhook<Owner, O> = {
    Verified: kind.Verified,
    verify: verifyRequest,
    parse,
    verifyAndParse: (request, options) => Effect.flatMap(verifyRequest(request, options), (verified) => parse(verified, options))
  }
  const decodeEach = spec.decodeEach
  if (decodeEach === undefined) return module
  const read = decodeWith(decodeEach)
  const parseEach: WebhookEach<Owner, O>["parseEach"] = (verified, options) =>
    Effect.tap(read(verified, options), ({ unreadable }) =>
      unreadable.length === 0
        ? Effect.void
        : Effect.logWarning("events of an inbound request cannot be read; the others go in").pipe(
          Effect.annotateLogs({
            module: spec.module,
            source: options.source ?? spec.source,
            unreadable: unreadable.length,
            first: unreadable[0]
          })
        ))
  return {
    ...module,
    parseEach,
    verifyAndParseEach: (request, options) => Effect.flatMap(verifyRequest(request, options), (verified) => parseEach(verified, options))
  }
}
