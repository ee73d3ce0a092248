/**
 * The shipment state machine.
 *
 * The state is a pure function of the *set* of events seen (a join-semilattice: the join of two
 * states is the union of their events). The derived {@link ShipmentView} is computed from that
 * set alone, so any permutation or duplication of the same events gives the same state:
 *
 * - progress is the highest-ranked forward status; a spine status is reached at the earliest
 *   time of any event at or above it (`out_for_delivery` and `available_for_pickup` are
 *   branches, reached only by themselves);
 * - the return track is joined the same way;
 * - a cancellation is valid when no dispatch (or later) scan happened at or before it;
 * - an exception is resolved by any later status scan or an explicit clearance, else open;
 * - a retraction removes the events it names from every computation;
 * - the status shown is cancelled › return track › delivered › newest open exception › progress.
 *
 * {@link apply} adds one event and reports what it did as a value: {@link Accepted} (with the
 * milestones newly reached and those withdrawn), {@link Duplicate}, {@link Stale} (recorded, no
 * change) or {@link Anomaly} (recorded with a reason, e.g. a cancellation after dispatch).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Ids from "./Ids.js"
import * as Instant from "./Instant.js"
import * as Milestone from "./Milestone.js"
import * as ShipmentEvent from "./ShipmentEvent.js"
import * as Status from "./Status.js"
import * as Weight from "./Weight.js"

// -------------------------------------------------------------------------------------------
// schemas
// -------------------------------------------------------------------------------------------

/**
 * Why an event is anomalous.
 *
 * - `cancel_after_dispatch`: a cancellation that happened at or after a dispatch scan;
 * - `progress_after_cancel`: a dispatch-or-later scan after a valid cancellation;
 * - `retraction_of_retraction`: a retraction naming another retraction (ignored);
 * - `conflicting_duplicate`: two copies of one event id with different content;
 * - `foreign_event`: an event of another shipment or company (not recorded).
 *
 * @since 0.1.0
 */
export const AnomalyReason = Schema.Literal(
  "cancel_after_dispatch",
  "progress_after_cancel",
  "retraction_of_retraction",
  "conflicting_duplicate",
  "foreign_event"
)
/** @since 0.1.0 */
export type AnomalyReason = typeof AnomalyReason.Type

/**
 * An anomaly kept in the state, naming the event it concerns.
 *
 * @since 0.1.0
 */
export const AnomalyRecord = Schema.Struct({
  eventId: Ids.EventId,
  reason: AnomalyReason,
  detail: Schema.String
}).annotations({ identifier: "AnomalyRecord" })
/** @since 0.1.0 */
export type AnomalyRecord = typeof AnomalyRecord.Type

/**
 * One exception of the overlay; open while `resolvedAt` is absent.
 *
 * @since 0.1.0
 */
export const ExceptionEntry = Schema.Struct({
  eventId: Ids.EventId,
  kind: Status.ExceptionKind,
  occurredAt: Instant.Instant,
  resolvedAt: Schema.optionalWith(Instant.Instant, { exact: true }),
  raw: ShipmentEvent.RawCode
}).annotations({ identifier: "ExceptionEntry" })
/** @since 0.1.0 */
export type ExceptionEntry = typeof ExceptionEntry.Type

/**
 * The newest scan that does not go backwards: where the shipment was last seen.
 *
 * @since 0.1.0
 */
export const LastScan = Schema.Struct({
  eventId: Ids.EventId,
  status: Schema.Union(Status.ReportedStatus, Status.ExceptionKind),
  at: Instant.Instant,
  location: Schema.optionalWith(ShipmentEvent.Location, { exact: true })
}).annotations({ identifier: "LastScan" })
/** @since 0.1.0 */
export type LastScan = typeof LastScan.Type

/**
 * Everything derived from a shipment's events.
 *
 * @since 0.1.0
 */
export const ShipmentView = Schema.Struct({
  status: Status.DisplayStatus,
  progress: Schema.optionalWith(Status.ForwardStatus, { exact: true }),
  returnProgress: Schema.optionalWith(Status.ReturnStatus, { exact: true }),
  cancelledAt: Schema.optionalWith(Instant.Instant, { exact: true }),
  exceptions: Schema.Array(ExceptionEntry),
  lastScan: Schema.optionalWith(LastScan, { exact: true }),
  measuredWeight: Schema.optionalWith(Weight.Grams, { exact: true }),
  pod: Schema.optionalWith(ShipmentEvent.ProofOfDelivery, { exact: true }),
  unmapped: Schema.Array(Ids.EventId),
  milestones: Schema.Array(Milestone.Milestone),
  anomalies: Schema.Array(AnomalyRecord)
}).annotations({ identifier: "ShipmentView" })
/** @since 0.1.0 */
export type ShipmentView = typeof ShipmentView.Type

/**
 * Exceptions of a view that are still open.
 *
 * @since 0.1.0
 */
export const openExceptions = (view: ShipmentView): ReadonlyArray<ExceptionEntry> =>
  view.exceptions.filter((e) => e.resolvedAt === undefined)

/**
 * Whether a view holds the milestone with this key.
 *
 * @since 0.1.0
 */
export const has = (view: ShipmentView, key: string): boolean => keysOf(view).set.has(key)

/**
 * A shipment's state: the set of events seen (one canonical copy per event id, sorted by id),
 * the other copies of ids that arrived with conflicting content (`variants`), and the view
 * derived from them.
 *
 * @since 0.1.0
 */
export class ShipmentState extends Schema.Class<ShipmentState>("ShipmentState")({
  shipmentId: Ids.ShipmentId,
  companyId: Ids.CompanyId,
  events: Schema.Array(ShipmentEvent.ShipmentEvent),
  variants: Schema.Array(ShipmentEvent.ShipmentEvent),
  view: ShipmentView
}) {
  /** Ids of events withdrawn by a retraction in the set. @since 0.1.0 */
  get retracted(): ReadonlyArray<Ids.EventId> {
    const targets = new Set<string>()
    const retractions = new Set<string>()
    for (const e of this.events) {
      if (e._tag === "Retraction") {
        retractions.add(e.id)
        for (const id of e.retracts) targets.add(id)
      }
    }
    return this.events.filter((e) => !retractions.has(e.id) && targets.has(e.id)).map((e) => e.id)
  }

  /** Event ids that arrived with conflicting content. @since 0.1.0 */
  get conflicts(): ReadonlyArray<Ids.EventId> {
    return conflictIds(this.variants)
  }
}

const conflictIds = (variants: ReadonlyArray<ShipmentEvent.ShipmentEvent>): Array<Ids.EventId> => {
  const ids: Array<Ids.EventId> = []
  for (const v of variants) if (ids[ids.length - 1] !== v.id) ids.push(v.id)
  return ids
}

/**
 * The event was new and changed the view.
 *
 * @since 0.1.0
 */
export const Accepted = Schema.TaggedStruct("Accepted", {
  state: ShipmentState,
  reached: Schema.Array(Milestone.Milestone),
  retracted: Schema.Array(Milestone.MilestoneRetracted),
  anomalies: Schema.Array(AnomalyRecord)
})
/** @since 0.1.0 */
export type Accepted = typeof Accepted.Type

/**
 * The event id was already in the set with the same content.
 *
 * @since 0.1.0
 */
export const Duplicate = Schema.TaggedStruct("Duplicate", {
  state: ShipmentState
})
/** @since 0.1.0 */
export type Duplicate = typeof Duplicate.Type

/**
 * The event was new and is recorded, but it changes nothing (e.g. an in-transit scan after
 * delivery, a retraction of events not seen yet).
 *
 * @since 0.1.0
 */
export const Stale = Schema.TaggedStruct("Stale", {
  state: ShipmentState
})
/** @since 0.1.0 */
export type Stale = typeof Stale.Type

/**
 * The event contradicts the state (`anomaly` says how). It is recorded where it belongs to this
 * shipment, never applied silently; milestone changes it still causes are reported.
 *
 * @since 0.1.0
 */
export const Anomaly = Schema.TaggedStruct("Anomaly", {
  state: ShipmentState,
  anomaly: AnomalyRecord,
  reached: Schema.Array(Milestone.Milestone),
  retracted: Schema.Array(Milestone.MilestoneRetracted),
  anomalies: Schema.Array(AnomalyRecord)
})
/** @since 0.1.0 */
export type Anomaly = typeof Anomaly.Type

/**
 * What applying one event did.
 *
 * @since 0.1.0
 */
export const Outcome = Schema.Union(Accepted, Duplicate, Stale, Anomaly).annotations({ identifier: "Outcome" })
/** @since 0.1.0 */
export type Outcome = typeof Outcome.Type

// -------------------------------------------------------------------------------------------
// derivation
// -------------------------------------------------------------------------------------------

type Event = ShipmentEvent.ShipmentEvent

interface Timed<E> {
  readonly event: E
  readonly ms: number
}

/** Values built here from validated events need no second validation. */
const trusted = { disableValidation: true } as const

const timed = <E extends Event>(event: E): Timed<E> => ({ event, ms: Instant.toMillis(event.occurredAt) })

/** Orders by time, then id: the deterministic tie-break used everywhere. */
const byTime = (a: Timed<Event>, b: Timed<Event>): number =>
  a.ms - b.ms || (a.event.id < b.event.id ? -1 : a.event.id > b.event.id ? 1 : 0)

const earliest = <E extends Event>(items: ReadonlyArray<Timed<E>>): Timed<E> | undefined => {
  let best: Timed<E> | undefined
  for (const item of items) if (best === undefined || byTime(item, best) < 0) best = item
  return best
}

const latest = <E extends Event>(items: ReadonlyArray<Timed<E>>): Timed<E> | undefined => {
  let best: Timed<E> | undefined
  for (const item of items) if (best === undefined || byTime(item, best) > 0) best = item
  return best
}

type StatusEvent = ShipmentEvent.StatusReported

const DISPATCHED = Status.forwardRank("dispatched")

/**
 * Derives the view from a set of events (any order; ids unique). This is the specification the
 * incremental {@link apply} is tested against.
 *
 * @since 0.1.0
 */
export const deriveView = (events: ReadonlyArray<Event>, conflicts: ReadonlyArray<Ids.EventId> = []): ShipmentView => {
  const anomalies: Array<AnomalyRecord> = conflicts.map(
    (eventId) =>
      ({
        eventId,
        reason: "conflicting_duplicate",
        detail: `event ${eventId} arrived twice with different content; the canonical copy is kept`
      })
  )

  // 1. Retractions remove the events they name. Retractions are not retractable.
  const retractions = events.filter((e): e is ShipmentEvent.Retraction => e._tag === "Retraction")
  const retractionIds = new Set<string>(retractions.map((r) => r.id))
  const targets = new Set<string>()
  for (const r of retractions) {
    for (const target of r.retracts) {
      if (retractionIds.has(target)) {
        anomalies.push(
          ({
            eventId: r.id,
            reason: "retraction_of_retraction",
            detail: `retraction ${r.id} names retraction ${target}; retractions cannot be retracted`
          })
        )
      } else targets.add(target)
    }
  }
  const forward: Array<Timed<StatusEvent>> = []
  const returns: Array<Timed<StatusEvent>> = []
  const cancels: Array<Timed<StatusEvent>> = []
  const unknown: Array<Timed<StatusEvent>> = []
  const exceptions: Array<Timed<ShipmentEvent.ExceptionReported>> = []
  const clearances: Array<Timed<ShipmentEvent.ExceptionCleared>> = []
  for (const event of events) {
    if (event._tag === "Retraction") continue
    if (targets.has(event.id)) continue
    switch (event._tag) {
      case "StatusReported": {
        const s = event.status
        if (Status.isForward(s)) forward.push(timed(event))
        else if (Status.isReturn(s)) returns.push(timed(event))
        else if (s === "cancelled") cancels.push(timed(event))
        else unknown.push(timed(event))
        break
      }
      case "ExceptionReported":
        exceptions.push(timed(event))
        break
      case "ExceptionCleared":
        clearances.push(timed(event))
        break
    }
  }

  const rankOf = (e: StatusEvent): number => Status.forwardRank(e.status as Status.ForwardStatus)
  const milestones: Array<Milestone.Milestone> = []

  // 2. Forward track: progress is the highest rank; a spine status is reached at the earliest
  //    time of any event at or above it, a branch status only by an event of that status.
  let progressRank = 0
  for (const f of forward) progressRank = Math.max(progressRank, rankOf(f.event))
  const reachedMs = new Map<Status.ForwardStatus, number>()
  for (const status of Status.forwardStatuses) {
    const rank = Status.forwardRank(status)
    if (rank > progressRank) break
    const branch = Status.branchStatuses.has(status)
    let first: Timed<StatusEvent> | undefined
    for (const f of forward) {
      const matches = branch ? f.event.status === status : rankOf(f.event) >= rank
      if (matches && (first === undefined || f.ms < first.ms)) first = f
    }
    if (first !== undefined) {
      reachedMs.set(status, first.ms)
      // The earliest event's own instant: no new object.
      milestones.push({ _tag: "Reached", status, at: first.event.occurredAt })
    }
  }
  const progress = progressRank === 0 ? undefined : Status.forwardStatuses[progressRank - 1]

  // 3. Return track, joined the same way.
  let returnRank = 0
  for (const r of returns) returnRank = Math.max(returnRank, Status.returnRank(r.event.status as Status.ReturnStatus))
  for (const status of Status.returnStatuses) {
    const rank = Status.returnRank(status)
    if (rank > returnRank) break
    let min = Number.POSITIVE_INFINITY
    for (const r of returns) {
      if (Status.returnRank(r.event.status as Status.ReturnStatus) >= rank && r.ms < min) min = r.ms
    }
    milestones.push({ _tag: "Reached", status, at: Instant.fromMillis(min) })
  }
  const returnProgress = returnRank === 0 ? undefined : Status.returnStatuses[returnRank - 1]

  // 4. Cancellation: valid only when no dispatch-or-later scan happened at or before it.
  const dispatchedMs = reachedMs.get("dispatched")
  const validCancels: Array<Timed<StatusEvent>> = []
  for (const c of cancels) {
    if (dispatchedMs !== undefined && c.ms >= dispatchedMs) {
      anomalies.push(
        ({
          eventId: c.event.id,
          reason: "cancel_after_dispatch",
          detail: `cancellation at ${new Date(c.ms).toISOString()} came after dispatch at ${new Date(dispatchedMs).toISOString()}`
        })
      )
    } else validCancels.push(c)
  }
  const cancel = earliest(validCancels)
  if (cancel !== undefined) {
    milestones.push({ _tag: "Cancelled", at: cancel.event.occurredAt })
    for (const f of forward) {
      if (rankOf(f.event) >= DISPATCHED && f.ms > cancel.ms) {
        anomalies.push(
          ({
            eventId: f.event.id,
            reason: "progress_after_cancel",
            detail: `${f.event.status} scan after the shipment was cancelled (by ${cancel.event.id})`
          })
        )
      }
    }
  }

  // 5. Proof of delivery: the earliest event that carries one.
  const pod = earliest(forward.filter((f) => f.event.pod !== undefined))
  if (pod !== undefined) milestones.push({ _tag: "PodReceived", at: pod.event.occurredAt })

  // 6. Exceptions: resolved by any later status scan or a matching clearance at or after them.
  const movements = [...forward, ...returns]
  const exceptionEntries: Array<ExceptionEntry> = []
  for (const x of [...exceptions].sort(byTime)) {
    let resolver: Timed<Event> | undefined
    for (const m of movements) if (m.ms > x.ms && (resolver === undefined || m.ms < resolver.ms)) resolver = m
    for (const k of clearances) {
      const covers = k.event.kinds === undefined || k.event.kinds.includes(x.event.kind)
      if (covers && k.ms >= x.ms && (resolver === undefined || k.ms < resolver.ms)) resolver = k
    }
    exceptionEntries.push(
      ({
        eventId: x.event.id,
        kind: x.event.kind,
        occurredAt: x.event.occurredAt,
        raw: x.event.raw,
        ...(resolver !== undefined ? { resolvedAt: resolver.event.occurredAt } : {})
      })
    )
    milestones.push({ _tag: "ExceptionOpened", eventId: x.event.id, kind: x.event.kind, at: x.event.occurredAt })
    if (resolver !== undefined) {
      milestones.push(
        { _tag: "ExceptionResolved", eventId: x.event.id, kind: x.event.kind, at: resolver.event.occurredAt }
      )
    }
  }

  // 7. Last scan: the newest forward, return or exception event that does not go backwards
  //    (a forward scan is behind when a higher-ranked scan happened at or before it).
  const behind = (f: Timed<StatusEvent>): boolean =>
    forward.some((g) => g.ms <= f.ms && rankOf(g.event) > rankOf(f.event))
  const candidates: Array<Timed<StatusEvent | ShipmentEvent.ExceptionReported>> = [
    ...forward.filter((f) => !behind(f)),
    ...returns,
    ...exceptions
  ]
  const last = latest(candidates)
  const lastScan =
    last === undefined
      ? undefined
      : ({
          eventId: last.event.id,
          status: last.event._tag === "StatusReported" ? last.event.status : last.event.kind,
          at: last.event.occurredAt,
          ...(last.event.location !== undefined ? { location: last.event.location } : {})
        })

  // 8. Measured weight: the newest scan that carries one.
  const weighed = latest([...forward, ...returns, ...unknown].filter((s) => s.event.weight !== undefined))

  // 9. The status shown.
  const openExceptions = exceptionEntries.filter((e) => e.resolvedAt === undefined)
  const newestOpen = openExceptions[openExceptions.length - 1]
  const status: Status.DisplayStatus =
    cancel !== undefined
      ? "cancelled"
      : returnProgress !== undefined
        ? returnProgress
        : progress === "delivered"
          ? "delivered"
          : newestOpen !== undefined
            ? newestOpen.kind
            : (progress ?? "pending")

  // Sort by key, computing each key once, and remember the view's keys for diff/has/sameView.
  const keyed = milestones.map((m) => [Milestone.key(m), m] as const).sort((a, b) => compareStrings(a[0], b[0]))
  const sortedMilestones = keyed.map(([, m]) => m)
  anomalies.sort((a, b) => compareStrings(anomalyKey(a), anomalyKey(b)))
  const view: ShipmentView = {
    status,
    ...(progress !== undefined ? { progress } : {}),
    ...(returnProgress !== undefined ? { returnProgress } : {}),
    ...(cancel !== undefined ? { cancelledAt: cancel.event.occurredAt } : {}),
    exceptions: exceptionEntries,
    ...(lastScan !== undefined ? { lastScan } : {}),
    ...(weighed?.event.weight !== undefined ? { measuredWeight: weighed.event.weight } : {}),
    ...(pod?.event.pod !== undefined ? { pod: pod.event.pod } : {}),
    unmapped: unknown.map((u) => u.event.id).sort(compareStrings),
    milestones: sortedMilestones,
    anomalies: dedupeSorted(anomalies, anomalyKey)
  }
  const list = keyed.map(([k]) => k)
  viewKeys.set(view, { list, set: new Set(list) })
  return view
}

/** The milestone keys of views, computed once (views are immutable). */
const viewKeys = new WeakMap<ShipmentView, { readonly list: ReadonlyArray<string>; readonly set: ReadonlySet<string> }>()

const keysOf = (view: ShipmentView) => {
  let keys = viewKeys.get(view)
  if (keys === undefined) {
    const list = view.milestones.map(Milestone.key)
    viewKeys.set(view, (keys = { list, set: new Set(list) }))
  }
  return keys
}

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

const anomalyKey = (a: AnomalyRecord): string => `${a.reason}:${a.eventId}`

const dedupeSorted = <A>(items: ReadonlyArray<A>, key: (a: A) => string): Array<A> => {
  const out: Array<A> = []
  let previous: string | undefined
  for (const item of items) {
    const k = key(item)
    if (k !== previous) out.push(item)
    previous = k
  }
  return out
}

// -------------------------------------------------------------------------------------------
// canonical copies
// -------------------------------------------------------------------------------------------

const contentKeys = new WeakMap<Event, string>()

const locationKey = (l: ShipmentEvent.Location | undefined) =>
  l === undefined ? null : [l.facility ?? null, l.city ?? null, l.region ?? null, l.postalCode ?? null, l.country ?? null]

/**
 * The content of an event for duplicate detection: every field but the time we received it,
 * in a fixed order (so copies built in different ways compare equal).
 *
 * @since 0.1.0
 */
export const contentKey = (event: Event): string => {
  let key = contentKeys.get(event)
  if (key === undefined) {
    const common = [
      event._tag,
      event.id,
      event.shipmentId,
      event.companyId,
      event.source,
      Instant.toMillis(event.occurredAt),
      event.raw.code,
      event.raw.detail ?? null,
      event.raw.description ?? null
    ]
    const specific =
      event._tag === "StatusReported"
        ? [
            event.status,
            locationKey(event.location),
            event.pod === undefined ? null : [event.pod.signedBy ?? null, event.pod.evidenceUrl ?? null],
            event.weight ?? null
          ]
        : event._tag === "ExceptionReported"
          ? [event.kind, locationKey(event.location)]
          : event._tag === "ExceptionCleared"
            ? [event.kinds ?? null]
            : [event.retracts]
    key = JSON.stringify([...common, ...specific])
    contentKeys.set(event, key)
  }
  return key
}

/** Orders copies of one id independently of arrival: smaller content first, then earliest receipt. */
const compareCopies = (a: Event, b: Event): number => {
  const ka = contentKey(a), kb = contentKey(b)
  if (ka !== kb) return ka < kb ? -1 : 1
  return Instant.toMillis(a.receivedAt) - Instant.toMillis(b.receivedAt)
}

/**
 * Reduces all copies of one event id to one copy per distinct content (the earliest received),
 * the smallest content first: the first is canonical, the rest are conflicting variants.
 */
const distinctCopies = (copies: ReadonlyArray<Event>): Array<Event> => {
  const sorted = [...copies].sort(compareCopies)
  const out: Array<Event> = []
  for (const copy of sorted) {
    const last = out[out.length - 1]
    if (last === undefined || contentKey(last) !== contentKey(copy)) out.push(copy)
  }
  return out
}

const byId = (a: Event, b: Event): number => compareStrings(a.id, b.id)

const indexOf = (events: ReadonlyArray<Event>, id: string): number => {
  let lo = 0, hi = events.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (events[mid]!.id < id) lo = mid + 1
    else hi = mid
  }
  return lo
}

// -------------------------------------------------------------------------------------------
// API
// -------------------------------------------------------------------------------------------

/**
 * The state of a shipment before any event.
 *
 * @since 0.1.0
 */
export const empty = (shipmentId: Ids.ShipmentId, companyId: Ids.CompanyId): ShipmentState =>
  new ShipmentState({ shipmentId, companyId, events: [], variants: [], view: deriveView([]) }, trusted)

const diff = (before: ShipmentView, after: ShipmentView, cause: Event, reason: Milestone.WithdrawalReason) => {
  const beforeKeys = keysOf(before)
  const afterKeys = keysOf(after)
  const reached = after.milestones.filter((_, i) => !beforeKeys.set.has(afterKeys.list[i]!))
  const retracted = before.milestones
    .filter((_, i) => !afterKeys.set.has(beforeKeys.list[i]!))
    .map((milestone): Milestone.MilestoneRetracted => ({ _tag: "MilestoneRetracted", milestone, reason, cause: cause.id }))
  const known = new Set(before.anomalies.map(anomalyKey))
  const anomalies = after.anomalies.filter((a) => !known.has(anomalyKey(a)))
  return { reached, retracted, anomalies }
}

const ms = (i: Instant.Instant | undefined): number | undefined => (i === undefined ? undefined : Instant.toMillis(i))

const sameList = <A>(a: ReadonlyArray<A>, b: ReadonlyArray<A>, same: (x: A, y: A) => boolean): boolean =>
  a.length === b.length && a.every((x, i) => same(x, b[i]!))


/**
 * Whether two views are equal, field by field (cheaper than comparing encoded forms; the
 * property tests compare encoded states, which covers this function too).
 */
const sameView = (a: ShipmentView, b: ShipmentView): boolean =>
  a === b ||
  (a.status === b.status &&
    a.progress === b.progress &&
    a.returnProgress === b.returnProgress &&
    ms(a.cancelledAt) === ms(b.cancelledAt) &&
    a.measuredWeight === b.measuredWeight &&
    a.lastScan?.eventId === b.lastScan?.eventId &&
    ms(a.lastScan?.at) === ms(b.lastScan?.at) &&
    a.pod?.signedBy === b.pod?.signedBy &&
    a.pod?.evidenceUrl === b.pod?.evidenceUrl &&
    sameList(a.unmapped, b.unmapped, (x, y) => x === y) &&
    sameList(
      a.exceptions,
      b.exceptions,
      (x, y) => x.eventId === y.eventId && ms(x.resolvedAt) === ms(y.resolvedAt)
    ) &&
    sameList(keysOf(a).list, keysOf(b).list, (x, y) => x === y) &&
    sameList(a.milestones, b.milestones, (x, y) => Instant.toMillis(x.at) === Instant.toMillis(y.at)) &&
    sameList(a.anomalies, b.anomalies, (x, y) => anomalyKey(x) === anomalyKey(y)))

const foreign = (state: ShipmentState, event: Event): Anomaly =>
  ({ _tag: "Anomaly", state,
      anomaly: ({
          eventId: event.id,
          reason: "foreign_event",
          detail: `event ${event.id} belongs to shipment ${event.shipmentId} of company ${event.companyId}, not ${state.shipmentId} of ${state.companyId}`
        }),
      reached: [],
      retracted: [],
      anomalies: []
    })

/**
 * Applies one event to a state. Never fails: the outcome says whether the event was accepted,
 * a duplicate, stale, or an anomaly, and which milestones it reached or withdrew. An event of
 * another shipment or company is an `Anomaly` (`foreign_event`) and is not recorded.
 *
 * @example
 * ```ts
 * import { ShipmentState } from "@waybill/core"
 * const outcome = ShipmentState.apply(state, event)
 * if (outcome._tag === "Accepted") for (const m of outcome.reached) console.log("reached", m)
 * ```
 *
 * @since 0.1.0
 */
export const apply = (state: ShipmentState, event: Event): Outcome => {
  if (event.shipmentId !== state.shipmentId || event.companyId !== state.companyId) return foreign(state, event)
  const at = indexOf(state.events, event.id)
  const existing = state.events[at]
  if (existing !== undefined && existing.id === event.id) return applyCopy(state, at, existing, event)

  const events = [...state.events.slice(0, at), event, ...state.events.slice(at)]
  const view = deriveView(events, state.conflicts)
  const next = new ShipmentState({ ...state, events, view }, trusted)
  const changes = diff(state.view, view, event, event._tag === "Retraction" ? "retracted" : "contradicted")
  const own = changes.anomalies.find((a) => a.eventId === event.id)
  if (own !== undefined) return ({ _tag: "Anomaly", state: next, anomaly: own, ...changes })
  if (changes.reached.length === 0 && changes.retracted.length === 0 && sameView(state.view, view)) {
    return ({ _tag: "Stale", state: next })
  }
  return ({ _tag: "Accepted", state: next, ...changes })
}

/** Another copy of an event id already in the set: a duplicate, or a conflicting variant. */
const applyCopy = (state: ShipmentState, at: number, existing: Event, event: Event): Outcome => {
  const others = state.variants.filter((v) => v.id === event.id)
  const copies = distinctCopies([existing, ...others, event])
  const known = [existing, ...others].some((c) => contentKey(c) === contentKey(event))
  const events = state.events.slice()
  events[at] = copies[0]!
  const variants = [...state.variants.filter((v) => v.id !== event.id), ...copies.slice(1)].sort(
    (a, b) => byId(a, b) || compareCopies(a, b)
  )
  if (known) {
    const unchanged = events[at] === existing && variants.every((v, i) => v === state.variants[i])
    return ({ _tag: "Duplicate", state: unchanged ? state : new ShipmentState({ ...state, events, variants }, trusted) })
  }
  const view = deriveView(events, conflictIds(variants))
  const next = new ShipmentState({ ...state, events, variants, view }, trusted)
  const changes = diff(state.view, view, event, "conflict")
  return ({ _tag: "Anomaly", state: next,
      anomaly: conflictRecord(event.id),
      ...changes
    })
}

const conflictRecord = (eventId: Ids.EventId): AnomalyRecord =>
  ({
      eventId,
      reason: "conflicting_duplicate",
      detail: `event ${eventId} arrived more than once with different content; the canonical copy is kept`
    })

/**
 * Builds a state from a batch of events in one step: keeps one canonical copy per id and
 * derives the view once. Equal to applying the events one by one, in any order. Events of
 * other shipments or companies are ignored, as {@link apply} does not record them.
 *
 * @since 0.1.0
 */
export const fold = (
  shipmentId: Ids.ShipmentId,
  companyId: Ids.CompanyId,
  events: Iterable<Event>
): ShipmentState => {
  const copiesById = new Map<string, Array<Event>>()
  for (const event of events) {
    if (event.shipmentId !== shipmentId || event.companyId !== companyId) continue
    const copies = copiesById.get(event.id)
    if (copies === undefined) copiesById.set(event.id, [event])
    else copies.push(event)
  }
  const canonicalEvents: Array<Event> = []
  const variants: Array<Event> = []
  for (const copies of copiesById.values()) {
    const distinct = distinctCopies(copies)
    canonicalEvents.push(distinct[0]!)
    variants.push(...distinct.slice(1))
  }
  canonicalEvents.sort(byId)
  variants.sort((a, b) => byId(a, b) || compareCopies(a, b))
  return new ShipmentState(
    { shipmentId, companyId, events: canonicalEvents, variants, view: deriveView(canonicalEvents, conflictIds(variants)) },
    trusted
  )
}

/**
 * Rebuilds a state from its stored event set (canonical events and conflicting variants),
 * deriving the view.
 *
 * @since 0.1.0
 */
export const restore = (
  shipmentId: Ids.ShipmentId,
  companyId: Ids.CompanyId,
  events: ReadonlyArray<Event>,
  variants: ReadonlyArray<Event>
): ShipmentState =>
  new ShipmentState(
    { shipmentId, companyId, events, variants, view: deriveView(events, conflictIds(variants)) },
    trusted
  )

/**
 * Whether two states hold the same facts: the same events and conflicting variants (by
 * content, ignoring when each copy was received) and the same view. Two states built from the
 * same events are equal in this sense whatever the order; the receipt time kept for a
 * retransmitted event is the earliest this machine saw, and a pipeline that drops
 * retransmissions by idempotency key before they reach the machine keeps the first processed.
 *
 * @since 0.1.0
 */
export const sameFacts = (a: ShipmentState, b: ShipmentState): boolean =>
  a.shipmentId === b.shipmentId &&
  a.companyId === b.companyId &&
  sameList(a.events, b.events, (x, y) => contentKey(x) === contentKey(y)) &&
  sameList(a.variants, b.variants, (x, y) => contentKey(x) === contentKey(y)) &&
  sameView(a.view, b.view)

/**
 * The milestones a state holds, by key.
 *
 * @since 0.1.0
 */
export const milestoneKeys = (state: ShipmentState): ReadonlySet<string> => keysOf(state.view).set
