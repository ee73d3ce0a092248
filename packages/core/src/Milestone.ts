/**
 * Milestones: the monotone facts derived from a shipment's events. They are plain tagged
 * structs (`{ _tag: "Reached", status, at }`), cheap to build on the hot path. Business effects hang off
 * milestones, never off raw events, so each effect is decided once per shipment whatever the
 * arrival order.
 *
 * Every milestone has a stable {@link key}; `at` is informational and may move earlier when an
 * earlier event arrives late, without making it a new milestone.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Ids from "./Ids.js"
import * as Instant from "./Instant.js"
import * as Status from "./Status.js"

/**
 * The shipment reached a forward or return status (spine statuses are implied by higher ones).
 *
 * @since 0.1.0
 */
export const Reached = Schema.TaggedStruct("Reached", {
  status: Schema.Union(Status.ForwardStatus, Status.ReturnStatus),
  at: Instant.Instant
})
/** @since 0.1.0 */
export type Reached = typeof Reached.Type

/**
 * A proof of delivery was received.
 *
 * @since 0.1.0
 */
export const PodReceived = Schema.TaggedStruct("PodReceived", {
  at: Instant.Instant
})
/** @since 0.1.0 */
export type PodReceived = typeof PodReceived.Type

/**
 * An exception was reported (one milestone per exception event).
 *
 * @since 0.1.0
 */
export const ExceptionOpened = Schema.TaggedStruct("ExceptionOpened", {
  eventId: Ids.EventId,
  kind: Status.ExceptionKind,
  at: Instant.Instant
})
/** @since 0.1.0 */
export type ExceptionOpened = typeof ExceptionOpened.Type

/**
 * A reported exception was resolved, by later movement or an explicit clearance.
 *
 * @since 0.1.0
 */
export const ExceptionResolved = Schema.TaggedStruct("ExceptionResolved", {
  eventId: Ids.EventId,
  kind: Status.ExceptionKind,
  at: Instant.Instant
})
/** @since 0.1.0 */
export type ExceptionResolved = typeof ExceptionResolved.Type

/**
 * The shipment was validly cancelled (before dispatch).
 *
 * @since 0.1.0
 */
export const Cancelled = Schema.TaggedStruct("Cancelled", {
  at: Instant.Instant
})
/** @since 0.1.0 */
export type Cancelled = typeof Cancelled.Type

/**
 * Any milestone.
 *
 * @since 0.1.0
 */
export const Milestone = Schema.Union(Reached, PodReceived, ExceptionOpened, ExceptionResolved, Cancelled).annotations({
  identifier: "Milestone"
})

/** @since 0.1.0 */
export type Milestone = typeof Milestone.Type

/**
 * The stable identity of a milestone, e.g. `reached:delivered`, `pod`,
 * `exception_opened:<eventId>`. Outbox action keys are built from it.
 *
 * @since 0.1.0
 */
export const key = (milestone: Milestone): string => computeKey(milestone)

const computeKey = (milestone: Milestone): string => {
  switch (milestone._tag) {
    case "Reached":
      return `reached:${milestone.status}`
    case "PodReceived":
      return "pod"
    case "ExceptionOpened":
      return `exception_opened:${milestone.eventId}`
    case "ExceptionResolved":
      return `exception_resolved:${milestone.eventId}`
    case "Cancelled":
      return "cancelled"
  }
}

/**
 * Why a milestone disappeared: the event behind it was retracted, it was contradicted by an
 * earlier event that arrived late (a cancellation followed by proof of an earlier dispatch),
 * or two copies of one event id disagreed.
 *
 * @since 0.1.0
 */
export const WithdrawalReason = Schema.Literal("retracted", "contradicted", "conflict")
/** @since 0.1.0 */
export type WithdrawalReason = typeof WithdrawalReason.Type

/**
 * A milestone that was reported earlier and no longer holds. Its effects must be compensated
 * (hold an invoice, open a case), never silently undone.
 *
 * @since 0.1.0
 */
export const MilestoneRetracted = Schema.TaggedStruct("MilestoneRetracted", {
  milestone: Milestone,
  reason: WithdrawalReason,
  cause: Ids.EventId
})
/** @since 0.1.0 */
export type MilestoneRetracted = typeof MilestoneRetracted.Type
