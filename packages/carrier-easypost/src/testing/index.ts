/**
 * Test kit for the EasyPost adapter: an in-process EasyPost API server that also signs and
 * sends webhooks.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as EasyPostFake from "./EasyPostFake.js"
