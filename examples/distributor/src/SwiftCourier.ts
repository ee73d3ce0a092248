/**
 * Swift Courier: the distributor's small same-day courier for the New York metro area,
 * onboarded without code through a `@waybill/carrier-mapping` config.
 *
 * Swift posts batches of scans, signed with a base64 HMAC-SHA256 of the body:
 *
 * ```json
 * {
 *   "account": "WB-DISTRIB",
 *   "scans": [
 *     {
 *       "scan_id": "SWC400000012-4",
 *       "awb": "SWC400000012",
 *       "code": "DLV",
 *       "time": "2025-06-04T10:31:00-04:00",
 *       "depot": { "name": "Secaucus depot", "city": "Hoboken", "state": "NJ", "zip": "07030", "country": "us" },
 *       "signed_by": "R. ALVAREZ",
 *       "remark": "Left with recipient"
 *     }
 *   ]
 * }
 * ```
 *
 * Unlike EasyPost, Swift corrects itself: a `COR` scan withdraws earlier scans by id (`voids`),
 * which the config maps with `retracts: true`. waybill then withdraws the milestones those scans
 * reached and compensates their effects.
 *
 * @since 0.1.0
 */
import { MappingConfig } from "@waybill/carrier-mapping"
import type { Effect } from "effect"
import type { Validation } from "@waybill/core"

/**
 * The config in its JSON form, as a partner-onboarding engineer would write it.
 *
 * @since 0.1.0
 */
export const json = {
  version: 1,
  source: "swift",
  carrier: "Swift Courier",
  description: "Swift Courier scan batches (same-day courier, New York metro).",
  signature: {
    algorithm: "hmac-sha256",
    encoding: "base64",
    header: "x-swift-signature",
    secret: { env: "SWIFT_WEBHOOK_SECRET" }
  },
  events: "scans[*]",
  fields: {
    id: "scan_id",
    trackingNumber: "awb",
    occurredAt: { path: "time", format: "iso", policy: { _tag: "AssumeZone", zone: "America/New_York" } },
    code: "code",
    description: "remark",
    location: {
      facility: "depot.name",
      city: "depot.city",
      region: "depot.state",
      postalCode: "depot.zip",
      country: "depot.country"
    },
    pod: { signedBy: "signed_by" },
    retracts: "voids"
  },
  codeMatching: "case-insensitive",
  codes: [
    { code: "PRE", status: "label_created" },
    { code: "PU", status: "in_transit", note: "collected at the shipper's dock" },
    { code: "HUB", status: "in_transit" },
    { code: "OFD", status: "out_for_delivery" },
    { code: "DLV", status: "delivered" },
    { code: "NH", exception: "failed_attempt", note: "nobody home" },
    { code: "DLY", exception: "delayed" },
    { code: "DMG", exception: "damaged" },
    { code: "LOST", exception: "lost" },
    { code: "REF", exception: "refused" },
    { code: "RTS", status: "return_initiated" },
    { code: "RTD", status: "returned" },
    { code: "COR", retracts: true, note: "the depot withdraws mis-scans; voids lists their scan ids" }
  ]
} as const satisfies MappingConfig.Encoded

/**
 * The validated config (the secret is read from `SWIFT_WEBHOOK_SECRET` unless given with
 * `MappingConfig.withSecret`).
 *
 * @since 0.1.0
 */
export const config: Effect.Effect<MappingConfig.MappingConfig, Validation.ValidationError> = MappingConfig.decode(json)
