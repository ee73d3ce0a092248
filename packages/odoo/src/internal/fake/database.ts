/**
 * The models, seed data and workflows of the Odoo fake: sale orders and their deliveries with
 * stock reservation, the SMS and backorder wizards, invoicing, posting and payment, chatter,
 * project tasks (and, optionally, helpdesk tickets and the OCA `delivery_state` fields), as Odoo
 * 17, 18 and 19 behave over RPC.
 *
 * @internal
 */
import type { Context, MethodDef, Rec, Version } from "./orm.js"
import { Created, F, Orm, Recordset, userError, validationError } from "./orm.js"
import * as T from "./templates.js"

export interface DatabaseOptions {
  readonly version: Version
  readonly now: () => number
  readonly helpdesk: boolean
  readonly deliveryState: boolean
}

const round2 = (x: number): number => Math.round(x * 100) / 100

/** A line's amount before tax, as Odoo computes it: the discounted unit price times the quantity, rounded once. */
const subtotal = (line: Rec, qtyField: string): number =>
  round2(num(line[qtyField]) * num(line.price_unit) * (1 - num(line.discount) / 100))

const escapeHtml = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#x27;")

/** Odoo's `plaintext2html`: escaped text in paragraphs, newlines as `<br>`. */
export const plaintext2html = (text: string): string =>
  text
    .split(/\r?\n\s*\r?\n/)
    .map((p) => `<p>${escapeHtml(p).replace(/\r?\n/g, "<br>")}</p>`)
    .join("")

const num = (u: unknown): number => (typeof u === "number" ? u : 0)
const ids = (u: unknown): Array<number> => (Array.isArray(u) ? (u as Array<number>) : [])
const m2o = (u: unknown): number | undefined => (typeof u === "number" ? u : undefined)

export class FakeDatabase extends Orm {
  readonly stockLocation: number
  readonly customerLocation: number
  readonly smsFlag: string

  constructor(readonly options: DatabaseOptions) {
    super(options.version, options.now)
    const v = options.version
    this.stockLocation = v >= 19 ? 5 : 8
    this.customerLocation = v >= 19 ? 2 : 5
    this.smsFlag = v >= 19 ? "stock_text_confirmation" : "stock_move_sms_validation"
    this.defineModels()
    this.seed()
  }

  // -- helpers ----------------------------------------------------------------------------------

  isStorable(productId: number): boolean {
    const p = this.get("product.product", productId)
    if (p === undefined) return false
    return this.version >= 18 ? p.is_storable === true : p.type === "product"
  }

  productName(productId: number): string {
    return this.displayName("product.product", productId)
  }

  taxRate(taxIds: ReadonlyArray<number>): number {
    return taxIds.reduce((sum, id) => sum + num(this.get("account.tax", id)?.amount), 0) / 100
  }

  lineTaxes(line: Rec): Array<number> {
    return ids(line[this.version >= 19 ? "tax_ids" : "tax_id"])
  }

  postMessage(model: string, resId: number, body: string, options: {
    readonly messageType?: string
    readonly subtype?: number
    readonly author?: number
    readonly subject?: string | false
  } = {}): number {
    return this.create("mail.message", {
      model,
      res_id: resId,
      body,
      message_type: options.messageType ?? "notification",
      subtype_id: options.subtype ?? 2,
      author_id: options.author ?? 3,
      date: this.now(),
      subject: options.subject ?? false
    })
  }

  // -- stock ------------------------------------------------------------------------------------

  onHand(productId: number, location = this.stockLocation): number {
    return this.all("stock.quant")
      .filter((q) => q.product_id === productId && q.location_id === location)
      .reduce((sum, q) => sum + num(q.quantity), 0)
  }

  reservedElsewhere(productId: number, exceptMove: number): number {
    return this.all("stock.move")
      .filter(
        (m) =>
          m.product_id === productId && m.id !== exceptMove && m.location_id === this.stockLocation &&
          m.state !== "done" && m.state !== "cancel"
      )
      .reduce((sum, m) => sum + num(m.quantity), 0)
  }

  moveState(move: Rec): void {
    if (move.state === "done" || move.state === "cancel") return
    const demand = num(move.product_uom_qty)
    const q = num(move.quantity)
    move.state = q >= demand && demand > 0 ? "assigned" : q > 0 ? "partially_available" : "confirmed"
  }

  syncMoveLines(move: Rec): void {
    const lines = this.all("stock.move.line").filter((l) => l.move_id === move.id)
    const q = num(move.quantity)
    if (q > 0) {
      const first = lines[0]
      if (first === undefined) {
        this.create("stock.move.line", {
          move_id: move.id,
          picking_id: move.picking_id ?? false,
          product_id: move.product_id,
          quantity: q,
          location_id: move.location_id,
          location_dest_id: move.location_dest_id
        })
      } else first.quantity = q
    } else {
      for (const line of lines) this.table("stock.move.line").delete(line.id)
    }
  }

  reserve(moveId: number): void {
    const move = this.need("stock.move", moveId)
    if (move.state === "done" || move.state === "cancel") return
    const product = num(move.product_id)
    const demand = num(move.product_uom_qty)
    const free = this.isStorable(product)
      ? Math.max(0, this.onHand(product) - this.reservedElsewhere(product, moveId))
      : demand
    move.quantity = Math.min(demand, free)
    this.moveState(move)
    this.syncMoveLines(move)
  }

  pickingMoves(pickingId: number): Array<Rec> {
    return this.all("stock.move").filter((m) => m.picking_id === pickingId && m.state !== "cancel")
  }

  pickingState(pickingId: number): void {
    const picking = this.need("stock.picking", pickingId)
    if (picking.state === "done" || picking.state === "cancel") return
    const moves = this.pickingMoves(pickingId)
    const next = moves.length === 0
      ? "draft"
      : moves.every((m) => m.state === "assigned")
      ? "assigned"
      : moves.some((m) => m.state === "assigned" || m.state === "partially_available")
      ? "assigned"
      : "confirmed"
    if (picking.state !== next) this.touch("stock.picking", pickingId, { state: next })
  }

  private moveQuant(productId: number, location: number, delta: number): void {
    const quant = this.all("stock.quant").find((q) => q.product_id === productId && q.location_id === location)
    if (quant !== undefined) quant.quantity = num(quant.quantity) + delta
    else {
      this.create("stock.quant", { product_id: productId, location_id: location }, { inventory_mode: true })
      const created = this.all("stock.quant").find((q) => q.product_id === productId && q.location_id === location)!
      created.quantity = delta
    }
  }

  /** Marks a picking done with the quantities set; the rest goes to a backorder or is dropped. */
  actionDone(pickingId: number, makeBackorder: boolean): number | undefined {
    const picking = this.need("stock.picking", pickingId)
    const rest: Array<{ readonly move: Rec; readonly qty: number }> = []
    for (const move of this.pickingMoves(pickingId)) {
      const q = num(move.quantity)
      const demand = num(move.product_uom_qty)
      if (q < demand) rest.push({ move, qty: demand - q })
      if (q === 0) {
        // nothing done on this move: it leaves the picking (backorder) or is cancelled
        move.state = "cancel"
        continue
      }
      move.product_uom_qty = q
      move.state = "done"
      move.picked = true
      this.moveQuant(num(move.product_id), this.stockLocation, -q)
      this.moveQuant(num(move.product_id), this.customerLocation, q)
      for (const line of this.all("stock.move.line").filter((l) => l.move_id === move.id)) {
        line.picked = true
        line.quantity = q
      }
    }
    this.touch("stock.picking", pickingId, { state: "done", date_done: this.now() })
    this.postMessage("stock.picking", pickingId, "", { author: 3 })
    if (rest.length === 0 || !makeBackorder) {
      this.syncDeliveryStatus(picking.sale_id)
      return undefined
    }
    const backorder = this.create("stock.picking", {
      origin: picking.origin,
      partner_id: picking.partner_id,
      carrier_id: picking.carrier_id,
      sale_id: picking.sale_id,
      scheduled_date: picking.scheduled_date,
      company_id: picking.company_id,
      picking_type_id: picking.picking_type_id,
      location_id: picking.location_id,
      location_dest_id: picking.location_dest_id,
      backorder_id: pickingId,
      state: "draft"
    })
    for (const { move, qty } of rest) {
      const moved = this.create("stock.move", {
        name: move.name,
        product_id: move.product_id,
        product_uom_qty: qty,
        picking_id: backorder,
        sale_line_id: move.sale_line_id,
        location_id: move.location_id,
        location_dest_id: move.location_dest_id,
        state: "confirmed"
      })
      this.reserve(moved)
    }
    this.touch("stock.picking", backorder, { state: "confirmed" })
    this.pickingState(backorder)
    this.postMessage(
      "stock.picking",
      pickingId,
      `<p>The backorder <a href="#" data-oe-model="stock.picking" data-oe-id="${backorder}">${
        this.displayName("stock.picking", backorder)
      }</a> has been created.</p>`
    )
    this.syncDeliveryStatus(picking.sale_id)
    return backorder
  }

  noQuantityMessage(): string {
    return this.version >= 19
      ? "Transfer trouble alert! Validating a zero quantity transfer? You're not moving invisible goods around are you?\nSet some quantities and let's get moving!"
      : "You cannot validate a transfer if no quantities are reserved. To force the transfer, encode quantities."
  }

  buttonValidate(pickingIds: ReadonlyArray<number>, context: Context): unknown {
    let pickings = pickingIds.map((id) => this.need("stock.picking", id))
    if (this.version >= 18) {
      pickings = pickings.filter((p) => p.state !== "done")
      if (pickings.length === 0) return true
    }
    for (const p of pickings) {
      if (p.state === "draft") {
        for (const m of this.pickingMoves(p.id)) this.reserve(m.id)
        this.pickingState(p.id)
      }
      const moves = this.pickingMoves(p.id)
      if (p.state === "done" || p.state === "cancel" || moves.every((m) => num(m.quantity) === 0)) {
        throw userError(this.noQuantityMessage())
      }
    }
    const validateIds = Array.isArray(context.button_validate_picking_ids)
      ? (context.button_validate_picking_ids as Array<number>)
      : pickings.map((p) => p.id)
    const notToBackorder = new Set(ids(context.picking_ids_not_to_backorder))
    if (context.skip_backorder !== true) {
      const partial = pickings.filter(
        (p) =>
          !notToBackorder.has(p.id) &&
          this.pickingMoves(p.id).some((m) => num(m.quantity) < num(m.product_uom_qty))
      )
      if (partial.length > 0) return T.backorderAction(this.version, validateIds, partial.map((p) => p.id), context)
    }
    const company = this.need("res.company", 1)
    if (context.skip_sms !== true && company[this.smsFlag] === true && company.has_received_warning_stock_sms !== true) {
      const warn = pickings.filter((p) => {
        const partner = m2o(p.partner_id) !== undefined ? this.get("res.partner", m2o(p.partner_id)!) : undefined
        const phone = partner !== undefined &&
          ((typeof partner.phone === "string" && partner.phone !== "") ||
            (this.version < 19 && typeof partner.mobile === "string" && partner.mobile !== ""))
        return phone && this.rawOf("stock.picking", p, "picking_type_code") === "outgoing"
      })
      if (warn.length > 0) {
        const wizard = this.create("confirm.stock.sms", { pick_ids: [[6, 0, warn.map((p) => p.id)]], company_id: 1 })
        return T.smsAction(this.version, wizard, validateIds, context)
      }
    }
    for (const p of pickings) {
      for (const m of this.pickingMoves(p.id)) m.picked = true
      this.actionDone(p.id, !notToBackorder.has(p.id))
    }
    for (const p of pickings) this.sendConfirmation(p.id)
    return true
  }

  /** The labels `send_to_shipper` bought from a carrier's API, in order. */
  readonly labels: Array<{ readonly pickingId: number; readonly carrierId: number; readonly trackingNumber: string }> = []

  /**
   * `stock.picking._send_confirmation_email` (stock_delivery/models/stock_picking.py on 17+,
   * delivery/models/stock_picking.py on 16), run when a picking is validated:
   *
   *     if pick.carrier_id and pick.carrier_id.integration_level == 'rate_and_ship'
   *             and pick.picking_type_code != 'incoming' and not pick.carrier_tracking_ref
   *             and pick.picking_type_id.print_label:
   *         pick.sudo().send_to_shipper()
   *
   * (Odoo 15 and earlier test only the carrier's integration level and the picking type code.)
   * `send_to_shipper` calls the carrier's `<delivery_type>_send_shipping`: for a connector that
   * buys a label from the carrier's API (recorded in `labels`) and writes its tracking number
   * to `carrier_tracking_ref`; `fixed_send_shipping` / `base_on_rule_send_shipping` call nothing
   * and return no tracking number. Either way a chatter message names the shipment.
   */
  sendConfirmation(pickingId: number): void {
    const picking = this.need("stock.picking", pickingId)
    const carrierId = m2o(picking.carrier_id)
    const carrier = carrierId !== undefined ? this.get("delivery.carrier", carrierId) : undefined
    if (carrier === undefined || carrierId === undefined || carrier.integration_level !== "rate_and_ship") return
    if (this.rawOf("stock.picking", picking, "picking_type_code") === "incoming") return
    if (typeof picking.carrier_tracking_ref === "string" && picking.carrier_tracking_ref !== "") return
    if (this.get("stock.picking.type", num(picking.picking_type_id))?.print_label !== true) return
    const buys = carrier.delivery_type !== "fixed" && carrier.delivery_type !== "base_on_rule"
    const trackingNumber = buys ? `1ZFAKE${String(this.labels.length + 1).padStart(10, "0")}` : undefined
    if (trackingNumber !== undefined) {
      this.labels.push({ pickingId, carrierId, trackingNumber })
      this.touch("stock.picking", pickingId, { carrier_tracking_ref: trackingNumber })
    }
    this.postMessage(
      "stock.picking",
      pickingId,
      `<p>Shipment sent to carrier ${String(carrier.name)} for shipping with tracking number ${trackingNumber ?? "None"}<br>Cost: ${
        num(carrier.fixed_price).toFixed(2)
      } USD</p>`
    )
  }

  // -- sales ------------------------------------------------------------------------------------

  orderLines(orderId: number): Array<Rec> {
    return this.all("sale.order.line").filter((l) => l.order_id === orderId).sort((a, b) => a.id - b.id)
  }

  qtyDelivered(line: Rec): number {
    if (line.is_delivery === true) return 0
    return this.all("stock.move")
      .filter((m) => m.sale_line_id === line.id && m.state === "done")
      .reduce((sum, m) => sum + num(m.product_uom_qty), 0)
  }

  /**
   * `sale.order.line._compute_qty_invoiced`: the quantity of every invoice line linked to it that
   * is not cancelled (drafts count), a credit note's negatively.
   */
  qtyInvoiced(line: Rec): number {
    let qty = 0
    for (const l of this.all("account.move.line")) {
      if (!ids(l.sale_line_ids).includes(line.id)) continue
      const move = this.get("account.move", num(l.move_id))
      if (move === undefined || move.state === "cancel") continue
      if (move.move_type === "out_invoice") qty += num(l.quantity)
      else if (move.move_type === "out_refund") qty -= num(l.quantity)
    }
    return qty
  }

  qtyToInvoice(line: Rec): number {
    if (line.display_type !== false && line.display_type !== undefined) return 0
    const order = this.get("sale.order", num(line.order_id))
    if (order?.state !== "sale") return 0
    const product = this.get("product.product", num(line.product_id))
    const policy = product?.invoice_policy ?? "order"
    const base = policy === "delivery" ? this.qtyDelivered(line) : num(line.product_uom_qty)
    return base - this.qtyInvoiced(line)
  }

  lineInvoiceStatus(line: Rec): string {
    if (line.display_type !== false && line.display_type !== undefined) return "no"
    if (this.qtyToInvoice(line) !== 0) return "to invoice"
    if (this.qtyInvoiced(line) >= num(line.product_uom_qty)) return "invoiced"
    return "no"
  }

  orderInvoiceStatus(order: Rec): string {
    if (order.state !== "sale") return "no"
    const lines = this.orderLines(order.id).filter((l) =>
      (l.display_type === false || l.display_type === undefined) && l.is_downpayment !== true
    )
    const goods = lines.filter((l) => l.is_delivery !== true)
    if (goods.some((l) => this.lineInvoiceStatus(l) === "to invoice")) return "to invoice"
    if (goods.length > 0 && lines.every((l) => this.lineInvoiceStatus(l) === "invoiced")) return "invoiced"
    return "no"
  }

  /** `stock.picking.action_cancel` of one picking: its moves not done, then the picking. */
  cancelPicking(pickingId: number): void {
    for (const m of this.pickingMoves(pickingId)) if (m.state !== "done") m.state = "cancel"
    this.touch("stock.picking", pickingId, { state: "cancel" })
    this.syncDeliveryStatus(this.get("stock.picking", pickingId)?.sale_id)
  }

  orderPickings(orderId: number): Array<number> {
    return this.all("stock.picking").filter((p) => p.sale_id === orderId).map((p) => p.id).sort((a, b) => a - b)
  }

  orderInvoices(orderId: number): Array<number> {
    const lineIds = new Set(this.orderLines(orderId).map((l) => l.id))
    const moves = new Set<number>()
    for (const aml of this.all("account.move.line")) {
      if (ids(aml.sale_line_ids).some((id) => lineIds.has(id))) moves.add(num(aml.move_id))
    }
    return [...moves].sort((a, b) => a - b)
  }

  /**
   * `sale.order.delivery_status` is a stored computed field (sale_stock): a delivery that changes
   * it (the first one validated, all of them done, cancelled) writes the order, so its
   * `write_date` moves; a change that leaves it as it was (a second backorder, a tracking number
   * typed in) does not touch the order.
   */
  syncDeliveryStatus(orderId: unknown): void {
    const order = typeof orderId === "number" ? this.get("sale.order", orderId) : undefined
    if (order === undefined) return
    const status = this.deliveryStatus(order)
    if ((order.delivery_status ?? false) !== status) this.touch("sale.order", order.id, { delivery_status: status })
  }

  deliveryStatus(order: Rec): string | false {
    const pickings = this.orderPickings(order.id).map((id) => this.get("stock.picking", id)!).filter((p) => p.state !== "cancel")
    if (pickings.length === 0) return false
    if (pickings.every((p) => p.state === "done")) return "full"
    if (pickings.some((p) => p.state === "done")) return "partial"
    return "pending"
  }

  amounts(lines: ReadonlyArray<Rec>, qtyField: string): { untaxed: number; tax: number; total: number } {
    let untaxed = 0
    let tax = 0
    for (const line of lines) {
      const sub = subtotal(line, qtyField)
      untaxed += sub
      tax += round2(sub * this.taxRate(qtyField === "quantity" ? ids(line.tax_ids) : this.lineTaxes(line)))
    }
    return { untaxed: round2(untaxed), tax: round2(tax), total: round2(untaxed + tax) }
  }

  confirmOrder(orderId: number): void {
    const order = this.need("sale.order", orderId)
    if (order.state === "sale") return
    this.touch("sale.order", orderId, { state: "sale" })
    const lines = this.orderLines(orderId).filter((l) => {
      const product = this.get("product.product", num(l.product_id))
      return product !== undefined && product.type !== "service" && l.is_delivery !== true && num(l.product_uom_qty) > 0
    })
    if (lines.length === 0) return
    const ref = typeof order.client_order_ref === "string" && order.client_order_ref !== "" ? order.client_order_ref : undefined
    const picking = this.create("stock.picking", {
      origin: this.version === 18 && ref !== undefined ? `${order.name} - ${ref}` : order.name,
      partner_id: order.partner_shipping_id,
      carrier_id: order.carrier_id ?? false,
      sale_id: orderId,
      scheduled_date: this.now(),
      company_id: order.company_id,
      picking_type_id: 2,
      location_id: this.stockLocation,
      location_dest_id: this.customerLocation,
      state: "draft"
    })
    for (const line of lines) {
      const move = this.create("stock.move", {
        name: line.name,
        product_id: line.product_id,
        product_uom_qty: line.product_uom_qty,
        picking_id: picking,
        sale_line_id: line.id,
        location_id: this.stockLocation,
        location_dest_id: this.customerLocation,
        state: "confirmed"
      })
      this.reserve(move)
    }
    this.touch("stock.picking", picking, { state: "confirmed" })
    this.pickingState(picking)
    this.syncDeliveryStatus(orderId)
    this.postMessage("stock.picking", picking, T.pickingCreatedBody(orderId, String(order.name)), {
      author: this.version === 17 ? 2 : 3
    })
  }

  /**
   * `sale.order._create_invoices(final)`: one invoice per order of the lines with something to
   * invoice (`_get_invoiceable_lines`: a negative quantity too when `final`, so a down payment
   * already invoiced is deducted), the down payments last. With `final`, an invoice whose total is
   * negative is turned into a credit note (`action_switch_move_type`).
   */
  createInvoices(orderIds: ReadonlyArray<number>, final = false): Array<number> {
    const plans = orderIds.map((orderId) => {
      const order = this.need("sale.order", orderId)
      const invoiceable = this.orderLines(orderId).filter((l) => {
        const q = this.qtyToInvoice(l)
        return q > 0 || (q < 0 && final)
      })
      const lines = [...invoiceable.filter((l) => l.is_downpayment !== true), ...invoiceable.filter((l) => l.is_downpayment === true)]
      return { order, lines }
    })
    if (plans.every((p) => p.lines.length === 0)) {
      throw userError(
        "Cannot create an invoice. No items are available to invoice.\n\nTo resolve this issue, please ensure that:\n   • The products have been delivered before attempting to invoice them.\n   • The invoicing policy of the product is configured correctly."
      )
    }
    const created: Array<number> = []
    for (const { lines, order } of plans) {
      if (lines.length === 0) continue
      const invoice = this.create("account.move", {
        move_type: "out_invoice",
        partner_id: order.partner_invoice_id,
        invoice_origin: order.name,
        ref: typeof order.client_order_ref === "string" ? order.client_order_ref : false,
        currency_id: order.currency_id,
        company_id: order.company_id,
        invoice_line_ids: lines.map((l) => [0, 0, {
          name: l.name,
          product_id: l.product_id,
          quantity: this.qtyToInvoice(l),
          price_unit: l.price_unit,
          discount: num(l.discount),
          tax_ids: [[6, 0, this.lineTaxes(l)]],
          sale_line_ids: [[6, 0, [l.id]]],
          is_downpayment: l.is_downpayment === true
        }])
      })
      const inv = this.need("account.move", invoice)
      inv.amount_residual = this.amounts(this.invoiceLines(invoice), "quantity").total
      if (this.version === 17) inv.name = this.nextInvoiceName()
      if (final && num(inv.amount_residual) < 0) this.switchMoveType([invoice])
      this.postMessage("account.move", invoice, "", { author: 3 })
      created.push(invoice)
    }
    return created
  }

  /**
   * The down payment invoice of `sale.advance.payment.inv` (`percentage` or `fixed`): a down
   * payment line on the order (a service invoiced on order, quantity 0, the untaxed share of the
   * order as its price, the order's taxes), invoiced once on its own invoice.
   */
  createDownPayment(orderId: number, method: string, percent: number, fixed: number): number {
    const order = this.need("sale.order", orderId)
    const total = this.amounts(this.orderLines(orderId), "product_uom_qty").total
    const share = method === "percentage" ? percent / 100 : total !== 0 ? fixed / total : 1
    if (share <= 0) throw userError("The value of the down payment amount must be positive.")
    const goods = this.orderLines(orderId).filter((l) => (l.display_type === false || l.display_type === undefined) && l.is_downpayment !== true)
    const taxField = this.version >= 19 ? "tax_ids" : "tax_id"
    let product = this.all("product.product").find((p) => p.name === "Down payment" && p.type === "service")?.id
    if (product === undefined) {
      product = this.create("product.product", { name: "Down payment", type: "service", invoice_policy: "order", taxes_id: [[6, 0, []]] })
    }
    const groups = new Map<string, { taxes: Array<number>; base: number }>()
    for (const l of goods) {
      const taxes = this.lineTaxes(l).sort((a, b) => a - b)
      const group = groups.get(taxes.join(",")) ?? { taxes, base: 0 }
      group.base += subtotal(l, "product_uom_qty")
      groups.set(taxes.join(","), group)
    }
    const lines = [...groups.values()].map((g) =>
      this.create("sale.order.line", {
        order_id: orderId,
        sequence: 1000,
        name: "Down Payment",
        product_id: product,
        product_uom_qty: 0,
        price_unit: round2(g.base * share),
        [taxField]: [[6, 0, g.taxes]],
        is_downpayment: true
      })
    )
    const invoice = this.create("account.move", {
      move_type: "out_invoice",
      partner_id: order.partner_invoice_id,
      invoice_origin: order.name,
      ref: typeof order.client_order_ref === "string" ? order.client_order_ref : false,
      currency_id: order.currency_id,
      company_id: order.company_id,
      invoice_line_ids: lines.map((id) => {
        const l = this.need("sale.order.line", id)
        return [0, 0, {
          name: l.name,
          product_id: l.product_id,
          quantity: 1,
          price_unit: l.price_unit,
          tax_ids: [[6, 0, this.lineTaxes(l)]],
          sale_line_ids: [[6, 0, [id]]],
          is_downpayment: true
        }]
      })
    })
    const inv = this.need("account.move", invoice)
    inv.amount_residual = this.amounts(this.invoiceLines(invoice), "quantity").total
    if (this.version === 17) inv.name = this.nextInvoiceName()
    return invoice
  }

  /**
   * `account.move.action_switch_move_type` (a draft never posted): invoice <-> credit note, the
   * name reset; when the total then reads negative, every line's quantity is negated.
   */
  switchMoveType(moveIds: ReadonlyArray<number>): void {
    for (const id of moveIds) {
      const move = this.need("account.move", id)
      if (move.posted_before === true) throw validationError("You cannot switch the type of a posted document.")
      if (move.move_type === "entry") throw validationError("This action isn't available for this document.")
    }
    for (const id of moveIds) {
      const move = this.need("account.move", id)
      const [inOut, old] = String(move.move_type).split("_")
      this.touch("account.move", id, { move_type: `${inOut}_${old === "refund" ? "invoice" : "refund"}`, name: false })
      if (this.amounts(this.invoiceLines(id), "quantity").total < 0) {
        for (const line of this.invoiceLines(id)) line.quantity = -num(line.quantity)
      }
      move.amount_residual = this.amounts(this.invoiceLines(id), "quantity").total
    }
  }

  /**
   * `account.move.reversal.refund_moves`: a draft credit note of each move, its lines copied with
   * their sale order lines (`include_business_fields`), so the order reads them as not invoiced.
   */
  reverseMoves(moveIds: ReadonlyArray<number>, reason: string): Array<number> {
    return moveIds.map((id) => {
      const move = this.need("account.move", id)
      if (move.state !== "posted") throw userError("You can only reverse posted moves.")
      const refund = this.create("account.move", {
        move_type: move.move_type === "out_invoice" ? "out_refund" : "out_invoice",
        partner_id: move.partner_id,
        invoice_origin: move.invoice_origin,
        ref: reason !== "" ? `Reversal of: ${move.name}, ${reason}` : `Reversal of: ${move.name}`,
        currency_id: move.currency_id,
        company_id: move.company_id,
        reversed_entry_id: id,
        invoice_line_ids: this.invoiceLines(id).map((l) => [0, 0, {
          name: l.name,
          product_id: l.product_id,
          quantity: l.quantity,
          price_unit: l.price_unit,
          discount: num(l.discount),
          tax_ids: [[6, 0, ids(l.tax_ids)]],
          sale_line_ids: [[6, 0, ids(l.sale_line_ids)]],
          is_downpayment: l.is_downpayment === true
        }])
      })
      this.need("account.move", refund).amount_residual = this.amounts(this.invoiceLines(refund), "quantity").total
      return refund
    })
  }

  invoiceLines(invoiceId: number): Array<Rec> {
    return this.all("account.move.line").filter((l) => l.move_id === invoiceId).sort((a, b) => a.id - b.id)
  }

  nextInvoiceName(prefix = "INV"): string {
    const year = new Date(this.now()).getUTCFullYear()
    return `${prefix}/${year}/${String(this.nextSequence(`${prefix}/${year}`)).padStart(5, "0")}`
  }

  postInvoices(invoiceIds: ReadonlyArray<number>): void {
    for (const id of invoiceIds) {
      const inv = this.need("account.move", id)
      if (inv.state !== "draft") {
        throw userError(`The entry ${this.displayName("account.move", id)} (id ${id}) must be in draft.`)
      }
      if (String(inv.move_type).startsWith("out_") && this.amounts(this.invoiceLines(id), "quantity").total < 0) {
        throw userError(
          "You cannot validate an invoice with a negative total amount. You should create a credit note instead. Use the action menu to transform it into a credit note or refund."
        )
      }
    }
    for (const id of invoiceIds) {
      const inv = this.need("account.move", id)
      const date = typeof inv.invoice_date === "string" ? inv.invoice_date : new Date(this.now()).toISOString().slice(0, 10)
      this.touch("account.move", id, {
        state: "posted",
        name: typeof inv.name === "string" && inv.name !== "" ? inv.name : this.nextInvoiceName(inv.move_type === "out_refund" ? "RINV" : "INV"),
        posted_before: true,
        invoice_date: date,
        invoice_date_due: typeof inv.invoice_date_due === "string" ? inv.invoice_date_due : date,
        amount_residual: this.amounts(this.invoiceLines(id), "quantity").total,
        // a total of zero is settled by posting it (`_compute_payment_state`)
        payment_state: this.amounts(this.invoiceLines(id), "quantity").total === 0 ? "paid" : "not_paid"
      })
    }
  }

  registerPayment(invoiceIds: ReadonlyArray<number>): number {
    let payment = 0
    for (const id of invoiceIds) {
      const inv = this.need("account.move", id)
      if (inv.state !== "posted") throw userError("You can only register payment for posted journal entries.")
      payment = this.create("account.payment", {
        amount: num(inv.amount_residual),
        partner_id: inv.partner_id,
        payment_type: "inbound",
        state: this.version >= 18 ? "paid" : "posted",
        date: new Date(this.now()).toISOString().slice(0, 10),
        currency_id: inv.currency_id,
        reconciled_invoice_ids: [[6, 0, [id]]]
      })
      this.touch("account.move", id, { amount_residual: 0, payment_state: "paid" })
    }
    return payment
  }

  // -- registry ---------------------------------------------------------------------------------

  private messagePost(model: string): MethodDef {
    return {
      params: [],
      varKw: "any",
      run: (call, kw) => {
        if (call.ids.length !== 1) throw new Error(`Expected singleton: ${model}(${call.ids.join(", ")})`)
        this.need(model, call.ids[0]!)
        const raw = typeof kw.body === "string" ? kw.body : ""
        const body = kw.body_is_html === true && this.version >= 17 ? raw : raw === "" ? "" : plaintext2html(raw)
        const subtypeXmlid = typeof kw.subtype_xmlid === "string" ? kw.subtype_xmlid : undefined
        const subtype = subtypeXmlid === "mail.mt_note" ? 2 : subtypeXmlid === "mail.mt_comment" ? 1 : num(kw.subtype_id) || 1
        const id = this.postMessage(model, call.ids[0]!, body, {
          messageType: typeof kw.message_type === "string" ? kw.message_type : "notification",
          subtype,
          author: typeof kw.author_id === "number" ? kw.author_id : 3,
          subject: typeof kw.subject === "string" ? kw.subject : false
        })
        this.touch(model, call.ids[0]!, {})
        return new Recordset("mail.message", [id])
      }
    }
  }

  private defineModels(): void {
    const v = this.version
    const db = this
    const company = { company_id: F.m2o("res.company", "Company", { default: () => 1 }) }
    const active = { active: F.bool("Active", { default: () => true }) }

    this.define({
      name: "res.users",
      description: "User",
      order: "name, login",
      fields: {
        login: F.char("Login"),
        name: F.char("Name"),
        partner_id: F.m2o("res.partner", "Related Partner"),
        tz: F.char("Timezone"),
        ...company,
        ...active
      },
      methods: {
        context_get: { model: true, params: [], run: () => ({ lang: "en_US", tz: false, uid: db.uid }) }
      }
    })

    this.define({
      name: "res.company",
      description: "Companies",
      order: "sequence, name",
      fields: {
        name: F.char("Company Name"),
        sequence: F.int("Sequence", { default: () => 10 }),
        currency_id: F.m2o("res.currency", "Currency"),
        partner_id: F.m2o("res.partner", "Partner"),
        has_received_warning_stock_sms: F.bool("Has received warning stock sms"),
        [this.smsFlag]: F.bool("SMS Confirmation", { default: () => true }),
        ...(v >= 19 ? { stock_confirmation_type: F.sel("Confirmation Type", [["sms", "SMS"]]) } : {})
      }
    })

    this.define({
      name: "res.partner",
      description: "Contact",
      order: "name, id desc",
      displayName: (rec) => {
        const parent = m2o(rec.parent_id)
        const name = typeof rec.name === "string" ? rec.name : ""
        return parent !== undefined && rec.type !== "contact_company" && rec.is_company !== true
          ? `${db.displayName("res.partner", parent)}, ${name}`
          : name
      },
      fields: {
        name: F.char("Name"),
        is_company: F.bool("Is a Company"),
        type: F.sel("Address Type", [["contact", "Contact"], ["invoice", "Invoice Address"], ["delivery", "Delivery Address"], [
          "other",
          "Other Address"
        ]], { default: () => "contact" }),
        email: F.char("Email"),
        phone: F.char("Phone"),
        ...(v < 19 ? { mobile: F.char("Mobile") } : {}),
        street: F.char("Street"),
        street2: F.char("Street2"),
        zip: F.char("Zip"),
        city: F.char("City"),
        state_id: F.m2o("res.country.state", "State"),
        country_id: F.m2o("res.country", "Country"),
        country_code: F.char("Country Code", {
          compute: (rec) => {
            const country = m2o(rec.country_id)
            const code = country !== undefined ? db.get("res.country", country)?.code : undefined
            return typeof code === "string" ? code : false
          }
        }),
        parent_id: F.m2o("res.partner", "Related Company"),
        child_ids: F.o2m("res.partner", "parent_id", "Contact"),
        ref: F.char("Reference"),
        lang: F.char("Language", { default: () => "en_US" }),
        comment: F.html("Notes"),
        company_id: F.m2o("res.company", "Company"),
        ...active
      },
      beforeWrite: (recs, vals) => {
        if (typeof vals.parent_id === "number") {
          for (const rec of recs) {
            let cursor: number | undefined = vals.parent_id
            const seen = new Set<number>()
            while (cursor !== undefined && !seen.has(cursor)) {
              if (cursor === rec.id) throw validationError("You cannot create recursive Partner hierarchies.")
              seen.add(cursor)
              cursor = m2o(db.get("res.partner", cursor)?.parent_id)
            }
          }
        }
      },
      methods: { message_post: this.messagePost("res.partner") }
    })

    this.define({ name: "res.country", description: "Country", order: "name", fields: { name: F.char("Country Name"), code: F.char("Country Code") } })
    this.define({
      name: "res.country.state",
      description: "Country state",
      order: "code",
      fields: { name: F.char("State Name"), code: F.char("State Code"), country_id: F.m2o("res.country", "Country") }
    })
    this.define({
      name: "res.currency",
      description: "Currency",
      order: "active desc, name",
      fields: {
        name: F.char("Currency"),
        symbol: F.char("Symbol"),
        decimal_places: F.int("Decimal Places", { compute: (rec) => Math.max(0, Math.round(-Math.log10(num(rec.rounding) || 0.01))) }),
        rounding: F.float("Rounding Factor", { default: () => 0.01 }),
        ...active
      }
    })
    this.define({ name: "uom.uom", description: "Product Unit of Measure", order: "name", fields: { name: F.char("Unit") } })
    this.define({
      name: "account.tax",
      description: "Tax",
      order: "sequence, id",
      fields: { name: F.char("Tax Name"), amount: F.float("Amount"), sequence: F.int("Sequence"), ...active }
    })

    const productTypes: ReadonlyArray<readonly [string, string]> = v === 17
      ? [["consu", "Consumable"], ["service", "Service"], ["product", "Storable Product"]]
      : [["consu", "Goods"], ["service", "Service"], ["combo", "Combo"]]
    const productName = (rec: Rec) => {
      const name = typeof rec.name === "string" ? rec.name : ""
      return typeof rec.default_code === "string" && rec.default_code !== "" ? `[${rec.default_code}] ${name}` : name
    }
    this.define({
      name: "product.template",
      description: "Product",
      order: "name",
      displayName: productName,
      fields: { name: F.char("Name"), default_code: F.char("Internal Reference"), ...active }
    })
    this.define({
      name: "product.product",
      description: "Product Variant",
      order: "default_code, name, id",
      displayName: productName,
      fields: {
        name: F.char("Name"),
        default_code: F.char("Internal Reference"),
        type: F.sel("Product Type", productTypes, { owner: "product.template", default: () => "consu" }),
        ...(v === 17
          ? {
            detailed_type: F.sel("Product Type", productTypes, { owner: "product.template" })
          }
          : { is_storable: F.bool("Track Inventory") }),
        weight: F.float("Weight"),
        weight_uom_name: F.char("Weight unit of measure label", { compute: () => "kg" }),
        list_price: F.float("Sales Price", { default: () => 1 }),
        standard_price: F.float("Cost"),
        invoice_policy: F.sel("Invoicing Policy", [["order", "Ordered quantities"], ["delivery", "Delivered quantities"]], {
          owner: "product.template",
          default: () => "order"
        }),
        sale_ok: F.bool("Can be Sold", { default: () => true }),
        purchase_ok: F.bool("Can be Purchased", { default: () => true }),
        qty_available: F.float("Quantity On Hand", {
          compute: (rec) =>
            db.all("stock.quant")
              .filter((q) => q.product_id === rec.id && db.get("stock.location", num(q.location_id))?.usage === "internal")
              .reduce((sum, q) => sum + num(q.quantity), 0)
        }),
        product_tmpl_id: F.m2o("product.template", "Product Template"),
        uom_id: F.m2o("uom.uom", "Unit", { default: () => 1 }),
        taxes_id: F.m2m("account.tax", "Sales Taxes", { default: (vals) => (vals.type === "service" ? [] : [[6, 0, [1]]]) }),
        ...active
      },
      onCreate: (rec) => {
        if (v === 17) {
          if (typeof rec.detailed_type === "string") rec.type = rec.detailed_type
          else rec.detailed_type = rec.type
        }
      },
      afterCreate: (rec) => {
        rec.product_tmpl_id = db.create("product.template", { name: rec.name, default_code: rec.default_code ?? false })
      }
    })

    this.define({
      name: "stock.location",
      description: "Inventory Locations",
      order: "complete_name, id",
      displayName: (rec) => String(rec.complete_name ?? rec.name),
      fields: {
        name: F.char("Location Name"),
        complete_name: F.char("Full Location Name"),
        usage: F.sel("Location Type", [["supplier", "Vendor"], ["view", "Virtual"], ["internal", "Internal"], ["customer", "Customer"], [
          "inventory",
          "Inventory Loss"
        ], ["transit", "Transit"]]),
        ...company,
        ...active
      }
    })
    this.define({
      name: "stock.warehouse",
      description: "Warehouse",
      order: "sequence,id",
      fields: {
        name: F.char("Warehouse"),
        code: F.char("Short Name"),
        sequence: F.int("Sequence"),
        lot_stock_id: F.m2o("stock.location", "Location Stock"),
        ...company,
        ...active
      }
    })
    this.define({
      name: "stock.picking.type",
      description: "Picking Type",
      order: "sequence, id",
      displayName: (rec) => `My Company: ${String(rec.name)}`,
      fields: {
        name: F.char("Operation Type"),
        code: F.sel("Type of Operation", [["incoming", "Receipt"], ["outgoing", "Delivery"], ["internal", "Internal Transfer"]]),
        sequence: F.int("Sequence"),
        sequence_code: F.char("Sequence Prefix"),
        warehouse_id: F.m2o("stock.warehouse", "Warehouse"),
        // stock `_compute_print_label` (stored, editable): true for deliveries, false for receipts
        // and internal transfers. `_send_confirmation_email` buys a label only where it is set.
        print_label: F.bool("Generate Shipping Labels", { default: (vals) => vals.code === "outgoing" }),
        ...company,
        ...active
      }
    })

    this.define({
      name: "stock.quant",
      description: "Quants",
      order: "id",
      fields: {
        product_id: F.m2o("product.product", "Product"),
        location_id: F.m2o("stock.location", "Location"),
        quantity: F.float("Quantity", { readonly: true }),
        inventory_quantity: F.float("Counted Quantity"),
        inventory_quantity_set: F.bool("Inventory Quantity Set"),
        reserved_quantity: F.float("Reserved Quantity", {
          compute: (rec) => (rec.location_id === db.stockLocation ? db.reservedElsewhere(num(rec.product_id), 0) : 0)
        }),
        ...company
      },
      methods: {
        create: {
          model: true,
          params: ["vals_list"],
          required: ["vals_list"],
          run: (call, kw) => {
            if (call.context.inventory_mode !== true) {
              throw userError("Quant's creation is restricted, you can't do this operation.")
            }
            const input = kw.vals_list
            const list = (Array.isArray(input) ? input : [input]) as Array<Record<string, unknown>>
            const created = list.map((vals) => {
              const existing = db.all("stock.quant").find(
                (q) => q.product_id === vals.product_id && q.location_id === vals.location_id
              )
              if (existing !== undefined) {
                db.write("stock.quant", [existing.id], { ...vals, inventory_quantity_set: true }, call.context)
                return existing.id
              }
              return db.create("stock.quant", { ...vals, inventory_quantity_set: true }, call.context)
            })
            return new Created(created, !Array.isArray(input))
          }
        },
        action_apply_inventory: {
          params: [],
          run: (call) => {
            for (const id of call.ids) {
              const quant = db.need("stock.quant", id)
              const delta = num(quant.inventory_quantity) - num(quant.quantity)
              const move = db.create("stock.move", {
                name: "Product Quantity Updated",
                product_id: quant.product_id,
                product_uom_qty: Math.abs(delta),
                quantity: Math.abs(delta),
                location_id: delta >= 0 ? 14 : quant.location_id,
                location_dest_id: delta >= 0 ? quant.location_id : 14,
                state: "done",
                picked: true
              })
              db.create("stock.move.line", {
                move_id: move,
                product_id: quant.product_id,
                quantity: Math.abs(delta),
                location_id: delta >= 0 ? 14 : quant.location_id,
                location_dest_id: delta >= 0 ? quant.location_id : 14,
                picked: true
              })
              db.touch("stock.quant", id, { quantity: num(quant.inventory_quantity), inventory_quantity: 0, inventory_quantity_set: false })
            }
            return undefined
          }
        }
      }
    })

    this.define({
      name: "stock.move",
      description: "Stock Move",
      order: "sequence, id",
      fields: {
        name: F.char("Description"),
        sequence: F.int("Sequence", { default: () => 10 }),
        product_id: F.m2o("product.product", "Product"),
        product_uom_qty: F.float("Demand"),
        quantity: F.float("Quantity"),
        picked: F.bool("Picked"),
        state: F.sel("Status", [["draft", "New"], ["waiting", "Waiting Another Move"], ["confirmed", "Waiting Availability"], [
          "partially_available",
          "Partially Available"
        ], ["assigned", "Available"], ["done", "Done"], ["cancel", "Cancelled"]], { default: () => "draft" }),
        picking_id: F.m2o("stock.picking", "Transfer"),
        move_line_ids: F.o2m("stock.move.line", "move_id", "Move Lines"),
        location_id: F.m2o("stock.location", "Source Location"),
        location_dest_id: F.m2o("stock.location", "Destination Location"),
        sale_line_id: F.m2o("sale.order.line", "Sale Line"),
        product_uom: F.m2o("uom.uom", "UoM", { default: () => 1 }),
        date: F.datetime("Date Scheduled", { default: () => db.now() }),
        reference: F.char("Reference", {
          compute: (rec) => (m2o(rec.picking_id) !== undefined ? db.displayName("stock.picking", m2o(rec.picking_id)!) : rec.name ?? false)
        }),
        ...company
      },
      afterWrite: (recs, vals) => {
        if ("quantity" in vals || "product_uom_qty" in vals) {
          for (const move of recs) {
            db.moveState(move)
            db.syncMoveLines(move)
            if (m2o(move.picking_id) !== undefined) db.pickingState(m2o(move.picking_id)!)
          }
        }
      }
    })
    this.define({
      name: "stock.move.line",
      description: "Product Moves (Stock Move Line)",
      order: "result_package_id desc, id",
      fields: {
        move_id: F.m2o("stock.move", "Stock Operation"),
        picking_id: F.m2o("stock.picking", "Transfer"),
        product_id: F.m2o("product.product", "Product"),
        quantity: F.float("Quantity"),
        picked: F.bool("Picked"),
        location_id: F.m2o("stock.location", "From"),
        location_dest_id: F.m2o("stock.location", "To"),
        result_package_id: F.int("Destination Package"),
        ...company
      }
    })

    const deliveryStateFields = this.options.deliveryState
      ? {
        delivery_state: F.sel("Carrier State", [
          ["shipping_recorded_in_carrier", "Shipping recorded in carrier"],
          ["in_transit", "In transit"],
          ["canceled_shipment", "Canceled shipment"],
          ["incidence", "Incidence"],
          ["customer_delivered", "Customer delivered"],
          ["warehouse_delivered", "Warehouse delivered"],
          ["no_update", "No more updates from carrier"]
        ], { readonly: true }),
        date_shipped: F.date("Shipment Date", { readonly: true }),
        date_delivered: F.datetime("Delivery Date", { readonly: true }),
        tracking_state: F.char("Tracking state", { readonly: true }),
        tracking_state_history: F.text("Tracking state history", { readonly: true }),
        pod_filename: F.char("Proof of Delivery Filename", { readonly: true })
      }
      : {}

    this.define({
      name: "stock.picking",
      description: "Transfer",
      order: "priority desc, scheduled_date asc, id desc",
      fields: {
        name: F.char("Reference"),
        state: F.sel("Status", [["draft", "Draft"], ["waiting", "Waiting Another Operation"], ["confirmed", "Waiting"], [
          "assigned",
          "Ready"
        ], ["done", "Done"], ["cancel", "Cancelled"]], { readonly: true, default: () => "draft" }),
        origin: F.char("Source Document"),
        partner_id: F.m2o("res.partner", "Contact"),
        carrier_id: F.m2o("delivery.carrier", "Carrier"),
        carrier_tracking_ref: F.char("Tracking Reference"),
        delivery_type: F.char("Provider", {
          compute: (rec) => (m2o(rec.carrier_id) !== undefined ? db.get("delivery.carrier", m2o(rec.carrier_id)!)?.delivery_type ?? false : false)
        }),
        scheduled_date: F.datetime("Scheduled Date", { default: () => db.now() }),
        date_deadline: F.datetime("Deadline"),
        date_done: F.datetime("Date of Transfer", { readonly: true }),
        move_ids: F.o2m("stock.move", "picking_id", "Stock Moves"),
        ...(v < 19
          ? {
            move_ids_without_package: F.o2m("stock.move", "picking_id", "Stock moves not in package")
          }
          : {}),
        move_line_ids: F.o2m("stock.move.line", "picking_id", "Operations"),
        weight: F.float("Weight", {
          compute: (rec) =>
            round2(
              db.pickingMoves(rec.id).reduce(
                (sum, m) => sum + num(db.get("product.product", num(m.product_id))?.weight) * num(m.product_uom_qty),
                0
              )
            )
        }),
        shipping_weight: F.float("Weight for Shipping", {
          compute: (rec) => round2(db.pickingMoves(rec.id).reduce((sum, m) => sum + num(db.get("product.product", num(m.product_id))?.weight) * num(m.quantity), 0))
        }),
        weight_uom_name: F.char("Weight unit of measure label", { compute: () => "kg" }),
        sale_id: F.m2o("sale.order", "Sales Order"),
        picking_type_id: F.m2o("stock.picking.type", "Operation Type", { default: () => 2 }),
        picking_type_code: F.sel("Type of Operation", [["incoming", "Receipt"], ["outgoing", "Delivery"], ["internal", "Internal Transfer"]], {
          compute: (rec) => db.get("stock.picking.type", num(rec.picking_type_id))?.code ?? false
        }),
        location_id: F.m2o("stock.location", "Source Location"),
        location_dest_id: F.m2o("stock.location", "Destination Location"),
        backorder_id: F.m2o("stock.picking", "Back Order of"),
        backorder_ids: F.o2m("stock.picking", "backorder_id", "Back Orders"),
        user_id: F.m2o("res.users", "Responsible", { default: () => 2 }),
        note: F.html("Notes"),
        move_type: F.sel("Shipping Policy", [["direct", "As soon as possible"], ["one", "When all products are ready"]], {
          default: () => "direct"
        }),
        priority: F.sel("Priority", [["0", "Normal"], ["1", "Urgent"]], { default: () => "0" }),
        ...deliveryStateFields,
        ...company
      },
      onCreate: (rec) => {
        if (typeof rec.name !== "string" || rec.name === "" || rec.name === "/") {
          rec.name = `WH/OUT/${String(db.nextSequence("WH/OUT")).padStart(5, "0")}`
        }
      },
      // `carrier_id` is `check_company`: a carrier of another company is refused
      beforeWrite: (recs, vals) => {
        const carrier = typeof vals.carrier_id === "number" ? db.get("delivery.carrier", vals.carrier_id) : undefined
        const owner = m2o(carrier?.company_id)
        if (carrier === undefined || owner === undefined) return
        for (const rec of recs) {
          if (m2o(rec.company_id) !== undefined && m2o(rec.company_id) !== owner) {
            throw userError(
              `Incompatible companies on records:\n- '${String(rec.name)}' belongs to company '${
                String(db.get("res.company", m2o(rec.company_id)!)?.name)
              }' and 'Carrier' (carrier_id: '${String(carrier.name)}') belongs to another company.`
            )
          }
        }
      },
      methods: {
        button_validate: { params: [], run: (call) => db.buttonValidate(call.ids, call.context) },
        action_assign: {
          params: [],
          run: (call) => {
            for (const id of call.ids) {
              for (const m of db.pickingMoves(id)) db.reserve(m.id)
              db.pickingState(id)
            }
            return true
          }
        },
        action_cancel: {
          params: [],
          run: (call) => {
            for (const id of call.ids) db.cancelPicking(id)
            return true
          }
        },
        message_post: this.messagePost("stock.picking")
      }
    })

    this.define({
      name: "stock.backorder.confirmation",
      description: "Backorder Confirmation",
      order: "id",
      fields: {
        pick_ids: F.m2m("stock.picking", "Pick"),
        show_transfers: F.bool("Show Transfers"),
        backorder_confirmation_line_ids: F.o2m("stock.backorder.confirmation.line", "backorder_confirmation_id", "Backorder Confirmation Lines")
      },
      afterCreate: (rec) => {
        if ((db.rawOf("stock.backorder.confirmation", rec, "backorder_confirmation_line_ids") as Array<number>).length === 0) {
          for (const pick of ids(rec.pick_ids)) {
            db.create("stock.backorder.confirmation.line", { backorder_confirmation_id: rec.id, picking_id: pick, to_backorder: true })
          }
        }
      },
      methods: {
        process: {
          params: [],
          run: (call) => {
            const wizard = db.need("stock.backorder.confirmation", call.ids[0]!)
            const lines = db.all("stock.backorder.confirmation.line").filter((l) => l.backorder_confirmation_id === wizard.id)
            const notToDo = lines.filter((l) => l.to_backorder !== true).map((l) => num(l.picking_id))
            const validate = ids(call.context.button_validate_picking_ids)
            if (validate.length === 0) return true
            return db.buttonValidate(validate, {
              ...call.context,
              skip_backorder: true,
              ...(notToDo.length > 0 ? { picking_ids_not_to_backorder: notToDo } : {})
            })
          }
        },
        process_cancel_backorder: {
          params: [],
          run: (call) => {
            const wizard = db.need("stock.backorder.confirmation", call.ids[0]!)
            const validate = ids(call.context.button_validate_picking_ids)
            if (validate.length === 0) return true
            return db.buttonValidate(validate, {
              ...call.context,
              skip_backorder: true,
              picking_ids_not_to_backorder: ids(wizard.pick_ids)
            })
          }
        }
      }
    })
    this.define({
      name: "stock.backorder.confirmation.line",
      description: "Backorder Confirmation Line",
      order: "id",
      fields: {
        backorder_confirmation_id: F.m2o("stock.backorder.confirmation", "Immediate Transfer"),
        picking_id: F.m2o("stock.picking", "Transfer"),
        to_backorder: F.bool("To Backorder")
      }
    })
    this.define({
      name: "confirm.stock.sms",
      description: "Confirm Stock SMS",
      order: "id",
      fields: { pick_ids: F.m2m("stock.picking", "Pick"), ...company },
      methods: {
        dont_send_sms: {
          params: [],
          run: (call) => {
            db.need("confirm.stock.sms", call.ids[0]!)
            db.touch("res.company", 1, { has_received_warning_stock_sms: true, [db.smsFlag]: false })
            return db.buttonValidate(ids(call.context.button_validate_picking_ids), call.context)
          }
        },
        send_sms: {
          params: [],
          run: (call) => {
            db.need("confirm.stock.sms", call.ids[0]!)
            db.touch("res.company", 1, { has_received_warning_stock_sms: true })
            return db.buttonValidate(ids(call.context.button_validate_picking_ids), call.context)
          }
        }
      }
    })

    this.define({
      name: "delivery.carrier",
      description: "Shipping Methods",
      order: "sequence, id",
      fields: {
        name: F.char("Delivery Method"),
        sequence: F.int("Sequence", { default: () => 10 }),
        // `ups_rest` stands for any shipping connector (delivery_ups_rest, delivery_fedex_rest, …
        // each add theirs): one whose `send_shipping` buys a label from the carrier's API.
        delivery_type: F.sel("Provider", [["base_on_rule", "Based on Rules"], ["fixed", "Fixed Price"], ["ups_rest", "UPS"]], {
          default: () => "fixed"
        }),
        // Odoo's default is `rate_and_ship` for every carrier, the built-in fixed and rule-based
        // ones too (their `send_shipping` calls no API and returns no tracking number).
        integration_level: F.sel("Integration Level", [["rate", "Get Rate"], ["rate_and_ship", "Get Rate and Create Shipment"]], {
          default: () => "rate_and_ship"
        }),
        fixed_price: F.float("Fixed Price"),
        product_id: F.m2o("product.product", "Delivery Product"),
        ...company,
        ...active
      }
    })
    this.define({
      name: "choose.delivery.carrier",
      description: "Delivery Method Selection Wizard",
      order: "id",
      fields: {
        order_id: F.m2o("sale.order", "Sales Order"),
        carrier_id: F.m2o("delivery.carrier", "Shipping Method"),
        delivery_price: F.float("Cost", {
          compute: (rec) => num(db.get("delivery.carrier", num(rec.carrier_id))?.fixed_price)
        }),
        display_price: F.float("Display Price", {
          compute: (rec) => num(db.get("delivery.carrier", num(rec.carrier_id))?.fixed_price)
        })
      },
      methods: {
        update_price: { params: [], run: (call) => T.carrierAction(v, call.ids[0]!) },
        button_confirm: {
          params: [],
          run: (call) => {
            const wizard = db.need("choose.delivery.carrier", call.ids[0]!)
            const carrier = db.need("delivery.carrier", num(wizard.carrier_id))
            const order = num(wizard.order_id)
            db.write("sale.order", [order], { carrier_id: carrier.id })
            db.create("sale.order.line", {
              order_id: order,
              name: carrier.name,
              product_id: carrier.product_id,
              product_uom_qty: 1,
              price_unit: num(carrier.fixed_price),
              is_delivery: true,
              sequence: 999
            })
            return undefined
          }
        }
      }
    })

    const uomField = v >= 19 ? "product_uom_id" : "product_uom"
    const taxField = v >= 19 ? "tax_ids" : "tax_id"
    this.define({
      name: "sale.order",
      description: "Sales Order",
      order: "date_order desc, id desc",
      privateMethods: ["_create_invoices", "_prepare_invoice", "_action_confirm"],
      fields: {
        name: F.char("Order Reference"),
        state: F.sel("Status", [["draft", "Quotation"], ["sent", "Quotation Sent"], ["sale", "Sales Order"], ["cancel", "Cancelled"]], {
          readonly: true,
          default: () => "draft"
        }),
        partner_id: F.m2o("res.partner", "Customer"),
        partner_invoice_id: F.m2o("res.partner", "Invoice Address", { default: (vals) => vals.partner_id ?? false }),
        partner_shipping_id: F.m2o("res.partner", "Delivery Address", { default: (vals) => vals.partner_id ?? false }),
        client_order_ref: F.char("Customer Reference"),
        origin: F.char("Source Document"),
        note: F.html("Terms and conditions"),
        date_order: F.datetime("Order Date", { default: () => db.now() }),
        currency_id: F.m2o("res.currency", "Currency", { default: () => 1 }),
        user_id: F.m2o("res.users", "Salesperson", { default: () => 2 }),
        carrier_id: F.m2o("delivery.carrier", "Delivery Method"),
        order_line: F.o2m("sale.order.line", "order_id", "Order Lines"),
        amount_untaxed: F.money("Untaxed Amount", { compute: (rec) => db.amounts(db.orderLines(rec.id), "product_uom_qty").untaxed }),
        amount_tax: F.money("Taxes", { compute: (rec) => db.amounts(db.orderLines(rec.id), "product_uom_qty").tax }),
        amount_total: F.money("Total", { compute: (rec) => db.amounts(db.orderLines(rec.id), "product_uom_qty").total }),
        picking_ids: F.m2m("stock.picking", "Transfers", { compute: (rec) => db.orderPickings(rec.id) }),
        delivery_status: F.sel("Delivery Status", v === 17 ? [["pending", "Not Delivered"], ["partial", "Partially Delivered"], [
          "full",
          "Fully Delivered"
        ]] : [["pending", "Not Delivered"], ["started", "Started"], ["partial", "Partially Delivered"], ["full", "Fully Delivered"]], {
          // stored: kept by syncDeliveryStatus
          readonly: true
        }),
        invoice_status: F.sel("Invoice Status", [["upselling", "Upselling Opportunity"], ["invoiced", "Fully Invoiced"], [
          "to invoice",
          "To Invoice"
        ], ["no", "Nothing to Invoice"]], { compute: (rec) => db.orderInvoiceStatus(rec) }),
        invoice_ids: F.m2m("account.move", "Invoices", { compute: (rec) => db.orderInvoices(rec.id) }),
        shipping_weight: F.float("Shipping Weight", {
          compute: (rec) =>
            round2(
              db.orderLines(rec.id).filter((l) => l.is_delivery !== true).reduce(
                (sum, l) => sum + num(db.get("product.product", num(l.product_id))?.weight) * num(l.product_uom_qty),
                0
              )
            )
        }),
        ...company
      },
      onCreate: (rec) => {
        rec.name = `S${String(db.nextSequence("sale.order.name")).padStart(5, "0")}`
      },
      beforeUnlink: (recs) => {
        if (recs.some((r) => r.state === "sale" || r.state === "sent")) {
          throw userError("You can not delete a sent quotation or a confirmed sales order. You must first cancel it.")
        }
      },
      methods: {
        action_confirm: {
          params: [],
          run: (call) => {
            for (const id of call.ids) db.confirmOrder(id)
            return true
          }
        },
        action_cancel: {
          params: [],
          run: (call) => {
            // sale_stock's _action_cancel: the deliveries not done are cancelled first, in the
            // same transaction (so they share the order's write_date)
            for (const id of call.ids) {
              for (const pickingId of db.orderPickings(id)) {
                const state = db.get("stock.picking", pickingId)?.state
                if (state !== "done" && state !== "cancel") db.cancelPicking(pickingId)
              }
              db.touch("sale.order", id, { state: "cancel" })
            }
            return true
          }
        },
        message_post: this.messagePost("sale.order")
      }
    })
    this.define({
      name: "sale.order.line",
      description: "Sales Order Line",
      order: "order_id, sequence, id",
      fields: {
        order_id: F.m2o("sale.order", "Order Reference"),
        sequence: F.int("Sequence", { default: () => 10 }),
        name: F.text("Description"),
        product_id: F.m2o("product.product", "Product"),
        product_uom_qty: F.float("Quantity", { default: () => 1 }),
        [uomField]: F.m2o("uom.uom", "Unit", { default: () => 1 }),
        price_unit: F.float("Unit Price"),
        [taxField]: F.m2m("account.tax", "Taxes"),
        discount: F.float("Discount (%)"),
        price_subtotal: F.money("Subtotal", { compute: (rec) => subtotal(rec, "product_uom_qty") }),
        price_total: F.money("Total", {
          compute: (rec) => {
            const sub = subtotal(rec, "product_uom_qty")
            return round2(sub + round2(sub * db.taxRate(db.lineTaxes(rec))))
          }
        }),
        qty_delivered: F.float("Delivery Quantity", { compute: (rec) => db.qtyDelivered(rec) }),
        qty_invoiced: F.float("Invoiced Quantity", { compute: (rec) => db.qtyInvoiced(rec) }),
        qty_to_invoice: F.float("Quantity To Invoice", { compute: (rec) => db.qtyToInvoice(rec) }),
        invoice_status: F.sel("Invoice Status", [["upselling", "Upselling Opportunity"], ["invoiced", "Fully Invoiced"], [
          "to invoice",
          "To Invoice"
        ], ["no", "Nothing to Invoice"]], { compute: (rec) => db.lineInvoiceStatus(rec) }),
        is_delivery: F.bool("Is a Delivery"),
        is_downpayment: F.bool("Is a down payment"),
        display_type: F.sel("Display Type", [["line_section", "Section"], ["line_note", "Note"]]),
        move_ids: F.o2m("stock.move", "sale_line_id", "Stock Moves")
      },
      onCreate: (rec) => {
        const product = m2o(rec.product_id) !== undefined ? db.get("product.product", m2o(rec.product_id)!) : undefined
        if (product !== undefined) {
          if (rec.name === undefined || rec.name === false) rec.name = db.productName(product.id)
          if (rec.price_unit === undefined) rec.price_unit = num(product.list_price)
          if (rec[taxField] === undefined || ids(rec[taxField]).length === 0) rec[taxField] = [...ids(product.taxes_id)]
        }
      }
    })
    this.define({
      name: "sale.advance.payment.inv",
      description: "Sales Advance Payment Invoice",
      order: "id",
      fields: {
        advance_payment_method: F.sel("Create Invoice", [["delivered", "Regular invoice"], ["percentage", "Down payment (percentage)"], [
          "fixed",
          "Down payment (fixed amount)"
        ]], { default: () => "delivered" }),
        deduct_down_payments: F.bool("Deduct down payments", { default: () => true }),
        amount: F.float("Down Payment Amount"),
        fixed_amount: F.money("Down Payment Amount (Fixed)"),
        sale_order_ids: F.m2m("sale.order", "Sales Orders", {
          default: (_vals, context) =>
            context.active_model === "sale.order" && Array.isArray(context.active_ids) ? [[6, 0, context.active_ids]] : []
        }),
        count: F.int("Order Count", { compute: (rec) => ids(rec.sale_order_ids).length })
      },
      methods: {
        create_invoices: {
          params: [],
          run: (call) => {
            const wizard = db.need("sale.advance.payment.inv", call.ids[0]!)
            const orders = ids(wizard.sale_order_ids).length > 0 ? ids(wizard.sale_order_ids) : ids(call.context.active_ids)
            const method = String(wizard.advance_payment_method)
            if (method !== "delivered" && orders.length !== 1) throw new Error(`Expected singleton: sale.order(${orders.join(", ")})`)
            const invoices = method === "delivered"
              ? db.createInvoices(orders, wizard.deduct_down_payments !== false)
              : [db.createDownPayment(orders[0]!, method, num(wizard.amount), num(wizard.fixed_amount))]
            if (invoices.length === 1) {
              const inv = db.need("account.move", invoices[0]!)
              return T.invoicesAction(v, inv.id, num(inv.partner_id), String(inv.invoice_origin))
            }
            return T.invoicesListAction(v, invoices)
          }
        }
      }
    })

    this.define({
      name: "account.move",
      description: "Journal Entry",
      order: "invoice_date desc, name desc, id desc",
      displayName: (rec) => (typeof rec.name === "string" && rec.name !== "" ? rec.name : `Draft Invoice (* ${rec.id})`),
      fields: {
        name: F.char("Number"),
        state: F.sel("Status", [["draft", "Draft"], ["posted", "Posted"], ["cancel", "Cancelled"]], { readonly: true, default: () => "draft" }),
        move_type: F.sel("Type", [["entry", "Journal Entry"], ["out_invoice", "Customer Invoice"], ["out_refund", "Customer Credit Note"], [
          "in_invoice",
          "Vendor Bill"
        ], ["in_refund", "Vendor Credit Note"], ["out_receipt", "Sales Receipt"], ["in_receipt", "Purchase Receipt"]], {
          default: () => "entry"
        }),
        payment_state: F.sel("Payment Status", [
          ["not_paid", "Not Paid"],
          ["in_payment", "In Payment"],
          ["paid", "Paid"],
          ["partial", "Partially Paid"],
          ["reversed", "Reversed"],
          ...(v >= 18 ? [["blocked", "Blocked"] as const] : []),
          ["invoicing_legacy", "Invoicing App Legacy"]
        ], { readonly: true, default: () => "not_paid" }),
        partner_id: F.m2o("res.partner", "Partner"),
        currency_id: F.m2o("res.currency", "Currency", { default: () => 1 }),
        invoice_origin: F.char("Origin"),
        ref: F.char("Reference"),
        narration: F.html("Terms and Conditions"),
        invoice_date: F.date("Invoice/Bill Date"),
        invoice_date_due: F.date("Due Date"),
        invoice_user_id: F.m2o("res.users", "Salesperson", { default: () => 2 }),
        invoice_line_ids: F.o2m("account.move.line", "move_id", "Invoice lines"),
        line_ids: F.o2m("account.move.line", "move_id", "Journal Items"),
        amount_untaxed: F.money("Untaxed Amount", { compute: (rec) => db.amounts(db.invoiceLines(rec.id), "quantity").untaxed }),
        amount_tax: F.money("Tax", { compute: (rec) => db.amounts(db.invoiceLines(rec.id), "quantity").tax }),
        amount_total: F.money("Total", { compute: (rec) => db.amounts(db.invoiceLines(rec.id), "quantity").total }),
        amount_residual: F.money("Amount Due", { readonly: true }),
        posted_before: F.bool("Posted Before", { readonly: true }),
        reversed_entry_id: F.m2o("account.move", "Reversal of"),
        ...company
      },
      methods: {
        action_switch_move_type: {
          params: [],
          run: (call) => {
            db.switchMoveType(call.ids)
            return null
          }
        },
        action_post: {
          params: [],
          run: (call) => {
            db.postInvoices(call.ids)
            return false
          }
        },
        button_cancel: {
          params: [],
          run: (call) => {
            for (const id of call.ids) db.touch("account.move", id, { state: "cancel" })
            return true
          }
        },
        button_draft: {
          params: [],
          run: (call) => {
            for (const id of call.ids) db.touch("account.move", id, { state: "draft" })
            return true
          }
        },
        message_post: this.messagePost("account.move")
      }
    })
    this.define({
      name: "account.move.line",
      description: "Journal Item",
      order: "date desc, move_name desc, id",
      fields: {
        move_id: F.m2o("account.move", "Journal Entry"),
        name: F.char("Label"),
        date: F.date("Date"),
        move_name: F.char("Number"),
        product_id: F.m2o("product.product", "Product"),
        quantity: F.float("Quantity"),
        price_unit: F.float("Unit Price"),
        discount: F.float("Discount (%)"),
        price_subtotal: F.money("Subtotal", { compute: (rec) => subtotal(rec, "quantity") }),
        price_total: F.money("Total", {
          compute: (rec) => {
            const sub = subtotal(rec, "quantity")
            return round2(sub + round2(sub * db.taxRate(ids(rec.tax_ids))))
          }
        }),
        tax_ids: F.m2m("account.tax", "Taxes"),
        sale_line_ids: F.m2m("sale.order.line", "Sales Order Lines"),
        is_downpayment: F.bool("Is Downpayment")
      }
    })
    this.define({
      name: "account.move.reversal",
      description: "Account Move Reversal",
      order: "id",
      fields: {
        move_ids: F.m2m("account.move", "Move", {
          default: (_vals, context) =>
            context.active_model === "account.move" && Array.isArray(context.active_ids) ? [[6, 0, context.active_ids]] : []
        }),
        reason: F.char("Reason displayed on Credit Note"),
        new_move_ids: F.m2m("account.move", "New Move")
      },
      methods: {
        refund_moves: {
          params: [],
          run: (call) => {
            const wizard = db.need("account.move.reversal", call.ids[0]!)
            const refunds = db.reverseMoves(ids(wizard.move_ids), typeof wizard.reason === "string" ? wizard.reason : "")
            wizard.new_move_ids = refunds
            return { name: "Reverse Moves", type: "ir.actions.act_window", res_model: "account.move", view_mode: "form", res_id: refunds[0] ?? false }
          }
        }
      }
    })
    this.define({
      name: "account.payment.register",
      description: "Pay",
      order: "id",
      fields: {
        payment_date: F.date("Payment Date"),
        line_ids: F.m2m("account.move", "Journal items", {
          default: (_vals, context) =>
            context.active_model === "account.move" && Array.isArray(context.active_ids) ? [[6, 0, context.active_ids]] : []
        }),
        amount: F.money("Amount", {
          compute: (rec) => ids(rec.line_ids).reduce((sum, id) => sum + num(db.get("account.move", id)?.amount_residual), 0)
        })
      },
      methods: {
        action_create_payments: {
          params: [],
          run: (call) => {
            const wizard = db.need("account.payment.register", call.ids[0]!)
            const payment = db.registerPayment(ids(wizard.line_ids))
            return T.paymentsAction(payment)
          }
        }
      }
    })
    this.define({
      name: "account.payment",
      description: "Payments",
      order: "date desc, name desc",
      fields: {
        name: F.char("Number"),
        amount: F.money("Amount"),
        partner_id: F.m2o("res.partner", "Customer/Vendor"),
        payment_type: F.sel("Payment Type", [["outbound", "Send"], ["inbound", "Receive"]]),
        state: F.sel("Status", [["draft", "Draft"], ["in_process", "In Process"], ["paid", "Paid"], ["posted", "Posted"], [
          "canceled",
          "Canceled"
        ]]),
        date: F.date("Date"),
        currency_id: F.m2o("res.currency", "Currency"),
        reconciled_invoice_ids: F.m2m("account.move", "Reconciled Invoices")
      }
    })

    this.define({
      name: "mail.message.subtype",
      description: "Message subtypes",
      order: "sequence, id",
      fields: { name: F.char("Message Type"), sequence: F.int("Sequence") }
    })
    this.define({
      name: "mail.message",
      description: "Message",
      order: "id desc",
      fields: {
        body: F.html("Contents"),
        subject: F.char("Subject"),
        model: F.char("Related Document Model"),
        res_id: F.int("Related Document ID"),
        record_name: F.char("Message Record Name", {
          compute: (rec) => (typeof rec.model === "string" && db.hasModel(rec.model) ? db.displayName(rec.model, num(rec.res_id)) : false)
        }),
        message_type: F.sel("Type", [["email", "Incoming Email"], ["comment", "Comment"], ["email_outgoing", "Outgoing Email"], [
          "notification",
          "System notification"
        ], ["auto_comment", "Automated Targeted Notification"], ["user_notification", "User Specific Notification"]], {
          default: () => "notification"
        }),
        subtype_id: F.m2o("mail.message.subtype", "Subtype"),
        author_id: F.m2o("res.partner", "Author"),
        date: F.datetime("Date", { default: () => db.now() })
      }
    })

    this.define({
      name: "project.project",
      description: "Project",
      order: "sequence, name, id",
      fields: {
        name: F.char("Name"),
        sequence: F.int("Sequence", { default: () => 10 }),
        partner_id: F.m2o("res.partner", "Customer"),
        task_ids: F.o2m("project.task", "project_id", "Tasks"),
        // From 17 a project's company is optional and has no default (`project_project.py`:
        // `company_id = fields.Many2one('res.company', compute="_compute_company_id",
        // inverse="_inverse_company_id", store=True, readonly=False)`): a project created
        // without one is shared by every company.
        company_id: F.m2o("res.company", "Company"),
        ...active
      },
      // its tasks follow it (`project.task._compute_company_id` depends on `project_id.company_id`)
      afterWrite: (recs, vals) => {
        if (!("company_id" in vals)) return
        for (const project of recs) {
          for (const task of db.search("project.task", [["project_id", "=", project.id]], { context: { active_test: false } })) {
            db.touch("project.task", task, { company_id: m2o(project.company_id) ?? false })
          }
        }
      },
      // `project.project.unlink` (16, 17): `tasks = self.with_context(active_test=False).tasks`,
      // `super().unlink()`, then `tasks.unlink()`: a project takes its tasks, archived ones too, with it
      beforeUnlink: (recs) => {
        const tasks = db.search("project.task", [["project_id", "in", recs.map((r) => r.id as number)]], {
          context: { active_test: false }
        })
        if (tasks.length > 0) db.unlink("project.task", tasks)
      },
      methods: { message_post: this.messagePost("project.project") }
    })
    this.define({
      name: "project.task.type",
      description: "Task Stage",
      order: "sequence, id",
      fields: { name: F.char("Name"), sequence: F.int("Sequence"), fold: F.bool("Folded in Kanban") }
    })
    this.define({
      name: "project.task",
      description: "Task",
      order: "priority desc, sequence, date_deadline asc, id desc",
      fields: {
        name: F.char("Title"),
        sequence: F.int("Sequence", { default: () => 10 }),
        priority: F.sel("Priority", v >= 19 ? [["0", "Low"], ["1", "Medium"], ["2", "High"], ["3", "Urgent"]] : [["0", "Low"], ["1", "High"]], {
          default: () => "0"
        }),
        project_id: F.m2o("project.project", "Project"),
        partner_id: F.m2o("res.partner", "Customer"),
        description: F.html("Description"),
        stage_id: F.m2o("project.task.type", "Stage"),
        state: F.sel("State", [
          ["01_in_progress", "In Progress"],
          ["02_changes_requested", "Changes Requested"],
          ["03_approved", "Approved"],
          ["1_done", "Done"],
          ["1_canceled", "Cancelled"],
          ["04_waiting_normal", "Waiting"]
        ], { default: () => "01_in_progress" }),
        user_ids: F.m2m("res.users", "Assignees", { default: () => [[6, 0, [db.uid]]] }),
        date_deadline: F.datetime("Deadline"),
        // `project_task.py` (17+): `company_id = fields.Many2one('res.company',
        // compute='_compute_company_id', store=True, readonly=False, ...)` with
        // `_compute_company_id`: `task.company_id = task.project_id.company_id or
        // task.parent_id.company_id` (left alone without project or parent). A task's company
        // follows its project's, so a task in a shared project (no company) has none unless one
        // is given; a value given in `create` is kept (the ORM protects fields given in vals).
        company_id: F.m2o("res.company", "Company", {
          default: (vals) => (typeof vals.project_id === "number" ? m2o(db.get("project.project", vals.project_id)?.company_id) ?? false : false)
        }),
        ...active
      },
      afterWrite: (recs, vals) => {
        if (!("project_id" in vals) || "company_id" in vals || typeof vals.project_id !== "number") return
        const company = m2o(db.get("project.project", vals.project_id)?.company_id) ?? false
        for (const rec of recs) db.touch("project.task", rec.id as number, { company_id: company })
      },
      methods: { message_post: this.messagePost("project.task") }
    })

    if (this.options.helpdesk) {
      this.define({
        name: "helpdesk.team",
        description: "Helpdesk Team",
        order: "sequence,id",
        fields: { name: F.char("Helpdesk Team"), sequence: F.int("Sequence"), ...company, ...active },
        // its tickets follow it (`helpdesk.ticket.company_id` is `related='team_id.company_id'`)
        afterWrite: (recs, vals) => {
          if (!("company_id" in vals)) return
          for (const team of recs) {
            for (const ticket of db.search("helpdesk.ticket", [["team_id", "=", team.id]], { context: { active_test: false } })) {
              db.touch("helpdesk.ticket", ticket, { company_id: m2o(team.company_id) ?? false })
            }
          }
        }
      })
      this.define({
        name: "helpdesk.stage",
        description: "Helpdesk Stage",
        order: "sequence, id",
        fields: {
          name: F.char("Stage Name"),
          sequence: F.int("Sequence"),
          fold: F.bool("Folded in Kanban"),
          // stages belong to teams; a ticket moves through its team's stages only
          team_ids: F.m2m("helpdesk.team", "Helpdesk Teams")
        }
      })
      this.define({
        name: "helpdesk.ticket",
        description: "Helpdesk Ticket",
        order: "priority desc, id desc",
        fields: {
          name: F.char("Subject"),
          description: F.html("Description"),
          team_id: F.m2o("helpdesk.team", "Helpdesk Team", {
            default: () => db.search("helpdesk.team", [], { limit: 1 })[0] ?? false
          }),
          partner_id: F.m2o("res.partner", "Customer"),
          // Odoo: the first stage (by sequence) of the ticket's team (`_determine_stage`)
          stage_id: F.m2o("helpdesk.stage", "Stage", {
            default: (vals) =>
              typeof vals.team_id === "number"
                ? db.search("helpdesk.stage", [["team_ids", "in", [vals.team_id]]], { limit: 1 })[0] ?? false
                : false
          }),
          priority: F.sel("Priority", [["0", "Low priority"], ["1", "Medium priority"], ["2", "High priority"], ["3", "Urgent"]], {
            default: () => "0"
          }),
          user_id: F.m2o("res.users", "Assigned to"),
          // Odoo (helpdesk_ticket.py): `company_id = fields.Many2one(related='team_id.company_id',
          // string='Company', store=True, readonly=True)`: a ticket is in its team's company, a
          // company given with it does not count.
          company_id: F.m2o("res.company", "Company", { readonly: true }),
          ...active
        },
        onCreate: (rec) => {
          rec.company_id = m2o(db.get("helpdesk.team", m2o(rec.team_id) ?? 0)?.company_id) ?? false
        },
        afterWrite: (recs, vals) => {
          if (!("team_id" in vals)) return
          for (const rec of recs) {
            db.touch("helpdesk.ticket", rec.id as number, {
              company_id: m2o(db.get("helpdesk.team", m2o(rec.team_id) ?? 0)?.company_id) ?? false
            })
          }
        },
        methods: { message_post: this.messagePost("helpdesk.ticket") }
      })
    }

    this.define({
      name: "ir.model",
      description: "Models",
      order: "model",
      fields: { model: F.char("Model"), name: F.char("Model Description") }
    })
  }

  private seed(): void {
    const v = this.version
    const put = (model: string, rec: Rec) => {
      const now = this.now()
      this.table(model).set(rec.id, { create_date: now, write_date: now, create_uid: 1, write_uid: 1, ...rec })
    }
    put("res.currency", { id: 1, name: "USD", symbol: "$", rounding: 0.01, active: true })
    put("res.currency", { id: 125, name: "EUR", symbol: "€", rounding: 0.01, active: true })
    for (
      const [id, code, name] of [
        [20, "BE", "Belgium"],
        [57, "DE", "Germany"],
        [75, "FR", "France"],
        [165, "NL", "Netherlands"],
        [231, "GB", "United Kingdom"],
        [233, "US", "United States"]
      ] as const
    ) put("res.country", { id, code, name })
    put("res.partner", { id: 1, name: "My Company", is_company: true, company_id: 1, active: true, type: "contact" })
    put("res.partner", { id: 2, name: "OdooBot", email: "odoobot@example.com", active: false, type: "contact" })
    put("res.partner", { id: 3, name: "Administrator", email: "admin@example.com", active: true, type: "contact", company_id: 1 })
    const firstFree = v >= 19 ? 6 : 7
    for (let id = 4; id < firstFree; id++) put("res.partner", { id, name: `Template ${id}`, active: false, type: "contact" })
    this.seedSequence("res.partner", firstFree)
    put("res.company", {
      id: 1,
      name: "My Company",
      sequence: 0,
      currency_id: 1,
      partner_id: 1,
      has_received_warning_stock_sms: false,
      [this.smsFlag]: true
    })
    this.seedSequence("res.company", 2)
    put("res.users", { id: 1, login: "__system__", name: "OdooBot", partner_id: 2, company_id: 1, active: false, tz: false })
    put("res.users", { id: 2, login: "admin", name: "Administrator", partner_id: 3, company_id: 1, active: true, tz: false })
    this.seedSequence("res.users", 3)
    put("uom.uom", { id: 1, name: "Units" })
    put("account.tax", { id: 1, name: "15%", amount: 15, sequence: 1, active: true })
    this.seedSequence("account.tax", 2)
    put("product.template", { id: 1, name: "Standard delivery", default_code: "Delivery_007", active: true })
    put("product.product", {
      id: 1,
      name: "Standard delivery",
      default_code: "Delivery_007",
      type: "service",
      ...(v === 17 ? { detailed_type: "service" } : { is_storable: false }),
      list_price: 0,
      invoice_policy: "order",
      sale_ok: false,
      product_tmpl_id: 1,
      uom_id: 1,
      taxes_id: [],
      active: true
    })
    this.seedSequence("product.product", 2)
    this.seedSequence("product.template", 2)
    put("delivery.carrier", {
      id: 1,
      name: "Standard delivery",
      sequence: 10,
      delivery_type: "fixed",
      integration_level: "rate_and_ship",
      fixed_price: 0,
      product_id: 1,
      company_id: false,
      active: true
    })
    this.seedSequence("delivery.carrier", 2)
    put("stock.location", { id: 1, name: "Physical Locations", complete_name: "Physical Locations", usage: "view", active: true })
    put("stock.location", { id: this.customerLocation, name: "Customers", complete_name: "Partners/Customers", usage: "customer", active: true })
    put("stock.location", { id: this.stockLocation, name: "Stock", complete_name: "WH/Stock", usage: "internal", company_id: 1, active: true })
    put("stock.location", { id: 14, name: "Inventory adjustment", complete_name: "Virtual Locations/Inventory adjustment", usage: "inventory", active: true })
    this.seedSequence("stock.location", 20)
    put("stock.warehouse", { id: 1, name: "My Company", code: "WH", sequence: 1, lot_stock_id: this.stockLocation, company_id: 1, active: true })
    put("stock.picking.type", {
      id: 1,
      name: "Receipts",
      code: "incoming",
      sequence: 1,
      sequence_code: "IN",
      warehouse_id: 1,
      print_label: false,
      company_id: 1,
      active: true
    })
    put("stock.picking.type", {
      id: 2,
      name: "Delivery Orders",
      code: "outgoing",
      sequence: 2,
      sequence_code: "OUT",
      warehouse_id: 1,
      print_label: true,
      company_id: 1,
      active: true
    })
    this.seedSequence("stock.picking.type", 3)
    put("mail.message.subtype", { id: 1, name: "Discussions", sequence: 0 })
    put("mail.message.subtype", { id: 2, name: "Note", sequence: 100 })
    put("mail.message.subtype", { id: 3, name: "Activities", sequence: 90 })
    this.seedSequence("mail.message.subtype", 4)
    if (v >= 19) this.seedSequence("project.task", 2)
    if (this.options.helpdesk) {
      put("helpdesk.team", { id: 1, name: "Customer Care", sequence: 1, company_id: 1, active: true })
      put("helpdesk.stage", { id: 1, name: "New", sequence: 0, fold: false, team_ids: [1] })
      put("helpdesk.stage", { id: 2, name: "In Progress", sequence: 1, fold: false, team_ids: [1] })
      put("helpdesk.stage", { id: 3, name: "Solved", sequence: 3, fold: true, team_ids: [1] })
      this.seedSequence("helpdesk.team", 2)
      this.seedSequence("helpdesk.stage", 4)
    }
    let modelId = 1
    for (const [name, def] of this.models) put("ir.model", { id: modelId++, model: name, name: def.description })
    this.seedSequence("ir.model", modelId)
  }
}
