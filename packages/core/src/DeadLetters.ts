/**
 * Dead letters: review and replay.
 *
 * A dead letter is an outbox action that failed for good (permanent error, or attempts
 * exhausted) or an inbound message that could not be ingested (bad signature, malformed body,
 * unknown tracking number or shipment, a crash while ingesting it, or delivered `maxDeliveries`
 * times without an acknowledgement and moved here from the transport's dead letters). Each keeps the payload, the last error and the attempt
 * count. After the cause is fixed, {@link replay} puts actions back into the outbox and
 * re-ingests inbound messages; every replay is recorded in the `ops` audit stream.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Audit from "./Audit.js"
import * as Pipeline from "./Pipeline.js"
import type * as PortError from "./PortError.js"
import * as Store from "./Store.js"

/**
 * Which dead letters to list or replay. All given criteria must match.
 *
 * @since 0.1.0
 */
export interface Filter {
  readonly ids?: ReadonlyArray<string>
  readonly kind?: "action" | "inbound"
  readonly target?: string
  readonly shipmentId?: string
  /** The error reason, e.g. `Invalid`, `Unavailable`, `NotFound`. */
  readonly reason?: string
}

const reasonOf = (letter: Store.DeadLetter): string | undefined => {
  try {
    const parsed = JSON.parse(letter.error) as { reason?: unknown }
    return typeof parsed.reason === "string" ? parsed.reason : undefined
  } catch {
    return undefined
  }
}

const matches = (filter: Filter) => (letter: Store.DeadLetter) =>
  (filter.ids === undefined || filter.ids.includes(letter.id)) &&
  (filter.kind === undefined || letter.kind === filter.kind) &&
  (filter.target === undefined || letter.target === filter.target) &&
  (filter.shipmentId === undefined || letter.shipmentId === filter.shipmentId) &&
  (filter.reason === undefined || reasonOf(letter) === filter.reason)

/**
 * Lists the dead letters matching a filter.
 *
 * @since 0.1.0
 */
export const list = (
  filter: Filter = {}
): Effect.Effect<ReadonlyArray<Store.DeadLetter>, PortError.StorageError, Store.Store> =>
  Effect.gen(function* () {
    const store = yield* Store.Store
    const out: Array<Store.DeadLetter> = []
    let after: string | undefined
    while (true) {
      const page = yield* store.deadLetters({ ...(after !== undefined ? { after } : {}), limit: 500 })
      out.push(...page.filter(matches(filter)))
      if (page.length < 500) return out
      after = page[page.length - 1]!.id
    }
  })

/**
 * What a replay did.
 *
 * @since 0.1.0
 */
export interface ReplayReport {
  /** Actions put back into the outbox. */
  readonly requeued: number
  /** Inbound messages ingested successfully (their dead letters removed). */
  readonly reingested: number
  /** Inbound messages that failed again (kept, with the new error). */
  readonly failedAgain: number
}

const decodeMessage = Schema.decodeUnknownEither(Schema.parseJson(Pipeline.InboundMessage))

/**
 * Replays the dead letters matching a filter, as operator `by`.
 *
 * @since 0.1.0
 */
export const replay = (
  filter: Filter,
  by: string
): Effect.Effect<ReplayReport, PortError.StorageError | Pipeline.IngestError, Store.Store | Pipeline.Pipeline> =>
  Effect.gen(function* () {
    const store = yield* Store.Store
    const pipeline = yield* Pipeline.Pipeline
    const letters = yield* list(filter)
    const now = yield* Clock.currentTimeMillis
    const actions = letters.filter((l) => l.kind === "action").map((l) => l.id)
    let requeued = 0
    let reingested = 0
    let failedAgain = 0
    const ids = letters.map((l) => l.id)
    const record = (stopped?: string) =>
      Audit.append("ops", {
        at: now,
        kind: "replay",
        body: JSON.stringify({ by, filter, requeued, reingested, failedAgain, ids, ...(stopped !== undefined ? { stopped } : {}) })
      })
    const replayed = Effect.gen(function* () {
      if (actions.length > 0) requeued = yield* store.requeue(actions, now)
      for (const letter of letters.filter((l) => l.kind === "inbound")) {
        const message = decodeMessage(letter.payload)
        if (Either.isLeft(message)) {
          failedAgain++
          continue
        }
        const { rejected } = yield* pipeline.receive(message.right)
        if (rejected.length === 0) {
          yield* store.removeDeadLetters([letter.id])
          reingested++
        } else failedAgain++
      }
    })
    // A replay stopped part way (a retryable failure, an interruption) is recorded too, with what
    // it did before it stopped: the letters it requeued or reingested are gone from the store. A
    // requeue that failed part way may have put back some of `ids` without a count.
    yield* Effect.onError(replayed, (cause) =>
      Effect.ignoreLogged(
        record(
          Option.match(Cause.failureOption(cause), {
            onNone: () => (Cause.isInterruptedOnly(cause) ? "interrupted" : "defect"),
            onSome: (e) => e.reason
          })
        )
      )
    )
    yield* record()
    return { requeued, reingested, failedAgain }
  })
