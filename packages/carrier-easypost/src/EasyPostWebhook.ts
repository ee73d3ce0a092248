/**
 * EasyPost webhooks: signature verification and parsing.
 *
 * EasyPost signs the raw request body with HMAC-SHA256, keyed with the webhook secret after
 * Unicode NFKD normalization, and sends `X-Hmac-Signature: hmac-sha256-hex=<hex digest>`.
 * {@link verify} checks that header in constant time (and the body size) and returns a
 * {@link Verified} request; {@link parse} only accepts a `Verified` request, and
 * {@link verifyAndParse} does both. The carrier port's `parse` is `verifyAndParse`, so nothing
 * reaches the state machine unverified even if a caller forgets to call `verify` first.
 *
 * Failures are `CarrierError`s the caller keeps as dead letters: `Unauthorized` (missing or
 * wrong signature, HTTP 401) or `Invalid` (oversized body, HTTP 413; malformed body, HTTP 400),
 * with a description naming what is wrong and, in `cause`, the body size and SHA-256 (never the
 * body or the secret).
 *
 * @since 0.1.0
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { CarrierPort, PortError, TimePolicy } from "@waybill/core"
import * as EasyPostTracking from "./EasyPostTracking.js"

/**
 * The header carrying the signature (lower case, as `InboundRequest.headers` has it).
 *
 * @since 0.1.0
 */
export const signatureHeader = "x-hmac-signature"

/**
 * The prefix of the signature header's value.
 *
 * @since 0.1.0
 */
export const signaturePrefix = "hmac-sha256-hex="

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
  /** The webhook secret configured at EasyPost. */
  readonly secret: Redacted.Redacted<string>
  /** The `source` of the events (default `easypost`). */
  readonly source?: string | undefined
  /** Bodies larger than this are refused before any work (default 1 MiB). */
  readonly maxBodyBytes?: number | undefined
  /** What a timestamp without a zone means (default `AssumeUtc`: EasyPost documents UTC times). */
  readonly timePolicy?: TimePolicy.TimePolicy | undefined
}

const MODULE = "EasyPostWebhook"

/**
 * Computes the `X-Hmac-Signature` value EasyPost would send for this body and secret.
 *
 * @since 0.1.0
 */
export const sign = (body: Uint8Array | string, secret: string): string =>
  signaturePrefix +
  createHmac("sha256", Buffer.from(secret.normalize("NFKD"), "utf8"))
    .update(typeof body === "string" ? Buffer.from(body, "utf8") : body)
    .digest("hex")

const token: unique symbol = Symbol("@waybill/carrier-easypost/EasyPostWebhook/Verified")

/**
 * A request whose signature and size were checked by {@link verify}. Only `verify` can make
 * one, so a function taking `Verified` cannot be handed an unverified request.
 *
 * @since 0.1.0
 */
export class Verified {
  /** @internal */
  constructor(key: symbol, readonly request: CarrierPort.InboundRequest) {
    if (key !== token) throw new Error("EasyPostWebhook.Verified is made only by EasyPostWebhook.verify")
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
 * Checks the body size and the `X-Hmac-Signature` header (constant-time comparison). Fails with
 * `Invalid` for an oversized body and `Unauthorized` for a missing, malformed or wrong signature.
 *
 * @since 0.1.0
 */
export const verify = (
  request: CarrierPort.InboundRequest,
  options: Options
): Effect.Effect<Verified, PortError.CarrierError> =>
  Effect.suspend(() => {
    const source = options.source ?? "easypost"
    const max = options.maxBodyBytes ?? defaultMaxBodyBytes
    if (request.body.byteLength > max) {
      return Effect.fail(
        failure(request, source, "verify", "Invalid", 413, `body is ${request.body.byteLength} bytes, more than the ${max} allowed`)
      )
    }
    const provided = headerValue(request, signatureHeader)
    if (provided === undefined || provided.trim() === "") {
      return Effect.fail(failure(request, source, "verify", "Unauthorized", 401, `missing ${signatureHeader} header`))
    }
    if (!provided.trim().toLowerCase().startsWith(signaturePrefix)) {
      return Effect.fail(
        failure(request, source, "verify", "Unauthorized", 401, `${signatureHeader} header does not start with ${signaturePrefix}`)
      )
    }
    const expected = Buffer.from(sign(request.body, Redacted.value(options.secret)), "utf8")
    const actual = Buffer.from(signaturePrefix + provided.trim().slice(signaturePrefix.length).toLowerCase(), "utf8")
    if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
      return Effect.fail(
        failure(request, source, "verify", "Unauthorized", 401, `${signatureHeader} does not match the body and the webhook secret`)
      )
    }
    return Effect.succeed(new Verified(token, request))
  })

/**
 * Parses a verified request into observations. The body must be a JSON EasyPost `Event`;
 * `tracker.*` events yield one observation per scan, other events none.
 *
 * @since 0.1.0
 */
export const parse = (
  verified: Verified,
  options: Omit<Options, "secret">
): Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError> =>
  Effect.suspend(() => {
    const request = verified.request
    const source = options.source ?? "easypost"
    let json: unknown
    try {
      json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(request.body))
    } catch (error) {
      return Effect.fail(
        failure(request, source, "parse", "Invalid", 400, `body is not UTF-8 JSON: ${error instanceof Error ? error.message : String(error)}`)
      )
    }
    return Effect.mapError(
      EasyPostTracking.fromEvent(json, {
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
