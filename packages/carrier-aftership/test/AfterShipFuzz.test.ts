/**
 * Fuzzing the AfterShip parsers: arbitrary JSON, arbitrary values, and mutated, truncated or
 * tampered realistic payloads. The result is observations or a typed CarrierError; nothing
 * throws and nothing dies.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { CarrierPort, PortError } from "@waybill/core"
import { AfterShipTracking, AfterShipWebhook } from "../src/index.js"
import * as Payloads from "./payloads.js"

const runs = { numRuns: 1000 }
const secret = "fuzz-secret"
const options = { secret: Redacted.make(secret) }
const encoder = new TextEncoder()

const outcome = (effect: Effect.Effect<ReadonlyArray<unknown>, PortError.CarrierError>): string => {
  const exit = Effect.runSyncExit(Logger.withMinimumLogLevel(effect, LogLevel.None))
  if (Exit.isSuccess(exit)) return "ok"
  const failure = Cause.failureOption(exit.cause)
  if (failure._tag === "None") throw new Error(`not a typed failure: ${Cause.pretty(exit.cause)}`)
  expect(failure.value).toBeInstanceOf(PortError.CarrierError)
  expect(failure.value.description.length).toBeGreaterThan(0)
  return failure.value.reason
}

const signed = (text: string | Uint8Array) => {
  const body = typeof text === "string" ? encoder.encode(text) : text
  return Payloads.request(body, { "aftership-hmac-sha256": AfterShipWebhook.sign(body, secret) })
}

const real = Payloads.dhlWebhook()
const realBody = encoder.encode(JSON.stringify(real))

type Path = ReadonlyArray<string | number>
const pathsOf = (value: unknown, prefix: Path = []): Array<Path> => {
  const out: Array<Path> = [prefix]
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...prefix, i])))
  else if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...prefix, k]))
  }
  return out
}
const realPaths = pathsOf(real).filter((p) => p.length > 0)

type Mutation = { readonly path: number; readonly op: "drop" | "replace"; readonly value: unknown }

const mutate = (root: unknown, mutations: ReadonlyArray<Mutation>): unknown => {
  const copy = structuredClone(root)
  for (const m of mutations) {
    const path = realPaths[m.path % realPaths.length]!
    let parent: any = copy
    for (const key of path.slice(0, -1)) {
      parent = parent?.[key]
      if (typeof parent !== "object" || parent === null) break
    }
    if (typeof parent !== "object" || parent === null) continue
    const last = path[path.length - 1]!
    if (m.op === "drop") {
      if (Array.isArray(parent) && typeof last === "number") parent.splice(last, 1)
      else delete parent[last]
    } else parent[last] = m.value
  }
  return copy
}

const mutation: FastCheck.Arbitrary<Mutation> = FastCheck.record({
  path: FastCheck.nat(),
  op: FastCheck.constantFrom("drop" as const, "replace" as const),
  value: FastCheck.oneof(
    FastCheck.jsonValue({ maxDepth: 2 }),
    FastCheck.constantFrom("", "Delivered", "Exception_099", "ZZZ", "2024-13-45T99:99:99", "2024-08-01 10:00", null, -1, 1e308, "x".repeat(5000))
  )
})

describe("AfterShip parsers under fuzzing", () => {
  it("arbitrary JSON text, correctly signed: events or a typed error", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.json(), (text) => {
        expect(["ok", "Invalid"]).toContain(outcome(AfterShipWebhook.verifyAndParse(signed(text), options)))
      }),
      runs
    )
  })

  it("arbitrary values as webhook payloads (AfterShipTracking.fromWebhook): events or a typed error", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.anything({ withNullPrototype: true, withObjectString: true }), (value) => {
        const result = outcome(
          AfterShipTracking.fromWebhook(value, { source: "aftership", timePolicy: { _tag: "AssumeUtc" }, receivedAt: Payloads.receivedAt })
        )
        expect(["ok", "Invalid"]).toContain(result)
      }),
      runs
    )
  })

  it("arbitrary msg objects in a tracking_update: events or a typed error", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.anything(), (msg) => {
        const result = outcome(
          AfterShipTracking.fromWebhook(
            { event: "tracking_update", msg },
            { source: "aftership", timePolicy: { _tag: "AssumeUtc" }, receivedAt: Payloads.receivedAt }
          )
        )
        expect(["ok", "Invalid"]).toContain(result)
      }),
      runs
    )
  })

  it("the realistic payload with fields dropped or replaced: events or a typed error", () => {
    let parsed = 0
    FastCheck.assert(
      FastCheck.property(FastCheck.array(mutation, { minLength: 1, maxLength: 6 }), (mutations) => {
        const result = outcome(AfterShipWebhook.verifyAndParse(signed(JSON.stringify(mutate(real, mutations))), options))
        expect(["ok", "Invalid"]).toContain(result)
        if (result === "ok") parsed++
      }),
      runs
    )
    expect(parsed).toBeGreaterThan(0)
  })

  it("observations from mutated payloads are valid canonical events (they survive an encode/decode round trip)", () => {
    const roundTrip = (o: CarrierPort.Observation) =>
      Schema.decodeUnknownSync(CarrierPort.Observation)(Schema.encodeSync(CarrierPort.Observation)(o))
    let checked = 0
    FastCheck.assert(
      FastCheck.property(FastCheck.array(mutation, { minLength: 1, maxLength: 3 }), (mutations) => {
        const exit = Effect.runSyncExit(
          Logger.withMinimumLogLevel(AfterShipWebhook.verifyAndParse(signed(JSON.stringify(mutate(real, mutations))), options), LogLevel.None)
        )
        if (Exit.isSuccess(exit)) {
          for (const o of exit.value) {
            expect(roundTrip(o).event.id).toBe(o.event.id)
            checked++
          }
        }
      }),
      { numRuns: 200 }
    )
    expect(checked).toBeGreaterThan(0)
  })

  it("the body truncated at any byte (and re-signed): events or a typed error", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.nat({ max: realBody.byteLength }), (cut) => {
        const result = outcome(AfterShipWebhook.verifyAndParse(signed(realBody.subarray(0, cut)), options))
        expect(result).toBe(cut === realBody.byteLength ? "ok" : "Invalid")
      }),
      runs
    )
  })

  it("any change to a signed body (not re-signed) is Unauthorized", () => {
    const header = { "aftership-hmac-sha256": AfterShipWebhook.sign(realBody, secret) }
    FastCheck.assert(
      FastCheck.property(FastCheck.nat({ max: realBody.byteLength - 1 }), FastCheck.integer({ min: 1, max: 255 }), (at, xor) => {
        const tampered = new Uint8Array(realBody)
        tampered[at] = tampered[at]! ^ xor
        expect(outcome(AfterShipWebhook.verifyAndParse(Payloads.request(tampered, header), options))).toBe("Unauthorized")
      }),
      runs
    )
  })

  it("arbitrary signature headers never verify and never throw", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.string(),
        FastCheck.constantFrom("aftership-hmac-sha256", "am-webhook-signature"),
        (value, header) => {
          expect(outcome(AfterShipWebhook.verifyAndParse(Payloads.request(realBody, { [header]: value }), options))).toBe("Unauthorized")
        }
      ),
      runs
    )
  })
})
