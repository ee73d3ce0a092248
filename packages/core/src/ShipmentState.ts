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
 * - an exception is resolved by any later status scan or an explicit clearance, else open; the
 *   earliest explicit clearance covering it is kept apart (`clearedAt`: billing holds a damage until
 *   it is cleared, whatever moved after it);
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
import * as Construct from "./internal/construct.js"
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
 * `resolvedAt` is when the overlay stopped showing it: the first later movement scan, or an
 * explicit clearance before that. `clearedAt` is when the carrier explicitly cleared it: the
 * earliest `ExceptionCleared` covering its kind at or after it, whatever moved in between. A
 * movement says the parcel moves on, not that a damage is fine: billing holds a damage until it is
 * cleared (see {@link unclearedDamage}).
 *
 * @since 0.1.0
 */
export const ExceptionEntry = Schema.Struct({
  eventId: Ids.EventId,
  kind: Status.ExceptionKind,
  occurredAt: Instant.Instant,
  resolvedAt: Schema.optionalWith(Instant.Instant, { exact: true }),
  /**
   * When an explicit clearance covering it (an `ExceptionCleared` of its kind, or of every kind)
   * happened, the earliest at or after it; absent while none has. Derived, never stored.
   *
   * @since 0.2.0
   */
  clearedAt: Schema.optionalWith(Instant.Instant, { exact: true }),
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
  /** The event that carries `measuredWeight` (present with it). @since 0.2.0 */
  measuredBy: Schema.optionalWith(Ids.EventId, { exact: true }),
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
 * The damage exceptions of a view that no explicit clearance covers: what the billing policy's
 * `open_damage` hold and a `damage` approval are about. Unlike {@link openExceptions}, a later
 * movement does not end a damage here (a parcel damaged in transit and then delivered is still
 * damaged); an `ExceptionCleared` of `damaged` (or of every kind) at or after it does. A
 * withdrawn damage is not in the view at all.
 *
 * @since 0.2.0
 */
export const unclearedDamage = (view: ShipmentView): ReadonlyArray<ExceptionEntry> =>
  view.exceptions.filter((e) => e.kind === "damaged" && e.clearedAt === undefined)

/**
 * Whether a view holds the milestone with this key.
 *
 * @since 0.1.0
 */
export const has = (view: ShipmentView, key: string): boolean => {
  const cached = viewKeys.get(view)
  if (cached !== undefined) return cached.set.has(key)
  // A view holds a handful of milestones: a scan beats building (and caching) its key set.
  for (const m of view.milestones) if (Milestone.key(m) === key) return true
  return false
}

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

const noConflicts: ReadonlyArray<Ids.EventId> = []

/** The conflicting ids of a variants list, without allocating when there is none (the usual case). */
const conflictsOf = (variants: ReadonlyArray<ShipmentEvent.ShipmentEvent>): ReadonlyArray<Ids.EventId> =>
  variants.length === 0 ? noConflicts : conflictIds(variants)

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
type StatusEvent = ShipmentEvent.StatusReported
type Mutable<A> = { -readonly [K in keyof A]: A[K] }


const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

const DISPATCHED = Status.forwardRank("dispatched")
const TOP_RANK = Status.forwardRank("delivered")

const forwardRanks: ReadonlyMap<Status.ReportedStatus, number> = new Map(
  Status.forwardStatuses.map((s) => [s, Status.forwardRank(s)])
)

/** The statuses a `Reached` milestone can name: the forward track (by rank), then the return track. */
const reachable: ReadonlyArray<Status.ForwardStatus | Status.ReturnStatus> = [
  ...Status.forwardStatuses,
  ...Status.returnStatuses
]
/** Positions in `reachable`, in the order of their milestone keys (deriveView emits milestones sorted by key). */
const reachedInKeyOrder: ReadonlyArray<number> = reachable
  .map((status, i) => ({ i, key: Milestone.key({ _tag: "Reached", status, at: Instant.fromMillis(0) }) }))
  .sort((a, b) => compareStrings(a.key, b.key))
  .map(({ i }) => i)

// What deriveView makes of each event.
const IGNORED = 0 // a retraction, or an event a retraction names
const FORWARD = 1
const RETURN = 2
const CANCEL = 3
const UNKNOWN = 4
const EXCEPTION = 5
const CLEARANCE = 6
const MOVEMENTS = [FORWARD, RETURN] as const

// Scratch space of deriveView, indexed by an event's position in its input: what it is, its rank
// on its track, its time in epoch milliseconds and its id (read once: events come in several
// shapes, so reading their fields is comparatively slow). Reused by every call, so a derivation
// allocates nothing per event: deriveView is synchronous and calls nothing that could re-enter it.
let kinds = new Uint8Array(64)
let ranks = new Uint8Array(64)
let times = new Float64Array(64)
let order = new Int32Array(64)
let resolvers = new Int32Array(64)
const ids: Array<string> = []
/** Per forward rank, the earliest event of exactly that rank (the first in input order on equal times). */
const firstOfRank = new Int32Array(TOP_RANK + 2)
/** Per forward rank, the earliest event of that rank or above (`TOP_RANK + 1`: none). */
const firstFrom = new Int32Array(TOP_RANK + 2)
/** Per forward rank, whether its status is a branch rather than a step of the spine. */
const isBranch: ReadonlyArray<boolean> = [false, ...Status.forwardStatuses.map((s) => Status.branchStatuses.has(s))]
/** Per reachable status (see `reachable`), the event that reached it. */
const reachedBy = new Int32Array(reachable.length)

const reserve = (n: number): void => {
  if (n <= kinds.length) return
  const size = Math.max(n, 2 * kinds.length)
  kinds = new Uint8Array(size)
  ranks = new Uint8Array(size)
  times = new Float64Array(size)
  order = new Int32Array(size)
  resolvers = new Int32Array(size)
}

/** Whether event `i` comes before event `j`: by time, then id (the tie-break used everywhere). */
const before = (i: number, j: number): boolean =>
  times[i]! < times[j]! || (times[i] === times[j] && ids[i]! < ids[j]!)

/** The earlier of two events by time alone, the first in input order on equal times; -1 is none. */
const firstOf = (i: number, j: number): number =>
  i < 0 ? j : j < 0 ? i : times[j]! < times[i]! || (times[j] === times[i] && j < i) ? j : i

/**
 * Derives the view from a set of events (any order; ids unique). This is the specification the
 * incremental {@link apply} is tested against.
 *
 * @since 0.1.0
 */
export const deriveView = (events: ReadonlyArray<Event>, conflicts: ReadonlyArray<Ids.EventId> = []): ShipmentView =>
  derive(events, conflicts, undefined)

/** The `Reached` milestones of the view a derivation may reuse, by position in `reachable`. */
const reusable: Array<Milestone.Reached | undefined> = reachable.map(() => undefined)
const reachableIndex: ReadonlyMap<string, number> = new Map(reachable.map((status, i) => [status, i]))

/**
 * {@link deriveView}, reusing the `Reached` milestones and the last scan of `previous` (the view
 * the new one replaces) where they come out exactly the same: fewer new objects, and the new
 * view shares what did not change with the old one.
 */
const derive = (
  events: ReadonlyArray<Event>,
  conflicts: ReadonlyArray<Ids.EventId>,
  previous: ShipmentView | undefined
): ShipmentView => {
  const n = events.length
  reserve(n)
  const anomalies: Array<AnomalyRecord> = []
  for (const eventId of conflicts) {
    anomalies.push({
      eventId,
      reason: "conflicting_duplicate",
      detail: `event ${eventId} arrived twice with different content; the canonical copy is kept`
    })
  }

  // 1. Retractions remove the events they name. Retractions are not retractable.
  let retractionIds: Set<string> | undefined
  for (const e of events) if (e._tag === "Retraction") (retractionIds ??= new Set()).add(e.id)
  let targets: Set<string> | undefined
  if (retractionIds !== undefined) {
    targets = new Set()
    for (const r of events) {
      if (r._tag !== "Retraction") continue
      for (const target of r.retracts) {
        if (retractionIds.has(target)) {
          anomalies.push({
            eventId: r.id,
            reason: "retraction_of_retraction",
            detail: `retraction ${r.id} names retraction ${target}; retractions cannot be retracted`
          })
        } else targets.add(target)
      }
    }
  }

  // 2. Classify each event once, noting what later steps need: the highest ranks, the earliest
  //    event per rank, the earliest proof of delivery and the newest scan that carries a weight.
  for (let rank = 0; rank < firstOfRank.length; rank++) firstOfRank[rank] = -1
  let progressRank = 0
  let returnRank = 0
  let firstInitiated = -1 // the earliest return_initiated event
  let firstReturned = -1 // the earliest returned event
  let pod = -1
  let weighed = -1
  let cancels = 0
  let exceptions = 0
  for (let i = 0; i < n; i++) {
    const event = events[i]!
    const id = event.id
    ids[i] = id
    kinds[i] = IGNORED
    if (event._tag === "Retraction" || (targets !== undefined && targets.has(id))) continue
    const t = Instant.toMillis(event.occurredAt)
    times[i] = t
    switch (event._tag) {
      case "StatusReported": {
        const status = event.status
        const rank = forwardRanks.get(status)
        if (rank !== undefined) {
          kinds[i] = FORWARD
          ranks[i] = rank
          if (rank > progressRank) progressRank = rank
          firstOfRank[rank] = firstOf(firstOfRank[rank]!, i)
          if (event.pod !== undefined && (pod < 0 || before(i, pod))) pod = i
        } else if (Status.isReturn(status)) {
          const rank = Status.returnRank(status)
          kinds[i] = RETURN
          ranks[i] = rank
          if (rank > returnRank) returnRank = rank
          if (rank === 1) firstInitiated = firstOf(firstInitiated, i)
          else firstReturned = firstOf(firstReturned, i)
        } else if (status === "cancelled") {
          kinds[i] = CANCEL
          cancels++
          break // a cancellation's weight is not a measurement
        } else kinds[i] = UNKNOWN
        // 0 g is no measurement (a carrier that did not weigh the parcel).
        if (event.weight !== undefined && event.weight > 0 && (weighed < 0 || before(weighed, i))) weighed = i
        break
      }
      case "ExceptionReported":
        kinds[i] = EXCEPTION
        exceptions++
        break
      case "ExceptionCleared":
        kinds[i] = CLEARANCE
        break
    }
  }

  // 3. Forward track: progress is the highest rank; a spine status is reached at the earliest
  //    time of any event at or above it, a branch status only by an event of that status.
  firstFrom[TOP_RANK + 1] = -1
  for (let rank = TOP_RANK; rank >= 1; rank--) firstFrom[rank] = firstOf(firstOfRank[rank]!, firstFrom[rank + 1]!)
  for (let rank = 1; rank <= TOP_RANK; rank++) reachedBy[rank - 1] = isBranch[rank] ? firstOfRank[rank]! : firstFrom[rank]!
  const progress = progressRank === 0 ? undefined : Status.forwardStatuses[progressRank - 1]

  // 4. Return track, joined the same way.
  reachedBy[TOP_RANK] = firstOf(firstInitiated, firstReturned)
  reachedBy[TOP_RANK + 1] = firstReturned
  const returnProgress = returnRank === 0 ? undefined : Status.returnStatuses[returnRank - 1]

  // 5. Cancellation: valid only when no dispatch-or-later scan happened at or before it.
  let cancel = -1
  if (cancels > 0) {
    const dispatchedMs = progressRank >= DISPATCHED ? times[firstFrom[DISPATCHED]!]! : undefined
    for (let i = 0; i < n; i++) {
      if (kinds[i] !== CANCEL) continue
      if (dispatchedMs !== undefined && times[i]! >= dispatchedMs) {
        anomalies.push({
          eventId: events[i]!.id,
          reason: "cancel_after_dispatch",
          detail: `cancellation at ${new Date(times[i]!).toISOString()} came after dispatch at ${new Date(dispatchedMs).toISOString()}`
        })
      } else if (cancel < 0 || before(i, cancel)) cancel = i
    }
    if (cancel >= 0) {
      for (let i = 0; i < n; i++) {
        if (kinds[i] === FORWARD && ranks[i]! >= DISPATCHED && times[i]! > times[cancel]!) {
          const f = events[i] as StatusEvent
          anomalies.push({
            eventId: f.id,
            reason: "progress_after_cancel",
            detail: `${f.status} scan after the shipment was cancelled (by ${ids[cancel]})`
          })
        }
      }
    }
  }

  // 6. Exceptions, in time order: resolved by the first later status scan (forward, then return)
  //    or an earlier matching clearance at or after them; cleared by the earliest matching
  //    clearance at or after them.
  const exceptionEntries: Array<ExceptionEntry> = []
  let newestOpen: ExceptionEntry | undefined
  if (exceptions > 0) {
    let count = 0
    for (let i = 0; i < n; i++) if (kinds[i] === EXCEPTION) order[count++] = i
    for (let a = 1; a < count; a++) {
      const x = order[a]!
      let b = a - 1
      for (; b >= 0 && before(x, order[b]!); b--) order[b + 1] = order[b]!
      order[b + 1] = x
    }
    for (let a = 0; a < count; a++) {
      const i = order[a]!
      const x = events[i] as ShipmentEvent.ExceptionReported
      const t = times[i]!
      let resolver = -1
      for (const movement of MOVEMENTS) {
        for (let j = 0; j < n; j++) {
          if (kinds[j] === movement && times[j]! > t && (resolver < 0 || times[j]! < times[resolver]!)) resolver = j
        }
      }
      // The earliest covering clearance at or after it, whatever moved in between.
      let clearance = -1
      for (let j = 0; j < n; j++) {
        if (kinds[j] !== CLEARANCE || times[j]! < t || (clearance >= 0 && times[j]! >= times[clearance]!)) continue
        const covered = (events[j] as ShipmentEvent.ExceptionCleared).kinds
        if (covered === undefined || covered.includes(x.kind)) clearance = j
      }
      if (clearance >= 0 && (resolver < 0 || times[clearance]! < times[resolver]!)) resolver = clearance
      resolvers[i] = resolver
      const entry = { eventId: x.id, kind: x.kind, occurredAt: x.occurredAt } as Mutable<ExceptionEntry>
      if (resolver >= 0) entry.resolvedAt = events[resolver]!.occurredAt
      if (clearance >= 0) entry.clearedAt = events[clearance]!.occurredAt
      entry.raw = x.raw
      exceptionEntries.push(entry)
      if (resolver < 0) newestOpen = entry
    }
    // From here on `order` holds the exceptions by id, the order of their milestone keys.
    for (let a = 1; a < count; a++) {
      const x = order[a]!
      let b = a - 1
      for (; b >= 0 && ids[x]! < ids[order[b]!]!; b--) order[b + 1] = order[b]!
      order[b + 1] = x
    }
  }

  // 7. Last scan: the newest forward, return or exception event that does not go backwards
  //    (a forward scan is behind when a higher-ranked scan happened at or before it).
  let last = -1
  for (let i = 0; i < n; i++) {
    const kind = kinds[i]
    if (kind === FORWARD) {
      const above = firstFrom[ranks[i]! + 1]!
      if (above >= 0 && times[above]! <= times[i]!) continue
    } else if (kind !== RETURN && kind !== EXCEPTION) continue
    if (last < 0 || before(last, i)) last = i
  }
  let lastScan: LastScan | undefined
  if (last >= 0) {
    const e = events[last] as StatusEvent | ShipmentEvent.ExceptionReported
    const status = e._tag === "StatusReported" ? e.status : e.kind
    const old = previous?.lastScan
    lastScan =
      old !== undefined && old.eventId === e.id && old.status === status && old.at === e.occurredAt &&
        old.location === e.location
        ? old
        : e.location === undefined
          ? { eventId: e.id, status, at: e.occurredAt }
          : { eventId: e.id, status, at: e.occurredAt, location: e.location }
  }

  // 8. Measured weight: the newest scan that carries one above 0 g (found in step 2).

  // 9. The status shown.
  const status: Status.DisplayStatus =
    cancel >= 0
      ? "cancelled"
      : returnProgress !== undefined
        ? returnProgress
        : progress === "delivered"
          ? "delivered"
          : newestOpen !== undefined
            ? newestOpen.kind
            : (progress ?? "pending")

  // Milestones, built in the order of their keys: `cancelled` < `exception_opened:<id>` (by id) <
  // `exception_resolved:<id>` (by id) < `pod` < `reached:<status>` (see reachedInKeyOrder).
  const milestones: Array<Milestone.Milestone> = []
  if (cancel >= 0) milestones.push({ _tag: "Cancelled", at: events[cancel]!.occurredAt })
  for (let a = 0; a < exceptions; a++) {
    const x = events[order[a]!] as ShipmentEvent.ExceptionReported
    milestones.push({ _tag: "ExceptionOpened", eventId: x.id, kind: x.kind, at: x.occurredAt })
  }
  for (let a = 0; a < exceptions; a++) {
    const resolver = resolvers[order[a]!]!
    if (resolver < 0) continue
    const x = events[order[a]!] as ShipmentEvent.ExceptionReported
    milestones.push({ _tag: "ExceptionResolved", eventId: x.id, kind: x.kind, at: events[resolver]!.occurredAt })
  }
  if (pod >= 0) milestones.push({ _tag: "PodReceived", at: events[pod]!.occurredAt })
  if (previous !== undefined) {
    for (const m of previous.milestones) {
      if (m._tag !== "Reached") continue
      const s = reachableIndex.get(m.status)
      if (s !== undefined) reusable[s] = m
    }
  }
  for (const s of reachedInKeyOrder) {
    const by = reachedBy[s]!
    if (by < 0) continue
    // The earliest event's own instant: no new object.
    const at = events[by]!.occurredAt
    const old = reusable[s]
    milestones.push(old !== undefined && old.at === at ? old : { _tag: "Reached", status: reachable[s]!, at })
  }
  if (previous !== undefined) reusable.fill(undefined)

  const unmapped: Array<Ids.EventId> = []
  for (let i = 0; i < n; i++) if (kinds[i] === UNKNOWN) unmapped.push(events[i]!.id)

  // Built field by field, in the schema's order, leaving absent optional fields out.
  const view = { status } as Mutable<ShipmentView>
  if (progress !== undefined) view.progress = progress
  if (returnProgress !== undefined) view.returnProgress = returnProgress
  if (cancel >= 0) view.cancelledAt = events[cancel]!.occurredAt
  view.exceptions = exceptionEntries
  if (lastScan !== undefined) view.lastScan = lastScan
  if (weighed >= 0) {
    view.measuredWeight = (events[weighed] as StatusEvent).weight!
    view.measuredBy = events[weighed]!.id
  }
  if (pod >= 0) view.pod = (events[pod] as StatusEvent).pod!
  view.unmapped = sortSmall(unmapped, compareStrings)
  view.milestones = milestones
  view.anomalies = anomalies.length === 0 ? anomalies : dedupeSorted(sortSmall(anomalies, compareAnomalies))
  return view
}

/** The milestone keys of views, computed when first asked for (views are immutable). */
const viewKeys = new WeakMap<ShipmentView, { readonly list: ReadonlyArray<string>; readonly set: ReadonlySet<string> }>()

const keysOf = (view: ShipmentView) => {
  let keys = viewKeys.get(view)
  if (keys === undefined) {
    const list = view.milestones.map(Milestone.key)
    viewKeys.set(view, (keys = { list, set: new Set(list) }))
  }
  return keys
}

/**
 * Whether two milestones have the same {@link Milestone.key}, without building the keys: the
 * same kind and, for kinds with a parameter, the same status or event id.
 */
const sameKey = (a: Milestone.Milestone, b: Milestone.Milestone): boolean => {
  switch (a._tag) {
    case "Reached":
      return b._tag === "Reached" && a.status === b.status
    case "ExceptionOpened":
    case "ExceptionResolved":
      return b._tag === a._tag && a.eventId === b.eventId
    default:
      return b._tag === a._tag
  }
}

const anomalyKey = (a: AnomalyRecord): string => `${a.reason}:${a.eventId}`

/** Whether two anomalies have the same {@link anomalyKey}. */
const sameAnomaly = (a: AnomalyRecord, b: AnomalyRecord): boolean => a.reason === b.reason && a.eventId === b.eventId

/** Orders anomalies by {@link anomalyKey} (no reason is a prefix of another, so by reason, then event id). */
const compareAnomalies = (a: AnomalyRecord, b: AnomalyRecord): number =>
  a.reason === b.reason ? compareStrings(a.eventId, b.eventId) : compareStrings(a.reason, b.reason)

/**
 * A stable in-place sort (binary insertion) that, unlike `Array.prototype.sort`, allocates
 * nothing: for the short lists sorted here.
 */
const sortSmall = <A>(items: Array<A>, compare: (a: A, b: A) => number): Array<A> => {
  if (items.length > 64) return items.sort(compare)
  for (let a = 1; a < items.length; a++) {
    const item = items[a]!
    if (compare(items[a - 1]!, item) <= 0) continue
    // The first of items[0..a-1] that sorts after item (items[a - 1] does).
    let lo = 0
    let hi = a - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (compare(items[mid]!, item) <= 0) lo = mid + 1
      else hi = mid
    }
    for (let b = a; b > lo; b--) items[b] = items[b - 1]!
    items[lo] = item
  }
  return items
}

/** Drops anomalies with the key of their predecessor (the list is sorted by key). */
const dedupeSorted = (items: ReadonlyArray<AnomalyRecord>): Array<AnomalyRecord> => {
  const out: Array<AnomalyRecord> = []
  for (const item of items) if (out.length === 0 || !sameAnomaly(out[out.length - 1]!, item)) out.push(item)
  return out
}

// -------------------------------------------------------------------------------------------
// canonical copies
// -------------------------------------------------------------------------------------------

const locationKey = (l: ShipmentEvent.Location | undefined) =>
  l === undefined ? null : [l.facility ?? null, l.city ?? null, l.region ?? null, l.postalCode ?? null, l.country ?? null]

/**
 * The content of an event for duplicate detection: every field but the time we received it,
 * in a fixed order (so copies built in different ways compare equal).
 *
 * @since 0.1.0
 */
export const contentKey = (event: Event): string => {
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
  return JSON.stringify([...common, ...specific])
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
  const sorted = sortSmall([...copies], compareCopies)
  const out: Array<Event> = []
  for (const copy of sorted) {
    const last = out[out.length - 1]
    if (last === undefined || contentKey(last) !== contentKey(copy)) out.push(copy)
  }
  return out
}

const byId = (a: Event, b: Event): number => compareStrings(a.id, b.id)

const byIdThenCopy = (a: Event, b: Event): number => byId(a, b) || compareCopies(a, b)

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
  make(shipmentId, companyId, [], [], deriveView([]))

/** Builds a state from fields valid by construction (no validation). */
const make = (
  shipmentId: Ids.ShipmentId,
  companyId: Ids.CompanyId,
  events: ReadonlyArray<Event>,
  variants: ReadonlyArray<Event>,
  view: ShipmentView
): ShipmentState => Construct.trusted(ShipmentState, { shipmentId, companyId, events, variants, view })

/** A state like `state` with other events and view (a trusted construction: no validation). */
const next = (
  state: ShipmentState,
  events: ReadonlyArray<Event>,
  variants: ReadonlyArray<Event>,
  view: ShipmentView
): ShipmentState => make(state.shipmentId, state.companyId, events, variants, view)

/**
 * Where `list` holds an item the `same` as `item`, or -1. Looks from `from` on first: the lists
 * compared here are sorted the same way and mostly alike, so a walk finds each item at once.
 */
const find = <A>(list: ReadonlyArray<A>, item: A, same: (a: A, b: A) => boolean, from: number): number => {
  for (let k = from; k < list.length; k++) if (same(list[k]!, item)) return k
  for (let k = 0; k < from && k < list.length; k++) if (same(list[k]!, item)) return k
  return -1
}

interface Changes {
  readonly reached: Array<Milestone.Milestone>
  readonly retracted: Array<Milestone.MilestoneRetracted>
  readonly anomalies: Array<AnomalyRecord>
}

/** The milestones reached and withdrawn, and the anomalies added (all by key). */
const diff = (before: ShipmentView, after: ShipmentView, cause: Event, reason: Milestone.WithdrawalReason): Changes => {
  const reached: Array<Milestone.Milestone> = []
  let from = 0
  for (const milestone of after.milestones) {
    const k = find(before.milestones, milestone, sameKey, from)
    if (k < 0) reached.push(milestone)
    else from = k + 1
  }
  const retracted: Array<Milestone.MilestoneRetracted> = []
  from = 0
  for (const milestone of before.milestones) {
    const k = find(after.milestones, milestone, sameKey, from)
    if (k < 0) retracted.push({ _tag: "MilestoneRetracted", milestone, reason, cause: cause.id })
    else from = k + 1
  }
  const anomalies: Array<AnomalyRecord> = []
  from = 0
  for (const anomaly of after.anomalies) {
    const k = find(before.anomalies, anomaly, sameAnomaly, from)
    if (k < 0) anomalies.push(anomaly)
    else from = k + 1
  }
  return { reached, retracted, anomalies }
}

const ms = (i: Instant.Instant | undefined): number | undefined => (i === undefined ? undefined : Instant.toMillis(i))

const sameList = <A>(a: ReadonlyArray<A>, b: ReadonlyArray<A>, same: (x: A, y: A) => boolean): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (!same(a[i]!, b[i]!)) return false
  return true
}

const sameString = (x: string, y: string): boolean => x === y
const sameEntry = (x: ExceptionEntry, y: ExceptionEntry): boolean =>
  x.eventId === y.eventId && ms(x.resolvedAt) === ms(y.resolvedAt) && ms(x.clearedAt) === ms(y.clearedAt)
const sameMilestone = (x: Milestone.Milestone, y: Milestone.Milestone): boolean =>
  sameKey(x, y) && Instant.toMillis(x.at) === Instant.toMillis(y.at)
const sameContent = (x: Event, y: Event): boolean => contentKey(x) === contentKey(y)

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
    a.measuredBy === b.measuredBy &&
    a.lastScan?.eventId === b.lastScan?.eventId &&
    ms(a.lastScan?.at) === ms(b.lastScan?.at) &&
    a.pod?.signedBy === b.pod?.signedBy &&
    a.pod?.evidenceUrl === b.pod?.evidenceUrl &&
    sameList(a.unmapped, b.unmapped, sameString) &&
    sameList(a.exceptions, b.exceptions, sameEntry) &&
    sameList(a.milestones, b.milestones, sameMilestone) &&
    sameList(a.anomalies, b.anomalies, sameAnomaly))

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

  const events = insertAt(state.events, at, event)
  const view = derive(events, conflictsOf(state.variants), state.view)
  const after = next(state, events, state.variants, view)
  const reason = event._tag === "Retraction" ? "retracted" : "contradicted"
  const { anomalies, reached, retracted } = diff(state.view, view, event, reason)
  for (const anomaly of anomalies) {
    if (anomaly.eventId === event.id) return { _tag: "Anomaly", state: after, anomaly, reached, retracted, anomalies }
  }
  if (reached.length === 0 && retracted.length === 0 && sameView(state.view, view)) return { _tag: "Stale", state: after }
  return { _tag: "Accepted", state: after, reached, retracted, anomalies }
}

/** A copy of `items` with `item` inserted at `at`. */
const insertAt = <A>(items: ReadonlyArray<A>, at: number, item: A): Array<A> => {
  const out = new Array<A>(items.length + 1)
  for (let k = 0; k < at; k++) out[k] = items[k]!
  out[at] = item
  for (let k = at; k < items.length; k++) out[k + 1] = items[k]!
  return out
}

/** Another copy of an event id already in the set: a duplicate, or a conflicting variant. */
const applyCopy = (state: ShipmentState, at: number, existing: Event, event: Event): Outcome => {
  // The usual case, a retransmission received after the copy kept, changes nothing.
  if (
    state.variants.length === 0 &&
    contentKey(existing) === contentKey(event) &&
    Instant.toMillis(existing.receivedAt) <= Instant.toMillis(event.receivedAt)
  ) return { _tag: "Duplicate", state }
  const others = state.variants.filter((v) => v.id === event.id)
  const copies = distinctCopies([existing, ...others, event])
  const known = [existing, ...others].some((c) => contentKey(c) === contentKey(event))
  const events = state.events.slice()
  events[at] = copies[0]!
  const variants = [...state.variants.filter((v) => v.id !== event.id), ...copies.slice(1)].sort(byIdThenCopy)
  if (known) {
    const unchanged = events[at] === existing && variants.every((v, i) => v === state.variants[i])
    return { _tag: "Duplicate", state: unchanged ? state : next(state, events, variants, state.view) }
  }
  const view = derive(events, conflictIds(variants), state.view)
  const { reached, retracted, anomalies } = diff(state.view, view, event, "conflict")
  return {
    _tag: "Anomaly",
    state: next(state, events, variants, view),
    anomaly: conflictRecord(event.id),
    reached,
    retracted,
    anomalies
  }
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
  const own: Array<Event> = []
  for (const event of events) if (event.shipmentId === shipmentId && event.companyId === companyId) own.push(event)
  // A stable sort: the copies of one id stay together, in arrival order.
  sortSmall(own, byId)
  const canonicalEvents: Array<Event> = []
  const variants: Array<Event> = []
  for (let a = 0, b = 1; a < own.length; a = b++) {
    while (b < own.length && own[b]!.id === own[a]!.id) b++
    if (b === a + 1) {
      canonicalEvents.push(own[a]!)
      continue
    }
    const distinct = distinctCopies(own.slice(a, b))
    canonicalEvents.push(distinct[0]!)
    for (let k = 1; k < distinct.length; k++) variants.push(distinct[k]!)
  }
  if (variants.length > 1) variants.sort(byIdThenCopy)
  return make(shipmentId, companyId, canonicalEvents, variants, deriveView(canonicalEvents, conflictsOf(variants)))
}

/**
 * Rebuilds a state from its stored event set (canonical events and conflicting variants),
 * deriving the view. A set: in any order (a store may give it back by arrival), as {@link fold}
 * of the same copies. {@link apply} finds an event id by binary search over events sorted by id,
 * so kept in another order a retransmission was recorded again as a new event, with its
 * milestones reported reached a second time.
 *
 * @since 0.1.0
 */
export const restore = (
  shipmentId: Ids.ShipmentId,
  companyId: Ids.CompanyId,
  events: ReadonlyArray<Event>,
  variants: ReadonlyArray<Event>
): ShipmentState => fold(shipmentId, companyId, variants.length === 0 ? events : [...events, ...variants])

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
  sameList(a.events, b.events, sameContent) &&
  sameList(a.variants, b.variants, sameContent) &&
  sameView(a.view, b.view)

/**
 * The milestones a state holds, by key.
 *
 * @since 0.1.0
 */
export const milestoneKeys = (state: ShipmentState): ReadonlySet<string> => keysOf(state.view).set
