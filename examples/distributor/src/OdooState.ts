/**
 * What Odoo holds at the end of the run, read through the API (the same way for the embedded
 * fake and a real server): invoices per order, delivery state and tracking reference, waybill's
 * chatter notes on the deliveries, and the service cases.
 *
 * @since 0.1.0
 */
import type { PortError } from "@waybill/core"
import { type OdooClient, OdooDomain as D, OdooField } from "@waybill/odoo"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/**
 * Odoo's side of the scenario.
 *
 * @since 0.1.0
 */
export interface OdooState {
  /** Customer invoices (not cancelled) per `sale.order` id. */
  readonly invoices: ReadonlyMap<number, ReadonlyArray<{ readonly id: number; readonly state: string }>>
  readonly pickings: ReadonlyMap<number, { readonly state: string; readonly trackingRef: string | null }>
  /** Occurrences of each `waybill-key:` marker in the chatter of each delivery. */
  readonly notes: ReadonlyMap<number, ReadonlyMap<string, number>>
  /** `project.task` or `helpdesk.ticket`. */
  readonly caseModel: string
  /** Cases per `waybill-shipment:` marker, with whether each is closed. */
  readonly cases: ReadonlyMap<string, ReadonlyArray<{ readonly id: number; readonly resolved: boolean }>>
}

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

const KEY_MARKER = /waybill-key:[0-9a-f]{24}/g
const SHIPMENT_MARKER = /waybill-shipment:[0-9a-f]{24}/

/**
 * Reads Odoo's side for the given orders and deliveries.
 *
 * @since 0.1.0
 */
export const read = (
  client: OdooClient.OdooClientShape,
  orderIds: ReadonlyArray<number>,
  pickingIds: ReadonlyArray<number>
): Effect.Effect<OdooState, PortError.ErpError> =>
  Effect.gen(function* () {
    const info = yield* client.info
    const invoices = new Map<number, Array<{ id: number; state: string }>>()
    for (const ids of chunks(orderIds, 200)) {
      const orders = yield* client.read("sale.order", ids, { fields: { invoice_ids: OdooField.X2many } })
      const moveIds = orders.flatMap((o) => o.invoice_ids)
      const moves =
        moveIds.length === 0
          ? []
          : yield* client.searchRead(
              "account.move",
              D.and(D.isIn("id", moveIds), D.eq("move_type", "out_invoice"), D.ne("state", "cancel")),
              { fields: { state: Schema.String } }
            )
      const byId = new Map(moves.map((m) => [m.id, m.state] as const))
      for (const o of orders) {
        invoices.set(
          o.id,
          o.invoice_ids.flatMap((id) => (byId.has(id) ? [{ id, state: byId.get(id)! }] : []))
        )
      }
    }

    const pickings = new Map<number, { state: string; trackingRef: string | null }>()
    const notes = new Map<number, Map<string, number>>()
    for (const ids of chunks(pickingIds, 200)) {
      for (const p of yield* client.read("stock.picking", ids, {
        fields: { state: Schema.String, carrier_tracking_ref: OdooField.Text }
      })) {
        pickings.set(p.id, { state: p.state, trackingRef: p.carrier_tracking_ref })
      }
      const messages = yield* client.searchRead(
        "mail.message",
        D.and(D.eq("model", "stock.picking"), D.isIn("res_id", ids), D.ilike("body", "waybill-key:")),
        { fields: { res_id: Schema.Number, body: OdooField.Text } }
      )
      for (const m of messages) {
        let counts = notes.get(m.res_id)
        if (counts === undefined) notes.set(m.res_id, (counts = new Map()))
        for (const marker of new Set((m.body ?? "").match(KEY_MARKER) ?? [])) counts.set(marker, (counts.get(marker) ?? 0) + 1)
      }
    }

    const helpdesk = (yield* client.searchCount("ir.model", D.eq("model", "helpdesk.ticket"))) > 0
    const caseModel = helpdesk ? "helpdesk.ticket" : "project.task"
    const cases = new Map<string, Array<{ id: number; resolved: boolean }>>()
    const add = (description: string | null, id: number, resolved: boolean) => {
      const marker = (description ?? "").match(SHIPMENT_MARKER)?.[0]
      if (marker === undefined) return
      let list = cases.get(marker)
      if (list === undefined) cases.set(marker, (list = []))
      list.push({ id, resolved })
    }
    if (helpdesk) {
      const rows = yield* client.searchRead("helpdesk.ticket", D.ilike("description", "waybill-shipment:"), {
        fields: { description: OdooField.Text, stage_id: OdooField.Many2one },
        context: { active_test: false }
      })
      const stageIds = [...new Set(rows.flatMap((r) => (r.stage_id !== null ? [r.stage_id.id] : [])))]
      const folded = new Set(
        (stageIds.length === 0 ? [] : yield* client.read("helpdesk.stage", stageIds, { fields: { fold: Schema.Boolean } }))
          .filter((s) => s.fold)
          .map((s) => s.id)
      )
      for (const r of rows) add(r.description, r.id, r.stage_id !== null && folded.has(r.stage_id.id))
    } else {
      const rows = yield* client.searchRead("project.task", D.ilike("description", "waybill-shipment:"), {
        fields: { description: OdooField.Text, ...(info.major >= 17 ? { state: OdooField.Text } : {}) },
        context: { active_test: false }
      })
      for (const r of rows) add(r.description, r.id, "state" in r && r.state === "1_done")
    }
    return { invoices, pickings, notes, caseModel, cases }
  })
