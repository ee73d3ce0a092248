import * as FiberRef from "effect/FiberRef"
import { createHash } from "node:crypto"
import type * as Pipeline from "../Pipeline.js"
import * as WebhookSignature from "../WebhookSignature.js"

/**
 * An inbound message as it may be stored (on the transport, in a dead letter): a raw request
 * without the credential headers a host forwarded (no adapter reads them).
 */
export const storable = (message: Pipeline.InboundMessage): Pipeline.InboundMessage =>
  message._tag === "Request" && Object.keys(message.headers).some(WebhookSignature.isCredentialHeader)
    ? { ...message, headers: WebhookSignature.withoutCredentials(message.headers) }
    : message

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
