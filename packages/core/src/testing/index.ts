/**
 * Test kits for waybill and its adapters: realistic event histories (and, with the runtime,
 * conformance suites for every port).
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Histories from "./Histories.js"
