/**
 * Fuzzing the EasyPost parsers with core's shared properties (`ParserFuzz`): arbitrary JSON,
 * arbitrary values, and mutated, truncated or tampered real payloads. Whatever comes in, the
 * result is observations or a typed CarrierError; nothing throws and nothing dies.
 */
import * as Redacted from "effect/Redacted"
import { ParserFuzz } from "@waybill/core/testing"
import { EasyPostTracking, EasyPostWebhook } from "../src/index.js"
import * as Fixtures from "./fixtures.js"

const secret = "fuzz-sécret"
const options = { secret: Redacted.make(secret) }

const body = Fixtures.signedEventBody()

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
    }
  ],
  source: "easypost"
})
