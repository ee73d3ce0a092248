/**
 * An optional external finance system that releases invoices instead of the ERP.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as ErpPort from "./ErpPort.js"
import type * as Invoice from "./Invoice.js"
import type * as PortError from "./PortError.js"

/**
 * @since 0.1.0
 */
export interface FinancePortShape {
  readonly releaseInvoice: (request: ErpPort.ReleaseInvoice) => Effect.Effect<ErpPort.InvoiceReleased, PortError.FinanceError>
  readonly readPayment: (request: ErpPort.ReadPayment) => Effect.Effect<Invoice.PaymentState, PortError.FinanceError>
}

/**
 * The finance port.
 *
 * @since 0.1.0
 */
export class FinancePort extends Context.Tag("@waybill/core/FinancePort")<FinancePort, FinancePortShape>() {}
