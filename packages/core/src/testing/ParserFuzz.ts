/**
 * The fuzz properties every inbound parser must pass. Whatever arrives, a carrier adapter's
 * `verifyAndParse` answers with observations that are valid canonical values, or with a typed
 * `CarrierError` naming what is wrong; it never throws, never dies, and nothing unsigned or
 * tampered with gets through. {@link run} registers the properties as vitest tests (fast-check,
 * 1,000 runs each by default):
 *
 * 1. arbitrary JSON text, correctly signed → observations or `Invalid`;
 * 2. arbitrary values handed to each payload decoder → observations or `Invalid`;
 * 3. the realistic sample with fields deleted, replaced (by arbitrary JSON and by awkward
 *    values: bad dates, huge numbers, `__proto__`, 5,000 characters …), stringified, wrapped in
 *    an array or duplicated, correctly signed → observations or `Invalid`, both seen; every
 *    observation validates and survives an encode/decode round trip with its id;
 * 4. the sample body cut at any byte and re-signed → `Invalid` (the whole body parses);
 * 5. any byte of the signed sample body flipped, not re-signed → `Unauthorized`;
 * 6. arbitrary signature header values (with and without the scheme's prefix) → `Unauthorized`;
 * 7. arbitrary bytes: signed → observations or `Invalid`; unsigned, with arbitrary headers →
 *    `Unauthorized` or `Invalid`, never observations.
 *
 * The parser must run synchronously (no async boundary), as parsers do.
 *
 * @example
 * ```ts
 * import { ParserFuzz } from "@waybill/core/testing"
 *
 * ParserFuzz.run({
 *   name: "AcmeWebhook",
 *   verifyAndParse: (request) => AcmeWebhook.verifyAndParse(request, { secret: Redacted.make("s") }),
 *   signed: (body) => request(body, { "x-acme-signature": AcmeWebhook.sign(body, "s") }),
 *   unsigned: request,
 *   sample: recordedPayload,
 *   signatureHeaders: ["x-acme-signature"],
 *   decoders: [{ name: "AcmeTracking.fromPayload", decode: (value) => AcmeTracking.fromPayload(value, options) }],
 *   source: "acme"
 * })
 * ```
 *
 * @since 0.1.0
 */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as CarrierPort from "../CarrierPort.js"
import * as PortError from "../PortError.js"

/**
 * A parser of already-decoded JSON (e.g. `EasyPostTracking.fromPayload`), fuzzed with
 * arbitrary values.
 *
 * @since 0.1.0
 */
export interface Decoder {
  readonly name: string
  readonly decode: (value: unknown) => Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError>
  /** The values to try (default: anything, including null-prototype objects and boxed strings). */
  readonly arbitrary?: FastCheck.Arbitrary<unknown> | undefined
}

/**
 * What to fuzz.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Names the suite, e.g. the webhook module. */
  readonly name: string
  /** The inbound entry point: verifies, then parses. */
  readonly verifyAndParse: (
    request: CarrierPort.InboundRequest
  ) => Effect.Effect<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError>
  /** A request carrying `body`, signed as the sender signs it. */
  readonly signed: (body: Uint8Array) => CarrierPort.InboundRequest
  /** A request carrying `body` with exactly these headers (and no signature of its own). */
  readonly unsigned: (body: Uint8Array, headers: Readonly<Record<string, string>>) => CarrierPort.InboundRequest
  /** A realistic payload (a recorded one where there is one); it must parse. */
  readonly sample: unknown
  /** The sample's bytes as sent (default: its `JSON.stringify`). */
  readonly sampleBody?: Uint8Array | undefined
  /** The signature header names (lower case). */
  readonly signatureHeaders: ReadonlyArray<string>
  /** Prefixes a forged signature may start with, e.g. `hmac-sha256-hex=`. */
  readonly signaturePrefixes?: ReadonlyArray<string> | undefined
  /**
   * Header names for the arbitrary-headers property (default: the signature headers, their
   * capitalized forms and `content-type`); add e.g. a signed-timestamp header.
   */
  readonly headerNames?: ReadonlyArray<string> | undefined
  /** Vendor-specific leaf values for the mutations (codes, odd dates, units). */
  readonly values?: ReadonlyArray<unknown> | undefined
  /** Payload decoders to fuzz with arbitrary values. */
  readonly decoders?: ReadonlyArray<Decoder> | undefined
  /** Every observation's `event.source` must be this, when given. */
  readonly source?: string | undefined
  /** Runs per property (default 1,000; lower it only while debugging). */
  readonly numRuns?: number | undefined
  /** At most this many mutations of the sample per run (default 6). */
  readonly maxMutations?: number | undefined
  /** Of the mutated samples, at least this many must parse (default 1) … */
  readonly minParsed?: number | undefined
  /** … and at least this many must be rejected (default 1). */
  readonly minRejected?: number | undefined
}

const quiet = <A, E>(effect: Effect.Effect<A, E>): Exit.Exit<A, E> =>
  Effect.runSyncExit(Logger.withMinimumLogLevel(effect, LogLevel.None))

const isObservation = Schema.is(CarrierPort.Observation)
const roundTrip = (o: CarrierPort.Observation): CarrierPort.Observation =>
  Schema.decodeUnknownSync(CarrierPort.Observation)(Schema.encodeSync(CarrierPort.Observation)(o))

/**
 * Checks one result: observations are valid canonical values (with the expected source); a
 * failure is a typed `CarrierError` with a description and one of the `allowed` reasons.
 * Returns `ok` or the failure's reason; fails the test on a defect, an interruption or a throw.
 *
 * @since 0.1.0
 */
export const outcome = (
  exit: Exit.Exit<ReadonlyArray<CarrierPort.Observation>, PortError.CarrierError>,
  allowed: ReadonlyArray<PortError.Reason>,
  source?: string
): "ok" | PortError.Reason => {
  if (Exit.isSuccess(exit)) {
    for (const o of exit.value) {
      if (!isObservation(o)) throw new Error(`not a valid observation: ${JSON.stringify(o)}`)
      if (source !== undefined && o.event.source !== source) throw new Error(`wrong source ${o.event.source}`)
    }
    return "ok"
  }
  if (Cause.isDie(exit.cause) || Cause.isInterrupted(exit.cause)) {
    throw new Error(`not a typed failure: ${Cause.pretty(exit.cause)}`)
  }
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`not a typed failure: ${Cause.pretty(exit.cause)}`)
  const error = failure.value
  expect(error).toBeInstanceOf(PortError.CarrierError)
  expect(error._tag).toBe("CarrierError")
  expect(error.description.length).toBeGreaterThan(0)
  expect(allowed).toContain(error.reason)
  return error.reason
}

/**
 * One change `mutate` makes to a sample.
 *
 * @internal exported for ParserFuzz's own tests
 */
export type Mutation =
  | { readonly kind: "replace"; readonly at: number; readonly value: unknown }
  | { readonly kind: "delete"; readonly at: number }
  | { readonly kind: "stringify"; readonly at: number }
  | { readonly kind: "wrap"; readonly at: number }
  | { readonly kind: "duplicate"; readonly at: number }

type Slot = { readonly parent: Record<string, unknown> | Array<unknown>; readonly key: string | number }

const slots = (root: unknown): Array<Slot> => {
  const out: Array<Slot> = []
  const walk = (value: unknown) => {
    if (Array.isArray(value)) {
      value.forEach((v, i) => {
        out.push({ parent: value, key: i })
        walk(v)
      })
    } else if (typeof value === "object" && value !== null) {
      for (const [k, v] of Object.entries(value)) {
        out.push({ parent: value as Record<string, unknown>, key: k })
        walk(v)
      }
    }
  }
  walk(root)
  return out
}

/**
 * Applies mutations to a copy of a JSON value; each picks a slot (a member or an element,
 * anywhere) of the value as mutated so far. A replacing value is copied in: the same value put
 * in twice (fast-check hands out one object for a constant) must not make the copy a cycle, and
 * a later mutation inside it must not change the value itself for the runs after.
 *
 * @internal exported for ParserFuzz's own tests
 */
export const mutate = (sample: unknown, mutations: ReadonlyArray<Mutation>): unknown => {
  const root = structuredClone(sample)
  for (const m of mutations) {
    const all = slots(root)
    if (all.length === 0) break
    const slot = all[m.at % all.length]!
    const parent = slot.parent as Record<string | number, unknown>
    const current = parent[slot.key]
    switch (m.kind) {
      case "replace":
        parent[slot.key] = structuredClone(m.value)
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

/**
 * Leaf values that have broken parsers: impossible and zone-less dates, numeric strings,
 * extreme numbers, prototype names, long text, empty containers.
 *
 * @since 0.1.0
 */
export const awkwardValues: ReadonlyArray<unknown> = [
  null,
  "",
  " ",
  -1,
  0,
  1e308,
  "2024-13-45T25:61:00",
  "2024-13-45T99:99:99Z",
  "2024-02-30T10:00:00",
  "2024-07-31T10:00:00+15:00",
  "2024-07-31 10:00",
  "1722420000",
  "NaN",
  "unknown",
  "constructor",
  "__proto__",
  "toString",
  "x".repeat(300),
  "x".repeat(5000),
  [],
  {},
  [null],
  { value: 1 }
]

const mutations = (values: ReadonlyArray<unknown>, max: number): FastCheck.Arbitrary<ReadonlyArray<Mutation>> => {
  const leaf = FastCheck.oneof(
    FastCheck.jsonValue({ maxDepth: 2 }),
    FastCheck.string({ maxLength: 30 }),
    FastCheck.fullUnicodeString({ maxLength: 10 }),
    FastCheck.integer(),
    FastCheck.double({ noNaN: true, noDefaultInfinity: true }),
    FastCheck.constantFrom(...values)
  )
  const mutation: FastCheck.Arbitrary<Mutation> = FastCheck.oneof(
    FastCheck.record({ kind: FastCheck.constant("replace" as const), at: FastCheck.nat(), value: leaf }),
    FastCheck.record({ kind: FastCheck.constant("delete" as const), at: FastCheck.nat() }),
    FastCheck.record({ kind: FastCheck.constant("stringify" as const), at: FastCheck.nat() }),
    FastCheck.record({ kind: FastCheck.constant("wrap" as const), at: FastCheck.nat() }),
    FastCheck.record({ kind: FastCheck.constant("duplicate" as const), at: FastCheck.nat() })
  )
  return FastCheck.array(mutation, { minLength: 1, maxLength: max })
}

const capitalized = (name: string): string => name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase())

/**
 * Registers the suite (a `describe` with one test per property).
 *
 * @since 0.1.0
 */
export const run = (options: Options): void => {
  const runs = { numRuns: options.numRuns ?? 1000 }
  const encoder = new TextEncoder()
  const source = options.source
  const parse = (request: CarrierPort.InboundRequest) => quiet(options.verifyAndParse(request))
  const sampleBody = options.sampleBody ?? encoder.encode(JSON.stringify(options.sample))
  const prefixes = options.signaturePrefixes ?? []
  const headerNames = options.headerNames ??
    [...options.signatureHeaders, ...options.signatureHeaders.map(capitalized), "content-type"]

  describe(`${options.name} under fuzzing`, () => {
    it("arbitrary JSON text, correctly signed: observations or a typed Invalid error", () => {
      const text = FastCheck.oneof(FastCheck.json(), FastCheck.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)))
      FastCheck.assert(
        FastCheck.property(text, (json) => {
          outcome(parse(options.signed(encoder.encode(json))), ["Invalid"], source)
        }),
        runs
      )
    })

    for (const decoder of options.decoders ?? []) {
      it(`arbitrary values (${decoder.name}): observations or a typed Invalid error`, () => {
        const values = decoder.arbitrary ?? FastCheck.anything({ withNullPrototype: true, withObjectString: true })
        FastCheck.assert(
          FastCheck.property(values, (value) => {
            outcome(quiet(decoder.decode(value)), ["Invalid"], source)
          }),
          runs
        )
      })
    }

    it("the sample with fields deleted, replaced, stringified, wrapped or duplicated: valid observations that round-trip, or a typed Invalid error", () => {
      const counts = { ok: 0, rejected: 0, observations: 0 }
      FastCheck.assert(
        FastCheck.property(
          mutations([...awkwardValues, ...(options.values ?? [])], options.maxMutations ?? 6),
          (ms) => {
            const exit = parse(options.signed(encoder.encode(JSON.stringify(mutate(options.sample, ms)))))
            if (outcome(exit, ["Invalid"], source) !== "ok") {
              counts.rejected++
              return
            }
            counts.ok++
            if (Exit.isSuccess(exit)) {
              for (const o of exit.value) {
                expect(roundTrip(o).event.id).toBe(o.event.id)
                counts.observations++
              }
            }
          }
        ),
        runs
      )
      // Both branches are exercised: some mutations keep the payload readable, some break it.
      expect(counts.ok).toBeGreaterThanOrEqual(options.minParsed ?? 1)
      expect(counts.rejected).toBeGreaterThanOrEqual(options.minRejected ?? 1)
      expect(counts.observations).toBeGreaterThan(0)
    })

    it("the sample body cut at any byte and re-signed: Invalid, and the whole body parses", () => {
      FastCheck.assert(
        FastCheck.property(FastCheck.nat({ max: sampleBody.byteLength }), (cut) => {
          const result = outcome(parse(options.signed(sampleBody.subarray(0, cut))), ["Invalid"], source)
          expect(result).toBe(cut === sampleBody.byteLength ? "ok" : "Invalid")
        }),
        runs
      )
    })

    it("any byte of a signed body changed (not re-signed): Unauthorized", () => {
      const headers = options.signed(sampleBody).headers
      FastCheck.assert(
        FastCheck.property(
          FastCheck.nat({ max: sampleBody.byteLength - 1 }),
          FastCheck.integer({ min: 1, max: 255 }),
          (at, xor) => {
            const tampered = new Uint8Array(sampleBody)
            tampered[at] = tampered[at]! ^ xor
            expect(outcome(parse(options.unsigned(tampered, headers)), ["Unauthorized"], source)).toBe("Unauthorized")
          }
        ),
        runs
      )
    })

    it("arbitrary signature header values never verify and never throw", () => {
      const value = FastCheck.oneof(
        FastCheck.string(),
        ...prefixes.map((prefix) => FastCheck.string().map((s) => `${prefix}${s}`))
      )
      FastCheck.assert(
        FastCheck.property(value, FastCheck.constantFrom(...options.signatureHeaders), (v, name) => {
          expect(outcome(parse(options.unsigned(sampleBody, { [name]: v })), ["Unauthorized"], source)).toBe("Unauthorized")
        }),
        runs
      )
    })

    it("arbitrary bytes: signed, observations or Invalid; unsigned with arbitrary headers, Unauthorized or Invalid", () => {
      FastCheck.assert(
        FastCheck.property(
          FastCheck.uint8Array({ maxLength: 512 }),
          FastCheck.dictionary(FastCheck.constantFrom(...headerNames), FastCheck.string({ maxLength: 80 })),
          FastCheck.boolean(),
          (bytes, headers, sign) => {
            const exit = parse(sign ? options.signed(bytes) : options.unsigned(bytes, headers))
            outcome(exit, sign ? ["Invalid"] : ["Unauthorized", "Invalid"], source)
            // Random headers never forge a valid signature.
            if (!sign) expect(Exit.isFailure(exit)).toBe(true)
          }
        ),
        runs
      )
    })
  })
}
