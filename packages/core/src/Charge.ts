/**
 * Carrier charges recorded per shipment: freight, surcharges and accessorials.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as ExternalRefs from "./ExternalRefs.js"
import * as Ids from "./Ids.js"
import * as Instant from "./Instant.js"
import * as Money from "./Money.js"

/**
 * What a charge is for.
 *
 * @since 0.1.0
 */
export const ChargeKind = Schema.Literal("freight", "fuel_surcharge", "residential", "accessorial", "duty", "tax", "other")
/** @since 0.1.0 */
export type ChargeKind = typeof ChargeKind.Type

/**
 * One charge by a carrier for a shipment. Re-billable charges become customer invoice lines.
 *
 * @since 0.1.0
 */
export class Charge extends Schema.Class<Charge>("Charge")({
  id: Ids.ChargeId,
  companyId: Ids.CompanyId,
  shipmentId: Ids.ShipmentId,
  refs: ExternalRefs.ExternalRefs,
  kind: ChargeKind,
  code: Schema.String.pipe(Schema.maxLength(100)),
  amount: Money.Money,
  rebillable: Schema.Boolean,
  incurredAt: Instant.Instant
}) {}
