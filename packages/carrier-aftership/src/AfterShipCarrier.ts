/**
 * The AfterShip carrier port: webhook verification and normalization, and tracker creation.
 *
 * AfterShip is a tracking aggregator without a label API: `createTracker` registers the
 * tracking number at AfterShip (`POST /trackings`, reading the existing tracking back when it
 * is already registered), and `buyLabel` fails with a typed `Invalid` "not supported". `parse`
 * verifies the signature before reading the body (it is `verifyAndParse`). `parseEach` (the
 * pipeline's choice, `AfterShipWebhook.verifyAndParseEach`) verifies the same way, then reads
 * checkpoint by checkpoint: a checkpoint that cannot be read is named in `unreadable` while the
 * others are ingested, and the request is kept as a dead letter for it.
 *
 * @example
 * ```ts
 * import { FetchHttpClient } from "@effect/platform"
 * import { Layer, Redacted } from "effect"
 * import { AfterShipCarrier } from "@waybill/carrier-aftership"
 *
 * const CarrierLive = AfterShipCarrier.layer({
 *   apiKey: Redacted.make(process.env.AFTERSHIP_API_KEY!),
 *   webhookSecret: Redacted.make(process.env.AFTERSHIP_WEBHOOK_SECRET!),
 *   // Zone-less checkpoint times in a single-zone country are read in its zone; the others
 *   // (no country, US, CA, …) in this one instead of being refused.
 *   timePolicy: { _tag: "AssumeZone", zone: "America/New_York" }
 * }).pipe(Layer.provide(FetchHttpClient.layer))
 * ```
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import { CarrierAdapter, type CarrierPort, PortError, type TimePolicy } from "@waybill/core"
import * as AfterShipClient from "./AfterShipClient.js"
import * as AfterShipWebhook from "./AfterShipWebhook.js"

/**
 * Options of the AfterShip carrier.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The AfterShip API key (`as-api-key`). */
  readonly apiKey: Redacted.Redacted<string>
  /** The webhook secret from AfterShip's notification settings. */
  readonly webhookSecret: Redacted.Redacted<string>
  /** API root (default `https://api.aftership.com/tracking/2025-04`). */
  readonly baseUrl?: string | undefined
  /** Per-call timeout (default 30 seconds). */
  readonly timeout?: Duration.DurationInput | undefined
  /** The `source` of the events (default `aftership`). */
  readonly source?: string | undefined
  /** Largest webhook body accepted (default 1 MiB). */
  readonly maxBodyBytes?: number | undefined
  /**
   * How a zone-less `checkpoint_time` is read when the checkpoint's country does not settle the
   * zone (no country, or several zones such as US, CA, AU); default `RequireZone`: that
   * checkpoint is refused as `Invalid` (`parseEach` reads the others). See
   * `AfterShipWebhook.Options`.
   */
  readonly timePolicy?: TimePolicy.TimePolicy | undefined
  /**
   * Read a zone-less `checkpoint_time` in the single zone of the checkpoint's country (default
   * `true`).
   *
   * @since 0.2.0
   */
  readonly zoneByCountry?: boolean | undefined
  /**
   * How a `CreateTracker.carrier` (e.g. `DHL`) becomes an AfterShip slug (e.g. `dhl`); the
   * default lower-cases it and replaces spaces with `-`. Return `undefined` to let AfterShip
   * detect the courier.
   */
  readonly slugOf?: ((carrier: string) => string | undefined) | undefined
}

/**
 * The AfterShip carrier service: the carrier port plus the underlying API client.
 *
 * @since 0.1.0
 */
export interface AfterShipCarrierShape extends CarrierPort.CarrierPortShape {
  readonly client: AfterShipClient.AfterShipClient
}

/**
 * The AfterShip carrier's own tag (the layers also provide the generic `CarrierPort`).
 *
 * @since 0.1.0
 */
export class AfterShipCarrier extends Context.Tag("@waybill/carrier-aftership/AfterShipCarrier")<
  AfterShipCarrier,
  AfterShipCarrierShape
>() {}

const defaultSlugOf = (carrier: string): string | undefined => {
  const slug = carrier.trim().toLowerCase().replace(/\s+/g, "-")
  return /^[a-z0-9-]+$/.test(slug) ? slug : undefined
}

/**
 * Makes the AfterShip carrier. Requires an `HttpClient`. Fails with `Invalid` when the
 * `webhookSecret` is empty, only white space, or starts or ends with white space (a trailing
 * newline read from a file): see `CarrierAdapter.requireWebhookSecret`.
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<AfterShipCarrierShape, PortError.CarrierError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    yield* CarrierAdapter.requireWebhookSecret(options.webhookSecret, { module: "AfterShipCarrier", setting: "webhookSecret" })
    const client = yield* AfterShipClient.make(options)
    const source = options.source ?? "aftership"
    const webhook: AfterShipWebhook.Options = {
      secret: options.webhookSecret,
      source,
      maxBodyBytes: options.maxBodyBytes,
      timePolicy: options.timePolicy,
      zoneByCountry: options.zoneByCountry
    }
    const slugOf = options.slugOf ?? defaultSlugOf

    const createTracker = (request: CarrierPort.CreateTracker): Effect.Effect<CarrierPort.Tracker, PortError.CarrierError> =>
      Effect.flatMap(
        client.createTracking({
          trackingNumber: request.trackingNumber,
          slug: request.carrier === undefined ? undefined : slugOf(request.carrier)
        }),
        (tracking) =>
          CarrierAdapter.tracker(
            { externalId: tracking.id, trackingNumber: tracking.tracking_number, carrier: tracking.slug },
            { module: "AfterShipCarrier", method: "createTracker", noun: "tracking" }
          )
      ).pipe(PortError.withSpan("AfterShipCarrier.createTracker"))

    const buyLabel = (_request: CarrierPort.BuyLabel): Effect.Effect<CarrierPort.Label, PortError.CarrierError> =>
      Effect.fail(
        new PortError.CarrierError({
          reason: "Invalid",
          module: "AfterShipCarrier",
          method: "buyLabel",
          description: "not supported: AfterShip Tracking has no label API; buy labels with a carrier adapter (e.g. EasyPost)"
        })
      )

    return {
      source,
      client,
      ...CarrierAdapter.inbound(AfterShipWebhook, webhook),
      createTracker,
      buyLabel
    }
  })

/**
 * A layer providing {@link AfterShipCarrier} and the generic `CarrierPort`.
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options
): Layer.Layer<AfterShipCarrier | CarrierPort.CarrierPort, PortError.CarrierError, HttpClient.HttpClient> =>
  CarrierAdapter.layer(AfterShipCarrier, make(options))

/**
 * Like {@link layer}, reading the options (all but `slugOf`) from `Config` (credentials with
 * `Config.redacted`).
 *
 * @example
 * ```ts
 * AfterShipCarrier.layerConfig({
 *   apiKey: Config.redacted("AFTERSHIP_API_KEY"),
 *   webhookSecret: Config.redacted("AFTERSHIP_WEBHOOK_SECRET")
 * })
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Config.Wrap<Omit<Options, "slugOf">>
): Layer.Layer<
  AfterShipCarrier | CarrierPort.CarrierPort,
  PortError.CarrierError | ConfigError.ConfigError,
  HttpClient.HttpClient
> =>
  CarrierAdapter.layerConfig(config, layer)
