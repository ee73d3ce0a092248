/**
 * The EasyPost carrier port: webhook verification and normalization, trackers and labels.
 *
 * `parse` verifies the signature itself before reading the body (it is `verifyAndParse`), so
 * an unverified request can never produce an observation; `verify` stays available for an
 * ingress that wants to answer 401 before enqueueing. `parseEach` (the pipeline's choice,
 * `EasyPostWebhook.verifyAndParseEach`) verifies the same way, then reads scan by scan: a
 * `tracking_details` entry that cannot be read is named in `unreadable` while the other scans
 * are ingested, and the request is kept as a dead letter for it.
 *
 * @example
 * ```ts
 * import { FetchHttpClient } from "@effect/platform"
 * import { Redacted } from "effect"
 * import { EasyPostCarrier } from "@waybill/carrier-easypost"
 *
 * const CarrierLive = EasyPostCarrier.layer({
 *   apiKey: Redacted.make(process.env.EASYPOST_API_KEY!),
 *   webhookSecret: Redacted.make(process.env.EASYPOST_WEBHOOK_SECRET!),
 *   fromAddress: { company: "Acme", street1: "1 Main St", city: "Boston", state: "MA", zip: "02110", country: "US" }
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
import { CarrierAdapter, CarrierPort, Money, PortError, type Shipment, type TimePolicy } from "@waybill/core"
import * as EasyPostClient from "./EasyPostClient.js"
import * as EasyPostWebhook from "./EasyPostWebhook.js"
import { LRUCache } from "lru-cache"

/**
 * Options of the EasyPost carrier.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The EasyPost API key: the Basic-auth user name. */
  readonly apiKey: Redacted.Redacted<string>
  /** The webhook secret configured for the webhook URL at EasyPost. */
  readonly webhookSecret: Redacted.Redacted<string>
  /** API root (default `https://api.easypost.com/v2`). */
  readonly baseUrl?: string | undefined
  /** Per-call timeout (default 30 seconds). */
  readonly timeout?: Duration.DurationInput | undefined
  /** The `source` of the events (default `easypost`). */
  readonly source?: string | undefined
  /** Largest webhook body accepted (default 1 MiB). */
  readonly maxBodyBytes?: number | undefined
  /** What a carrier time without a zone means (default `AssumeUtc`). */
  readonly timePolicy?: TimePolicy.TimePolicy | undefined
  /** The sender address on labels; `buyLabel` fails with `Invalid` without it. */
  readonly fromAddress?: EasyPostClient.Address | undefined
  /** Label file format (`PDF`, `PNG`, `ZPL`, `EPL2`); EasyPost's default when omitted. */
  readonly labelFormat?: string | undefined
  /**
   * The ISO 4217 currency labels are bought in, e.g. `USD`. EasyPost quotes each carrier account
   * in its own currency and waybill never converts between them: with this option only rates in
   * it are compared (`buyLabel` fails with `Invalid` when none is offered); without it, the rates
   * matching the request must all be in one currency, else `buyLabel` fails with `Invalid`.
   *
   * @since 0.2.0
   */
  readonly currency?: string | undefined
}

/**
 * The EasyPost carrier service: the carrier port plus the underlying API client.
 *
 * @since 0.1.0
 */
export interface EasyPostCarrierShape extends CarrierPort.CarrierPortShape {
  readonly client: EasyPostClient.EasyPostClient
}

/**
 * The EasyPost carrier's own tag (the layers also provide the generic `CarrierPort`).
 *
 * @since 0.1.0
 */
export class EasyPostCarrier extends Context.Tag("@waybill/carrier-easypost/EasyPostCarrier")<
  EasyPostCarrier,
  EasyPostCarrierShape
>() {}

const MODULE = "EasyPostCarrier"

/**
 * Converts a decimal amount string (`"7.47"`, `"7.47000"`) to integer minor units of the
 * currency (`Money.minorDigits`) without going through a float; digits beyond the currency's
 * precision round half up.
 *
 * @since 0.1.0
 */
export const toMinorUnits = (amount: string, currency: string): number | undefined => {
  const m = /^\s*(-?)(\d+)(?:\.(\d+))?\s*$/.exec(amount)
  if (m === null) return undefined
  const [, sign, whole, fraction = ""] = m
  const exponent = Money.minorDigits(currency as Money.CurrencyCode)
  const kept = (fraction + "0".repeat(exponent)).slice(0, exponent)
  const next = fraction.length > exponent ? Number(fraction[exponent]) : 0
  let minor = BigInt(whole!) * 10n ** BigInt(exponent) + BigInt(kept === "" ? "0" : kept)
  if (next >= 5) minor += 1n
  const value = Number(sign === "-" ? -minor : minor)
  return Number.isSafeInteger(value) ? value : undefined
}

const invalid = (method: string, description: string): PortError.CarrierError =>
  new PortError.CarrierError({ reason: "Invalid", module: MODULE, method, description })

// 1 oz = 28.349523125 g exactly (avoirdupois), 1 in = 25.4 mm exactly.
const TENTH_OUNCE = 28_349_523_125n // 0.1 oz = 2.8349523125 g, in units of 1e-10 g

/**
 * Grams as EasyPost ounces: to one decimal, as EasyPost takes them, rounded **up** so a parcel is
 * never declared lighter than it is (454 g is 16.1 oz, not the 16.0 oz of a one-pound tier the
 * carrier would re-rate, and surcharge, after weighing it). At least 0.1 oz.
 *
 * @since 0.2.0
 */
export const toOunces = (grams: number): number => {
  const scaled = BigInt(Math.ceil(grams)) * 10_000_000_000n
  const tenths = (scaled + TENTH_OUNCE - 1n) / TENTH_OUNCE
  return Math.max(1, Number(tenths)) / 10
}

/**
 * Millimetres as EasyPost inches: to one decimal, rounded **up** so a parcel is never declared
 * smaller than it is (dimensional weight is billed on the measured size).
 *
 * @since 0.2.0
 */
export const toInches = (mm: number): number => Math.ceil((Math.ceil(mm) * 100) / 254) / 10

const parcelOf = (shipment: Shipment.Shipment): EasyPostClient.Parcel | PortError.CarrierError => {
  if (shipment.packages.length > 1) {
    return invalid(
      "buyLabel",
      `an EasyPost shipment carries one parcel; shipment ${shipment.id} has ${shipment.packages.length} packages`
    )
  }
  const pkg = shipment.packages[0]
  const grams = pkg?.weight ?? shipment.declaredWeight
  if (grams <= 0) return invalid("buyLabel", `shipment ${shipment.id} has no weight; EasyPost needs one to rate a parcel`)
  return {
    weight: toOunces(grams),
    ...(pkg?.lengthMm !== undefined && pkg.widthMm !== undefined && pkg.heightMm !== undefined
      ? { length: toInches(pkg.lengthMm), width: toInches(pkg.widthMm), height: toInches(pkg.heightMm) }
      : {})
  }
}

const sameText = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase()

const currencyOf = (rate: EasyPostClient.Rate): string => rate.currency.trim().toUpperCase()

/**
 * What {@link chooseRate} may choose among.
 *
 * @since 0.2.0
 */
export interface WantedRate {
  readonly service?: string | undefined
  readonly carrier?: string | undefined
  /**
   * The only currency compared (ISO 4217, e.g. `USD`). Without it, the matching rates must
   * share one currency.
   */
  readonly currency?: string | undefined
}

/**
 * The rates matching the requested service and carrier (when given) whose amount reads, in any
 * currency.
 *
 * @since 0.2.0
 */
export const matchingRates = (
  rates: ReadonlyArray<EasyPostClient.Rate>,
  wanted: Pick<WantedRate, "service" | "carrier">
): ReadonlyArray<EasyPostClient.Rate> =>
  rates.filter(
    (r) =>
      (wanted.service === undefined || sameText(r.service, wanted.service)) &&
      (wanted.carrier === undefined || sameText(r.carrier, wanted.carrier)) &&
      toMinorUnits(r.rate, currencyOf(r)) !== undefined
  )

/**
 * Chooses the cheapest rate matching the requested service and carrier (when given), comparing
 * amounts in one currency only: `wanted.currency` when given (rates in other currencies are
 * left out), else the one currency all matching rates share. Returns `undefined` when nothing
 * matches, when no matching rate is in `wanted.currency`, or (without `wanted.currency`) when
 * the matching rates are in several currencies: amounts in different currencies are never
 * compared, and never converted.
 *
 * @since 0.1.0
 */
export const chooseRate = (
  rates: ReadonlyArray<EasyPostClient.Rate>,
  wanted: WantedRate
): EasyPostClient.Rate | undefined => {
  const matching = matchingRates(rates, wanted)
  const currency = wanted.currency?.trim().toUpperCase()
  const candidates = currency === undefined ? matching : matching.filter((r) => currencyOf(r) === currency)
  if (new Set(candidates.map(currencyOf)).size > 1) return undefined
  return candidates.reduce<EasyPostClient.Rate | undefined>(
    (best, r) =>
      best === undefined || toMinorUnits(r.rate, currencyOf(r))! < toMinorUnits(best.rate, currencyOf(best))! ? r : best,
    undefined
  )
}

/** Why no rate was chosen, for `buyLabel`'s `Invalid` error. */
const noRate = (
  rates: ReadonlyArray<EasyPostClient.Rate>,
  wanted: WantedRate
): string => {
  const what = [wanted.carrier, wanted.service].filter((x) => x !== undefined).join(" ") || "the shipment"
  const matching = matchingRates(rates, wanted)
  const currency = wanted.currency?.trim().toUpperCase()
  if (matching.length > 0 && currency !== undefined) {
    const offered = matching.map((r) => `${r.carrier} ${r.service} ${r.rate} ${r.currency}`).join(", ")
    return `no rate in ${currency} for ${what} (offered: ${offered})`
  }
  if (matching.length > 0) {
    const currencies = [...new Set(matching.map(currencyOf))].sort().join(", ")
    return `the rates for ${what} are in several currencies (${currencies}) and are never converted: set the currency option to choose in one`
  }
  const offered = rates.map((r) => `${r.carrier} ${r.service}`).join(", ") || "none"
  return `no rate for ${what} (offered: ${offered})`
}

interface Pending {
  shipmentId?: string
  label?: CarrierPort.Label
}

/**
 * Makes the EasyPost carrier. Requires an `HttpClient`. Fails with `Invalid` when the
 * `webhookSecret` is empty, only white space, or starts or ends with white space (a trailing
 * newline read from a file): see `CarrierAdapter.requireWebhookSecret`.
 *
 * `buyLabel` is idempotent per request `key`: it sends the key as the shipment `reference`, and
 * when this process has no record of the key (a first call, or a retry after a crash or on
 * another instance) it first looks the shipment up by that reference, so a retry reuses the
 * shipment already created and returns the label already bought instead of buying a second
 * one; a buy that EasyPost refuses because the shipment already has postage reads the existing
 * label back instead of failing.
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<EasyPostCarrierShape, PortError.CarrierError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    yield* CarrierAdapter.requireWebhookSecret(options.webhookSecret, { module: MODULE, setting: "webhookSecret" })
    const client = yield* EasyPostClient.make(options)
    const source = options.source ?? "easypost"
    const webhook: EasyPostWebhook.Options = {
      secret: options.webhookSecret,
      source,
      maxBodyBytes: options.maxBodyBytes,
      timePolicy: options.timePolicy
    }
    const pending = new LRUCache<string, Pending>({ max: 10_000 })
    const remember = (key: string, entry: Pending) => {
      pending.set(key, entry)
    }

    const toLabel = (shipment: EasyPostClient.Shipment): Effect.Effect<CarrierPort.Label, PortError.CarrierError> => {
      const rate = shipment.selected_rate
      const tracking = shipment.tracking_code
      if (rate === null || rate === undefined || tracking === null || tracking === undefined || tracking === "") {
        return Effect.fail(invalid("buyLabel", `shipment ${shipment.id} was bought but has no selected rate or tracking code`))
      }
      const amount = toMinorUnits(rate.rate, rate.currency)
      if (amount === undefined || !/^[A-Z]{3}$/.test(rate.currency)) {
        return Effect.fail(invalid("buyLabel", `rate ${rate.id} has an unreadable amount "${rate.rate} ${rate.currency}"`))
      }
      const labelUrl = shipment.postage_label?.label_url ?? shipment.postage_label?.label_pdf_url ??
        shipment.postage_label?.label_zpl_url ?? undefined
      return Effect.try({
        try: () =>
          new CarrierPort.Label({
            externalId: shipment.id,
            carrier: rate.carrier,
            service: rate.service,
            trackingNumber: tracking,
            ...(labelUrl !== undefined && labelUrl !== null ? { labelUrl } : {}),
            rate: new Money.Money({ amountMinor: amount, currency: rate.currency as Money.CurrencyCode })
          }),
        catch: (error) => invalid("buyLabel", `cannot read the bought label: ${String(error)}`)
      })
    }

    const buyLabel = (request: CarrierPort.BuyLabel): Effect.Effect<CarrierPort.Label, PortError.CarrierError> =>
      Effect.gen(function*() {
        const entry: Pending = pending.get(request.key) ?? {}
        if (entry.label !== undefined) return entry.label
        const fromAddress = options.fromAddress
        if (fromAddress === undefined) {
          return yield* Effect.fail(invalid("buyLabel", "no fromAddress configured: EasyPost needs a sender address"))
        }
        const shipment = request.shipment
        const parcel = parcelOf(shipment)
        if (parcel instanceof PortError.CarrierError) return yield* Effect.fail(parcel)
        let rated: EasyPostClient.Shipment
        if (entry.shipmentId === undefined) {
          // No record of the key in this process (a first call, or a retry after a restart or
          // on another instance): an earlier attempt may have created, even bought, the
          // shipment, so look it up by its reference before creating one.
          rated = yield* client.retrieveShipment(request.key).pipe(
            Effect.catchIf((e) => e.reason === "NotFound", () =>
              client.createShipment({
                toAddress: {
                  street1: shipment.shipTo.street,
                  street2: shipment.shipTo.street2,
                  city: shipment.shipTo.city,
                  state: shipment.shipTo.region,
                  zip: shipment.shipTo.postalCode,
                  country: shipment.shipTo.country
                },
                fromAddress,
                parcel,
                reference: request.key,
                labelFormat: options.labelFormat
              })
            )
          )
          entry.shipmentId = rated.id
          remember(request.key, entry)
        } else {
          rated = yield* client.retrieveShipment(entry.shipmentId)
        }
        let bought: EasyPostClient.Shipment
        if (rated.selected_rate !== null && rated.selected_rate !== undefined && rated.tracking_code) {
          bought = rated
        } else {
          const service = request.service ?? shipment.service
          const wanted: WantedRate = { service, carrier: shipment.carrier, currency: options.currency }
          const rate = chooseRate(rated.rates ?? [], wanted)
          if (rate === undefined) return yield* Effect.fail(invalid("buyLabel", noRate(rated.rates ?? [], wanted)))
          bought = yield* client.buyShipment(rated.id, rate.id).pipe(
            Effect.catchIf(
              (e) => e.reason === "Invalid" && /POSTAGE\.EXISTS|already has postage/i.test(e.description),
              () => client.retrieveShipment(rated.id)
            )
          )
        }
        const label = yield* toLabel(bought)
        entry.label = label
        remember(request.key, entry)
        return label
      }).pipe(PortError.withSpan("EasyPostCarrier.buyLabel"))

    const createTracker = (request: CarrierPort.CreateTracker): Effect.Effect<CarrierPort.Tracker, PortError.CarrierError> =>
      Effect.flatMap(
        client.createTracker({ trackingCode: request.trackingNumber, carrier: request.carrier }),
        (tracker) =>
          CarrierAdapter.tracker(
            { externalId: tracker.id, trackingNumber: tracker.tracking_code, carrier: tracker.carrier },
            { module: MODULE, method: "createTracker" }
          )
      ).pipe(PortError.withSpan("EasyPostCarrier.createTracker"))

    return {
      source,
      client,
      ...CarrierAdapter.inbound(EasyPostWebhook, webhook),
      createTracker,
      buyLabel
    }
  })

/**
 * A layer providing {@link EasyPostCarrier} and the generic `CarrierPort`.
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options
): Layer.Layer<EasyPostCarrier | CarrierPort.CarrierPort, PortError.CarrierError, HttpClient.HttpClient> =>
  CarrierAdapter.layer(EasyPostCarrier, make(options))

/**
 * Like {@link layer}, reading the options from `Config` (credentials with `Config.redacted`).
 *
 * @example
 * ```ts
 * EasyPostCarrier.layerConfig({
 *   apiKey: Config.redacted("EASYPOST_API_KEY"),
 *   webhookSecret: Config.redacted("EASYPOST_WEBHOOK_SECRET")
 * })
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<
  EasyPostCarrier | CarrierPort.CarrierPort,
  PortError.CarrierError | ConfigError.ConfigError,
  HttpClient.HttpClient
> =>
  CarrierAdapter.layerConfig(config, layer)
