/**
 * The canonical shipment vocabulary: the ranked forward track, the return track, cancellation,
 * the exception overlay and `unknown` for codes no table maps.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Forward statuses, in rank order (`created` lowest, `delivered` highest).
 *
 * @since 0.1.0
 */
export const forwardStatuses = [
  "created",
  "picked",
  "packed",
  "label_created",
  "dispatched",
  "in_transit",
  "out_for_delivery",
  "available_for_pickup",
  "delivered"
] as const

/** @since 0.1.0 */
export const ForwardStatus = Schema.Literal(...forwardStatuses)
/** @since 0.1.0 */
export type ForwardStatus = typeof ForwardStatus.Type

/**
 * Return statuses, in rank order.
 *
 * @since 0.1.0
 */
export const returnStatuses = ["return_initiated", "returned"] as const

/** @since 0.1.0 */
export const ReturnStatus = Schema.Literal(...returnStatuses)
/** @since 0.1.0 */
export type ReturnStatus = typeof ReturnStatus.Type

/**
 * Every status an event may report: forward, return, `cancelled`, or `unknown` (an unmapped
 * vendor code: kept, counted, never dropped).
 *
 * @since 0.1.0
 */
export const ReportedStatus = Schema.Literal(...forwardStatuses, ...returnStatuses, "cancelled", "unknown")
/** @since 0.1.0 */
export type ReportedStatus = typeof ReportedStatus.Type

/**
 * Exception kinds: an overlay over the forward progress, not a step of it.
 *
 * @since 0.1.0
 */
export const exceptionKinds = [
  "delayed",
  "failed_attempt",
  "damaged",
  "address_issue",
  "customs_hold",
  "refused",
  "lost"
] as const

/** @since 0.1.0 */
export const ExceptionKind = Schema.Literal(...exceptionKinds)
/** @since 0.1.0 */
export type ExceptionKind = typeof ExceptionKind.Type

/**
 * The status shown for a shipment: `pending` before any event, otherwise cancelled › return
 * track › delivered › the newest open exception › forward progress.
 *
 * @since 0.1.0
 */
export const DisplayStatus = Schema.Literal("pending", ...forwardStatuses, ...returnStatuses, "cancelled", ...exceptionKinds)
/** @since 0.1.0 */
export type DisplayStatus = typeof DisplayStatus.Type

const forwardRanks: Record<ForwardStatus, number> = Object.fromEntries(
  forwardStatuses.map((s, i) => [s, i + 1])
) as Record<ForwardStatus, number>

/**
 * The rank of a forward status, 1 (`created`) to 9 (`delivered`).
 *
 * @since 0.1.0
 */
export const forwardRank = (status: ForwardStatus): number => forwardRanks[status]

/**
 * The rank of a return status, 1 (`return_initiated`) or 2 (`returned`).
 *
 * @since 0.1.0
 */
export const returnRank = (status: ReturnStatus): number => (status === "return_initiated" ? 1 : 2)

/** @since 0.1.0 */
export const isForward = (status: ReportedStatus): status is ForwardStatus =>
  (forwardRanks as Record<string, number | undefined>)[status] !== undefined

/** @since 0.1.0 */
export const isReturn = (status: ReportedStatus): status is ReturnStatus =>
  status === "return_initiated" || status === "returned"

/**
 * What a carrier's status means on a parcel's way back to its shipper (a return label, or a
 * return to sender after a failed delivery): the delivery is the return arriving (`returned`),
 * a forward step is the return travelling (`return_initiated`); the rest means what it says.
 * Adapters whose carrier reports the return leg in forward codes read them through this.
 *
 * @since 0.2.0
 */
export const onReturnLeg = (status: ReportedStatus): ReportedStatus => {
  switch (status) {
    case "delivered":
      return "returned"
    case "dispatched":
    case "in_transit":
    case "out_for_delivery":
    case "available_for_pickup":
      return "return_initiated"
    default:
      return status
  }
}

/**
 * Forward statuses that are branches rather than steps of the spine: reaching `delivered` does
 * not imply that the parcel was ever out for delivery or waiting at a pickup point, so these
 * milestones are reached only by an event of exactly that status.
 *
 * @since 0.1.0
 */
export const branchStatuses: ReadonlySet<ForwardStatus> = new Set(["out_for_delivery", "available_for_pickup"])
