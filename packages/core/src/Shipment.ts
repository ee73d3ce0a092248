/**
 * Shipments and their packages.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as ExternalRefs from "./ExternalRefs.js"
import * as Ids from "./Ids.js"
import * as Instant from "./Instant.js"
import * as Party from "./Party.js"
import * as Weight from "./Weight.js"

const Millimetres = Schema.Int.pipe(
  Schema.between(1, 100_000, { message: () => "a dimension is a whole number of millimetres from 1 to 100,000" })
)

/**
 * One physical parcel of a shipment.
 *
 * @since 0.1.0
 */
export class Package extends Schema.Class<Package>("Package")({
  id: Ids.PackageId,
  weight: Weight.Grams,
  lengthMm: Schema.optionalWith(Millimetres, { exact: true }),
  widthMm: Schema.optionalWith(Millimetres, { exact: true }),
  heightMm: Schema.optionalWith(Millimetres, { exact: true }),
  trackingNumber: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)), { exact: true })
}) {}

/**
 * A shipment: the unit the state machine tracks. `declaredWeight` is what the shipper declared
 * (0 g: none, so there is nothing to compare with); the billing policy compares it with the
 * newest weight above 0 g the warehouse or carrier measured. With several `packages`, only a
 * measured weight above the whole declared weight is out of tolerance (carriers weigh parcel by
 * parcel). Carrier events find the shipment by its `trackingNumber` or by any package's.
 *
 * `cancelledAt` is set when the ERP cancelled this delivery (or its order) at that time:
 * `Pipeline.register` then reports the cancellation as an event of source `erp`, so the state
 * machine decides it like a carrier's (a cancellation before dispatch, an anomaly after).
 *
 * @since 0.1.0
 */
export class Shipment extends Schema.Class<Shipment>("Shipment")({
  id: Ids.ShipmentId,
  companyId: Ids.CompanyId,
  orderId: Ids.OrderId,
  refs: ExternalRefs.ExternalRefs,
  carrier: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)), { exact: true }),
  service: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)), { exact: true }),
  trackingNumber: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)), { exact: true }),
  shipTo: Party.Address,
  packages: Schema.Array(Package).pipe(Schema.maxItems(1000)),
  declaredWeight: Weight.Grams,
  createdAt: Instant.Instant,
  /**
   * When the ERP cancelled the delivery; absent while it is not cancelled.
   *
   * @since 0.2.0
   */
  cancelledAt: Schema.optionalWith(Instant.Instant, { exact: true })
}) {}
