/**
 * The AfterShip HTTP client: the API key stays out of traces and errors.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Tracer from "effect/Tracer"
import * as Util from "node:util"
import { AfterShipClient } from "../src/index.js"
import { AfterShipFake } from "../src/testing/index.js"

describe("AfterShipClient", () => {
  it.scoped("never puts the API key (the as-api-key header) into a span", () =>
    Effect.gen(function*() {
      const fake = yield* AfterShipFake.make()
      const spans: Array<Tracer.Span> = []
      const base = yield* Effect.tracer
      const recording = Tracer.make({
        span: (...args) => {
          const span = base.span(...args)
          spans.push(span)
          return span
        },
        context: base.context
      })
      const client = yield* AfterShipClient.make({ apiKey: Redacted.make(fake.apiKey), baseUrl: fake.url }).pipe(
        Effect.provide(FetchHttpClient.layer)
      )
      yield* client.createTracking({ trackingNumber: "1234567890", slug: "dhl" }).pipe(Effect.withTracer(recording))
      const http = spans.filter((s) => s.attributes.has("http.request.method"))
      expect(http.length).toBeGreaterThan(0)
      for (const span of spans) {
        for (const [name, value] of span.attributes) {
          expect({ name, value: String(value).includes(fake.apiKey) }).toEqual({ name, value: false })
        }
      }
    }))

  it.scoped("a transport failure carries no API key, however it is printed", () =>
    Effect.gen(function*() {
      const apiKey = "asat_secret_key_123"
      // nothing listens on port 9 (discard): the connection is refused
      const client = yield* AfterShipClient.make({ apiKey: Redacted.make(apiKey), baseUrl: "http://127.0.0.1:9" }).pipe(
        Effect.provide(FetchHttpClient.layer)
      )
      const error = yield* Effect.flip(client.findTracking({ trackingNumber: "1234567890" }))
      expect(error.reason).toBe("Transport")
      expect(JSON.stringify(error)).not.toContain(apiKey)
      expect(Util.inspect(error, { depth: 10 })).not.toContain(apiKey)
    }))
})
