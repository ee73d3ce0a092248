/**
 * A mapping config for a generic warehouse (WMS) webhook: batches of pick / pack / label /
 * dispatch events with package weights, signed with HMAC-SHA256 (hex, `sha256=` prefix) over
 * `{timestamp}.{body}` with a five-minute tolerance.
 *
 * The payload it reads (also in `configs/generic-warehouse.json`):
 *
 * ```json
 * {
 *   "webhook_id": "whk_7Q2M9XK4",
 *   "warehouse": { "code": "FRA-1", "city": "Frankfurt am Main", "postal_code": "60549", "country": "de" },
 *   "events": [
 *     {
 *       "event_id": "evt_000913",
 *       "type": "order.packed",
 *       "occurred_at": "2024-07-31T13:20:45+02:00",
 *       "shipment": { "reference": "WH/OUT/00042", "tracking_number": null, "carrier": "dhl" },
 *       "package": { "weight": 2.35, "weight_unit": "kg" },
 *       "note": "2 items"
 *     }
 *   ]
 * }
 * ```
 *
 * Events are keyed by `shipment.reference` (the warehouse knows the outbound delivery before
 * any tracking number exists). Times must carry a zone (`RequireZone`); for a WMS that sends
 * local times, set `fields.occurredAt.policy` to `{ "_tag": "AssumeZone", "zone": "…" }`.
 * The secret is read from `WAYBILL_WMS_WEBHOOK_SECRET`. Copy the JSON and change `source`
 * (e.g. `wms:acme`) per warehouse.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as MappingConfig from "./MappingConfig.js"

/**
 * The config in its JSON form (identical to `configs/generic-warehouse.json`).
 *
 * @since 0.1.0
 */
export const json = {
  version: 1,
  source: "wms:generic",
  description: "Generic warehouse webhook: pick, pack, label, dispatch, returns and exceptions with package weights.",
  limits: { maxBodyBytes: 1048576, maxEvents: 500 },
  signature: {
    algorithm: "hmac-sha256",
    encoding: "hex",
    header: "x-wms-signature",
    prefix: "sha256=",
    secret: { env: "WAYBILL_WMS_WEBHOOK_SECRET" },
    timestamp: {
      header: "x-wms-timestamp",
      format: "unix-seconds",
      toleranceSeconds: 300,
      signedPayload: "{timestamp}.{body}"
    }
  },
  events: "events[*]",
  fields: {
    id: "event_id",
    trackingNumber: "shipment.reference",
    carrier: "shipment.carrier",
    occurredAt: { path: "occurred_at", format: "iso", policy: { _tag: "RequireZone" } },
    code: "type",
    subcode: "reason",
    description: "note",
    location: {
      facility: ["location.facility", "$.warehouse.code"],
      city: ["location.city", "$.warehouse.city"],
      postalCode: ["location.postal_code", "$.warehouse.postal_code"],
      country: ["location.country", "$.warehouse.country"]
    },
    weight: { value: "package.weight", unit: "package.weight_unit" },
    pod: { signedBy: "recipient.signed_by" },
    retracts: "voids"
  },
  codeMatching: "exact",
  codes: [
    { code: "order.received", status: "created" },
    { code: "order.picked", status: "picked" },
    { code: "order.packed", status: "packed" },
    { code: "label.printed", status: "label_created" },
    { code: "order.dispatched", status: "dispatched", note: "handed over to the carrier at the dock" },
    { code: "order.cancelled", status: "cancelled" },
    { code: "order.delivered", status: "delivered", note: "own-fleet deliveries" },
    { code: "return.announced", status: "return_initiated" },
    { code: "return.received", status: "returned" },
    { code: "order.on_hold", exception: "delayed" },
    { code: "order.on_hold", subcode: "address", exception: "address_issue" },
    { code: "package.damaged", exception: "damaged" },
    { code: "package.lost", exception: "lost" },
    { code: "order.released", clears: "all", note: "a held order is released" },
    { code: "event.voided", retracts: true, note: "a mis-scan is withdrawn; voids lists the event ids" }
  ]
} as const satisfies MappingConfig.Encoded

/**
 * The validated config.
 *
 * @since 0.1.0
 */
export const config: MappingConfig.MappingConfig = Schema.decodeSync(MappingConfig.MappingConfig)(json)
