/**
 * The straightforward derivation of a shipment's view, as it stood before `ShipmentState`'s
 * derivation was optimized (0.1): a readable reference the optimized code is property-tested
 * against (`DeriveViewReference.test.ts`). Not used by the library.
 */
import type * as Ids from "../../src/Ids.js"
import * as Instant from "../../src/Instant.js"
import * as Milestone from "../../src/Milestone.js"
import type * as ShipmentEvent from "../../src/ShipmentEvent.js"
import type { AnomalyRecord, ExceptionEntry, ShipmentView } from "../../src/ShipmentState.js"
import * as Status from "../../src/Status.js"

type Event = ShipmentEvent.ShipmentEvent

interface Timed<E> {
  readonly event: E
  readonly ms: number
}


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
export const referenceDeriveView = (events: ReadonlyArray<Event>, conflicts: ReadonlyArray<Ids.EventId> = []): ShipmentView => {
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
    let clearance: Timed<Event> | undefined
    for (const k of clearances) {
      const covers = k.event.kinds === undefined || k.event.kinds.includes(x.event.kind)
      if (covers && k.ms >= x.ms && (resolver === undefined || k.ms < resolver.ms)) resolver = k
      if (covers && k.ms >= x.ms && (clearance === undefined || k.ms < clearance.ms)) clearance = k
    }
    exceptionEntries.push(
      ({
        eventId: x.event.id,
        kind: x.event.kind,
        occurredAt: x.event.occurredAt,
        raw: x.event.raw,
        ...(resolver !== undefined ? { resolvedAt: resolver.event.occurredAt } : {}),
        ...(clearance !== undefined ? { clearedAt: clearance.event.occurredAt } : {})
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

  // 8. Measured weight: the newest scan that carries one above 0 g (0 g is no measurement).
  const weighed = latest([...forward, ...returns, ...unknown].filter((s) => s.event.weight !== undefined && s.event.weight > 0))

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
    ...(weighed?.event.weight !== undefined ? { measuredWeight: weighed.event.weight, measuredBy: weighed.event.id } : {}),
    ...(pod?.event.pod !== undefined ? { pod: pod.event.pod } : {}),
    unmapped: unknown.map((u) => u.event.id).sort(compareStrings),
    milestones: sortedMilestones,
    anomalies: dedupeSorted(anomalies, anomalyKey)
  }
  return view
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
