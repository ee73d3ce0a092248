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
 * {@link verifyAndParseEach} (the port's `parseEach`, which the pipeline uses) verifies the same
 * way, then reads the Tracker scan by scan: a `tracking_details` entry that cannot be read (a
 * `datetime` that is no time, an entry of the wrong shape) is named in `unreadable` by its path
 * while the other scans come out as observations, so one bad scan no longer holds back the
 * rest of the history on every redelivery. `verifyAndParse` still refuses the whole request.
 *
 * Failures are `CarrierError`s the caller keeps as dead letters: `Unauthorized` (missing or
 * wrong signature, HTTP 401) or `Invalid` (oversized body, HTTP 413; malformed body, HTTP 400),
 * with a description naming what is wrong and, in `cause`, the body size and SHA-256 (never the
 * body or the secret).
 *
 * @since 0.1.0
 */
import { WebhookSignature } from "@waybill/core"
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
export const defaultMaxBodyBytes: number = WebhookSignature.defaultMaxBodyBytes

/**
 * Webhook options: the webhook secret configured at EasyPost, the `source` of the events
 * (default `easypost`), the largest body accepted (default 1 MiB) and what a timestamp without a
 * zone means (default `AssumeUtc`; EasyPost sends every scan time with a zone: the scan's local
 * offset when it can place the location, else `Z`).
 *
 * @since 0.1.0
 */
export type Options = WebhookSignature.Options

/**
 * EasyPost's signature scheme: HMAC-SHA256 keyed with the NFKD-normalized secret, written as
 * `hmac-sha256-hex=<hex digest>` (prefix and hex in any case).
 *
 * @since 0.1.0
 */
export const scheme: WebhookSignature.Scheme = {
  encoding: "hex",
  prefix: signaturePrefix,
  ignorePrefixCase: true,
  normalizeSecret: "NFKD"
}

/**
 * Computes the `X-Hmac-Signature` value EasyPost would send for this body and secret.
 *
 * @since 0.1.0
 */
export const sign = (body: Uint8Array | string, secret: string): string => WebhookSignature.sign(body, secret, scheme)

const webhook = WebhookSignature.webhook({
  module: "EasyPostWebhook",
  source: "easypost",
  headers: [{ name: signatureHeader, scheme }],
  decode: EasyPostTracking.fromEvent,
  decodeEach: EasyPostTracking.fromEventEach
})

/**
 * A request whose signature and size were checked by {@link verify}. Only `verify` can make
 * one, so a function taking `Verified` cannot be handed an unverified request.
 *
 * @since 0.1.0
 */
export const Verified = webhook.Verified

/** @since 0.1.0 */
export type Verified = WebhookSignature.Verified<"EasyPostWebhook">

/**
 * Checks the body size and the `X-Hmac-Signature` header (constant-time comparison). Fails with
 * `Invalid` for an oversized body and `Unauthorized` for a missing, malformed or wrong signature.
 *
 * @since 0.1.0
 */
export const verify: WebhookSignature.Webhook<"EasyPostWebhook">["verify"] = webhook.verify

/**
 * Parses a verified request into observations. The body must be a JSON EasyPost `Event`;
 * `tracker.*` events yield one observation per scan, other events none.
 *
 * @since 0.1.0
 */
export const parse: WebhookSignature.Webhook<"EasyPostWebhook">["parse"] = webhook.parse

/**
 * Verifies, then parses: the only way the carrier port reads a webhook.
 *
 * @since 0.1.0
 */
export const verifyAndParse: WebhookSignature.Webhook<"EasyPostWebhook">["verifyAndParse"] = webhook.verifyAndParse

/**
 * Parses a verified request scan by scan (see {@link verifyAndParseEach}).
 *
 * @since 0.2.0
 */
export const parseEach: WebhookSignature.WebhookEach<"EasyPostWebhook">["parseEach"] = webhook.parseEach

/**
 * Verifies as {@link verifyAndParse} does, then reads the Tracker scan by scan: the observations
 * of the `tracking_details` entries that can be read, and one line for each that cannot, naming
 * it by its path (`result.tracking_details.3.datetime: …`) without quoting personal data
 * (`CarrierPort.Parsed`). A request that fails as a whole (the signature, the size, a body that
 * is not JSON, an Event or Tracker of the wrong shape) fails as with `verifyAndParse`. The carrier
 * port's `parseEach`.
 *
 * @since 0.2.0
 */
export const verifyAndParseEach: WebhookSignature.WebhookEach<"EasyPostWebhook">["verifyAndParseEach"] =
  webhook.verifyAndParseEach
