/**
 * The runtime's Effect metrics. Export them with any Effect metrics exporter (OpenTelemetry via
 * `@effect/opentelemetry`), or read them with `Metric.value` / `Metric.snapshot`.
 *
 * Business monitors are metrics too: invoice holds by reason, dead letters by target, unmapped
 * carrier codes (counted by the carrier adapters), anomalies by reason.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/** Events ingested, tagged `outcome` (Accepted, Duplicate, Stale, Anomaly). @since 0.1.0 */
export const events = Metric.counter("waybill_events_total", { description: "events ingested, by outcome" })

/** Milestones reached, tagged `milestone`. @since 0.1.0 */
export const milestones = Metric.counter("waybill_milestones_total", { description: "milestones reached" })

/** Milestones withdrawn (untagged). @since 0.1.0 */
export const withdrawals = Metric.counter("waybill_milestones_withdrawn_total", { description: "milestones withdrawn" })

/** Anomalies recorded, tagged `reason`. @since 0.1.0 */
export const anomalies = Metric.counter("waybill_anomalies_total", { description: "anomalies recorded" })

/** Commit conflicts (version CAS lost; the event is re-applied). @since 0.1.0 */
export const conflicts = Metric.counter("waybill_commit_conflicts_total", { description: "commit conflicts" })

/** Time to ingest one event, milliseconds. @since 0.1.0 */
export const ingestLatency = Metric.histogram(
  "waybill_ingest_latency_ms",
  MetricBoundaries.exponential({ start: 0.05, factor: 2, count: 16 }),
  "time to ingest one event"
)

/** Actions carried out, tagged `kind` and `result` (done, retry, dead, lease-lost). @since 0.1.0 */
export const actions = Metric.counter("waybill_actions_total", { description: "outbox actions by result" })

/** Far-side call attempts that failed and were retried, tagged `target`. @since 0.1.0 */
export const retries = Metric.counter("waybill_action_retries_total", { description: "retried far-side calls" })

/** Far-side call latency, milliseconds, tagged `target`. @since 0.1.0 */
export const actionLatency = Metric.histogram(
  "waybill_action_latency_ms",
  MetricBoundaries.exponential({ start: 0.5, factor: 2, count: 16 }),
  "far-side call latency"
)

/** Dead letters written, tagged `target` (`ingest` for inbound messages the pipeline dead-letters) and `reason`. @since 0.1.0 */
export const deadLetters = Metric.counter("waybill_dead_letters_total", { description: "dead letters written" })

/** Invoice holds raised, tagged `reason`. @since 0.1.0 */
export const holds = Metric.counter("waybill_invoice_holds_total", { description: "invoice holds raised" })

/** Invoices released. @since 0.1.0 */
export const invoicesReleased = Metric.counter("waybill_invoices_released_total", { description: "invoices released" })

/**
 * Problems found after an invoice was released, reported through the shipment's service case
 * (the release is never taken back), tagged `reason`: `milestone_withdrawn` (its trigger or POD
 * withdrawn), `weight_out_of_tolerance` (a weight measured after it), `cancelled` (a cancellation dated
 * before the dispatch, arriving after it), `return_to_sender` (sent back to the sender with no
 * delivery to the customer before the return, since 0.2.0). @since 0.2.0
 */
export const compensations = Metric.counter("waybill_invoice_compensations_total", {
  description: "problems found after an invoice was released, sent to the service case"
})

/** Circuit breaker openings, tagged `target`. @since 0.1.0 */
export const breakerOpenings = Metric.counter("waybill_breaker_open_total", { description: "circuit breaker openings" })
