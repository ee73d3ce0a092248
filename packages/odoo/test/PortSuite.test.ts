/**
 * Core's port harness run against OdooErp on the Odoo 17 and 19 fakes: the same promises the
 * in-memory reference keeps (idempotency by key, typed failures).
 */
import { ExternalRefs, Ids, Shipment } from "@waybill/core"
import { PortSuite } from "@waybill/core/testing"
import * as Effect from "effect/Effect"
import * as OdooErp from "../src/OdooErp.js"
import { OdooFake } from "../src/testing/index.js"
import { connect, FetchLayer, intakeOf, seedOrder } from "./helpers.js"

for (const version of [17, 19] as const) {
  PortSuite.erp(
    `OdooErp on Odoo ${version}`,
    Effect.gen(function* () {
      const fake = yield* OdooFake.make({ version })
      const { orderId, pickingId } = seedOrder(fake)
      const { erp } = yield* connect(fake)
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      const unknownShipment = new Shipment.Shipment({
        ...shipment,
        id: Ids.ShipmentId.make(`${shipment.id}-gone`),
        refs: new ExternalRefs.ExternalRefs({ odoo: new ExternalRefs.OdooRef({ model: "stock.picking", id: 987_654 }) })
      })
      const observe = Effect.sync(() => {
        const picking = fake.admin.read("stock.picking", [pickingId], ["carrier_tracking_ref", "state"])[0]!
        return {
          notes: fake.admin.search("mail.message", [["model", "=", "stock.picking"], ["res_id", "=", pickingId], ["message_type", "=", "comment"]]).length,
          invoices: fake.admin.search("account.move", [["move_type", "=", "out_invoice"], ["invoice_origin", "ilike", String(fake.admin.read("sale.order", [orderId], ["name"])[0]!.name)]]).length,
          trackingNumber: typeof picking.carrier_tracking_ref === "string" ? picking.carrier_tracking_ref : undefined,
          delivered: picking.state === "done"
        }
      })
      return { erp, shipment, unknownShipment, observe }
    }).pipe(Effect.provide(FetchLayer))
  )
}

PortSuite.helpdesk(
  "OdooErp service cases",
  Effect.gen(function* () {
    const fake = yield* OdooFake.make({ version: 17 })
    const { erp } = yield* connect(fake)
    const cases = (shipmentId: string) =>
      fake.admin.search("project.task", [["description", "ilike", OdooErp.shipmentMarker(shipmentId)]], { activeTest: false })
    return {
      helpdesk: erp,
      companyId: Ids.CompanyId.make("waybill:res.company:1"),
      shipmentIds: [Ids.ShipmentId.make("waybill:stock.picking:9001"), Ids.ShipmentId.make("waybill:stock.picking:9002")] as const,
      observe: (shipmentId: string) =>
        Effect.sync(() => {
          const ids = cases(shipmentId)
          return {
            cases: ids.length,
            notes:
              ids.length === 0
                ? 0
                : fake.admin.search("mail.message", [["model", "=", "project.task"], ["res_id", "=", ids[0]!], ["message_type", "=", "comment"]]).length
          }
        })
    }
  }).pipe(Effect.provide(FetchLayer))
)
