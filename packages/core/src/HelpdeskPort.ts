/**
 * The helpdesk port: one service case per shipment, opened by the first exception, enriched by
 * later ones, updated on resolution or delivery. Payloads carry minimized context only (see
 * `Privacy`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as ErpPort from "./ErpPort.js"
import * as Ids from "./Ids.js"
import * as Instant from "./Instant.js"
import * as Money from "./Money.js"
import * as Party from "./Party.js"
import * as Pii from "./Pii.js"
import type * as PortError from "./PortError.js"
import * as Status from "./Status.js"

/**
 * What support needs to know about a shipment, and no more. Personal fields are optional and
 * annotated, so the destination's privacy policy can drop or mask them and the payload still
 * decodes; city and country stay, because support needs them.
 *
 * @since 0.1.0
 */
export class CaseContext extends Schema.Class<CaseContext>("CaseContext")({
  shipmentId: Ids.ShipmentId,
  orderId: Ids.OrderId,
  status: Status.DisplayStatus,
  progress: Schema.optionalWith(Status.ForwardStatus, { exact: true }),
  carrier: Schema.optionalWith(Schema.String, { exact: true }),
  trackingNumber: Schema.optionalWith(Schema.String, { exact: true }),
  lastCity: Schema.optionalWith(Schema.String, { exact: true }),
  lastCountry: Schema.optionalWith(Schema.String, { exact: true }),
  lastScanAt: Schema.optionalWith(Instant.Instant, { exact: true }),
  exceptions: Schema.Array(
    Schema.Struct({ kind: Status.ExceptionKind, at: Instant.Instant, open: Schema.Boolean, code: Schema.String })
  ),
  invoiceExposure: Schema.optionalWith(Money.Money, { exact: true }),
  nextAction: Schema.String,
  customerName: Schema.optionalWith(Schema.String.pipe(Pii.pii("name")), { exact: true }),
  customerEmail: Schema.optionalWith(Schema.String.pipe(Pii.pii("email")), { exact: true }),
  customerPhone: Schema.optionalWith(Schema.String.pipe(Pii.pii("phone")), { exact: true }),
  shipToStreet: Schema.optionalWith(Schema.String.pipe(Pii.pii("street")), { exact: true }),
  shipToPostalCode: Schema.optionalWith(Schema.String.pipe(Pii.pii("postal_code")), { exact: true }),
  shipToCity: Schema.String,
  shipToCountry: Party.CountryCode
}) {}

/**
 * Open the shipment's case, or enrich it when one exists (one case per shipment).
 *
 * @since 0.1.0
 */
export class OpenCase extends Schema.Class<OpenCase>("OpenCase")({
  key: ErpPort.IdempotencyKey,
  companyId: Ids.CompanyId,
  shipmentId: Ids.ShipmentId,
  subject: Schema.String,
  note: Schema.String,
  context: CaseContext
}) {}

/**
 * Add a note (and fresh context) to the shipment's case; `resolve` closes it.
 *
 * @since 0.1.0
 */
export class UpdateCase extends Schema.Class<UpdateCase>("UpdateCase")({
  key: ErpPort.IdempotencyKey,
  companyId: Ids.CompanyId,
  shipmentId: Ids.ShipmentId,
  note: Schema.String,
  context: CaseContext,
  resolve: Schema.Boolean
}) {}

/**
 * The case at the far side, and whether this call created it.
 *
 * @since 0.1.0
 */
export class CaseRef extends Schema.Class<CaseRef>("CaseRef")({
  externalId: Schema.String,
  created: Schema.Boolean
}) {}

/**
 * The helpdesk operations the flows need.
 *
 * @since 0.1.0
 */
export interface HelpdeskPortShape {
  readonly openOrEnrich: (request: OpenCase) => Effect.Effect<CaseRef, PortError.HelpdeskError>
  /** Fails with `NotFound` when the shipment has no case. */
  readonly update: (request: UpdateCase) => Effect.Effect<CaseRef, PortError.HelpdeskError>
}

/**
 * The helpdesk port.
 *
 * @since 0.1.0
 */
export class HelpdeskPort extends Context.Tag("@waybill/core/HelpdeskPort")<HelpdeskPort, HelpdeskPortShape>() {}
