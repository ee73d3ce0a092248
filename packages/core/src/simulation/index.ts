/**
 * Simulation kits that run anywhere (no test runner needed): realistic, messy event histories
 * and in-memory far sides with fault injection. Demos and benchmarks use them;
 * `@waybill/core/testing` re-exports them next to the vitest conformance suites.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as FakePorts from "./FakePorts.js"
/** @since 0.1.0 */
export * as Histories from "./Histories.js"
/** @since 0.1.0 */
export * as Random from "./Random.js"
/** @since 0.1.0 */
export * as HttpFake from "./HttpFake.js"
