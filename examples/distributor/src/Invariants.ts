/**
 * The end of the run: gathers what waybill and Odoo hold, checks the invariants and builds the
 * report.
 *
 * Invariants (each printed with ✓ or ✗):
 * 1. every shipment's state holds the same facts as the batch fold of the events its sources
 *    emitted (`ShipmentState.sameFacts`), and every emitted event belongs to a shipment;
 * 2. every story ends as planned (status, billing, hold reasons);
 * 3. every effect the flows planned was carried out (its outbox key is done);
 * 4. Odoo has exactly one posted invoice per shipment whose billing was released, none otherwise;
 * 5. one chatter note per (shipment, note key), and no other waybill note;
 * 6. one service case per shipment that had an exception (or a compensation), none otherwise;
 * 7. deliveries validated exactly for the delivered shipments, tracking written exactly for the
 *    dispatched ones;
 * 8. one customer notification per notification key;
 * 9. dead letters: only the planned ones, and the events that came before their order replayed;
 * 10. the audit trail verifies (`Audit.verify`);
 * 11. the transport and the outbox are empty.
 *
 * @since 0.1.0
 */
import {
  Audit,
  type Pipeline,
  type PortError,
  type ShipmentRecord,
  ShipmentState,
  Store,
  Transport,
  Worker
} from "@waybill/core"
import { OdooErp } from "@waybill/odoo"
import type { OdooFake } from "@waybill/odoo/testing"
import * as Effect from "effect/Effect"
import type * as OdooState from "./OdooState.js"
import type * as Oracle from "./Oracle.js"
import type * as Report from "./Report.js"
import type * as Scenario from "./Scenario.js"
import * as Sources from "./Sources.js"
import * as Stories from "./Stories.js"

/**
 * Everything the run collected.
 *
 * @since 0.1.0
 */
export interface Input {
  readonly settings: Report.Report["settings"]
  readonly started: number
  readonly stories: ReadonlyArray<Stories.Story>
  readonly released: ReadonlyArray<Scenario.Released>
  readonly pipeline: Pipeline.PipelineShape
  readonly oracle: Oracle.Oracle
  readonly odoo: OdooState.OdooState
  readonly sent: ReadonlyArray<Sources.Outbound>
  readonly notified: ReadonlyMap<string, { readonly count: number; readonly template: string }>
  readonly approvals: ReadonlyArray<{
    readonly shipmentId: string
    readonly reference: string
    readonly approval: ShipmentRecord.Approval
    readonly by: string
  }>
  readonly replayed: { readonly reingested: number; readonly failedAgain: number }
  readonly calls: {
    readonly intake: number
    readonly effects: number
    readonly log: ReadonlyArray<OdooFake.CallRecord> | undefined
    readonly faults: ReadonlyArray<string>
    readonly retries: number
  }
  readonly outcomes: ReadonlyArray<{ readonly outcome: string; readonly count: number }>
}

interface AuditEvent {
  readonly eventId: string
  readonly source: string
  readonly outcome: string
  readonly anomaly?: string
  readonly reached: ReadonlyArray<string>
  readonly retracted: ReadonlyArray<string>
  readonly actions: ReadonlyArray<string>
}

interface StoredEvent {
  readonly _tag: string
  readonly id: string
  readonly source: string
  readonly occurredAt: string
  readonly raw: { readonly code: string; readonly detail?: string }
  readonly status?: string
  readonly kind?: string
  readonly retracts?: ReadonlyArray<string>
  readonly weight?: number
}

interface Final {
  readonly released: Scenario.Released
  readonly record: ShipmentRecord.ShipmentRecord
  readonly oracle: ShipmentState.ShipmentState
  readonly audit: ReadonlyArray<AuditEvent>
  readonly planned: ReadonlyArray<string>
  readonly events: ReadonlyMap<string, StoredEvent>
}

const first = <A>(items: ReadonlyArray<A>, show: (a: A) => string, max = 3): string =>
  items.length === 0 ? "" : `${items.slice(0, max).map(show).join("; ")}${items.length > max ? ` (+${items.length - max} more)` : ""}`

const check = (name: string, offenders: ReadonlyArray<string>, okDetail: string): Report.Check =>
  offenders.length === 0
    ? { name, ok: true, detail: okDetail }
    : { name, ok: false, detail: `${offenders.length} wrong: ${first(offenders, (s) => s)}` }

const human = (s: string): string => s.replace(/_/g, " ")

/**
 * Checks the invariants and builds the report.
 *
 * @since 0.1.0
 */
export const evaluate = (
  input: Input
): Effect.Effect<Report.Report, PortError.StorageError | Pipeline.IngestError, Store.Store | Transport.Transport> =>
  Effect.gen(function* () {
    const store = yield* Store.Store
    const transport = yield* Transport.Transport

    // -- what waybill holds ----------------------------------------------------------------------
    const finals: Array<Final> = []
    const missing: Array<string> = []
    for (const r of input.released) {
      const id = r.shipment.id
      const record = yield* input.pipeline.record(id)
      if (record === undefined) {
        missing.push(r.order.reference)
        continue
      }
      const entries = yield* store.readAudit(id, 1, 100_000)
      const audit: Array<AuditEvent> = []
      const planned: Array<string> = []
      for (const e of entries) {
        const body = JSON.parse(e.body) as Partial<AuditEvent>
        if (body.actions !== undefined) planned.push(...body.actions)
        if (e.kind === "event") audit.push(body as AuditEvent)
      }
      const events = new Map<string, StoredEvent>()
      for (const e of yield* store.events(id)) {
        const event = JSON.parse(e.body) as StoredEvent
        events.set(event.id, event)
      }
      finals.push({
        released: r,
        record,
        oracle: input.oracle.states.get(id) ?? ShipmentState.empty(r.shipment.id, r.shipment.companyId),
        audit,
        planned: [...new Set(planned)],
        events
      })
    }
    const approved = new Set(input.approvals.map((a) => a.shipmentId))
    const checks: Array<Report.Check> = []

    // 1. state = batch fold of the emitted events
    {
      const offenders = finals.filter((f) => !ShipmentState.sameFacts(f.record.state, f.oracle)).map((f) => f.released.order.reference)
      offenders.push(...missing.map((m) => `${m} (not registered)`), ...input.oracle.unrouted.map((u) => `unrouted ${u}`))
      checks.push(
        check(
          "every state equals the batch fold of its sources' events",
          offenders,
          `${finals.length}/${input.released.length} shipments hold the same facts as ShipmentState.fold of the ${sum(input.oracle.copies.values())} event copies sent`
        )
      )
    }

    // 2. every story ends as planned
    {
      const offenders: Array<string> = []
      for (const f of finals) {
        const e = f.released.story.expected
        const billing = approved.has(f.released.shipment.id) ? "released" : e.billing
        const holds = approved.has(f.released.shipment.id) ? [] : e.holds
        const got = f.record
        const status = got.state.view.status
        if (!e.status.includes(status) || got.billing.status !== billing || [...got.billing.holds].sort().join() !== [...holds].sort().join()) {
          offenders.push(
            `${f.released.order.reference} (${f.released.story.profile}): ${status}/${got.billing.status}[${got.billing.holds.join(",")}], planned ${e.status.join("|")}/${billing}[${holds.join(",")}]`
          )
        }
      }
      checks.push(check("every story ends as planned (status, billing, holds)", offenders, `${finals.length} stories of ${countProfiles(input.stories)} profiles`))
    }

    // 3. planned effects done
    const allPlanned = finals.flatMap((f) => f.planned)
    {
      const offenders: Array<string> = []
      for (const key of allPlanned) if (!(yield* store.isDone(key))) offenders.push(key)
      checks.push(check("every planned effect was carried out", offenders, `${allPlanned.length.toLocaleString("en-US")} outbox actions done`))
    }

    // 4. invoices
    let invoicesInOdoo = 0
    {
      const offenders: Array<string> = []
      for (const f of finals) {
        const invoices = input.odoo.invoices.get(f.released.order.orderId) ?? []
        invoicesInOdoo += invoices.length
        const want = f.record.billing.status === "released" ? 1 : 0
        if (invoices.length !== want || invoices.some((i) => i.state !== "posted")) {
          offenders.push(`${f.released.order.reference}: ${invoices.length} invoice(s) ${invoices.map((i) => i.state).join(",")}, billing ${f.record.billing.status}`)
        }
      }
      const released = finals.filter((f) => f.record.billing.status === "released").length
      checks.push(
        check(
          "one posted invoice per released shipment, none for held or undelivered ones",
          offenders,
          `${invoicesInOdoo} invoices for ${released} released, 0 for ${finals.length - released} others`
        )
      )
    }

    // 5. notes
    {
      const offenders: Array<string> = []
      let notes = 0
      for (const f of finals) {
        const expected = new Set(f.planned.filter((k) => k.includes(":erp.postNote:")).map(OdooErp.keyMarker))
        const actual = input.odoo.notes.get(f.released.order.pickingId) ?? new Map<string, number>()
        for (const marker of expected) {
          const n = actual.get(marker) ?? 0
          notes += n
          if (n !== 1) offenders.push(`${f.released.order.reference}: note ${marker} posted ${n} times`)
        }
        for (const marker of actual.keys()) if (!expected.has(marker)) offenders.push(`${f.released.order.reference}: unplanned note ${marker}`)
      }
      checks.push(check("one chatter note per (shipment, note key)", offenders, `${notes.toLocaleString("en-US")} notes on ${finals.length} deliveries`))
    }

    // 6. cases
    let casesOpened = 0
    let casesResolved = 0
    const openCases: Array<{ reference: string; why: string }> = []
    {
      const offenders: Array<string> = []
      for (const f of finals) {
        const cases = input.odoo.cases.get(OdooErp.shipmentMarker(f.released.shipment.id)) ?? []
        const want = f.oracle.view.exceptions.length > 0 || f.released.story.expected.compensation
        if (cases.length !== (want ? 1 : 0)) offenders.push(`${f.released.order.reference}: ${cases.length} case(s), ${want ? "1" : "0"} expected`)
        casesOpened += cases.length
        for (const c of cases) {
          if (c.resolved) casesResolved++
          else {
            const open = ShipmentState.openExceptions(f.record.state.view).map((e) => human(e.kind))
            const kinds = [...new Set(f.record.state.view.exceptions.map((e) => human(e.kind)))]
            openCases.push({
              reference: f.released.order.reference,
              why:
                open.length > 0
                  ? `open: ${open.join(", ")}`
                  : f.released.story.expected.compensation
                    ? "invoice released on a delivery scan the courier withdrew"
                    : `${kinds.join(", ")} (resolved; case left for the team to close)`
            })
          }
        }
      }
      const withException = finals.filter((f) => f.oracle.view.exceptions.length > 0).length
      checks.push(
        check(
          "one service case per shipment with an exception or a compensation",
          offenders,
          `${casesOpened} cases for ${withException} shipments with exceptions + ${finals.filter((f) => f.released.story.expected.compensation).length} compensation`
        )
      )
    }

    // 7. deliveries validated, tracking written
    {
      const offenders: Array<string> = []
      let validated = 0
      let tracked = 0
      for (const f of finals) {
        const picking = input.odoo.pickings.get(f.released.order.pickingId)
        const delivered = ShipmentState.has(f.oracle.view, "reached:delivered")
        const dispatched = ShipmentState.has(f.oracle.view, "reached:dispatched")
        if (picking === undefined) {
          offenders.push(`${f.released.order.reference}: delivery not found in Odoo`)
          continue
        }
        if ((picking.state === "done") !== delivered) offenders.push(`${f.released.order.reference}: state ${picking.state}, delivered ${delivered}`)
        if ((picking.trackingRef === f.released.shipment.trackingNumber) !== dispatched) {
          offenders.push(`${f.released.order.reference}: tracking ref ${picking.trackingRef ?? "none"}, dispatched ${dispatched}`)
        }
        if (picking.state === "done") validated++
        if (picking.trackingRef !== null) tracked++
      }
      checks.push(
        check(
          "deliveries validated iff delivered, tracking written iff dispatched",
          offenders,
          `${validated} validated, ${tracked} with tracking`
        )
      )
    }

    // 8. notifications
    const byTemplate = new Map<string, number>()
    {
      const planned = new Set(allPlanned.filter((k) => k.includes(":notifier.notify:")))
      const offenders: Array<string> = []
      for (const key of planned) {
        const n = input.notified.get(key)?.count ?? 0
        if (n !== 1) offenders.push(`${key} sent ${n} times`)
      }
      for (const [key, n] of input.notified) {
        if (!planned.has(key)) offenders.push(`unplanned ${key}`)
        byTemplate.set(n.template, (byTemplate.get(n.template) ?? 0) + n.count)
      }
      checks.push(check("one customer notification per notification key", offenders, `${input.notified.size} notifications`))
    }

    // 9. dead letters
    const letters = yield* store.deadLetters({ limit: 10_000 })
    const letterRows = new Map<string, { kind: string; target: string; reason: string; count: number; description: string; planned: string | undefined }>()
    {
      const offenders: Array<string> = []
      const seen = new Set<string>()
      for (const letter of letters) {
        const error = JSON.parse(letter.error) as { readonly reason?: string; readonly description?: string }
        const reason = error.reason ?? "?"
        const planned =
          letter.kind === "inbound" && reason === "Unauthorized" && letter.target === Sources.EASYPOST
            ? "forged signature"
            : letter.kind === "inbound" && reason === "NotFound" && letter.payload.includes("EZ2000000002")
              ? "not our parcel"
              : undefined
        if (planned === undefined) offenders.push(`${letter.kind} ${letter.target} ${reason}: ${error.description ?? ""}`)
        else seen.add(planned)
        const description = (error.description ?? "").replace(/[0-9a-f]{16,}/g, "…").slice(0, 90)
        const key = `${letter.kind}|${letter.target}|${reason}|${planned ?? description}`
        const row = letterRows.get(key)
        if (row !== undefined) row.count++
        else letterRows.set(key, { kind: letter.kind, target: letter.target, reason, count: 1, description, planned })
      }
      for (const p of ["forged signature", "not our parcel"]) if (!seen.has(p)) offenders.push(`planned dead letter missing: ${p}`)
      const early = input.stories.filter((s) => s.profile === "early_pick").length
      if (input.replayed.reingested < early) offenders.push(`${input.replayed.reingested} early events replayed, ${early} expected`)
      checks.push(
        check(
          "dead letters are exactly the planned ones; early events replayed",
          offenders,
          `${letters.length} planned (forged signature, a parcel that is not ours); ${input.replayed.reingested} early warehouse event(s) replayed after intake`
        )
      )
    }

    // 10. audit
    const audit = yield* Audit.verify
    checks.push({
      name: "the audit trail verifies",
      ok: audit.ok,
      detail: audit.ok
        ? `${audit.streams} streams, ${audit.entries.toLocaleString("en-US")} hash-chained entries`
        : first(audit.problems, (p) => `${p.stream}#${p.seq} ${p.problem}`)
    })

    // 11. drained
    {
      const pending = yield* transport.pending(Worker.TOPIC, Worker.GROUP)
      const poisoned = (yield* transport.deadLetters(Worker.TOPIC, Worker.GROUP, 100)).length
      const outbox = yield* store.outboxSize()
      checks.push({
        name: "transport drained, outbox empty",
        ok: pending === 0 && poisoned === 0 && outbox === 0,
        detail: `pending ${pending}, transport dead letters ${poisoned}, outbox ${outbox}`
      })
    }

    // -- the report --------------------------------------------------------------------------
    const statuses = new Map<string, number>()
    for (const f of finals) statuses.set(f.record.state.view.status, (statuses.get(f.record.state.view.status) ?? 0) + 1)

    const held = finals
      .filter((f) => f.record.billing.status === "held")
      .map((f) => ({
        reference: f.released.order.reference,
        reasons: f.record.billing.holds,
        detail: holdDetail(f)
      }))

    const anomalies = new Map<string, { count: number; example: string }>()
    for (const f of finals) {
      for (const a of f.record.state.view.anomalies) {
        const entry = anomalies.get(a.reason)
        if (entry !== undefined) entry.count++
        else {
          // (core's detail prints instants as `DateTime.Utc(…)`; show them as ISO times)
          const detail = a.detail.replace(/DateTime\.Utc\(([^)]*)\)/g, "$1").replace(/:00\.000Z/g, "Z")
          anomalies.set(a.reason, { count: 1, example: `${f.released.order.reference}: ${detail}` })
        }
      }
    }

    const withdrawals = finals.flatMap((f) =>
      f.audit
        .filter((e) => e.retracted.length > 0)
        .flatMap((e) =>
          e.retracted.map((m) => ({
            reference: f.released.order.reference,
            milestone: m,
            compensation: [
              e.actions.some((a) => a.includes(":erp.postNote:withdrawn:")) ? "note on the delivery" : undefined,
              e.actions.some((a) => a.includes(":helpdesk.openOrEnrich:withdrawn:")) ? "case opened: invoice released on it" : undefined,
              f.record.billing.status === "released" ? "invoice kept (released once; credit if needed)" : undefined
            ]
              .filter((x) => x !== undefined)
              .join(", ")
          }))
        )
    )

    const byMethod =
      input.calls.log === undefined
        ? undefined
        : [...countBy(input.calls.log.map((c) => `${c.model}.${c.method}`)).entries()]
            .map(([method, count]) => ({ method, count }))
            .sort((a, b) => b.count - a.count || (a.method < b.method ? -1 : 1))

    const report: Report.Report = {
      settings: input.settings,
      elapsedMillis: Date.now() - input.started,
      shipments: finals.length,
      statuses: [...statuses.entries()].map(([status, count]) => ({ status, count })).sort((a, b) => b.count - a.count),
      billing: {
        released: finals.filter((f) => f.record.billing.status === "released").length,
        held,
        approved: input.approvals.map((a) => ({ reference: a.reference, approval: a.approval, by: a.by })),
        waiting: finals.filter((f) => f.record.billing.status === "waiting").length,
        invoicesInOdoo
      },
      cases: { model: input.odoo.caseModel, opened: casesOpened, resolved: casesResolved, open: openCases },
      traffic: {
        webhooks: input.sent.length,
        retransmissions: input.sent.filter((s) => s.copy > 0).length,
        late: input.sent.filter((s) => s.late).length,
        eventCopies: sum(input.oracle.copies.values()),
        applied: finals.reduce((n, f) => n + f.audit.length, 0),
        outcomes: input.outcomes,
        unmapped: finals.reduce((n, f) => n + f.record.state.view.unmapped.length, 0)
      },
      anomalies: [...anomalies.entries()].map(([reason, a]) => ({ reason, ...a })),
      withdrawals,
      deadLetters: [...letterRows.values()],
      replayed: input.replayed,
      odoo: {
        intakeCalls: input.calls.intake,
        effectCalls: input.calls.effects,
        perShipment: finals.length === 0 ? 0 : input.calls.effects / finals.length,
        byMethod,
        faultsInjected: input.calls.faults,
        retries: input.calls.retries
      },
      notifications: [...byTemplate.entries()].map(([template, count]) => ({ template, count })).sort((a, b) => b.count - a.count),
      timeline: timeline(finals, input.oracle),
      checks
    }
    return report
  })

const sum = (values: Iterable<number>): number => {
  let total = 0
  for (const v of values) total += v
  return total
}

const countBy = (items: ReadonlyArray<string>): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const i of items) counts.set(i, (counts.get(i) ?? 0) + 1)
  return counts
}

const countProfiles = (stories: ReadonlyArray<Stories.Story>): number => new Set(stories.map((s) => s.profile)).size

const kg = (grams: number): string => `${(grams / 1000).toFixed(2)} kg`

const holdDetail = (f: Final): string => {
  const parts: Array<string> = []
  if (f.record.billing.holds.includes("weight_out_of_tolerance")) {
    const declared = f.released.shipment.declaredWeight
    const measured = f.record.state.view.measuredWeight
    if (measured !== undefined) {
      parts.push(`packed ${kg(measured)} vs declared ${kg(declared)} (${measured >= declared ? "+" : "−"}${Math.round((Math.abs(measured - declared) * 100) / declared)} %)`)
    }
  }
  if (f.record.billing.holds.includes("open_damage")) parts.push("damage not cleared by the carrier, awaiting approval")
  if (f.record.billing.holds.includes("missing_pod")) parts.push("no proof of delivery")
  if (f.record.billing.holds.includes("milestone_withdrawn")) parts.push("the delivery scan was withdrawn")
  if (f.record.billing.holds.includes("return_to_sender")) parts.push("going back to the sender, never delivered")
  return parts.join("; ")
}

const shortTime = (iso: string): string => `${iso.slice(5, 10)} ${iso.slice(11, 16)}`

const describeEvent = (e: StoredEvent): string => {
  switch (e._tag) {
    case "StatusReported":
      return `${human(e.status ?? "?")}${e.weight !== undefined ? ` ${kg(e.weight)}` : ""}`
    case "ExceptionReported":
      return `exception: ${human(e.kind ?? "?")}`
    case "ExceptionCleared":
      return "exceptions cleared"
    default:
      return `withdraws ${e.retracts?.length ?? 0} event(s)`
  }
}

/** Picks the shipment whose history arrived most out of order, and shows how it was resolved. */
const timeline = (finals: ReadonlyArray<Final>, oracle: Oracle.Oracle): Report.Timeline | undefined => {
  let best: { final: Final; inversions: number; score: number } | undefined
  for (const f of finals) {
    if (f.audit.length > 16 || f.audit.length < 5) continue
    const times = f.audit.map((a) => f.events.get(a.eventId)?.occurredAt ?? "")
    let inversions = 0
    for (let i = 0; i < times.length; i++) for (let j = i + 1; j < times.length; j++) if (times[i]! > times[j]!) inversions++
    if (inversions === 0) continue
    const exceptions = f.record.state.view.exceptions.length > 0 ? 4 : 0
    const score = inversions + exceptions
    if (best === undefined || score > best.score) best = { final: f, inversions, score }
  }
  if (best === undefined) return undefined
  const f = best.final
  const occurrence = [...f.audit]
    .map((a) => ({ id: a.eventId, at: f.events.get(a.eventId)?.occurredAt ?? "" }))
    .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.id < b.id ? -1 : 1))
    .map((x) => x.id)
  const view = f.record.state.view
  return {
    shipmentId: f.released.shipment.id,
    reference: f.released.order.reference,
    carrier: f.released.shipment.carrier ?? "?",
    trackingNumber: f.released.shipment.trackingNumber ?? "?",
    story: Stories.describeProfile[f.released.story.profile],
    copiesReceived: oracle.copies.get(f.released.shipment.id) ?? 0,
    entries: f.audit.map((a, i) => {
      const e = f.events.get(a.eventId)
      return {
        arrival: i + 1,
        occurrence: occurrence.indexOf(a.eventId) + 1,
        occurredAt: e === undefined ? "?" : shortTime(e.occurredAt),
        source: a.source,
        what: e === undefined ? "?" : describeEvent(e),
        rawCode: e === undefined ? "?" : (e.raw.detail ?? e.raw.code),
        outcome: a.anomaly !== undefined ? `${a.outcome}: ${a.anomaly}` : a.outcome,
        reached: a.reached.map(shortMilestone),
        withdrawn: a.retracted.map(shortMilestone)
      }
    }),
    inversions: best.inversions,
    finalStatus: view.status,
    progress: view.progress,
    exceptions: view.exceptions.map((e) => `${human(e.kind)} (${e.resolvedAt === undefined ? "open" : "resolved"})`),
    billing: f.record.billing.status,
    matchesOracle: ShipmentState.sameFacts(f.record.state, f.oracle)
  }
}

const shortMilestone = (key: string): string =>
  key.startsWith("exception_opened:") ? "exception opened" : key.startsWith("exception_resolved:") ? "exception resolved" : key.replace(/^reached:/, "")
