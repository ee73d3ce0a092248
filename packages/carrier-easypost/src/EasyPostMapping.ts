/**
 * EasyPost's tracking vocabulary and how it maps to waybill's canonical statuses.
 *
 * EasyPost reports a `status` (10 values) and a finer `status_detail` (28 values) on the tracker
 * and on every `tracking_details` entry. A detail that names a problem (`damaged`,
 * `weather_delay`, `address_correction`, …) becomes an exception of the matching kind; a detail
 * that names a step (`label_created`, `out_for_delivery`, `return`, …) becomes that status;
 * every other detail defers to the status. Codes outside these tables are never dropped: they
 * fall back to the status (an unknown detail; `unknown` when the status is `delivered`, so no
 * unmapped code ever releases an invoice) or to `unknown` (an unknown status), keep the raw
 * code, and count in {@link unmappedCodes}.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import { CarrierAdapter, Status } from "@waybill/core"

/**
 * The ten tracker statuses EasyPost documents.
 *
 * @since 0.1.0
 */
export const statuses = [
  "unknown",
  "pre_transit",
  "in_transit",
  "out_for_delivery",
  "delivered",
  "available_for_pickup",
  "return_to_sender",
  "failure",
  "cancelled",
  "error"
] as const

/** @since 0.1.0 */
export type EasyPostStatus = (typeof statuses)[number]

/**
 * The 28 `status_detail` values EasyPost documents.
 *
 * @since 0.1.0
 */
export const statusDetails = [
  "address_correction",
  "arrived_at_destination",
  "arrived_at_facility",
  "arrived_at_pickup_location",
  "awaiting_information",
  "cancelled",
  "damaged",
  "delayed",
  "delivery_exception",
  "departed_facility",
  "departed_origin_facility",
  "expired",
  "failure",
  "held",
  "in_transit",
  "label_created",
  "lost",
  "missorted",
  "out_for_delivery",
  "received_at_destination_facility",
  "received_at_origin_facility",
  "refused",
  "return",
  "status_update",
  "transferred_to_destination_carrier",
  "transit_exception",
  "unknown",
  "weather_delay"
] as const

/** @since 0.1.0 */
export type EasyPostStatusDetail = (typeof statusDetails)[number]

/**
 * What one EasyPost code means canonically: a status scan or an exception of a kind.
 *
 * @since 0.1.0
 */
export type Canonical =
  | { readonly _tag: "Status"; readonly status: Status.ReportedStatus }
  | { readonly _tag: "Exception"; readonly kind: Status.ExceptionKind }

const status = (s: Status.ReportedStatus): Canonical => ({ _tag: "Status", status: s })
const exception = (kind: Status.ExceptionKind): Canonical => ({ _tag: "Exception", kind })

/**
 * The meaning of each tracker status on its own (when the detail adds nothing).
 * `unknown` and `error` (EasyPost could not track the code) both stay `unknown`: kept with their
 * raw code and visible in monitors; `failure` is a delivery failure.
 *
 * @since 0.1.0
 */
export const statusTable: Readonly<Record<EasyPostStatus, Canonical>> = {
  unknown: status("unknown"),
  pre_transit: status("label_created"),
  in_transit: status("in_transit"),
  out_for_delivery: status("out_for_delivery"),
  delivered: status("delivered"),
  available_for_pickup: status("available_for_pickup"),
  return_to_sender: status("return_initiated"),
  failure: exception("failed_attempt"),
  cancelled: status("cancelled"),
  error: status("unknown")
}

/**
 * What each `status_detail` adds: a canonical meaning of its own, or `"status"` to defer to the
 * tracker status (location scans such as `arrived_at_facility`, or `unknown`). `expired`
 * (the carrier stopped reporting) is deliberately `unknown`: nothing about the parcel is known,
 * and an operator should look. `held` names no cause (EasyPost documents it only as a value: a
 * parcel held at a facility, at the customer's request or for pickup as much as for customs),
 * so it is the generic hold, `delayed`, never a `customs_hold` that would ask for customs
 * documents; the carrier's message stays in the raw code.
 *
 * @since 0.1.0
 */
export const statusDetailTable: Readonly<Record<EasyPostStatusDetail, Canonical | "status">> = {
  address_correction: exception("address_issue"),
  arrived_at_destination: "status",
  arrived_at_facility: "status",
  arrived_at_pickup_location: status("available_for_pickup"),
  awaiting_information: "status",
  cancelled: status("cancelled"),
  damaged: exception("damaged"),
  delayed: exception("delayed"),
  delivery_exception: exception("failed_attempt"),
  departed_facility: "status",
  departed_origin_facility: "status",
  expired: status("unknown"),
  failure: exception("failed_attempt"),
  held: exception("delayed"),
  in_transit: "status",
  label_created: status("label_created"),
  lost: exception("lost"),
  missorted: exception("delayed"),
  out_for_delivery: status("out_for_delivery"),
  received_at_destination_facility: "status",
  received_at_origin_facility: "status",
  refused: exception("refused"),
  return: status("return_initiated"),
  status_update: "status",
  transferred_to_destination_carrier: "status",
  transit_exception: exception("delayed"),
  unknown: "status",
  weather_delay: exception("delayed")
}

/**
 * The outcome of classifying one (status, status_detail) pair: its canonical meaning, an
 * exception the same scan also reports (`also`: a parcel delivered `damaged` is delivered *and*
 * damaged), and the codes no table knew (each is counted in {@link unmappedCodes}).
 *
 * @since 0.1.0
 */
export interface Classification {
  readonly canonical: Canonical
  readonly also?: Canonical | undefined
  readonly unmapped: ReadonlyArray<{ readonly field: "status" | "status_detail"; readonly code: string }>
}

/**
 * What is known of the tracker beyond the scan: `isReturn` is the tracker's `is_return` (the
 * tracker follows a return label, so its `delivered` is the parcel arriving back at the shipper).
 *
 * @since 0.2.0
 */
export interface Context {
  readonly isReturn?: boolean | undefined
  /**
   * The scan came at or after one that started the way back to the shipper (a scan classified
   * `return_initiated` or `returned`): its forward statuses are the return travelling, and its
   * `delivered` is the parcel handed back to the shipper.
   *
   * @since 0.2.0
   */
  readonly returnLeg?: boolean | undefined
}

/**
 * Whether a scan of this meaning starts the way back to the shipper.
 *
 * @since 0.2.0
 */
export const startsReturn = (c: Canonical): boolean =>
  c._tag === "Status" && (c.status === "return_initiated" || c.status === "returned")

const isStatus = (s: string): s is EasyPostStatus => Object.prototype.hasOwnProperty.call(statusTable, s)
const isDetail = (s: string): s is EasyPostStatusDetail => Object.prototype.hasOwnProperty.call(statusDetailTable, s)

/** On a return label's tracker the forward statuses are the return leg. */
const onReturnLeg = (c: Canonical): Canonical => (c._tag === "Status" ? status(Status.onReturnLeg(c.status)) : c)

/**
 * Classifies an EasyPost (status, status_detail) pair. Rules, in order:
 * 1. an unknown status is `unknown` (whatever the detail says: the pair is not understood);
 * 2. `delivered` is a delivery to the consignee only when the detail does not say otherwise:
 *    with `return` it is the return delivered back to the shipper (`returned`); with
 *    `arrived_at_pickup_location` it is a parcel left at a pickup point or locker, not yet
 *    collected (`available_for_pickup`); with `damaged` it is delivered and also a `damaged`
 *    exception (`also`), so the damage holds the invoice and opens a case; with a detail no
 *    table knows it is `unknown` (counted, never a delivery on a code nobody mapped); with any
 *    other documented detail it stays delivered;
 * 3. `held` on an `available_for_pickup` scan is the parcel held for pickup, not a customs hold;
 * 4. `return_to_sender` + `arrived_at_destination` is the return arriving: `returned`; with a
 *    detail naming a forward step (`out_for_delivery`, `arrived_at_pickup_location`) it is the
 *    return on its way (`return_initiated`), never that forward step;
 * 5. a detail with a meaning of its own wins; otherwise the status decides;
 * 6. on a return label's tracker (`context.isReturn`), and on a scan at or after one that started
 *    the way back (`context.returnLeg`), the forward statuses are the return leg: `delivered` is
 *    `returned`, a parcel on its way is `return_initiated`.
 *
 * @since 0.1.0
 */
export const classify = (rawStatus: string, rawDetail: string | undefined, context?: Context): Classification => {
  const c = classifyScan(rawStatus, rawDetail)
  if (context?.isReturn !== true && context?.returnLeg !== true) return c
  return { canonical: onReturnLeg(c.canonical), also: c.also, unmapped: c.unmapped }
}

const classifyScan = (rawStatus: string, rawDetail: string | undefined): Classification => {
  const detail = rawDetail === undefined || rawDetail === "" ? undefined : rawDetail
  if (!isStatus(rawStatus)) {
    const unmapped: Array<{ field: "status" | "status_detail"; code: string }> = [{ field: "status", code: rawStatus }]
    if (detail !== undefined && !isDetail(detail)) unmapped.push({ field: "status_detail", code: detail })
    return { canonical: status("unknown"), unmapped }
  }
  const base = statusTable[rawStatus]
  if (detail === undefined) return { canonical: base, unmapped: [] }
  if (!isDetail(detail)) {
    const unmapped = [{ field: "status_detail" as const, code: detail }]
    return { canonical: rawStatus === "delivered" ? status("unknown") : base, unmapped }
  }
  if (rawStatus === "delivered") {
    switch (detail) {
      case "return":
        return { canonical: status("returned"), unmapped: [] }
      case "arrived_at_pickup_location":
        return { canonical: status("available_for_pickup"), unmapped: [] }
      case "damaged":
        return { canonical: base, also: exception("damaged"), unmapped: [] }
      default:
        return { canonical: base, unmapped: [] }
    }
  }
  if (rawStatus === "available_for_pickup" && detail === "held") return { canonical: base, unmapped: [] }
  if (rawStatus === "return_to_sender" && detail === "arrived_at_destination") {
    return { canonical: status("returned"), unmapped: [] }
  }
  const own = statusDetailTable[detail]
  const canonical = own === "status" ? base : own
  // The parcel is on its way back to the shipper: a forward step the detail names (out for
  // delivery, at a pickup location) is that return travelling, not the consignee's delivery.
  return { canonical: rawStatus === "return_to_sender" ? onReturnLeg(canonical) : canonical, unmapped: [] }
}

/**
 * Counts vendor codes that no table maps, tagged with `source`, `field` and `code` (the same
 * metric every waybill carrier adapter uses: `CarrierAdapter.unmappedCodes`).
 *
 * @since 0.1.0
 */
export const unmappedCodes = CarrierAdapter.unmappedCodes

/**
 * Increments {@link unmappedCodes} for one code.
 *
 * @since 0.1.0
 */
export const countUnmapped: (source: string, field: string, code: string) => Effect.Effect<void> = CarrierAdapter.countUnmapped
