/**
 * Helpers to try a mapping config against sample payloads: sign a body the way the partner
 * would, run it through the real adapter, and compare the result as plain JSON.
 *
 * @example
 * ```ts
 * import { MappingTestKit } from "@waybill/carrier-mapping/testing"
 * const observations = yield* MappingTestKit.ingest(config, samplePayload, {
 *   secret: "test-secret-0123456789",
 *   receivedAt: "2024-07-31T12:00:05Z"
 * })
 * expect(MappingTestKit.toPlain(observations)).toEqual([...])
 * ```
 *
 * @since 0.1.0
 */
import { CarrierPort, Instant, type PortError, type Validation, WebhookSignature } from "@waybill/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as MappingCarrier from "../MappingCarrier.js"
import * as MappingConfig from "../MappingConfig.js"

/**
 * How to sign a test request.
 *
 * @since 0.1.0
 */
export interface SignOptions {
  /** The secret to sign with; defaults to the config's own secret when it is given as a value. */
  readonly secret?: string
  /** When the request arrived (ISO-8601 with a zone, or an instant); defaults to now. */
  readonly receivedAt?: string | Instant.Instant
  /** The raw signed-timestamp header value; defaults to `receivedAt` in the config's format. */
  readonly timestamp?: string
  /** Extra or overriding headers (e.g. a tampered signature). */
  readonly headers?: Readonly<Record<string, string>>
}

const toInstant = (at: string | Instant.Instant | undefined): Instant.Instant =>
  at === undefined ? DateTime.unsafeNow() : typeof at === "string" ? Schema.decodeSync(Instant.Instant)(at) : at

/**
 * The raw bytes of a test body: bytes as given, strings as UTF-8, anything else as JSON.
 *
 * @since 0.1.0
 */
export const bodyBytes = (body: unknown): Uint8Array =>
  body instanceof Uint8Array
    ? body
    : new TextEncoder().encode(typeof body === "string" ? body : JSON.stringify(body))

/**
 * Formats an instant the way the config's signed-timestamp header expects it.
 *
 * @since 0.1.0
 */
export const formatTimestamp = (config: MappingConfig.MappingConfig, at: Instant.Instant): string => {
  const millis = Instant.toMillis(at)
  switch (config.signature.timestamp?.format) {
    case "unix-millis":
      return String(millis)
    case "iso":
      return Schema.encodeSync(Instant.Instant)(at)
    default:
      return String(Math.floor(millis / 1000))
  }
}

/**
 * Builds the inbound request a partner would send: the body, the signature header (with its
 * prefix and encoding) and, when the config signs a timestamp, the timestamp header.
 *
 * @since 0.1.0
 */
export const signRequest = (
  config: MappingConfig.MappingConfig,
  body: unknown,
  options: SignOptions = {}
): CarrierPort.InboundRequest => {
  const sig = config.signature
  const secret =
    options.secret ?? (Redacted.isRedacted(sig.secret) ? Redacted.value(sig.secret) : undefined)
  if (secret === undefined) {
    throw new Error(`signRequest: the config reads its secret from ${"env" in sig.secret ? sig.secret.env : "?"}; pass options.secret`)
  }
  const bytes = bodyBytes(body)
  const receivedAt = toInstant(options.receivedAt)
  const headers: Record<string, string> = {}
  let message: WebhookSignature.Message = bytes
  if (sig.timestamp !== undefined) {
    const ts = options.timestamp ?? formatTimestamp(config, receivedAt)
    headers[sig.timestamp.header.toLowerCase()] = ts
    message = sig.timestamp.signedPayload
      .split(/(\{body\}|\{timestamp\})/)
      .map((part) => (part === "{body}" ? bytes : part === "{timestamp}" ? ts : part))
  }
  headers[sig.header.toLowerCase()] = WebhookSignature.sign(message, secret, { encoding: sig.encoding, prefix: sig.prefix })
  return {
    headers: { "content-type": "application/json", ...headers, ...options.headers },
    body: bytes,
    receivedAt
  }
}

/**
 * Makes the adapter from the config, signs the body and runs `verifyAndParse`: the whole
 * inbound path, as the runtime would run it.
 *
 * @since 0.1.0
 */
export const ingest = (
  config: MappingConfig.MappingConfig,
  body: unknown,
  options: SignOptions = {}
): Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError | Validation.ValidationError> =>
  Effect.gen(function* () {
    const secret = options.secret ?? Redacted.value(yield* MappingConfig.resolveSecret(config))
    const carrier = yield* MappingCarrier.make(MappingConfig.withSecret(config, secret))
    return yield* carrier.verifyAndParse(signRequest(config, body, { ...options, secret }))
  })

const encodeObservations = Schema.encodeSync(Schema.Array(CarrierPort.Observation))

/**
 * Observations as plain JSON (UTC ISO times, grams as numbers), for `toEqual` assertions.
 *
 * @since 0.1.0
 */
export const toPlain = (observations: ReadonlyArray<CarrierPort.Observation>): ReadonlyArray<unknown> =>
  JSON.parse(JSON.stringify(encodeObservations(observations)))
