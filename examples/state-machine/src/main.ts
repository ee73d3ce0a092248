/**
 * The state machine in thirty lines: a carrier reports a delivery, a mis-scan, its correction
 * and a late transit scan, in a scrambled order and twice over. The result does not depend on
 * the order.
 *
 *   pnpm --filter @waybill/example-state-machine start
 */
import { Ids, Instant, Milestone, ShipmentEvent, ShipmentState } from "@waybill/core"

const shipmentId = Ids.ShipmentId.make("SHP-1001")
const companyId = Ids.CompanyId.make("acme-eu")
const at = (iso: string) => Instant.fromMillis(Date.parse(iso))
const base = { shipmentId, companyId, source: "carrier", receivedAt: at("2024-07-03T12:00:00Z") }
const scan = (id: string, status: ShipmentEvent.StatusReported["status"], iso: string) =>
  new ShipmentEvent.StatusReported({ ...base, id: Ids.EventId.make(id), status, occurredAt: at(iso), raw: new ShipmentEvent.RawCode({ code: id }) })

const history = [
  scan("dl", "delivered", "2024-07-03T10:15:00Z"),
  scan("pu", "dispatched", "2024-07-01T16:00:00Z"),
  scan("bad", "delivered", "2024-07-02T09:00:00Z"), // a mis-scan ...
  new ShipmentEvent.Retraction({ ...base, id: Ids.EventId.make("fix"), occurredAt: at("2024-07-02T09:30:00Z"), raw: new ShipmentEvent.RawCode({ code: "COR" }), retracts: [Ids.EventId.make("bad")] }),
  scan("it", "in_transit", "2024-07-02T05:00:00Z"),
  scan("it-late", "in_transit", "2024-07-03T11:00:00Z") // stamped after delivery: stale
]

for (const order of [history, [...history].reverse(), [...history, ...history]]) {
  let state = ShipmentState.empty(shipmentId, companyId)
  const log: Array<string> = []
  for (const event of order) {
    const outcome = ShipmentState.apply(state, event)
    const reached = outcome._tag === "Accepted" || outcome._tag === "Anomaly" ? outcome.reached.map(Milestone.key) : []
    log.push(`${event.id}:${outcome._tag}${reached.length > 0 ? ` +[${reached.join(" ")}]` : ""}`)
    state = outcome.state
  }
  console.log(`${state.view.status.padEnd(10)} ${log.join("  ")}`)
}
