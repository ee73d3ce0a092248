/**
 * Order intake by `(write_date, id)` cursor: no gaps and no repeats, across restarts, with many
 * orders in one second, with commit order (microseconds) disagreeing with id order, and with new
 * orders arriving while paging.
 */
import { describe, expect, it } from "@effect/vitest"
import { ErpPort, Instant, MemoryStore, Order, Pipeline, PortError, Store } from "@waybill/core"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as IntakeCursor from "../src/internal/IntakeCursor.js"
import { FakeDatabase } from "../src/internal/fake/database.js"
import * as OdooDomain from "../src/OdooDomain.js"
import * as OdooErp from "../src/OdooErp.js"
import * as OdooField from "../src/OdooField.js"
import { OdooFake } from "../src/testing/index.js"
import { connect, FetchLayer, intakeOf } from "./helpers.js"

const base = Date.UTC(2026, 10, 27, 12, 0, 0)

const decodeRows = Schema.decodeUnknownSync(Schema.Array(Schema.Struct({ id: Schema.Number, write_date: Schema.String })))

describe("the cursor (against the fake's ORM, in process)", () => {
  const order = FastCheck.record({
    second: FastCheck.integer({ min: 0, max: 3 }),
    ms: FastCheck.integer({ min: 0, max: 999 }),
    confirmed: FastCheck.boolean()
  })
  const scenario = FastCheck.record({
    initial: FastCheck.array(order, { maxLength: 30 }),
    later: FastCheck.array(order, { maxLength: 10 }),
    arriveAfterPoll: FastCheck.integer({ min: 0, max: 6 }),
    limit: FastCheck.integer({ min: 1, max: 8 })
  })

  it("hands out every confirmed order exactly once, whatever the timing and the page size", () => {
    FastCheck.assert(
      FastCheck.property(scenario, ({ arriveAfterPoll, initial, later, limit }) => {
        let now = base
        const db = new FakeDatabase({ version: 17, now: () => now, helpdesk: false, deliveryState: false })
        const confirmed: Array<number> = []
        const add = (o: { second: number; ms: number; confirmed: boolean }, offset: number) => {
          now = base + (o.second + offset) * 1000 + o.ms
          const id = db.create("sale.order", { partner_id: 3 })
          if (o.confirmed) {
            db.confirmOrder(id)
            confirmed.push(id)
          }
        }
        initial.forEach((o) => add(o, 0))
        const query: IntakeCursor.Query<never> = (domain, sort, size) =>
          Effect.sync(() => {
            const ids = db.search("sale.order", OdooDomain.toJson(domain), { order: sort, limit: size })
            return decodeRows(db.read("sale.order", ids, ["write_date"]))
          })
        const confirmedDomain = OdooDomain.isIn("state", ["sale", "done"])
        const seen: Array<number> = []
        let stored: string | undefined // what a Store would keep across restarts
        let polls = 0
        let arrived = later.length === 0
        for (;;) {
          if (!arrived && polls === arriveAfterPoll) {
            later.forEach((o) => add(o, 10))
            arrived = true
          }
          const cursor = stored === undefined ? undefined : IntakeCursor.decode(stored)
          const { cursor: next, page } = Effect.runSync(IntakeCursor.nextPage(query, confirmedDomain, cursor, limit))
          polls++
          seen.push(...page.map((r) => r.id))
          if (next !== undefined) stored = IntakeCursor.encode(next)
          if (page.length === 0 && arrived) break
          if (polls > 500) throw new Error("no progress")
        }
        expect([...seen].sort((a, b) => a - b)).toEqual([...confirmed].sort((a, b) => a - b))
      }),
      { numRuns: 300 }
    )
  })

  it("with the settled sweep, hands out every order of a transaction that commits late at least once", () => {
    const settle = 60_000
    const txn = FastCheck.record({
      start: FastCheck.integer({ min: 0, max: 20_000 }),
      duration: FastCheck.integer({ min: 0, max: settle - 1000 })
    })
    const scenario = FastCheck.record({
      txns: FastCheck.array(txn, { maxLength: 25 }),
      pollEvery: FastCheck.integer({ min: 100, max: 5000 }),
      limit: FastCheck.integer({ min: 1, max: 6 })
    })
    FastCheck.assert(
      FastCheck.property(scenario, ({ limit, pollEvery, txns }) => {
        let now = base
        const db = new FakeDatabase({ version: 17, now: () => now, helpdesk: false, deliveryState: false })
        const query: IntakeCursor.Query<never> = (domain, sort, size) =>
          Effect.sync(() =>
            decodeRows(db.read("sale.order", db.search("sale.order", OdooDomain.toJson(domain), { order: sort, limit: size }), ["write_date"]))
          )
        const confirmedDomain = OdooDomain.isIn("state", ["sale", "done"])
        const quotations = txns.map(() => db.create("sale.order", { partner_id: 3 }))
        // commits in commit order; each stamps write_date with the start of its transaction
        const pending = txns
          .map((t, i) => ({ id: quotations[i]!, start: base + 1000 + t.start, commit: base + 1000 + t.start + t.duration }))
          .sort((a, b) => a.commit - b.commit)
        const seen = new Set<number>()
        let cursor: IntakeCursor.Cursor | undefined
        const end = base + 1000 + 20_000 + 2 * settle + 5000
        for (let t = base; t <= end; t += pollEvery) {
          while (pending[0] !== undefined && pending[0].commit <= t) {
            const c = pending.shift()!
            now = c.start
            db.confirmOrder(c.id)
          }
          now = t
          // one poll, as OdooErp.fetchOrders runs it
          const head = Effect.runSync(IntakeCursor.nextPage(query, confirmedDomain, cursor, limit))
          head.page.forEach((r) => seen.add(r.id))
          let settled = cursor === undefined
            ? undefined
            : cursor.settled ?? { writeDate: IntakeCursor.shift(cursor.writeDate, -settle), id: 0 }
          if (cursor !== undefined && settled !== undefined && head.page.length < limit) {
            const bound = IntakeCursor.shift(OdooField.formatDateTime(t), -settle)
            const swept = Effect.runSync(
              IntakeCursor.nextSettled(query, confirmedDomain, settled, bound < cursor.writeDate ? bound : cursor.writeDate, limit - head.page.length)
            )
            swept.page.forEach((r) => seen.add(r.id))
            settled = swept.settled
          }
          const position = head.cursor ?? cursor
          if (position !== undefined) {
            cursor = IntakeCursor.decode(IntakeCursor.encode({
              ...position,
              settled: settled ?? { writeDate: IntakeCursor.shift(position.writeDate, -settle), id: 0 }
            }))
          }
        }
        expect([...seen].sort((a, b) => a - b)).toEqual([...quotations].sort((a, b) => a - b))
      }),
      { numRuns: 200 }
    )
  })

  it("pages through one crowded second by id even when microseconds order the ids backwards", () => {
    let now = base
    const db = new FakeDatabase({ version: 18, now: () => now, helpdesk: false, deliveryState: false })
    const ids: Array<number> = []
    for (let i = 0; i < 12; i++) {
      now = base + 900 - i * 70 // later ids committed earlier within the same second
      const id = db.create("sale.order", { partner_id: 3 })
      db.confirmOrder(id)
      ids.push(id)
    }
    const query: IntakeCursor.Query<never> = (domain, sort, size) =>
      Effect.sync(() =>
        decodeRows(db.read("sale.order", db.search("sale.order", OdooDomain.toJson(domain), { order: sort, limit: size }), ["write_date"]))
      )
    const pages: Array<Array<number>> = []
    let cursor: IntakeCursor.Cursor | undefined
    for (let i = 0; i < 10; i++) {
      const r = Effect.runSync(IntakeCursor.nextPage(query, OdooDomain.all, cursor, 5))
      if (r.page.length === 0) break
      pages.push(r.page.map((x) => x.id))
      cursor = r.cursor
    }
    expect(pages).toEqual([ids.slice(0, 5), ids.slice(5, 10), ids.slice(10)])
    expect(cursor).toEqual({ writeDate: "2026-11-27 12:00:00", id: ids[11], ids })
  })

  it("hands out an older quotation confirmed later within the second of the last poll", () => {
    let now = base - 60_000
    const db = new FakeDatabase({ version: 17, now: () => now, helpdesk: false, deliveryState: false })
    const quotation = db.create("sale.order", { partner_id: 3 }) // a draft from a minute ago
    now = base + 200
    const other = db.create("sale.order", { partner_id: 3 })
    db.confirmOrder(other)
    const query: IntakeCursor.Query<never> = (domain, sort, size) =>
      Effect.sync(() =>
        decodeRows(db.read("sale.order", db.search("sale.order", OdooDomain.toJson(domain), { order: sort, limit: size }), ["write_date"]))
      )
    const confirmed = OdooDomain.isIn("state", ["sale", "done"])
    const first = Effect.runSync(IntakeCursor.nextPage(query, confirmed, undefined, 10))
    expect(first.page.map((r) => r.id)).toEqual([other])
    // confirmed in the same second, after the poll: same write_date second, smaller id
    now = base + 700
    db.confirmOrder(quotation)
    const stored = IntakeCursor.encode(first.cursor!)
    const second = Effect.runSync(IntakeCursor.nextPage(query, confirmed, IntakeCursor.decode(stored), 10))
    expect(second.page.map((r) => r.id)).toEqual([quotation])
    const third = Effect.runSync(IntakeCursor.nextPage(query, confirmed, second.cursor, 10))
    expect(third.page).toEqual([])
  })

  it("refuses a cursor it did not issue", () =>
    Effect.gen(function*() {
      expect(IntakeCursor.decode("2026-11-27 12:00:00|5")).toBeUndefined()
      // the first format (persisted by earlier versions) is still read
      expect(IntakeCursor.decode("v1|2026-11-27 12:00:00|5")).toEqual({ writeDate: "2026-11-27 12:00:00", id: 5 })
      expect(IntakeCursor.decode(IntakeCursor.encode({ writeDate: "2026-11-27 12:00:00", id: 9, ids: [2, 9] }))).toEqual({
        writeDate: "2026-11-27 12:00:00",
        id: 9,
        ids: [2, 9]
      })
      const v3 = "v3|2026-11-27 12:00:00|2,9|2026-11-27 11:55:00|4"
      expect(IntakeCursor.decode(v3)).toEqual({
        writeDate: "2026-11-27 12:00:00",
        id: 9,
        ids: [2, 9],
        settled: { writeDate: "2026-11-27 11:55:00", id: 4 }
      })
      expect(IntakeCursor.encode(IntakeCursor.decode(v3)!)).toBe(v3)
    }).pipe(Effect.runSync))
})

describe("a poller restart (over HTTP)", () => {
  it.scopedLive("a new OdooErp resuming from the persisted cursor neither skips nor repeats orders", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const partner = fake.admin.createPartner()
      const product = fake.admin.createProduct({ name: "Part", code: "P-1" })
      fake.admin.setStock(product, 1000)
      const created: Array<number> = []
      const orderAt = (ms: number) => {
        fake.setClock(() => ms)
        created.push(fake.admin.createOrder({ partnerId: partner, lines: [{ productId: product, quantity: 1 }] }).orderId)
      }
      // 23 orders in one second, committed in an order unrelated to their ids, then a few more
      for (let i = 0; i < 23; i++) orderAt(base + ((i * 389) % 997))
      for (let i = 0; i < 5; i++) orderAt(base + 1000 + ((i * 211) % 997))

      // the Store's cursor (getCursor / setCursor of the Store port)
      const cursors = new Map<string, string>()
      const store = {
        getCursor: (name: string) => Effect.sync(() => cursors.get(name)),
        setCursor: (name: string, value: string) => Effect.sync(() => void cursors.set(name, value))
      }
      const handled = yield* Ref.make<Array<string>>([])
      const pollWith = (erp: OdooErp.OdooErpShape) =>
        OdooErp.poll({
          store,
          limit: 4,
          handle: (intakes) => Ref.update(handled, (all) => [...all, ...intakes.map((i) => i.order.id)])
        }).pipe(Effect.provideService(ErpPort.ErpPort, erp))

      const first = yield* connect(fake)
      for (let i = 0; i < 3; i++) expect(yield* pollWith(first.erp)).toBe(4)
      // a handler that fails does not move the cursor: the same page comes again
      const failing = OdooErp.poll({
        store,
        limit: 4,
        handle: () => Effect.fail(new PortError.StorageError({ reason: "Transport", module: "test", method: "handle", description: "down" }))
      }).pipe(Effect.provideService(ErpPort.ErpPort, first.erp))
      expect((yield* Effect.flip(failing))._tag).toBe("StorageError")

      // restart: a new client and adapter, only the stored cursor survives
      const second = yield* connect(fake)
      let rounds = 0
      while ((yield* pollWith(second.erp)) > 0) rounds++
      // orders confirmed after the restart are picked up too
      for (let i = 0; i < 3; i++) orderAt(base + 5000 + (900 - i * 100))
      while ((yield* pollWith(second.erp)) > 0) rounds++
      expect(rounds).toBeGreaterThan(4)

      const ids = yield* Ref.get(handled)
      expect(ids).toHaveLength(created.length)
      expect(new Set(ids).size).toBe(created.length)
      expect([...ids].sort()).toEqual(created.map((id) => `waybill:sale.order:${id}`).sort())
      // the orders' cursor, then the deliveries' cursor, then the server's clock at the first poll
      const v3 = /v3\|\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\|\d+(,\d+)*\|\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\|\d+/.source
      expect(cursors.get("odoo:orders")).toMatch(new RegExp(`^${v3};pickings=${v3};since=\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}$`))
      const bad = yield* Effect.flip(second.erp.fetchOrders({ cursor: "garbage", limit: 4 }))
      expect(bad.reason).toBe("Invalid")
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("an order that cannot be taken in is reported and skipped; intake goes on", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 18 })
      const good = fake.admin.createPartner()
      const noAddress = fake.admin.createPartner({ street: false, city: false, country_id: false })
      const product = fake.admin.createProduct({ name: "Part", code: "P-1" })
      fake.admin.setStock(product, 10)
      const bad = fake.admin.createOrder({ partnerId: noAddress, lines: [{ productId: product, quantity: 1 }] }).orderId
      const ok = fake.admin.createOrder({ partnerId: good, lines: [{ productId: product, quantity: 1 }] }).orderId
      const rejected = yield* Ref.make<Array<OdooErp.RejectedOrder>>([])
      const { erp } = yield* connect(fake, {}, { onInvalidOrder: (r) => Ref.update(rejected, (all) => [...all, r]) })
      const batch = yield* erp.fetchOrders({ cursor: undefined, limit: 10 })
      expect(batch.intakes.map((i) => i.order.refs.odoo?.id)).toEqual([ok])
      const [r] = yield* Ref.get(rejected)
      expect(r?.orderId).toBe(bad)
      expect(r?.error.issues.map((i) => i.path)).toContain("order.shipTo.street")
      // The batch carries it too, for the host to keep (a dead letter), with what is wrong.
      expect(batch.rejected.map((x) => [x.ref, x.name])).toEqual([[`${fake.database}:sale.order:${bad}`, r?.name]])
      expect(batch.rejected[0]?.reason).toContain("order.shipTo.street")
      expect((yield* erp.fetchOrders({ cursor: batch.cursor, limit: 10 })).intakes).toHaveLength(0)
    }).pipe(Effect.provide(FetchLayer)))
})

describe("a confirmation that commits after a poll passed its write_date (over HTTP)", () => {
  it.scopedLive("is handed out once it settled, so no order is lost to a slow transaction", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const partner = fake.admin.createPartner()
      const product = fake.admin.createProduct({ name: "Part", code: "P-1" })
      fake.admin.setStock(product, 100)
      fake.setClock(() => base - 60_000)
      // a quotation, confirmed later by a slow transaction
      const slow = fake.admin.createOrder({ partnerId: partner, lines: [{ productId: product, quantity: 1 }], confirm: false }).orderId
      fake.setClock(() => base + 2000)
      const quick = fake.admin.createOrder({ partnerId: partner, lines: [{ productId: product, quantity: 1 }] }).orderId

      const cursors = new Map<string, string>()
      const store = {
        getCursor: (name: string) => Effect.sync(() => cursors.get(name)),
        setCursor: (name: string, value: string) => Effect.sync(() => void cursors.set(name, value))
      }
      const handled = yield* Ref.make<Array<number>>([])
      const { erp } = yield* connect(fake)
      const drain = Effect.gen(function*() {
        for (let i = 0; i < 20; i++) {
          const n = yield* OdooErp.poll({
            store,
            limit: 10,
            handle: (intakes) => Ref.update(handled, (all) => [...all, ...intakes.map((x) => x.order.refs.odoo!.id)])
          }).pipe(Effect.provideService(ErpPort.ErpPort, erp))
          if (n === 0) return
        }
      })
      yield* drain
      expect(yield* Ref.get(handled)).toEqual([quick])

      // The slow transaction started at `base` (Odoo's write_date is the start of the transaction,
      // PostgreSQL's now()) and commits only now, after the poll passed base + 2 s.
      fake.setClock(() => base)
      fake.admin.call("sale.order", "action_confirm", [slow])
      fake.setClock(() => base + 3000)
      yield* drain
      // a few minutes later the order has settled and is taken in
      fake.setClock(() => base + 10 * 60_000)
      yield* drain
      expect(yield* Ref.get(handled)).toContain(slow)
      expect(cursors.get("odoo:orders")).toMatch(/^v3\|/)
    }).pipe(Effect.provide(FetchLayer)))
})

describe("cursor formats across versions (over HTTP)", () => {
  it.scopedLive("a v2 cursor of an earlier version resumes as v3; with intakeSettle 0 the cursor stays v2", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17, now: () => base })
      const partner = fake.admin.createPartner()
      const product = fake.admin.createProduct({ name: "Part", code: "P-1" })
      fake.admin.setStock(product, 100)
      const first = fake.admin.createOrder({ partnerId: partner, lines: [{ productId: product, quantity: 1 }] }).orderId
      fake.setClock(() => base + 1000)
      const { orderId: second, pickingIds: [delivery] } = fake.admin.createOrder({
        partnerId: partner,
        lines: [{ productId: product, quantity: 1 }]
      })
      const v2 = `v2|2026-11-27 12:00:00|${first}`
      const { erp } = yield* connect(fake)
      const resumed = yield* erp.fetchOrders({ cursor: v2, limit: 10 })
      expect(resumed.intakes.map((i) => i.order.refs.odoo?.id)).toEqual([second])
      // the deliveries' cursor starts where the orders' one stood, less the settle lag
      expect(resumed.cursor).toBe(
        `v3|2026-11-27 12:00:01|${second}|2026-11-27 11:55:00|0;pickings=v3|2026-11-27 12:00:01|${delivery}|2026-11-27 11:55:00|0`
      )
      const off = yield* connect(fake, {}, { intakeSettle: 0 })
      const plain = yield* off.erp.fetchOrders({ cursor: v2, limit: 10 })
      expect(plain.cursor).toBe(`v2|2026-11-27 12:00:01|${second};pickings=v2|2026-11-27 12:00:01|${delivery}`)
      // and a cursor of this version resumes as it was left
      const again = yield* erp.fetchOrders({ cursor: resumed.cursor, limit: 10 })
      expect(again.intakes).toEqual([])
      expect(again.cursor).toBe(resumed.cursor)
    }).pipe(Effect.provide(FetchLayer)))
})

describe("order amounts (over HTTP)", () => {
  const setup = Effect.gen(function*() {
    const fake = yield* OdooFake.make({ version: 17 })
    const partner = fake.admin.createPartner()
    const product = fake.admin.createProduct({ name: "Bolt", code: "BOLT" })
    fake.admin.setStock(product, 10_000)
    const rejected = yield* Ref.make<Array<OdooErp.RejectedOrder>>([])
    const { erp } = yield* connect(fake, {}, { onInvalidOrder: (r) => Ref.update(rejected, (all) => [...all, r]) })
    return { fake, partner, product, erp, rejected }
  })

  it.scopedLive("a unit price finer than the currency is multiplied before it is rounded", () =>
    Effect.gen(function*() {
      const { erp, fake, partner, product } = yield* setup
      // Odoo's product price precision is finer than cents: 8,000 × 0.125 = 1,000.00 (Odoo's subtotal)
      const { orderId } = fake.admin.createOrder({ partnerId: partner, lines: [{ productId: product, quantity: 8000, price: 0.125 }] })
      const intake = yield* intakeOf(erp, orderId)
      const [subtotal] = fake.admin.read("sale.order.line", fake.admin.search("sale.order.line", [["order_id", "=", orderId]]), [
        "price_subtotal"
      ])
      expect(subtotal?.price_subtotal).toBe(1000)
      expect(Order.total(intake.order).amountMinor).toBe(100_000)
      expect(intake.order.lines[0]?.amount?.amountMinor).toBe(100_000)
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("a discount on the line is part of its amount", () =>
    Effect.gen(function*() {
      const { erp, fake, partner, product } = yield* setup
      const { orderId } = fake.admin.createOrder({
        partnerId: partner,
        lines: [{ productId: product, quantity: 3, price: 40 }],
        confirm: false
      })
      fake.admin.write("sale.order.line", fake.admin.search("sale.order.line", [["order_id", "=", orderId]]), { discount: 10 })
      fake.admin.call("sale.order", "action_confirm", [orderId])
      const intake = yield* intakeOf(erp, orderId)
      expect(Order.total(intake.order).amountMinor).toBe(10_800)
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("a fractional quantity (2.5 kg) is taken in, not rejected", () =>
    Effect.gen(function*() {
      const { erp, fake, partner, product, rejected } = yield* setup
      const { orderId } = fake.admin.createOrder({ partnerId: partner, lines: [{ productId: product, quantity: 2.5, price: 40 }] })
      const batch = yield* erp.fetchOrders({ cursor: undefined, limit: 10 })
      expect(yield* Ref.get(rejected)).toEqual([])
      const intake = batch.intakes.find((i) => i.order.refs.odoo?.id === orderId)
      expect(intake?.order.lines[0]?.quantity).toBe(2.5)
      expect(Order.total(intake!.order).amountMinor).toBe(10_000)
    }).pipe(Effect.provide(FetchLayer)))
})

describe("shipments and addresses over an order's life (over HTTP)", () => {
  it.scopedLive("every backorder, and a tracking number set in Odoo after intake, reach the intake", () =>
    Effect.gen(function*() {
      let now = base
      const fake = yield* OdooFake.make({ version: 17, now: () => now })
      const partner = fake.admin.createPartner()
      const product = fake.admin.createProduct({ name: "Part", code: "P-1" })
      fake.admin.setStock(product, 4)
      const { orderId, pickingIds } = fake.admin.createOrder({ partnerId: partner, lines: [{ productId: product, quantity: 10 }] })
      const cursors = new Map<string, string>()
      const store = {
        getCursor: (name: string) => Effect.sync(() => cursors.get(name)),
        setCursor: (name: string, value: string) => Effect.sync(() => void cursors.set(name, value))
      }
      // what a host registering every intake would know: shipment → tracking number
      const registered = new Map<number, string | undefined>()
      const { erp } = yield* connect(fake)
      const drain = Effect.gen(function*() {
        for (let i = 0; i < 20; i++) {
          const n = yield* OdooErp.poll({
            store,
            limit: 10,
            handle: (intakes) =>
              Effect.sync(() => {
                for (const s of intakes.flatMap((x) => x.shipments)) registered.set(s.refs.odoo!.id, s.trackingNumber)
              })
          }).pipe(Effect.provideService(ErpPort.ErpPort, erp))
          if (n === 0) return
        }
      })
      // poll now, and once more when everything settled
      const later = (ms: number) =>
        Effect.gen(function*() {
          now += ms
          yield* drain
          now += 10 * 60_000
          yield* drain
        })
      const validate = (pickingId: number) =>
        Effect.gen(function*() {
          const shipment = (yield* intakeOf(erp, orderId)).shipments.find((s) => s.refs.odoo?.id === pickingId)!
          return yield* erp.validateDelivery(
            new ErpPort.ValidateDelivery({
              key: ErpPort.IdempotencyKey.make(`validate-${pickingId}`),
              shipment,
              deliveredAt: Instant.fromMillis(now)
            })
          )
        })
      yield* later(0)
      expect([...registered.keys()]).toEqual(pickingIds)

      // 4 of 10 shipped: Odoo splits off a backorder for 6
      now += 60_000
      const first = yield* validate(pickingIds[0]!)
      const firstBackorder = Number(first.backorder?.split(":").pop())
      yield* later(1000)
      expect(registered.has(firstBackorder)).toBe(true)

      // 3 more arrive and ship: a backorder of the backorder for the last 3
      now += 60_000
      fake.admin.setStock(product, 3)
      fake.admin.call("stock.picking", "action_assign", [firstBackorder])
      const second = yield* validate(firstBackorder)
      const secondBackorder = Number(second.backorder?.split(":").pop())
      expect(secondBackorder).toBeGreaterThan(firstBackorder)
      yield* later(1000)
      expect(registered.has(secondBackorder)).toBe(true)

      // the warehouse types the parcel's tracking number into Odoo
      now += 60_000
      fake.admin.write("stock.picking", [secondBackorder], { carrier_tracking_ref: "1Z999AA10123456784" })
      yield* later(1000)
      expect(registered.get(secondBackorder)).toBe("1Z999AA10123456784")
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("a delivery of several parcels (Odoo's UPS and FedEx connectors) is routed by each parcel's tracking number", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const partner = fake.admin.createPartner()
      const product = fake.admin.createProduct({ name: "Part", code: "P-1" })
      fake.admin.setStock(product, 100)
      const order = () => fake.admin.createOrder({ partnerId: partner, lines: [{ productId: product, quantity: 1 }] })
      // delivery_ups joins its parcels' numbers with "+", delivery_fedex with ","
      const ups = Array.from({ length: 6 }, (_, i) => `1Z999AA1012345678${i}`)
      const fedex = ["794600000001", "794600000002"]
      const a = order()
      fake.admin.write("stock.picking", a.pickingIds, { carrier_tracking_ref: ups.join("+") })
      const b = order()
      fake.admin.write("stock.picking", b.pickingIds, { carrier_tracking_ref: fedex.join(",") })
      const c = order()
      fake.admin.write("stock.picking", c.pickingIds, { carrier_tracking_ref: " 1Z999AA10123456784 " })
      const { erp } = yield* connect(fake)
      const batch = yield* erp.fetchOrders({ cursor: undefined, limit: 10 })
      expect(batch.rejected).toEqual([])
      const shipment = (orderId: number) => batch.intakes.find((i) => i.order.refs.odoo?.id === orderId)!.shipments[0]!
      const routed = (orderId: number) => {
        const s = shipment(orderId)
        return [s.trackingNumber, s.packages.map((p) => p.trackingNumber)]
      }
      expect(routed(a.orderId)).toEqual([ups[0], ups])
      expect(routed(b.orderId)).toEqual([fedex[0], fedex])
      // one parcel: the shipment's own number, no packages
      expect(routed(c.orderId)).toEqual(["1Z999AA10123456784", []])
      expect(new Set(shipment(a.orderId).packages.map((p) => p.id)).size).toBe(ups.length)
      // dispatched: waybill writes the shipment's number back, which must not drop the other parcels'
      yield* erp.writeTracking(
        new ErpPort.WriteTracking({
          key: ErpPort.IdempotencyKey.make("tracking-a"),
          shipment: shipment(a.orderId),
          carrier: "Standard delivery",
          trackingNumber: ups[0]!
        })
      )
      expect(fake.admin.read("stock.picking", a.pickingIds, ["carrier_tracking_ref", "carrier_id"])[0]).toMatchObject({
        carrier_tracking_ref: ups.join("+"),
        carrier_id: [1, "Standard delivery"]
      })
      yield* erp.writeTracking(
        new ErpPort.WriteTracking({
          key: ErpPort.IdempotencyKey.make("tracking-c"),
          shipment: shipment(c.orderId),
          carrier: "",
          trackingNumber: "1Z999AA10123456800"
        })
      )
      expect(fake.admin.read("stock.picking", c.pickingIds, ["carrier_tracking_ref"])[0]?.carrier_tracking_ref).toBe("1Z999AA10123456800")
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("a customer whose own address is incomplete is taken in when the delivery address is complete", () =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      // the invoicing contact has a street but no city and no country; goods go to its delivery address
      const customer = fake.admin.createPartner({ name: "Acme", street: "Head office", city: false, zip: false, country_id: false })
      const dock = fake.admin.createPartner({
        name: false,
        type: "delivery",
        parent_id: customer,
        street: "7 Dock Road",
        city: "Portsmouth",
        zip: "03801",
        country_id: 233
      })
      const product = fake.admin.createProduct({ name: "Part", code: "P-1" })
      fake.admin.setStock(product, 10)
      const { orderId } = fake.admin.createOrder({ partnerId: customer, lines: [{ productId: product, quantity: 1 }], confirm: false })
      fake.admin.write("sale.order", [orderId], { partner_shipping_id: dock })
      fake.admin.call("sale.order", "action_confirm", [orderId])
      const rejected = yield* Ref.make<Array<OdooErp.RejectedOrder>>([])
      const { erp } = yield* connect(fake, {}, { onInvalidOrder: (r) => Ref.update(rejected, (all) => [...all, r]) })
      const batch = yield* erp.fetchOrders({ cursor: undefined, limit: 10 })
      expect(batch.rejected).toEqual([])
      const [intake] = batch.intakes
      expect(intake?.order.refs.odoo?.id).toBe(orderId)
      expect(intake?.order.customer.name).toBe("Acme")
      expect(intake?.order.customer.address).toBeUndefined()
      expect(intake?.order.shipTo.street).toBe("7 Dock Road")
      expect(intake?.shipments.map((s) => s.shipTo.city)).toEqual(["Portsmouth"])
    }).pipe(Effect.provide(FetchLayer)))
})

describe("a customer's contact data Odoo holds in a form the canonical order refuses (over HTTP)", () => {
  // Left out of the order, and said so in a warning: the warning names the partner, never the
  // value (an e-mail address or phone number is personal data, and logs are kept and shipped).
  it.scopedLive("is left out, and the warning does not quote it", () => {
    const lines: Array<string> = []
    const logger = Logger.replace(
      Logger.defaultLogger,
      Logger.make(({ annotations, message }) => {
        lines.push(`${JSON.stringify(message)} ${JSON.stringify(Object.fromEntries(annotations))}`)
      })
    )
    return Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17 })
      const email = "petunia.dursley@privet-drive"
      const phone = "+44 7700 900123 ext. 4"
      const customer = fake.admin.createPartner({
        name: "Petunia Dursley",
        email,
        phone,
        street: "4 Privet Drive",
        city: "Little Whinging",
        zip: "GU4 7XX",
        country_id: 233
      })
      const product = fake.admin.createProduct({ name: "Part", code: "P-1" })
      fake.admin.setStock(product, 10)
      fake.admin.createOrder({ partnerId: customer, lines: [{ productId: product, quantity: 1 }] })
      const { erp } = yield* connect(fake)
      const batch = yield* erp.fetchOrders({ cursor: undefined, limit: 10 })
      const [intake] = batch.intakes
      expect(intake?.order.customer.name).toBe("Petunia Dursley")
      expect(intake?.order.customer.email).toBeUndefined()
      expect(intake?.order.customer.phone).toBeUndefined()
      const warnings = lines.filter((l) => l.includes("left out of the canonical order"))
      expect(warnings.length).toBe(2)
      expect(warnings.join("\n")).toContain(`res.partner ${customer}`)
      for (const line of lines) {
        expect(line).not.toContain(email)
        expect(line).not.toContain("900123")
      }
    }).pipe(Effect.provide(FetchLayer), Effect.provide(logger))
  })
})

describe("orders and deliveries cancelled in Odoo after intake (over HTTP)", () => {
  const setup = (now: () => number) =>
    Effect.gen(function*() {
      const fake = yield* OdooFake.make({ version: 17, now })
      const partner = fake.admin.createPartner()
      const product = fake.admin.createProduct({ name: "Part", code: "P-1" })
      fake.admin.setStock(product, 100)
      const { erp } = yield* connect(fake)
      return { fake, partner, product, erp }
    })
  /** Polls until nothing more comes, from `cursor`; the intakes handed out and the last cursor. */
  const drain = (erp: OdooErp.OdooErpShape, cursor: string | undefined) =>
    Effect.gen(function*() {
      const intakes: Array<ErpPort.OrderIntake> = []
      for (let i = 0; i < 20; i++) {
        const batch = yield* erp.fetchOrders({ cursor, limit: 10 })
        intakes.push(...batch.intakes)
        const moved = batch.cursor !== undefined && batch.cursor !== cursor
        if (batch.cursor !== undefined) cursor = batch.cursor
        if (batch.intakes.length === 0 && !moved) break
      }
      return { intakes, cursor }
    })

  it.scopedLive("an order cancelled after intake is handed out again, its deliveries with cancelledAt", () =>
    Effect.gen(function*() {
      let now = base
      const { erp, fake, partner, product } = yield* setup(() => now)
      const { orderId, pickingIds } = fake.admin.createOrder({ partnerId: partner, lines: [{ productId: product, quantity: 1 }] })
      now += 1000
      const first = yield* drain(erp, undefined)
      const taken = first.intakes.find((i) => i.order.refs.odoo?.id === orderId)!
      expect(taken.shipments.map((s) => [s.refs.odoo?.id, s.cancelledAt])).toEqual([[pickingIds[0], undefined]])

      // cancelled in Odoo: sale_stock cancels the deliveries that are not done, in the same transaction
      now = base + 60_000
      fake.admin.call("sale.order", "action_cancel", [orderId])
      expect(fake.admin.read("stock.picking", pickingIds, ["state"])[0]?.state).toBe("cancel")
      now += 1000
      const second = yield* drain(erp, first.cursor)
      const again = second.intakes.filter((i) => i.order.refs.odoo?.id === orderId)
      expect(again.length).toBeGreaterThan(0)
      for (const intake of again) {
        expect(intake.order.id).toBe(taken.order.id)
        expect(intake.shipments.map((s) => [s.id, s.cancelledAt])).toEqual([[taken.shipments[0]!.id, Instant.fromMillis(base + 60_000)]])
      }
      // as is the intake of the one order
      expect((yield* intakeOf(erp, orderId)).shipments[0]?.cancelledAt).toEqual(Instant.fromMillis(base + 60_000))
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("a delivery cancelled while its order stays confirmed comes with cancelledAt, next to the others", () =>
    Effect.gen(function*() {
      let now = base
      const { erp, fake, partner, product } = yield* setup(() => now)
      const { orderId, pickingIds } = fake.admin.createOrder({ partnerId: partner, lines: [{ productId: product, quantity: 1 }] })
      now += 1000
      const first = yield* drain(erp, undefined)
      now = base + 120_000
      fake.admin.call("stock.picking", "action_cancel", pickingIds)
      now += 1000
      const second = yield* drain(erp, first.cursor)
      const intake = second.intakes.find((i) => i.order.refs.odoo?.id === orderId)
      expect(intake?.shipments.map((s) => [s.refs.odoo?.id, s.cancelledAt])).toEqual([[pickingIds[0], Instant.fromMillis(base + 120_000)]])
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("a delivery or an order cancelled before the first intake never becomes a shipment; one cancelled after it still comes cancelled", () =>
    Effect.gen(function*() {
      let now = base
      const { erp, fake, partner, product } = yield* setup(() => now)
      const line = [{ productId: product, quantity: 1 }]
      // before waybill's first poll: one order confirmed then cancelled, one whose delivery alone was cancelled
      const cancelledOrder = fake.admin.createOrder({ partnerId: partner, lines: line }).orderId
      const withCancelledDelivery = fake.admin.createOrder({ partnerId: partner, lines: line })
      const live = fake.admin.createOrder({ partnerId: partner, lines: line })
      now += 1000
      fake.admin.call("sale.order", "action_cancel", [cancelledOrder])
      fake.admin.call("stock.picking", "action_cancel", withCancelledDelivery.pickingIds)
      now += 10 * 60_000
      const first = yield* drain(erp, undefined)
      const shipmentsOf = (intakes: ReadonlyArray<ErpPort.OrderIntake>, orderId: number) =>
        intakes.filter((i) => i.order.refs.odoo?.id === orderId).flatMap((i) => i.shipments.map((s) => [s.refs.odoo?.id, s.cancelledAt]))
      expect(first.intakes.map((i) => i.order.refs.odoo?.id)).not.toContain(cancelledOrder)
      expect(shipmentsOf(first.intakes, withCancelledDelivery.orderId)).toEqual([])
      expect(shipmentsOf(first.intakes, live.orderId)).toContainEqual([live.pickingIds[0], undefined])

      // cancelled after the first intake: reaches waybill as a cancellation
      now += 60_000
      const cancelledAt = now
      fake.admin.call("sale.order", "action_cancel", [live.orderId])
      now += 1000
      const second = yield* drain(erp, first.cursor)
      expect(shipmentsOf(second.intakes, live.orderId)).toContainEqual([live.pickingIds[0], Instant.fromMillis(cancelledAt)])
      // and once everything settled, the ones cancelled before still never come
      now += 10 * 60_000
      const third = yield* drain(erp, second.cursor)
      for (const batch of [second, third]) {
        expect(batch.intakes.map((i) => i.order.refs.odoo?.id)).not.toContain(cancelledOrder)
        expect(shipmentsOf(batch.intakes, withCancelledDelivery.orderId)).toEqual([])
      }
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("a quotation cancelled before it was confirmed never appears", () =>
    Effect.gen(function*() {
      let now = base
      const { erp, fake, partner, product } = yield* setup(() => now)
      const kept = fake.admin.createOrder({ partnerId: partner, lines: [{ productId: product, quantity: 1 }] }).orderId
      now += 1000
      const first = yield* drain(erp, undefined)
      now += 60_000
      const { orderId: quotation } = fake.admin.createOrder({
        partnerId: partner,
        lines: [{ productId: product, quantity: 1 }],
        confirm: false
      })
      fake.admin.call("sale.order", "action_cancel", [quotation])
      expect(fake.admin.read("sale.order", [quotation], ["state"])[0]?.state).toBe("cancel")
      now += 1000
      const later = yield* drain(erp, first.cursor)
      const fresh = yield* drain(erp, undefined)
      expect(first.intakes.map((i) => i.order.refs.odoo?.id)).toEqual([kept])
      expect(later.intakes.map((i) => i.order.refs.odoo?.id)).not.toContain(quotation)
      expect(fresh.intakes.map((i) => i.order.refs.odoo?.id)).toEqual([kept])
      expect(Option.isNone(yield* erp.fetchIntake(quotation))).toBe(true)
    }).pipe(Effect.provide(FetchLayer)))

  it.scopedLive("end to end: OdooErp.poll into Pipeline.register cancels the shipment in waybill, once", () =>
    Effect.gen(function*() {
      let now = base
      const { erp, fake, partner, product } = yield* setup(() => now)
      const { orderId } = fake.admin.createOrder({ partnerId: partner, lines: [{ productId: product, quantity: 1 }] })
      const store = yield* MemoryStore.make
      const pipeline = yield* Pipeline.make().pipe(Effect.provideService(Store.Store, store))
      const registered: Array<string> = []
      const round = Effect.gen(function*() {
        for (let i = 0; i < 20; i++) {
          const n = yield* OdooErp.poll({
            store,
            limit: 10,
            handle: (intakes) =>
              Effect.forEach(intakes, (intake) => Effect.map(pipeline.register(intake), (ids) => void registered.push(...ids)), {
                discard: true
              })
          }).pipe(Effect.provideService(ErpPort.ErpPort, erp))
          if (n === 0) return
        }
      })
      now += 1000
      yield* round
      const shipmentId = registered[0]!
      expect((yield* pipeline.record(shipmentId))?.state.view.status).toBe("pending")
      now = base + 60_000
      fake.admin.call("sale.order", "action_cancel", [orderId])
      now += 1000
      yield* round
      // and once more after everything settled (the settled sweep hands the order out again)
      now += 10 * 60_000
      yield* round
      const record = (yield* pipeline.record(shipmentId))!
      expect(record.state.view.status).toBe("cancelled")
      expect(record.state.view.cancelledAt).toEqual(Instant.fromMillis(base + 60_000))
      expect(record.state.events.map((e) => [e.source, e.raw.code])).toEqual([["erp", "erp.cancelled"]])
      expect((yield* store.events(shipmentId)).length).toBe(1)
    }).pipe(Effect.provide(FetchLayer)))
})
