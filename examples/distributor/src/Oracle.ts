/**
 * The oracle: what each shipment's state must be, computed without the runtime.
 *
 * Every webhook the sources sent (except the ones meant to be rejected) is parsed again by the
 * same adapters, its events routed to their shipment by the scenario's own records, and each
 * shipment's events folded in one batch with `ShipmentState.fold`. The runtime received the same
 * webhooks shuffled, late and repeated, through the transport, workers and store; its states
 * must hold the same facts.
 *
 * @since 0.1.0
 */
import { type CarrierPort, type Ids, type PortError, ShipmentEvent, ShipmentState } from "@waybill/core"
import * as Effect from "effect/Effect"
import type * as Sources from "./Sources.js"

/**
 * Where an observation belongs, by the tracking number (or warehouse reference) it carries.
 *
 * @since 0.1.0
 */
export type Route = (trackingNumber: string) => { readonly shipmentId: Ids.ShipmentId; readonly companyId: Ids.CompanyId } | undefined

/**
 * The oracle's verdicts.
 *
 * @since 0.1.0
 */
export interface Oracle {
  /** The folded state of each shipment that has events. */
  readonly states: ReadonlyMap<string, ShipmentState.ShipmentState>
  /** Event copies per shipment, retransmissions and repeated histories included. */
  readonly copies: ReadonlyMap<string, number>
  /** Observations no shipment claims (must be none). */
  readonly unrouted: ReadonlyArray<string>
}

/**
 * Builds the oracle from the webhooks the sources sent.
 *
 * @since 0.1.0
 */
export const build = (
  sent: ReadonlyArray<Sources.Outbound>,
  toRequest: (out: Sources.Outbound) => CarrierPort.InboundRequest,
  carriers: ReadonlyMap<string, CarrierPort.CarrierPortShape>,
  route: Route
): Effect.Effect<Oracle, PortError.CarrierError> =>
  Effect.gen(function* () {
    // Copies of one body carry the same events: parse each body once.
    const bodies = new Map<string, { readonly out: Sources.Outbound; copies: number }>()
    for (const out of sent) {
      if (out.planned !== undefined) continue
      const key = `${out.source}\n${out.body}`
      const known = bodies.get(key)
      if (known === undefined) bodies.set(key, { out, copies: 1 })
      else known.copies++
    }
    const events = new Map<string, { companyId: Ids.CompanyId; events: Array<ShipmentEvent.ShipmentEvent> }>()
    const copies = new Map<string, number>()
    const unrouted: Array<string> = []
    for (const { out, copies: count } of bodies.values()) {
      const carrier = carriers.get(out.source)!
      const observations = yield* carrier.parse(toRequest(out))
      for (const o of observations) {
        const target = route(o.trackingNumber)
        if (target === undefined) {
          unrouted.push(`${out.source} ${o.trackingNumber} ${o.event.id}`)
          continue
        }
        let entry = events.get(target.shipmentId)
        if (entry === undefined) events.set(target.shipmentId, (entry = { companyId: target.companyId, events: [] }))
        entry.events.push(ShipmentEvent.fromDraft(o.event, target.shipmentId, target.companyId))
        copies.set(target.shipmentId, (copies.get(target.shipmentId) ?? 0) + count)
      }
    }
    const states = new Map<string, ShipmentState.ShipmentState>()
    for (const [shipmentId, entry] of events) {
      states.set(shipmentId, ShipmentState.fold(shipmentId as Ids.ShipmentId, entry.companyId, entry.events))
    }
    return { states, copies, unrouted }
  })
