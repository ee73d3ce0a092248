import * as FiberRef from "effect/FiberRef"
import * as Metric from "effect/Metric"
import { createHash } from "node:crypto"
import * as Metrics from "../Metrics.js"
import type * as Pipeline from "../Pipeline.js"
import * as PortError from "../PortError.js"
import * as WebhookSignature from "../WebhookSignature.js"

/**
 * An inbound message as it may be stored (on the transport, in a dead letter): a raw request
 * without the credential headers a host forwarded (no adapter reads them).
 */
export const storable = (message: Pipeline.InboundMessage): Pipeline.InboundMessage =>
  message._tag === "Request" && Object.keys(message.headers).some(WebhookSignature.isCredentialHeader)
    ? { ...message, headers: WebhookSignature.withoutCredentials(message.headers) }
    : message

/** `waybill_dead_letters_total` for inbound letters (target `ingest`) of a reason. */
export const deadLetters = (reason: PortError.Reason): Metric.Metric.Counter<number> =>
  Metric.tagged(Metric.tagged(Metrics.deadLetters, "target", "ingest"), "reason", reason)

/** The largest raw request body stored unless the host says otherwise: 16 MiB, the largest a mapping config may allow. */
export const maxBodyBytes = 16 * 1024 * 1024

/**
 * Why a raw request among `messages` is not stored (its body above `limit`, default
 * {@link maxBodyBytes}): `StorageError` `Invalid`, `the <source> request body is N bytes, more than
 * the M allowed: not stored`; `undefined` when every one may be.
 */
export const oversized = (
  messages: ReadonlyArray<Pipeline.InboundMessage>,
  limit: number | undefined,
  module: string,
  method: string
): PortError.StorageError | undefined => {
  for (const m of messages) {
    if (m._tag !== "Request") continue
    const problem = WebhookSignature.tooLarge(m.body, limit ?? maxBodyBytes)
    if (problem !== undefined) {
      return new PortError.StorageError({ reason: "Invalid", module, method, description: `the ${m.source} request ${problem}: not stored` })
    }
  }
  return undefined
}

/** The id of an inbound dead letter: its stored payload's hash, so keeping it again is harmless. */
export const letterId = (payload: string): string =>
  `inbound:${createHash("sha256").update(payload).digest("hex").slice(0, 32)}`

/**
 * Set by `DeadLetters.replay` while it re-ingests an inbound letter: the pipeline counts the
 * letter's attempts on in what it keeps again, and names the letters it wrote (`kept`). The
 * worker sets it for a batch, with `settled`: the pipeline names there (by the id its own letter
 * would have) each raw request all of whose letters it wrote, under the ids of its observations.
 */
export interface Replaying {
  readonly attempts: number
  readonly kept: Array<string>
  readonly settled?: Array<string>
}

export const replaying: FiberRef.FiberRef<Replaying | undefined> = FiberRef.unsafeMake<Replaying | undefined>(undefined)
