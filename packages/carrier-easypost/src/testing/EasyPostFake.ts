/**
 * An in-process EasyPost API server (node:http on 127.0.0.1, port 0) for tests and demos.
 *
 * It answers the calls waybill makes the way the real API does (JSON bodies and error objects
 * shaped like EasyPost's documentation and recorded fixtures, Basic auth with the API key as user
 * name, `201` on create, the existing tracker when a tracking code is tracked twice, EasyPost's
 * test-mode tracking codes `EZ1000000001` … `EZ7000000007`), counts every call, injects faults
 * (429 with `Retry-After`, 5xx, a request left hanging, a request carried out whose answer is
 * lost) and sends webhooks signed like EasyPost
 * (`X-Hmac-Signature: hmac-sha256-hex=…`).
 *
 * @example
 * ```ts
 * const fake = yield* EasyPostFake.make()                      // scoped: stops with the scope
 * const carrier = yield* EasyPostCarrier.make({ apiKey: Redacted.make(fake.apiKey), baseUrl: fake.url, … })
 * const tracker = yield* carrier.createTracker(…)
 * fake.advanceTracker(tracker.externalId, { status: "delivered", status_detail: "arrived_at_destination", message: "Delivered" })
 * yield* fake.sendWebhook("http://127.0.0.1:8080/webhooks/easypost", fake.trackerEvent(tracker.externalId), "secret")
 * ```
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type CarrierPort, Instant } from "@waybill/core"
import { HttpFake } from "@waybill/core/simulation"
import * as EasyPostWebhook from "../EasyPostWebhook.js"

/**
 * A fault the fake answers with instead of the normal answer: EasyPost's 429 (with
 * `Retry-After`, default 1 s) or 5xx error objects, or one of `HttpFake`'s (`Hang`, `LoseAnswer`:
 * carried out but never answered, `Respond`: a canned answer).
 *
 * @since 0.1.0
 */
export type Fault =
  | { readonly _tag: "RateLimited"; readonly retryAfter?: string | undefined }
  | { readonly _tag: "ServerError"; readonly status?: number | undefined }
  | HttpFake.Fault

/**
 * One request the fake received.
 *
 * @since 0.1.0
 */
export type Call = HttpFake.Call

/**
 * A tracking scan to append to a tracker with {@link EasyPostFake.advanceTracker}.
 *
 * @since 0.1.0
 */
export interface Scan {
  readonly status: string
  readonly status_detail?: string | undefined
  readonly message?: string | undefined
  readonly carrier_code?: string | undefined
  readonly datetime?: string | undefined
  readonly city?: string | undefined
  readonly state?: string | undefined
  readonly country?: string | undefined
  readonly zip?: string | undefined
}

/**
 * Options of the fake.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The API key the fake accepts (default `EZTK_fake_test_key`). */
  readonly apiKey?: string | undefined
  /** The fake's clock for the timestamps it writes (default the wall clock). */
  readonly now?: (() => Date) | undefined
  /**
   * The rates every new shipment is offered (default: four USPS and UPS rates in USD). Like
   * EasyPost, which rates each carrier account in that account's currency, a card may mix
   * currencies (a Canada Post account quotes CAD next to USPS in USD).
   *
   * @since 0.2.0
   */
  readonly rates?: ReadonlyArray<RateCardEntry> | undefined
}

/**
 * One rate the fake offers on every new shipment: `rate` is EasyPost's decimal string.
 *
 * @since 0.2.0
 */
export interface RateCardEntry {
  readonly carrier: string
  readonly service: string
  readonly rate: string
  readonly currency: string
  readonly delivery_days?: number | null | undefined
}

/**
 * A running fake: `url` is the API root to pass as `baseUrl` (e.g.
 * `http://127.0.0.1:41234/v2`); `calls`, `count`, `failNext` (e.g. with route
 * `POST /v2/trackers`) and `awaitCalls` are `HttpFake`'s.
 *
 * @since 0.1.0
 */
export interface EasyPostFake extends HttpFake.HttpFake<Fault> {
  /** The API key the fake accepts. */
  readonly apiKey: string
  /** A tracker the fake holds, as EasyPost would return it. */
  readonly tracker: (id: string) => Record<string, unknown> | undefined
  /** A shipment the fake holds, as EasyPost would return it. */
  readonly shipment: (id: string) => Record<string, unknown> | undefined
  /** Appends a scan to a tracker (and sets its status), as the carrier would. */
  readonly advanceTracker: (trackerId: string, scan: Scan) => void
  /** The raw body of a `tracker.updated` (or `description`) Event carrying the tracker. */
  readonly trackerEvent: (trackerId: string, options?: { readonly description?: string | undefined }) => string
  /** An inbound request carrying `body`, signed with `secret` like EasyPost signs webhooks. */
  readonly signedRequest: (body: string, secret: string, receivedAt?: Instant.Instant) => CarrierPort.InboundRequest
  /** POSTs `body` to `url` with EasyPost's signature header, returning the HTTP answer. */
  readonly sendWebhook: (
    url: string,
    body: string,
    secret: string
  ) => Effect.Effect<{ readonly status: number; readonly body: string }, Error>
}

const json = HttpFake.json

const apiError = (code: string, message: string, errors: ReadonlyArray<unknown> = []) => ({ error: { code, message, errors } })

const hex = (seed: string) => createHash("sha256").update(seed).digest("hex").slice(0, 32)

const testModeStatuses: Record<string, ReadonlyArray<Scan>> = {
  EZ1000000001: [{ status: "pre_transit", status_detail: "status_update", message: "Pre-Shipment Info Sent to USPS" }],
  EZ2000000002: [
    { status: "pre_transit", status_detail: "status_update", message: "Pre-Shipment Info Sent to USPS" },
    { status: "in_transit", status_detail: "arrived_at_facility", message: "Arrived at USPS Origin Facility", city: "NORTH HOUSTON", state: "TX", zip: "77315", country: "US" }
  ],
  EZ3000000003: [
    { status: "pre_transit", status_detail: "status_update", message: "Pre-Shipment Info Sent to USPS" },
    { status: "in_transit", status_detail: "arrived_at_facility", message: "Arrived at USPS Origin Facility", city: "NORTH HOUSTON", state: "TX", zip: "77315", country: "US" },
    { status: "out_for_delivery", status_detail: "out_for_delivery", message: "Out for Delivery", city: "CHARLESTON", state: "SC", zip: "29401", country: "US" }
  ],
  EZ4000000004: [
    { status: "pre_transit", status_detail: "status_update", message: "Pre-Shipment Info Sent to USPS" },
    { status: "in_transit", status_detail: "arrived_at_facility", message: "Arrived at USPS Origin Facility", city: "NORTH HOUSTON", state: "TX", zip: "77315", country: "US" },
    { status: "out_for_delivery", status_detail: "out_for_delivery", message: "Out for Delivery", city: "CHARLESTON", state: "SC", zip: "29401", country: "US" },
    { status: "delivered", status_detail: "arrived_at_destination", message: "Delivered, In/At Mailbox", city: "CHARLESTON", state: "SC", zip: "29401", country: "US" }
  ],
  EZ5000000005: [
    { status: "pre_transit", status_detail: "status_update", message: "Pre-Shipment Info Sent to USPS" },
    { status: "return_to_sender", status_detail: "return", message: "Return to Sender", city: "CHARLESTON", state: "SC", zip: "29401", country: "US" }
  ],
  EZ6000000006: [
    { status: "pre_transit", status_detail: "status_update", message: "Pre-Shipment Info Sent to USPS" },
    { status: "failure", status_detail: "delivery_exception", message: "Delivery Exception", city: "CHARLESTON", state: "SC", zip: "29401", country: "US" }
  ],
  EZ7000000007: []
}

const defaultRateCard: ReadonlyArray<RateCardEntry> = [
  { service: "Priority", carrier: "USPS", rate: "7.47", currency: "USD", delivery_days: 2 },
  { service: "GroundAdvantage", carrier: "USPS", rate: "8.92", currency: "USD", delivery_days: null },
  { service: "Express", carrier: "USPS", rate: "46.85", currency: "USD", delivery_days: 1 },
  { service: "Ground", carrier: "UPS", rate: "11.20", currency: "USD", delivery_days: 3 }
]

/**
 * Starts the fake; it stops (closing every connection) when the scope closes.
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<EasyPostFake, never, Scope.Scope> =>
  Effect.gen(function*() {
    const apiKey = options.apiKey ?? "EZTK_fake_test_key"
    const now = options.now ?? (() => new Date())
    const rateCard = options.rates ?? defaultRateCard
    const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z")
    const trackers = new Map<string, Record<string, unknown>>()
    const shipments = new Map<string, Record<string, unknown>>()
    let serial = 0
    let origin = ""

    const detailOf = (scan: Scan, at: Date, carrier: string) => ({
      object: "TrackingDetail",
      message: scan.message ?? null,
      description: scan.message ?? null,
      status: scan.status,
      status_detail: scan.status_detail ?? "status_update",
      datetime: scan.datetime ?? iso(at),
      source: carrier,
      carrier_code: scan.carrier_code ?? null,
      tracking_location: {
        object: "TrackingLocation",
        city: scan.city ?? null,
        state: scan.state ?? null,
        country: scan.country ?? null,
        zip: scan.zip ?? null
      },
      est_delivery_date: null
    })

    const newTracker = (code: string, carrier: string, shipmentId: string | null) => {
      serial += 1
      const id = `trk_${hex(`trk:${serial}:${code}`)}`
      const created = now()
      const scans = testModeStatuses[code] ?? []
      const details = scans.map((scan, i) => detailOf(scan, new Date(created.getTime() - (scans.length - i) * 3_600_000), carrier))
      const last = scans[scans.length - 1]
      const tracker: Record<string, unknown> = {
        id,
        object: "Tracker",
        mode: "test",
        tracking_code: code,
        status: last?.status ?? "unknown",
        status_detail: last?.status_detail ?? "unknown",
        created_at: iso(created),
        updated_at: iso(created),
        signed_by: last?.status === "delivered" ? "John Tester" : null,
        weight: null,
        est_delivery_date: null,
        shipment_id: shipmentId,
        carrier,
        tracking_details: details,
        fees: [],
        carrier_detail: null,
        public_url: `https://track.easypost.com/${Buffer.from(id).toString("base64url")}`
      }
      trackers.set(id, tracker)
      return tracker
    }

    const authorized = (headers: HttpFake.Request["headers"]) => {
      const header = headers.authorization
      if (header === undefined || !header.startsWith("Basic ")) return false
      const decoded = Buffer.from(header.slice(6), "base64").toString("utf8")
      return decoded.slice(0, decoded.indexOf(":") === -1 ? undefined : decoded.indexOf(":")) === apiKey
    }

    const route = ({ authorized: ok, badJson, body, method, path }: HttpFake.Request): HttpFake.Answer => {
      if (!ok) {
        return json(401, apiError("APIKEY.INACTIVE", "This api key is no longer active. Please use a different api key or reactivate this key."))
      }
      if (badJson) return json(400, apiError("BAD_REQUEST", "The request could not be understood by the server due to malformed syntax."))
      const input = (typeof body === "object" && body !== null ? body : {}) as Record<string, any>

      if (method === "POST" && path === "/v2/trackers") {
        const t = (input["tracker"] ?? {}) as Record<string, unknown>
        const code = typeof t["tracking_code"] === "string" ? t["tracking_code"].trim() : ""
        if (code === "") {
          return json(422, apiError("PARAMETER.REQUIRED", "Missing required parameter.", [
            { field: "tracker.tracking_code", message: "cannot be blank" }
          ]))
        }
        const carrier = typeof t["carrier"] === "string" && t["carrier"] !== "" ? t["carrier"] : "USPS"
        const existing = [...trackers.values()].find((x) => x["tracking_code"] === code && x["carrier"] === carrier)
        if (existing !== undefined) return json(200, existing)
        return json(201, newTracker(code, carrier, null))
      }
      const trackerMatch = /^\/v2\/trackers\/([^/]+)$/.exec(path)
      if (method === "GET" && trackerMatch !== null) {
        const t = trackers.get(decodeURIComponent(trackerMatch[1]!))
        return t === undefined
          ? json(404, apiError("NOT_FOUND", "The requested resource could not be found."))
          : json(200, t)
      }
      if (method === "POST" && path === "/v2/shipments") {
        const s = (input["shipment"] ?? {}) as Record<string, any>
        const errors: Array<{ field: string; message: string }> = []
        for (const [key, fields] of [["to_address", ["street1", "city", "country"]], ["from_address", ["street1", "city", "country"]]] as const) {
          const a = s[key]
          if (typeof a !== "object" || a === null) errors.push({ field: `shipment.${key}`, message: "cannot be blank" })
          else for (const f of fields) if (typeof a[f] !== "string" || a[f] === "") errors.push({ field: `shipment.${key}.${f}`, message: "cannot be blank" })
        }
        const weight = s["parcel"]?.["weight"]
        if (typeof weight !== "number" || !(weight > 0)) errors.push({ field: "shipment.parcel.weight", message: "must be greater than 0" })
        if (errors.length > 0) return json(422, apiError("SHIPMENT.INVALID_PARAMS", "Unable to create shipment, one or more parameters were invalid.", errors))
        serial += 1
        const id = `shp_${hex(`shp:${serial}`)}`
        const created = iso(now())
        const shipment: Record<string, unknown> = {
          id,
          object: "Shipment",
          mode: "test",
          reference: s["reference"] ?? null,
          status: "unknown",
          tracking_code: null,
          created_at: created,
          updated_at: created,
          to_address: { object: "Address", id: `adr_${hex(`to:${serial}`)}`, ...s["to_address"] },
          from_address: { object: "Address", id: `adr_${hex(`from:${serial}`)}`, ...s["from_address"] },
          parcel: { object: "Parcel", id: `prcl_${hex(`prcl:${serial}`)}`, ...s["parcel"] },
          options: { currency: "USD", ...(s["options"] ?? {}) },
          rates: rateCard.map((r, i) => ({
            id: `rate_${hex(`rate:${serial}:${i}`)}`,
            object: "Rate",
            mode: "test",
            created_at: created,
            updated_at: created,
            ...r,
            delivery_days: r.delivery_days ?? null,
            retail_rate: r.rate,
            retail_currency: r.currency,
            list_rate: r.rate,
            list_currency: r.currency,
            billing_type: "easypost",
            delivery_date: null,
            delivery_date_guaranteed: false,
            est_delivery_days: r.delivery_days ?? null,
            shipment_id: id,
            carrier_account_id: `ca_${hex(r.carrier)}`
          })),
          selected_rate: null,
          postage_label: null,
          tracker: null,
          messages: [],
          fees: []
        }
        shipments.set(id, shipment)
        return json(201, shipment)
      }
      const buyMatch = /^\/v2\/shipments\/([^/]+)\/buy$/.exec(path)
      if (method === "POST" && buyMatch !== null) {
        const shipment = shipments.get(decodeURIComponent(buyMatch[1]!))
        if (shipment === undefined) return json(404, apiError("NOT_FOUND", "The requested resource could not be found."))
        if (shipment["postage_label"] !== null) return json(422, apiError("SHIPMENT.POSTAGE.EXISTS", "Shipment already has postage."))
        const rateId = input["rate"]?.["id"]
        const rate = (shipment["rates"] as Array<Record<string, unknown>>).find((r) => r["id"] === rateId)
        if (rate === undefined) {
          return json(422, apiError("SHIPMENT.RATE.INVALID", "Rate is invalid or expired.", [{ field: "rate.id", message: "is invalid" }]))
        }
        serial += 1
        const trackingCode = `9405500${String(100000000000000 + serial).padStart(15, "0")}`
        const tracker = newTracker(trackingCode, String(rate["carrier"]), String(shipment["id"]))
        const bought = iso(now())
        Object.assign(shipment, {
          tracking_code: trackingCode,
          selected_rate: rate,
          updated_at: bought,
          postage_label: {
            object: "PostageLabel",
            id: `pl_${hex(`pl:${serial}`)}`,
            created_at: bought,
            updated_at: bought,
            label_date: bought,
            label_resolution: 300,
            label_size: "4x6",
            label_type: "default",
            label_file_type: "image/png",
            label_url: `${origin}/files/postage_label/${String(shipment["id"])}.png`,
            label_pdf_url: null,
            label_zpl_url: null,
            label_epl2_url: null,
            label_file: null
          },
          tracker,
          fees: [{ object: "Fee", type: "PostageFee", amount: `${String(rate["rate"])}000`, charged: true, refunded: false }]
        })
        return json(200, shipment)
      }
      const shipmentMatch = /^\/v2\/shipments\/([^/]+)$/.exec(path)
      if (method === "GET" && shipmentMatch !== null) {
        // Like EasyPost, a shipment's `reference` is accepted in place of its id.
        const idOrReference = decodeURIComponent(shipmentMatch[1]!)
        const s = shipments.get(idOrReference) ??
          [...shipments.values()].reverse().find((x) => x["reference"] === idOrReference)
        return s === undefined
          ? json(404, apiError("NOT_FOUND", "The requested resource could not be found."))
          : json(200, s)
      }
      return json(404, apiError("NOT_FOUND", "The requested resource could not be found."))
    }

    const http = yield* HttpFake.make<Fault>({
      prefix: "/v2",
      authorize: (req) => authorized(req.headers),
      route,
      fault: (fault) =>
        fault._tag === "RateLimited"
          ? json(429, apiError("RATE_LIMITED", "You have exceeded the rate limit. Please retry later."), {
            "retry-after": fault.retryAfter ?? "1"
          })
          : json(
            fault.status ?? 500,
            apiError("INTERNAL_SERVER_ERROR", "We're sorry, something went wrong. If the problem persists please contact support@easypost.com.")
          )
    })
    origin = http.origin

    const fake: EasyPostFake = {
      ...http,
      apiKey,
      tracker: (id) => trackers.get(id),
      shipment: (id) => shipments.get(id),
      advanceTracker: (trackerId, scan) => {
        const tracker = trackers.get(trackerId)
        if (tracker === undefined) throw new Error(`EasyPostFake: no tracker ${trackerId}`)
        const at = now()
        ;(tracker["tracking_details"] as Array<unknown>).push(detailOf(scan, at, String(tracker["carrier"])))
        tracker["status"] = scan.status
        tracker["status_detail"] = scan.status_detail ?? "status_update"
        tracker["updated_at"] = iso(at)
        if (scan.status === "delivered" && tracker["signed_by"] === null) tracker["signed_by"] = "John Tester"
      },
      trackerEvent: (trackerId, opts) => {
        const tracker = trackers.get(trackerId)
        if (tracker === undefined) throw new Error(`EasyPostFake: no tracker ${trackerId}`)
        serial += 1
        const at = iso(now())
        return JSON.stringify({
          description: opts?.description ?? "tracker.updated",
          mode: "test",
          previous_attributes: {},
          created_at: at,
          pending_urls: [],
          completed_urls: [],
          updated_at: at,
          id: `evt_${hex(`evt:${serial}`)}`,
          user_id: "user_fake",
          status: "pending",
          object: "Event",
          result: tracker
        })
      },
      signedRequest: (body, secret, receivedAt) => ({
        headers: { "content-type": "application/json", [EasyPostWebhook.signatureHeader]: EasyPostWebhook.sign(body, secret) },
        body: new TextEncoder().encode(body),
        receivedAt: receivedAt ?? Instant.fromMillis(now().getTime())
      }),
      sendWebhook: (url, body, secret) =>
        HttpFake.post(url, body, {
          "content-type": "application/json",
          "user-agent": "EasyPost WebHook Agent 1.0",
          "X-Hmac-Signature": EasyPostWebhook.sign(body, secret)
        })
    }
    return fake
  })
