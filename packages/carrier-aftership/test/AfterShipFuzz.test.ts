/**
 * Fuzzing the AfterShip parsers with core's shared properties (`ParserFuzz`): arbitrary JSON,
 * arbitrary values, and mutated, truncated or tampered realistic payloads. The result is
 * observations or a typed CarrierError; nothing throws and nothing dies.
 */
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Redacted from "effect/Redacted"
import { ParserFuzz } from "@waybill/core/testing"
import { AfterShipTracking, AfterShipWebhook } from "../src/index.js"
import * as Payloads from "./payloads.js"

const secret = "fuzz-secret"
const options = { secret: Redacted.make(secret) }
const tracking = { source: "aftership", timePolicy: { _tag: "AssumeUtc" }, receivedAt: Payloads.receivedAt } as const

ParserFuzz.run({
  name: "AfterShipWebhook",
  verifyAndParse: (request) => AfterShipWebhook.verifyAndParse(request, options),
  signed: (body) => Payloads.request(body, { "aftership-hmac-sha256": AfterShipWebhook.sign(body, secret) }),
  unsigned: (body, headers) => Payloads.request(body, { ...headers }),
  sample: Payloads.dhlWebhook(),
  signatureHeaders: [AfterShipWebhook.signatureHeader, AfterShipWebhook.legacySignatureHeader],
  signaturePrefixes: ["hmac-sha256="],
  values: ["Delivered", "Exception_099", "ZZZ", "tracking_update", "2024-08-01 10:00"],
  decoders: [
    { name: "AfterShipTracking.fromWebhook", decode: (value) => AfterShipTracking.fromWebhook(value, tracking) },
    {
      name: "AfterShipTracking.fromWebhook, a tracking_update with an arbitrary msg",
      decode: (value) => AfterShipTracking.fromWebhook(value, tracking),
      arbitrary: FastCheck.anything().map((msg) => ({ event: "tracking_update", msg }))
    },
    {
      name: "AfterShipTracking.fromWebhookEach, a tracking_update with an arbitrary msg",
      decode: (value) => Effect.map(AfterShipTracking.fromWebhookEach(value, tracking), (parsed) => parsed.observations),
      arbitrary: FastCheck.anything().map((msg) => ({ event: "tracking_update", msg }))
    },
    {
      name: "AfterShipTracking.fromWebhookEach, the DHL tracking with arbitrary checkpoints",
      decode: (value) => Effect.map(AfterShipTracking.fromWebhookEach(value, tracking), (parsed) => parsed.observations),
      arbitrary: FastCheck.array(FastCheck.anything(), { maxLength: 4 }).map((entries) =>
        Payloads.dhlWebhook([...Payloads.dhlCheckpoints.slice(0, 2), ...entries])
      )
    }
  ],
  source: "aftership"
})
