/**
 * The hand-compiled decoders (`internal/fastDecode`) answer exactly what the Schema decoders
 * answer: on generated valid input (through the fast path), on input mutated at a random depth,
 * and with every field set to the values at and beyond its rules (where they either build
 * Schema's value or hand the input to Schema).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import * as Equal from "effect/Equal"
import type * as Equivalence from "effect/Equivalence"
import * as FastCheck from "effect/FastCheck"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Utils from "effect/Utils"
import { CarrierPort, Pipeline, ShipmentEvent, Validation, Worker } from "../src/index.js"
import * as FastDecode from "../src/internal/fastDecode.js"

type Decode<A> = (u: unknown) => Either.Either<A, ParseResult.ParseError>

/**
 * Where `fast` and `slow` first differ in shape (prototype, own keys in order, primitive values;
 * instants as equal `DateTime.Utc`s), or `undefined`. Plain checks, one `expect` per run: the
 * boundary property compares thousands of values.
 */
const shapeDiff = (fast: unknown, slow: unknown, path = "$"): string | undefined => {
  if (typeof fast !== "object" || fast === null) return Object.is(fast, slow) ? undefined : `${path}: value`
  if (typeof slow !== "object" || slow === null) return `${path}: not an object`
  if (Object.getPrototypeOf(fast) !== Object.getPrototypeOf(slow)) return `${path}: prototype`
  if (DateTime.isDateTime(fast)) {
    const equal = DateTime.isUtc(fast) && DateTime.isDateTime(slow) && DateTime.Equivalence(fast, slow)
    return equal ? undefined : `${path}: instant`
  }
  const keys = Reflect.ownKeys(fast)
  const others = Reflect.ownKeys(slow)
  if (keys.length !== others.length || keys.some((key, i) => key !== others[i])) return `${path}: keys`
  for (const key of keys) {
    const diff = shapeDiff(
      (fast as Record<PropertyKey, unknown>)[key],
      (slow as Record<PropertyKey, unknown>)[key],
      `${path}.${String(key)}`
    )
    if (diff !== undefined) return diff
  }
  return undefined
}

/**
 * How the fast result differs from Schema's, or `undefined`: both Left with the same message,
 * or both Right with the same JSON, `Equal.equals` (in a structural region: plain draft objects
 * and arrays compare structurally only there), the schema's equivalence, and the same shape.
 */
const disagreement = <A>(
  equivalent: Equivalence.Equivalence<A>,
  fast: Either.Either<A, ParseResult.ParseError>,
  slow: Either.Either<A, ParseResult.ParseError>
): string | undefined => {
  if (Either.isLeft(slow)) {
    if (Either.isRight(fast)) return "fast Right, Schema Left"
    const message = ParseResult.TreeFormatter.formatErrorSync(fast.left)
    return message === ParseResult.TreeFormatter.formatErrorSync(slow.left) ? undefined : `message: ${message}`
  }
  if (Either.isLeft(fast)) return "fast Left, Schema Right"
  if (JSON.stringify(fast.right) !== JSON.stringify(slow.right)) return "JSON"
  if (!Utils.structuralRegion(() => Equal.equals(fast.right, slow.right))) return "Equal.equals"
  if (!equivalent(fast.right, slow.right)) return "Schema.equivalence"
  return shapeDiff(fast.right, slow.right)
}

/** Both decoders agree (see {@link disagreement}). */
const agree = <A>(
  equivalent: Equivalence.Equivalence<A>,
  fast: Either.Either<A, ParseResult.ParseError>,
  slow: Either.Either<A, ParseResult.ParseError>
) => expect(disagreement(equivalent, fast, slow)).toBeUndefined()

// --- mutations: replace, delete or add a field at a random depth ---------------------------------

const x = (n: number) => "x".repeat(n)
const ids = (n: number) => Array.from({ length: n }, (_, i) => `e${i}`)
const id = ["", "a", x(200), x(201), "a\u0000b", "a\u001fb", "a\u007fb", "a\u0080b", "ok\n", 7]
const instant = [
  "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2024-02-30T00:00:00Z", "2024-07-02T08:41:00",
  "2024-07-02T08:41Z", "2024-07-02T08:41:00+14:00", "2024-07-02T08:41:00+15:00", "2024-07-02T08:41:00.123456789-0230",
  "2024-07-02T24:00:00Z", "2024-07-02T23:59:60Z", "2024-07-02 08:41:00Z", "0050-01-01T00:00:00Z", 1719909660000
]
const location = [
  {}, { country: "de" }, { country: "DEU" }, { city: x(120) }, { city: x(121) }, { postalCode: x(21) }, null
]

/** Values at and beyond the rules of each field, by field name (valid ones included). */
const boundaries: Readonly<Record<string, ReadonlyArray<unknown>>> = {
  _tag: ["StatusReported", "ExceptionReported", "ExceptionCleared", "Retraction", "statusreported", "Other", 1],
  id,
  shipmentId: id,
  companyId: id,
  source: ["", "a", "A", "-a", x(64).replace(/x/g, "a"), x(65).replace(/x/g, "a"), "wms:acme", "a b", "dhl\n"],
  occurredAt: instant,
  receivedAt: instant,
  raw: [
    {}, { code: "" }, { code: x(200) }, { code: x(201) }, { code: "c", detail: x(201) }, { code: "c", detail: undefined }
  ],
  code: ["", x(200), x(201), 1],
  detail: [x(200), x(201), undefined],
  description: [x(2000), x(2001), null],
  status: ["delivered", "unknown", "cancelled", "returned", "lost", "Delivered", "pending"],
  kind: ["lost", "delayed", "in_transit"],
  kinds: [[], ["lost"], ["lost", "lost"], ["nope"], "lost", [undefined], ["refused", "customs_hold"]],
  retracts: [[], ["e"], ids(100), ids(101), [""], ["a\u0001"], [null]],
  location,
  facility: [x(200), x(201)],
  city: [x(120), x(121), ""],
  region: [x(120), x(121)],
  postalCode: [x(20), x(21)],
  country: ["DE", "de", "D", "DEU", "D1", ""],
  pod: [{}, { signedBy: x(201) }, { evidenceUrl: x(2001) }, { signedBy: undefined }, []],
  signedBy: [x(200), x(201)],
  evidenceUrl: [x(2000), x(2001)],
  weight: [0, -0, -1, 1.5, 100_000_000, 100_000_001, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY, "5"],
  trackingNumber: ["", "x", x(100), x(101)],
  carrier: ["", "ups", 1, null],
  event: [{}, null, [], "x"]
}
const fieldNames = [...Object.keys(boundaries), "extra", "0"]

const samples: Array<unknown> = [undefined, null, "", x(201), "de", [], [""], {}, { code: "X" }, 0, 1.5, true, "42"]

const junk: FastCheck.Arbitrary<unknown> = FastCheck.oneof(
  FastCheck.constantFrom(...samples),
  FastCheck.string(),
  FastCheck.integer(),
  FastCheck.anything()
)

interface Mutation {
  readonly action: "replace" | "delete" | "add" | "root"
  readonly container: number
  readonly key: number
  readonly name: string
  /** Whether the new value is one of the field's boundary values (else junk). */
  readonly boundary: boolean
  readonly pick: number
  readonly junk: unknown
}

const mutation: FastCheck.Arbitrary<Mutation> = FastCheck.record({
  action: FastCheck.constantFrom("replace", "replace", "delete", "add", "add", "root"),
  container: FastCheck.nat(),
  key: FastCheck.nat(),
  name: FastCheck.constantFrom(...fieldNames),
  boundary: FastCheck.boolean(),
  pick: FastCheck.nat(),
  junk
})

/** Every object and array in a JSON-like tree, the root first. */
const containers = (root: unknown): Array<Record<string, unknown>> => {
  const out: Array<Record<string, unknown>> = []
  const visit = (v: unknown) => {
    if (typeof v !== "object" || v === null) return
    const record = v as Record<string, unknown>
    out.push(record)
    for (const key of Object.keys(record)) visit(record[key])
  }
  visit(root)
  return out
}

/** Sets an own, enumerable property (also `__proto__`-safe). */
const put = (target: object, key: string, value: unknown) =>
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })

/** Applies a mutation in place (but `root`, which returns the junk); returns the new root. */
const mutate = (root: unknown, m: Mutation): unknown => {
  const valueFor = (key: string) => {
    const candidates = boundaries[key]
    // A copy: the samples are shared between runs, and later mutations may edit what is put in.
    return structuredClone(m.boundary && candidates ? candidates[m.pick % candidates.length] : m.junk)
  }
  if (m.action === "root") return valueFor("")
  const all = containers(root)
  const target = all[m.container % all.length]
  if (target === undefined) return root
  const keys = Object.keys(target)
  const key = keys[m.key % Math.max(keys.length, 1)]
  if (m.action === "add" || key === undefined) {
    put(target, m.name, valueFor(m.name))
  } else if (m.action === "replace") {
    put(target, key, valueFor(key))
  } else if (Array.isArray(target)) {
    target.splice(Number(key), 1)
  } else {
    delete target[key]
  }
  return root
}

/** Each field of the tree set to each of its boundary values, and each optional field added so. */
const boundaryEdits = (root: unknown): Array<unknown> => {
  const out: Array<unknown> = []
  const optional = ["location", "pod", "weight", "kinds", "detail", "description", "facility", "city", "region",
    "postalCode", "country", "signedBy", "evidenceUrl", "carrier"]
  containers(root).forEach((container, c) => {
    const keys = Array.isArray(container) ? [] : [...new Set([...Object.keys(container), ...optional])]
    for (const key of keys) {
      for (const value of boundaries[key] ?? []) {
        const copy = structuredClone(root)
        put(containers(copy)[c]!, key, structuredClone(value))
        out.push(copy)
      }
    }
  })
  return out
}

// --- the properties, per schema ------------------------------------------------------------------

const properties = <A, I>(name: string, schema: Schema.Schema<A, I>, fast: Decode<A>) => {
  const slow: Decode<A> = Schema.decodeUnknownEither(schema)
  const encode = Schema.encodeSync(schema)
  const equivalent = Schema.equivalence(schema)
  const encoded = Arbitrary.make(schema).map((a) => JSON.parse(JSON.stringify(encode(a))) as unknown)

  describe(name, () => {
    it("decodes generated valid input through the fast path, to Schema's value", () => {
      FastCheck.assert(
        FastCheck.property(encoded, (input) => {
          const before = FastDecode.counts.fast
          const result = fast(input)
          expect(FastDecode.counts.fast).toBe(before + 1)
          agree(equivalent, result, slow(input))
        }),
        { numRuns: 1000 }
      )
    })

    it("answers mutated input as Schema does", () => {
      const seen = { fastRight: 0, schemaRight: 0, left: 0 }
      FastCheck.assert(
        FastCheck.property(encoded, FastCheck.array(mutation, { minLength: 1, maxLength: 3 }), (input, mutations) => {
          const mutated = mutations.reduce(mutate, structuredClone(input))
          const before = FastDecode.counts.fast
          const result = fast(mutated)
          const tookFastPath = FastDecode.counts.fast > before
          agree(equivalent, result, slow(mutated))
          if (Either.isLeft(result)) seen.left++
          else if (tookFastPath) seen.fastRight++
          else seen.schemaRight++
        }),
        { numRuns: 1000 }
      )
      // The mutations must reach both outcomes, and valid mutated input the fast path.
      expect(seen.left).toBeGreaterThan(50)
      expect(seen.fastRight).toBeGreaterThan(50)
    })

    it("answers every field at its boundary values as Schema does", () => {
      FastCheck.assert(
        FastCheck.property(encoded, (input) => {
          const edits = boundaryEdits(input)
          const diffs = edits.flatMap((edited) => {
            const diff = disagreement(equivalent, fast(edited), slow(edited))
            return diff === undefined ? [] : [{ edited, diff }]
          })
          expect(diffs.slice(0, 1)).toEqual([])
        }),
        { numRuns: 50 }
      )
    })
  })
}

properties("ShipmentEvent", ShipmentEvent.ShipmentEvent, FastDecode.decodeEvent)
properties("Draft", ShipmentEvent.Draft, FastDecode.decodeDraft)
properties("Observation", CarrierPort.Observation, FastDecode.decodeObservation)

// --- examples ------------------------------------------------------------------------------------

const recorded =
  `{"_tag":"StatusReported","id":"carrier:shp-0-1:6","source":"carrier","occurredAt":"2024-07-02T08:41:00.000Z","receivedAt":"2024-07-02T09:38:00.000Z","raw":{"code":"IT","description":"IT scan"},"status":"in_transit","location":{"city":"Leipzig","country":"BE"}}`

/** The fast result agrees with Schema's decode of the same input. */
const same = <A, I>(schema: Schema.Schema<A, I>, input: unknown, result: Either.Either<A, ParseResult.ParseError>) =>
  agree(Schema.equivalence(schema), result, Schema.decodeUnknownEither(schema)(input))

/** Runs `f`, returning its result and how many decodes each path answered meanwhile. */
const counted = <A>(f: () => A) => {
  const { fast, schema } = FastDecode.counts
  const result = f()
  return { result, fast: FastDecode.counts.fast - fast, schema: FastDecode.counts.schema - schema }
}

describe("examples", () => {
  it("decodes a recorded body through the fast path", () => {
    const draft = counted(() => FastDecode.decodeDraft(JSON.parse(recorded)))
    expect([draft.fast, draft.schema]).toEqual([1, 0])
    same(ShipmentEvent.Draft, JSON.parse(recorded), draft.result)
    const value = Either.getOrThrow(draft.result)
    expect(value.raw).toBeInstanceOf(ShipmentEvent.RawCode)
    expect(value._tag === "StatusReported" && value.location).toBeInstanceOf(ShipmentEvent.Location)

    const body = { trackingNumber: "1Z999", event: JSON.parse(recorded), extra: true }
    const observation = counted(() => FastDecode.decodeObservation(body))
    expect([observation.fast, observation.schema]).toEqual([1, 0])
    same(CarrierPort.Observation, body, observation.result)
    expect(Either.getOrThrow(observation.result)).toBeInstanceOf(CarrierPort.Observation)

    const routed = { ...JSON.parse(recorded), shipmentId: "shp-0", companyId: "co-1" }
    const event = counted(() => FastDecode.decodeEvent(routed))
    expect([event.fast, event.schema]).toEqual([1, 0])
    same(ShipmentEvent.ShipmentEvent, routed, event.result)
    expect(Object.keys(Either.getOrThrow(event.result)).at(-1)).toBe("_tag")
  })

  it("hands an invalid body to Schema: Schema's exact message", () => {
    const input = JSON.parse(recorded.replace(`"BE"`, `"de"`))
    const draft = counted(() => FastDecode.decodeDraft(input))
    expect([draft.fast, draft.schema]).toEqual([0, 1])
    same(ShipmentEvent.Draft, input, draft.result)
    expect(Either.isLeft(draft.result) && ParseResult.TreeFormatter.formatErrorSync(draft.result.left)).toContain(
      "a country is an ISO 3166-1 alpha-2 code"
    )
  })

  it("rejects a present undefined optional field, as `exact` Schema does", () => {
    const input = { ...JSON.parse(recorded), weight: undefined }
    const draft = counted(() => FastDecode.decodeDraft(input))
    expect([draft.fast, draft.schema]).toEqual([0, 1])
    expect(Either.isLeft(draft.result)).toBe(true)
    same(ShipmentEvent.Draft, input, draft.result)
  })
})

// --- the worker's message codec --------------------------------------------------------------------

describe("Worker.decodeMessage", () => {
  // Schema's answer, with personal values withheld from a failure (the worker dead-letters it)
  const schemaDecode = Schema.decodeUnknownEither(Schema.parseJson(Pipeline.InboundMessage))
  const slow = (body: string) => Either.mapLeft(schemaDecode(body), Validation.redact)
  const equivalent = Schema.equivalence(Pipeline.InboundMessage)
  const encode = Schema.encodeSync(Schema.parseJson(Pipeline.InboundMessage))
  const bodies = Arbitrary.make(Pipeline.InboundMessage).map(encode)
  const encodeMessage = Schema.encodeSync(Pipeline.InboundMessage)
  /**
   * As `agree`, but Right values compare by their encoding and shape (a `Request` holds a
   * `Uint8Array`, which `Equal.equals` compares by reference, even between two Schema decodes).
   */
  const agree = (fast: Either.Either<Pipeline.InboundMessage, ParseResult.ParseError>, schema: typeof fast) => {
    if (Either.isLeft(fast) || Either.isLeft(schema)) return expect(disagreement(equivalent, fast, schema)).toBeUndefined()
    expect(JSON.stringify(encodeMessage(fast.right))).toBe(JSON.stringify(encodeMessage(schema.right)))
    expect(shapeDiff(fast.right, schema.right)).toBeUndefined()
  }

  it("answers valid bodies as Schema.parseJson(InboundMessage) does, events and observations on the fast path", () => {
    let fastPath = 0
    FastCheck.assert(
      FastCheck.property(bodies, (body) => {
        const before = FastDecode.counts.fast
        agree(Worker.decodeMessage(body), slow(body))
        if (FastDecode.counts.fast > before) fastPath++
      }),
      { numRuns: 1000 }
    )
    expect(fastPath).toBeGreaterThan(300)
  })

  it("answers mutated bodies as Schema does", () => {
    FastCheck.assert(
      FastCheck.property(bodies, FastCheck.array(mutation, { minLength: 1, maxLength: 3 }), (body, mutations) => {
        const mutated = String(JSON.stringify(mutations.reduce(mutate, JSON.parse(body))))
        agree(Worker.decodeMessage(mutated), slow(mutated))
      }),
      { numRuns: 1000 }
    )
  })

  it("answers a body that is not JSON with Schema's message", () => {
    agree(Worker.decodeMessage("{not json"), slow("{not json"))
    expect(Either.isLeft(Worker.decodeMessage("{not json"))).toBe(true)
  })
})
