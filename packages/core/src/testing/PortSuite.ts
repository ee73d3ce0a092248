/**
 * A harness for the effect ports: the promises every ERP and helpdesk adapter must keep,
 * checked against the adapter's real far side (or its fake). It registers vitest tests.
 *
 * The adapter author supplies a `setup` that gives, per test, the port, a shipment that exists
 * at the far side (ready to be delivered and invoiced), and a way to count what really happened
 * there. The suite then checks idempotency by key (the dispatcher retries after timeouts and
 * crashes, so a repeated call must not act twice) and typed failures.
 *
 * ```ts
 * import { PortSuite } from "@waybill/core/testing"
 * PortSuite.erp("OdooErp on Odoo 17", setupWithOdooFake)
 * PortSuite.helpdesk("OdooErp cases", setupCases)
 * ```
 *
 * @since 0.1.0
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as ErpPort from "../ErpPort.js"
import * as HelpdeskPort from "../HelpdeskPort.js"
import type * as Ids from "../Ids.js"
import * as Instant from "../Instant.js"
import type * as Shipment from "../Shipment.js"

/**
 * What the ERP suite needs for one test.
 *
 * @since 0.1.0
 */
export interface ErpSetup {
  readonly erp: ErpPort.ErpPortShape
  /** A shipment known to the far side, not yet delivered or invoiced. */
  readonly shipment: Shipment.Shipment
  /** A shipment the far side does not know (e.g. its delivery was deleted). */
  readonly unknownShipment: Shipment.Shipment
  /** What happened at the far side for this shipment. */
  readonly observe: Effect.Effect<{
    readonly notes: number
    readonly invoices: number
    readonly trackingNumber: string | undefined
    readonly delivered: boolean
  }>
}

/**
 * What the helpdesk suite needs for one test.
 *
 * @since 0.1.0
 */
export interface HelpdeskSetup {
  readonly helpdesk: HelpdeskPort.HelpdeskPortShape
  readonly companyId: Ids.CompanyId
  /** Two shipment ids with no case yet. */
  readonly shipmentIds: readonly [Ids.ShipmentId, Ids.ShipmentId]
  /** Cases at the far side for a shipment, and the notes of its case. */
  readonly observe: (shipmentId: Ids.ShipmentId) => Effect.Effect<{ readonly cases: number; readonly notes: number }>
}

const key = (s: string) => ErpPort.IdempotencyKey.make(s)

/**
 * Registers the ERP port suite.
 *
 * @since 0.1.0
 */
export const erp = <E>(name: string, setup: Effect.Effect<ErpSetup, E, Scope.Scope>): void => {
  const test = (title: string, body: (s: ErpSetup) => Effect.Effect<void, unknown>) =>
    it.live(title, () => Effect.scoped(Effect.flatMap(setup, body)).pipe(Effect.orDie), 60_000)

  describe(`${name} keeps the ErpPort promises`, () => {
    test("writes the tracking number; a repeated call changes nothing", (s) =>
      Effect.gen(function* () {
        const request = new ErpPort.WriteTracking({ key: key(`${s.shipment.id}:t`), shipment: s.shipment, carrier: "DHL", trackingNumber: "JD014600003828" })
        yield* s.erp.writeTracking(request)
        yield* s.erp.writeTracking(request)
        expect((yield* s.observe).trackingNumber).toBe("JD014600003828")
      }))

    test("posts a note once per key", (s) =>
      Effect.gen(function* () {
        const before = (yield* s.observe).notes
        const note = (k: string) => new ErpPort.PostNote({ key: key(k), shipment: s.shipment, subject: "Milestone", body: `note ${k}` })
        yield* s.erp.postNote(note(`${s.shipment.id}:n1`))
        yield* s.erp.postNote(note(`${s.shipment.id}:n1`))
        yield* s.erp.postNote(note(`${s.shipment.id}:n2`))
        expect((yield* s.observe).notes - before).toBe(2)
      }))

    test("validates the delivery; a retry succeeds; a delivery already done counts as success", (s) =>
      Effect.gen(function* () {
        const validate = (k: string) =>
          s.erp.validateDelivery(
            new ErpPort.ValidateDelivery({ key: key(k), shipment: s.shipment, deliveredAt: Instant.fromMillis(Date.now()) })
          )
        const first = yield* validate(`${s.shipment.id}:v`)
        yield* validate(`${s.shipment.id}:v`)
        const other = yield* validate(`${s.shipment.id}:v-again`)
        expect(first.alreadyDone).toBe(false)
        expect(other.alreadyDone).toBe(true)
        expect((yield* s.observe).delivered).toBe(true)
      }))

    test("releases one invoice per key, whatever the retries", (s) =>
      Effect.gen(function* () {
        yield* s.erp.validateDelivery(
          new ErpPort.ValidateDelivery({ key: key(`${s.shipment.id}:v`), shipment: s.shipment, deliveredAt: Instant.fromMillis(Date.now()) })
        )
        const request = new ErpPort.ReleaseInvoice({ key: key(`${s.shipment.id}:invoice`), shipment: s.shipment })
        const first = yield* s.erp.releaseInvoice(request)
        const again = yield* s.erp.releaseInvoice(request)
        expect(first.created).toBe(true)
        expect(again.created).toBe(false)
        expect(again.invoice.id).toBe(first.invoice.id)
        expect((yield* s.observe).invoices).toBe(1)
        expect(first.invoice.state).toBe("posted")
        expect(yield* s.erp.readPayment(new ErpPort.ReadPayment({ invoice: first.invoice }))).toBe("not_paid")
      }))

    test("fails with a typed, permanent error for a shipment the far side does not know", (s) =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(
          s.erp.postNote(new ErpPort.PostNote({ key: key("ghost"), shipment: s.unknownShipment, subject: "x", body: "x" }))
        )
        expect(error._tag).toBe("ErpError")
        expect(["NotFound", "Invalid"]).toContain(error.reason)
      }))
  })
}

/**
 * Registers the helpdesk port suite.
 *
 * @since 0.1.0
 */
export const helpdesk = <E>(name: string, setup: Effect.Effect<HelpdeskSetup, E, Scope.Scope>): void => {
  const test = (title: string, body: (s: HelpdeskSetup) => Effect.Effect<void, unknown>) =>
    it.live(title, () => Effect.scoped(Effect.flatMap(setup, body)).pipe(Effect.orDie), 60_000)

  const context = (shipmentId: Ids.ShipmentId) =>
    new HelpdeskPort.CaseContext({
      shipmentId,
      orderId: `SO-${shipmentId}` as never,
      status: "delayed",
      exceptions: [],
      nextAction: "watch",
      shipToCity: "Cologne",
      shipToCountry: "DE" as never
    })
  const open = (s: HelpdeskSetup, shipmentId: Ids.ShipmentId, k: string) =>
    s.helpdesk.openOrEnrich(
      new HelpdeskPort.OpenCase({
        key: key(k),
        companyId: s.companyId,
        shipmentId,
        subject: `Shipment ${shipmentId}: delayed`,
        note: `note ${k}`,
        context: context(shipmentId)
      })
    )

  describe(`${name} keeps the HelpdeskPort promises`, () => {
    test("opens one case per shipment; the same key again changes nothing; another key enriches", (s) =>
      Effect.gen(function* () {
        const [a, b] = s.shipmentIds
        const first = yield* open(s, a, `${a}:x1`)
        const again = yield* open(s, a, `${a}:x1`)
        const enriched = yield* open(s, a, `${a}:x2`)
        yield* open(s, b, `${b}:x1`)
        expect(first.created).toBe(true)
        expect(again.created).toBe(false)
        expect(enriched.created).toBe(false)
        expect(enriched.externalId).toBe(first.externalId)
        const seen = yield* s.observe(a)
        expect(seen.cases).toBe(1)
        expect((yield* s.observe(b)).cases).toBe(1)
        const notesBefore = seen.notes
        yield* open(s, a, `${a}:x2`)
        expect((yield* s.observe(a)).notes).toBe(notesBefore)
      }))

    test("updates and resolves an existing case once per key; a missing case is NotFound", (s) =>
      Effect.gen(function* () {
        const [a, b] = s.shipmentIds
        yield* open(s, a, `${a}:x1`)
        const update = new HelpdeskPort.UpdateCase({
          key: key(`${a}:resolved`),
          companyId: s.companyId,
          shipmentId: a,
          note: "delivered",
          context: context(a),
          resolve: true
        })
        const before = (yield* s.observe(a)).notes
        yield* s.helpdesk.update(update)
        yield* s.helpdesk.update(update)
        expect((yield* s.observe(a)).notes - before).toBe(1)
        const missing = yield* Effect.flip(s.helpdesk.update(new HelpdeskPort.UpdateCase({ ...update, shipmentId: b, key: key(`${b}:u`) })))
        expect(missing._tag).toBe("HelpdeskError")
        expect(missing.reason).toBe("NotFound")
      }))
  })
}
