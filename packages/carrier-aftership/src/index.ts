/**
 * AfterShip adapter for waybill: webhook verification (`aftership-hmac-sha256`, legacy
 * `am-webhook-signature`), normalization of trackings and their checkpoints into canonical
 * events by the full tag/subtag table, and tracker creation over the AfterShip Tracking API.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as AfterShipCarrier from "./AfterShipCarrier.js"
/** @since 0.1.0 */
export * as AfterShipClient from "./AfterShipClient.js"
/** @since 0.1.0 */
export * as AfterShipMapping from "./AfterShipMapping.js"
/** @since 0.1.0 */
export * as AfterShipTracking from "./AfterShipTracking.js"
/** @since 0.1.0 */
export * as AfterShipWebhook from "./AfterShipWebhook.js"
