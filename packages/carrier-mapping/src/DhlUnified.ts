/**
 * A mapping config for DHL's unified tracking shape: the response of the DHL Shipment
 * Tracking – Unified API (`GET https://api-eu.dhl.com/track/shipments`), which the Unified Push
 * API also delivers.
 *
 * ```json
 * { "shipments": [ {
 *     "id": "00340434292135100186", "service": "parcel-de",
 *     "origin": { "address": { "countryCode": "DE" } }, "destination": { "address": { "countryCode": "DE" } },
 *     "details": { "weight": { "value": 2.4, "unitText": "kg" },
 *                  "proofOfDelivery": { "signed": { "name": "M. Keller" }, "documentUrl": "https://…" } },
 *     "events": [ {
 *         "timestamp": "2024-07-30T18:05:00",
 *         "location": { "address": { "addressLocality": "Leipzig", "postalCode": "04435", "countryCode": "DE" } },
 *         "statusCode": "transit", "status": "PROCESSED", "description": "The shipment has been processed in the parcel center"
 *     } ] } ] }
 * ```
 *
 * - Events: `shipments[*].events[*]`; the tracking number is the shipment's `id` (`^.id`,
 *   a string or, in some services, a number).
 * - Codes: DHL's `statusCode` (`pre-transit`, `transit`, `delivered`, `failure`, `unknown`)
 *   with the event's `status` text as subcode. `failure` is read as a failed delivery attempt.
 *   `unknown` is left unmapped on purpose (it is DHL saying it does not know), except
 *   `unknown` / `LABEL CREATED`, which DHL eCommerce sends for label creation.
 * - Times: DHL sends local times without a zone for most services, sometimes with `Z` or an
 *   offset. A bare time is read in the zone of the event's country (the event location's
 *   `countryCode`) when that country has a single zone. An event without a `countryCode` is read
 *   in the shipment's country only when the shipment is domestic (`origin` and `destination`
 *   both name the same `countryCode`, `zoneByCountry.domesticCountry`) or when the two
 *   countries keep the same civil time at that moment (DE→AT, FR→ES: the same instant either
 *   way); on other cross-border shipments, or when either is missing, the origin's zone would be
 *   a guess (on a DE→GB parcel
 *   a London delivery would land an hour early, on DE→US about six), so the time is rejected
 *   (`RequireZone`: that event is named, with both countries, as unreadable; the pipeline
 *   ingests the rest of the history and keeps the request as an `Invalid` dead letter to replay
 *   once a policy is set) rather than guessed, as is a time in a country with several zones. Set `policy` (e.g. `AssumeZone` for a one-lane
 *   account) or add the zones of your lanes (US, CA, AU, …) to `zones` if that fits them.
 * - No event ids: each event gets a content hash, so the full history DHL returns on every
 *   poll dedupes. Ask DHL for a fixed `language`: the `status` text is part of the hash.
 * - Weight (`details.weight`) and proof of delivery (`details.proofOfDelivery`) are the
 *   shipment's, so each is its own event, not a field of the events (copied onto them, a
 *   re-weigh or a signer added after the delivery scan gave events already seen other content
 *   under the same content-hash id: conflicting duplicates, the stored copy chosen by content
 *   order). The weight rides on the shipment's newest event, id
 *   `weight:dhl/<id>:<its time>:<grams, zero-padded>:<hash>` (`MappingCarrier.weightEventId`):
 *   a newer scan's weight wins; DHL gives no update time, so two weights seen on the same newest
 *   scan resolve to the heavier (the greater id), whatever order the polls arrive in. Heavier
 *   because DHL re-weighs to bill what it measured: the tolerance hold errs towards holding an
 *   invoice for review, never releasing one at a weight already corrected upwards. The POD rides
 *   on the earliest `delivered` event, id `dhl/<id>:pod:<hash of it, signer and URL>`
 *   (`MappingCarrier.podEventId`): once one poll names it, it is there in any order.
 * - Returns: an undeliverable parcel that went back to its sender has `returnFlag: true` on the
 *   shipment and ends with a `delivered` event, the sender having become "the final recipient"
 *   (DHL developer support, "How does the response body look for an Undeliverable/Return
 *   shipment?"). With the flag set, `delivered` is read as `returned` (no POD): never the
 *   consignee's delivery, which would release the customer's invoice.
 * - Signature: DHL's pull API has no message signature. This config expects the body to be
 *   signed by whatever forwards it into waybill (your poller or relay) with
 *   `x-waybill-signature: sha256=<hex HMAC-SHA256 of the body>`, secret in
 *   `WAYBILL_DHL_WEBHOOK_SECRET`. If you receive DHL push messages, set `signature` to what your
 *   subscription uses.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { CountryZones } from "@waybill/core"
import * as MappingConfig from "./MappingConfig.js"

/**
 * Countries with a single time zone, for DHL's zone-less local times: core's
 * `CountryZones.singleZone` (shared with the AfterShip adapter).
 *
 * @since 0.1.0
 */
export const singleZoneCountries = CountryZones.singleZone

/**
 * The config in its JSON form (identical to `configs/dhl-unified.json`).
 *
 * @since 0.1.0
 */
export const json = {
  version: 1,
  source: "dhl",
  carrier: "dhl",
  description: "DHL Shipment Tracking - Unified API response shape (shipments[].events[]).",
  limits: { maxBodyBytes: 4194304, maxEvents: 2000 },
  signature: {
    algorithm: "hmac-sha256",
    encoding: "hex",
    header: "x-waybill-signature",
    prefix: "sha256=",
    secret: { env: "WAYBILL_DHL_WEBHOOK_SECRET" }
  },
  events: "shipments[*].events[*]",
  fields: {
    trackingNumber: "^.id",
    occurredAt: {
      path: "timestamp",
      format: "iso",
      policy: { _tag: "RequireZone" },
      zoneByCountry: {
        country: "location.address.countryCode",
        domesticCountry: ["^.origin.address.countryCode", "^.destination.address.countryCode"],
        zones: singleZoneCountries
      }
    },
    code: "statusCode",
    subcode: "status",
    description: "description",
    location: {
      city: "location.address.addressLocality",
      postalCode: "location.address.postalCode",
      country: "location.address.countryCode"
    },
    weight: { value: "^.details.weight.value", unit: "^.details.weight.unitText" },
    pod: {
      signedBy: "^.details.proofOfDelivery.signed.name",
      evidenceUrl: ["^.details.proofOfDelivery.documentUrl", "^.details.proofOfDelivery.signatureUrl"]
    },
    returnFlag: "^.returnFlag"
  },
  codeMatching: "exact",
  codes: [
    { code: "pre-transit", status: "label_created", note: "DHL has the shipment data; not yet handed over" },
    { code: "transit", status: "in_transit" },
    { code: "delivered", status: "delivered" },
    { code: "failure", exception: "failed_attempt", note: "DHL's generic failure: delivery did not succeed" },
    { code: "unknown", subcode: "LABEL CREATED", status: "label_created", note: "DHL eCommerce label creation" }
  ]
} as const satisfies MappingConfig.Encoded

/**
 * The validated config.
 *
 * @since 0.1.0
 */
export const config: MappingConfig.MappingConfig = Schema.decodeSync(MappingConfig.MappingConfig)(json)
