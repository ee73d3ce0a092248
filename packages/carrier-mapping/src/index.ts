/**
 * waybill declarative mapping adapter: onboard a carrier, aggregator or warehouse with a
 * validated config instead of code.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as DhlUnified from "./DhlUnified.js"
/** @since 0.1.0 */
export * as FieldPath from "./FieldPath.js"
/** @since 0.1.0 */
export * as GenericWarehouse from "./GenericWarehouse.js"
/** @since 0.1.0 */
export * as MappingCarrier from "./MappingCarrier.js"
/** @since 0.1.0 */
export * as MappingConfig from "./MappingConfig.js"
