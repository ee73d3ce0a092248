/**
 * Test kit of the Odoo adapter: `OdooFake`, an in-process Odoo 17/18/19 server.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as OdooFake from "./OdooFake.js"
