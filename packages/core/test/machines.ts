/**
 * State machines for the law tests: the real one, and a deliberately wrong one ("the last event
 * wins") that the laws must reject.
 */
import { Milestone, ShipmentEvent, ShipmentState, Status } from "../src/index.js"

export interface Machine {
  readonly empty: typeof ShipmentState.empty
  readonly apply: (state: ShipmentState.ShipmentState, event: ShipmentEvent.ShipmentEvent) => ShipmentState.Outcome
}

export const realMachine: Machine = { empty: ShipmentState.empty, apply: ShipmentState.apply }

/**
 * Keeps the same event set, but resolves the status by arrival: the last forward scan applied
 * sets the progress, and the milestones follow it.
 */
export const lastEventWins: Machine = {
  empty: ShipmentState.empty,
  apply: (state, event) => {
    const real = ShipmentState.apply(state, event)
    if (real._tag === "Duplicate" || event._tag !== "StatusReported" || !Status.isForward(event.status)) return real
    const rank = Status.forwardRank(event.status)
    const milestones = [
      ...state.view.milestones.filter((m) => m._tag !== "Reached"),
      ...Status.forwardStatuses
        .filter((s) => Status.forwardRank(s) <= rank)
        .map((status): Milestone.Milestone => ({ _tag: "Reached", status, at: event.occurredAt }))
    ]
    const view: ShipmentState.ShipmentView = {
      ...real.state.view,
      status: event.status,
      progress: event.status,
      milestones
    }
    const before = new Set(state.view.milestones.map(Milestone.key))
    return {
      _tag: "Accepted",
      state: new ShipmentState.ShipmentState({ ...real.state, view }),
      reached: milestones.filter((m) => !before.has(Milestone.key(m))),
      retracted: [],
      anomalies: []
    }
  }
}

/** Reports per milestone key alternate reached / withdrawn, start with reached and end in the final membership. */
export const reportsAlternate = (outcomes: ReadonlyArray<ShipmentState.Outcome>, final: ShipmentState.ShipmentState): boolean => {
  const held = new Map<string, boolean>()
  for (const outcome of outcomes) {
    if (outcome._tag !== "Accepted" && outcome._tag !== "Anomaly") continue
    for (const r of outcome.retracted) {
      const key = Milestone.key(r.milestone)
      if (held.get(key) !== true) return false
      held.set(key, false)
    }
    for (const m of outcome.reached) {
      const key = Milestone.key(m)
      if (held.get(key) === true) return false
      held.set(key, true)
    }
  }
  const keys = ShipmentState.milestoneKeys(final)
  for (const [key, isHeld] of held) if (isHeld !== keys.has(key)) return false
  for (const key of keys) if (held.get(key) !== true) return false
  return true
}
