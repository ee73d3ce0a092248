/**
 * Loading the recorded EasyPost payloads from shared/fixtures/carriers/easypost.
 */
import { readFileSync } from "node:fs"
import * as DateTime from "effect/DateTime"
import { Instant, type CarrierPort } from "@waybill/core"

const dir = new URL("../../../../shared/fixtures/carriers/easypost/", import.meta.url)

export const bytes = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(name, dir)))
export const text = (name: string): string => readFileSync(new URL(name, dir), "utf8")
export const json = (name: string): unknown => JSON.parse(text(name))

/** The FedEx tracker.updated event exactly as signed: the file without its final newline (3550 bytes). */
export const signedEventBody = (): Uint8Array => {
  const all = bytes("event-tracker-updated-webhook.json")
  return all[all.length - 1] === 0x0a ? all.subarray(0, all.length - 1) : all
}

export const golden = json("webhook-hmac-fixture.json") as {
  readonly webhooks: { readonly secret: string; readonly hmac_signature: string }
}

export const receivedAt = Instant.fromMillis(Date.UTC(2024, 7, 2, 19, 27, 0))

export const request = (body: Uint8Array, headers: Record<string, string>): CarrierPort.InboundRequest => ({
  headers,
  body,
  receivedAt
})

/** A plain summary of an observation, for explicit expected values. */
export const summarize = (o: CarrierPort.Observation) => {
  const e = o.event
  return {
    trackingNumber: o.trackingNumber,
    carrier: o.carrier,
    tag: e._tag,
    meaning: e._tag === "StatusReported" ? e.status : e._tag === "ExceptionReported" ? e.kind : e._tag,
    occurredAt: DateTime.formatIso(e.occurredAt),
    city: "location" in e ? e.location?.city : undefined,
    region: "location" in e ? e.location?.region : undefined,
    postalCode: "location" in e ? e.location?.postalCode : undefined,
    country: "location" in e ? e.location?.country : undefined,
    code: e.raw.code,
    detail: e.raw.detail,
    description: e.raw.description
  }
}

/** Whether an observation is the tracker's weight (its own event since 0.3.0), not a scan. */
export const isWeight = (o: CarrierPort.Observation): boolean => o.event._tag === "StatusReported" && o.event.weight !== undefined

/** Whether an observation is the tracker's proof of delivery (its own event since 0.3.0), not a scan. */
export const isPod = (o: CarrierPort.Observation): boolean => o.event._tag === "StatusReported" && o.event.pod !== undefined

/** The tracker's proof of delivery, if the payload has one. */
export const podOf = (observations: ReadonlyArray<CarrierPort.Observation>): string | undefined => {
  const pod = observations.find(isPod)?.event
  return pod?._tag === "StatusReported" ? pod.pod?.signedBy : undefined
}

/** The scans' observations, without the tracker's weight and proof of delivery. */
export const scansOf = (observations: ReadonlyArray<CarrierPort.Observation>): ReadonlyArray<CarrierPort.Observation> =>
  observations.filter((o) => !isWeight(o) && !isPod(o))
