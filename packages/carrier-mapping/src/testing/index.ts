/**
 * Test kit for mapping configs.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as MappingTestKit from "./MappingTestKit.js"
