/**
 * EasyPost adapter for waybill: webhook verification (`X-Hmac-Signature`), normalization of
 * trackers into canonical events, and trackers and labels over the EasyPost HTTP API.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as EasyPostCarrier from "./EasyPostCarrier.js"
/** @since 0.1.0 */
export * as EasyPostClient from "./EasyPostClient.js"
/** @since 0.1.0 */
export * as EasyPostMapping from "./EasyPostMapping.js"
/** @since 0.1.0 */
export * as EasyPostTracking from "./EasyPostTracking.js"
/** @since 0.1.0 */
export * as EasyPostWebhook from "./EasyPostWebhook.js"
