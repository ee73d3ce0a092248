/**
 * Test kits for waybill and its adapters: conformance suites for the `Store`, `Transport` and
 * `RateLimit.SharedRateLimit` ports (they register vitest tests), plus the simulation kits of
 * `@waybill/core/simulation` (realistic event histories, far sides with fault injection).
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as CarrierSuite from "./CarrierSuite.js"
/** @since 0.1.0 */
export * as FakePorts from "../simulation/FakePorts.js"
/** @since 0.1.0 */
export * as Histories from "../simulation/Histories.js"
/** @since 0.1.0 */
export * as HttpFake from "../simulation/HttpFake.js"
/** @since 0.1.0 */
export * as ParserFuzz from "./ParserFuzz.js"
/** @since 0.1.0 */
export * as PortSuite from "./PortSuite.js"
/** @since 0.2.0 */
export * as RateLimitSuite from "./RateLimitSuite.js"
/** @since 0.1.0 */
export * as StoreSuite from "./StoreSuite.js"
/** @since 0.1.0 */
export * as TransportSuite from "./TransportSuite.js"
