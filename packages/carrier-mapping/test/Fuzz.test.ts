/**
 * Fuzzing the mapping adapter with core's shared parser properties (`ParserFuzz`), over the two
 * shipped configs and a partner config that uses every feature (signed timestamps, base64,
 * unix times, weights, retractions).
 */
import { type CarrierPort, Instant } from "@waybill/core"
import { ParserFuzz } from "@waybill/core/testing"
import * as Effect from "effect/Effect"
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

const unsignedRequest = (body: Uint8Array, headers: Readonly<Record<string, string>>): CarrierPort.InboundRequest => ({
  headers,
  body,
  receivedAt
})

// The properties every parser must pass (core's ParserFuzz), for each config: arbitrary JSON,
// the sample mutated, truncated and tampered with, forged signatures, arbitrary bytes and
// headers. Many mutations keep a sample readable and many break it: more than 50 of each.
for (const { name, config, sample } of configs) {
  const carrier = Effect.runSync(MappingCarrier.make(config))
  const sig = config.signature
  ParserFuzz.run({
    name: `MappingCarrier (${name})`,
    verifyAndParse: carrier.verifyAndParse,
    signed: (body) => MappingTestKit.signRequest(config, body, { receivedAt, secret: SECRET }),
    unsigned: unsignedRequest,
    sample,
    signatureHeaders: [sig.header.toLowerCase()],
    signaturePrefixes: sig.prefix !== undefined ? [sig.prefix] : [],
    headerNames: [
      sig.header.toLowerCase(),
      sig.header.toUpperCase(),
      "content-type",
      ...(sig.timestamp !== undefined ? [sig.timestamp.header.toLowerCase()] : [])
    ],
    values: ["kg", "stone", "Germany"],
    source: config.source,
    maxMutations: 4,
    minParsed: 51,
    minRejected: 51
  })
}
