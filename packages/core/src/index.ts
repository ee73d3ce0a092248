/**
 * waybill core: the canonical logistics model and the order-independent shipment state machine.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Audit from "./Audit.js"
/** @since 0.1.0 */
export * as CarrierAdapter from "./CarrierAdapter.js"
/** @since 0.1.0 */
export * as CarrierPort from "./CarrierPort.js"
/** @since 0.1.0 */
export * as Charge from "./Charge.js"
/** @since 0.2.0 */
export * as CountryZones from "./CountryZones.js"
/** @since 0.1.0 */
export * as DeadLetters from "./DeadLetters.js"
/** @since 0.1.0 */
export * as Dispatcher from "./Dispatcher.js"
/** @since 0.1.0 */
export * as ErpPort from "./ErpPort.js"
/** @since 0.2.0 */
export * as EventCodec from "./EventCodec.js"
/** @since 0.1.0 */
export * as ExternalRefs from "./ExternalRefs.js"
/** @since 0.1.0 */
export * as FinancePort from "./FinancePort.js"
/** @since 0.1.0 */
export * as Flows from "./Flows.js"
/** @since 0.1.0 */
export * as HelpdeskPort from "./HelpdeskPort.js"
/** @since 0.1.0 */
export * as HttpFailure from "./HttpFailure.js"
/** @since 0.1.0 */
export * as Ids from "./Ids.js"
/** @since 0.1.0 */
export * as Instant from "./Instant.js"
/** @since 0.1.0 */
export * as Invoice from "./Invoice.js"
/** @since 0.1.0 */
export * as KeyedLock from "./KeyedLock.js"
/** @since 0.1.0 */
export * as MemoryStore from "./MemoryStore.js"
/** @since 0.1.0 */
export * as MemoryTransport from "./MemoryTransport.js"
/** @since 0.1.0 */
export * as Metrics from "./Metrics.js"
/** @since 0.1.0 */
export * as Milestone from "./Milestone.js"
/** @since 0.1.0 */
export * as Money from "./Money.js"
/** @since 0.1.0 */
export * as Notifier from "./Notifier.js"
/** @since 0.1.0 */
export * as Order from "./Order.js"
/** @since 0.1.0 */
export * as Party from "./Party.js"
/** @since 0.1.0 */
export * as Payment from "./Payment.js"
/** @since 0.1.0 */
export * as Pii from "./Pii.js"
/** @since 0.1.0 */
export * as Pipeline from "./Pipeline.js"
/** @since 0.1.0 */
export * as PortError from "./PortError.js"
/** @since 0.1.0 */
export * as Privacy from "./Privacy.js"
/** @since 0.2.0 */
export * as RateLimit from "./RateLimit.js"
/** @since 0.1.0 */
export * as ServiceCase from "./ServiceCase.js"
/** @since 0.1.0 */
export * as Shipment from "./Shipment.js"
/** @since 0.1.0 */
export * as ShipmentEvent from "./ShipmentEvent.js"
/** @since 0.1.0 */
export * as ShipmentRecord from "./ShipmentRecord.js"
/** @since 0.1.0 */
export * as ShipmentState from "./ShipmentState.js"
/** @since 0.1.0 */
export * as Status from "./Status.js"
/** @since 0.1.0 */
export * as Store from "./Store.js"
/** @since 0.1.0 */
export * as TimePolicy from "./TimePolicy.js"
/** @since 0.1.0 */
export * as Transport from "./Transport.js"
/** @since 0.1.0 */
export * as Validation from "./Validation.js"
/** @since 0.1.0 */
export * as Waybill from "./Waybill.js"
/** @since 0.1.0 */
export * as WebhookSignature from "./WebhookSignature.js"
/** @since 0.1.0 */
export * as Weight from "./Weight.js"
/** @since 0.1.0 */
export * as Worker from "./Worker.js"
