/**
 * The ingest pipeline: decode → verify → normalize → dedupe → apply → commit.
 *
 * One commit per event writes the new state, the event, its audit entry and the outbox actions
 * its milestones cause, under a version CAS. Work on one shipment is serialized inside a
 * process; across processes the CAS makes it safe (a conflict reloads and re-applies).
 * Anything that cannot be ingested (bad signature, malformed body, unknown tracking number,
 * unknown shipment) is kept as a dead letter with the reason, never dropped.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import * as Audit from "./Audit.js"
import * as CarrierPort from "./CarrierPort.js"
import * as ErpPort from "./ErpPort.js"
import * as Flows from "./Flows.js"
import * as Ids from "./Ids.js"
import * as Instant from "./Instant.js"
import * as KeyedLock from "./KeyedLock.js"
import * as Metrics from "./Metrics.js"
import * as Milestone from "./Milestone.js"
import * as Order from "./Order.js"
import * as PortError from "./PortError.js"
import * as ShipmentEvent from "./ShipmentEvent.js"
import * as ShipmentRecord from "./ShipmentRecord.js"
import * as ShipmentState from "./ShipmentState.js"
import * as Store from "./Store.js"
import * as Validation from "./Validation.js"

// -------------------------------------------------------------------------------------------
// messages and errors
// -------------------------------------------------------------------------------------------

/**
 * What arrives on the ingest topic: a canonical event from a trusted source, an observation
 * from an adapter, or a raw carrier request still to be verified and parsed.
 *
 * @since 0.1.0
 */
export const InboundMessage = Schema.Union(
  Schema.TaggedStruct("Event", { event: ShipmentEvent.ShipmentEvent }),
  Schema.TaggedStruct("Observation", { source: Schema.String, observation: CarrierPort.Observation }),
  Schema.TaggedStruct("Request", {
    source: Schema.String,
    headers: Schema.Record({ key: Schema.String, value: Schema.String }),
    body: Schema.Uint8ArrayFromBase64,
    receivedAt: Instant.Instant
  })
).annotations({ identifier: "InboundMessage" })

/** @since 0.1.0 */
export type InboundMessage = typeof InboundMessage.Type

/**
 * An event or message that cannot be ingested, with the reason: `Invalid` (malformed),
 * `Unauthorized` (bad signature), `NotFound` (unknown shipment or tracking number), or a
 * retryable storage failure (`Unavailable`, `Conflict`).
 *
 * @since 0.1.0
 */
export class IngestError extends Schema.TaggedError<IngestError>("@waybill/core/IngestError")("IngestError", {
  ...PortError.fields,
  eventId: Schema.optionalWith(Schema.String, { exact: true }),
  shipmentId: Schema.optionalWith(Schema.String, { exact: true })
}) {
  override get message(): string {
    return `${this.module}.${this.method}: ${this.reason}: ${this.description}`
  }
}

/**
 * What ingesting one event did.
 *
 * @since 0.1.0
 */
export interface IngestResult {
  readonly shipmentId: string
  readonly eventId: string
  readonly outcome: ShipmentState.Outcome["_tag"]
  readonly reached: ReadonlyArray<string>
  readonly retracted: ReadonlyArray<string>
  readonly enqueued: ReadonlyArray<string>
  readonly anomaly?: string
}

// -------------------------------------------------------------------------------------------
// service
// -------------------------------------------------------------------------------------------

/**
 * Pipeline options.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Flow configuration; defaults from the seed scenario. */
  readonly flows?: Flows.FlowConfig
  /** Carriers whose raw requests the pipeline verifies and parses, by `source`. */
  readonly carriers?: ReadonlyArray<CarrierPort.CarrierPortShape>
  /** How often a lost version CAS is re-applied before giving up (retryable error). Default 50. */
  readonly maxConflicts?: number
  /** Decoded records kept in memory per process (by version). Default 20,000. */
  readonly cacheSize?: number
}

/**
 * The pipeline's operations.
 *
 * @since 0.1.0
 */
export interface PipelineShape {
  /** Registers an order's shipments (idempotent): reference data, tracking index and an empty record. */
  readonly register: (intake: ErpPort.OrderIntake) => Effect.Effect<ReadonlyArray<Ids.ShipmentId>, IngestError>
  /** Ingests one canonical event (from a trusted source). */
  readonly ingest: (event: ShipmentEvent.ShipmentEvent) => Effect.Effect<IngestResult, IngestError>
  /**
   * Ingests a batch: duplicates are dropped with one lookup, each shipment's events are applied
   * in order and committed together (one commit per shipment), shipments run concurrently.
   * Events that cannot be ingested for a permanent reason are returned in `rejected`; a
   * retryable failure fails the batch (what was committed stays committed and dedupes on retry).
   */
  readonly ingestMany: (events: ReadonlyArray<ShipmentEvent.ShipmentEvent>) => Effect.Effect<
    {
      readonly results: ReadonlyArray<IngestResult>
      readonly rejected: ReadonlyArray<{ readonly event: ShipmentEvent.ShipmentEvent; readonly error: IngestError }>
    },
    IngestError
  >
  /**
   * Handles any inbound message. Permanent failures are dead-lettered here and reported in the
   * result; only retryable failures fail the effect (the caller should redeliver).
   */
  readonly receive: (
    message: InboundMessage
  ) => Effect.Effect<{ readonly results: ReadonlyArray<IngestResult>; readonly rejected: ReadonlyArray<IngestError> }, IngestError>
  /** Handles a batch of inbound messages like `receive`, ingesting their events with `ingestMany`. */
  readonly receiveMany: (
    messages: ReadonlyArray<InboundMessage>
  ) => Effect.Effect<{ readonly results: ReadonlyArray<IngestResult>; readonly rejected: ReadonlyArray<IngestError> }, IngestError>
  /** Approves a hold (damage, weight, POD) on a shipment's invoice; audited in the shipment's stream. */
  readonly approve: (
    shipmentId: Ids.ShipmentId,
    approval: ShipmentRecord.Approval,
    by: string
  ) => Effect.Effect<ShipmentRecord.Billing, IngestError>
  /** A shipment's current record. */
  readonly record: (shipmentId: string) => Effect.Effect<ShipmentRecord.ShipmentRecord | undefined, IngestError>
  /** A shipment's reference data. */
  readonly info: (shipmentId: string) => Effect.Effect<ShipmentRecord.ShipmentInfo | undefined, IngestError>
  readonly flows: Flows.FlowConfig
}

/**
 * The pipeline service.
 *
 * @since 0.1.0
 */
export class Pipeline extends Context.Tag("@waybill/core/Pipeline")<Pipeline, PipelineShape>() {}

const MODULE = "@waybill/core/Pipeline"

const encodeInfo = Schema.encodeSync(ShipmentRecord.ShipmentInfo)
const decodeInfo = Schema.decodeUnknownEither(ShipmentRecord.ShipmentInfo)
const encodeMessage = Schema.encodeSync(InboundMessage)
const encodeIngestError = Schema.encodeSync(IngestError)

const storageError = (method: string) => (e: PortError.StorageError) =>
  new IngestError({
    reason: PortError.isRetryable(e.reason) ? e.reason : "Unavailable",
    module: MODULE,
    method,
    description: e.message,
    cause: e
  })

/**
 * The idempotency key of an event: its source, its id and a fingerprint of its content. A
 * retransmission has the same key and is dropped before any work; a different event reusing an
 * id gets through to the state machine, which records the conflict instead of losing it.
 *
 * @since 0.1.0
 */
export const idempotencyKey = (event: ShipmentEvent.ShipmentEvent): string =>
  `${event.source}|${event.id}|${createHash("sha256").update(ShipmentState.contentKey(event)).digest("hex").slice(0, 16)}`

/**
 * Builds the pipeline over the `Store` in context.
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<PipelineShape, never, Store.Store> =>
  Effect.gen(function* () {
    const store = yield* Store.Store
    const flows = options.flows ?? new Flows.FlowConfig({})
    const carriers = new Map((options.carriers ?? []).map((c) => [c.source, c]))
    const maxConflicts = options.maxConflicts ?? 50
    const cacheSize = options.cacheSize ?? 20_000
    const locks = KeyedLock.make()
    const records = new Map<string, { readonly version: number; readonly record: ShipmentRecord.ShipmentRecord }>()
    const infos = new Map<string, ShipmentRecord.ShipmentInfo>()

    const remember = <V>(cache: Map<string, V>, key: string, value: V) => {
      cache.delete(key)
      cache.set(key, value)
      if (cache.size > cacheSize) cache.delete(cache.keys().next().value!)
    }

    const loadRecord = (shipmentId: string, method: string) =>
      Effect.gen(function* () {
        const stored = yield* Effect.mapError(store.load(shipmentId), storageError(method))
        if (stored === undefined) return undefined
        const cached = records.get(shipmentId)
        if (cached !== undefined && cached.version === stored.version) return { version: stored.version, record: cached.record }
        const decoded = ShipmentRecord.fromJson(stored.body)
        if (Either.isLeft(decoded)) {
          const cause = decoded.left
          return yield* new IngestError({
            reason: "Bug",
            module: MODULE,
            method,
            description: `stored record of ${shipmentId} is corrupt: ${
              cause instanceof ParseResult.ParseError
                ? Validation.ValidationError.fromParseError(cause, { schema: "ShipmentRecord", module: MODULE, method }).message
                : cause.message
            }`,
            shipmentId
          })
        }
        remember(records, shipmentId, { version: stored.version, record: decoded.right })
        return { version: stored.version, record: decoded.right }
      })

    const loadInfo = (shipmentId: string, method: string) => {
      const hit = infos.get(shipmentId)
      return hit !== undefined ? Effect.succeed(hit) : loadInfoFromStore(shipmentId, method)
    }

    const loadInfoFromStore = (shipmentId: string, method: string) =>
      Effect.gen(function* () {
        const body = yield* Effect.mapError(store.getShipment(shipmentId), storageError(method))
        if (body === undefined) return undefined
        const decoded = decodeInfo(JSON.parse(body))
        if (Either.isLeft(decoded)) {
          return yield* new IngestError({
            reason: "Bug",
            module: MODULE,
            method,
            description: `stored shipment ${shipmentId} is corrupt`,
            shipmentId
          })
        }
        remember(infos, shipmentId, decoded.right)
        return decoded.right
      })

    const register: PipelineShape["register"] = (intake) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const ids: Array<Ids.ShipmentId> = []
        for (const shipment of intake.shipments) {
          const info = new ShipmentRecord.ShipmentInfo({
            shipment,
            customer: intake.order.customer,
            orderTotal: Order.total(intake.order)
          })
          // Sources find the shipment by its tracking number, its packages' tracking numbers, or
          // the warehouse's reference (pick and pack happen before any tracking number exists).
          const body = JSON.stringify(encodeInfo(info))
          const aliases = [
            shipment.trackingNumber,
            ...shipment.packages.map((p) => p.trackingNumber),
            shipment.refs.wms
          ].filter((a, i, all): a is string => a !== undefined && all.indexOf(a) === i)
          yield* Effect.mapError(
            Effect.forEach(aliases.length === 0 ? [undefined] : aliases, (alias) => store.putShipment(shipment.id, alias, body), {
              discard: true
            }),
            storageError("register")
          )
          remember(infos, shipment.id, info)
          yield* locks.withLock(
            shipment.id,
            Effect.gen(function* () {
              const existing = yield* loadRecord(shipment.id, "register")
              if (existing !== undefined) return
              const state = ShipmentState.empty(shipment.id, shipment.companyId)
              const audit = Audit.chain(shipment.id, undefined, [
                { at: now, kind: "registered", body: JSON.stringify({ orderId: intake.order.id, shipmentId: shipment.id }) }
              ])
              const record = new ShipmentRecord.ShipmentRecord({
                state,
                billing: ShipmentRecord.Billing.initial,
                audit: { seq: audit[0]!.seq, hash: audit[0]!.hash }
              })
              const result = yield* Effect.mapError(
                store.commit({
                  shipmentId: shipment.id,
                  expectedVersion: 0,
                  body: ShipmentRecord.toJson(record),
                  idempotencyKeys: [],
                  events: [],
                  audit,
                  outbox: []
                }),
                storageError("register")
              )
              if (result._tag === "Committed") remember(records, shipment.id, { version: result.version, record })
            })
          )
          ids.push(shipment.id)
        }
        return ids
      })

    const commitWith = <R>(
      shipmentId: string,
      method: string,
      step: (
        record: ShipmentRecord.ShipmentRecord,
        info: ShipmentRecord.ShipmentInfo,
        now: number
      ) => Effect.Effect<
        | { readonly _tag: "Skip"; readonly value: R }
        | {
            readonly _tag: "Commit"
            readonly record: ShipmentRecord.ShipmentRecord
            readonly audits: ReadonlyArray<{ readonly kind: string; readonly body: string }>
            readonly idempotencyKeys: ReadonlyArray<string>
            readonly events: ReadonlyArray<{ readonly id: string; readonly body: string }>
            readonly actions: ReadonlyArray<Flows.ActionDraft>
            readonly result: (enqueued: ReadonlyArray<string>) => R
          },
        IngestError
      >
    ) =>
      locks.withLock(
        shipmentId,
        Effect.gen(function* () {
          for (let attempt = 0; attempt <= maxConflicts; attempt++) {
            const loaded = yield* loadRecord(shipmentId, method)
            const info = yield* loadInfo(shipmentId, method)
            if (loaded === undefined || info === undefined) {
              return yield* new IngestError({
                reason: "NotFound",
                module: MODULE,
                method,
                description: `shipment ${shipmentId} is not registered`,
                shipmentId
              })
            }
            const now = yield* Clock.currentTimeMillis
            const decision = yield* step(loaded.record, info, now)
            if (decision._tag === "Skip") return decision.value
            const entries = Audit.chain(
              shipmentId,
              loaded.record.audit,
              decision.audits.map((a) => ({ at: now, ...a }))
            )
            const head = entries[entries.length - 1]
            const record = new ShipmentRecord.ShipmentRecord(
              { ...decision.record, audit: head === undefined ? loaded.record.audit : { seq: head.seq, hash: head.hash } },
              true
            )
            const result = yield* Effect.mapError(
              store.commit({
                shipmentId,
                expectedVersion: loaded.version,
                body: ShipmentRecord.toJson(record),
                idempotencyKeys: decision.idempotencyKeys,
                events: decision.events,
                audit: entries,
                outbox: Flows.toOutbox(shipmentId, decision.actions, now)
              }),
              storageError(method)
            )
            if (result._tag === "Committed") {
              remember(records, shipmentId, { version: result.version, record })
              return decision.result(result.enqueued)
            }
            records.delete(shipmentId)
            yield* Metric.increment(Metrics.conflicts)
          }
          return yield* new IngestError({
            reason: "Conflict",
            module: MODULE,
            method,
            description: `shipment ${shipmentId} kept changing under ${maxConflicts} attempts`,
            shipmentId
          })
        })
      )

    /**
     * Applies a shipment's events in order to its record: one outcome, plan and audit entry per
     * event, exactly as ingesting them one by one would, but committed together.
     */
    const applyGroup = (
      record: ShipmentRecord.ShipmentRecord,
      info: ShipmentRecord.ShipmentInfo,
      items: ReadonlyArray<{ readonly index: number; readonly event: ShipmentEvent.ShipmentEvent; readonly key: string }>,
      now: number
    ) => {
      let current = record
      const audits: Array<{ kind: string; body: string }> = []
      const idempotencyKeys: Array<string> = []
      const events: Array<{ id: string; body: string }> = []
      const actions: Array<Flows.ActionDraft> = []
      const done: Array<{ index: number; result: Omit<IngestResult, "enqueued">; actions: ReadonlyArray<string> }> = []
      const rejected: Array<{ index: number; error: IngestError }> = []
      const holds: Array<ShipmentRecord.HoldReason> = []
      let released = 0
      for (const { index, event, key } of items) {
        const outcome = ShipmentState.apply(current.state, event)
        if (outcome._tag === "Duplicate") {
          done.push({ index, result: duplicateResult(event), actions: [] })
          continue
        }
        if (outcome._tag === "Anomaly" && outcome.anomaly.reason === "foreign_event") {
          rejected.push({
            index,
            error: new IngestError({
              reason: "Invalid",
              module: MODULE,
              method: "ingest",
              description: outcome.anomaly.detail,
              eventId: event.id,
              shipmentId: event.shipmentId
            })
          })
          continue
        }
        const reached = outcome._tag === "Accepted" || outcome._tag === "Anomaly" ? outcome.reached : []
        const retracted = outcome._tag === "Accepted" || outcome._tag === "Anomaly" ? outcome.retracted : []
        const plan = Flows.plan({
          config: flows,
          info,
          record: current,
          state: outcome.state,
          reached,
          retracted,
          now: Instant.fromMillis(now)
        })
        holds.push(...plan.newHolds)
        if (plan.record.billing.status === "released" && current.billing.status !== "released") released++
        current = plan.record
        const reachedKeys = reached.map(Milestone.key)
        const retractedKeys = retracted.map((r) => Milestone.key(r.milestone))
        const anomaly = outcome._tag === "Anomaly" ? outcome.anomaly.reason : undefined
        const actionKeys = plan.actions.map((a) => a.key)
        audits.push({
          kind: "event",
          body: JSON.stringify({
            eventId: event.id,
            source: event.source,
            outcome: outcome._tag,
            ...(anomaly !== undefined ? { anomaly } : {}),
            reached: reachedKeys,
            retracted: retractedKeys,
            actions: actionKeys,
            billing: plan.record.billing.status
          })
        })
        idempotencyKeys.push(key)
        events.push({ id: key, body: ShipmentRecord.eventJson(event) })
        actions.push(...plan.actions)
        done.push({
          index,
          actions: actionKeys,
          result: {
            shipmentId: event.shipmentId,
            eventId: event.id,
            outcome: outcome._tag,
            reached: reachedKeys,
            retracted: retractedKeys,
            ...(anomaly !== undefined ? { anomaly } : {})
          }
        })
      }
      const outcome = (enqueued: ReadonlyArray<string>) => {
        const added = new Set(enqueued)
        return {
          results: done.map((d) => ({ index: d.index, result: { ...d.result, enqueued: d.actions.filter((k) => added.has(k)) } })),
          rejected,
          holds,
          released
        }
      }
      return audits.length === 0
        ? ({ _tag: "Skip", value: outcome([]) } as const)
        : ({ _tag: "Commit", record: current, audits, idempotencyKeys, events, actions, result: outcome } as const)
    }

    const ingestMany: PipelineShape["ingestMany"] = (events) =>
      Effect.gen(function* () {
        const start = yield* Clock.currentTimeMillis
        const keys = events.map(idempotencyKey)
        const seen = keys.length === 0 ? [] : yield* Effect.mapError(store.seen(keys), storageError("ingest"))
        const results: Array<IngestResult | undefined> = new Array(events.length)
        const rejected: Array<{ readonly event: ShipmentEvent.ShipmentEvent; readonly error: IngestError }> = []
        const groups = new Map<string, Array<{ index: number; event: ShipmentEvent.ShipmentEvent; key: string }>>()
        const inBatch = new Set<string>()
        events.forEach((event, index) => {
          const key = keys[index]!
          // Seen before, or earlier in this batch: a retransmission, dropped before any work.
          if (seen[index] === true || inBatch.has(key)) {
            results[index] = duplicateResult(event)
            return
          }
          inBatch.add(key)
          const group = groups.get(event.shipmentId)
          if (group === undefined) groups.set(event.shipmentId, [{ index, event, key }])
          else group.push({ index, event, key })
        })
        const holds: Array<ShipmentRecord.HoldReason> = []
        let released = 0
        yield* Effect.forEach(
          groups,
          ([shipmentId, items]) =>
            commitWith(shipmentId, "ingest", (record, info, now) => Effect.succeed(applyGroup(record, info, items, now))).pipe(
              Effect.map((outcome) => {
                for (const r of outcome.results) results[r.index] = r.result
                for (const r of outcome.rejected) rejected.push({ event: events[r.index]!, error: r.error })
                holds.push(...outcome.holds)
                released += outcome.released
              }),
              Effect.catchIf(
                (e) => !PortError.isRetryable(e.reason),
                (error) => Effect.sync(() => items.forEach((item) => rejected.push({ event: item.event, error })))
              )
            ),
          { concurrency: 16, discard: true }
        )
        const end = yield* Clock.currentTimeMillis
        const done = results.filter((r): r is IngestResult => r !== undefined)
        // One step for all the counters of the batch (plain in-memory updates).
        yield* Effect.sync(() => {
          for (const result of done) {
            tagged(Metrics.events, "outcome", result.outcome).unsafeUpdate(1, [])
            for (const m of result.reached) tagged(Metrics.milestones, "milestone", m.split(":")[0]!).unsafeUpdate(1, [])
            if (result.anomaly !== undefined) tagged(Metrics.anomalies, "reason", result.anomaly).unsafeUpdate(1, [])
            if (result.retracted.length > 0) Metrics.withdrawals.unsafeUpdate(result.retracted.length, [])
          }
          for (const h of holds) tagged(Metrics.holds, "reason", h).unsafeUpdate(1, [])
          if (released > 0) Metrics.invoicesReleased.unsafeUpdate(released, [])
          if (events.length > 0) Metrics.ingestLatency.unsafeUpdate((end - start) / events.length, [])
        })
        return { results: done, rejected }
      }).pipe(Effect.withSpan("waybill.ingest", { attributes: { events: events.length }, captureStackTrace: false }))

    const ingest: PipelineShape["ingest"] = (event) =>
      Effect.flatMap(ingestMany([event]), ({ results, rejected }) =>
        rejected[0] !== undefined ? Effect.fail(rejected[0].error) : Effect.succeed(results[0]!)
      )

    const deadLetter = (message: InboundMessage, error: IngestError, shipmentId?: string) =>
      Effect.gen(function* () {
        const payload = JSON.stringify(encodeMessage(message))
        const now = yield* Clock.currentTimeMillis
        const id = `inbound:${createHash("sha256").update(payload).digest("hex").slice(0, 32)}`
        yield* Effect.mapError(
          store.putDeadLetter({
            id,
            kind: "inbound",
            target: message._tag === "Event" ? message.event.source : message.source,
            ...(shipmentId !== undefined ? { shipmentId } : {}),
            failedAt: now,
            attempts: 1,
            error: JSON.stringify(encodeIngestError(error)),
            payload
          }),
          storageError("receive")
        )
        yield* Metric.increment(
          Metric.tagged(Metric.tagged(Metrics.deadLetters, "target", "ingest"), "reason", error.reason)
        )
        yield* Effect.logWarning("inbound message dead-lettered", { id, reason: error.reason, description: error.description })
      })

    const route = (source: string, observation: CarrierPort.Observation) =>
      Effect.gen(function* () {
        const shipmentId = yield* Effect.mapError(store.findByTracking(observation.trackingNumber), storageError("receive"))
        if (shipmentId === undefined) {
          return yield* new IngestError({
            reason: "NotFound",
            module: MODULE,
            method: "receive",
            description: `no shipment has tracking number ${observation.trackingNumber} (source ${source})`,
            eventId: observation.event.id
          })
        }
        const info = yield* loadInfo(shipmentId, "receive")
        if (info === undefined) {
          return yield* new IngestError({
            reason: "NotFound",
            module: MODULE,
            method: "receive",
            description: `shipment ${shipmentId} is not registered`,
            shipmentId
          })
        }
        return ShipmentEvent.fromDraft(observation.event, info.shipment.id, info.shipment.companyId)
      })

    const permanent = (e: IngestError) => !PortError.isRetryable(e.reason)

    /** Turns one inbound message into events to ingest, each with the message to dead-letter it by. */
    const toEvents = (message: InboundMessage, rejected: Array<IngestError>) =>
      Effect.gen(function* () {
        const out: Array<{ readonly event: ShipmentEvent.ShipmentEvent; readonly origin: InboundMessage }> = []
        const reject = (origin: InboundMessage, error: IngestError, shipmentId?: string) =>
          Effect.zipRight(deadLetter(origin, error, shipmentId), Effect.sync(() => void rejected.push(error)))
        const routed = (source: string, observation: CarrierPort.Observation, origin: InboundMessage) =>
          route(source, observation).pipe(
            Effect.map((event) => void out.push({ event, origin })),
            Effect.catchIf(permanent, (e) => reject(origin, e, e.shipmentId))
          )
        switch (message._tag) {
          case "Event":
            out.push({ event: message.event, origin: message })
            break
          case "Observation":
            yield* routed(message.source, message.observation, message)
            break
          case "Request": {
            const carrier = carriers.get(message.source)
            const request: CarrierPort.InboundRequest = {
              headers: message.headers,
              body: message.body,
              receivedAt: message.receivedAt
            }
            const observations = yield* (
              carrier === undefined
                ? Effect.fail(
                    new IngestError({
                      reason: "Invalid",
                      module: MODULE,
                      method: "receive",
                      description: `no carrier adapter for source ${message.source}`
                    })
                  )
                : carrier.verify(request).pipe(
                    Effect.zipRight(carrier.parse(request)),
                    Effect.mapError(
                      (e) =>
                        new IngestError({
                          reason: e.reason,
                          module: MODULE,
                          method: "receive",
                          description: e.message,
                          cause: e
                        })
                    )
                  )
            ).pipe(
              Effect.catchIf(permanent, (e) => Effect.as(reject(message, e), [] as ReadonlyArray<CarrierPort.Observation>))
            )
            for (const observation of observations) {
              yield* routed(message.source, observation, { _tag: "Observation", source: message.source, observation })
            }
            break
          }
        }
        return out
      })

    const receiveMany: PipelineShape["receiveMany"] = (messages) =>
      Effect.gen(function* () {
        const rejected: Array<IngestError> = []
        const pending: Array<{ readonly event: ShipmentEvent.ShipmentEvent; readonly origin: InboundMessage }> = []
        for (const message of messages) pending.push(...(yield* toEvents(message, rejected)))
        const ingested = yield* ingestMany(pending.map((p) => p.event))
        for (const { event, error } of ingested.rejected) {
          const origin = pending.find((p) => p.event === event)!.origin
          yield* deadLetter(origin, error, event.shipmentId)
          rejected.push(error)
        }
        return { results: ingested.results, rejected }
      })

    const receive: PipelineShape["receive"] = (message) => receiveMany([message])

    const approve: PipelineShape["approve"] = (shipmentId, approval, by) =>
      commitWith(shipmentId, "approve", (record, info, now) =>
        Effect.gen(function* () {
          const billing = new ShipmentRecord.Billing({
            ...record.billing,
            approvals: record.billing.approvals.includes(approval)
              ? record.billing.approvals
              : [...record.billing.approvals, approval]
          })
          const plan = Flows.plan({
            config: flows,
            info,
            record: new ShipmentRecord.ShipmentRecord({ ...record, billing }, true),
            state: record.state,
            reached: [],
            retracted: [],
            now: Instant.fromMillis(now)
          })
          if (plan.record.billing.status === "released" && record.billing.status !== "released") {
            yield* Metric.increment(Metrics.invoicesReleased)
          }
          return {
            _tag: "Commit",
            record: plan.record,
            audits: [
              {
                kind: "command",
                body: JSON.stringify({ command: "approve", approval, by, actions: plan.actions.map((a) => a.key) })
              }
            ],
            idempotencyKeys: [],
            events: [],
            actions: plan.actions,
            result: (enqueued) => ({
              shipmentId,
              eventId: `approve:${approval}`,
              outcome: "Accepted",
              reached: [],
              retracted: [],
              enqueued
            })
          } as const
        })
      ).pipe(
        Effect.zipRight(loadRecord(shipmentId, "approve")),
        Effect.map((loaded) => loaded!.record.billing)
      )

    const shape: PipelineShape = {
      register,
      ingest,
      ingestMany,
      receive,
      receiveMany,
      approve,
      record: (shipmentId) => Effect.map(loadRecord(shipmentId, "record"), (r) => r?.record),
      info: (shipmentId) => loadInfo(shipmentId, "info"),
      flows
    }
    return shape
  })

const taggedCache = new WeakMap<Metric.Metric.Counter<number>, Map<string, Metric.Metric.Counter<number>>>()
/** Tagged counters, created once per tag value. */
const tagged = (metric: Metric.Metric.Counter<number>, key: string, value: string): Metric.Metric.Counter<number> => {
  let byTag = taggedCache.get(metric)
  if (byTag === undefined) taggedCache.set(metric, (byTag = new Map()))
  const id = `${key}=${value}`
  let m = byTag.get(id)
  if (m === undefined) byTag.set(id, (m = Metric.tagged(metric, key, value)))
  return m
}

const duplicateResult = (event: ShipmentEvent.ShipmentEvent): IngestResult => ({
  shipmentId: event.shipmentId,
  eventId: event.id,
  outcome: "Duplicate",
  reached: [],
  retracted: [],
  enqueued: []
})

/**
 * A layer providing the `Pipeline` over the `Store` in context.
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<Pipeline, never, Store.Store> =>
  Layer.effect(Pipeline, make(options))
