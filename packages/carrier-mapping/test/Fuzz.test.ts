import { describe, expect, it } from "@effect/vitest"
import { CarrierPort, Instant, type PortError } from "@waybill/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fc from "effect/FastCheck"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { readFileSync } from "node:fs"
import { DhlUnified, GenericWarehouse, MappingCarrier, MappingConfig } from "../src/index.js"
import { MappingTestKit } from "../src/testing/index.js"

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8"))

const SECRET = "fuzz-secret-0123456789abcdef"
const receivedAt = Schema.decodeSync(Instant.Instant)("2024-07-31T10:00:00Z")

const partner = Effect.runSync(
  MappingConfig.decode({
    version: 1,
    source: "fuzz:partner",
    signature: {
      algorithm: "hmac-sha256",
      encoding: "base64",
      header: "x-sig",
      secret: SECRET,
      timestamp: { header: "x-ts", format: "unix-millis", toleranceSeconds: 60 }
    },
    events: "data.items[*].scans[*]",
    fields: {
      id: ["ref", "^.ref"],
      trackingNumber: "^.awb",
      occurredAt: { path: "when", format: "unix-seconds", policy: { _tag: "RequireZone" } },
      code: "code",
      subcode: "sub",
      location: { city: "city", country: "ctry", postalCode: "zip" },
      weight: { value: "wt", defaultUnit: "oz" },
      pod: { signedBy: "by" },
      retracts: "voids"
    },
    codes: [
      { code: "A", status: "delivered" },
      { code: "B", exception: "lost" },
      { code: "C", clears: ["lost"] },
      { code: "V", retracts: true }
    ]
  })
)

const configs = [
  { name: "dhl", config: MappingConfig.withSecret(DhlUnified.config, SECRET), sample: fixture("dhl-unified.json") },
  { name: "warehouse", config: MappingConfig.withSecret(GenericWarehouse.config, SECRET), sample: fixture("warehouse-batch.json") },
  {
    name: "partner",
    config: partner,
    sample: {
      data: {
        items: [
          {
            awb: "P-1",
            ref: "item-1",
            scans: [
              { ref: "s1", when: 1722420000, code: "A", city: "Lyon", ctry: "fr", zip: 69001, wt: 12, by: "N. Roux" },
              { ref: "s2", when: "1722420060.5", code: "B", sub: "x" },
              { ref: "s3", when: 1722420120, code: "V", voids: ["s2"] },
              { ref: "s4", when: 1722420180, code: "Q" }
            ]
          }
        ]
      }
    }
  }
] as const

const carriers = configs.map((c) => ({ ...c, carrier: Effect.runSync(MappingCarrier.make(c.config)) }))

const quiet = <A, E>(effect: Effect.Effect<A, E>) => effect.pipe(Logger.withMinimumLogLevel(LogLevel.None))

const isObservation = Schema.is(CarrierPort.Observation)

/**
 * The property every input must satisfy: the adapter answers with observations that are valid
 * canonical values, or with a typed CarrierError; it never throws or dies.
 */
const checkOutcome = (
  exit: Exit.Exit<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError>,
  source: string,
  allowed: ReadonlyArray<string>
): "ok" | "error" => {
  if (Exit.isSuccess(exit)) {
    for (const o of exit.value) {
      if (o.event.source !== source) throw new Error(`wrong source ${o.event.source}`)
      // Every field is a valid canonical value.
      if (!isObservation(o)) throw new Error(`invalid observation ${JSON.stringify(o)}`)
    }
    return "ok"
  }
  expect(Cause.isDie(exit.cause)).toBe(false)
  expect(Cause.isInterrupted(exit.cause)).toBe(false)
  const failure = Cause.failureOption(exit.cause)
  expect(Option.isSome(failure)).toBe(true)
  const error = Option.getOrThrow(failure)
  expect(error._tag).toBe("CarrierError")
  expect(allowed).toContain(error.reason)
  expect(error.description.length).toBeGreaterThan(0)
  return "error"
}

const run = (carrier: MappingCarrier.MappingCarrierShape, request: CarrierPort.InboundRequest) =>
  Effect.runSyncExit(quiet(carrier.verifyAndParse(request)))

// --- mutations of real payloads ------------------------------------------------------------

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [k: string]: Json }

const leafValues = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  fc.string({ maxLength: 30 }),
  fc.fullUnicodeString({ maxLength: 10 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom<Json>(
    null,
    "",
    " ",
    -1,
    1e308,
    "2024-13-45T25:61:00",
    "2024-02-30T10:00:00",
    "2024-07-31T10:00:00+15:00",
    "2024-07-31 10:00",
    "1722420000",
    "NaN",
    "kg",
    "stone",
    "Germany",
    "x".repeat(300),
    "constructor",
    "__proto__",
    "toString",
    [],
    {},
    [null],
    { value: 1 }
  )
)

type Mutation =
  | { readonly kind: "replace"; readonly at: number; readonly value: Json }
  | { readonly kind: "delete"; readonly at: number }
  | { readonly kind: "stringify"; readonly at: number }
  | { readonly kind: "wrap"; readonly at: number }
  | { readonly kind: "duplicate"; readonly at: number }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("replace" as const), at: fc.nat(), value: leafValues }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("stringify" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("wrap" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("duplicate" as const), at: fc.nat() })
)

type Slot = { readonly parent: Record<string, unknown> | Array<unknown>; readonly key: string | number }

const slots = (root: unknown): Array<Slot> => {
  const out: Array<Slot> = []
  const walk = (value: unknown) => {
    if (Array.isArray(value)) value.forEach((v, i) => (out.push({ parent: value, key: i }), walk(v)))
    else if (typeof value === "object" && value !== null) {
      for (const [k, v] of Object.entries(value)) {
        out.push({ parent: value as Record<string, unknown>, key: k })
        walk(v)
      }
    }
  }
  walk(root)
  return out
}

const mutate = (sample: unknown, mutations: ReadonlyArray<Mutation>): unknown => {
  const root = structuredClone(sample)
  for (const m of mutations) {
    const all = slots(root)
    if (all.length === 0) break
    const slot = all[m.at % all.length]!
    const parent = slot.parent as Record<string | number, unknown>
    const current = parent[slot.key]
    switch (m.kind) {
      case "replace":
        parent[slot.key] = m.value
        break
      case "delete":
        if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1)
        else delete parent[slot.key]
        break
      case "stringify":
        parent[slot.key] = JSON.stringify(current) ?? "undefined"
        break
      case "wrap":
        parent[slot.key] = [current]
        break
      case "duplicate":
        if (Array.isArray(current)) current.push(structuredClone(current[0]))
        else parent[slot.key] = { nested: current }
        break
    }
  }
  return root
}

describe("fuzzing the parser", () => {
  it("arbitrary JSON, properly signed: observations or a typed Invalid error, never a throw (1,000 runs)", () => {
    const seen = new Set<string>()
    fc.assert(
      fc.property(fc.constantFrom(...carriers), fc.jsonValue({ maxDepth: 5 }), ({ carrier, config, name }, json) => {
        seen.add(name)
        const request = MappingTestKit.signRequest(config, json, { receivedAt, secret: SECRET })
        checkOutcome(run(carrier, request), config.source, ["Invalid"])
      }),
      { numRuns: 1000 }
    )
    expect(seen.size).toBe(carriers.length)
  })

  it("mutated real payloads, properly signed: observations or a typed Invalid error (1,000 runs per config)", () => {
    for (const { carrier, config, sample } of carriers) {
      const outcomes = { ok: 0, error: 0 }
      fc.assert(
        fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
          const request = MappingTestKit.signRequest(config, mutate(sample, mutations), { receivedAt, secret: SECRET })
          outcomes[checkOutcome(run(carrier, request), config.source, ["Invalid"])]++
        }),
        { numRuns: 1000 }
      )
      // Both branches are exercised: many mutations keep the payload readable, many break it.
      expect(outcomes.ok).toBeGreaterThan(50)
      expect(outcomes.error).toBeGreaterThan(50)
    }
  })

  it("arbitrary bytes and headers: typed Unauthorized or Invalid, and nothing unsigned gets through (1,000 runs)", () => {
    const { carrier, config } = carriers[2]!
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 512 }),
        fc.dictionary(fc.constantFrom("x-sig", "x-ts", "content-type", "X-Sig"), fc.string({ maxLength: 80 })),
        fc.boolean(),
        (bytes, headers, sign) => {
          const request = sign
            ? MappingTestKit.signRequest(config, bytes, { receivedAt, secret: SECRET })
            : { headers, body: bytes, receivedAt }
          const exit = run(carrier, request)
          checkOutcome(exit, config.source, sign ? ["Invalid"] : ["Unauthorized", "Invalid"])
          // Random headers never forge a valid signature.
          if (!sign) expect(Exit.isFailure(exit)).toBe(true)
        }
      ),
      { numRuns: 1000 }
    )
  })
})
