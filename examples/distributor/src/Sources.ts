/**
 * What the outside world sends: each story turned into the webhooks the real sources post.
 *
 * - The **warehouse** (a 3PL running a WMS) posts pick / pack / label / dispatch events as
 *   `GenericWarehouse` webhooks, signed over `{timestamp}.{body}`, keyed by the delivery's
 *   reference in Odoo (`WH/OUT/00042`), with the packed weight.
 * - **EasyPost** posts a `tracker.updated` Event after every scan, carrying the tracker's whole
 *   history so far (so every webhook repeats the earlier scans), signed with
 *   `X-Hmac-Signature`. The scans are recorded on the EasyPost fake's tracker as they happen.
 * - **Swift Courier** posts scan batches (`SwiftCourier`), including corrections that withdraw
 *   earlier scans, which EasyPost cannot express.
 *
 * Each webhook gets an arrival time: a few minutes after the fact, sometimes hours late, and
 * sometimes sent again (retransmissions). A few planned bad messages complete the picture: a
 * forged signature and a tracker of a parcel that is not ours.
 *
 * @since 0.1.0
 */
import { GenericWarehouse, MappingConfig } from "@waybill/carrier-mapping"
import { MappingTestKit } from "@waybill/carrier-mapping/testing"
import { EasyPostWebhook } from "@waybill/carrier-easypost"
import type { EasyPostFake } from "@waybill/carrier-easypost/testing"
import { Instant, type Pipeline } from "@waybill/core"
import * as Stories from "./Stories.js"

const MINUTE = 60_000
const HOUR = 60 * MINUTE

/** The warehouse's source name in waybill. @since 0.1.0 */
export const WAREHOUSE = "wms:nwk1"
/** @since 0.1.0 */
export const EASYPOST = "easypost"
/** @since 0.1.0 */
export const SWIFT = "swift"

/**
 * The webhook secrets shared with each source (demo values; a host reads them with
 * `Config.redacted`).
 *
 * @since 0.1.0
 */
export const secrets = {
  warehouse: "demo-wms-secret-8c1f2e9a40",
  easypost: "demo-easypost-whsec-41b7d2",
  swift: "demo-swift-secret-77d0c3e5"
} as const

/**
 * The warehouse's config: the shipped `GenericWarehouse` template under our own source name.
 *
 * @since 0.1.0
 */
export const warehouseConfig: MappingConfig.MappingConfig = MappingConfig.withSecret(
  { ...GenericWarehouse.config, source: WAREHOUSE },
  secrets.warehouse
)

/**
 * One webhook on its way to the ingress.
 *
 * @since 0.1.0
 */
export interface Outbound {
  readonly source: string
  /** When it reaches the ingress (epoch ms, scenario clock). */
  readonly arrivalAt: number
  /** The raw body. */
  readonly body: string
  /** The story it reports on (none for a stranger's parcel). */
  readonly story: number | undefined
  /** 0 for the first copy, then 1, 2, … for retransmissions. */
  readonly copy: number
  /** Arrived more than an hour after the fact. */
  readonly late: boolean
  /** A message the scenario sends on purpose to be rejected. */
  readonly planned?: "forged signature" | "not our parcel"
}

/**
 * The inbound message for an outbound webhook, signed as its source signs it at arrival
 * (`swift` is Swift Courier's validated config, whose signature scheme it uses).
 *
 * @since 0.1.0
 */
export const toMessage = (
  out: Outbound,
  swift: MappingConfig.MappingConfig
): Extract<Pipeline.InboundMessage, { readonly _tag: "Request" }> => {
  const receivedAt = Instant.fromMillis(out.arrivalAt)
  const body = new TextEncoder().encode(out.body)
  let headers: Readonly<Record<string, string>>
  switch (out.source) {
    case EASYPOST:
      headers = {
        "content-type": "application/json",
        [EasyPostWebhook.signatureHeader]: EasyPostWebhook.sign(
          body,
          out.planned === "forged signature" ? "guessed-secret-000" : secrets.easypost
        )
      }
      break
    case WAREHOUSE:
      headers = MappingTestKit.signRequest(warehouseConfig, body, { secret: secrets.warehouse, receivedAt }).headers
      break
    default:
      headers = MappingTestKit.signRequest(swift, body, { secret: secrets.swift, receivedAt }).headers
  }
  return { _tag: "Request", source: out.source, headers, body, receivedAt }
}

// -------------------------------------------------------------------------------------------
// timing: delays, lateness, retransmissions
// -------------------------------------------------------------------------------------------

interface Timing {
  /** Chance that a message is late, and by how much (ms). */
  readonly lateShare: number
  readonly late: readonly [number, number]
  /** Chance of a retransmission. */
  readonly dupShare: number
}

const timings: Readonly<Record<string, Timing>> = {
  [WAREHOUSE]: { lateShare: 0.08, late: [1 * HOUR, 4 * HOUR], dupShare: 0.12 },
  [EASYPOST]: { lateShare: 0.1, late: [2 * HOUR, 18 * HOUR], dupShare: 0.15 },
  [SWIFT]: { lateShare: 0.08, late: [1 * HOUR, 6 * HOUR], dupShare: 0.2 }
}

const deliveries = (
  rng: Stories.Rng,
  source: string,
  story: number,
  occurredAt: number,
  body: string,
  punctual: boolean
): Array<Outbound> => {
  const timing = timings[source]!
  const first = occurredAt + rng.int(1, 20) * MINUTE
  const late = !punctual && rng.chance(timing.lateShare)
  const arrivalAt = late ? first + rng.int(timing.late[0], timing.late[1]) : first
  const out: Array<Outbound> = [{ source, arrivalAt, body, story, copy: 0, late }]
  if (rng.chance(timing.dupShare)) {
    out.push({ source, arrivalAt: arrivalAt + rng.int(5, 240) * MINUTE, body, story, copy: 1, late: false })
    if (rng.chance(0.25)) out.push({ source, arrivalAt: arrivalAt + rng.int(240, 720) * MINUTE, body, story, copy: 2, late: false })
  }
  return out
}

// -------------------------------------------------------------------------------------------
// time formats
// -------------------------------------------------------------------------------------------

/** `2025-06-02T09:41:00-04:00`: the local time with its offset, as the warehouse and Swift send it. */
export const localIso = (ms: number): string => {
  const offset = Stories.LOCAL_OFFSET_MINUTES
  const local = new Date(ms + offset * MINUTE).toISOString().slice(0, 19)
  const sign = offset < 0 ? "-" : "+"
  const abs = Math.abs(offset)
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`
}

/** `2025-06-02T13:41:00Z`, as EasyPost sends scan times. */
export const utcIso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z")

// -------------------------------------------------------------------------------------------
// the warehouse
// -------------------------------------------------------------------------------------------

/**
 * What the warehouse knows about an order: Odoo's delivery reference and its lines.
 *
 * @since 0.1.0
 */
export interface WarehouseOrder {
  readonly reference: string
  readonly story: Stories.Story
}

/**
 * The declared weight of a story's order in kg (what Odoo computes from the product weights).
 *
 * @since 0.1.0
 */
export const declaredKg = (story: Stories.Story): number =>
  Math.round(story.lines.reduce((sum, l) => sum + Stories.catalogue[l.product]!.weightKg * l.quantity, 0) * 100) / 100

const notes: Readonly<Record<Stories.WarehouseCode, string>> = {
  "order.picked": "picked complete",
  "order.packed": "packed",
  "label.printed": "carrier label printed",
  "order.dispatched": "loaded on the carrier's truck",
  "order.cancelled": "cancellation received from customer service"
}

/**
 * The warehouse's webhooks for one order (one event per webhook, as the WMS posts them).
 *
 * @since 0.1.0
 */
export const warehouseMessages = (order: WarehouseOrder, seed: number): Array<Outbound> => {
  const story = order.story
  const rng = Stories.prng((seed * 31 + story.index * 977 + 5) >>> 0)
  const out: Array<Outbound> = []
  for (const step of story.warehouseSteps) {
    const packedKg = Math.round(declaredKg(story) * story.weightFactor * 100) / 100
    const body = JSON.stringify({
      webhook_id: `whk_${story.index.toString(36)}_${step.code.replace(/\W/g, "")}_${seed}`,
      warehouse: { code: "NWK-1", city: "Newark", postal_code: "07114", country: "us" },
      events: [
        {
          event_id: `nwk1-${order.reference}-${step.code}`,
          type: step.code,
          occurred_at: localIso(step.at),
          shipment: { reference: order.reference, tracking_number: null, carrier: story.carrier === "swift" ? "swift" : "usps" },
          ...(step.code === "order.packed" ? { package: { weight: packedKg, weight_unit: "kg" } } : {}),
          note: notes[step.code]
        }
      ]
    })
    out.push(...deliveries(rng, WAREHOUSE, story.index, step.at, body, story.profile === "early_pick" && step.code === "order.picked"))
  }
  return out
}

// -------------------------------------------------------------------------------------------
// EasyPost
// -------------------------------------------------------------------------------------------

const easyPostScan = (step: Stories.CarrierStep, n: number): EasyPostFake.Scan => {
  const place = { city: step.place.city.toUpperCase(), state: step.place.state, zip: step.place.zip, country: "US" }
  const datetime = utcIso(step.at)
  switch (step.kind) {
    case "label":
      return { status: "pre_transit", status_detail: "label_created", message: "Shipping Label Created, USPS Awaiting Item", datetime }
    case "pickup":
      return { status: "in_transit", status_detail: "received_at_origin_facility", message: "Accepted at USPS Origin Facility", datetime, ...place }
    case "transit":
      return n % 2 === 0
        ? { status: "in_transit", status_detail: "arrived_at_facility", message: "Arrived at USPS Regional Facility", datetime, ...place }
        : { status: "in_transit", status_detail: "departed_facility", message: "Departed USPS Regional Facility", datetime, ...place }
    case "out_for_delivery":
      return { status: "out_for_delivery", status_detail: "out_for_delivery", message: "Out for Delivery", datetime, ...place }
    case "delivered":
      return { status: "delivered", status_detail: "arrived_at_destination", message: "Delivered, Front Desk/Reception", datetime, ...place }
    case "delayed":
      return { status: "in_transit", status_detail: "weather_delay", message: "Delayed due to Weather", datetime, ...place }
    case "failed_attempt":
      return { status: "failure", status_detail: "delivery_exception", message: "Delivery Attempted - No Access to Delivery Location", datetime, ...place }
    case "damaged":
      return { status: "in_transit", status_detail: "damaged", message: "Damaged in Transit - Repackaged", datetime, ...place }
    case "lost":
      return { status: "failure", status_detail: "lost", message: "Missing - Trace Initiated", datetime, ...place }
    case "refused":
      return { status: "failure", status_detail: "refused", message: "Refused by Addressee", datetime, ...place }
    case "return_initiated":
      return { status: "return_to_sender", status_detail: "return", message: "Return to Sender Processed", datetime, ...place }
    case "returned":
      return { status: "return_to_sender", status_detail: "arrived_at_destination", message: "Delivered to Original Sender", datetime, ...place }
    case "unmapped":
    case "correction":
      throw new Error(`EasyPost cannot express a ${step.kind} scan`)
  }
}

/**
 * The EasyPost webhooks for one parcel: each scan is recorded on the fake's tracker, and the
 * tracker is posted after every scan with its history so far.
 *
 * @since 0.1.0
 */
export const easyPostMessages = (
  story: Stories.Story,
  fake: EasyPostFake.EasyPostFake,
  trackerId: string,
  seed: number
): Array<Outbound> => {
  const rng = Stories.prng((seed * 131 + story.index * 1009 + 11) >>> 0)
  const out: Array<Outbound> = []
  story.carrierSteps.forEach((step, n) => {
    fake.advanceTracker(trackerId, easyPostScan(step, n))
    out.push(...deliveries(rng, EASYPOST, story.index, step.at, fake.trackerEvent(trackerId), step.punctual === true))
  })
  return out
}

// -------------------------------------------------------------------------------------------
// Swift Courier
// -------------------------------------------------------------------------------------------

const swiftCodes: Readonly<Record<Stories.ScanKind, string>> = {
  label: "PRE",
  pickup: "PU",
  transit: "HUB",
  out_for_delivery: "OFD",
  delivered: "DLV",
  delayed: "DLY",
  failed_attempt: "NH",
  damaged: "DMG",
  lost: "LOST",
  refused: "REF",
  return_initiated: "RTS",
  returned: "RTD",
  unmapped: "HLD",
  correction: "COR"
}

const swiftRemarks: Partial<Record<Stories.ScanKind, string>> = {
  pickup: "Collected at shipper",
  out_for_delivery: "On van",
  delivered: "Left with recipient",
  damaged: "Box crushed, recipient signed with remark",
  unmapped: "Held at depot for address check",
  correction: "Delivery scan voided: scanned at wrong address"
}

/**
 * Swift's tracking number for a story.
 *
 * @since 0.1.0
 */
export const swiftAwb = (seed: number, story: Stories.Story): string =>
  `SWC${String(((seed % 9) + 1) * 100_000_000 + story.index).padStart(9, "0")}`

/**
 * Swift's scan batches for one parcel (usually one scan per batch; a damage noted at the door
 * comes in the same batch as the delivery, listed first).
 *
 * @since 0.1.0
 */
export const swiftMessages = (story: Stories.Story, awb: string, seed: number): Array<Outbound> => {
  const rng = Stories.prng((seed * 337 + story.index * 4243 + 3) >>> 0)
  const steps = story.carrierSteps
  const scanOf = (step: Stories.CarrierStep, n: number, depotName?: string) => {
    const misScan = step.kind === "delivered" && steps.some((s) => s.kind === "correction" && s.voids === n)
    return {
      scan_id: `${awb}-${n + 1}`,
      awb,
      code: swiftCodes[step.kind],
      time: localIso(step.at),
      depot: {
        name: depotName ?? `${step.place.city} route`,
        city: step.place.city,
        state: step.place.state,
        zip: step.place.zip,
        country: "us"
      },
      ...(step.kind === "delivered" && !misScan ? { signed_by: story.customer.name.split(" ")[0]!.toUpperCase() } : {}),
      ...(step.voids !== undefined ? { voids: [`${awb}-${step.voids + 1}`] } : {}),
      ...(swiftRemarks[step.kind] !== undefined ? { remark: swiftRemarks[step.kind] } : {})
    }
  }
  const out: Array<Outbound> = []
  for (let n = 0; n < steps.length; n++) {
    const step = steps[n]!
    const batch = [scanOf(step, n)]
    if (step.batchWithNext === true && steps[n + 1] !== undefined) {
      batch.push(scanOf(steps[n + 1]!, n + 1))
      n++
    }
    const body = JSON.stringify({ account: "WB-DISTRIB", scans: batch })
    out.push(...deliveries(rng, SWIFT, story.index, step.at, body, step.punctual === true))
    if (step.resentWithCorrection === true) {
      // Swift's system resends the scan with the depot corrected: same scan id, new content.
      const resent = JSON.stringify({ account: "WB-DISTRIB", scans: [scanOf(step, n, `${step.place.city} depot (corrected)`)] })
      out.push({ source: SWIFT, arrivalAt: step.at + rng.int(60, 180) * MINUTE, body: resent, story: story.index, copy: 0, late: false })
    }
  }
  return out
}

// -------------------------------------------------------------------------------------------
// planned bad messages
// -------------------------------------------------------------------------------------------

/**
 * A webhook whose signature does not match: someone probing the endpoint with a copy of a real
 * body. It must be rejected and kept as a dead letter (`Unauthorized`).
 *
 * @since 0.1.0
 */
export const forged = (copyOf: Outbound, arrivalAt: number): Outbound => ({
  source: EASYPOST,
  arrivalAt,
  body: copyOf.body,
  story: undefined,
  copy: 0,
  late: false,
  planned: "forged signature"
})

/**
 * A tracker webhook for a parcel that is not ours (another team tracks it on the shared EasyPost
 * account). Each of its scans is kept as a dead letter (`NotFound`).
 *
 * @since 0.1.0
 */
export const stranger = (fake: EasyPostFake.EasyPostFake, trackerId: string, arrivalAt: number): Outbound => ({
  source: EASYPOST,
  arrivalAt,
  body: fake.trackerEvent(trackerId),
  story: undefined,
  copy: 0,
  late: false,
  planned: "not our parcel"
})
