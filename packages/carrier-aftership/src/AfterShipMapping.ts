/**
 * AfterShip's delivery statuses (`tag`, 9 values) and sub-statuses (`subtag`) and how they map
 * to waybill's canonical statuses and exception kinds.
 *
 * Source: AfterShip Tracking docs, "Delivery Statuses" and "Delivery Sub-statuses"
 * (aftership.com/docs/tracking/enum/…, versions 2023-10 to 2026-07) and the AfterShip help
 * centre's "Learn about delivery sub-status". The sub-status messages below are AfterShip's;
 * where the retrieved documentation did not spell one out (Exception_014, Exception_015,
 * Pending_002 … Pending_006, the retired OutForDelivery_002) the entry says so and maps to the
 * meaning of its tag.
 *
 * A checkpoint maps by its subtag when the table knows it, else by its tag (the unknown subtag
 * is counted in the `waybill_carrier_unmapped_codes_total` metric; under `Delivered` it is
 * `unknown`, never a delivery), else to `unknown` (both codes counted). The raw codes always
 * stay on the event.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import { CarrierAdapter, Status } from "@waybill/core"

/**
 * The nine delivery statuses.
 *
 * @since 0.1.0
 */
export const tags = [
  "Pending",
  "InfoReceived",
  "InTransit",
  "OutForDelivery",
  "AttemptFail",
  "Delivered",
  "AvailableForPickup",
  "Exception",
  "Expired"
] as const

/** @since 0.1.0 */
export type Tag = (typeof tags)[number]

/**
 * What one AfterShip code means canonically. `ExceptionCleared` is AfterShip's "problem
 * resolved" (InTransit_008): open exceptions end there.
 *
 * @since 0.1.0
 */
export type Canonical =
  | { readonly _tag: "Status"; readonly status: Status.ReportedStatus }
  | { readonly _tag: "Exception"; readonly kind: Status.ExceptionKind }
  | { readonly _tag: "ExceptionCleared" }

const status = (s: Status.ReportedStatus): Canonical => ({ _tag: "Status", status: s })
const exception = (kind: Status.ExceptionKind): Canonical => ({ _tag: "Exception", kind })

/**
 * The meaning of each tag on its own (for checkpoints whose subtag is missing or unknown).
 * `Pending` (AfterShip has no carrier information yet) is `created`: the shipment exists and
 * nothing more is claimed. `Expired` (no information for 30 days) is deliberately `unknown`.
 * A bare `Exception` is a `delayed` parcel, the least specific exception.
 *
 * @since 0.1.0
 */
export const tagTable: Readonly<Record<Tag, Canonical>> = {
  Pending: status("created"),
  InfoReceived: status("label_created"),
  InTransit: status("in_transit"),
  OutForDelivery: status("out_for_delivery"),
  AttemptFail: exception("failed_attempt"),
  Delivered: status("delivered"),
  AvailableForPickup: status("available_for_pickup"),
  Exception: exception("delayed"),
  Expired: status("unknown")
}

/**
 * One sub-status: its tag, AfterShip's message and its canonical meaning.
 *
 * @since 0.1.0
 */
export interface Subtag {
  readonly code: string
  readonly tag: Tag
  readonly message: string
  readonly canonical: Canonical
}

const sub = (code: string, tag: Tag, message: string, canonical: Canonical): Subtag => ({ code, tag, message, canonical })

/**
 * Every sub-status waybill maps (48).
 *
 * @since 0.1.0
 */
export const subtags: ReadonlyArray<Subtag> = [
  sub("Delivered_001", "Delivered", "Delivered: shipment delivered successfully", status("delivered")),
  sub("Delivered_002", "Delivered", "Picked up by the customer", status("delivered")),
  sub("Delivered_003", "Delivered", "Sign by customer: delivered to and signed by the customer", status("delivered")),
  sub("Delivered_004", "Delivered", "Delivered and received cash on delivery", status("delivered")),
  sub("Delivered_005", "Delivered", "Delivered to neighbor", status("delivered")),
  sub("AvailableForPickup_001", "AvailableForPickup", "Available for pickup at a pickup point", status("available_for_pickup")),
  sub("Exception_001", "Exception", "Exception: delivery failed due to some shipping exception", exception("delayed")),
  sub("Exception_002", "Exception", "Customer moved", exception("address_issue")),
  sub("Exception_003", "Exception", "Customer refused delivery", exception("refused")),
  sub("Exception_004", "Exception", "Delayed (Customs clearance)", exception("customs_hold")),
  sub("Exception_005", "Exception", "Delayed (External factors)", exception("delayed")),
  sub("Exception_006", "Exception", "Held for payment (duties or charges due from the customer)", exception("customs_hold")),
  sub("Exception_007", "Exception", "Incorrect Address", exception("address_issue")),
  sub("Exception_008", "Exception", "Pick up missed: available for pickup but not collected", exception("failed_attempt")),
  sub("Exception_009", "Exception", "Rejected by carrier: noncompliance with its guidelines", exception("refused")),
  sub("Exception_010", "Exception", "Returning to sender", status("return_initiated")),
  sub("Exception_011", "Exception", "Returned to sender", status("returned")),
  sub("Exception_012", "Exception", "Shipment damage", exception("damaged")),
  sub("Exception_013", "Exception", "Shipment lost", exception("lost")),
  sub("Exception_014", "Exception", "Exception (meaning not in the retrieved docs; mapped as its tag)", exception("delayed")),
  sub("Exception_015", "Exception", "Exception (meaning not in the retrieved docs; mapped as its tag)", exception("delayed")),
  sub("Exception_016", "Exception", "Delayed (Processing issue): vehicle issue, sorting error, misroute", exception("delayed")),
  sub("Exception_017", "Exception", "Delayed (Extreme weather)", exception("delayed")),
  sub("Exception_018", "Exception", "Incorrect / missing documents required by regulatory agencies", exception("customs_hold")),
  sub("AttemptFail_001", "AttemptFail", "Failed Attempt: courier usually leaves a notice and will try again", exception("failed_attempt")),
  sub("AttemptFail_002", "AttemptFail", "Addressee not available", exception("failed_attempt")),
  sub("AttemptFail_003", "AttemptFail", "Business Closed", exception("failed_attempt")),
  sub("InTransit_001", "InTransit", "In Transit: shipment on the way", status("in_transit")),
  sub("InTransit_002", "InTransit", "Acceptance scan: shipment accepted by the carrier", status("dispatched")),
  sub("InTransit_003", "InTransit", "Arrival scan: arrived at a hub or sorting center", status("in_transit")),
  sub("InTransit_004", "InTransit", "Arrived at the destination country", status("in_transit")),
  sub("InTransit_005", "InTransit", "Customs clearance completed", status("in_transit")),
  sub("InTransit_006", "InTransit", "Customs clearance started: handed over to customs", status("in_transit")),
  sub("InTransit_007", "InTransit", "Departure Scan: departed from the facility", status("in_transit")),
  sub("InTransit_008", "InTransit", "Problem resolved and shipment in transit", { _tag: "ExceptionCleared" }),
  sub("InTransit_009", "InTransit", "Forwarded to a different delivery address", status("in_transit")),
  sub("InfoReceived_001", "InfoReceived", "Info Received: the carrier is about to pick up the shipment", status("label_created")),
  sub("OutForDelivery_001", "OutForDelivery", "Out for Delivery", status("out_for_delivery")),
  sub("OutForDelivery_002", "OutForDelivery", "Available for pickup at the sorting center (retired sub-status)", status("available_for_pickup")),
  sub("OutForDelivery_003", "OutForDelivery", "Customer contacted before the final delivery", status("out_for_delivery")),
  sub("OutForDelivery_004", "OutForDelivery", "Delivery appointment scheduled (not yet on the vehicle)", status("in_transit")),
  sub("Pending_001", "Pending", "Pending: no information on the carrier website yet", status("created")),
  sub("Pending_002", "Pending", "Pending (variant not in the retrieved docs; mapped as its tag)", status("created")),
  sub("Pending_003", "Pending", "Pending (variant not in the retrieved docs; mapped as its tag)", status("created")),
  sub("Pending_004", "Pending", "Pending (variant not in the retrieved docs; mapped as its tag)", status("created")),
  sub("Pending_005", "Pending", "Pending (variant not in the retrieved docs; mapped as its tag)", status("created")),
  sub("Pending_006", "Pending", "Pending (variant not in the retrieved docs; mapped as its tag)", status("created")),
  sub("Expired_001", "Expired", "Expired: no tracking information for 30 days", status("unknown"))
]

const byCode: ReadonlyMap<string, Subtag> = new Map(subtags.map((s) => [s.code, s]))
const isTag = (t: string): t is Tag => Object.prototype.hasOwnProperty.call(tagTable, t)

/**
 * The outcome of classifying a (tag, subtag) pair.
 *
 * @since 0.1.0
 */
export interface Classification {
  readonly canonical: Canonical
  readonly unmapped: ReadonlyArray<{ readonly field: "tag" | "subtag"; readonly code: string }>
}

/**
 * What is known of the checkpoint beyond its codes: `returnLeg` says it came at or after a
 * checkpoint that started the way back to the shipper (Exception_010 "Returning to sender" or
 * Exception_011 "Returned to sender"; AfterShip's `return_to_sender` is true from then on), so
 * its forward codes describe the return, not the way to the customer.
 *
 * @since 0.2.0
 */
export interface Context {
  readonly returnLeg?: boolean | undefined
}

/**
 * Whether a checkpoint of this meaning starts the way back to the shipper.
 *
 * @since 0.2.0
 */
export const startsReturn = (c: Canonical): boolean =>
  c._tag === "Status" && (c.status === "return_initiated" || c.status === "returned")

/** On the way back to the shipper: the delivery is the return arriving, a forward step the return travelling. */
const onReturnLeg = (c: Canonical): Canonical => (c._tag === "Status" ? status(Status.onReturnLeg(c.status)) : c)

/**
 * Classifies an AfterShip checkpoint (or tracking) by subtag, else by tag, else as `unknown`.
 * A subtag the table does not know under the `Delivered` tag is `unknown`, not a delivery:
 * AfterShip adds sub-statuses over time (Delivered_005 came late), and a new one may name a
 * parcel left at a locker or handed back to the shipper; no unmapped code releases an invoice.
 *
 * On the return leg (`context.returnLeg`) AfterShip's tags still name the carrier's step, but
 * the parcel is going back to the shipper: `Delivered_*` is the return delivered back
 * (`returned`), never the customer's delivery; in transit, out for delivery or at a pickup
 * point is the return on its way (`return_initiated`). Exceptions keep their meaning.
 *
 * @since 0.1.0
 */
export const classify = (rawTag: string | undefined, rawSubtag: string | undefined, context?: Context): Classification => {
  const c = classifyCodes(rawTag, rawSubtag)
  return context?.returnLeg === true ? { canonical: onReturnLeg(c.canonical), unmapped: c.unmapped } : c
}

const classifyCodes = (rawTag: string | undefined, rawSubtag: string | undefined): Classification => {
  const tag = rawTag === undefined || rawTag === "" ? undefined : rawTag
  const subtag = rawSubtag === undefined || rawSubtag === "" ? undefined : rawSubtag
  const known = subtag === undefined ? undefined : byCode.get(subtag)
  if (known !== undefined) return { canonical: known.canonical, unmapped: [] }
  const unmapped: Array<{ field: "tag" | "subtag"; code: string }> = []
  if (subtag !== undefined) unmapped.push({ field: "subtag", code: subtag })
  if (tag !== undefined && isTag(tag)) {
    const canonical = tagTable[tag]
    const unsure = subtag !== undefined && canonical._tag === "Status" && canonical.status === "delivered"
    return { canonical: unsure ? status("unknown") : canonical, unmapped }
  }
  unmapped.unshift({ field: "tag", code: tag ?? "" })
  return { canonical: status("unknown"), unmapped }
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
