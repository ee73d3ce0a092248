/**
 * The end-of-run report: what a logistics manager wants to know after a week of shipments, and
 * the invariants that prove waybill did its job. `format` renders it as plain text.
 *
 * @since 0.1.0
 */

/**
 * One invariant and whether it held.
 *
 * @since 0.1.0
 */
export interface Check {
  readonly name: string
  readonly ok: boolean
  /** What was compared, or what went wrong (first offenders). */
  readonly detail: string
}

/**
 * One event of the timeline, in arrival order.
 *
 * @since 0.1.0
 */
export interface TimelineEntry {
  /** Position in arrival (commit) order, from 1. */
  readonly arrival: number
  /** Position in occurrence order, from 1. */
  readonly occurrence: number
  readonly occurredAt: string
  readonly source: string
  /** e.g. `delivered`, `exception: failed attempt`, `retraction of 1 event`. */
  readonly what: string
  readonly rawCode: string
  /** Accepted, Stale or Anomaly. */
  readonly outcome: string
  readonly reached: ReadonlyArray<string>
  readonly withdrawn: ReadonlyArray<string>
}

/**
 * One shipment's history as it arrived, resolved.
 *
 * @since 0.1.0
 */
export interface Timeline {
  readonly shipmentId: string
  readonly reference: string
  readonly carrier: string
  readonly trackingNumber: string
  readonly story: string
  /** Copies of its events that reached waybill (retransmissions and repeated histories included). */
  readonly copiesReceived: number
  readonly entries: ReadonlyArray<TimelineEntry>
  /** Pairs of events that arrived in the opposite order of their occurrence. */
  readonly inversions: number
  readonly finalStatus: string
  readonly progress: string | undefined
  readonly exceptions: ReadonlyArray<string>
  readonly billing: string
  readonly matchesOracle: boolean
}

/**
 * Everything the report shows.
 *
 * @since 0.1.0
 */
export interface Report {
  readonly settings: {
    readonly orders: number
    readonly seed: number
    readonly odoo: string
    readonly store: string
    readonly sources: ReadonlyArray<string>
    readonly billingPolicy: string
  }
  readonly elapsedMillis: number
  readonly shipments: number
  readonly statuses: ReadonlyArray<{ readonly status: string; readonly count: number }>
  readonly billing: {
    readonly released: number
    readonly held: ReadonlyArray<{ readonly reference: string; readonly reasons: ReadonlyArray<string>; readonly detail: string }>
    readonly approved: ReadonlyArray<{ readonly reference: string; readonly approval: string; readonly by: string }>
    readonly waiting: number
    readonly invoicesInOdoo: number
  }
  readonly cases: {
    readonly model: string
    readonly opened: number
    readonly resolved: number
    readonly open: ReadonlyArray<{ readonly reference: string; readonly why: string }>
  }
  readonly traffic: {
    readonly webhooks: number
    readonly retransmissions: number
    readonly late: number
    readonly eventCopies: number
    readonly applied: number
    readonly outcomes: ReadonlyArray<{ readonly outcome: string; readonly count: number }>
    readonly unmapped: number
  }
  readonly anomalies: ReadonlyArray<{ readonly reason: string; readonly count: number; readonly example: string }>
  readonly withdrawals: ReadonlyArray<{ readonly reference: string; readonly milestone: string; readonly compensation: string }>
  readonly deadLetters: ReadonlyArray<{
    readonly kind: string
    readonly target: string
    readonly reason: string
    readonly count: number
    readonly description: string
    readonly planned: string | undefined
  }>
  readonly replayed: { readonly reingested: number; readonly failedAgain: number }
  readonly odoo: {
    readonly intakeCalls: number
    readonly effectCalls: number
    readonly perShipment: number
    readonly byMethod: ReadonlyArray<{ readonly method: string; readonly count: number }> | undefined
    readonly faultsInjected: ReadonlyArray<string>
    readonly retries: number
  }
  readonly notifications: ReadonlyArray<{ readonly template: string; readonly count: number }>
  readonly timeline: Timeline | undefined
  readonly checks: ReadonlyArray<Check>
}

/**
 * Whether every invariant held.
 *
 * @since 0.1.0
 */
export const ok = (report: Report): boolean => report.checks.every((c) => c.ok)

const n = (x: number): string => x.toLocaleString("en-US")
const pad = (s: string, width: number): string => (s.length >= width ? s : s + " ".repeat(width - s.length))
const padLeft = (s: string, width: number): string => (s.length >= width ? s : " ".repeat(width - s.length) + s)
const human = (s: string): string => s.replace(/_/g, " ")

/**
 * Renders the report as plain text.
 *
 * @since 0.1.0
 */
export const format = (r: Report): string => {
  const out: Array<string> = []
  const line = (s = "") => out.push(s)
  const section = (title: string) => {
    line()
    line(title)
    line("─".repeat(Math.min(78, title.length)))
  }

  line(`waybill · distributor demo · ${n(r.settings.orders)} orders · seed ${r.settings.seed}`)
  line(`${r.settings.odoo} · ${r.settings.store} · sources: ${r.settings.sources.join(", ")}`)
  line(`billing policy: ${r.settings.billingPolicy}`)

  section(`Shipments by status (${n(r.shipments)})`)
  for (const s of r.statuses) line(`  ${pad(human(s.status), 22)}${padLeft(n(s.count), 6)}`)

  section("Invoices")
  line(`  ${pad("released", 22)}${padLeft(n(r.billing.released), 6)}   (${n(r.billing.invoicesInOdoo)} posted in Odoo)`)
  for (const a of r.billing.approved) line(`    ${a.reference}: ${human(a.approval)} hold approved by ${a.by}, then released`)
  line(`  ${pad("held", 22)}${padLeft(n(r.billing.held.length), 6)}`)
  for (const h of r.billing.held) line(`    ${pad(h.reference, 14)} ${pad(h.reasons.map(human).join(", "), 26)} ${h.detail}`)
  line(`  ${pad("not billable yet", 22)}${padLeft(n(r.billing.waiting), 6)}   (not delivered: on the road, lost or returned)`)

  section(`Service cases (Odoo ${r.cases.model})`)
  line(`  ${pad("opened", 22)}${padLeft(n(r.cases.opened), 6)}`)
  line(`  ${pad("resolved on delivery", 22)}${padLeft(n(r.cases.resolved), 6)}`)
  line(`  ${pad("still open", 22)}${padLeft(n(r.cases.open.length), 6)}`)
  for (const c of r.cases.open.slice(0, 12)) line(`    ${pad(c.reference, 14)} ${c.why}`)
  if (r.cases.open.length > 12) line(`    … and ${r.cases.open.length - 12} more`)

  section("Inbound traffic")
  line(
    `  ${n(r.traffic.webhooks)} webhooks (${n(r.traffic.retransmissions)} retransmissions, ${n(r.traffic.late)} more than an hour late)`
  )
  line(`  ${n(r.traffic.eventCopies)} event copies in them (carriers repeat their history) → ${n(r.traffic.applied)} distinct events applied`)
  line(`  outcomes: ${r.traffic.outcomes.map((o) => `${o.outcome} ${n(o.count)}`).join(" · ")}`)
  line(`  unmapped carrier codes kept as "unknown": ${n(r.traffic.unmapped)}`)

  section("Anomalies (recorded, never applied silently)")
  if (r.anomalies.length === 0) line("  none")
  for (const a of r.anomalies) line(`  ${pad(human(a.reason), 24)}${padLeft(n(a.count), 4)}   e.g. ${a.example}`)

  section("Withdrawn milestones (compensated, never silently undone)")
  if (r.withdrawals.length === 0) line("  none")
  for (const w of r.withdrawals) line(`  ${pad(w.reference, 14)} ${pad(w.milestone, 20)} → ${w.compensation}`)

  section("Dead letters")
  if (r.deadLetters.length === 0) line("  none")
  for (const d of r.deadLetters) {
    line(
      `  ${pad(`${d.kind} · ${d.target}`, 20)} ${pad(d.reason, 13)}${padLeft(`×${d.count}`, 4)}  ${d.planned !== undefined ? `[planned: ${d.planned}] ` : "[UNEXPECTED] "}${d.description}`
    )
  }
  line(`  replayed after the order poller caught up: ${n(r.replayed.reingested)} re-ingested, ${n(r.replayed.failedAgain)} failed again`)

  section("Odoo calls")
  line(
    `  ${n(r.odoo.intakeCalls + r.odoo.effectCalls)} in all: ${n(r.odoo.intakeCalls)} order intake (polling hourly), ${n(r.odoo.effectCalls)} effects · ${r.odoo.perShipment.toFixed(1)} effect calls per shipment`
  )
  if (r.odoo.faultsInjected.length > 0) {
    line(`  faults injected: ${r.odoo.faultsInjected.join("; ")}`)
    line(`  retried by the dispatcher: ${n(r.odoo.retries)} calls`)
  }
  if (r.odoo.byMethod !== undefined) {
    const rows = r.odoo.byMethod
    const half = Math.ceil(rows.length / 2)
    for (let i = 0; i < half; i++) {
      const a = rows[i]!
      const b = rows[i + half]
      line(
        `  ${pad(a.method, 40)}${padLeft(n(a.count), 6)}` +
          (b !== undefined ? `    ${pad(b.method, 40)}${padLeft(n(b.count), 6)}` : "")
      )
    }
  }

  section("Customer notifications")
  line(`  ${r.notifications.map((x) => `${human(x.template)} ${n(x.count)}`).join(" · ") || "none"}`)

  if (r.timeline !== undefined) {
    const t = r.timeline
    section(`Timeline of ${t.reference} (${t.story}): out of order, resolved`)
    line(`  ${t.carrier} ${t.trackingNumber} · ${t.shipmentId}`)
    line(
      `  ${n(t.copiesReceived)} copies received, ${t.entries.length} distinct events applied, ${t.inversions} pairs arrived in the wrong order`
    )
    line(`  ${pad("in", 5)}${pad("occ", 5)}${pad("occurred", 13)}${pad("source", 10)}${pad("event [raw code]", 48)}${pad("outcome", 10)}milestones`)
    for (const e of t.entries) {
      const milestones = [...e.reached.map((m) => `+${m}`), ...e.withdrawn.map((m) => `−${m}`)].join(" ")
      line(
        `  ${pad(`#${e.arrival}`, 5)}${pad(`#${e.occurrence}`, 5)}${pad(e.occurredAt, 13)}${pad(e.source, 10)}${pad(
          `${e.what} [${e.rawCode}]`,
          48
        )}${pad(e.outcome, 10)}${milestones}`
      )
    }
    line(`  (in: order of arrival at waybill; occ: order of occurrence; times UTC)`)
    line(
      `  final: ${human(t.finalStatus)}${t.progress !== undefined && t.progress !== t.finalStatus ? ` (progress ${human(t.progress)})` : ""}` +
        `${t.exceptions.length > 0 ? ` · exceptions: ${t.exceptions.join(", ")}` : ""} · billing ${t.billing}` +
        ` · ${t.matchesOracle ? "equals" : "DIFFERS FROM"} the state folded from its events in occurrence order`
    )
  }

  section("Invariants")
  for (const c of r.checks) line(`  ${c.ok ? "✓" : "✗"} ${c.name}: ${c.detail}`)

  line()
  line(`${ok(r) ? "All invariants hold." : "SOME INVARIANTS FAILED."} Elapsed ${(r.elapsedMillis / 1000).toFixed(1)} s.`)
  return out.join("\n")
}
