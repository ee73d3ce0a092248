/**
 * The customer notification port (email, SMS, a shop's order page).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as ErpPort from "./ErpPort.js"
import * as Ids from "./Ids.js"
import * as Instant from "./Instant.js"
import * as Pii from "./Pii.js"
import type * as PortError from "./PortError.js"
import * as Status from "./Status.js"

/**
 * What the customer is told about.
 *
 * @since 0.1.0
 */
export const Template = Schema.Literal("dispatched", "out_for_delivery", "delivered", "exception", "returned")
/** @since 0.1.0 */
export type Template = typeof Template.Type

/**
 * One customer notification, sent once per key.
 *
 * @since 0.1.0
 */
export class Notify extends Schema.Class<Notify>("Notify")({
  key: ErpPort.IdempotencyKey,
  companyId: Ids.CompanyId,
  shipmentId: Ids.ShipmentId,
  template: Template,
  recipientName: Schema.optionalWith(Schema.String.pipe(Pii.pii("name")), { exact: true }),
  recipientEmail: Schema.optionalWith(Schema.String.pipe(Pii.pii("email")), { exact: true }),
  recipientPhone: Schema.optionalWith(Schema.String.pipe(Pii.pii("phone")), { exact: true }),
  status: Status.DisplayStatus,
  carrier: Schema.optionalWith(Schema.String, { exact: true }),
  trackingNumber: Schema.optionalWith(Schema.String, { exact: true }),
  at: Instant.Instant
}) {}

/**
 * @since 0.1.0
 */
export interface NotifierShape {
  readonly notify: (request: Notify) => Effect.Effect<void, PortError.NotifierError>
}

/**
 * The customer notification port.
 *
 * @since 0.1.0
 */
export class Notifier extends Context.Tag("@waybill/core/Notifier")<Notifier, NotifierShape>() {}
