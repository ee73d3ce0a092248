/**
 * Branded identifiers of the canonical model.
 *
 * Ids are opaque, non-empty strings of at most 200 characters without control characters.
 * The brand keeps an `OrderId` from being passed where a `ShipmentId` is expected.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

const IdString = Schema.String.pipe(
  Schema.minLength(1, { message: () => "an id must not be empty" }),
  Schema.maxLength(200, { message: () => "an id must be at most 200 characters" }),
  // eslint-disable-next-line no-control-regex
  Schema.pattern(/^[^\u0000-\u001f\u007f]+$/, { message: () => "an id must not contain control characters" })
)

const id = <const B extends string>(brand: B) =>
  IdString.pipe(Schema.brand(brand)).annotations({ identifier: brand, description: `a ${brand}` })

/** @since 0.1.0 */
export const CompanyId = id("CompanyId")
/** @since 0.1.0 */
export type CompanyId = typeof CompanyId.Type
/** @since 0.1.0 */
export const OrderId = id("OrderId")
/** @since 0.1.0 */
export type OrderId = typeof OrderId.Type
/** @since 0.1.0 */
export const OrderLineId = id("OrderLineId")
/** @since 0.1.0 */
export type OrderLineId = typeof OrderLineId.Type
/** @since 0.1.0 */
export const ShipmentId = id("ShipmentId")
/** @since 0.1.0 */
export type ShipmentId = typeof ShipmentId.Type
/** @since 0.1.0 */
export const PackageId = id("PackageId")
/** @since 0.1.0 */
export type PackageId = typeof PackageId.Type
/** The identity of one reported event; together with its source it is the idempotency key. @since 0.1.0 */
export const EventId = id("EventId")
/** @since 0.1.0 */
export type EventId = typeof EventId.Type
/** @since 0.1.0 */
export const ChargeId = id("ChargeId")
/** @since 0.1.0 */
export type ChargeId = typeof ChargeId.Type
/** @since 0.1.0 */
export const InvoiceId = id("InvoiceId")
/** @since 0.1.0 */
export type InvoiceId = typeof InvoiceId.Type
/** @since 0.1.0 */
export const PaymentId = id("PaymentId")
/** @since 0.1.0 */
export type PaymentId = typeof PaymentId.Type
/** @since 0.1.0 */
export const CaseId = id("CaseId")
/** @since 0.1.0 */
export type CaseId = typeof CaseId.Type
/** @since 0.1.0 */
export const PartyId = id("PartyId")
/** @since 0.1.0 */
export type PartyId = typeof PartyId.Type
