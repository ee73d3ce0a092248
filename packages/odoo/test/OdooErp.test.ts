/**
 * The adapter end to end against the fake of each version (JSON-RPC on 17 and 18, JSON-2 on 19):
 * intake → tracking → notes → delivered/validated → invoiced → posted → paid → service case, with
 * crashes, retries and duplicates on the way, and every wizard path of delivery validation.
 */
import { describe, expect, it } from "@effect/vitest"
import { Dispatcher, ErpPort, HelpdeskPort, Ids, Instant, Money, PortError, Shipment, ShipmentEvent, Weight } from "@waybill/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as OdooClient from "../src/OdooClient.js"
import * as OdooErp from "../src/OdooErp.js"
import { OdooFake } from "../src/testing/index.js"
import { connect, FetchLayer, intakeOf, key, seedOrder } from "./helpers.js"

const deliveredAt = Instant.fromMillis(Date.UTC(2026, 10, 28, 9, 30))

const caseContext = (shipment: { readonly id: string; readonly orderId: string }, open: boolean) =>
  new HelpdeskPort.CaseContext({
    shipmentId: shipment.id as HelpdeskPort.CaseContext["shipmentId"],
    orderId: shipment.orderId as HelpdeskPort.CaseContext["orderId"],
    status: open ? "damaged" : "delivered",
    progress: open ? "in_transit" : "delivered",
    carrier: "Standard delivery",
    trackingNumber: "1Z999AA10123456784",
    exceptions: [{ kind: "damaged", at: deliveredAt, open, code: "DMG-01" }],
    nextAction: open ? "Ask the customer for photos" : "None",
    shipToCity: "Springfield",
    shipToCountry: "US" as HelpdeskPort.CaseContext["shipToCountry"]
  })

/** A case for a shipment, opened with `key(k)`. */
const openCase = (
  shipment: Shipment.Shipment,
  k: string,
  subject = "Parcel damaged",
  note = "Damaged."
) =>
  new HelpdeskPort.OpenCase({
    key: key(k),
    companyId: shipment.companyId,
    shipmentId: shipment.id,
    subject,
    note,
    context: caseContext(shipment, true)
  })

const invoicesOf = (fake: OdooFake.OdooFake, orderName: string) =>
  fake.admin.search("account.move", [["move_type", "=", "out_invoice"], ["invoice_origin", "=", orderName]])

describe("the whole flow", () => {
  for (
    const [version, transport] of [[17, "jsonrpc"], [18, "jsonrpc"], [19, "json2"], [19, "jsonrpc"]] as const
  ) {
    it.scopedLive(`Odoo ${version} over ${transport}`, () =>
      Effect.gen(function*() {
        const fake = yield* OdooFake.make({ version })
        const { orderId, pickingId } = seedOrder(fake)
        const { client, erp } = yield* connect(fake, transport === "jsonrpc" ? { transport: "jsonrpc" } : {})
        expect((yield* client.info).transport).toBe(transport)

        // intake
        const batch = yield* erp.fetchOrders({ cursor: undefined, limit: 10 })
        expect(batch.intakes).toHaveLength(1)
        const intake = batch.intakes[0]!
        expect(intake.order.refs.odoo).toEqual({ model: "sale.order", id: orderId })
        expect(intake.order.lines.map((l) => [l.sku, l.quantity, l.unitPrice.amountMinor, l.unitWeight])).toEqual([
          ["WB-WIDGET", 3, 4000, 2500]
        ])
        expect(intake.order.currency).toBe("USD")
        expect(intake.order.customer.name).toBe("Waybill Test Customer")
        expect(intake.order.shipTo.city).toBe("Springfield")
        expect(intake.order.companyId).toBe(`waybill:res.company:1`)
        expect(intake.shipments).toHaveLength(1)
        const shipment = intake.shipments[0]!
        expect(shipment.refs.odoo).toEqual({ model: "stock.picking", id: pickingId })
        expect(shipment.declaredWeight).toBe(7500)
        expect(shipment.carrier).toBe("Standard delivery")
        expect(batch.cursor).toBeDefined()
        expect((yield* erp.fetchOrders({ cursor: batch.cursor, limit: 10 })).intakes).toHaveLength(0)

        // tracking back to the delivery
        yield* erp.writeTracking(
          new ErpPort.WriteTracking({
            key: key(`${shipment.id}:erp.tracking`),
            shipment,
            carrier: "Standard delivery",
            trackingNumber: "1Z999AA10123456784"
          })
        )
        expect(fake.admin.read("stock.picking", [pickingId], ["carrier_tracking_ref", "carrier_id"])[0]).toMatchObject({
          carrier_tracking_ref: "1Z999AA10123456784",
          carrier_id: [1, "Standard delivery"]
        })

        // a milestone note, delivered twice (same key): one chatter note
        const note = new ErpPort.PostNote({
          key: key(`${shipment.id}:erp.note:reached:dispatched`),
          shipment,
          subject: "Dispatched",
          body: "Parcel handed to the carrier <UPS> & on its way"
        })
        yield* erp.postNote(note)
        yield* erp.postNote(note)
        const notes = fake.admin.search("mail.message", [["model", "=", "stock.picking"], ["res_id", "=", pickingId], [
          "message_type",
          "=",
          "comment"
        ]])
        expect(notes).toHaveLength(1)
        expect(fake.calls("stock.picking", "message_post")).toBe(1)
        const body = fake.admin.read("mail.message", notes, ["body", "subtype_id"])[0]!
        expect(body.subtype_id).toEqual([2, "Note"])
        expect(body.body).toContain("&lt;UPS&gt; &amp; on its way") // sent as text: Odoo escapes it
        expect(body.body).toContain(OdooErp.keyMarker(note.key))

        // delivered: validated through the one-time SMS wizard
        const validated = yield* erp.validateDelivery(
          new ErpPort.ValidateDelivery({ key: key(`${shipment.id}:erp.validate`), shipment, deliveredAt })
        )
        expect(validated).toEqual(new ErpPort.DeliveryValidated({ alreadyDone: false }))
        expect(fake.calls("confirm.stock.sms", "dont_send_sms")).toBe(1)
        expect(fake.admin.read("stock.picking", [pickingId], ["state"])[0]!.state).toBe("done")
        const again = yield* erp.validateDelivery(
          new ErpPort.ValidateDelivery({ key: key(`${shipment.id}:erp.validate`), shipment, deliveredAt })
        )
        expect(again.alreadyDone).toBe(true)
        expect(fake.calls("stock.picking", "button_validate")).toBe(1)

        // invoice: Odoo creates it, the answer is lost, the dispatcher retries with the same key
        fake.failNext({ model: "sale.advance.payment.inv", method: "create_invoices" }, OdooFake.actThenDrop)
        const release = new ErpPort.ReleaseInvoice({ key: key(`${shipment.id}:erp.invoice`), shipment })
        const crashed = yield* Effect.either(erp.releaseInvoice(release))
        expect(Either.isLeft(crashed) && crashed.left.reason).toBe("Transport")
        expect(Either.isLeft(crashed) && PortError.isRetryable(crashed.left.reason)).toBe(true)
        expect(invoicesOf(fake, "S00001")).toHaveLength(1) // the far side acted
        const retried = yield* erp.releaseInvoice(release)
        const replayed = yield* erp.releaseInvoice(release)
        expect(invoicesOf(fake, "S00001")).toHaveLength(1)
        expect(fake.calls("sale.advance.payment.inv", "create_invoices")).toBe(1)
        expect(retried.invoice.state).toBe("posted")
        expect(retried.invoice.total).toEqual({ amountMinor: 13800, currency: "USD" })
        expect(retried.invoice.refs.odoo).toEqual({ model: "account.move", id: invoicesOf(fake, "S00001")[0] })
        expect(retried.invoice.shipmentIds).toEqual([shipment.id])
        expect(replayed.created).toBe(false)
        expect(replayed.invoice.id).toBe(retried.invoice.id)

        // payment read back
        expect(yield* erp.readPayment(new ErpPort.ReadPayment({ invoice: retried.invoice }))).toBe("not_paid")
        fake.admin.registerPayment(retried.invoice.refs.odoo!.id)
        expect(yield* erp.readPayment(new ErpPort.ReadPayment({ invoice: retried.invoice }))).toBe("paid")

        // exception: one case per shipment, enriched, never duplicated
        const open = (k: string, noteText: string) =>
          erp.openOrEnrich(
            new HelpdeskPort.OpenCase({
              key: key(k),
              companyId: shipment.companyId,
              shipmentId: shipment.id,
              subject: `Damaged parcel on ${shipment.id}`,
              note: noteText,
              context: caseContext(shipment, true)
            })
          )
        const first = yield* open(`${shipment.id}:case:damaged`, "Customer reports a damaged parcel.")
        expect(first.created).toBe(true)
        expect(first.externalId).toMatch(/^project\.task:\d+$/)
        const repeat = yield* open(`${shipment.id}:case:damaged`, "Customer reports a damaged parcel.")
        expect(repeat).toEqual(new HelpdeskPort.CaseRef({ externalId: first.externalId, created: false }))
        const taskId = Number(first.externalId.split(":")[1])
        const taskNotes = () =>
          fake.admin.search("mail.message", [["model", "=", "project.task"], ["res_id", "=", taskId], ["message_type", "=", "comment"]])
        expect(taskNotes()).toHaveLength(0)
        const second = yield* open(`${shipment.id}:case:address_issue`, "The address is incomplete.")
        expect(second.externalId).toBe(first.externalId)
        expect(taskNotes()).toHaveLength(1)
        const resolved = yield* erp.update(
          new HelpdeskPort.UpdateCase({
            key: key(`${shipment.id}:case:resolved`),
            companyId: shipment.companyId,
            shipmentId: shipment.id,
            note: "Replacement delivered.",
            context: caseContext(shipment, false),
            resolve: true
          })
        )
        expect(resolved.externalId).toBe(first.externalId)
        expect(taskNotes()).toHaveLength(2)
        expect(fake.admin.search("project.task", [])).toEqual([taskId])
        expect(fake.admin.read("project.task", [taskId], ["state", "project_id"])[0]).toMatchObject({
          state: "1_done",
          project_id: [expect.any(Number), "Service cases"]
        })

        // the transport really was the one chosen
        const used = new Set(fake.callLog().filter((c) => c.model !== "common").map((c) => c.transport))
        expect([...used]).toEqual([transport])
      }).pipe(Effect.provide(FetchLayer)))
  }
})

describe("the layer", () => {
  it.scopedLive("provides OdooErp as the ErpPort and the HelpdeskPort", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 18 })
      const { orderId } = seedOrder(fake)
      const live = OdooErp.layer({ instance: "acme" }).pipe(Layer.provide(OdooClient.layer(fake.clientOptions())))
      const ids = yield* Effect.gen(function*() {
        const erp = yield* OdooErp.OdooErp
        expect(yield* ErpPort.ErpPort).toBe(erp)
        expect(yield* HelpdeskPort.HelpdeskPort).toBe(erp)
        const batch = yield* (yield* ErpPort.ErpPort).fetchOrders({ cursor: undefined, limit: 5 })
        return batch.intakes.map((i) => i.order.id)
      }).pipe(Effect.provide(live))
      expect(ids).toEqual([`acme:sale.order:${orderId}`])
    }).pipe(Effect.provide(FetchLayer)))
})

describe("tracking", () => {
  it.scopedLive("a carrier known by name is the one of the delivery's company (or shared), not another company's", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const other = fake.admin.create("res.company", { name: "Other Company", currency_id: 1 })
      // the same shipping method in two companies: Odoo refuses a picking a carrier of another
      // company ("Incompatible companies on records")
      const theirs = fake.admin.create("delivery.carrier", { name: "UPS Ground", sequence: 1, company_id: other })
      const ours = fake.admin.create("delivery.carrier", { name: "UPS Ground", sequence: 2, company_id: false })
      const { orderId, pickingId } = seedOrder(fake)
      const { erp } = yield* connect(fake)
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      yield* erp.writeTracking(
        new ErpPort.WriteTracking({ key: key("t"), shipment, carrier: "ups ground", trackingNumber: "1Z999AA10123456784" })
      )
      const picking = fake.admin.read("stock.picking", [pickingId], ["carrier_id", "company_id"])[0]!
      expect(picking.company_id).toEqual([1, "My Company"])
      expect(picking.carrier_id).toEqual([ours, "UPS Ground"])
      expect(picking.carrier_id).not.toEqual([theirs, "UPS Ground"])
    }).pipe(Effect.provide(FetchLayer)))
})

describe("tracking of a shipment of several parcels", () => {
  const parcels = (taken: Shipment.Shipment, numbers: ReadonlyArray<string>) =>
    new Shipment.Shipment({
      ...taken,
      trackingNumber: numbers[0]!,
      packages: numbers.map((trackingNumber) =>
        Shipment.Package.make({ id: Ids.PackageId.make(`${taken.id}:parcel:${trackingNumber}`), weight: Weight.Grams.make(0), trackingNumber })
      )
    })

  it.scopedLive("every parcel's number is written on the delivery, not only the first", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const { orderId, pickingId } = seedOrder(fake)
      const { erp } = yield* connect(fake)
      const shipment = parcels((yield* intakeOf(erp, orderId)).shipments[0]!, ["1Z999AA10123456784", "1Z999AA10123456795"])
      const request = new ErpPort.WriteTracking({ key: key("t"), shipment, carrier: "Standard delivery", trackingNumber: "1Z999AA10123456784" })
      yield* erp.writeTracking(request)
      const ref = () => fake.admin.read("stock.picking", [pickingId], ["carrier_tracking_ref"])[0]!.carrier_tracking_ref
      expect(ref()).toBe("1Z999AA10123456784+1Z999AA10123456795")
      // taken in again, the delivery names both parcels
      const again = (yield* intakeOf(erp, orderId)).shipments[0]!
      expect(again.packages.map((p) => p.trackingNumber)).toEqual(["1Z999AA10123456784", "1Z999AA10123456795"])
      // a retry writes nothing more, and the first parcel's number alone on the delivery is completed, not noted as replaced
      yield* erp.writeTracking(request)
      expect(ref()).toBe("1Z999AA10123456784+1Z999AA10123456795")
      fake.admin.write("stock.picking", [pickingId], { carrier_tracking_ref: "1Z999AA10123456784" })
      yield* erp.writeTracking(new ErpPort.WriteTracking({ ...request, key: key("t2") }))
      expect(ref()).toBe("1Z999AA10123456784+1Z999AA10123456795")
      expect(fake.admin.search("mail.message", [["model", "=", "stock.picking"], ["res_id", "=", pickingId], ["message_type", "=", "comment"]]))
        .toEqual([])
    }).pipe(Effect.provide(FetchLayer)))
})

describe("tracking typed in by a user", () => {
  it.scopedLive("a different tracking number on the delivery is replaced, and the one replaced is kept in the chatter once", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const { orderId, pickingId } = seedOrder(fake)
      const { erp } = yield* connect(fake)
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      // a user typed the number of a parcel sent by hand; Odoo keeps no history of this field
      fake.admin.write("stock.picking", [pickingId], { carrier_tracking_ref: "HAND-4711" })
      const request = new ErpPort.WriteTracking({ key: key("t"), shipment, carrier: "Standard delivery", trackingNumber: "1Z999AA10123456784" })
      yield* erp.writeTracking(request)
      expect(fake.admin.read("stock.picking", [pickingId], ["carrier_tracking_ref"])[0]!.carrier_tracking_ref).toBe("1Z999AA10123456784")
      const notes = () =>
        fake.admin.read(
          "mail.message",
          fake.admin.search("mail.message", [["model", "=", "stock.picking"], ["res_id", "=", pickingId], ["message_type", "=", "comment"]]),
          ["body"]
        ).map((m) => String(m.body))
      expect(notes()).toHaveLength(1)
      expect(notes()[0]).toContain("HAND-4711")
      expect(notes()[0]).toContain("1Z999AA10123456784")
      // a retry (the answer was lost) and the same number again change nothing more
      yield* erp.writeTracking(request)
      yield* erp.writeTracking(new ErpPort.WriteTracking({ ...request, key: key("t2") }))
      expect(notes()).toHaveLength(1)
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("a number already among the delivery's parcels is not written over the others", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 18 })
      const { orderId, pickingId } = seedOrder(fake)
      const { erp } = yield* connect(fake)
      // taken in with one parcel; the second parcel's number was added in Odoo since
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      fake.admin.write("stock.picking", [pickingId], { carrier_tracking_ref: "1Z999AA10123456784,1Z999AA10123456795" })
      yield* erp.writeTracking(
        new ErpPort.WriteTracking({ key: key("t"), shipment, carrier: "Standard delivery", trackingNumber: "1Z999AA10123456784" })
      )
      expect(fake.admin.read("stock.picking", [pickingId], ["carrier_tracking_ref"])[0]!.carrier_tracking_ref).toBe(
        "1Z999AA10123456784,1Z999AA10123456795"
      )
    }).pipe(Effect.provide(FetchLayer)))
})

describe("tracking, carrier created later", () => {
  it.scopedLive("a shipping method created in Odoo after a lookup missed it is used from then on", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const first = seedOrder(fake)
      const second = seedOrder(fake)
      const { erp } = yield* connect(fake)
      const track = (orderId: number, k: string) =>
        Effect.flatMap(intakeOf(erp, orderId), (intake) =>
          erp.writeTracking(
            new ErpPort.WriteTracking({ key: key(k), shipment: intake.shipments[0]!, carrier: "DHL Express", trackingNumber: `JD0${k}` })
          ))
      // Not in Odoo yet: the tracking number is written, the delivery keeps its shipping method.
      yield* track(first.orderId, "1")
      expect(fake.admin.read("stock.picking", [first.pickingId], ["carrier_tracking_ref", "carrier_id"])[0]).toMatchObject({
        carrier_tracking_ref: "JD01",
        carrier_id: [1, "Standard delivery"]
      })
      const dhl = fake.admin.create("delivery.carrier", { name: "DHL Express", company_id: false })
      yield* track(second.orderId, "2")
      expect(fake.admin.read("stock.picking", [second.pickingId], ["carrier_id"])[0]!.carrier_id).toEqual([dhl, "DHL Express"])
    }).pipe(Effect.provide(FetchLayer)))
})

describe("note bodies", () => {
  it("Odoo 16 takes a note body as HTML: carrier text is escaped there, and handed to 17+ as text (Odoo escapes it)", () => {
    const text = `Parcel <a href="https://evil.example">here</a> & <img src=x>\nline 2`
    expect(OdooErp.noteBody(16, text)).toBe(
      "Parcel &lt;a href=&quot;https://evil.example&quot;&gt;here&lt;/a&gt; &amp; &lt;img src=x&gt;<br>line 2"
    )
    expect(OdooErp.noteBody(17, text)).toBe(text)
    expect(OdooErp.noteBody(19, text)).toBe(text)
  })
})

describe("delivery validation", () => {
  it.scopedLive("a partial delivery makes a backorder through the backorder wizard", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 18 })
      const { orderId, pickingId } = seedOrder(fake, { stock: 2, quantity: 5 })
      const { erp } = yield* connect(fake)
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      const result = yield* erp.validateDelivery(new ErpPort.ValidateDelivery({ key: key("v"), shipment, deliveredAt }))
      const backorders = fake.admin.search("stock.picking", [["backorder_id", "=", pickingId]])
      expect(backorders).toHaveLength(1)
      expect(result).toEqual(new ErpPort.DeliveryValidated({ alreadyDone: false, backorder: `waybill:stock.picking:${backorders[0]}` }))
      expect(fake.calls("stock.backorder.confirmation", "process")).toBe(1)
      expect(fake.admin.read("stock.picking", [pickingId, backorders[0]!], ["state", "weight"])).toEqual([
        { id: pickingId, state: "done", weight: 5 },
        { id: backorders[0], state: "confirmed", weight: 7.5 }
      ])
      // the next intake shows both deliveries of the order
      const shipments = (yield* intakeOf(erp, orderId)).shipments
      expect(shipments.map((s) => s.refs.odoo?.id)).toEqual([pickingId, backorders[0]])
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("a retry after the backorder wizard acted still reports the backorder", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 18 })
      const { orderId, pickingId } = seedOrder(fake, { stock: 2, quantity: 5 })
      const { erp } = yield* connect(fake)
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      const request = new ErpPort.ValidateDelivery({ key: key("v"), shipment, deliveredAt })
      // the last step of the validation (the one-time SMS question) acts, and its answer is lost
      fake.failNext({ model: "confirm.stock.sms" }, OdooFake.actThenDrop)
      expect((yield* Effect.flip(erp.validateDelivery(request))).reason).toBe("Transport")
      expect(fake.admin.read("stock.picking", [pickingId], ["state"])[0]!.state).toBe("done")
      const backorders = fake.admin.search("stock.picking", [["backorder_id", "=", pickingId]])
      expect(backorders).toHaveLength(1)
      const retried = yield* erp.validateDelivery(request)
      expect(retried).toEqual(
        new ErpPort.DeliveryValidated({ alreadyDone: true, backorder: `waybill:stock.picking:${backorders[0]}` })
      )
      expect(fake.calls("stock.backorder.confirmation", "process")).toBe(1)
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("a delivery validated in Odoo while the call was on its way (17 refuses a done one) reads as already done", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const { orderId, pickingId } = seedOrder(fake)
      const { erp } = yield* connect(fake)
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      // the adapter reads the delivery as ready; before its button_validate arrives, the delivery
      // is validated (by a user, or by an earlier attempt of this call that timed out but went on)
      fake.failNext({ model: "stock.picking", method: "read" }, OdooFake.delay(150))
      const validated = yield* Effect.fork(
        erp.validateDelivery(new ErpPort.ValidateDelivery({ key: key("v"), shipment, deliveredAt }))
      )
      yield* Effect.sleep("50 millis")
      fake.admin.call("stock.picking", "button_validate", [pickingId], {}, { skip_sms: true })
      expect(fake.admin.read("stock.picking", [pickingId], ["state"])[0]!.state).toBe("done")
      const result = yield* Fiber.join(validated)
      expect(result).toEqual(new ErpPort.DeliveryValidated({ alreadyDone: true }))
      expect(fake.calls("stock.move", "write")).toBe(0)
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("without backorders the rest is dropped", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const { orderId, pickingId } = seedOrder(fake, { stock: 2, quantity: 5 })
      const { erp } = yield* connect(fake, {}, { backorders: false })
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      const result = yield* erp.validateDelivery(new ErpPort.ValidateDelivery({ key: key("v"), shipment, deliveredAt }))
      expect(result).toEqual(new ErpPort.DeliveryValidated({ alreadyDone: false }))
      expect(fake.calls("stock.backorder.confirmation", "process_cancel_backorder")).toBe(1)
      expect(fake.admin.search("stock.picking", [["backorder_id", "=", pickingId]])).toEqual([])
      expect(fake.admin.read("stock.picking", [pickingId], ["state"])[0]!.state).toBe("done")
    }).pipe(Effect.provide(FetchLayer)))

  for (const version of [17, 19] as const) {
    it.scopedLive(`nothing reserved on ${version}: the demand is encoded as done and validated`, () =>
      Effect.gen(function*() {
        const fake = yield* OdooFake.make({ version })
        const { orderId, pickingId } = seedOrder(fake, { stock: 0, quantity: 4 })
        const { erp } = yield* connect(fake)
        const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
        expect(fake.admin.read("stock.picking", [pickingId], ["state"])[0]!.state).toBe("confirmed")
        const result = yield* erp.validateDelivery(new ErpPort.ValidateDelivery({ key: key("v"), shipment, deliveredAt }))
        expect(result.alreadyDone).toBe(false)
        expect(fake.calls("stock.move", "write")).toBe(1)
        expect(fake.calls("stock.picking", "button_validate")).toBe(2)
        expect(fake.admin.read("stock.picking", [pickingId], ["state"])[0]!.state).toBe("done")
      }).pipe(Effect.provide(FetchLayer)))
  }

  it.scopedLive("nothing reserved and forcing disabled: the UserError is permanent, message kept", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 19 })
      const { orderId } = seedOrder(fake, { stock: 0, quantity: 4 })
      const { erp } = yield* connect(fake, {}, { forceUnreserved: false })
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      const error = yield* Effect.flip(erp.validateDelivery(new ErpPort.ValidateDelivery({ key: key("v"), shipment, deliveredAt })))
      expect(error.reason).toBe("Invalid")
      expect(error.status).toBe(422)
      expect(error.description).toContain("Transfer trouble alert!")
      expect(PortError.isRetryable(error.reason)).toBe(false)
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("with OCA delivery_state, the carrier state, the delivery date and the POD are written", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17, modules: { deliveryState: true } })
      const { orderId, pickingId } = seedOrder(fake)
      const { erp } = yield* connect(fake)
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      const request = new ErpPort.ValidateDelivery({
        key: key("v"),
        shipment,
        deliveredAt,
        pod: new ShipmentEvent.ProofOfDelivery({ signedBy: "J. Doe", evidenceUrl: "https://pod.example.com/1.png" })
      })
      yield* erp.validateDelivery(request)
      const row = fake.admin.read("stock.picking", [pickingId], ["delivery_state", "date_delivered", "tracking_state_history"])[0]!
      expect(row.delivery_state).toBe("customer_delivered")
      expect(row.date_delivered).toBe("2026-11-28 09:30:00")
      expect(row.tracking_state_history).toBe("2026-11-28 09:30:00 delivered, signed by J. Doe, proof of delivery https://pod.example.com/1.png")
      // a retry finds it done and written: nothing more is sent
      const writes = fake.calls("stock.picking", "write")
      expect((yield* erp.validateDelivery(request)).alreadyDone).toBe(true)
      expect(fake.calls("stock.picking", "write")).toBe(writes)
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("without delivery_state nothing of it is written", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 18 })
      const { orderId } = seedOrder(fake)
      const { erp } = yield* connect(fake)
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      yield* erp.validateDelivery(new ErpPort.ValidateDelivery({ key: key("v"), shipment, deliveredAt }))
      expect(fake.calls("stock.picking", "fields_get")).toBe(1)
      expect(fake.calls("stock.picking", "write")).toBe(0)
    }).pipe(Effect.provide(FetchLayer)))

  describe("a carrier that buys labels", () => {
    /**
     * A seeded order whose delivery goes with a shipping connector (UPS) at `integrationLevel`:
     * validating it without a tracking reference makes Odoo buy a label from the carrier.
     */
    const labelled = (fake: OdooFake.OdooFake, integrationLevel: "rate" | "rate_and_ship" = "rate_and_ship") => {
      const ups = fake.admin.create("delivery.carrier", {
        name: "UPS Ground",
        delivery_type: "ups_rest",
        integration_level: integrationLevel,
        company_id: false
      })
      const seeded = seedOrder(fake)
      fake.admin.write("stock.picking", [seeded.pickingId], { carrier_id: ups })
      return { ...seeded, ups }
    }
    const pickingOf = (fake: OdooFake.OdooFake, pickingId: number) =>
      fake.admin.read("stock.picking", [pickingId], ["state", "carrier_tracking_ref"])[0]!

    it.scopedLive("no tracking reference in Odoo: waybill's numbers are written first, so Odoo buys no label", () =>
      Effect.gen(function*() {
        const fake = yield* OdooFake.make({ version: 17 })
        const { orderId, pickingId } = labelled(fake)
        const { erp } = yield* connect(fake)
        const taken = (yield* intakeOf(erp, orderId)).shipments[0]!
        expect(taken.trackingNumber).toBeUndefined()
        // dispatched reached waybill but its erp.writeTracking has not run (yet)
        const shipment = new Shipment.Shipment({
          ...taken,
          trackingNumber: "1Z999AA10123456784",
          packages: ["1Z999AA10123456784", "1Z999AA10123456795"].map((trackingNumber) =>
            Shipment.Package.make({ id: Ids.PackageId.make(`${taken.id}:parcel:${trackingNumber}`), weight: Weight.Grams.make(0), trackingNumber })
          )
        })
        const result = yield* erp.validateDelivery(new ErpPort.ValidateDelivery({ key: key("v"), shipment, deliveredAt }))
        expect(result).toEqual(new ErpPort.DeliveryValidated({ alreadyDone: false }))
        expect(fake.labels()).toEqual([])
        expect(pickingOf(fake, pickingId)).toMatchObject({ state: "done", carrier_tracking_ref: "1Z999AA10123456784+1Z999AA10123456795" })
        // the late writeTracking finds its number among them and keeps them all
        yield* erp.writeTracking(
          new ErpPort.WriteTracking({ key: key("t"), shipment, carrier: "UPS Ground", trackingNumber: "1Z999AA10123456784" })
        )
        expect(pickingOf(fake, pickingId).carrier_tracking_ref).toBe("1Z999AA10123456784+1Z999AA10123456795")
      }).pipe(Effect.provide(FetchLayer)))

    it.scopedLive("no tracking number anywhere: the delivery is not validated, a permanent Invalid error says why", () =>
      Effect.gen(function*() {
        const fake = yield* OdooFake.make({ version: 18 })
        const { orderId, pickingId } = labelled(fake)
        const { erp } = yield* connect(fake)
        const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
        const error = yield* Effect.flip(erp.validateDelivery(new ErpPort.ValidateDelivery({ key: key("v"), shipment, deliveredAt })))
        expect(error.reason).toBe("Invalid")
        expect(PortError.isRetryable(error.reason)).toBe(false)
        expect(error.description).toContain("buy a carrier label")
        expect(error.description).toContain("replay")
        expect(fake.labels()).toEqual([])
        expect(fake.calls("stock.picking", "button_validate")).toBe(0)
        expect(pickingOf(fake, pickingId)).toMatchObject({ state: "assigned", carrier_tracking_ref: false })
        // the user writes the number in Odoo and replays: validated, still no label
        fake.admin.write("stock.picking", [pickingId], { carrier_tracking_ref: "1Z999AA10123456784" })
        const replayed = yield* erp.validateDelivery(new ErpPort.ValidateDelivery({ key: key("v"), shipment, deliveredAt }))
        expect(replayed.alreadyDone).toBe(false)
        expect(fake.labels()).toEqual([])
        expect(pickingOf(fake, pickingId)).toMatchObject({ state: "done", carrier_tracking_ref: "1Z999AA10123456784" })
      }).pipe(Effect.provide(FetchLayer)))

    it.scopedLive("a fixed-price carrier, a connector that only rates, or a picking type without labels: validated as before", () =>
      Effect.gen(function*() {
        const fake = yield* OdooFake.make({ version: 17 })
        const { erp } = yield* connect(fake)
        const validated = (orderId: number, pickingId: number) =>
          Effect.gen(function*() {
            const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
            expect(shipment.trackingNumber).toBeUndefined()
            const result = yield* erp.validateDelivery(new ErpPort.ValidateDelivery({ key: key(`v${pickingId}`), shipment, deliveredAt }))
            expect(result).toEqual(new ErpPort.DeliveryValidated({ alreadyDone: false }))
            expect(pickingOf(fake, pickingId)).toMatchObject({ state: "done", carrier_tracking_ref: false })
          })
        // "Standard delivery": fixed price, at Odoo's default level rate_and_ship; its
        // send_to_shipper calls no carrier
        const fixed = seedOrder(fake)
        expect(fake.admin.read("delivery.carrier", [1], ["delivery_type", "integration_level"])[0]).toMatchObject({
          delivery_type: "fixed",
          integration_level: "rate_and_ship"
        })
        yield* validated(fixed.orderId, fixed.pickingId)
        // a connector at "Get Rate": Odoo sends nothing to the carrier on validation
        const rate = labelled(fake, "rate")
        yield* validated(rate.orderId, rate.pickingId)
        // a connector at "Get Rate and Create Shipment" on an operation type that prints no labels
        fake.admin.write("stock.picking.type", [2], { print_label: false })
        const unprinted = labelled(fake)
        yield* validated(unprinted.orderId, unprinted.pickingId)
        expect(fake.labels()).toEqual([])
        expect(fake.calls("stock.picking", "write")).toBe(0)
      }).pipe(Effect.provide(FetchLayer)))

    it.scopedLive("Odoo 15 and earlier buy a label whatever the reference: such a delivery is never validated there", () =>
      Effect.gen(function*() {
        const fake = yield* OdooFake.make({ version: 17 })
        const { orderId, pickingId } = labelled(fake)
        fake.admin.write("stock.picking", [pickingId], { carrier_tracking_ref: "1Z999AA10123456784" })
        const client = yield* OdooClient.make(fake.clientOptions())
        // the fake answers as 17: the adapter is told it talks to a 15
        const old = { ...client, info: Effect.map(client.info, (info) => ({ ...info, major: 15 })) }
        const erp = yield* OdooErp.make().pipe(Effect.provideService(OdooClient.OdooClient, old))
        const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
        const error = yield* Effect.flip(erp.validateDelivery(new ErpPort.ValidateDelivery({ key: key("v"), shipment, deliveredAt })))
        expect(error.reason).toBe("Invalid")
        expect(error.description).toContain("Odoo 15")
        expect(fake.calls("stock.picking", "button_validate")).toBe(0)
        expect(pickingOf(fake, pickingId).state).toBe("assigned")
      }).pipe(Effect.provide(FetchLayer)))
  })
})

describe("invoices", () => {
  it.scopedLive("a crash after posting, and a crash after marking, still leave one invoice", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 19 })
      const { orderId } = seedOrder(fake)
      const { erp } = yield* connect(fake)
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      yield* erp.validateDelivery(new ErpPort.ValidateDelivery({ key: key("v"), shipment, deliveredAt }))
      const release = new ErpPort.ReleaseInvoice({ key: key("invoice"), shipment })
      fake.failNext({ model: "account.move", method: "write" }, OdooFake.actThenDrop)
      expect((yield* Effect.flip(erp.releaseInvoice(release))).reason).toBe("Transport")
      fake.failNext({ model: "account.move", method: "action_post" }, OdooFake.actThenDrop)
      expect((yield* Effect.flip(erp.releaseInvoice(release))).reason).toBe("Transport")
      const released = yield* erp.releaseInvoice(release)
      expect(released.created).toBe(false)
      expect(released.invoice.state).toBe("posted")
      expect(invoicesOf(fake, "S00001")).toHaveLength(1)
      expect(fake.calls("sale.advance.payment.inv", "create_invoices")).toBe(1)
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("a clean release creates and posts, and a second key of the same order adopts nothing new", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const { orderId } = seedOrder(fake)
      const { erp } = yield* connect(fake)
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      yield* erp.validateDelivery(new ErpPort.ValidateDelivery({ key: key("v"), shipment, deliveredAt }))
      const first = yield* erp.releaseInvoice(new ErpPort.ReleaseInvoice({ key: key("invoice"), shipment }))
      expect(first.created).toBe(true)
      expect(first.invoice.issuedAt).toBeDefined()
      const other = yield* erp.releaseInvoice(new ErpPort.ReleaseInvoice({ key: key("invoice-2"), shipment }))
      expect(other.created).toBe(false)
      expect(other.invoice.id).toBe(first.invoice.id)
      expect(invoicesOf(fake, "S00001")).toHaveLength(1)
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("an invoice Odoo refuses to post is not reported as released", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const { orderId } = seedOrder(fake)
      const { erp } = yield* connect(fake)
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      yield* erp.validateDelivery(new ErpPort.ValidateDelivery({ key: key("v"), shipment, deliveredAt }))
      // A lock date (or a missing journal setting) refuses the post with a UserError.
      const refused: OdooFake.Fault = {
        _tag: "OdooError",
        name: "odoo.exceptions.UserError",
        message: "You cannot add/modify entries prior to and inclusive of the lock date 2026-12-31.",
        status: 422
      }
      const release = new ErpPort.ReleaseInvoice({ key: key("invoice"), shipment })
      fake.failNext({ model: "account.move", method: "action_post" }, refused)
      const error = yield* Effect.flip(erp.releaseInvoice(release))
      expect(error.reason).toBe("Invalid")
      expect(error.description).toContain("lock date")
      // The draft stays the one invoice; once posting works, the replay posts it.
      expect(invoicesOf(fake, "S00001")).toHaveLength(1)
      const adopted = yield* erp.releaseInvoice(release)
      expect(adopted.invoice.state).toBe("posted")
      expect(invoicesOf(fake, "S00001")).toHaveLength(1)
      // A retry that finds the draft and is refused again fails too.
      const fake2 = yield* OdooFake.make({ version: 18 })
      const seeded = seedOrder(fake2)
      const second = yield* connect(fake2)
      const shipment2 = (yield* intakeOf(second.erp, seeded.orderId)).shipments[0]!
      yield* second.erp.validateDelivery(new ErpPort.ValidateDelivery({ key: key("v"), shipment: shipment2, deliveredAt }))
      const release2 = new ErpPort.ReleaseInvoice({ key: key("invoice"), shipment: shipment2 })
      fake2.failNext({ model: "account.move", method: "action_post" }, refused, 2)
      expect((yield* Effect.flip(second.erp.releaseInvoice(release2))).reason).toBe("Invalid")
      expect((yield* Effect.flip(second.erp.releaseInvoice(release2))).reason).toBe("Invalid")
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("an order with nothing delivered has nothing to invoice: a permanent error", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 18 })
      const { orderId } = seedOrder(fake)
      const { erp } = yield* connect(fake)
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      const error = yield* Effect.flip(erp.releaseInvoice(new ErpPort.ReleaseInvoice({ key: key("invoice"), shipment })))
      expect(error.reason).toBe("Invalid")
      expect(error.description).toContain("S00001 has nothing to invoice")
      expect(invoicesOf(fake, "S00001")).toHaveLength(0)
    }).pipe(Effect.provide(FetchLayer)))
})

describe("service cases in the helpdesk", () => {
  it.scopedLive("helpdesk.ticket is used when the model exists, and resolving folds it", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 18, modules: { helpdesk: true } })
      const { orderId } = seedOrder(fake)
      const { erp } = yield* connect(fake)
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      const opened = yield* erp.openOrEnrich(openCase(shipment, "case-1", "Parcel lost", "No scan for 5 days."))
      expect(opened.created).toBe(true)
      expect(opened.externalId).toMatch(/^helpdesk\.ticket:\d+$/)
      const id = Number(opened.externalId.split(":")[1])
      const description = String(fake.admin.read("helpdesk.ticket", [id], ["description"])[0]!.description)
      expect(description).toContain("Ask the customer for photos")
      expect(description).toContain(OdooErp.shipmentMarker(shipment.id))
      yield* erp.update(
        new HelpdeskPort.UpdateCase({
          key: key("case-2"),
          companyId: shipment.companyId,
          shipmentId: shipment.id,
          note: "Found.",
          context: caseContext(shipment, false),
          resolve: true
        })
      )
      expect(fake.admin.read("helpdesk.ticket", [id], ["stage_id"])[0]!.stage_id).toEqual([3, "Solved"])
      expect(fake.admin.search("project.task", [])).toEqual([])
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("a new exception on a solved ticket brings it back out of the folded stage", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17, modules: { helpdesk: true } })
      const { orderId } = seedOrder(fake)
      const { erp } = yield* connect(fake)
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      const open = (k: string) =>
        erp.openOrEnrich(openCase(shipment, k))
      const opened = yield* open("case-1")
      const id = Number(opened.externalId.split(":")[1])
      yield* erp.update(
        new HelpdeskPort.UpdateCase({
          key: key("case-1-resolved"),
          companyId: shipment.companyId,
          shipmentId: shipment.id,
          note: "Replaced.",
          context: caseContext(shipment, false),
          resolve: true
        })
      )
      expect(fake.admin.read("helpdesk.ticket", [id], ["stage_id"])[0]!.stage_id).toEqual([3, "Solved"])
      const again = yield* open("case-2")
      expect(again.externalId).toBe(opened.externalId)
      // open again, as a project task is: back in the first stage that is not folded
      expect(fake.admin.read("helpdesk.ticket", [id], ["stage_id"])[0]!.stage_id).toEqual([1, "New"])
      // and through a fresh adapter, which finds the ticket by its marker
      yield* erp.update(
        new HelpdeskPort.UpdateCase({
          key: key("case-2-resolved"),
          companyId: shipment.companyId,
          shipmentId: shipment.id,
          note: "Replaced.",
          context: caseContext(shipment, false),
          resolve: true
        })
      )
      const fresh = yield* connect(fake)
      yield* fresh.erp.openOrEnrich(openCase(shipment, "case-3", "Parcel lost", "Lost."))
      expect(fake.admin.read("helpdesk.ticket", [id], ["stage_id"])[0]!.stage_id).toEqual([1, "New"])
      expect(fake.admin.search("helpdesk.ticket", [])).toEqual([id])
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("a first attempt on a case this process knows still reopens it when someone closed it in Odoo", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17, modules: { helpdesk: true } })
      const { orderId } = seedOrder(fake)
      const { erp } = yield* connect(fake)
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      const firstAttempt = Effect.provideService(Dispatcher.Attempt, { claim: 1, call: 1 })
      const open = (k: string) =>
        erp.openOrEnrich(openCase(shipment, k)).pipe(firstAttempt)
      const id = Number((yield* open("case-1")).externalId.split(":")[1])
      const stageOf = () => fake.admin.read("helpdesk.ticket", [id], ["stage_id"])[0]!.stage_id as [number, string]
      const opened = stageOf()
      // an agent solves the ticket in Odoo, behind the adapter's back
      const solved = fake.admin.search("helpdesk.stage", [["fold", "=", true]])[0]!
      fake.admin.write("helpdesk.ticket", [id], { stage_id: solved })
      yield* open("case-2")
      expect(stageOf()).toEqual(opened)
      expect(fake.admin.search("helpdesk.ticket", [])).toEqual([id])
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("a ticket moves through the stages of its own team when it is solved and reopened", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17, modules: { helpdesk: true } })
      const team = fake.admin.create("helpdesk.team", { name: "Returns", sequence: 2 })
      const todo = fake.admin.create("helpdesk.stage", { name: "Returns: to do", sequence: 5, fold: false, team_ids: [[6, 0, [team]]] })
      const done = fake.admin.create("helpdesk.stage", { name: "Returns: done", sequence: 6, fold: true, team_ids: [[6, 0, [team]]] })
      const { orderId } = seedOrder(fake)
      const { erp } = yield* connect(fake, {}, { serviceCases: { helpdeskTeamId: team } })
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      const open = (k: string) =>
        erp.openOrEnrich(openCase(shipment, k))
      const resolve = (k: string) =>
        erp.update(
          new HelpdeskPort.UpdateCase({
            key: key(k),
            companyId: shipment.companyId,
            shipmentId: shipment.id,
            note: "Replaced.",
            context: caseContext(shipment, false),
            resolve: true
          })
        )
      const stageOf = (id: number) => fake.admin.read("helpdesk.ticket", [id], ["stage_id"])[0]!.stage_id
      const id = Number((yield* open("case-1")).externalId.split(":")[1])
      expect(stageOf(id)).toEqual([todo, "Returns: to do"])
      yield* resolve("case-1-resolved")
      expect(stageOf(id)).toEqual([done, "Returns: done"])
      yield* open("case-2")
      expect(stageOf(id)).toEqual([todo, "Returns: to do"])
      // and through a fresh adapter, which finds the ticket by its marker
      yield* resolve("case-2-resolved")
      const fresh = yield* connect(fake, {}, { serviceCases: { helpdeskTeamId: team } })
      yield* fresh.erp.openOrEnrich(openCase(shipment, "case-3", "Parcel lost", "Lost."))
      expect(stageOf(id)).toEqual([todo, "Returns: to do"])
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("the invoice exposure is shown in the currency's own minor units", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const { orderId } = seedOrder(fake)
      const { erp } = yield* connect(fake)
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      const exposure = (amountMinor: number, currency: string) =>
        new HelpdeskPort.CaseContext({
          ...caseContext(shipment, true),
          invoiceExposure: new Money.Money({ amountMinor, currency: Money.CurrencyCode.make(currency) })
        })
      const descriptionOf = (externalId: string) =>
        String(fake.admin.read("project.task", [Number(externalId.split(":")[1])], ["description"])[0]!.description)
      // ¥13,800 is 13800 minor units (the yen has none smaller); 1.250 KWD is 1250 (fils).
      const yen = yield* erp.openOrEnrich(
        new HelpdeskPort.OpenCase({
          key: key("case-jpy"),
          companyId: shipment.companyId,
          shipmentId: shipment.id,
          subject: "Damaged",
          note: "Damaged.",
          context: exposure(13800, "JPY")
        })
      )
      expect(descriptionOf(yen.externalId)).toContain("Invoice exposure: 13800 JPY")
      const other = (yield* intakeOf(erp, seedOrder(fake).orderId)).shipments[0]!
      const dinar = yield* erp.openOrEnrich(
        new HelpdeskPort.OpenCase({
          key: key("case-kwd"),
          companyId: other.companyId,
          shipmentId: other.id,
          subject: "Damaged",
          note: "Damaged.",
          context: new HelpdeskPort.CaseContext({ ...exposure(-1250, "KWD"), shipmentId: other.id })
        })
      )
      expect(descriptionOf(dinar.externalId)).toContain("Invoice exposure: -1.250 KWD")
    }).pipe(Effect.provide(FetchLayer)))

  for (const helpdesk of [false, true]) {
    it.scopedLive(`two processes opening a shipment's first case at once under different keys leave one ${helpdesk ? "ticket" : "task"} with both notes`, () =>
      Effect.gen(function*() {
        const fake = yield* OdooFake.make({ version: 17, latencyMs: 30, modules: { helpdesk } })
        const { orderId } = seedOrder(fake)
        // two worker processes: each its own adapter (its own locks and cache)
        const one = yield* connect(fake)
        const two = yield* connect(fake)
        const shipment = (yield* intakeOf(one.erp, orderId)).shipments[0]!
        const model = helpdesk ? "helpdesk.ticket" : "project.task"
        const firstAttempt = Effect.provideService(Dispatcher.Attempt, { claim: 1, call: 1 })
        // both look the shipment's case up before either has created it
        fake.failNext({ model, method: "search_read" }, OdooFake.delay(150), 2)
        const [a, b] = yield* Effect.all([
          one.erp.openOrEnrich(openCase(shipment, "exception:damaged", "Parcel damaged", "Damaged.")).pipe(firstAttempt),
          two.erp.openOrEnrich(openCase(shipment, "exception:delayed", "Parcel delayed", "Delayed.")).pipe(firstAttempt)
        ], { concurrency: "unbounded" })
        const cases = fake.admin.search(model, [], { activeTest: false })
        expect(cases).toHaveLength(1)
        expect(a!.externalId).toBe(`${model}:${cases[0]}`)
        expect(b!.externalId).toBe(a!.externalId)
        expect([a!.created, b!.created].filter((c) => c)).toHaveLength(1)
        // the note of the process whose case was merged away is on the one case
        const text = [
          String(fake.admin.read(model, cases, ["description"])[0]!.description),
          ...fake.admin.read("mail.message", fake.admin.search("mail.message", [["model", "=", model], ["res_id", "=", cases[0]!]]), ["body"])
            .map((m) => String(m.body))
        ].join("\n")
        expect(text).toContain("Damaged.")
        expect(text).toContain("Delayed.")
      }).pipe(Effect.provide(FetchLayer)))
  }

  it.scopedLive("a task a user closed is reopened by a new exception; one a user deleted is opened anew, and updating it is NotFound", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const { orderId } = seedOrder(fake)
      const { erp } = yield* connect(fake)
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      const firstAttempt = Effect.provideService(Dispatcher.Attempt, { claim: 1, call: 1 })
      const id = Number((yield* erp.openOrEnrich(openCase(shipment, "case-1")).pipe(firstAttempt)).externalId.split(":")[1])
      fake.admin.write("project.task", [id], { state: "1_done" })
      const again = yield* erp.openOrEnrich(openCase(shipment, "case-2")).pipe(firstAttempt)
      expect(again).toEqual(new HelpdeskPort.CaseRef({ externalId: `project.task:${id}`, created: false }))
      expect(fake.admin.read("project.task", [id], ["state"])[0]!.state).toBe("01_in_progress")
      fake.admin.call("project.task", "unlink", [id])
      const update = (k: string) =>
        erp.update(
          new HelpdeskPort.UpdateCase({
            key: key(k),
            companyId: shipment.companyId,
            shipmentId: shipment.id,
            note: "Found.",
            context: caseContext(shipment, false),
            resolve: true
          })
        )
      // the process still knows the deleted id: the first attempt fails, the retry reads NotFound
      expect(yield* Effect.flip(update("case-resolved").pipe(firstAttempt))).toBeDefined()
      expect((yield* Effect.flip(update("case-resolved"))).reason).toBe("NotFound")
      const reopened = yield* erp.openOrEnrich(openCase(shipment, "case-3")).pipe(firstAttempt)
      expect(reopened.created).toBe(true)
      expect(fake.admin.search("project.task", [])).toEqual([Number(reopened.externalId.split(":")[1])])
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("updating a shipment without a case is NotFound", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const { orderId } = seedOrder(fake)
      const { erp } = yield* connect(fake)
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
      const error = yield* Effect.flip(
        erp.update(
          new HelpdeskPort.UpdateCase({
            key: key("case-2"),
            companyId: shipment.companyId,
            shipmentId: shipment.id,
            note: "?",
            context: caseContext(shipment, false),
            resolve: false
          })
        )
      )
      expect(error._tag).toBe("HelpdeskError")
      expect(error.reason).toBe("NotFound")
    }).pipe(Effect.provide(FetchLayer)))

  describe("in a multi-company database", () => {
    /** A second company, and a confirmed order of it (its delivery is of that company). */
    const seedOtherCompany = (fake: OdooFake.OdooFake) => {
      const other = fake.admin.create("res.company", { name: "Company B", currency_id: 1 })
      const partner = fake.admin.createPartner()
      const product = fake.admin.createProduct({ name: "B Widget", code: "B-WIDGET", weightKg: 1, price: 10 })
      fake.admin.setStock(product, 10)
      const { orderId } = fake.admin.createOrder({ partnerId: partner, lines: [{ productId: product, quantity: 1, price: 10 }], confirm: false })
      fake.admin.write("sale.order", [orderId], { company_id: other })
      fake.admin.call("sale.order", "action_confirm", [orderId])
      return { other, orderId }
    }
    const companyOf = (fake: OdooFake.OdooFake, model: string, id: number) =>
      (fake.admin.read(model, [id], ["company_id"])[0]!.company_id as [number, string] | false)
    const idOf = (ref: HelpdeskPort.CaseRef) => Number(ref.externalId.split(":")[1])

    for (const custom of [false, true]) {
      it.scopedLive(`each shipment's task is in its own company's project${custom ? " (company read from the delivery when the canonical company id is not Odoo's)" : ""}; a second exception enriches it`, () =>
        Effect.gen(function*() {
          const fake = yield* OdooFake.make({ version: 17 })
          const a = seedOrder(fake)
          const b = seedOtherCompany(fake)
          const { erp } = yield* connect(fake, {}, custom ? { companyId: (c) => `acme-${c.name}` } : {})
          const shipmentA = (yield* intakeOf(erp, a.orderId)).shipments[0]!
          const shipmentB = (yield* intakeOf(erp, b.orderId)).shipments[0]!
          expect(companyOf(fake, "stock.picking", shipmentB.refs.odoo!.id)).toEqual([b.other, "Company B"])
          const caseA = yield* erp.openOrEnrich(openCase(shipmentA, "a:damaged"))
          const caseB = yield* erp.openOrEnrich(openCase(shipmentB, "b:damaged"))
          expect([caseA.created, caseB.created]).toEqual([true, true])
          const taskA = fake.admin.read("project.task", [idOf(caseA)], ["company_id", "project_id"])[0]!
          const taskB = fake.admin.read("project.task", [idOf(caseB)], ["company_id", "project_id"])[0]!
          expect(taskA.company_id).toEqual([1, "My Company"])
          expect(taskB.company_id).toEqual([b.other, "Company B"])
          const projectA = (taskA.project_id as [number, string])[0]
          const projectB = (taskB.project_id as [number, string])[0]
          expect(projectB).not.toBe(projectA)
          expect(taskB.project_id).toEqual([projectB, "Service cases"])
          expect(companyOf(fake, "project.project", projectA)).toEqual([1, "My Company"])
          expect(companyOf(fake, "project.project", projectB)).toEqual([b.other, "Company B"])
          // a second exception of B's shipment goes to B's case, as a note
          const again = yield* erp.openOrEnrich(openCase(shipmentB, "b:delayed", "Parcel delayed", "Delayed."))
          expect(again).toEqual(new HelpdeskPort.CaseRef({ externalId: caseB.externalId, created: false }))
          const notes = fake.admin.read(
            "mail.message",
            fake.admin.search("mail.message", [["model", "=", "project.task"], ["res_id", "=", idOf(caseB)], ["message_type", "=", "comment"]]),
            ["body"]
          )
          expect(notes.map((m) => String(m.body)).join("\n")).toContain("Delayed.")
          expect(fake.admin.search("project.task", [])).toHaveLength(2)
          // a new adapter (another process) finds each company's project again, none is added
          const fresh = yield* connect(fake)
          const nextA = (yield* intakeOf(fresh.erp, seedOrder(fake).orderId)).shipments[0]!
          const caseA2 = yield* fresh.erp.openOrEnrich(openCase(nextA, "a2:damaged"))
          expect(fake.admin.read("project.task", [idOf(caseA2)], ["project_id"])[0]!.project_id).toEqual([projectA, "Service cases"])
          expect(fake.admin.search("project.project", [])).toHaveLength(2)
        }).pipe(Effect.provide(FetchLayer)))
    }

    it.scopedLive("a shared Service cases project (no company) is used for every company, each task in its shipment's company", () =>
      Effect.gen(function*() {
        const fake = yield* OdooFake.make({ version: 17 })
        const shared = fake.admin.create("project.project", { name: "Service cases", company_id: false })
        const a = seedOrder(fake)
        const b = seedOtherCompany(fake)
        const { erp } = yield* connect(fake)
        const caseA = yield* erp.openOrEnrich(openCase((yield* intakeOf(erp, a.orderId)).shipments[0]!, "a:damaged"))
        const caseB = yield* erp.openOrEnrich(openCase((yield* intakeOf(erp, b.orderId)).shipments[0]!, "b:damaged"))
        expect(fake.admin.read("project.task", [idOf(caseA)], ["company_id", "project_id"])[0]).toMatchObject({
          company_id: [1, "My Company"],
          project_id: [shared, "Service cases"]
        })
        expect(fake.admin.read("project.task", [idOf(caseB)], ["company_id", "project_id"])[0]).toMatchObject({
          company_id: [b.other, "Company B"],
          project_id: [shared, "Service cases"]
        })
        expect(fake.admin.search("project.project", [])).toEqual([shared])
      }).pipe(Effect.provide(FetchLayer)))

    it.scopedLive("two processes opening the first cases of a new company at once leave it one Service cases project, holding both cases", () =>
      Effect.gen(function*() {
        const fake = yield* OdooFake.make({ version: 17, latencyMs: 30 })
        const b = seedOtherCompany(fake)
        /** Another confirmed order of company B. */
        const orderOfB = (code: string) => {
          const partner = fake.admin.createPartner()
          const product = fake.admin.createProduct({ name: code, code, weightKg: 1, price: 10 })
          fake.admin.setStock(product, 10)
          const { orderId } = fake.admin.createOrder({ partnerId: partner, lines: [{ productId: product, quantity: 1, price: 10 }], confirm: false })
          fake.admin.write("sale.order", [orderId], { company_id: b.other })
          fake.admin.call("sale.order", "action_confirm", [orderId])
          return orderId
        }
        const secondOrder = orderOfB("B-GADGET")
        // two worker processes: each its own adapter (its own locks and caches)
        const one = yield* connect(fake)
        const two = yield* connect(fake)
        const shipment1 = (yield* intakeOf(one.erp, b.orderId)).shipments[0]!
        const shipment2 = (yield* intakeOf(two.erp, secondOrder)).shipments[0]!
        expect(shipment2.companyId).toBe(shipment1.companyId)
        const firstAttempt = Effect.provideService(Dispatcher.Attempt, { claim: 1, call: 1 })
        // both look the company's project up before either has created it
        fake.failNext({ model: "project.project", method: "search_read" }, OdooFake.delay(150), 2)
        const [case1, case2] = yield* Effect.all([
          one.erp.openOrEnrich(openCase(shipment1, "one:damaged")).pipe(firstAttempt),
          two.erp.openOrEnrich(openCase(shipment2, "two:delayed", "Parcel delayed", "Delayed.")).pipe(firstAttempt)
        ], { concurrency: "unbounded" })
        expect(fake.calls("project.project", "create")).toBe(2) // the race did happen
        const projects = fake.admin.search("project.project", [["company_id", "=", b.other]], { activeTest: false })
        expect(projects).toHaveLength(1)
        const project = projects[0]!
        for (const c of [case1!, case2!]) {
          expect(fake.admin.read("project.task", [idOf(c)], ["project_id", "company_id"])[0]).toMatchObject({
            project_id: [project, "Service cases"],
            company_id: [b.other, "Company B"]
          })
        }
        // later cases of either process go there too
        const third = yield* two.erp.openOrEnrich(openCase(shipment1, "two:lost", "Parcel lost", "Lost."))
        expect(third.externalId).toBe(case1!.externalId)
        for (const [name, erp] of [["one", one.erp], ["two", two.erp]] as const) {
          const next = (yield* intakeOf(erp, orderOfB(`B-${name}`))).shipments[0]!
          const ref = yield* erp.openOrEnrich(openCase(next, `${name}:late`))
          expect(fake.admin.read("project.task", [idOf(ref)], ["project_id"])[0]!.project_id).toEqual([project, "Service cases"])
        }
        expect(fake.admin.search("project.project", [["company_id", "=", b.other]], { activeTest: false })).toEqual([project])
      }).pipe(Effect.provide(FetchLayer)))

    it.scopedLive("a ticket goes to a helpdesk team of the shipment's company (a ticket's company is its team's)", () =>
      Effect.gen(function*() {
        const fake = yield* OdooFake.make({ version: 17, modules: { helpdesk: true } })
        const a = seedOrder(fake)
        const b = seedOtherCompany(fake)
        const teamB = fake.admin.create("helpdesk.team", { name: "B Care", sequence: 5, company_id: b.other })
        fake.admin.create("helpdesk.stage", { name: "B: new", sequence: 0, fold: false, team_ids: [[6, 0, [teamB]]] })
        const { erp } = yield* connect(fake)
        const shipmentA = (yield* intakeOf(erp, a.orderId)).shipments[0]!
        const shipmentB = (yield* intakeOf(erp, b.orderId)).shipments[0]!
        const caseA = yield* erp.openOrEnrich(openCase(shipmentA, "a:damaged"))
        const caseB = yield* erp.openOrEnrich(openCase(shipmentB, "b:damaged"))
        expect(fake.admin.read("helpdesk.ticket", [idOf(caseA)], ["company_id", "team_id"])[0]).toMatchObject({
          company_id: [1, "My Company"],
          team_id: [1, "Customer Care"]
        })
        expect(fake.admin.read("helpdesk.ticket", [idOf(caseB)], ["company_id", "team_id"])[0]).toMatchObject({
          company_id: [b.other, "Company B"],
          team_id: [teamB, "B Care"]
        })
        const again = yield* erp.openOrEnrich(openCase(shipmentB, "b:delayed", "Parcel delayed", "Delayed."))
        expect(again.externalId).toBe(caseB.externalId)
        expect(fake.admin.search("helpdesk.ticket", [])).toHaveLength(2)
      }).pipe(Effect.provide(FetchLayer)))
  })
})

describe("webhooks", () => {
  it.scopedLive("an automation-rule payload for an order or a delivery yields the order's intake", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 19 })
      const { orderId, pickingId } = seedOrder(fake)
      const draft = fake.admin.createOrder({ partnerId: fake.admin.createPartner(), lines: [{ productId: 1, quantity: 1 }], confirm: false })
      const { erp } = yield* connect(fake)
      const fromOrder = yield* erp.intakeFromWebhook({ _action: "Send Webhook Notification(#3)", _id: orderId, _model: "sale.order", id: orderId, name: "S00001" })
      const fromPicking = yield* erp.intakeFromWebhook({ _id: pickingId, _model: "stock.picking" })
      expect(Option.map(fromOrder, (i) => i.order.id)).toEqual(Option.some("waybill:sale.order:1"))
      expect(Option.map(fromPicking, (i) => i.order.id)).toEqual(Option.some("waybill:sale.order:1"))
      expect(yield* erp.intakeFromWebhook({ _id: draft.orderId, _model: "sale.order" })).toEqual(Option.none())
      const bad = yield* Effect.flip(erp.intakeFromWebhook({ _model: "sale.order", _id: "1" }))
      expect(bad.reason).toBe("Invalid")
      expect(bad.description).toContain("_id")
      const other = yield* Effect.flip(erp.intakeFromWebhook({ _model: "res.partner", _id: 3 }))
      expect(other.reason).toBe("Invalid")
    }).pipe(Effect.provide(FetchLayer)))
})

describe("one writer per record", () => {
  it.scopedLive("concurrent milestones on one delivery never collide, and queued tracking writes coalesce", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17, latencyMs: 40 })
      const { orderId, pickingId } = seedOrder(fake)
      const { client, erp } = yield* connect(fake)
      const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!

      // raw concurrent writes to one record: the server reports serialization failures
      const raw = yield* Effect.all(
        Array.from({ length: 6 }, (_, i) => Effect.either(client.write("stock.picking", [pickingId], { carrier_tracking_ref: `RAW-${i}` }))),
        { concurrency: "unbounded" }
      )
      const conflicts = raw.filter(Either.isLeft)
      expect(conflicts.length).toBeGreaterThan(0)
      expect(conflicts.every((e) => Either.isLeft(e) && e.left.reason === "Conflict")).toBe(true)
      const before = fake.stats().conflicts
      fake.resetCalls()

      yield* Effect.all(
        [
          ...Array.from({ length: 8 }, (_, i) =>
            erp.writeTracking(
              new ErpPort.WriteTracking({ key: key(`t${i}`), shipment, carrier: "Standard delivery", trackingNumber: `TRK-${i}` })
            )),
          ...Array.from({ length: 4 }, (_, i) =>
            erp.postNote(new ErpPort.PostNote({ key: key(`n${i}`), shipment, subject: "Scan", body: `scan ${i}` })))
        ],
        { concurrency: "unbounded" }
      )
      expect(fake.stats().conflicts).toBe(before)
      expect(fake.calls("stock.picking", "write")).toBeLessThan(8)
      expect(fake.calls("stock.picking", "write")).toBeGreaterThan(0)
      // the four notes, and (each key replacing another number) one note per replaced tracking number at most
      const bodies = fake.admin.read(
        "mail.message",
        fake.admin.search("mail.message", [["model", "=", "stock.picking"], ["res_id", "=", pickingId], ["message_type", "=", "comment"]]),
        ["body"]
      ).map((m) => String(m.body))
      expect(bodies.filter((b) => b.includes("scan "))).toHaveLength(4)
      expect(bodies.filter((b) => b.includes("Tracking reference")).length).toBeLessThanOrEqual(8)
      expect(fake.calls("stock.picking", "message_post")).toBe(bodies.length)
      expect(fake.admin.read("stock.picking", [pickingId], ["carrier_tracking_ref"])[0]!.carrier_tracking_ref).toMatch(/^TRK-\d$/)
    }).pipe(Effect.provide(FetchLayer)))
})

describe("delivery validation under lost answers", () => {
  const steps = [
    { model: "stock.picking", method: "button_validate" },
    { model: "confirm.stock.sms" },
    { model: "stock.backorder.confirmation", method: "create" },
    { model: "stock.backorder.confirmation", method: "process" },
    { model: "stock.move", method: "write" }
  ] as const
  for (const version of [17, 19] as const) {
    for (const stock of [2, 0] as const) {
      it.scopedLive(`Odoo ${version}, ${stock} of 5 in stock: whichever answer is lost, the retry leaves the delivery done once, with at most one backorder`, () =>
        Effect.gen(function*() {
          for (const step of steps) {
            const fake = yield* OdooFake.make({ version })
            const { orderId, pickingId } = seedOrder(fake, { stock, quantity: 5 })
            const { erp } = yield* connect(fake)
            const shipment = (yield* intakeOf(erp, orderId)).shipments[0]!
            const request = new ErpPort.ValidateDelivery({ key: key("v"), shipment, deliveredAt })
            fake.failNext(step, OdooFake.actThenDrop)
            const first = yield* Effect.either(erp.validateDelivery(request))
            const result = first._tag === "Right" ? first.right : yield* erp.validateDelivery(request)
            const again = yield* erp.validateDelivery(request)
            const backorders = fake.admin.search("stock.picking", [["backorder_id", "=", pickingId]])
            const where = `${step.model}.${"method" in step ? step.method : "*"}`
            expect(fake.admin.read("stock.picking", [pickingId], ["state"])[0]!.state, where).toBe("done")
            // 2 in stock: 2 shipped, a backorder of 3; none in stock: the demand is encoded, no backorder
            expect(backorders, where).toHaveLength(stock === 2 ? 1 : 0)
            const expected = stock === 2 ? `waybill:stock.picking:${backorders[0]}` : undefined
            expect(result.backorder, where).toBe(expected)
            expect(again, where).toEqual(new ErpPort.DeliveryValidated({ alreadyDone: true, ...(expected !== undefined ? { backorder: expected } : {}) }))
            const moves = fake.admin.read("stock.move", fake.admin.search("stock.move", [["picking_id", "=", pickingId]]), ["quantity", "state"])
            expect(moves.map((m) => [m.quantity, m.state]), where).toEqual([[stock === 2 ? 2 : 5, "done"]])
          }
        }).pipe(Effect.provide(FetchLayer)))
    }
  }
})
