/**
 * The invoice path against the fake: orders shipped in several deliveries, orders cancelled in
 * Odoo before the release, and the payment state of an invoice cancelled in Odoo.
 */
import { describe, expect, it } from "@effect/vitest"
import { ErpPort, Instant, type Shipment } from "@waybill/core"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as OdooClient from "../src/OdooClient.js"
import * as OdooErp from "../src/OdooErp.js"
import { OdooFake } from "../src/testing/index.js"
import { connect, FetchLayer, intakeOf, key } from "./helpers.js"

const deliveredAt = Instant.fromMillis(Date.UTC(2026, 10, 28, 9, 30))

/** An order of 5 widgets at 40.00 (15% tax) with 2 in stock: the first delivery ships 2, its backorder 3. */
const seedSplit = (fake: OdooFake.OdooFake, invoicePolicy: "order" | "delivery") => {
  const partner = fake.admin.createPartner()
  const product = fake.admin.createProduct({ name: "Waybill Widget", code: "WB-WIDGET", weightKg: 2.5, price: 40, invoicePolicy })
  fake.admin.setStock(product, 2)
  const { orderId, pickingIds } = fake.admin.createOrder({
    partnerId: partner,
    lines: [{ productId: product, quantity: 5, price: 40 }],
    carrierId: 1,
    clientRef: "WB-REF-0001"
  })
  return { orderId, pickingId: pickingIds[0]! }
}

const invoicedQuantities = (fake: OdooFake.OdooFake, invoiceId: number) =>
  fake.admin.read("account.move.line", fake.admin.search("account.move.line", [["move_id", "=", invoiceId]]), ["quantity"])
    .map((l) => l.quantity)

/**
 * A split order (see `seedSplit`) on a fresh Odoo 17 fake, connected: `shipment(i)` is its i-th
 * delivery as the intake reads it now, `validated(i)` validates it first, `release` releases a
 * shipment's invoice under the shipment's invoice key.
 */
const splitOrder = (policy: "order" | "delivery") =>
  Effect.gen(function*() {
    const fake = yield* OdooFake.make({ version: 17 })
    const { orderId } = seedSplit(fake, policy)
    const { erp } = yield* connect(fake)
    const shipment = (i: number) => Effect.map(intakeOf(erp, orderId), (intake) => intake.shipments[i]!)
    const validated = (i: number) =>
      Effect.tap(shipment(i), (s) => erp.validateDelivery(new ErpPort.ValidateDelivery({ key: key(`v${i + 1}`), shipment: s, deliveredAt })))
    const releaseOf = (s: Shipment.Shipment) => new ErpPort.ReleaseInvoice({ key: key(`${s.id}:invoice`), shipment: s })
    const release = (s: Shipment.Shipment) => erp.releaseInvoice(releaseOf(s))
    return { fake, erp, orderId, shipment, validated, releaseOf, release }
  })

describe("an order shipped in two deliveries", () => {
  for (const policy of ["order", "delivery"] as const) {
    it.scopedLive(`invoice policy ${policy}: each delivery's release invoices its own goods, once`, () =>
      Effect.gen(function*() {
        const { fake, orderId, release, validated } = yield* splitOrder(policy)
        const first = yield* validated(0)
        const released1 = yield* release(first)
        // 2 widgets shipped: 2 × 40.00 + 15% = 92.00, not the 3 still waiting in the backorder
        expect(released1.created).toBe(true)
        expect(invoicedQuantities(fake, released1.invoice.refs.odoo!.id)).toEqual([2])
        expect(released1.invoice.total).toEqual({ amountMinor: 9200, currency: "USD" })

        const second = yield* validated(1)
        const released2 = yield* release(second)
        // the backorder's 3 widgets get their own invoice
        expect(released2.created).toBe(true)
        expect(released2.invoice.id).not.toBe(released1.invoice.id)
        expect(invoicedQuantities(fake, released2.invoice.refs.odoo!.id)).toEqual([3])
        expect(released2.invoice.total).toEqual({ amountMinor: 13800, currency: "USD" })
        expect(fake.admin.read("sale.order", [orderId], ["invoice_status"])[0]!.invoice_status).toBe("invoiced")
      }).pipe(Effect.provide(FetchLayer)))
  }

  it.scopedLive("the backorder released first does not invoice the first delivery's goods (held)", () =>
    Effect.gen(function*() {
      const { fake, release, validated } = yield* splitOrder("delivery")
      const first = yield* validated(0)
      const second = yield* validated(1)
      // the first delivery's invoice is held (damage, missing POD): the backorder's is released
      const released2 = yield* release(second)
      expect(invoicedQuantities(fake, released2.invoice.refs.odoo!.id)).toEqual([3])
      // the hold lifted, the first delivery is invoiced on its own
      const released1 = yield* release(first)
      expect(released1.created).toBe(true)
      expect(released1.invoice.id).not.toBe(released2.invoice.id)
      expect(invoicedQuantities(fake, released1.invoice.refs.odoo!.id)).toEqual([2])
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("a crash between creating and marking the invoice: the retry trims the draft to its delivery", () =>
    Effect.gen(function*() {
      const { erp, fake, releaseOf, validated } = yield* splitOrder("order")
      const release = releaseOf(yield* validated(0))
      fake.failNext({ model: "sale.advance.payment.inv", method: "create_invoices" }, OdooFake.actThenDrop)
      expect((yield* Effect.flip(erp.releaseInvoice(release))).reason).toBe("Transport")
      const released = yield* erp.releaseInvoice(release)
      expect(released.invoice.state).toBe("posted")
      expect(invoicedQuantities(fake, released.invoice.refs.odoo!.id)).toEqual([2])
      expect(fake.admin.search("account.move", [["move_type", "=", "out_invoice"]])).toHaveLength(1)
    }).pipe(Effect.provide(FetchLayer)))
})

describe("a delivery with nothing of its own to invoice", () => {
  it.scopedLive("is not answered with another delivery's invoice (the backorder not yet delivered, invoice policy delivery)", () =>
    Effect.gen(function*() {
      const { fake, release, shipment, validated } = yield* splitOrder("delivery")
      const released1 = yield* release(yield* validated(0))
      // the backorder is released before Odoo knows it delivered (a dispatch policy, a validation
      // done elsewhere late): nothing of it can be invoiced yet, and the first delivery's invoice
      // is not its own
      const error = yield* Effect.flip(release(yield* shipment(1)))
      expect(error.reason).toBe("Invalid")
      expect(error.description).toContain("nothing to invoice")
      expect(fake.admin.search("account.move", [["move_type", "=", "out_invoice"]])).toEqual([released1.invoice.refs.odoo!.id])
      // once delivered, it gets its own invoice
      const released2 = yield* release(yield* validated(1))
      expect(released2.created).toBe(true)
      expect(released2.invoice.id).not.toBe(released1.invoice.id)
      expect(invoicedQuantities(fake, released2.invoice.refs.odoo!.id)).toEqual([3])
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("is not billed the first delivery's goods, not yet invoiced, while its own are not delivered (invoice policy delivery)", () =>
    Effect.gen(function*() {
      const { fake, release, shipment, validated } = yield* splitOrder("delivery")
      // the first delivery is validated, its invoice not released yet (held, or its event comes
      // later); the backorder's release comes first (billing on dispatch), before Odoo knows it delivered
      const first = yield* validated(0)
      const error = yield* Effect.flip(release(yield* shipment(1)))
      expect(error.reason).toBe("Invalid")
      expect(error.description).toContain("nothing to invoice")
      expect(fake.admin.search("account.move", [["move_type", "=", "out_invoice"]])).toEqual([])
      // the first delivery's own release invoices its 2 widgets
      const released1 = yield* release(first)
      expect(released1.created).toBe(true)
      expect(invoicedQuantities(fake, released1.invoice.refs.odoo!.id)).toEqual([2])
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("a second key of the same delivery still adopts the delivery's invoice", () =>
    Effect.gen(function*() {
      const { erp, fake, release, validated } = yield* splitOrder("delivery")
      const first = yield* validated(0)
      const released1 = yield* release(first)
      yield* validated(1)
      const again = yield* erp.releaseInvoice(new ErpPort.ReleaseInvoice({ key: key("another-key"), shipment: first }))
      expect(again.created).toBe(false)
      expect(again.invoice.id).toBe(released1.invoice.id)
      expect(fake.admin.search("account.move", [["move_type", "=", "out_invoice"]])).toEqual([released1.invoice.refs.odoo!.id])
    }).pipe(Effect.provide(FetchLayer)))
})

describe("the invoice wizard's answer", () => {
  it.scopedLive("without the invoice's id (Odoo 16 answers act_window_close): the invoice made is released, not failed as a Bug", () =>
    Effect.gen(function*() {
      const { erp: first, fake, orderId, release, shipment, validated } = yield* splitOrder("order")
      const released1 = yield* release(yield* validated(0))
      // a second adapter whose server answers `create_invoices` as Odoo 16 does
      const client = yield* OdooClient.make(fake.clientOptions())
      const sixteen: OdooClient.OdooClientShape = {
        ...client,
        call: (model, method, opts) =>
          model === "sale.advance.payment.inv" && method === "create_invoices"
            ? Effect.as(client.call(model, method, opts), { type: "ir.actions.act_window_close" })
            : client.call(model, method, opts)
      }
      const erp = yield* OdooErp.make().pipe(Effect.provideService(OdooClient.OdooClient, sixteen))
      yield* validated(1)
      const second = yield* shipment(1)
      const released2 = yield* erp.releaseInvoice(new ErpPort.ReleaseInvoice({ key: key(`${second.id}:invoice`), shipment: second }))
      expect(released2.created).toBe(true)
      expect(released2.invoice.state).toBe("posted")
      expect(released2.invoice.id).not.toBe(released1.invoice.id)
      expect(invoicedQuantities(fake, released2.invoice.refs.odoo!.id)).toEqual([3])
      expect(fake.admin.search("account.move", [["move_type", "=", "out_invoice"]])).toHaveLength(2)
      expect(fake.admin.read("sale.order", [orderId], ["invoice_status"])[0]!.invoice_status).toBe("invoiced")
      // the first adapter's retry of the second key finds that invoice
      const again = yield* first.releaseInvoice(new ErpPort.ReleaseInvoice({ key: key(`${second.id}:invoice`), shipment: second }))
      expect(again.created).toBe(false)
      expect(again.invoice.id).toBe(released2.invoice.id)
    }).pipe(Effect.provide(FetchLayer)))
})

describe("an order cancelled in Odoo", () => {
  it.scopedLive("after an earlier delivery was invoiced: the release fails permanently, naming the cancellation", () =>
    Effect.gen(function*() {
      const { fake, orderId, release, shipment, validated } = yield* splitOrder("delivery")
      const released1 = yield* release(yield* validated(0))
      const second = yield* shipment(1)
      fake.admin.call("sale.order", "action_cancel", [orderId])
      const error = yield* Effect.flip(release(second))
      expect(error.reason).toBe("Invalid")
      expect(error.description).toContain("cancelled")
      // the first delivery's invoice is untouched, and not reported as the second's
      expect(fake.admin.search("account.move", [["move_type", "=", "out_invoice"]])).toEqual([released1.invoice.refs.odoo!.id])
    }).pipe(Effect.provide(FetchLayer)))
})

describe("payment state", () => {
  it.scopedLive("an invoice cancelled in Odoo is not reported as waiting for payment", () =>
    Effect.gen(function*() {
      const { erp, fake, release, validated } = yield* splitOrder("delivery")
      const released = yield* release(yield* validated(0))
      expect(yield* erp.readPayment(new ErpPort.ReadPayment({ invoice: released.invoice }))).toBe("not_paid")
      // an accountant resets it to draft and cancels it (Odoo then reads payment_state not_paid)
      const id = released.invoice.refs.odoo!.id
      fake.admin.call("account.move", "button_draft", [id])
      fake.admin.call("account.move", "button_cancel", [id])
      const error = yield* Effect.flip(erp.readPayment(new ErpPort.ReadPayment({ invoice: released.invoice })))
      expect(error.reason).toBe("Invalid")
      expect(error.description).toContain("cancelled")
    }).pipe(Effect.provide(FetchLayer)))
})

/** A paid down payment of `fixed` (tax included) on the order, through the wizard as a salesperson does it. */
const paidDownPayment = (fake: OdooFake.OdooFake, orderId: number, fixed: number) => {
  const context = { active_model: "sale.order", active_ids: [orderId], active_id: orderId }
  const wizard = fake.admin.create("sale.advance.payment.inv", { advance_payment_method: "fixed", fixed_amount: fixed }, context)
  const action = fake.admin.call("sale.advance.payment.inv", "create_invoices", [wizard], {}, context) as { res_id: number }
  fake.admin.call("account.move", "action_post", [action.res_id])
  fake.admin.registerPayment(action.res_id)
  return action.res_id
}

const moveOf = (fake: OdooFake.OdooFake, id: number) =>
  fake.admin.read("account.move", [id], ["move_type", "state", "amount_total"])[0]!

describe("an order with a down payment, shipped in two deliveries", () => {
  for (const policy of ["order", "delivery"] as const) {
    it.scopedLive(`invoice policy ${policy}: a down payment larger than the first delivery is deducted, never turned into a credit note`, () =>
      Effect.gen(function*() {
        const { fake, orderId, release, validated } = yield* splitOrder(policy)
        // 115.00 paid up front on an order of 230.00; the first delivery is worth 92.00
        const downPayment = paidDownPayment(fake, orderId, 115)
        const released1 = yield* release(yield* validated(0))
        const first = moveOf(fake, released1.invoice.refs.odoo!.id)
        // a customer invoice, posted, carrying the 2 widgets, the deduction no larger than they are
        expect(first.move_type).toBe("out_invoice")
        expect(first.state).toBe("posted")
        expect(invoicedQuantities(fake, released1.invoice.refs.odoo!.id)[0]).toBe(2)
        expect(released1.invoice.total).toEqual({ amountMinor: 0, currency: "USD" })

        const released2 = yield* release(yield* validated(1))
        expect(moveOf(fake, released2.invoice.refs.odoo!.id).move_type).toBe("out_invoice")
        // the rest of the down payment comes off the second: 138.00 - 23.00
        expect(released2.invoice.total).toEqual({ amountMinor: 11500, currency: "USD" })
        // down payment + both invoices = the order, and Odoo issued no credit note
        const totals = [downPayment, released1.invoice.refs.odoo!.id, released2.invoice.refs.odoo!.id]
          .map((id) => Number(moveOf(fake, id).amount_total))
        expect(totals.reduce((a, b) => a + b, 0)).toBe(230)
        expect(fake.admin.search("account.move", [["move_type", "=", "out_refund"]])).toEqual([])
        expect(fake.admin.read("sale.order", [orderId], ["invoice_status"])[0]!.invoice_status).toBe("invoiced")
      }).pipe(Effect.provide(FetchLayer)))
  }

  it.scopedLive("a down payment smaller than the first delivery is deducted from it whole (as Odoo does)", () =>
    Effect.gen(function*() {
      const { fake, orderId, release, validated } = yield* splitOrder("delivery")
      paidDownPayment(fake, orderId, 46)
      const released1 = yield* release(yield* validated(0))
      expect(released1.invoice.total).toEqual({ amountMinor: 4600, currency: "USD" })
      const released2 = yield* release(yield* validated(1))
      expect(released2.invoice.total).toEqual({ amountMinor: 13800, currency: "USD" })
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("on Odoo 16 (no action_switch_move_type): a down payment larger than the delivery is a typed Invalid, not a Bug", () =>
    Effect.gen(function*() {
      const { erp, fake, orderId, releaseOf, validated } = yield* splitOrder("delivery")
      paidDownPayment(fake, orderId, 115)
      const release = releaseOf(yield* validated(0))
      // The method is 17+; Odoo 16 answers it as any method a model lacks (fixture 80-ERROR.wrong-method-name).
      fake.failNext({ model: "account.move", method: "action_switch_move_type" }, {
        _tag: "OdooError",
        name: "builtins.AttributeError",
        message: "The method 'action_switch_move_type' does not exist on the model 'account.move'",
        status: 200
      }, 2)
      const error = yield* Effect.flip(erp.releaseInvoice(release))
      expect(error.reason).toBe("Invalid")
      expect(error.description).toContain("credit note")
      expect(error.description).toContain("down payment")
      // nothing posted: the draft credit note is left for the accountant, never released as the invoice
      const refunds = fake.admin.search("account.move", [["move_type", "=", "out_refund"]])
      expect(refunds).toHaveLength(1)
      expect(moveOf(fake, refunds[0]!).state).toBe("draft")
      // a replay before the accountant acts fails the same way, without a second draft
      const again = yield* Effect.flip(erp.releaseInvoice(release))
      expect(again.reason).toBe("Invalid")
      expect(fake.admin.search("account.move", [["move_type", "in", ["out_refund", "out_invoice"]], ["state", "=", "draft"]])).toEqual(refunds)
    }).pipe(Effect.provide(FetchLayer)))

  // (invoice policy delivery with the wizard's answer lost, the draft not yet marked: a known limit, see the README)
  for (const [policy, lost] of [["order", "create_invoices"], ["order", "write"], ["delivery", "write"]] as const) {
    it.scopedLive(`invoice policy ${policy}: a first release whose ${lost} answer was lost, retried after the backorder's release: the down payment is deducted in full, once`, () =>
      Effect.gen(function*() {
        const { erp, fake, orderId, release, releaseOf, validated } = yield* splitOrder(policy)
        const downPayment = paidDownPayment(fake, orderId, 115)
        const first = releaseOf(yield* validated(0))
        fake.failNext(
          lost === "write" ? { model: "account.move", method: "write" } : { model: "sale.advance.payment.inv", method: "create_invoices" },
          OdooFake.actThenDrop
        )
        expect((yield* Effect.flip(erp.releaseInvoice(first))).reason).toBe("Transport")
        // the backorder is delivered and released while the first release waits for its retry
        const released2 = yield* release(yield* validated(1))
        const released1 = yield* erp.releaseInvoice(first)
        expect(invoicedQuantities(fake, released1.invoice.refs.odoo!.id).filter((q) => Number(q) > 0)).toEqual([2])
        expect(invoicedQuantities(fake, released2.invoice.refs.odoo!.id).filter((q) => Number(q) > 0)).toEqual([3])
        // 115.00 paid up front + 0.00 + 115.00 = the order's 230.00, not 253.00
        const totals = [downPayment, released1.invoice.refs.odoo!.id, released2.invoice.refs.odoo!.id]
          .map((id) => Math.round(Number(moveOf(fake, id).amount_total) * 100))
        expect(totals.reduce((a, b) => a + b, 0)).toBe(23000)
        expect(fake.admin.search("account.move", [["state", "=", "draft"]])).toEqual([])
      }).pipe(Effect.provide(FetchLayer)))
  }

  it.scopedLive("a crash after Odoo made the draft a credit note: the retry releases the delivery's invoice, not a credit note", () =>
    Effect.gen(function*() {
      const { erp, fake, orderId, releaseOf, validated } = yield* splitOrder("delivery")
      paidDownPayment(fake, orderId, 115)
      const release = releaseOf(yield* validated(0))
      fake.failNext({ model: "sale.advance.payment.inv", method: "create_invoices" }, OdooFake.actThenDrop)
      expect((yield* Effect.flip(erp.releaseInvoice(release))).reason).toBe("Transport")
      const released = yield* erp.releaseInvoice(release)
      expect(moveOf(fake, released.invoice.refs.odoo!.id).move_type).toBe("out_invoice")
      expect(invoicedQuantities(fake, released.invoice.refs.odoo!.id)[0]).toBe(2)
      expect(released.invoice.total).toEqual({ amountMinor: 0, currency: "USD" })
      expect(fake.admin.search("account.move", [["move_type", "=", "out_refund"]])).toEqual([])
    }).pipe(Effect.provide(FetchLayer)))
})

describe("an invoice reversed in Odoo (credit note)", () => {
  it.scopedLive("a draft credit note of the first delivery's invoice is not taken as the backorder's invoice", () =>
    Effect.gen(function*() {
      const { fake, release, shipment, validated } = yield* splitOrder("delivery")
      const released = yield* release(yield* validated(0))
      const id = released.invoice.refs.odoo!.id
      // an accountant prepares a credit note of the first invoice (a draft, not posted yet)
      const context = { active_model: "account.move", active_ids: [id], active_id: id }
      const wizard = fake.admin.create("account.move.reversal", { reason: "price dispute" }, context)
      const refund = (fake.admin.call("account.move.reversal", "refund_moves", [wizard], {}, context) as { res_id: number }).res_id
      const before = fake.admin.read("account.move", [refund], ["move_type", "state", "ref", "amount_total"])[0]!
      // the backorder's release comes before Odoo knows it delivered: nothing of it to invoice
      const error = yield* Effect.flip(release(yield* shipment(1)))
      expect(error.reason).toBe("Invalid")
      expect(error.description).toContain("nothing to invoice")
      // the accountant's draft credit note is left as it was: not emptied, not turned into an invoice, not posted
      expect(fake.admin.read("account.move", [refund], ["move_type", "state", "ref", "amount_total"])[0]).toEqual(before)
      expect(invoicedQuantities(fake, refund)).toEqual([2])
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("an invoice an accountant reset to draft to correct it is not posted by another delivery's release", () =>
    Effect.gen(function*() {
      const { fake, release, validated } = yield* splitOrder("delivery")
      const released1 = yield* release(yield* validated(0))
      const id = released1.invoice.refs.odoo!.id
      fake.admin.call("account.move", "button_draft", [id])
      const released2 = yield* release(yield* validated(1))
      expect(released2.created).toBe(true)
      expect(invoicedQuantities(fake, released2.invoice.refs.odoo!.id)).toEqual([3])
      // still a draft, as the accountant left it
      expect(moveOf(fake, id).state).toBe("draft")
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("an invoice an accountant reset to draft is not posted by a replay of its own release", () =>
    Effect.gen(function*() {
      const { erp, fake, release, validated } = yield* splitOrder("delivery")
      const first = yield* validated(0)
      const released = yield* release(first)
      const id = released.invoice.refs.odoo!.id
      fake.admin.call("account.move", "button_draft", [id])
      // the release replayed (its dead letter, another key of the same shipment): found, left as the accountant left it
      for (const k of [`${first.id}:invoice`, "another-key"]) {
        const again = yield* erp.releaseInvoice(new ErpPort.ReleaseInvoice({ key: key(k), shipment: first }))
        expect(again.created).toBe(false)
        expect(again.invoice.id).toBe(released.invoice.id)
        expect(again.invoice.state).toBe("draft")
      }
      expect(moveOf(fake, id).state).toBe("draft")
      expect(fake.calls("account.move", "action_post")).toBe(1)
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("a retried release reports the reversed invoice and creates no second one", () =>
    Effect.gen(function*() {
      const { fake, release, validated } = yield* splitOrder("delivery")
      const first = yield* validated(0)
      const released = yield* release(first)
      const id = released.invoice.refs.odoo!.id
      // the goods came back: an accountant credits the invoice in full
      const context = { active_model: "account.move", active_ids: [id], active_id: id }
      const wizard = fake.admin.create("account.move.reversal", { reason: "returned" }, context)
      const refund = (fake.admin.call("account.move.reversal", "refund_moves", [wizard], {}, context) as { res_id: number }).res_id
      fake.admin.call("account.move", "action_post", [refund])
      // the widgets read as not invoiced again, but the retried action must not bill them twice
      const again = yield* release(first)
      expect(again.created).toBe(false)
      expect(again.invoice.id).toBe(released.invoice.id)
      expect(fake.admin.search("account.move", [["move_type", "=", "out_invoice"]])).toEqual([id])
    }).pipe(Effect.provide(FetchLayer)))
})

describe("releases of a split order under lost answers (property)", () => {
  const fault = FastCheck.constantFrom(
    undefined,
    { model: "sale.advance.payment.inv", method: "create_invoices" },
    { model: "account.move", method: "write" },
    { model: "account.move", method: "action_post" }
  )
  const scenario = FastCheck.record({
    policy: FastCheck.constantFrom("order" as const, "delivery" as const),
    // after the first delivery is validated: the backorder's validation and both releases, each
    // release after its own delivery's validation
    // (the backorder's release may come before its validation: billing on dispatch)
    order: FastCheck.constantFrom(
      ["r0", "v1", "r1"],
      ["v1", "r0", "r1"],
      ["v1", "r1", "r0"],
      ["r1", "r0", "v1"],
      ["r0", "r1", "v1"]
    ),
    faults: FastCheck.tuple(fault, fault),
    // the release that lost its answer is retried at once, or after every other step (a crash:
    // its lease runs out)
    delays: FastCheck.tuple(FastCheck.constantFrom(0, 9), FastCheck.constantFrom(0, 9)),
    // a down payment paid before (smaller or larger than the first delivery's 92.00)
    downPayment: FastCheck.constantFrom(0, 46, 115)
  })

  it("each delivery ends with one posted invoice of its own goods, and no other invoice exists", () =>
    FastCheck.assert(
      FastCheck.asyncProperty(scenario, ({ delays, downPayment, faults, order, policy }) =>
        Effect.gen(function*() {
          const { erp, fake, orderId, releaseOf, shipment, validated } = yield* splitOrder(policy)
          const paid = downPayment > 0 ? [paidDownPayment(fake, orderId, downPayment)] : []
          yield* validated(0)
          const queue: Array<string> = [...order]
          const released = new Map<number, ErpPort.InvoiceReleased>()
          const failed = new Set<number>()
          let delivered = false
          for (let step = 0; step < 20 && queue.length > 0; step++) {
            const op = queue.shift()!
            if (op === "v1") {
              yield* validated(1)
              delivered = true
              continue
            }
            const i = op === "r0" ? 0 : 1
            const target = faults[i]
            // nothing of the backorder to invoice before its validation (invoice policy delivery)
            const early = i === 1 && !delivered && policy === "delivery"
            if (target !== undefined && !failed.has(i) && !early) {
              failed.add(i)
              fake.failNext(target, OdooFake.actThenDrop)
            }
            const outcome = yield* Effect.either(erp.releaseInvoice(releaseOf(yield* shipment(i))))
            if (outcome._tag === "Right") released.set(i, outcome.right)
            else if (early) {
              expect(outcome.left.reason).toBe("Invalid")
              expect(outcome.left.description).toContain("nothing to invoice")
              queue.push(op) // replayed from its dead letter once delivered
            } else {
              expect(outcome.left.reason).toBe("Transport")
              // a lost answer of the wizard itself (the draft not yet marked) is retried at once:
              // retried after another release of the order, the unmarked draft of a line shared
              // with the backorder can be taken for the other delivery's (a known limit, see the README)
              const delay = target?.method === "create_invoices" ? 0 : delays[i]
              queue.splice(Math.min(delay, queue.length), 0, op)
            }
          }
          const first = released.get(0)!.invoice.refs.odoo!.id
          const second = released.get(1)!.invoice.refs.odoo!.id
          expect(invoicedQuantities(fake, first).filter((q) => Number(q) > 0)).toEqual([2])
          expect(invoicedQuantities(fake, second).filter((q) => Number(q) > 0)).toEqual([3])
          const invoices = fake.admin.search("account.move", [["move_type", "in", ["out_invoice", "out_refund"]], ["state", "!=", "cancel"]])
          expect([...invoices].sort()).toEqual([...paid, first, second].sort())
          expect(invoices.map((id) => moveOf(fake, id))).toEqual(invoices.map(() => expect.objectContaining({ move_type: "out_invoice", state: "posted" })))
          // the down payment and the two invoices add up to the order: 5 × 40.00 + 15%
          expect(invoices.reduce((sum, id) => sum + Math.round(Number(moveOf(fake, id).amount_total) * 100), 0)).toBe(23000)
        }).pipe(Effect.scoped, Effect.provide(FetchLayer), Effect.runPromise)
      ),
      { numRuns: 100 }
    ), 120_000)
})
