/**
 * The port harness against the in-memory far sides (the reference behaviour).
 */
import * as Effect from "effect/Effect"
import { Ids } from "../src/index.js"
import { FakePorts, Histories, PortSuite } from "../src/testing/index.js"

const known = new Set<string>()

PortSuite.erp(
  "FakePorts",
  Effect.sync(() => {
    const far = FakePorts.make({ rate: 0, kinds: [] }, { knownShipments: (id) => known.has(id) })
    const h = Histories.generate(Math.floor(Math.random() * 1e9), {}, 1)
    const shipment = Histories.intake(h).shipments[0]!
    const ghost = Histories.intake(Histories.generate(7, {}, 2)).shipments[0]!
    known.add(shipment.id)
    return {
      erp: far.erp,
      shipment,
      unknownShipment: ghost,
      observe: Effect.sync(() => ({
        notes: far.effects.filter((e) => e.operation === "postNote" && e.shipmentId === shipment.id).length,
        invoices: far.invoices.get(shipment.id) ?? 0,
        trackingNumber: far.tracking.get(shipment.id),
        delivered: far.delivered.has(shipment.id)
      }))
    }
  })
)

PortSuite.helpdesk(
  "FakePorts",
  Effect.sync(() => {
    const far = FakePorts.make()
    return {
      helpdesk: far.helpdesk,
      companyId: Ids.CompanyId.make("co-1"),
      shipmentIds: [Ids.ShipmentId.make("shp-a"), Ids.ShipmentId.make("shp-b")] as const,
      observe: (id) => Effect.sync(() => ({ cases: far.cases.has(id) ? 1 : 0, notes: far.cases.get(id)?.notes ?? 0 }))
    }
  })
)
