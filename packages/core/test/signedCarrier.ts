/**
 * A test carrier whose webhooks are canonical observations signed with HMAC-SHA256 hex, and the
 * signed requests and observations the pipeline and dead-letter tests feed it.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { createHmac } from "node:crypto"
import { CarrierPort, Instant, PortError, type Pipeline } from "../src/index.js"
import { scan } from "./builders.js"

export const SECRET = "whsec-test"

/** A carrier whose webhooks are canonical observations signed with HMAC-SHA256 hex. */
export const carrier: CarrierPort.CarrierPortShape = {
  source: "testcarrier",
  verify: (request) =>
    createHmac("sha256", SECRET).update(request.body).digest("hex") === request.headers["x-signature"]
      ? Effect.void
      : Effect.fail(
          new PortError.CarrierError({ reason: "Unauthorized", module: "test", method: "verify", description: "bad signature" })
        ),
  parse: (request) =>
    Effect.try({
      try: () => JSON.parse(Buffer.from(request.body).toString("utf8")) as unknown,
      catch: () =>
        new PortError.CarrierError({ reason: "Invalid", module: "test", method: "parse", description: "body is not JSON" })
    }).pipe(
      Effect.flatMap((json) =>
        Effect.try({
          try: () => Schema.decodeUnknownSync(Schema.Array(CarrierPort.Observation))(json),
          catch: (e) =>
            new PortError.CarrierError({ reason: "Invalid", module: "test", method: "parse", description: String(e) })
        })
      )
    ),
  createTracker: () => Effect.die("unused"),
  buyLabel: () => Effect.die("unused")
}

export const request = (observations: ReadonlyArray<unknown> | string, sign = true): Pipeline.InboundMessage => {
  const body = Buffer.from(typeof observations === "string" ? observations : JSON.stringify(observations))
  return {
    _tag: "Request",
    source: "testcarrier",
    headers: { "x-signature": sign ? createHmac("sha256", SECRET).update(body).digest("hex") : "forged" },
    body,
    receivedAt: Instant.fromMillis(Date.UTC(2024, 6, 1))
  }
}

export const observation = (tracking: string, id: string, status: string, minutes: number) => {
  const { shipmentId: _s, companyId: _c, ...draft } = JSON.parse(JSON.stringify(scan(id, status as never, minutes)))
  return { trackingNumber: tracking, event: draft }
}
