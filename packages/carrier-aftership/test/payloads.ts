/**
 * Realistic AfterShip Tracking webhook payloads, built from AfterShip's documentation (there are
 * no recorded AfterShip payloads in shared/fixtures):
 * - the envelope `{ event, event_id, is_tracking_first_tag, msg, ts }` and the trimmed example
 *   of AfterShip's "Webhook Specifications" page (event `tracking_update`, `msg` = the Tracking,
 *   a checkpoint with a zone-less `checkpoint_time` such as "2021-01-14T00:52:00");
 * - the Tracking and Checkpoint models of the Tracking API (OpenAPI example for 2026-07 and the
 *   generated SDK's `model/Checkpoint.ts`): `checkpoint_time` in the checkpoint's own zone, with
 *   or without an offset; `created_at` in UTC; `city`, `state`, `zip`, `country_iso3`
 *   (`country_region` from 2024 on), `message`, `tag`, `subtag`, `subtag_message`, `raw_tag`;
 * - the sub-status meanings of "Delivery Sub-statuses".
 * The carrier texts and raw tags imitate DHL Express scans; all values are invented.
 */
import { Instant, type CarrierPort } from "@waybill/core"
import * as DateTime from "effect/DateTime"

const checkpoint = (fields: Record<string, unknown>) => ({
  created_at: "2024-08-01T10:05:00+00:00",
  slug: "dhl",
  location: null,
  city: null,
  state: null,
  zip: null,
  coordinates: [],
  country_iso3: null,
  country_name: null,
  subtag_message: null,
  raw_tag: null,
  ...fields
})

export const dhlCheckpoints = [
  checkpoint({
    checkpoint_time: "2024-07-29T15:30:00",
    location: "HONG KONG - HONG KONG",
    city: "HONG KONG",
    country_iso3: "HKG",
    country_name: "Hong Kong",
    message: "Shipment information received",
    tag: "InfoReceived",
    subtag: "InfoReceived_001",
    subtag_message: "Info Received"
  }),
  checkpoint({
    checkpoint_time: "2024-07-29T21:45:00+08:00",
    location: "HONG KONG - HONG KONG",
    city: "HONG KONG",
    country_iso3: "HKG",
    country_name: "Hong Kong",
    message: "Shipment picked up",
    tag: "InTransit",
    subtag: "InTransit_002",
    subtag_message: "Acceptance scan",
    raw_tag: "PU"
  }),
  checkpoint({
    checkpoint_time: "2024-07-30T06:12:00+02:00",
    location: "LEIPZIG - GERMANY",
    city: "LEIPZIG",
    zip: "04435",
    country_iso3: "DEU",
    country_name: "Germany",
    message: "Arrived at DHL Sort Facility LEIPZIG - GERMANY",
    tag: "InTransit",
    subtag: "InTransit_003",
    subtag_message: "Arrival scan",
    raw_tag: "AF"
  }),
  checkpoint({
    checkpoint_time: "2024-07-30T09:40:00+02:00",
    location: "LEIPZIG - GERMANY",
    city: "LEIPZIG",
    country_iso3: "DEU",
    country_name: "Germany",
    message: "Customs status updated",
    tag: "Exception",
    subtag: "Exception_004",
    subtag_message: "Delayed (Customs clearance)",
    raw_tag: "CR"
  }),
  checkpoint({
    checkpoint_time: "2024-07-30T18:02:00+02:00",
    location: "LEIPZIG - GERMANY",
    city: "LEIPZIG",
    country_iso3: "DEU",
    country_name: "Germany",
    message: "Clearance processing complete at LEIPZIG - GERMANY",
    tag: "InTransit",
    subtag: "InTransit_005",
    subtag_message: "Customs clearance completed",
    raw_tag: "CC"
  }),
  checkpoint({
    checkpoint_time: "2024-08-01T07:58:00+02:00",
    location: "BERLIN - GERMANY",
    city: "BERLIN",
    zip: "10115",
    country_iso3: "DEU",
    country_name: "Germany",
    message: "Shipment is out with courier for delivery",
    tag: "OutForDelivery",
    subtag: "OutForDelivery_001",
    subtag_message: "Out for Delivery",
    raw_tag: "WC"
  }),
  checkpoint({
    checkpoint_time: "2024-08-01T11:58:00+02:00",
    location: "BERLIN - GERMANY",
    city: "BERLIN",
    zip: "10115",
    country_iso3: "DEU",
    country_name: "Germany",
    message: "Delivered - Signed for by: M. MUSTERMANN",
    tag: "Delivered",
    subtag: "Delivered_003",
    subtag_message: "Sign by customer",
    raw_tag: "OK"
  })
]

export const dhlWebhook = (checkpoints: ReadonlyArray<unknown> = dhlCheckpoints, eventId = "94dadd60-ed26-46d0-aa52-3ced925a50ff") => ({
  event: "tracking_update",
  event_id: eventId,
  is_tracking_first_tag: true,
  msg: {
    id: "0b02015fc7fd4f3c8d5490cece4d124d",
    legacy_id: "my2uktymyz72xld1f7l3h01z",
    created_at: "2024-07-29T08:00:00+00:00",
    updated_at: "2024-08-01T10:05:00+00:00",
    tracking_number: "1234567890",
    slug: "dhl",
    active: false,
    tag: "Delivered",
    subtag: "Delivered_003",
    subtag_message: "Sign by customer",
    title: "1234567890",
    order_number: "SO042",
    origin_country_iso3: "HKG",
    destination_country_iso3: "DEU",
    shipment_type: "EXPRESS WORLDWIDE",
    signed_by: "M. MUSTERMANN",
    source: "api",
    tracked_count: 9,
    checkpoints
  },
  ts: 1722506700
})

export const receivedAt = Instant.fromMillis(Date.UTC(2024, 7, 1, 10, 5, 30))

export const request = (body: Uint8Array, headers: Record<string, string>): CarrierPort.InboundRequest => ({
  headers,
  body,
  receivedAt
})

/** A plain summary of an observation, for explicit expected values. */
export const summarize = (o: CarrierPort.Observation) => {
  const e = o.event
  return {
    trackingNumber: o.trackingNumber,
    carrier: o.carrier,
    tag: e._tag,
    meaning: e._tag === "StatusReported" ? e.status : e._tag === "ExceptionReported" ? e.kind : e._tag,
    occurredAt: DateTime.formatIso(e.occurredAt),
    city: "location" in e ? e.location?.city : undefined,
    postalCode: "location" in e ? e.location?.postalCode : undefined,
    country: "location" in e ? e.location?.country : undefined,
    code: e.raw.code,
    detail: e.raw.detail,
    description: e.raw.description
  }
}
