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
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { LRUCache } from "lru-cache"
import * as Audit from "./Audit.js"
import * as CarrierPort from "./CarrierPort.js"
import * as ErpPort from "./ErpPort.js"
import * as ExternalRefs from "./ExternalRefs.js"
import * as Flows from "./Flows.js"
import { eventAuditBody } from "./internal/auditBody.js"
import * as Construct from "./internal/construct.js"
import { describeDefect } from "./internal/defect.js"
import * as Inbound from "./internal/inbound.js"
import { sha256Hex } from "./internal/sha256.js"
import * as Ids from "./Ids.js"
import * as Instant from "./Instant.js"
import * as KeyedLock from "./KeyedLock.js"
import * as Metrics from "./Metrics.js"
import * as Milestone from "./Milestone.js"
import * as Order from "./Order.js"
import * as PortError from "./PortError.js"
import * as Shipment from "./Shipment.js"
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
  /**
   * Decoded records kept per process (least recently used out), by version. Default 20,000
   * (a decoded 5-event record takes ~5 KB). Not used when the store keeps them (MemoryStore).
   */
  readonly cacheSize?: number
  /**
   * Shipments' reference data and tracking-number routes kept per process (least recently used
   * out). Default 100,000 (~2 KB each): size it to the shipments in flight, since a miss reads
   * and decodes the shipment from the store.
   */
  readonly infoCacheSize?: number
  /**
   * How long a tracking number → shipment lookup is reused, in milliseconds. Default 60,000.
   * Carriers recycle tracking numbers after months; 0 looks every number up.
   */
  readonly routeCacheMillis?: number
}

/**
 * The pipeline's operations.
 *
 * @since 0.1.0
 */
export interface PipelineShape {
  /**
   * Registers an order's shipments (idempotent): reference data, tracking index and an empty
   * record. A shipment registered before keeps the identifiers the new intake leaves out (its
   * tracking number, its packages' tracking numbers, its `refs`; the label's carrier and
   * service while the tracking number is the same); what the intake gives wins. The same
   * shipment id for another company or order fails with an `Invalid` `IngestError` and writes
   * nothing, as does a shipment called `ops` ({@link Audit.OPS}: its audit stream would be the
   * operators'). A shipment with `cancelledAt` (the ERP cancelled it) then gets its cancellation
   * ingested as an event of source `erp` (see {@link erpCancellation}), once per shipment however
   * often it is registered; the state machine decides it (cancelled before dispatch, an anomaly
   * after). Fails with a permanent `IngestError` if that event cannot be ingested.
   */
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
  /**
   * Approves a raised hold (damage, weight, POD, return to the sender) on a shipment's invoice; audited in the shipment's
   * stream. An approval of a hold that is not raised changes nothing.
   *
   * An approval covers what the record holds when it is applied, not what the operator saw:
   * without `seenVersion`, a second damage or a new weight that arrived between the operator
   * looking at the shipment and approving is approved too. Pass the version the operator was
   * shown ({@link PipelineShape.versioned}, or the facade's `ShipmentSummary.version`) as
   * `seenVersion`: if the record changed since (any commit: an event, another approval), the
   * approval is refused with a `Conflict` `IngestError` naming both versions, nothing is approved
   * or audited, and the operator looks again.
   */
  readonly approve: (
    shipmentId: Ids.ShipmentId,
    approval: ShipmentRecord.Approval,
    by: string,
    options?: ApproveOptions
  ) => Effect.Effect<ShipmentRecord.Billing, IngestError>
  /** A shipment's current record. */
  readonly record: (shipmentId: string) => Effect.Effect<ShipmentRecord.ShipmentRecord | undefined, IngestError>
  /**
   * A shipment's current record with its stored version (what `approve`'s `seenVersion` takes);
   * `undefined` if it has no record.
   *
   * @since 0.2.0
   */
  readonly versioned: (
    shipmentId: string
  ) => Effect.Effect<{ readonly version: number; readonly record: ShipmentRecord.ShipmentRecord } | undefined, IngestError>
  /** A shipment's reference data. */
  readonly info: (shipmentId: string) => Effect.Effect<ShipmentRecord.ShipmentInfo | undefined, IngestError>
  readonly flows: Flows.FlowConfig
}

/**
 * Options of {@link PipelineShape.approve}.
 *
 * @since 0.2.0
 */
export interface ApproveOptions {
  /**
   * The record's stored version the operator saw when deciding (from `versioned`, or the facade's
   * `ShipmentSummary.version`). If the record has moved since, the approval is refused
   * (`IngestError`, `Conflict`). Without it, the approval covers whatever the record holds when
   * it is applied, including what arrived after the operator looked.
   */
  readonly seenVersion?: number
}

/**
 * The pipeline service.
 *
 * @since 0.1.0
 */
export class Pipeline extends Context.Tag("@waybill/core/Pipeline")<Pipeline, PipelineShape>() {}

const MODULE = "@waybill/core/Pipeline"

/** A least-recently-used cache of `size` entries (none when `size` is 0). */
type Mutable<A> = { -readonly [K in keyof A]: A[K] }

const cache = <V extends {}>(size: number): LRUCache<string, V> | NoCache<V> =>
  size > 0 ? new LRUCache<string, V>({ max: Math.floor(size) }) : new NoCache<V>()

class NoCache<V> {
  get(_: string): V | undefined {
    return undefined
  }
  has(_: string): boolean {
    return false
  }
  set(_: string, __: V): this {
    return this
  }
  delete(_: string): boolean {
    return false
  }
}

/** What a step decided for one shipment: nothing to write, or a commit. */
interface Skip<R> {
  readonly _tag: "Skip"
  readonly value: R
}
interface Commit<R> {
  readonly _tag: "Commit"
  readonly record: ShipmentRecord.ShipmentRecord
  readonly audits: ReadonlyArray<{ readonly kind: string; readonly body: string }>
  readonly idempotencyKeys: ReadonlyArray<string>
  readonly events: ReadonlyArray<Store.CommitEvent>
  readonly actions: ReadonlyArray<Flows.ActionDraft>
  readonly result: (enqueued: ReadonlyArray<string>) => R
}
type Decision<R> = Skip<R> | Commit<R>

const encodeInfo = Schema.encodeSync(ShipmentRecord.ShipmentInfo)
const decodeInfo = Schema.decodeUnknownEither(ShipmentRecord.ShipmentInfo)
/** A shipment's stored reference data (`swapShipment`'s body), or `undefined` if it is corrupt. */
const storedInfo = (body: string): ShipmentRecord.ShipmentInfo | undefined => {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return undefined
  }
  const decoded = decodeInfo(parsed)
  return Either.isRight(decoded) ? decoded.right : undefined
}
/** The fingerprint of a stored reference data body (`ShipmentRecord.reference`). */
const referenceOf = (body: string): string => sha256Hex(body).slice(0, 16)
const encodeMessage = Schema.encodeSync(InboundMessage)
const encodeIngestError = Schema.encodeSync(IngestError)
const isApproval = Schema.is(ShipmentRecord.Approval)

/**
 * How many times a registration merges a shipment's reference data again when other processes
 * keep changing it under it (`Store.swapShipment` conflicts) before it fails with `Conflict`.
 */
const REGISTER_ATTEMPTS = 16

/** A carrier's events of one request, read one by one when the adapter can (`parseEach`). */
const parseEach = (
  carrier: CarrierPort.CarrierPortShape,
  request: CarrierPort.InboundRequest
): Effect.Effect<CarrierPort.Parsed, PortError.CarrierError> =>
  carrier.parseEach !== undefined
    ? carrier.parseEach(request)
    : Effect.map(carrier.parse(request), (observations) => ({ observations, unreadable: [] }))

/** Why a request is kept although some of its events went in: the events its adapter could not read. */
const unreadableEvents = (source: string, unreadable: ReadonlyArray<string>, read: number) => {
  const more = unreadable.length > 3 ? ` (and ${unreadable.length - 3} more)` : ""
  return new IngestError({
    reason: "Invalid",
    module: MODULE,
    method: "receive",
    description:
      `${unreadable.length} event(s) of this ${source} request cannot be read: ${unreadable.slice(0, 3).join("; ")}${more}; ` +
      (read > 0
        ? `the ${read} observation(s) read from the others were ingested; replaying this letter after the fix ingests the rest`
        : "nothing of it was ingested; replay this letter after the fix")
  })
}

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
  `${event.source}|${event.id}|${sha256Hex(ShipmentState.contentKey(event)).slice(0, 16)}`

/**
 * The event that reports an ERP's cancellation of a shipment (`Shipment.cancelledAt`): a
 * `cancelled` status of source `erp`, raw code `erp.cancelled`, that occurred at `cancelledAt`.
 * Its id is derived from the shipment's id alone, so every registration of the cancelled
 * shipment makes the same event (`Pipeline.register` ingests it once).
 *
 * @since 0.2.0
 */
export const erpCancellation = (
  shipment: Pick<Shipment.Shipment, "id" | "companyId">,
  cancelledAt: Instant.Instant,
  receivedAt: Instant.Instant
): ShipmentEvent.StatusReported => {
  const id = `erp.cancelled:${shipment.id}`
  return new ShipmentEvent.StatusReported({
    id: Ids.EventId.make(id.length <= 200 ? id : `erp.cancelled:${sha256Hex(shipment.id)}`),
    shipmentId: shipment.id,
    companyId: shipment.companyId,
    source: "erp",
    occurredAt: cancelledAt,
    receivedAt,
    raw: new ShipmentEvent.RawCode({ code: "erp.cancelled", description: "the delivery was cancelled in the ERP" }),
    status: "cancelled"
  })
}

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
    const routeCacheMillis = options.routeCacheMillis ?? 60_000
    /** Set once the store hands back committed records itself (an in-process store): the cache is then redundant. */
    let storeKeepsValues = false
    const locks = KeyedLock.make()
    const records = cache<{ readonly version: number; readonly record: ShipmentRecord.ShipmentRecord }>(cacheSize)
    const infos = cache<ShipmentRecord.ShipmentInfo>(options.infoCacheSize ?? 100_000)
    /** The fingerprint of the stored body each reference data this process holds was read from or written as. */
    const references = new WeakMap<ShipmentRecord.ShipmentInfo, string>()

    /** The event logs of records that must be decoded, fetched together (bodies in log order). */
    const eventLogs = (shipmentIds: ReadonlyArray<string>, method: string) =>
      Effect.mapError(
        Effect.forEach(shipmentIds, (id) => Effect.map(store.events(id), (log) => log.map((e) => e.body)), {
          concurrency: "unbounded"
        }),
        storageError(method)
      )

    type Held = { readonly version: number; readonly record: ShipmentRecord.ShipmentRecord } | undefined

    /** The record without decoding: the store's in-process value, or this process's cached version. */
    const inMemory = (stored: Store.LoadedRecord, held: Held): ShipmentRecord.ShipmentRecord | undefined => {
      if (stored.value instanceof ShipmentRecord.ShipmentRecord) {
        // The store lives in this process and kept the committed record: no decoding, no cache.
        storeKeepsValues = true
        return stored.value
      }
      // A body sent for the version this process holds means the store could not vouch that it
      // is the body this process saw (a version lost in a failover and committed again by
      // another process, with another body): the body wins.
      return held !== undefined && held.version === stored.version && stored.body === undefined ? held.record : undefined
    }

    /** Whether a loaded record needs its body decoded (and so its event log). */
    const needsDecoding = (stored: Store.LoadedRecord | undefined, held: Held) =>
      stored !== undefined && inMemory(stored, held) === undefined

    /** A stored record as the runtime's value: handed back by the store, from the cache, or decoded. */
    const materialize = (
      stored: Store.LoadedRecord,
      held: Held,
      log: ReadonlyArray<string> | undefined,
      method: string
    ): ShipmentRecord.ShipmentRecord | IngestError => {
      const kept = inMemory(stored, held)
      if (kept !== undefined) return kept
      const decoded =
        stored.body === undefined ? Either.left(new Error("the store sent no body")) : ShipmentRecord.fromJson(stored.body, log)
      if (Either.isLeft(decoded)) return corruptRecord(stored.shipmentId, method, decoded.left)
      records.set(stored.shipmentId, { version: stored.version, record: decoded.right })
      return decoded.right
    }

    const loadRecord = (shipmentId: string, method: string) =>
      Effect.gen(function* () {
        const held = records.get(shipmentId)
        const [stored] = yield* Effect.mapError(
          store.loadMany([held === undefined ? { shipmentId } : { shipmentId, knownVersion: held.version }]),
          storageError(method)
        )
        if (stored === undefined) return undefined
        const [log] = needsDecoding(stored, held) ? yield* eventLogs([shipmentId], method) : [undefined]
        const record = materialize(stored, held, log, method)
        if (record instanceof IngestError) return yield* record
        return { version: stored.version, record }
      })

    /** The references a registration gives (fields left out are absent, not `undefined`). */
    const definedOnly = (refs: ExternalRefs.ExternalRefs): Partial<ExternalRefs.ExternalRefs> =>
      Object.fromEntries(Object.entries(refs).filter(([, v]) => v !== undefined))

    const withoutTracking = ({ trackingNumber: _t, ...p }: Shipment.Package): Shipment.Package => new Shipment.Package(p)

    /**
     * The shipments' reference data as stored (not as cached: another process may have
     * registered them since): the body as read, the compare value of `swapShipment`, and what it
     * decodes to (`undefined` when corrupt: the registration writes it anew). A shipment not
     * registered is absent.
     */
    const storedInfos = (shipmentIds: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        const bodies = yield* Effect.mapError(store.getShipments(shipmentIds), storageError("register"))
        const out = new Map<string, { readonly body: string; readonly info: ShipmentRecord.ShipmentInfo | undefined }>()
        for (const [i, shipmentId] of shipmentIds.entries()) {
          const body = bodies[i]
          if (body === undefined) continue
          const info = storedInfo(body)
          if (info !== undefined) references.set(info, referenceOf(body))
          else yield* Effect.logWarning("stored shipment is corrupt; registering it anew", { shipmentId })
          out.set(shipmentId, { body, info })
        }
        return out
      })

    /**
     * Refuses a registration that gives a shipment id already registered for another company or
     * another order: its record, events and tracking numbers belong to the first one (a reused
     * id, not a change of the same delivery), and the state machine treats events of another
     * company as foreign.
     */
    const reused = (stored: ShipmentRecord.ShipmentInfo, shipment: Shipment.Shipment): IngestError | undefined =>
      stored.shipment.companyId === shipment.companyId && stored.shipment.orderId === shipment.orderId
        ? undefined
        : new IngestError({
            reason: "Invalid",
            module: MODULE,
            method: "register",
            description:
              `shipment ${shipment.id} is registered for company ${stored.shipment.companyId}, order ` +
              `${stored.shipment.orderId}; it cannot be registered again for company ${shipment.companyId}, ` +
              `order ${shipment.orderId}`,
            shipmentId: shipment.id
          })

    /**
     * A shipment registered again: what the new intake gives wins, identifiers it leaves out are
     * kept from the stored shipment (a poll of the ERP re-registers what the ERP knows, without
     * the label the host bought since). Kept: the tracking number, references (`refs`) field by
     * field, and the package list when the intake gives none, or each listed package's tracking
     * number by package id. The label's own data (carrier, service, the carrier's reference and
     * the packages' tracking numbers) is kept only while the tracking number stays the same: a
     * new tracking number is a new label. Everything else (address, weights, `cancelledAt`, the
     * order's data) is the new intake's.
     */
    const keepIdentifiers = (stored: Shipment.Shipment, next: Shipment.Shipment): Shipment.Shipment => {
      const sameLabel = next.trackingNumber === undefined || next.trackingNumber === stored.trackingNumber
      const trackingNumber = next.trackingNumber ?? stored.trackingNumber
      const carrier = next.carrier ?? (sameLabel ? stored.carrier : undefined)
      const service = next.service ?? (sameLabel ? stored.service : undefined)
      const { carrier: storedCarrierRef, ...storedRefs } = stored.refs
      const refs = new ExternalRefs.ExternalRefs({
        ...storedRefs,
        ...(sameLabel && storedCarrierRef !== undefined ? { carrier: storedCarrierRef } : {}),
        ...definedOnly(next.refs)
      })
      const packageTracking = new Map(
        sameLabel ? stored.packages.flatMap((p) => (p.trackingNumber !== undefined ? [[p.id, p.trackingNumber] as const] : [])) : []
      )
      const packages =
        next.packages.length === 0
          ? stored.packages.map((p) => (sameLabel || p.trackingNumber === undefined ? p : withoutTracking(p)))
          : next.packages.map((p) => {
              const kept = p.trackingNumber === undefined ? packageTracking.get(p.id) : undefined
              return kept === undefined ? p : new Shipment.Package({ ...p, trackingNumber: kept })
            })
      const { carrier: _c, service: _s, trackingNumber: _t, refs: _r, packages: _p, ...rest } = next
      return new Shipment.Shipment({
        ...rest,
        refs,
        packages,
        ...(carrier !== undefined ? { carrier } : {}),
        ...(service !== undefined ? { service } : {}),
        ...(trackingNumber !== undefined ? { trackingNumber } : {})
      })
    }

    /**
     * A registered shipment's record before any event: billing waiting, `audit` its stream's head,
     * `reference` the fingerprint of its stored reference data.
     */
    const emptyRecord = (shipment: Shipment.Shipment, audit: Store.AuditHead, reference: string | undefined) =>
      new ShipmentRecord.ShipmentRecord({
        state: ShipmentState.empty(shipment.id, shipment.companyId),
        billing: ShipmentRecord.Billing.initial,
        ...(reference !== undefined ? { reference } : {}),
        audit
      })

    /**
     * The `registered` audit entry a shipment's stream starts with, and the one a registration
     * that changed the reference data writes: `reference` the fingerprint of the reference data
     * registered; `recovered` says why the first command after a registration cut before its
     * record wrote it instead.
     */
    const registration = (
      orderId: string,
      shipmentId: string,
      reference: string | undefined,
      recovered?: string,
      actions: ReadonlyArray<string> = []
    ) => ({
      kind: "registered",
      body: JSON.stringify({
        orderId,
        shipmentId,
        ...(reference !== undefined ? { reference } : {}),
        ...(recovered !== undefined ? { recovered } : {}),
        ...(actions.length > 0 ? { actions } : {})
      })
    })

    const register: PipelineShape["register"] = (intake) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const ids: Array<Ids.ShipmentId> = []
        const shipmentIds = intake.shipments.map((s) => s.id)
        // Registered before, with other reference data: the record takes the new fingerprint.
        const changed = new Map<string, ShipmentRecord.ShipmentInfo>()
        // Registered before without the tracking number this registration brings.
        const newTracking = new Set<string>()
        // The shipments' locks are held from reading the stored info to writing the merged one,
        // so two registrations in this process do not drop each other's data.
        yield* locks.withLocks(
          shipmentIds,
          Effect.gen(function* () {
            const stored = yield* storedInfos(shipmentIds)
            // Refused before anything is written.
            for (const shipment of intake.shipments) {
              if (shipment.id === Audit.OPS) {
                return yield* new IngestError({
                  reason: "Invalid",
                  module: MODULE,
                  method: "register",
                  description: `a shipment cannot be called ${Audit.OPS}: that is the name of the operators' audit stream`,
                  shipmentId: shipment.id
                })
              }
              const before = stored.get(shipment.id)?.info
              const problem = before === undefined ? undefined : reused(before, shipment)
              if (problem !== undefined) return yield* problem
            }
            for (const given of intake.shipments) {
              // Another process may write the same shipment's reference data between this read
              // and this write: the write is a compare-and-set on the body read, and on a conflict
              // the merge is made again from what the other process wrote.
              let read = stored.get(given.id)
              let merged: { readonly shipment: Shipment.Shipment; readonly info: ShipmentRecord.ShipmentInfo; readonly body: string } | undefined
              for (let attempt = 1; merged === undefined; attempt++) {
                const before = read?.info
                const problem = before === undefined ? undefined : reused(before, given)
                if (problem !== undefined) return yield* problem
                const shipment = before === undefined ? given : keepIdentifiers(before.shipment, given)
                const info = new ShipmentRecord.ShipmentInfo({
                  shipment,
                  customer: intake.order.customer,
                  orderTotal: Order.total(intake.order)
                })
                const body = JSON.stringify(encodeInfo(info))
                // Sources find the shipment by its tracking number, its packages' tracking
                // numbers, or the warehouse's reference (pick and pack happen before any tracking
                // number exists).
                const aliases = [shipment.trackingNumber, ...shipment.packages.map((p) => p.trackingNumber), shipment.refs.wms]
                  .filter((a, i, all): a is string => a !== undefined && all.indexOf(a) === i)
                const swapped = yield* Effect.mapError(
                  store.swapShipment(shipment.id, read?.body, body, aliases),
                  storageError("register")
                )
                if (swapped) merged = { shipment, info, body }
                else if (attempt >= REGISTER_ATTEMPTS) {
                  return yield* new IngestError({
                    reason: "Conflict",
                    module: MODULE,
                    method: "register",
                    description:
                      `the reference data of shipment ${given.id} changed ${attempt} times while it was being ` +
                      "registered (other processes registering it at once); nothing of this registration was written for it",
                    shipmentId: given.id
                  })
                } else read = (yield* storedInfos([given.id])).get(given.id)
              }
              const { body, info, shipment } = merged
              if (read?.info !== undefined && shipment.trackingNumber !== undefined && read.info.shipment.trackingNumber === undefined) {
                newTracking.add(shipment.id)
              }
              const reference = referenceOf(body)
              references.set(info, reference)
              infos.set(shipment.id, info)
              // the same shipment twice in one intake: the second merges with the first
              stored.set(shipment.id, { body, info })
              const existing = yield* loadRecord(shipment.id, "register")
              if (existing !== undefined) {
                if (existing.record.reference !== reference) changed.set(shipment.id, info)
                else changed.delete(shipment.id)
              } else {
                const audit = Audit.chain(shipment.id, undefined, [
                  { at: now, ...registration(intake.order.id, shipment.id, reference) }
                ])
                const record = emptyRecord(shipment, { seq: audit[0]!.seq, hash: audit[0]!.hash }, reference)
                const result = yield* Effect.mapError(
                  store.commit({
                    shipmentId: shipment.id,
                    expectedVersion: 0,
                    body: ShipmentRecord.toJson(record),
                    value: record,
                    idempotencyKeys: [],
                    events: [],
                    audit,
                    outbox: []
                  }),
                  storageError("register")
                )
                if (result._tag === "Committed") records.set(shipment.id, { version: result.version, record })
                // Another process committed the first record meanwhile, with the fingerprint of
                // the reference data it wrote, which this registration may have written over:
                // stamped below if so.
                else changed.set(shipment.id, info)
              }
              ids.push(shipment.id)
            }
          })
        )
        // The records of shipments whose reference data changed take its fingerprint, in a commit
        // of their own (audited): every process reads the reference data again at its next commit.
        if (changed.size > 0) {
          const stamped = yield* commitShipments(
            [...changed.keys()],
            "register",
            (shipmentId, record, info, now): Decision<undefined> => {
              const reference = references.get(info)
              if (reference === undefined || reference === record.reference) return { _tag: "Skip", value: undefined }
              // Holds are re-evaluated on every commit: a declared weight corrected in the ERP
              // lifts (or raises) a weight hold now, not at an event that may never come; a
              // tracking number registered after the dispatch is written back now.
              const plan = Flows.plan({
                config: flows,
                info,
                record: Construct.trusted(ShipmentRecord.ShipmentRecord, { ...record, reference }),
                state: record.state,
                reached: [],
                retracted: [],
                now: Instant.fromMillis(now),
                trackingRegistered: newTracking.has(shipmentId)
              })
              return {
                _tag: "Commit",
                record: plan.record,
                audits: [registration(info.shipment.orderId, shipmentId, reference, undefined, plan.actions.map((a) => a.key))],
                idempotencyKeys: [],
                events: [],
                actions: plan.actions,
                result: () => {
                  for (const h of plan.newHolds) holdsBy(h).unsafeUpdate(1, [])
                  if (plan.record.billing.status === "released" && record.billing.status !== "released") {
                    Metrics.invoicesReleased.unsafeUpdate(1, [])
                  }
                  return undefined
                }
              }
            },
            changed
          )
          for (const outcome of stamped.values()) if (outcome instanceof IngestError) return yield* outcome
        }
        // Cancellations by the ERP, through the ingest path. A shipment that holds the event
        // already (by id: its `cancelledAt` may have moved since, Odoo's `write_date` does) is
        // left as it is, so a registration repeated by every poll changes nothing.
        const cancellations: Array<ShipmentEvent.ShipmentEvent> = []
        for (const shipment of intake.shipments) {
          if (shipment.cancelledAt === undefined) continue
          const event = erpCancellation(shipment, shipment.cancelledAt, Instant.fromMillis(now))
          const current = yield* loadRecord(shipment.id, "register")
          if (current?.record.state.events.some((e) => e.id === event.id) === true) continue
          cancellations.push(event)
        }
        if (cancellations.length > 0) {
          const { rejected } = yield* ingestEvents(cancellations)
          if (rejected[0] !== undefined) return yield* rejected[0].error
        }
        return ids
      })

    /**
     * Reference data of many shipments: from the cache, the misses with one store call. Returns
     * what it found (a batch may hold more shipments than the cache) and the corrupt ones.
     */
    const ensureInfos = (
      shipmentIds: ReadonlyArray<string>,
      method: string,
      known?: ReadonlyMap<string, ShipmentRecord.ShipmentInfo>
    ) =>
      Effect.gen(function* () {
        const found = new Map<string, ShipmentRecord.ShipmentInfo>()
        const corrupt = new Map<string, IngestError>()
        const misses: Array<string> = []
        for (const id of shipmentIds) {
          const hit = known?.get(id) ?? infos.get(id)
          if (hit !== undefined) found.set(id, hit)
          else misses.push(id)
        }
        if (misses.length === 0) return { found, corrupt }
        yield* readInfos(misses, method, found, corrupt)
        return { found, corrupt }
      })

    /**
     * Reads the shipments' reference data from the store into `found` (and the cache), the
     * corrupt ones into `corrupt`; a shipment without any is in neither.
     */
    const readInfos = (
      shipmentIds: ReadonlyArray<string>,
      method: string,
      found: Map<string, ShipmentRecord.ShipmentInfo>,
      corrupt: Map<string, IngestError>
    ) =>
      Effect.map(Effect.mapError(store.getShipments(shipmentIds), storageError(method)), (bodies) =>
        shipmentIds.forEach((shipmentId, i) => {
          const body = bodies[i]
          if (body === undefined) return
          const info = storedInfo(body)
          if (info !== undefined) {
            references.set(info, referenceOf(body))
            found.set(shipmentId, info)
            infos.set(shipmentId, info)
          } else {
            corrupt.set(
              shipmentId,
              new IngestError({ reason: "Bug", module: MODULE, method, description: `stored shipment ${shipmentId} is corrupt`, shipmentId })
            )
          }
        })
      )

    /**
     * Whether the reference data this process holds for a record is older than the record's:
     * registered again since (by another process) with other data.
     */
    const staleInfo = (record: ShipmentRecord.ShipmentRecord, info: ShipmentRecord.ShipmentInfo): boolean =>
      record.reference !== undefined && references.get(info) !== record.reference

    /**
     * The record of a shipment whose reference data is stored but whose record is not: what
     * `register` commits (an empty state of the info's company, initial billing). Its audit head is
     * the GENESIS hash at seq 0, as `Audit.chain` starts a stream without a head.
     */
    const notRegistered = (shipmentId: string, method: string) =>
      new IngestError({
        reason: "NotFound",
        module: MODULE,
        method,
        description: `shipment ${shipmentId} is not registered`,
        shipmentId
      })

    /**
     * Runs one step per shipment against its current record and commits the results together:
     * the shipments' locks are taken at once, their records loaded with one store call (bodies
     * this process already holds are not shipped again), the steps run as plain functions, and
     * the commits go in one `commitMany`. A lost version CAS reloads and re-runs that shipment's
     * step. Per shipment the result is the step's value or a permanent `IngestError`; a
     * retryable failure fails the whole call (what was committed stays committed).
     *
     * A shipment whose reference data is stored but whose record is not (a registration cut
     * between its `swapShipment` and its first commit: a crash, a failed store call) is registered
     * here: the step runs on an empty record (no audit head: its stream starts at GENESIS), and the
     * commit, at version 0, starts with the `registered` audit entry the registration would have
     * written, marked `recovered`. A registration committing version 0 meanwhile is a lost CAS
     * like any other: the record is reloaded and the step runs again.
     */
    const commitShipments = <R>(
      shipmentIds: ReadonlyArray<string>,
      method: string,
      step: (
        shipmentId: string,
        record: ShipmentRecord.ShipmentRecord,
        info: ShipmentRecord.ShipmentInfo,
        now: number,
        /** The record's stored version (0 for a record not yet committed). */
        version: number
      ) => Decision<R>,
      /** Reference data the caller already resolved in this batch. */
      known?: ReadonlyMap<string, ShipmentRecord.ShipmentInfo>
    ): Effect.Effect<Map<string, R | IngestError>, IngestError> =>
      locks.withLocks(
        shipmentIds,
        Effect.gen(function* () {
          const out = new Map<string, R | IngestError>()
          const { corrupt, found } = yield* ensureInfos(shipmentIds, method, known)
          let pending: Array<string> = []
          for (const id of shipmentIds) {
            const problem = corrupt.get(id)
            if (problem !== undefined) out.set(id, problem)
            else if (!found.has(id)) out.set(id, notRegistered(id, method))
            else pending.push(id)
          }
          for (let attempt = 0; pending.length > 0; attempt++) {
            if (attempt > maxConflicts) {
              return yield* new IngestError({
                reason: "Conflict",
                module: MODULE,
                method,
                description: `shipment ${pending[0]} kept changing under ${maxConflicts} attempts`,
                shipmentId: pending[0]!
              })
            }
            const held = pending.map((id) => records.get(id))
            const loaded = yield* Effect.mapError(
              store.loadMany(
                pending.map((shipmentId, i) => {
                  const version = held[i]?.version
                  return version === undefined ? { shipmentId } : { shipmentId, knownVersion: version }
                })
              ),
              storageError(method)
            )
            const decode = pending.filter((_, i) => needsDecoding(loaded[i], held[i]))
            const logs = new Map<string, ReadonlyArray<string>>()
            if (decode.length > 0) (yield* eventLogs(decode, method)).forEach((log, i) => logs.set(decode[i]!, log))
            // Reference data without a record: a registration cut before its first commit.
            const currents = pending.map((id, i) => {
              const stored = loaded[i]
              if (stored !== undefined) return materialize(stored, held[i], logs.get(id), method)
              const info = found.get(id)
              return info === undefined ? undefined : emptyRecord(info.shipment, { seq: 0, hash: Audit.GENESIS }, references.get(info))
            })
            // Registered again since, by another process: the reference data is read again first.
            const stale = pending.filter((id, i) => {
              const current = currents[i]
              const info = found.get(id)
              return current instanceof ShipmentRecord.ShipmentRecord && info !== undefined && staleInfo(current, info)
            })
            if (stale.length > 0) yield* readInfos(stale, method, found, corrupt)
            const now = yield* Clock.currentTimeMillis
            const commits: Array<Store.Commit> = []
            const made: Array<{ readonly id: string; readonly record: ShipmentRecord.ShipmentRecord; readonly decision: Commit<R> }> = []
            pending.forEach((id, i) => {
              const stored = loaded[i]
              const problem = corrupt.get(id)
              if (problem !== undefined) return void out.set(id, problem)
              const info = found.get(id)
              if (info === undefined) return void out.set(id, notRegistered(id, method))
              const current = currents[i]!
              if (current instanceof IngestError) return void out.set(id, current)
              const version = stored?.version ?? 0
              const decision = step(id, current, info, now, version)
              if (decision._tag === "Skip") return void out.set(id, decision.value)
              const drafts = stored === undefined
                ? [registration(info.shipment.orderId, id, current.reference, `the record was missing; created at the first ${method}`), ...decision.audits]
                : decision.audits
              const entries = Audit.chain(
                id,
                stored === undefined ? undefined : current.audit,
                drafts.map((a) => ({ at: now, kind: a.kind, body: a.body }))
              )
              const head = entries[entries.length - 1]
              // The decided record with the new audit head, copied once.
              const record: Mutable<ShipmentRecord.ShipmentRecord> = Construct.trusted(ShipmentRecord.ShipmentRecord, decision.record)
              record.audit = head === undefined ? current.audit : { seq: head.seq, hash: head.hash }
              // The body is encoded only if the store reads it: an in-process store keeps `value`.
              const encodeBody = bodyEncoder(record)
              commits.push({
                shipmentId: id,
                expectedVersion: version,
                get body() {
                  return encodeBody()
                },
                value: record,
                encodeBody,
                idempotencyKeys: decision.idempotencyKeys,
                events: decision.events,
                audit: entries,
                outbox: Flows.toOutbox(id, decision.actions, now)
              })
              made.push({ id, record, decision })
            })
            const results = commits.length === 0 ? [] : yield* Effect.mapError(store.commitMany(commits), storageError(method))
            pending = []
            made.forEach(({ decision, id, record }, i) => {
              const result = results[i]!
              if (result._tag === "Committed") {
                if (!storeKeepsValues) records.set(id, { version: result.version, record })
                out.set(id, decision.result(result.enqueued))
              } else {
                records.delete(id)
                Metrics.conflicts.unsafeUpdate(1, [])
                pending.push(id)
              }
            })
          }
          return out
        })
      )

    const corruptRecord = (shipmentId: string, method: string, cause: ParseResult.ParseError | Error) =>
      new IngestError({
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

    /** The instant `applyGroup` last planned at (instants are immutable values: shared). */
    let planned: Instant.Instant | undefined

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
      const events: Array<Store.CommitEvent> = []
      const actions: Array<Flows.ActionDraft> = []
      const done: Array<{ index: number; result: Omit<IngestResult, "enqueued">; actions: ReadonlyArray<string> }> = []
      const rejected: Array<{ index: number; error: IngestError }> = []
      const holds: Array<ShipmentRecord.HoldReason> = []
      const compensations: Array<Flows.Compensation> = []
      let released = 0
      // First the state machine over all the shipment's events of the batch, then one plan per
      // recorded event; billing is settled once, on the last, over the final state.
      const recorded: Array<{
        readonly index: number
        readonly event: ShipmentEvent.ShipmentEvent
        readonly key: string
        readonly outcome: ShipmentState.Accepted | ShipmentState.Stale | ShipmentState.Anomaly
      }> = []
      let state = record.state
      for (const { index, event, key } of items) {
        const outcome = ShipmentState.apply(state, event)
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
        recorded.push({ index, event, key, outcome })
        state = outcome.state
      }
      // Withdrawals of milestones the shipment held before this commit: they may hold billing.
      const billingRetracted: Array<Milestone.MilestoneRetracted> = []
      for (const { outcome } of recorded) {
        if (outcome._tag === "Stale") continue
        for (const r of outcome.retracted) {
          if (ShipmentState.has(record.state.view, Milestone.key(r.milestone))) billingRetracted.push(r)
        }
      }
      // The groups of a batch are planned at the same `now`: one instant for all of them.
      const at = planned !== undefined && Instant.toMillis(planned) === now ? planned : (planned = Instant.fromMillis(now))
      for (const [i, { event, index, key, outcome }] of recorded.entries()) {
        const reached = outcome._tag === "Stale" ? [] : outcome.reached
        const retracted = outcome._tag === "Stale" ? [] : outcome.retracted
        const last = i === recorded.length - 1
        const plan = Flows.plan({
          config: flows,
          info,
          record: current,
          state: outcome.state,
          reached,
          retracted,
          now: at,
          cause: event.id,
          ...(outcome._tag === "Anomaly" && outcome.anomaly.reason === "conflicting_duplicate"
            ? { copy: key.slice(key.lastIndexOf("|") + 1) }
            : {}),
          settleBilling: last,
          billingRetracted
        })
        holds.push(...plan.newHolds)
        compensations.push(...plan.compensations)
        if (plan.record.billing.status === "released" && current.billing.status !== "released") released++
        current = plan.record
        const reachedKeys = reached.map(Milestone.key)
        const retractedKeys = retracted.map((r) => Milestone.key(r.milestone))
        const anomaly = outcome._tag === "Anomaly" ? outcome.anomaly.reason : undefined
        const actionKeys = plan.actions.map((a) => a.key)
        audits.push({
          kind: "event",
          body: eventAuditBody(event, outcome._tag, anomaly, reachedKeys, retractedKeys, actionKeys, plan.record.billing.status)
        })
        idempotencyKeys.push(key)
        events.push(new LogEntry(key, event))
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
        // The usual case: the store enqueued every action, in the order planned. Each event's
        // enqueued keys are then its planned keys, with no set and no filter.
        let all = enqueued.length === actions.length
        for (let i = 0; all && i < enqueued.length; i++) all = enqueued[i] === actions[i]!.key
        const added = all && compensations.length === 0 ? undefined : new Set(enqueued)
        const results: Array<{ index: number; result: IngestResult }> = []
        for (let i = 0; i < done.length; i++) {
          const { actions: keys, index, result: r } = done[i]!
          const enqueuedKeys = all ? keys : keys.filter((k) => added!.has(k))
          const { anomaly, eventId, outcome: kind, reached, retracted, shipmentId } = r
          // The fields in the order results always had (JSON of a result does not change).
          const result: IngestResult =
            anomaly === undefined
              ? { shipmentId, eventId, outcome: kind, reached, retracted, enqueued: enqueuedKeys }
              : { shipmentId, eventId, outcome: kind, reached, retracted, anomaly, enqueued: enqueuedKeys }
          results.push({ index, result })
        }
        return {
          results,
          rejected,
          holds,
          // A case action the store had already (a retried commit's) is not counted again.
          compensations: compensations.length === 0 ? compensations : compensations.filter((c) => added!.has(c.key)),
          released
        }
      }
      const decision: Decision<ReturnType<typeof outcome>> =
        audits.length === 0
          ? { _tag: "Skip", value: outcome([]) }
          : { _tag: "Commit", record: current, audits, idempotencyKeys, events, actions, result: outcome }
      return decision
    }

    const ingestMany: PipelineShape["ingestMany"] = (events) => ingestEvents(events)

    /** `ingestMany`, reusing the reference data `receiveMany` already resolved for the batch. */
    const ingestEvents = (
      events: ReadonlyArray<ShipmentEvent.ShipmentEvent>,
      known?: ReadonlyMap<string, ShipmentRecord.ShipmentInfo>
    ): ReturnType<PipelineShape["ingestMany"]> =>
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
        const compensations: Array<Flows.Compensation> = []
        let released = 0
        const outcomes = yield* commitShipments([...groups.keys()], "ingest", (shipmentId, record, info, now) =>
          applyGroup(record, info, groups.get(shipmentId)!, now),
          known
        )
        for (const [shipmentId, outcome] of outcomes) {
          if (outcome instanceof IngestError) {
            for (const item of groups.get(shipmentId)!) rejected.push({ event: item.event, error: outcome })
            continue
          }
          for (const r of outcome.results) results[r.index] = r.result
          for (const r of outcome.rejected) rejected.push({ event: events[r.index]!, error: r.error })
          holds.push(...outcome.holds)
          compensations.push(...outcome.compensations)
          released += outcome.released
        }
        const end = yield* Clock.currentTimeMillis
        const done = results.filter((r): r is IngestResult => r !== undefined)
        // One step for all the counters of the batch (plain in-memory updates).
        yield* Effect.sync(() => {
          for (const result of done) {
            eventsBy(result.outcome).unsafeUpdate(1, [])
            for (const m of result.reached) {
              // The milestone's kind: its key up to the first ":" (the whole key without one).
              const colon = m.indexOf(":")
              milestonesBy(colon < 0 ? m : m.slice(0, colon)).unsafeUpdate(1, [])
            }
            if (result.anomaly !== undefined) anomaliesBy(result.anomaly).unsafeUpdate(1, [])
            if (result.retracted.length > 0) Metrics.withdrawals.unsafeUpdate(result.retracted.length, [])
          }
          for (const h of holds) holdsBy(h).unsafeUpdate(1, [])
          for (const c of compensations) compensationsBy(c.reason).unsafeUpdate(1, [])
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
        // A raw request handed over directly (not through `Worker.publish`) may still carry the
        // credentials of the host's endpoint: they are not kept.
        const payload = JSON.stringify(encodeMessage(Inbound.storable(message)))
        const now = yield* Clock.currentTimeMillis
        const id = Inbound.letterId(payload)
        // A replay of a dead letter counts its attempts on, and learns what was kept.
        const replay = yield* FiberRef.get(Inbound.replaying)
        yield* Effect.mapError(
          store.putDeadLetter({
            id,
            kind: "inbound",
            target: message._tag === "Event" ? message.event.source : message.source,
            ...(shipmentId !== undefined ? { shipmentId } : {}),
            failedAt: now,
            attempts: replay === undefined ? 1 : replay.attempts + 1,
            error: JSON.stringify(encodeIngestError(error)),
            payload
          }),
          storageError("receive")
        )
        replay?.kept.push(id)
        yield* Metric.increment(
          Inbound.deadLetters(error.reason)
        )
        yield* Effect.logWarning("inbound message dead-lettered", { id, reason: error.reason, description: error.description })
      })

    const permanent = (e: IngestError) => !PortError.isRetryable(e.reason)

    /** Tracking number → shipment id, kept `routeCacheMillis` (a carrier may reuse a number later). */
    const routes = cache<{ readonly shipmentId: string; readonly until: number }>(options.infoCacheSize ?? 100_000)

    /**
     * Resolves tracking numbers: from the cache, the rest with one store call. Returns the
     * numbers found (a batch may hold more numbers than the cache keeps).
     */
    const resolveRoutes = (trackingNumbers: ReadonlyArray<string>, now: number) =>
      Effect.gen(function* () {
        const resolved = new Map<string, string>()
        const misses = new Set<string>()
        for (const n of trackingNumbers) {
          const hit = routes.get(n)
          if (hit !== undefined && hit.until > now) resolved.set(n, hit.shipmentId)
          else misses.add(n)
        }
        if (misses.size === 0) return resolved
        const asked = [...misses]
        const found = yield* Effect.mapError(store.findManyByTracking(asked), storageError("receive"))
        asked.forEach((n, i) => {
          const shipmentId = found[i]
          if (shipmentId === undefined) return void routes.delete(n)
          resolved.set(n, shipmentId)
          routes.set(n, { shipmentId, until: now + routeCacheMillis })
        })
        return resolved
      })

    const carrierError = (e: PortError.CarrierError) =>
      new IngestError({ reason: e.reason, module: MODULE, method: "receive", description: e.message, cause: e })

    /**
     * Handles a batch of inbound messages: carrier requests are verified and parsed, observations
     * routed by tracking number (one store lookup for the numbers not cached), and all their
     * events ingested with one `ingestMany`, in message order. Permanent failures are
     * dead-lettered with the message they came from.
     */
    const receiveMany: PipelineShape["receiveMany"] = (messages) =>
      Effect.gen(function* () {
        const rejected: Array<IngestError> = []
        const failed: Array<{
          readonly origin: InboundMessage
          readonly error: IngestError
          readonly shipmentId?: string
          /** The raw request it was read from, if any (its letters, written, settle the request). */
          readonly request?: InboundMessage | undefined
        }> = []
        type Item =
          | { readonly _tag: "Event"; readonly event: ShipmentEvent.ShipmentEvent; readonly origin: InboundMessage }
          | {
              readonly _tag: "Observation"
              readonly observation: CarrierPort.Observation
              readonly source: string
              /** Absent for an observation read from a request: made when it is dead-lettered (see `originOf`). */
              readonly origin: InboundMessage | undefined
              /** The raw request it was read from, if any. */
              readonly request?: InboundMessage | undefined
            }
        /** The message an item is dead-lettered as: its own, or the observation read from a request. */
        const originOf = (item: Item): InboundMessage =>
          item._tag === "Event" ? item.origin : (item.origin ?? { _tag: "Observation", source: item.source, observation: item.observation })
        const items: Array<Item> = []
        for (const message of messages) {
          switch (message._tag) {
            case "Event":
              items.push({ _tag: "Event", event: message.event, origin: message })
              break
            case "Observation":
              items.push({ _tag: "Observation", observation: message.observation, source: message.source, origin: message })
              break
            case "Request": {
              const carrier = carriers.get(message.source)
              if (carrier === undefined) {
                failed.push({
                  origin: message,
                  error: new IngestError({
                    reason: "Invalid",
                    module: MODULE,
                    method: "receive",
                    description: `no carrier adapter for source ${message.source}`
                  })
                })
                break
              }
              const request: CarrierPort.InboundRequest = { headers: message.headers, body: message.body, receivedAt: message.receivedAt }
              const parsed = yield* Effect.either(
                Effect.zipRight(carrier.verify(request), parseEach(carrier, request)).pipe(
                  // An adapter that throws on a payload it did not expect is a bug for this
                  // request (dead-lettered with the crash), not a reason to stop ingesting.
                  Effect.catchAllDefect((defect) =>
                    Effect.fail(
                      new PortError.CarrierError({
                        reason: "Bug",
                        module: MODULE,
                        method: "receive",
                        description: `the ${message.source} adapter crashed on this request: ${describeDefect(defect)}`
                      })
                    )
                  )
                )
              )
              if (Either.isLeft(parsed)) {
                const error = carrierError(parsed.left)
                if (!permanent(error)) return yield* error
                failed.push({ origin: message, error })
                break
              }
              const { observations, unreadable } = parsed.right
              for (const observation of observations) {
                items.push({ _tag: "Observation", observation, source: message.source, origin: undefined, request: message })
              }
              // What could be read goes in; the request is kept for the rest, and its replay
              // (after the adapter or its config is fixed) ingests them, the others being
              // recognized as duplicates.
              if (unreadable.length > 0) {
                failed.push({ origin: message, error: unreadableEvents(message.source, unreadable, observations.length), request: message })
              }
              break
            }
          }
        }
        const now = yield* Clock.currentTimeMillis
        const tracking: Array<string> = []
        for (const item of items) if (item._tag === "Observation") tracking.push(item.observation.trackingNumber)
        const resolved = tracking.length === 0 ? new Map<string, string>() : yield* resolveRoutes(tracking, now)
        const targets = new Set(resolved.values())
        const { corrupt, found } = yield* ensureInfos([...targets], "receive")
        const pending: Array<ShipmentEvent.ShipmentEvent> = []
        /** The item each pending event came from (same positions). */
        const pendingItems: Array<Item> = []
        for (const item of items) {
          if (item._tag === "Event") {
            pending.push(item.event)
            pendingItems.push(item)
            continue
          }
          const { observation, source } = item
          const shipmentId = resolved.get(observation.trackingNumber)
          if (shipmentId === undefined) {
            failed.push({
              origin: originOf(item),
              error: new IngestError({
                reason: "NotFound",
                module: MODULE,
                method: "receive",
                description: `no shipment has tracking number ${observation.trackingNumber} (source ${source})`,
                eventId: observation.event.id
              }),
              request: item.request
            })
            continue
          }
          const info = found.get(shipmentId)
          if (info === undefined) {
            failed.push({
              origin: originOf(item),
              error: corrupt.get(shipmentId) ?? notRegistered(shipmentId, "receive"),
              shipmentId,
              request: item.request
            })
            continue
          }
          const event = ShipmentEvent.fromDraft(observation.event, info.shipment.id, info.shipment.companyId)
          pending.push(event)
          pendingItems.push(item)
        }
        const ingested = yield* ingestEvents(pending, found)
        if (ingested.rejected.length > 0) {
          // Looked up only when something was rejected (an event given twice: its last item).
          const origins = new Map<ShipmentEvent.ShipmentEvent, Item>()
          pending.forEach((event, i) => origins.set(event, pendingItems[i]!))
          for (const { error, event } of ingested.rejected) {
            const item = origins.get(event)!
            failed.push({
              origin: originOf(item),
              error,
              shipmentId: event.shipmentId,
              request: item._tag === "Observation" ? item.request : undefined
            })
          }
        }
        // How many letters of each raw request are still to be written: once all are, the
        // request is settled (`Inbound.replaying`'s `settled`), though they are kept under ids of
        // their own, so a worker ingesting its failed batch again one message at a time does not
        // write (and count) them a second time.
        const remaining = new Map<InboundMessage, number>()
        for (const { request } of failed) if (request !== undefined) remaining.set(request, (remaining.get(request) ?? 0) + 1)
        const replay = remaining.size > 0 ? yield* FiberRef.get(Inbound.replaying) : undefined
        for (const { error, origin, request, shipmentId } of failed) {
          yield* deadLetter(origin, error, shipmentId)
          rejected.push(error)
          if (request === undefined) continue
          const left = remaining.get(request)! - 1
          remaining.set(request, left)
          if (left === 0) replay?.settled?.push(Inbound.letterId(JSON.stringify(encodeMessage(Inbound.storable(request)))))
        }
        return { results: ingested.results, rejected }
      })

    const receive: PipelineShape["receive"] = (message) => receiveMany([message])

    /** Why an approval is refused before anything is read, if it is. */
    const invalidApproval = (shipmentId: unknown, approval: unknown, by: unknown, options: ApproveOptions | undefined): string | undefined => {
      // Not text (a missing form field, a number): the error naming it could not even be made.
      if (typeof shipmentId !== "string" || shipmentId === "") {
        return `an approval needs the shipment id (text), got ${shipmentId === "" ? "an empty one" : shipmentId === null ? "null" : typeof shipmentId}`
      }
      if (!isApproval(approval)) {
        return `approval must be one of ${ShipmentRecord.Approval.literals.map((l) => JSON.stringify(l)).join(", ")}, got ${JSON.stringify(approval)}`
      }
      if (typeof by !== "string" || by.trim() === "") return "an approval needs who gave it (by)"
      const seen = options?.seenVersion
      if (seen !== undefined && !(Number.isSafeInteger(seen) && seen >= 0)) {
        return `seenVersion must be a record version (a non-negative integer), got ${JSON.stringify(seen)}`
      }
      return undefined
    }

    const approve: PipelineShape["approve"] = (shipmentId, approval, by, options) => {
      // From an untyped host (the Promise facade, a command line), a misspelt approval would be
      // audited as a no-op while the caller believes the invoice released.
      const invalid = invalidApproval(shipmentId, approval, by, options)
      const seenVersion = options?.seenVersion
      return invalid !== undefined
        ? Effect.fail(
          new IngestError({
            reason: "Invalid",
            module: MODULE,
            method: "approve",
            description: invalid,
            ...(typeof shipmentId === "string" ? { shipmentId } : {})
          })
        )
        : commitShipments([shipmentId], "approve", (_, record, info, now, version): Decision<ShipmentRecord.Billing | IngestError> => {
        // The operator decided on another version of the record: what arrived since (a second
        // damage, a new weight) would be approved unseen. Refused, nothing written: look again.
        if (seenVersion !== undefined && version !== seenVersion) {
          return {
            _tag: "Skip",
            value: new IngestError({
              reason: "Conflict",
              module: MODULE,
              method: "approve",
              description:
                `shipment ${shipmentId} is at version ${version}, the approval was given on version ${seenVersion}: ` +
                "the record changed since; look at it again before approving",
              shipmentId
            })
          }
        }
        // Only a raised hold can be approved; otherwise the approval is audited and changes nothing.
        // An approval covers what is held at the time: the damage exceptions the carrier has not
        // cleared (open, or passed by a later movement), the measured weight. A damage or a weight
        // reported later holds again and needs an approval of its own.
        const raised = record.billing.holds.includes(ShipmentRecord.approvedHold[approval])
        const billing = raised ? ShipmentRecord.approve(record.billing, approval, record.state.view) : record.billing
        const plan = Flows.plan({
          config: flows,
          info,
          record: Construct.trusted(ShipmentRecord.ShipmentRecord, { ...record, billing }),
          state: record.state,
          reached: [],
          retracted: [],
          now: Instant.fromMillis(now)
        })
        return {
          _tag: "Commit",
          record: plan.record,
          audits: [
            { kind: "command", body: JSON.stringify({ command: "approve", approval, by, actions: plan.actions.map((a) => a.key) }) }
          ],
          idempotencyKeys: [],
          events: [],
          actions: plan.actions,
          result: () => {
            if (plan.record.billing.status === "released" && record.billing.status !== "released") {
              Metrics.invoicesReleased.unsafeUpdate(1, [])
            }
            return plan.record.billing
          }
        }
      }).pipe(
        Effect.flatMap((outcomes) => {
          const outcome = outcomes.get(shipmentId)!
          return outcome instanceof IngestError ? Effect.fail(outcome) : Effect.succeed(outcome)
        })
      )
    }

    const shape: PipelineShape = {
      register,
      ingest,
      ingestMany,
      receive,
      receiveMany,
      approve,
      record: (shipmentId) => Effect.map(loadRecord(shipmentId, "record"), (r) => r?.record),
      versioned: (shipmentId) => loadRecord(shipmentId, "versioned"),
      info: (shipmentId) =>
        Effect.gen(function* () {
          const { corrupt, found } = yield* ensureInfos([shipmentId], "info")
          const cached = found.get(shipmentId)
          if (cached !== undefined) {
            // registered again since, by another process: what is stored now
            const current = yield* loadRecord(shipmentId, "info")
            if (current !== undefined && staleInfo(current.record, cached)) yield* readInfos([shipmentId], "info", found, corrupt)
          }
          const problem = corrupt.get(shipmentId)
          return problem !== undefined ? yield* problem : found.get(shipmentId)
        }),
      flows
    }
    return shape
  })

/**
 * A record's body, encoded on first call. Defined out here so that what an in-process store
 * keeps closes over the record alone, not over a batch's working state.
 */
const bodyEncoder = (record: ShipmentRecord.ShipmentRecord): (() => string) => {
  let body: string | undefined
  return () => (body ??= ShipmentRecord.toJson(record))
}

/**
 * An event log entry: its JSON is made when a store reads `body` (a store that serializes, once)
 * or calls `encodeBody` (an in-process store that keeps the entry, when the log is read). It
 * holds the event alone, which the shipment's state keeps anyway.
 */
class LogEntry implements Store.CommitEvent {
  readonly #event: ShipmentEvent.ShipmentEvent
  #body: string | undefined
  constructor(
    readonly id: string,
    event: ShipmentEvent.ShipmentEvent
  ) {
    this.#event = event
  }
  get body(): string {
    return (this.#body ??= ShipmentRecord.eventJson(this.#event))
  }
  encodeBody(): string {
    return this.#body ?? ShipmentRecord.eventJson(this.#event)
  }
}

/**
 * A counter's tagged variants under one tag key, each created once per tag value: a lookup per
 * update, with no key string built.
 */
const taggedBy = (metric: Metric.Metric.Counter<number>, key: string): ((value: string) => Metric.Metric.Counter<number>) => {
  const byValue = new Map<string, Metric.Metric.Counter<number>>()
  return (value) => {
    let m = byValue.get(value)
    if (m === undefined) byValue.set(value, (m = Metric.tagged(metric, key, value)))
    return m
  }
}
const eventsBy = taggedBy(Metrics.events, "outcome")
const milestonesBy = taggedBy(Metrics.milestones, "milestone")
const anomaliesBy = taggedBy(Metrics.anomalies, "reason")
const holdsBy = taggedBy(Metrics.holds, "reason")
const compensationsBy = taggedBy(Metrics.compensations, "reason")

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
