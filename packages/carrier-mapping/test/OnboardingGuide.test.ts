import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { readFileSync } from "node:fs"
import { MappingCarrier, MappingConfig } from "../src/index.js"
import { MappingTestKit } from "../src/testing/index.js"

// docs/guides/onboarding-a-carrier.md: its worked example must stay true.
const guide = readFileSync(new URL("../../../docs/guides/onboarding-a-carrier.md", import.meta.url), "utf8")

const block = (name: string): unknown => {
  const match = new RegExp(`<!-- example:${name} -->\\s*\`\`\`json\\n([\\s\\S]*?)\\n\`\`\``).exec(guide)
  if (match === null) throw new Error(`the guide has no example:${name} block`)
  return JSON.parse(match[1]!)
}

const errorLines = (): ReadonlyArray<string> => {
  const match = /```text\n(invalid MappingConfig[\s\S]*?)\n```/.exec(guide)
  if (match === null) throw new Error("the guide has no list of config errors")
  return match[1]!.split("\n")
}

describe("the onboarding guide's worked example", () => {
  it.effect("the config and payload produce exactly the observations the guide shows", () =>
    Effect.gen(function* () {
      const config = yield* MappingConfig.decode(block("config"))
      const observations = yield* MappingTestKit.ingest(config, block("payload"), {
        secret: "test-secret-0123456789",
        receivedAt: "2024-07-31T11:06:30Z"
      })
      const plain = MappingTestKit.toPlain(observations) as ReadonlyArray<{ event: { id: string } }>
      // the parcel's proof of delivery (before the delivered event it rides on), the events'
      // content hashes, then the parcel's weight, each of the two as its own event
      expect(plain.map((o) => o.event.id)).toEqual([
        expect.stringMatching(/^rapido\/RX100200300ES:pod:[0-9a-f]{32}$/),
        expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
        expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
        expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
        expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
        expect.stringMatching(/^weight:rapido\/RX100200300ES:2024-07-31T11:05:00\.000Z:000001200:[0-9a-f]{16}$/)
      ])
      const shortened = plain.map((o) => ({ ...o, event: { ...o.event, id: o.event.id.replace(/[0-9a-f]{16,}/g, "…") } }))
      expect(shortened).toEqual(block("observations"))
    })
  )

  it.effect("the signed timestamp in the guide's headers is the arrival it shows", () =>
    Effect.gen(function* () {
      const config = yield* MappingConfig.decode(block("config"))
      const carrier = yield* MappingCarrier.make(config).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["RAPIDO_WEBHOOK_SECRET", "test-secret-0123456789"]])))
      )
      const request = MappingTestKit.signRequest(config, block("payload"), {
        secret: "test-secret-0123456789",
        receivedAt: "2024-07-31T11:06:30Z",
        timestamp: /X-Rapido-Timestamp: (\d+)/.exec(guide)![1]!
      })
      expect(yield* carrier.verifyAndParse(request)).toHaveLength(6) // four events, the weight, the POD
    })
  )

  it.effect("the config errors the guide lists are the ones the package gives", () =>
    Effect.gen(function* () {
      const base = block("config") as {
        codes: Array<Record<string, unknown>>
        fields: Record<string, unknown> & { occurredAt: Record<string, unknown> }
        signature: Record<string, unknown>
      }
      const message = (input: unknown) =>
        Either.match(MappingConfig.decodeEither(input), { onLeft: (e) => e.message, onRight: () => "accepted" })
      const { secret: _, ...noSecret } = base.signature
      const { trackingNumber, ...fieldsWithoutTracking } = base.fields
      const envMissing = yield* Effect.flip(
        MappingCarrier.make(yield* MappingConfig.decode(base)).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
        )
      )
      const actual = [
        message({ ...base, codes: base.codes.map((c, i) => (i === 3 ? { ...c, status: "shipped" } : c)) }),
        message({ ...base, fields: { ...base.fields, trackingNumber: "^.parcel..barcode" } }),
        message({ ...base, fields: { ...base.fields, occurredAt: { ...base.fields.occurredAt, policy: { _tag: "AssumeZone", zone: "Europe/Madird" } } } }),
        message({ ...base, signature: noSecret }),
        envMissing.message,
        message({ ...base, fields: { ...fieldsWithoutTracking, trackingNumbr: trackingNumber } })
      ]
      const documented = errorLines()
      expect(documented).toHaveLength(actual.length)
      documented.forEach((line, i) => {
        if (line.endsWith("…")) expect(actual[i]!.startsWith(line.slice(0, -1))).toBe(true)
        else expect(actual[i]).toBe(line)
      })
    })
  )
})
