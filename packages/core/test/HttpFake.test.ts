/**
 * HttpFake: a real node:http server on 127.0.0.1 serving a route table, with injected faults
 * (canned answers, the vendor's own, requests left hanging or carried out without an answer),
 * a call log, and the webhook ingress and sender used by adapters' end-to-end tests.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { type CarrierPort, Instant, PortError } from "@waybill/core"
import { HttpFake } from "@waybill/core/testing"

type Fault = HttpFake.Fault | { readonly _tag: "Slow"; readonly seconds: number }

const makeFake = (effects: { created: number }) =>
  HttpFake.make<Fault>({
    prefix: "/v1",
    authorize: (req) => req.headers["x-api-key"] === "key",
    route: (req) => {
      if (!req.authorized) return HttpFake.json(401, { error: "bad key" })
      if (req.badJson) return HttpFake.json(400, { error: "bad json" })
      if (req.method === "POST" && req.path === "/v1/trackers") {
        effects.created++
        return HttpFake.json(201, { id: `trk_${effects.created}`, echo: req.body, q: req.query })
      }
      return HttpFake.json(404, { error: "not found" })
    },
    fault: (fault) => HttpFake.json(429, { error: "slow down" }, { "retry-after": String(fault.seconds) })
  })

const call = (url: string, body: string, headers: Record<string, string> = { "x-api-key": "key" }) =>
  Effect.flatMap(HttpFake.post(url, body, headers), (r) => Effect.succeed({ status: r.status, json: JSON.parse(r.body) as unknown }))

describe("HttpFake.make", () => {
  it.scoped("serves the routes and logs every call", () =>
    Effect.gen(function*() {
      const effects = { created: 0 }
      const fake = yield* makeFake(effects)
      expect(fake.url).toBe(`${fake.origin}/v1`)
      expect(fake.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      const created = yield* call(`${fake.url}/trackers?mode=test`, "{\"code\":\"EZ1\"}")
      expect(created).toEqual({ status: 201, json: { id: "trk_1", echo: { code: "EZ1" }, q: { mode: "test" } } })
      expect((yield* call(`${fake.url}/trackers`, "{\"code\":\"EZ1\"}", {})).status).toBe(401)
      expect((yield* call(`${fake.url}/trackers`, "{not json")).status).toBe(400)
      expect((yield* call(`${fake.url}/nothing`, "")).status).toBe(404)
      expect(fake.calls()).toEqual([
        { method: "POST", path: "/v1/trackers", query: { mode: "test" }, body: { code: "EZ1" }, authorized: true },
        { method: "POST", path: "/v1/trackers", query: {}, body: { code: "EZ1" }, authorized: false },
        { method: "POST", path: "/v1/trackers", query: {}, body: undefined, authorized: true },
        { method: "POST", path: "/v1/nothing", query: {}, body: undefined, authorized: true }
      ])
      expect(fake.count("POST", "/v1/trackers")).toBe(3)
      expect(fake.count("POST", /^\/v1\/no/)).toBe(1)
      expect(fake.count("GET", "/v1")).toBe(0)
      yield* fake.awaitCalls(4)
    }))

  it.scoped("answers the next requests with faults, by route and as many times as asked", () =>
    Effect.gen(function*() {
      const effects = { created: 0 }
      const fake = yield* makeFake(effects)
      fake.failNext({ _tag: "Respond", status: 503, body: { error: "maintenance" }, headers: { "x-reason": "upgrade" } }, { times: 2 })
      fake.failNext({ _tag: "Slow", seconds: 7 }, { route: "POST /v1/trackers" })
      fake.failNext({ _tag: "Slow", seconds: 9 }, { route: /^POST \/v1\/other$/ })
      const answers: Array<{ status: number; retryAfter: string | null }> = []
      for (const path of ["trackers", "trackers", "other", "trackers", "trackers"]) {
        const response = yield* Effect.promise(() =>
          fetch(`${fake.url}/${path}`, { method: "POST", headers: { "x-api-key": "key" }, body: "{}" })
        )
        yield* Effect.promise(() => response.text())
        answers.push({ status: response.status, retryAfter: response.headers.get("retry-after") ?? response.headers.get("x-reason") })
      }
      expect(answers).toEqual([
        { status: 503, retryAfter: "upgrade" },
        { status: 503, retryAfter: "upgrade" },
        { status: 429, retryAfter: "9" },
        { status: 429, retryAfter: "7" },
        { status: 201, retryAfter: null }
      ])
      // Only the last request reached the routes.
      expect(effects.created).toBe(1)
    }))

  it.effect("Hang never answers; LoseAnswer carries the request out and never answers (the scope's end cuts both)", () =>
    Effect.gen(function*() {
      for (const fault of [{ _tag: "Hang" as const }, { _tag: "LoseAnswer" as const }]) {
        const effects = { created: 0 }
        const fiber = yield* Effect.scoped(
          Effect.gen(function*() {
            const fake = yield* makeFake(effects)
            fake.failNext(fault)
            const pending = yield* Effect.fork(HttpFake.post(`${fake.url}/trackers`, "{}", { "x-api-key": "key" }))
            yield* fake.awaitCalls(1)
            return pending
          })
        )
        const exit = yield* Fiber.await(fiber)
        expect([fault._tag, Exit.isFailure(exit)]).toEqual([fault._tag, true])
        expect([fault._tag, effects.created]).toEqual([fault._tag, fault._tag === "LoseAnswer" ? 1 : 0])
      }
    }))
})

describe("HttpFake.ingress", () => {
  it.scoped("hands each request to the handler: 202 on success, the failure's status (else 500) on failure", () =>
    Effect.gen(function*() {
      const seen: Array<CarrierPort.InboundRequest> = []
      const receivedAt = Instant.fromMillis(Date.UTC(2024, 7, 1, 10, 0, 0))
      const url = yield* HttpFake.ingress(
        (request) => {
          seen.push(request)
          const text = new TextDecoder().decode(request.body)
          if (text === "ok") return Effect.void
          if (text === "forged") {
            return Effect.fail(new PortError.CarrierError({ reason: "Unauthorized", module: "m", method: "parse", description: "x", status: 401 }))
          }
          if (text === "no-status") return Effect.fail(new PortError.CarrierError({ reason: "Bug", module: "m", method: "parse", description: "x" }))
          return Effect.die("boom")
        },
        { receivedAt: () => receivedAt, path: "/hooks/acme" }
      )
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/hooks\/acme$/)
      const status = (body: string) => Effect.map(HttpFake.post(url, body, { "X-Acme-Signature": "sig" }), (r) => r.status)
      expect(yield* status("ok")).toBe(202)
      expect(yield* status("forged")).toBe(401)
      expect(yield* status("no-status")).toBe(500)
      expect(yield* status("defect")).toBe(500)
      expect(seen).toHaveLength(4)
      expect(seen[0]!.headers["x-acme-signature"]).toBe("sig")
      expect(seen[0]!.receivedAt).toBe(receivedAt)
      expect(Array.from(seen[0]!.body)).toEqual(Array.from(new TextEncoder().encode("ok")))
    }))
})
