/**
 * Customer invoices released for shipped orders.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as ExternalRefs from "./ExternalRefs.js"
import * as Ids from "./Ids.js"
import * as Instant from "./Instant.js"
import * as Money from "./Money.js"

/**
 * Accounting state of an invoice (Odoo's `account.move.state`).
 *
 * @since 0.1.0
 */
export const InvoiceState = Schema.Literal("draft", "posted", "cancelled")
/** @since 0.1.0 */
export type InvoiceState = typeof InvoiceState.Type

/**
 * Payment state of an invoice (Odoo's `payment_state`).
 *
 * @since 0.1.0
 */
export const PaymentState = Schema.Literal("not_paid", "in_payment", "paid", "partial", "reversed", "blocked", "invoicing_legacy")
/** @since 0.1.0 */
export type PaymentState = typeof PaymentState.Type

/**
 * A customer invoice for an order, released when the billing policy allows it.
 *
 * @since 0.1.0
 */
export class Invoice extends Schema.Class<Invoice>("Invoice")({
  id: Ids.InvoiceId,
  companyId: Ids.CompanyId,
  orderId: Ids.OrderId,
  shipmentIds: Schema.Array(Ids.ShipmentId),
  refs: ExternalRefs.ExternalRefs,
  state: InvoiceState,
  paymentState: PaymentState,
  total: Money.Money,
  issuedAt: Schema.optionalWith(Instant.Instant, { exact: true })
}) {}
