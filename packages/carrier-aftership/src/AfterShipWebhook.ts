/**
 * AfterShip Tracking webhooks: signature verification and parsing.
 *
 * AfterShip signs the raw request body with HMAC-SHA256 keyed with the webhook secret (its
 * UTF-8 bytes, verbatim) and sends the base64 digest in `aftership-hmac-sha256`. Organizations
 * set up before the current scheme send `am-webhook-signature: hmac-sha256=<base64 digest>`
 * instead (the `hmac-sha256=` prefix is optional here). {@link verify} checks whichever is present
 * in constant time, and the body size; {@link parse} only accepts a {@link Verified} request;
 * the carrier port's `parse` is {@link verifyAndParse}.
 *
 * Failures are `CarrierError`s the caller keeps as dead letters: `Unauthorized` (HTTP 401) or
 * `Invalid` (413 oversized, 400 malformed), describing what is wrong, with the body's size and
 * SHA-256 in `cause` (never the body or the secret).
 *
 * @since 0.1.0
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { CarrierPort, PortError, TimePolicy } from "@waybill/core"
import * as AfterShipTracking from "./AfterShipTracking.js"

/**
 * The current signature header (lower case).
 *
 * @since 0.1.0
 */
export const signatureHeader = "aftership-hmac-sha256"

/**
 * The legacy signature header, valued `hmac-sha256=<base64>`.
 *
 * @since 0.1.0
 */
export const legacySignatureHeader = "am-webhook-signature"

/**
 * The default largest body accepted: 1 MiB.
 *
 * @since 0.1.0
 */
export const defaultMaxBodyBytes = 1024 * 1024

/**
 * Webhook options.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The webhook secret from AfterShip's notification settings. */
  readonly secret: Redacted.Redacted<string>
  /** The `source` of the events (default `aftership`). */
  readonly source?: string | undefined
  /** Bodies larger than this are refused before any work (default 1 MiB). */
  readonly maxBodyBytes?: number | undefined
  /**
   * What a zone-less `checkpoint_time` means. AfterShip documents it as the checkpoint's local
   * time without saying which zone; the default reads it as UTC (`AssumeUtc`). A shipper whose
   * parcels stay in one zone should set `AssumeZone`; `RequireZone` rejects such webhooks.
   */
  readonly timePolicy?: TimePolicy.TimePolicy | undefined
}

const MODULE = "AfterShipWebhook"

/**
 * The base64 HMAC-SHA256 AfterShip sends in `aftership-hmac-sha256` for this body and secret.
 *
 * @since 0.1.0
 */
export const sign = (body: Uint8Array | string, secret: string): string =>
  createHmac("sha256", Buffer.from(secret, "utf8"))
    .update(typeof body === "string" ? Buffer.from(body, "utf8") : body)
    .digest("base64")

const token: unique symbol = Symbol("@waybill/carrier-aftership/AfterShipWebhook/Verified")

/**
 * A request whose signature and size were checked by {@link verify}; only `verify` makes one.
 *
 * @since 0.1.0
 */
export class Verified {
  /** @internal */
  constructor(key: symbol, readonly request: CarrierPort.InboundRequest) {
    if (key !== token) throw new Error("AfterShipWebhook.Verified is made only by AfterShipWebhook.verify")
  }
}

const evidence = (request: CarrierPort.InboundRequest, source: string) => ({
  source,
  bodyBytes: request.body.byteLength,
  bodySha256: createHash("sha256").update(request.body).digest("hex"),
  headers: Object.keys(request.headers).sort()
})

const failure = (
  request: CarrierPort.InboundRequest,
  source: string,
  method: string,
  reason: "Unauthorized" | "Invalid",
  status: number,
  description: string
): PortError.CarrierError =>
  new PortError.CarrierError({ reason, module: MODULE, method, description, status, cause: evidence(request, source) })

const headerValue = (request: CarrierPort.InboundRequest, name: string): string | undefined => {
  const direct = request.headers[name]
  if (direct !== undefined) return direct
  for (const [key, value] of Object.entries(request.headers)) if (key.toLowerCase() === name) return value
  return undefined
}

/**
 * Checks the body size and the signature (`aftership-hmac-sha256`, else the legacy
 * `am-webhook-signature`), comparing in constant time.
 *
 * @since 0.1.0
 */
export const verify = (
  request: CarrierPort.InboundRequest,
  options: Options
): Effect.Effect<Verified, PortError.CarrierError> =>
  Effect.suspend(() => {
    const source = options.source ?? "aftership"
    const max = options.maxBodyBytes ?? defaultMaxBodyBytes
    if (request.body.byteLength > max) {
      return Effect.fail(
        failure(request, source, "verify", "Invalid", 413, `body is ${request.body.byteLength} bytes, more than the ${max} allowed`)
      )
    }
    const current = headerValue(request, signatureHeader)?.trim()
    const legacy = headerValue(request, legacySignatureHeader)?.trim()
    const header = current !== undefined && current !== "" ? signatureHeader : legacySignatureHeader
    const provided = current !== undefined && current !== "" ? current : legacy?.replace(/^hmac-sha256=/i, "")
    if (provided === undefined || provided === "") {
      return Effect.fail(
        failure(request, source, "verify", "Unauthorized", 401, `missing ${signatureHeader} (or ${legacySignatureHeader}) header`)
      )
    }
    const expected = Buffer.from(sign(request.body, Redacted.value(options.secret)), "utf8")
    const actual = Buffer.from(provided, "utf8")
    if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
      return Effect.fail(
        failure(request, source, "verify", "Unauthorized", 401, `${header} does not match the body and the webhook secret`)
      )
    }
    return Effect.succeed(new Verified(token, request))
  })

/**
 * Parses a verified request into observations (one per checkpoint of a `tracking_update`).
 *
 * @since 0.1.0
 */
export const parse = (
  verified: Verified,
  options: Omit<Options, "secret">
): Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError> =>
  Effect.suspend(() => {
    const request = verified.request
    const source = options.source ?? "aftership"
    let json: unknown
    try {
      json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(request.body))
    } catch (error) {
      return Effect.fail(
        failure(request, source, "parse", "Invalid", 400, `body is not UTF-8 JSON: ${error instanceof Error ? error.message : String(error)}`)
      )
    }
    return Effect.mapError(
      AfterShipTracking.fromWebhook(json, {
        source,
        timePolicy: options.timePolicy ?? { _tag: "AssumeUtc" },
        receivedAt: request.receivedAt
      }),
      (e) =>
        new PortError.CarrierError({
          reason: e.reason,
          module: MODULE,
          method: "parse",
          description: e.description,
          status: 400,
          cause: evidence(request, source)
        })
    )
  })

/**
 * Verifies, then parses: the only way the carrier port reads a webhook.
 *
 * @since 0.1.0
 */
export const verifyAndParse = (
  request: CarrierPort.InboundRequest,
  options: Options
): Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError> =>
  Effect.flatMap(verify(request, options), (verified) => parse(verified, options))
