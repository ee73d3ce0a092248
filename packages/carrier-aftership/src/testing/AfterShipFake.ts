/**
 * An in-process AfterShip Tracking API server (node:http on 127.0.0.1, port 0) for tests and
 * demos.
 *
 * It serves `POST /tracking/2025-04/trackings` and `GET /tracking/2025-04/trackings` the way the
 * documented API does (the `as-api-key` header, the `{ meta, data }` envelope, meta code 4003
 * "Tracking already exists" for a number registered twice, 4007 for a missing number), counts
 * calls, injects faults (429 with `Retry-After` or `X-RateLimit-Reset`, 5xx, a hanging request),
 * adds checkpoints to trackings and sends `tracking_update` webhooks signed like AfterShip
 * (`aftership-hmac-sha256`, or the legacy `am-webhook-signature`).
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type CarrierPort, Instant } from "@waybill/core"
import { HttpFake } from "@waybill/core/simulation"
import * as AfterShipWebhook from "../AfterShipWebhook.js"

/**
 * A fault the fake answers with instead of the normal answer: AfterShip's 429 (with
 * `Retry-After` and/or `X-RateLimit-Reset`) or 5xx envelopes, or one of `HttpFake`'s (`Hang`,
 * `LoseAnswer`: carried out but never answered, `Respond`: a canned answer).
 *
 * @since 0.1.0
 */
export type Fault =
  | { readonly _tag: "RateLimited"; readonly retryAfter?: string | undefined; readonly rateLimitReset?: number | undefined }
  | { readonly _tag: "ServerError"; readonly status?: number | undefined }
  | HttpFake.Fault

/**
 * One request the fake received.
 *
 * @since 0.1.0
 */
export type Call = HttpFake.Call

/**
 * A checkpoint to add with {@link AfterShipFake.addCheckpoint} (AfterShip field names).
 *
 * @since 0.1.0
 */
export interface CheckpointInput {
  /**
   * The checkpoint's local time, zone-less (`2024-07-30T06:12:00`, read in the zone of
   * `country_iso3` when it has one, else by the adapter's `timePolicy`) or with an offset.
   */
  readonly checkpoint_time: string
  readonly tag: string
  readonly subtag?: string | undefined
  readonly subtag_message?: string | undefined
  readonly message?: string | undefined
  readonly location?: string | undefined
  readonly city?: string | undefined
  readonly state?: string | undefined
  readonly zip?: string | undefined
  readonly country_iso3?: string | undefined
  readonly raw_tag?: string | undefined
}

/**
 * Options of the fake.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The API key the fake accepts (default `asat_fake_test_key`). */
  readonly apiKey?: string | undefined
  /** The fake's clock for the timestamps it writes (default the wall clock). */
  readonly now?: (() => Date) | undefined
}

/**
 * A running fake: `url` is the API root to pass as `baseUrl` (e.g.
 * `http://127.0.0.1:41234/tracking/2025-04`); `calls`, `count`, `failNext` and `awaitCalls` are
 * `HttpFake`'s.
 *
 * @since 0.1.0
 */
export interface AfterShipFake extends HttpFake.HttpFake<Fault> {
  /** The API key the fake accepts. */
  readonly apiKey: string
  /** A tracking the fake holds, as AfterShip would return it. */
  readonly tracking: (id: string) => Record<string, unknown> | undefined
  /** Adds a checkpoint to a tracking and moves its tag/subtag, as AfterShip would. */
  readonly addCheckpoint: (trackingId: string, checkpoint: CheckpointInput) => void
  /** The raw body of a `tracking_update` webhook carrying the tracking. */
  readonly webhookBody: (trackingId: string) => string
  /** An inbound request carrying `body`, signed like AfterShip (the legacy header if asked). */
  readonly signedRequest: (
    body: string,
    secret: string,
    options?: { readonly legacy?: boolean | undefined; readonly receivedAt?: Instant.Instant | undefined }
  ) => CarrierPort.InboundRequest
  /** POSTs `body` to `url` with AfterShip's signature header, returning the HTTP answer. */
  readonly sendWebhook: (
    url: string,
    body: string,
    secret: string
  ) => Effect.Effect<{ readonly status: number; readonly body: string }, Error>
}

const send = HttpFake.json

const meta = (code: number, type: string, message: string) => ({ code, type, message })
const hex = (seed: string) => createHash("sha256").update(seed).digest("hex").slice(0, 32)

/**
 * Starts the fake; it stops (closing every connection) when the scope closes.
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<AfterShipFake, never, Scope.Scope> =>
  Effect.gen(function*() {
    const apiKey = options.apiKey ?? "asat_fake_test_key"
    const now = options.now ?? (() => new Date())
    const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "+00:00")
    const trackings = new Map<string, Record<string, unknown>>()
    let serial = 0
    const prefix = "/tracking/2025-04"

    const route = ({ authorized, badJson, body, method, path, query }: HttpFake.Request): HttpFake.Answer => {
      if (!authorized) return send(401, { meta: meta(401, "Unauthorized", "Invalid API key."), data: {} })
      if (badJson) return send(400, { meta: meta(4001, "BadRequest", "Invalid JSON data."), data: {} })
      const input = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>

      if (method === "POST" && path === `${prefix}/trackings`) {
        const number = typeof input["tracking_number"] === "string" ? input["tracking_number"].trim() : ""
        if (number === "") return send(400, { meta: meta(4007, "BadRequest", "tracking_number is required."), data: {} })
        const slug = typeof input["slug"] === "string" && input["slug"] !== "" ? input["slug"] : "dhl"
        const existing = [...trackings.values()].find((t) => t["tracking_number"] === number && t["slug"] === slug)
        if (existing !== undefined) {
          return send(400, {
            meta: meta(4003, "BadRequest", "Tracking already exists."),
            data: { tracking: { id: existing["id"], slug, tracking_number: number } }
          })
        }
        serial += 1
        const id = hex(`trk:${serial}:${number}`)
        const created = iso(now())
        const tracking: Record<string, unknown> = {
          id,
          created_at: created,
          updated_at: created,
          tracking_number: number,
          slug,
          active: true,
          title: typeof input["title"] === "string" ? input["title"] : number,
          order_number: input["order_number"] ?? null,
          tag: "Pending",
          subtag: "Pending_001",
          subtag_message: "Pending",
          signed_by: null,
          source: "api",
          checkpoints: []
        }
        trackings.set(id, tracking)
        return send(201, { meta: meta(201, "Created", "The request was successful and a resource was created."), data: tracking })
      }
      if (method === "GET" && path === `${prefix}/trackings`) {
        const numbers = (query["tracking_numbers"] ?? "").split(",").filter((n) => n !== "")
        const found = [...trackings.values()].filter(
          (t) => (numbers.length === 0 || numbers.includes(String(t["tracking_number"]))) &&
            (query["slug"] === undefined || query["slug"] === t["slug"])
        )
        return send(200, {
          meta: meta(200, "OK", "The request was successful."),
          data: { pagination: { total: found.length, next_cursor: null, has_next_page: false }, trackings: found }
        })
      }
      return send(404, { meta: meta(404, "NotFound", "The URI requested is invalid or the resource requested does not exist."), data: {} })
    }

    const http = yield* HttpFake.make<Fault>({
      prefix,
      authorize: (req) => req.headers["as-api-key"] === apiKey,
      route,
      fault: (fault) => {
        if (fault._tag === "ServerError") {
          return send(fault.status ?? 500, { meta: meta(fault.status ?? 500, "InternalError", "Something went wrong on AfterShip's end."), data: {} })
        }
        // Its own clock's time, as a server's reset time and Date header come from one clock.
        const headers: Record<string, string> = { date: now().toUTCString() }
        if (fault.retryAfter !== undefined) headers["retry-after"] = fault.retryAfter
        if (fault.rateLimitReset !== undefined) {
          headers["x-ratelimit-reset"] = String(fault.rateLimitReset)
          headers["x-ratelimit-limit"] = "10"
          headers["x-ratelimit-remaining"] = "0"
        }
        return send(429, { meta: meta(429, "TooManyRequests", "You have exceeded the API call rate limit. The default limit is 10 requests per second."), data: {} }, headers)
      }
    })

    const sign = (body: string, secret: string, legacy: boolean): Record<string, string> =>
      legacy
        ? { [AfterShipWebhook.legacySignatureHeader]: `hmac-sha256=${AfterShipWebhook.sign(body, secret)}` }
        : { [AfterShipWebhook.signatureHeader]: AfterShipWebhook.sign(body, secret) }

    return {
      ...http,
      apiKey,
      tracking: (id) => trackings.get(id),
      addCheckpoint: (trackingId, checkpoint) => {
        const tracking = trackings.get(trackingId)
        if (tracking === undefined) throw new Error(`AfterShipFake: no tracking ${trackingId}`)
        const at = iso(now())
        ;(tracking["checkpoints"] as Array<unknown>).push({
          created_at: at,
          slug: tracking["slug"],
          location: null,
          city: null,
          state: null,
          zip: null,
          coordinates: [],
          country_iso3: null,
          country_name: null,
          message: null,
          subtag_message: null,
          raw_tag: null,
          ...checkpoint
        })
        tracking["tag"] = checkpoint.tag
        tracking["subtag"] = checkpoint.subtag ?? `${checkpoint.tag}_001`
        tracking["subtag_message"] = checkpoint.subtag_message ?? checkpoint.tag
        tracking["updated_at"] = at
        if (checkpoint.tag === "Delivered" && tracking["signed_by"] === null) tracking["signed_by"] = "J. Tester"
      },
      webhookBody: (trackingId) => {
        const tracking = trackings.get(trackingId)
        if (tracking === undefined) throw new Error(`AfterShipFake: no tracking ${trackingId}`)
        serial += 1
        return JSON.stringify({
          event: "tracking_update",
          event_id: `${hex(`evt:${serial}`).slice(0, 8)}-${hex(`evt:${serial}`).slice(8, 12)}-4${hex(`evt:${serial}`).slice(13, 16)}-a${hex(`evt:${serial}`).slice(17, 20)}-${hex(`evt:${serial}`).slice(20, 32)}`,
          is_tracking_first_tag: true,
          msg: tracking,
          ts: Math.floor(now().getTime() / 1000)
        })
      },
      signedRequest: (body, secret, opts) => ({
        headers: { "content-type": "application/json", ...sign(body, secret, opts?.legacy === true) },
        body: new TextEncoder().encode(body),
        receivedAt: opts?.receivedAt ?? Instant.fromMillis(now().getTime())
      }),
      sendWebhook: (target, body, secret) =>
        HttpFake.post(target, body, {
          "content-type": "application/json",
          "user-agent": "AfterShipTrackingWebhook/4.0.0 (https://www.aftership.com)",
          "as-webhook-version": "2025-04",
          ...sign(body, secret, false)
        })
    }
  })
