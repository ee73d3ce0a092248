/**
 * References an entity has in the external systems around it.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

const Ref = Schema.String.pipe(
  Schema.minLength(1, { message: () => "an external reference must not be empty" }),
  Schema.maxLength(500, { message: () => "an external reference must be at most 500 characters" })
)

/**
 * A record in Odoo: model and database id (e.g. `stock.picking` 42).
 *
 * @since 0.1.0
 */
export class OdooRef extends Schema.Class<OdooRef>("OdooRef")({
  model: Schema.String.pipe(
    Schema.pattern(/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/, { message: () => "an Odoo model looks like sale.order" })
  ),
  id: Schema.Int.pipe(Schema.positive({ message: () => "an Odoo id is a positive integer" }))
}) {}

/**
 * Where an entity lives in each system: Odoo, the carrier (tracker or shipment id), the
 * warehouse, the helpdesk (ticket id) and an external finance system.
 *
 * @since 0.1.0
 */
export class ExternalRefs extends Schema.Class<ExternalRefs>("ExternalRefs")({
  odoo: Schema.optionalWith(OdooRef, { exact: true }),
  carrier: Schema.optionalWith(Ref, { exact: true }),
  wms: Schema.optionalWith(Ref, { exact: true }),
  helpdesk: Schema.optionalWith(Ref, { exact: true }),
  finance: Schema.optionalWith(Ref, { exact: true })
}) {
  /** No references yet. @since 0.1.0 */
  static readonly empty: ExternalRefs = new ExternalRefs({})
}
