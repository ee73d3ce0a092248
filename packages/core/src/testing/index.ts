/**
 * Test kits for waybill and its adapters: realistic event histories, conformance suites for the
 * `Store` and `Transport` ports (vitest), and in-memory far sides with fault injection for the
 * effect ports.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as FakePorts from "./FakePorts.js"
/** @since 0.1.0 */
export * as Histories from "./Histories.js"
/** @since 0.1.0 */
export * as StoreSuite from "./StoreSuite.js"
/** @since 0.1.0 */
export * as TransportSuite from "./TransportSuite.js"
