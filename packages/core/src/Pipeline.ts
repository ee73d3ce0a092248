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
import * as KeyedLock from "./internal/KeyedLock.js"
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
   * Handles any inbound message. Permanent failures are dead-lettered here and reported in the
   * result; only retryable failures fail the effect (the caller should redeliver).
   */
  readonly receive: (
    message: InboundMessage
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

    const commitWith = (
      shipmentId: string,
      method: string,
      step: (
        record: ShipmentRecord.ShipmentRecord,
        info: ShipmentRecord.ShipmentInfo,
        now: number
      ) => Effect.Effect<
        | { readonly _tag: "Skip"; readonly value: IngestResult }
        | {
            readonly _tag: "Commit"
            readonly record: ShipmentRecord.ShipmentRecord
            readonly audit: { readonly kind: string; readonly body: string }
            readonly idempotencyKeys: ReadonlyArray<string>
            readonly events: ReadonlyArray<{ readonly id: string; readonly body: string }>
            readonly actions: ReadonlyArray<Flows.ActionDraft>
            readonly result: (enqueued: ReadonlyArray<string>) => IngestResult
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
            const [entry] = Audit.chain(shipmentId, loaded.record.audit, [{ at: now, ...decision.audit }])
            const record = new ShipmentRecord.ShipmentRecord(
              { ...decision.record, audit: { seq: entry!.seq, hash: entry!.hash } },
              true
            )
            const result = yield* Effect.mapError(
              store.commit({
                shipmentId,
                expectedVersion: loaded.version,
                body: ShipmentRecord.toJson(record),
                idempotencyKeys: decision.idempotencyKeys,
                events: decision.events,
                audit: [entry!],
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

    const ingest: PipelineShape["ingest"] = (event) =>
      Effect.gen(function* () {
        const start = yield* Clock.currentTimeMillis
        const key = idempotencyKey(event)
        const [seen] = yield* Effect.mapError(store.seen([key]), storageError("ingest"))
        if (seen === true) {
          yield* Metric.increment(tagged(Metrics.events, "outcome", "Duplicate"))
          return duplicateResult(event)
        }
        const result = yield* commitWith(event.shipmentId, "ingest", (record, info, now) =>
          Effect.gen(function* () {
            const outcome = ShipmentState.apply(record.state, event)
            if (outcome._tag === "Duplicate") return { _tag: "Skip", value: duplicateResult(event) } as const
            if (outcome._tag === "Anomaly" && outcome.anomaly.reason === "foreign_event") {
              return yield* new IngestError({
                reason: "Invalid",
                module: MODULE,
                method: "ingest",
                description: outcome.anomaly.detail,
                eventId: event.id,
                shipmentId: event.shipmentId
              })
            }
            const reached = outcome._tag === "Accepted" || outcome._tag === "Anomaly" ? outcome.reached : []
            const retracted = outcome._tag === "Accepted" || outcome._tag === "Anomaly" ? outcome.retracted : []
            const plan = Flows.plan({
              config: flows,
              info,
              record,
              state: outcome.state,
              reached,
              retracted,
              now: Instant.fromMillis(now)
            })
            for (const h of plan.newHolds) yield* Metric.increment(tagged(Metrics.holds, "reason", h))
            if (plan.record.billing.status === "released" && record.billing.status !== "released") {
              yield* Metric.increment(Metrics.invoicesReleased)
            }
            const reachedKeys = reached.map(Milestone.key)
            const retractedKeys = retracted.map((r) => Milestone.key(r.milestone))
            const anomaly = outcome._tag === "Anomaly" ? outcome.anomaly.reason : undefined
            return {
              _tag: "Commit",
              record: plan.record,
              audit: {
                kind: "event",
                body: JSON.stringify({
                  eventId: event.id,
                  source: event.source,
                  outcome: outcome._tag,
                  ...(anomaly !== undefined ? { anomaly } : {}),
                  reached: reachedKeys,
                  retracted: retractedKeys,
                  actions: plan.actions.map((a) => a.key),
                  billing: plan.record.billing.status
                })
              },
              idempotencyKeys: [key],
              events: [{ id: key, body: ShipmentRecord.eventJson(event) }],
              actions: plan.actions,
              result: (enqueued) => ({
                shipmentId: event.shipmentId,
                eventId: event.id,
                outcome: outcome._tag,
                reached: reachedKeys,
                retracted: retractedKeys,
                enqueued,
                ...(anomaly !== undefined ? { anomaly } : {})
              })
            } as const
          })
        )
        const end = yield* Clock.currentTimeMillis
        // One step for all the counters of this event (they are plain in-memory updates).
        yield* Effect.sync(() => {
          tagged(Metrics.events, "outcome", result.outcome).unsafeUpdate(1, [])
          for (const m of result.reached) tagged(Metrics.milestones, "milestone", m.split(":")[0]!).unsafeUpdate(1, [])
          if (result.anomaly !== undefined) tagged(Metrics.anomalies, "reason", result.anomaly).unsafeUpdate(1, [])
          if (result.retracted.length > 0) Metrics.withdrawals.unsafeUpdate(result.retracted.length, [])
          Metrics.ingestLatency.unsafeUpdate(end - start, [])
        })
        return result
      }).pipe(Effect.withSpan("waybill.ingest", {
        attributes: { shipmentId: event.shipmentId, eventId: event.id },
        captureStackTrace: false
      }))

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

    const receive: PipelineShape["receive"] = (message) =>
      Effect.gen(function* () {
        const results: Array<IngestResult> = []
        const rejected: Array<IngestError> = []
        const handle = (single: InboundMessage, effect: Effect.Effect<IngestResult, IngestError>) =>
          effect.pipe(
            Effect.tap((r) => Effect.sync(() => results.push(r))),
            Effect.catchIf(permanent, (e) =>
              Effect.zipRight(
                deadLetter(single, e, single._tag === "Event" ? single.event.shipmentId : e.shipmentId),
                Effect.sync(() => rejected.push(e))
              )
            ),
            Effect.asVoid
          )
        switch (message._tag) {
          case "Event":
            yield* handle(message, ingest(message.event))
            break
          case "Observation":
            yield* handle(message, Effect.flatMap(route(message.source, message.observation), ingest))
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
              Effect.catchIf(permanent, (e) =>
                Effect.zipRight(
                  deadLetter(message, e),
                  Effect.sync(() => {
                    rejected.push(e)
                    return [] as ReadonlyArray<CarrierPort.Observation>
                  })
                )
              )
            )
            for (const observation of observations) {
              const single: InboundMessage = { _tag: "Observation", source: message.source, observation }
              yield* handle(single, Effect.flatMap(route(message.source, observation), ingest))
            }
            break
          }
        }
        return { results, rejected }
      })

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
            audit: {
              kind: "command",
              body: JSON.stringify({ command: "approve", approval, by, actions: plan.actions.map((a) => a.key) })
            },
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
      receive,
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
