import { describe, expect, it } from "@effect/vitest"
import { OdooFake } from "@waybill/odoo/testing"
import * as Effect from "effect/Effect"
import * as Report from "../src/Report.js"
import * as Run from "../src/Run.js"
import * as Stories from "../src/Stories.js"

const invariantNames = [
  "every state equals the batch fold of its sources' events",
  "every story ends as planned (status, billing, holds)",
  "every planned effect was carried out",
  "one posted invoice per released shipment, none for held or undelivered ones",
  "one chatter note per (shipment, note key)",
  "one service case per shipment with an exception or a compensation",
  "deliveries validated iff delivered, tracking written iff dispatched",
  "one customer notification per notification key",
  "dead letters are exactly the planned ones; early events replayed",
  "the audit trail verifies",
  "transport drained, outbox empty"
]

const expectAllInvariants = (report: Report.Report) => {
  expect(report.checks.map((c) => c.name)).toEqual(invariantNames)
  for (const c of report.checks) expect({ name: c.name, ok: c.ok, detail: c.detail }).toMatchObject({ ok: true })
  expect(Report.ok(report)).toBe(true)
}

describe("the distributor demo", () => {
  it.live("runs 40 orders end to end: every invariant holds and the report shows each planned case", () =>
    Effect.gen(function* () {
      const stories = Stories.generate(1, 40)
      const count = (p: Stories.Profile) => stories.filter((s) => s.profile === p).length
      const report = yield* Run.run({ orders: 40, seed: 1 })

      expectAllInvariants(report)
      expect(report.shipments).toBe(40)

      // shipments by status: delivered, lost, returned, still on the road
      const statuses = Object.fromEntries(report.statuses.map((s) => [s.status, s.count]))
      expect(statuses["lost"]).toBe(count("lost"))
      expect(statuses["returned"]).toBe(count("refused_return"))
      expect(statuses["in_transit"]).toBe(count("in_flight"))
      expect(statuses["delivered"]).toBe(40 - count("lost") - count("refused_return") - count("in_flight"))

      // invoices: released ones posted in Odoo, held ones with each planned reason, one approval
      expect(report.billing.released).toBeGreaterThan(0)
      expect(report.billing.invoicesInOdoo).toBe(report.billing.released)
      const heldFor = (reason: string) => report.billing.held.filter((h) => h.reasons.includes(reason)).length
      expect(heldFor("weight_out_of_tolerance")).toBe(count("weight_discrepancy"))
      // a damage in transit holds through the delivery too (no carrier cleared it); one is approved
      expect(heldFor("open_damage")).toBe(count("damaged_on_delivery") + count("damaged_in_transit") - 1)
      expect(report.billing.approved).toHaveLength(1)
      expect(report.billing.held.find((h) => h.reasons.includes("weight_out_of_tolerance"))?.detail).toMatch(/packed .* kg vs declared .* kg/)
      expect(report.billing.released + report.billing.held.length + report.billing.waiting).toBe(40)

      // service cases, anomalies, withdrawals
      expect(report.cases.opened).toBeGreaterThan(0)
      expect(report.cases.resolved).toBeGreaterThan(0)
      expect(report.anomalies.map((a) => a.reason).sort()).toEqual(["cancel_after_dispatch", "conflicting_duplicate"])
      expect(report.withdrawals.map((w) => w.milestone)).toContain("reached:delivered")
      expect(report.withdrawals.find((w) => w.milestone === "reached:delivered")?.compensation).toContain("case opened")
      expect(report.traffic.unmapped).toBe(count("unmapped_code"))

      // messy traffic: retransmissions, late and repeated history, all deduplicated
      expect(report.traffic.retransmissions).toBeGreaterThan(0)
      expect(report.traffic.late).toBeGreaterThan(0)
      expect(report.traffic.eventCopies).toBeGreaterThan(report.traffic.applied)
      expect(report.traffic.outcomes.find((o) => o.outcome === "Duplicate")?.count).toBeGreaterThan(0)

      // dead letters: only the planned ones; the early event was replayed
      expect(report.deadLetters.every((d) => d.planned !== undefined)).toBe(true)
      expect(report.deadLetters.map((d) => d.reason).sort()).toEqual(["NotFound", "Unauthorized"])
      expect(report.replayed.reingested).toBeGreaterThanOrEqual(1)

      // Odoo calls were counted, with the injected faults retried
      expect(report.odoo.effectCalls).toBeGreaterThan(0)
      expect(report.odoo.byMethod?.find((m) => m.method === "sale.advance.payment.inv.create_invoices")?.count).toBe(
        report.billing.released
      )
      expect(report.odoo.retries).toBeGreaterThan(0)

      // the timeline: a history that arrived out of order, resolved to the oracle's state
      const timeline = report.timeline!
      expect(timeline).toBeDefined()
      expect(timeline.inversions).toBeGreaterThan(0)
      expect(timeline.entries.length).toBeGreaterThanOrEqual(5)
      expect(timeline.entries.some((e) => e.arrival !== e.occurrence)).toBe(true)
      expect(timeline.matchesOracle).toBe(true)

      const text = Report.format(report)
      expect(text).toContain("All invariants hold.")
      expect(text).toContain(`Timeline of ${timeline.reference}`)
      expect(text).not.toContain("✗")
    }))

  it.live("seeds and runs against an Odoo reached only through its API (Odoo 19, JSON-2)", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const odoo = yield* OdooFake.make({ version: 19 })
        const report = yield* Run.run({ orders: Stories.minimumOrders, seed: 5, odoo: odoo.clientOptions() })
        expectAllInvariants(report)
        expect(report.settings.odoo).toContain(odoo.url)
        // the demo's own orders only, each delivered one validated through the API
        expect(odoo.calls("sale.order", "action_confirm")).toBe(Stories.minimumOrders)
        const delivered = report.statuses.find((s) => s.status === "delivered")?.count ?? 0
        expect(delivered).toBeGreaterThan(0)
        expect(odoo.calls("stock.picking", "button_validate")).toBe(delivered)
      })
    ))

  it("formats a failed invariant with ✗ and a failing summary", () => {
    const report: Report.Report = {
      settings: { orders: 1, seed: 1, odoo: "x", store: "y", sources: [], billingPolicy: "z" },
      elapsedMillis: 1,
      shipments: 0,
      statuses: [],
      billing: { released: 0, held: [], approved: [], waiting: 0, invoicesInOdoo: 0 },
      cases: { model: "project.task", opened: 0, resolved: 0, open: [] },
      traffic: { webhooks: 0, retransmissions: 0, late: 0, eventCopies: 0, applied: 0, outcomes: [], unmapped: 0 },
      anomalies: [],
      withdrawals: [],
      deadLetters: [],
      replayed: { reingested: 0, failedAgain: 0 },
      odoo: { intakeCalls: 0, effectCalls: 0, perShipment: 0, byMethod: undefined, faultsInjected: [], retries: 0 },
      notifications: [],
      timeline: undefined,
      checks: [
        { name: "a", ok: true, detail: "fine" },
        { name: "b", ok: false, detail: "1 wrong: x" }
      ]
    }
    expect(Report.ok(report)).toBe(false)
    const text = Report.format(report)
    expect(text).toContain("✗ b: 1 wrong: x")
    expect(text).toContain("SOME INVARIANTS FAILED.")
  })

  it("generates the same stories from the same seed, with every profile at least at its minimum", () => {
    const a = Stories.generate(9, 60)
    const b = Stories.generate(9, 60)
    expect(a).toEqual(b)
    expect(Stories.generate(10, 60)).not.toEqual(a)
    for (const m of Stories.mix) {
      expect(a.filter((s) => s.profile === m.profile).length).toBeGreaterThanOrEqual(m.min)
    }
    for (const s of a) {
      for (let i = 1; i < s.warehouseSteps.length; i++) expect(s.warehouseSteps[i]!.at).toBeGreaterThan(s.warehouseSteps[i - 1]!.at)
      expect(s.carrierSteps.every((c) => c.at <= Stories.HORIZON)).toBe(true)
    }
    expect(() => Stories.generate(1, Stories.minimumOrders - 1)).toThrow(RangeError)
  })
})
