/**
 * Ingest workers: consume the ingest topic of the `Transport` and feed the `Pipeline`.
 *
 * A message is acknowledged only after the pipeline has committed it, or dead-lettered it for a
 * permanent reason; a retryable failure (store unavailable, persistent conflicts) leaves it
 * unacknowledged so the transport delivers it again after the visibility timeout. A batch that
 * fails is ingested again one message at a time, so only the messages that fail are delivered
 * again: their healthy batch-mates are committed and acknowledged. When none of the batch went
 * in, the poll fails, so `run` backs off (`storageRetry`) instead of taking more messages. A
 * message that is not even an `InboundMessage` is dead-lettered as it is. A message that fails
 * on its last delivery (`maxDeliveries`) is kept in the store's dead letters with that failure's
 * reason and description, where `DeadLetters.replay` finds it; one the transport gave up on
 * (its worker crashed, or could not keep it) is moved there too, with the last failure this
 * worker saw of it, or as `Unavailable` when it saw none.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as ParseResult from "effect/ParseResult"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import * as EventCodec from "./EventCodec.js"
import { describeDefect } from "./internal/defect.js"
import * as Inbound from "./internal/inbound.js"
import { nestedDeeperThan } from "./internal/jsonDepth.js"
import * as Pipeline from "./Pipeline.js"
import * as PortError from "./PortError.js"
import * as Store from "./Store.js"
import * as Transport from "./Transport.js"
import * as Validation from "./Validation.js"
import * as WebhookSignature from "./WebhookSignature.js"

const MODULE = "@waybill/core/Worker"

/**
 * The default topic and group.
 *
 * @since 0.1.0
 */
export const TOPIC = "waybill.ingest"
/** @since 0.1.0 */
export const GROUP = "waybill.pipeline"

/**
 * Worker options.
 *
 * @since 0.1.0
 */
export interface Options {
  readonly topic?: string
  readonly group?: string
  readonly consumer?: string
  /** Messages per receive (default 64); each batch is ingested at once, shipments concurrently. */
  readonly batch?: number
  /**
   * Batches in flight at once (default 1). With a remote store, 2–4 keep the process busy while
   * a batch waits for its round trips; batches touching one shipment take turns (shipment locks).
   */
  readonly concurrency?: number
  /**
   * Default 30 s. A batch still being handled when a third of it has passed has its lease renewed
   * (`Transport.extend`, where the driver has it), so it is not handed to another worker meanwhile.
   */
  readonly visibilityMillis?: number
  /**
   * How long a batch's lease is renewed at most; after that the batch is delivered again as if
   * its worker had died (a worker hung on it does not hold it for good). Default: `maxDeliveries`
   * visibility timeouts.
   *
   * @since 0.2.0
   */
  readonly maxLeaseMillis?: number
  /** Default 10: after that many deliveries a message goes to the transport's dead letters. */
  readonly maxDeliveries?: number
  /** How long one receive waits for messages. Default 100 ms. */
  readonly waitMillis?: number
  /**
   * How `run` rides out retryable storage failures (a failover, a dropped connection); every
   * outage starts it over. Default: exponential from 100 ms, capped at 10 s, forever while the
   * reason is retryable.
   */
  readonly storageRetry?: Schedule.Schedule<unknown, PortError.StorageError>
}

/**
 * The default schedule for riding out storage failures in a long-running loop.
 *
 * @since 0.1.0
 */
export const storageRetry = (
  schedule?: Schedule.Schedule<unknown, PortError.StorageError>
): Schedule.Schedule<unknown, PortError.StorageError> =>
  schedule ??
  Schedule.exponential("100 millis").pipe(
    Schedule.modifyDelay((_, d) => Duration.min(d, Duration.seconds(10))),
    Schedule.whileInput((e: PortError.StorageError) => PortError.isRetryable(e.reason)),
    Schedule.tapInput((e: PortError.StorageError) => Effect.logWarning("storage failure; retrying", { reason: e.reason, description: e.description }))
  )

/**
 * How many messages of a failed batch, ingested one at a time, may fail in a row for a retryable
 * reason before the rest is left for the batch's next delivery (taken for an outage).
 */
const ISOLATED_FAILURES = 3

/**
 * How many messages' last retryable failure a worker remembers for the sweep (the oldest is
 * forgotten first); a message is forgotten once acknowledged or kept.
 */
const REMEMBERED_FAILURES = 10_000

const decodeJson = Schema.decodeUnknownEither(Schema.parseJson(Pipeline.InboundMessage))
const decodeParsed = Schema.decodeUnknownEither(Pipeline.InboundMessage)

/**
 * Decodes a message body from the ingest topic: exactly `Schema.parseJson(InboundMessage)`'s
 * result, with events and observations decoded by `EventCodec` (about 3× faster); anything
 * else, and every failure, goes through Schema, so errors are Schema's own, with the values of
 * personal fields withheld (`Validation.redact`): the message is kept as a dead letter's reason.
 * A body nested more than `WebhookSignature.maxJsonDepth` levels deep is refused unparsed (`the
 * message is nested more than 64 levels deep`): describing a value nested that deep would
 * overflow the stack.
 *
 * @example
 * ```ts
 * import { Worker } from "@waybill/core"
 * import * as Either from "effect/Either"
 *
 * const message = Worker.decodeMessage(delivery.body)
 * if (Either.isLeft(message)) console.error(message.left.message) // dead-letter it with this reason
 * ```
 *
 * @since 0.2.0
 */
export const decodeMessage = (body: string): Either.Either<Pipeline.InboundMessage, ParseResult.ParseError> =>
  // The failure becomes a dead letter's description (and a log line): personal values withheld.
  Either.mapLeft(decodeBody(body), Validation.redact)

const decodeBody = (body: string): Either.Either<Pipeline.InboundMessage, ParseResult.ParseError> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return refused(body)
  }
  if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
    const message = parsed as { readonly _tag?: unknown; readonly event?: unknown; readonly source?: unknown; readonly observation?: unknown }
    if (message._tag === "Event") {
      const event = EventCodec.decodeEvent(message.event)
      if (Either.isRight(event)) return Either.right({ _tag: "Event", event: event.right })
    } else if (message._tag === "Observation" && typeof message.source === "string") {
      const observation = EventCodec.decodeObservation(message.observation)
      if (Either.isRight(observation)) {
        return Either.right({ _tag: "Observation", source: message.source, observation: observation.right })
      }
    }
  }
  const decoded = decodeParsed(parsed)
  // A failure is reported as `parseJson` reports it (its error names the JSON step too).
  return Either.isRight(decoded) ? decoded : refused(body)
}

/**
 * Why a body is refused, as `parseJson` reports it. A body nested deeper than
 * `WebhookSignature.maxJsonDepth` (not what `publish` writes: another producer, corrupt data) is
 * named without its value: a schema error quoting a value nested that deep overflows the stack
 * when its message is read, and the crash would stop the worker instead of dead-lettering the
 * message. (Checked here, on the failure path only: the schemas nest no deeper than that, so a
 * body that decodes is never that deep, and the scan costs nothing on the way in.)
 */
const refused = (body: string): Either.Either<Pipeline.InboundMessage, ParseResult.ParseError> =>
  nestedDeeperThan(body, WebhookSignature.maxJsonDepth)
    ? Either.left(
      ParseResult.parseError(
        new ParseResult.Type(
          Pipeline.InboundMessage.ast,
          `<withheld, ${body.length} characters>`,
          `the message is nested more than ${WebhookSignature.maxJsonDepth} levels deep`
        )
      )
    )
    : decodeJson(body)
const encode = Schema.encodeSync(Schema.parseJson(Pipeline.InboundMessage))

/**
 * The id of the dead letter the pipeline keeps for a message it refuses as a whole (an event, an
 * observation, a request no adapter takes): the hash of the message as stored. The observations
 * of a raw request are kept one letter each, under ids of their own.
 */
const letterOf = (message: Pipeline.InboundMessage): string => Inbound.letterId(encode(Inbound.storable(message)))

/**
 * A delivered body as a dead letter keeps it: a raw request without the credential headers that
 * a producer older than `publish`'s filtering (0.1) stored with it, under the id the pipeline
 * gives the same message's letter; a body that does not decode, as it is.
 */
const storedBody = (body: string): string => {
  const message = decodeBody(body)
  return Either.isRight(message) && message.right._tag === "Request" ? encode(Inbound.storable(message.right)) : body
}

/**
 * Publishes inbound messages to the ingest topic, keyed by shipment (or tracking number).
 * A raw request is stored without its credential headers
 * ({@link WebhookSignature.credentialHeaders}, in any case): a host may forward every header
 * it received, and no adapter reads those. A raw request whose body is larger than
 * `maxBodyBytes` (default 16 MiB, the largest body a mapping config may allow) is refused before
 * anything is stored, with `StorageError` `Invalid` (`the <source> request body is N bytes, more
 * than the M allowed: not stored`): a host answers it 413, and an unsigned sender cannot fill
 * the transport and the dead letters with bodies no adapter would read.
 *
 * @since 0.1.0
 */
export const publish = (
  messages: ReadonlyArray<Pipeline.InboundMessage>,
  topic: string = TOPIC,
  options: { readonly maxBodyBytes?: number | undefined } = {}
): Effect.Effect<ReadonlyArray<string>, PortError.StorageError, Transport.Transport> =>
  Effect.flatMap(Transport.Transport, (transport) => {
    const refused = Inbound.oversized(messages, options.maxBodyBytes, MODULE, "publish")
    if (refused !== undefined) return Effect.fail(refused)
    return transport.publish(
      topic,
      messages.map((m) => {
        const body = encode(Inbound.storable(m))
        return {
          // A raw request's shipment is known only once it is parsed: keyed by its content, a
          // carrier's webhooks spread over every partition (and process) instead of one, and a
          // retransmission lands where the first copy did. Arrival order never changes a state.
          key: m._tag === "Event"
            ? m.event.shipmentId
            : m._tag === "Observation"
            ? m.observation.trackingNumber
            : `${m.source}:${createHash("sha256").update(m.body).digest("hex").slice(0, 16)}`,
          body
        }
      })
    )
  })

/**
 * A running worker.
 *
 * @since 0.1.0
 */
export interface Worker {
  /**
   * Receives and handles one batch; returns how many messages it got. A batch that fails is
   * ingested again one message at a time; the messages that still fail for a retryable reason
   * are delivered again (on their last delivery, kept as dead letters with that failure instead),
   * the others acknowledged. Fails when none of the batch could be ingested
   * (a store that is down), so the caller backs off.
   */
  readonly poll: Effect.Effect<number, PortError.StorageError>
  /** Polls until interrupted, riding out retryable storage failures (see `storageRetry`). */
  readonly run: Effect.Effect<never, PortError.StorageError>
}

/**
 * Builds a worker over the `Transport`, `Pipeline` and `Store` in context.
 *
 * @since 0.1.0
 */
export const make = (
  options: Options = {}
): Effect.Effect<Worker, never, Transport.Transport | Pipeline.Pipeline | Store.Store> =>
  Effect.gen(function* () {
    const transport = yield* Transport.Transport
    const pipeline = yield* Pipeline.Pipeline
    const store = yield* Store.Store
    const topic = options.topic ?? TOPIC
    const group = options.group ?? GROUP
    const consumer = options.consumer ?? `worker-${Math.random().toString(36).slice(2, 10)}`
    const receiveOptions: Transport.ReceiveOptions = {
      max: options.batch ?? 64,
      visibilityMillis: options.visibilityMillis ?? 30_000,
      maxDeliveries: options.maxDeliveries ?? 10,
      waitMillis: options.waitMillis ?? 100
    }

    /**
     * Keeps a message the worker itself gives up on as an inbound dead letter (its id is the
     * stored body's hash, so keeping it again is harmless; a raw request without credentials), counted in `waybill_dead_letters_total`
     * (target `ingest`) like the pipeline's; the sweep counts what it moves itself (`count` false).
     */
    const keep = (delivery: Transport.Delivery, reason: PortError.Reason, description: string, count = true) =>
      Effect.gen(function* () {
        const payload = storedBody(delivery.body)
        yield* store.putDeadLetter({
          id: Inbound.letterId(payload),
          kind: "inbound",
          target: topic,
          failedAt: yield* Clock.currentTimeMillis,
          attempts: delivery.deliveries,
          error: JSON.stringify({ _tag: "IngestError", reason, module: MODULE, method: "poll", description }),
          payload
        })
        if (count) yield* Metric.increment(Inbound.deadLetters(reason))
      })

    // What the transport gave up on (delivered `maxDeliveries` times without an ack: the store
    // was down that long, or handling it crashed the process) goes to the store's dead letters,
    // where replay finds it; then it leaves the transport's. Looked at once per visibility
    // timeout, the pace at which messages can land there; a full page is followed by the next
    // one at the next poll, so a backlog (after a long outage) is not held back a hundred letters
    // per timeout, out of sight of `DeadLetters.list` and replay. A crash in between leaves it
    // in both: the letter's id is the body's hash, so the next sweep writes the same letter again.
    const SWEEP_PAGE = 100
    let swept = Number.NEGATIVE_INFINITY
    /** The last retryable failure of each message this worker left unacknowledged, by message id. */
    const failures = new Map<string, { readonly reason: PortError.Reason; readonly description: string }>()
    const remember = (id: string, failure: Pipeline.IngestError) => {
      failures.delete(id) // to the back: the oldest is forgotten first
      failures.set(id, { reason: failure.reason, description: failure.description })
      if (failures.size > REMEMBERED_FAILURES) failures.delete(failures.keys().next().value!)
    }
    const forget = (ids: ReadonlyArray<string>) => {
      if (failures.size > 0) for (const id of ids) failures.delete(id)
    }
    const sweep = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      if (now - swept < receiveOptions.visibilityMillis) return
      swept = now
      const dead = yield* transport.deadLetters(topic, group, SWEEP_PAGE)
      if (dead.length === 0) return
      // Counted once moved, by the sweep whose drop removed them: the workers of a process (and
      // the processes) start together and sweep at the same pace, so two sweeps often take the
      // same letters; each keeps them (the same letter), only one removes them.
      const byReason = new Map<PortError.Reason, Array<string>>()
      for (const delivery of dead) {
        // The failure this worker last saw of it, if any: its own reason, not a guess.
        const last = failures.get(delivery.id)
        const reason = last?.reason ?? "Unavailable"
        const unacknowledged = `delivered ${delivery.deliveries} times without being acknowledged`
        yield* keep(
          delivery,
          reason,
          last === undefined
            ? `${unacknowledged} (the store was unavailable that long, or handling it crashed the worker)`
            : `${unacknowledged}; the last failure: ${last.description}`,
          false
        )
        const ids = byReason.get(reason)
        if (ids === undefined) byReason.set(reason, [delivery.id])
        else ids.push(delivery.id)
      }
      for (const [reason, ids] of byReason) {
        const removed = yield* transport.dropDeadLetters(topic, group, ids)
        if (removed > 0) yield* Metric.incrementBy(Inbound.deadLetters(reason), removed)
      }
      forget(dead.map((d) => d.id))
      // A full page moved: the next poll takes the next one.
      if (dead.length >= SWEEP_PAGE) swept = Number.NEGATIVE_INFINITY
      yield* Effect.logWarning("transport dead letters moved to the store's dead letters", { count: dead.length })
    })

    /**
     * How one message ended when ingested on its own: `undefined` when it is settled (committed,
     * or kept as a dead letter: acknowledged), else the retryable failure it met (it is delivered
     * again). A permanent failure the pipeline let out (its `receive` dead-letters those itself)
     * and a crash (a bug) are kept as dead letters here, with their own reason.
     */
    const settle = (delivery: Transport.Delivery, effect: Effect.Effect<unknown, Pipeline.IngestError>) =>
      effect.pipe(
        Effect.as(undefined),
        Effect.catchAll((e) =>
          PortError.isRetryable(e.reason)
            ? Effect.as(
              Effect.logWarning("a message could not be ingested; it will be delivered again", {
                reason: e.reason,
                description: e.description
              }),
              e
            )
            : Effect.as(
              Effect.zipRight(
                keep(delivery, e.reason, e.description),
                Effect.logError("the pipeline failed a message for a permanent reason; dead-lettered", {
                  reason: e.reason,
                  description: e.description
                })
              ),
              undefined
            )
        ),
        Effect.catchAllDefect((defect) =>
          Effect.as(
            Effect.zipRight(
              keep(delivery, "Bug", `ingesting it crashed: ${describeDefect(defect)}`),
              Effect.logError("a message crashed the pipeline; dead-lettered", { defect: describeDefect(defect) })
            ),
            undefined
          )
        )
      )

    /**
     * Ingests messages one at a time, going on past one that fails for a retryable reason (it
     * alone is delivered again), so a message that always fails (a store call timing out for that
     * shipment only, an adapter answering Unavailable for that payload) does not hold its
     * batch-mates until `maxDeliveries` and take them to the dead letters with it. A run of
     * {@link ISOLATED_FAILURES} failures in a row is taken for an outage: the rest of the batch
     * is left for its next delivery rather than each message failing on a store that is down.
     * A message whose dead letter the failed batch already kept (`kept`: the batch failed while
     * writing its dead letters, after everything else was committed), or a raw request all of whose
     * observations' letters it kept, is settled as it is: ingested again it would be
     * dead-lettered, and counted in `waybill_dead_letters_total`, a second time.
     * Returns the ids of the settled messages, the retryable failure each message that was not
     * settled met (a message left untried, the failure that stopped the batch), and the last one.
     */
    const isolate = (
      messages: ReadonlyArray<Pipeline.InboundMessage>,
      deliveries: ReadonlyArray<Transport.Delivery>,
      kept: ReadonlySet<string>
    ) =>
      Effect.gen(function* () {
        const settled: Array<string> = []
        const failed = new Map<string, Pipeline.IngestError>()
        let failure: Pipeline.IngestError | undefined
        let inARow = 0
        let i = 0
        for (; i < messages.length; i++) {
          const message = messages[i]!
          const delivery = deliveries[i]!
          if (kept.size > 0 && kept.has(letterOf(message))) {
            settled.push(delivery.id)
            continue
          }
          const error = yield* settle(delivery, pipeline.receive(message))
          if (error === undefined) {
            settled.push(delivery.id)
            inARow = 0
            continue
          }
          failure = error
          failed.set(delivery.id, error)
          if (++inARow >= ISOLATED_FAILURES) break
        }
        for (const delivery of deliveries.slice(i + 1)) failed.set(delivery.id, failure!)
        return { settled, failed, failure }
      })

    // While a batch is handled its lease is renewed every third of the visibility timeout: a
    // slow batch (a slow store, a failover) is not handed to another worker meanwhile, to be
    // ingested twice and have every hand-out counted towards the dead letters. Renewal stops
    // with the batch, or after `maxLeaseMillis` (a hung worker does not keep it for good).
    const extend = transport.extend
    const every = Math.max(1, Math.floor(receiveOptions.visibilityMillis / 3))
    const maxLease = options.maxLeaseMillis ?? receiveOptions.visibilityMillis * receiveOptions.maxDeliveries
    const renew = (ids: ReadonlyArray<string>) =>
      extend === undefined
        ? Effect.void
        : Effect.gen(function* () {
          const until = (yield* Clock.currentTimeMillis) + maxLease
          while (true) {
            yield* Effect.sleep(every)
            const now = yield* Clock.currentTimeMillis
            if (now >= until) return
            yield* extend(topic, group, consumer, ids, Math.min(receiveOptions.visibilityMillis, until - now)).pipe(
              Effect.catchAll((e) =>
                Effect.logWarning("could not renew a batch's lease; it may be delivered again meanwhile", {
                  reason: e.reason,
                  description: e.description
                })
              )
            )
          }
        })

    // A batch is handed to the pipeline at once: it dedupes with one lookup, applies each
    // shipment's messages in delivery order and commits each shipment once.
    const handle = (deliveries: ReadonlyArray<Transport.Delivery>) => Effect.gen(function* () {
      const messages: Array<Pipeline.InboundMessage> = []
      const decoded: Array<Transport.Delivery> = []
      const undecodable: Array<string> = []
      for (const delivery of deliveries) {
        const message = decodeMessage(delivery.body)
        if (Either.isLeft(message)) {
          yield* keep(delivery, "Invalid", message.left.message)
          undecodable.push(delivery.id)
        } else {
          messages.push(message.right)
          decoded.push(delivery)
        }
      }
      // A batch that fails (a retryable failure, a permanent one the pipeline let out, a crash)
      // is ingested again one message at a time: what is healthy in it is committed and
      // acknowledged, and only what fails is delivered again (or dead-lettered, with its reason).
      // The pipeline names the dead letters it keeps while the batch runs (`Inbound.replaying`,
      // with no earlier attempts: the letters are written as outside a replay), so those it kept
      // before the batch failed are not written, and counted, again one message at a time.
      const kept: Array<string> = []
      const requests: Array<string> = []
      const { failed, failure, settled } = messages.length === 1
        ? yield* Effect.map(settle(decoded[0]!, pipeline.receiveMany(messages)), (failure) => ({
          failure,
          failed: new Map(failure === undefined ? [] : [[decoded[0]!.id, failure]]),
          settled: failure === undefined ? [decoded[0]!.id] : []
        }))
        : yield* Effect.locally(pipeline.receiveMany(messages), Inbound.replaying, { attempts: 0, kept, settled: requests }).pipe(
          Effect.as(true),
          Effect.catchAll((e) =>
            Effect.as(
              Effect.logWarning("ingest failed; ingesting the batch one message at a time", {
                reason: e.reason,
                description: e.description
              }),
              false
            )
          ),
          Effect.catchAllDefect((defect) =>
            Effect.as(
              Effect.logError("ingest crashed; ingesting the batch one message at a time", { defect: describeDefect(defect) }),
              false
            )
          ),
          Effect.flatMap((ingested) =>
            ingested
              ? Effect.succeed({ failure: undefined, failed: new Map<string, Pipeline.IngestError>(), settled: decoded.map((d) => d.id) })
              : isolate(messages, decoded, new Set([...kept, ...requests]))
          )
        )
      // A message that failed on its last delivery is not delivered again: it is kept with its
      // failure here, by the worker that met it (the transport would give it up after another
      // visibility timeout, to be swept by any worker, none of which would know why). If the
      // store cannot keep it, the transport gives it up and the sweep keeps it later, with the
      // failure remembered here when this worker sweeps it.
      const givenUp: Array<string> = []
      let keeping = true
      for (const delivery of decoded) {
        const error = failed.get(delivery.id)
        if (error === undefined) continue
        remember(delivery.id, error)
        // After one could not be kept, the store is taken for down: the rest wait for the sweep.
        if (!keeping || delivery.deliveries < receiveOptions.maxDeliveries) continue
        keeping = yield* keep(
          delivery,
          error.reason,
          `given up after ${delivery.deliveries} deliveries; the last failed: ${error.description}`
        ).pipe(
          Effect.as(true),
          Effect.catchAll((e) =>
            Effect.as(
              Effect.logWarning("could not keep a message given up; the transport's dead letters hold it until the next sweep", {
                reason: e.reason,
                description: e.description
              }),
              false
            )
          )
        )
        if (keeping) givenUp.push(delivery.id)
      }
      const ack = [...undecodable, ...settled, ...givenUp]
      if (ack.length > 0) yield* transport.ack(topic, group, ack)
      forget(ack)
      // A store that is down fails every message alike: back off (`run` retries per
      // `storageRetry`) rather than take batch after batch, each delivery counting towards the
      // dead letters. A batch of which some messages went in is no outage: the next one is taken.
      if (failure !== undefined && settled.length === 0) {
        return yield* new PortError.StorageError({
          reason: failure.reason,
          module: MODULE,
          method: "poll",
          description: `ingest failed: ${failure.description}`,
          cause: failure
        })
      }
      return deliveries.length
    })

    const poll = Effect.gen(function* () {
      yield* sweep
      const deliveries = yield* transport.receive(topic, group, consumer, receiveOptions)
      if (deliveries.length === 0) return 0
      const lease = yield* Effect.fork(renew(deliveries.map((d) => d.id)))
      return yield* Effect.ensuring(handle(deliveries), Fiber.interrupt(lease))
    })

    // The schedule starts over with every poll: each outage gets all of it, not what is left
    // after the outages before it.
    const loop = Effect.forever(Effect.retry(poll, storageRetry(options.storageRetry)))
    const concurrency = Math.max(1, Math.floor(options.concurrency ?? 1))
    return {
      poll,
      run:
        concurrency === 1
          ? loop
          : // The first loop to fail stops the others (as one loop fails when its retries are spent).
            Effect.zipRight(
              Effect.forEach(Array.from({ length: concurrency }), () => loop, { concurrency: "unbounded", discard: true }),
              Effect.never
            )
    }
  })
