/**
 * The Odoo adapter of waybill: JSON-RPC and JSON-2 clients, the `ErpPort` and `HelpdeskPort`
 * implementation, and the helpers they are built from.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as OdooClient from "./OdooClient.js"
/** @since 0.1.0 */
export * as OdooCommand from "./OdooCommand.js"
/** @since 0.1.0 */
export * as OdooDomain from "./OdooDomain.js"
/** @since 0.1.0 */
export * as OdooFault from "./OdooFault.js"
/** @since 0.1.0 */
export * as OdooField from "./OdooField.js"
/** @since 0.1.0 */
export * as OdooErp from "./OdooErp.js"
