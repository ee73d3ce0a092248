/**
 * The carrier port: verify and parse what a carrier, aggregator or warehouse sends, and call
 * its API for trackers and labels.
 *
 * Parsing returns {@link Observation}s: canonical event drafts keyed by tracking number, which
 * the runtime routes to shipments. Unknown vendor codes are never dropped: they become
 * `StatusReported` with status `unknown` and the raw code.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as ErpPort from "./ErpPort.js"
import * as Instant from "./Instant.js"
import * as Money from "./Money.js"
import type * as PortError from "./PortError.js"
import * as Shipment from "./Shipment.js"
import * as ShipmentEvent from "./ShipmentEvent.js"

/**
 * An inbound HTTP request as received: header names in lower case, the raw body bytes (the
 * signature covers them, so they are never re-serialized), and when it arrived.
 *
 * @since 0.1.0
 */
export interface InboundRequest {
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
  readonly receivedAt: Instant.Instant
}

/**
 * One canonical event about the parcel with this tracking number.
 *
 * @since 0.1.0
 */
export class Observation extends Schema.Class<Observation>("Observation")({
  trackingNumber: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)),
  carrier: Schema.optionalWith(Schema.String, { exact: true }),
  event: ShipmentEvent.Draft
}) {}

/**
 * A verified request read event by event (`CarrierPortShape.parseEach`): the observations of
 * the events that could be read, and one line for each event that could not, naming it by its
 * place in the body (`event 3 ($.events[3]): occurredAt: …`), never quoting a personal value.
 *
 * @since 0.2.0
 */
export interface Parsed {
  readonly observations: ReadonlyArray<Observation>
  readonly unreadable: ReadonlyArray<string>
}

/**
 * Register a tracker for a tracking number (so the carrier starts sending webhooks).
 *
 * @since 0.1.0
 */
export class CreateTracker extends Schema.Class<CreateTracker>("CreateTracker")({
  key: ErpPort.IdempotencyKey,
  trackingNumber: Schema.String,
  carrier: Schema.optionalWith(Schema.String, { exact: true })
}) {}

/**
 * A tracker at the carrier.
 *
 * @since 0.1.0
 */
export class Tracker extends Schema.Class<Tracker>("Tracker")({
  externalId: Schema.String,
  trackingNumber: Schema.String,
  carrier: Schema.optionalWith(Schema.String, { exact: true })
}) {}

/**
 * Buy a label for a shipment.
 *
 * @since 0.1.0
 */
export class BuyLabel extends Schema.Class<BuyLabel>("BuyLabel")({
  key: ErpPort.IdempotencyKey,
  shipment: Shipment.Shipment,
  service: Schema.optionalWith(Schema.String, { exact: true })
}) {}

/**
 * A bought label.
 *
 * @since 0.1.0
 */
export class Label extends Schema.Class<Label>("Label")({
  externalId: Schema.String,
  carrier: Schema.String,
  service: Schema.optionalWith(Schema.String, { exact: true }),
  trackingNumber: Schema.String,
  labelUrl: Schema.optionalWith(Schema.String, { exact: true }),
  rate: Money.Money
}) {}

/**
 * @since 0.1.0
 */
export interface CarrierPortShape {
  /** The `source` of every event this carrier produces, e.g. `easypost`. */
  readonly source: string
  /** Checks the request's signature over the raw body; fails with `Unauthorized`. */
  readonly verify: (request: InboundRequest) => Effect.Effect<void, PortError.CarrierError>
  /** Turns a verified request into observations; a malformed body fails with `Invalid`. */
  readonly parse: (request: InboundRequest) => Effect.Effect<ReadonlyArray<Observation>, PortError.CarrierError>
  /**
   * `parse`, event by event (optional): a request holding events that cannot be read gives the
   * ones that can, and names the others (`Parsed.unreadable`), instead of failing whole. The
   * pipeline ingests what was read and dead-letters the request naming the rest, so one event the
   * adapter cannot read yet (a time without a zone, a code outside its table) does not hold back
   * the rest of a shipment's history; a replay after the fix ingests the rest, and what went in
   * already is recognized as a duplicate. Fails as `parse` does for what concerns the request as
   * a whole (the signature, a body that is not the expected shape). Without it the pipeline uses
   * `parse`.
   *
   * @since 0.2.0
   */
  readonly parseEach?: (request: InboundRequest) => Effect.Effect<Parsed, PortError.CarrierError>
  readonly createTracker: (request: CreateTracker) => Effect.Effect<Tracker, PortError.CarrierError>
  readonly buyLabel: (request: BuyLabel) => Effect.Effect<Label, PortError.CarrierError>
}

/**
 * The carrier port.
 *
 * @since 0.1.0
 */
export class CarrierPort extends Context.Tag("@waybill/core/CarrierPort")<CarrierPort, CarrierPortShape>() {}
