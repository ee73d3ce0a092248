/**
 * Fuzzing the EasyPost parsers with core's shared properties (`ParserFuzz`): arbitrary JSON,
 * arbitrary values, and mutated, truncated or tampered real payloads. Whatever comes in, the
 * result is observations or a typed CarrierError; nothing throws and nothing dies.
 */
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Redacted from "effect/Redacted"
import { ParserFuzz } from "@waybill/core/testing"
import { EasyPostTracking, EasyPostWebhook } from "../src/index.js"
import * as Fixtures from "./fixtures.js"

const secret = "fuzz-sécret"
const options = { secret: Redacted.make(secret) }

const body = Fixtures.signedEventBody()
const tracking = { source: "easypost", timePolicy: { _tag: "AssumeUtc" }, receivedAt: Fixtures.receivedAt } as const

ParserFuzz.run({
  name: "EasyPostWebhook",
  verifyAndParse: (request) => EasyPostWebhook.verifyAndParse(request, options),
  signed: (bytes) => Fixtures.request(bytes, { "x-hmac-signature": EasyPostWebhook.sign(bytes, secret) }),
  unsigned: (bytes, headers) => Fixtures.request(bytes, { ...headers }),
  // The recorded FedEx tracker.updated event, byte for byte as EasyPost signed it.
  sample: JSON.parse(new TextDecoder().decode(body)),
  sampleBody: body,
  signatureHeaders: [EasyPostWebhook.signatureHeader],
  signaturePrefixes: [EasyPostWebhook.signaturePrefix],
  values: ["delivered", "failure", "return_to_sender", "2024-13-45T99:99:99Z", "tracker.updated", "Event"],
  decoders: [
    {
      name: "EasyPostTracking.fromPayload",
      decode: (value) =>
        EasyPostTracking.fromPayload(value, { source: "easypost", timePolicy: { _tag: "AssumeUtc" }, receivedAt: Fixtures.receivedAt })
    },
    {
      name: "EasyPostTracking.fromPayloadEach",
      decode: (value) => Effect.map(EasyPostTracking.fromPayloadEach(value, tracking), (parsed) => parsed.observations)
    },
    {
      name: "EasyPostTracking.fromPayloadEach, a tracker list with arbitrary trackers beside the recorded one",
      decode: (value) => Effect.map(EasyPostTracking.fromPayloadEach(value, tracking), (parsed) => parsed.observations),
      arbitrary: FastCheck.array(FastCheck.anything(), { maxLength: 3 }).map((others) => {
        const sample = JSON.parse(new TextDecoder().decode(body))
        return { trackers: [sample.result, ...others] }
      })
    },
    {
      name: "EasyPostTracking.fromEventEach, a tracker.updated event with an arbitrary result",
      decode: (value) => Effect.map(EasyPostTracking.fromEventEach(value, tracking), (parsed) => parsed.observations),
      arbitrary: FastCheck.anything().map((result) => ({ id: "evt_1", object: "Event", description: "tracker.updated", result }))
    },
    {
      name: "EasyPostTracking.fromEventEach, the recorded tracker with arbitrary tracking_details entries",
      decode: (value) => Effect.map(EasyPostTracking.fromEventEach(value, tracking), (parsed) => parsed.observations),
      arbitrary: FastCheck.array(FastCheck.anything(), { maxLength: 4 }).map((entries) => {
        const sample = JSON.parse(new TextDecoder().decode(body))
        return { ...sample, result: { ...sample.result, tracking_details: [...sample.result.tracking_details.slice(0, 2), ...entries] } }
      })
    }
  ],
  source: "easypost"
})
