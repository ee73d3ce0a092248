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
 * {@link verifyAndParseEach} (the port's `parseEach`, which the pipeline uses) verifies the same
 * way, then reads checkpoint by checkpoint: a checkpoint that cannot be read (a zone-less time
 * `RequireZone` refuses, a time that is no time, none at all, the wrong shape) is named in
 * `unreadable` by its path while the others come out as observations, so one checkpoint no
 * longer holds back the rest of the history on every redelivery. `verifyAndParse` still refuses
 * the whole request.
 *
 * Failures are `CarrierError`s the caller keeps as dead letters: `Unauthorized` (HTTP 401) or
 * `Invalid` (413 oversized, 400 malformed), describing what is wrong, with the body's size and
 * SHA-256 in `cause` (never the body or the secret).
 *
 * @since 0.1.0
 */
import { type TimePolicy, WebhookSignature } from "@waybill/core"
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
export const defaultMaxBodyBytes: number = WebhookSignature.defaultMaxBodyBytes

/**
 * Webhook options: the webhook secret from AfterShip's notification settings, the `source` of
 * the events (default `aftership`), the largest body accepted (default 1 MiB) and how zone-less
 * checkpoint times are read.
 *
 * AfterShip documents `checkpoint_time` as the checkpoint's local time ("it uses the timezone of
 * the checkpoint"), with an offset or without one. A time with an offset or `Z` is taken as is.
 * A zone-less one is read:
 * 1. in the zone of the checkpoint's country (`country_region` / `country_iso3`) when that
 *    country has a single zone (core's `CountryZones`: every country whose zones have all kept
 *    one offset since 2020, e.g. DE, GB, CN, TW, JP, TH, IN, ZA, AR), with daylight saving;
 * 2. otherwise (no country, or a country with several zones such as US, CA, AU, BR, RU, MX, ID,
 *    KZ, ES, PT) by `timePolicy`, whose default `RequireZone` refuses that checkpoint rather
 *    than guess: {@link verifyAndParseEach} names it while the others are read, and the
 *    pipeline keeps the webhook as an `Invalid` dead letter to replay once a zone is configured;
 *    {@link verifyAndParse} refuses the whole webhook (400).
 *
 * @since 0.1.0
 */
export interface Options extends WebhookSignature.Options {
  /**
   * How a zone-less `checkpoint_time` is read when its country does not settle the zone
   * (default `RequireZone`: refused). `AssumeZone` / `AssumeOffset` name the zone of such
   * checkpoints (e.g. the zone of your US warehouse); `AssumeUtc` reads them as UTC.
   */
  readonly timePolicy?: TimePolicy.TimePolicy | undefined
  /**
   * Read a zone-less `checkpoint_time` in the single zone of the checkpoint's country (default
   * `true`). `false` applies `timePolicy` to every zone-less time, as before 0.2.0.
   *
   * @since 0.2.0
   */
  readonly zoneByCountry?: boolean | undefined
}

/**
 * The policy for zone-less checkpoint times whose country does not settle the zone, unless
 * configured: refuse them.
 *
 * @since 0.2.0
 */
export const defaultTimePolicy: TimePolicy.TimePolicy = { _tag: "RequireZone" }

/**
 * AfterShip's signature scheme: HMAC-SHA256 keyed with the secret's UTF-8 bytes (verbatim),
 * written in standard base64.
 *
 * @since 0.1.0
 */
export const scheme: WebhookSignature.Scheme = { encoding: "base64" }

/**
 * The legacy header's scheme: the same digest after an optional `hmac-sha256=` (any case).
 *
 * @since 0.1.0
 */
export const legacyScheme: WebhookSignature.Scheme = {
  encoding: "base64",
  prefix: "hmac-sha256=",
  prefixOptional: true,
  ignorePrefixCase: true
}

/**
 * The base64 HMAC-SHA256 AfterShip sends in `aftership-hmac-sha256` for this body and secret.
 *
 * @since 0.1.0
 */
export const sign = (body: Uint8Array | string, secret: string): string => WebhookSignature.sign(body, secret, scheme)

const webhook = WebhookSignature.webhook<"AfterShipWebhook", Options>({
  module: "AfterShipWebhook",
  source: "aftership",
  headers: [{ name: signatureHeader, scheme }, { name: legacySignatureHeader, scheme: legacyScheme }],
  timePolicy: defaultTimePolicy,
  decode: AfterShipTracking.fromWebhook,
  decodeEach: AfterShipTracking.fromWebhookEach
})

/**
 * A request whose signature and size were checked by {@link verify}; only `verify` makes one.
 *
 * @since 0.1.0
 */
export const Verified = webhook.Verified

/** @since 0.1.0 */
export type Verified = WebhookSignature.Verified<"AfterShipWebhook">

/**
 * Checks the body size and the signature (`aftership-hmac-sha256`, else the legacy
 * `am-webhook-signature`), comparing in constant time.
 *
 * @since 0.1.0
 */
export const verify: WebhookSignature.Webhook<"AfterShipWebhook", Options>["verify"] = webhook.verify

/**
 * Parses a verified request into observations (one per checkpoint of a `tracking_update`).
 *
 * @since 0.1.0
 */
export const parse: WebhookSignature.Webhook<"AfterShipWebhook", Options>["parse"] = webhook.parse

/**
 * Verifies, then parses: the only way the carrier port reads a webhook.
 *
 * @since 0.1.0
 */
export const verifyAndParse: WebhookSignature.Webhook<"AfterShipWebhook", Options>["verifyAndParse"] = webhook.verifyAndParse

/**
 * Parses a verified request checkpoint by checkpoint (see {@link verifyAndParseEach}).
 *
 * @since 0.2.0
 */
export const parseEach: WebhookSignature.WebhookEach<"AfterShipWebhook", Options>["parseEach"] = webhook.parseEach

/**
 * Verifies as {@link verifyAndParse} does, then reads the tracking checkpoint by checkpoint: the
 * observations of the checkpoints that can be read, and one line for each that cannot, naming it
 * by its path (`msg.checkpoints.2.checkpoint_time: …`) without quoting personal data
 * (`CarrierPort.Parsed`). A request that fails as a whole (the signature, the size, a body that
 * is not JSON, a webhook or tracking of the wrong shape) fails as with `verifyAndParse`. The
 * carrier port's `parseEach`.
 *
 * @since 0.2.0
 */
export const verifyAndParseEach: WebhookSignature.WebhookEach<"AfterShipWebhook", Options>["verifyAndParseEach"] =
  webhook.verifyAndParseEach
