/**
 * bench/odoo: Odoo calls per shipment lifecycle, waybill against a naive sync, on the same
 * histories in the same run.
 *
 *   pnpm --filter @waybill/bench odoo [shipments=60]
 *
 * Both sides run against an `OdooFake` (Odoo 17) seeded with the same confirmed orders, and see
 * the same carrier histories (out of order, with retransmitted duplicates).
 *
 * - waybill: every event goes through the pipeline; only milestones cause Odoo calls (tracking
 *   write, notes, validation, invoice, service case), each idempotent by key, one writer per
 *   record.
 * - naive: what a point-to-point sync does with each event it receives (duplicates included):
 *   find the picking by tracking number (a carrier webhook carries nothing else), write the
 *   status to it and post a chatter note; on every delivered event validate the picking; on
 *   every exception event open a task. It never invoices, which only flatters it.
 */
import "./built.js"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import {
  Dispatcher,
  ErpPort,
  HelpdeskPort,
  Ids,
  MemoryStore,
  Pipeline,
  Shipment,
  ShipmentEvent,
  Store
} from "@waybill/core"
import { Histories } from "@waybill/core/simulation"
import { OdooClient, OdooDomain, OdooErp } from "@waybill/odoo"
import { OdooFake } from "@waybill/odoo/testing"

const SHIPMENTS = Number(process.argv[2] ?? 60)

const seed = (fake: OdooFake.OdooFake) => {
  const product = fake.admin.createProduct({ name: "Widget", code: "W-1", weightKg: 1.2, price: 25 })
  fake.admin.setStock(product, SHIPMENTS * 10)
  for (let i = 0; i < SHIPMENTS; i++) {
    fake.admin.createOrder({ partnerId: fake.admin.createPartner(), lines: [{ productId: product, quantity: 2 }], carrierId: 1 })
  }
}

const connect = (fake: OdooFake.OdooFake) =>
  Effect.gen(function* () {
    const client = yield* OdooClient.make(fake.clientOptions())
    const erp = yield* OdooErp.make().pipe(Effect.provideService(OdooClient.OdooClient, client))
    return { client, erp }
  })

/** Every confirmed order's intake, and for each shipment a messy history re-targeted to it. */
const world = (erp: OdooErp.OdooErpShape) =>
  Effect.gen(function* () {
    const intakes: Array<ErpPort.OrderIntake> = []
    let cursor: string | undefined
    while (true) {
      const batch = yield* erp.fetchOrders({ cursor, limit: 100 })
      intakes.push(...batch.intakes)
      if (batch.intakes.length === 0 || batch.cursor === cursor) break
      cursor = batch.cursor
    }
    // Labels were bought: every shipment has a carrier and a tracking number to write back.
    for (const [i, intake] of intakes.entries()) {
      intakes[i] = new ErpPort.OrderIntake({
        order: intake.order,
        shipments: intake.shipments.map(
          (s, j) => new Shipment.Shipment({ ...s, carrier: s.carrier ?? "DHL", trackingNumber: `JD0146${i}${j}` })
        )
      })
    }
    const shipments = intakes.flatMap((i) => i.shipments)
    const arrivals: Array<ShipmentEvent.ShipmentEvent> = []
    for (const [i, shipment] of shipments.entries()) {
      const history = Histories.generate(i * 104729 + 7, { cancellations: false, conflicts: false }, i)
      for (const event of history.events) {
        const { shipmentId: _s, companyId: _c, ...draft } = event
        const retargeted = ShipmentEvent.fromDraft(
          { ...draft, id: Ids.EventId.make(`${shipment.id}:${event.id}`) } as ShipmentEvent.Draft,
          shipment.id,
          shipment.companyId
        )
        arrivals.push(retargeted)
      }
    }
    let s = 11
    for (let i = arrivals.length - 1; i > 0; i--) {
      s = (s * 1103515245 + 12345) >>> 0
      const j = s % (i + 1)
      ;[arrivals[i], arrivals[j]] = [arrivals[j]!, arrivals[i]!]
    }
    return { intakes, shipments, arrivals }
  })

const pickingOf = (shipment: { readonly refs: { readonly odoo?: { readonly id: number } | undefined } }) => shipment.refs.odoo!.id

const waybillRun = Effect.gen(function* () {
  const fake = yield* OdooFake.make({ version: 17 })
  seed(fake)
  const { erp } = yield* connect(fake)
  const { intakes, shipments, arrivals } = yield* world(erp)
  const store = yield* MemoryStore.make
  const ports = Layer.mergeAll(
    Layer.succeed(Store.Store, store),
    Layer.succeed(ErpPort.ErpPort, erp),
    Layer.succeed(HelpdeskPort.HelpdeskPort, erp)
  )
  fake.resetCalls()
  yield* Effect.gen(function* () {
    const pipeline = yield* Pipeline.make({})
    for (const intake of intakes) yield* pipeline.register(intake)
    yield* Effect.forEach(arrivals, (e) => pipeline.ingest(e), { concurrency: 8, discard: true })
    const dispatcher = yield* Dispatcher.make({ concurrency: 8, retry: { base: "5 millis", cap: "100 millis" } })
    yield* dispatcher.drain({ maxIdleMillis: 500 })
  }).pipe(Effect.provide(ports))
  const byMethod = new Map<string, number>()
  for (const c of fake.callLog()) byMethod.set(`${c.model}.${c.method}`, (byMethod.get(`${c.model}.${c.method}`) ?? 0) + 1)
  return { calls: fake.calls(), shipments: shipments.length, events: arrivals.length, byMethod, conflicts: fake.stats().conflicts }
})

const naiveRun = Effect.gen(function* () {
  const fake = yield* OdooFake.make({ version: 17 })
  seed(fake)
  const { client, erp } = yield* connect(fake)
  const { shipments, arrivals } = yield* world(erp)
  const byId = new Map(shipments.map((s) => [s.id as string, s]))
  fake.resetCalls()
  for (const event of arrivals) {
    const shipment = byId.get(event.shipmentId)!
    const picking = pickingOf(shipment)
    const label = event._tag === "StatusReported" ? event.status : event._tag === "ExceptionReported" ? event.kind : event._tag
    yield* client.search("stock.picking", OdooDomain.eq("carrier_tracking_ref", shipment.trackingNumber ?? ""), { limit: 1 })
    yield* client.write("stock.picking", [picking], { carrier_tracking_ref: shipment.trackingNumber ?? label })
    yield* client.call("stock.picking", "message_post", {
      ids: [picking],
      kwargs: { body: `carrier: ${label}`, message_type: "comment", subtype_xmlid: "mail.mt_note" }
    })
    if (event._tag === "StatusReported" && event.status === "delivered") {
      yield* Effect.ignore(client.call("stock.picking", "button_validate", { ids: [picking] }))
    }
    if (event._tag === "ExceptionReported") {
      yield* client.create("project.task", { name: `${shipment.id}: ${event.kind}`, description: event.raw.code })
    }
  }
  return { calls: fake.calls(), shipments: shipments.length, events: arrivals.length }
})

const program = Effect.gen(function* () {
  const started = performance.now()
  const w = yield* waybillRun
  const n = yield* naiveRun
  const perW = w.calls / w.shipments
  const perN = n.calls / n.shipments
  console.log(`bench/odoo: ${w.shipments} shipments, ${w.events} carrier events (${(w.events / w.shipments).toFixed(1)} per shipment, duplicates included), Odoo 17 fake`)
  console.log(`naive sync (per event: find picking, write, note; validate on every delivered; task on every exception; no invoicing): ${n.calls} calls = ${perN.toFixed(1)} per shipment lifecycle`)
  console.log(`waybill (milestones only, idempotent by key, one writer per record, invoicing included): ${w.calls} calls = ${perW.toFixed(1)} per shipment lifecycle`)
  console.log(`ratio waybill/naive: ${(perW / perN).toFixed(3)} (target <= 0.333); serialization conflicts at Odoo: ${w.conflicts}`)
  console.log("waybill calls by model.method:")
  for (const [k, v] of [...w.byMethod].sort((a, b) => b[1] - a[1])) console.log(`  ${k.padEnd(40)} ${v} (${(v / w.shipments).toFixed(2)} per shipment)`)
  console.log(`elapsed ${((performance.now() - started) / 1000).toFixed(1)} s`)
})

Effect.runPromise(
  program.pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer), Logger.withMinimumLogLevel(LogLevel.Error))
).catch((e) => {
  console.error(e)
  process.exit(1)
})
