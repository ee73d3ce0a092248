/**
 * Test kit for the AfterShip adapter: an in-process AfterShip Tracking API server that also
 * signs and sends webhooks.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as AfterShipFake from "./AfterShipFake.js"
