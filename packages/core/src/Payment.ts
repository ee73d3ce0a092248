/**
 * Payments received against invoices, as read back from the ERP.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as ExternalRefs from "./ExternalRefs.js"
import * as Ids from "./Ids.js"
import * as Instant from "./Instant.js"
import * as Money from "./Money.js"

/**
 * One payment of (part of) an invoice.
 *
 * @since 0.1.0
 */
export class Payment extends Schema.Class<Payment>("Payment")({
  id: Ids.PaymentId,
  companyId: Ids.CompanyId,
  invoiceId: Ids.InvoiceId,
  refs: ExternalRefs.ExternalRefs,
  amount: Money.Money,
  receivedAt: Instant.Instant
}) {}
