/**
 * The ERP port (Odoo is the reference implementation): order intake, milestones back,
 * delivery validation, invoice release and payment read-back.
 *
 * Every write carries an idempotency `key` chosen by the caller (the outbox action key). An
 * implementation must make a repeated call with the same key a no-op at the far side (look up
 * by key before creating), because the dispatcher retries after timeouts and crashes.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Instant from "./Instant.js"
import * as Invoice from "./Invoice.js"
import * as Order from "./Order.js"
import type * as PortError from "./PortError.js"
import * as Shipment from "./Shipment.js"
import * as ShipmentEvent from "./ShipmentEvent.js"

/**
 * An idempotency key: deterministic per business effect, e.g. `shp-1:erp.writeTracking` or
 * `shp-1:erp.postNote:reached:delivered:evt-7`.
 *
 * @since 0.1.0
 */
export const IdempotencyKey = Schema.String.pipe(
  Schema.minLength(1),
  Schema.maxLength(500),
  Schema.brand("IdempotencyKey")
).annotations({ identifier: "IdempotencyKey" })
/** @since 0.1.0 */
export type IdempotencyKey = typeof IdempotencyKey.Type

/**
 * A confirmed order and the deliveries the ERP created for it.
 *
 * @since 0.1.0
 */
export class OrderIntake extends Schema.Class<OrderIntake>("OrderIntake")({
  order: Order.Order,
  shipments: Schema.Array(Shipment.Shipment)
}) {}

/**
 * An order the ERP holds that the adapter could not take in (it does not map to the canonical
 * model: no address, a negative quantity, …), with what is wrong. The intake moves on past it;
 * the order is taken in when a fix in the ERP changes it again.
 *
 * @since 0.2.0
 */
export class RejectedIntake extends Schema.Class<RejectedIntake>("RejectedIntake")({
  /** The order's id in the ERP, canonical (e.g. `<instance>:sale.order:42`). */
  ref: Schema.String,
  /** The order's name in the ERP (e.g. `S00042`), for people. */
  name: Schema.String,
  /** What is wrong, naming the fields. */
  reason: Schema.String
}) {}

/**
 * One page of order intake and the cursor to continue from, with the orders of the page that
 * could not be taken in (`rejected`: keep them, e.g. as dead letters, so someone fixes them).
 *
 * @since 0.1.0
 */
export class OrderBatch extends Schema.Class<OrderBatch>("OrderBatch")({
  intakes: Schema.Array(OrderIntake),
  cursor: Schema.optionalWith(Schema.String, { exact: true }),
  /** @since 0.2.0 */
  rejected: Schema.optionalWith(Schema.Array(RejectedIntake), { default: () => [] })
}) {}

/**
 * Write the carrier and tracking number to the ERP's delivery.
 *
 * @since 0.1.0
 */
export class WriteTracking extends Schema.Class<WriteTracking>("WriteTracking")({
  key: IdempotencyKey,
  shipment: Shipment.Shipment,
  carrier: Schema.String,
  trackingNumber: Schema.String
}) {}

/**
 * Post a note on the delivery (a milestone, a hold, a compensation). Posted once per key.
 *
 * @since 0.1.0
 */
export class PostNote extends Schema.Class<PostNote>("PostNote")({
  key: IdempotencyKey,
  shipment: Shipment.Shipment,
  subject: Schema.String,
  body: Schema.String
}) {}

/**
 * Mark the delivery done in the ERP. A delivery already done counts as success.
 *
 * @since 0.1.0
 */
export class ValidateDelivery extends Schema.Class<ValidateDelivery>("ValidateDelivery")({
  key: IdempotencyKey,
  shipment: Shipment.Shipment,
  deliveredAt: Instant.Instant,
  pod: Schema.optionalWith(ShipmentEvent.ProofOfDelivery, { exact: true })
}) {}

/**
 * The outcome of a delivery validation.
 *
 * @since 0.1.0
 */
export class DeliveryValidated extends Schema.Class<DeliveryValidated>("DeliveryValidated")({
  alreadyDone: Schema.Boolean,
  backorder: Schema.optionalWith(Schema.String, { exact: true })
}) {}

/**
 * Release (create and post) the customer invoice for the shipment's order. Never creates a
 * second invoice for the same order and delivery.
 *
 * @since 0.1.0
 */
export class ReleaseInvoice extends Schema.Class<ReleaseInvoice>("ReleaseInvoice")({
  key: IdempotencyKey,
  shipment: Shipment.Shipment
}) {}

/**
 * The released invoice, and whether this call created it.
 *
 * @since 0.1.0
 */
export class InvoiceReleased extends Schema.Class<InvoiceReleased>("InvoiceReleased")({
  invoice: Invoice.Invoice,
  created: Schema.Boolean
}) {}

/**
 * Read an invoice's payment state back.
 *
 * @since 0.1.0
 */
export class ReadPayment extends Schema.Class<ReadPayment>("ReadPayment")({
  invoice: Invoice.Invoice
}) {}

/**
 * The ERP operations the flows need.
 *
 * @since 0.1.0
 */
export interface ErpPortShape {
  /** Confirmed orders and their deliveries changed after `cursor`, oldest first. */
  readonly fetchOrders: (request: {
    readonly cursor: string | undefined
    readonly limit: number
  }) => Effect.Effect<OrderBatch, PortError.ErpError>
  readonly writeTracking: (request: WriteTracking) => Effect.Effect<void, PortError.ErpError>
  readonly postNote: (request: PostNote) => Effect.Effect<void, PortError.ErpError>
  readonly validateDelivery: (request: ValidateDelivery) => Effect.Effect<DeliveryValidated, PortError.ErpError>
  readonly releaseInvoice: (request: ReleaseInvoice) => Effect.Effect<InvoiceReleased, PortError.ErpError>
  readonly readPayment: (request: ReadPayment) => Effect.Effect<Invoice.PaymentState, PortError.ErpError>
}

/**
 * The ERP port.
 *
 * @since 0.1.0
 */
export class ErpPort extends Context.Tag("@waybill/core/ErpPort")<ErpPort, ErpPortShape>() {}
