/**
 * HttpFailure: status → retry reason, Retry-After (seconds, HTTP date) and rate-limit reset
 * headers → milliseconds, error answers, transport failures and timeouts → port error fields,
 * and `guard` around one HTTP call (timing on the TestClock).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import { HttpFailure, Notifier, PortError, Privacy } from "@waybill/core"

const where = { module: "AcmeClient", method: "createTracker" }
const now = Date.UTC(2025, 0, 1, 12, 0, 0)

describe("HttpFailure.reasonOfStatus", () => {
  it("maps every status class to its retry reason (the statuses EasyPost and AfterShip answer with)", () => {
    const statusesByReason: Partial<Record<PortError.Reason, ReadonlyArray<number>>> = {
      // 501 Not Implemented and 505 HTTP Version Not Supported: the server will never do this
      // request; asking again changes nothing.
      Invalid: [400, 402, 422, 501, 505],
      Unauthorized: [401],
      Forbidden: [403],
      NotFound: [404],
      Timeout: [408],
      Conflict: [409],
      RateLimited: [429],
      Unavailable: [500, 502, 503, 504],
      Bug: [200, 302]
    }
    for (const [reason, statuses] of Object.entries(statusesByReason)) {
      for (const status of statuses) expect({ status, reason: HttpFailure.reasonOfStatus(status) }).toEqual({ status, reason })
    }
  })

  it("an error status is worth retrying exactly when it is 408, 409, 429 or 5xx but 501 and 505 (1,000 statuses)", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.integer({ min: 400, max: 599 }), (status) => {
        const expected = status === 408 || status === 409 || status === 429 || (status >= 500 && status !== 501 && status !== 505)
        expect(PortError.isRetryable(HttpFailure.reasonOfStatus(status))).toBe(expected)
      }),
      { numRuns: 1000 }
    )
  })
})

describe("HttpFailure.fromResponse of a server that will never do the request", () => {
  it("501 and 505 are permanent: not retryable, and a Retry-After they carry is not kept", () => {
    for (const status of [501, 505]) {
      const fields = HttpFailure.fromResponse({ status, headers: { "retry-after": "5" }, body: "" }, { ...where, nowMillis: now })
      expect(fields).toMatchObject({ reason: "Invalid", status, description: `HTTP ${status}` })
      expect(fields.retryAfterMillis).toBeUndefined()
      expect(PortError.isRetryable(fields.reason)).toBe(false)
    }
  })
})

describe("HttpFailure.retryAfterMillis and waitMillis", () => {
  it("reads delay-seconds and HTTP dates; a past date is 0; anything else is undefined", () => {
    expect(HttpFailure.retryAfterMillis("3", now)).toBe(3000)
    expect(HttpFailure.retryAfterMillis(" 7 ", now)).toBe(7000)
    expect(HttpFailure.retryAfterMillis("1.5", now)).toBe(1500)
    expect(HttpFailure.retryAfterMillis(new Date(now + 90_000).toUTCString(), now)).toBe(90_000)
    expect(HttpFailure.retryAfterMillis(new Date(now - 90_000).toUTCString(), now)).toBe(0)
    expect(HttpFailure.retryAfterMillis("soon", now)).toBeUndefined()
    expect(HttpFailure.retryAfterMillis("", now)).toBeUndefined()
    expect(HttpFailure.retryAfterMillis(undefined, now)).toBeUndefined()
  })

  it("reads the three HTTP-date forms as GMT, whatever the host's time zone", () => {
    const zone = process.env.TZ
    process.env.TZ = "America/New_York"
    try {
      // now is 2025-01-01T12:00:00Z; each asks for 90 s.
      expect(HttpFailure.retryAfterMillis("Wed, 01 Jan 2025 12:01:30 GMT", now)).toBe(90_000)
      expect(HttpFailure.retryAfterMillis("Wednesday, 01-Jan-25 12:01:30 GMT", now)).toBe(90_000)
      expect(HttpFailure.retryAfterMillis("Wed Jan  1 12:01:30 2025", now)).toBe(90_000)
      // Not an HTTP date, but sent: a numeric zone is kept.
      expect(HttpFailure.retryAfterMillis("Wed, 01 Jan 2025 14:01:30 +0200", now)).toBe(90_000)
    } finally {
      if (zone === undefined) delete process.env.TZ
      else process.env.TZ = zone
    }
  })

  it("counts a Retry-After date and a reset time from the far side's Date header, not the local clock", () => {
    // The local clock runs 10 minutes fast; the server says it is 12:00:00 and asks for 12:01:30.
    const fast = now + 10 * 60_000
    const server = { date: new Date(now).toUTCString() }
    expect(HttpFailure.waitMillis({ ...server, "retry-after": new Date(now + 90_000).toUTCString() }, fast)).toBe(90_000)
    expect(
      HttpFailure.waitMillis({ ...server, "x-ratelimit-reset": String(now / 1000 + 12) }, fast, { resetHeader: "x-ratelimit-reset" })
    ).toBe(12_000)
    // Delay-seconds need no clock; without a (valid) Date header the local clock is all there is.
    expect(HttpFailure.waitMillis({ ...server, "retry-after": "5" }, fast)).toBe(5000)
    expect(HttpFailure.waitMillis({ date: "yesterday", "retry-after": new Date(fast + 90_000).toUTCString() }, fast)).toBe(90_000)
    expect(HttpFailure.farSideNow({}, fast)).toBe(fast)
    expect(HttpFailure.farSideNow({ date: "Wed Jan  1 12:00:00 2025" }, fast)).toBe(now)
  })

  it("a value that is neither delay-seconds nor an HTTP date is unreadable, not a date in 2001", () => {
    for (const value of ["-5", "+30", ".5", "5.", "1 2"]) {
      expect(HttpFailure.retryAfterMillis(value, now)).toBeUndefined()
    }
    // So the reset header still applies.
    const headers = { "retry-after": "-1", "x-ratelimit-reset": String(now / 1000 + 12) }
    expect(HttpFailure.waitMillis(headers, now, { resetHeader: "x-ratelimit-reset" })).toBe(12_000)
  })

  it("text that only starts like a date is unreadable, not a wait of 0 or of years, and the reset header applies", () => {
    // `Date.parse` reads each of these as some date (2001, 2030, 2031, 2015).
    for (const value of ["Soon 5", "x 1", "Mon 1", "a 2030", "June 2031", "Wed, 21 Oct 2015 07:28:00 GMT, 5", "Wednesday"]) {
      expect({ value, millis: HttpFailure.retryAfterMillis(value, now) }).toEqual({ value, millis: undefined })
    }
    const headers = { "retry-after": "Soon 5", "x-ratelimit-reset": String(now / 1000 + 12) }
    expect(HttpFailure.waitMillis(headers, now, { resetHeader: "x-ratelimit-reset" })).toBe(12_000)
    // The three forms are still read, in any letter case.
    expect(HttpFailure.retryAfterMillis("wed, 01 jan 2025 12:01:30 gmt", now)).toBe(90_000)
    expect(HttpFailure.retryAfterMillis("Wed, 1 Jan 2025 12:01:30 GMT", now)).toBe(90_000)
  })

  it("delay-seconds n is n × 1000 ms (1,000 values)", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.integer({ min: 0, max: 10_000_000 }), (n) => {
        expect(HttpFailure.retryAfterMillis(String(n), now)).toBe(n * 1000)
      }),
      { numRuns: 1000 }
    )
  })

  it("an absurd value is clamped, so the port error can still be built", () => {
    const huge = HttpFailure.retryAfterMillis("99999999999999999999999", now)
    expect(huge).toBe(Number.MAX_SAFE_INTEGER)
    const error = new PortError.CarrierError({ ...where, reason: "RateLimited", description: "x", retryAfterMillis: huge! })
    expect(error.retryAfterMillis).toBe(Number.MAX_SAFE_INTEGER)
  })

  it("prefers Retry-After; falls back to the reset header (epoch seconds) only when asked", () => {
    const reset = String(now / 1000 + 12)
    expect(HttpFailure.resetMillis(reset, now)).toBe(12_000)
    expect(HttpFailure.resetMillis("12.5", now)).toBeUndefined()
    expect(HttpFailure.resetMillis(String(now / 1000 - 5), now)).toBe(0)
    const both = { "retry-after": "3", "x-ratelimit-reset": reset }
    expect(HttpFailure.waitMillis(both, now, { resetHeader: "x-ratelimit-reset" })).toBe(3000)
    const resetOnly = { "retry-after": "later", "x-ratelimit-reset": reset }
    expect(HttpFailure.waitMillis(resetOnly, now, { resetHeader: "x-ratelimit-reset" })).toBe(12_000)
    expect(HttpFailure.waitMillis(resetOnly, now)).toBeUndefined()
  })
})

describe("HttpFailure.fromResponse", () => {
  const describeBody = (json: unknown, status: number): HttpFailure.Detail | undefined => {
    if (typeof json !== "object" || json === null || !("code" in json)) return undefined
    const code = String(json.code)
    return { description: code === "" ? `HTTP ${status}` : `${code}: refused`, cause: { code } }
  }

  it("describes the vendor's error body and keeps what the adapter needs in cause", () => {
    const error = new PortError.CarrierError(
      HttpFailure.fromResponse({ status: 422, headers: {}, body: JSON.stringify({ code: "E42" }) }, { ...where, nowMillis: now, describe: describeBody })
    )
    expect(error).toMatchObject({ reason: "Invalid", status: 422, description: "E42: refused", cause: { code: "E42" }, ...where })
    expect(error.retryAfterMillis).toBeUndefined()
    expect(error.message).toBe("AcmeClient.createTracker: Invalid (HTTP 422): E42: refused")
  })

  it("marks a cut body, so a personal value it was cut in the middle of is still withheld", () => {
    const street = "Flat 3, 12 Privet Drive"
    const body = `${"x".repeat(290)} ${street} is not deliverable`
    const fields = HttpFailure.fromResponse({ status: 502, headers: {}, body }, { ...where, nowMillis: now })
    const shown = Privacy.scrub(fields.description, [street])
    expect(shown).not.toContain("Flat 3")
    expect(shown).toMatch(/<redacted>…$/)
  })

  it("falls back to HTTP <status> and the first 300 characters of a body it cannot read", () => {
    const html = `<html>${"x".repeat(400)}</html>`
    const fields = HttpFailure.fromResponse({ status: 502, headers: {}, body: html }, { ...where, nowMillis: now, describe: describeBody })
    expect(fields.description).toBe(`HTTP 502: ${html.slice(0, 300)}…`)
    expect(fields.reason).toBe("Unavailable")
    expect("cause" in fields).toBe(false)
    const other = HttpFailure.fromResponse({ status: 400, headers: {}, body: "{\"other\":1}" }, { ...where, nowMillis: now, describe: describeBody })
    expect(other.description).toBe("HTTP 400: {\"other\":1}")
    expect(HttpFailure.fromResponse({ status: 404, headers: {}, body: "  " }, { ...where, nowMillis: now }).description).toBe("HTTP 404")
    const blank = HttpFailure.fromResponse({ status: 409, headers: {}, body: "{\"code\":\"\"}" }, { ...where, nowMillis: now, describe: describeBody })
    expect(blank.description).toBe("HTTP 409")
  })

  it("cuts a described error to 500 characters, and withholds the request's personal values the vendor quotes", () => {
    const echo = (json: unknown): HttpFailure.Detail | undefined =>
      typeof json === "object" && json !== null && "message" in json ? { description: String(json.message) } : undefined
    const long = HttpFailure.fromResponse(
      { status: 422, headers: {}, body: JSON.stringify({ message: `invalid: ${"y".repeat(5000)}` }) },
      { ...where, nowMillis: now, describe: echo }
    )
    expect(long.description.length).toBe(500)
    expect(long.description.endsWith("…")).toBe(true)

    const request = {
      key: "k",
      companyId: "co-1",
      shipmentId: "shp-1",
      template: "delivered" as const,
      recipientName: `Zoë "Zee" O'Hara-Smithers`,
      recipientEmail: "zoe@example.com",
      status: "delivered" as const,
      at: "2024-07-02T08:41:00.000Z"
    }
    const withhold = Privacy.personalValues(Notifier.Notify, request)
    expect(withhold).toEqual([request.recipientName, "zoe@example.com"])
    const body = JSON.stringify({ message: `recipient '${request.recipientName}' <zoe@example.com> is blocked` })
    const described = HttpFailure.fromResponse({ status: 422, headers: {}, body }, { ...where, nowMillis: now, describe: echo, withhold })
    expect(described.description).toBe("recipient '<redacted>' <<redacted>> is blocked")
    // an excerpt of a body it cannot read: the value as it reads inside a JSON string too
    const raw = JSON.stringify({ error: `recipient ${request.recipientName} unknown` })
    const excerpt = HttpFailure.fromResponse({ status: 400, headers: {}, body: raw }, { ...where, nowMillis: now, withhold })
    expect(excerpt.description).toBe(`HTTP 400: {"error":"recipient <redacted> unknown"}`)
  })

  it("asks to wait only on RateLimited and Unavailable answers", () => {
    const headers = { "retry-after": "7" }
    expect(HttpFailure.fromResponse({ status: 429, headers, body: "" }, { ...where, nowMillis: now }).retryAfterMillis).toBe(7000)
    expect(HttpFailure.fromResponse({ status: 503, headers, body: "" }, { ...where, nowMillis: now }).retryAfterMillis).toBe(7000)
    expect(HttpFailure.fromResponse({ status: 400, headers, body: "" }, { ...where, nowMillis: now }).retryAfterMillis).toBeUndefined()
    expect(HttpFailure.fromResponse({ status: 429, headers: {}, body: "" }, { ...where, nowMillis: now }).retryAfterMillis).toBeUndefined()
  })
})

describe("HttpFailure.readOk", () => {
  const answer = (status: number, body: string) => ({ status, headers: { "retry-after": "2" }, text: Effect.succeed(body) })

  it.effect("returns a 2xx answer's text; fails with onError(answer, clock time) otherwise", () =>
    Effect.gen(function*() {
      expect(yield* HttpFailure.readOk(answer(201, "{}"), () => "unused")).toEqual({ status: 201, headers: { "retry-after": "2" }, body: "{}" })
      yield* TestClock.setTime(now)
      const error = yield* Effect.flip(
        HttpFailure.readOk(answer(429, "slow down"), (response, nowMillis) =>
          new PortError.CarrierError(HttpFailure.fromResponse(response, { ...where, nowMillis })))
      )
      expect(error).toMatchObject({ reason: "RateLimited", status: 429, retryAfterMillis: 2000, description: "HTTP 429: slow down" })
      const seen = yield* Effect.flip(HttpFailure.readOk(answer(302, ""), (response, nowMillis) => ({ response, nowMillis })))
      expect(seen).toEqual({ response: { status: 302, headers: { "retry-after": "2" }, body: "" }, nowMillis: now })
    }))
})

// The shapes of @effect/platform's RequestError and ResponseError.
const requestError = { _tag: "RequestError" as const, reason: "Transport", description: "connect ECONNREFUSED", message: "m" }
const responseError = {
  _tag: "ResponseError" as const,
  reason: "Decode",
  description: undefined,
  message: "body was not text",
  response: { status: 200 }
}

describe("HttpFailure.fromTransport and fromTimeout", () => {
  it("names the failure, with the answer's status when there was one", () => {
    expect(HttpFailure.isTransportFailure(requestError)).toBe(true)
    expect(HttpFailure.isTransportFailure(new PortError.CarrierError({ ...where, reason: "Invalid", description: "x" }))).toBe(false)
    expect(HttpFailure.isTransportFailure(null)).toBe(false)
    const request = HttpFailure.fromTransport(requestError, where)
    expect(request).toEqual({ ...where, reason: "Transport", description: "Transport: connect ECONNREFUSED", cause: requestError })
    const response = HttpFailure.fromTransport(responseError, where)
    expect(response).toMatchObject({ reason: "Transport", description: "Decode: body was not text", status: 200 })
    expect(HttpFailure.fromTimeout("10 seconds", where)).toEqual({ ...where, reason: "Timeout", description: "no answer within 10s" })
  })

  it("keeps neither the request nor its headers (credentials) in the cause", () => {
    const withRequest = {
      ...requestError,
      request: { method: "GET", url: "https://api.example.com/trackings", headers: { "as-api-key": "asat_secret_key" } }
    }
    const error = new PortError.CarrierError(HttpFailure.fromTransport(withRequest, where))
    expect(error.cause).toEqual(requestError)
    expect(JSON.stringify(error)).not.toContain("asat_secret_key")
    expect(String(error)).not.toContain("asat_secret_key")
  })
})

describe("HttpFailure.guard", () => {
  const options = { ...where, error: PortError.CarrierError, timeout: Duration.seconds(10) }

  it.effect("turns a transport failure into a Transport port error and lets other failures through", () =>
    Effect.gen(function*() {
      const transport = yield* Effect.flip(HttpFailure.guard(Effect.fail(requestError), options))
      expect(transport).toBeInstanceOf(PortError.CarrierError)
      expect(transport).toMatchObject({ reason: "Transport", module: "AcmeClient", method: "createTracker" })
      const own = new PortError.CarrierError({ ...where, reason: "NotFound", description: "no such tracker", status: 404 })
      const passed = yield* Effect.flip(HttpFailure.guard(Effect.fail(own), options))
      expect(passed).toBeInstanceOf(PortError.CarrierError)
      expect(passed).toMatchObject({ reason: "NotFound", description: "no such tracker", status: 404 })
      expect(yield* HttpFailure.guard(Effect.succeed(42), options)).toBe(42)
    }))

  it.effect("fails with Timeout when the clock passes the timeout, not before", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(Effect.exit(HttpFailure.guard(Effect.never, options)))
      yield* TestClock.adjust(Duration.seconds(9))
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust(Duration.seconds(2))
      const exit = yield* Fiber.join(fiber)
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        expect(exit.cause._tag === "Fail" ? exit.cause.error : undefined).toMatchObject({
          reason: "Timeout",
          description: "no answer within 10s"
        })
      }
    }))
})
