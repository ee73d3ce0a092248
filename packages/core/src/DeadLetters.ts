/**
 * Dead letters: review and replay.
 *
 * A dead letter is an outbox action that failed for good (permanent error, or attempts
 * exhausted) or an inbound message that could not be ingested (bad signature, malformed body,
 * unknown tracking number or shipment, a crash while ingesting it, or delivered `maxDeliveries`
 * times without an acknowledgement and moved here from the transport's dead letters). Each keeps the payload, the last error and the attempt
 * count. After the cause is fixed, {@link replay} puts actions back into the outbox and
 * re-ingests inbound messages; every replay is recorded in the `ops` audit stream before it
 * takes effect (see {@link replay}).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Audit from "./Audit.js"
import { describeDefect } from "./internal/defect.js"
import * as Inbound from "./internal/inbound.js"
import * as Pipeline from "./Pipeline.js"
import * as PortError from "./PortError.js"
import * as Store from "./Store.js"

const MODULE = "@waybill/core/DeadLetters"

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

/**
 * A filter as a host may hand it over (the Promise facade, an ops API): a misspelt criterion
 * (`reson`) or one of the wrong type (`ids: "k1"`) must not widen the selection to letters the
 * operator did not mean (a replay of everything), so it is refused.
 */
const FilterSchema = Schema.Struct({
  ids: Schema.optional(Schema.Array(Schema.String)),
  kind: Schema.optional(Schema.Literal("action", "inbound")),
  target: Schema.optional(Schema.String),
  shipmentId: Schema.optional(Schema.String),
  reason: Schema.optional(Schema.String)
})
const decodeFilter = Schema.decodeUnknownEither(FilterSchema, { onExcessProperty: "error" })

const invalid = (method: "list" | "replay", description: string) =>
  new PortError.StorageError({ reason: "Invalid", module: MODULE, method, description })

const checkFilter = (filter: unknown, method: "list" | "replay"): Effect.Effect<Filter, PortError.StorageError> => {
  // Only a plain object's own fields are read: a Map, a class instance whose criteria are
  // getters, or one inheriting them would decode as `{}` (every letter) whatever it says.
  if (typeof filter === "object" && filter !== null) {
    const proto = Object.getPrototypeOf(filter)
    if (proto !== Object.prototype && proto !== null) {
      return Effect.fail(invalid(method, "invalid dead letter filter: a filter is a plain object of its criteria"))
    }
  }
  const decoded = decodeFilter(filter)
  return Either.isRight(decoded)
    ? Effect.succeed(decoded.right as Filter)
    : Effect.fail(
      invalid(method, `invalid dead letter filter: ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}`)
    )
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
 * Lists the dead letters matching a filter. A filter with an unknown criterion or a value of the
 * wrong type, or that is not a plain object (a `Map`, a class instance), is refused with
 * `StorageError` `Invalid` (it would otherwise match more than meant).
 *
 * @since 0.1.0
 */
export const list = (
  filter: Filter = {}
): Effect.Effect<ReadonlyArray<Store.DeadLetter>, PortError.StorageError, Store.Store> =>
  Effect.flatMap(checkFilter(filter, "list"), listChecked)

const listChecked = (
  filter: Filter
): Effect.Effect<ReadonlyArray<Store.DeadLetter>, PortError.StorageError, Store.Store> =>
  Effect.gen(function* () {
    const store = yield* Store.Store
    const out: Array<Store.DeadLetter> = []
    const pick = matches(filter)
    let after: string | undefined
    while (true) {
      const page = yield* store.deadLetters({ ...(after !== undefined ? { after } : {}), limit: 500 })
      // Only an empty page ends the listing: a page may come back short while letters are removed
      // (a concurrent replay; a shared store reads the index, then the letters), and the letters
      // after it must still be seen.
      if (page.length === 0) return out
      for (const letter of page) if (pick(letter)) out.push(letter)
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
 * Replays the dead letters matching a filter, as operator `by` (not blank). A malformed filter
 * is refused as by {@link list}, before anything is replayed. An inbound message that fails
 * again stays a dead letter with the new error and its attempts counted on (a raw request that
 * now parses is kept as the observations of it that failed, the rest being ingested); one that
 * still crashes the pipeline is kept with the crash (`Bug`) and its attempts counted on, and the
 * replay goes on with the other letters.
 *
 * Recorded in the `ops` audit stream in two entries: `replay` (`by`, `filter`, the `ids` of the
 * letters selected) before any letter is touched, so no replay takes effect without a trace, even
 * if the process dies right after a requeue or an ingest; and `replayed` once it ends (`by`,
 * `replay` = the seq of its `replay` entry, the counts, and `stopped` with the reason when it
 * stopped part way). A `replay` entry with no `replayed` one names a replay cut short by a
 * crash: any of its letters may have been requeued or reingested. Replaying again after such a
 * crash selects only the letters still dead (a requeued action is not requeued twice; an inbound
 * letter ingested but not yet removed ingests as a duplicate, without a second effect). If the
 * `replay` entry cannot be written, nothing is replayed; if only the `replayed` entry cannot be
 * written, the replay's report is still returned (it is logged as a warning).
 *
 * @since 0.1.0
 */
export const replay = (
  filter: Filter,
  by: string
): Effect.Effect<ReplayReport, PortError.StorageError | Pipeline.IngestError, Store.Store | Pipeline.Pipeline> =>
  Effect.gen(function* () {
    if (typeof by !== "string" || by.trim() === "") {
      return yield* invalid("replay", `a replay names who replays it (by), got ${JSON.stringify(by)}`)
    }
    const checked = yield* checkFilter(filter, "replay")
    const store = yield* Store.Store
    const pipeline = yield* Pipeline.Pipeline
    const letters = yield* listChecked(checked)
    const now = yield* Clock.currentTimeMillis
    const actions = letters.filter((l) => l.kind === "action").map((l) => l.id)
    let requeued = 0
    let reingested = 0
    let failedAgain = 0
    const ids = letters.map((l) => l.id)
    // The operator action is on record before it takes effect: a crash between a requeue (or an
    // ingest) and a later append would leave an action running again with no trace of who let it.
    const intent = yield* Audit.append(Audit.OPS, {
      at: now,
      kind: "replay",
      body: JSON.stringify({ by, filter: checked, ids })
    })
    const record = (stopped?: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) =>
        Audit.append(Audit.OPS, {
          at,
          kind: "replayed",
          body: JSON.stringify({
            by,
            replay: intent.seq,
            requeued,
            reingested,
            failedAgain,
            ...(stopped !== undefined ? { stopped } : {})
          })
        })
      )
    const replayed = Effect.gen(function* () {
      if (actions.length > 0) requeued = yield* store.requeue(actions, now)
      for (const letter of letters.filter((l) => l.kind === "inbound")) {
        const message = decodeMessage(letter.payload)
        if (Either.isLeft(message)) {
          yield* store.putDeadLetter({ ...letter, failedAt: yield* Clock.currentTimeMillis, attempts: letter.attempts + 1 })
          failedAgain++
          continue
        }
        // The pipeline keeps what fails again, with this letter's attempts counted on, under the
        // id of what failed: this letter's own, or (a raw request that now parses) the ids of
        // the observations that failed, which then stand for it (what else it carried is ingested).
        const kept: Array<string> = []
        const received = yield* Effect.locally(pipeline.receive(message.right), Inbound.replaying, {
          attempts: letter.attempts,
          kept
        }).pipe(
          // A message that still crashes the pipeline (a bug not fixed yet) fails again like any
          // other: kept with the crash and its attempts counted on, and the replay goes on with
          // the other letters instead of dying on this one for every bulk replay.
          Effect.catchAllDefect((defect) =>
            Effect.gen(function* () {
              const description = `replaying it crashed: ${describeDefect(defect)}`
              yield* store.putDeadLetter({
                ...letter,
                failedAt: yield* Clock.currentTimeMillis,
                attempts: letter.attempts + 1,
                error: JSON.stringify({ _tag: "IngestError", reason: "Bug", module: MODULE, method: "replay", description })
              })
              yield* Metric.increment(Inbound.deadLetters("Bug"))
              yield* Effect.logError("a replayed message crashed the pipeline; kept", { id: letter.id, defect: describeDefect(defect) })
              return undefined
            })
          )
        )
        if (received === undefined) {
          failedAgain++
          continue
        }
        const { rejected } = received
        if (rejected.length === 0) {
          yield* store.removeDeadLetters([letter.id])
          reingested++
          continue
        }
        // Removed only once the letters standing for it are written: never neither, at worst both.
        if (kept.length > 0 && !kept.includes(letter.id)) yield* store.removeDeadLetters([letter.id])
        failedAgain++
      }
    })
    // A replay stopped part way (a retryable failure, an interruption) records what it did before
    // it stopped. A requeue that failed part way may have put back some of `ids` without a count.
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
    // Done and on record (the `replay` entry): an outcome that cannot be written does not undo it.
    yield* Effect.catchAllCause(record(), (cause) =>
      Effect.logWarning(`the outcome of replay ${intent.seq} could not be recorded`, cause)
    )
    return { requeued, reingested, failedAgain }
  })
